//! Instructions the kernel thread tests use to look at per-thread machine state:
//! two thread-local variables reached `%fs`-relative exactly as C's `__thread`
//! compiles (local-exec: `sym@tpoff`), the thread pointer at `%fs:0`, and all
//! sixteen XMM registers and MXCSR (through `fxsave64`/`fxrstor64`).
//!
//! Each function first checks that the state it touches exists (an FS base, SSE
//! enabled), so none of them can fault in a context without it.

use core::arch::global_asm;

use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::FsBase;

/// The value `.tdata` gives the initialised variable in every new TLS block.
pub const TLS_INITIAL_VALUE: u64 = 0x7415_0000_cafe_f00d;

global_asm!(
    r#"
    .section .tdata.thread_probe, "awT", @progbits
    .balign 8
thread_probe_initialised:
    .quad {initial}

    .section .tbss.thread_probe, "awT", @nobits
    .balign 8
thread_probe_zeroed:
    .skip 8
"#,
    initial = const TLS_INITIAL_VALUE,
);

/// The two thread-local variables and the thread pointer as seen through `%fs`, or
/// `None` in a context without a TLS block.
pub fn read_thread_locals() -> Option<ThreadLocals> {
    if FsBase::read().is_null() {
        return None;
    }
    let (initialised, zeroed, thread_pointer): (u64, u64, u64);
    // SAFETY: a non-zero FS base is only ever a thread's thread pointer, whose TLS
    // block holds both variables at the offsets the linker computed and whose
    // control block starts with its own address.
    unsafe {
        core::arch::asm!(
            "movq %fs:thread_probe_initialised@TPOFF, {a}",
            "movq %fs:thread_probe_zeroed@TPOFF, {b}",
            "movq %fs:0, {c}",
            a = out(reg) initialised,
            b = out(reg) zeroed,
            c = out(reg) thread_pointer,
            options(att_syntax, nostack, readonly, preserves_flags),
        )
    };
    Some(ThreadLocals {
        initialised,
        zeroed,
        thread_pointer,
        fs_base: FsBase::read().as_u64(),
    })
}

/// Writes both thread-local variables through `%fs`; false without a TLS block.
pub fn write_thread_locals(initialised: u64, zeroed: u64) -> bool {
    if FsBase::read().is_null() {
        return false;
    }
    // SAFETY: as in `read_thread_locals`; the variables belong to this thread.
    unsafe {
        core::arch::asm!(
            "movq {a}, %fs:thread_probe_initialised@TPOFF",
            "movq {b}, %fs:thread_probe_zeroed@TPOFF",
            a = in(reg) initialised,
            b = in(reg) zeroed,
            options(att_syntax, nostack, preserves_flags),
        )
    };
    true
}

/// What [`read_thread_locals`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadLocals {
    pub initialised: u64,
    pub zeroed: u64,
    /// The word at `%fs:0`.
    pub thread_pointer: u64,
    /// The FS base register.
    pub fs_base: u64,
}

/// The sixteen XMM registers, each as two words, and MXCSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorRegisters {
    pub xmm: [[u64; 2]; 16],
    pub mxcsr: u32,
}

fn sse_enabled() -> bool {
    Cr4::read().contains(Cr4Flags::OSFXSR)
}

/// The `fxsave64` image the probes go through: every register is read and
/// written by `fxsave64`/`fxrstor64` alone, which even an instruction emulator
/// that lacks `ldmxcsr` or `movdqa` (as one KVM configuration does) handles.
#[repr(C, align(16))]
struct FxImage([u8; 512]);

const FX_MXCSR: usize = 24;
const FX_XMM: usize = 160;

/// The current FPU/SSE image; SSE must be on.
fn save_image() -> FxImage {
    let mut image = FxImage([0; 512]);
    // SAFETY: the caller checked SSE is on; the image is 16-byte aligned, 512
    // bytes, writable.
    unsafe {
        core::arch::asm!("fxsave64 [{}]", in(reg) &raw mut image, options(nostack, preserves_flags))
    };
    image
}

/// Loads every XMM register and MXCSR from `values`; false where SSE is off (any
/// context but a thread created to use the FPU).
pub fn load_vector_registers(values: &VectorRegisters) -> bool {
    if !sse_enabled() {
        return false;
    }
    let mut image = save_image();
    image.0[FX_MXCSR..FX_MXCSR + 4].copy_from_slice(&values.mxcsr.to_le_bytes());
    for (register, words) in values.xmm.iter().enumerate() {
        let at = FX_XMM + register * 16;
        image.0[at..at + 8].copy_from_slice(&words[0].to_le_bytes());
        image.0[at + 8..at + 16].copy_from_slice(&words[1].to_le_bytes());
    }
    // SAFETY: SSE is on and the image came from `fxsave64` with only MXCSR (whose
    // reserved bits the caller keeps clear; `fxrstor64` faults otherwise, as any
    // other kernel bug would) and the XMM registers changed.
    unsafe {
        core::arch::asm!("fxrstor64 [{}]", in(reg) &raw const image, options(nostack, preserves_flags))
    };
    true
}

/// Reads every XMM register and MXCSR; `None` where SSE is off.
pub fn store_vector_registers() -> Option<VectorRegisters> {
    if !sse_enabled() {
        return None;
    }
    let image = save_image();
    let word = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&image.0[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let mut mxcsr = [0; 4];
    mxcsr.copy_from_slice(&image.0[FX_MXCSR..FX_MXCSR + 4]);
    Some(VectorRegisters {
        xmm: core::array::from_fn(|register| {
            let at = FX_XMM + register * 16;
            [word(at), word(at + 8)]
        }),
        mxcsr: u32::from_le_bytes(mxcsr),
    })
}
