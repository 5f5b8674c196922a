//! One system call of a program thread: the core's one path, then what its answer
//! asks of the platform.
//!
//! [`HostedProcess::system_call`] takes the call number and the six argument words
//! as the `syscall` instruction would hold them, with the caller's word on what
//! memory the call may touch ([`CallMemory`]), and hands them to
//! `dispatch::handle` under the kernel's lock. A `block` that finds nothing
//! completed parks the thread on a condition variable until some event completes, a
//! process ends or the next timer is due, then makes the same call again, as the
//! x86_64 platform re-enters a parked `block`. An answer that ends the program on
//! this thread — `exit`, being killed or deadlocked, `exec` — is
//! [`Answer::Ended`]: the caller must stop running the program and return to the
//! thread's start. This module never reads or writes a program's memory itself.

use std::fmt;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::Duration;

use ethos_abi::{ProcessId, Status};
use ethos_core::process_model::dispatch::{self, Environment, Outcome};
use ethos_core::process_model::events::Instant;
use ethos_core::process_model::identity::UserName;
use ethos_core::process_model::request::UserRange;
use ethos_core::random::Generator;

use crate::console::Console;
use crate::heap;
use crate::system::{Ending, Shared, State};

/// The memory of a program as the kernel may see it during one call.
///
/// On a host the kernel cannot ask an MMU what a program has mapped, so the caller
/// says what it lent the call: a range outside that is unmapped, and a bad pointer is
/// refused as on Ethos.
pub trait CallMemory {
    /// The bytes of `range`; `InvalidArgument` if the call did not lend all of them
    /// for reading.
    fn read(&self, range: UserRange) -> Result<Vec<u8>, Status>;
    /// Writes `bytes` at the start of `range`; `InvalidArgument` if the call did not
    /// lend them for writing.
    fn write(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status>;
}

/// What a system call answers the program thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The words for `rax` (the status) and `rdx` (the value); the program goes on.
    Registers { status: u64, value: u64 },
    /// The program no longer runs on this thread: its process ended (`exit`, `kill`,
    /// a deadlock) or became another program (`exec`). The caller unwinds to the
    /// thread's start without making another call.
    Ended,
}

/// One process as its thread reaches the kernel: the door its calls go through.
pub struct HostedProcess {
    shared: Arc<Shared>,
    process: ProcessId,
}

impl fmt::Debug for HostedProcess {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HostedProcess")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

/// The platform's side of a call: the caller's memory, the clock, randomness and the
/// console.
struct CallEnvironment<'call> {
    memory: &'call mut dyn CallMemory,
    now: u64,
    console: &'call mut Console,
    random: &'call mut Generator,
}

impl Environment for CallEnvironment<'_> {
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        self.memory.read(range)
    }

    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        if bytes.len() as u64 > range.length() {
            return Err(Status::InvalidArgument);
        }
        self.memory.write(range, bytes)
    }

    fn now(&self) -> Instant {
        Instant(self.now)
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        // The system was started only with a seeded generator (`entropy::seeded`).
        if let Err(error) = self.random.fill(buffer) {
            panic!("{error}: the hosted generator lost its seed");
        }
    }

    fn print(&mut self, user: &UserName, text: &str) {
        self.console.print(user, text);
    }
}

impl HostedProcess {
    pub(crate) fn new(shared: Arc<Shared>, process: ProcessId) -> HostedProcess {
        HostedProcess { shared, process }
    }

    /// The process this thread runs.
    pub fn id(&self) -> ProcessId {
        self.process
    }

    /// Makes call `number` with `arguments` in the ABI's register order; `memory`
    /// is what the call lent. Returns when the call is answered, after any wait
    /// `block` asks for.
    pub fn system_call(
        &self,
        number: u64,
        arguments: [u64; 6],
        memory: &mut dyn CallMemory,
    ) -> Answer {
        let _kernel = heap::enter();
        let mut state = self.shared.lock();
        // What the thread makes next: its own call, then, after a wait, the call
        // the wait is in (`writeRead` waits in `blockAndRetire` on its read).
        let (mut number, mut arguments) = (number, arguments);
        loop {
            if state.has_ended(self.process) {
                return Answer::Ended;
            }
            let now = self.shared.now();
            let outcome = {
                let State {
                    model,
                    console,
                    random,
                    ..
                } = &mut *state;
                let mut environment = CallEnvironment {
                    memory: &mut *memory,
                    now,
                    console,
                    random,
                };
                dispatch::handle(model, &mut environment, self.process, number, arguments)
            };
            if state.wake_woken() {
                self.shared.changed.notify_all();
            }
            match outcome {
                Outcome::Return(result) => return registers(result),
                Outcome::Kept { status, event } => {
                    let (status, value) = status.to_registers_keeping(event);
                    return Answer::Registers { status, value };
                }
                Outcome::Park(again) => {
                    (number, arguments) = (again.number, again.arguments);
                    state.park(self.process);
                    if state.end_if_deadlocked() {
                        self.shared.changed.notify_all();
                    }
                    if state.has_ended(self.process) {
                        return Answer::Ended;
                    }
                    state = self.wait(state, now);
                    state.resume(self.process);
                }
                Outcome::Exit(status) => {
                    state.finish(self.process, Ending::Exited(status));
                    self.shared.changed.notify_all();
                    return Answer::Ended;
                }
                Outcome::Kill(target) => {
                    state.finish(target, Ending::Killed { by: self.process });
                    self.shared.changed.notify_all();
                    return registers(Ok(target.0));
                }
                Outcome::Fork(child) => {
                    // The model made the child; no thread can be copied to run it, so
                    // it never existed, and the run is refused for it.
                    state.forget(child);
                    state.refuse(format!(
                        "process {} called fork: the hosted platform runs each process \
                         as a thread, and a thread's stack cannot be copied into a second \
                         process",
                        self.process.0
                    ));
                    return registers(Err(Status::NotSupported));
                }
                Outcome::Exec(program) => {
                    if !state.exec(self.process, program) {
                        self.shared.changed.notify_all();
                    }
                    return Answer::Ended;
                }
            }
        }
    }

    /// Parks the thread until the kernel's state changes or the next timer is due.
    fn wait<'state>(
        &self,
        state: MutexGuard<'state, State>,
        now: u64,
    ) -> MutexGuard<'state, State> {
        match state.model.next_deadline() {
            Some(Instant(deadline)) => {
                let wait = Duration::from_nanos(deadline.saturating_sub(now).max(1));
                self.shared
                    .changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        }
    }
}

fn registers(result: Result<u64, Status>) -> Answer {
    let (status, value) = Status::to_registers(result);
    Answer::Registers { status, value }
}
