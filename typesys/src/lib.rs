//! Etypes: the ETN notation, type hashes, code generation and the kernel recognizer.
#![no_std]
#![forbid(unsafe_code)]
