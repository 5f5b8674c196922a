//! `rumpuser_bio`: asynchronous block I/O on host files, completed by hypervisor threads
//! that call the kernel's completion function while scheduled in the rump kernel
//! (spec §3.4, §2.3 rule 4).
//!
//! Requests go to a small pool of worker threads, each bound once to an lwp of proc0. The
//! submitting hypercall releases the virtual CPU while it queues. A worker must never run a
//! completion without being scheduled, and nothing here holds the queue lock across an upcall.

use core::ffi::{c_int, c_void};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use crate::abi::{BIO_READ, BIO_SYNC, BIO_WRITE, BioDone};
use crate::error::HypercallError;
use crate::host::{self, IoBuffer, IoBufferMut};
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

struct Queue {
    requests: Mutex<VecDeque<BlockRequest>>,
    available: Condvar,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

fn queue() -> &'static Queue {
    QUEUE.get_or_init(|| {
        for index in 0..WORKER_COUNT {
            let spawned = std::thread::Builder::new()
                .name(format!("rumpbio{index}"))
                .spawn(worker);
            if let Err(error) = spawned {
                super::fatal("bio", HypercallError::from(error));
            }
        }
        Queue {
            requests: Mutex::new(VecDeque::new()),
            available: Condvar::new(),
        }
    })
}

fn worker() {
    if let Err(error) = upcall::bind_thread_to_new_lwp() {
        super::fatal("bio worker", error);
    }
    let queue = queue();
    loop {
        let request = {
            let mut requests = queue
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(request) = requests.pop_front() {
                    break request;
                }
                requests = queue
                    .available
                    .wait(requests)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        perform(request);
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
    if request.operation & BIO_READ != 0 {
        host::active().read_vectored(
            request.handle,
            &mut [IoBufferMut::new(buffer)],
            Some(offset),
        )
    } else {
        let written = host::active().write_vectored(
            request.handle,
            &[IoBuffer::new(buffer)],
            Some(offset),
        )?;
        if request.operation & BIO_SYNC != 0 {
            host::active().sync(request.handle)?;
        }
        Ok(written)
    }
}

/// Whether kernel threads are disabled (`RUMP_THREADS=0`); then I/O completes in the call.
fn runs_synchronously() -> bool {
    static SYNCHRONOUS: OnceLock<bool> = OnceLock::new();
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
        let queue = queue();
        queue
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(request);
        queue.available.notify_one();
    });
}
