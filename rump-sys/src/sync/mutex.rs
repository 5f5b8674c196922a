//! Kernel mutexes (`rumpuser_mutex_*`): spin and adaptive, with owner tracking.
//!
//! A mutex is a futex-style word (unlocked, locked, locked with waiters) plus the lwp that
//! holds it. Adaptive (`KMUTEX` without `SPIN`) acquisition releases the virtual CPU while it
//! waits; spin acquisition and the `nowrap` path never do (spec §3.9). Nothing here may hold
//! an internal lock across an upcall.

use core::hint;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::abi::{Lwp, MUTEX_KMUTEX, MUTEX_SPIN};
use crate::error::HypercallError;
use crate::host::{self, Wake};
use crate::upcall;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const LOCKED_WITH_WAITERS: u32 = 2;

/// How many times a contended acquisition retries before it blocks the host thread.
const SPIN_ATTEMPTS: u32 = 200;

/// The kind of a kernel mutex, from `RUMPUSER_MTX_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MutexKind {
    /// Spin mutex: never releases the virtual CPU while acquiring.
    pub spin: bool,
    /// A kernel `kmutex_t`: the owner must be tracked exactly.
    pub kernel_mutex: bool,
}

impl MutexKind {
    /// Decodes the flags of `rumpuser_mutex_init`; at least one flag must be set.
    pub fn from_flags(flags: i32) -> Result<MutexKind, HypercallError> {
        if flags & !(MUTEX_SPIN | MUTEX_KMUTEX) != 0 || flags == 0 {
            return Err(HypercallError::InvalidArgument);
        }
        Ok(MutexKind {
            spin: flags & MUTEX_SPIN != 0,
            kernel_mutex: flags & MUTEX_KMUTEX != 0,
        })
    }
}

/// A rump kernel mutex, the object behind `struct rumpuser_mtx *`.
#[derive(Debug)]
pub struct KernelMutex {
    state: AtomicU32,
    owner: AtomicPtr<Lwp>,
    kind: MutexKind,
}

impl KernelMutex {
    /// A new, unlocked mutex.
    pub fn new(kind: MutexKind) -> KernelMutex {
        KernelMutex {
            state: AtomicU32::new(UNLOCKED),
            owner: AtomicPtr::new(ptr::null_mut()),
            kind,
        }
    }

    /// The kind given at creation.
    pub fn kind(&self) -> MutexKind {
        self.kind
    }

    /// Takes the mutex if it is free (`rumpuser_mutex_tryenter`); never blocks.
    pub fn try_enter(&self) -> Result<(), HypercallError> {
        if self.try_acquire() {
            self.record_owner();
            Ok(())
        } else {
            Err(HypercallError::Busy)
        }
    }

    /// Takes the mutex (`rumpuser_mutex_enter`): spin mutexes as `enter_without_unscheduling`,
    /// adaptive ones release the virtual CPU while they wait.
    pub fn enter(&self) {
        if self.kind.spin {
            self.enter_without_unscheduling();
            return;
        }
        if !self.try_acquire() && !self.spin_acquire() {
            upcall::while_unscheduled(|| self.acquire_blocking());
        }
        self.record_owner();
    }

    /// Takes the mutex keeping the virtual CPU (`rumpuser_mutex_enter_nowrap`).
    pub fn enter_without_unscheduling(&self) {
        if !self.try_acquire() {
            self.acquire_contended();
        }
        self.record_owner();
    }

    /// Releases the mutex and wakes a waiter (`rumpuser_mutex_exit`).
    pub fn exit(&self) {
        self.owner.store(ptr::null_mut(), Ordering::Relaxed);
        self.release();
    }

    /// The lwp holding the mutex, or null (`rumpuser_mutex_owner`).
    pub fn owner(&self) -> *mut Lwp {
        self.owner.load(Ordering::Relaxed)
    }

    /// Whether anyone holds the mutex.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }

    /// Releases the lock word without touching the owner; condition variables use this
    /// after clearing the owner themselves.
    pub(crate) fn release(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == LOCKED_WITH_WAITERS {
            host::active().wake_word(&self.state, Wake::One);
        }
    }

    /// Clears the owner before the mutex is released inside a condition-variable wait.
    pub(crate) fn clear_owner(&self) {
        self.owner.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// Records the calling thread's lwp as the owner after an acquisition.
    pub(crate) fn record_owner(&self) {
        if self.kind.kernel_mutex {
            self.owner
                .store(host::active().current_lwp(), Ordering::Relaxed);
        }
    }

    fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Spins briefly, then blocks the host thread (keeping whatever CPU it holds).
    pub(crate) fn acquire_contended(&self) {
        if !self.spin_acquire() {
            self.acquire_blocking();
        }
    }

    fn spin_acquire(&self) -> bool {
        for _ in 0..SPIN_ATTEMPTS {
            if self.state.load(Ordering::Relaxed) == UNLOCKED && self.try_acquire() {
                return true;
            }
            hint::spin_loop();
        }
        false
    }

    fn acquire_blocking(&self) {
        while self.state.swap(LOCKED_WITH_WAITERS, Ordering::Acquire) != UNLOCKED {
            host::active().wait_on_word(&self.state, LOCKED_WITH_WAITERS, None);
        }
    }
}
