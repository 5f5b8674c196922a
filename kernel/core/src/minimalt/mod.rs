//! The kernel's MinimaLT service: typed connections to services on other hosts over
//! always-encrypted, authenticated tunnels, with no socket anywhere.
//!
//! [`TunnelService`] wraps `ethos_crypto`'s sans-I/O [`Endpoint`] with what the
//! kernel adds: hosts looked up by name in the [`Directory`] the image gives, the
//! directory records of other hosts fetched from the hosts themselves (see below),
//! values framed on a connection's byte stream, and the recognizer run on every value
//! in both directions — a value that is not of the connection's type is refused to
//! the sender and, from a peer that sends one anyway, dropped and counted by the
//! receiver, so it never reaches a program. Like the endpoint it does no I/O and reads
//! no clock: the platform feeds it datagrams and times (over the datagram class,
//! whichever backend serves it) and sends what [`TunnelService::poll_transmit`] gives.
//!
//! # Records from the hosts themselves
//!
//! A client needs the server's current ephemeral key, which Ethos's directory service
//! publishes in a record the server boxed for the client. The static directory holds
//! no ephemeral keys, so the service asks the host: a record request (tunnel id 0,
//! which no tunnel has, then [`RECORD_REQUEST`] and the asker's long-term key) is
//! answered with the record boxed from the host's long-term key to the asker's, which
//! only the asker can open and only the host can make. A host answers only hosts its
//! directory lists, at most once per [`RECORD_ANSWER_INTERVAL_MILLISECONDS`] each; the
//! first tunnel to a host costs this one extra round trip, as a directory lookup would.
//! Records are kept until they expire; an expired one is asked for again.
//!
//! Record expiry compares the server's clock with the client's, so hosts need a
//! shared epoch; the kernel passes milliseconds since boot until it reads a real-time
//! clock, which holds while hosts boot within the record lifetime of each other.

pub mod bridge;
#[cfg(test)]
mod bridge_tests;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use ethos_abi::Status;
use ethos_crypto::{
    ConnectionHandle, DirectoryRecord, Endpoint, EndpointConfig, EndpointError, Event,
    PublicKeyBytes, RECORD_LENGTH, SecretKey, Time, Transmit, TunnelHandle, TypeHash,
};
use ethos_typesys::TypeGraph;
use ethos_typesys::recognizer::{Direction, recognize};
use rand_core::CryptoRngCore;

use crate::hosts::{Directory, HostAddress, StaticDirectory};

/// What follows tunnel id 0 in a record request.
pub const RECORD_REQUEST: &[u8; 8] = b"ethos-rq";
/// What follows tunnel id 0 in a record answer.
pub const RECORD_ANSWER: &[u8; 8] = b"ethos-ra";
/// A host answers one host's record requests at most this often.
pub const RECORD_ANSWER_INTERVAL_MILLISECONDS: u64 = 100;
/// A record request unanswered after this long is sent again.
pub const RECORD_RETRY_MILLISECONDS: u64 = 500;
/// After this many unanswered requests the connections waiting for the record fail
/// with [`Status::TunnelNotCreated`].
pub const RECORD_ATTEMPTS: u32 = 6;
/// The largest value a remote connection carries. Values travel whole through the
/// kernel, so the bound keeps one connection from holding much of its heap.
pub const MAXIMUM_REMOTE_VALUE: usize = 1 << 20;
/// Bytes of framed values a connection may have waiting to enter the tunnel; more is
/// refused with [`Status::LimitReached`] until the peer takes some.
pub const MAXIMUM_UNSENT: usize = 4 << 20;
/// A tunnel that carries no connection and heard nothing for this long is torn
/// down and its keys erased; the next connection to its host makes a new one.
pub const IDLE_TUNNEL_MILLISECONDS: u64 = 60_000;

/// Key agreements a host does in one [`LOAD_WINDOW_MILLISECONDS`] before it asks
/// every new client for a puzzle: each first packet of a tunnel costs one or two,
/// before the host knows whether the packet is authentic.
pub const LOAD_KEY_AGREEMENTS: u64 = 64;
/// The window the load is measured over.
pub const LOAD_WINDOW_MILLISECONDS: u64 = 1_000;
/// The puzzle difficulty (bits) under load: about 4,000 hashes for a client.
pub const PUZZLE_DIFFICULTY: u8 = 12;
/// Quiet windows in a row after which puzzles are no longer asked.
pub const QUIET_WINDOWS: u32 = 10;

/// The endpoint's policy in the kernel: the crate's defaults, with idle tunnels torn
/// down after [`IDLE_TUNNEL_MILLISECONDS`].
pub fn kernel_endpoint_config() -> EndpointConfig {
    EndpointConfig {
        idle_tunnel_milliseconds: Some(IDLE_TUNNEL_MILLISECONDS),
        ..EndpointConfig::default()
    }
}

/// Bytes of a value's length that precede it on a connection.
const LENGTH_BYTES: usize = 4;

const ZERO_TUNNEL: [u8; 8] = [0; 8];

/// Whether a value is of a type: the recognizer, as the kernel's type graph runs it.
pub trait TypeCheck {
    /// Whether `value` is a whole, well-formed value of the type `type_hash` names,
    /// going `direction`: on an interface's connection the client (who opened it)
    /// sends requests and the server replies.
    fn well_typed(&self, type_hash: &TypeHash, direction: Direction, value: &[u8]) -> bool;
}

/// The recognizer over a type graph: how the kernel checks remote values.
pub struct GraphTypes {
    /// The types, as the image declares them.
    pub graph: TypeGraph<'static>,
}

impl core::fmt::Debug for GraphTypes {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("GraphTypes")
            .field("types", &self.graph.nodes().len())
            .finish()
    }
}

impl TypeCheck for GraphTypes {
    fn well_typed(&self, type_hash: &TypeHash, direction: Direction, value: &[u8]) -> bool {
        self.graph
            .find(&ethos_typesys::TypeHash(type_hash.0))
            .is_some_and(|root| recognize(&self.graph, root, direction, value).is_ok())
    }
}

/// Names a connection to or from another host for as long as it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteConnection(pub u64);

/// What the service tells the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    /// The server accepted a connection this host opened.
    Accepted(RemoteConnection),
    /// A connection this host opened will not be: refused by the server
    /// ([`Status::NotAuthorized`]), or no tunnel could be made
    /// ([`Status::TunnelNotCreated`]).
    Failed(RemoteConnection, Status),
    /// A client asks for a service here; answer with [`TunnelService::accept`] or
    /// [`TunnelService::refuse`]. The first value (if any) is already checked.
    Incoming {
        /// The connection.
        connection: RemoteConnection,
        /// The client's host: its name in the directory, found by the address its
        /// tunnel's packets come from (a client host proves no key of its own in
        /// MinimaLT), or that address as text for a host the directory lacks.
        host: String,
        /// The service asked for.
        service: String,
        /// The type its values must have.
        type_hash: TypeHash,
        /// The user the client's kernel authenticated, if any.
        user: Option<PublicKeyBytes>,
        /// The first value (empty for none).
        first_value: Vec<u8>,
    },
    /// A whole, well-typed value arrived on a connection.
    Value(RemoteConnection, Vec<u8>),
    /// The peer closed a connection.
    Closed(RemoteConnection),
}

/// What the service dropped, by reason: every bad datagram and value is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams the endpoint refused (forged, tampered, replayed, too old, ...).
    pub datagrams_dropped: u64,
    /// Datagrams the endpoint took.
    pub datagrams_accepted: u64,
    /// Record requests from hosts the directory does not list, malformed, or too soon.
    pub record_requests_refused: u64,
    /// Record answers nobody asked for, that do not open, or from another host.
    pub records_refused: u64,
    /// Values (first values included) that are not of their connection's type.
    pub ill_typed_values: u64,
    /// Connections closed because the peer framed a value longer than the bound.
    pub oversized_values: u64,
    /// Connection requests refused before the kernel saw them (a service name that
    /// is not UTF-8, or an ill-typed first value).
    pub requests_refused: u64,
    /// Record requests this host sent.
    pub record_requests_sent: u64,
    /// Times the host began asking new clients for puzzles.
    pub puzzles_switched_on: u64,
}

/// A connection of this host's.
struct Remote {
    /// The endpoint's connection, once it exists (a connection waiting for its
    /// host's record has none yet).
    handle: Option<ConnectionHandle>,
    type_hash: TypeHash,
    /// Bytes received that do not make a whole value yet.
    received: Vec<u8>,
    /// Framed values not yet taken by the endpoint.
    unsent: VecDeque<u8>,
    /// Whether the peer accepted it (or, for an incoming one, this host did).
    open: bool,
    /// Whether this host opened it (so sends requests and receives replies).
    opener: bool,
    /// Whether it closes once `unsent` has gone into the tunnel.
    closing: bool,
}

impl Remote {
    /// The direction of the values this host sends on it.
    fn sending(&self) -> Direction {
        if self.opener {
            Direction::Request
        } else {
            Direction::Reply
        }
    }

    /// The direction of the values it receives.
    fn receiving(&self) -> Direction {
        if self.opener {
            Direction::Reply
        } else {
            Direction::Request
        }
    }
}

/// A connection waiting for its host's record.
struct PendingOpen {
    connection: RemoteConnection,
    host_key: PublicKeyBytes,
    service: Vec<u8>,
    type_hash: TypeHash,
    first_value: Vec<u8>,
    user: Option<SecretKey>,
}

/// A record request in flight.
struct Asking {
    address: SocketAddr,
    last_sent: Time,
    attempts: u32,
}

/// This host's MinimaLT service.
pub struct TunnelService {
    endpoint: Endpoint,
    host_key: PublicKeyBytes,
    address: SocketAddr,
    directory: StaticDirectory,
    records: BTreeMap<PublicKeyBytes, DirectoryRecord>,
    asking: BTreeMap<PublicKeyBytes, Asking>,
    answered: BTreeMap<PublicKeyBytes, Time>,
    pending: Vec<PendingOpen>,
    connections: BTreeMap<RemoteConnection, Remote>,
    by_handle: BTreeMap<ConnectionHandle, RemoteConnection>,
    next_connection: u64,
    events: VecDeque<ServiceEvent>,
    outgoing: VecDeque<Transmit>,
    counters: Counters,
    types: Box<dyn TypeCheck + Send>,
    load: Load,
}

/// Key agreements over the current window, and whether puzzles are asked.
#[derive(Debug)]
struct Load {
    window_start: Time,
    agreements_at_start: u64,
    puzzles: bool,
    quiet_windows: u32,
}

impl core::fmt::Debug for TunnelService {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("TunnelService")
            .field("host_key", &self.host_key)
            .field("address", &self.address)
            .field("tunnels", &self.endpoint.tunnel_count())
            .field("connections", &self.connections.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The socket address of a host's facts.
pub fn socket_address(address: HostAddress) -> SocketAddr {
    let [a, b, c, d] = address.ip;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), address.port)
}

impl TunnelService {
    /// The service of the host with long-term key `host_key`, reached at `address`,
    /// knowing the hosts of `directory`.
    pub fn new(
        host_key: SecretKey,
        address: HostAddress,
        directory: StaticDirectory,
        types: Box<dyn TypeCheck + Send>,
        rng: Box<dyn CryptoRngCore + Send>,
        config: EndpointConfig,
        now: Time,
    ) -> TunnelService {
        let public = host_key.public_key();
        TunnelService {
            endpoint: Endpoint::new(config, host_key, rng, now),
            host_key: public,
            address: socket_address(address),
            directory,
            records: BTreeMap::new(),
            asking: BTreeMap::new(),
            answered: BTreeMap::new(),
            pending: Vec::new(),
            connections: BTreeMap::new(),
            by_handle: BTreeMap::new(),
            next_connection: 1,
            events: VecDeque::new(),
            outgoing: VecDeque::new(),
            counters: Counters::default(),
            types,
            load: Load {
                window_start: now,
                agreements_at_start: 0,
                puzzles: false,
                quiet_windows: 0,
            },
        }
    }

    /// Whether new clients must solve a puzzle now.
    pub fn asks_puzzles(&self) -> bool {
        self.load.puzzles
    }

    /// Asks new clients for puzzles while key agreements run above
    /// [`LOAD_KEY_AGREEMENTS`] a window, until [`QUIET_WINDOWS`] windows in a row stay
    /// below it. A flood of first packets then costs the host a keyed hash each, not a
    /// key agreement; a client that cannot solve gets no tunnel.
    fn watch_load(&mut self, now: Time) {
        let agreements = self.endpoint.statistics().x25519_operations;
        let in_window = agreements.saturating_sub(self.load.agreements_at_start);
        let elapsed = now.milliseconds_since(self.load.window_start);
        if in_window > LOAD_KEY_AGREEMENTS && !self.load.puzzles {
            self.load.puzzles = true;
            self.load.quiet_windows = 0;
            self.counters.puzzles_switched_on += 1;
            self.endpoint.set_puzzle_difficulty(Some(PUZZLE_DIFFICULTY));
        }
        if elapsed >= LOAD_WINDOW_MILLISECONDS {
            if self.load.puzzles {
                if in_window > LOAD_KEY_AGREEMENTS {
                    self.load.quiet_windows = 0;
                } else {
                    self.load.quiet_windows += 1;
                }
                if self.load.quiet_windows >= QUIET_WINDOWS {
                    self.load.puzzles = false;
                    self.endpoint.set_puzzle_difficulty(None);
                }
            }
            self.load.window_start = now;
            self.load.agreements_at_start = agreements;
        }
    }

    /// What was dropped so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The endpoint's counters (datagrams, key agreements).
    pub fn statistics(&self) -> ethos_crypto::Statistics {
        self.endpoint.statistics()
    }

    /// How many tunnels exist.
    pub fn tunnel_count(&self) -> usize {
        self.endpoint.tunnel_count()
    }

    /// How many connections exist (open, opening or waiting for a record).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Opens a connection to `service` on host `host`, checking `first_value`
    /// against `type_hash` first; with `user`, the connection proves that user to the
    /// server's kernel. The connection is usable once [`ServiceEvent::Accepted`]
    /// names it; values sent before then wait.
    pub fn open(
        &mut self,
        now: Time,
        host: &str,
        service: &str,
        type_hash: TypeHash,
        user: Option<SecretKey>,
        first_value: &[u8],
    ) -> Result<RemoteConnection, Status> {
        let known = self.directory.host(host).ok_or(Status::TunnelNotCreated)?;
        let (host_key, address) = (known.public_key, socket_address(known.address));
        if service.len() > ethos_crypto::MAX_SERVICE_NAME
            || first_value.len() > ethos_crypto::MAX_FIRST_VALUE
        {
            return Err(Status::InvalidArgument);
        }
        if !first_value.is_empty()
            && !self
                .types
                .well_typed(&type_hash, Direction::Request, first_value)
        {
            return Err(Status::InvalidType);
        }
        let connection = RemoteConnection(self.next_connection);
        self.next_connection += 1;
        self.connections.insert(
            connection,
            Remote {
                handle: None,
                type_hash,
                received: Vec::new(),
                unsent: VecDeque::new(),
                open: false,
                opener: true,
                closing: false,
            },
        );
        self.pending.push(PendingOpen {
            connection,
            host_key,
            service: service.as_bytes().to_vec(),
            type_hash,
            first_value: first_value.to_vec(),
            user,
        });
        if !self.record_usable(&host_key, now) && !self.asking.contains_key(&host_key) {
            self.records.remove(&host_key);
            self.asking.insert(
                host_key,
                Asking {
                    address,
                    last_sent: now,
                    attempts: 1,
                },
            );
            self.send_record_request(address);
        }
        self.start_pending(now);
        Ok(connection)
    }

    /// Accepts a connection [`ServiceEvent::Incoming`] named.
    pub fn accept(&mut self, connection: RemoteConnection) -> Result<(), Status> {
        let remote = self
            .connections
            .get_mut(&connection)
            .filter(|remote| !remote.opener)
            .ok_or(Status::NoSuchObject)?;
        let handle = remote.handle.ok_or(Status::NoSuchObject)?;
        self.endpoint.accept(handle).map_err(endpoint_status)?;
        remote.open = true;
        Ok(())
    }

    /// Refuses a connection [`ServiceEvent::Incoming`] named: the client's kernel
    /// answers its program with not-authorized.
    pub fn refuse(&mut self, connection: RemoteConnection) -> Result<(), Status> {
        let remote = self
            .connections
            .remove(&connection)
            .ok_or(Status::NoSuchObject)?;
        let handle = remote.handle.ok_or(Status::NoSuchObject)?;
        self.by_handle.remove(&handle);
        self.endpoint.refuse(handle).map_err(endpoint_status)
    }

    /// Sends one value on a connection, after checking it against the connection's
    /// type (an ill-typed value is refused with [`Status::InvalidType`] and nothing is
    /// sent).
    pub fn send(&mut self, connection: RemoteConnection, value: &[u8]) -> Result<(), Status> {
        let remote = self
            .connections
            .get(&connection)
            .ok_or(Status::NoSuchObject)?;
        if !self
            .types
            .well_typed(&remote.type_hash, remote.sending(), value)
        {
            return Err(Status::InvalidType);
        }
        self.send_recognized(connection, value)
    }

    /// [`TunnelService::send`] for a value the caller already ran the recognizer on,
    /// against this connection's type and direction (the process model checks every
    /// value a program writes): it is not checked a second time.
    pub fn send_recognized(
        &mut self,
        connection: RemoteConnection,
        value: &[u8],
    ) -> Result<(), Status> {
        if value.len() > MAXIMUM_REMOTE_VALUE {
            return Err(Status::InvalidArgument);
        }
        self.send_unchecked(connection, value)
    }

    /// Queues a value without the type check: what a modified kernel would do, for the
    /// tests of the receiver's check.
    #[cfg(any(test, feature = "modified-peer"))]
    pub fn send_unchecked_as_modified_peer(
        &mut self,
        connection: RemoteConnection,
        value: &[u8],
    ) -> Result<(), Status> {
        self.send_unchecked(connection, value)
    }

    fn send_unchecked(&mut self, connection: RemoteConnection, value: &[u8]) -> Result<(), Status> {
        let remote = self
            .connections
            .get_mut(&connection)
            .ok_or(Status::NoSuchObject)?;
        if remote.unsent.len() + LENGTH_BYTES + value.len() > MAXIMUM_UNSENT {
            return Err(Status::LimitReached);
        }
        let length = u32::try_from(value.len()).map_err(|_| Status::InvalidArgument)?;
        remote.unsent.extend(length.to_le_bytes());
        remote.unsent.extend(value);
        self.pump(connection);
        Ok(())
    }

    /// Bytes of values (each with its framing) `connection` may still queue.
    pub fn room(&self, connection: RemoteConnection) -> usize {
        self.connections.get(&connection).map_or(0, |remote| {
            MAXIMUM_UNSENT.saturating_sub(remote.unsent.len())
        })
    }

    /// What framing adds to each value on a connection.
    pub const FRAMING: usize = LENGTH_BYTES;

    /// Closes a connection once the values queued on it have gone into the tunnel
    /// (the endpoint delivers what it took before its close); no event names it
    /// afterwards.
    pub fn close(&mut self, connection: RemoteConnection) -> Result<(), Status> {
        let remote = self
            .connections
            .get_mut(&connection)
            .ok_or(Status::NoSuchObject)?;
        if !remote.unsent.is_empty() && remote.open {
            remote.closing = true;
            if let Some(handle) = remote.handle {
                self.by_handle.remove(&handle);
            }
            self.pump(connection);
            return Ok(());
        }
        self.close_now(connection)
    }

    /// Closes a connection at once: what the endpoint did not take is lost.
    fn close_now(&mut self, connection: RemoteConnection) -> Result<(), Status> {
        let remote = self
            .connections
            .remove(&connection)
            .ok_or(Status::NoSuchObject)?;
        self.pending
            .retain(|pending| pending.connection != connection);
        if let Some(handle) = remote.handle {
            self.by_handle.remove(&handle);
            // Whatever the endpoint did not take is lost with the connection.
            let _ = self.endpoint.close(handle);
        }
        Ok(())
    }

    /// Moves the tunnel carrying `connection` to a new id and key.
    pub fn rekey(&mut self, connection: RemoteConnection) -> Result<(), Status> {
        let tunnel = self.tunnel_of(connection).ok_or(Status::NoSuchObject)?;
        self.endpoint.rekey(tunnel).map_err(endpoint_status)
    }

    /// The tunnel carrying `connection`, once it has one.
    pub fn tunnel_of(&self, connection: RemoteConnection) -> Option<TunnelHandle> {
        self.connections
            .get(&connection)?
            .handle
            .map(|handle| handle.tunnel)
    }

    /// The next event for the kernel.
    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: Time) -> Option<Transmit> {
        if let Some(transmit) = self.outgoing.pop_front() {
            return Some(transmit);
        }
        let waiting: Vec<RemoteConnection> = self
            .connections
            .iter()
            .filter(|(_, remote)| !remote.unsent.is_empty())
            .map(|(connection, _)| *connection)
            .collect();
        for connection in waiting {
            self.pump(connection);
        }
        self.endpoint.poll_transmit(now)
    }

    /// When [`TunnelService::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Time> {
        let retry = self
            .asking
            .values()
            .map(|asking| {
                asking
                    .last_sent
                    .plus_milliseconds(RECORD_RETRY_MILLISECONDS)
            })
            .min();
        // While puzzles are asked, the end of each window is when load is measured.
        let load = self.load.puzzles.then(|| {
            self.load
                .window_start
                .plus_milliseconds(LOAD_WINDOW_MILLISECONDS)
        });
        [self.endpoint.poll_timeout(), retry, load]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers: retransmissions, acknowledgements, key rotation, and record
    /// requests sent again or given up.
    pub fn handle_timeout(&mut self, now: Time) {
        self.endpoint.handle_timeout(now);
        self.watch_load(now);
        let due: Vec<PublicKeyBytes> = self
            .asking
            .iter()
            .filter(|(_, asking)| {
                now.milliseconds_since(asking.last_sent) >= RECORD_RETRY_MILLISECONDS
            })
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            let Some(asking) = self.asking.get_mut(&key) else {
                continue;
            };
            if asking.attempts >= RECORD_ATTEMPTS {
                self.asking.remove(&key);
                self.fail_pending(&key, Status::TunnelNotCreated);
                continue;
            }
            asking.attempts += 1;
            asking.last_sent = now;
            let address = asking.address;
            self.send_record_request(address);
        }
        self.take_endpoint_events();
    }

    /// Takes one datagram from `from`: a record request or answer, or a MinimaLT
    /// packet. Whatever fails a check is dropped and counted, and changes nothing.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        if let Some(rest) = bytes.strip_prefix(&ZERO_TUNNEL) {
            if let Some(key) = rest.strip_prefix(RECORD_REQUEST) {
                self.answer_record_request(now, from, key);
                return;
            }
            if let Some(record) = rest.strip_prefix(RECORD_ANSWER) {
                self.take_record(now, from, record);
                return;
            }
        }
        match self.endpoint.handle_datagram(now, from, bytes) {
            Ok(()) => self.counters.datagrams_accepted += 1,
            Err(_) => self.counters.datagrams_dropped += 1,
        }
        self.watch_load(now);
        self.take_endpoint_events();
    }

    fn record_usable(&self, host_key: &PublicKeyBytes, now: Time) -> bool {
        self.records
            .get(host_key)
            .is_some_and(|record| now < record.expiry)
    }

    fn send_record_request(&mut self, to: SocketAddr) {
        let mut payload = Vec::with_capacity(8 + RECORD_REQUEST.len() + 32);
        payload.extend_from_slice(&ZERO_TUNNEL);
        payload.extend_from_slice(RECORD_REQUEST);
        payload.extend_from_slice(&self.host_key.0);
        self.counters.record_requests_sent += 1;
        self.outgoing.push_back(Transmit {
            destination: to,
            payload,
        });
    }

    fn answer_record_request(&mut self, now: Time, from: SocketAddr, key: &[u8]) {
        let Ok(key) = <[u8; 32]>::try_from(key) else {
            self.counters.record_requests_refused += 1;
            return;
        };
        let asker = PublicKeyBytes(key);
        let listed = self.directory.host_with_key(&asker).is_some();
        let too_soon = self.answered.get(&asker).is_some_and(|last| {
            now.milliseconds_since(*last) < RECORD_ANSWER_INTERVAL_MILLISECONDS
        });
        if !listed || too_soon {
            self.counters.record_requests_refused += 1;
            return;
        }
        let Ok(record) = self.endpoint.directory_record(self.address, &asker) else {
            self.counters.record_requests_refused += 1;
            return;
        };
        self.answered.insert(asker, now);
        let mut payload = Vec::with_capacity(8 + RECORD_ANSWER.len() + record.len());
        payload.extend_from_slice(&ZERO_TUNNEL);
        payload.extend_from_slice(RECORD_ANSWER);
        payload.extend_from_slice(&record);
        self.outgoing.push_back(Transmit {
            destination: from,
            payload,
        });
    }

    fn take_record(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        // Only a record this host asked for, from the host it asked, opened with the
        // one key a host at that address may have (so a forged answer costs one key
        // agreement, however many requests are out).
        let asked = self
            .asking
            .iter()
            .find(|(_, asking)| asking.address == from)
            .map(|(host_key, _)| *host_key);
        let verified = asked
            .filter(|_| bytes.len() == RECORD_LENGTH)
            .and_then(|host_key| {
                self.endpoint
                    .verify_record(bytes, &host_key, now)
                    .ok()
                    .filter(|record| record.host_key == host_key)
            });
        let Some(record) = verified else {
            self.counters.records_refused += 1;
            return;
        };
        self.asking.remove(&record.host_key);
        self.records.insert(record.host_key, record);
        self.start_pending(now);
    }

    /// Starts every waiting connection whose host's record is at hand.
    fn start_pending(&mut self, now: Time) {
        let pending = core::mem::take(&mut self.pending);
        for open in pending {
            let Some(record) = self.records.get(&open.host_key).filter(|r| now < r.expiry) else {
                self.pending.push(open);
                continue;
            };
            let record = *record;
            let started = self.endpoint.connect(now, &record).and_then(|tunnel| {
                self.endpoint.open_connection(
                    tunnel,
                    &open.service,
                    open.type_hash,
                    &open.first_value,
                    open.user.as_ref(),
                )
            });
            match started {
                Ok(handle) => {
                    if let Some(remote) = self.connections.get_mut(&open.connection) {
                        remote.handle = Some(handle);
                        self.by_handle.insert(handle, open.connection);
                    }
                }
                Err(error) => {
                    self.connections.remove(&open.connection);
                    self.events.push_back(ServiceEvent::Failed(
                        open.connection,
                        endpoint_status(error),
                    ));
                }
            }
        }
    }

    fn fail_pending(&mut self, host_key: &PublicKeyBytes, status: Status) {
        let pending = core::mem::take(&mut self.pending);
        for open in pending {
            if open.host_key == *host_key {
                self.connections.remove(&open.connection);
                self.events
                    .push_back(ServiceEvent::Failed(open.connection, status));
            } else {
                self.pending.push(open);
            }
        }
    }

    /// Hands the endpoint what it will take of a connection's framed values.
    fn pump(&mut self, connection: RemoteConnection) {
        let Some(remote) = self.connections.get_mut(&connection) else {
            return;
        };
        let Some(handle) = remote.handle.filter(|_| remote.open) else {
            return;
        };
        while !remote.unsent.is_empty() {
            let (front, _) = remote.unsent.as_slices();
            match self.endpoint.send(handle, front) {
                Ok(0) => break,
                // The endpoint has no such connection any more: nothing queued
                // will leave, and a closing connection is done.
                Err(_) => {
                    if remote.closing {
                        remote.unsent.clear();
                    }
                    break;
                }
                Ok(taken) => {
                    remote.unsent.drain(..taken);
                }
            }
        }
        if remote.closing && remote.unsent.is_empty() {
            let _ = self.close_now(connection);
        }
    }

    fn take_endpoint_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::IncomingConnection {
                    connection: handle,
                    service,
                    type_hash,
                    user,
                    first_value,
                } => {
                    let service = String::from_utf8(service).ok();
                    let well_typed = first_value.is_empty()
                        || self
                            .types
                            .well_typed(&type_hash, Direction::Request, &first_value);
                    let Some(service) = service.filter(|_| well_typed) else {
                        if !well_typed {
                            self.counters.ill_typed_values += 1;
                        }
                        self.counters.requests_refused += 1;
                        let _ = self.endpoint.refuse(handle);
                        continue;
                    };
                    let host = self.host_of_tunnel(handle.tunnel);
                    let connection = RemoteConnection(self.next_connection);
                    self.next_connection += 1;
                    self.connections.insert(
                        connection,
                        Remote {
                            handle: Some(handle),
                            type_hash,
                            received: Vec::new(),
                            unsent: VecDeque::new(),
                            open: false,
                            opener: false,
                            closing: false,
                        },
                    );
                    self.by_handle.insert(handle, connection);
                    self.events.push_back(ServiceEvent::Incoming {
                        connection,
                        host,
                        service,
                        type_hash,
                        user,
                        first_value,
                    });
                }
                Event::ConnectionAccepted { connection: handle } => {
                    if let Some(&connection) = self.by_handle.get(&handle) {
                        if let Some(remote) = self.connections.get_mut(&connection) {
                            remote.open = true;
                        }
                        self.events.push_back(ServiceEvent::Accepted(connection));
                        self.pump(connection);
                    }
                }
                Event::ConnectionRefused { connection: handle } => {
                    if let Some(connection) = self.by_handle.remove(&handle) {
                        self.connections.remove(&connection);
                        self.events
                            .push_back(ServiceEvent::Failed(connection, Status::NotAuthorized));
                    }
                }
                Event::Data {
                    connection: handle,
                    bytes,
                } => {
                    if let Some(&connection) = self.by_handle.get(&handle) {
                        self.receive(connection, &bytes);
                    }
                }
                Event::ConnectionClosed { connection: handle } => {
                    if let Some(connection) = self.by_handle.remove(&handle) {
                        self.connections.remove(&connection);
                        self.events.push_back(ServiceEvent::Closed(connection));
                    }
                }
                Event::TunnelAccepted { .. }
                | Event::TunnelRekeyed { .. }
                | Event::TunnelClosed { .. } => {}
            }
        }
    }

    /// The name of the host at the far end of `tunnel` (see
    /// [`ServiceEvent::Incoming`]).
    fn host_of_tunnel(&self, tunnel: TunnelHandle) -> String {
        let Some(address) = self.endpoint.tunnel_peer_address(tunnel) else {
            return String::new();
        };
        let known = match address {
            SocketAddr::V4(v4) => HostAddress::new(v4.ip().octets(), v4.port())
                .ok()
                .and_then(|facts| self.directory.host_at(&facts)),
            SocketAddr::V6(_) => None,
        };
        match known {
            Some(host) => String::from(host.name.as_str()),
            None => alloc::format!("{address}"),
        }
    }

    /// Cuts whole values out of a connection's bytes, checks each, and hands on the
    /// well-typed ones.
    fn receive(&mut self, connection: RemoteConnection, bytes: &[u8]) {
        let Some(remote) = self.connections.get_mut(&connection) else {
            return;
        };
        remote.received.extend_from_slice(bytes);
        let mut start = 0;
        let mut oversized = false;
        while let Some(header) = remote.received.get(start..start + LENGTH_BYTES) {
            let mut length = [0; LENGTH_BYTES];
            length.copy_from_slice(header);
            let length = u32::from_le_bytes(length) as usize;
            if length > MAXIMUM_REMOTE_VALUE {
                oversized = true;
                break;
            }
            let Some(value) = remote
                .received
                .get(start + LENGTH_BYTES..start + LENGTH_BYTES + length)
            else {
                break;
            };
            if self
                .types
                .well_typed(&remote.type_hash, remote.receiving(), value)
            {
                self.events
                    .push_back(ServiceEvent::Value(connection, value.to_vec()));
            } else {
                self.counters.ill_typed_values += 1;
            }
            start += LENGTH_BYTES + length;
        }
        remote.received.drain(..start);
        if oversized {
            self.counters.oversized_values += 1;
            let _ = self.close(connection);
            self.events.push_back(ServiceEvent::Closed(connection));
        }
    }
}

/// The status a program sees for an endpoint's refusal.
fn endpoint_status(error: EndpointError) -> Status {
    match error {
        EndpointError::Record(_)
        | EndpointError::TooManyTunnels
        | EndpointError::WeakKey
        | EndpointError::UserAuthenticationUnavailable => Status::TunnelNotCreated,
        EndpointError::UnknownTunnel | EndpointError::UnknownConnection => Status::NoSuchObject,
        EndpointError::ServiceNameTooLong | EndpointError::FirstValueTooLarge => {
            Status::InvalidArgument
        }
        EndpointError::TooManyConnections => Status::LimitReached,
        EndpointError::NotAccepted
        | EndpointError::NotAwaitingAnswer
        | EndpointError::RekeyNotPossible => Status::WouldBlock,
    }
}
