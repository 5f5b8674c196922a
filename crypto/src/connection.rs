//! One connection inside a tunnel: its state, its send buffer and both flow-control
//! windows.
//!
//! A connection's receiver grants credit in bytes ([`CONNECTION_RECEIVE_WINDOW`] at first)
//! and renews it with window updates as the application takes data out, so the bytes
//! held for one connection never exceed its window. This module never reads packets.

use alloc::collections::VecDeque;

/// Credit a receiver grants a new connection, in bytes.
pub const CONNECTION_RECEIVE_WINDOW: u64 = 256 * 1024;
/// Most bytes an application may queue on one connection before `send` pushes back.
pub const CONNECTION_SEND_BUFFER: usize = 1024 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionState {
    /// We asked the peer to create it and have no answer yet.
    Opening,
    /// The peer asked; our application has not accepted it yet.
    AwaitingAccept,
    /// Both sides agree it exists.
    Open,
}

#[cfg_attr(fuzzing, derive(PartialEq))]
pub(crate) struct Connection {
    pub(crate) state: ConnectionState,
    /// Our opening frame (create or accept) is in a packet, so data may follow it.
    pub(crate) announced: bool,
    pub(crate) send_buffer: VecDeque<u8>,
    pub(crate) sent_bytes: u64,
    pub(crate) peer_maximum: u64,
    pub(crate) received_bytes: u64,
    pub(crate) consumed_bytes: u64,
    pub(crate) advertised_maximum: u64,
    pub(crate) close_requested: bool,
}

// The send buffer is plaintext: debug output shows its length, never its bytes.
impl core::fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Connection")
            .field("state", &self.state)
            .field("announced", &self.announced)
            .field("send_buffer_length", &self.send_buffer.len())
            .field("sent_bytes", &self.sent_bytes)
            .field("peer_maximum", &self.peer_maximum)
            .field("received_bytes", &self.received_bytes)
            .field("consumed_bytes", &self.consumed_bytes)
            .field("advertised_maximum", &self.advertised_maximum)
            .field("close_requested", &self.close_requested)
            .finish()
    }
}

// `VecDeque<u8>`'s own clone copies byte by byte; a fuzz target copies whole endpoints
// for every datagram, so the send buffer is copied as two slices.
#[cfg(fuzzing)]
impl Clone for Connection {
    fn clone(&self) -> Self {
        let (front, back) = self.send_buffer.as_slices();
        let mut send_buffer = alloc::vec::Vec::with_capacity(front.len() + back.len());
        send_buffer.extend_from_slice(front);
        send_buffer.extend_from_slice(back);
        Self {
            send_buffer: VecDeque::from(send_buffer),
            ..*self
        }
    }
}

impl Connection {
    pub(crate) fn new(state: ConnectionState) -> Self {
        Self {
            state,
            announced: false,
            send_buffer: VecDeque::new(),
            sent_bytes: 0,
            peer_maximum: CONNECTION_RECEIVE_WINDOW,
            received_bytes: 0,
            consumed_bytes: 0,
            advertised_maximum: CONNECTION_RECEIVE_WINDOW,
            close_requested: false,
        }
    }

    /// Bytes that may go into the next packet now.
    pub(crate) fn sendable(&self) -> usize {
        if !self.announced || self.state == ConnectionState::AwaitingAccept {
            return 0;
        }
        let credit = self.peer_maximum.saturating_sub(self.sent_bytes);
        self.send_buffer
            .len()
            .min(usize::try_from(credit).unwrap_or(usize::MAX))
    }

    /// Whether the close frame may go now: everything queued before it has been sent.
    pub(crate) fn ready_to_close(&self) -> bool {
        self.close_requested && self.announced && self.send_buffer.is_empty()
    }

    /// Takes up to `length` bytes to send.
    pub(crate) fn take_chunk(&mut self, length: usize, into: &mut alloc::vec::Vec<u8>) {
        let (front, back) = self.send_buffer.as_slices();
        if length <= front.len() {
            into.extend_from_slice(&front[..length]);
        } else {
            into.extend_from_slice(front);
            into.extend_from_slice(&back[..length - front.len()]);
        }
        self.send_buffer.drain(..length);
        self.sent_bytes += length as u64;
    }

    /// After the application took `length` bytes: the new maximum to advertise, when
    /// enough of the window was used that an update is worth a frame.
    pub(crate) fn consume(&mut self, length: u64) -> Option<u64> {
        self.consumed_bytes += length;
        let remaining = self.advertised_maximum.saturating_sub(self.consumed_bytes);
        if remaining < CONNECTION_RECEIVE_WINDOW / 2 {
            self.advertised_maximum = self.consumed_bytes + CONNECTION_RECEIVE_WINDOW;
            Some(self.advertised_maximum)
        } else {
            None
        }
    }
}
