//! The kernel thread tests (`test=thread_*`): each starts real threads on real
//! stacks, lets them run from the kernel's hub, and checks what they saw.
//!
//! Every check is one that a broken mechanism fails: a lost switch of registers,
//! TLS or FPU state shows as a wrong value, a lost wakeup as a timeout, an early
//! wakeup as a time before the deadline, a thread that is never preempted as a
//! process that never ends (the harness's deadline).

mod machine;
mod sharing;
mod sync;

use core::fmt;

use ethos_abi::Report;
use ethos_core::threads::{ThreadEnd, ThreadError, ThreadId};

use crate::user_tests::UserFailure;
use ethos_platform_x86_64::kernel_threads::{self, KernelThreadError, ThreadOptions};
use ethos_platform_x86_64::processes::Ending;
use ethos_platform_x86_64::{console, time};

pub(crate) use machine::{FpuProblem, TlsProblem, fpu, stack_overflow, tls};
pub(crate) use sharing::with_process;
use sync::{PASSES, RING, SLEEPERS};
pub(crate) use sync::{interrupt_wake, ping_pong, sleep};

/// How long any wait of these tests may take before it counts as lost.
const PATIENCE_NANOS: u64 = 20_000_000_000;

/// Why a thread test failed.
#[derive(Debug)]
pub(crate) enum ThreadTestFailure {
    Spawn(KernelThreadError),
    Join(ThreadError),
    Ended {
        thread: ThreadId,
        end: ThreadEnd,
    },
    Lost {
        what: &'static str,
    },
    PingPong {
        passes: u64,
        per_thread: [u64; RING],
        out_of_turn: u64,
    },
    EarlyWake {
        deadline: u64,
        woke: u64,
    },
    WakeOrder {
        deadlines_in_wake_order: [u64; SLEEPERS],
    },
    InterruptWake {
        alarm_tick: u64,
        woke_tick: u64,
        woken: usize,
    },
    Tls {
        thread: usize,
        problem: TlsProblem,
    },
    Fpu {
        thread: usize,
        problem: FpuProblem,
    },
    User(UserFailure),
    Process {
        program: &'static str,
        ending: Option<Ending>,
    },
    Starved {
        busy_ticks: u64,
        preemptions: u64,
    },
    NoOverflow {
        end: ThreadEnd,
        guard: u64,
    },
}

impl fmt::Display for ThreadTestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadTestFailure::Spawn(error) => write!(f, "starting a thread: {error}"),
            ThreadTestFailure::Join(error) => write!(f, "joining a thread: {error}"),
            ThreadTestFailure::Ended { thread, end } => {
                write!(f, "{thread} ended unexpectedly: {end:?}")
            }
            ThreadTestFailure::Lost { what } => {
                write!(
                    f,
                    "{what} did not happen within {} s",
                    PATIENCE_NANOS / 1_000_000_000
                )
            }
            ThreadTestFailure::PingPong {
                passes,
                per_thread,
                out_of_turn,
            } => write!(
                f,
                "{passes} passes (expected {PASSES}), per thread {per_thread:?} (expected {} each), {out_of_turn} out of turn",
                PASSES / RING as u64
            ),
            ThreadTestFailure::EarlyWake { deadline, woke } => write!(
                f,
                "a sleeper with deadline {deadline} ns woke at {woke} ns, before it"
            ),
            ThreadTestFailure::WakeOrder {
                deadlines_in_wake_order,
            } => write!(
                f,
                "sleepers woke out of deadline order: {deadlines_in_wake_order:?} (ms after start)"
            ),
            ThreadTestFailure::InterruptWake {
                alarm_tick,
                woke_tick,
                woken,
            } => write!(
                f,
                "the event waiter woke at tick {woke_tick}, the interrupt signals at tick {alarm_tick}; {woken} of 3 waiters woke"
            ),
            ThreadTestFailure::Tls { thread, problem } => {
                write!(f, "TLS thread {thread}: {problem:?}")
            }
            ThreadTestFailure::Fpu { thread, problem } => {
                write!(f, "FPU thread {thread}: {problem:?}")
            }
            ThreadTestFailure::User(failure) => write!(f, "{failure}"),
            ThreadTestFailure::Process { program, ending } => {
                write!(f, "process `{program}` ended {ending:?}")
            }
            ThreadTestFailure::Starved {
                busy_ticks,
                preemptions,
            } => write!(
                f,
                "the busy thread ran during only {busy_ticks} ticks while the processes ran ({preemptions} preemptions)"
            ),
            ThreadTestFailure::NoOverflow { end, guard } => write!(
                f,
                "the recursing thread ended {end:?}, not by a page fault in its guard page {guard:#x}"
            ),
        }
    }
}

fn spawn(
    options: &ThreadOptions,
    body: impl FnOnce() -> u64 + Send + 'static,
) -> Result<ThreadId, ThreadTestFailure> {
    kernel_threads::spawn(options, body).map_err(ThreadTestFailure::Spawn)
}

/// Joins `thread`, which must return 0.
fn join_clean(thread: ThreadId) -> Result<(), ThreadTestFailure> {
    match kernel_threads::join(thread).map_err(ThreadTestFailure::Join)? {
        ThreadEnd::Returned(0) => Ok(()),
        end => Err(ThreadTestFailure::Ended { thread, end }),
    }
}

fn now() -> u64 {
    time::since_boot_nanos().unwrap_or(0)
}

fn metric(name: &'static str, value: u64, unit: &'static str) {
    console::report(Report::Metric { name, value, unit });
}
