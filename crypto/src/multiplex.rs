//! Connections multiplexed over a tunnel: acting on received frames in order, and
//! filling outgoing packets with control frames and connection data.
//!
//! Frames act only after their packet authenticated and only in sequence order, so a
//! retransmitted or reordered packet never acts twice. A peer can make the tunnel hold at
//! most `max_connections` connections, each within its receive window; frames beyond
//! those bounds are refused, never buffered. This module never touches keys.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::connection::{Connection, ConnectionState};
use crate::endpoint::{ConnectionHandle, Event};
use crate::frame::{self, DATA_FRAME_OVERHEAD, Frame, FrameReader};
use crate::reliability::Arrival;
use crate::time::Time;
use crate::tunnel::{OpenedPacket, Role, Tunnel};

/// Most control frames a tunnel queues; beyond it, a peer's creates are ignored.
pub const MAX_PENDING_CONTROL_FRAMES: usize = 256;

impl Tunnel {
    fn handle_for(&self, connection: u32) -> ConnectionHandle {
        ConnectionHandle {
            tunnel: self.handle,
            id: connection,
        }
    }

    /// Whether `connection` is one the peer may create (its parity is the peer's).
    fn created_by_peer(&self, connection: u32) -> bool {
        let peer_parity = match self.role {
            Role::Client => 0,
            Role::Server => 1,
        };
        connection % 2 == peer_parity
    }

    /// Acts on an opened packet: acknowledgements, then its frames and any buffered
    /// packets it unblocks, in order.
    pub(crate) fn deliver(
        &mut self,
        now: Time,
        opened: OpenedPacket,
        max_connections: usize,
        events: &mut VecDeque<Event>,
    ) {
        self.last_heard = now;
        if self.commit_nonce(&opened) {
            events.push_back(Event::TunnelRekeyed {
                tunnel: self.handle,
            });
        }
        self.reliability.on_acknowledgement(now, &opened.header);
        self.reliability.note_received(now, opened.arrival);
        match opened.arrival {
            Arrival::AcknowledgementOnly | Arrival::Duplicate => {}
            Arrival::Ahead => {
                let frames = opened.frames().to_vec();
                self.reliability.store_ahead(opened.header.sequence, frames);
            }
            Arrival::InOrder => {
                self.reliability.mark_delivered(opened.header.sequence);
                self.apply_frames(opened.frames(), max_connections, events);
                while let Some((sequence, frames)) = self.reliability.take_next_in_order() {
                    self.reliability.mark_delivered(sequence);
                    self.apply_frames(&frames, max_connections, events);
                }
            }
        }
    }

    fn apply_frames(
        &mut self,
        frames: &[u8],
        max_connections: usize,
        events: &mut VecDeque<Event>,
    ) {
        let reader = FrameReader::new(frames);
        for frame in reader.flatten() {
            self.apply(frame, max_connections, events);
        }
    }

    fn apply(&mut self, frame: Frame<'_>, max_connections: usize, events: &mut VecDeque<Event>) {
        match frame {
            Frame::Create {
                connection,
                service,
                type_hash,
                user,
                first_value,
            } => {
                if !self.created_by_peer(connection) || self.connections.contains(connection) {
                    return;
                }
                if self.connections.len() >= max_connections {
                    self.queue_control(Frame::Refuse { connection }, None);
                    return;
                }
                if let Some(claim) = user {
                    self.remember_verified_user(claim.user, claim.authenticator);
                }
                self.connections
                    .insert(connection, Connection::new(ConnectionState::AwaitingAccept));
                events.push_back(Event::IncomingConnection {
                    connection: self.handle_for(connection),
                    service: service.to_vec(),
                    type_hash,
                    user: user.map(|claim| claim.user),
                    first_value: first_value.to_vec(),
                });
            }
            Frame::Accept { connection } => {
                let accepted = self.connections.update(connection, |state| {
                    let opening = state.state == ConnectionState::Opening;
                    if opening {
                        state.state = ConnectionState::Open;
                    }
                    opening
                });
                if accepted == Some(true) {
                    events.push_back(Event::ConnectionAccepted {
                        connection: self.handle_for(connection),
                    });
                }
            }
            Frame::Refuse { connection } => {
                if self.connections.remove(connection).is_some() {
                    events.push_back(Event::ConnectionRefused {
                        connection: self.handle_for(connection),
                    });
                }
            }
            Frame::Close { connection } => {
                if self.connections.remove(connection).is_some() {
                    events.push_back(Event::ConnectionClosed {
                        connection: self.handle_for(connection),
                    });
                }
            }
            Frame::Data { connection, bytes } => {
                let handle = self.handle_for(connection);
                let length = bytes.len() as u64;
                let within_window = self.connections.update(connection, |state| {
                    if state.received_bytes + length > state.advertised_maximum {
                        return false;
                    }
                    state.received_bytes += length;
                    if state.state == ConnectionState::Opening {
                        // Data can only follow the peer's accept, which was then lost to us.
                        state.state = ConnectionState::Open;
                    }
                    true
                });
                match within_window {
                    None => {}
                    Some(false) => {
                        // The peer ignored our window: end the connection rather than buffer.
                        self.connections.remove(connection);
                        self.queue_control(Frame::Close { connection }, None);
                        events.push_back(Event::ConnectionClosed { connection: handle });
                    }
                    Some(true) if !bytes.is_empty() => {
                        events.push_back(Event::Data {
                            connection: handle,
                            bytes: bytes.to_vec(),
                        });
                    }
                    Some(true) => {}
                }
            }
            Frame::WindowUpdate {
                connection,
                maximum,
            } => {
                self.connections.update(connection, |state| {
                    state.peer_maximum = state.peer_maximum.max(maximum);
                });
            }
            Frame::NextTunnel { tunnel_id } => {
                self.follow_rekey(tunnel_id);
                events.push_back(Event::TunnelRekeyed {
                    tunnel: self.handle,
                });
            }
        }
    }

    /// Queues a control frame; `announces` names the connection whose data may follow it.
    pub(crate) fn queue_control(&mut self, frame: Frame<'_>, announces: Option<u32>) {
        if self.control.len() >= MAX_PENDING_CONTROL_FRAMES && announces.is_none() {
            return;
        }
        let mut encoded = Vec::with_capacity(frame.encoded_length());
        frame.encode(&mut encoded);
        self.control.push_back((encoded, announces));
    }

    /// Allocates the next connection id of our parity.
    pub(crate) fn allocate_connection_id(&mut self) -> Option<u32> {
        let id = self.next_connection_id;
        self.next_connection_id = id.checked_add(2)?;
        Some(id)
    }

    fn has_new_frames(&self) -> bool {
        !self.control.is_empty() || self.connections.any_sending()
    }

    /// Fills a packet body with queued control frames, then data round-robin.
    fn gather_frames(&mut self) -> Vec<u8> {
        let capacity = self.frame_capacity();
        let mut body = Vec::with_capacity(capacity);
        while let Some((encoded, _)) = self.control.front() {
            if body.len() + encoded.len() > capacity {
                break;
            }
            if let Some((encoded, announces)) = self.control.pop_front() {
                body.extend_from_slice(&encoded);
                if let Some(id) = announces {
                    self.connections
                        .update(id, |connection| connection.announced = true);
                }
            }
        }
        // Round-robin over the connections with something to send, from the one after the
        // last served; each is visited once, and the others have nothing to add.
        let mut cursor = self.last_served_connection;
        let mut closed = Vec::new();
        for _ in 0..self.connections.sending_count() {
            let Some(id) = self.connections.next_sending_after(cursor) else {
                break;
            };
            cursor = id;
            let room = capacity.saturating_sub(body.len());
            if room <= DATA_FRAME_OVERHEAD {
                break;
            }
            let (served, closes) = self
                .connections
                .update(id, |connection| {
                    let length = connection
                        .sendable()
                        .min(room - DATA_FRAME_OVERHEAD)
                        .min(usize::from(u16::MAX));
                    if length > 0 {
                        frame::write_data_header(&mut body, id, length as u16);
                        connection.take_chunk(length, &mut body);
                    }
                    let closes = connection.ready_to_close() && capacity - body.len() >= 5;
                    if closes {
                        Frame::Close { connection: id }.encode(&mut body);
                    }
                    (length > 0, closes)
                })
                .unwrap_or_default();
            if served {
                self.last_served_connection = id;
            }
            if closes {
                closed.push(id);
            }
        }
        for id in closed {
            self.connections.remove(id);
        }
        body
    }

    /// The next packet this tunnel wants to send, if any.
    pub(crate) fn build_packet(&mut self, now: Time) -> Option<Vec<u8>> {
        if let Some(sequence) = self.reliability.next_retransmission(now) {
            return self.seal_stored(sequence);
        }
        if self.reliability.can_send_new() && self.has_new_frames() {
            let body = self.gather_frames();
            let sequence = self.reliability.record_sent(now, body);
            return self.seal_stored(sequence);
        }
        if self.reliability.acknowledgement_due(now) {
            return self.seal(0, &[]);
        }
        None
    }

    /// The application took `length` bytes of `connection`'s data.
    pub(crate) fn consumed(&mut self, connection: u32, length: u64) {
        let update = self
            .connections
            .update(connection, |state| state.consume(length))
            .flatten();
        if let Some(maximum) = update {
            self.queue_control(
                Frame::WindowUpdate {
                    connection,
                    maximum,
                },
                None,
            );
        }
    }
}

impl<'a> FrameReader<'a> {
    /// A reader over frames without a reliability header (a stored packet body).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        frame::reader_over(bytes)
    }
}
