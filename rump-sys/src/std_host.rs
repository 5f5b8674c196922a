//! The hosted implementation of [`Host`]: a Linux process, with pthreads, futexes, the
//! monotonic clock, `getrandom`, `posix_memalign` and real file descriptors.
//!
//! Everything here is a direct host call; none of it knows about virtual CPUs or the rump
//! kernel's scheduler, and none of it may call an upcall.

use core::cell::Cell;
use core::ffi::{CStr, c_int, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicU32;
use core::time::Duration;
use std::borrow::ToOwned;
use std::io::Write;
use std::string::String;

use crate::abi::{Lwp, ThreadEntry};
use crate::error::HypercallError;
use crate::host::{
    FileInfo, FileKind, Host, IoBuffer, IoBufferMut, OpenOptions, ThreadHandle, WaitOutcome, Wake,
};

/// The hosted Linux implementation of [`Host`]; the default host of `std` builds.
#[derive(Debug)]
pub struct StdHost;

std::thread_local! {
    /// The lwp the rump kernel bound to this host thread (`rumpuser_curlwpop`).
    static CURRENT_LWP: Cell<*mut Lwp> = const { Cell::new(ptr::null_mut()) };
}

unsafe extern "C" {
    /// `pthread_create` with the start routine typed as the rump kernel hands it over.
    #[link_name = "pthread_create"]
    fn pthread_create_for_entry(
        thread: *mut libc::pthread_t,
        attributes: *const libc::pthread_attr_t,
        entry: ThreadEntry,
        argument: *mut c_void,
    ) -> c_int;
}

unsafe extern "C-unwind" {
    /// `pthread_exit` unwinds the calling thread's stack (a forced unwind), so it is declared
    /// with the unwinding ABI.
    #[link_name = "pthread_exit"]
    fn pthread_exit_unwinding(value: *mut c_void) -> !;
}

fn duration_from_timespec(time: libc::timespec) -> Duration {
    // Clock values are never negative for the clocks used here.
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}

fn timespec_from_duration(duration: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(duration.subsec_nanos()),
    }
}

fn read_clock(clock: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock ids used are always supported.
    unsafe { libc::clock_gettime(clock, &mut now) };
    duration_from_timespec(now)
}

/// Linux `BLKGETSIZE64` (`_IOR(0x12, 114, size_t)`): a block device's size in bytes.
const BLOCK_DEVICE_SIZE_REQUEST: libc::Ioctl = 0x8008_1272;

/// Size of the block device open as `handle`.
fn block_device_size(handle: c_int) -> Result<u64, HypercallError> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points to `size`.
    let result = unsafe { libc::ioctl(handle, BLOCK_DEVICE_SIZE_REQUEST, &mut size as *mut u64) };
    if result == -1 {
        return Err(HypercallError::last_host_error());
    }
    Ok(size)
}

impl Host for StdHost {
    fn monotonic_now(&self) -> Duration {
        read_clock(libc::CLOCK_MONOTONIC)
    }

    fn wall_clock_now(&self) -> Duration {
        read_clock(libc::CLOCK_REALTIME)
    }

    fn sleep_until(&self, deadline: Duration) {
        let deadline = timespec_from_duration(deadline);
        loop {
            // SAFETY: `deadline` is a valid timespec; the remainder pointer may be null with
            // TIMER_ABSTIME.
            let result = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &deadline,
                    ptr::null_mut(),
                )
            };
            if result != libc::EINTR {
                return;
            }
        }
    }

    fn wait_on_word(
        &self,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Duration>,
    ) -> WaitOutcome {
        let deadline = deadline.map(timespec_from_duration);
        let deadline_pointer = deadline
            .as_ref()
            .map_or(ptr::null(), |time| time as *const libc::timespec);
        // SAFETY: FUTEX_WAIT_BITSET reads the u32 at `word` (a live atomic) and, if not null,
        // an absolute CLOCK_MONOTONIC timespec; the other arguments are unused or constants.
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG,
                expected,
                deadline_pointer,
                ptr::null::<u32>(),
                libc::FUTEX_BITSET_MATCH_ANY,
            )
        };
        if result == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
            WaitOutcome::DeadlinePassed
        } else {
            WaitOutcome::Returned
        }
    }

    fn wake_word(&self, word: &AtomicU32, wake: Wake) {
        let count = match wake {
            Wake::One => 1,
            Wake::All => i32::MAX,
        };
        // SAFETY: FUTEX_WAKE only uses the address of `word` as a key.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                count,
            )
        };
    }

    fn fill_random(&self, buffer: &mut [u8], may_block: bool) -> Result<usize, HypercallError> {
        let flags = if may_block { 0 } else { libc::GRND_NONBLOCK };
        loop {
            // SAFETY: the kernel writes at most `buffer.len()` bytes into `buffer`.
            let result =
                unsafe { libc::getrandom(buffer.as_mut_ptr().cast(), buffer.len(), flags) };
            if let Ok(count) = usize::try_from(result) {
                return Ok(count);
            }
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                return Err(error.into());
            }
        }
    }

    fn console_write(&self, bytes: &[u8]) {
        let mut output = std::io::stdout().lock();
        // The console has nowhere to report its own failure.
        let _ = output.write_all(bytes);
        if bytes.contains(&b'\n') {
            let _ = output.flush();
        }
    }

    fn diagnostic_write(&self, bytes: &[u8]) {
        // Standard error is unbuffered; nowhere to report its own failure either.
        let _ = std::io::stderr().lock().write_all(bytes);
    }

    fn configuration_value(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn host_cpu_count(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |count| count.get())
    }

    fn host_name(&self) -> Option<String> {
        let mut buffer = [0u8; 256];
        // SAFETY: gethostname writes at most `buffer.len()` bytes into `buffer`.
        let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if result != 0 {
            return None;
        }
        let name = CStr::from_bytes_until_nul(&buffer).ok()?;
        name.to_str().ok().map(str::to_owned)
    }

    fn process_id(&self) -> u32 {
        std::process::id()
    }

    fn current_lwp(&self) -> *mut Lwp {
        CURRENT_LWP.with(Cell::get)
    }

    fn set_current_lwp(&self, lwp: *mut Lwp) {
        CURRENT_LWP.with(|slot| slot.set(lwp));
    }

    fn set_thread_errno(&self, value: i32) {
        // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
        unsafe { *libc::__errno_location() = value };
    }

    fn thread_errno(&self) -> i32 {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() }
    }

    fn allocate(&self, length: usize, alignment: usize) -> Result<NonNull<u8>, HypercallError> {
        let alignment = alignment.max(core::mem::size_of::<*mut c_void>());
        if !alignment.is_power_of_two() {
            return Err(HypercallError::InvalidArgument);
        }
        let mut memory: *mut c_void = ptr::null_mut();
        // SAFETY: `memory` is a valid out-pointer; the alignment is a power of two and a
        // multiple of the pointer size, as posix_memalign requires.
        let result = unsafe { libc::posix_memalign(&mut memory, alignment, length.max(1)) };
        if result != 0 {
            return Err(HypercallError::OutOfMemory);
        }
        NonNull::new(memory.cast()).ok_or(HypercallError::OutOfMemory)
    }

    unsafe fn deallocate(&self, pointer: NonNull<u8>, _length: usize) {
        // SAFETY: the caller guarantees `pointer` came from posix_memalign in `allocate`.
        unsafe { libc::free(pointer.as_ptr().cast()) };
    }

    fn map_anonymous(
        &self,
        preferred_address: usize,
        size: usize,
        alignment_bits: u32,
        executable: bool,
    ) -> Result<NonNull<u8>, HypercallError> {
        let alignment = 1usize
            .checked_shl(alignment_bits)
            .ok_or(HypercallError::InvalidArgument)?;
        let page = 4096usize;
        let padding = if alignment > page { alignment } else { 0 };
        let mapped_size = size
            .checked_add(padding)
            .ok_or(HypercallError::LengthOverflow)?;
        let mut protection = libc::PROT_READ | libc::PROT_WRITE;
        if executable {
            protection |= libc::PROT_EXEC;
        }
        // SAFETY: an anonymous private mapping; the address is only a hint.
        let mapping = unsafe {
            libc::mmap(
                preferred_address as *mut c_void,
                mapped_size,
                protection,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return Err(HypercallError::last_host_error());
        }
        let start = mapping as usize;
        let aligned = if padding == 0 {
            start
        } else {
            (start + alignment - 1) & !(alignment - 1)
        };
        if padding != 0 {
            let head = aligned - start;
            let tail = mapped_size - head - size;
            // SAFETY: both ranges lie inside the mapping just made and are page multiples
            // (alignment > page size, size is page-rounded by the kernel).
            unsafe {
                if head != 0 {
                    libc::munmap(mapping, head);
                }
                if tail != 0 {
                    libc::munmap((aligned + size) as *mut c_void, tail);
                }
            }
        }
        NonNull::new(aligned as *mut u8).ok_or(HypercallError::OutOfMemory)
    }

    unsafe fn unmap(&self, address: NonNull<u8>, size: usize) {
        // SAFETY: the caller guarantees nothing uses the range afterwards.
        unsafe { libc::munmap(address.as_ptr().cast(), size) };
    }

    fn spawn_thread(
        &self,
        entry: ThreadEntry,
        argument: usize,
        name: &str,
        joinable: bool,
    ) -> Result<Option<ThreadHandle>, HypercallError> {
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `thread` is a valid out-pointer, default attributes; `entry` is the rump
        // kernel's thread function, which expects exactly `argument`.
        let result = unsafe {
            pthread_create_for_entry(&mut thread, ptr::null(), entry, argument as *mut c_void)
        };
        if result != 0 {
            return Err(HypercallError::from_host_errno(result));
        }
        // Linux limits thread names to 15 bytes plus NUL; longer names are cut.
        let mut short_name = [0u8; 16];
        let length = name.len().min(15);
        short_name[..length].copy_from_slice(&name.as_bytes()[..length]);
        // SAFETY: `thread` is a live thread; `short_name` is NUL-terminated.
        unsafe { libc::pthread_setname_np(thread, short_name.as_ptr().cast()) };
        if joinable {
            Ok(Some(ThreadHandle::new(thread as usize)))
        } else {
            // SAFETY: `thread` is live and nobody will join it.
            unsafe { libc::pthread_detach(thread) };
            Ok(None)
        }
    }

    fn join_thread(&self, thread: ThreadHandle) -> Result<(), HypercallError> {
        // SAFETY: `thread` is a joinable thread made by `spawn_thread`, joined only once
        // because the handle is consumed.
        let result =
            unsafe { libc::pthread_join(thread.raw() as libc::pthread_t, ptr::null_mut()) };
        if result != 0 {
            return Err(HypercallError::from_host_errno(result));
        }
        Ok(())
    }

    fn exit_thread(&self) -> ! {
        // SAFETY: called on a thread made by `spawn_thread`, whose stack holds only C frames
        // of the rump kernel and hypercall frames without destructors, so the forced unwind
        // skips no Rust cleanup.
        unsafe { pthread_exit_unwinding(ptr::null_mut()) }
    }

    fn exit_process(&self, status: i32) -> ! {
        let _ = std::io::stdout().flush();
        std::process::exit(status)
    }

    fn abort_process(&self) -> ! {
        let _ = std::io::stdout().flush();
        std::process::abort()
    }

    fn raise_signal(&self, host_signal: i32) {
        // SAFETY: raise has no memory-safety preconditions.
        unsafe { libc::raise(host_signal) };
    }

    fn open(&self, path: &CStr, options: OpenOptions) -> Result<i32, HypercallError> {
        let mut flags = match (options.read, options.write) {
            (true, true) => libc::O_RDWR,
            (false, true) => libc::O_WRONLY,
            _ => libc::O_RDONLY,
        };
        if options.create {
            flags |= libc::O_CREAT;
        }
        if options.exclusive {
            flags |= libc::O_EXCL;
        }
        flags |= libc::O_CLOEXEC;
        // SAFETY: `path` is NUL-terminated; the mode argument is read only with O_CREAT.
        let handle = unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) };
        if handle == -1 {
            return Err(HypercallError::last_host_error());
        }
        Ok(handle)
    }

    fn close(&self, handle: i32) -> Result<(), HypercallError> {
        // Like the reference implementation: make writes durable before closing.
        // SAFETY: fsync and close take a plain descriptor number.
        unsafe { libc::fsync(handle) };
        // SAFETY: as above.
        if unsafe { libc::close(handle) } == -1 {
            return Err(HypercallError::last_host_error());
        }
        Ok(())
    }

    fn file_info(&self, path: &CStr) -> Result<FileInfo, HypercallError> {
        // SAFETY: an all-zero `stat` is a valid value of the plain C struct.
        let mut status: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `path` is NUL-terminated and `status` is writable.
        if unsafe { libc::stat(path.as_ptr(), &mut status) } == -1 {
            return Err(HypercallError::last_host_error());
        }
        let kind = match status.st_mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFREG => FileKind::Regular,
            libc::S_IFBLK => FileKind::BlockDevice,
            libc::S_IFCHR => FileKind::CharacterDevice,
            _ => FileKind::Other,
        };
        let size = if kind == FileKind::BlockDevice {
            let handle = self.open(
                path,
                OpenOptions {
                    read: true,
                    write: false,
                    create: false,
                    exclusive: false,
                },
            )?;
            let size = block_device_size(handle);
            // SAFETY: `handle` was just opened and is closed once.
            unsafe { libc::close(handle) };
            size?
        } else {
            u64::try_from(status.st_size).unwrap_or(0)
        };
        Ok(FileInfo { size, kind })
    }

    fn read_vectored(
        &self,
        handle: i32,
        buffers: &mut [IoBufferMut<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError> {
        let count = c_int::try_from(buffers.len()).map_err(|_| HypercallError::InvalidArgument)?;
        // IoBufferMut is laid out as struct iovec (base, length).
        let vectors = buffers.as_mut_ptr().cast::<libc::iovec>();
        let result = match offset {
            // SAFETY: `vectors` describes `count` writable buffers borrowed for this call.
            None => unsafe { libc::readv(handle, vectors, count) },
            Some(offset) => {
                let offset =
                    libc::off_t::try_from(offset).map_err(|_| HypercallError::InvalidArgument)?;
                // SAFETY: as above.
                unsafe { libc::preadv(handle, vectors, count, offset) }
            }
        };
        usize::try_from(result).map_err(|_| HypercallError::last_host_error())
    }

    fn write_vectored(
        &self,
        handle: i32,
        buffers: &[IoBuffer<'_>],
        offset: Option<u64>,
    ) -> Result<usize, HypercallError> {
        let count = c_int::try_from(buffers.len()).map_err(|_| HypercallError::InvalidArgument)?;
        // IoBuffer is laid out as struct iovec (base, length).
        let vectors = buffers.as_ptr().cast::<libc::iovec>();
        let result = match offset {
            // SAFETY: `vectors` describes `count` readable buffers borrowed for this call.
            None => unsafe { libc::writev(handle, vectors, count) },
            Some(offset) => {
                let offset =
                    libc::off_t::try_from(offset).map_err(|_| HypercallError::InvalidArgument)?;
                // SAFETY: as above.
                unsafe { libc::pwritev(handle, vectors, count, offset) }
            }
        };
        usize::try_from(result).map_err(|_| HypercallError::last_host_error())
    }

    fn sync(&self, handle: i32) -> Result<(), HypercallError> {
        // SAFETY: fsync takes a plain descriptor number.
        if unsafe { libc::fsync(handle) } == -1 {
            return Err(HypercallError::last_host_error());
        }
        Ok(())
    }
}
