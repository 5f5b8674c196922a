//! The Ethos kernel's portable core.
//!
//! Everything here is logic that needs no register, page table or interrupt, so it
//! builds for Linux as well and is unit-tested there: the process model and its one
//! system-call path (`process_model::dispatch::handle`), the scheduling policy, the initial and program images, the command line, the memory
//! map and frames, the clock, ACPI, PCI and virtio-mmio discovery, and the random generator. The
//! platforms (`kernel/platform/*`) call into it; nothing in this library may contain
//! `unsafe`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod clock;
pub mod command_line;
pub mod ending;
pub mod frames;
pub mod hosts;
pub mod initial_image;
pub mod memory_map;
pub mod minimalt;
pub mod pci;
pub mod process_model;
pub mod program_image;
pub mod random;
pub mod scheduling;
pub mod threads;
pub mod virtio_mmio;
pub mod wall_clock;
