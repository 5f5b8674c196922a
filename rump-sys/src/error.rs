//! The error type of the hypercall layer and its translation to NetBSD error numbers.
//!
//! Every safe function behind a hypercall returns `Result<_, HypercallError>`; the `extern "C"`
//! shell turns the error into the NetBSD errno the rump kernel expects. This module must never
//! produce a host (Linux) error number.

use core::fmt;

use crate::errno::NetbsdErrno;

/// Why a hypercall could not do what the rump kernel asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HypercallError {
    /// A host system call failed; the host error number is already translated.
    Host(NetbsdErrno),
    /// The rump kernel passed a null pointer where an object was required.
    NullPointer,
    /// The rump kernel passed a pointer not aligned for the type it should point to.
    MisalignedPointer,
    /// A pointer plus length would wrap around the address space.
    LengthOverflow,
    /// A string from the rump kernel is not valid UTF-8 where text is required.
    NotUtf8,
    /// `rumpuser_init` was asked for a revision other than 17.
    VersionMismatch {
        /// The revision the rump kernel was built for.
        requested: i32,
    },
    /// A second `rumpuser_init` came with a different upcall table, or a host was
    /// registered when one was already in place ([`crate::host::register`]).
    AlreadyInitialized,
    /// A parameter name starting with `_` that revision 17 does not define.
    UnknownMandatoryParameter,
    /// An optional parameter with no value set: the kernel uses its default.
    ParameterNotSet,
    /// The caller's buffer cannot hold the value and its terminating NUL.
    BufferTooSmall {
        /// Bytes needed, including the NUL.
        needed: usize,
        /// Bytes the caller offered.
        available: usize,
    },
    /// A lock or resource is taken and the caller asked not to wait.
    Busy,
    /// A timed wait ended without a wakeup.
    TimedOut,
    /// The host cannot provide this operation.
    Unsupported,
    /// Memory could not be allocated.
    OutOfMemory,
    /// An argument value outside what the interface defines.
    InvalidArgument,
}

impl HypercallError {
    /// Wraps the calling thread's last host error (`errno`).
    #[cfg(feature = "std")]
    pub fn last_host_error() -> HypercallError {
        let host_errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        HypercallError::Host(NetbsdErrno::from_host(host_errno))
    }

    /// Wraps a host error number.
    pub fn from_host_errno(host_errno: i32) -> HypercallError {
        HypercallError::Host(NetbsdErrno::from_host(host_errno))
    }

    /// The NetBSD errno a hypercall returns for this error.
    pub fn errno(self) -> NetbsdErrno {
        match self {
            HypercallError::Host(errno) => errno,
            HypercallError::NullPointer
            | HypercallError::MisalignedPointer
            | HypercallError::LengthOverflow => NetbsdErrno::EFAULT,
            HypercallError::NotUtf8
            | HypercallError::VersionMismatch { .. }
            | HypercallError::UnknownMandatoryParameter
            | HypercallError::InvalidArgument => NetbsdErrno::EINVAL,
            HypercallError::AlreadyInitialized | HypercallError::Busy => NetbsdErrno::EBUSY,
            HypercallError::ParameterNotSet => NetbsdErrno::ENOENT,
            HypercallError::BufferTooSmall { .. } => NetbsdErrno::ERANGE,
            HypercallError::TimedOut => NetbsdErrno::ETIMEDOUT,
            HypercallError::Unsupported => NetbsdErrno::ENOSYS,
            HypercallError::OutOfMemory => NetbsdErrno::ENOMEM,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for HypercallError {
    fn from(error: std::io::Error) -> HypercallError {
        match error.raw_os_error() {
            Some(host_errno) => HypercallError::from_host_errno(host_errno),
            None => HypercallError::Host(NetbsdErrno::EIO),
        }
    }
}

impl fmt::Display for HypercallError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HypercallError::Host(errno) => write!(formatter, "host call failed: {errno}"),
            HypercallError::NullPointer => formatter.write_str("null pointer from the rump kernel"),
            HypercallError::MisalignedPointer => {
                formatter.write_str("misaligned pointer from the rump kernel")
            }
            HypercallError::LengthOverflow => {
                formatter.write_str("buffer from the rump kernel wraps the address space")
            }
            HypercallError::NotUtf8 => formatter.write_str("string is not valid UTF-8"),
            HypercallError::VersionMismatch { requested } => write!(
                formatter,
                "rump kernel wants hypercall revision {requested}, this layer implements 17"
            ),
            HypercallError::AlreadyInitialized => {
                formatter.write_str("hypercall layer already initialised (upcall table or host)")
            }
            HypercallError::UnknownMandatoryParameter => {
                formatter.write_str("unknown mandatory parameter name")
            }
            HypercallError::ParameterNotSet => formatter.write_str("parameter is not set"),
            HypercallError::BufferTooSmall { needed, available } => write!(
                formatter,
                "buffer of {available} bytes cannot hold {needed} bytes"
            ),
            HypercallError::Busy => formatter.write_str("resource busy"),
            HypercallError::TimedOut => formatter.write_str("timed out"),
            HypercallError::Unsupported => formatter.write_str("not supported by this host"),
            HypercallError::OutOfMemory => formatter.write_str("out of memory"),
            HypercallError::InvalidArgument => formatter.write_str("invalid argument"),
        }
    }
}

impl core::error::Error for HypercallError {}
