//! Results of completed events: collecting them with `retire`, and decoding the
//! layouts [`ethos_abi::arguments::results`] documents.
//!
//! `retire` writes into a buffer the program gives and fails with `BufferTooSmall`,
//! leaving the event completed, when the result does not fit; the kernel does not say
//! how long it is. So a result of unknown length is collected into a buffer that
//! grows eightfold from [`FIRST_VALUE_BUFFER`] up to the largest value there is.
//! Bytes from the kernel that do not follow the layout are reported as
//! [`MALFORMED_RESULT`]; this module never panics on them.

use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_abi::arguments::results::{DESCRIPTOR_BYTES, SIGNED_BYTES};
use ethos_abi::arguments::{MAXIMUM_FD_SEND, MAXIMUM_NAME_LENGTH, MAXIMUM_VALUE_SIZE};

use crate::calls::{block_and_retire_into, retire_into};
use crate::handles::{Descriptor, Event};

/// The status for result bytes that break their documented layout: they are not a
/// value of the result's type.
pub const MALFORMED_RESULT: Status = Status::InvalidType;

/// The first buffer for a result of unknown length: a few pages, so most messages
/// are collected with one `retire`.
pub const FIRST_VALUE_BUFFER: usize = 8 << 10;

/// How one kind of result is laid out: the buffer to offer `retire` first, and how
/// the bytes become a value.
#[derive(Debug)]
pub struct ResultLayout<T> {
    /// Bytes to offer first; the buffer grows if the result is longer.
    pub first_buffer: usize,
    /// Turns the bytes `retire` wrote into the result.
    pub decode: fn(Vec<u8>) -> Result<T, Status>,
}

/// `read`, `peek`, `readVar`, `random`: the bytes themselves.
pub const VALUE: ResultLayout<Vec<u8>> = ResultLayout {
    first_buffer: FIRST_VALUE_BUFFER,
    decode: Ok,
};

/// `ipc`: the new connection's descriptor.
pub const CONNECTION: ResultLayout<Descriptor> = ResultLayout {
    first_buffer: DESCRIPTOR_BYTES,
    decode: |bytes| decode_connection(&bytes),
};

/// `import`: the connection's descriptor and the client user's name.
pub const IMPORT: ResultLayout<(Descriptor, String)> = ResultLayout {
    first_buffer: DESCRIPTOR_BYTES + MAXIMUM_NAME_LENGTH as usize,
    decode: decode_import,
};

/// `fdReceive`: the received descriptors.
pub const DESCRIPTORS: ResultLayout<Vec<Descriptor>> = ResultLayout {
    first_buffer: DESCRIPTOR_BYTES * MAXIMUM_FD_SEND as usize,
    decode: |bytes| decode_descriptors(&bytes),
};

/// What `sign` answers: the signature, and the public key of the user who signed,
/// which is what [`crate::calls::authenticate`] checks it against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The signature over the value.
    pub signature: [u8; 64],
    /// The signing user's public key.
    pub public_key: [u8; 32],
}

/// `sign`: the signature, then the signer's public key.
pub const SIGNED: ResultLayout<Signed> = ResultLayout {
    first_buffer: SIGNED_BYTES,
    decode: |bytes| decode_signed(&bytes),
};

fn decode_signed(bytes: &[u8]) -> Result<Signed, Status> {
    if bytes.len() != SIGNED_BYTES {
        return Err(MALFORMED_RESULT);
    }
    let (signature, public_key) = bytes.split_at(64);
    Ok(Signed {
        signature: signature.try_into().map_err(|_| MALFORMED_RESULT)?,
        public_key: public_key.try_into().map_err(|_| MALFORMED_RESULT)?,
    })
}

/// `beep`, `writeVar`: nothing.
pub const NOTHING: ResultLayout<()> = ResultLayout {
    first_buffer: 0,
    decode: |bytes| decode_nothing(&bytes),
};

fn descriptor_at(bytes: &[u8]) -> Result<Descriptor, Status> {
    let word: [u8; DESCRIPTOR_BYTES] = bytes.try_into().map_err(|_| MALFORMED_RESULT)?;
    Ok(Descriptor::from_number(u32::from_le_bytes(word)))
}

/// An `ipc` result: exactly one descriptor number.
pub fn decode_connection(bytes: &[u8]) -> Result<Descriptor, Status> {
    descriptor_at(bytes)
}

/// An `import` result: a descriptor number, then a UTF-8 user name of at most
/// [`MAXIMUM_NAME_LENGTH`] bytes.
pub fn decode_import(mut bytes: Vec<u8>) -> Result<(Descriptor, String), Status> {
    if bytes.len() < DESCRIPTOR_BYTES
        || bytes.len() - DESCRIPTOR_BYTES > MAXIMUM_NAME_LENGTH as usize
    {
        return Err(MALFORMED_RESULT);
    }
    let user = bytes.split_off(DESCRIPTOR_BYTES);
    let descriptor = descriptor_at(&bytes)?;
    let user = String::from_utf8(user).map_err(|_| MALFORMED_RESULT)?;
    Ok((descriptor, user))
}

/// An `fdReceive` result: descriptor numbers, at most [`MAXIMUM_FD_SEND`] of them.
pub fn decode_descriptors(bytes: &[u8]) -> Result<Vec<Descriptor>, Status> {
    if !bytes.len().is_multiple_of(DESCRIPTOR_BYTES)
        || bytes.len() / DESCRIPTOR_BYTES > MAXIMUM_FD_SEND as usize
    {
        return Err(MALFORMED_RESULT);
    }
    bytes
        .chunks_exact(DESCRIPTOR_BYTES)
        .map(descriptor_at)
        .collect()
}

/// A `beep` or `writeVar` result: no bytes.
pub fn decode_nothing(bytes: &[u8]) -> Result<(), Status> {
    if bytes.is_empty() {
        Ok(())
    } else {
        Err(MALFORMED_RESULT)
    }
}

/// An empty buffer that can hold `length` bytes, or `LimitReached` when the heap
/// cannot hold it. It is not zeroed: `retire` writes into its spare capacity.
fn buffer(length: usize) -> Result<Vec<u8>, Status> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(length)
        .map_err(|_| Status::LimitReached)?;
    Ok(buffer)
}

/// Collects the completed `event`'s result and decodes it per `layout`. The status of a
/// call that completed with a failure (a read whose peer closed) comes back as the
/// error; `WouldBlock` means the event has not completed.
pub fn retire_as<T>(event: Event, layout: &ResultLayout<T>) -> Result<T, Status> {
    retire_from(
        event,
        layout,
        layout.first_buffer.min(MAXIMUM_VALUE_SIZE as usize),
    )
}

/// Waits for `event` and collects and decodes its result as [`retire_as`] does,
/// with `blockAndRetire`: one call when the result fits the layout's first buffer,
/// `retire` with larger ones after it when not. A kernel that answers `WouldBlock`
/// (it does not park) is asked again.
pub fn block_and_retire_as<T>(event: Event, layout: &ResultLayout<T>) -> Result<T, Status> {
    let largest = MAXIMUM_VALUE_SIZE as usize;
    let length = layout.first_buffer.min(largest);
    let mut bytes = buffer(length)?;
    loop {
        match block_and_retire_into(event, &mut bytes) {
            Ok(_) => return (layout.decode)(bytes),
            Err(Status::WouldBlock) => core::hint::spin_loop(),
            Err(Status::BufferTooSmall) if length < largest => {
                drop(bytes);
                return retire_from(event, layout, next_length(length));
            }
            Err(status) => return Err(status),
        }
    }
}

/// Waits for `event` and collects its bytes into `bytes`, emptied first, as
/// [`block_and_retire_as`] collects a [`VALUE`], but into a vector the caller keeps
/// from one value to the next: once it holds [`FIRST_VALUE_BUFFER`] bytes, a value
/// that fits is collected without allocating (a new buffer per value was a quarter
/// of what a program spends on a small round trip). A longer value is collected
/// with `retire` into larger buffers, as there. On an error, `bytes` is empty.
pub fn block_and_retire_value_into(event: Event, bytes: &mut Vec<u8>) -> Result<(), Status> {
    let largest = MAXIMUM_VALUE_SIZE as usize;
    empty_with_first_buffer(bytes)?;
    loop {
        match block_and_retire_into(event, bytes) {
            Ok(_) => return Ok(()),
            Err(Status::WouldBlock) => core::hint::spin_loop(),
            Err(Status::BufferTooSmall) if bytes.capacity() < largest => break,
            Err(status) => return Err(status),
        }
    }
    retire_growing_into(event, bytes)
}

/// Empties `bytes` and gives it room for a value of [`FIRST_VALUE_BUFFER`] bytes at
/// least, as every collection into a kept vector starts. Inline, with the allocation
/// apart: a kept vector has its room from the second value on, and then this is one
/// comparison in its caller.
#[inline]
pub(crate) fn empty_with_first_buffer(bytes: &mut Vec<u8>) -> Result<(), Status> {
    bytes.clear();
    if bytes.capacity() < first_value_buffer() {
        return give_first_buffer(bytes);
    }
    Ok(())
}

/// The first buffer for a value, never more than the largest value.
const fn first_value_buffer() -> usize {
    if FIRST_VALUE_BUFFER < MAXIMUM_VALUE_SIZE as usize {
        FIRST_VALUE_BUFFER
    } else {
        MAXIMUM_VALUE_SIZE as usize
    }
}

#[cold]
#[inline(never)]
fn give_first_buffer(bytes: &mut Vec<u8>) -> Result<(), Status> {
    *bytes = buffer(first_value_buffer())?;
    Ok(())
}

/// Collects the completed `event`, whose value did not fit `bytes`, with `retire`
/// into ever larger buffers, as [`block_and_retire_value_into`] does after its
/// first. On an error, `bytes` is empty.
pub(crate) fn retire_growing_into(event: Event, bytes: &mut Vec<u8>) -> Result<(), Status> {
    let largest = MAXIMUM_VALUE_SIZE as usize;
    let first = FIRST_VALUE_BUFFER.min(largest);
    if bytes.capacity() >= largest {
        bytes.clear();
        return Err(Status::BufferTooSmall);
    }
    loop {
        let length = next_length(bytes.capacity().max(first));
        // The old buffer goes before the new one comes: nothing in it is kept.
        *bytes = Vec::new();
        *bytes = buffer(length)?;
        match retire_into(event, bytes) {
            Ok(_) => return Ok(()),
            Err(Status::BufferTooSmall) if bytes.capacity() < largest => {}
            Err(status) => return Err(status),
        }
    }
}

/// Lets a vector kept for [`block_and_retire_value_into`] go of its memory when a
/// long value grew it past [`FIRST_VALUE_BUFFER`], so that what a program keeps
/// between values is never more than one first buffer.
#[inline]
pub fn release_if_grown(bytes: &mut Vec<u8>) {
    if bytes.capacity() > FIRST_VALUE_BUFFER {
        release(bytes);
    }
}

#[cold]
#[inline(never)]
fn release(bytes: &mut Vec<u8>) {
    *bytes = Vec::new();
}

fn next_length(length: usize) -> usize {
    length
        .saturating_mul(8)
        .clamp(64, MAXIMUM_VALUE_SIZE as usize)
}

/// [`retire_as`] with a first buffer of `length` bytes.
fn retire_from<T>(event: Event, layout: &ResultLayout<T>, mut length: usize) -> Result<T, Status> {
    let largest = MAXIMUM_VALUE_SIZE as usize;
    loop {
        let mut bytes = buffer(length)?;
        match retire_into(event, &mut bytes) {
            Ok(_) => return (layout.decode)(bytes),
            Err(Status::BufferTooSmall) if length < largest => {
                length = next_length(length);
            }
            Err(status) => return Err(status),
        }
    }
}
