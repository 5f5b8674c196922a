//! The `virtio-drivers` hardware abstraction: DMA memory from the kernel's frame
//! allocator. Device registers are not reached through it: the native transports
//! (`ethos-virtio`) work through `arch::DeviceMemoryWindow`s and `arch::IoWindow`s
//! the probe hands them, and `mmio_phys_to_virt` is only the trait's requirement.
//!
//! RAM is identity-mapped, so a buffer's virtual address is its physical address and
//! sharing a buffer with a device needs no bounce copy. x86 DMA is cache-coherent,
//! so `share`/`unshare` have nothing to flush. This module must never hand a device
//! memory the allocator has not marked in use.

use core::ptr::NonNull;

use ethos_core::memory_map::PAGE_SIZE;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::{arch, memory};

/// The kernel's [`Hal`].
#[derive(Debug)]
pub(super) struct KernelHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned frames that the allocator marks in
// use until `dma_dealloc`, identity-mapped so the physical address is the pointer;
// `mmio_phys_to_virt` maps the range before returning it; `share` returns the
// physical address of memory that stays where it is (identity map, no paging out).
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut guard = memory::FRAMES.lock();
        let Some(start) = guard
            .as_mut()
            .and_then(|frames| frames.allocate_contiguous(pages, 1))
        else {
            // The crate turns a zero address into `Error::DmaError`.
            return (0, NonNull::dangling());
        };
        drop(guard);
        // SAFETY: the frames were just allocated to this caller and are RAM mapped
        // writable at their physical address.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, pages * PAGE_SIZE as usize) };
        match NonNull::new(start as *mut u8) {
            Some(pointer) => (start, pointer),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        let mut guard = memory::FRAMES.lock();
        match guard
            .as_mut()
            .map(|frames| frames.free_contiguous(paddr, pages))
        {
            Some(Ok(())) => 0,
            _ => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let mut guard = memory::FRAMES.lock();
        let mapped = guard
            .as_mut()
            .map(|frames| arch::map_device_memory(paddr, size as u64, frames));
        if !matches!(mapped, Some(Ok(()))) {
            // No transport of this kernel asks (see the module's description); one
            // that did would ask for a BAR the probe mapped already, so reaching this
            // means the machine changed under us.
            panic!("cannot map device memory {paddr:#x}+{size:#x}");
        }
        NonNull::new(paddr as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
