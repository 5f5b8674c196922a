//! Kernel condition variables (`rumpuser_cv_*`), including timed waits and the interlock and
//! relock-ordering rules of spec §2.3.
//!
//! A condition variable is a wakeup sequence word plus a waiter count. A waiter samples the
//! sequence while it holds the mutex, so a signal sent after the mutex is released is never
//! lost. The waits that may block give the virtual CPU back first; the `nowrap` wait never
//! touches it. Nothing here may hold an internal lock across an upcall.

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use crate::error::HypercallError;
use crate::host::{self, WaitOutcome, Wake};
use crate::sync::mutex::KernelMutex;
use crate::upcall::{self, Interlock};

/// A rump kernel condition variable, the object behind `struct rumpuser_cv *`.
#[derive(Debug, Default)]
pub struct KernelCondvar {
    sequence: AtomicU32,
    waiters: AtomicU32,
}

impl KernelCondvar {
    /// A condition variable nobody waits on.
    pub fn new() -> KernelCondvar {
        KernelCondvar::default()
    }

    /// Releases `mutex`, sleeps until signalled, and relocks (`rumpuser_cv_wait`), giving
    /// the virtual CPU back while asleep.
    pub fn wait(&self, mutex: &KernelMutex) {
        let _woken = self.wait_scheduled(mutex, None);
    }

    /// Like [`KernelCondvar::wait`] with a relative timeout (`rumpuser_cv_timedwait`).
    /// The deadline is taken before the CPU is released, so time spent waiting for a CPU
    /// counts against it.
    pub fn timed_wait(&self, mutex: &KernelMutex, timeout: Duration) -> Result<(), HypercallError> {
        let deadline = host::active().monotonic_now().saturating_add(timeout);
        self.wait_scheduled(mutex, Some(deadline))
    }

    /// Releases `mutex`, sleeps, relocks, never touching the virtual CPU
    /// (`rumpuser_cv_wait_nowrap`). The caller holds `mutex`.
    pub fn wait_without_unscheduling(&self, mutex: &KernelMutex) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let observed = self.sequence.load(Ordering::SeqCst);
        mutex.clear_owner();
        mutex.release();
        host::active().wait_on_word(&self.sequence, observed, None);
        mutex.enter_without_unscheduling();
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes one waiter (`rumpuser_cv_signal`); never blocks.
    pub fn signal(&self) {
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.sequence.fetch_add(1, Ordering::SeqCst);
            host::active().wake_word(&self.sequence, Wake::One);
        }
    }

    /// Wakes every waiter (`rumpuser_cv_broadcast`); never blocks.
    pub fn broadcast(&self) {
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.sequence.fetch_add(1, Ordering::SeqCst);
            host::active().wake_word(&self.sequence, Wake::All);
        }
    }

    /// How many threads wait (`rumpuser_cv_has_waiters`).
    pub fn waiter_count(&self) -> u32 {
        self.waiters.load(Ordering::SeqCst)
    }

    /// The wait protocol of spec §2.3: count the waiter, release the CPU with the mutex as
    /// interlock (after which the mutex is held in every case), clear the owner, release the
    /// mutex and sleep, then relock in the order the mutex kind demands.
    fn wait_scheduled(
        &self,
        mutex: &KernelMutex,
        deadline: Option<Duration>,
    ) -> Result<(), HypercallError> {
        let interlock = Interlock::of(mutex);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let lock_count = upcall::unschedule(interlock);
        let observed = self.sequence.load(Ordering::SeqCst);
        mutex.clear_owner();
        mutex.release();
        let outcome = self.sleep(observed, deadline);
        let kind = mutex.kind();
        if kind.spin && kind.kernel_mutex {
            // Kernel spin mutexes are always taken after the CPU.
            upcall::schedule(lock_count, interlock);
            mutex.enter_without_unscheduling();
        } else {
            // The scheduler expects its own mutex held when it gets the CPU back.
            mutex.acquire_contended();
            mutex.record_owner();
            upcall::schedule(lock_count, interlock);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    fn sleep(&self, observed: u32, deadline: Option<Duration>) -> Result<(), HypercallError> {
        loop {
            if self.sequence.load(Ordering::SeqCst) != observed {
                return Ok(());
            }
            match host::active().wait_on_word(&self.sequence, observed, deadline) {
                WaitOutcome::DeadlinePassed => {
                    return if self.sequence.load(Ordering::SeqCst) != observed {
                        Ok(())
                    } else {
                        Err(HypercallError::TimedOut)
                    };
                }
                WaitOutcome::Returned => {
                    if deadline.is_some_and(|deadline| host::active().monotonic_now() >= deadline)
                        && self.sequence.load(Ordering::SeqCst) == observed
                    {
                        return Err(HypercallError::TimedOut);
                    }
                }
            }
        }
    }
}
