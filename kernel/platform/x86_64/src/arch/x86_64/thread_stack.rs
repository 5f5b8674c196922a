//! Kernel thread stacks, each above an unmapped guard page.
//!
//! A stack is a run of physically contiguous frames in the identity map (so a
//! stack address is also its physical address, as everywhere in this kernel, and a
//! driver may hand a buffer on a thread's stack to a device). The lowest frame of
//! the run is the guard: it stays allocated, so nothing else can live there, and
//! its page is unmapped in the kernel's tables, so a thread that overflows its
//! stack faults on the guard instead of writing over whatever lies below.
//!
//! RAM is mapped with 2 MiB pages; unmapping one 4 KiB page splits the large page
//! that holds it into a level-1 table of 512 entries with the same frames and
//! rights, minus the guard. The tables below the top level are shared by every
//! address space (see `user`), so the guard is missing in all of them at once. A
//! split is kept when the stack is freed (the guard is simply mapped again): the
//! level-1 table costs one frame per 2 MiB region that ever held a guard.
//!
//! Edits happen with interrupts off and the frame allocator locked (the caller
//! passes it), which is what serialises every change to the kernel's tables.

use ethos_core::frames::FrameBitmap;
use ethos_core::memory_map::PAGE_SIZE;
use x86_64::VirtAddr;
use x86_64::instructions::tlb;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{PageTable, PageTableFlags};

/// Why a stack could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// No run of free frames that long.
    OutOfFrames { frames: usize },
    /// The kernel's tables do not map the guard page as expected.
    NotMapped(u64),
}

impl core::fmt::Display for StackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StackError::OutOfFrames { frames } => {
                write!(f, "no run of {frames} free frames for a thread stack")
            }
            StackError::NotMapped(address) => write!(
                f,
                "the kernel tables do not map {address:#x} as RAM; no guard page there"
            ),
        }
    }
}

/// A thread's stack: `[bottom, top)`, with the unmapped guard page just below.
#[derive(Debug)]
pub(super) struct KernelStack {
    guard: u64,
    frames: usize,
    /// The guard page's entry before it was unmapped, to put back.
    guard_flags: PageTableFlags,
}

impl KernelStack {
    /// A stack of at least `bytes` (rounded up to whole pages) and its guard page.
    pub(super) fn new(
        bytes: usize,
        frames: &mut FrameBitmap<'_>,
    ) -> Result<KernelStack, StackError> {
        let pages = bytes.div_ceil(PAGE_SIZE as usize).max(1);
        let count = pages + 1;
        let guard = frames
            .allocate_contiguous(count, 1)
            .ok_or(StackError::OutOfFrames { frames: count })?;
        match unmap_page(guard, frames) {
            Ok(guard_flags) => Ok(KernelStack {
                guard,
                frames: count,
                guard_flags,
            }),
            Err(error) => {
                let _ = frames.free_contiguous(guard, count);
                Err(error)
            }
        }
    }

    /// The unmapped page below the stack.
    pub(super) fn guard(&self) -> u64 {
        self.guard
    }

    /// The lowest usable address.
    pub(super) fn bottom(&self) -> u64 {
        self.guard + PAGE_SIZE
    }

    /// One past the highest usable address (16-byte aligned).
    pub(super) fn top(&self) -> u64 {
        self.guard + self.frames as u64 * PAGE_SIZE
    }

    /// Maps the guard page again and returns every frame. Nothing may run on the
    /// stack any more.
    pub(super) fn release(self, frames: &mut FrameBitmap<'_>) {
        if let Some(entry) = level_1_entry(self.guard) {
            entry.set_addr(x86_64::PhysAddr::new(self.guard), self.guard_flags);
            tlb::flush(VirtAddr::new(self.guard));
        }
        let _ = frames.free_contiguous(self.guard, self.frames);
    }
}

/// The level-1 entry that maps `address` in the live tables, if the walk reaches
/// one (no large page on the way).
fn level_1_entry(
    address: u64,
) -> Option<&'static mut x86_64::structures::paging::page_table::PageTableEntry> {
    let virtual_address = VirtAddr::new(address);
    let mut table = Cr3::read().0.start_address().as_u64() as *mut PageTable;
    for index in [
        virtual_address.p4_index(),
        virtual_address.p3_index(),
        virtual_address.p2_index(),
    ] {
        // SAFETY: `table` is a live page table (the root from CR3, or a table an
        // entry above points to), in identity-mapped RAM; callers edit the tables
        // only with interrupts off and the frame allocator locked.
        let entry = unsafe { &(&*table)[index] };
        if !entry.flags().contains(PageTableFlags::PRESENT)
            || entry.flags().contains(PageTableFlags::HUGE_PAGE)
        {
            return None;
        }
        table = entry.addr().as_u64() as *mut PageTable;
    }
    // SAFETY: as above, the level-1 table mapping `address`.
    Some(unsafe { &mut (&mut *table)[virtual_address.p1_index()] })
}

/// Unmaps the identity-mapped page at `page`, splitting the 2 MiB page holding it
/// if needed, and returns the flags it was mapped with.
fn unmap_page(page: u64, frames: &mut FrameBitmap<'_>) -> Result<PageTableFlags, StackError> {
    split_large_page(page, frames)?;
    let entry = level_1_entry(page).ok_or(StackError::NotMapped(page))?;
    if !entry.flags().contains(PageTableFlags::PRESENT) || entry.addr().as_u64() != page {
        return Err(StackError::NotMapped(page));
    }
    let flags = entry.flags();
    entry.set_unused();
    tlb::flush(VirtAddr::new(page));
    Ok(flags)
}

/// Replaces the 2 MiB page that maps `address` (if it is one) by a level-1 table
/// mapping the same frames with the same rights.
fn split_large_page(address: u64, frames: &mut FrameBitmap<'_>) -> Result<(), StackError> {
    let virtual_address = VirtAddr::new(address);
    let mut table = Cr3::read().0.start_address().as_u64() as *mut PageTable;
    for index in [virtual_address.p4_index(), virtual_address.p3_index()] {
        // SAFETY: as in `level_1_entry`.
        let entry = unsafe { &(&*table)[index] };
        if !entry.flags().contains(PageTableFlags::PRESENT)
            || entry.flags().contains(PageTableFlags::HUGE_PAGE)
        {
            return Err(StackError::NotMapped(address));
        }
        table = entry.addr().as_u64() as *mut PageTable;
    }
    // SAFETY: as in `level_1_entry`: the level-2 table mapping `address`.
    let entry = unsafe { &mut (&mut *table)[virtual_address.p2_index()] };
    if !entry.flags().contains(PageTableFlags::HUGE_PAGE) {
        return Ok(());
    }
    let base = entry.addr().as_u64();
    let flags = entry.flags() - PageTableFlags::HUGE_PAGE;
    let level_1 = frames
        .allocate()
        .ok_or(StackError::OutOfFrames { frames: 1 })?;
    // SAFETY: a free frame just handed out, identity-mapped writable, ours alone
    // until the entry below points to it.
    let new_table = unsafe { &mut *(level_1 as *mut PageTable) };
    for (index, small) in new_table.iter_mut().enumerate() {
        small.set_addr(
            x86_64::PhysAddr::new(base + index as u64 * PAGE_SIZE),
            flags,
        );
    }
    // The parent entry grants everything; each small entry keeps the rights
    // (no-execute included) the large page had.
    entry.set_addr(
        x86_64::PhysAddr::new(level_1),
        PageTableFlags::PRESENT | PageTableFlags::WRITABLE,
    );
    tlb::flush_all();
    Ok(())
}
