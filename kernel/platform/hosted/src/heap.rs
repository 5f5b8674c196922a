//! The kernel's heap on a host: the bytes the kernel holds, told apart from the
//! programs' in the one heap they share.
//!
//! On x86_64 the kernel has a heap of its own, and `init` reports how much of it is
//! used before, at most during, and after a run. Here kernel and programs allocate
//! from the same Linux heap, so [`KernelHeap`], the allocator a hosted binary
//! installs, counts what a thread allocates and frees while it is *in the kernel*:
//! from the start of a system call (or of the kernel's own work: reading the image,
//! starting and ending processes) to its end. What a program allocates is not
//! counted. The kernel's memory is allocated and freed only inside such windows —
//! the process model lives behind the kernel's lock, and what a call reads of a
//! program's memory is copied and dropped within it — so the count is the kernel's
//! heap use, to within what it took over already allocated.
//!
//! This module holds the platform's only `unsafe` code: the allocator hands every
//! request to the system's unchanged. It must never allocate itself.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The kernel's bytes in use now: what was allocated inside kernel windows less what
/// was freed in them.
static IN_USE: AtomicI64 = AtomicI64::new(0);
/// The most [`IN_USE`] was since the start or [`restart_peak`], kept on every
/// allocation the kernel makes.
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Whether any allocation went through [`KernelHeap`]: whether it is the allocator.
static INSTALLED: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// Whether this thread is in the kernel. Constant-initialised with no destructor,
    /// so the allocator may read it at any time without allocating.
    static IN_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, counting the kernel's part. Installed by
/// [`crate::hosted_main!`]; without it the platform runs alike and [`in_use`] is
/// `None`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelHeap;

fn count(bytes: i64) {
    INSTALLED.store(true, Ordering::Relaxed);
    if IN_KERNEL.try_with(Cell::get).unwrap_or(false) {
        let now = IN_USE.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

// SAFETY: every request is handed to `System` with the caller's own arguments, and
// its answer is returned unchanged; counting touches only atomics and a
// constant-initialised thread-local, and never allocates.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            count(size(layout));
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is `System.alloc_zeroed`'s.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(size(layout));
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` was allocated by this allocator, that is by `System`,
        // with `layout`, as the caller guarantees.
        unsafe { System.dealloc(pointer, layout) };
        count(-size(layout));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`, and `new_size` meets `realloc`'s contract, which
        // the caller guarantees.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(i64::try_from(new_size).unwrap_or(i64::MAX) - size(layout));
        }
        moved
    }
}

/// This thread is in the kernel until the window is dropped.
#[derive(Debug)]
#[must_use = "the thread leaves the kernel when the window is dropped"]
pub(crate) struct KernelWindow {
    was_in_kernel: bool,
}

/// Enters the kernel on this thread (windows nest).
pub(crate) fn enter() -> KernelWindow {
    let was_in_kernel = IN_KERNEL.with(|flag| flag.replace(true));
    KernelWindow { was_in_kernel }
}

impl Drop for KernelWindow {
    fn drop(&mut self) {
        IN_KERNEL.with(|flag| flag.set(self.was_in_kernel));
    }
}

fn bytes(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The kernel's heap use now, in bytes; `None` unless [`KernelHeap`] is the
/// allocator.
pub fn in_use() -> Option<u64> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| bytes(IN_USE.load(Ordering::Relaxed)))
}

/// Starts the peak again from the use now, as an init set starts.
pub fn restart_peak() {
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The most the kernel's heap use was since the start or [`restart_peak`], counted
/// on every allocation, as the x86_64 kernel heap keeps its own peak.
pub fn peak() -> Option<u64> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| bytes(PEAK.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The crate's tests run with the counting allocator, as a hosted binary does.
    #[global_allocator]
    static HEAP: KernelHeap = KernelHeap;

    #[test]
    fn only_what_the_kernel_allocates_is_counted() {
        const BYTES: usize = 1 << 20;
        let outside = vec![1u8; BYTES];
        let before = in_use().unwrap();
        restart_peak();
        let kept = {
            let _kernel = enter();
            let kept = vec![2u8; BYTES];
            let transient = vec![3u8; BYTES];
            drop(transient);
            kept
        };
        let during = in_use().unwrap();
        assert!(
            (BYTES as u64..BYTES as u64 + 4096).contains(&(during - before)),
            "{before} then {during}"
        );
        // The transient megabyte was held at once with the kept one.
        assert!(peak().unwrap() >= during + BYTES as u64);
        // Freed inside the kernel, a kernel allocation is gone; a program's
        // allocation is never counted.
        {
            let _kernel = enter();
            drop(kept);
        }
        drop(outside);
        let after = in_use().unwrap();
        assert!(after < before + 4096, "{before} then {after}");
    }
}
