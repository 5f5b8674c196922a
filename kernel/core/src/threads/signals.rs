//! How interrupt handlers wake threads without taking a lock.
//!
//! An interrupt may arrive while the code it interrupted is in the middle of a
//! scheduling decision. If the handler then needed the thread table, it would wait
//! for a lock its own CPU holds, forever. So a handler never touches the table: it
//! sets the bit of an [`EventId`] in [`InterruptSignals`] (one atomic OR), and the
//! next scheduling decision (or thread operation) hands the signalled events to
//! [`Threads::deliver`](super::Threads::deliver), which wakes their waiters. Signals
//! of one event that arrive before it is delivered count once, like the edge of an
//! interrupt line.

use core::sync::atomic::{AtomicU64, Ordering};

/// How many events there are.
pub const EVENT_COUNT: usize = 256;

/// One of [`EVENT_COUNT`] events an interrupt handler may signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(u16);

impl EventId {
    /// Event `index`, if it is below [`EVENT_COUNT`].
    pub const fn new(index: u16) -> Option<EventId> {
        if (index as usize) < EVENT_COUNT {
            Some(EventId(index))
        } else {
            None
        }
    }

    /// The event's number.
    pub fn index(self) -> u16 {
        self.0
    }

    /// Its word and bit in a bitmap of [`EVENT_COUNT`] bits.
    pub(super) fn position(self) -> (usize, u64) {
        (usize::from(self.0) / 64, 1 << (self.0 % 64))
    }
}

/// Events signalled by interrupt handlers and not yet delivered. Every method takes
/// `&self` and is lock-free, so a handler may call [`InterruptSignals::signal`] at
/// any moment, on any CPU.
#[derive(Debug)]
pub struct InterruptSignals {
    words: [AtomicU64; EVENT_COUNT / 64],
}

impl Default for InterruptSignals {
    fn default() -> Self {
        InterruptSignals::new()
    }
}

impl InterruptSignals {
    /// Nothing signalled.
    pub const fn new() -> InterruptSignals {
        InterruptSignals {
            words: [const { AtomicU64::new(0) }; EVENT_COUNT / 64],
        }
    }

    /// Marks `event` signalled. Never blocks, never allocates.
    pub fn signal(&self, event: EventId) {
        let (word, bit) = event.position();
        self.words[word].fetch_or(bit, Ordering::Release);
    }

    /// Whether any event waits to be delivered.
    pub fn any_pending(&self) -> bool {
        self.words
            .iter()
            .any(|word| word.load(Ordering::Acquire) != 0)
    }

    /// Takes every signalled event, clearing them; a signal that lands during the
    /// call is either taken now or left for the next call, never lost.
    pub fn take(&self) -> impl Iterator<Item = EventId> + use<> {
        let taken: [u64; EVENT_COUNT / 64] = core::array::from_fn(|index| {
            // Reading first keeps the common case (nothing signalled) free of writes.
            if self.words[index].load(Ordering::Relaxed) == 0 {
                0
            } else {
                self.words[index].swap(0, Ordering::AcqRel)
            }
        });
        taken.into_iter().enumerate().flat_map(|(word, mut bits)| {
            core::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                Some(EventId((word * 64) as u16 + bit as u16))
            })
        })
    }
}
