//! A set of events, each with what it stands for, waited on with one `block`: the
//! shape of a server that waits for a new connection and a message on every open
//! one at once.
//!
//! The set only remembers events; it never collects a result, so the program retires
//! the answered event the way its call needs (see [`crate::results`]). An event that
//! leaves the set by [`EventSet::wait`] is the caller's to retire or cancel.

use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_abi::arguments::MAXIMUM_BLOCK_EVENTS;

use crate::calls;
use crate::handles::Event;

/// Events, oldest first, each with a tag saying what it stands for.
#[derive(Debug)]
pub struct EventSet<Tag> {
    entries: Vec<(Event, Tag)>,
}

impl<Tag> Default for EventSet<Tag> {
    fn default() -> Self {
        EventSet {
            entries: Vec::new(),
        }
    }
}

impl<Tag> EventSet<Tag> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `event`, standing for `tag`.
    pub fn insert(&mut self, event: Event, tag: Tag) {
        self.entries.push((event, tag));
    }

    /// Takes `event` out of the set, answering its tag.
    pub fn remove(&mut self, event: Event) -> Option<Tag> {
        let position = self
            .entries
            .iter()
            .position(|(member, _)| *member == event)?;
        Some(self.entries.remove(position).1)
    }

    /// How many events the set holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set holds no event.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The events and their tags, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(Event, Tag)> {
        self.entries.iter()
    }

    /// Waits for the first event of the set to complete and takes it out, with its
    /// tag. `InvalidArgument` for an empty set (nothing could ever complete);
    /// `LimitReached` for more events than one `block` takes
    /// ([`MAXIMUM_BLOCK_EVENTS`]).
    pub fn wait(&mut self) -> Result<(Event, Tag), Status> {
        if self.entries.is_empty() {
            return Err(Status::InvalidArgument);
        }
        if self.entries.len() as u64 > MAXIMUM_BLOCK_EVENTS {
            return Err(Status::LimitReached);
        }
        let events: Vec<Event> = self.entries.iter().map(|(event, _)| *event).collect();
        loop {
            match calls::block(&events) {
                Ok(event) => {
                    // An answer outside the set is the kernel's fault, not a reason to
                    // lose track: it reads as a malformed result.
                    let tag = self.remove(event).ok_or(crate::results::MALFORMED_RESULT)?;
                    return Ok((event, tag));
                }
                Err(Status::WouldBlock) => core::hint::spin_loop(),
                Err(status) => return Err(status),
            }
        }
    }

    /// Cancels every event in the set and empties it; answers the first failure,
    /// after trying them all.
    pub fn cancel_all(&mut self) -> Result<(), Status> {
        let mut outcome = Ok(());
        for (event, _) in self.entries.drain(..) {
            if let Err(status) = calls::cancel(event) {
                outcome = outcome.and(Err(status));
            }
        }
        outcome
    }
}
