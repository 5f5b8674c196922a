//! Physical memory at boot: the frame allocator, the kernel page tables, the heap.
//!
//! The frame bitmap lives in the first free RAM large enough for it; the heap is one
//! contiguous run of frames, a quarter of free memory (at least 1 MiB, at most
//! 64 MiB). Both are identity-mapped, so a physical address is also a pointer.

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;

use ethos_core::frames::{FrameBitmap, FrameError};
use ethos_core::memory_map::{MemoryMap, MemoryMapError, PAGE_SIZE, PhysicalRange};
use spin::Mutex;
use talc::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

use crate::arch::{self, PagingError};

/// The allocator and what it holds: the bytes it was given, the bytes in use (the
/// sum of the live blocks' sizes) and the most ever in use, so the peak is the true
/// one, whatever allocated it, not a sample.
///
/// Talc finds a block in a few steps whatever the heap holds (segregated free
/// lists with a bitmap of the non-empty ones), where a first-fit list walks its
/// holes: every system call allocates, so the heap is on every call's path.
struct Accounted {
    talc: Talc<Manual, DefaultBinning>,
    size: usize,
    used: usize,
    peak: usize,
}

/// The kernel heap, under one lock.
struct TrackedHeap(Mutex<Accounted>);

impl Accounted {
    fn allocated(&mut self, bytes: usize) {
        self.used += bytes;
        self.peak = self.peak.max(self.used);
    }
}

// SAFETY: every block comes from Talc under the one lock and goes back to it with
// the layout it was given with, as `GlobalAlloc`'s callers promise; the counts are
// bookkeeping only.
unsafe impl GlobalAlloc for TrackedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        // SAFETY: `GlobalAlloc`'s caller passes a layout of non-zero size.
        match unsafe { heap.talc.allocate(layout) } {
            Some(block) => {
                heap.allocated(layout.size());
                block.as_ptr()
            }
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        let mut heap = self.0.lock();
        // SAFETY: the caller passes a block this allocator gave with `layout`.
        unsafe { heap.talc.deallocate(pointer, layout) };
        heap.used -= layout.size();
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mut heap = self.0.lock();
        // SAFETY: the caller passes a block this allocator gave with `layout`, and a
        // non-zero `new_size` that makes a valid layout with its alignment.
        if unsafe { heap.talc.try_realloc_in_place(pointer, layout, new_size) } {
            heap.used -= layout.size();
            heap.allocated(new_size);
            return pointer;
        }
        // SAFETY: as above: the size is non-zero and valid with the alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: the layout's size is non-zero.
        let Some(moved) = (unsafe { heap.talc.allocate(new_layout) }) else {
            return core::ptr::null_mut();
        };
        // Only growing can fail in place, so every old byte is copied.
        // SAFETY: both blocks are live, distinct and at least `layout.size()` long.
        unsafe { core::ptr::copy_nonoverlapping(pointer, moved.as_ptr(), layout.size()) };
        // SAFETY: the old block was this allocator's with `layout`.
        unsafe { heap.talc.deallocate(pointer, layout) };
        heap.used -= layout.size();
        heap.allocated(new_size);
        moved.as_ptr()
    }
}

#[global_allocator]
static HEAP: TrackedHeap = TrackedHeap(Mutex::new(Accounted {
    talc: Talc::new(Manual),
    size: 0,
    used: 0,
    peak: 0,
}));

/// The frame allocator, once memory is set up.
pub static FRAMES: Mutex<Option<FrameBitmap<'static>>> = Mutex::new(None);

const MIB: u64 = 1024 * 1024;
/// The first MiB holds firmware data (BIOS areas, PVH start info, ACPI pointers).
const LOW_MEMORY: PhysicalRange = PhysicalRange { start: 0, end: MIB };
/// The boot page tables map only this much; early allocations must stay below it.
const BOOT_MAPPED: u64 = 4 * 1024 * MIB;

/// What memory setup found.
#[derive(Clone, Copy, Debug)]
pub struct MemorySummary {
    pub usable_bytes: u64,
    pub free_frames: usize,
    pub page_table_frames: usize,
    pub heap: PhysicalRange,
}

/// Why memory could not be set up.
#[derive(Debug)]
pub enum MemoryError {
    Map(MemoryMapError),
    NoRoomForBitmap { bytes: u64 },
    Frames(FrameError),
    Paging(PagingError),
    NoRoomForHeap { bytes: u64 },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Map(error) => write!(f, "memory map: {error}"),
            MemoryError::NoRoomForBitmap { bytes } => {
                write!(
                    f,
                    "no free RAM below 4 GiB for the {bytes}-byte frame bitmap"
                )
            }
            MemoryError::Frames(error) => write!(f, "frame allocator: {error}"),
            MemoryError::Paging(error) => write!(f, "kernel page tables: {error}"),
            MemoryError::NoRoomForHeap { bytes } => {
                write!(f, "no contiguous {bytes} bytes of RAM for the heap")
            }
        }
    }
}

/// Sets up frames, page tables and heap from the firmware's RAM map.
pub fn init(ram: &MemoryMap) -> Result<MemorySummary, MemoryError> {
    let mut free = ram.clone();
    free.reserve(LOW_MEMORY).map_err(MemoryError::Map)?;
    free.reserve(arch::kernel_image().whole)
        .map_err(MemoryError::Map)?;

    let words = FrameBitmap::words_needed(&free);
    let bitmap_bytes = (words as u64 * 8).next_multiple_of(PAGE_SIZE);
    let bitmap_range = free
        .usable()
        .iter()
        .find(|range| range.length() >= bitmap_bytes && range.start + bitmap_bytes <= BOOT_MAPPED)
        .map(|range| PhysicalRange::from_start_length(range.start, bitmap_bytes))
        .ok_or(MemoryError::NoRoomForBitmap {
            bytes: bitmap_bytes,
        })?;
    free.reserve(bitmap_range).map_err(MemoryError::Map)?;
    // SAFETY: the range is usable RAM below 4 GiB (identity-mapped by the boot tables
    // and by the kernel tables, which map all RAM), reserved just above so nothing
    // else will be placed there, suitably aligned (page-aligned), and `words` long.
    let storage: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(bitmap_range.start as *mut u64, words) };
    let mut bitmap = FrameBitmap::new(storage, &free).map_err(MemoryError::Frames)?;

    let page_table_frames =
        arch::build_kernel_page_tables(ram, &mut bitmap).map_err(MemoryError::Paging)?;

    let heap_frames = (bitmap.free_frames() / 4).clamp(256, 16 * 1024);
    let heap_bytes = heap_frames as u64 * PAGE_SIZE;
    let heap_start = bitmap
        .allocate_contiguous(heap_frames, 1)
        .ok_or(MemoryError::NoRoomForHeap { bytes: heap_bytes })?;
    // SAFETY: the frames were just allocated for the heap alone and are mapped
    // writable at their physical address; they stay allocated forever.
    let claimed = unsafe {
        HEAP.0
            .lock()
            .talc
            .claim(heap_start as *mut u8, heap_bytes as usize)
    };
    if claimed.is_none() {
        return Err(MemoryError::NoRoomForHeap { bytes: heap_bytes });
    }
    HEAP.0.lock().size = heap_bytes as usize;

    let summary = MemorySummary {
        usable_bytes: ram.total_usable(),
        free_frames: bitmap.free_frames(),
        page_table_frames,
        heap: PhysicalRange::from_start_length(heap_start, heap_bytes),
    };
    *FRAMES.lock() = Some(bitmap);
    Ok(summary)
}

/// Whether someone holds the heap's lock (a kernel thread must not be preempted
/// then: the hub allocates too).
pub(crate) fn heap_busy() -> bool {
    HEAP.0.is_locked()
}

/// Bytes of heap there are, used or not: fixed at boot.
pub fn heap_size() -> usize {
    HEAP.0.lock().size
}

/// Bytes of heap in use now: the sizes of the live blocks.
pub fn heap_used() -> usize {
    HEAP.0.lock().used
}

/// The most heap in use at once since boot or the last [`restart_heap_peak`].
pub fn heap_peak() -> usize {
    HEAP.0.lock().peak
}

/// Starts measuring the peak afresh from what is in use now.
pub fn restart_heap_peak() {
    let mut heap = HEAP.0.lock();
    heap.peak = heap.used;
}
