//! The hostile programs: each does what once took the kernel down — asks it to hold
//! more than it has, leaves waiters behind by the hundred thousand, ends processes
//! while they wait or by the thousand, blocks where nothing can wake it, prints
//! megabytes at once — and checks that every call is answered with a status while
//! the program goes on. Run as `mallory`, who is granted her own service and the
//! descriptors she sends herself, nothing else; the rows `process-<program>` (`tests/src/hostile.rs`) check each
//! ending and that the kernel heap ends where it began.
//!
//! - [`value_flood`]: `write` and `ipc` of 32 MiB values, then 1 MiB values to a
//!   peer that never reads, until refused;
//! - [`peek_flood`]: `peek` of a 256 KiB message until refused;
//! - [`cancel_churn`]: `beep`, `read`, `import` and `fdReceive`, each cancelled,
//!   100,000 rounds of each;
//! - [`kill_waiting`]: children killed while they wait, children that exit with
//!   timers set;
//! - [`fork_churn`]: 2,000 short-lived children;
//! - [`deadlock`]: a cancelled timer, then `block` on what never comes;
//! - [`print_flood`]: a 32 MiB `print` and maximal ones, beside `tick-counter`.
//!
//! These programs talk to themselves: [`connect_to_self`] gives both ends of a
//! connection to their own service, so a peer that never reads or never writes is
//! the program itself.

pub mod cancel_churn;
pub mod deadlock;
pub mod fork_churn;
pub mod kill_waiting;
pub mod peek_flood;
pub mod print_flood;
pub mod value_flood;

use ethos_abi::Status;
use ethos_abi::arguments::MAXIMUM_VALUE_SIZE;
use ethos_compat::blocking::wait_as;
use ethos_compat::results::{DESCRIPTORS, IMPORT, NOTHING};
use ethos_compat::{
    Descriptor, advertise, beep, close, fd_receive, fd_send, get_time, get_user, import,
    import_blocking, ipc_blocking, println, read, wait_value, write,
};

/// The service the hostile programs advertise and connect to (interface `Bouncer`,
/// whose `Bounce` request carries any bytes).
pub const SERVICE: &str = "hostile";

/// Bytes of a `Bounce` request before its payload: the `u32` method index and the
/// payload's `u64` length (see `ethos_typesys::wire`).
pub const BOUNCE_HEADER_BYTES: usize = 12;

/// Nanoseconds in a millisecond, for figures printed in milliseconds.
pub const MILLISECOND: u64 = 1_000_000;

/// The largest value the ABI lets a call carry, as a `usize`.
pub const LARGEST_VALUE: usize = MAXIMUM_VALUE_SIZE as usize;

/// Memory for one largest value, zero until a program fills it: in `.bss`, so it
/// costs the executable nothing, and only the programs that use it have it.
pub static LARGE_BUFFER: spin::Mutex<[u8; LARGEST_VALUE]> = spin::Mutex::new([0; LARGEST_VALUE]);

/// Lays out `value` as one whole `Bounce` request of `value.len()` bytes: the header
/// at its start, the payload (whatever bytes follow) after it. Answers the request.
pub fn bounce_request(value: &mut [u8]) -> &[u8] {
    let payload = value.len().saturating_sub(BOUNCE_HEADER_BYTES) as u64;
    if let Some(header) = value.get_mut(..BOUNCE_HEADER_BYTES) {
        // Method 0 is `Bounce`, the first the interface declares.
        header[..4].copy_from_slice(&0u32.to_le_bytes());
        header[4..].copy_from_slice(&payload.to_le_bytes());
    }
    value
}

/// A refusal the kernel gives when it will not hold more for the caller: its
/// per-process limit (`LimitReached`) or its heap (`NoMemory`).
pub fn is_refusal_for_memory(status: Status) -> bool {
    matches!(status, Status::LimitReached | Status::NoMemory)
}

/// Advertises [`SERVICE`], answering its listening descriptor.
pub fn advertise_service(program: &str) -> Result<Descriptor, Status> {
    advertise(SERVICE).inspect_err(|status| {
        println!("{program}: advertise {SERVICE} failed: {status}");
    })
}

/// Both ends of a new connection to the caller's own [`SERVICE`], advertised as
/// `listening`: (client, server). The client writes `Bounce` requests, which the
/// server end reads.
pub fn connect_to_self(
    program: &str,
    listening: Descriptor,
) -> Result<(Descriptor, Descriptor), Status> {
    let client = ipc_blocking(SERVICE, "", &[]).inspect_err(|status| {
        println!("{program}: ipc {SERVICE} failed: {status}");
    })?;
    let (server, _) = import_blocking(listening).inspect_err(|status| {
        println!("{program}: import {SERVICE} failed: {status}");
    })?;
    Ok((client, server))
}

/// Each kind of waiter once more, answered for real — a `read` of a value the
/// program writes, an `import` of a new connection, an `fdReceive` of a descriptor
/// it sends itself, a 1 ms `beep` — after cancelled or ended waiters went through
/// the same queues. `listening` is the program's service; `server` is the end of its
/// connection with `client` that nobody else writes to. A failure is printed and
/// answered as `unanswered`, the program's exit status for it.
pub fn waiters_answered(
    program: &str,
    listening: Descriptor,
    client: Descriptor,
    server: Descriptor,
    unanswered: i32,
) -> Result<(), i32> {
    let failed = |what: &str, error: Status| {
        println!("{program}: afterwards, {what} failed: {error}");
        unanswered
    };
    let mut request = [0u8; 16];
    let request = bounce_request(&mut request);
    let pending = read(server).map_err(|error| failed("read", error))?;
    write(client, request).map_err(|error| failed("write", error))?;
    let value =
        wait_value(pending).map_err(|error| failed("the read of the written value", error))?;
    if value != request {
        println!(
            "{program}: afterwards, a read gave {} bytes, not the {} written",
            value.len(),
            request.len()
        );
        return Err(unanswered);
    }
    let pending = import(listening).map_err(|error| failed("import", error))?;
    let second = ipc_blocking(SERVICE, "", &[]).map_err(|error| failed("ipc", error))?;
    let (accepted, _) = wait_as(pending, &IMPORT)
        .map_err(|error| failed("the import of a new connection", error))?;
    close(second)
        .and_then(|()| close(accepted))
        .map_err(|error| failed("close", error))?;
    let user = get_user().map_err(|error| failed("getUser", error))?;
    let pending = fd_receive().map_err(|error| failed("fdReceive", error))?;
    fd_send(&[client], &user, program).map_err(|error| failed("fdSend to itself", error))?;
    wait_as(pending, &DESCRIPTORS)
        .and_then(|received| received.into_iter().try_for_each(close))
        .map_err(|error| failed("the fdReceive of the sent descriptor", error))?;
    let soon = get_time().map_err(|error| failed("getTime", error))? + MILLISECOND;
    beep(soon)
        .and_then(|tick| wait_as(tick, &NOTHING))
        .map_err(|error| failed("a 1 ms beep", error))?;
    println!("{program}: a read, an import, an fdReceive and a beep made afterwards are answered");
    Ok(())
}
