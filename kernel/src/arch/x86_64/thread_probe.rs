//! Instructions the kernel thread tests use to look at per-thread machine state:
//! two thread-local variables reached `%fs`-relative exactly as C's `__thread`
//! compiles (local-exec: `sym@tpoff`), the thread pointer at `%fs:0`, and all
//! sixteen XMM registers and MXCSR.
//!
//! Each function first checks that the state it touches exists (an FS base, SSE
//! enabled), so none of them can fault in a context without it.

use core::arch::global_asm;

use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::registers::model_specific::FsBase;

/// The value `.tdata` gives the initialised variable in every new TLS block.
pub(crate) const TLS_INITIAL_VALUE: u64 = 0x7415_0000_cafe_f00d;

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
pub(crate) fn read_thread_locals() -> Option<ThreadLocals> {
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
pub(crate) fn write_thread_locals(initialised: u64, zeroed: u64) -> bool {
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
pub(crate) struct ThreadLocals {
    pub(crate) initialised: u64,
    pub(crate) zeroed: u64,
    /// The word at `%fs:0`.
    pub(crate) thread_pointer: u64,
    /// The FS base register.
    pub(crate) fs_base: u64,
}

/// The sixteen XMM registers, each as two words, and MXCSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub(crate) struct VectorRegisters {
    pub(crate) xmm: [[u64; 2]; 16],
    pub(crate) mxcsr: u32,
}

fn sse_enabled() -> bool {
    Cr4::read().contains(Cr4Flags::OSFXSR)
}

/// Loads every XMM register and MXCSR from `values`; false where SSE is off (any
/// context but a thread created to use the FPU).
pub(crate) fn load_vector_registers(values: &VectorRegisters) -> bool {
    if !sse_enabled() {
        return false;
    }
    // SAFETY: SSE is enabled (OSFXSR), `values` is 16-byte aligned and readable;
    // MXCSR's reserved bits are the caller's to keep clear, which `ldmxcsr` checks
    // by faulting, as any other kernel bug would.
    unsafe {
        core::arch::asm!(
            "movdqa xmm0, [{p}]",
            "movdqa xmm1, [{p} + 16]",
            "movdqa xmm2, [{p} + 32]",
            "movdqa xmm3, [{p} + 48]",
            "movdqa xmm4, [{p} + 64]",
            "movdqa xmm5, [{p} + 80]",
            "movdqa xmm6, [{p} + 96]",
            "movdqa xmm7, [{p} + 112]",
            "movdqa xmm8, [{p} + 128]",
            "movdqa xmm9, [{p} + 144]",
            "movdqa xmm10, [{p} + 160]",
            "movdqa xmm11, [{p} + 176]",
            "movdqa xmm12, [{p} + 192]",
            "movdqa xmm13, [{p} + 208]",
            "movdqa xmm14, [{p} + 224]",
            "movdqa xmm15, [{p} + 240]",
            "ldmxcsr [{p} + 256]",
            p = in(reg) values,
            options(nostack, readonly, preserves_flags),
        )
    };
    true
}

/// Reads every XMM register and MXCSR; `None` where SSE is off.
pub(crate) fn store_vector_registers() -> Option<VectorRegisters> {
    if !sse_enabled() {
        return None;
    }
    let mut values = VectorRegisters {
        xmm: [[0; 2]; 16],
        mxcsr: 0,
    };
    // SAFETY: SSE is enabled and `values` is 16-byte aligned and writable.
    unsafe {
        core::arch::asm!(
            "movdqa [{p}], xmm0",
            "movdqa [{p} + 16], xmm1",
            "movdqa [{p} + 32], xmm2",
            "movdqa [{p} + 48], xmm3",
            "movdqa [{p} + 64], xmm4",
            "movdqa [{p} + 80], xmm5",
            "movdqa [{p} + 96], xmm6",
            "movdqa [{p} + 112], xmm7",
            "movdqa [{p} + 128], xmm8",
            "movdqa [{p} + 144], xmm9",
            "movdqa [{p} + 160], xmm10",
            "movdqa [{p} + 176], xmm11",
            "movdqa [{p} + 192], xmm12",
            "movdqa [{p} + 208], xmm13",
            "movdqa [{p} + 224], xmm14",
            "movdqa [{p} + 240], xmm15",
            "stmxcsr [{p} + 256]",
            p = in(reg) &raw mut values,
            options(nostack, preserves_flags),
        )
    };
    Some(values)
}
