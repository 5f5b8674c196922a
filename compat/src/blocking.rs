//! Calls that wait: each makes its asynchronous call, waits for the event with `block`
//! and collects and decodes the result, so a program that does one thing at a time
//! reads like ordinary sequential code.
//!
//! The kernel parks a process inside `block` until an event of its set completes, so
//! waiting costs nothing while it lasts. A kernel that answers `WouldBlock` instead is
//! asked again. Nothing here waits on more than the one event it made; a program that
//! waits on several at once uses `block` itself, an [`crate::EventSet`], or
//! [`crate::future`].

use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::Status;

use crate::calls::{self, WriteReadError};
use crate::handles::{Descriptor, Event};
use crate::results::{self, ResultLayout, block_and_retire_as};

/// How long [`write_blocking`] sleeps before trying a full inbox again.
pub const WRITE_RETRY_NANOSECONDS: u64 = 1_000_000;

/// How long [`ipc_when_advertised`] sleeps between attempts.
pub const IPC_RETRY_NANOSECONDS: u64 = 1_000_000;

/// Waits until `event` has completed (it is not collected).
pub fn wait(event: Event) -> Result<(), Status> {
    loop {
        match calls::block(&[event]) {
            Ok(_) => return Ok(()),
            Err(Status::WouldBlock) => core::hint::spin_loop(),
            Err(status) => return Err(status),
        }
    }
}

/// Waits for `event`, then collects and decodes its result.
pub fn wait_as<T>(event: Event, layout: &ResultLayout<T>) -> Result<T, Status> {
    block_and_retire_as(event, layout)
}

/// Waits for `event` and collects its bytes.
pub fn wait_value(event: Event) -> Result<Vec<u8>, Status> {
    wait_as(event, &results::VALUE)
}

/// The next value on `descriptor`, consumed. `Closed` when the peer has gone and no
/// value is left.
pub fn read_blocking(descriptor: Descriptor) -> Result<Vec<u8>, Status> {
    wait_value(calls::read(descriptor)?)
}

/// The next value on `descriptor`, consumed, into `bytes` (emptied first), as
/// [`read_blocking`] but into a vector kept from one value to the next, which then
/// needs no new allocation (see [`results::block_and_retire_value_into`]). On an
/// error, `bytes` is empty.
pub fn read_blocking_into(descriptor: Descriptor, bytes: &mut Vec<u8>) -> Result<(), Status> {
    bytes.clear();
    results::block_and_retire_value_into(calls::read(descriptor)?, bytes)
}

/// A copy of the next value on `descriptor`, left in place.
pub fn peek_blocking(descriptor: Descriptor) -> Result<Vec<u8>, Status> {
    wait_value(calls::peek(descriptor)?)
}

/// Sends one value, sleeping [`WRITE_RETRY_NANOSECONDS`] and trying again while the
/// peer's inbox is full.
pub fn write_blocking(descriptor: Descriptor, value: &[u8]) -> Result<(), Status> {
    loop {
        match calls::write(descriptor, value) {
            Err(Status::WouldBlock) => sleep(WRITE_RETRY_NANOSECONDS)?,
            answer => return answer,
        }
    }
}

/// Sends `value` on `descriptor` and collects the next value on it into `bytes`
/// (emptied first), with `writeRead`: [`write_blocking`] then
/// [`read_blocking_into`], in one entry into the kernel when the reply fits the
/// vector's capacity ([`results::FIRST_VALUE_BUFFER`] at least). A full inbox is
/// waited out as [`write_blocking`] does; a longer reply is collected with
/// `retire` into larger buffers. On an error, `bytes` is empty, and whether the
/// value went is as for the two calls: a refusal of the write sends nothing.
#[inline(always)]
pub fn write_read_blocking_into(
    descriptor: Descriptor,
    value: &[u8],
    bytes: &mut Vec<u8>,
) -> Result<(), Status> {
    // The common case, a reply that fits the kept vector, is inline in the caller;
    // every other answer is handled apart.
    results::empty_with_first_buffer(bytes)?;
    match calls::write_read_into(descriptor, value, bytes) {
        Ok(_) => Ok(()),
        Err(error) => write_read_not_collected(descriptor, value, bytes, error),
    }
}

/// What [`write_read_blocking_into`] does when `writeRead` collected no value
/// (`error`): waits out a full inbox and tries again, collects a longer value with
/// `retire`, or gives up.
#[cold]
#[inline(never)]
fn write_read_not_collected(
    descriptor: Descriptor,
    value: &[u8],
    bytes: &mut Vec<u8>,
    mut error: WriteReadError,
) -> Result<(), Status> {
    loop {
        match error {
            WriteReadError::Failed(Status::WouldBlock) => sleep(WRITE_RETRY_NANOSECONDS)?,
            WriteReadError::Failed(status) => return Err(status),
            WriteReadError::Kept {
                status: Status::BufferTooSmall,
                event,
            } => return results::retire_growing_into(event, bytes),
            WriteReadError::Kept { status, event } => {
                // Memory this program may not write: the value cannot be had.
                let _ = calls::cancel(event);
                return Err(status);
            }
        }
        match calls::write_read_into(descriptor, value, bytes) {
            Ok(_) => return Ok(()),
            Err(next) => error = next,
        }
    }
}

/// The next connection to the listening descriptor and its client's user.
pub fn import_blocking(listening: Descriptor) -> Result<(Descriptor, String), Status> {
    wait_as(calls::import(listening)?, &results::IMPORT)
}

/// A connection to `service` on `host` (empty: this machine), with `first_value`
/// (empty: none) as its first message.
pub fn ipc_blocking(service: &str, host: &str, first_value: &[u8]) -> Result<Descriptor, Status> {
    wait_as(
        calls::ipc(service, host, first_value)?,
        &results::CONNECTION,
    )
}

/// A connection to the local `service`, trying again every
/// [`IPC_RETRY_NANOSECONDS`] while it is not advertised (`NoSuchObject`), for at most
/// `patience` nanoseconds. Any other refusal, such as `NotAuthorized`, is answered at
/// once.
pub fn ipc_when_advertised(service: &str, patience: u64) -> Result<Descriptor, Status> {
    let give_up = calls::get_time()?.saturating_add(patience);
    loop {
        match ipc_blocking(service, "", &[]) {
            Err(Status::NoSuchObject) if calls::get_time()? < give_up => {
                sleep(IPC_RETRY_NANOSECONDS)?;
            }
            answer => return answer,
        }
    }
}

/// The next batch of descriptors sent to this process's virtual process.
pub fn fd_receive_blocking() -> Result<Vec<Descriptor>, Status> {
    wait_as(calls::fd_receive()?, &results::DESCRIPTORS)
}

/// `size` random bytes.
pub fn random_blocking(size: usize) -> Result<Vec<u8>, Status> {
    wait_value(calls::random(size)?)
}

/// The whole file `name` in `directory`.
pub fn read_var_blocking(directory: Descriptor, name: &str) -> Result<Vec<u8>, Status> {
    wait_value(calls::read_var(directory, name)?)
}

/// Makes `value` the whole file `name` in `directory`.
pub fn write_var_blocking(directory: Descriptor, name: &str, value: &[u8]) -> Result<(), Status> {
    wait_as(calls::write_var(directory, name, value)?, &results::NOTHING)
}

/// The signature of `value` by this user's kernel-held key, and the user's public
/// key.
pub fn sign_blocking(value: &[u8]) -> Result<results::Signed, Status> {
    wait_as(calls::sign(value)?, &results::SIGNED)
}

/// The signature of file `name` in `directory` by this user's kernel-held key, and
/// the user's public key.
pub fn sign_file_blocking(directory: Descriptor, name: &str) -> Result<results::Signed, Status> {
    wait_as(calls::sign_file(directory, name)?, &results::SIGNED)
}

/// Waits until the kernel clock reaches `deadline` (nanoseconds since boot).
pub fn sleep_until(deadline: u64) -> Result<(), Status> {
    wait_as(calls::beep(deadline)?, &results::NOTHING)
}

/// Waits `nanoseconds`.
pub fn sleep(nanoseconds: u64) -> Result<(), Status> {
    sleep_until(calls::get_time()?.saturating_add(nanoseconds))
}
