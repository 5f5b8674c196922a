//! MinimaLT: encrypted, authenticated, low-latency transport as a sans-I/O state machine.
#![no_std]
#![forbid(unsafe_code)]
