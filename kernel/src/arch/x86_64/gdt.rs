//! The global descriptor table, the task state segment, and the interrupt stacks.
//!
//! Every exception and interrupt runs on an IST stack of its own class, so a fault
//! on a broken stack (overflow, corrupted RSP) still reaches a handler that can
//! report it. Each stack sits above an unmapped guard page (see `paging`).

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slots (1-based in IDT entries, 0-based in the TSS table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum InterruptStack {
    DoubleFault = 1,
    NonMaskable = 2,
    MachineCheck = 3,
    PageFault = 4,
    Debug = 5,
    OtherException = 6,
    HardwareInterrupt = 7,
}

const STACK_SIZE: usize = 16 * 1024;
const STACK_COUNT: usize = 7;

/// One interrupt stack with the guard page below it.
#[repr(C, align(4096))]
pub(crate) struct GuardedStack {
    pub(crate) guard: [u8; 4096],
    stack: [u8; STACK_SIZE],
}

/// The interrupt stacks; only the CPU writes them, through the TSS.
static mut INTERRUPT_STACKS: [GuardedStack; STACK_COUNT] = [const {
    GuardedStack {
        guard: [0; 4096],
        stack: [0; STACK_SIZE],
    }
}; STACK_COUNT];

/// The guard page addresses, for `paging` to leave unmapped.
pub(crate) fn guard_pages() -> impl Iterator<Item = u64> {
    (0..STACK_COUNT).map(|index| {
        // SAFETY: only the address is taken; no reference to the mutable static exists.
        let stack = unsafe { core::ptr::addr_of!(INTERRUPT_STACKS[index]) };
        stack as u64
    })
}

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static TABLES: Once<Tables> = Once::new();

/// Loads the GDT and TSS and reloads every segment register.
pub(crate) fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let mut tops = [VirtAddr::zero(); STACK_COUNT];
        for (index, top) in tops.iter_mut().enumerate() {
            // SAFETY: only the address is taken; the CPU is the only writer.
            let stack = unsafe { core::ptr::addr_of!(INTERRUPT_STACKS[index].stack) };
            *top = VirtAddr::from_ptr(stack) + STACK_SIZE as u64;
        }
        // The TSS is packed: the table is written whole, never borrowed.
        tss.interrupt_stack_table = tops;
        tss
    });
    let tables = TABLES.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables {
            gdt,
            code,
            data,
            tss,
        }
    });
    tables.gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which lives in
    // a static for the rest of the kernel's life.
    unsafe {
        CS::set_reg(tables.code);
        SS::set_reg(tables.data);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        load_tss(tables.tss);
    }
}
