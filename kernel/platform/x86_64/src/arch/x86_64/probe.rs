//! Machine code and machine accesses the kernel's self-tests need, kept here
//! because they are `unsafe`: tiny ring-3 programs (as bytes of the kernel's
//! read-only data), a read of an unmapped address, an invalid instruction, and
//! raw access to a physical frame. Linked only with the `selftest-support` feature,
//! which only the self-test crate turns on: a production kernel carries none of it.

use core::arch::global_asm;

use ethos_core::memory_map::PAGE_SIZE;

global_asm!(
    r#"
    .section .rodata.user_programs, "a"

    .global user_pointers_start
user_pointers_start:
    leaq user_pointers_text(%rip), %rdi
    movl $(user_pointers_text_end - user_pointers_text), %esi
    movl $27, %eax
    syscall
    movq %rax, %r12
    movl $0x100000, %edi
    movl $16, %esi
    movl $27, %eax
    syscall
    shlq $8, %rax
    orq %rax, %r12
    movabsq $0x400000100000, %rdi
    movl $16, %esi
    movl $27, %eax
    syscall
    shlq $16, %rax
    orq %rax, %r12
    leaq user_pointers_start(%rip), %rdi
    movl $16, %esi
    movl $23, %eax
    syscall
    shlq $24, %rax
    orq %rax, %r12
    subq $24, %rsp
    movq %rsp, %rdi
    movl $16, %esi
    movl $23, %eax
    syscall
    movq %rsp, %rdi
    movq %rdx, %rsi
    movl $27, %eax
    syscall
    movq %r12, %rdi
    movl $20, %eax
    syscall
    ud2
user_pointers_text:
    .ascii "hello from ring 3"
user_pointers_text_end:
    .global user_pointers_end
user_pointers_end:

    .global user_read_kernel_start
user_read_kernel_start:
    movl $0x100000, %eax
    movq (%rax), %rax
    movl $20, %eax
    xorl %edi, %edi
    syscall
    .global user_read_kernel_end
user_read_kernel_end:

    .global user_spin_start
user_spin_start:
    jmp user_spin_start
    .global user_spin_end
user_spin_end:

    .global user_invalid_opcode_start
user_invalid_opcode_start:
    nop
    ud2
    .global user_invalid_opcode_end
user_invalid_opcode_end:
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static user_pointers_start: u8;
    static user_pointers_end: u8;
    static user_read_kernel_start: u8;
    static user_read_kernel_end: u8;
    static user_spin_start: u8;
    static user_spin_end: u8;
    static user_invalid_opcode_start: u8;
    static user_invalid_opcode_end: u8;
}

/// The bytes between two symbols of the kernel's read-only data.
fn between(start: *const u8, end: *const u8) -> &'static [u8] {
    let length = end as usize - start as usize;
    // SAFETY: both symbols bound one blob in `.rodata`, which lives and never changes
    // for the kernel's life.
    unsafe { core::slice::from_raw_parts(start, length) }
}

/// A program that prints through a user pointer, then offers the kernel's
/// address, an unmapped one and a read-only result buffer, and exits with
/// the statuses packed into one word.
pub fn pointers_program() -> &'static [u8] {
    between(&raw const user_pointers_start, &raw const user_pointers_end)
}

/// A program that reads a kernel address.
pub fn read_kernel_program() -> &'static [u8] {
    between(
        &raw const user_read_kernel_start,
        &raw const user_read_kernel_end,
    )
}

/// A program that never ends.
pub fn spin_program() -> &'static [u8] {
    between(&raw const user_spin_start, &raw const user_spin_end)
}

/// A program that executes `ud2`.
pub fn invalid_opcode_program() -> &'static [u8] {
    between(
        &raw const user_invalid_opcode_start,
        &raw const user_invalid_opcode_end,
    )
}

/// Reads `address`, which the caller has made sure is unmapped: the read faults,
/// and the fault handler ends the run (a self-test expects exactly that fault).
pub fn read_unmapped(address: u64) -> u64 {
    // SAFETY: the caller passes an address no page maps (the self-tests use the
    // contract address above all RAM); the access is meant to fault, and the
    // page-fault handler ends the run, so no value is ever used as memory.
    unsafe { (address as *const u64).read_volatile() }
}

/// Executes `ud2`: #UD, whose handler reports it and ends the run.
pub fn invalid_opcode() {
    // SAFETY: `ud2` touches no memory; the exception handler takes it from here.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}

/// Fills the physical frame at `frame` with `byte`.
///
/// The caller must own the frame (it came from the frame allocator and is not yet
/// freed); frames are identity-mapped writable.
pub fn fill_frame(frame: u64, byte: u8) {
    // SAFETY: the frame is identity-mapped writable and owned by the caller, which
    // took it from the allocator; nothing else refers to it.
    unsafe { core::ptr::write_bytes(frame as *mut u8, byte, PAGE_SIZE as usize) };
}

/// The first offset in the physical frame at `frame` that does not hold `byte`,
/// if any. The caller must own the frame, as for [`fill_frame`].
pub fn frame_mismatch(frame: u64, byte: u8) -> Option<usize> {
    // SAFETY: the frame is identity-mapped and owned by the caller for the read.
    let bytes = unsafe { core::slice::from_raw_parts(frame as *const u8, PAGE_SIZE as usize) };
    bytes.iter().position(|&value| value != byte)
}
