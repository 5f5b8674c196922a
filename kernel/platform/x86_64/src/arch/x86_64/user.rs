//! Ring 3: process address spaces, the way into user mode and back, and the
//! `syscall` entry shell.
//!
//! # Address layout of a process
//!
//! - PML4 entries outside the user range are copied from the kernel's tables when
//!   the space is made: the identity map of RAM, the kernel image and device
//!   memory, all without the user bit, so a program can touch none of it. Lower
//!   tables are shared, so later kernel mappings under those entries show in every
//!   space; a mapping that needs a new top-level entry would not (none does today).
//! - [`USER_START`]`..`[`USER_END`] (PML4 entries 128 to 255, 64 TiB up to the top of
//!   the lower canonical half) belongs to the program. Nothing physical lives that
//!   high, so it never collides with the identity map. Programs are placed at
//!   [`USER_START`]; the stack ends at [`USER_STACK_TOP`], one unmapped page below
//!   [`USER_END`].
//!
//! The kernel never dereferences a program's address: it translates it through the
//! process's tables (present, user, and writable for writes) and copies through the
//! identity map of the frame. This module must never map a kernel frame into the
//! user range nor give a kernel entry the user bit.
//!
//! # Entering and leaving
//!
//! [`enter`] saves the kernel's callee-saved registers and stack pointer, loads a
//! program's whole [`UserContext`] and `iretq`s into ring 3. The program comes back
//! to the kernel by `syscall` (the shell saves every register in the program's
//! [`ContextSlot`], calls `syscall_dispatch` on the one system-call stack and returns
//! with `sysretq` to whichever slot is current then) or by an interrupt or exception
//! (on its IST stack). Under a hypervisor that leaves `syscall` in ring 3, the call
//! arrives as a page fault on the shell's first instruction and is finished from
//! there (see [`finish_unfinished_syscall`]). When the program must leave the CPU (it
//! waits, its time slice is over, it ended), its registers are in its slot already
//! (after an interrupt the kernel copies them there) and [`resume_kernel`] abandons
//! whichever stack it runs on and returns from [`enter`]. So no kernel stack ever
//! holds a waiting program's state: one system-call stack serves every process, on
//! one CPU. A program never chooses the
//! flags it runs with: they pass through [`user_flags`].

use core::arch::global_asm;
use core::cell::Cell;
use core::ptr::NonNull;

use ethos_core::frames::FrameBitmap;
use ethos_core::memory_map::PAGE_SIZE;
use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

use super::cpu::{no_execute_supported, under_hypervisor};
use super::gdt;
use super::interrupts::TrapFrame;

/// The first address a program may use.
pub const USER_START: u64 = 0x0000_4000_0000_0000;
/// One past the last address a program may use: the end of the lower canonical half.
pub(super) const USER_END: u64 = ethos_abi::arguments::USER_SPACE_END;
/// Where a program's stack starts (it grows down); the page above stays unmapped.
pub const USER_STACK_TOP: u64 = USER_END - PAGE_SIZE;

const USER_PML4_FIRST: usize = (USER_START >> 39) as usize;
const USER_PML4_END: usize = (USER_END >> 39) as usize;

/// Everything of a program's state that the kernel keeps while it does not run: its
/// general registers, where it continues, its flags and its stack. (The target has
/// no vector registers in use, so there are none to keep.)
///
/// The first sixteen words are in the order the `syscall` shell pushes them,
/// reversed: the shell saves a calling program straight into its context (its
/// [`ContextSlot`]), so a call that parks the program or switches to another
/// copies no register. After a `syscall`, `rcx` and `rip` both hold the return
/// address and `r11` and `rflags` the flags, as `sysretq` restores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UserContext {
    pub rax: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub r10: u64,
    pub r8: u64,
    pub r9: u64,
    pub rcx: u64,
    pub r11: u64,
    pub rbx: u64,
    pub rbp: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// The size of a [`UserContext`]: the shell pushes into a slot from its end.
const CONTEXT_BYTES: usize = 18 * 8;

// The shell, `user_enter` and `user_switch` read and write a context by these
// offsets.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(UserContext, rax) == 0);
    assert!(offset_of!(UserContext, rdi) == 8);
    assert!(offset_of!(UserContext, rsi) == 16);
    assert!(offset_of!(UserContext, rdx) == 24);
    assert!(offset_of!(UserContext, r10) == 32);
    assert!(offset_of!(UserContext, r8) == 40);
    assert!(offset_of!(UserContext, r9) == 48);
    assert!(offset_of!(UserContext, rcx) == 56);
    assert!(offset_of!(UserContext, r11) == 64);
    assert!(offset_of!(UserContext, rbx) == 72);
    assert!(offset_of!(UserContext, rbp) == 80);
    assert!(offset_of!(UserContext, r12) == 88);
    assert!(offset_of!(UserContext, r13) == 96);
    assert!(offset_of!(UserContext, r14) == 104);
    assert!(offset_of!(UserContext, r15) == 112);
    assert!(offset_of!(UserContext, rsp) == 120);
    assert!(offset_of!(UserContext, rip) == 128);
    assert!(offset_of!(UserContext, rflags) == 136);
    assert!(size_of::<UserContext>() == CONTEXT_BYTES);
};

/// The flags a program may choose for itself: arithmetic flags, direction,
/// alignment check and the CPUID-probe bit. Interrupts are always on in ring 3 (or
/// the timer could never take the CPU back), and I/O privilege, nested task, trap
/// and virtual-8086 bits are never the program's to set.
const USER_FLAGS: u64 = 0x0000_0001 // CF
    | 0x0000_0004 // PF
    | 0x0000_0010 // AF
    | 0x0000_0040 // ZF
    | 0x0000_0080 // SF
    | 0x0000_0400 // DF
    | 0x0000_0800 // OF
    | 0x0004_0000 // AC
    | 0x0020_0000; // ID
/// The interrupt flag, always set for ring 3.
const INTERRUPT_FLAG: u64 = 0x200;

/// The flags a program runs with when it asked for `requested` (the `r11` of its
/// `syscall`, which `sysret` would otherwise load as it stands).
pub fn user_flags(requested: u64) -> u64 {
    (requested & USER_FLAGS) | INTERRUPT_FLAG | 0x2
}

impl UserContext {
    /// A program's first state: at `entry` with its stack at `stack`, every register zero.
    pub fn start(entry: u64, stack: u64) -> UserContext {
        UserContext {
            rip: entry,
            rsp: stack,
            rflags: user_flags(0),
            ..UserContext::default()
        }
    }

    /// Makes the context, just saved by the `syscall` shell, one the program can be
    /// continued from after its call by `sysretq` or `iretq` alike: its flags pass
    /// through [`user_flags`], and `rip` and `rflags` are what `rcx` and `r11` hold.
    pub fn entered_by_syscall(&mut self) {
        self.r11 = user_flags(self.r11);
        self.rflags = self.r11;
        self.rip = self.rcx;
    }

    /// Whether the shell's `sysretq` restores this context exactly: it takes `rip`
    /// from `rcx` and the flags from `r11`, so they must hold the same, as after a
    /// system call. A context taken by an interrupt needs `iretq` ([`switch_to`]).
    pub fn returns_by_sysret(&self) -> bool {
        self.rcx == self.rip && self.r11 == self.rflags
    }

    /// The context of a new program at `entry` with its stack at `stack` and every
    /// other register zero, as `sysretq` leaves it (`exec`).
    pub fn restarted(entry: u64, stack: u64) -> UserContext {
        UserContext {
            rcx: entry,
            r11: user_flags(0),
            ..UserContext::start(entry, stack)
        }
    }

    /// The state of a program interrupted at `frame`, to continue where it was.
    pub fn interrupted(frame: &super::TrapFrame) -> UserContext {
        UserContext {
            rax: frame.rax,
            rbx: frame.rbx,
            rcx: frame.rcx,
            rdx: frame.rdx,
            rsi: frame.rsi,
            rdi: frame.rdi,
            rbp: frame.rbp,
            r8: frame.r8,
            r9: frame.r9,
            r10: frame.r10,
            r11: frame.r11,
            r12: frame.r12,
            r13: frame.r13,
            r14: frame.r14,
            r15: frame.r15,
            rip: frame.rip,
            rflags: user_flags(frame.rflags),
            rsp: frame.rsp,
        }
    }
}

/// Where a program's context lives for as long as the program does: a place of its
/// own on the heap that never moves, so that the `syscall` shell saves the program
/// there as it enters the kernel and restores it from there as it leaves, whatever
/// the scheduler does with the task that owns the slot meanwhile. The slot is
/// reached only through its pointer, never a lasting reference, because the shell
/// and the system call of its program write it while the task sits in the scheduler.
#[derive(Debug)]
pub struct ContextSlot(NonNull<UserContext>);

// SAFETY: the slot owns its context as a `Box` would. It is reached with the
// scheduler locked and interrupts off, or by the shell and the system call of its
// own program, on the one CPU.
unsafe impl Send for ContextSlot {}

/// The place of a [`ContextSlot`], to enter or continue its program by: valid as
/// long as the slot is.
#[derive(Clone, Copy, Debug)]
pub struct ContextPlace(NonNull<UserContext>);

impl ContextSlot {
    pub fn new(context: UserContext) -> ContextSlot {
        ContextSlot(NonNull::from(alloc::boxed::Box::leak(
            alloc::boxed::Box::new(context),
        )))
    }

    /// Replaces the context.
    pub fn set(&mut self, context: UserContext) {
        // SAFETY: the slot's own allocation; no reference to it lasts (see above).
        unsafe { self.0.write(context) }
    }

    /// The program goes on after its system call with `rax` and `rdx` as the answer.
    pub fn answer(&mut self, (rax, rdx): (u64, u64)) {
        let context = self.0.as_ptr();
        // SAFETY: as in `set`; the fields are written through the pointer.
        unsafe {
            (*context).rax = rax;
            (*context).rdx = rdx;
        }
    }

    pub fn place(&self) -> ContextPlace {
        ContextPlace(self.0)
    }
}

impl ContextPlace {
    /// Whether the shell's `sysretq` restores the context exactly
    /// ([`UserContext::returns_by_sysret`]).
    pub fn returns_by_sysret(self) -> bool {
        // SAFETY: the place of a live slot (see the type); the reference lasts for
        // the comparison only.
        unsafe { self.0.as_ref().returns_by_sysret() }
    }
}

impl Drop for ContextSlot {
    fn drop(&mut self) {
        // SAFETY: made by `Box::leak` in `new` and freed only here. The shell never
        // reads a slot whose program ended: it ended in a call that left the CPU.
        drop(unsafe { alloc::boxed::Box::from_raw(self.0.as_ptr()) });
    }
}

/// The slot the next `syscall` saves its program into, and the shell's return
/// restores from: the running program's.
fn make_current(place: ContextPlace) {
    // SAFETY: a word the shell reads only during a system call, which cannot happen
    // while this runs (interrupts are off in a system call and before an entry).
    unsafe { (&raw mut syscall_context).write(place.0.as_ptr()) };
}

/// The current system call's shell continues `place`'s program with `sysretq`
/// instead of the caller: its context must return by `sysretq`
/// ([`ContextSlot::returns_by_sysret`]), and its address space must be active.
pub fn return_to(place: ContextPlace) {
    make_current(place);
}

/// The bytes of the `syscall` instruction, to step back over when a call is made again.
pub const SYSCALL_INSTRUCTION_BYTES: u64 = 2;

/// The size of the one kernel stack system calls run on. Calls never wait on it: a
/// call that must wait saves the program's state and leaves the stack.
const SYSCALL_STACK_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct SyscallStack([u8; SYSCALL_STACK_BYTES]);

/// Written only by the CPU while a system call runs, never by Rust code.
static mut SYSCALL_STACK: SyscallStack = SyscallStack([0; SYSCALL_STACK_BYTES]);

global_asm!(
    r#"
    .section .text.user_mode, "ax"

    .global user_enter
user_enter:
    cli
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    pushfq
    mov [rip + user_resume_rsp], rsp

    // From here on also the direct switch between processes (`switch_to`): the
    // kernel stack `user_resume_rsp` names stays where `user_enter` left it.
    .global user_switch
user_switch:
    push rdx
    push qword ptr [rdi + 120]
    push qword ptr [rdi + 136]
    push rsi
    push qword ptr [rdi + 128]
    mov rax, [rdi + 0]
    mov rsi, [rdi + 16]
    mov rdx, [rdi + 24]
    mov r10, [rdi + 32]
    mov r8, [rdi + 40]
    mov r9, [rdi + 48]
    mov rcx, [rdi + 56]
    mov r11, [rdi + 64]
    mov rbx, [rdi + 72]
    mov rbp, [rdi + 80]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rdi, [rdi + 8]
    iretq

    .global user_resume
user_resume:
    mov rsp, [rip + user_resume_rsp]
    popfq
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // The calling program's registers go straight into its context slot
    // (`syscall_context`), pushed from the slot's end: `rflags` and `rip` as
    // `syscall` left them in `r11` and `rcx`, then the rest in the reverse of the
    // context's order. The call then runs on the system-call stack, and the
    // return restores whichever slot `syscall_context` names by then: the
    // caller's, or that of the program the call switched to.
    .global syscall_entry
syscall_entry:
    mov [rip + syscall_user_rsp], rsp
    mov rsp, [rip + syscall_context]
    add rsp, {context_bytes}
    push r11
    push rcx
    push qword ptr [rip + syscall_user_rsp]
    push r15
    push r14
    push r13
    push r12
    push rbp
    push rbx
    push r11
    push rcx
    push r9
    push r8
    push r10
    push rdx
    push rsi
    push rdi
    push rax
    cld
    mov rdi, rsp
    mov rsp, [rip + syscall_kernel_stack]
    call syscall_dispatch
    mov rsp, [rip + syscall_context]
    cmp byte ptr [rip + syscall_return_by_iretq], 0
    jne 2f
    pop rax
    pop rdi
    pop rsi
    pop rdx
    pop r10
    pop r8
    pop r9
    pop rcx
    pop r11
    pop rbx
    pop rbp
    pop r12
    pop r13
    pop r14
    pop r15
    pop rsp
    sysretq

    // The same return by `iretq` (see `finish_unfinished_syscall`): as a direct
    // switch to the current slot, from the system-call stack.
2:
    mov rdi, rsp
    mov rsp, [rip + syscall_kernel_stack]
    mov rsi, [rip + syscall_user_code]
    mov rdx, [rip + syscall_user_data]
    jmp user_switch

    .section .bss.user_mode, "aw", @nobits
    .balign 8
user_resume_rsp:
    .quad 0
syscall_user_rsp:
    .quad 0
    .global syscall_context
syscall_context:
    .quad 0
    .global syscall_kernel_stack
syscall_kernel_stack:
    .quad 0
    .global syscall_user_code
syscall_user_code:
    .quad 0
    .global syscall_user_data
syscall_user_data:
    .quad 0
    .global syscall_return_by_iretq
syscall_return_by_iretq:
    .byte 0
"#,
    context_bytes = const CONTEXT_BYTES,
);

unsafe extern "C" {
    fn user_enter(context: *const UserContext, code_selector: u64, data_selector: u64);
    fn user_resume() -> !;
    fn user_switch(context: *const UserContext, code_selector: u64, data_selector: u64) -> !;
    fn syscall_entry();
    static mut syscall_kernel_stack: u64;
    static mut syscall_context: *mut UserContext;
    static mut syscall_user_code: u64;
    static mut syscall_user_data: u64;
    static mut syscall_return_by_iretq: u8;
}

/// Turns on `syscall`/`sysret` and, where the CPU has them, SMEP and SMAP: the
/// kernel then can neither run a program's code nor read or write its pages by
/// their user addresses (it reaches them only through the identity map).
pub(super) fn init() {
    init_system_calls();
    let top = (&raw const SYSCALL_STACK) as u64 + SYSCALL_STACK_BYTES as u64;
    gdt::set_kernel_stack(top);
    let selectors = gdt::selectors();
    // SAFETY: the shell reads these words only on `syscall`, which no program can
    // make before one is entered, after this.
    unsafe {
        (&raw mut syscall_kernel_stack).write(top);
        (&raw mut syscall_user_code).write(u64::from(selectors.user_code.0));
        (&raw mut syscall_user_data).write(u64::from(selectors.user_data.0));
    }
    let leaf_7 = if super::cpu::cpuid(0).eax >= 7 {
        core::arch::x86_64::__cpuid_count(7, 0).ebx
    } else {
        0
    };
    let mut protection = Cr4Flags::empty();
    if leaf_7 & (1 << 7) != 0 {
        protection |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if leaf_7 & (1 << 20) != 0 {
        protection |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: no kernel code lies in, and no kernel access goes to, a page with the
    // user bit: the kernel's own mappings never carry it.
    unsafe { Cr4::update(|flags| flags.insert(protection)) };
}

/// Whether SMEP and SMAP are on.
pub fn supervisor_protection() -> (bool, bool) {
    let flags = Cr4::read();
    (
        flags.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        flags.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
    )
}

/// Turns on `syscall`/`sysret`: the segments in `STAR`, the entry in `LSTAR`, and
/// interrupts, direction and trap flags cleared on entry (`SFMASK`).
fn init_system_calls() {
    let selectors = gdt::selectors();
    Star::write(
        selectors.user_code,
        selectors.user_data,
        selectors.kernel_code,
        selectors.kernel_data,
    )
    .expect("the GDT orders its segments for sysret");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    // SAFETY: enabling the system-call extension changes nothing else; `LSTAR` and
    // `STAR` are set above, so a `syscall` lands in `syscall_entry`.
    unsafe { Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// The page-fault error code bits of an instruction fetch made in ring 3.
const USER_FETCH_FAULT: u64 = (1 << 2) | (1 << 4);

/// Finishes a `syscall` that a hypervisor left half done, and says whether it did;
/// `frame` must be a page fault's.
///
/// Some hypervisors emulate `syscall` from ring 3 only in part: they load `rcx`,
/// `r11`, the masked flags and `rip` from `LSTAR`, but leave the CPU in ring 3 on
/// the program's segments. (Seen on a KVM whose guest kernel runs emulated: every
/// program's first call faulted on fetching `syscall_entry` from user mode.) The
/// fetch then faults, and the fault's frame holds exactly the registers `syscall`
/// would have handed the shell. So `frame` is turned into the entry the CPU should
/// have made: ring 0, interrupts off, at `syscall_entry` with the program's stack
/// pointer, where the shell runs as always. From then on the shell returns with
/// `iretq`, because such a hypervisor cannot be trusted to leave ring 0 on `sysretq`
/// either.
///
/// Only under a hypervisor (CPUID says so), and only for a ring-3 fetch of the
/// entry itself. A program that jumps there on purpose makes a system call with
/// registers it chose: what `syscall` already lets it do, since the shell checks the
/// return address and the flags as for any call.
pub fn finish_unfinished_syscall(frame: &mut TrapFrame, fault_address: u64) -> bool {
    let entry = syscall_entry as *const () as u64;
    // SAFETY: a byte written only below, read with interrupts off on the only CPU.
    let seen_before = unsafe { (&raw const syscall_return_by_iretq).read() } != 0;
    // CPUID exits to the hypervisor, so it is asked only until the first such call.
    let unfinished = frame.cs & 3 == 3
        && frame.rip == entry
        && fault_address == entry
        && frame.error_code & USER_FETCH_FAULT == USER_FETCH_FAULT
        && (seen_before || under_hypervisor());
    if !unfinished {
        return false;
    }
    if !seen_before {
        // SAFETY: a byte the shell reads only after `syscall_dispatch`; this runs
        // with interrupts off on the only CPU, between two system calls.
        unsafe { (&raw mut syscall_return_by_iretq).write(1) };
        tracing::warn!(
            "the hypervisor leaves `syscall` in ring 3; system calls are finished from the \
             page fault it causes and return with iretq"
        );
    }
    let selectors = gdt::selectors();
    frame.cs = u64::from(selectors.kernel_code.0);
    frame.ss = u64::from(selectors.kernel_data.0);
    frame.rflags = KERNEL_ENTRY_FLAGS;
    true
}

/// The flags the shell starts with: only the bit that is always one (interrupts off).
const KERNEL_ENTRY_FLAGS: u64 = 1 << 1;

/// Runs the program of the active address space from the context at `place` until
/// it leaves the CPU and [`resume_kernel`] is called: it waits, its time is up or it
/// ended. Its system calls save it at `place`.
pub fn enter(place: ContextPlace) {
    make_current(place);
    let selectors = gdt::selectors();
    // SAFETY: `user_enter` saves every callee-saved register and the flags and
    // returns here, with them restored, when `resume_kernel` is called; the context
    // is read before `iretq`, and its `rip` and `rsp` are addresses of the active
    // address space with flags from `user_flags`, so ring 3 can touch nothing else.
    unsafe {
        user_enter(
            place.0.as_ptr(),
            u64::from(selectors.user_code.0),
            u64::from(selectors.user_data.0),
        )
    };
}

/// Runs the program of the active address space from the context at `place` in
/// place of the one that made the current system call, without going back to the
/// kernel stack that [`enter`]ed the first: that stack still waits in [`enter`], which returns when
/// [`resume_kernel`] is next called, whichever program calls it. The stack the caller
/// runs on (the system-call stack) is abandoned, so the caller must hold no lock and
/// own nothing that needs dropping; the program it leaves is saved in its slot
/// already. Interrupts must be off, as in every system call.
pub fn switch_to(place: ContextPlace) -> ! {
    make_current(place);
    let selectors = gdt::selectors();
    // SAFETY: `user_switch` is the second half of `user_enter`: it reads the context
    // before `iretq`, whose `rip` and `rsp` are addresses of the active address space
    // with flags from `user_flags`, so ring 3 can touch nothing else; the kernel stack
    // a later `resume_kernel` returns to is the one `user_enter` saved, which no code
    // has left since (only `user_resume` unwinds it).
    unsafe {
        user_switch(
            place.0.as_ptr(),
            u64::from(selectors.user_code.0),
            u64::from(selectors.user_data.0),
        )
    }
}

/// Takes the CPU back from the running program: returns from [`enter`] on the kernel
/// stack that called it, abandoning the stack the caller runs on (the system-call
/// stack or an interrupt stack). The caller must hold no lock and own nothing that
/// needs dropping, and must have saved the program's state if it is to run again.
pub fn resume_kernel() -> ! {
    // SAFETY: called only while a process runs, so `user_enter` saved a stack
    // pointer whose frame is still live on the kernel stack that entered it.
    unsafe { user_resume() }
}

/// Why a user page could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfFrames,
    OutsideUserRange(u64),
    AlreadyMapped(u64),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::OutOfFrames => write!(f, "no free frame"),
            MapError::OutsideUserRange(address) => {
                write!(f, "{address:#x} is outside the user range")
            }
            MapError::AlreadyMapped(address) => write!(f, "{address:#x} is mapped twice"),
        }
    }
}

/// The rights a user page is mapped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRights {
    pub write: bool,
    pub execute: bool,
}

/// A process's page tables: the kernel entries shared, the user range its own.
///
/// A space's user mappings are only ever added ([`AddressSpace::map_new_page`]),
/// never removed or narrowed while it lives, so a translation once made stays
/// true: the space remembers the last page it translated for a read and for a
/// write, and a message's buffers, used again and again, are not walked again.
#[derive(Debug)]
pub struct AddressSpace {
    root: u64,
    last_read: Cell<TranslatedPage>,
    last_written: Cell<TranslatedPage>,
}

/// A user page and its frame, as [`AddressSpace::translate`] found them.
#[derive(Clone, Copy, Debug)]
struct TranslatedPage {
    /// The page's address; [`TranslatedPage::NONE`]'s is not a user address.
    page: u64,
    frame: u64,
}

impl TranslatedPage {
    const NONE: TranslatedPage = TranslatedPage { page: 1, frame: 0 };
}

fn table(address: u64) -> *mut PageTable {
    address as *mut PageTable
}

fn zeroed_frame(frames: &mut FrameBitmap<'_>) -> Result<u64, MapError> {
    let frame = frames.allocate().ok_or(MapError::OutOfFrames)?;
    // SAFETY: the frame is free RAM just handed to us, identity-mapped writable.
    unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
    Ok(frame)
}

impl AddressSpace {
    fn with_root(root: u64) -> AddressSpace {
        AddressSpace {
            root,
            last_read: Cell::new(TranslatedPage::NONE),
            last_written: Cell::new(TranslatedPage::NONE),
        }
    }

    /// A space with the kernel's entries and nothing in the user range.
    pub fn new(frames: &mut FrameBitmap<'_>) -> Result<AddressSpace, MapError> {
        let root = zeroed_frame(frames)?;
        let (kernel_root, _) = Cr3::read();
        let kernel = table(kernel_root.start_address().as_u64());
        for index in (0..512).filter(|index| !(USER_PML4_FIRST..USER_PML4_END).contains(index)) {
            // SAFETY: both are page tables in identity-mapped RAM; the kernel's is
            // only read, the new one is ours alone.
            unsafe {
                let entry = (&(*kernel))[index].clone();
                (&mut (*table(root)))[index] = entry;
            }
        }
        Ok(AddressSpace::with_root(root))
    }

    /// Maps a fresh zeroed frame at the page `address` with `rights` and returns the
    /// frame's (identity-mapped) address.
    pub fn map_new_page(
        &mut self,
        address: u64,
        rights: PageRights,
        frames: &mut FrameBitmap<'_>,
    ) -> Result<u64, MapError> {
        if !(USER_START..USER_END).contains(&address) {
            return Err(MapError::OutsideUserRange(address));
        }
        let page = VirtAddr::new(address);
        let parent =
            PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::USER_ACCESSIBLE;
        let mut current = self.root;
        for index in [page.p4_index(), page.p3_index(), page.p2_index()] {
            // SAFETY: `current` is a table of this space (user range), identity-mapped.
            let entry = unsafe { &mut (&mut (*table(current)))[index] };
            if entry.is_unused() {
                let next = zeroed_frame(frames)?;
                entry.set_addr(PhysAddr::new(next), parent);
            }
            current = entry.addr().as_u64();
        }
        // SAFETY: as above, the level-1 table of this space.
        let entry = unsafe { &mut (&mut (*table(current)))[page.p1_index()] };
        if !entry.is_unused() {
            return Err(MapError::AlreadyMapped(address));
        }
        let frame = zeroed_frame(frames)?;
        let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        if rights.write {
            flags |= PageTableFlags::WRITABLE;
        }
        if !rights.execute && no_execute_supported() {
            flags |= PageTableFlags::NO_EXECUTE;
        }
        entry.set_addr(PhysAddr::new(frame), flags);
        Ok(frame)
    }

    /// The identity-mapped address of the byte at user address `address`, if its
    /// page is mapped for the program (and writable, when `write`).
    pub fn translate(&self, address: u64, write: bool) -> Option<u64> {
        let page = address & !(PAGE_SIZE - 1);
        let offset = address & (PAGE_SIZE - 1);
        let last = if write {
            &self.last_written
        } else {
            &self.last_read
        };
        let remembered = last.get();
        if remembered.page == page {
            return Some(remembered.frame + offset);
        }
        let frame = self.walk(page, write)?;
        last.set(TranslatedPage { page, frame });
        Some(frame + offset)
    }

    /// [`AddressSpace::translate`] through the tables, remembering nothing: for a
    /// range of several pages, whose pages would only displace one another.
    pub fn walk(&self, address: u64, write: bool) -> Option<u64> {
        if !(USER_START..USER_END).contains(&address) {
            return None;
        }
        let virtual_address = VirtAddr::new(address);
        let mut current = self.root;
        let needed = PageTableFlags::PRESENT
            | PageTableFlags::USER_ACCESSIBLE
            | if write {
                PageTableFlags::WRITABLE
            } else {
                PageTableFlags::empty()
            };
        for index in [
            virtual_address.p4_index(),
            virtual_address.p3_index(),
            virtual_address.p2_index(),
            virtual_address.p1_index(),
        ] {
            // SAFETY: `current` is a table of this space, identity-mapped; only read.
            let entry = unsafe { &(&(*table(current)))[index] };
            if !entry.flags().contains(needed) || entry.flags().contains(PageTableFlags::HUGE_PAGE)
            {
                return None;
            }
            current = entry.addr().as_u64();
        }
        Some(current + (address & (PAGE_SIZE - 1)))
    }

    /// Whether these are the tables the CPU runs on.
    pub fn is_live(&self) -> bool {
        current_root() == self.root
    }

    /// Makes this space the live one (no CR3 write, and so no TLB flush, when it
    /// already is).
    pub fn activate(&self) {
        if self.is_live() {
            return;
        }
        let frame = PhysFrame::containing_address(PhysAddr::new(self.root));
        // SAFETY: the space holds every kernel entry unchanged, so the running code,
        // its stack and all kernel data stay mapped at the same addresses.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    }

    /// A new space with a copy of every user page of this one, with the same rights
    /// (`fork`). Pages are copied now, not shared: there is no copy-on-write yet.
    pub fn duplicate(&self, frames: &mut FrameBitmap<'_>) -> Result<AddressSpace, MapError> {
        let mut copy = AddressSpace::new(frames)?;
        let mut pages = alloc::vec::Vec::new();
        self.for_each_page(|address, frame, flags| pages.push((address, frame, flags)));
        for (address, frame, flags) in pages {
            let rights = PageRights {
                write: flags.contains(PageTableFlags::WRITABLE),
                execute: !flags.contains(PageTableFlags::NO_EXECUTE),
            };
            match copy.map_new_page(address, rights, frames) {
                // SAFETY: both are whole RAM frames, identity-mapped; the new one is
                // fresh and nobody else refers to it.
                Ok(new) => unsafe {
                    core::ptr::copy_nonoverlapping(
                        frame as *const u8,
                        new as *mut u8,
                        PAGE_SIZE as usize,
                    )
                },
                Err(error) => {
                    copy.release(frames);
                    return Err(error);
                }
            }
        }
        Ok(copy)
    }

    /// Calls `visit(address, frame, flags)` for every mapped user page.
    fn for_each_page(&self, mut visit: impl FnMut(u64, u64, PageTableFlags)) {
        fn walk(
            table_address: u64,
            level: u8,
            base: u64,
            visit: &mut dyn FnMut(u64, u64, PageTableFlags),
        ) {
            for index in 0..512u64 {
                // SAFETY: a table of this space, identity-mapped; only read.
                let entry = unsafe { &(&(*table(table_address)))[index as usize] };
                if entry.is_unused() {
                    continue;
                }
                let address = base | index << (12 + 9 * (u64::from(level) - 1));
                if level == 1 {
                    visit(address, entry.addr().as_u64(), entry.flags());
                } else {
                    walk(entry.addr().as_u64(), level - 1, address, visit);
                }
            }
        }
        for index in USER_PML4_FIRST..USER_PML4_END {
            // SAFETY: the root of this space, identity-mapped; only read.
            let entry = unsafe { &(&(*table(self.root)))[index] };
            if !entry.is_unused() {
                walk(entry.addr().as_u64(), 3, (index as u64) << 39, &mut visit);
            }
        }
    }

    /// Returns every frame of the user range and the root to `frames`. `kernel_root`
    /// must be live, not this space.
    pub fn release(self, frames: &mut FrameBitmap<'_>) {
        fn free_level(address: u64, level: u8, frames: &mut FrameBitmap<'_>) {
            if level > 1 {
                for index in 0..512 {
                    // SAFETY: a table of a released space, identity-mapped; only read.
                    let entry = unsafe { &(&(*table(address)))[index] };
                    if !entry.is_unused() {
                        free_level(entry.addr().as_u64(), level - 1, frames);
                    }
                }
            } else {
                for index in 0..512 {
                    // SAFETY: as above.
                    let entry = unsafe { &(&(*table(address)))[index] };
                    if !entry.is_unused() {
                        let _ = frames.free(entry.addr().as_u64());
                    }
                }
            }
            let _ = frames.free(address);
        }
        for index in USER_PML4_FIRST..USER_PML4_END {
            // SAFETY: the root of this space, identity-mapped; only read.
            let entry = unsafe { &(&(*table(self.root)))[index] };
            if !entry.is_unused() {
                free_level(entry.addr().as_u64(), 3, frames);
            }
        }
        let _ = frames.free(self.root);
    }
}

/// The kernel's own page-table root, to return to when a process ends.
pub fn current_root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Makes the tables at `root` live (a root [`current_root`] gave).
pub fn switch_to_root(root: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(root));
    // SAFETY: `root` is the kernel's tables, read from CR3 before a process ran.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}
