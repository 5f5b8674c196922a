//! The interrupt descriptor table and the path from any vector to Rust.
//!
//! Each of the 256 vectors has a 16-byte assembly stub that pushes an error code
//! (zero where the CPU pushes none) and the vector number, then a common shell saves
//! every general register into a [`TrapFrame`] and calls `interrupt_dispatch`. The
//! gate table is written by hand: the `x86_64` crate's typed IDT needs the unstable
//! `x86-interrupt` ABI for its handlers, and a fault report needs all registers,
//! which that ABI does not give.

use core::arch::global_asm;
use core::mem::size_of;

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, Segment};
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;

use super::gdt::InterruptStack;

/// The registers of the interrupted context, as the stubs leave them on the stack.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const STUB_SIZE: u64 = 16;

global_asm!(
    r#"
    .section .text.interrupts, "ax"
    .balign 16
    .global interrupt_stubs
interrupt_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    jmp interrupt_common
    .set vector, vector + 1
    .endr

interrupt_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call interrupt_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq
"#,
    options(att_syntax)
);

unsafe extern "C" {
    /// The first of 256 stubs, [`STUB_SIZE`] bytes apart.
    static interrupt_stubs: u8;
}

/// One 16-byte interrupt gate.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    stack_index: u8,
    attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const EMPTY: Gate = Gate {
        offset_low: 0,
        selector: 0,
        stack_index: 0,
        attributes: 0,
        offset_middle: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present, ring-0 64-bit interrupt gate (interrupts off on entry).
    fn new(handler: u64, selector: u16, stack: InterruptStack) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector,
            stack_index: stack as u8,
            attributes: 0x8e,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Table([Gate; 256]);

/// The IDT, written in place once by [`init`]: built on the stack and moved into a
/// `Once` it cost a 4 KiB fill and a 4 KiB copy, some 1,700 instructions of the
/// boot. Only [`init`]'s closure writes it, under [`TABLE_BUILT`].
static mut TABLE: Table = Table([Gate::EMPTY; 256]);
static TABLE_BUILT: Once<()> = Once::new();

fn stack_for(vector: u8) -> InterruptStack {
    match vector {
        1 | 3 => InterruptStack::Debug,
        2 => InterruptStack::NonMaskable,
        8 => InterruptStack::DoubleFault,
        14 => InterruptStack::PageFault,
        18 => InterruptStack::MachineCheck,
        0..=31 => InterruptStack::OtherException,
        _ => InterruptStack::HardwareInterrupt,
    }
}

/// Loads an IDT routing every vector to its stub.
pub(super) fn init() {
    let selector = CS::get_reg().0;
    TABLE_BUILT.call_once(|| {
        // SAFETY: the `Once` runs this closure once, and other callers wait until it
        // is done; nothing else writes the table, and no CPU uses it before `lidt`
        // below, so this is the only reference to it while it lives.
        let gates = unsafe { &mut (*core::ptr::addr_of_mut!(TABLE)).0 };
        let base = core::ptr::addr_of!(interrupt_stubs) as u64;
        let (exceptions, interrupts) = gates.split_at_mut(32);
        for (vector, gate) in exceptions.iter_mut().enumerate() {
            let handler = base + vector as u64 * STUB_SIZE;
            *gate = Gate::new(handler, selector, stack_for(vector as u8));
        }
        // Every vector from 32 up shares one stack: its gates differ only in the
        // stub's address, so the loop does no per-vector choosing.
        let mut handler = base + 32 * STUB_SIZE;
        for gate in interrupts {
            *gate = Gate::new(handler, selector, InterruptStack::HardwareInterrupt);
            handler += STUB_SIZE;
        }
    });
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Table>() - 1) as u16,
        base: VirtAddr::from_ptr(core::ptr::addr_of!(TABLE)),
    };
    // SAFETY: the table lives in a static forever and every gate points at a stub
    // that saves state and calls `interrupt_dispatch`.
    unsafe { lidt(&pointer) };
}

/// Lets interrupts in.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Where every vector lands, on its IST stack, with interrupts off.
///
/// # Safety
/// Called only by `interrupt_common`, with `frame` pointing at the frame it built.
#[unsafe(no_mangle)]
unsafe extern "C" fn interrupt_dispatch(frame: *mut TrapFrame) {
    // SAFETY: the stub passes the frame it just pushed on this stack; nothing else
    // refers to it until this function returns.
    let frame = unsafe { &mut *frame };
    crate::interrupt::handle(frame);
}
