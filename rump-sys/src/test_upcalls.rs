//! A stand-in for the rump kernel's scheduler in unit tests: an upcall table that records,
//! per host thread, whether the thread holds its (pretend) virtual CPU, and checks the
//! protocol of spec §2.3 — no double unschedule, the lock count handed back unchanged, and
//! the scheduler-interlock case (the mutex taken by unschedule, released by schedule).

use core::cell::Cell;
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::abi::HyperUpcalls;
use crate::sync::mutex::KernelMutex;

/// Big-lock levels the pretend kernel reports as dropped; must come back unchanged.
const PRETEND_LOCK_LEVELS: c_int = 3;

static VIOLATIONS: AtomicU32 = AtomicU32::new(0);
static SCHEDULER_INTERLOCK: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

std::thread_local! {
    static OUTSIDE: Cell<bool> = const { Cell::new(false) };
    static UNSCHEDULE_COUNT: Cell<u32> = const { Cell::new(0) };
}

unsafe extern "C" fn backend_unschedule(
    _levels: c_int,
    count_out: *mut c_int,
    interlock: *mut c_void,
) {
    if OUTSIDE.get() {
        VIOLATIONS.fetch_add(1, Ordering::SeqCst);
    }
    if interlock == SCHEDULER_INTERLOCK.load(Ordering::SeqCst) && !interlock.is_null() {
        // SAFETY: the registered interlock is a leaked KernelMutex.
        unsafe { &*interlock.cast::<KernelMutex>() }.enter_without_unscheduling();
    }
    OUTSIDE.set(true);
    UNSCHEDULE_COUNT.set(UNSCHEDULE_COUNT.get() + 1);
    // SAFETY: the hypercall layer passes a valid out-pointer.
    unsafe { *count_out = PRETEND_LOCK_LEVELS };
}

unsafe extern "C" fn backend_schedule(levels: c_int, interlock: *mut c_void) {
    if !OUTSIDE.get() || levels != PRETEND_LOCK_LEVELS {
        VIOLATIONS.fetch_add(1, Ordering::SeqCst);
    }
    OUTSIDE.set(false);
    if interlock == SCHEDULER_INTERLOCK.load(Ordering::SeqCst) && !interlock.is_null() {
        // SAFETY: the registered interlock is a leaked KernelMutex, held by this thread now.
        let mutex = unsafe { &*interlock.cast::<KernelMutex>() };
        if !mutex.is_locked() {
            VIOLATIONS.fetch_add(1, Ordering::SeqCst);
        }
        mutex.exit();
    }
}

/// Installs the recording table, once for all tests of the process.
pub(crate) fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(install_table);
}

fn install_table() {
    let table = HyperUpcalls {
        schedule: None,
        unschedule: None,
        backend_unschedule: Some(backend_unschedule),
        backend_schedule: Some(backend_schedule),
        lwproc_switch: None,
        lwproc_release: None,
        lwproc_rfork: None,
        lwproc_newlwp: None,
        lwproc_curlwp: None,
        syscall: None,
        lwpexit: None,
        execnotify: None,
        getpid: None,
        reserved: [ptr::null_mut(); 8],
    };
    crate::upcall::install(table).expect("one recording table for all tests");
}

/// Makes `mutex` behave like a virtual CPU's scheduler mutex (`rcpu_mtx`).
pub(crate) fn register_scheduler_interlock(mutex: &'static KernelMutex) {
    SCHEDULER_INTERLOCK.store(ptr::from_ref(mutex).cast_mut().cast(), Ordering::SeqCst);
}

/// How often the calling thread gave its virtual CPU back.
pub(crate) fn unschedule_count() -> u32 {
    UNSCHEDULE_COUNT.get()
}

/// Whether the calling thread holds its virtual CPU.
pub(crate) fn is_scheduled() -> bool {
    !OUTSIDE.get()
}

/// Protocol violations seen so far by any thread.
pub(crate) fn violations() -> u32 {
    VIOLATIONS.load(Ordering::SeqCst)
}
