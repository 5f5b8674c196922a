//! The programs a hosted system can run, by name: each a host function, or a reason
//! it cannot run on a thread.
//!
//! On Ethos a program is an ELF file of the initial image; on the host it is a
//! function linked into the binary, found by the name the image gives the program.
//! The image still says who the program is (its identity is the SHA-512 of its ELF,
//! which the policy names): the table only says what code a thread runs for it.
//! Programs that cannot be threads — they fault on purpose, or are written on the
//! raw `syscall` instruction — are listed with the reason, so a set that needs them
//! is refused with it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ethos_core::process_model::identity::ProgramName;

use crate::call::HostedProcess;

/// What a thread runs as a program: it makes its calls through the process it is
/// given and answers its exit status when it returns.
pub type Entry = Arc<dyn Fn(HostedProcess) -> i32 + Send + Sync>;

#[derive(Clone)]
enum Hosted {
    Runs(Entry),
    CannotRun(String),
}

/// Program names and what a thread runs for each.
#[derive(Clone, Default)]
pub struct ProgramTable {
    programs: BTreeMap<String, Hosted>,
}

impl fmt::Debug for ProgramTable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_map()
            .entries(self.programs.iter().map(|(name, hosted)| {
                let what = match hosted {
                    Hosted::Runs(_) => "runs",
                    Hosted::CannotRun(_) => "cannot run",
                };
                (name, what)
            }))
            .finish()
    }
}

/// Why a program cannot run on the hosted platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unrunnable {
    /// The table does not name it.
    Unknown(String),
    /// The table names it with this reason.
    CannotRun { program: String, reason: String },
}

impl fmt::Display for Unrunnable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unrunnable::Unknown(program) => write!(
                formatter,
                "program `{program}` has no host function in this hosted binary"
            ),
            Unrunnable::CannotRun { program, reason } => {
                write!(formatter, "program `{program}` cannot run hosted: {reason}")
            }
        }
    }
}

impl ProgramTable {
    /// A table with no program.
    pub fn new() -> ProgramTable {
        ProgramTable::default()
    }

    /// Adds `name`, run by `entry`.
    pub fn runs(
        mut self,
        name: &str,
        entry: impl Fn(HostedProcess) -> i32 + Send + Sync + 'static,
    ) -> ProgramTable {
        self.programs
            .insert(name.to_string(), Hosted::Runs(Arc::new(entry)));
        self
    }

    /// Adds `name` as a program that cannot run on a thread, for `reason`.
    pub fn cannot_run(mut self, name: &str, reason: &str) -> ProgramTable {
        self.programs
            .insert(name.to_string(), Hosted::CannotRun(reason.to_string()));
        self
    }

    /// What a thread runs for `program`.
    pub fn entry(&self, program: &ProgramName) -> Result<Entry, Unrunnable> {
        match self.programs.get(program.as_str()) {
            Some(Hosted::Runs(entry)) => Ok(entry.clone()),
            Some(Hosted::CannotRun(reason)) => Err(Unrunnable::CannotRun {
                program: program.as_str().to_string(),
                reason: reason.clone(),
            }),
            None => Err(Unrunnable::Unknown(program.as_str().to_string())),
        }
    }
}
