//! Runs of physically contiguous frames the rump kernel holds: its page-sized
//! memory (`rumpuser_malloc`) and its drivers' DMA memory (`rumpcomp_pci_dmalloc`)
//! come from here, zeroed, and go back by their start address alone, as NetBSD
//! frees them. RAM is identity-mapped, so a run's physical address is its pointer.

use alloc::collections::BTreeMap;

use ethos_core::memory_map::PAGE_SIZE;
use spin::Mutex;

use crate::{kernel_threads, memory};

/// Runs handed out: start address to frame count.
static RUNS: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());

/// A zeroed run of frames for `bytes` bytes aligned to `alignment` (at least a
/// page), or `None` when the frame allocator has none.
pub(super) fn allocate(bytes: usize, alignment: usize) -> Option<u64> {
    let page = PAGE_SIZE as usize;
    let count = bytes.max(1).div_ceil(page);
    let align_frames = alignment.max(page).div_ceil(page);
    let start = kernel_threads::without_preemption(|| {
        memory::FRAMES
            .lock()
            .as_mut()
            .and_then(|frames| frames.allocate_contiguous(count, align_frames))
    })?;
    kernel_threads::without_preemption(|| RUNS.lock().insert(start, count));
    // SAFETY: the frames were just allocated for this caller alone and are mapped
    // writable at their physical address.
    unsafe { (start as *mut u8).write_bytes(0, count * page) };
    Some(start)
}

/// Frames in the runs handed out and not given back.
pub(super) fn held() -> u64 {
    kernel_threads::without_preemption(|| RUNS.lock().values().sum::<usize>() as u64)
}

/// Whether `address` starts a run [`allocate`] gave.
pub(super) fn holds(address: u64) -> bool {
    kernel_threads::without_preemption(|| RUNS.lock().contains_key(&address))
}

/// Gives back the run starting at `address`; false (and a warning) when no run
/// starts there, so a bad free from NetBSD changes nothing.
pub(super) fn free(address: u64) -> bool {
    let Some(count) = kernel_threads::without_preemption(|| RUNS.lock().remove(&address)) else {
        tracing::warn!(address, "rump: freeing memory it was never given; ignored");
        return false;
    };
    let freed = kernel_threads::without_preemption(|| {
        memory::FRAMES
            .lock()
            .as_mut()
            .map(|frames| frames.free_contiguous(address, count))
    });
    if let Some(Err(error)) = freed {
        tracing::warn!(address, %error, "rump: frames the allocator disowns");
    }
    true
}
