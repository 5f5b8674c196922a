//! Kernel reader/writer locks (`rumpuser_rw_*`), with try-upgrade and atomic downgrade.
//!
//! The lock word counts readers and has one writer bit; writers announce themselves so new
//! readers queue behind them (writers do not starve). Readers and writers sleep on separate
//! wakeup sequence words with the virtual CPU released, so a release wakes either one
//! writer or every reader, never a crowd that mostly goes back to sleep: with a writer
//! waiting, the lock goes to a writer (new readers stay out anyway); otherwise all waiting
//! readers may share it. Releasers and sleepers order the lock word, the writer count and
//! the sleeper counts sequentially consistently, so a release never misses a sleeper.
//! Nothing here may hold an internal lock across an upcall.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::abi::{Lwp, RW_READER, RW_WRITER};
use crate::error::HypercallError;
use crate::host::{self, Wake};
use crate::upcall;

const WRITER: u32 = 1 << 31;
const READER_MASK: u32 = WRITER - 1;

/// Shared or exclusive, from `enum rumprwlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Shared.
    Reader,
    /// Exclusive.
    Writer,
}

impl LockMode {
    /// Decodes `RUMPUSER_RW_READER` / `RUMPUSER_RW_WRITER`.
    pub fn from_raw(raw: i32) -> Result<LockMode, HypercallError> {
        match raw {
            RW_READER => Ok(LockMode::Reader),
            RW_WRITER => Ok(LockMode::Writer),
            _ => Err(HypercallError::InvalidArgument),
        }
    }
}

/// A rump kernel reader/writer lock, the object behind `struct rumpuser_rw *`.
#[derive(Debug, Default)]
pub struct KernelRwLock {
    state: AtomicU32,
    writers_waiting: AtomicU32,
    readers: Sleepers,
    writers: Sleepers,
    writer: AtomicPtr<Lwp>,
}

/// Threads of one kind (readers or writers) asleep until the lock may be theirs.
#[derive(Debug, Default)]
struct Sleepers {
    /// How many are asleep or about to sleep; a release with none makes no host call.
    count: AtomicU32,
    /// Bumped by every wakeup; a sleeper samples it before trying the lock.
    sequence: AtomicU32,
    /// How many times a sleeper came back from the host's wait, for the tests.
    #[cfg(test)]
    returns: AtomicU32,
}

impl KernelRwLock {
    /// A new, free lock.
    pub fn new() -> KernelRwLock {
        KernelRwLock::default()
    }

    /// Takes the lock, releasing the virtual CPU while it must wait (`rumpuser_rw_enter`).
    pub fn enter(&self, mode: LockMode) {
        if self.try_enter(mode).is_ok() {
            return;
        }
        match mode {
            LockMode::Reader => upcall::while_unscheduled(|| {
                self.readers.wait_until(|| {
                    self.writers_waiting.load(Ordering::SeqCst) == 0 && self.try_read()
                })
            }),
            LockMode::Writer => {
                self.writers_waiting.fetch_add(1, Ordering::SeqCst);
                upcall::while_unscheduled(|| self.writers.wait_until(|| self.try_write()));
                self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
                self.writer
                    .store(host::active().current_lwp(), Ordering::Relaxed);
            }
        }
    }

    /// Takes the lock only if that needs no waiting (`rumpuser_rw_tryenter`).
    pub fn try_enter(&self, mode: LockMode) -> Result<(), HypercallError> {
        let acquired = match mode {
            LockMode::Reader => self.writers_waiting.load(Ordering::SeqCst) == 0 && self.try_read(),
            LockMode::Writer => self.try_write(),
        };
        if !acquired {
            return Err(HypercallError::Busy);
        }
        if mode == LockMode::Writer {
            self.writer
                .store(host::active().current_lwp(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Turns the caller's shared hold into an exclusive one if it is the only reader
    /// (`rumpuser_rw_tryupgrade`).
    pub fn try_upgrade(&self) -> Result<(), HypercallError> {
        self.state
            .compare_exchange(1, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| HypercallError::Busy)?;
        self.writer
            .store(host::active().current_lwp(), Ordering::Relaxed);
        Ok(())
    }

    /// Turns the caller's exclusive hold into a shared one; no writer can come in between
    /// (`rumpuser_rw_downgrade`).
    pub fn downgrade(&self) {
        self.writer.store(ptr::null_mut(), Ordering::Relaxed);
        self.state.store(1, Ordering::SeqCst);
        // Readers may join now unless a writer waits; a writer cannot get in before the
        // caller's shared hold ends, and that release wakes it.
        if self.writers_waiting.load(Ordering::SeqCst) == 0 {
            self.readers.wake(Wake::All);
        }
    }

    /// Releases whichever hold the caller has (`rumpuser_rw_exit`).
    pub fn exit(&self) {
        let previous = self.state.load(Ordering::Relaxed);
        if previous & WRITER != 0 {
            self.writer.store(ptr::null_mut(), Ordering::Relaxed);
            self.state.store(0, Ordering::SeqCst);
            self.hand_over();
        } else if self.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.hand_over();
        }
    }

    /// After the lock became free: wakes one writer if any waits (readers could not enter
    /// past it anyway), otherwise every reader. A woken writer that loses the lock to a
    /// newcomer sleeps again, and the newcomer's release wakes the next one.
    fn hand_over(&self) {
        if self.writers_waiting.load(Ordering::SeqCst) != 0 {
            self.writers.wake(Wake::One);
        } else {
            self.readers.wake(Wake::All);
        }
    }

    /// How many times sleepers came back from the host's wait: (readers, writers).
    #[cfg(test)]
    pub(crate) fn wait_returns(&self) -> (u32, u32) {
        (
            self.readers.returns.load(Ordering::SeqCst),
            self.writers.returns.load(Ordering::SeqCst),
        )
    }

    /// How many threads are asleep or about to sleep: (readers, writers).
    #[cfg(test)]
    pub(crate) fn sleeper_counts(&self) -> (u32, u32) {
        (
            self.readers.count.load(Ordering::SeqCst),
            self.writers.count.load(Ordering::SeqCst),
        )
    }

    /// Whether the lock is held in `mode`: for writers, by the calling lwp; for readers, by
    /// anyone (`rumpuser_rw_held`).
    pub fn is_held(&self, mode: LockMode) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        match mode {
            LockMode::Writer => {
                state & WRITER != 0
                    && self.writer.load(Ordering::Relaxed) == host::active().current_lwp()
            }
            LockMode::Reader => state & READER_MASK != 0,
        }
    }

    fn try_read(&self) -> bool {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            if state & WRITER != 0 || state & READER_MASK == READER_MASK {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(current) => state = current,
            }
        }
    }

    fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

impl Sleepers {
    /// Sleeps until `acquire` succeeds. The sequence is sampled before each attempt, so a
    /// wakeup sent after a failed attempt makes the host's wait return at once.
    fn wait_until(&self, mut acquire: impl FnMut() -> bool) {
        loop {
            self.count.fetch_add(1, Ordering::SeqCst);
            let observed = self.sequence.load(Ordering::SeqCst);
            if acquire() {
                self.count.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            host::active().wait_on_word(&self.sequence, observed, None);
            #[cfg(test)]
            self.returns.fetch_add(1, Ordering::SeqCst);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn wake(&self, wake: Wake) {
        if self.count.load(Ordering::SeqCst) != 0 {
            self.sequence.fetch_add(1, Ordering::SeqCst);
            host::active().wake_word(&self.sequence, wake);
        }
    }
}
