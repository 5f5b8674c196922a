//! The event calls: `beep`, `block`, `retire` and `cancel`, and the clock that drives
//! timers.
//!
//! The kernel clock is supplied by the caller (the platform's timer, or a test), so
//! this module never reads hardware. `block` never waits itself: it answers the first
//! completed event of the set or `WouldBlock`, and the scheduler parks the process
//! until [`ProcessModel::take_woken`] names it.

use alloc::vec::Vec;

use ethos_abi::{EventId, ProcessId, Status};

use super::events::{Cancelled, Instant, Outcome, Waiting};
use super::model::ProcessModel;

impl ProcessModel {
    /// `beep`: an event that completes when the clock reaches `deadline`.
    pub fn beep(
        &mut self,
        process: ProcessId,
        deadline: Instant,
        now: Instant,
    ) -> Result<EventId, Status> {
        if deadline <= now {
            return self.new_completed(process, Outcome::TimerExpired);
        }
        let event = self.new_pending(process, Waiting::Beep(deadline))?;
        self.timers.insert((deadline, process, event));
        Ok(event)
    }

    /// Completes every timer due at `now`.
    pub fn advance_clock(&mut self, now: Instant) {
        while let Some(&(deadline, process, event)) = self.timers.first() {
            if deadline > now {
                return;
            }
            self.timers.pop_first();
            self.complete((process, event), Outcome::TimerExpired);
        }
    }

    /// The earliest pending timer, for the platform to program its timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(deadline, _, _)| *deadline)
    }

    /// `block`: the first completed event of `set`, after running timers due at `now`.
    pub fn block(
        &mut self,
        process: ProcessId,
        set: &[EventId],
        now: Instant,
    ) -> Result<EventId, Status> {
        if set.is_empty() || set.len() as u64 > ethos_abi::arguments::MAXIMUM_BLOCK_EVENTS {
            return Err(Status::InvalidArgument);
        }
        self.process(process)?;
        self.advance_clock(now);
        self.process(process)?.events.first_completed(set)
    }

    /// The outcome of a completed event, left in place so the caller can check it fits
    /// before retiring.
    pub fn outcome(&self, process: ProcessId, event: EventId) -> Result<&Outcome, Status> {
        self.process(process)?.events.outcome(event)
    }

    /// `retire`: takes a completed event's outcome.
    pub fn retire(&mut self, process: ProcessId, event: EventId) -> Result<Outcome, Status> {
        self.process_mut(process)?.events.retire(event)
    }

    /// `cancel`: forgets an event. A pending one's waiter goes with it (a timer no
    /// longer counts as something that can wake the process); descriptors a
    /// completed one's outcome brought are closed.
    pub fn cancel(&mut self, process: ProcessId, event: EventId) -> Result<(), Status> {
        match self.process_mut(process)?.events.cancel(event)? {
            Cancelled::Waiting(waiting) => self.forget_waiter(process, event, &waiting),
            Cancelled::Completed(outcome) => self.release_outcome(process, outcome),
        }
        Ok(())
    }

    /// Removes the waiter `event` of `process` registered for `waiting`: its timer,
    /// or its place in a read, import or fdReceive queue.
    pub(super) fn forget_waiter(&mut self, process: ProcessId, event: EventId, waiting: &Waiting) {
        let waiter = (process, event);
        match *waiting {
            Waiting::Beep(deadline) => {
                self.timers.remove(&(deadline, process, event));
            }
            Waiting::Import(listener) => {
                if let Some(listener) = self.listeners.get_mut(&listener) {
                    listener.importers.retain(|queued| *queued != waiter);
                }
            }
            Waiting::Read(connection, side) | Waiting::Peek(connection, side) => {
                if let Some(connection) = self.connections.get_mut(&connection) {
                    connection
                        .end_mut(side)
                        .readers
                        .retain(|queued| *queued != waiter);
                }
            }
            Waiting::FdReceive => {
                for virtual_process in self.virtual_processes.values_mut() {
                    virtual_process.receivers.retain(|queued| *queued != waiter);
                }
            }
            // Nobody waits for the connection any more: it goes, on both hosts.
            Waiting::Connect(connection) => self.abandon_remote(connection),
        }
    }

    /// How many waiters the model keeps in its timer set and its read, import and
    /// fdReceive queues: every one belongs to a live pending event.
    pub fn waiter_count(&self) -> usize {
        self.timers.len()
            + self
                .listeners
                .values()
                .map(|listener| listener.importers.len())
                .sum::<usize>()
            + self
                .connections
                .values()
                .map(|connection| {
                    connection
                        .ends
                        .iter()
                        .map(|end| end.readers.len())
                        .sum::<usize>()
                })
                .sum::<usize>()
            + self
                .virtual_processes
                .values()
                .map(|virtual_process| virtual_process.receivers.len())
                .sum::<usize>()
    }

    /// Every event `process` still waits on; for tests and diagnostics.
    pub fn pending_events(&self, process: ProcessId) -> Result<Vec<EventId>, Status> {
        Ok(self
            .process(process)?
            .events
            .pending_events()
            .map(|(id, _)| id)
            .collect())
    }
}

impl ProcessModel {
    /// An event that completed as it was made with `bytes` (`random`).
    pub fn completed_value(
        &mut self,
        process: ProcessId,
        bytes: Vec<u8>,
    ) -> Result<EventId, Status> {
        self.new_completed(process, Outcome::Value(bytes))
    }
}
