//! The architecture facade: every platform module exports the same names, and the
//! rest of the kernel reaches the machine only through them.

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use self::x86_64::*;

#[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
compile_error!(
    "the bootable kernel supports only x86_64-unknown-none; build it with `cargo xtask build`"
);
