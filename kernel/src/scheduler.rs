//! The scheduler: which process has the CPU, round robin with a time slice, on one
//! CPU.
//!
//! A process is ready, running or waiting (parked in `block` until one of its events
//! completes). The kernel's own loop, [`run`], picks the next ready process and
//! enters it; the process comes back to that loop only when it leaves the CPU: its
//! slice ended while another was ready, it waits, or it ended. A process that leaves
//! has its registers saved in its task first, so no kernel stack ever holds a
//! waiting process. Processes the model woke (their events completed) become ready
//! at the next decision. When every process waits and no timer is pending, nothing
//! can ever wake them: the kernel reports a deadlock and ends them, rather than
//! hang.
//!
//! Kernel threads (`kernel_threads`) share the CPU: the loop gives a ready thread a
//! turn before each decision, and a process's slice also ends when a thread wants
//! the CPU, so a busy thread and a busy process alternate slices.
//!
//! Lock order: [`SCHEDULER`] before the process model (`user_mode::SYSTEM`). Both
//! are taken only with interrupts off: in system calls, in interrupts taken from
//! ring 3, and in [`run`] inside `without_interrupts`. This module never touches a
//! program's memory.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use ethos_abi::{ProcessId, Report};
use ethos_kernel::process_model::ProcessModel;
use ethos_kernel::process_model::events::Instant;
use ethos_kernel::process_model::identity::{ProgramName, UserName};
use spin::Mutex;
use x86_64::instructions::interrupts;

use crate::arch::{self, AddressSpace, UserContext};
use crate::user_mode::{self, Ending};
use crate::{console, kernel_threads, memory, time};

/// The most heap the kernel used at any scheduling decision since boot.
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most heap the kernel used at any scheduling decision since boot.
pub(crate) fn heap_peak() -> usize {
    HEAP_PEAK.load(Ordering::Relaxed)
}

/// How many timer ticks a process may run while another is ready.
const SLICE_TICKS: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Waiting,
}

/// One process as the platform knows it: its address space and saved registers.
pub(crate) struct Task {
    pub(crate) user: UserName,
    pub(crate) program: ProgramName,
    pub(crate) space: AddressSpace,
    context: UserContext,
    state: State,
    /// Timer ticks it ran, up to its last time off the CPU.
    cpu_ticks: u64,
    /// At most this many ticks of CPU, if limited.
    limit: Option<u64>,
}

impl Task {
    pub(crate) fn new(
        user: UserName,
        program: ProgramName,
        space: AddressSpace,
        context: UserContext,
        limit: Option<u64>,
    ) -> Task {
        Task {
            user,
            program,
            space,
            context,
            state: State::Ready,
            cpu_ticks: 0,
            limit,
        }
    }

    /// The CPU limit a child of this task inherits.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }
}

/// A process that ended, as [`run`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) process: ProcessId,
    pub(crate) user: UserName,
    pub(crate) program: ProgramName,
    pub(crate) ending: Ending,
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process {} ({} as {}) {}",
            self.process.0, self.program, self.user, self.ending
        )
    }
}

pub(crate) struct Scheduler {
    tasks: BTreeMap<ProcessId, Task>,
    ready: VecDeque<ProcessId>,
    current: Option<ProcessId>,
    /// The tick at which the current process was entered.
    slice_start: u64,
    /// Address spaces of ended processes, released once no longer live.
    dying: Vec<AddressSpace>,
    finished: Vec<Finished>,
    /// How many times a process was entered, for the statistics line.
    entries: u64,
}

pub(crate) static SCHEDULER: Mutex<Scheduler> = Mutex::new(Scheduler {
    tasks: BTreeMap::new(),
    ready: VecDeque::new(),
    current: None,
    slice_start: 0,
    dying: Vec::new(),
    finished: Vec::new(),
    entries: 0,
});

impl Scheduler {
    /// The running process.
    pub(crate) fn current(&self) -> Option<ProcessId> {
        self.current
    }

    pub(crate) fn task(&self, process: ProcessId) -> Option<&Task> {
        self.tasks.get(&process)
    }

    pub(crate) fn task_mut(&mut self, process: ProcessId) -> Option<&mut Task> {
        self.tasks.get_mut(&process)
    }

    /// Adds a ready process.
    pub(crate) fn add(&mut self, process: ProcessId, task: Task) {
        self.tasks.insert(process, task);
        self.ready.push_back(process);
    }

    /// Runs the model's timers due now and makes every process the model woke
    /// ready again.
    pub(crate) fn wake_due(&mut self, model: &mut ProcessModel) {
        if let Some(now) = time::since_boot_nanos() {
            model.advance_clock(Instant(now));
        }
        self.wake(model.take_woken());
    }

    /// Makes waiting processes ready again.
    fn wake(&mut self, processes: impl IntoIterator<Item = ProcessId>) {
        for process in processes {
            if let Some(task) = self.tasks.get_mut(&process)
                && task.state == State::Waiting
            {
                task.state = State::Ready;
                self.ready.push_back(process);
            }
        }
    }

    /// Ticks of CPU the current process has used, this slice included.
    fn current_cpu_ticks(&self) -> Option<(u64, Option<u64>)> {
        let task = self.tasks.get(&self.current?)?;
        let now = time::ticks();
        Some((
            task.cpu_ticks + now.saturating_sub(self.slice_start),
            task.limit,
        ))
    }

    /// Whether the current process has run out of its CPU limit.
    pub(crate) fn over_limit(&self) -> Option<u64> {
        let (used, limit) = self.current_cpu_ticks()?;
        limit.filter(|limit| used >= *limit)
    }

    /// Whether the current process should give way: its slice is over and another
    /// process or a kernel thread is ready.
    pub(crate) fn slice_over(&self) -> bool {
        (!self.ready.is_empty() || kernel_threads::want_cpu())
            && time::ticks().saturating_sub(self.slice_start) >= SLICE_TICKS
    }

    fn off_cpu(&mut self, context: UserContext, state: State) {
        let Some(process) = self.current.take() else {
            return;
        };
        let used = time::ticks().saturating_sub(self.slice_start);
        if let Some(task) = self.tasks.get_mut(&process) {
            task.context = context;
            task.cpu_ticks += used;
            task.state = state;
            if state == State::Ready {
                self.ready.push_back(process);
            }
        }
    }

    /// The current process leaves the CPU but stays ready (its slice is over).
    pub(crate) fn preempt(&mut self, context: UserContext) {
        self.off_cpu(context, State::Ready);
    }

    /// The current process waits until the model wakes it; `context` makes its
    /// `block` again.
    pub(crate) fn park(&mut self, context: UserContext) {
        self.off_cpu(context, State::Waiting);
    }

    /// Ends `process` (the current one or another) with `ending`. The model must
    /// already have dropped it. Its address space is released by [`run`], once the
    /// kernel's tables are live again.
    pub(crate) fn finish(&mut self, process: ProcessId, ending: Ending) {
        if self.current == Some(process) {
            self.current = None;
        }
        self.ready.retain(|ready| *ready != process);
        if let Some(task) = self.tasks.remove(&process) {
            let finished = Finished {
                process,
                user: task.user.clone(),
                program: task.program.clone(),
                ending,
            };
            report(&finished);
            self.finished.push(finished);
            self.dying.push(task.space);
        }
    }

    /// Releases the spaces of ended processes; if one is still live (the kernel
    /// runs on the tables of the last process it entered), `kernel_root` takes its
    /// place first.
    fn release_dying(&mut self, kernel_root: u64) {
        let dying = core::mem::take(&mut self.dying);
        if dying.is_empty() {
            return;
        }
        if dying.iter().any(AddressSpace::is_live) {
            arch::switch_to_root(kernel_root);
        }
        if let Some(frames) = memory::FRAMES.lock().as_mut() {
            for space in dying {
                space.release(frames);
            }
        }
    }
}

/// Writes the console line and the report for a process that ended.
fn report(finished: &Finished) {
    let mut line = console::LineBuffer::new();
    let _ = fmt::Write::write_fmt(&mut line, format_args!("{finished}\n"));
    console::write_str(line.as_str());
    let (how, status) = finished.ending.summary();
    console::report(Report::ProcessEnd {
        process: finished.process.0,
        user: finished.user.as_str(),
        program: finished.program.as_str(),
        how,
        status,
    });
}

/// What the kernel's loop does next.
enum Step {
    Run(UserContext),
    Wait,
    Again,
    Done,
}

/// Runs every process until all have ended, and answers how each ended, in the order
/// they did.
pub(crate) fn run() -> Vec<Finished> {
    let kernel_root = arch::current_root();
    loop {
        // Kernel threads take turns with the processes (see `kernel_threads`).
        kernel_threads::run_turn();
        let step = interrupts::without_interrupts(|| {
            let mut scheduler = SCHEDULER.lock();
            scheduler.release_dying(kernel_root);
            HEAP_PEAK.fetch_max(memory::heap_used(), Ordering::Relaxed);
            let deadline = user_mode::with_model(|model| {
                scheduler.wake_due(model);
                model.next_deadline()
            })
            .flatten();
            if scheduler.tasks.is_empty() {
                return Step::Done;
            }
            if let Some(next) = scheduler.ready.pop_front() {
                scheduler.current = Some(next);
                scheduler.slice_start = time::ticks();
                scheduler.entries += 1;
                let Some(task) = scheduler.tasks.get_mut(&next) else {
                    scheduler.current = None;
                    return Step::Again;
                };
                task.state = State::Running;
                task.space.activate();
                return Step::Run(task.context);
            }
            if kernel_threads::want_cpu() {
                return Step::Again;
            }
            if deadline.is_none() {
                deadlock(&mut scheduler);
                return Step::Again;
            }
            Step::Wait
        });
        match step {
            // The kernel stays on the tables of the process it left (every space
            // maps the kernel alike) until another process runs or the space is
            // released: a switch writes CR3 once, not twice.
            Step::Run(context) => arch::enter_user(&context),
            Step::Wait => interrupts::enable_and_hlt(),
            Step::Again => {}
            Step::Done => break,
        }
    }
    arch::switch_to_root(kernel_root);
    interrupts::without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        tracing::info!(entries = scheduler.entries, "every process ended");
        scheduler.take_finished()
    })
}

impl Scheduler {
    fn take_finished(&mut self) -> Vec<Finished> {
        core::mem::take(&mut self.finished)
    }
}

/// Every process waits and no timer can wake one: ends them all.
fn deadlock(scheduler: &mut Scheduler) {
    let waiting: Vec<ProcessId> = scheduler.tasks.keys().copied().collect();
    console::write_str("every process waits and nothing can wake one: deadlock\n");
    for process in waiting {
        user_mode::with_model(|model| model.end_process(process));
        scheduler.finish(process, Ending::Deadlocked);
    }
}
