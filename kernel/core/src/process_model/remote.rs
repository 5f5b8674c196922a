//! Connections between a process here and a service on another host, or a client on
//! another host and a service here: the process model's half of remote typed IPC.
//!
//! A remote connection is an ordinary [`Connection`] one of whose ends is the other
//! host's ([`RemoteLink::side`]). The local end works as for a local connection:
//! `read`, `write`, `peek`, `close` and events do not know the difference, and every
//! value is checked by the recognizer before it is queued. Values written to the
//! remote end wait in its inbox, charged to their writer as any queued value, until
//! the kernel's network service takes them ([`ProcessModel::take_outbound`]); values
//! from the other host arrive through [`ProcessModel::remote_value`], checked by the
//! network service against the same type graph, which drops and counts what is not
//! of the type. Each value is recognized once on each host: here when a program
//! writes it, there when it arrives.
//!
//! The model never touches the network. It queues [`NetworkRequest`]s (connect,
//! close) for the service and takes the service's answers through the `remote_*`
//! calls, so the whole exchange is host-tested with two models and two services on
//! an in-memory network (`minimalt::bridge`).
//!
//! Who may connect is decided on both hosts: the client's kernel checks its user and
//! program against grants naming the server's host before anything is sent, and the
//! server's kernel checks the user the tunnel authenticated against grants naming
//! the client's host (see [`super::policy`]). A refusal on either side reaches the
//! calling program as not-authorized, and nothing it sent reaches a program.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::{EventId, LabelRights, ProcessId, Status};
use ethos_typesys::TypeHash;

use ethos_crypto::SecretKey;

use super::descriptors::{Capability, ConnectionId, Object, Side};
use super::events::{Outcome, Waiting};
use super::identity::{PublicKey, ServiceName, User, UserName};
use super::ipc::{CONNECTION_RIGHTS, INBOX_MESSAGES, empty_end, end_with_first_value};
use super::model::{Connection, ProcessModel, Queued, Waiter};
use crate::hosts::UserKeys;

/// The payer of values that came from another host: no process. They are bounded
/// per connection by [`REMOTE_INBOX_BYTES`] instead.
const NETWORK: ProcessId = ProcessId(0);

/// Most bytes from another host waiting at one local end; past it the network
/// service holds the rest (and closes a connection whose peer sends far more than
/// its reader takes).
pub const REMOTE_INBOX_BYTES: usize = 4 << 20;

/// The largest value a remote connection carries: the network service's bound.
pub const MAXIMUM_REMOTE_VALUE: usize = crate::minimalt::MAXIMUM_REMOTE_VALUE;

/// What makes a connection remote.
#[derive(Debug)]
pub(super) struct RemoteLink {
    /// The end that is the other host's.
    pub(super) side: Side,
    /// The `ipc` waiting for the other host's answer, until it comes.
    opening: Option<Waiter>,
}

/// What the network service must do, in the order the model asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkRequest {
    /// Connect to `service` on `host` for `user`, with the first value (checked).
    Open {
        connection: ConnectionId,
        host: String,
        service: ServiceName,
        type_hash: TypeHash,
        user: UserName,
        first_value: Vec<u8>,
    },
    /// Close the connection once `unsent` (values this host wrote that the service
    /// had not taken yet) has left.
    Close {
        connection: ConnectionId,
        unsent: Vec<Vec<u8>>,
    },
}

/// The model's side of the network: whether a service carries remote connections,
/// what it must do, and which connections have values for it.
#[derive(Default)]
pub(super) struct Network {
    attached: bool,
    /// The private keys of the users who work on this host: they prove those users
    /// to other hosts and sign for them, and never leave the kernel.
    keys: UserKeys,
    requests: VecDeque<NetworkRequest>,
    pub(super) outbound: BTreeSet<ConnectionId>,
}

/// The name a server's kernel gives a user its image does not know: the key, in
/// hexadecimal.
pub fn name_of_key(key: &[u8; 32]) -> UserName {
    let text: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    // 64 hexadecimal digits are always a valid name.
    UserName::new(&text).unwrap_or_else(|_| unreachable!("a key's hexadecimal is a name"))
}

impl core::fmt::Debug for Network {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Network")
            .field("attached", &self.attached)
            .field("user_keys", &self.keys.len())
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl ProcessModel {
    /// Holds the private keys of the users who work on this host (the image's
    /// `keys/` entries), replacing any held before.
    pub fn install_user_keys(&mut self, keys: UserKeys) {
        self.network.keys = keys;
    }

    /// The private key of `user`, if this host holds it. Only the kernel asks.
    pub fn user_key(&self, user: &UserName) -> Option<&SecretKey> {
        self.network.keys.key(user)
    }

    /// From now on `ipc` with a host name goes to the network service, which takes
    /// [`ProcessModel::take_network_request`]s; without one it fails with
    /// `TunnelNotCreated`.
    pub fn attach_network(&mut self) {
        self.network.attached = true;
    }

    /// Whether a network service carries remote connections: anything may then be
    /// woken by another host.
    pub fn network_attached(&self) -> bool {
        self.network.attached
    }

    /// Whether the network service has something to do for the processes: a
    /// connection to open or close, or values to send.
    pub fn network_work_pending(&self) -> bool {
        !self.network.requests.is_empty() || !self.network.outbound.is_empty()
    }

    /// The next thing the network service must do.
    pub fn take_network_request(&mut self) -> Option<NetworkRequest> {
        self.network.requests.pop_front()
    }

    /// Connections with values waiting for the network, each once; the set empties.
    pub fn take_outbound_connections(&mut self) -> Vec<ConnectionId> {
        core::mem::take(&mut self.network.outbound)
            .into_iter()
            .collect()
    }

    /// Takes, oldest first, the values waiting for the other host on `connection`
    /// that fit in `room` bytes together (each counted with `overhead` bytes more);
    /// their writers get their charges back. The connection stays marked while
    /// values remain.
    pub fn take_outbound(
        &mut self,
        connection: ConnectionId,
        room: usize,
        overhead: usize,
    ) -> Vec<Vec<u8>> {
        let Some(found) = self.connections.get_mut(&connection) else {
            return Vec::new();
        };
        let Some(side) = found.remote.as_ref().map(|link| link.side) else {
            return Vec::new();
        };
        let end = found.end_mut(side);
        let mut left = room;
        let mut taken = Vec::new();
        while let Some(front) = end.inbox.front() {
            let needed = front.bytes.len() + overhead;
            if needed > left {
                break;
            }
            left -= needed;
            if let Some(queued) = end.inbox.pop_front() {
                end.inbox_bytes -= queued.bytes.len();
                taken.push(queued);
            }
        }
        if !end.inbox.is_empty() {
            self.network.outbound.insert(connection);
        }
        taken
            .into_iter()
            .map(|queued| {
                self.refund(queued.payer, queued.bytes.len());
                queued.bytes
            })
            .collect()
    }

    /// `ipc` to `service` on `host`: checked here (the service must be declared, so
    /// its type is known; the policy must grant the caller's user and program `ipc`
    /// on its label towards `host`; the first value must be of its type), then asked
    /// of the network. The event completes when the other host answers.
    pub(super) fn ipc_remote(
        &mut self,
        process: ProcessId,
        service: &ServiceName,
        host: &str,
        first_value: Vec<u8>,
    ) -> Result<EventId, Status> {
        if !self.network.attached {
            return Err(Status::TunnelNotCreated);
        }
        let declaration = self.services.get(service).ok_or(Status::NoSuchObject)?;
        let (label, type_hash) = (declaration.label.clone(), declaration.type_hash);
        let maximum_value = declaration.maximum_value.min(MAXIMUM_REMOTE_VALUE);
        if first_value.len() > maximum_value {
            return Err(Status::InvalidArgument);
        }
        self.authorize_towards(process, &label, LabelRights::IPC, Some(host))?;
        let user = self.process(process)?.user.clone();
        let (root, interface) = self.connection_type(&type_hash);
        if !first_value.is_empty() {
            self.check_type(root, interface, Side::Client, &first_value)?;
        }
        // The event is made first (it checks the caller's room for it): nothing is
        // left to undo if it cannot be.
        let id = ConnectionId(self.allocate_object());
        let event = self.new_pending(process, Waiting::Connect(id))?;
        self.connections.insert(
            id,
            Connection {
                root,
                interface,
                maximum_value,
                client: user.clone(),
                ends: [empty_end(0), empty_end(1)],
                remote: Some(RemoteLink {
                    side: Side::Server,
                    opening: Some((process, event)),
                }),
            },
        );
        self.network.requests.push_back(NetworkRequest::Open {
            connection: id,
            host: String::from(host),
            service: service.clone(),
            type_hash,
            user,
            first_value,
        });
        Ok(event)
    }

    /// The other host accepted `connection`: the `ipc` completes with its
    /// descriptor. `Closed` when nobody waits for it any more (the network service
    /// then closes it).
    pub fn remote_accepted(&mut self, connection: ConnectionId) -> Result<(), Status> {
        let waiter = self
            .connections
            .get_mut(&connection)
            .and_then(|found| found.remote.as_mut())
            .and_then(|link| link.opening.take())
            .ok_or(Status::Closed)?;
        let capability = Capability {
            object: Object::Connection(connection, Side::Client),
            rights: CONNECTION_RIGHTS,
        };
        match self.install(waiter.0, capability) {
            Ok(descriptor) => {
                self.complete(waiter, Outcome::Connected(descriptor));
                Ok(())
            }
            Err(status) => {
                // The caller's table is full: its `ipc` fails and the connection goes.
                self.complete(waiter, Outcome::Failed(status));
                self.connections.remove(&connection);
                Err(Status::Closed)
            }
        }
    }

    /// The other host refused `connection`, or no tunnel reached it: the `ipc`
    /// fails with `status` and the connection is forgotten.
    pub fn remote_failed(&mut self, connection: ConnectionId, status: Status) {
        let Some(found) = self.connections.remove(&connection) else {
            return;
        };
        if let Some(waiter) = found.remote.and_then(|link| link.opening) {
            self.complete(waiter, Outcome::Failed(status));
        }
    }

    /// A value from the other host on `connection`, which the network service checked
    /// against the connection's type (it drops and counts what is not), given to a
    /// waiting read or queued. `WouldBlock` while the local end holds
    /// [`REMOTE_INBOX_BYTES`] (the network service keeps the value and tries again);
    /// `Closed` when the local end is gone.
    pub fn remote_value(&mut self, connection: ConnectionId, value: &[u8]) -> Result<(), Status> {
        let found = self.connections.get(&connection).ok_or(Status::Closed)?;
        let side = found.remote.as_ref().ok_or(Status::Closed)?.side;
        if value.len() > found.maximum_value {
            return Err(Status::InvalidArgument);
        }
        let local = found.end(side.peer());
        if local.references == 0 {
            return Err(Status::Closed);
        }
        if local.inbox.len() >= INBOX_MESSAGES
            || local.inbox_bytes + value.len() > REMOTE_INBOX_BYTES
        {
            return Err(Status::WouldBlock);
        }
        self.hand_over(
            connection,
            side,
            alloc::borrow::Cow::Borrowed(value),
            NETWORK,
            &mut |_, _| false,
        )
    }

    /// The other host closed `connection`: reads waiting here fail with `Closed`
    /// once the values that arrived are read, and writes fail with `Closed`.
    pub fn remote_closed(&mut self, connection: ConnectionId) {
        // The link goes first: the remote end's last reference is no local one.
        let Some(link) = self
            .connections
            .get_mut(&connection)
            .and_then(|found| found.remote.take())
        else {
            return;
        };
        self.network.outbound.remove(&connection);
        match link.opening {
            // Closed before it was accepted: the `ipc` fails.
            Some(waiter) => {
                self.connections.remove(&connection);
                self.complete(waiter, Outcome::Failed(Status::Closed));
            }
            None => self.release_end(connection, link.side),
        }
    }

    /// A client on `host` asks for `service` here as `user` (the key the tunnel
    /// authenticated), with a first value: checked (the service must be advertised
    /// with that type, the policy must grant the user `ipc` on its label from that
    /// host), then queued for the server's `import`. The answer is the connection, or
    /// the status the client's program will see.
    pub fn remote_incoming(
        &mut self,
        host: &str,
        service: &str,
        type_hash: TypeHash,
        user: Option<[u8; 32]>,
        first_value: &[u8],
    ) -> Result<ConnectionId, Status> {
        if !self.network.attached {
            return Err(Status::NoSuchObject);
        }
        let service = ServiceName::new(service).map_err(|_| Status::NoSuchObject)?;
        let declaration = self.services.get(&service).ok_or(Status::NoSuchObject)?;
        if declaration.type_hash != type_hash {
            return Err(Status::InvalidType);
        }
        let (label, maximum_value) = (
            declaration.label.clone(),
            declaration.maximum_value.min(MAXIMUM_REMOTE_VALUE),
        );
        let listener = *self.advertised.get(&service).ok_or(Status::NoSuchObject)?;
        // A user must prove a key; a key this host's image does not name is a user
        // with that key for a name and no group.
        let key = user.ok_or(Status::NotAuthorized)?;
        let user = self
            .users
            .values()
            .find(|known| known.public_key == PublicKey(key))
            .cloned()
            .unwrap_or_else(|| User {
                name: name_of_key(&key),
                public_key: PublicKey(key),
                groups: Vec::new(),
            });
        if !self
            .policy
            .allows_from_host(&label, &user, host, LabelRights::IPC)
        {
            return Err(Status::NotAuthorized);
        }
        if first_value.len() > maximum_value {
            return Err(Status::InvalidArgument);
        }
        // The network service checked the first value as it checks every value.
        let (root, interface) = self.connection_type(&type_hash);
        let server_end = end_with_first_value(super::copied(first_value)?, NETWORK)?;
        let id = ConnectionId(self.allocate_object());
        self.connections.insert(
            id,
            Connection {
                root,
                interface,
                maximum_value,
                client: user.name,
                ends: [empty_end(1), server_end],
                remote: Some(RemoteLink {
                    side: Side::Client,
                    opening: None,
                }),
            },
        );
        if let Some(listening) = self.listeners.get_mut(&listener) {
            listening.backlog.push_back(id);
        }
        self.match_backlog(listener);
        Ok(id)
    }

    /// The last local reference to a remote connection went: its values for the
    /// other host go with a close request, and the connection is forgotten here.
    pub(super) fn close_remote(&mut self, connection: ConnectionId) {
        let Some(mut found) = self.connections.remove(&connection) else {
            return;
        };
        self.network.outbound.remove(&connection);
        let Some(side) = found.remote.as_ref().map(|link| link.side) else {
            return;
        };
        let unsent: Vec<Queued> = found.end_mut(side).inbox.drain(..).collect();
        let local_readers: Vec<Waiter> = found.end_mut(side.peer()).readers.drain(..).collect();
        let arrived: Vec<Queued> = found.end_mut(side.peer()).inbox.drain(..).collect();
        for queued in arrived {
            self.refund(queued.payer, queued.bytes.len());
        }
        for waiter in local_readers {
            self.complete(waiter, Outcome::Failed(Status::Closed));
        }
        let unsent = unsent
            .into_iter()
            .map(|queued| {
                self.refund(queued.payer, queued.bytes.len());
                queued.bytes
            })
            .collect();
        self.network
            .requests
            .push_back(NetworkRequest::Close { connection, unsent });
    }

    /// The `ipc` waiting for `connection` was cancelled or its process ended: the
    /// connection goes, and the other host is told if it was asked.
    pub(super) fn abandon_remote(&mut self, connection: ConnectionId) {
        if self.connections.remove(&connection).is_some() {
            self.network.outbound.remove(&connection);
            self.network.requests.push_back(NetworkRequest::Close {
                connection,
                unsent: Vec::new(),
            });
        }
    }
}
