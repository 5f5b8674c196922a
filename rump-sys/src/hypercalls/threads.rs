//! Shells of the thread and current-lwp hypercalls (spec §3.8).
//!
//! Threads are host threads running the rump kernel's own entry function; they start outside
//! the kernel. Only `thread_join` may release the virtual CPU here.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use core::ffi::{c_char, c_int, c_void};

use super::{fatal, status};
use crate::abi::{LWP_CLEAR, LWP_CREATE, LWP_DESTROY, LWP_SET, Lwp, ThreadEntry};
use crate::error::HypercallError;
use crate::host::{self, ThreadHandle};
use crate::pointer::{self, ForeignPointer};
use crate::upcall;

/// `int rumpuser_thread_create(void *(*)(void *), void *, const char *, int mustjoin,
/// int priority, int cpuidx, void **cookie)`
///
/// # Safety
/// `entry` must be a thread function taking `argument`; `name` a NUL-terminated string or
/// null; `cookie_out` writable for one pointer when `must_join` is nonzero.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_thread_create(
    entry: Option<ThreadEntry>,
    argument: *mut c_void,
    name: *const c_char,
    must_join: c_int,
    _priority: c_int,
    _cpu_index: c_int,
    cookie_out: *mut *mut c_void,
) -> c_int {
    status((|| {
        let entry = entry.ok_or(HypercallError::NullPointer)?;
        let name = if name.is_null() {
            "rumpthread".to_owned()
        } else {
            // SAFETY: forwarded caller promise.
            unsafe { pointer::c_string(name) }?
                .to_string_lossy()
                .into_owned()
        };
        let joinable = must_join != 0;
        let cookie_out = if joinable {
            Some(ForeignPointer::check(cookie_out, 1)?)
        } else {
            None
        };
        let handle = host::active().spawn_thread(entry, argument.addr(), &name, joinable)?;
        if let (Some(out), Some(handle)) = (cookie_out, handle) {
            // SAFETY: checked; writability is the caller's promise.
            unsafe { out.write(Box::into_raw(Box::new(handle)).cast()) };
        }
        Ok(())
    })())
}

/// `void rumpuser_thread_exit(void)`: ends the calling thread, which the kernel has already
/// unscheduled. Declared with the unwinding ABI because the host ends the thread by
/// unwinding its stack; this frame holds nothing to clean up.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C-unwind" fn rumpuser_thread_exit() -> ! {
    host::active().exit_thread()
}

/// `int rumpuser_thread_join(void *cookie)`: releases the virtual CPU while waiting.
///
/// # Safety
/// `cookie` must come from `rumpuser_thread_create` with `mustjoin` and be joined once.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_thread_join(cookie: *mut c_void) -> c_int {
    status((|| {
        let cookie = ForeignPointer::check(cookie.cast::<ThreadHandle>(), 1)?;
        // SAFETY: made by Box::into_raw in `rumpuser_thread_create`; joined only once.
        let handle = unsafe { Box::from_raw(cookie.as_ptr()) };
        let host = host::active();
        upcall::while_unscheduled(|| host.join_thread(*handle))
    })())
}

/// `void rumpuser_curlwpop(int op, struct lwp *l)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_curlwpop(operation: c_int, lwp: *mut Lwp) {
    match operation {
        LWP_CREATE | LWP_DESTROY => {}
        LWP_SET => {
            if !host::active().current_lwp().is_null() {
                fatal("curlwpop", HypercallError::Busy);
            }
            host::active().set_current_lwp(lwp);
        }
        LWP_CLEAR => {
            if host::active().current_lwp() != lwp {
                fatal("curlwpop", HypercallError::InvalidArgument);
            }
            host::active().set_current_lwp(core::ptr::null_mut());
        }
        _ => fatal("curlwpop", HypercallError::InvalidArgument),
    }
}

/// `struct lwp *rumpuser_curlwp(void)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_curlwp() -> *mut Lwp {
    host::active().current_lwp()
}
