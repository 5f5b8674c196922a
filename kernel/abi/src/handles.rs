//! The numbers a program holds for kernel things: descriptors, events and processes.
//!
//! Each is a distinct type so that an event id can never be passed where a descriptor
//! is meant. A descriptor number is checked against the table size when it is built
//! from a register; event ids and process ids are checked when looked up, because only
//! the kernel knows which exist.

use crate::arguments::DESCRIPTOR_TABLE_SIZE;
use core::fmt;

/// An index into a process's descriptor table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DescriptorNumber(u32);

/// A register word that cannot be a descriptor number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescriptorOutOfRange(pub u64);

impl fmt::Display for DescriptorOutOfRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "descriptor {} is past the table of {DESCRIPTOR_TABLE_SIZE}",
            self.0
        )
    }
}

impl DescriptorNumber {
    /// The number behind a register word, if it lies inside the table.
    pub const fn new(word: u64) -> Result<DescriptorNumber, DescriptorOutOfRange> {
        if word < DESCRIPTOR_TABLE_SIZE as u64 {
            Ok(DescriptorNumber(word as u32))
        } else {
            Err(DescriptorOutOfRange(word))
        }
    }

    /// The number as a program sees it.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The table slot.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The id of an asynchronous call's event, unique within its process and never reused
/// there. Zero is never an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub u64);

/// A process identifier. Zero is never a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "event {}", self.0)
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "process {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_numbers_are_bounded_by_the_table() {
        assert_eq!(DescriptorNumber::new(0).map(DescriptorNumber::get), Ok(0));
        assert_eq!(
            DescriptorNumber::new(1023).map(DescriptorNumber::get),
            Ok(1023)
        );
        assert_eq!(DescriptorNumber::new(1024), Err(DescriptorOutOfRange(1024)));
        assert_eq!(
            DescriptorNumber::new(u64::MAX),
            Err(DescriptorOutOfRange(u64::MAX))
        );
    }
}
