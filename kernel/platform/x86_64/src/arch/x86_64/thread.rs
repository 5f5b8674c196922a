//! Kernel threads on x86_64: the machine side of each thread and the switch.
//!
//! Each thread has its own [`KernelStack`] above a guard page, the stack pointer it
//! left the CPU with, and where asked a TLS block and an FPU/SSE save area. The
//! portable policy (`ethos_core::threads`) decides who runs; this module only
//! switches, keyed by the policy's [`ThreadId`].
//!
//! # The hub and the switch
//!
//! Threads are run from a context that is not a thread: the *hub* (the kernel's
//! scheduling loop, on the boot stack). [`run_thread`] switches from the hub to a
//! thread; the thread comes back with [`leave_thread`] (it waits or yields) or
//! [`abandon_thread`] (it ended). A switch saves the callee-saved registers (`rbx`,
//! `rbp`, `r12`–`r15`) on the stack it leaves, stores the stack pointer, loads the
//! other one and pops the same registers: everything else is caller-saved by the
//! calling convention, so a switch is a function call that returns on another
//! stack. Switches happen with interrupts off; each side restores its own interrupt
//! flag when it leaves its critical section.
//!
//! A new thread's stack is prepared so that the first switch to it "returns" into
//! `kernel_thread_start`, which calls the thread's start function on a 16-byte
//! aligned stack.
//!
//! # Preemption
//!
//! Hardware interrupts run on an IST stack shared by all contexts, so a handler must
//! not switch away on it. [`preempt_thread`] instead copies the interrupted
//! registers onto the thread's own stack and makes the interrupt return into
//! `kernel_thread_preempted`, which calls the given handler (that yields the CPU)
//! with interrupts off and, when the thread runs again, restores every register and
//! returns to the interrupted instruction with `iretq`. The kernel has no red zone,
//! so the bytes below the interrupted stack pointer are free.
//!
//! # TLS
//!
//! A thread asked to have TLS gets a block laid out for x86_64 variant II (see
//! `ethos_core::threads::tls`): a copy of the kernel image's TLS segment
//! (`.tdata`, then `.tbss` zeroed) ending at the thread pointer, and the thread
//! control block there, whose first word points to itself and whose word at
//! `0x28` is a stack-protector guard. The FS base holds the thread pointer while the
//! thread runs; the hub and processes run with FS base 0.
//!
//! # FPU and SSE
//!
//! The kernel is compiled without SSE and never touches the FPU, nor do interrupt
//! handlers. A thread that uses the FPU says so at creation; while it runs, CR4's
//! OSFXSR is set so SSE instructions work. When it leaves the CPU the hub saves its
//! state with `fxsave64`, loads a clean state (so no value reaches the next context)
//! and clears OSFXSR again: everywhere else SSE still raises #UD, as before threads
//! existed. When it runs again its state is restored with `fxrstor64`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::alloc::Layout;
use core::arch::global_asm;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use ethos_core::frames::FrameBitmap;
use ethos_core::threads::ThreadId;
use ethos_core::threads::tls::{STACK_GUARD_OFFSET, TlsError, TlsLayout, TlsTemplate};
use spin::Mutex;
use x86_64::VirtAddr;
use x86_64::instructions::interrupts;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::FsBase;

use super::interrupts::TrapFrame;
use super::thread_stack::KernelStack;
pub(super) use super::thread_stack::StackError;

/// What a new thread needs from the machine.
#[derive(Clone, Copy, Debug)]
pub struct ThreadSetup {
    /// Usable stack, rounded up to whole pages (the guard page comes on top).
    pub stack_bytes: usize,
    /// Whether the thread uses the FPU or SSE.
    pub fpu: bool,
    /// Whether the thread gets a TLS block and an FS base.
    pub tls: bool,
}

/// Why the machine side of a thread could not be made or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadMachineError {
    Stack(StackError),
    Tls(TlsError),
    OutOfMemory,
    AlreadyExists(ThreadId),
    NoSuchThread(ThreadId),
    /// The thread is on the CPU (or this is not the hub).
    Running,
}

impl core::fmt::Display for ThreadMachineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ThreadMachineError::Stack(error) => write!(f, "{error}"),
            ThreadMachineError::Tls(error) => write!(f, "{error}"),
            ThreadMachineError::OutOfMemory => write!(f, "no heap for a TLS block or FPU area"),
            ThreadMachineError::AlreadyExists(thread) => write!(f, "{thread} already has a stack"),
            ThreadMachineError::NoSuchThread(thread) => write!(f, "{thread} has no stack"),
            ThreadMachineError::Running => {
                write!(f, "a thread is on the CPU: only the hub may do this")
            }
        }
    }
}

/// The bounds of a thread's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackBounds {
    pub guard: u64,
    pub bottom: u64,
    pub top: u64,
}

/// The 512-byte `fxsave64` image.
#[repr(C, align(16))]
struct FpuArea([u8; 512]);

impl FpuArea {
    /// The state after `fninit` with SSE exceptions masked: x87 control word
    /// 0x037f, MXCSR 0x1f80, every register zero.
    const fn clean() -> FpuArea {
        let mut bytes = [0u8; 512];
        bytes[0] = 0x7f;
        bytes[1] = 0x03;
        bytes[24] = 0x80;
        bytes[25] = 0x1f;
        FpuArea(bytes)
    }
}

/// Loaded whenever an FPU thread leaves the CPU, so its values do not linger.
static CLEAN_FPU: FpuArea = FpuArea::clean();

/// Mixed into each control block's stack-protector guard.
const STACK_GUARD_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// One thread's TLS allocation.
struct TlsBlock {
    allocation: NonNull<u8>,
    layout: Layout,
    thread_pointer: u64,
}

impl TlsBlock {
    fn new(guard_word: u64) -> Result<TlsBlock, ThreadMachineError> {
        let template = tls_template();
        let tls = TlsLayout::new(template.template).map_err(ThreadMachineError::Tls)?;
        let layout = Layout::from_size_align(tls.allocation_bytes, tls.allocation_align)
            .map_err(|_| ThreadMachineError::OutOfMemory)?;
        // SAFETY: the layout has a non-zero size (it always holds the control block).
        let allocation = NonNull::new(unsafe { alloc::alloc::alloc_zeroed(layout) })
            .ok_or(ThreadMachineError::OutOfMemory)?;
        let base = allocation.as_ptr();
        // SAFETY: the allocation holds `allocation_bytes`: the image copy fits at
        // `image_offset` (`image_bytes <= block_bytes`) and the control block at
        // `thread_pointer_offset`; the image is the `.tdata` bytes of the kernel.
        unsafe {
            ptr::copy_nonoverlapping(
                template.image.as_ptr(),
                base.add(tls.image_offset),
                tls.image_bytes,
            );
            let thread_pointer = base.add(tls.thread_pointer_offset);
            (thread_pointer as *mut u64).write(thread_pointer as u64);
            (thread_pointer.add(STACK_GUARD_OFFSET) as *mut u64).write(guard_word);
        }
        Ok(TlsBlock {
            allocation,
            layout,
            thread_pointer: base as u64 + tls.thread_pointer_offset as u64,
        })
    }
}

impl Drop for TlsBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { alloc::alloc::dealloc(self.allocation.as_ptr(), self.layout) };
    }
}

/// The kernel image's TLS segment and its initialised bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct KernelTls {
    pub template: TlsTemplate,
    pub image: &'static [u8],
}

unsafe extern "C" {
    static __tdata_start: u8;
    static __tdata_end: u8;
    static __tls_memory_bytes: u8;
    static __tls_align: u8;
}

/// The kernel's TLS segment, from the linker script's symbols.
pub(super) fn tls_template() -> KernelTls {
    let start = (&raw const __tdata_start) as usize;
    let end = (&raw const __tdata_end) as usize;
    // Absolute symbols: their "address" is the value.
    let memory_bytes = (&raw const __tls_memory_bytes) as usize;
    let align = (&raw const __tls_align) as usize;
    // SAFETY: `.tdata` lies between the two symbols in the kernel image, read-only
    // after boot (nothing writes the template), for the kernel's whole life.
    let image = unsafe { core::slice::from_raw_parts(start as *const u8, end - start) };
    KernelTls {
        template: TlsTemplate {
            image_bytes: image.len(),
            memory_bytes,
            align,
        },
        image,
    }
}

/// Everything of a thread that the machine keeps.
struct ThreadMachine {
    /// The stack pointer it left the CPU with (callee-saved registers below it).
    saved_rsp: u64,
    stack: KernelStack,
    fpu: Option<Box<FpuArea>>,
    tls: Option<TlsBlock>,
}

/// A thread's machine state, owned by [`MACHINES`] from `Box::into_raw` until
/// [`release_thread`].
#[derive(Clone, Copy)]
struct MachinePointer(NonNull<ThreadMachine>);

// SAFETY: one CPU; the pointee is touched only with interrupts off, by the hub or
// by the thread it belongs to while it runs, never by two at once.
unsafe impl Send for MachinePointer {}

static MACHINES: Mutex<BTreeMap<ThreadId, MachinePointer>> = Mutex::new(BTreeMap::new());
/// The thread on the CPU (null while the hub runs).
static RUNNING: AtomicPtr<ThreadMachine> = AtomicPtr::new(ptr::null_mut());
/// The hub's stack pointer while a thread runs. Written and read only by the switch
/// code, with interrupts off.
static mut HUB_RSP: u64 = 0;

global_asm!(
    r#"
    .section .text.kernel_threads, "ax"

    // kernel_thread_switch(save: *mut u64, load: u64)
    .global kernel_thread_switch
kernel_thread_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rdi, rsi
    // kernel_thread_jump(load: u64): continues the context saved at `load`.
    .global kernel_thread_jump
kernel_thread_jump:
    mov rsp, rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    // A new thread's first switch returns here, with its start function in r12.
    .global kernel_thread_start
kernel_thread_start:
    xor ebp, ebp
    and rsp, -16
    call r12
    ud2

    // An interrupt preempted a thread: rsp points at the registers it had
    // (r15 .. rax), the handler to call, and an iretq frame.
    .global kernel_thread_preempted
kernel_thread_preempted:
    mov rbx, rsp
    and rsp, -16
    call qword ptr [rbx + 120]
    mov rsp, rbx
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 8
    iretq
"#
);

unsafe extern "C" {
    fn kernel_thread_switch(save: *mut u64, load: u64);
    fn kernel_thread_jump(load: u64) -> !;
    fn kernel_thread_start();
    fn kernel_thread_preempted();
}

/// Bytes the preempted-register record takes on the thread's stack.
const PREEMPT_RECORD_BYTES: u64 = 21 * 8;
/// Room the handler of a preempted thread needs below the record, at least.
const PREEMPT_HEADROOM: u64 = 2048;

/// Makes the machine side of thread `id`: its stack (and guard page), TLS block and
/// FPU area, with `start` as the function its first run calls (with interrupts off).
pub fn create_thread(
    id: ThreadId,
    setup: &ThreadSetup,
    start: extern "C" fn() -> !,
    frames: &mut FrameBitmap<'_>,
) -> Result<(), ThreadMachineError> {
    interrupts::without_interrupts(|| {
        let mut machines = MACHINES.lock();
        if machines.contains_key(&id) {
            return Err(ThreadMachineError::AlreadyExists(id));
        }
        let tls = if setup.tls {
            Some(TlsBlock::new(
                super::read_tsc().rotate_left(17) ^ STACK_GUARD_SALT,
            )?)
        } else {
            None
        };
        let fpu = if setup.fpu {
            enable_fpu_instructions();
            Some(Box::new(FpuArea::clean()))
        } else {
            None
        };
        let stack =
            KernelStack::new(setup.stack_bytes, frames).map_err(ThreadMachineError::Stack)?;
        let top = stack.top();
        let first_frame: [u64; 8] = [
            0,                                       // r15
            0,                                       // r14
            0,                                       // r13
            start as usize as u64,                   // r12
            0,                                       // rbx
            0,                                       // rbp
            kernel_thread_start as *const () as u64, // return address
            0,                                       // above the first frame
        ];
        let saved_rsp = top - size_of_val(&first_frame) as u64;
        // SAFETY: the stack's top eight words are mapped RAM of this new stack,
        // which nothing else uses.
        unsafe {
            ptr::copy_nonoverlapping(
                first_frame.as_ptr(),
                saved_rsp as *mut u64,
                first_frame.len(),
            )
        };
        let machine = Box::new(ThreadMachine {
            saved_rsp,
            stack,
            fpu,
            tls,
        });
        let pointer = NonNull::from(Box::leak(machine));
        machines.insert(id, MachinePointer(pointer));
        Ok(())
    })
}

/// Frees the machine side of a thread that will never run again.
pub fn release_thread(
    id: ThreadId,
    frames: &mut FrameBitmap<'_>,
) -> Result<(), ThreadMachineError> {
    interrupts::without_interrupts(|| {
        let mut machines = MACHINES.lock();
        let pointer = *machines
            .get(&id)
            .ok_or(ThreadMachineError::NoSuchThread(id))?;
        if RUNNING.load(Ordering::Relaxed) == pointer.0.as_ptr() {
            return Err(ThreadMachineError::Running);
        }
        machines.remove(&id);
        // SAFETY: the pointer came from `Box::leak` in `create_thread`, was in the
        // map until just now, and the thread is not on the CPU: nothing refers to
        // it any more.
        let machine = unsafe { Box::from_raw(pointer.0.as_ptr()) };
        let ThreadMachine { stack, .. } = *machine;
        stack.release(frames);
        Ok(())
    })
}

/// Runs thread `id` from the hub until it leaves the CPU.
pub fn run_thread(id: ThreadId) -> Result<(), ThreadMachineError> {
    interrupts::without_interrupts(|| {
        if !RUNNING.load(Ordering::Relaxed).is_null() {
            return Err(ThreadMachineError::Running);
        }
        let pointer = MACHINES
            .lock()
            .get(&id)
            .copied()
            .ok_or(ThreadMachineError::NoSuchThread(id))?;
        let machine = pointer.0.as_ptr();
        RUNNING.store(machine, Ordering::Relaxed);
        // SAFETY: `machine` is live (in the map, and only the hub frees it, which is
        // here); the thread's saved stack pointer is a context `kernel_thread_switch`
        // or `create_thread` left; `HUB_RSP` is written by the switch and read only
        // when the thread switches back, with interrupts off throughout.
        unsafe {
            if let Some(tls) = &(*machine).tls {
                FsBase::write(VirtAddr::new(tls.thread_pointer));
            }
            if let Some(area) = &(*machine).fpu {
                set_sse(true);
                core::arch::asm!("fxrstor64 [{}]", in(reg) &raw const **area, options(nostack));
            }
            kernel_thread_switch(&raw mut HUB_RSP, (*machine).saved_rsp);
            if let Some(area) = &mut (*machine).fpu {
                core::arch::asm!(
                    "fxsave64 [{save}]",
                    "fxrstor64 [{clean}]",
                    save = in(reg) &raw mut **area,
                    clean = in(reg) &raw const CLEAN_FPU,
                    options(nostack),
                );
                set_sse(false);
            }
            if (*machine).tls.is_some() {
                FsBase::write(VirtAddr::zero());
            }
        }
        RUNNING.store(ptr::null_mut(), Ordering::Relaxed);
        Ok(())
    })
}

/// The running thread gives the CPU back to the hub; returns when the hub runs it
/// again. Does nothing when called from the hub.
pub fn leave_thread() {
    interrupts::without_interrupts(|| {
        let machine = RUNNING.load(Ordering::Relaxed);
        if machine.is_null() {
            return;
        }
        // SAFETY: a thread runs, so the hub saved its stack pointer in `HUB_RSP`
        // when it switched here; `machine` is this thread's, live while it runs.
        unsafe { kernel_thread_switch(&raw mut (*machine).saved_rsp, HUB_RSP) };
    });
}

/// The running thread leaves the CPU for good (it ended): the hub continues and the
/// stack this runs on is abandoned, to be freed by [`release_thread`]. Must be called
/// from a thread.
pub fn abandon_thread() -> ! {
    interrupts::disable();
    assert!(
        !RUNNING.load(Ordering::Relaxed).is_null(),
        "abandon_thread outside a thread"
    );
    // SAFETY: a thread runs, so `HUB_RSP` holds the hub's context, saved by the
    // switch that started this thread's current run.
    unsafe { kernel_thread_jump(HUB_RSP) }
}

/// Whether a thread (not the hub) is on the CPU.
pub fn in_thread() -> bool {
    !RUNNING.load(Ordering::Relaxed).is_null()
}

/// The running thread's stack.
pub fn running_thread_stack() -> Option<StackBounds> {
    let machine = RUNNING.load(Ordering::Relaxed);
    // SAFETY: non-null only while that thread runs, when its machine state is live.
    let stack = unsafe { &machine.as_ref()?.stack };
    Some(StackBounds {
        guard: stack.guard(),
        bottom: stack.bottom(),
        top: stack.top(),
    })
}

/// Makes the interrupt that `frame` describes return into `handler` on the
/// interrupted thread's stack, then to where the thread was; says whether it did.
/// Only a thread interrupted in ring 0 on its own stack, with room to spare, is
/// redirected.
pub fn preempt_thread(frame: &mut TrapFrame, handler: extern "C" fn()) -> bool {
    let Some(stack) = running_thread_stack() else {
        return false;
    };
    if frame.cs & 3 != 0 || !(stack.bottom..=stack.top).contains(&frame.rsp) {
        return false;
    }
    let record = (frame.rsp - PREEMPT_RECORD_BYTES) & !15;
    if record < stack.bottom + PREEMPT_HEADROOM {
        return false;
    }
    let words: [u64; 21] = [
        frame.r15,
        frame.r14,
        frame.r13,
        frame.r12,
        frame.r11,
        frame.r10,
        frame.r9,
        frame.r8,
        frame.rbp,
        frame.rdi,
        frame.rsi,
        frame.rdx,
        frame.rcx,
        frame.rbx,
        frame.rax,
        handler as usize as u64,
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss,
    ];
    // SAFETY: `record..record + 168` lies on the running thread's stack, below the
    // interrupted stack pointer (which the thread no longer uses: no red zone) and
    // above its bottom; the handler runs on the IST stack, not there.
    unsafe { ptr::copy_nonoverlapping(words.as_ptr(), record as *mut u64, words.len()) };
    frame.rip = kernel_thread_preempted as *const () as u64;
    frame.rsp = record;
    // The trampoline and the handler's switch run with interrupts off; `iretq` from
    // the record restores the thread's own flags.
    frame.rflags &= !(1 << 9);
    true
}

/// Clears CR0.EM and CR0.TS and sets CR0.MP, so FPU and SSE instructions run
/// natively once CR4.OSFXSR allows SSE.
fn enable_fpu_instructions() {
    // SAFETY: the kernel never uses the FPU itself; these bits only decide whether
    // FPU instructions trap, and SSE stays off until `set_sse` turns it on.
    unsafe {
        Cr0::update(|flags| {
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            flags.insert(Cr0Flags::MONITOR_COPROCESSOR);
        })
    };
}

/// Turns SSE instructions (and `fxsave`'s XMM part) on or off.
fn set_sse(on: bool) {
    let bits = Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    // SAFETY: the kernel is compiled without SSE, so no kernel code depends on
    // these bits; they are on only while an FPU thread runs.
    unsafe {
        Cr4::update(|flags| {
            if on {
                flags.insert(bits)
            } else {
                flags.remove(bits)
            }
        })
    };
}
