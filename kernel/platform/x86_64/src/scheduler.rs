//! The scheduler's mechanism: the kernel's loop that enters processes, and the
//! platform's side of a process (address space, saved registers).
//!
//! Which process runs is the core's policy (`ethos_core::scheduling::RunQueue`:
//! round robin with a time slice, park and wake, deadlock detection); this module
//! carries its decisions out. The kernel's own loop, [`run`], asks the policy for
//! the next process and enters it; the process comes back to that loop only when it
//! leaves the CPU: its slice ended while another was ready, it waits, or it ended. A
//! process that leaves has its registers saved in its task first, so no kernel stack
//! ever holds a waiting process. One shortcut: a process that parks in a call while
//! another is ready, and the loop has nothing else to do, hands the CPU to that one
//! from the call itself ([`Scheduler::switch_directly`]), as the loop would have; a
//! round trip between two processes then never goes through the loop. When every
//! process waits and no timer is pending,
//! the kernel reports a deadlock and ends them, rather than hang.
//!
//! Kernel threads (`kernel_threads`) share the CPU: the loop gives a ready thread a
//! turn before each decision, and a process's slice also ends when a thread wants
//! the CPU, so a busy thread and a busy process alternate slices.
//!
//! Lock order: [`SCHEDULER`] before the process model (`processes::SYSTEM`). Both
//! are taken only with interrupts off: in system calls, in interrupts taken from
//! ring 3, and in [`run`] inside `without_interrupts`. This module never touches a
//! program's memory.

use alloc::vec::Vec;
use core::fmt;

use ethos_abi::ProcessId;
use ethos_core::process_model::ProcessModel;
use ethos_core::process_model::dispatch::ParkedCall;
use ethos_core::process_model::events::Instant;
use ethos_core::process_model::identity::{ProgramName, UserName};
use ethos_core::scheduling::{Decision, RunQueue};
use spin::Mutex;
use x86_64::instructions::interrupts;

use crate::arch::{self, AddressSpace, ContextPlace, ContextSlot, UserContext};
pub use ethos_core::ending::Finished;

use crate::processes::{self, Ending};
use crate::{console, kernel_threads, memory, network, time};

/// One process as the platform knows it: its address space and saved registers.
pub struct Task {
    pub user: UserName,
    pub program: ProgramName,
    pub space: AddressSpace,
    /// Its registers while it does not run, and where its system calls save them.
    context: ContextSlot,
    /// The call it is parked in, made by the kernel before it runs (see
    /// `user_mode::resume_parked`).
    parked: Option<ParkedCall>,
}

impl fmt::Debug for Task {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Task")
            .field("user", &self.user)
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

impl Task {
    pub fn new(
        user: UserName,
        program: ProgramName,
        space: AddressSpace,
        context: UserContext,
    ) -> Task {
        Task {
            user,
            program,
            space,
            context: ContextSlot::new(context),
            parked: None,
        }
    }

    /// The call it waits in, if it was parked in one.
    pub fn parked(&self) -> Option<ParkedCall> {
        self.parked
    }

    /// It goes on after its parked call, which answered `rax` and `rdx`.
    pub fn answer_parked(&mut self, answer: (u64, u64)) {
        self.parked = None;
        self.context.answer(answer);
    }
}

/// The processes, the policy's queue of them, and what the loop must still release
/// and report.
pub struct Scheduler {
    queue: RunQueue<Task>,
    /// Address spaces of ended processes, released once no longer live.
    dying: Vec<AddressSpace>,
    /// The most recent ended processes ([`RECENT_ENDINGS`] at most; each was
    /// reported when it ended) and how many ended in all.
    finished: alloc::collections::VecDeque<Finished>,
    ended: u64,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Scheduler")
            .field("queue", &self.queue)
            .field("dying", &self.dying.len())
            .finish_non_exhaustive()
    }
}

pub static SCHEDULER: Mutex<Scheduler> = Mutex::new(Scheduler {
    queue: RunQueue::new(),
    dying: Vec::new(),
    finished: alloc::collections::VecDeque::new(),
    ended: 0,
});

impl Scheduler {
    /// The running process.
    pub fn current(&self) -> Option<ProcessId> {
        self.queue.current()
    }

    pub fn task(&self, process: ProcessId) -> Option<&Task> {
        self.queue.get(process)
    }

    pub fn task_mut(&mut self, process: ProcessId) -> Option<&mut Task> {
        self.queue.get_mut(process)
    }

    /// The CPU limit of `process`, which a child it forks inherits.
    pub fn limit(&self, process: ProcessId) -> Option<u64> {
        self.queue.limit(process)
    }

    /// Adds a ready process, limited to `limit` timer ticks of CPU if given.
    pub fn add(&mut self, process: ProcessId, task: Task, limit: Option<u64>) {
        self.queue.add(process, task, limit);
    }

    /// Runs the model's timers due now and makes every process the model woke
    /// ready again.
    pub fn wake_due(&mut self, model: &mut ProcessModel) {
        if let Some(now) = time::since_boot_nanos() {
            model.advance_clock(Instant(now));
        }
        self.queue.wake(model.drain_woken());
    }

    /// Whether the current process has run out of its CPU limit.
    pub fn over_limit(&self) -> Option<u64> {
        self.queue.over_limit(time::tick_periods())
    }

    /// Whether the current process should give way: its slice is over and another
    /// process or a kernel thread is ready.
    pub fn slice_over(&self) -> bool {
        self.queue
            .slice_over(time::tick_periods(), kernel_threads::want_cpu())
    }

    /// The current process leaves the CPU but stays ready (its slice is over).
    pub fn preempt(&mut self, context: UserContext) {
        if let Some(task) = self.queue.preempt(time::tick_periods()) {
            task.context.set(context);
        }
    }

    /// The current process waits in `call` until the model wakes it; its context,
    /// which the `syscall` shell saved, continues after the call, whose answer the
    /// kernel gets by making it again before the process runs. `now` is the clock
    /// as [`time::since_boot_nanos`] read it: a call that parks and then switches
    /// reads it once for both.
    pub fn park_in(&mut self, call: ParkedCall, now: Option<u64>) {
        if let Some(task) = self.queue.park(time::tick_periods_at(now)) {
            task.parked = Some(call);
        }
    }

    /// The current process, which was to go on after its parked call, waits again:
    /// the call found nothing completed yet.
    pub fn park_again(&mut self) {
        self.queue.park(time::tick_periods());
    }

    /// Right after the current process parked in a system call: makes the next
    /// ready process current and answers its context, so the call can switch to it
    /// without going through the kernel's loop ([`run`]). Does what one round of
    /// that loop would do, in the same order (wake what is due, kick the network,
    /// decide, make a parked call again), and answers `None`, leaving the decision
    /// to the loop, whenever the loop has more to do: an ended process's space to
    /// release, a kernel thread that wants the CPU, no process ready, or a woken
    /// process whose call found nothing yet. This is the round trip's fast path: a
    /// process waiting for a reply hands the CPU to the one that will send it.
    /// `now` is the clock as the parked call read it ([`time::since_boot_nanos`]).
    pub(crate) fn switch_directly(
        &mut self,
        model: &mut ProcessModel,
        now: Option<u64>,
    ) -> Option<ContextPlace> {
        if !self.dying.is_empty() || kernel_threads::want_cpu_at(now) {
            return None;
        }
        if let Some(now) = now {
            model.advance_clock(Instant(now));
        }
        if model.network_work_pending() {
            network::kick();
        }
        // A timer is taken as pending: with no process ready the answer is `Wait`,
        // and the loop then weighs deadlines and deadlock itself.
        let decision =
            self.queue
                .wake_and_decide(model.drain_woken(), time::tick_periods_at(now), true);
        let Decision::Run(next) = decision else {
            return None;
        };
        // A reader a write delivered to was answered already: only a process still
        // parked makes its call again here.
        let task = self.queue.get(next)?;
        let Some(call) = task.parked else {
            task.space.activate();
            return Some(task.context.place());
        };
        if !crate::user_mode::resume_parked_in(self, model, next, call) {
            return None;
        }
        let task = self.queue.get(next)?;
        task.space.activate();
        Some(task.context.place())
    }

    /// Ends `process` (the current one or another) with `ending`. The model must
    /// already have dropped it. Its address space is released by [`run`], once the
    /// kernel's tables are live again.
    pub fn finish(&mut self, process: ProcessId, ending: Ending) {
        if let Some(task) = self.queue.remove(process) {
            let finished = Finished {
                process,
                user: task.user,
                program: task.program,
                ending,
            };
            report(&finished);
            self.ended += 1;
            if self.finished.len() == RECENT_ENDINGS {
                self.finished.pop_front();
            }
            self.finished.push_back(finished);
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
    console::report(finished.report());
}

/// What the kernel's loop does next.
enum Step {
    Run(ContextPlace),
    Wait,
    Again,
    Done,
}

/// How many ended-process records the scheduler keeps: each is reported (console
/// line and `@ethos` report) when its process ends, so the kernel keeps only the
/// latest few, whatever number of processes a run ends.
pub const RECENT_ENDINGS: usize = 64;

/// What a run of processes left: how many ended, and the last [`RECENT_ENDINGS`]
/// endings in the order they happened.
#[derive(Debug)]
pub struct Ended {
    pub count: u64,
    pub recent: Vec<Finished>,
}

/// Runs every process until all have ended, and answers how many did and how the
/// last ones did.
pub fn run() -> Ended {
    let kernel_root = arch::current_root();
    loop {
        // Kernel threads take turns with the processes (see `kernel_threads`).
        kernel_threads::run_turn();
        let step = interrupts::without_interrupts(|| {
            let mut scheduler = SCHEDULER.lock();
            scheduler.release_dying(kernel_root);
            let (deadline, networked, network_work) = processes::with_model(|model| {
                scheduler.wake_due(model);
                (
                    model.next_deadline(),
                    model.network_attached(),
                    model.network_work_pending(),
                )
            })
            .unwrap_or((None, false, false));
            if network_work {
                network::kick();
            }
            // A ready kernel thread can still wake a process, and so can another
            // host while the network service runs: no process waits in vain then.
            let wake_possible = deadline.is_some() || networked || kernel_threads::want_cpu();
            match scheduler.queue.decide(time::tick_periods(), wake_possible) {
                Decision::Run(next) => {
                    if !crate::user_mode::resume_parked(&mut scheduler, next) {
                        Step::Again
                    } else {
                        match scheduler.queue.get(next) {
                            Some(task) => {
                                task.space.activate();
                                Step::Run(task.context.place())
                            }
                            None => Step::Again,
                        }
                    }
                }
                Decision::Wait if kernel_threads::want_cpu() => Step::Again,
                Decision::Wait => Step::Wait,
                Decision::Deadlock(waiting) => {
                    deadlock(&mut scheduler, waiting);
                    Step::Again
                }
                Decision::Done => Step::Done,
            }
        });
        match step {
            // The kernel stays on the tables of the process it left (every space
            // maps the kernel alike) until another process runs or the space is
            // released: a switch writes CR3 once, not twice.
            // The task outlives the entry: only a system call or a fault of a
            // process, or this loop, ends one.
            Step::Run(place) => arch::enter_user(place),
            // Halts with interrupts off until the `hlt`: an interrupt taken since
            // the decision (a frame for the network thread) is seen, not slept
            // through to the next tick.
            Step::Wait => kernel_threads::idle(),
            Step::Again => {}
            Step::Done => break,
        }
    }
    arch::switch_to_root(kernel_root);
    interrupts::without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        tracing::info!(entries = scheduler.queue.switches(), "every process ended");
        Ended {
            count: core::mem::take(&mut scheduler.ended),
            recent: core::mem::take(&mut scheduler.finished).into(),
        }
    })
}

/// Every process waits and no timer can wake one: ends them all.
fn deadlock(scheduler: &mut Scheduler, waiting: Vec<ProcessId>) {
    console::write_str("every process waits and nothing can wake one: deadlock\n");
    for process in waiting {
        processes::with_model(|model| model.end_process(process));
        scheduler.finish(process, Ending::Deadlocked);
    }
}
