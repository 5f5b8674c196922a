//! The Ethos kernel: portable core.
#![no_std]
