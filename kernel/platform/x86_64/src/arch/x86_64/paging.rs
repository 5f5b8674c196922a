//! The kernel's own page tables, replacing the boot identity map of the first 4 GiB.
//!
//! Physical memory stays identity-mapped (virtual = physical), but only what exists:
//! RAM (2 MiB pages where alignment allows, no-execute), the kernel image with
//! per-section rights (text read-execute, rodata read-only, data no-execute), and
//! the LAPIC page uncached. Page 0 and the guard pages below every stack are left
//! unmapped, so null dereferences and stack overflows fault instead of corrupting.
//! Page-table frames come from the low end of the frame allocator, which the boot
//! map covers while the new tables are built.

use core::fmt;

use ethos_core::frames::FrameBitmap;
use ethos_core::memory_map::{MemoryMap, PAGE_SIZE, PhysicalRange};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size2MiB,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

use super::apic::{has_local_apic, local_apic_base};
use super::cpu::no_execute_supported;
use super::gdt;

const HUGE_PAGE: u64 = 2 * 1024 * 1024;
const GIANT_PAGE: u64 = 1024 * 1024 * 1024;

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
    static boot_stack_guard: u8;
}

/// The kernel image's sections, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct KernelImage {
    pub whole: PhysicalRange,
    pub executable: PhysicalRange,
    pub read_only: PhysicalRange,
    pub writable: PhysicalRange,
}

macro_rules! symbol_address {
    ($symbol:ident) => {
        core::ptr::addr_of!($symbol) as u64
    };
}

pub fn kernel_image() -> KernelImage {
    let start = symbol_address!(__kernel_start);
    let end = symbol_address!(__kernel_end);
    KernelImage {
        whole: PhysicalRange { start, end },
        executable: PhysicalRange {
            start,
            end: symbol_address!(__text_end),
        },
        read_only: PhysicalRange {
            start: symbol_address!(__rodata_start),
            end: symbol_address!(__rodata_end),
        },
        writable: PhysicalRange {
            start: symbol_address!(__data_start),
            end,
        },
    }
}

/// Why the kernel page tables could not be built.
#[derive(Debug)]
pub enum PagingError {
    OutOfFrames,
    AlreadyMapped(u64),
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PagingError::OutOfFrames => write!(f, "no free frame for a page table"),
            PagingError::AlreadyMapped(address) => {
                write!(f, "{address:#x} would be mapped twice")
            }
        }
    }
}

impl<S: x86_64::structures::paging::PageSize> From<MapToError<S>> for PagingError {
    fn from(error: MapToError<S>) -> Self {
        match error {
            MapToError::FrameAllocationFailed => PagingError::OutOfFrames,
            MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_) => {
                PagingError::AlreadyMapped(0)
            }
        }
    }
}

/// Lends the frame bitmap to the `x86_64` crate's mapper for page-table frames.
struct TableFrames<'a, 'storage>(&'a mut FrameBitmap<'storage>);

// SAFETY: every frame returned is free, usable RAM that the bitmap now marks in use,
// so it is handed out once.
unsafe impl FrameAllocator<Size4KiB> for TableFrames<'_, '_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let address = self.0.allocate()?;
        Some(PhysFrame::containing_address(PhysAddr::new(address)))
    }
}

fn map_small(
    table: &mut OffsetPageTable<'_>,
    frames: &mut TableFrames<'_, '_>,
    address: u64,
    flags: PageTableFlags,
) -> Result<(), PagingError> {
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(address));
    let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(address));
    // SAFETY: identity mapping of memory the kernel owns; the tables are not live yet.
    unsafe { table.map_to(page, frame, flags, frames) }
        .map_err(|error| match PagingError::from(error) {
            PagingError::AlreadyMapped(_) => PagingError::AlreadyMapped(address),
            other => other,
        })?
        .ignore();
    Ok(())
}

fn map_range(
    table: &mut OffsetPageTable<'_>,
    frames: &mut TableFrames<'_, '_>,
    range: PhysicalRange,
    flags: PageTableFlags,
    skip: &[u64],
) -> Result<(), PagingError> {
    let huge_fits = |address: u64| {
        address.is_multiple_of(HUGE_PAGE)
            && address + HUGE_PAGE <= range.end
            && !skip
                .iter()
                .any(|&page| page / HUGE_PAGE == address / HUGE_PAGE)
    };
    let mut address = range.start & !(PAGE_SIZE - 1);
    while address < range.end {
        if huge_fits(address) {
            // The run of 2 MiB pages from here: to the range's last whole one, the
            // 1 GiB window's end, or the first window holding a skipped page.
            let end = skip
                .iter()
                .filter(|&&page| page >= address)
                .map(|page| page & !(HUGE_PAGE - 1))
                .fold(
                    (range.end & !(HUGE_PAGE - 1)).min((address / GIANT_PAGE + 1) * GIANT_PAGE),
                    u64::min,
                );
            map_huge_run(table, frames, address, end, flags)?;
            address = end;
        } else {
            let window_end = (address / HUGE_PAGE + 1)
                .saturating_mul(HUGE_PAGE)
                .min(range.end.next_multiple_of(PAGE_SIZE));
            map_window(table, frames, address, window_end, flags, skip)?;
            address = window_end;
        }
    }
    Ok(())
}

/// Maps the 2 MiB pages `start..end`, all inside one 1 GiB window: the first
/// through the mapper, which creates the tables, the rest by writing the shared
/// level-2 table directly (as [`map_window`] does for small pages).
fn map_huge_run(
    table: &mut OffsetPageTable<'_>,
    frames: &mut TableFrames<'_, '_>,
    start: u64,
    end: u64,
    flags: PageTableFlags,
) -> Result<(), PagingError> {
    let page = Page::<Size2MiB>::containing_address(VirtAddr::new(start));
    let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(start));
    // SAFETY: as in `map_small`.
    unsafe { table.map_to(page, frame, flags, frames) }
        .map_err(|_| PagingError::AlreadyMapped(start))?
        .ignore();
    let level_2 = lower_table(table, start, 2).ok_or(PagingError::AlreadyMapped(start))?;
    let first_index = usize::from(VirtAddr::new(start).p2_index());
    let count = ((end - start) / HUGE_PAGE) as usize;
    write_run(
        entry_words(level_2),
        first_index + 1,
        count - 1,
        start + HUGE_PAGE,
        HUGE_PAGE,
        (flags | PageTableFlags::HUGE_PAGE).bits(),
    )
}

/// Maps the small pages `start..end`, all inside one 2 MiB window, but those in
/// `skip`: the first through the mapper, which creates the tables, the rest by
/// writing the shared level-1 table directly (a full walk per page costs far more
/// than the write, which matters where the hypervisor emulates the kernel's
/// instructions). A skipped page is written with the rest and cleared after: the
/// tables are not live yet, and one run is cheaper than a test per page.
fn map_window(
    table: &mut OffsetPageTable<'_>,
    frames: &mut TableFrames<'_, '_>,
    start: u64,
    end: u64,
    flags: PageTableFlags,
    skip: &[u64],
) -> Result<(), PagingError> {
    if start >= end {
        return Ok(());
    }
    map_small(table, frames, start, flags)?;
    let level_1 = lower_table(table, start, 1).ok_or(PagingError::AlreadyMapped(start))?;
    let entries = entry_words(level_1);
    let first_index = usize::from(VirtAddr::new(start).p1_index());
    let count = ((end - start) / PAGE_SIZE) as usize;
    write_run(
        entries,
        first_index + 1,
        count - 1,
        start + PAGE_SIZE,
        PAGE_SIZE,
        flags.bits(),
    )?;
    for &page in skip.iter().filter(|page| (start..end).contains(page)) {
        entries[usize::from(VirtAddr::new(page).p1_index())] = 0;
    }
    Ok(())
}

/// A page table's 512 entries as the words the CPU reads.
fn entry_words(table: &mut PageTable) -> &mut [u64; 512] {
    // SAFETY: `PageTable` is `repr(C)` around `[PageTableEntry; 512]` and
    // `PageTableEntry` is `repr(transparent)` around `u64`, so the layouts are the
    // same; the borrow is exclusive like the one it replaces.
    unsafe { &mut *core::ptr::from_mut(table).cast::<[u64; 512]>() }
}

/// Writes entries `first_index..first_index + count` of a table to map `address`,
/// `address + step`, … with `flags`, refusing if any of them maps something
/// already. Plain loops over words: the check and the writes each take about one
/// or two instructions per entry, where the entry methods took fifteen.
fn write_run(
    entries: &mut [u64; 512],
    first_index: usize,
    count: usize,
    address: u64,
    step: u64,
    flags: u64,
) -> Result<(), PagingError> {
    let run = &mut entries[first_index..first_index + count];
    // Every entry is tested (an OR over the run, which the compiler unrolls)
    // before anything is written, so a refused run changes nothing.
    if run.iter().fold(0, |any, &entry| any | entry) != 0 {
        let used = run.iter().position(|&entry| entry != 0).unwrap_or_default();
        return Err(PagingError::AlreadyMapped(address + used as u64 * step));
    }
    // Inside the window the first address was mapped in, through the checked
    // `PhysAddr` the mapper takes: valid, aligned physical addresses, so adding
    // `step` never reaches the flag bits (low 12 and bit 63). Eight entries a
    // round, which the compiler unrolls to a store and an add each (the kernel is
    // built without SSE, so nothing vectorises this).
    let mut entry_value = address | flags;
    let mut chunks = run.chunks_exact_mut(8);
    for chunk in &mut chunks {
        for entry in chunk {
            *entry = entry_value;
            entry_value += step;
        }
    }
    for entry in chunks.into_remainder() {
        *entry = entry_value;
        entry_value += step;
    }
    Ok(())
}

/// The level-`level` table (1 or 2) that maps `address`, if the walk reaches one.
fn lower_table<'t>(
    table: &'t mut OffsetPageTable<'_>,
    address: u64,
    level: usize,
) -> Option<&'t mut PageTable> {
    let virtual_address = VirtAddr::new(address);
    let mut current: *mut PageTable = table.level_4_table_mut();
    let indices = [
        virtual_address.p4_index(),
        virtual_address.p3_index(),
        virtual_address.p2_index(),
    ];
    for index in &indices[..4 - level] {
        // SAFETY: `current` points at a live page table: the root, or a table frame
        // the mapper allocated, reached through its identity-mapped address.
        let entry = unsafe { &(&*current)[*index] };
        if entry.is_unused() || entry.flags().contains(PageTableFlags::HUGE_PAGE) {
            return None;
        }
        current = entry.addr().as_u64() as *mut PageTable;
    }
    // SAFETY: as above; the returned borrow is tied to `table`, so no other path
    // to these tables is used while it lives.
    Some(unsafe { &mut *current })
}

/// Builds the kernel page tables over `ram` (all RAM the firmware reported) and
/// switches to them. Returns the number of frames the tables took.
pub fn build_kernel_page_tables(
    ram: &MemoryMap,
    bitmap: &mut FrameBitmap<'_>,
) -> Result<usize, PagingError> {
    let free_before = bitmap.free_frames();
    let no_execute = if no_execute_supported() {
        PageTableFlags::NO_EXECUTE
    } else {
        PageTableFlags::empty()
    };
    let present = PageTableFlags::PRESENT;
    let writable = PageTableFlags::WRITABLE;
    let image = kernel_image();

    let root_address = bitmap.allocate().ok_or(PagingError::OutOfFrames)?;
    let root = root_address as *mut PageTable;
    // SAFETY: the frame is free RAM below 4 GiB (the allocator searches upward from
    // the lowest free frame), identity-mapped by the boot tables, and ours alone.
    let root = unsafe {
        root.write(PageTable::new());
        &mut *root
    };
    // SAFETY: physical memory is identity-mapped (offset 0) by the boot tables for
    // every frame the allocator can return here.
    let mut table = unsafe { OffsetPageTable::new(root, VirtAddr::new(0)) };
    let mut frames = TableFrames(bitmap);

    let mut guards = [0u64; 8];
    guards[0] = symbol_address!(boot_stack_guard);
    for (slot, guard) in guards[1..].iter_mut().zip(gdt::guard_pages()) {
        *slot = guard;
    }

    // RAM outside the kernel image, and never page 0.
    let mut outside_image = ram.clone();
    outside_image
        .reserve(image.whole)
        .and_then(|()| {
            outside_image.reserve(PhysicalRange {
                start: 0,
                end: PAGE_SIZE,
            })
        })
        .map_err(|_| PagingError::OutOfFrames)?;
    for range in outside_image.usable() {
        map_range(
            &mut table,
            &mut frames,
            *range,
            present | writable | no_execute,
            &[],
        )?;
    }
    map_range(&mut table, &mut frames, image.executable, present, &[])?;
    map_range(
        &mut table,
        &mut frames,
        image.read_only,
        present | no_execute,
        &[],
    )?;
    map_range(
        &mut table,
        &mut frames,
        image.writable,
        present | writable | no_execute,
        &guards,
    )?;
    if has_local_apic() {
        let lapic = local_apic_base();
        let uncached = PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
        map_small(
            &mut table,
            &mut frames,
            lapic,
            present | writable | no_execute | uncached,
        )?;
    }

    let root_frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(root_address));
    // SAFETY: the new tables map the running code, its stack, every static and all
    // RAM at the same addresses as before, so execution continues unchanged.
    unsafe { Cr3::write(root_frame, Cr3Flags::empty()) };
    Ok(free_before - bitmap.free_frames())
}

/// Maps device registers at `[start, start + length)` identity, uncached, writable
/// and not executable, in the live kernel tables. Pages already mapped to the same
/// frame are left as they are, so mapping a BAR twice is harmless. Page-table frames
/// come from the kernel frame allocator.
pub fn map_device_memory(
    start: u64,
    length: u64,
    bitmap: &mut FrameBitmap<'_>,
) -> Result<(), PagingError> {
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | if no_execute_supported() {
            PageTableFlags::NO_EXECUTE
        } else {
            PageTableFlags::empty()
        };
    let (root_frame, _) = Cr3::read();
    // SAFETY: CR3 holds the kernel tables built by `build_kernel_page_tables`, whose
    // frames are RAM identity-mapped writable; interrupts handlers never edit them,
    // and the caller holds the frame allocator lock, which serialises every edit.
    let root = unsafe { &mut *(root_frame.start_address().as_u64() as *mut PageTable) };
    // SAFETY: physical memory is identity-mapped (offset 0) for every table frame.
    let mut table = unsafe { OffsetPageTable::new(root, VirtAddr::new(0)) };
    let mut frames = TableFrames(bitmap);
    let end = start
        .checked_add(length)
        .ok_or(PagingError::AlreadyMapped(start))?;
    let mut address = start & !(PAGE_SIZE - 1);
    while address < end {
        // Whole 2 MiB chunks take one large page, as RAM does: a large window (the
        // 256 MiB of an ECAM region) costs 128 entries instead of 65,536 walks.
        if address.is_multiple_of(HUGE_PAGE) && end - address >= HUGE_PAGE {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(address));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(address));
            // SAFETY: as for small pages below.
            match unsafe { table.map_to(page, frame, flags, &mut frames) } {
                Ok(flush) => {
                    flush.flush();
                    address += HUGE_PAGE;
                    continue;
                }
                Err(MapToError::PageAlreadyMapped(existing)) if existing == frame => {
                    address += HUGE_PAGE;
                    continue;
                }
                // Small pages already map part of the chunk: go page by page.
                Err(_) => {}
            }
        }
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(address));
        let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(address));
        // SAFETY: the range is device memory (a BAR), not RAM the kernel uses, so a
        // new identity mapping aliases nothing.
        match unsafe { table.map_to(page, frame, flags, &mut frames) } {
            Ok(flush) => flush.flush(),
            Err(MapToError::PageAlreadyMapped(existing)) if existing == frame => {}
            Err(error) => {
                return Err(match PagingError::from(error) {
                    PagingError::AlreadyMapped(_) => PagingError::AlreadyMapped(address),
                    other => other,
                });
            }
        }
        address += PAGE_SIZE;
    }
    Ok(())
}
