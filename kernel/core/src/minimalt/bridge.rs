//! The bridge between the process model and the MinimaLT service: what programs
//! ask of other hosts goes into tunnels, and what other hosts send reaches
//! programs.
//!
//! [`Bridge::step`] carries out the model's [`NetworkRequest`]s (connect, close),
//! moves the values programs wrote on remote connections into the service as it
//! has room (the model checked each when it was written, so the service does not
//! again), and hands the service's events to the model: a connection accepted or
//! refused, a client asking for a service here (decided by the model's policy),
//! values, closes. The user's key that authenticates a connection is the one the
//! model holds for that user (the image gives this host's users' keys); it never
//! leaves the kernel. Like the
//! model and the service, the bridge does no I/O: the platform runs it, under the
//! model's lock, between feeding the service datagrams and sending what it gives.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_crypto::{MAX_FIRST_VALUE, Time};

use super::{RemoteConnection, ServiceEvent, TunnelService};
use crate::process_model::descriptors::ConnectionId;
use crate::process_model::{NetworkRequest, ProcessModel};

/// Bytes from another host the bridge holds for one connection whose reader does
/// not keep up, beyond what the model queues; past it the connection is closed.
pub const HELD_BYTES: usize = 4 << 20;

/// How long a connection for a service not advertised here (yet) waits for it
/// before it is refused: hosts boot in no set order, and a client that comes
/// first should not be refused for it.
pub const ADVERTISE_PATIENCE_MILLISECONDS: u64 = 5_000;

/// What the bridge did, for the kernel's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeCounters {
    /// Connections programs here opened to other hosts.
    pub opened: u64,
    /// Of those, the ones the other host accepted.
    pub accepted: u64,
    /// Of those, the ones refused or never reached.
    pub failed: u64,
    /// Connections from other hosts this host's policy let through.
    pub incoming_accepted: u64,
    /// Connections from other hosts this host refused.
    pub incoming_refused: u64,
    /// Values that went from programs here into tunnels.
    pub values_sent: u64,
    /// Values from other hosts that reached programs' connections.
    pub values_received: u64,
    /// Values from other hosts the model refused (not of the type: the service
    /// checked them first, so this stays 0 unless the two disagree).
    pub values_refused: u64,
    /// Connections closed because their reader left too much from another host
    /// unread.
    pub overruns: u64,
    /// Values lost because the connection went before they could leave.
    pub values_lost: u64,
}

/// Values from another host waiting for room at their connection, and whether the
/// other host closed it after them.
#[derive(Default)]
struct Held {
    values: VecDeque<Vec<u8>>,
    bytes: usize,
    closed: bool,
}

/// A connection from another host for a service not advertised yet.
struct Deferred {
    remote: RemoteConnection,
    host: alloc::string::String,
    service: alloc::string::String,
    type_hash: ethos_crypto::TypeHash,
    user: Option<ethos_crypto::PublicKeyBytes>,
    first_value: Vec<u8>,
    since: Time,
}

/// The model's connections and the service's, each to each.
pub struct Bridge {
    deferred: Vec<Deferred>,
    to_service: BTreeMap<ConnectionId, RemoteConnection>,
    to_model: BTreeMap<RemoteConnection, ConnectionId>,
    held: BTreeMap<RemoteConnection, Held>,
    counters: BridgeCounters,
}

impl core::fmt::Debug for Bridge {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Bridge")
            .field("connections", &self.to_service.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Default for Bridge {
    fn default() -> Bridge {
        Bridge::new()
    }
}

impl Bridge {
    /// A bridge with no connection yet.
    pub fn new() -> Bridge {
        Bridge {
            deferred: Vec::new(),
            to_service: BTreeMap::new(),
            to_model: BTreeMap::new(),
            held: BTreeMap::new(),
            counters: BridgeCounters::default(),
        }
    }

    /// What it did so far.
    pub fn counters(&self) -> BridgeCounters {
        self.counters
    }

    /// How many remote connections it carries.
    pub fn connection_count(&self) -> usize {
        self.to_service.len()
    }

    /// Whether values from other hosts wait for room (the step should run again
    /// soon even if nothing arrives).
    pub fn holds_values(&self) -> bool {
        !self.held.is_empty()
    }

    /// The service's connections it carries.
    #[cfg(test)]
    pub(super) fn remotes_for_tests(&self) -> Vec<RemoteConnection> {
        self.to_model.keys().copied().collect()
    }

    fn link(&mut self, connection: ConnectionId, remote: RemoteConnection) {
        self.to_service.insert(connection, remote);
        self.to_model.insert(remote, connection);
    }

    fn unlink(&mut self, remote: RemoteConnection) -> Option<ConnectionId> {
        let connection = self.to_model.remove(&remote)?;
        self.to_service.remove(&connection);
        self.held.remove(&remote);
        Some(connection)
    }

    /// One round: the model's requests and values to the service, the service's
    /// events to the model.
    pub fn step(&mut self, model: &mut ProcessModel, service: &mut TunnelService, now: Time) {
        while let Some(request) = model.take_network_request() {
            self.carry_out(model, service, now, request);
        }
        for connection in model.take_outbound_connections() {
            let Some(&remote) = self.to_service.get(&connection) else {
                continue;
            };
            let room = service.room(remote);
            for value in model.take_outbound(connection, room, TunnelService::FRAMING) {
                match service.send_recognized(remote, &value) {
                    Ok(()) => self.counters.values_sent += 1,
                    Err(_) => self.counters.values_lost += 1,
                }
            }
        }
        self.deliver_held(model);
        for waiting in core::mem::take(&mut self.deferred) {
            self.incoming(model, service, now, waiting);
        }
        while let Some(event) = service.poll_event() {
            self.on_event(model, service, now, event);
        }
        self.deliver_held(model);
    }

    /// Asks the model about a connection from another host, and accepts or refuses
    /// it in the service; one for a service not advertised yet waits (at most
    /// [`ADVERTISE_PATIENCE_MILLISECONDS`]) and is asked about again next step.
    fn incoming(
        &mut self,
        model: &mut ProcessModel,
        service: &mut TunnelService,
        now: Time,
        waiting: Deferred,
    ) {
        let asked = model.remote_incoming(
            &waiting.host,
            &waiting.service,
            ethos_typesys::TypeHash(waiting.type_hash.0),
            waiting.user.map(|key| key.0),
            &waiting.first_value,
        );
        match asked {
            Ok(connection) => {
                if service.accept(waiting.remote).is_ok() {
                    self.counters.incoming_accepted += 1;
                    self.link(connection, waiting.remote);
                } else {
                    model.remote_closed(connection);
                }
            }
            Err(Status::NoSuchObject)
                if now.milliseconds_since(waiting.since) < ADVERTISE_PATIENCE_MILLISECONDS =>
            {
                self.deferred.push(waiting);
            }
            Err(_) => {
                self.counters.incoming_refused += 1;
                let _ = service.refuse(waiting.remote);
            }
        }
    }

    fn carry_out(
        &mut self,
        model: &mut ProcessModel,
        service: &mut TunnelService,
        now: Time,
        request: NetworkRequest,
    ) {
        match request {
            NetworkRequest::Open {
                connection,
                host,
                service: name,
                type_hash,
                user,
                first_value,
            } => {
                self.counters.opened += 1;
                // Only a user whose key this host holds can be proved to another.
                let Some(key) = model.user_key(&user).cloned() else {
                    self.counters.failed += 1;
                    model.remote_failed(connection, Status::NotAuthorized);
                    return;
                };
                // A first value too long for the tunnel's first packet follows it as
                // the connection's first value: the server's program sees the same.
                let (first, later) = if first_value.len() <= MAX_FIRST_VALUE {
                    (first_value, None)
                } else {
                    (Vec::new(), Some(first_value))
                };
                let opened = service.open(
                    now,
                    &host,
                    name.as_str(),
                    ethos_crypto::TypeHash(type_hash.0),
                    Some(key),
                    &first,
                );
                match opened {
                    Ok(remote) => {
                        self.link(connection, remote);
                        if let Some(value) = later
                            && service.send_recognized(remote, &value).is_err()
                        {
                            self.counters.values_lost += 1;
                        }
                    }
                    Err(status) => {
                        self.counters.failed += 1;
                        model.remote_failed(connection, status);
                    }
                }
            }
            NetworkRequest::Close { connection, unsent } => {
                let Some(remote) = self.to_service.get(&connection).copied() else {
                    return;
                };
                self.unlink(remote);
                for value in unsent {
                    match service.send_recognized(remote, &value) {
                        Ok(()) => self.counters.values_sent += 1,
                        Err(_) => self.counters.values_lost += 1,
                    }
                }
                let _ = service.close(remote);
            }
        }
    }

    fn on_event(
        &mut self,
        model: &mut ProcessModel,
        service: &mut TunnelService,
        now: Time,
        event: ServiceEvent,
    ) {
        match event {
            ServiceEvent::Accepted(remote) => {
                let Some(&connection) = self.to_model.get(&remote) else {
                    return;
                };
                if model.remote_accepted(connection).is_ok() {
                    self.counters.accepted += 1;
                } else {
                    self.unlink(remote);
                    let _ = service.close(remote);
                }
            }
            ServiceEvent::Failed(remote, status) => {
                if let Some(connection) = self.unlink(remote) {
                    self.counters.failed += 1;
                    model.remote_failed(connection, status);
                }
            }
            ServiceEvent::Incoming {
                connection: remote,
                host,
                service: name,
                type_hash,
                user,
                first_value,
            } => self.incoming(
                model,
                service,
                now,
                Deferred {
                    remote,
                    host,
                    service: name,
                    type_hash,
                    user,
                    first_value,
                    since: now,
                },
            ),
            ServiceEvent::Value(remote, value) => {
                let Some(&connection) = self.to_model.get(&remote) else {
                    return;
                };
                if self.held.contains_key(&remote) {
                    self.hold(model, service, remote, value);
                    return;
                }
                match model.remote_value(connection, &value) {
                    Ok(()) => self.counters.values_received += 1,
                    Err(Status::WouldBlock) => self.hold(model, service, remote, value),
                    Err(Status::Closed) => self.counters.values_lost += 1,
                    Err(_) => self.counters.values_refused += 1,
                }
            }
            ServiceEvent::Closed(remote) => match self.held.get_mut(&remote) {
                // The values that came before the close go first.
                Some(held) => held.closed = true,
                None => {
                    if let Some(connection) = self.unlink(remote) {
                        model.remote_closed(connection);
                    }
                }
            },
        }
    }

    /// Keeps a value the model has no room for yet; a connection whose reader
    /// leaves more than [`HELD_BYTES`] unread is closed on both hosts.
    fn hold(
        &mut self,
        model: &mut ProcessModel,
        service: &mut TunnelService,
        remote: RemoteConnection,
        value: Vec<u8>,
    ) {
        let held = self.held.entry(remote).or_default();
        held.bytes += value.len();
        held.values.push_back(value);
        if held.bytes > HELD_BYTES {
            self.counters.overruns += 1;
            if let Some(connection) = self.unlink(remote) {
                model.remote_closed(connection);
            }
            let _ = service.close(remote);
        }
    }

    /// Gives the model the values it had no room for, oldest first, then the close
    /// that followed them.
    fn deliver_held(&mut self, model: &mut ProcessModel) {
        let waiting: Vec<RemoteConnection> = self.held.keys().copied().collect();
        for remote in waiting {
            let Some(&connection) = self.to_model.get(&remote) else {
                self.held.remove(&remote);
                continue;
            };
            let Some(held) = self.held.get_mut(&remote) else {
                continue;
            };
            while let Some(value) = held.values.front() {
                match model.remote_value(connection, value) {
                    Ok(()) => self.counters.values_received += 1,
                    Err(Status::WouldBlock) => break,
                    Err(Status::Closed) => self.counters.values_lost += 1,
                    Err(_) => self.counters.values_refused += 1,
                }
                held.bytes -= held.values.front().map_or(0, Vec::len);
                held.values.pop_front();
            }
            if held.values.is_empty() {
                let closed = held.closed;
                self.held.remove(&remote);
                if closed && let Some(connection) = self.unlink(remote) {
                    model.remote_closed(connection);
                }
            }
        }
    }
}
