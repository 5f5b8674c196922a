//! The Ethos kernel's portable core.
//!
//! Everything here is logic that needs no register, page table or interrupt, so it
//! builds for Linux as well and is unit-tested there. The bootable kernel (`main.rs`
//! and `arch/`) calls into it. Nothing in this library may contain `unsafe`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod block_check;
pub mod clock;
pub mod command_line;
pub mod devices;
pub mod frames;
pub mod heap_stress;
pub mod initial_image;
pub mod memory_map;
pub mod net_stack;
pub mod pci;
pub mod process_model;
pub mod program_image;
pub mod random;
pub mod self_tests;
pub mod threads;
