//! Typed values over connections: Rust types generated from ETN by `ethos-typesys`,
//! encoded and decoded with [`ethos_typesys::wire`].
//!
//! - [`Channel`] sends values of one type and receives values of another: for an
//!   interface `I`, a client holds `Channel<IRequest, IReply>` and a server
//!   `Channel<IReply, IRequest>`; for a value type `T`, [`TypedConnection<T>`] sends
//!   and receives `T`.
//! - [`RpcConnection`] is the [`Transport`] generated client stubs call through:
//!   `ICallClient { transport: RpcConnection::new(connection) }`.
//! - [`serve_one`] runs one request through a generated `serve_i` function, and
//!   [`serve_one_into`] through `serve_i_into` with a reply vector the server keeps.
//!
//! The kernel checks every value against the connection's type, so a value that does
//! not decode here means the two sides disagree on the Rust types, not that the bytes
//! are foreign; it is reported as [`TypedError::Malformed`], never a panic.

use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use ethos_abi::Status;
use ethos_typesys::rpc::{RpcError, Transport};
use ethos_typesys::serde::Serialize;
use ethos_typesys::serde::de::DeserializeOwned;
use ethos_typesys::wire::{self, WireError};

use crate::blocking::{read_blocking, write_blocking, write_read_blocking_into};
use crate::calls;
use crate::handles::Descriptor;
use crate::results::release_if_grown;

/// Why a typed send or receive failed.
#[derive(Debug)]
pub enum TypedError {
    /// The kernel refused the call.
    System(Status),
    /// The value could not be encoded, or the bytes received are not a value of the
    /// expected Rust type.
    Malformed(WireError),
}

impl fmt::Display for TypedError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedError::System(status) => write!(formatter, "the kernel refused: {status}"),
            TypedError::Malformed(error) => write!(formatter, "malformed value: {error}"),
        }
    }
}

impl core::error::Error for TypedError {}

impl From<Status> for TypedError {
    fn from(status: Status) -> Self {
        TypedError::System(status)
    }
}

impl From<WireError> for TypedError {
    fn from(error: WireError) -> Self {
        TypedError::Malformed(error)
    }
}

/// Encodes one value as ETE.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, TypedError> {
    Ok(wire::encode(value)?)
}

/// Decodes one value that must use every byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TypedError> {
    Ok(wire::decode(bytes)?)
}

/// A connection that sends `Send` values and receives `Receive` values.
pub struct Channel<Send, Receive> {
    descriptor: Descriptor,
    types: PhantomData<fn(Send) -> Receive>,
}

/// A connection carrying values of one type both ways.
pub type TypedConnection<T> = Channel<T, T>;

impl<Send, Receive> fmt::Debug for Channel<Send, Receive> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Channel")
            .field("descriptor", &self.descriptor)
            .finish()
    }
}

impl<Send, Receive> Channel<Send, Receive> {
    /// The connection `descriptor`, typed.
    pub const fn new(descriptor: Descriptor) -> Self {
        Channel {
            descriptor,
            types: PhantomData,
        }
    }

    /// The connection's descriptor.
    pub const fn descriptor(&self) -> Descriptor {
        self.descriptor
    }

    /// Closes the connection.
    pub fn close(self) -> Result<(), Status> {
        calls::close(self.descriptor)
    }
}

impl<Send: Serialize, Receive> Channel<Send, Receive> {
    /// Sends one value, waiting while the peer's inbox is full.
    pub fn send(&self, value: &Send) -> Result<(), TypedError> {
        Ok(write_blocking(self.descriptor, &encode(value)?)?)
    }

    /// Sends one value, or answers `WouldBlock` when the peer's inbox is full.
    pub fn try_send(&self, value: &Send) -> Result<(), TypedError> {
        Ok(calls::write(self.descriptor, &encode(value)?)?)
    }
}

impl<Send, Receive: DeserializeOwned> Channel<Send, Receive> {
    /// Waits for the next value.
    pub fn receive(&self) -> Result<Receive, TypedError> {
        decode(&read_blocking(self.descriptor)?)
    }

    /// The next value, as a future for [`crate::future::block_on`].
    pub async fn receive_async(&self) -> Result<Receive, TypedError> {
        decode(&crate::future::read(self.descriptor).await?)
    }
}

/// A connection as the transport of a generated client stub: each call writes the
/// request and waits for the reply.
///
/// The connection keeps the vector it encodes requests into and the one it collects
/// replies into from one call to the next, so a call allocates only for the values
/// its reply holds: encoding, sending and receiving reuse memory that is already
/// there. Either vector lets its memory go after a value longer than
/// [`results::FIRST_VALUE_BUFFER`](crate::results::FIRST_VALUE_BUFFER), so a
/// connection never holds more than that much of each between calls.
pub struct RpcConnection {
    descriptor: Descriptor,
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl fmt::Debug for RpcConnection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RpcConnection")
            .field("descriptor", &self.descriptor)
            .finish()
    }
}

impl RpcConnection {
    /// The client end `descriptor` of an interface-typed connection.
    pub const fn new(descriptor: Descriptor) -> Self {
        RpcConnection {
            descriptor,
            request: Vec::new(),
            reply: Vec::new(),
        }
    }

    /// The connection's descriptor.
    pub const fn descriptor(&self) -> Descriptor {
        self.descriptor
    }
}

impl Transport for RpcConnection {
    type Error = Status;

    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, Status> {
        let mut reply = Vec::new();
        write_read_blocking_into(self.descriptor, request, &mut reply)?;
        Ok(reply)
    }

    fn call_value<Request: Serialize, Reply: DeserializeOwned>(
        &mut self,
        request: &Request,
    ) -> Result<Reply, RpcError<Status>> {
        self.request.clear();
        let encoded = wire::encode_into(request, &mut self.request);
        // The request goes and its reply comes in one call (`writeRead`).
        let exchanged = match encoded {
            Ok(()) => write_read_blocking_into(self.descriptor, &self.request, &mut self.reply)
                .map_err(RpcError::Transport),
            Err(error) => Err(RpcError::Wire(error)),
        };
        release_if_grown(&mut self.request);
        exchanged?;
        let reply = wire::decode(&self.reply).map_err(RpcError::Wire);
        release_if_grown(&mut self.reply);
        reply
    }
}

/// What [`serve_one`] did with a request.
#[derive(Debug)]
pub enum Served {
    /// The request was answered.
    Answered,
    /// The request did not decode; nothing was sent back.
    Malformed(WireError),
}

/// A generated `serve_i_into` function for a server of type `S`: decodes a request,
/// runs it on the server and encodes the reply at the end of the vector.
pub type ServeInto<S> = fn(&mut S, &[u8], &mut Vec<u8>) -> Result<(), WireError>;

/// Answers one `request` as [`serve_one`] does, through a generated `serve_i_into`
/// function that encodes the reply into `reply`: a vector the server keeps from one
/// request to the next, so that answering allocates only for the values of the
/// request and its reply. `reply` lets its memory go after a reply longer than
/// [`results::FIRST_VALUE_BUFFER`](crate::results::FIRST_VALUE_BUFFER).
pub fn serve_one_into<S: ?Sized>(
    descriptor: Descriptor,
    server: &mut S,
    serve: ServeInto<S>,
    request: &[u8],
    reply: &mut Vec<u8>,
) -> Result<Served, Status> {
    reply.clear();
    let served = match serve(server, request, reply) {
        Ok(()) => write_blocking(descriptor, reply).map(|()| Served::Answered),
        Err(error) => Ok(Served::Malformed(error)),
    };
    release_if_grown(reply);
    served
}

/// Answers one `request` read from the server end `descriptor`, through a generated
/// `serve_i` function (decode, dispatch to the server, encode the reply).
pub fn serve_one<S: ?Sized>(
    descriptor: Descriptor,
    server: &mut S,
    serve: fn(&mut S, &[u8]) -> Result<Vec<u8>, WireError>,
    request: &[u8],
) -> Result<Served, Status> {
    match serve(server, request) {
        Ok(reply) => {
            write_blocking(descriptor, &reply)?;
            Ok(Served::Answered)
        }
        Err(error) => Ok(Served::Malformed(error)),
    }
}
