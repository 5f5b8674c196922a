//! The error type of the safe facade over a linked rump kernel.
//!
//! Errors reported by the rump kernel carry NetBSD error numbers; this module must never
//! interpret them in the host's numbering.

use alloc::ffi::CString;
use core::fmt;

use crate::errno::NetbsdErrno;

/// Why an operation on the rump kernel failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RumpError {
    /// `rump_init` failed.
    Boot(NetbsdErrno),
    /// The process already booted its rump kernel (one per process).
    AlreadyBooted,
    /// A rump system call failed.
    System {
        /// Which call.
        call: &'static str,
        /// The NetBSD error it reported.
        errno: NetbsdErrno,
    },
    /// A path or name contains a NUL byte and cannot be passed to C.
    NulInName,
    /// A directory entry returned by the kernel is malformed.
    MalformedDirectoryEntry,
    /// `rump_sys_reboot` returned, so the kernel did not halt.
    RebootReturned(NetbsdErrno),
}

impl fmt::Display for RumpError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RumpError::Boot(errno) => write!(formatter, "rump kernel failed to boot: {errno}"),
            RumpError::AlreadyBooted => {
                formatter.write_str("this process already booted its rump kernel")
            }
            RumpError::System { call, errno } => write!(formatter, "rump {call} failed: {errno}"),
            RumpError::NulInName => formatter.write_str("name contains a NUL byte"),
            RumpError::MalformedDirectoryEntry => {
                formatter.write_str("rump kernel returned a malformed directory entry")
            }
            RumpError::RebootReturned(errno) => {
                write!(formatter, "rump kernel did not halt on reboot: {errno}")
            }
        }
    }
}

impl core::error::Error for RumpError {}

/// The NetBSD errno the last failed `rump_sys_*` call on this thread stored.
pub(crate) fn last_errno() -> NetbsdErrno {
    // rumpuser_seterrno stores the kernel's (NetBSD) number through the host.
    NetbsdErrno::from_netbsd(crate::host::active().thread_errno())
}

/// Turns the `-1`-and-errno convention of `rump_sys_*` into a `Result`.
#[cfg_attr(not(any(feature = "vfs", feature = "inet")), allow(dead_code))]
pub(crate) fn check(call: &'static str, result: i64) -> Result<i64, RumpError> {
    if result == -1 {
        Err(RumpError::System {
            call,
            errno: last_errno(),
        })
    } else {
        Ok(result)
    }
}

/// A Rust string, or the bytes of a NetBSD path (any bytes but NUL), as a C string.
#[cfg_attr(not(any(feature = "vfs", feature = "inet")), allow(dead_code))]
pub(crate) fn c_text(text: impl AsRef<[u8]>) -> Result<CString, RumpError> {
    CString::new(text.as_ref()).map_err(|_| RumpError::NulInName)
}
