//! `rumpuser_bio`: asynchronous block I/O on host files, completed by hypervisor threads
//! that call the kernel's completion function while scheduled in the rump kernel
//! (spec §3.4, §2.3 rule 4).
//!
//! Requests go to a small pool of worker threads made through the host
//! ([`Host::spawn_thread`](crate::host::Host::spawn_thread)), each bound once to an lwp of
//! proc0. The queue is guarded by the crate's own mutex and condition variable in their
//! `nowrap` forms, so it needs no `std` and never touches a virtual CPU. The submitting
//! hypercall releases the virtual CPU while it queues. A worker must never run a completion
//! without being scheduled, and nothing here holds the queue lock across an upcall.

use alloc::collections::VecDeque;
use alloc::format;
use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::abi::{BIO_READ, BIO_SYNC, BIO_WRITE, BioDone};
use crate::error::HypercallError;
use crate::host::{self, IoBuffer, IoBufferMut};
use crate::once::OnceSlot;
use crate::sync::condvar::KernelCondvar;
use crate::sync::mutex::{KernelMutex, MutexKind};
use crate::upcall::{self, BigLockCount};

/// Worker threads serving block I/O.
const WORKER_COUNT: usize = 2;

/// One asynchronous block I/O request, as the kernel described it.
#[derive(Debug)]
struct BlockRequest {
    handle: c_int,
    operation: c_int,
    data: *mut u8,
    length: usize,
    offset: i64,
    done: BioDone,
    done_argument: *mut c_void,
}

// SAFETY: the kernel hands the buffer and completion argument over to the hypervisor until
// `done` is called; exactly one worker owns the request in that time.
unsafe impl Send for BlockRequest {}

/// Requests waiting for a worker, first in first out.
struct Queue {
    /// Guards `requests`; a spin-kind mutex without owner tracking, taken only with the
    /// `nowrap` path.
    lock: KernelMutex,
    /// Idle workers wait here (the `nowrap` wait).
    available: KernelCondvar,
    requests: UnsafeCell<VecDeque<BlockRequest>>,
}

// SAFETY: `requests` is only accessed with `lock` held (`push`, `pop_or_wait`), and the
// requests it holds are `Send`.
unsafe impl Sync for Queue {}

impl Queue {
    fn new() -> Queue {
        Queue {
            lock: KernelMutex::new(MutexKind {
                spin: true,
                kernel_mutex: false,
            }),
            available: KernelCondvar::new(),
            requests: UnsafeCell::new(VecDeque::new()),
        }
    }

    fn push(&self, request: BlockRequest) {
        self.lock.enter_without_unscheduling();
        // SAFETY: `lock` is held, so this is the only reference to the FIFO.
        unsafe { (*self.requests.get()).push_back(request) };
        self.lock.exit();
        self.available.signal();
    }

    /// The oldest request, waiting (without a virtual CPU) until there is one.
    fn pop_or_wait(&self) -> BlockRequest {
        self.lock.enter_without_unscheduling();
        loop {
            // SAFETY: `lock` is held; the reference ends before the wait releases it.
            if let Some(request) = unsafe { (*self.requests.get()).pop_front() } {
                self.lock.exit();
                return request;
            }
            self.available.wait_without_unscheduling(&self.lock);
        }
    }
}

static QUEUE: OnceSlot<Queue> = OnceSlot::new();
static WORKERS_STARTED: AtomicBool = AtomicBool::new(false);

/// The queue, with its workers started by the first caller.
fn queue() -> &'static Queue {
    let queue = QUEUE.get_or_init(Queue::new);
    if !WORKERS_STARTED.load(Ordering::Acquire) && !WORKERS_STARTED.swap(true, Ordering::AcqRel) {
        start_workers(queue);
    }
    queue
}

fn start_workers(queue: &'static Queue) {
    let host = host::active();
    let argument = ptr::from_ref(queue).expose_provenance();
    for index in 0..WORKER_COUNT {
        let name = format!("rumpbio{index}");
        if let Err(error) = host.spawn_thread(worker_entry, argument, &name, false) {
            super::fatal("bio", error);
        }
    }
}

/// Entry of a worker thread: `argument` is the address of the queue.
unsafe extern "C-unwind" fn worker_entry(argument: *mut c_void) -> *mut c_void {
    // SAFETY: `start_workers` passes the (exposed) address of the static queue.
    let queue = unsafe { &*argument.cast::<Queue>() };
    worker(queue)
}

fn worker(queue: &Queue) -> ! {
    if let Err(error) = upcall::bind_thread_to_new_lwp() {
        super::fatal("bio worker", error);
    }
    loop {
        perform(queue.pop_or_wait());
    }
}

/// Does the I/O on the host, then calls the completion inside the kernel.
fn perform(request: BlockRequest) {
    let result = transfer(&request);
    let (transferred, error) = match result {
        Ok(count) => (count, 0),
        Err(error) => (0, error.errno().value()),
    };
    upcall::while_scheduled(BigLockCount::NONE, || {
        // SAFETY: `done` and its argument come from the kernel for exactly this request;
        // the calling thread is scheduled, as completions require.
        unsafe { (request.done)(request.done_argument, transferred, error) }
    });
}

fn transfer(request: &BlockRequest) -> Result<usize, HypercallError> {
    let offset = u64::try_from(request.offset).map_err(|_| HypercallError::InvalidArgument)?;
    if request.length == 0 {
        return Ok(0);
    }
    if request.data.is_null() {
        return Err(HypercallError::NullPointer);
    }
    // SAFETY: the kernel lends `length` bytes at `data` until the completion is called.
    let buffer = unsafe { core::slice::from_raw_parts_mut(request.data, request.length) };
    let host = host::active();
    if request.operation & BIO_READ != 0 {
        host.read_vectored(
            request.handle,
            &mut [IoBufferMut::new(buffer)],
            Some(offset),
        )
    } else {
        let written =
            host.write_vectored(request.handle, &[IoBuffer::new(buffer)], Some(offset))?;
        if request.operation & BIO_SYNC != 0 {
            host.sync(request.handle)?;
        }
        Ok(written)
    }
}

/// Whether kernel threads are disabled (`RUMP_THREADS=0`); then I/O completes in the call.
fn runs_synchronously() -> bool {
    static SYNCHRONOUS: OnceSlot<bool> = OnceSlot::new();
    *SYNCHRONOUS.get_or_init(|| {
        host::active()
            .configuration_value("RUMP_THREADS")
            .as_deref()
            == Some("0")
    })
}

/// `void rumpuser_bio(int fd, int op, void *data, size_t dlen, int64_t off,
/// rump_biodone_fn done, void *donearg)`
///
/// # Safety
/// `data` must stay valid for `length` bytes until `done` is called; `done` must be the
/// kernel's completion function for `done_argument`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_bio(
    handle: c_int,
    operation: c_int,
    data: *mut c_void,
    length: usize,
    offset: i64,
    done: Option<BioDone>,
    done_argument: *mut c_void,
) {
    let Some(done) = done else {
        super::fatal("bio", HypercallError::NullPointer);
    };
    if operation & (BIO_READ | BIO_WRITE) == 0 {
        super::fatal("bio", HypercallError::InvalidArgument);
    }
    let request = BlockRequest {
        handle,
        operation,
        data: data.cast(),
        length,
        offset,
        done,
        done_argument,
    };
    upcall::while_unscheduled(|| {
        if runs_synchronously() {
            perform(request);
            return;
        }
        queue().push(request);
    });
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::vec::Vec;

    unsafe extern "C" fn never_called(_argument: *mut c_void, _count: usize, _error: c_int) {}

    fn request(handle: c_int) -> BlockRequest {
        BlockRequest {
            handle,
            operation: BIO_READ,
            data: ptr::null_mut(),
            length: 0,
            offset: 0,
            done: never_called,
            done_argument: ptr::null_mut(),
        }
    }

    #[test]
    fn queue_hands_requests_to_a_waiting_worker_in_order() {
        let queue = Arc::new(Queue::new());
        let worker = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                (0..1000)
                    .map(|_| queue.pop_or_wait().handle)
                    .collect::<Vec<_>>()
            })
        };
        for handle in 0..1000 {
            queue.push(request(handle));
            if handle % 100 == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(worker.join().unwrap(), (0..1000).collect::<Vec<_>>());
    }
}
