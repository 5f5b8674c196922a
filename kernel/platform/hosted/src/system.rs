//! The hosted system: one process model, each of its processes a thread.
//!
//! [`HostedSystem::spawn_with`] creates a process in the model and starts a thread
//! that runs a program for it; the thread's calls go through its [`HostedProcess`].
//! The state every thread shares — the model, the console, the generator, what each
//! thread is doing — sits behind one lock, taken for the length of a call as the
//! x86_64 kernel runs a call with interrupts off. Each process's end is reported
//! when it happens, as the x86_64 scheduler reports it: a console line and an
//! `@ethos process-end` report.
//!
//! Scheduling is the host's: the threads run at once on the host's CPUs, and only
//! the kernel's work is one at a time. [`HostedSystem::run`] starts a whole set of
//! processes at once, as `init` does, and keeps the core's rule for a deadlock: when
//! every process with a thread waits in `block` and no timer is pending, none can
//! ever be woken, and the platform ends them all. Processes started one by one with
//! [`HostedSystem::spawn_with`] run at once; since more may come, no deadlock is
//! declared among them. A program returning from its function without `exit` ends
//! as if it had passed its status to `exit` (the program runtime's `start` does that
//! on Ethos); one that panics ends with [`ethos_abi::exit::PANIC_STATUS`].
//!
//! Everything here runs on the kernel's lock and never reads a program's memory;
//! the core's rules (who may do what, which event completes) are never decided here.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant as Clock;

use ethos_abi::exit::PANIC_STATUS;
use ethos_abi::{ProcessId, Report, Status};
use ethos_core::process_model::identity::{ProgramName, UserName};
use ethos_core::process_model::{Configuration, ConfigurationError, ProcessModel};
use ethos_core::random::Generator;

pub use ethos_core::ending::{Ending, Finished};

use crate::call::HostedProcess;
use crate::console::Console;
use crate::programs::{Entry, ProgramTable, Unrunnable};
use crate::{entropy, heap};

/// Why a system cannot start.
#[derive(Debug)]
pub enum StartError {
    /// The process model refuses the configuration.
    Configuration(ConfigurationError),
    /// The host gave no seed for the random generator.
    Entropy(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Configuration(error) => {
                write!(f, "the process model refuses the configuration: {error}")
            }
            StartError::Entropy(error) => write!(
                f,
                "no seed for the random generator from {}: {error}",
                entropy::SOURCE
            ),
        }
    }
}

/// What the platform knows of a process with a thread.
#[derive(Debug)]
struct Thread {
    user: UserName,
    program: ProgramName,
    /// Waiting in `block` for an event that has not completed.
    parked: bool,
    /// Its process ended; the thread stops at its next call, or is stopping.
    ended: bool,
}

/// Everything the threads share, behind the kernel's lock.
pub(crate) struct State {
    pub(crate) model: ProcessModel,
    pub(crate) console: Console,
    pub(crate) random: Generator,
    programs: ProgramTable,
    threads: BTreeMap<ProcessId, Thread>,
    /// The program a process `exec`ed, which its thread starts next.
    exec_next: BTreeMap<ProcessId, Entry>,
    finished: Vec<Finished>,
    /// What the platform refused to do, and why.
    refused: Vec<String>,
    /// Whether new threads may start their programs (closed while a set is created).
    gate_open: bool,
    /// Whether every process there will be has started, so that all of them waiting
    /// is a deadlock.
    complete: bool,
}

impl State {
    /// Whether `process` no longer runs (or never did).
    pub(crate) fn has_ended(&self, process: ProcessId) -> bool {
        self.threads.get(&process).is_none_or(|thread| thread.ended)
    }

    pub(crate) fn park(&mut self, process: ProcessId) {
        if let Some(thread) = self.threads.get_mut(&process) {
            thread.parked = true;
        }
    }

    pub(crate) fn resume(&mut self, process: ProcessId) {
        if let Some(thread) = self.threads.get_mut(&process) {
            thread.parked = false;
        }
    }

    /// Marks the processes the model woke as no longer parked; whether there were any.
    pub(crate) fn wake_woken(&mut self) -> bool {
        let woken = self.model.take_woken();
        for process in &woken {
            self.resume(*process);
        }
        !woken.is_empty()
    }

    /// Reports that `process` ended with `ending`, which the model has already seen;
    /// nothing if it had ended before.
    pub(crate) fn finish(&mut self, process: ProcessId, ending: Ending) {
        let Some(thread) = self.threads.get_mut(&process) else {
            return;
        };
        if thread.ended {
            return;
        }
        thread.ended = true;
        let finished = Finished {
            process,
            user: thread.user.clone(),
            program: thread.program.clone(),
            ending,
        };
        self.console.line(&finished.to_string());
        self.console.report(finished.report());
        self.finished.push(finished);
    }

    /// Ends `process` in the model and reports it.
    fn end(&mut self, process: ProcessId, ending: Ending) {
        // Already gone from the model if it called `exit` or was killed.
        let _ = self.model.end_process(process);
        self.finish(process, ending);
        self.wake_woken();
    }

    /// Ends a process the model made but no thread runs (a `fork` child).
    pub(crate) fn forget(&mut self, process: ProcessId) {
        let _ = self.model.end_process(process);
        self.wake_woken();
    }

    /// Records and shows something the platform cannot do.
    pub(crate) fn refuse(&mut self, reason: String) {
        self.console.line(&format!("hosted: {reason}"));
        self.refused.push(reason);
    }

    /// `exec`: the model now names `program` for `process`. If the platform can run
    /// it, its thread starts it next (true); otherwise the process ends (false).
    pub(crate) fn exec(&mut self, process: ProcessId, program: ProgramName) -> bool {
        match self.programs.entry(&program) {
            Ok(entry) => {
                if let Some(thread) = self.threads.get_mut(&process) {
                    thread.program = program;
                }
                self.exec_next.insert(process, entry);
                true
            }
            Err(unrunnable) => {
                self.refuse(format!("process {} called exec: {unrunnable}", process.0));
                self.end(process, Ending::ExecFailed);
                false
            }
        }
    }

    /// When every process with a thread waits and no timer is pending, nothing can
    /// wake any of them: ends them all. Whether it did.
    pub(crate) fn end_if_deadlocked(&mut self) -> bool {
        if !self.complete {
            return false;
        }
        let live: Vec<(ProcessId, bool)> = self
            .threads
            .iter()
            .filter(|(_, thread)| !thread.ended)
            .map(|(process, thread)| (*process, thread.parked))
            .collect();
        if live.is_empty()
            || live.iter().any(|(_, parked)| !parked)
            || self.model.next_deadline().is_some()
        {
            return false;
        }
        self.console
            .line("every process waits and nothing can wake one: deadlock");
        for (process, _) in live {
            self.end(process, Ending::Deadlocked);
        }
        true
    }
}

/// The lock, the condition threads park on, and the clock's start.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled whenever an event completed or a process ended.
    pub(crate) changed: Condvar,
    started: Clock,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // No thread panics while it holds the lock but for a bug in the core, and
        // then the state is what the core left: the run goes on to report it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kernel clock: nanoseconds since the system started.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A kernel core on the host, running programs as threads.
pub struct HostedSystem {
    shared: Arc<Shared>,
}

impl fmt::Debug for HostedSystem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        formatter
            .debug_struct("HostedSystem")
            .field("model", &state.model)
            .field("threads", &state.threads)
            .finish_non_exhaustive()
    }
}

/// A process's thread.
pub struct Running {
    process: ProcessId,
    thread: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Running {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Running")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Its process.
    pub fn process(&self) -> ProcessId {
        self.process
    }

    /// Waits for the thread to end and answers how its process ended.
    pub fn wait(self) -> Ending {
        // The thread catches every unwinding of its program, so joining cannot fail
        // but for a bug of this module; the process's record says what happened.
        let _ = self.thread.join();
        self.shared
            .lock()
            .finished
            .iter()
            .rev()
            .find(|finished| finished.process == self.process)
            .map_or(Ending::Exited(PANIC_STATUS), |finished| finished.ending)
    }
}

/// What a thread does next when its program stopped.
enum Next {
    Program(Entry),
    Stop,
}

/// A thread's life: its program, then any program its process `exec`s, then the
/// end of its process.
fn thread_main(
    shared: Arc<Shared>,
    process: ProcessId,
    first: Box<dyn FnOnce(HostedProcess) -> i32 + Send>,
) {
    {
        let mut state = shared.lock();
        while !state.gate_open {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.has_ended(process) {
            // Its set was abandoned before it started.
            state.threads.remove(&process);
            return;
        }
    }
    let mut program = first;
    loop {
        let door = HostedProcess::new(shared.clone(), process);
        // A program that ended through the kernel unwinds to here; so does a panic.
        let status = catch_unwind(AssertUnwindSafe(move || program(door))).unwrap_or(PANIC_STATUS);
        let next = {
            let _kernel = heap::enter();
            let mut state = shared.lock();
            match state.exec_next.remove(&process) {
                Some(entry) => Next::Program(entry),
                None => {
                    if !state.has_ended(process) {
                        state.end(process, Ending::Exited(status));
                    }
                    state.threads.remove(&process);
                    state.end_if_deadlocked();
                    shared.changed.notify_all();
                    Next::Stop
                }
            }
        };
        match next {
            Next::Program(entry) => program = Box::new(move |door| entry(door)),
            Next::Stop => return,
        }
    }
}

impl HostedSystem {
    /// A system with no process yet, which runs the programs of `programs` when a
    /// process is spawned or `exec`s by name.
    pub fn new(
        configuration: Configuration,
        programs: ProgramTable,
        console: Console,
    ) -> Result<HostedSystem, StartError> {
        let random = entropy::seeded().map_err(StartError::Entropy)?;
        let _kernel = heap::enter();
        // The limit stays as configured: the kernel's heap here is counted, not
        // bounded (it is the host's), so there is no heap to fit it to as the x86_64
        // kernel does (`ProcessModel::fit_kernel_memory_limit`).
        let model = ProcessModel::new(configuration).map_err(StartError::Configuration)?;
        Ok(HostedSystem {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    model,
                    console,
                    random,
                    programs,
                    threads: BTreeMap::new(),
                    exec_next: BTreeMap::new(),
                    finished: Vec::new(),
                    refused: Vec::new(),
                    gate_open: true,
                    complete: false,
                }),
                changed: Condvar::new(),
                started: Clock::now(),
            }),
        })
    }

    /// Starts `main` as `program` running for `user`: its exit status is what it
    /// returns, unless it ends through the kernel first. `NoSuchObject` for an
    /// unknown user or program.
    pub fn spawn_with(
        &self,
        user: &str,
        program: &str,
        main: impl FnOnce(HostedProcess) -> i32 + Send + 'static,
    ) -> Result<Running, Status> {
        let user = UserName::new(user).map_err(|_| Status::InvalidArgument)?;
        let program = ProgramName::new(program).map_err(|_| Status::InvalidArgument)?;
        let name = format!("{program} for {user}");
        let main: Box<dyn FnOnce(HostedProcess) -> i32 + Send> = Box::new(main);
        let process = {
            let _kernel = heap::enter();
            let mut state = self.shared.lock();
            let process = state.model.create_process(&user, &program)?;
            state.threads.insert(
                process,
                Thread {
                    user,
                    program,
                    parked: false,
                    ended: false,
                },
            );
            process
        };
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || thread_main(shared, process, main));
        match spawned {
            Ok(thread) => Ok(Running {
                process,
                thread,
                shared: self.shared.clone(),
            }),
            Err(_) => {
                // No thread: the process never ran.
                let _kernel = heap::enter();
                let mut state = self.shared.lock();
                state.threads.remove(&process);
                state.forget(process);
                Err(Status::LimitReached)
            }
        }
    }

    /// Runs the processes of `set` — (user, program from the system's table), started
    /// together after all were created, in order — until every one has ended, and
    /// answers how each ended, in the order they did. Every process of the system is
    /// then one of the set or a program one of them `exec`ed, so when all wait with no
    /// timer pending, the platform declares a deadlock. Nothing runs if a program
    /// cannot run or a process cannot be created.
    pub fn run(&self, set: &[(UserName, ProgramName)]) -> Result<Vec<Finished>, SpawnError> {
        let entries = {
            let state = self.shared.lock();
            set.iter()
                .map(|(_, program)| state.programs.entry(program))
                .collect::<Result<Vec<Entry>, Unrunnable>>()
                .map_err(SpawnError::Unrunnable)?
        };
        self.shared.lock().gate_open = false;
        let mut running = Vec::new();
        let mut failure = None;
        for ((user, program), entry) in set.iter().zip(entries) {
            match self.spawn_with(user.as_str(), program.as_str(), move |door| entry(door)) {
                Ok(started) => running.push(started),
                Err(status) => {
                    failure = Some(SpawnError::Model(status));
                    break;
                }
            }
        }
        {
            let _kernel = heap::enter();
            let mut state = self.shared.lock();
            if failure.is_some() {
                for started in &running {
                    let _ = state.model.end_process(started.process);
                    if let Some(thread) = state.threads.get_mut(&started.process) {
                        thread.ended = true;
                    }
                }
            } else {
                state.complete = true;
            }
            state.gate_open = true;
            self.shared.changed.notify_all();
        }
        for started in running {
            let _ = started.thread.join();
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(self.finished()),
        }
    }

    /// The kernel memory each process may hold, in bytes.
    pub fn kernel_memory_limit(&self) -> usize {
        self.shared.lock().model.kernel_memory_limit()
    }

    /// Every line the console kept (none when it writes to standard output).
    pub fn console(&self) -> Vec<String> {
        self.shared.lock().console.lines().to_vec()
    }

    /// Every process that ended, in the order they did.
    pub fn finished(&self) -> Vec<Finished> {
        self.shared.lock().finished.clone()
    }

    /// What the platform refused to do for a program, and why (`fork`, `exec` of a
    /// program it cannot run).
    pub fn refused(&self) -> Vec<String> {
        self.shared.lock().refused.clone()
    }

    /// Writes a line on the system's console.
    pub fn console_line(&self, line: &str) {
        self.shared.lock().console.line(line);
    }

    /// Writes a report on the system's console.
    pub fn report(&self, report: Report<'_>) {
        self.shared.lock().console.report(report);
    }
}

/// Why [`HostedSystem::run`] could not start a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The platform cannot run it.
    Unrunnable(Unrunnable),
    /// The process model refused it.
    Model(Status),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Unrunnable(unrunnable) => write!(f, "{unrunnable}"),
            SpawnError::Model(status) => write!(f, "the process model refused: {status}"),
        }
    }
}
