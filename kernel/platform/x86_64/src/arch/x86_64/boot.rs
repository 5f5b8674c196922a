//! The first instructions: from a 32-bit protected-mode entry (Xen PVH or multiboot2)
//! to 64-bit Rust.
//!
//! Both protocols enter in flat 32-bit protected mode with paging off: PVH at the
//! address in the `XEN_ELFNOTE_PHYS32_ENTRY` note with the start-info address in
//! `ebx`; multiboot2 at the ELF entry with the magic in `eax` and the boot
//! information address in `ebx`. The code below records the TSC (boot time is
//! measured from here), identity-maps the first 4 GiB (1 GiB pages where the CPU has
//! them, else 2 MiB pages), enters long mode and calls `kernel_entry(protocol,
//! info_address)`. Loaders may enter with the caches disabled (CR0.CD/NW, as QEMU's
//! PVH path does); they are turned on first. It must not touch memory beyond the
//! image: nothing else is known to be free yet.

use core::arch::global_asm;

/// How the kernel was entered, as passed to `kernel_entry`.
pub const BOOT_PROTOCOL_PVH: u32 = 1;
pub const BOOT_PROTOCOL_MULTIBOOT2: u32 = 2;

/// The TSC value at the first kernel instruction, written by the entry code.
#[unsafe(no_mangle)]
static mut BOOT_ENTRY_TSC: u64 = 0;

/// The TSC value recorded at kernel entry.
pub fn entry_tsc() -> u64 {
    // SAFETY: written once by the entry code before any Rust runs, never again.
    unsafe { core::ptr::addr_of!(BOOT_ENTRY_TSC).read_volatile() }
}

global_asm!(
    r#"
    .section .multiboot2_header, "a"
    .balign 8
multiboot2_header_start:
    .long 0xe85250d6
    .long 0
    .long multiboot2_header_end - multiboot2_header_start
    .long 0x100000000 - (0xe85250d6 + (multiboot2_header_end - multiboot2_header_start))
    .short 0
    .short 0
    .long 8
multiboot2_header_end:

    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long pvh_entry

    .section .boot.text, "ax"
    .code32
    .global pvh_entry
pvh_entry:
    rdtsc
    movl %eax, BOOT_ENTRY_TSC
    movl %edx, BOOT_ENTRY_TSC + 4
    movl ${pvh}, %edi
    movl %ebx, %esi
    jmp boot32

    .global multiboot2_entry
multiboot2_entry:
    movl %eax, %ecx
    rdtsc
    movl %eax, BOOT_ENTRY_TSC
    movl %edx, BOOT_ENTRY_TSC + 4
    cmpl $0x36d76289, %ecx
    jne boot_hang
    movl ${multiboot2}, %edi
    movl %ebx, %esi
    jmp boot32

boot_hang:
    cli
    hlt
    jmp boot_hang

boot32:
    cli
    cld
    movl %cr0, %eax
    andl $0x9fffffff, %eax
    movl %eax, %cr0
    movl $boot_stack_top, %esp
    // The tables lie in .bss, which the loader zeroed (every ELF loader clears the
    // part of a segment beyond its file bytes, and every zeroed static relies on it),
    // so only the entries that map something are written.
    movl $(boot_page_tables + 0x1000 + 0x3), boot_page_tables
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 2f
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 26), %edx
    jz 2f
    // 1 GiB pages (CPUID 0x8000_0001 EDX bit 26): four entries map 4 GiB.
    movl $0x83, boot_page_tables + 0x1000
    movl $0x40000083, boot_page_tables + 0x1008
    movl $0x80000083, boot_page_tables + 0x1010
    movl $0xc0000083, boot_page_tables + 0x1018
    jmp 3f
2:
    // Otherwise 2 MiB pages: four page directories of 512 entries.
    movl $(boot_page_tables + 0x2000 + 0x3), boot_page_tables + 0x1000
    movl $(boot_page_tables + 0x3000 + 0x3), boot_page_tables + 0x1008
    movl $(boot_page_tables + 0x4000 + 0x3), boot_page_tables + 0x1010
    movl $(boot_page_tables + 0x5000 + 0x3), boot_page_tables + 0x1018
    movl $0x83, %eax
    movl $(boot_page_tables + 0x2000), %ecx
1:
    movl %eax, (%ecx)
    addl $0x200000, %eax
    addl $8, %ecx
    cmpl $(boot_page_tables + 0x6000), %ecx
    jb 1b
3:
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $boot_page_tables, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    andl $0x9fffffff, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0
    lgdt boot_gdt_pointer
    ljmp $0x08, $boot64

    .code64
boot64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movl %edi, %edi
    movl %esi, %esi
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    call kernel_entry
    ud2

    .section .rodata
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_page_tables:
    // The PML4, the PDPT and four page directories.
    .skip 6 * 4096
    .global boot_stack_guard
boot_stack_guard:
    .skip 4096
    .global boot_stack_bottom
boot_stack_bottom:
    // 256 KiB: a virtio-net driver with 256-entry queues (the size legacy devices
    // fix) is built on the stack before it moves to the heap, some 30 KiB a copy.
    .skip 256 * 1024
    .global boot_stack_top
boot_stack_top:
"#,
    pvh = const BOOT_PROTOCOL_PVH,
    multiboot2 = const BOOT_PROTOCOL_MULTIBOOT2,
    options(att_syntax)
);
