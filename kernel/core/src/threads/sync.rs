//! Mutexes, condition variables, wait channels and events of [`Threads`].

use alloc::collections::{BTreeMap, VecDeque};

use super::signals::{EVENT_COUNT, EventId, InterruptSignals};
use super::{
    Blocker, CondvarId, Instant, MutexId, Next, ThreadError, ThreadId, ThreadState, Threads,
    WaitOutcome,
};

/// One mutex: its owner and who waits for it, first come first served.
#[derive(Debug, Default)]
pub(super) struct MutexState {
    owner: Option<ThreadId>,
    waiters: VecDeque<ThreadId>,
}

/// Threads waiting on events, and events signalled while nobody waited.
#[derive(Debug)]
pub(super) struct Events {
    waiters: BTreeMap<EventId, VecDeque<ThreadId>>,
    latched: [u64; EVENT_COUNT / 64],
}

impl Events {
    pub(super) const fn new() -> Events {
        Events {
            waiters: BTreeMap::new(),
            latched: [0; EVENT_COUNT / 64],
        }
    }

    pub(super) fn remove_waiter(&mut self, event: EventId, thread: ThreadId) {
        if let Some(waiters) = self.waiters.get_mut(&event) {
            waiters.retain(|waiter| *waiter != thread);
            if waiters.is_empty() {
                self.waiters.remove(&event);
            }
        }
    }

    fn take_latch(&mut self, event: EventId) -> bool {
        let (word, bit) = event.position();
        let was = self.latched[word] & bit != 0;
        self.latched[word] &= !bit;
        was
    }

    fn latch(&mut self, event: EventId) {
        let (word, bit) = event.position();
        self.latched[word] |= bit;
    }
}

impl Threads {
    /// A new, unowned mutex.
    pub fn create_mutex(&mut self) -> MutexId {
        let id = MutexId(self.new_id());
        self.mutexes.insert(id, MutexState::default());
        id
    }

    /// Removes a mutex nobody owns or waits for.
    pub fn destroy_mutex(&mut self, mutex: MutexId) -> Result<(), ThreadError> {
        let state = self
            .mutexes
            .get(&mutex)
            .ok_or(ThreadError::NoSuchMutex(mutex))?;
        if state.owner.is_some() || !state.waiters.is_empty() {
            return Err(ThreadError::MutexInUse(mutex));
        }
        self.mutexes.remove(&mutex);
        Ok(())
    }

    /// The thread that owns the mutex.
    pub fn mutex_owner(&self, mutex: MutexId) -> Result<Option<ThreadId>, ThreadError> {
        self.mutexes
            .get(&mutex)
            .map(|state| state.owner)
            .ok_or(ThreadError::NoSuchMutex(mutex))
    }

    /// The current thread takes the mutex, or waits for it: when it runs again after
    /// [`Next::Switch`], it owns it.
    pub fn lock_mutex(&mut self, mutex: MutexId) -> Result<Next, ThreadError> {
        let thread = self.current_thread()?;
        let state = self
            .mutexes
            .get_mut(&mutex)
            .ok_or(ThreadError::NoSuchMutex(mutex))?;
        match state.owner {
            None => {
                state.owner = Some(thread);
                Ok(Next::Continue)
            }
            Some(owner) if owner == thread => Err(ThreadError::AlreadyOwner(mutex)),
            Some(_) => {
                state.waiters.push_back(thread);
                self.block_current(Blocker::Mutex(mutex), None)?;
                Ok(Next::Switch)
            }
        }
    }

    /// The current thread takes the mutex if nobody owns it; never waits.
    pub fn try_lock_mutex(&mut self, mutex: MutexId) -> Result<bool, ThreadError> {
        let thread = self.current_thread()?;
        let state = self
            .mutexes
            .get_mut(&mutex)
            .ok_or(ThreadError::NoSuchMutex(mutex))?;
        if state.owner.is_some() {
            return Ok(false);
        }
        state.owner = Some(thread);
        Ok(true)
    }

    /// The current thread releases the mutex; the first waiter, if any, owns it now
    /// and is ready.
    pub fn unlock_mutex(&mut self, mutex: MutexId) -> Result<(), ThreadError> {
        let thread = self.current_thread()?;
        let owner = self.mutex_owner(mutex)?;
        if owner != Some(thread) {
            return Err(ThreadError::NotOwner(mutex));
        }
        self.hand_over(mutex);
        Ok(())
    }

    /// Gives the mutex to its first waiter, or leaves it free.
    fn hand_over(&mut self, mutex: MutexId) {
        let Some(state) = self.mutexes.get_mut(&mutex) else {
            return;
        };
        state.owner = state.waiters.pop_front();
        if let Some(next) = state.owner {
            // A condition variable waiter keeps the outcome of its wait.
            let outcome = self
                .threads
                .get(&next)
                .map_or(WaitOutcome::Woken, |entry| entry.outcome);
            self.make_ready(next, outcome);
        }
    }

    /// A woken condition variable waiter takes its mutex back, or queues for it.
    pub(super) fn reacquire(&mut self, thread: ThreadId, mutex: MutexId, outcome: WaitOutcome) {
        let Some(state) = self.mutexes.get_mut(&mutex) else {
            // The mutex is gone (a caller bug): nothing to give back.
            self.make_ready(thread, outcome);
            return;
        };
        if state.owner.is_none() {
            state.owner = Some(thread);
            self.make_ready(thread, outcome);
            return;
        }
        state.waiters.push_back(thread);
        if let Some(entry) = self.threads.get_mut(&thread) {
            if let Some(key) = entry.deadline.take() {
                self.sleepers.remove(&key);
            }
            entry.state = ThreadState::Blocked(Blocker::Mutex(mutex));
            entry.outcome = outcome;
        }
    }

    /// A new condition variable.
    pub fn create_condvar(&mut self) -> CondvarId {
        let id = CondvarId(self.new_id());
        self.condvars.insert(id, VecDeque::new());
        id
    }

    /// Removes a condition variable nobody waits on.
    pub fn destroy_condvar(&mut self, condvar: CondvarId) -> Result<(), ThreadError> {
        let waiters = self
            .condvars
            .get(&condvar)
            .ok_or(ThreadError::NoSuchCondvar(condvar))?;
        if !waiters.is_empty() {
            return Err(ThreadError::CondvarInUse(condvar));
        }
        self.condvars.remove(&condvar);
        Ok(())
    }

    /// How many threads wait on the condition variable.
    pub fn condvar_waiters(&self, condvar: CondvarId) -> Result<usize, ThreadError> {
        self.condvars
            .get(&condvar)
            .map(VecDeque::len)
            .ok_or(ThreadError::NoSuchCondvar(condvar))
    }

    /// The current thread, which owns `mutex`, releases it and waits for a signal of
    /// `condvar` (or `deadline`); when it runs again it owns `mutex` once more and
    /// [`Threads::outcome`] says which came first. A deadline already passed ends the
    /// wait at once, with the mutex kept.
    pub fn wait_condvar(
        &mut self,
        condvar: CondvarId,
        mutex: MutexId,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Next, ThreadError> {
        let thread = self.current_thread()?;
        if !self.condvars.contains_key(&condvar) {
            return Err(ThreadError::NoSuchCondvar(condvar));
        }
        if self.mutex_owner(mutex)? != Some(thread) {
            return Err(ThreadError::NotOwner(mutex));
        }
        if deadline.is_some_and(|deadline| deadline <= now) {
            if let Some(entry) = self.threads.get_mut(&thread) {
                entry.outcome = WaitOutcome::TimedOut;
            }
            return Ok(Next::Continue);
        }
        self.hand_over(mutex);
        if let Some(waiters) = self.condvars.get_mut(&condvar) {
            waiters.push_back(thread);
        }
        self.block_current(Blocker::Condvar { condvar, mutex }, deadline)?;
        Ok(Next::Switch)
    }

    /// Wakes the longest waiter of the condition variable, if any.
    pub fn signal_condvar(&mut self, condvar: CondvarId) -> Result<(), ThreadError> {
        let waiters = self
            .condvars
            .get_mut(&condvar)
            .ok_or(ThreadError::NoSuchCondvar(condvar))?;
        if let Some(thread) = waiters.pop_front() {
            self.wake_condvar_waiter(thread);
        }
        Ok(())
    }

    /// Wakes every waiter of the condition variable, in the order they waited.
    pub fn broadcast_condvar(&mut self, condvar: CondvarId) -> Result<(), ThreadError> {
        let waiters = self
            .condvars
            .get_mut(&condvar)
            .map(core::mem::take)
            .ok_or(ThreadError::NoSuchCondvar(condvar))?;
        for thread in waiters {
            self.wake_condvar_waiter(thread);
        }
        Ok(())
    }

    fn wake_condvar_waiter(&mut self, thread: ThreadId) {
        if let Some(ThreadState::Blocked(Blocker::Condvar { mutex, .. })) = self.state(thread) {
            self.reacquire(thread, mutex, WaitOutcome::Woken);
        }
    }

    /// The current thread waits for a wake of channel `key` (or `deadline`).
    pub fn wait_channel(
        &mut self,
        key: u64,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Next, ThreadError> {
        let thread = self.current_thread()?;
        if deadline.is_some_and(|deadline| deadline <= now) {
            if let Some(entry) = self.threads.get_mut(&thread) {
                entry.outcome = WaitOutcome::TimedOut;
            }
            return Ok(Next::Continue);
        }
        self.channels.entry(key).or_default().push_back(thread);
        self.block_current(Blocker::Channel(key), deadline)?;
        Ok(Next::Switch)
    }

    /// Wakes up to `count` waiters of channel `key`, longest waiting first; answers
    /// how many woke.
    pub fn wake_channel(&mut self, key: u64, count: usize) -> usize {
        let mut woken = 0;
        while woken < count {
            let Some(thread) = self.channels.get_mut(&key).and_then(VecDeque::pop_front) else {
                break;
            };
            self.make_ready(thread, WaitOutcome::Woken);
            woken += 1;
        }
        if self.channels.get(&key).is_some_and(VecDeque::is_empty) {
            self.channels.remove(&key);
        }
        woken
    }

    pub(super) fn remove_from_channel(&mut self, key: u64, thread: ThreadId) {
        if let Some(waiters) = self.channels.get_mut(&key) {
            waiters.retain(|waiter| *waiter != thread);
            if waiters.is_empty() {
                self.channels.remove(&key);
            }
        }
    }

    /// The current thread waits for a signal of `event` (or `deadline`). A signal
    /// that came while nobody waited is kept, once: the wait then continues at once.
    pub fn wait_event(
        &mut self,
        event: EventId,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<Next, ThreadError> {
        let thread = self.current_thread()?;
        if self.events.take_latch(event) {
            if let Some(entry) = self.threads.get_mut(&thread) {
                entry.outcome = WaitOutcome::Woken;
            }
            return Ok(Next::Continue);
        }
        if deadline.is_some_and(|deadline| deadline <= now) {
            if let Some(entry) = self.threads.get_mut(&thread) {
                entry.outcome = WaitOutcome::TimedOut;
            }
            return Ok(Next::Continue);
        }
        self.events
            .waiters
            .entry(event)
            .or_default()
            .push_back(thread);
        self.block_current(Blocker::Event(event), deadline)?;
        Ok(Next::Switch)
    }

    /// Wakes the longest waiter of `event`, or keeps the signal for the next wait.
    pub fn signal_event(&mut self, event: EventId) {
        let next = self
            .events
            .waiters
            .get_mut(&event)
            .and_then(VecDeque::pop_front);
        match next {
            Some(thread) => {
                self.events.remove_waiter(event, thread);
                self.make_ready(thread, WaitOutcome::Woken);
            }
            None => self.events.latch(event),
        }
    }

    /// Delivers every event an interrupt handler signalled since the last call.
    pub fn deliver(&mut self, signals: &InterruptSignals) {
        for event in signals.take() {
            self.signal_event(event);
        }
    }
}
