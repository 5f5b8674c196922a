//! A value set once and read without locking afterwards, built on one atomic state word, so
//! that the hypercall layer needs no `std` for its process-wide singletons (the upcall table,
//! the registered host, the block I/O queue).
//!
//! Readers never block: [`OnceSlot::get`] is one acquire load. Only a thread that finds the
//! slot being filled by another waits, spinning, for the short time a constructor runs; no
//! constructor used with this type may block or call back into the rump kernel.

use core::cell::UnsafeCell;
use core::hint;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const FILLING: u8 = 1;
const READY: u8 = 2;

/// A slot holding at most one value, set once and then shared for ever.
pub(crate) struct OnceSlot<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the one thread that moved the state from EMPTY to
// FILLING, and published with a release store of READY; it is only read after an acquire
// load of READY and never written again, so sharing the slot shares `&T` (T: Sync) and may
// move a `T` from the filling thread (T: Send).
unsafe impl<T: Send + Sync> Sync for OnceSlot<T> {}

impl<T> OnceSlot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> OnceSlot<T> {
        OnceSlot {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it has been set.
    pub(crate) fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == READY {
            // SAFETY: READY is stored only after the value was written, with release
            // ordering matching the acquire load above; it is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Sets the value if the slot is empty; otherwise hands `value` back.
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        if self.claim() {
            self.publish(value);
            Ok(())
        } else {
            Err(value)
        }
    }

    /// The value, made by `make` if the slot is empty. Exactly one constructor runs; a
    /// thread that finds another filling the slot waits for it (spinning), so `make` must be
    /// short and must not block.
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        let mut make = Some(make);
        loop {
            if let Some(value) = self.wait() {
                return value;
            }
            if self.claim()
                && let Some(make) = make.take()
            {
                self.publish(make());
            }
        }
    }

    /// Waits (spinning) until another thread finishes filling the slot, if one is; returns
    /// the value if the slot is set.
    pub(crate) fn wait(&self) -> Option<&T> {
        while self.state.load(Ordering::Acquire) == FILLING {
            hint::spin_loop();
        }
        self.get()
    }

    /// Makes the calling thread the one writer of an empty slot.
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(EMPTY, FILLING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Stores the value after a successful [`OnceSlot::claim`] and publishes it.
    fn publish(&self, value: T) {
        // SAFETY: the caller claimed the slot, which makes it the only writer, and no reader
        // looks at the value before READY is published below.
        unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for OnceSlot<T> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.get() {
            Some(value) => formatter.debug_tuple("OnceSlot").field(value).finish(),
            None => formatter.write_str("OnceSlot(<empty>)"),
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;
    use std::thread;
    use std::vec::Vec;

    #[test]
    fn set_once_then_refuse() {
        let slot = OnceSlot::new();
        assert!(slot.get().is_none());
        assert_eq!(slot.set(1u32), Ok(()));
        assert_eq!(slot.set(2u32), Err(2));
        assert_eq!(slot.get(), Some(&1));
        assert_eq!(slot.get_or_init(|| 3), &1);
        assert_eq!(slot.wait(), Some(&1));
    }

    #[test]
    fn concurrent_initialisation_runs_one_constructor_and_everyone_sees_its_value() {
        let slot = Arc::new(OnceSlot::<u32>::new());
        let constructed = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8u32)
            .map(|index| {
                let (slot, constructed) = (Arc::clone(&slot), Arc::clone(&constructed));
                thread::spawn(move || {
                    *slot.get_or_init(|| {
                        constructed.fetch_add(1, Ordering::SeqCst);
                        index
                    })
                })
            })
            .collect();
        let seen: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(seen.iter().all(|value| *value == seen[0]));
        assert_eq!(slot.get(), Some(&seen[0]));
        assert_eq!(constructed.load(Ordering::SeqCst), 1);
    }
}
