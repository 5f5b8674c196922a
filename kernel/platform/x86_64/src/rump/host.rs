//! The rump kernel's host on this kernel: `rump_sys::host::Host` over kernel threads.
//!
//! - Threads are kernel threads with a TLS block (the rump archives keep `curlwp` in
//!   a `__thread` variable reached through `%fs`) and a [`RUMP_STACK_BYTES`] stack;
//!   the current-lwp slot is the thread's slot.
//! - `wait_on_word`/`wake_word` are wait channels keyed by the word's address, with
//!   the word checked under the thread table's lock ([`kernel_threads::wait_channel_while`]),
//!   so no wake is lost; deadlines are on the kernel clock, which is also
//!   `monotonic_now`.
//! - Memory: requests of a page or more come from the frame allocator (physically
//!   contiguous, as NetBSD's `bus_dma` assumes of virtually contiguous memory; RAM
//!   is identity-mapped, so an address is both); smaller ones from the kernel heap.
//!   Neither aborts: a refusal is `ENOMEM` back to NetBSD.
//! - Random bytes come from the kernel's generator, the console is the kernel's, the
//!   host is named `ethos`, `RUMP_NCPU` is 1 (the kernel runs on one CPU),
//!   `RUMP_MEMLIMIT` is the image description's `rump_kernel_memory`, and there are
//!   no host files (the defaults of the trait: `ENOSYS`).
//! - The kernel has no wall clock yet: NetBSD's time of day is the time since boot
//!   (the epoch at boot).
//! - Ending the rump kernel (`rumpuser_exit`, NetBSD's panic) ends this kernel with
//!   a kernel panic that says so: the NetBSD kernel's state is gone by then.

use alloc::alloc::{alloc_zeroed, dealloc};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use ethos_core::memory_map::PAGE_SIZE;
use ethos_core::threads::{ThreadEnd, ThreadId};
use rump_sys::HypercallError;
use rump_sys::abi::{Lwp, ThreadEntry};
use rump_sys::host::{Host, ThreadHandle, WaitOutcome, Wake};
use spin::Mutex;

use super::frames;
use crate::kernel_threads::{self, ThreadOptions};
use crate::{console, entropy, time};

/// The stack of every rump thread. NetBSD's kernel code runs deeper than Rust's
/// kernel threads; rumprun gave its threads 64 KiB as well.
pub(super) const RUMP_STACK_BYTES: usize = 64 * 1024;

/// The host the rump kernel runs on in this kernel.
#[derive(Debug)]
pub struct KernelHost {
    state: Mutex<HostState>,
    /// `RUMP_MEMLIMIT`, in bytes.
    memory_limit: core::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct HostState {
    /// errno of each thread that set one.
    errno: BTreeMap<ThreadId, i32>,
    /// Joinable threads by handle.
    joinable: BTreeMap<usize, ThreadId>,
    next_handle: usize,
    /// Thread names, kept once each (a thread's name must outlive it).
    names: Vec<&'static str>,
}

impl KernelHost {
    pub const fn new() -> KernelHost {
        KernelHost {
            state: Mutex::new(HostState {
                errno: BTreeMap::new(),
                joinable: BTreeMap::new(),
                next_handle: 1,
                names: Vec::new(),
            }),
            memory_limit: core::sync::atomic::AtomicU64::new(
                ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY,
            ),
        }
    }

    /// Sets the memory NetBSD may use (before it boots).
    pub fn set_memory_limit(&self, bytes: u64) {
        self.memory_limit.store(bytes, Ordering::Relaxed);
    }

    /// Runs `action` on the host's bookkeeping (a spin lock a rump thread takes with
    /// interrupts on, so never preempted while holding it).
    fn with_state<T>(&self, action: impl FnOnce(&mut HostState) -> T) -> T {
        kernel_threads::without_preemption(|| action(&mut self.state.lock()))
    }

    fn name(&self, name: &str) -> &'static str {
        self.with_state(|state| {
            if let Some(known) = state.names.iter().find(|known| **known == name) {
                return *known;
            }
            let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
            state.names.push(leaked);
            leaked
        })
    }
}

impl Default for KernelHost {
    fn default() -> Self {
        KernelHost::new()
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Host for KernelHost {
    fn monotonic_now(&self) -> Duration {
        Duration::from_nanos(time::since_boot_nanos().unwrap_or(0))
    }

    fn wall_clock_now(&self) -> Duration {
        self.monotonic_now()
    }

    fn sleep_until(&self, deadline: Duration) {
        let _ = kernel_threads::sleep_until(nanos(deadline));
    }

    fn wait_on_word(
        &self,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Duration>,
    ) -> WaitOutcome {
        let key = core::ptr::from_ref(word) as u64;
        match kernel_threads::wait_channel_while(key, deadline.map(nanos), || {
            word.load(Ordering::Acquire) == expected
        }) {
            Ok(ethos_core::threads::WaitOutcome::TimedOut) => WaitOutcome::DeadlinePassed,
            _ => WaitOutcome::Returned,
        }
    }

    fn wake_word(&self, word: &AtomicU32, wake: Wake) {
        let key = core::ptr::from_ref(word) as u64;
        let count = match wake {
            Wake::One => 1,
            Wake::All => usize::MAX,
        };
        kernel_threads::wake_channel(key, count);
    }

    fn fill_random(&self, buffer: &mut [u8], _may_block: bool) -> Result<usize, HypercallError> {
        entropy::fill(buffer);
        Ok(buffer.len())
    }

    fn console_write(&self, bytes: &[u8]) {
        for chunk in bytes.utf8_chunks() {
            console::write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                console::write_str("\u{fffd}");
            }
        }
    }

    fn configuration_value(&self, name: &str) -> Option<String> {
        match name {
            "RUMP_NCPU" => Some("1".into()),
            "RUMP_MEMLIMIT" => Some(self.memory_limit.load(Ordering::Relaxed).to_string()),
            _ => None,
        }
    }

    fn host_cpu_count(&self) -> usize {
        1
    }

    fn host_name(&self) -> Option<String> {
        Some("ethos".into())
    }

    fn process_id(&self) -> u32 {
        1
    }

    fn current_lwp(&self) -> *mut Lwp {
        kernel_threads::slot().unwrap_or(0) as *mut Lwp
    }

    fn set_current_lwp(&self, lwp: *mut Lwp) {
        let _ = kernel_threads::set_slot(lwp as usize);
    }

    fn set_thread_errno(&self, value: i32) {
        if let Some(thread) = kernel_threads::current() {
            self.with_state(|state| state.errno.insert(thread, value));
        }
    }

    fn thread_errno(&self) -> i32 {
        kernel_threads::current()
            .and_then(|thread| self.with_state(|state| state.errno.get(&thread).copied()))
            .unwrap_or(0)
    }

    fn allocate(&self, length: usize, alignment: usize) -> Result<NonNull<u8>, HypercallError> {
        let length = length.max(1);
        if length >= PAGE_SIZE as usize || alignment > PAGE_SIZE as usize {
            let start = frames::allocate(length, alignment).ok_or(HypercallError::OutOfMemory)?;
            return NonNull::new(start as *mut u8).ok_or(HypercallError::OutOfMemory);
        }
        let layout = Layout::from_size_align(length, alignment.max(1))
            .map_err(|_| HypercallError::InvalidArgument)?;
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc_zeroed(layout) }).ok_or(HypercallError::OutOfMemory)
    }

    unsafe fn deallocate(&self, pointer: NonNull<u8>, length: usize) {
        let address = pointer.as_ptr() as u64;
        if frames::holds(address) {
            frames::free(address);
            return;
        }
        // The alignment is not passed back; the heap needs only the size to free.
        // SAFETY: the caller passes a block `allocate` gave from the heap for
        // `length` bytes (a size and an alignment of at most a page).
        unsafe {
            dealloc(
                pointer.as_ptr(),
                Layout::from_size_align_unchecked(length.max(1), 1),
            )
        };
    }

    fn map_anonymous(
        &self,
        _preferred_address: usize,
        size: usize,
        alignment_bits: u32,
        executable: bool,
    ) -> Result<NonNull<u8>, HypercallError> {
        if executable {
            // RAM is mapped no-execute: this kernel loads no NetBSD modules.
            return Err(HypercallError::Unsupported);
        }
        let alignment = 1usize
            .checked_shl(alignment_bits)
            .ok_or(HypercallError::InvalidArgument)?;
        self.allocate(size.max(PAGE_SIZE as usize), alignment)
    }

    unsafe fn unmap(&self, address: NonNull<u8>, size: usize) {
        // SAFETY: as `deallocate`: the range came from `map_anonymous`.
        unsafe { self.deallocate(address, size.max(PAGE_SIZE as usize)) }
    }

    fn spawn_thread(
        &self,
        entry: ThreadEntry,
        argument: usize,
        name: &str,
        joinable: bool,
    ) -> Result<Option<ThreadHandle>, HypercallError> {
        let options = ThreadOptions {
            name: self.name(name),
            stack_bytes: RUMP_STACK_BYTES,
            fpu: false,
            tls: true,
            joinable,
        };
        // NetBSD's C code never unwinds, and this kernel aborts on panic: the entry is
        // called as a plain C function (an unwinding call would need a personality
        // routine this kernel does not have).
        // SAFETY: the same function pointer with the same C calling convention.
        let entry = unsafe {
            core::mem::transmute::<ThreadEntry, unsafe extern "C" fn(*mut c_void) -> *mut c_void>(
                entry,
            )
        };
        let thread = kernel_threads::spawn(&options, move || {
            // SAFETY: the rump kernel gave this entry point and its argument to run on
            // a thread of their own.
            unsafe { entry(argument as *mut c_void) };
            0
        })
        .map_err(|error| {
            tracing::warn!(%error, name, "rump thread not started");
            HypercallError::OutOfMemory
        })?;
        if !joinable {
            return Ok(None);
        }
        let handle = self.with_state(|state| {
            let handle = state.next_handle;
            state.next_handle += 1;
            state.joinable.insert(handle, thread);
            handle
        });
        Ok(Some(ThreadHandle::new(handle)))
    }

    fn join_thread(&self, thread: ThreadHandle) -> Result<(), HypercallError> {
        let id = self
            .with_state(|state| state.joinable.remove(&thread.raw()))
            .ok_or(HypercallError::InvalidArgument)?;
        match kernel_threads::join(id) {
            Ok(_) => Ok(()),
            Err(_) => Err(HypercallError::InvalidArgument),
        }
    }

    fn exit_thread(&self) -> ! {
        if let Some(thread) = kernel_threads::current() {
            self.with_state(|state| state.errno.remove(&thread));
        }
        kernel_threads::exit(ThreadEnd::Returned(0))
    }

    fn exit_process(&self, status: i32) -> ! {
        panic!("the rump kernel ended (status {status}); its drivers and stack are gone")
    }

    fn abort_process(&self) -> ! {
        panic!("the rump kernel aborted (a NetBSD panic); its drivers and stack are gone")
    }
}
