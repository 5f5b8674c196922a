//! What a program holds for kernel things: descriptors and events, as distinct types so
//! that an event id is never passed where a descriptor is meant.
//!
//! Both are plain numbers the kernel handed out; holding one proves nothing, since the
//! kernel checks every number a program names. This module must never assume a
//! number is valid because it was built.

use core::fmt;

use ethos_abi::arguments::reserved;
use ethos_abi::{DescriptorNumber, EventId};

/// A descriptor: a slot in the process's table of (object, rights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Descriptor(u32);

impl Descriptor {
    /// The root directory every process is given (`exec` names programs through it).
    pub const ROOT_DIRECTORY: Descriptor = Descriptor(reserved::ROOT_DIRECTORY);
    /// The current directory every process is given.
    pub const CURRENT_DIRECTORY: Descriptor = Descriptor(reserved::CURRENT_DIRECTORY);
    /// The environment directory every process is given.
    pub const ENVIRONMENT: Descriptor = Descriptor(reserved::ENVIRONMENT);
    /// The argument directory every process is given.
    pub const ARGUMENTS: Descriptor = Descriptor(reserved::ARGUMENTS);

    /// The descriptor with this number.
    pub const fn from_number(number: u32) -> Descriptor {
        Descriptor(number)
    }

    /// The number the kernel knows it by.
    pub const fn number(self) -> u32 {
        self.0
    }
}

impl From<DescriptorNumber> for Descriptor {
    fn from(number: DescriptorNumber) -> Descriptor {
        Descriptor(number.get())
    }
}

impl fmt::Display for Descriptor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "descriptor {}", self.0)
    }
}

/// An asynchronous call's event: wait for it with `block`, collect it with `retire`,
/// drop it with `cancel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event(u64);

impl Event {
    /// The event with this id.
    pub const fn from_id(id: u64) -> Event {
        Event(id)
    }

    /// The id the kernel knows it by.
    pub const fn id(self) -> u64 {
        self.0
    }
}

impl From<EventId> for Event {
    fn from(id: EventId) -> Event {
        Event(id.0)
    }
}

impl From<Event> for EventId {
    fn from(event: Event) -> EventId {
        EventId(event.0)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "event {}", self.0)
    }
}
