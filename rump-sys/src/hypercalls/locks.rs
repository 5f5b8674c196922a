//! Shells of the mutex, rwlock and condition-variable hypercalls (spec §3.9–§3.11).
//!
//! Handles are `Box`ed kernel objects whose addresses the rump kernel stores; every handle
//! is checked by [`ForeignPointer::check`] before use. No locking logic lives here.

use alloc::boxed::Box;
use core::ffi::c_int;
use core::time::Duration;

use super::{or_fatal, status};
use crate::abi::Lwp;
use crate::pointer::ForeignPointer;
use crate::sync::condvar::KernelCondvar;
use crate::sync::mutex::{KernelMutex, MutexKind};
use crate::sync::rwlock::{KernelRwLock, LockMode};

/// The object behind a handle.
///
/// # Safety
/// `handle` must be null or a pointer made by the matching `*_init` and not yet destroyed.
unsafe fn object<'a, T>(hypercall: &str, handle: *mut T) -> &'a T {
    let checked = or_fatal(hypercall, ForeignPointer::check(handle, 1));
    // SAFETY: checked non-null and aligned; the caller promises it is a live object made by
    // `*_init`, which the kernel destroys only once nobody uses it.
    unsafe { checked.as_ref() }
}

/// Stores a newly made object into the kernel's out-pointer.
///
/// # Safety
/// `out` must be null or writable for one pointer.
unsafe fn store_new<T>(hypercall: &str, out: *mut *mut T, value: T) {
    let checked = or_fatal(hypercall, ForeignPointer::check(out, 1));
    // SAFETY: checked non-null and aligned; writability is the caller's promise.
    unsafe { checked.write(Box::into_raw(Box::new(value))) };
}

/// Frees an object made by `store_new`.
///
/// # Safety
/// `handle` must come from `store_new` and not be used afterwards.
unsafe fn destroy<T>(hypercall: &str, handle: *mut T) {
    let checked = or_fatal(hypercall, ForeignPointer::check(handle, 1));
    // SAFETY: made by Box::into_raw in `store_new`; the caller promises it is unused now.
    drop(unsafe { Box::from_raw(checked.as_ptr()) });
}

/// `void rumpuser_mutex_init(struct rumpuser_mtx **, int)`
///
/// # Safety
/// `mutex_out` must be writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_init(mutex_out: *mut *mut KernelMutex, flags: c_int) {
    let kind = or_fatal("mutex_init", MutexKind::from_flags(flags));
    // SAFETY: forwarded caller promise.
    unsafe { store_new("mutex_init", mutex_out, KernelMutex::new(kind)) };
}

/// `void rumpuser_mutex_enter(struct rumpuser_mtx *)`
///
/// # Safety
/// `mutex` must be a live handle from `rumpuser_mutex_init`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_enter(mutex: *mut KernelMutex) {
    // SAFETY: forwarded caller promise.
    unsafe { object("mutex_enter", mutex) }.enter();
}

/// `void rumpuser_mutex_enter_nowrap(struct rumpuser_mtx *)`
///
/// # Safety
/// `mutex` must be a live handle from `rumpuser_mutex_init`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_enter_nowrap(mutex: *mut KernelMutex) {
    // SAFETY: forwarded caller promise.
    unsafe { object("mutex_enter_nowrap", mutex) }.enter_without_unscheduling();
}

/// `int rumpuser_mutex_tryenter(struct rumpuser_mtx *)`
///
/// # Safety
/// `mutex` must be a live handle from `rumpuser_mutex_init`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_tryenter(mutex: *mut KernelMutex) -> c_int {
    // SAFETY: forwarded caller promise.
    status(unsafe { object("mutex_tryenter", mutex) }.try_enter())
}

/// `void rumpuser_mutex_exit(struct rumpuser_mtx *)`
///
/// # Safety
/// `mutex` must be a live handle from `rumpuser_mutex_init`, held.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_exit(mutex: *mut KernelMutex) {
    // SAFETY: forwarded caller promise.
    unsafe { object("mutex_exit", mutex) }.exit();
}

/// `void rumpuser_mutex_destroy(struct rumpuser_mtx *)`
///
/// # Safety
/// `mutex` must be a live, unlocked handle nobody uses afterwards.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_destroy(mutex: *mut KernelMutex) {
    // SAFETY: forwarded caller promise.
    unsafe { destroy("mutex_destroy", mutex) };
}

/// `void rumpuser_mutex_owner(struct rumpuser_mtx *, struct lwp **)`
///
/// # Safety
/// `mutex` must be a live handle; `owner_out` writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_mutex_owner(mutex: *mut KernelMutex, owner_out: *mut *mut Lwp) {
    // SAFETY: forwarded caller promise.
    let owner = unsafe { object("mutex_owner", mutex) }.owner();
    let out = or_fatal("mutex_owner", ForeignPointer::check(owner_out, 1));
    // SAFETY: checked; writability is the caller's promise.
    unsafe { out.write(owner) };
}

/// `void rumpuser_rw_init(struct rumpuser_rw **)`
///
/// # Safety
/// `lock_out` must be writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_init(lock_out: *mut *mut KernelRwLock) {
    // SAFETY: forwarded caller promise.
    unsafe { store_new("rw_init", lock_out, KernelRwLock::new()) };
}

/// `void rumpuser_rw_enter(int, struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live handle from `rumpuser_rw_init`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_enter(mode: c_int, lock: *mut KernelRwLock) {
    let mode = or_fatal("rw_enter", LockMode::from_raw(mode));
    // SAFETY: forwarded caller promise.
    unsafe { object("rw_enter", lock) }.enter(mode);
}

/// `int rumpuser_rw_tryenter(int, struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live handle from `rumpuser_rw_init`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_tryenter(mode: c_int, lock: *mut KernelRwLock) -> c_int {
    let result = LockMode::from_raw(mode).and_then(|mode| {
        // SAFETY: forwarded caller promise.
        unsafe { object("rw_tryenter", lock) }.try_enter(mode)
    });
    status(result)
}

/// `int rumpuser_rw_tryupgrade(struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live handle held shared by the caller.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_tryupgrade(lock: *mut KernelRwLock) -> c_int {
    // SAFETY: forwarded caller promise.
    status(unsafe { object("rw_tryupgrade", lock) }.try_upgrade())
}

/// `void rumpuser_rw_downgrade(struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live handle held exclusively by the caller.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_downgrade(lock: *mut KernelRwLock) {
    // SAFETY: forwarded caller promise.
    unsafe { object("rw_downgrade", lock) }.downgrade();
}

/// `void rumpuser_rw_exit(struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live handle held by the caller.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_exit(lock: *mut KernelRwLock) {
    // SAFETY: forwarded caller promise.
    unsafe { object("rw_exit", lock) }.exit();
}

/// `void rumpuser_rw_destroy(struct rumpuser_rw *)`
///
/// # Safety
/// `lock` must be a live, free handle nobody uses afterwards.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_destroy(lock: *mut KernelRwLock) {
    // SAFETY: forwarded caller promise.
    unsafe { destroy("rw_destroy", lock) };
}

/// `void rumpuser_rw_held(int, struct rumpuser_rw *, int *)`
///
/// # Safety
/// `lock` must be a live handle; `held_out` writable for one `int`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_rw_held(
    mode: c_int,
    lock: *mut KernelRwLock,
    held_out: *mut c_int,
) {
    let mode = or_fatal("rw_held", LockMode::from_raw(mode));
    // SAFETY: forwarded caller promise.
    let held = unsafe { object("rw_held", lock) }.is_held(mode);
    let out = or_fatal("rw_held", ForeignPointer::check(held_out, 1));
    // SAFETY: checked; writability is the caller's promise.
    unsafe { out.write(c_int::from(held)) };
}

/// `void rumpuser_cv_init(struct rumpuser_cv **)`
///
/// # Safety
/// `condvar_out` must be writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_init(condvar_out: *mut *mut KernelCondvar) {
    // SAFETY: forwarded caller promise.
    unsafe { store_new("cv_init", condvar_out, KernelCondvar::new()) };
}

/// `void rumpuser_cv_destroy(struct rumpuser_cv *)`
///
/// # Safety
/// `condvar` must be a live handle nobody waits on or uses afterwards.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_destroy(condvar: *mut KernelCondvar) {
    // SAFETY: forwarded caller promise.
    unsafe { destroy("cv_destroy", condvar) };
}

/// `void rumpuser_cv_wait(struct rumpuser_cv *, struct rumpuser_mtx *)`
///
/// # Safety
/// Both must be live handles; the mutex held unless it is the scheduler interlock.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_wait(condvar: *mut KernelCondvar, mutex: *mut KernelMutex) {
    // SAFETY: forwarded caller promise.
    let (condvar, mutex) = unsafe { (object("cv_wait", condvar), object("cv_wait", mutex)) };
    condvar.wait(mutex);
}

/// `void rumpuser_cv_wait_nowrap(struct rumpuser_cv *, struct rumpuser_mtx *)`
///
/// # Safety
/// Both must be live handles; the mutex held by the caller.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_wait_nowrap(
    condvar: *mut KernelCondvar,
    mutex: *mut KernelMutex,
) {
    // SAFETY: forwarded caller promise.
    let (condvar, mutex) = unsafe {
        (
            object("cv_wait_nowrap", condvar),
            object("cv_wait_nowrap", mutex),
        )
    };
    condvar.wait_without_unscheduling(mutex);
}

/// `int rumpuser_cv_timedwait(struct rumpuser_cv *, struct rumpuser_mtx *, int64_t, int64_t)`
///
/// # Safety
/// Both must be live handles; the mutex held unless it is the scheduler interlock.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_timedwait(
    condvar: *mut KernelCondvar,
    mutex: *mut KernelMutex,
    seconds: i64,
    nanoseconds: i64,
) -> c_int {
    // SAFETY: forwarded caller promise.
    let (condvar, mutex) = unsafe {
        (
            object("cv_timedwait", condvar),
            object("cv_timedwait", mutex),
        )
    };
    let timeout = relative_timeout(seconds, nanoseconds);
    status(condvar.timed_wait(mutex, timeout))
}

/// A relative timeout from C; negative parts count as zero.
fn relative_timeout(seconds: i64, nanoseconds: i64) -> Duration {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    let nanoseconds = u64::try_from(nanoseconds).unwrap_or(0);
    Duration::from_secs(seconds).saturating_add(Duration::from_nanos(nanoseconds))
}

/// `void rumpuser_cv_signal(struct rumpuser_cv *)`
///
/// # Safety
/// `condvar` must be a live handle.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_signal(condvar: *mut KernelCondvar) {
    // SAFETY: forwarded caller promise.
    unsafe { object("cv_signal", condvar) }.signal();
}

/// `void rumpuser_cv_broadcast(struct rumpuser_cv *)`
///
/// # Safety
/// `condvar` must be a live handle.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_broadcast(condvar: *mut KernelCondvar) {
    // SAFETY: forwarded caller promise.
    unsafe { object("cv_broadcast", condvar) }.broadcast();
}

/// `void rumpuser_cv_has_waiters(struct rumpuser_cv *, int *)`
///
/// # Safety
/// `condvar` must be a live handle; `waiters_out` writable for one `int`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_cv_has_waiters(
    condvar: *mut KernelCondvar,
    waiters_out: *mut c_int,
) {
    // SAFETY: forwarded caller promise.
    let waiters = unsafe { object("cv_has_waiters", condvar) }.waiter_count();
    let out = or_fatal("cv_has_waiters", ForeignPointer::check(waiters_out, 1));
    // SAFETY: checked; writability is the caller's promise.
    unsafe { out.write(c_int::try_from(waiters).unwrap_or(c_int::MAX)) };
}
