//! The host a rump kernel runs on, as the hypercall layer sees it: a small trait of safe
//! functions (time, blocking on a word, threads, memory, console, files, entropy).
//!
//! The hypercall semantics (locking protocol, scheduling rules, parameters) are written once
//! on top of this trait; a host only supplies primitives. A host function must never call
//! back into the rump kernel: scheduling upcalls belong to the hypercall layer.
//! The host is chosen at build time ([`ActiveHost`]), so hot paths pay no dynamic dispatch.

use core::ffi::CStr;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use core::time::Duration;
use std::io::{IoSlice, IoSliceMut};

use crate::abi::{Lwp, ThreadEntry};
use crate::error::HypercallError;

/// The host this build runs on.
pub type ActiveHost = crate::std_host::StdHost;

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

/// A thread made for the rump kernel that must be joined.
pub trait JoinableThread: Send {}

/// The primitives a host provides to the hypercall layer.
pub trait Host {
    /// Handle of a joinable thread.
    type Thread: JoinableThread;

    /// Monotonic time since an arbitrary origin; the time base of `wait_on_word` deadlines.
    fn monotonic_now() -> Duration;
    /// Wall-clock time since the Unix epoch.
    fn wall_clock_now() -> Duration;
    /// Blocks the calling host thread until the monotonic clock reaches `deadline`.
    fn sleep_until(deadline: Duration);
    /// Blocks while `word` holds `expected`, until woken or until the monotonic `deadline`.
    /// May return spuriously.
    fn wait_on_word(word: &AtomicU32, expected: u32, deadline: Option<Duration>) -> WaitOutcome;
    /// Wakes threads blocked in `wait_on_word` on `word`.
    fn wake_word(word: &AtomicU32, wake: Wake);

    /// Fills `buffer` with random bytes, returning how many were written (at least one
    /// unless the host fails).
    fn fill_random(buffer: &mut [u8], may_block: bool) -> Result<usize, HypercallError>;
    /// Writes bytes to the console.
    fn console_write(bytes: &[u8]);
    /// The value of a host configuration variable (an environment variable when hosted).
    fn configuration_value(name: &str) -> Option<String>;
    /// Number of CPUs of the host.
    fn host_cpu_count() -> usize;
    /// The host's name, if it has one.
    fn host_name() -> Option<String>;
    /// Identifier of the hosting process.
    fn process_id() -> u32;

    /// The calling thread's current-lwp slot.
    fn current_lwp() -> *mut Lwp;
    /// Replaces the calling thread's current-lwp slot.
    fn set_current_lwp(lwp: *mut Lwp);
    /// Stores a NetBSD errno where the calling thread's C code reads `errno`.
    fn set_thread_errno(value: i32);

    /// Allocates `length` bytes aligned to `alignment` (a power of two).
    fn allocate(length: usize, alignment: usize) -> Result<NonNull<u8>, HypercallError>;
    /// Frees memory from [`Host::allocate`].
    ///
    /// # Safety
    /// `pointer` must come from `allocate` and not have been freed.
    unsafe fn deallocate(pointer: NonNull<u8>, length: usize);
    /// Maps anonymous memory, optionally executable, aligned to `1 << alignment_bits`.
    fn map_anonymous(
        preferred_address: usize,
        size: usize,
        alignment_bits: u32,
        executable: bool,
    ) -> Result<NonNull<u8>, HypercallError>;
    /// Unmaps memory from `map_anonymous` (or a component's own mapping).
    ///
    /// # Safety
    /// Nothing may use the range afterwards.
    unsafe fn unmap(address: NonNull<u8>, size: usize);

    /// Starts a host thread running `entry(argument)`; returns a handle if `joinable`.
    fn spawn_thread(
        entry: ThreadEntry,
        argument: usize,
        name: &str,
        joinable: bool,
    ) -> Result<Option<Self::Thread>, HypercallError>;
    /// Waits for a joinable thread to end.
    fn join_thread(thread: Self::Thread) -> Result<(), HypercallError>;
    /// Ends the calling thread (made by `spawn_thread`).
    fn exit_thread() -> !;
    /// Ends the process with `status`.
    fn exit_process(status: i32) -> !;
    /// Ends the process abnormally, leaving a core dump if the host can.
    fn abort_process() -> !;
    /// Raises a host signal in the hosting process.
    fn raise_signal(host_signal: i32);

    /// Opens a host object and returns its handle (a real file descriptor when hosted).
    fn open(path: &CStr, options: OpenOptions) -> Result<i32, HypercallError>;
    /// Closes a handle from `open`.
    fn close(handle: i32) -> Result<(), HypercallError>;
    /// Size and kind of the object at `path`.
    fn file_info(path: &CStr) -> Result<FileInfo, HypercallError>;
    /// Scatter read at `offset`, or at the current position when `None`.
    fn read_vectored(
        handle: i32,
        buffers: &mut [IoSliceMut<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError>;
    /// Gather write at `offset`, or at the current position when `None`.
    fn write_vectored(
        handle: i32,
        buffers: &[IoSlice<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError>;
    /// Makes writes to `handle` durable.
    fn sync(handle: i32) -> Result<(), HypercallError>;
}
