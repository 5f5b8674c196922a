//! How a process ended, on any platform: the console line and the
//! `@ethos process-end` report a platform writes for it.
//!
//! The platforms differ in how a process can end (a hosted thread takes no CPU
//! exception and has no CPU limit), never in how an ending is told.

use core::fmt;

use ethos_abi::{ProcessId, Report};

use crate::process_model::identity::{ProgramName, UserName};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called `exit` with this status (or, hosted, its function returned it).
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
                exception_name(*vector)
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

/// A process that ended. Its `Display` is the console line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub process: ProcessId,
    pub user: UserName,
    pub program: ProgramName,
    pub ending: Ending,
}

impl Finished {
    /// The `@ethos process-end` report of this ending.
    pub fn report(&self) -> Report<'_> {
        let (how, status) = self.ending.summary();
        Report::ProcessEnd {
            process: self.process.0,
            user: self.user.as_str(),
            program: self.program.as_str(),
            how,
            status,
        }
    }
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

/// The architectural name of an x86-64 exception vector (the vectors a fault
/// reports).
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating point (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating point (#XM)",
        20 => "virtualization (#VE)",
        21 => "control protection (#CP)",
        28 => "hypervisor injection (#HV)",
        29 => "VMM communication (#VC)",
        30 => "security (#SX)",
        _ => "reserved exception",
    }
}
