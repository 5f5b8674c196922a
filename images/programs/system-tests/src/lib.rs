//! The system-test programs: what they share, and every program that needs no
//! `unsafe` (the binaries under `src/bin` are thin entry points).
//!
//! - [`types`], [`boot_types`]: the Rust of `images/boot/types/services.etn` and
//!   `boot.etn`, generated at build time;
//! - [`serving`]: request counting around the generated server dispatch, and how
//!   clients reach a service that may not be advertised yet;
//! - [`calc`], [`desk`]: the `Calculator` services, their clients and the policy's
//!   refusals; [`across`]: the `Echo` service between two hosts and its refusals;
//!   [`events`], [`family`]: the event calls and process calls;
//!   [`bounce`]: the `Bouncer` services of the soak and the benchmark; [`fuzz`]: what
//!   `syscall-fuzz` draws and judges, and `fuzz-server`; [`hostile`]: programs that
//!   do what once took the kernel down; [`signing`]: `sign` and `authenticate`;
//!   [`files`]: the typed file system's calls, persistence and power cuts;
//!   [`fs_bench`]: the typed file system's speed;
//! - `hosted` (on a host only): the table the hosted platform runs these programs
//!   from, by their names in the initial image.
//!
//! Each program prints what it checks, each line starting with its name, and returns
//! its exit status: 0 when every check passed, else the status its documentation
//! gives for the first check that failed. Nothing here may panic on what the kernel
//! answers: an unexpected answer is a failed check with its own status.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod across;
pub mod bounce;
pub mod calc;
pub mod desk;
pub mod events;
pub mod family;
pub mod files;
pub mod fs_bench;
pub mod fuzz;
#[cfg(not(target_os = "none"))]
pub mod hosted;
pub mod hostile;
pub mod net_bench;
pub mod serving;
pub mod signing;

/// The Rust of the boot image's own ETN types: `Echo`, the interface of `echo` and
/// `across`.
#[allow(missing_docs)]
pub mod boot_types {
    include!(concat!(env!("OUT_DIR"), "/boot.rs"));
}

/// The Rust of the file system's ETN types: `Note` and `Chunk`.
#[allow(missing_docs)]
pub mod file_types {
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

/// The Rust of the services' ETN types: `Calculator` and `Bouncer`, with their
/// request and reply enums, client stubs and server traits.
#[allow(missing_docs)]
pub mod types {
    include!(concat!(env!("OUT_DIR"), "/services.rs"));
}
