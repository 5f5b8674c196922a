//! The kernel's processes as the platform holds them: the installed process model
//! with the program images `spawn` and `exec` load, and how a process ended.
//!
//! The scheduler and the user-mode shells both reach the model here, so neither
//! needs the other for it. Lock order: `scheduler::SCHEDULER` before [`SYSTEM`].

use alloc::collections::BTreeMap;
use core::fmt;

use ethos_abi::ProcessId;
use ethos_core::process_model::ProcessModel;
use ethos_core::process_model::identity::ProgramName;
use ethos_core::program_image::Image;
use spin::Mutex;
use x86_64::instructions::interrupts;

use crate::arch;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called `exit` with this status.
    Exited(i32),
    /// It took a CPU exception and was killed.
    Faulted {
        vector: u64,
        error_code: u64,
        address: u64,
        instruction: u64,
    },
    /// Its `syscall` came from an address `sysret` cannot return to.
    BadReturn(u64),
    /// It used up its CPU time limit and was stopped by the timer.
    TimeLimit { ticks: u64 },
    /// Another process of its user ended it with `kill`.
    Killed { by: ProcessId },
    /// It waited with every other process and nothing could wake it.
    Deadlocked,
    /// `exec` named a program whose image could not be built.
    ExecFailed,
}

impl Ending {
    /// The report's `how` word and its number: the exit status, the exception
    /// vector, the killer's process id, or the tick limit.
    pub fn summary(&self) -> (&'static str, i64) {
        match *self {
            Ending::Exited(status) => ("exit", i64::from(status)),
            Ending::Faulted { vector, .. } => ("fault", vector as i64),
            Ending::BadReturn(_) => ("bad-return", 0),
            Ending::TimeLimit { ticks } => ("time-limit", ticks as i64),
            Ending::Killed { by } => ("killed", by.0 as i64),
            Ending::Deadlocked => ("deadlock", 0),
            Ending::ExecFailed => ("exec-failed", 0),
        }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(status) => write!(f, "exited with status {status}"),
            Ending::Faulted {
                vector,
                error_code,
                address,
                instruction,
            } => write!(
                f,
                "killed by {} (vector {vector}, error code {error_code:#x}) at rip {instruction:#x}, address {address:#x}",
                arch::exception_name(*vector)
            ),
            Ending::BadReturn(address) => {
                write!(f, "killed: system call from {address:#x}")
            }
            Ending::TimeLimit { ticks } => {
                write!(f, "killed: used up its time limit ({ticks} timer ticks)")
            }
            Ending::Killed { by } => write!(f, "killed by process {}", by.0),
            Ending::Deadlocked => write!(f, "ended: deadlock"),
            Ending::ExecFailed => write!(f, "killed: exec could not load the program"),
        }
    }
}

/// The process model and the programs its processes may run.
pub(crate) struct System {
    pub(crate) model: ProcessModel,
    pub(crate) programs: BTreeMap<ProgramName, Image<'static>>,
}

/// The kernel's process model, once installed. Locked after [`SCHEDULER`].
pub(crate) static SYSTEM: Mutex<Option<System>> = Mutex::new(None);

/// Makes `model` the kernel's process model, with `programs` the images `spawn`
/// and `exec` load by name, replacing any earlier one. No process may be running.
pub fn install(model: ProcessModel, programs: BTreeMap<ProgramName, Image<'static>>) {
    interrupts::without_interrupts(|| *SYSTEM.lock() = Some(System { model, programs }));
}

/// Runs `action` on the installed process model, if there is one. Not inside a
/// system call (the model is locked there).
pub fn with_model<T>(action: impl FnOnce(&mut ProcessModel) -> T) -> Option<T> {
    interrupts::without_interrupts(|| {
        SYSTEM
            .lock()
            .as_mut()
            .map(|system| action(&mut system.model))
    })
}
