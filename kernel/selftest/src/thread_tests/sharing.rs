//! Kernel threads and user processes on one CPU.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ethos_core::process_model::identity::{ProgramName, UserName};

use super::{ThreadTestFailure, join_clean, metric, spawn};
use crate::user_tests::{self, UserFailure};
use ethos_platform_x86_64::kernel_threads::{self, ThreadOptions};
use ethos_platform_x86_64::processes::Ending;
use ethos_platform_x86_64::user_mode;
use ethos_platform_x86_64::{scheduler, time};

/// The CPU the spinning process may use before the timer stops it.
const SPIN_TICKS: u64 = 30;

/// `thread_with_process`: a kernel thread that never yields and the `spin` and
/// `hello` processes share the CPU: the process uses its CPU allowance and the
/// thread runs during the same time.
pub(crate) fn with_process() -> Result<(), ThreadTestFailure> {
    user_tests::test_model().map_err(ThreadTestFailure::User)?;
    let stop = Arc::new(AtomicBool::new(false));
    let busy_ticks = Arc::new(AtomicU64::new(0));
    let busy = {
        let (stop, busy_ticks) = (stop.clone(), busy_ticks.clone());
        spawn(&ThreadOptions::named("busy"), move || {
            let mut last_tick = time::ticks();
            let mut iterations = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tick = time::ticks();
                if tick != last_tick {
                    busy_ticks.fetch_add(1, Ordering::Relaxed);
                    last_tick = tick;
                }
                iterations = core::hint::black_box(iterations + 1);
            }
            0
        })?
    };
    let user = UserName::new(user_tests::USER)
        .map_err(|_| ThreadTestFailure::User(UserFailure::Model("user name")))?;
    for (program, limit) in [("spin", Some(SPIN_TICKS)), ("hello", None)] {
        let name = ProgramName::new(program)
            .map_err(|_| ThreadTestFailure::User(UserFailure::Model("program name")))?;
        user_mode::spawn(&user, &name, limit)
            .map_err(|error| ThreadTestFailure::User(UserFailure::Run(error)))?;
    }
    let started = time::ticks();
    let finished = scheduler::run();
    let elapsed = time::ticks() - started;
    let during = busy_ticks.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    join_clean(busy)?;
    let ending = |program: &str| {
        finished
            .recent
            .iter()
            .find(|process| process.program.as_str() == program)
            .map(|process| process.ending)
    };
    if !matches!(ending("spin"), Some(Ending::TimeLimit { ticks }) if ticks >= SPIN_TICKS) {
        return Err(ThreadTestFailure::Process {
            program: "spin",
            ending: ending("spin"),
        });
    }
    if ending("hello") != Some(Ending::Exited(0)) {
        return Err(ThreadTestFailure::Process {
            program: "hello",
            ending: ending("hello"),
        });
    }
    metric("thread_busy_ticks_beside_processes", during, "ticks");
    metric("thread_process_elapsed", elapsed, "ticks");
    metric("thread_preemptions", kernel_threads::preemptions(), "count");
    // Alternating 20 ms slices give the thread about as much as the spinning
    // process's 30 ticks; a third of that shows it was not starved.
    if during < SPIN_TICKS / 3 || kernel_threads::preemptions() == 0 {
        return Err(ThreadTestFailure::Starved {
            busy_ticks: during,
            preemptions: kernel_threads::preemptions(),
        });
    }
    Ok(())
}
