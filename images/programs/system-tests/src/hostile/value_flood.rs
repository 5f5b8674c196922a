//! `value-flood`: values as large as the ABI allows, to a peer that never reads.
//!
//! On a connection to its own service it first leaves a `read` of the client end
//! pending (a reply that never comes), then makes: `write`s of one 32 MiB `Bounce`
//! request until one is refused (at most [`LARGE_WRITES`]), each timed; one `ipc`
//! whose first value is 32 MiB; `write`s of 1 MiB requests until one is refused (at
//! most [`SMALL_WRITES`]). Every refusal must be `NoMemory` (the kernel heap cannot
//! hold the value) or `LimitReached` (the process would hold more kernel memory than
//! its limit), and is printed with its status: the row expects `LimitReached`, since
//! the limit is at most a quarter of the kernel heap. With a limit of 32 MiB or more
//! (the hosted platform's 64 MiB) the first 32 MiB write is queued; on the machine
//! the limit is at most 16 MiB and every 32 MiB value is refused. It then cancels
//! the read and closes every descriptor, which lets the queued values go.

use ethos_abi::Status;
use ethos_compat::results::{CONNECTION, retire_as};
use ethos_compat::{Descriptor, Event, cancel, close, get_time, import_blocking, ipc, println};

use super::{
    LARGE_BUFFER, SERVICE, advertise_service, bounce_request, connect_to_self,
    is_refusal_for_memory,
};

/// Most 32 MiB writes before one must be refused: beside the pending read, a limit
/// of at most 64 MiB holds one.
pub const LARGE_WRITES: usize = 4;
/// The size of the smaller values, a whole request each.
pub const SMALL_VALUE: usize = 1 << 20;
/// Most 1 MiB writes before one must be refused: beside the pending read, a limit
/// of 64 MiB holds 63.
pub const SMALL_WRITES: usize = 128;

/// Exit statuses of `value-flood`.
pub mod status {
    /// Advertising, connecting to itself or the pending `read` failed.
    pub const SETUP: i32 = 1;
    /// No 32 MiB `write` was refused.
    pub const LARGE_NEVER_REFUSED: i32 = 2;
    /// A 32 MiB `write` answered a failure other than a memory refusal.
    pub const LARGE_WRITE: i32 = 3;
    /// The 32 MiB `ipc` answered a failure other than a memory refusal, or the
    /// connection it made could not be taken apart.
    pub const LARGE_IPC: i32 = 4;
    /// No 1 MiB `write` was refused.
    pub const SMALL_NEVER_REFUSED: i32 = 5;
    /// A 1 MiB `write` answered a failure other than a memory refusal.
    pub const SMALL_WRITE: i32 = 6;
    /// Cancelling the `read` or closing a descriptor failed.
    pub const CLEANUP: i32 = 7;
}

const NAME: &str = "value-flood";

/// What the program holds: its service and both ends of its connection.
struct Held {
    listening: Descriptor,
    client: Descriptor,
    server: Descriptor,
}

/// `value-flood`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Some(mut buffer) = LARGE_BUFFER.try_lock() else {
        println!("{NAME}: the large buffer is taken");
        return status::SETUP;
    };
    let Ok(listening) = advertise_service(NAME) else {
        return status::SETUP;
    };
    let Ok((client, server)) = connect_to_self(NAME, listening) else {
        return status::SETUP;
    };
    let held = Held {
        listening,
        client,
        server,
    };
    let reply = match ethos_compat::read(held.client) {
        Ok(reply) => reply,
        Err(error) => {
            println!("{NAME}: read of the client end failed: {error}");
            return status::SETUP;
        }
    };
    let outcome = large_writes(&held, bounce_request(&mut buffer[..]))
        .and_then(|()| large_ipc(&held, bounce_request(&mut buffer[..])))
        .and_then(|()| small_writes(&held, bounce_request(&mut buffer[..SMALL_VALUE])));
    let cleaned = clean_up(&held, reply);
    match (outcome, cleaned) {
        (Err(status), _) | (Ok(()), Err(status)) => status,
        (Ok(()), Ok(())) => {
            println!("{NAME}: every call was answered and the kernel went on");
            0
        }
    }
}

/// 32 MiB writes until one is refused, each timed.
fn large_writes(held: &Held, value: &[u8]) -> Result<(), i32> {
    for attempt in 0..LARGE_WRITES {
        let start = get_time().unwrap_or(0);
        let answer = ethos_compat::write(held.client, value);
        let took = get_time().unwrap_or(0).saturating_sub(start);
        println!("{NAME}: 32 MiB write #{attempt} answered in {took} ns");
        match answer {
            Ok(()) => println!("{NAME}: write #{attempt} of 32 MiB queued"),
            Err(refusal) if is_refusal_for_memory(refusal) => {
                println!("{NAME}: write #{attempt} of 32 MiB refused, {refusal:?}");
                return Ok(());
            }
            Err(other) => {
                println!("{NAME}: write #{attempt} of 32 MiB answered {other:?}");
                return Err(status::LARGE_WRITE);
            }
        }
    }
    println!("{NAME}: {LARGE_WRITES} writes of 32 MiB, none refused");
    Err(status::LARGE_NEVER_REFUSED)
}

/// One `ipc` with a 32 MiB first value: refused, or a connection taken apart again.
fn large_ipc(held: &Held, value: &[u8]) -> Result<(), i32> {
    match ipc(SERVICE, "", value) {
        Err(refusal) if is_refusal_for_memory(refusal) => {
            println!("{NAME}: ipc with a 32 MiB first value refused, {refusal:?}");
            Ok(())
        }
        Err(other) => {
            println!("{NAME}: ipc with a 32 MiB first value answered {other:?}");
            Err(status::LARGE_IPC)
        }
        Ok(connected) => {
            println!("{NAME}: ipc with a 32 MiB first value connected");
            take_apart(connected, held.listening).map_err(|error| {
                println!("{NAME}: the 32 MiB connection could not be closed: {error}");
                status::LARGE_IPC
            })
        }
    }
}

/// Closes both ends of the connection `connected` made: the client end it brought,
/// and the server end, which waits in the backlog of the program's service.
fn take_apart(connected: Event, listening: Descriptor) -> Result<(), Status> {
    close(retire_as(connected, &CONNECTION)?)?;
    let (server, _) = import_blocking(listening)?;
    close(server)
}

/// 1 MiB writes until one is refused, all queued for the server end, which never
/// reads.
fn small_writes(held: &Held, value: &[u8]) -> Result<(), i32> {
    for queued in 0..SMALL_WRITES {
        match ethos_compat::write(held.client, value) {
            Ok(()) => {}
            Err(refusal) if is_refusal_for_memory(refusal) => {
                println!(
                    "{NAME}: {queued} writes of 1 MiB queued for a peer that never reads, \
                     then refused, {refusal:?}"
                );
                return Ok(());
            }
            Err(other) => {
                println!("{NAME}: write #{queued} of 1 MiB answered {other:?}");
                return Err(status::SMALL_WRITE);
            }
        }
    }
    println!("{NAME}: {SMALL_WRITES} writes of 1 MiB, none refused");
    Err(status::SMALL_NEVER_REFUSED)
}

/// Cancels the pending read and closes every descriptor: the queued values go.
fn clean_up(held: &Held, reply: Event) -> Result<(), i32> {
    cancel(reply)
        .and_then(|()| close(held.client))
        .and_then(|()| close(held.server))
        .and_then(|()| close(held.listening))
        .map_err(|error| {
            println!("{NAME}: cleaning up failed: {error}");
            status::CLEANUP
        })
}
