//! On Linux: programs against the hosted kernel core, each program a thread.
//!
//! A [`HostedSystem`] owns one process model of `ethos-kernel`, built from the same
//! [`Configuration`] a boot image gives. [`HostedSystem::spawn`] makes a process for
//! a (user, program) and runs a function as that program on a new thread, whose
//! calls go through the kernel's own parse-then-dispatch path
//! ([`dispatch::system_call`]), as the platform's `syscall` shell sends them. The
//! memory the kernel sees of a program is what the call's arguments borrow: an
//! address they do not cover is unmapped, so a bad pointer is refused as on Ethos.
//! `block` parks the thread until an event completes or the next timer is due. The
//! clock counts from the system's start; `random` is not fit for keys.
//!
//! This module never reads or writes through an address: it finds the argument an
//! address falls in.

use alloc::borrow::Cow;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as Clock};

use ethos_abi::{Call, ProcessId, Status};
use ethos_core::process_model::dispatch::{self, Environment};
use ethos_core::process_model::events::Instant;
use ethos_core::process_model::identity::{ProgramName, UserName};
use ethos_core::process_model::request::UserRange;
use ethos_core::process_model::{Configuration, ConfigurationError, ProcessModel};

/// The kernel core, for building a [`Configuration`].
pub use ethos_core::process_model;

use crate::host::{Exited, install};
use crate::kernel::{Argument, Kernel, RawAnswer, registers};
use crate::runtime::PANIC_STATUS;

struct State {
    model: ProcessModel,
    console: Vec<String>,
    random: u64,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever an event of some process completed.
    completed: Condvar,
    started: Clock,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A program thread that panicked never held the lock while running its own
        // code, so the state is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A kernel core on the host, running programs as threads.
pub struct HostedSystem {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for HostedSystem {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("HostedSystem")
            .field("model", &self.shared.lock().model)
            .finish()
    }
}

/// A program running on a thread.
#[derive(Debug)]
pub struct Running {
    /// Its process.
    pub process: ProcessId,
    thread: JoinHandle<i32>,
}

impl Running {
    /// Waits for the program to end and answers its exit status ([`PANIC_STATUS`]
    /// if it panicked).
    pub fn wait(self) -> i32 {
        self.thread.join().unwrap_or(PANIC_STATUS)
    }
}

impl HostedSystem {
    /// A system with no process yet.
    pub fn new(configuration: Configuration) -> Result<HostedSystem, ConfigurationError> {
        Ok(HostedSystem {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    model: ProcessModel::new(configuration)?,
                    console: Vec::new(),
                    random: 0x9e37_79b9_7f4a_7c15,
                }),
                completed: Condvar::new(),
                started: Clock::now(),
            }),
        })
    }

    /// Starts `main` as `program` running for `user`: its exit status is what it
    /// returns or passes to `exit`. `NoSuchObject` for an unknown user or program.
    pub fn spawn(
        &self,
        user: &str,
        program: &str,
        main: impl FnOnce() -> i32 + Send + 'static,
    ) -> Result<Running, Status> {
        let user = UserName::new(user).map_err(|_| Status::InvalidArgument)?;
        let program = ProgramName::new(program).map_err(|_| Status::InvalidArgument)?;
        let process = self.shared.lock().model.create_process(&user, &program)?;
        let shared = self.shared.clone();
        let thread = std::thread::spawn(move || {
            let kernel = Rc::new(HostedKernel {
                shared: shared.clone(),
                process,
            });
            let installed = install(kernel);
            let status = match catch_unwind(AssertUnwindSafe(main)) {
                Ok(status) => status,
                Err(payload) => match payload.downcast_ref::<Exited>() {
                    Some(Exited(status)) => *status,
                    None => PANIC_STATUS,
                },
            };
            drop(installed);
            // A program that returned from `main` without `exit` ends here; one that
            // called `exit` has ended already.
            let mut state = shared.lock();
            let _ = state.model.end_process(process);
            state.model.take_woken();
            shared.completed.notify_all();
            status
        });
        Ok(Running { process, thread })
    }

    /// Every line printed so far, as the kernel's console shows it
    /// (`user <name>: <text>`).
    pub fn console(&self) -> Vec<String> {
        self.shared.lock().console.clone()
    }
}

/// The kernel a program thread calls.
struct HostedKernel {
    shared: Arc<Shared>,
    process: ProcessId,
}

impl Kernel for HostedKernel {
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
        let words = match registers(arguments) {
            Ok(words) => words,
            Err(status) => return RawAnswer::failed(status),
        };
        let would_block = u64::from(Status::WouldBlock.code());
        let mut state = self.shared.lock();
        loop {
            let now = self.shared.now();
            let State {
                model,
                console,
                random,
            } = &mut *state;
            let mut memory = ArgumentMemory {
                arguments: &mut *arguments,
                now,
                console,
                random,
            };
            let (status, value) = dispatch::system_call(
                model,
                &mut memory,
                self.process,
                u64::from(call.number()),
                words,
            );
            if !model.take_woken().is_empty() {
                self.shared.completed.notify_all();
            }
            if call != Call::Block || status != would_block {
                return RawAnswer { status, value };
            }
            // Parked, as on Ethos: until some event completes or a timer is due.
            state = match model.next_deadline() {
                Some(Instant(deadline)) => {
                    let wait = Duration::from_nanos(deadline.saturating_sub(now).max(1));
                    self.shared
                        .completed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .shared
                    .completed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// A program's memory as the kernel sees it during one call: the arguments.
struct ArgumentMemory<'call, 'memory> {
    arguments: &'call mut [Argument<'memory>],
    now: u64,
    console: &'call mut Vec<String>,
    random: &'call mut u64,
}

/// Where a readable argument lives and its bytes.
fn readable<'a>(argument: &'a Argument<'_>) -> Option<(u64, Cow<'a, [u8]>)> {
    let address = |pointer: *const u8| pointer as usize as u64;
    match argument {
        Argument::Name(name) => Some((address(name.as_ptr()), Cow::Borrowed(name.as_bytes()))),
        Argument::Value(value) => Some((address(value.as_ptr()), Cow::Borrowed(value))),
        Argument::Buffer(buffer) => Some((address(buffer.as_ptr()), Cow::Borrowed(&buffer[..]))),
        Argument::TypeHash(hash) => Some((address(hash.as_ptr()), Cow::Borrowed(&hash[..]))),
        Argument::Descriptors(numbers) => Some((
            address(numbers.as_ptr().cast()),
            Cow::Owned(numbers.iter().flat_map(|n| n.to_le_bytes()).collect()),
        )),
        Argument::Events(ids) => Some((
            address(ids.as_ptr().cast()),
            Cow::Owned(ids.iter().flat_map(|id| id.to_le_bytes()).collect()),
        )),
        _ => None,
    }
}

/// The offset of `range` in memory starting at `start` and `length` long, if inside.
fn offset_in(range: UserRange, start: u64, length: usize) -> Option<usize> {
    let offset = usize::try_from(range.address().checked_sub(start)?).ok()?;
    let wanted = usize::try_from(range.length()).ok()?;
    (offset.checked_add(wanted)? <= length).then_some(offset)
}

impl Environment for ArgumentMemory<'_, '_> {
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        if range.length() == 0 {
            return Ok(Vec::new());
        }
        self.arguments
            .iter()
            .filter_map(readable)
            .find_map(|(start, bytes)| {
                let offset = offset_in(range, start, bytes.len())?;
                let end = offset + usize::try_from(range.length()).ok()?;
                bytes.get(offset..end).map(<[u8]>::to_vec)
            })
            .ok_or(Status::InvalidArgument)
    }

    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        if bytes.is_empty() {
            return Ok(());
        }
        for argument in self.arguments.iter_mut() {
            if let Argument::Buffer(buffer) = argument {
                let start = buffer.as_ptr() as usize as u64;
                if let Some(offset) = offset_in(range, start, buffer.len())
                    && let Some(place) = buffer.get_mut(offset..offset + bytes.len())
                {
                    place.copy_from_slice(bytes);
                    return Ok(());
                }
            }
        }
        Err(Status::InvalidArgument)
    }

    fn now(&self) -> Instant {
        Instant(self.now)
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        for byte in buffer {
            let mut state = *self.random;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *self.random = state;
            *byte = (state >> 24) as u8;
        }
    }

    fn print(&mut self, user: &UserName, text: &str) {
        for line in text.split('\n') {
            self.console.push(format!("user {}: {line}", user.as_str()));
        }
    }
}
