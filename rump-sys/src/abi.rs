//! The C-level contract of `rump/rumpuser.h`, revision 17: constants, flag values and the
//! `#[repr(C)]` types the rump kernel passes to and expects from the hypercalls.
//!
//! Only layouts and numbers live here; no behaviour. Every value must match the C header
//! exactly, since the rump kernel archives were compiled against it.

use core::ffi::{c_char, c_int, c_long, c_void};

/// The hypercall interface revision this crate implements (`RUMPUSER_VERSION`).
pub const RUMPUSER_VERSION: c_int = 17;

/// Opaque `struct lwp` of the rump kernel: only ever handled by pointer.
#[repr(C)]
#[derive(Debug)]
pub struct Lwp {
    _opaque: [u8; 0],
}

/// `pid_t` as the rump kernel (NetBSD) defines it.
pub type NetbsdPid = i32;

/// The upcall table the rump kernel hands to `rumpuser_init` (`struct rumpuser_hyperup`):
/// 13 function pointers followed by 8 reserved pointers, 168 bytes on x86_64.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HyperUpcalls {
    /// Enter the kernel from a host thread (`rump_schedule`).
    pub schedule: Option<unsafe extern "C" fn()>,
    /// Leave the kernel (`rump_unschedule`).
    pub unschedule: Option<unsafe extern "C" fn()>,
    /// Release the virtual CPU inside a hypercall before blocking.
    pub backend_unschedule: Option<unsafe extern "C" fn(c_int, *mut c_int, *mut c_void)>,
    /// Take a virtual CPU again after blocking.
    pub backend_schedule: Option<unsafe extern "C" fn(c_int, *mut c_void)>,
    /// Switch the calling thread's lwp.
    pub lwproc_switch: Option<unsafe extern "C" fn(*mut Lwp)>,
    /// Drop the reference on the current lwp.
    pub lwproc_release: Option<unsafe extern "C" fn()>,
    /// Create a process for a remote (sysproxy) client.
    pub lwproc_rfork: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_char) -> c_int>,
    /// Create a new lwp in process `pid` and switch to it.
    pub lwproc_newlwp: Option<unsafe extern "C" fn(NetbsdPid) -> c_int>,
    /// The current lwp.
    pub lwproc_curlwp: Option<unsafe extern "C" fn() -> *mut Lwp>,
    /// Execute a system call for a remote client.
    pub syscall: Option<unsafe extern "C" fn(c_int, *mut c_void, *mut c_long) -> c_int>,
    /// A remote client thread exits.
    pub lwpexit: Option<unsafe extern "C" fn()>,
    /// A remote client exec'd.
    pub execnotify: Option<unsafe extern "C" fn(*const c_char)>,
    /// The pid of the current (remote) process.
    pub getpid: Option<unsafe extern "C" fn() -> NetbsdPid>,
    /// Reserved; never called.
    pub reserved: [*mut c_void; 8],
}

// SAFETY: the table holds function pointers into the rump kernel's text and null reserved
// pointers; it is never mutated after `rumpuser_init`, so sharing it between threads is sound.
unsafe impl Sync for HyperUpcalls {}
// SAFETY: as above; the reserved pointers are never dereferenced.
unsafe impl Send for HyperUpcalls {}

/// `struct rumpuser_iovec`, the same layout as POSIX `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RumpuserIovec {
    /// Start of the buffer.
    pub base: *mut c_void,
    /// Length of the buffer in bytes.
    pub length: usize,
}

/// Mutex flags (`RUMPUSER_MTX_*`).
pub const MUTEX_SPIN: c_int = 0x1;
/// A kernel `kmutex_t`: owner tracking is required.
pub const MUTEX_KMUTEX: c_int = 0x2;

/// rwlock modes (`enum rumprwlock`).
pub const RW_READER: c_int = 0;
/// Exclusive mode.
pub const RW_WRITER: c_int = 1;

/// `enum rumplwpop`.
pub const LWP_CREATE: c_int = 0;
/// The lwp is being destroyed (informational).
pub const LWP_DESTROY: c_int = 1;
/// Set the calling thread's current lwp.
pub const LWP_SET: c_int = 2;
/// Clear the calling thread's current lwp.
pub const LWP_CLEAR: c_int = 3;

/// `enum rumpclock`: wall-clock time (RELWALL).
pub const CLOCK_RELWALL: c_int = 0;
/// Monotonic time since an arbitrary origin (ABSMONO).
pub const CLOCK_ABSMONO: c_int = 1;

/// `rumpuser_open` modes.
pub const OPEN_RDONLY: c_int = 0x0;
/// Write only.
pub const OPEN_WRONLY: c_int = 0x1;
/// Read and write.
pub const OPEN_RDWR: c_int = 0x2;
/// Mask of the access mode bits.
pub const OPEN_ACCMODE: c_int = 0x3;
/// Create the file if missing.
pub const OPEN_CREATE: c_int = 0x4;
/// With CREATE: fail if it exists.
pub const OPEN_EXCL: c_int = 0x8;
/// Advisory: will be used with `rumpuser_bio`.
pub const OPEN_BIO: c_int = 0x10;

/// `rumpuser_getfileinfo` types.
pub const FILE_TYPE_OTHER: c_int = 0;
/// A directory.
pub const FILE_TYPE_DIRECTORY: c_int = 1;
/// A regular file.
pub const FILE_TYPE_REGULAR: c_int = 2;
/// A block device.
pub const FILE_TYPE_BLOCK: c_int = 3;
/// A character device.
pub const FILE_TYPE_CHARACTER: c_int = 4;

/// `rumpuser_bio` operations.
pub const BIO_READ: c_int = 0x1;
/// Write.
pub const BIO_WRITE: c_int = 0x2;
/// Write synchronously.
pub const BIO_SYNC: c_int = 0x4;

/// `RUMPUSER_IOV_NOSEEK`: use the current file position.
pub const IOV_NOSEEK: i64 = -1;

/// `rumpuser_syncfd` flags.
pub const SYNCFD_READ: c_int = 0x1;
/// Flush writes.
pub const SYNCFD_WRITE: c_int = 0x2;
/// Order writes.
pub const SYNCFD_BARRIER: c_int = 0x4;
/// Synchronous.
pub const SYNCFD_SYNC: c_int = 0x8;

/// `rumpuser_getrandom` flags.
pub const RANDOM_HARD: c_int = 0x1;
/// Do not block.
pub const RANDOM_NOWAIT: c_int = 0x2;

/// `rumpuser_exit` value asking for a panic.
pub const RUMPUSER_PANIC: c_int = -1;
/// `rumpuser_kill` pid meaning the hosting process.
pub const PID_SELF: i64 = -1;

/// Mandatory parameter: number of virtual CPUs.
pub const PARAMETER_NCPU: &str = "_RUMPUSER_NCPU";
/// Mandatory parameter: host name of the rump kernel.
pub const PARAMETER_HOSTNAME: &str = "_RUMPUSER_HOSTNAME";

/// `rump_biodone_fn`: completion of a `rumpuser_bio` request.
pub type BioDone = unsafe extern "C" fn(*mut c_void, usize, c_int);

/// `rump_modinit_fn` of `rumpuser_dl_bootstrap`.
pub type ModuleInit = unsafe extern "C" fn(*const *const c_void, usize);
/// `rump_symload_fn` of `rumpuser_dl_bootstrap`.
pub type SymbolLoad = unsafe extern "C" fn(*mut c_void, u64, *mut c_char, u64) -> c_int;
/// `rump_compload_fn` of `rumpuser_dl_bootstrap`.
pub type ComponentLoad = unsafe extern "C" fn(*const c_void);

/// Entry point of a thread made by `rumpuser_thread_create`.
pub type ThreadEntry = unsafe extern "C-unwind" fn(*mut c_void) -> *mut c_void;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upcall_table_has_the_c_layout() {
        assert_eq!(core::mem::size_of::<HyperUpcalls>(), 21 * 8);
        assert_eq!(core::mem::offset_of!(HyperUpcalls, getpid), 12 * 8);
        assert_eq!(core::mem::size_of::<RumpuserIovec>(), 16);
    }
}
