//! rumpuser hypercalls implemented in Rust, and bindings to NetBSD rump kernel entry points.
//!
//! NetBSD's rump kernels (drivers, TCP/IP and file systems as unmodified kernel code) run on
//! any host that provides the revision-17 `rumpuser` hypercall interface. This crate
//! provides it:
//!
//! - [`hypercalls`]: every hypercall librump, librumpvfs, librumpdev and librumpnet* need,
//!   exported with the C names and types, as thin shells over safe functions;
//! - [`sync`], [`upcall`], [`parameters`], [`errno`]: the semantics (locks and condition
//!   variables with the scheduling protocol, the upcall table, getparam, errno translation);
//! - [`host`]: the small trait the semantics are written against, and how a platform
//!   registers its implementation; the hosted one (a Linux process) is `std_host`;
//! - [`bindings`] and [`kernel`]: the rump kernel entry points this project calls
//!   (declared by hand, checked against a build's headers where one exists) and a safe
//!   facade over them. Both compile without a rump kernel; only linking needs one.
//!
//! Which rump kernel is linked is decided at build time by `RUMPKERNEL_DIR` and the cargo
//! features; see the crate README.
//!
//! The crate is `no_std` with `alloc`. The `std` feature (on by default) adds the hosted
//! host (`std_host`), daemonisation and the C library; a kernel depends on rump-sys with
//! `default-features = false` and registers its own [`host::Host`].

#![no_std]
#![cfg_attr(feature = "c-rumpuser", allow(dead_code))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod abi;
#[cfg(feature = "std")]
pub mod daemon;
pub mod errno;
pub mod error;
pub mod host;
pub mod hypercalls;
mod once;
pub mod parameters;
pub mod pointer;
#[cfg(feature = "std")]
pub mod std_host;
pub mod sync;
#[cfg(feature = "std")]
pub mod sysproxy;
pub mod upcall;

pub mod bindings;
pub mod kernel;

#[cfg(all(test, feature = "std"))]
mod test_upcalls;

pub use errno::NetbsdErrno;
pub use error::HypercallError;
