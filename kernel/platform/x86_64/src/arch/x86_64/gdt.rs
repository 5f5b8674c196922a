//! The global descriptor table, the task state segment, and the interrupt stacks.
//!
//! Every exception and interrupt runs on an IST stack of its own class, so a fault
//! on a broken stack (overflow, corrupted RSP) still reaches a handler that can
//! report it. Each stack sits above an unmapped guard page (see `paging`).
//!
//! The table also holds the ring-3 segments, in the order `syscall`/`sysret` need:
//! kernel code, kernel data, TSS, user data, user code. The TSS's `rsp0` is the
//! running process's kernel stack (see `user`).

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slots (1-based in IDT entries, 0-based in the TSS table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum InterruptStack {
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
pub(super) struct GuardedStack {
    pub guard: [u8; 4096],
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
pub(super) fn guard_pages() -> impl Iterator<Item = u64> {
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
    user_data: SegmentSelector,
    user_code: SegmentSelector,
}

/// The selectors of the four flat segments.
#[derive(Clone, Copy, Debug)]
pub(super) struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub user_code: SegmentSelector,
    pub user_data: SegmentSelector,
}

/// The task state segment. Written only by `init` (before it is loaded) and by
/// `set_kernel_stack` (its `rsp0` field, with interrupts off), always through raw
/// pointers: no reference to it is ever made.
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static TABLES: Once<Tables> = Once::new();

/// The segment selectors; `init` must have run.
pub(super) fn selectors() -> Selectors {
    let tables = TABLES.get().expect("the GDT is loaded at boot");
    Selectors {
        kernel_code: tables.code,
        kernel_data: tables.data,
        user_code: tables.user_code,
        user_data: tables.user_data,
    }
}

/// Makes `top` the stack the CPU switches to when an interrupt without an IST slot
/// arrives in ring 3 (`rsp0`).
pub(super) fn set_kernel_stack(top: u64) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: a single unaligned-safe field write through a raw pointer, with
        // interrupts off on the only CPU; the CPU reads the field only on a ring
        // change, which cannot happen during the write.
        unsafe {
            core::ptr::addr_of_mut!(TSS.privilege_stack_table[0])
                .write_unaligned(VirtAddr::new(top));
        }
    });
}

/// Loads the GDT and TSS and reloads every segment register.
pub(super) fn init() {
    let tables = TABLES.call_once(|| {
        let mut tops = [VirtAddr::zero(); STACK_COUNT];
        for (index, top) in tops.iter_mut().enumerate() {
            // SAFETY: only the address is taken; the CPU is the only writer.
            let stack = unsafe { core::ptr::addr_of!(INTERRUPT_STACKS[index].stack) };
            *top = VirtAddr::from_ptr(stack) + STACK_SIZE as u64;
        }
        // SAFETY: runs once, before the TSS is loaded; the TSS is packed, so the
        // table is written whole through a raw pointer, never borrowed.
        unsafe { core::ptr::addr_of_mut!(TSS.interrupt_stack_table).write_unaligned(tops) };
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        // SAFETY: the TSS is a static that lives for the rest of the kernel's life.
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(&raw const TSS) });
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        Tables {
            gdt,
            code,
            data,
            tss,
            user_data,
            user_code,
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
