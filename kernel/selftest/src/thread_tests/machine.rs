//! What each thread keeps of the machine: its TLS block, its FPU state, its stack.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use ethos_core::threads::ThreadEnd;

use super::{ThreadTestFailure, join_clean, metric, spawn};
use ethos_platform_x86_64::kernel_threads::{self, ThreadOptions};
use ethos_platform_x86_64::{arch, time};

/// What a TLS thread found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsProblem {
    NoBlock,
    FirstValues(arch::ThreadLocals),
    SharedBlock(u64),
    Changed {
        expected: (u64, u64),
        found: (u64, u64),
    },
    BlockInNonTlsThread,
    BlockInHub,
    /// The threads' busy phase saw no preemption, so it checked nothing across one.
    NotPreempted,
}

const TLS_THREADS: usize = 4;
const TLS_ROUNDS: u64 = 2_000;

fn tls_thread(me: u64, bases: &[AtomicU64; TLS_THREADS]) -> Result<(), TlsProblem> {
    let first = arch::read_thread_locals().ok_or(TlsProblem::NoBlock)?;
    if first.initialised != arch::TLS_INITIAL_VALUE
        || first.zeroed != 0
        || first.thread_pointer != first.fs_base
    {
        return Err(TlsProblem::FirstValues(first));
    }
    bases[me as usize].store(first.fs_base, Ordering::Relaxed);
    let mine = (0x1111_0000_0000_0000 * (me + 1), 0xdead_0000 + me);
    arch::write_thread_locals(mine.0, mine.1);
    let check = || -> Result<(), TlsProblem> {
        let seen = arch::read_thread_locals().ok_or(TlsProblem::NoBlock)?;
        if (seen.initialised, seen.zeroed) != mine || seen.fs_base != first.fs_base {
            return Err(TlsProblem::Changed {
                expected: mine,
                found: (seen.initialised, seen.zeroed),
            });
        }
        Ok(())
    };
    for _ in 0..TLS_ROUNDS {
        kernel_threads::yield_now();
        check()?;
    }
    // Then busy for three ticks: the timer preempts the threads among each other.
    let until = time::ticks() + 6;
    while time::ticks() < until {
        check()?;
    }
    Ok(())
}

/// `thread_tls`: threads with TLS blocks read their own `%fs`-relative values back
/// after thousands of switches and preemptions; a thread without one has none.
pub(crate) fn tls() -> Result<(), ThreadTestFailure> {
    let preemptions_before = kernel_threads::preemptions();
    let bases = Arc::new([const { AtomicU64::new(0) }; TLS_THREADS]);
    let found: Arc<spin::Mutex<Option<(usize, TlsProblem)>>> = Arc::new(spin::Mutex::new(None));
    let mut threads = Vec::new();
    for me in 0..TLS_THREADS {
        let (bases, found) = (bases.clone(), found.clone());
        let options = ThreadOptions {
            tls: true,
            ..ThreadOptions::named("tls")
        };
        threads.push(spawn(&options, move || {
            match tls_thread(me as u64, &bases) {
                Ok(()) => 0,
                Err(problem) => {
                    kernel_threads::without_preemption(|| {
                        found.lock().get_or_insert((me, problem));
                    });
                    1
                }
            }
        })?);
    }
    let plain = spawn(&ThreadOptions::named("no-tls"), || {
        u64::from(arch::read_thread_locals().is_some())
    })?;
    for thread in threads.iter().copied() {
        // A failing thread names its problem below.
        let _ = kernel_threads::join(thread).map_err(ThreadTestFailure::Join)?;
    }
    if let Some((thread, problem)) = *found.lock() {
        return Err(ThreadTestFailure::Tls { thread, problem });
    }
    if kernel_threads::join(plain).map_err(ThreadTestFailure::Join)? != ThreadEnd::Returned(0) {
        return Err(ThreadTestFailure::Tls {
            thread: TLS_THREADS,
            problem: TlsProblem::BlockInNonTlsThread,
        });
    }
    let mut seen: Vec<u64> = bases
        .iter()
        .map(|base| base.load(Ordering::Relaxed))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != TLS_THREADS {
        return Err(ThreadTestFailure::Tls {
            thread: 0,
            problem: TlsProblem::SharedBlock(seen[0]),
        });
    }
    if arch::read_thread_locals().is_some() {
        return Err(ThreadTestFailure::Tls {
            thread: TLS_THREADS,
            problem: TlsProblem::BlockInHub,
        });
    }
    let preempted = kernel_threads::preemptions() - preemptions_before;
    metric(
        "thread_tls_rounds",
        TLS_ROUNDS * TLS_THREADS as u64,
        "count",
    );
    metric("thread_tls_preemptions", preempted, "count");
    if preempted == 0 {
        return Err(ThreadTestFailure::Tls {
            thread: 0,
            problem: TlsProblem::NotPreempted,
        });
    }
    Ok(())
}

/// What an FPU thread found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FpuProblem {
    SseOff,
    Changed {
        register: usize,
        expected: [u64; 2],
        found: [u64; 2],
    },
    Mxcsr {
        expected: u32,
        found: u32,
    },
    SseOnInPlainThread,
    /// The threads' busy phase saw no preemption, so it checked nothing across one.
    NotPreempted,
}

const FPU_THREADS: usize = 4;
const FPU_ROUNDS: u64 = 2_000;

fn fpu_pattern(me: usize) -> arch::VectorRegisters {
    let mut values = arch::VectorRegisters {
        xmm: [[0; 2]; 16],
        // Rounding control differs per thread (bits 13-14); exceptions masked.
        mxcsr: 0x1f80 | ((me as u32 & 3) << 13),
    };
    for (register, value) in values.xmm.iter_mut().enumerate() {
        let tag = ((me as u64 + 1) << 56) | ((register as u64) << 48);
        *value = [tag | 0x0123_4567, tag | 0x89ab_cdef];
    }
    values
}

fn fpu_check(expected: &arch::VectorRegisters) -> Result<(), FpuProblem> {
    let found = arch::store_vector_registers().ok_or(FpuProblem::SseOff)?;
    for register in 0..16 {
        if found.xmm[register] != expected.xmm[register] {
            return Err(FpuProblem::Changed {
                register,
                expected: expected.xmm[register],
                found: found.xmm[register],
            });
        }
    }
    // The low six bits are sticky exception flags, not state to keep.
    if found.mxcsr & !0x3f != expected.mxcsr & !0x3f {
        return Err(FpuProblem::Mxcsr {
            expected: expected.mxcsr,
            found: found.mxcsr,
        });
    }
    Ok(())
}

fn fpu_thread(me: usize) -> Result<(), FpuProblem> {
    let mine = fpu_pattern(me);
    if !arch::load_vector_registers(&mine) {
        return Err(FpuProblem::SseOff);
    }
    for _ in 0..FPU_ROUNDS {
        kernel_threads::yield_now();
        fpu_check(&mine)?;
    }
    let until = time::ticks() + 6;
    while time::ticks() < until {
        fpu_check(&mine)?;
    }
    Ok(())
}

/// `thread_fpu`: threads that use SSE keep their sixteen XMM registers and MXCSR
/// across thousands of switches and preemptions; a thread that does not cannot
/// use SSE at all.
pub(crate) fn fpu() -> Result<(), ThreadTestFailure> {
    let preemptions_before = kernel_threads::preemptions();
    let found: Arc<spin::Mutex<Option<(usize, FpuProblem)>>> = Arc::new(spin::Mutex::new(None));
    let mut threads = Vec::new();
    for me in 0..FPU_THREADS {
        let found = found.clone();
        let options = ThreadOptions {
            fpu: true,
            ..ThreadOptions::named("fpu")
        };
        threads.push(spawn(&options, move || match fpu_thread(me) {
            Ok(()) => 0,
            Err(problem) => {
                kernel_threads::without_preemption(|| {
                    found.lock().get_or_insert((me, problem));
                });
                1
            }
        })?);
    }
    // Runs between the FPU threads: it must not see SSE enabled.
    let plain = spawn(&ThreadOptions::named("no-fpu"), || {
        let mut seen = 0;
        for _ in 0..FPU_ROUNDS {
            seen |= u64::from(arch::store_vector_registers().is_some());
            kernel_threads::yield_now();
        }
        seen
    })?;
    for thread in threads.iter().copied() {
        let _ = kernel_threads::join(thread).map_err(ThreadTestFailure::Join)?;
    }
    if let Some((thread, problem)) = *found.lock() {
        return Err(ThreadTestFailure::Fpu { thread, problem });
    }
    if kernel_threads::join(plain).map_err(ThreadTestFailure::Join)? != ThreadEnd::Returned(0)
        || arch::store_vector_registers().is_some()
    {
        return Err(ThreadTestFailure::Fpu {
            thread: FPU_THREADS,
            problem: FpuProblem::SseOnInPlainThread,
        });
    }
    let preempted = kernel_threads::preemptions() - preemptions_before;
    metric(
        "thread_fpu_rounds",
        FPU_ROUNDS * FPU_THREADS as u64,
        "count",
    );
    metric("thread_fpu_preemptions", preempted, "count");
    if preempted == 0 {
        return Err(ThreadTestFailure::Fpu {
            thread: 0,
            problem: FpuProblem::NotPreempted,
        });
    }
    Ok(())
}

/// Recurses until the stack runs out.
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[0] = depth as u8;
    let frame = core::hint::black_box(frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u64::from(frame[depth as usize % 512]))
}

/// `thread_stack_overflow`: a thread that recurses without end faults on its guard
/// page; the fault is reported, that thread ends, and threads go on running.
pub(crate) fn stack_overflow() -> Result<(), ThreadTestFailure> {
    let guard = Arc::new(AtomicU64::new(0));
    let thread = {
        let guard = guard.clone();
        let options = ThreadOptions {
            stack_bytes: 16 * 1024,
            ..ThreadOptions::named("recursing")
        };
        spawn(&options, move || {
            if let Some(stack) = arch::running_thread_stack() {
                guard.store(stack.guard, Ordering::Relaxed);
            }
            recurse(0)
        })?
    };
    let end = kernel_threads::join(thread).map_err(ThreadTestFailure::Join)?;
    let guard = guard.load(Ordering::Relaxed);
    let in_guard = |address: u64| (guard..guard + 4096).contains(&address);
    if !matches!(end, ThreadEnd::Faulted { vector: 14, address } if in_guard(address)) {
        return Err(ThreadTestFailure::NoOverflow { end, guard });
    }
    // The kernel and its threads go on.
    let after = spawn(&ThreadOptions::named("after-overflow"), || 0)?;
    join_clean(after)?;
    metric("thread_guard_page", guard, "address");
    Ok(())
}
