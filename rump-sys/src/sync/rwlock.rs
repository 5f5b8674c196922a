//! Kernel reader/writer locks (`rumpuser_rw_*`), with try-upgrade and atomic downgrade.
//!
//! The lock word counts readers and has one writer bit; writers announce themselves so new
//! readers queue behind them (writers do not starve). Waiters sleep on a wakeup sequence word
//! with the virtual CPU released. Releasers and sleepers order the lock word and the sleeper
//! count sequentially consistently, so a release never misses a sleeper. Nothing here may
//! hold an internal lock across an upcall.

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
    sleepers: AtomicU32,
    wakeups: AtomicU32,
    writer: AtomicPtr<Lwp>,
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
                self.wait_until(|| {
                    self.writers_waiting.load(Ordering::SeqCst) == 0 && self.try_read()
                })
            }),
            LockMode::Writer => {
                self.writers_waiting.fetch_add(1, Ordering::SeqCst);
                upcall::while_unscheduled(|| self.wait_until(|| self.try_write()));
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
        self.wake_sleepers();
    }

    /// Releases whichever hold the caller has (`rumpuser_rw_exit`).
    pub fn exit(&self) {
        let previous = self.state.load(Ordering::Relaxed);
        if previous & WRITER != 0 {
            self.writer.store(ptr::null_mut(), Ordering::Relaxed);
            self.state.store(0, Ordering::SeqCst);
            self.wake_sleepers();
        } else if self.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.wake_sleepers();
        }
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

    fn wait_until(&self, mut acquire: impl FnMut() -> bool) {
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let observed = self.wakeups.load(Ordering::SeqCst);
            if acquire() {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            host::active().wait_on_word(&self.wakeups, observed, None);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.wakeups.fetch_add(1, Ordering::SeqCst);
            host::active().wake_word(&self.wakeups, Wake::All);
        }
    }
}
