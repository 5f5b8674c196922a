//! Why the endpoint drops a datagram, and why an application request fails: the two
//! failure enums of the endpoint layer, one for each direction of the API.
//!
//! This module only names failures; it must never decide them.

use core::fmt;

use crate::frame::FrameError;
use crate::puzzle::PuzzleError;
use crate::record::RecordError;
use crate::wire::WireError;

/// Why a datagram was dropped. In every case nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not a well-formed packet.
    Malformed(WireError),
    /// No tunnel has this id, and the packet is not a first packet.
    UnknownTunnel,
    /// The box did not authenticate under any key that could apply.
    NotAuthentic,
    /// The nonce was already accepted.
    ReplayedNonce,
    /// The nonce is older than the reorder window.
    StaleNonce,
    /// The nonce has the other side's parity.
    WrongNonceParity,
    /// The box authenticated but its contents are malformed.
    MalformedBox(FrameError),
    /// The sequence number is further ahead than the receive window.
    BeyondReceiveWindow,
    /// A connection's user authenticator does not verify for this tunnel.
    UserAuthenticationFailed,
    /// A first packet carries a client key other than its tunnel's, or a server sent one.
    EphemeralKeyMismatch,
    /// The endpoint is under load and answered with a puzzle instead.
    PuzzleIssued,
    /// The puzzle solution was refused.
    Puzzle(PuzzleError),
    /// A puzzle challenge for no tunnel we are opening, or one we will not solve.
    UnexpectedChallenge,
    /// The endpoint holds as many tunnels as it may.
    TooManyTunnels,
    /// The client's ephemeral key is of small order.
    WeakKey,
    /// The application has not taken its events; the peer will retransmit.
    EventQueueFull,
}

impl fmt::Display for DropReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(error) => write!(formatter, "malformed packet: {error}"),
            DropReason::UnknownTunnel => formatter.write_str("unknown tunnel id"),
            DropReason::NotAuthentic => formatter.write_str("box does not authenticate"),
            DropReason::ReplayedNonce => formatter.write_str("nonce already seen"),
            DropReason::StaleNonce => formatter.write_str("nonce older than the reorder window"),
            DropReason::WrongNonceParity => formatter.write_str("nonce of the wrong parity"),
            DropReason::MalformedBox(error) => write!(formatter, "malformed box: {error}"),
            DropReason::BeyondReceiveWindow => formatter.write_str("sequence beyond the window"),
            DropReason::UserAuthenticationFailed => {
                formatter.write_str("user authenticator does not verify for this tunnel")
            }
            DropReason::EphemeralKeyMismatch => {
                formatter.write_str("client ephemeral key does not match the tunnel")
            }
            DropReason::PuzzleIssued => formatter.write_str("answered with a puzzle"),
            DropReason::Puzzle(error) => write!(formatter, "{error}"),
            DropReason::UnexpectedChallenge => formatter.write_str("unexpected puzzle challenge"),
            DropReason::TooManyTunnels => formatter.write_str("too many tunnels"),
            DropReason::WeakKey => formatter.write_str("client ephemeral key of small order"),
            DropReason::EventQueueFull => {
                formatter.write_str("application has not taken its events")
            }
        }
    }
}

/// Why an application request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointError {
    /// The directory record could not be used.
    Record(RecordError),
    /// No such tunnel.
    UnknownTunnel,
    /// No such connection (or it was closed).
    UnknownConnection,
    /// The service name is longer than the protocol allows.
    ServiceNameTooLong,
    /// The first value does not fit in one packet.
    FirstValueTooLarge,
    /// Data cannot be sent before the connection was accepted.
    NotAccepted,
    /// The connection is not waiting to be accepted or refused.
    NotAwaitingAnswer,
    /// Users can be authenticated only to a server whose host key we know.
    UserAuthenticationUnavailable,
    /// A key agreement with the peer's key failed (small-order key).
    WeakKey,
    /// The tunnel holds as many connections as it may, or ran out of ids.
    TooManyConnections,
    /// The endpoint holds as many tunnels as it may.
    TooManyTunnels,
    /// Only a tunnel's client moves it, one move at a time, after its first reply.
    RekeyNotPossible,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Record(error) => write!(formatter, "{error}"),
            EndpointError::UnknownTunnel => formatter.write_str("no such tunnel"),
            EndpointError::UnknownConnection => formatter.write_str("no such connection"),
            EndpointError::ServiceNameTooLong => formatter.write_str("service name too long"),
            EndpointError::FirstValueTooLarge => formatter.write_str("first value too large"),
            EndpointError::NotAccepted => formatter.write_str("connection not accepted yet"),
            EndpointError::NotAwaitingAnswer => {
                formatter.write_str("connection is not waiting for an answer")
            }
            EndpointError::UserAuthenticationUnavailable => {
                formatter.write_str("user authentication needs the server's host key")
            }
            EndpointError::WeakKey => formatter.write_str("peer key of small order"),
            EndpointError::TooManyConnections => formatter.write_str("too many connections"),
            EndpointError::TooManyTunnels => formatter.write_str("too many tunnels"),
            EndpointError::RekeyNotPossible => formatter.write_str("tunnel cannot be rekeyed now"),
        }
    }
}
