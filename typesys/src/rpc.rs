//! Runtime support for the interface code that [`crate::codegen`] generates: the
//! transport a client stub sends through and the errors of a call.
//!
//! A client stub encodes a request (method index then argument struct), hands the bytes
//! to a [`Transport`] and decodes the reply (method index then result struct); a server
//! decodes a request, calls its implementation of the generated server trait and
//! encodes the reply. Nothing here performs I/O itself or panics on any bytes.

use alloc::vec::Vec;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{self, WireError};

/// Carries one encoded request to a server and brings back its encoded reply: an IPC
/// connection in the kernel, or a direct call in tests.
pub trait Transport {
    /// Why the transport failed.
    type Error;

    /// Sends `request` and returns the reply's bytes.
    fn call(&mut self, request: &[u8]) -> Result<Vec<u8>, Self::Error>;

    /// Encodes `request`, sends it and decodes the reply: what a generated client
    /// stub calls. This encodes into a new vector and decodes what
    /// [`Transport::call`] returns. A transport that keeps a request and a reply
    /// buffer from one call to the next overrides it to encode and receive into
    /// them, so that a call allocates only for the reply's own values; it must
    /// encode and decode with [`wire`] as this does, so the bytes on the connection
    /// are the same.
    fn call_value<Request: Serialize, Reply: DeserializeOwned>(
        &mut self,
        request: &Request,
    ) -> Result<Reply, RpcError<Self::Error>>
    where
        Self: Sized,
    {
        let bytes = wire::encode(request).map_err(RpcError::Wire)?;
        let reply = self.call(&bytes).map_err(RpcError::Transport)?;
        wire::decode(&reply).map_err(RpcError::Wire)
    }
}

/// Why a call through a generated client stub failed.
#[derive(Debug)]
pub enum RpcError<TransportError> {
    /// The transport failed.
    Transport(TransportError),
    /// The request could not be encoded or the reply not decoded.
    Wire(WireError),
    /// The reply answers a different method than the one called.
    MismatchedReply {
        /// The method index called.
        expected: u32,
    },
}

impl<TransportError: core::fmt::Display> core::fmt::Display for RpcError<TransportError> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RpcError::Transport(error) => write!(formatter, "transport failed: {error}"),
            RpcError::Wire(error) => write!(formatter, "{error}"),
            RpcError::MismatchedReply { expected } => write!(
                formatter,
                "reply does not answer method {expected}, the one called"
            ),
        }
    }
}

impl<TransportError: core::fmt::Debug + core::fmt::Display> core::error::Error
    for RpcError<TransportError>
{
}
