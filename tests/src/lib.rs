//! The QEMU harness and the system tests that judge booted kernels.
//!
//! [`qemu`] turns a boot description into a QEMU command line and owns the process;
//! [`harness`] boots it, reads the kernel's structured report lines from the serial
//! console, enforces a deadline and decides a verdict; [`system`] is the list of
//! system tests `cargo xtask test` runs ([`scenarios`] and [`hostile`] are its
//! process rows), and [`hosted`] the rows that run their init sets on the hosted
//! platform; [`matrix`] is the driver regression matrix it
//! expands into runs too. The harness must never call a run passed
//! without the kernel's own word for it: a verdict of pass needs the exit code *and*
//! the report lines the test expects.
#![forbid(unsafe_code)]

pub mod driver_bench;
pub mod fs_bench;
pub mod harness;
pub mod host_pair;
pub mod hosted;
pub mod hostile;
pub mod ipc_bench;
pub mod linux_guest;
pub mod matrix;
pub mod matrix_host;
pub mod net_bench;
pub mod qemu;
pub mod scenarios;
pub mod storage;
pub mod system;
