//! The guest's memory as the model device sees it: a `virtio_drivers::Hal` that
//! hands out host memory under made-up physical addresses, and the model's only way
//! to read or write it.
//!
//! Physical addresses start at 4 GiB, so a queue address whose high half is lost
//! or written wrong points at nothing, and stay below 16 TiB, so legacy page
//! numbers fit their 32-bit registers. The model may touch only memory the driver
//! allocated for DMA or shared and has not yet freed or unshared; anything else is
//! an error it reports as a violation, never an access.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// One range of host memory the device may reach.
struct Mapping {
    physical: u64,
    pointer: usize,
    length: usize,
}

/// Every test thread's mappings; each thread's addresses are its own.
static MAPPINGS: Mutex<Vec<Mapping>> = Mutex::new(Vec::new());
static NEXT_PHYSICAL: AtomicU64 = AtomicU64::new(1 << 32);

/// A fresh physical range of `length` bytes, a guard page away from the last.
fn reserve(length: usize) -> u64 {
    let pages = length.div_ceil(PAGE_SIZE) + 1;
    NEXT_PHYSICAL.fetch_add((pages * PAGE_SIZE) as u64, Ordering::Relaxed)
}

fn map(physical: u64, pointer: usize, length: usize) {
    MAPPINGS.lock().unwrap().push(Mapping {
        physical,
        pointer,
        length,
    });
}

fn unmap(physical: u64) {
    MAPPINGS
        .lock()
        .unwrap()
        .retain(|mapping| mapping.physical != physical);
}

/// Runs `body` on the host address of `[physical, physical + length)` if one
/// mapping holds all of it, with the mappings locked so it cannot go meanwhile.
fn with_host_address<R>(
    physical: u64,
    length: usize,
    body: impl FnOnce(usize) -> R,
) -> Result<R, String> {
    let mappings = MAPPINGS.lock().unwrap();
    let end = physical
        .checked_add(length as u64)
        .ok_or_else(|| format!("{length} bytes at {physical:#x} overflow"))?;
    let mapping = mappings
        .iter()
        .find(|mapping| {
            mapping.physical <= physical && end <= mapping.physical + mapping.length as u64
        })
        .ok_or_else(|| {
            format!("{length} bytes at {physical:#x} are not memory the driver shared")
        })?;
    Ok(body(
        mapping.pointer + (physical - mapping.physical) as usize,
    ))
}

/// Copies guest memory at `physical` into `buffer`.
pub(crate) fn read(physical: u64, buffer: &mut [u8]) -> Result<(), String> {
    with_host_address(physical, buffer.len(), |address| {
        // SAFETY: `address` and the next `buffer.len()` bytes lie in one mapping the
        // driver gave the device (DMA memory or a shared buffer) and has not taken
        // back; the lock keeps it from being taken back meanwhile. The driver is
        // blocked in the register access the model is answering, so nothing else
        // touches the memory.
        unsafe {
            std::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len())
        }
    })
}

/// Copies `bytes` into guest memory at `physical`.
pub(crate) fn write(physical: u64, bytes: &[u8]) -> Result<(), String> {
    with_host_address(physical, bytes.len(), |address| {
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) }
    })
}

/// DMA memory and buffer sharing for drivers over the model device.
#[derive(Debug)]
pub(crate) struct GuestHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned memory of its own, freed only by
// `dma_dealloc`; `share` hands the device an address that reaches exactly the
// buffer, and the model reaches it only until `unshare`.
unsafe impl Hal for GuestHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).unwrap();
        // SAFETY: the layout is not zero-sized (a driver asks for at least a page).
        let pointer = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("out of memory");
        let physical = reserve(layout.size());
        map(physical, pointer.as_ptr() as usize, layout.size());
        (physical, pointer)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        unmap(paddr);
        let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).unwrap();
        // SAFETY: `vaddr` came from `dma_alloc` with this layout (the caller's
        // contract) and the device can no longer reach it.
        unsafe { dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(_paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        panic!("the transports under test reach registers through windows only");
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let physical = reserve(buffer.len());
        map(physical, buffer.as_ptr() as *mut u8 as usize, buffer.len());
        physical
    }

    unsafe fn unshare(paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        unmap(paddr);
    }
}
