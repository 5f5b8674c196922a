//! The rump kernel's own thread: it boots NetBSD, then runs the calls the rest of
//! the kernel makes into it, one at a time.
//!
//! NetBSD code reaches `curlwp` through `%fs` and may sleep in the middle of a call,
//! so only a kernel thread with a TLS block may enter it; the hub (the scheduler's
//! loop) and threads without TLS may not. [`call`] hands a closure to this thread
//! and waits for its answer: from a thread it blocks, from the hub it runs threads
//! until the answer is there.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use spin::Mutex;

use crate::arch;
use crate::kernel_threads::{self, ThreadOptions};

use super::host::RUMP_STACK_BYTES;

type Work = Box<dyn FnOnce() + Send + 'static>;

struct Job {
    work: Work,
    /// Set when `work` ran; on the caller's frame, which stays until it is set.
    done: *const AtomicBool,
}

// SAFETY: `done` points to an atomic the caller keeps alive until it is set.
unsafe impl Send for Job {}

static JOBS: Mutex<VecDeque<Job>> = Mutex::new(VecDeque::new());
/// Bumped with every job queued; the thread waits on it.
static QUEUED: AtomicU32 = AtomicU32::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);

fn channel_of<T>(value: &T) -> u64 {
    core::ptr::from_ref(value) as u64
}

/// Starts the thread; it runs `boot` first, then calls as they come.
pub(super) fn start(
    boot: impl FnOnce() + Send + 'static,
) -> Result<(), kernel_threads::KernelThreadError> {
    let options = ThreadOptions {
        name: "rump-kernel",
        stack_bytes: RUMP_STACK_BYTES,
        fpu: false,
        tls: true,
        joinable: false,
    };
    kernel_threads::spawn(&options, move || {
        boot();
        loop {
            let seen = QUEUED.load(Ordering::Acquire);
            let job = kernel_threads::without_preemption(|| JOBS.lock().pop_front());
            match job {
                Some(job) => {
                    (job.work)();
                    let key = job.done as u64;
                    // SAFETY: the caller keeps the atomic until it sees it set; after
                    // this store only its address (the channel key) is used.
                    unsafe { (*job.done).store(true, Ordering::Release) };
                    kernel_threads::wake_channel(key, usize::MAX);
                }
                None => {
                    let _ = kernel_threads::wait_channel_while(channel_of(&QUEUED), None, || {
                        QUEUED.load(Ordering::Acquire) == seen
                    });
                }
            }
        }
    })?;
    STARTED.store(true, Ordering::Release);
    Ok(())
}

/// Whether the rump kernel's thread runs.
pub fn running() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// Runs `work` on the rump kernel's thread and answers what it returned. Never
/// returns before `work` ran (it may borrow from the caller).
pub fn call<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    assert!(
        running(),
        "a call into the rump kernel before it was started"
    );
    let mut answer: Option<R> = None;
    let answer_slot = &mut answer;
    // On this frame, which stays until `done` is set; after setting it the rump
    // thread uses only its address (as the channel to wake).
    let done = AtomicBool::new(false);
    let done_pointer: *const AtomicBool = &raw const done;
    let work: Box<dyn FnOnce() + Send + '_> = Box::new(move || *answer_slot = Some(work()));
    // SAFETY: the closure borrows from this frame; it is only called by the rump
    // thread before `done` is set, and this function does not return (so the frame
    // stays) until `done` is set.
    let work: Work = unsafe { core::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Work>(work) };
    kernel_threads::without_preemption(|| {
        JOBS.lock().push_back(Job {
            work,
            done: done_pointer,
        })
    });
    QUEUED.fetch_add(1, Ordering::Release);
    kernel_threads::wake_channel(channel_of(&QUEUED), 1);
    if arch::in_thread() {
        while !done.load(Ordering::Acquire) {
            let _ = kernel_threads::wait_channel_while(channel_of(&done), None, || {
                !done.load(Ordering::Acquire)
            });
        }
    } else {
        while !kernel_threads::run_until(|| done.load(Ordering::Acquire), u64::MAX) {}
    }
    answer.expect("the rump thread ran the call")
}
