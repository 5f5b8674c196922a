//! Kernel threads on one CPU: the scheduling policy, as plain data.
//!
//! A kernel thread is a flow of kernel code with its own stack, scheduled beside the
//! user processes. This module decides which thread runs, which waits and for what;
//! the platform (`arch/x86_64/thread.rs` and `kernel_threads.rs` in the bootable
//! kernel) owns the stacks, the registers, the TLS blocks and the FPU state, and
//! switches. Nothing here touches the machine, so every rule is tested on the host.
//!
//! # Model
//!
//! - [`Threads`] is the thread table with one round-robin ready queue. The platform
//!   asks [`Threads::schedule`] for the next thread from a context that is not a
//!   thread (its *hub*: the kernel's scheduling loop), runs it until it leaves the
//!   CPU, and asks again. A thread leaves when its time slice ends
//!   ([`Threads::yield_current`]), when it blocks, or when it ends.
//! - An operation that may block returns [`Next`]: [`Next::Continue`] means the
//!   calling thread keeps the CPU; [`Next::Switch`] means it is no longer current
//!   and the platform must switch to the hub now. When the thread runs again, the
//!   operation is complete: a mutex it waited for is its own, a condition variable
//!   wait has its mutex back, and [`Threads::outcome`] says whether it was woken or
//!   its deadline passed.
//! - Mutexes hand ownership straight to the first waiter on unlock (first come,
//!   first served: no waiter can be overtaken forever). Owners are tracked exactly,
//!   as rump's `mutex_owner` needs.
//! - Condition variables wake their waiters in the order they waited; a woken waiter
//!   queues for its mutex like any locker. Waits may carry a deadline.
//! - Sleeps, and waits with deadlines, sit in one queue ordered by deadline. A thread
//!   is woken when the clock the platform passes to [`Threads::advance`] has reached
//!   its deadline, never before: `now >= deadline` is the only test.
//! - Wait channels, keyed by a number (the address of a word, for the futex-style
//!   `wait_on_word` rump-sys's host trait asks of a platform), and events (see
//!   [`signals`]): an interrupt handler wakes a thread by setting an event's bit in
//!   [`InterruptSignals`], which takes no lock, so it cannot deadlock with the code
//!   it interrupted; the next scheduling decision delivers the bits.
//! - A thread ends with a [`ThreadEnd`]; a joinable one keeps it until joined. Its
//!   machine state (stack, TLS block) may be freed as soon as it has left the CPU
//!   for the last time: [`Threads::take_released`] names those threads.
//! - Every thread has one pointer-sized slot that the platform keeps for it (rump's
//!   `curlwp`), see [`Threads::set_slot`].
//!
//! This module must never block, spin or allocate per tick: every operation is a few
//! map and queue updates, called with the platform's lock held and interrupts off.

pub mod signals;
mod sync;
pub mod tls;

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use crate::process_model::events::Instant;
pub use signals::{EVENT_COUNT, EventId, InterruptSignals};

/// A kernel thread. Identifiers are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(u64);

impl ThreadId {
    /// The identifier as a number (for reports).
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread {}", self.0)
    }
}

/// A mutex of [`Threads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutexId(u64);

/// A condition variable of [`Threads`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CondvarId(u64);

/// How a thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadEnd {
    /// Its body returned this value.
    Returned(u64),
    /// It took a CPU exception (a stack overflow into its guard page, say) and was
    /// ended by the platform.
    Faulted { vector: u8, address: u64 },
}

/// How the last wait of a thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Signalled, woken, or the mutex was handed over.
    Woken,
    /// Its deadline passed first.
    TimedOut,
}

/// What the caller of an operation that may block must do.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The calling thread keeps the CPU; the operation is complete.
    Continue,
    /// The calling thread waits and is no longer current: switch to the hub now.
    Switch,
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// Its deadline.
    Sleep,
    /// Ownership of the mutex.
    Mutex(MutexId),
    /// A signal of the condition variable, then the mutex.
    Condvar { condvar: CondvarId, mutex: MutexId },
    /// The end of another thread.
    Join(ThreadId),
    /// A wake of the wait channel with this key.
    Channel(u64),
    /// A signal of the event.
    Event(EventId),
}

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Ready,
    Running,
    Blocked(Blocker),
    Ended(ThreadEnd),
}

/// Why an operation was refused. Every refusal leaves the state unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadError {
    /// Only a thread may do this, and none is current.
    NoCurrentThread,
    /// A thread is current: only the hub may schedule.
    ThreadRunning(ThreadId),
    NoSuchThread(ThreadId),
    NoSuchMutex(MutexId),
    NoSuchCondvar(CondvarId),
    /// The caller does not own the mutex.
    NotOwner(MutexId),
    /// The caller already owns the mutex: waiting for it would wait forever.
    AlreadyOwner(MutexId),
    /// The mutex is owned or has waiters.
    MutexInUse(MutexId),
    /// The condition variable has waiters.
    CondvarInUse(CondvarId),
    /// The thread was started detached.
    NotJoinable(ThreadId),
    /// A thread cannot wait for its own end.
    JoinSelf,
    /// Another thread already waits for this one's end.
    AlreadyJoined(ThreadId),
    /// The thread has run already.
    AlreadyStarted(ThreadId),
}

impl fmt::Display for ThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadError::NoCurrentThread => write!(f, "only a kernel thread may do this"),
            ThreadError::ThreadRunning(thread) => {
                write!(f, "{thread} is running: only the hub may schedule")
            }
            ThreadError::NoSuchThread(thread) => write!(f, "there is no {thread}"),
            ThreadError::NoSuchMutex(mutex) => write!(f, "there is no mutex {}", mutex.0),
            ThreadError::NoSuchCondvar(condvar) => {
                write!(f, "there is no condition variable {}", condvar.0)
            }
            ThreadError::NotOwner(mutex) => {
                write!(f, "the caller does not own mutex {}", mutex.0)
            }
            ThreadError::AlreadyOwner(mutex) => {
                write!(f, "the caller already owns mutex {}", mutex.0)
            }
            ThreadError::MutexInUse(mutex) => {
                write!(f, "mutex {} is owned or has waiters", mutex.0)
            }
            ThreadError::CondvarInUse(condvar) => {
                write!(f, "condition variable {} has waiters", condvar.0)
            }
            ThreadError::NotJoinable(thread) => write!(f, "{thread} was started detached"),
            ThreadError::JoinSelf => write!(f, "a thread cannot join itself"),
            ThreadError::AlreadyJoined(thread) => {
                write!(f, "another thread already joins {thread}")
            }
            ThreadError::AlreadyStarted(thread) => write!(f, "{thread} has run already"),
        }
    }
}

#[derive(Debug)]
struct Thread {
    name: String,
    state: ThreadState,
    joinable: bool,
    joiner: Option<ThreadId>,
    slot: usize,
    /// Its key in the deadline queue while it waits with a deadline.
    deadline: Option<SleepKey>,
    outcome: WaitOutcome,
    /// How many times it was given the CPU.
    runs: u64,
    /// Which wakeup (counting every wakeup of every thread) made it ready last.
    woken_as: u64,
}

/// A deadline and a sequence number, so equal deadlines wake in the order they were
/// set.
type SleepKey = (Instant, u64);

/// The kernel threads of one CPU and everything they wait on.
#[derive(Debug)]
pub struct Threads {
    threads: BTreeMap<ThreadId, Thread>,
    ready: VecDeque<ThreadId>,
    current: Option<ThreadId>,
    sleepers: BTreeMap<SleepKey, ThreadId>,
    mutexes: BTreeMap<MutexId, sync::MutexState>,
    condvars: BTreeMap<CondvarId, VecDeque<ThreadId>>,
    channels: BTreeMap<u64, VecDeque<ThreadId>>,
    events: sync::Events,
    /// Threads that left the CPU for the last time, whose machine state may go.
    released: Vec<ThreadId>,
    next_id: u64,
    sequence: u64,
    /// Wakeups so far.
    wakeups: u64,
}

impl Default for Threads {
    fn default() -> Self {
        Threads::new()
    }
}

impl Threads {
    /// No threads.
    pub const fn new() -> Threads {
        Threads {
            threads: BTreeMap::new(),
            ready: VecDeque::new(),
            current: None,
            sleepers: BTreeMap::new(),
            mutexes: BTreeMap::new(),
            condvars: BTreeMap::new(),
            channels: BTreeMap::new(),
            events: sync::Events::new(),
            released: Vec::new(),
            next_id: 1,
            sequence: 0,
            wakeups: 0,
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Adds a thread, ready to run, at the back of the ready queue. A `joinable`
    /// thread keeps its end until [`Threads::join`]ed; a detached one vanishes when
    /// it ends.
    pub fn spawn(&mut self, name: &str, joinable: bool) -> ThreadId {
        let id = ThreadId(self.new_id());
        self.threads.insert(
            id,
            Thread {
                name: String::from(name),
                state: ThreadState::Ready,
                joinable,
                joiner: None,
                slot: 0,
                deadline: None,
                outcome: WaitOutcome::Woken,
                runs: 0,
                woken_as: 0,
            },
        );
        self.ready.push_back(id);
        id
    }

    /// Removes a thread that never ran: the platform could not give it a stack.
    pub fn remove_unstarted(&mut self, thread: ThreadId) -> Result<(), ThreadError> {
        let entry = self
            .threads
            .get(&thread)
            .ok_or(ThreadError::NoSuchThread(thread))?;
        if entry.runs != 0 || entry.state != ThreadState::Ready {
            return Err(ThreadError::AlreadyStarted(thread));
        }
        self.threads.remove(&thread);
        self.ready.retain(|ready| *ready != thread);
        Ok(())
    }

    /// The thread that has the CPU, if one has.
    pub fn current(&self) -> Option<ThreadId> {
        self.current
    }

    fn current_thread(&self) -> Result<ThreadId, ThreadError> {
        self.current.ok_or(ThreadError::NoCurrentThread)
    }

    /// The thread's name.
    pub fn name(&self, thread: ThreadId) -> Option<&str> {
        self.threads.get(&thread).map(|entry| entry.name.as_str())
    }

    /// Where the thread is in its life; `None` once it has ended and was joined (or
    /// was detached).
    pub fn state(&self, thread: ThreadId) -> Option<ThreadState> {
        self.threads.get(&thread).map(|entry| entry.state)
    }

    /// How many times the thread was given the CPU.
    pub fn runs(&self, thread: ThreadId) -> Option<u64> {
        self.threads.get(&thread).map(|entry| entry.runs)
    }

    /// Whether a thread waits for the CPU.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// How many threads have not ended (ready, running or blocked).
    pub fn live(&self) -> usize {
        self.threads
            .values()
            .filter(|entry| !matches!(entry.state, ThreadState::Ended(_)))
            .count()
    }

    /// The earliest deadline any thread waits for.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sleepers.keys().next().map(|(deadline, _)| *deadline)
    }

    /// Wakes every thread whose deadline is at or before `now`, earliest first.
    pub fn advance(&mut self, now: Instant) {
        while let Some((&key, &thread)) = self.sleepers.iter().next() {
            if key.0 > now {
                break;
            }
            self.sleepers.remove(&key);
            if let Some(entry) = self.threads.get_mut(&thread) {
                entry.deadline = None;
            }
            self.time_out(thread);
        }
    }

    /// Takes the thread off whatever it waits on, because its deadline passed.
    fn time_out(&mut self, thread: ThreadId) {
        let Some(ThreadState::Blocked(blocker)) = self.state(thread) else {
            return;
        };
        match blocker {
            Blocker::Sleep => self.make_ready(thread, WaitOutcome::TimedOut),
            Blocker::Condvar { condvar, mutex } => {
                if let Some(waiters) = self.condvars.get_mut(&condvar) {
                    waiters.retain(|waiter| *waiter != thread);
                }
                self.reacquire(thread, mutex, WaitOutcome::TimedOut);
            }
            Blocker::Channel(key) => {
                self.remove_from_channel(key, thread);
                self.make_ready(thread, WaitOutcome::TimedOut);
            }
            Blocker::Event(event) => {
                self.events.remove_waiter(event, thread);
                self.make_ready(thread, WaitOutcome::TimedOut);
            }
            // Mutex and join waits carry no deadline.
            Blocker::Mutex(_) | Blocker::Join(_) => {}
        }
    }

    /// Gives the CPU to the next ready thread, first waking those whose deadline has
    /// passed. Only the hub schedules: no thread may be current.
    pub fn schedule(&mut self, now: Instant) -> Result<Option<ThreadId>, ThreadError> {
        if let Some(running) = self.current {
            return Err(ThreadError::ThreadRunning(running));
        }
        self.advance(now);
        while let Some(next) = self.ready.pop_front() {
            let Some(entry) = self.threads.get_mut(&next) else {
                continue;
            };
            if entry.state != ThreadState::Ready {
                continue;
            }
            entry.state = ThreadState::Running;
            entry.runs += 1;
            self.current = Some(next);
            return Ok(Some(next));
        }
        Ok(None)
    }

    /// The current thread leaves the CPU and goes to the back of the ready queue
    /// (its slice ended, or it yields). The caller switches to the hub.
    pub fn yield_current(&mut self) -> Result<(), ThreadError> {
        let thread = self.current_thread()?;
        self.current = None;
        if let Some(entry) = self.threads.get_mut(&thread) {
            entry.state = ThreadState::Ready;
        }
        self.ready.push_back(thread);
        Ok(())
    }

    /// The current thread sleeps until the clock reaches `deadline`.
    pub fn sleep_until(&mut self, deadline: Instant, now: Instant) -> Result<Next, ThreadError> {
        self.current_thread()?;
        if deadline <= now {
            return Ok(Next::Continue);
        }
        self.block_current(Blocker::Sleep, Some(deadline))?;
        Ok(Next::Switch)
    }

    /// The current thread ends with `end`. Its joiner, if one waits, becomes ready;
    /// the caller switches to the hub and never comes back. Mutexes it owns stay
    /// owned: a thread must release what it holds before it ends.
    pub fn exit_current(&mut self, end: ThreadEnd) -> Result<(), ThreadError> {
        let thread = self.current_thread()?;
        self.current = None;
        self.released.push(thread);
        let Some(entry) = self.threads.get_mut(&thread) else {
            return Ok(());
        };
        if !entry.joinable {
            self.threads.remove(&thread);
            return Ok(());
        }
        entry.state = ThreadState::Ended(end);
        if let Some(joiner) = entry.joiner.take() {
            self.make_ready(joiner, WaitOutcome::Woken);
        }
        Ok(())
    }

    /// The current thread waits for `target` to end. [`Next::Continue`] with its end
    /// when it already has (the target is then gone); otherwise the caller switches
    /// and, once running again, joins again to collect the end.
    pub fn join(&mut self, target: ThreadId) -> Result<(Next, Option<ThreadEnd>), ThreadError> {
        let thread = self.current_thread()?;
        if thread == target {
            return Err(ThreadError::JoinSelf);
        }
        if let Some(end) = self.try_join(target)? {
            return Ok((Next::Continue, Some(end)));
        }
        let entry = self
            .threads
            .get_mut(&target)
            .ok_or(ThreadError::NoSuchThread(target))?;
        match entry.joiner {
            Some(other) if other != thread => return Err(ThreadError::AlreadyJoined(target)),
            _ => entry.joiner = Some(thread),
        }
        self.block_current(Blocker::Join(target), None)?;
        Ok((Next::Switch, None))
    }

    /// The end of `target` if it has ended (and then it is gone), without waiting:
    /// how the hub, which is no thread, joins.
    pub fn try_join(&mut self, target: ThreadId) -> Result<Option<ThreadEnd>, ThreadError> {
        let entry = self
            .threads
            .get(&target)
            .ok_or(ThreadError::NoSuchThread(target))?;
        if !entry.joinable {
            return Err(ThreadError::NotJoinable(target));
        }
        match entry.state {
            ThreadState::Ended(end) => {
                self.threads.remove(&target);
                Ok(Some(end))
            }
            _ => Ok(None),
        }
    }

    /// Threads that left the CPU for the last time since the previous call: their
    /// stacks and other machine state may be freed now.
    pub fn take_released(&mut self) -> Vec<ThreadId> {
        core::mem::take(&mut self.released)
    }

    /// How the current thread's last wait ended.
    pub fn outcome(&self) -> Option<WaitOutcome> {
        self.threads.get(&self.current?).map(|entry| entry.outcome)
    }

    /// The number of the wakeup that last made the current thread ready, counting
    /// every wakeup of every thread in the order the policy made them: what shows
    /// the order of wakeups even if the threads then run late.
    pub fn wakeup_number(&self) -> Option<u64> {
        self.threads.get(&self.current?).map(|entry| entry.woken_as)
    }

    /// Sets the current thread's slot (rump's `curlwp`).
    pub fn set_slot(&mut self, value: usize) -> Result<(), ThreadError> {
        let thread = self.current_thread()?;
        if let Some(entry) = self.threads.get_mut(&thread) {
            entry.slot = value;
        }
        Ok(())
    }

    /// The current thread's slot; 0 until set.
    pub fn slot(&self) -> Result<usize, ThreadError> {
        let thread = self.current_thread()?;
        Ok(self.threads.get(&thread).map_or(0, |entry| entry.slot))
    }

    /// Makes the current thread wait on `blocker`, until `deadline` if given.
    fn block_current(
        &mut self,
        blocker: Blocker,
        deadline: Option<Instant>,
    ) -> Result<ThreadId, ThreadError> {
        let thread = self.current_thread()?;
        self.current = None;
        let key = deadline.map(|deadline| {
            self.sequence += 1;
            (deadline, self.sequence)
        });
        if let Some(key) = key {
            self.sleepers.insert(key, thread);
        }
        if let Some(entry) = self.threads.get_mut(&thread) {
            entry.state = ThreadState::Blocked(blocker);
            entry.deadline = key;
            entry.outcome = WaitOutcome::Woken;
        }
        Ok(thread)
    }

    /// Makes a blocked thread ready, at the back of the queue, with `outcome`.
    fn make_ready(&mut self, thread: ThreadId, outcome: WaitOutcome) {
        let Some(entry) = self.threads.get_mut(&thread) else {
            return;
        };
        if let Some(key) = entry.deadline.take() {
            self.sleepers.remove(&key);
        }
        entry.state = ThreadState::Ready;
        entry.outcome = outcome;
        self.wakeups += 1;
        entry.woken_as = self.wakeups;
        self.ready.push_back(thread);
    }
}
