//! The Ethos API as a safe library: system calls on Ethos, the hosted core on Linux.
//!
//! Filled in with the process model; until then it has no calls.
#![no_std]
