//! The in-kernel tests a command line selects with `test=NAME`.
//!
//! Each test reports `test-begin`, then `test-pass` or `test-fail` with a reason,
//! and ends the run with the matching exit code. Faults and panics that strike
//! during a test are reported against it (the platform hands faults to the runner; the kernel's panic
//! handler calls [`after_panic`]).

//!
//! The tests touch the machine through `ethos-platform-x86_64`; a kernel links this
//! crate only when built with its `selftest` feature, so a production kernel carries
//! none of them. [`heap_stress`] is portable and tested on the host too.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

pub mod heap_stress;

#[cfg(target_os = "none")]
mod driver_tests;
#[cfg(target_os = "none")]
mod net_tests;
#[cfg(target_os = "none")]
mod random_tests;
#[cfg(target_os = "none")]
mod runner;
#[cfg(target_os = "none")]
mod thread_tests;
#[cfg(target_os = "none")]
mod tunnel_tests;
#[cfg(target_os = "none")]
mod tunnel_traffic;
#[cfg(target_os = "none")]
mod user_tests;

#[cfg(target_os = "none")]
pub use runner::{after_panic, run};
