//! The host a rump kernel runs on, as the hypercall layer sees it: a small trait of safe
//! functions (time, blocking on a word, threads, memory, console, files, entropy).
//!
//! The hypercall semantics (locking protocol, scheduling rules, parameters) are written once
//! on top of this trait; a host only supplies primitives. A host function must never call
//! back into the rump kernel: scheduling upcalls belong to the hypercall layer. The trait
//! names no `std` type, so a `no_std` kernel can implement it.
//!
//! # How a platform supplies its host
//!
//! A platform implements [`Host`] on a type of its own and hands a `&'static` instance to
//! [`register`] once, before `rump_init` (before any hypercall runs). Every hypercall then
//! reaches the host through [`active`]: one acquire load and a call through the trait
//! object. The host cannot change afterwards, so threads, memory and lwp slots created
//! through one host are never handed to another.
//!
//! - With the `std` feature (a Linux process), registering is optional: if no host was
//!   registered when the first hypercall asks for one, [`active`] registers the hosted
//!   `std_host::StdHost` itself, and a later [`register`] fails.
//! - Without `std` (the bare kernel), the platform must register its host; a hypercall that
//!   finds none panics with a message that says so.

use alloc::string::String;
use core::ffi::CStr;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use core::time::Duration;

use crate::abi::{Lwp, ThreadEntry};
use crate::error::HypercallError;
use crate::once::OnceSlot;

/// The host every hypercall uses, once registered (or defaulted with `std`).
static ACTIVE: OnceSlot<&'static dyn Host> = OnceSlot::new();

/// Makes `host` the host of every hypercall of this process. Must run before `rump_init`.
///
/// Fails with [`HypercallError::AlreadyInitialized`] if a host is already in place,
/// including the hosted default that [`active`] installs with the `std` feature.
pub fn register(host: &'static dyn Host) -> Result<(), HypercallError> {
    ACTIVE
        .set(host)
        .map_err(|_| HypercallError::AlreadyInitialized)
}

/// The registered host. With the `std` feature, registers and returns the hosted
/// `std_host::StdHost` if no platform registered a host.
///
/// # Panics
/// Without the `std` feature, if no host has been registered.
#[inline]
pub fn active() -> &'static dyn Host {
    match ACTIVE.get() {
        Some(host) => *host,
        None => default_host(),
    }
}

#[cfg(feature = "std")]
#[cold]
fn default_host() -> &'static dyn Host {
    *ACTIVE.get_or_init(|| &crate::std_host::StdHost)
}

#[cfg(not(feature = "std"))]
#[cold]
fn default_host() -> &'static dyn Host {
    match ACTIVE.wait() {
        Some(host) => *host,
        None => {
            panic!("rump-sys: no host registered; call rump_sys::host::register before rump_init")
        }
    }
}

/// How many threads blocked on a word to wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// At most one.
    One,
    /// Every one.
    All,
}

/// Why [`Host::wait_on_word`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken, or the word no longer held the expected value, or a spurious return.
    Returned,
    /// The deadline passed.
    DeadlinePassed,
}

/// Access mode and options of [`Host::open`], decoded from `RUMPUSER_OPEN_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create if missing.
    pub create: bool,
    /// With `create`: fail if it exists.
    pub exclusive: bool,
}

/// Kind of a host object, as `rumpuser_getfileinfo` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Anything else (socket, fifo, ...).
    Other,
    /// A directory.
    Directory,
    /// A regular file.
    Regular,
    /// A block device.
    BlockDevice,
    /// A character device.
    CharacterDevice,
}

/// Size and kind of a host object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes (the device size for devices).
    pub size: u64,
    /// What the object is.
    pub kind: FileKind,
}

/// A buffer a host reads into ([`Host::read_vectored`]), laid out as C's `struct iovec`
/// (base address, then length), so a hosted implementation can pass an array of them to
/// `preadv` unchanged.
#[repr(C)]
#[derive(Debug)]
pub struct IoBufferMut<'a> {
    base: NonNull<u8>,
    length: usize,
    _buffer: PhantomData<&'a mut [u8]>,
}

impl<'a> IoBufferMut<'a> {
    /// Lends `buffer` to the host.
    pub fn new(buffer: &'a mut [u8]) -> IoBufferMut<'a> {
        IoBufferMut {
            base: NonNull::from(&mut *buffer).cast(),
            length: buffer.len(),
            _buffer: PhantomData,
        }
    }

    /// The bytes, for the host to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: made from a `&'a mut [u8]` that this value borrows exclusively.
        unsafe { core::slice::from_raw_parts_mut(self.base.as_ptr(), self.length) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

/// A buffer a host writes from ([`Host::write_vectored`]), laid out as C's `struct iovec`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IoBuffer<'a> {
    base: NonNull<u8>,
    length: usize,
    _buffer: PhantomData<&'a [u8]>,
}

impl<'a> IoBuffer<'a> {
    /// Lends `buffer` to the host.
    pub fn new(buffer: &'a [u8]) -> IoBuffer<'a> {
        IoBuffer {
            base: NonNull::from(buffer).cast(),
            length: buffer.len(),
            _buffer: PhantomData,
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &'a [u8] {
        // SAFETY: made from a `&'a [u8]`.
        unsafe { core::slice::from_raw_parts(self.base.as_ptr(), self.length) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

/// A joinable thread made by [`Host::spawn_thread`]; the number means whatever the host
/// wants (the hosted implementation keeps the pthread id). Not `Copy`: joined once.
#[derive(Debug, PartialEq, Eq)]
pub struct ThreadHandle(usize);

impl ThreadHandle {
    /// A handle carrying the host's own identification of the thread.
    pub fn new(raw: usize) -> ThreadHandle {
        ThreadHandle(raw)
    }

    /// The host's identification of the thread.
    pub fn raw(&self) -> usize {
        self.0
    }
}

/// The primitives a host provides to the hypercall layer. Shared by every thread of the
/// rump kernel, hence `Sync`. The host-object group (`open` .. `sync`) and `raise_signal`
/// have defaults for platforms without host files or signals: the file calls fail with
/// [`HypercallError::Unsupported`] (ENOSYS) and signals are dropped.
pub trait Host: Sync {
    /// Monotonic time since an arbitrary origin; the time base of `wait_on_word` deadlines.
    fn monotonic_now(&self) -> Duration;
    /// Wall-clock time since the Unix epoch.
    fn wall_clock_now(&self) -> Duration;
    /// Blocks the calling host thread until the monotonic clock reaches `deadline`.
    fn sleep_until(&self, deadline: Duration);
    /// Blocks while `word` holds `expected`, until woken or until the monotonic `deadline`.
    /// May return spuriously.
    fn wait_on_word(
        &self,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Duration>,
    ) -> WaitOutcome;
    /// Wakes threads blocked in `wait_on_word` on `word`.
    fn wake_word(&self, word: &AtomicU32, wake: Wake);

    /// Fills `buffer` with random bytes, returning how many were written (at least one
    /// unless the host fails).
    fn fill_random(&self, buffer: &mut [u8], may_block: bool) -> Result<usize, HypercallError>;
    /// Writes bytes to the console (the kernel's console device, `rumpuser_putchar`).
    fn console_write(&self, bytes: &[u8]);
    /// Writes diagnostics (`rumpuser_dprintf`): standard error when hosted, so they stay
    /// apart from the console output a program may be capturing. Default: the console.
    fn diagnostic_write(&self, bytes: &[u8]) {
        self.console_write(bytes);
    }
    /// The value of a host configuration variable (an environment variable when hosted).
    fn configuration_value(&self, name: &str) -> Option<String>;
    /// Number of CPUs of the host.
    fn host_cpu_count(&self) -> usize;
    /// The host's name, if it has one.
    fn host_name(&self) -> Option<String>;
    /// Identifier of the hosting process.
    fn process_id(&self) -> u32;

    /// The calling thread's current-lwp slot.
    fn current_lwp(&self) -> *mut Lwp;
    /// Replaces the calling thread's current-lwp slot.
    fn set_current_lwp(&self, lwp: *mut Lwp);
    /// Stores a NetBSD errno where the calling thread's C code reads `errno`.
    fn set_thread_errno(&self, value: i32);
    /// The calling thread's errno as last stored by [`Host::set_thread_errno`] (or by the
    /// host's C library, when hosted).
    fn thread_errno(&self) -> i32;

    /// Allocates `length` bytes aligned to `alignment` (a power of two).
    fn allocate(&self, length: usize, alignment: usize) -> Result<NonNull<u8>, HypercallError>;
    /// Frees memory from [`Host::allocate`].
    ///
    /// # Safety
    /// `pointer` must come from `allocate` with this `length` and not have been freed.
    unsafe fn deallocate(&self, pointer: NonNull<u8>, length: usize);
    /// Maps anonymous memory, optionally executable, aligned to `1 << alignment_bits`.
    fn map_anonymous(
        &self,
        preferred_address: usize,
        size: usize,
        alignment_bits: u32,
        executable: bool,
    ) -> Result<NonNull<u8>, HypercallError>;
    /// Unmaps memory from `map_anonymous` (or a component's own mapping).
    ///
    /// # Safety
    /// Nothing may use the range afterwards.
    unsafe fn unmap(&self, address: NonNull<u8>, size: usize);

    /// Starts a host thread running `entry(argument)`; returns a handle if `joinable`. The
    /// thread must start outside the rump kernel and must not run before this returns
    /// control to a scheduler (a cooperative host enqueues it).
    fn spawn_thread(
        &self,
        entry: ThreadEntry,
        argument: usize,
        name: &str,
        joinable: bool,
    ) -> Result<Option<ThreadHandle>, HypercallError>;
    /// Waits for a joinable thread to end.
    fn join_thread(&self, thread: ThreadHandle) -> Result<(), HypercallError>;
    /// Ends the calling thread (made by `spawn_thread`).
    fn exit_thread(&self) -> !;
    /// Ends the process (or the rump kernel's host) with `status`.
    fn exit_process(&self, status: i32) -> !;
    /// Ends abnormally, leaving a core dump if the host can.
    fn abort_process(&self) -> !;
    /// Raises a host signal (Linux numbering, see [`crate::errno::host_signal_from_netbsd`])
    /// in the hosting process. Default: dropped.
    fn raise_signal(&self, host_signal: i32) {
        let _ = host_signal;
    }

    /// Opens a host object and returns its handle (a real file descriptor when hosted).
    fn open(&self, path: &CStr, options: OpenOptions) -> Result<i32, HypercallError> {
        let _ = (path, options);
        Err(HypercallError::Unsupported)
    }
    /// Closes a handle from `open`.
    fn close(&self, handle: i32) -> Result<(), HypercallError> {
        let _ = handle;
        Err(HypercallError::Unsupported)
    }
    /// Size and kind of the object at `path`.
    fn file_info(&self, path: &CStr) -> Result<FileInfo, HypercallError> {
        let _ = path;
        Err(HypercallError::Unsupported)
    }
    /// Scatter read at `offset`, or at the current position when `None`.
    fn read_vectored(
        &self,
        handle: i32,
        buffers: &mut [IoBufferMut<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError> {
        let _ = (handle, buffers, offset);
        Err(HypercallError::Unsupported)
    }
    /// Gather write at `offset`, or at the current position when `None`.
    fn write_vectored(
        &self,
        handle: i32,
        buffers: &[IoBuffer<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError> {
        let _ = (handle, buffers, offset);
        Err(HypercallError::Unsupported)
    }
    /// Makes writes to `handle` durable.
    fn sync(&self, handle: i32) -> Result<(), HypercallError> {
        let _ = handle;
        Err(HypercallError::Unsupported)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn the_hosted_default_stays_in_place() {
        let first = active();
        assert_eq!(
            register(&crate::std_host::StdHost).unwrap_err(),
            HypercallError::AlreadyInitialized
        );
        assert!(core::ptr::addr_eq(first, active()));
    }

    #[test]
    fn io_buffers_have_the_layout_of_struct_iovec() {
        assert_eq!(core::mem::size_of::<IoBuffer<'_>>(), 16);
        assert_eq!(core::mem::size_of::<IoBufferMut<'_>>(), 16);
        let mut bytes = *b"abc";
        let mut buffer = IoBufferMut::new(&mut bytes);
        buffer.as_mut_slice()[0] = b'x';
        assert_eq!(buffer.len(), 3);
        assert_eq!(IoBuffer::new(&bytes).as_slice(), b"xbc");
        let empty: [u8; 0] = [];
        assert!(IoBuffer::new(&empty).is_empty());
    }
}
