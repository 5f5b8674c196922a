//! The endpoint: the whole protocol as a state machine driven by the caller, in the style
//! of `quinn-proto`. The caller feeds datagrams and timer expiries in and takes datagrams
//! and events out; the endpoint does no I/O and reads no clock.
//!
//! Bounds on what a peer can make it hold: at most `max_tunnels` tunnels (each made only
//! after an authentic first packet, and, while puzzles are on, a correct fresh solution);
//! per tunnel at most `max_connections_per_tunnel` connections,
//! [`SEND_WINDOW`](crate::SEND_WINDOW) buffered packets of at most
//! [`MAX_DATAGRAM`](crate::MAX_DATAGRAM) bytes and
//! [`MAX_PENDING_CONTROL_FRAMES`](crate::MAX_PENDING_CONTROL_FRAMES) queued replies; per
//! connection one receive window
//! ([`CONNECTION_RECEIVE_WINDOW`](crate::CONNECTION_RECEIVE_WINDOW)) of undelivered data;
//! at most [`MAX_PENDING_CHALLENGES`] unsent puzzle challenges and
//! [`MAX_PENDING_EVENTS`] events the application has not taken. A datagram that fails any
//! check is dropped whole and changes nothing.
//!
//! This module must never act on a datagram before it authenticated, and never send a
//! datagram it did not seal.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

use rand_core::CryptoRngCore;

pub use crate::failures::{DropReason, EndpointError};
use crate::frame::TypeHash;
use crate::keys::{KEY_LENGTH, NONCE_LENGTH, PublicKeyBytes, SecretKey};
use crate::puzzle::PuzzleKey;
use crate::record::{DirectoryRecord, RecordError};
use crate::time::Time;
use crate::tunnel::{Role, Tunnel, TunnelIdChange};
use crate::wire::{self, MAX_DATAGRAM, Packet};

/// Most puzzle challenges waiting in the outgoing queue; beyond it none are made.
pub const MAX_PENDING_CHALLENGES: usize = 64;
/// Most events waiting for the application; while the queue is this long, datagrams are
/// dropped unread (peers retransmit), so a peer cannot grow it without the application.
pub const MAX_PENDING_EVENTS: usize = 65_536;

/// Names a tunnel for as long as it lives, across rekeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TunnelHandle(pub(crate) u64);

/// Names a connection: its tunnel and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionHandle {
    /// The tunnel carrying it.
    pub tunnel: TunnelHandle,
    /// Its number in the tunnel (odd if the tunnel's client made it, even otherwise).
    pub id: u32,
}

/// What the application learns from the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub enum Event {
    /// A peer opened a tunnel to this endpoint.
    TunnelAccepted {
        /// The new tunnel.
        tunnel: TunnelHandle,
    },
    /// The peer asks for a connection; answer with [`Endpoint::accept`] or
    /// [`Endpoint::refuse`]. `user` is present only if its authenticator verified.
    IncomingConnection {
        /// The connection.
        connection: ConnectionHandle,
        /// The service asked for.
        service: Vec<u8>,
        /// The type of the values the connection carries.
        type_hash: TypeHash,
        /// The authenticated user, if the peer authenticated one.
        user: Option<PublicKeyBytes>,
        /// The first value, sent with the request.
        first_value: Vec<u8>,
    },
    /// The peer accepted a connection we opened.
    ConnectionAccepted {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The peer refused a connection we opened.
    ConnectionRefused {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// Bytes arrived on a connection, in order.
    Data {
        /// The connection.
        connection: ConnectionHandle,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The peer closed a connection.
    ConnectionClosed {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The tunnel moved to a new id and key.
    TunnelRekeyed {
        /// The tunnel.
        tunnel: TunnelHandle,
    },
    /// The tunnel was idle for [`EndpointConfig::idle_tunnel_milliseconds`] and is
    /// gone, its keys erased; a later connection to its peer makes a new one.
    TunnelClosed {
        /// The tunnel.
        tunnel: TunnelHandle,
    },
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Policy and limits of an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// How long an ephemeral incoming key is current; it is accepted for as long again
    /// after it is replaced, and records say so in their expiry.
    pub incoming_key_lifetime_milliseconds: u64,
    /// Most tunnels held at once.
    pub max_tunnels: usize,
    /// Most connections per tunnel.
    pub max_connections_per_tunnel: usize,
    /// Highest puzzle difficulty this endpoint will solve as a client.
    pub max_puzzle_difficulty: u8,
    /// A client moves a tunnel to a new id and key after this many packets under one key.
    pub rekey_after_packets: Option<u64>,
    /// A tunnel that carries nothing (no connection, nothing unacknowledged) and has
    /// heard nothing authentic for this long is torn down and its keys erased
    /// ([`Event::TunnelClosed`]); `None` keeps tunnels until the endpoint is dropped.
    pub idle_tunnel_milliseconds: Option<u64>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            incoming_key_lifetime_milliseconds: 3_600_000,
            max_tunnels: 1024,
            max_connections_per_tunnel: 256,
            max_puzzle_difficulty: 20,
            rekey_after_packets: None,
            idle_tunnel_milliseconds: None,
        }
    }
}

/// Counters for tests, benchmarks and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// X25519 operations performed (key generation and key agreement).
    pub x25519_operations: u64,
    /// Datagrams handed to `handle_datagram` and accepted.
    pub datagrams_accepted: u64,
    /// Datagrams dropped.
    pub datagrams_dropped: u64,
    /// Datagrams handed out by `poll_transmit`.
    pub datagrams_sent: u64,
}

#[cfg_attr(fuzzing, derive(Clone))]
pub(crate) struct IncomingKey {
    pub(crate) secret: SecretKey,
    pub(crate) created: Time,
}

/// A MinimaLT endpoint: a host's tunnels, as client and as server.
pub struct Endpoint {
    pub(crate) config: EndpointConfig,
    pub(crate) host: SecretKey,
    pub(crate) rng: Box<dyn CryptoRngCore + Send>,
    pub(crate) incoming: IncomingKey,
    pub(crate) previous_incoming: Option<IncomingKey>,
    pub(crate) puzzle_key: PuzzleKey,
    pub(crate) puzzle_difficulty: Option<u8>,
    pub(crate) tunnels: BTreeMap<TunnelHandle, Tunnel>,
    pub(crate) tunnel_ids: BTreeMap<u64, TunnelHandle>,
    pub(crate) by_host: BTreeMap<PublicKeyBytes, TunnelHandle>,
    pub(crate) next_handle: u64,
    pub(crate) last_served_tunnel: u64,
    pub(crate) stateless: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) statistics: Statistics,
    /// The first tunnel ids of tunnels torn down as idle, each until no incoming key
    /// that could have accepted its first packet is left: a replay of such a first
    /// packet must not make the tunnel anew.
    pub(crate) retired_first_ids: BTreeMap<u64, Time>,
}

/// Most torn-down tunnels whose first ids an endpoint remembers; while that many are
/// remembered, idle tunnels are kept instead of torn down.
pub const MAX_RETIRED_TUNNELS: usize = 65_536;

impl fmt::Debug for Endpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Endpoint")
            .field("host", &self.host.public_key())
            .field("tunnels", &self.tunnels.len())
            .field("statistics", &self.statistics)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for the host with long-term key `host`.
    pub fn new(
        config: EndpointConfig,
        host: SecretKey,
        mut rng: Box<dyn CryptoRngCore + Send>,
        now: Time,
    ) -> Self {
        let incoming = IncomingKey {
            secret: SecretKey::generate(&mut *rng),
            created: now,
        };
        let mut puzzle_secret = [0u8; KEY_LENGTH];
        rng.fill_bytes(&mut puzzle_secret);
        Self {
            config,
            host,
            rng,
            incoming,
            previous_incoming: None,
            puzzle_key: PuzzleKey::new(puzzle_secret),
            puzzle_difficulty: None,
            tunnels: BTreeMap::new(),
            tunnel_ids: BTreeMap::new(),
            by_host: BTreeMap::new(),
            next_handle: 1,
            last_served_tunnel: 0,
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            statistics: Statistics {
                x25519_operations: 1,
                ..Statistics::default()
            },
            retired_first_ids: BTreeMap::new(),
        }
    }

    /// The host's long-term public key.
    pub fn host_public_key(&self) -> PublicKeyBytes {
        self.host.public_key()
    }

    /// The counters.
    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// How many tunnels exist.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Where the peer of `tunnel` sends from: the source address of its latest
    /// authentic packet. A server learns no long-term key of a client's host (MinimaLT
    /// authenticates users, not client hosts), so this is all it knows of the host.
    pub fn tunnel_peer_address(&self, tunnel: TunnelHandle) -> Option<SocketAddr> {
        self.tunnels.get(&tunnel).map(|tunnel| tunnel.peer_address)
    }

    /// Requires a puzzle of `difficulty` bits from every new client (`None`: no puzzle).
    pub fn set_puzzle_difficulty(&mut self, difficulty: Option<u8>) {
        self.puzzle_difficulty = difficulty;
    }

    /// This host's directory record at `address`, boxed for `verifier`, advertising the
    /// current ephemeral incoming key.
    pub fn directory_record(
        &mut self,
        address: SocketAddr,
        verifier: &PublicKeyBytes,
    ) -> Result<Vec<u8>, RecordError> {
        let record = DirectoryRecord {
            address,
            host_key: self.host.public_key(),
            ephemeral_key: self.incoming.secret.public_key(),
            expiry: self
                .incoming
                .created
                .plus_milliseconds(2 * self.config.incoming_key_lifetime_milliseconds),
        };
        let mut nonce = [0u8; NONCE_LENGTH];
        self.rng.fill_bytes(&mut nonce);
        self.statistics.x25519_operations += 1;
        record.seal(&self.host, verifier, nonce)
    }

    /// Verifies a directory record that `expected_host` boxed for this host.
    pub fn verify_record(
        &mut self,
        bytes: &[u8],
        expected_host: &PublicKeyBytes,
        now: Time,
    ) -> Result<DirectoryRecord, RecordError> {
        self.statistics.x25519_operations += 1;
        DirectoryRecord::open(bytes, expected_host, &self.host, now)
    }

    /// The tunnel to the host of `record`: the existing one, or a new one whose first
    /// packet will go with the first connection.
    pub fn connect(
        &mut self,
        now: Time,
        record: &DirectoryRecord,
    ) -> Result<TunnelHandle, EndpointError> {
        if now >= record.expiry {
            return Err(EndpointError::Record(RecordError::Expired));
        }
        if let Some(&handle) = self.by_host.get(&record.host_key) {
            return Ok(handle);
        }
        if self.tunnels.len() >= self.config.max_tunnels {
            return Err(EndpointError::TooManyTunnels);
        }
        let ephemeral = crate::keys::OutgoingEphemeral::generate(&mut *self.rng);
        let client_ephemeral = ephemeral.public_key();
        self.statistics.x25519_operations += 2;
        let key = ephemeral
            .agree(&record.ephemeral_key)
            .map_err(|_| EndpointError::WeakKey)?;
        let tunnel_id = self.fresh_tunnel_id();
        let handle = TunnelHandle(self.next_handle);
        self.next_handle += 1;
        let mut tunnel = Tunnel::new(
            handle,
            Role::Client,
            record.address,
            tunnel_id,
            key,
            client_ephemeral,
        );
        tunnel.peer_host = Some(record.host_key);
        tunnel.last_heard = now;
        self.tunnels.insert(handle, tunnel);
        self.tunnel_ids.insert(tunnel_id, handle);
        self.by_host.insert(record.host_key, handle);
        Ok(handle)
    }

    pub(crate) fn fresh_tunnel_id(&mut self) -> u64 {
        loop {
            let candidate = self.rng.next_u64() & wire::TUNNEL_ID_MASK;
            if candidate != 0 && !self.tunnel_ids.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    /// Moves a tunnel this endpoint opened to a new id and key.
    pub fn rekey(&mut self, tunnel: TunnelHandle) -> Result<(), EndpointError> {
        let new_id = self.fresh_tunnel_id();
        let state = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(EndpointError::UnknownTunnel)?;
        if !state.begin_rekey(new_id) {
            return Err(EndpointError::RekeyNotPossible);
        }
        self.apply_id_changes(tunnel);
        Ok(())
    }

    pub(crate) fn apply_id_changes(&mut self, handle: TunnelHandle) {
        let Some(tunnel) = self.tunnels.get_mut(&handle) else {
            return;
        };
        let original = tunnel.original_tunnel_id;
        for change in tunnel.id_changes.drain(..) {
            match change {
                TunnelIdChange::Add(id) => {
                    self.tunnel_ids.insert(id, handle);
                }
                TunnelIdChange::Remove(id) => {
                    if id != original && self.tunnel_ids.get(&id) == Some(&handle) {
                        self.tunnel_ids.remove(&id);
                    }
                }
            }
        }
    }

    /// The next event, if any. Taking a data event frees that much of its connection's
    /// receive window.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Data { connection, bytes } = &event {
            let tunnel = self.tunnels.get_mut(&connection.tunnel);
            if let Some(tunnel) = tunnel {
                tunnel.consumed(connection.id, bytes.len() as u64);
            }
        }
        Some(event)
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self, now: Time) -> Option<Transmit> {
        if let Some(transmit) = self.stateless.pop_front() {
            self.statistics.datagrams_sent += 1;
            return Some(transmit);
        }
        let mut cursor = self.last_served_tunnel;
        for _ in 0..self.tunnels.len() {
            // Round-robin from the tunnel after the last one served, without allocating.
            let next = self
                .tunnels
                .range(TunnelHandle(cursor.saturating_add(1))..)
                .next()
                .or_else(|| self.tunnels.first_key_value())
                .map(|(&handle, _)| handle);
            let Some(handle) = next else { break };
            cursor = handle.0;
            self.maybe_rekey(handle);
            let Some(tunnel) = self.tunnels.get_mut(&handle) else {
                continue;
            };
            if let Some(payload) = tunnel.build_packet(now) {
                let destination = tunnel.peer_address;
                self.last_served_tunnel = handle.0;
                self.statistics.datagrams_sent += 1;
                debug_assert!(payload.len() <= MAX_DATAGRAM);
                return Some(Transmit {
                    destination,
                    payload,
                });
            }
        }
        None
    }

    fn maybe_rekey(&mut self, handle: TunnelHandle) {
        let Some(limit) = self.config.rekey_after_packets else {
            return;
        };
        let due = self.tunnels.get(&handle).is_some_and(|tunnel| {
            tunnel.role == Role::Client
                && tunnel.next.is_none()
                && !tunnel.first_phase
                && tunnel.packets_under_key >= limit
        });
        if due {
            // Refusal only means a move is already under way.
            let _ = self.rekey(handle);
        }
    }

    /// When [`Endpoint::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        let rotation = self
            .incoming
            .created
            .plus_milliseconds(self.config.incoming_key_lifetime_milliseconds);
        let idle = self.config.idle_tunnel_milliseconds.and_then(|idle| {
            self.tunnels
                .values()
                .filter(|tunnel| tunnel.is_quiet())
                .map(|tunnel| tunnel.last_heard.plus_milliseconds(idle))
                .min()
        });
        self.tunnels
            .values()
            .filter_map(|tunnel| tunnel.reliability.next_timeout())
            .chain(core::iter::once(rotation))
            .chain(idle)
            .min()
    }

    /// Runs every timer that expired by `now`: retransmissions and key rotation.
    pub fn handle_timeout(&mut self, now: Time) {
        let lifetime = self.config.incoming_key_lifetime_milliseconds;
        if now >= self.incoming.created.plus_milliseconds(lifetime) {
            let fresh = IncomingKey {
                secret: SecretKey::generate(&mut *self.rng),
                created: now,
            };
            self.statistics.x25519_operations += 1;
            // The replaced previous key is dropped here, and zeroized with it.
            self.previous_incoming = Some(core::mem::replace(&mut self.incoming, fresh));
        }
        if self
            .previous_incoming
            .as_ref()
            .is_some_and(|previous| now >= previous.created.plus_milliseconds(2 * lifetime))
        {
            self.previous_incoming = None;
        }
        for tunnel in self.tunnels.values_mut() {
            tunnel.reliability.on_timeout(now);
        }
        self.retired_first_ids.retain(|_, until| now < *until);
        if let Some(idle) = self.config.idle_tunnel_milliseconds {
            let idle: Vec<(TunnelHandle, u64)> = self
                .tunnels
                .values()
                .filter(|tunnel| {
                    tunnel.is_quiet() && now >= tunnel.last_heard.plus_milliseconds(idle)
                })
                .map(|tunnel| (tunnel.handle, tunnel.original_tunnel_id))
                .collect();
            // A first packet is accepted under the current or the previous incoming
            // key, and the current one is retired at most two lifetimes from now.
            let until = now.plus_milliseconds(2 * lifetime);
            for (handle, original_id) in idle {
                if self.retired_first_ids.len() >= MAX_RETIRED_TUNNELS {
                    break;
                }
                self.retired_first_ids.insert(original_id, until);
                // Dropping the tunnel zeroizes its keys.
                self.tunnels.remove(&handle);
                self.tunnel_ids.retain(|_, owner| *owner != handle);
                self.by_host.retain(|_, owner| *owner != handle);
                self.events
                    .push_back(Event::TunnelClosed { tunnel: handle });
            }
        }
    }

    /// Handles one received datagram. On `Err` the datagram was dropped and nothing
    /// changed.
    pub fn handle_datagram(
        &mut self,
        now: Time,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let verdict = if self.events.len() >= MAX_PENDING_EVENTS {
            Err(DropReason::EventQueueFull)
        } else {
            self.dispatch(now, from, bytes)
        };
        match verdict {
            Ok(()) => self.statistics.datagrams_accepted += 1,
            Err(_) => self.statistics.datagrams_dropped += 1,
        }
        verdict
    }

    fn dispatch(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) -> Result<(), DropReason> {
        match wire::parse(bytes) {
            Err(error) => Err(DropReason::Malformed(error)),
            Ok(Packet::Challenge {
                tunnel_id,
                challenge,
            }) => self.handle_challenge(tunnel_id, &challenge),
            Ok(Packet::Boxed(packet)) => self.handle_boxed(now, from, &packet),
        }
    }
}
