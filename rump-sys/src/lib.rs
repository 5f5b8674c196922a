//! rumpuser hypercalls implemented in Rust, and bindings to rump kernel entry points.
//!
//! Filled in by the rump-sys work; until then this crate links nothing.
#![no_std]
