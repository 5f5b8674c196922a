//! A tunnel's cryptographic state: its id and key, nonces in both directions, the
//! client's first-packet fields, and rekeying to a new id and key.
//!
//! The tunnel's client sends odd nonces and its server even ones, so the two directions
//! never share a (key, nonce) pair. Opening a packet is checked whole — key, nonce window,
//! frames, user authenticators — before anything changes; only
//! [`Tunnel::commit_nonce`] and the frame handlers in `multiplex` change state.
//! This module must never keep a previous key longer than the rekey that replaced it needs.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::connection::Connections;
use crate::endpoint::{DropReason, TunnelHandle};
use crate::frame::{self, Frame, ReliabilityHeader};
use crate::keys::{Authenticator, KEY_LENGTH, Label, PublicKeyBytes, SecretKey, SymmetricKey};
use crate::puzzle::PuzzleSolution;
use crate::reliability::{Arrival, Reliability};
use crate::replay::{NonceRejection, NonceWindow};
use crate::time::Time;
use crate::wire::{self, BoxedPacket};

/// Which end of the tunnel this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub enum Role {
    /// It sent the first packet.
    Client,
    /// It accepted the first packet.
    Server,
}

/// A change to which tunnel ids lead to this tunnel, for the endpoint's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub(crate) enum TunnelIdChange {
    Add(u64),
    Remove(u64),
}

impl OpenedPacket {
    /// The frames, after the reliability header.
    pub(crate) fn frames(&self) -> &[u8] {
        &self.plaintext[frame::RELIABILITY_HEADER_LENGTH..]
    }
}

/// Which of the tunnel's keys opened a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySlot {
    Current,
    Previous,
    Next,
}

/// An authentic, fresh, well-formed packet, not yet acted on.
#[derive(Debug)]
pub(crate) struct OpenedPacket {
    pub(crate) nonce: u64,
    pub(crate) slot: KeySlot,
    pub(crate) header: ReliabilityHeader,
    pub(crate) arrival: Arrival,
    /// The decrypted box; its frames start after the reliability header.
    pub(crate) plaintext: Vec<u8>,
}

#[derive(Debug)]
#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
pub(crate) struct RetiredKey {
    pub(crate) tunnel_id: u64,
    pub(crate) key: SymmetricKey,
}

#[derive(Debug)]
#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
pub(crate) struct Tunnel {
    pub(crate) handle: TunnelHandle,
    pub(crate) role: Role,
    pub(crate) peer_address: SocketAddr,
    /// The server's long-term key, known to the client from the directory record.
    pub(crate) peer_host: Option<PublicKeyBytes>,
    pub(crate) tunnel_id: u64,
    /// The id of the first packet. It stays reserved for the tunnel's life so that a
    /// replayed first packet finds this tunnel (and is dropped) instead of starting anew.
    pub(crate) original_tunnel_id: u64,
    pub(crate) key: SymmetricKey,
    /// Names this tunnel for user authenticators; fixed for the tunnel's life.
    pub(crate) binding: [u8; KEY_LENGTH],
    pub(crate) client_ephemeral: PublicKeyBytes,
    /// Client only: no authentic packet from the server yet, so every packet is a first
    /// packet (carries the ephemeral key and any puzzle solution).
    pub(crate) first_phase: bool,
    pub(crate) puzzle_solution: Option<PuzzleSolution>,
    pub(crate) next_nonce: u64,
    pub(crate) receive_nonces: NonceWindow,
    /// Server: the key the client used before its rekey, until it uses the new one.
    pub(crate) previous: Option<RetiredKey>,
    /// Client: the key it announced, until the server uses it.
    pub(crate) next: Option<RetiredKey>,
    pub(crate) packets_under_key: u64,
    pub(crate) reliability: Reliability,
    pub(crate) connections: Connections,
    /// Encoded control frames, each with the connection it announces (if any).
    pub(crate) control: VecDeque<(Vec<u8>, Option<u32>)>,
    pub(crate) next_connection_id: u32,
    pub(crate) last_served_connection: u32,
    /// Users whose authenticator for this tunnel already verified.
    pub(crate) verified_users: Vec<(PublicKeyBytes, Authenticator)>,
    pub(crate) id_changes: Vec<TunnelIdChange>,
    /// When the last authentic packet arrived (or the tunnel was made): what an
    /// idle tunnel is measured from.
    pub(crate) last_heard: Time,
}

impl Tunnel {
    /// Whether the tunnel carries nothing: no connection, no control frame waiting,
    /// nothing unacknowledged and no acknowledgement owed.
    pub(crate) fn is_quiet(&self) -> bool {
        self.connections.len() == 0 && self.control.is_empty() && self.reliability.is_settled()
    }
}

/// Most verified users a tunnel remembers; others are verified again.
const VERIFIED_USER_CACHE: usize = 8;

impl Tunnel {
    pub(crate) fn new(
        handle: TunnelHandle,
        role: Role,
        peer_address: SocketAddr,
        tunnel_id: u64,
        key: SymmetricKey,
        client_ephemeral: PublicKeyBytes,
    ) -> Self {
        let binding = key.pseudorandom(&Label::TUNNEL_BINDING);
        let (first_nonce, peer_parity, first_connection) = match role {
            Role::Client => (1, 0, 1),
            Role::Server => (2, 1, 2),
        };
        Self {
            handle,
            role,
            peer_address,
            peer_host: None,
            tunnel_id,
            original_tunnel_id: tunnel_id,
            key,
            binding,
            client_ephemeral,
            first_phase: role == Role::Client,
            puzzle_solution: None,
            next_nonce: first_nonce,
            receive_nonces: NonceWindow::new(peer_parity),
            previous: None,
            next: None,
            packets_under_key: 0,
            reliability: Reliability::new(),
            connections: Connections::default(),
            control: VecDeque::new(),
            next_connection_id: first_connection,
            last_served_connection: 0,
            verified_users: Vec::new(),
            id_changes: Vec::new(),
            last_heard: Time::from_milliseconds(0),
        }
    }

    /// The key a packet under `tunnel_id` must open with.
    fn key_for(&self, tunnel_id: u64) -> Option<(KeySlot, &SymmetricKey)> {
        if tunnel_id == self.tunnel_id {
            return Some((KeySlot::Current, &self.key));
        }
        if let Some(previous) = self.previous.as_ref().filter(|p| p.tunnel_id == tunnel_id) {
            return Some((KeySlot::Previous, &previous.key));
        }
        if let Some(next) = self.next.as_ref().filter(|n| n.tunnel_id == tunnel_id) {
            return Some((KeySlot::Next, &next.key));
        }
        None
    }

    /// Authenticates and checks a packet without changing anything.
    pub(crate) fn open(
        &self,
        packet: &BoxedPacket<'_>,
        host: &SecretKey,
    ) -> Result<OpenedPacket, DropReason> {
        if let Some(ephemeral) = packet.client_ephemeral {
            // Only a client's packets carry its key, and it must be this tunnel's.
            if self.role == Role::Client || ephemeral != self.client_ephemeral {
                return Err(DropReason::EphemeralKeyMismatch);
            }
        }
        let (slot, key) = self
            .key_for(packet.tunnel_id)
            .ok_or(DropReason::UnknownTunnel)?;
        self.receive_nonces
            .check(packet.nonce)
            .map_err(|rejection| match rejection {
                NonceRejection::WrongParity => DropReason::WrongNonceParity,
                NonceRejection::Replayed => DropReason::ReplayedNonce,
                NonceRejection::TooOld => DropReason::StaleNonce,
            })?;
        let mut plaintext = packet.ciphertext.to_vec();
        key.open(
            &wire::box_nonce(packet.tunnel_id, packet.nonce),
            &mut plaintext,
            &packet.tag,
        )
        .map_err(|_| DropReason::NotAuthentic)?;
        self.check_plaintext(packet.nonce, slot, plaintext, host)
    }

    /// Checks a decrypted box: frames well formed, sequence within the window, every
    /// user authenticator valid for this tunnel.
    pub(crate) fn check_plaintext(
        &self,
        nonce: u64,
        slot: KeySlot,
        plaintext: Vec<u8>,
        host: &SecretKey,
    ) -> Result<OpenedPacket, DropReason> {
        let (header, reader) = frame::split(&plaintext).map_err(DropReason::MalformedBox)?;
        let arrival = self
            .reliability
            .classify(header.sequence)
            .map_err(|_| DropReason::BeyondReceiveWindow)?;
        for item in reader {
            let frame = item.map_err(DropReason::MalformedBox)?;
            if arrival == Arrival::AcknowledgementOnly {
                return Err(DropReason::MalformedBox(
                    frame::FrameError::UnreliableControl,
                ));
            }
            if let Frame::Create {
                user: Some(claim), ..
            } = frame
            {
                let known = self
                    .verified_users
                    .contains(&(claim.user, claim.authenticator));
                if !known && !claim.authenticator.verify(host, &claim.user, &self.binding) {
                    return Err(DropReason::UserAuthenticationFailed);
                }
            }
        }
        Ok(OpenedPacket {
            nonce,
            slot,
            header,
            arrival,
            plaintext,
        })
    }

    /// Records what an accepted packet proves: its nonce, and which key the peer uses.
    /// Returns true when it completes a move to a new tunnel id and key.
    pub(crate) fn commit_nonce(&mut self, opened: &OpenedPacket) -> bool {
        self.receive_nonces.accept(opened.nonce);
        self.first_phase = false;
        match opened.slot {
            KeySlot::Current => {
                // The peer uses the current key: the previous one is no longer needed.
                if let Some(previous) = self.previous.take() {
                    self.id_changes
                        .push(TunnelIdChange::Remove(previous.tunnel_id));
                }
                false
            }
            KeySlot::Previous => false,
            KeySlot::Next => {
                self.promote_next();
                true
            }
        }
    }

    /// Client: the server moved to the announced id and key; forget the old ones.
    fn promote_next(&mut self) {
        if let Some(next) = self.next.take() {
            self.id_changes.push(TunnelIdChange::Remove(self.tunnel_id));
            self.tunnel_id = next.tunnel_id;
            self.key = next.key;
            self.packets_under_key = 0;
        }
    }

    /// Client: starts moving the tunnel to `new_tunnel_id`. Returns false if a move is
    /// already under way.
    pub(crate) fn begin_rekey(&mut self, new_tunnel_id: u64) -> bool {
        if self.role != Role::Client || self.next.is_some() || self.first_phase {
            return false;
        }
        let key = self.key.derive(&next_key_label(new_tunnel_id));
        self.next = Some(RetiredKey {
            tunnel_id: new_tunnel_id,
            key,
        });
        self.id_changes.push(TunnelIdChange::Add(new_tunnel_id));
        let frame = Frame::NextTunnel {
            tunnel_id: new_tunnel_id,
        };
        let mut encoded = Vec::with_capacity(frame.encoded_length());
        frame.encode(&mut encoded);
        self.control.push_back((encoded, None));
        true
    }

    /// Server: the client announced `new_tunnel_id`; move to it now, keeping the old key
    /// only to open the client's packets already in flight.
    pub(crate) fn follow_rekey(&mut self, new_tunnel_id: u64) {
        if self.role != Role::Server || new_tunnel_id == self.tunnel_id {
            return;
        }
        let key = self.key.derive(&next_key_label(new_tunnel_id));
        let old_key = core::mem::replace(&mut self.key, key);
        let old_id = core::mem::replace(&mut self.tunnel_id, new_tunnel_id);
        if let Some(older) = self.previous.replace(RetiredKey {
            tunnel_id: old_id,
            key: old_key,
        }) {
            self.id_changes
                .push(TunnelIdChange::Remove(older.tunnel_id));
        }
        self.id_changes.push(TunnelIdChange::Add(new_tunnel_id));
        self.packets_under_key = 0;
    }

    pub(crate) fn remember_verified_user(
        &mut self,
        user: PublicKeyBytes,
        authenticator: Authenticator,
    ) {
        if self.verified_users.contains(&(user, authenticator)) {
            return;
        }
        if self.verified_users.len() >= VERIFIED_USER_CACHE {
            self.verified_users.remove(0);
        }
        self.verified_users.push((user, authenticator));
    }

    /// Takes the next nonce and the current acknowledgement state for a packet.
    fn next_packet_fields(&mut self, sequence: u64) -> Option<(u64, ReliabilityHeader)> {
        let nonce = self.next_nonce;
        self.next_nonce = nonce.checked_add(2)?;
        self.packets_under_key += 1;
        self.reliability.acknowledgement_sent();
        Some((nonce, self.reliability.header(sequence)))
    }

    /// Seals `body` (frames) with the current key under the next nonce.
    pub(crate) fn seal(&mut self, sequence: u64, body: &[u8]) -> Option<Vec<u8>> {
        let (nonce, header) = self.next_packet_fields(sequence)?;
        Some(self.seal_parts(nonce, &header, body))
    }

    /// Seals the stored body of packet `sequence` (new or retransmitted) without copying
    /// it out of the retransmission queue first.
    pub(crate) fn seal_stored(&mut self, sequence: u64) -> Option<Vec<u8>> {
        let (nonce, header) = self.next_packet_fields(sequence)?;
        let body = self.reliability.body_of(sequence)?;
        Some(self.seal_parts(nonce, &header, body))
    }

    fn seal_parts(&self, nonce: u64, header: &ReliabilityHeader, body: &[u8]) -> Vec<u8> {
        let (ephemeral, solution) = if self.first_phase {
            (Some(&self.client_ephemeral), self.puzzle_solution.as_ref())
        } else {
            (None, None)
        };
        // Exactly the datagram's size: queued datagrams hold no slack.
        let length = wire::boxed_header_length(ephemeral.is_some(), solution.is_some())
            + frame::RELIABILITY_HEADER_LENGTH
            + body.len();
        let mut output = Vec::with_capacity(length);
        let tag_offset =
            wire::write_boxed_header(&mut output, self.tunnel_id, nonce, ephemeral, solution);
        let plaintext_start = output.len();
        header.encode(&mut output);
        output.extend_from_slice(body);
        let tag = self.key.seal(
            &wire::box_nonce(self.tunnel_id, nonce),
            &mut output[plaintext_start..],
        );
        output[tag_offset..plaintext_start].copy_from_slice(&tag);
        debug_assert_eq!(output.len(), length);
        output
    }

    /// Room for frames in one packet. Packets built while the client is still in its
    /// first phase may be resent as first packets, so they leave room for those fields.
    pub(crate) fn frame_capacity(&self) -> usize {
        let first = if self.first_phase {
            wire::FIRST_PACKET_EXTRA + crate::puzzle::SOLUTION_LENGTH
        } else {
            0
        };
        wire::MAX_DATAGRAM
            - wire::HEADER_LENGTH
            - first
            - crate::keys::TAG_LENGTH
            - frame::RELIABILITY_HEADER_LENGTH
    }
}

fn next_key_label(tunnel_id: u64) -> Label {
    Label::with_context(b"minimalt nxt", &tunnel_id.to_be_bytes())
}
