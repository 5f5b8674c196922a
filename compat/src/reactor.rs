//! The executor's bookkeeping: which events pending futures wait on, and which of
//! them `block` has answered but their futures have not collected yet.
//!
//! There is one per program on Ethos (a program has one thread) and one per thread on
//! a host. It only records ids and wakers: it never makes a call, so a future or the
//! executor can use it between calls without holding it across one.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::task::Waker;

use ethos_abi::Status;

use crate::handles::Event;

/// Events futures wait on and events answered for them.
#[derive(Debug, Default)]
pub(crate) struct Reactor {
    /// Pending, with the waker of the future waiting; oldest id first.
    waiting: BTreeMap<Event, Waker>,
    /// Answered by `block` (or failed with the status `block` answered), not yet
    /// collected by their futures.
    completed: BTreeMap<Event, Result<(), Status>>,
    /// Where the next window starts when more events wait than one `block` takes.
    rotation: usize,
}

impl Reactor {
    pub(crate) const fn new() -> Reactor {
        Reactor {
            waiting: BTreeMap::new(),
            completed: BTreeMap::new(),
            rotation: 0,
        }
    }

    /// Records that a future waits on `event`, to be woken through `waker`.
    pub(crate) fn register(&mut self, event: Event, waker: &Waker) {
        match self.waiting.get_mut(&event) {
            Some(known) if known.will_wake(waker) => {}
            Some(known) => known.clone_from(waker),
            None => {
                self.waiting.insert(event, waker.clone());
            }
        }
    }

    /// Whether `block` has answered `event`, taking the answer.
    pub(crate) fn take_completion(&mut self, event: Event) -> Option<Result<(), Status>> {
        self.completed.remove(&event)
    }

    /// Forgets `event` (its future was dropped).
    pub(crate) fn forget(&mut self, event: Event) {
        self.waiting.remove(&event);
        self.completed.remove(&event);
    }

    /// The events futures wait on, oldest first.
    pub(crate) fn waiting(&self) -> Vec<Event> {
        self.waiting.keys().copied().collect()
    }

    /// Records `block`'s answer for `event` and answers the waker to wake, if a future
    /// still waits on it.
    pub(crate) fn complete(&mut self, event: Event, outcome: Result<(), Status>) -> Option<Waker> {
        let waker = self.waiting.remove(&event)?;
        self.completed.insert(event, outcome);
        Some(waker)
    }

    /// Moves the window start on by `step`, answering the old start.
    pub(crate) fn rotate(&mut self, step: usize) -> usize {
        let start = self.rotation;
        self.rotation = self.rotation.wrapping_add(step);
        start
    }

    /// The window start.
    pub(crate) fn rotation(&self) -> usize {
        self.rotation
    }
}

#[cfg(target_os = "none")]
static REACTOR: spin::Mutex<Reactor> = spin::Mutex::new(Reactor::new());

/// Runs `work` on this program's (or thread's) reactor. `work` must not make calls
/// that come back here.
#[cfg(target_os = "none")]
pub(crate) fn with<R>(work: impl FnOnce(&mut Reactor) -> R) -> R {
    work(&mut REACTOR.lock())
}

#[cfg(not(target_os = "none"))]
std::thread_local! {
    static REACTOR: core::cell::RefCell<Reactor> = const { core::cell::RefCell::new(Reactor::new()) };
}

/// Runs `work` on this program's (or thread's) reactor. `work` must not make calls
/// that come back here.
#[cfg(not(target_os = "none"))]
pub(crate) fn with<R>(work: impl FnOnce(&mut Reactor) -> R) -> R {
    REACTOR.with(|reactor| work(&mut reactor.borrow_mut()))
}
