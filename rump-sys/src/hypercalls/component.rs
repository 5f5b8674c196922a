//! The `rumpuser_component_*` helpers that host-side halves of rump components (shmif,
//! virtif, sockin) call to leave and re-enter the rump kernel (spec §3.15).
//!
//! They are the scheduling protocol of [`crate::upcall`] with C types; no logic of their own.

use core::ffi::{c_int, c_void};

use crate::abi::Lwp;
use crate::errno::NetbsdErrno;
use crate::upcall::{self, BigLockCount, Interlock};

/// `void *rumpuser_component_unschedule(void)`: the lock count travels as the cookie.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_unschedule() -> *mut c_void {
    let count = upcall::unschedule(Interlock::NONE);
    core::ptr::without_provenance_mut(usize::try_from(count.raw()).unwrap_or(0))
}

/// `void rumpuser_component_schedule(void *cookie)`: a null cookie means no big lock.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_schedule(cookie: *mut c_void) {
    let count = c_int::try_from(cookie.addr()).unwrap_or(0);
    upcall::schedule(BigLockCount::from_raw(count), Interlock::NONE);
}

/// `void rumpuser_component_kthread(void)`: binds the calling host thread to a new lwp.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_kthread() {
    if let Err(error) = upcall::bind_thread_to_new_lwp() {
        super::fatal("component_kthread", error);
    }
}

/// `void rumpuser_component_kthread_release(void)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_kthread_release() {
    upcall::release_thread_lwp();
}

/// `struct lwp *rumpuser_component_curlwp(void)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_curlwp() -> *mut Lwp {
    upcall::kernel_current_lwp()
}

/// `void rumpuser_component_switchlwp(struct lwp *)`
///
/// # Safety
/// `lwp` must be null or an lwp of the rump kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_component_switchlwp(lwp: *mut Lwp) {
    // SAFETY: forwarded caller promise.
    unsafe { upcall::switch_thread_lwp(lwp) };
}

/// `int rumpuser_component_errtrans(int hosterr)`: host errno to NetBSD errno.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_component_errtrans(host_error: c_int) -> c_int {
    NetbsdErrno::from_host(host_error).value()
}
