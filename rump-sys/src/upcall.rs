//! The upcall table the rump kernel registers in `rumpuser_init`, and the scheduling protocol
//! built on it: giving the virtual CPU back before blocking and taking it again afterwards
//! (spec §2.3), and binding hypervisor-owned threads to an lwp (§2.2).
//!
//! Upcalls re-enter the hypercall layer (they take rumpuser mutexes and wait on rumpuser
//! condition variables), so nothing in this crate may hold one of its own internal locks
//! across a call made from here. Before `rumpuser_init` (or in unit tests without a rump
//! kernel) every upcall is a no-op.

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::abi::{HyperUpcalls, Lwp};
use crate::error::HypercallError;
use crate::once::OnceSlot;
use crate::sync::mutex::KernelMutex;

static UPCALLS: OnceSlot<HyperUpcalls> = OnceSlot::new();

/// Stores the rump kernel's upcall table; a process boots one rump kernel, so only once.
pub fn install(table: HyperUpcalls) -> Result<(), HypercallError> {
    UPCALLS
        .set(table)
        .map_err(|_| HypercallError::AlreadyInitialized)
}

/// Whether a rump kernel has registered its upcalls.
pub fn installed() -> bool {
    UPCALLS.get().is_some()
}

/// How many recursion levels of the big kernel lock a thread dropped when it gave up its
/// virtual CPU; must be handed back unchanged to [`schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the lock count must be passed back to schedule"]
pub struct BigLockCount(c_int);

impl BigLockCount {
    /// No big-lock levels (a hypervisor thread entering without the big lock).
    pub const NONE: BigLockCount = BigLockCount(0);
    /// One level: the big lock held, as for running driver interrupt handlers.
    pub const ONE: BigLockCount = BigLockCount(1);

    /// The count as the C interface carries it.
    pub fn raw(self) -> c_int {
        self.0
    }

    /// A count carried through C as an integer (`rumpuser_component_schedule`'s cookie).
    pub fn from_raw(raw: c_int) -> BigLockCount {
        BigLockCount(raw)
    }
}

/// The interlock argument of the backend upcalls: a mutex the kernel compares with its
/// virtual CPU's scheduler mutex, never dereferenced by this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interlock(*mut c_void);

impl Interlock {
    /// No interlock: plain blocking.
    pub const NONE: Interlock = Interlock(ptr::null_mut());

    /// The mutex of a condition-variable wait.
    pub fn of(mutex: &KernelMutex) -> Interlock {
        Interlock(ptr::from_ref(mutex).cast_mut().cast())
    }
}

/// Gives the calling thread's virtual CPU back (`hyp_backend_unschedule`). With `interlock`
/// equal to the CPU's scheduler mutex the kernel returns with that mutex held (spec §2.3).
pub fn unschedule(interlock: Interlock) -> BigLockCount {
    let mut count: c_int = 0;
    if let Some(function) = UPCALLS.get().and_then(|table| table.backend_unschedule) {
        // SAFETY: the function comes from the rump kernel's upcall table; it takes the
        // count out-pointer (valid for the call) and an opaque interlock value.
        unsafe { function(0, &mut count, interlock.0) };
    }
    BigLockCount(count)
}

/// Takes a virtual CPU again (`hyp_backend_schedule`) and the big lock `count` times.
pub fn schedule(count: BigLockCount, interlock: Interlock) {
    if let Some(function) = UPCALLS.get().and_then(|table| table.backend_schedule) {
        // SAFETY: the function comes from the rump kernel's upcall table; arguments are a
        // count previously returned by unschedule and an opaque interlock value.
        unsafe { function(count.0, interlock.0) };
    }
}

/// Runs a blocking host operation with the virtual CPU released (spec §2.3 rule 1).
pub fn while_unscheduled<R>(operation: impl FnOnce() -> R) -> R {
    let count = unschedule(Interlock::NONE);
    let result = operation();
    schedule(count, Interlock::NONE);
    result
}

/// Runs `operation` inside the rump kernel from a hypervisor thread that is bound to an lwp
/// but not scheduled (completion callbacks, spec §2.3 rule 4).
pub fn while_scheduled<R>(count: BigLockCount, operation: impl FnOnce() -> R) -> R {
    schedule(count, Interlock::NONE);
    let result = operation();
    let _released = unschedule(Interlock::NONE);
    result
}

fn with_full_schedule<R>(operation: impl FnOnce(&HyperUpcalls) -> R) -> Option<R> {
    let table = UPCALLS.get()?;
    let (enter, leave) = (table.schedule?, table.unschedule?);
    // SAFETY: upcall from the kernel's own table; the calling thread is outside the kernel.
    unsafe { enter() };
    let result = operation(table);
    // SAFETY: pairs with the schedule above.
    unsafe { leave() };
    Some(result)
}

/// Binds the calling foreign host thread to a new lwp in proc0, once, so it can later enter
/// with [`schedule`] (`hyp_schedule; hyp_lwproc_newlwp(0); hyp_unschedule`).
pub fn bind_thread_to_new_lwp() -> Result<(), HypercallError> {
    let result = with_full_schedule(|table| match table.lwproc_newlwp {
        // SAFETY: called while scheduled, as the upcall requires.
        Some(newlwp) => unsafe { newlwp(0) },
        None => crate::errno::NetbsdErrno::ENOSYS.value(),
    });
    match result {
        Some(0) | None => Ok(()),
        Some(error) => Err(HypercallError::Host(
            crate::errno::NetbsdErrno::from_netbsd(error),
        )),
    }
}

/// Drops the calling thread's lwp (`hyp_lwproc_release` while scheduled).
pub fn release_thread_lwp() {
    with_full_schedule(|table| {
        if let Some(release) = table.lwproc_release {
            // SAFETY: called while scheduled, as the upcall requires.
            unsafe { release() };
        }
    });
}

/// The calling thread's lwp as the rump kernel sees it (`hyp_lwproc_curlwp` while scheduled).
pub fn kernel_current_lwp() -> *mut Lwp {
    with_full_schedule(|table| match table.lwproc_curlwp {
        // SAFETY: called while scheduled, as the upcall requires.
        Some(current) => unsafe { current() },
        None => ptr::null_mut(),
    })
    .unwrap_or(ptr::null_mut())
}

/// Switches the calling thread to `lwp` (`hyp_lwproc_switch` while scheduled).
///
/// # Safety
/// `lwp` must be null or an lwp of the rump kernel.
pub unsafe fn switch_thread_lwp(lwp: *mut Lwp) {
    with_full_schedule(|table| {
        if let Some(switch) = table.lwproc_switch {
            // SAFETY: called while scheduled; `lwp` is the caller's allegation, passed on
            // unread to the kernel which owns lwps.
            unsafe { switch(lwp) };
        }
    });
}

/// The operations a system call proxy server performs on behalf of a remote client, each
/// inside its own `hyp_schedule`/`hyp_unschedule` bracket (spec §3.14). They return
/// ENXIO-like errors from the kernel unless librumpkern_sysproxy is linked.
pub mod remote {
    use core::ffi::{c_char, c_int, c_long, c_void};

    use super::with_full_schedule;
    use crate::abi::{Lwp, NetbsdPid};
    use crate::errno::NetbsdErrno;

    /// Makes a new process for a remote client identified by `client` (the cookie the
    /// kernel hands back in `rumpuser_sp_*`) and switches the calling thread to its lwp
    /// (`hyp_lwproc_rfork`); returns a NetBSD errno.
    ///
    /// # Safety
    /// `command` must be null or a NUL-terminated string; `client` must stay valid for as
    /// long as the kernel may pass it back.
    pub unsafe fn fork_process(client: *mut c_void, flags: c_int, command: *const c_char) -> c_int {
        with_full_schedule(|table| match table.lwproc_rfork {
            // SAFETY: called while scheduled; the arguments are the caller's promises.
            Some(rfork) => unsafe { rfork(client, flags, command) },
            None => NetbsdErrno::ENOSYS.value(),
        })
        .unwrap_or(NetbsdErrno::ENOSYS.value())
    }

    /// Gives the calling thread a new lwp in process `pid` (`hyp_lwproc_newlwp`).
    pub fn new_lwp(pid: NetbsdPid) -> c_int {
        with_full_schedule(|table| match table.lwproc_newlwp {
            // SAFETY: called while scheduled, as the upcall requires.
            Some(newlwp) => unsafe { newlwp(pid) },
            None => NetbsdErrno::ENOSYS.value(),
        })
        .unwrap_or(NetbsdErrno::ENOSYS.value())
    }

    /// Runs system call `number` with arguments at `arguments` as the calling thread's lwp
    /// (`hyp_syscall`); returns a NetBSD errno, the two return registers in `values`.
    ///
    /// # Safety
    /// `arguments` must hold the argument block of that system call, aligned for
    /// `register_t`.
    pub unsafe fn system_call(
        number: c_int,
        arguments: *mut c_void,
        values: &mut [c_long; 2],
    ) -> c_int {
        with_full_schedule(|table| match table.syscall {
            // SAFETY: called while scheduled; `values` is writable for two longs and the
            // argument block is the caller's promise.
            Some(syscall) => unsafe { syscall(number, arguments, values.as_mut_ptr()) },
            None => NetbsdErrno::ENOSYS.value(),
        })
        .unwrap_or(NetbsdErrno::ENOSYS.value())
    }

    /// Tells every lwp of the calling thread's process to exit (`hyp_lwpexit`).
    pub fn exit_lwps() {
        with_full_schedule(|table| {
            if let Some(lwpexit) = table.lwpexit {
                // SAFETY: called while scheduled, as the upcall requires.
                unsafe { lwpexit() };
            }
        });
    }

    /// The pid of the calling thread's process (`hyp_getpid`); 0 without a kernel.
    pub fn process_id() -> NetbsdPid {
        with_full_schedule(|table| match table.getpid {
            // SAFETY: called while scheduled, as the upcall requires.
            Some(getpid) => unsafe { getpid() },
            None => 0,
        })
        .unwrap_or(0)
    }

    /// The calling thread's lwp ([`super::kernel_current_lwp`]).
    pub fn current_lwp() -> *mut Lwp {
        super::kernel_current_lwp()
    }
}
