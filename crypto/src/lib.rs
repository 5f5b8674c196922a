//! MinimaLT: encrypted, authenticated, low-latency transport as a sans-I/O state machine.
//!
//! Every packet is an XSalsa20-Poly1305 box under a per-tunnel key agreed with X25519
//! between a client's fresh ephemeral key and the server's ephemeral incoming key, which
//! the client learned from a directory record. A tunnel's first packet already carries the
//! first connection and its data; later connections on the tunnel cost no round trip.
//! Users are X25519 public keys and prove themselves per tunnel. Tunnels move to new ids
//! and keys (rekeying) and servers under load ask unknown clients for puzzles.
//!
//! The crate does no I/O and reads no clock: [`Endpoint`] takes datagrams and times from
//! its caller and hands datagrams, events and timer deadlines back, so the same code runs
//! in the kernel and in a Linux process. It must never panic on input from the network.
//!
//! Modules: `primitives` (X25519 and XSalsa20-Poly1305; `stand_in` replaces them in
//! fuzzing builds), `keys` (keys and derivations), `record` (directory records), `wire` (packet
//! format), `frame` (box contents), `replay` (nonce window), `puzzle`, `reliability`,
//! `connection`, `tunnel` (per-tunnel crypto and rekeying), `multiplex` (frames and
//! connections), `endpoint`, `receive` and `requests` (the API); `signature` (XEdDSA
//! signatures with users' X25519 keys, which the kernel makes for programs).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod connection;
mod endpoint;
mod failures;
mod frame;
#[cfg(fuzzing)]
mod fuzzing;
mod keys;
#[cfg(not(fuzzing))]
mod mac;
mod multiplex;
#[cfg(not(fuzzing))]
mod primitives;
mod puzzle;
mod receive;
mod record;
mod reliability;
mod replay;
mod requests;
mod signature;
#[cfg(fuzzing)]
mod stand_in;
mod time;
mod tunnel;
mod wire;

pub use connection::{CONNECTION_RECEIVE_WINDOW, CONNECTION_SEND_BUFFER};
pub use endpoint::{
    ConnectionHandle, DropReason, Endpoint, EndpointConfig, EndpointError, Event,
    MAX_PENDING_CHALLENGES, MAX_PENDING_EVENTS, MAX_RETIRED_TUNNELS, Statistics, Transmit,
    TunnelHandle,
};
pub use frame::{FrameError, MAX_SERVICE_NAME, TYPE_HASH_LENGTH, TypeHash};
pub use keys::{AUTHENTICATOR_LENGTH, Authenticator, KEY_LENGTH, PublicKeyBytes, SecretKey};
pub use multiplex::MAX_PENDING_CONTROL_FRAMES;
pub use puzzle::{MAX_DIFFICULTY, PUZZLE_LIFETIME_MILLISECONDS, PuzzleError};
pub use record::{DirectoryRecord, RECORD_LENGTH, RecordError};
pub use reliability::{
    ACK_DELAY_MILLISECONDS, INITIAL_RETRANSMISSION_TIMEOUT_MILLISECONDS, SEND_WINDOW,
};
pub use replay::REORDER_WINDOW;
pub use requests::{EndpointSummary, MAX_FIRST_VALUE, TunnelSummary};
pub use signature::{SIGNATURE_LENGTH, SIGNATURE_RANDOM_LENGTH, Signature, SignatureError};
pub use time::Time;
pub use tunnel::Role;
pub use wire::{MAX_DATAGRAM, WireError};
#[cfg(test)]
mod bad_input_tests;
