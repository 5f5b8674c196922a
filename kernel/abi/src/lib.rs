//! The Ethos ABI.
#![no_std]
#![forbid(unsafe_code)]
