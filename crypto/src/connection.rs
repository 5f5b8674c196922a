//! One connection inside a tunnel: its state, its send buffer and both flow-control
//! windows; and a tunnel's connections by id, which know which of them have something
//! to send.
//!
//! A connection's receiver grants credit in bytes ([`CONNECTION_RECEIVE_WINDOW`] at first)
//! and renews it with window updates as the application takes data out, so the bytes
//! held for one connection never exceed its window. This module never reads packets.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Credit a receiver grants a new connection, in bytes.
pub const CONNECTION_RECEIVE_WINDOW: u64 = 256 * 1024;
/// Most bytes an application may queue on one connection before `send` pushes back.
pub const CONNECTION_SEND_BUFFER: usize = 1024 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
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
        let mut send_buffer = Vec::with_capacity(front.len() + back.len());
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

    /// Whether the next packet could carry anything of this connection's.
    fn has_something_to_send(&self) -> bool {
        self.sendable() > 0 || self.ready_to_close()
    }

    /// Takes up to `length` bytes to send.
    pub(crate) fn take_chunk(&mut self, length: usize, into: &mut Vec<u8>) {
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

/// A tunnel's connections by id, and the ids of those with something to send (data they
/// may send now or a close frame that may go), so that filling a packet visits only those
/// instead of every connection.
///
/// Both are vectors sorted by id: a tunnel holds at most a few hundred connections, which
/// a binary search finds and a copy or comparison walks faster than a tree's nodes.
/// Every change to a connection goes through [`Connections::update`], which files the
/// connection again; that keeps the set exact without each caller knowing what makes a
/// connection sendable.
#[derive(Debug, Default)]
#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
pub(crate) struct Connections {
    by_id: Vec<(u32, Connection)>,
    sending: Vec<u32>,
}

impl Connections {
    fn position(&self, id: u32) -> Result<usize, usize> {
        self.by_id.binary_search_by_key(&id, |&(id, _)| id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        self.position(id).is_ok()
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Connection> {
        let index = self.position(id).ok()?;
        Some(&self.by_id[index].1)
    }

    /// Every connection, by increasing id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Connection)> {
        self.by_id.iter().map(|(id, connection)| (*id, connection))
    }

    /// Adds connection `id`, or replaces it.
    pub(crate) fn insert(&mut self, id: u32, connection: Connection) {
        let index = match self.position(id) {
            Ok(index) => {
                self.by_id[index].1 = connection;
                index
            }
            Err(index) => {
                self.by_id.insert(index, (id, connection));
                index
            }
        };
        self.file(index);
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<Connection> {
        let index = self.position(id).ok()?;
        if let Ok(sending) = self.sending.binary_search(&id) {
            self.sending.remove(sending);
        }
        Some(self.by_id.remove(index).1)
    }

    /// Runs `change` on connection `id`, if it exists, and files it again.
    pub(crate) fn update<R>(
        &mut self,
        id: u32,
        change: impl FnOnce(&mut Connection) -> R,
    ) -> Option<R> {
        let index = self.position(id).ok()?;
        let result = change(&mut self.by_id[index].1);
        self.file(index);
        Some(result)
    }

    /// Whether any connection has something to send.
    pub(crate) fn any_sending(&self) -> bool {
        !self.sending.is_empty()
    }

    /// How many connections have something to send.
    pub(crate) fn sending_count(&self) -> usize {
        self.sending.len()
    }

    /// The first connection with something to send after `id`, wrapping around to the
    /// lowest id.
    pub(crate) fn next_sending_after(&self, id: u32) -> Option<u32> {
        let after = self
            .sending
            .partition_point(|&sending| sending < id.saturating_add(1));
        self.sending.get(after).or(self.sending.first()).copied()
    }

    /// Puts the connection at `index` in or out of the set of those with something to send.
    fn file(&mut self, index: usize) {
        let (id, connection) = &self.by_id[index];
        match (
            connection.has_something_to_send(),
            self.sending.binary_search(id),
        ) {
            (true, Err(at)) => self.sending.insert(at, *id),
            (false, Ok(at)) => {
                self.sending.remove(at);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_with_something_to_send_are_filed_in_id_order() {
        let mut connections = Connections::default();
        for id in [1, 3, 5] {
            connections.insert(id, Connection::new(ConnectionState::Open));
        }
        assert!(!connections.any_sending(), "nothing queued yet");
        for id in [5, 1] {
            connections.update(id, |connection| {
                connection.announced = true;
                connection.send_buffer.extend(b"data");
            });
        }
        // Not announced: its data may not go yet.
        connections.update(3, |connection| connection.send_buffer.extend(b"data"));
        assert_eq!(connections.sending_count(), 2);
        assert_eq!(connections.next_sending_after(0), Some(1));
        assert_eq!(connections.next_sending_after(1), Some(5));
        assert_eq!(connections.next_sending_after(5), Some(1), "wraps around");
        connections.update(1, |connection| {
            let mut sent = Vec::new();
            connection.take_chunk(4, &mut sent);
        });
        assert_eq!(
            connections.next_sending_after(5),
            Some(5),
            "1 sent everything"
        );
        connections.update(1, |connection| connection.close_requested = true);
        assert_eq!(
            connections.next_sending_after(5),
            Some(1),
            "1 may close now"
        );
        assert!(connections.remove(1).is_some());
        assert!(connections.remove(5).is_some());
        assert!(!connections.any_sending());
        assert_eq!(connections.len(), 1);
        assert!(connections.contains(3) && !connections.contains(1));
    }
}
