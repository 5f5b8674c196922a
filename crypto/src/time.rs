//! Time as the caller tells it: the protocol reads no clock of its own.

use core::fmt;

/// A point in time in milliseconds on the caller's clock. Directory record expiry and
/// puzzle freshness compare such times, so hosts that exchange records should use a
/// shared epoch (for example the Unix epoch).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The time `milliseconds` after the epoch.
    pub const fn from_milliseconds(milliseconds: u64) -> Self {
        Self(milliseconds)
    }

    /// Milliseconds since the epoch.
    pub const fn as_milliseconds(self) -> u64 {
        self.0
    }

    /// `milliseconds` later, saturating at the end of time.
    pub const fn plus_milliseconds(self, milliseconds: u64) -> Self {
        Self(self.0.saturating_add(milliseconds))
    }

    /// Milliseconds from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn milliseconds_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}ms", self.0)
    }
}
