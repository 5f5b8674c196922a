//! Events: the results of asynchronous calls, per process.
//!
//! A call that may block creates an event and returns its id at once. The event is
//! either completed on the spot (the value was there) or pending, waiting on an object;
//! the process model completes it when that object changes. `block` on a set answers
//! the event that completed first, `retire` takes a completed event's outcome and
//! forgets the event, `cancel` forgets an event in either state. Ids are never reused
//! within a process. This module keeps the bookkeeping only: it must never look at
//! other processes or at the objects events wait on.

use alloc::vec::Vec;

use ethos_abi::arguments::{EVENT_KERNEL_BYTES, MAXIMUM_EVENTS};
use ethos_abi::{DescriptorNumber, EventId, Status};

use super::descriptors::{ConnectionId, ListenerId, Side};
use super::identity::UserName;

/// A point on the kernel clock, in nanoseconds since boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

/// What a pending event waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A client connecting to the listener (`import`).
    Import(ListenerId),
    /// A message arriving at this end (`read`).
    Read(ConnectionId, Side),
    /// A message arriving at this end, to be copied, not consumed (`peek`).
    Peek(ConnectionId, Side),
    /// Descriptors sent to the process's virtual process (`fdReceive`).
    FdReceive,
    /// The clock reaching the deadline (`beep`).
    Beep(Instant),
    /// Another host's kernel answering a connection to one of its services (`ipc`
    /// with a host).
    Connect(ConnectionId),
}

/// What a cancelled event left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It was pending, waiting for this: the waiter registered for it must go.
    Waiting(Waiting),
    /// It had completed with this outcome, which may hold descriptors to release.
    Completed(Outcome),
}

/// What a completed event holds until it is retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A value's bytes (`read`, `peek`).
    Value(Vec<u8>),
    /// A new connection descriptor (`ipc`).
    Connected(DescriptorNumber),
    /// An accepted connection and the user on the other end (`import`).
    Imported {
        /// The server end's descriptor.
        descriptor: DescriptorNumber,
        /// The client's user.
        client: UserName,
    },
    /// Descriptors that arrived for the virtual process (`fdReceive`).
    Descriptors(Vec<DescriptorNumber>),
    /// The deadline passed (`beep`).
    TimerExpired,
    /// The call failed after it was made (the peer closed, the table filled).
    Failed(Status),
}

#[derive(Clone, Debug)]
enum State {
    Pending(Waiting),
    Completed { order: u64, outcome: Outcome },
}

impl Outcome {
    /// Bytes of kernel memory the outcome holds beyond its event.
    pub fn held_bytes(&self) -> usize {
        match self {
            Outcome::Value(bytes) => bytes.len(),
            Outcome::Descriptors(numbers) => {
                numbers.len() * core::mem::size_of::<DescriptorNumber>()
            }
            _ => 0,
        }
    }
}

/// One process's events.
#[derive(Clone, Debug, Default)]
pub struct EventTable {
    next_id: u64,
    completions: u64,
    /// In id order: ids only grow, so a new event goes last and a search halves.
    /// A process holds few events at a time, and the list keeps its memory, so
    /// making and forgetting one allocates nothing (a tree would allocate a node
    /// each time the process goes from none to one). Every event but `waited`.
    /// Its capacity always has room for `waited` too, so that event's completion
    /// moves it in without allocating.
    events: Vec<(EventId, State)>,
    /// One pending event kept beside the list: the first made while no other
    /// was kept here. A process waiting for a reply holds just this one, which
    /// its reply completes and retires in one step; kept here, neither its
    /// making nor its forgetting searches or moves the list.
    waited: Option<(EventId, Waiting)>,
    /// Kernel memory the events hold: [`EVENT_KERNEL_BYTES`] each, plus what their
    /// outcomes hold.
    held: usize,
}

impl EventTable {
    /// A table with no events.
    pub fn new() -> EventTable {
        EventTable::default()
    }

    /// How many events the process holds, pending or completed.
    pub fn len(&self) -> usize {
        self.events.len() + usize::from(self.waited.is_some())
    }

    /// Whether the process holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Kernel memory the events hold, for their process's account.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn allocate(&mut self, state: State) -> Result<EventId, Status> {
        let id = self.next_event(state_bytes(&state))?;
        self.events.push((id, state));
        Ok(id)
    }

    /// The id of a new event whose outcome holds `outcome_bytes`, counted as held,
    /// with room for it in the list (and for `waited` too, see `events`);
    /// `LimitReached` when the process holds as many events as it may.
    fn next_event(&mut self, outcome_bytes: usize) -> Result<EventId, Status> {
        if !self.has_room() {
            return Err(Status::LimitReached);
        }
        let room = 1 + usize::from(self.waited.is_some());
        self.events
            .try_reserve(room)
            .map_err(|_| Status::NoMemory)?;
        self.held += EVENT_KERNEL_BYTES + outcome_bytes;
        self.next_id += 1;
        Ok(EventId(self.next_id))
    }

    /// Whether a new event can be made.
    pub fn has_room(&self) -> bool {
        self.len() < MAXIMUM_EVENTS
    }

    /// A new event waiting for `waiting`.
    pub fn pending(&mut self, waiting: Waiting) -> Result<EventId, Status> {
        if self.waited.is_some() {
            return self.allocate(State::Pending(waiting));
        }
        let id = self.next_event(0)?;
        self.waited = Some((id, waiting));
        Ok(id)
    }

    /// Whether `id` is the event kept beside the list.
    fn is_waited(&self, id: EventId) -> bool {
        self.waited
            .as_ref()
            .is_some_and(|(waited, _)| *waited == id)
    }

    /// A new event that completed as it was made.
    pub fn completed(&mut self, outcome: Outcome) -> Result<EventId, Status> {
        self.completions += 1;
        let order = self.completions;
        self.allocate(State::Completed { order, outcome })
    }

    fn position(&self, id: EventId) -> Option<usize> {
        self.events
            .binary_search_by_key(&id, |(event, _)| *event)
            .ok()
    }

    fn get(&self, id: EventId) -> Option<&State> {
        self.position(id).map(|index| &self.events[index].1)
    }

    fn get_mut(&mut self, id: EventId) -> Option<&mut State> {
        self.position(id).map(|index| &mut self.events[index].1)
    }

    /// Takes event `id` out of the list; a list grown by many events and mostly
    /// emptied again gives most of its memory back.
    fn remove(&mut self, id: EventId) -> Option<State> {
        let index = self.position(id)?;
        Some(self.remove_at(index))
    }

    /// Takes the event at `index` (in bounds) out of the list. The newest event is
    /// the one a process most often forgets next.
    fn remove_at(&mut self, index: usize) -> State {
        // At the end, `swap_remove` keeps the order and moves nothing.
        let (_, state) = if index + 1 == self.events.len() {
            self.events.swap_remove(index)
        } else {
            self.events.remove(index)
        };
        if self.events.capacity() > 64 && self.events.len() < self.events.capacity() / 4 {
            self.events.shrink_to(self.events.capacity() / 2);
        }
        state
    }

    /// What event `id` waits for, if it is pending.
    pub fn waiting(&self, id: EventId) -> Option<&Waiting> {
        if let Some((waited, waiting)) = &self.waited
            && *waited == id
        {
            return Some(waiting);
        }
        match self.get(id) {
            Some(State::Pending(waiting)) => Some(waiting),
            _ => None,
        }
    }

    /// Completes the pending event `id`; false if it is not pending (cancelled or
    /// already completed), in which case nothing changes.
    pub fn complete(&mut self, id: EventId, outcome: Outcome) -> bool {
        let order = self.completions + 1;
        let held = outcome.held_bytes();
        if self.is_waited(id) {
            // Into the list at its place by id; its capacity has the room.
            self.waited = None;
            let index = self.events.partition_point(|(event, _)| *event < id);
            self.events
                .insert(index, (id, State::Completed { order, outcome }));
            self.completions = order;
            self.held += held;
            return true;
        }
        match self.get_mut(id) {
            Some(state @ State::Pending(_)) => {
                *state = State::Completed { order, outcome };
                self.completions = order;
                self.held += held;
                true
            }
            _ => false,
        }
    }

    /// Completes the pending event `id` and forgets it at once, as [`Self::complete`]
    /// followed by [`Self::retire`] would, for a result that went straight to its
    /// process; false if it is not pending, in which case nothing changes.
    pub fn complete_and_retire(&mut self, id: EventId) -> bool {
        if self.is_waited(id) {
            self.waited = None;
            self.completions += 1;
            self.held -= EVENT_KERNEL_BYTES;
            return true;
        }
        let Some(index) = self.position(id) else {
            return false;
        };
        if !matches!(self.events[index].1, State::Pending(_)) {
            return false;
        }
        self.completions += 1;
        self.remove_at(index);
        self.held -= EVENT_KERNEL_BYTES;
        true
    }

    /// The outcome of the completed event `id`, left in place.
    pub fn outcome(&self, id: EventId) -> Result<&Outcome, Status> {
        if self.is_waited(id) {
            return Err(Status::WouldBlock);
        }
        match self.get(id) {
            None => Err(Status::NoSuchObject),
            Some(State::Pending(_)) => Err(Status::WouldBlock),
            Some(State::Completed { outcome, .. }) => Ok(outcome),
        }
    }

    /// Takes the outcome of the completed event `id` and forgets the event.
    pub fn retire(&mut self, id: EventId) -> Result<Outcome, Status> {
        if self.is_waited(id) {
            return Err(Status::WouldBlock);
        }
        let index = self.position(id).ok_or(Status::NoSuchObject)?;
        if matches!(self.events[index].1, State::Pending(_)) {
            return Err(Status::WouldBlock);
        }
        match self.remove_at(index) {
            State::Completed { outcome, .. } => {
                self.held -= EVENT_KERNEL_BYTES + outcome.held_bytes();
                Ok(outcome)
            }
            State::Pending(_) => Err(Status::NoSuchObject),
        }
    }

    /// Forgets event `id`, pending or completed, returning what it waited for or its
    /// outcome, so the caller can drop the waiter or release what the outcome holds.
    pub fn cancel(&mut self, id: EventId) -> Result<Cancelled, Status> {
        if let Some((waited, waiting)) = self.waited.take() {
            if waited == id {
                self.held -= EVENT_KERNEL_BYTES;
                return Ok(Cancelled::Waiting(waiting));
            }
            self.waited = Some((waited, waiting));
        }
        let state = self.remove(id).ok_or(Status::NoSuchObject)?;
        self.held -= EVENT_KERNEL_BYTES + state_bytes(&state);
        match state {
            State::Pending(waiting) => Ok(Cancelled::Waiting(waiting)),
            State::Completed { outcome, .. } => Ok(Cancelled::Completed(outcome)),
        }
    }

    /// Of the events in `set`, the one that completed first. Every id must exist;
    /// `WouldBlock` when none has completed yet.
    pub fn first_completed(&self, set: &[EventId]) -> Result<EventId, Status> {
        let mut first: Option<(u64, EventId)> = None;
        for id in set {
            if self.is_waited(*id) {
                continue;
            }
            match self.get(*id) {
                None => return Err(Status::NoSuchObject),
                Some(State::Pending(_)) => {}
                Some(State::Completed { order, .. }) => {
                    if first.is_none_or(|(earliest, _)| *order < earliest) {
                        first = Some((*order, *id));
                    }
                }
            }
        }
        first.map(|(_, id)| id).ok_or(Status::WouldBlock)
    }

    /// Every pending event and what it waits for.
    pub fn pending_events(&self) -> impl Iterator<Item = (EventId, &Waiting)> {
        let listed = self.events.iter().filter_map(|(id, state)| match state {
            State::Pending(waiting) => Some((*id, waiting)),
            State::Completed { .. } => None,
        });
        self.waited
            .iter()
            .map(|(id, waiting)| (*id, waiting))
            .chain(listed)
    }

    /// Forgets every event, returning the outcomes that completed (a process ending).
    pub fn drain(&mut self) -> Vec<Outcome> {
        self.held = 0;
        self.waited = None;
        core::mem::take(&mut self.events)
            .into_iter()
            .filter_map(|(_, state)| match state {
                State::Completed { outcome, .. } => Some(outcome),
                State::Pending(_) => None,
            })
            .collect()
    }
}

fn state_bytes(state: &State) -> usize {
    match state {
        State::Pending(_) => 0,
        State::Completed { outcome, .. } => outcome.held_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_counts_what_its_events_hold() {
        let mut events = EventTable::new();
        assert_eq!(events.held_bytes(), 0);
        let pending = events.pending(Waiting::FdReceive).unwrap();
        let value = events
            .completed(Outcome::Value(alloc::vec![0; 1000]))
            .unwrap();
        assert_eq!(events.held_bytes(), 2 * EVENT_KERNEL_BYTES + 1000);
        assert!(events.complete(pending, Outcome::Value(alloc::vec![0; 24])));
        assert_eq!(events.held_bytes(), 2 * EVENT_KERNEL_BYTES + 1024);
        events.retire(value).unwrap();
        assert_eq!(events.held_bytes(), EVENT_KERNEL_BYTES + 24);
        events.cancel(pending).unwrap();
        assert_eq!(events.held_bytes(), 0);
        events.completed(Outcome::TimerExpired).unwrap();
        events.drain();
        assert_eq!(events.held_bytes(), 0);
    }

    #[test]
    fn block_answers_the_first_completion_not_the_first_id() {
        let mut events = EventTable::new();
        let early = events.pending(Waiting::Beep(Instant(10))).unwrap();
        let late = events.pending(Waiting::Beep(Instant(20))).unwrap();
        assert_eq!(
            events.first_completed(&[early, late]),
            Err(Status::WouldBlock)
        );
        assert!(events.complete(late, Outcome::TimerExpired));
        assert!(events.complete(early, Outcome::TimerExpired));
        assert_eq!(events.first_completed(&[early, late]), Ok(late));
        assert_eq!(events.first_completed(&[early]), Ok(early));
        assert_eq!(
            events.first_completed(&[early, EventId(99)]),
            Err(Status::NoSuchObject)
        );
    }

    #[test]
    fn retire_and_cancel() {
        let mut events = EventTable::new();
        let pending = events.pending(Waiting::FdReceive).unwrap();
        assert_eq!(events.retire(pending), Err(Status::WouldBlock));
        let done = events.completed(Outcome::Value(alloc::vec![1, 2])).unwrap();
        assert_ne!(pending, done);
        assert_eq!(events.retire(done), Ok(Outcome::Value(alloc::vec![1, 2])));
        assert_eq!(events.retire(done), Err(Status::NoSuchObject));
        assert_eq!(
            events.cancel(pending),
            Ok(Cancelled::Waiting(Waiting::FdReceive))
        );
        // A cancelled event can no longer be completed.
        assert!(!events.complete(pending, Outcome::TimerExpired));
        assert!(events.is_empty());
    }

    #[test]
    fn the_event_kept_beside_the_list_behaves_as_any_other() {
        let mut events = EventTable::new();
        let kept = events.pending(Waiting::FdReceive).unwrap();
        let done = events.completed(Outcome::TimerExpired).unwrap();
        let listed = events.pending(Waiting::Beep(Instant(5))).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events.waiting(kept), Some(&Waiting::FdReceive));
        assert_eq!(events.outcome(kept), Err(Status::WouldBlock));
        assert_eq!(events.retire(kept), Err(Status::WouldBlock));
        assert_eq!(events.first_completed(&[kept, done]), Ok(done));
        assert_eq!(events.first_completed(&[kept]), Err(Status::WouldBlock));
        // Completed after `done`, it is answered after it, and keeps its id's place.
        assert!(events.complete(kept, Outcome::Value(alloc::vec![7; 3])));
        assert!(!events.complete(kept, Outcome::TimerExpired));
        assert_eq!(events.first_completed(&[kept, done]), Ok(done));
        let ids: Vec<EventId> = events.events.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [kept, done, listed]);
        assert_eq!(events.held_bytes(), 3 * EVENT_KERNEL_BYTES + 3);
        assert_eq!(events.retire(kept), Ok(Outcome::Value(alloc::vec![7; 3])));
        // The place is free again: the next pending event is kept there, and
        // completing and retiring it at once leaves nothing.
        let reply = events.pending(Waiting::FdReceive).unwrap();
        assert!(events.complete_and_retire(reply));
        assert!(!events.complete_and_retire(reply));
        assert_eq!(events.waiting(reply), None);
        let cancelled = events.pending(Waiting::FdReceive).unwrap();
        assert_eq!(
            events.cancel(cancelled),
            Ok(Cancelled::Waiting(Waiting::FdReceive))
        );
        assert_eq!(events.cancel(cancelled), Err(Status::NoSuchObject));
        assert_eq!(
            events.pending_events().collect::<Vec<_>>(),
            [(listed, &Waiting::Beep(Instant(5)))]
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events.held_bytes(), 2 * EVENT_KERNEL_BYTES);
    }

    /// One step of a process's use of its events, for the comparison below.
    #[derive(Clone, Debug)]
    enum Step {
        Pending,
        Completed,
        /// Of the `n`-th id made so far (modulo their number).
        Complete(usize),
        CompleteAndRetire(usize),
        Retire(usize),
        Cancel(usize),
        FirstCompleted(usize, usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Step::Pending),
            Just(Step::Completed),
            any::<usize>().prop_map(Step::Complete),
            any::<usize>().prop_map(Step::CompleteAndRetire),
            any::<usize>().prop_map(Step::Retire),
            any::<usize>().prop_map(Step::Cancel),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::FirstCompleted(a, b)),
        ]
    }

    proptest::proptest! {
        /// The table answers every call as a plain map of ids to states would:
        /// where an event is kept never shows.
        #[test]
        fn the_table_answers_as_a_map_of_ids(steps in proptest::collection::vec(step(), 0..60)) {
            use alloc::collections::BTreeMap;
            let mut table = EventTable::new();
            // The same events: pending (`None`) or completed in this order.
            let mut model: BTreeMap<EventId, Option<u64>> = BTreeMap::new();
            let mut made: Vec<EventId> = Vec::new();
            let mut order = 0;
            for step in steps {
                let pick = |n: usize| made.get(n % made.len().max(1)).copied().unwrap_or(EventId(999));
                match step {
                    Step::Pending => {
                        let id = table.pending(Waiting::FdReceive).unwrap();
                        model.insert(id, None);
                        made.push(id);
                    }
                    Step::Completed => {
                        let id = table.completed(Outcome::TimerExpired).unwrap();
                        order += 1;
                        model.insert(id, Some(order));
                        made.push(id);
                    }
                    Step::Complete(n) => {
                        let id = pick(n);
                        let pending = model.get(&id) == Some(&None);
                        proptest::prop_assert_eq!(table.complete(id, Outcome::TimerExpired), pending);
                        if pending {
                            order += 1;
                            model.insert(id, Some(order));
                        }
                    }
                    Step::CompleteAndRetire(n) => {
                        let id = pick(n);
                        let pending = model.get(&id) == Some(&None);
                        proptest::prop_assert_eq!(table.complete_and_retire(id), pending);
                        if pending {
                            order += 1;
                            model.remove(&id);
                        }
                    }
                    Step::Retire(n) => {
                        let id = pick(n);
                        let expected = match model.get(&id) {
                            None => Err(Status::NoSuchObject),
                            Some(None) => Err(Status::WouldBlock),
                            Some(Some(_)) => Ok(Outcome::TimerExpired),
                        };
                        if expected.is_ok() {
                            model.remove(&id);
                        }
                        proptest::prop_assert_eq!(table.retire(id), expected);
                    }
                    Step::Cancel(n) => {
                        let id = pick(n);
                        let expected = match model.remove(&id) {
                            None => Err(Status::NoSuchObject),
                            Some(None) => Ok(Cancelled::Waiting(Waiting::FdReceive)),
                            Some(Some(_)) => Ok(Cancelled::Completed(Outcome::TimerExpired)),
                        };
                        proptest::prop_assert_eq!(table.cancel(id), expected);
                    }
                    Step::FirstCompleted(a, b) => {
                        let set = [pick(a), pick(b)];
                        let mut expected = Err(Status::WouldBlock);
                        let mut first = u64::MAX;
                        for id in set {
                            match model.get(&id) {
                                None => {
                                    expected = Err(Status::NoSuchObject);
                                    break;
                                }
                                Some(Some(at)) if *at < first => {
                                    first = *at;
                                    expected = Ok(id);
                                }
                                _ => {}
                            }
                        }
                        proptest::prop_assert_eq!(table.first_completed(&set), expected);
                    }
                }
                proptest::prop_assert_eq!(table.len(), model.len());
                proptest::prop_assert_eq!(table.held_bytes(), model.len() * EVENT_KERNEL_BYTES);
                let pending: Vec<EventId> = model.iter().filter(|(_, at)| at.is_none()).map(|(id, _)| *id).collect();
                let mut listed: Vec<EventId> = table.pending_events().map(|(id, _)| id).collect();
                listed.sort_unstable();
                proptest::prop_assert_eq!(listed, pending);
                proptest::prop_assert!(table.events.windows(2).all(|pair| pair[0].0 < pair[1].0));
                proptest::prop_assert!(table.events.capacity() > table.events.len() || table.waited.is_none());
            }
        }
    }

    #[test]
    fn ids_are_never_reused_and_the_table_is_bounded() {
        let mut events = EventTable::new();
        let first = events.completed(Outcome::TimerExpired).unwrap();
        events.retire(first).unwrap();
        let second = events.completed(Outcome::TimerExpired).unwrap();
        assert!(second > first);
        while events.has_room() {
            events.pending(Waiting::FdReceive).unwrap();
        }
        assert_eq!(
            events.pending(Waiting::FdReceive),
            Err(Status::LimitReached)
        );
        assert_eq!(events.len(), MAXIMUM_EVENTS);
    }
}
