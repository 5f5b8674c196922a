//! Typed local IPC: `advertise`, `import`, `ipc`, `read`, `write`, `peek`.
//!
//! Every byte a program sends is checked by the `ethos-typesys` recognizer against the
//! connection's type before it is queued: for an interface type, the client writes
//! requests and the server writes replies; for any other type both directions carry
//! values of it. A write that fails the check returns `InvalidType` and leaves no trace
//! the peer could see. `advertise`, `import` and `ipc` are decided by the policy on the
//! service's label for the caller's (user, program). This module must never hand a
//! program bytes that did not pass the recognizer.

use alloc::borrow::Cow;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use ethos_abi::arguments::EVENT_KERNEL_BYTES;
use ethos_abi::{DescriptorNumber, DescriptorRights, EventId, LabelRights, ProcessId, Status};
use ethos_typesys::graph::{Kind, NodeIndex};
use ethos_typesys::recognizer::{Direction, recognize};

use super::descriptors::{Capability, ConnectionId, ListenerId, Object, Side};
use super::events::{Outcome, Waiting};
use super::identity::ServiceName;
use super::model::{Connection, End, Listener, ProcessModel, Queued};

/// Most messages waiting at one end before writes to it would block.
pub const INBOX_MESSAGES: usize = 1024;
/// Most bytes waiting at one end before writes to it would block; always room for one
/// largest message.
pub const INBOX_BYTES: usize = 64 << 20;

/// Rights of a listening descriptor from `advertise`.
pub const LISTENER_RIGHTS: DescriptorRights = DescriptorRights::IMPORT
    .union(DescriptorRights::TRANSFER)
    .union(DescriptorRights::COPY);
/// Rights of a connection descriptor from `ipc` or `import`.
pub const CONNECTION_RIGHTS: DescriptorRights = DescriptorRights::READ
    .union(DescriptorRights::WRITE)
    .union(DescriptorRights::TRANSFER)
    .union(DescriptorRights::COPY);

/// What [`ProcessModel::write_handing`] asks to give a value to a waiting read's
/// process at once: the read's (process, event) and the bytes; true when done.
pub type Delivery<'a> = dyn FnMut((ProcessId, EventId), &[u8]) -> bool + 'a;

/// What a write gives the waiter at the front of the peer's queue.
enum Handed {
    /// Nothing: the waiter may not hold the value; its call fails.
    Nothing,
    /// A copy, for a peek.
    Copy(Vec<u8>),
    /// The value itself, for a read.
    Value(Vec<u8>),
    /// The value went straight to the read's collecting call.
    Delivered,
}

/// The event a `read` or `peek` made, and whether it completed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A value was waiting: the event holds it.
    Completed(EventId),
    /// It waits for the next value.
    Pending(EventId),
}

impl Received {
    /// The event, completed or not.
    pub fn event(self) -> EventId {
        match self {
            Received::Completed(event) | Received::Pending(event) => event,
        }
    }
}

/// The bytes as a vector of their own, copied only if borrowed.
fn owned(bytes: Cow<'_, [u8]>) -> Result<Vec<u8>, Status> {
    match bytes {
        Cow::Owned(bytes) => Ok(bytes),
        Cow::Borrowed(bytes) => super::copied(bytes),
    }
}

pub(super) fn empty_end(references: usize) -> End {
    End {
        inbox: VecDeque::new(),
        inbox_bytes: 0,
        readers: VecDeque::new(),
        references,
    }
}

/// A server end (one reference: its listener's backlog) with `first_value`, if not
/// empty, waiting as its first message, charged to `payer`.
pub(super) fn end_with_first_value(first_value: Vec<u8>, payer: ProcessId) -> Result<End, Status> {
    let mut end = empty_end(1);
    if !first_value.is_empty() {
        end.inbox.try_reserve(1).map_err(|_| Status::NoMemory)?;
        end.inbox_bytes = first_value.len();
        end.inbox.push_back(Queued {
            bytes: first_value,
            payer,
        });
    }
    Ok(end)
}

impl ProcessModel {
    /// `advertise`: publishes a declared service and returns its listening descriptor.
    pub fn advertise(
        &mut self,
        process: ProcessId,
        service: &ServiceName,
    ) -> Result<DescriptorNumber, Status> {
        let label = self
            .services
            .get(service)
            .ok_or(Status::NoSuchObject)?
            .label
            .clone();
        self.authorize(process, &label, LabelRights::ADVERTISE)?;
        if self.advertised.contains_key(service) {
            return Err(Status::AlreadyExists);
        }
        let id = ListenerId(self.allocate_object());
        self.listeners.insert(
            id,
            Listener {
                service: service.clone(),
                references: 0,
                backlog: VecDeque::new(),
                importers: VecDeque::new(),
            },
        );
        let capability = Capability {
            object: Object::Listener(id),
            rights: LISTENER_RIGHTS,
        };
        match self.install(process, capability) {
            Ok(number) => {
                self.advertised.insert(service.clone(), id);
                Ok(number)
            }
            Err(status) => {
                self.listeners.remove(&id);
                Err(status)
            }
        }
    }

    /// `import`: an event that completes with the next connection to the service and
    /// its client's user.
    pub fn import(
        &mut self,
        process: ProcessId,
        listening: DescriptorNumber,
    ) -> Result<EventId, Status> {
        let capability = self
            .process(process)?
            .descriptors
            .require(listening, DescriptorRights::IMPORT)?;
        let Object::Listener(id) = capability.object else {
            return Err(Status::WrongObject);
        };
        let service = &self.listeners.get(&id).ok_or(Status::Closed)?.service;
        let label = self
            .services
            .get(service)
            .ok_or(Status::NoSuchObject)?
            .label
            .clone();
        self.authorize(process, &label, LabelRights::IMPORT)?;
        let event = self.new_pending(process, Waiting::Import(id))?;
        if let Some(listener) = self.listeners.get_mut(&id) {
            listener.importers.push_back((process, event));
        }
        self.match_backlog(id);
        Ok(event)
    }

    /// Hands waiting connections to waiting importers, oldest first.
    pub(super) fn match_backlog(&mut self, id: ListenerId) {
        loop {
            let Some(listener) = self.listeners.get_mut(&id) else {
                return;
            };
            let (Some(&waiter), Some(&connection)) =
                (listener.importers.front(), listener.backlog.front())
            else {
                return;
            };
            listener.importers.pop_front();
            if !self.still_waiting(waiter) {
                continue;
            }
            let capability = Capability {
                object: Object::Connection(connection, Side::Server),
                rights: CONNECTION_RIGHTS,
            };
            match self.install_counted(waiter.0, capability) {
                Ok(descriptor) => {
                    if let Some(listener) = self.listeners.get_mut(&id) {
                        listener.backlog.pop_front();
                    }
                    let client = match self.connections.get(&connection) {
                        Some(connection) => connection.client.clone(),
                        None => continue,
                    };
                    self.complete(waiter, Outcome::Imported { descriptor, client });
                }
                // The importer's table is full: its import fails and the connection
                // waits for the next importer.
                Err(status) => {
                    self.complete(waiter, Outcome::Failed(status));
                }
            }
        }
    }

    /// `ipc`: connects to a local service, queueing `first_value` (if not empty) as the
    /// first request. The event completes at once with the connection. The value is
    /// queued as it was copied in from the caller, never copied again.
    pub fn ipc(
        &mut self,
        process: ProcessId,
        service: &ServiceName,
        host: &str,
        first_value: Vec<u8>,
    ) -> Result<EventId, Status> {
        if !host.is_empty() {
            return self.ipc_remote(process, service, host, first_value);
        }
        let declaration = self.services.get(service).ok_or(Status::NoSuchObject)?;
        let (label, type_hash, maximum_value) = (
            declaration.label.clone(),
            declaration.type_hash,
            declaration.maximum_value,
        );
        if first_value.len() > maximum_value {
            return Err(Status::InvalidArgument);
        }
        self.authorize(process, &label, LabelRights::IPC)?;
        let listener = *self.advertised.get(service).ok_or(Status::NoSuchObject)?;
        // The type is found once, here: every value on the connection is checked
        // from its node without looking the hash up again.
        let (root, interface) = self.connection_type(&type_hash);
        if !first_value.is_empty() {
            self.check_type(root, interface, Side::Client, &first_value)?;
        }
        let running = self.process(process)?;
        if !running.events.has_room() {
            return Err(Status::LimitReached);
        }
        let client = running.user.clone();
        // The first value waits in the server's inbox, charged to the caller.
        let length = first_value.len();
        self.ensure_room_for(process, EVENT_KERNEL_BYTES + length)?;
        let server_end = end_with_first_value(first_value, process)?;
        let id = ConnectionId(self.allocate_object());
        self.connections.insert(
            id,
            Connection {
                root,
                interface,
                maximum_value,
                client,
                ends: [empty_end(0), server_end],
                remote: None,
            },
        );
        let capability = Capability {
            object: Object::Connection(id, Side::Client),
            rights: CONNECTION_RIGHTS,
        };
        let descriptor = match self.install(process, capability) {
            Ok(descriptor) => descriptor,
            Err(status) => {
                self.connections.remove(&id);
                return Err(status);
            }
        };
        let event = self
            .process_mut(process)?
            .events
            .completed(Outcome::Connected(descriptor))?;
        self.pay(process, length);
        if let Some(listening) = self.listeners.get_mut(&listener) {
            listening.backlog.push_back(id);
        }
        self.match_backlog(listener);
        Ok(event)
    }

    /// The node of the connection type `type_hash` in the graph (`None`: the graph
    /// lacks it) and whether it is an interface: found once, when a connection is
    /// made, so no value on it looks the hash up again.
    pub(super) fn connection_type(
        &self,
        type_hash: &ethos_typesys::TypeHash,
    ) -> (Option<NodeIndex>, bool) {
        let root = self.types.find(type_hash);
        let interface = matches!(
            root.and_then(|node| self.types.node(node))
                .map(|node| &node.kind),
            Some(Kind::Interface { .. })
        );
        (root, interface)
    }

    /// Checks `bytes` written by `writer` against the connection's type, from its
    /// node `root` (`None`: a type the graph does not have, so no value is of it):
    /// for an interface the client writes requests and the server replies.
    pub(super) fn check_type(
        &self,
        root: Option<NodeIndex>,
        interface: bool,
        writer: Side,
        bytes: &[u8],
    ) -> Result<(), Status> {
        let root = root.ok_or(Status::InvalidType)?;
        let direction = match (interface, writer) {
            (true, Side::Server) => Direction::Reply,
            _ => Direction::Request,
        };
        recognize(&self.types, root, direction, bytes).map_err(|_| Status::InvalidType)
    }

    /// `write`: checks `bytes` against the connection's type and queues them for the
    /// peer, or hands them straight to a waiting read. The value is queued (or handed
    /// over) as it was copied in from the writer: only a waiting peek gets a copy.
    pub fn write(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
        bytes: Vec<u8>,
    ) -> Result<(), Status> {
        self.write_handing(process, number, Cow::Owned(bytes), &mut |_, _| false)
    }

    /// [`ProcessModel::write`], where `deliver` may give the value to a waiting
    /// read's process at once: it answers true when it wrote the bytes where that
    /// process collects the read's result and answered its collecting call
    /// (the platform's `blockAndRetire`, parked on exactly that event). The event
    /// then completed and was retired in one step, as the parked call would have
    /// done on its return, and the kernel neither holds the value nor allocates
    /// for it. Borrowed bytes are copied only where the value must be kept.
    pub fn write_handing(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
        bytes: Cow<'_, [u8]>,
        deliver: &mut Delivery<'_>,
    ) -> Result<(), Status> {
        let (id, side) = self.check_write(process, number, &bytes, false)?;
        self.hand_over(id, side, bytes, process, deliver)
    }

    /// `writeRead`'s first two thirds: [`ProcessModel::write_handing`], then `read` on
    /// the same descriptor, answering the read's event. Everything that could
    /// refuse the read is checked before the value goes, with the written value
    /// counted as held by the writer (which it is, when it waits in the peer's
    /// inbox), so either both happen or neither does.
    pub fn write_then_read(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
        bytes: Cow<'_, [u8]>,
        deliver: &mut Delivery<'_>,
    ) -> Result<Received, Status> {
        let (id, side) = self.check_write(process, number, &bytes, true)?;
        self.hand_over(id, side, bytes, process, deliver)?;
        self.receive_from(process, id, side, false)
    }

    /// The checks of `write` for `bytes` on `number` (and, when `reading`, those of
    /// a `read` after it): the writer and the connection are each looked up once,
    /// as this runs for every message a program sends.
    fn check_write(
        &self,
        process: ProcessId,
        number: DescriptorNumber,
        bytes: &[u8],
        reading: bool,
    ) -> Result<(ConnectionId, Side), Status> {
        let running = self.processes.get(&process).ok_or(Status::NoSuchObject)?;
        let needed = if reading {
            DescriptorRights::WRITE.union(DescriptorRights::READ)
        } else {
            DescriptorRights::WRITE
        };
        let capability = running.descriptors.require(number, needed)?;
        let Object::Connection(id, side) = capability.object else {
            return Err(Status::WrongObject);
        };
        if reading && !running.events.has_room() {
            return Err(Status::LimitReached);
        }
        let held = running.events.held_bytes() + running.paid;
        let connection = self.connections.get(&id).ok_or(Status::Closed)?;
        let length = bytes.len();
        if length > connection.maximum_value {
            return Err(Status::InvalidArgument);
        }
        self.check_type(connection.root, connection.interface, side, bytes)?;
        let peer = connection.end(side.peer());
        if peer.references == 0 {
            return Err(Status::Closed);
        }
        if peer.inbox.len() >= INBOX_MESSAGES || peer.inbox_bytes + length > INBOX_BYTES {
            return Err(Status::WouldBlock);
        }
        // A writer must be able to hold what it writes until it is read: a peer that
        // does not read slows it, then refuses it, and never the kernel.
        let mut needs = held.saturating_add(length);
        if reading {
            // The read's own check (see `receive_from`), made after the write would
            // have counted the value against the writer.
            let waiting = connection
                .end(side)
                .inbox
                .front()
                .map_or(0, |queued| queued.bytes.len());
            needs = needs.saturating_add(EVENT_KERNEL_BYTES + waiting);
        }
        if needs > self.kernel_memory_limit {
            return Err(Status::LimitReached);
        }
        Ok((id, side))
    }

    /// Gives a checked value `side` wrote (paid by `payer`) to the waiters at the
    /// other end, or queues it there.
    pub(super) fn hand_over(
        &mut self,
        id: ConnectionId,
        side: Side,
        mut bytes: Cow<'_, [u8]>,
        payer: ProcessId,
        deliver: &mut Delivery<'_>,
    ) -> Result<(), Status> {
        let length = bytes.len();
        // Waiting peeks get a copy; the first waiting read takes the value itself. Each
        // copy is made (or the value handed over) before its waiter leaves the queue,
        // so a refused allocation leaves every waiter waiting. The connection and the
        // waiter's process are looked up once per waiter, and held together (they
        // are apart): this runs for every message a program sends.
        loop {
            let limit = self.kernel_memory_limit;
            let Some(connection) = self.connections.get_mut(&id) else {
                break;
            };
            let readers = &mut connection.end_mut(side.peer()).readers;
            let Some(&waiter) = readers.front() else {
                break;
            };
            let mut running = self.processes.get_mut(&waiter.0);
            // The value will be the reader's to hold until it retires it.
            let (is_peek, reader_has_room) = match running.as_deref() {
                Some(reader) => (
                    match reader.events.waiting(waiter.1) {
                        Some(Waiting::Peek(..)) => Some(true),
                        Some(_) => Some(false),
                        None => None,
                    },
                    (reader.events.held_bytes() + reader.paid).saturating_add(length) <= limit,
                ),
                None => (None, false),
            };
            let handed = match is_peek {
                Some(true) if reader_has_room => Handed::Copy(super::copied(&bytes)?),
                Some(false) if reader_has_room => {
                    if deliver(waiter, &bytes) {
                        Handed::Delivered
                    } else {
                        Handed::Value(owned(core::mem::take(&mut bytes))?)
                    }
                }
                _ => Handed::Nothing,
            };
            readers.pop_front();
            match (is_peek, handed) {
                // Its event went (cancelled, or its process ended).
                (None, _) => {}
                (Some(_), Handed::Nothing) => {
                    self.complete(waiter, Outcome::Failed(Status::LimitReached));
                }
                (Some(_), Handed::Copy(copy)) => {
                    self.complete(waiter, Outcome::Value(copy));
                }
                (Some(_), Handed::Value(value)) => {
                    self.complete(waiter, Outcome::Value(value));
                    return Ok(());
                }
                (Some(_), Handed::Delivered) => {
                    // Completed and retired in one step, on the process at hand.
                    let finished = running
                        .as_mut()
                        .is_some_and(|reader| reader.events.complete_and_retire(waiter.1));
                    if finished {
                        self.wake(waiter.0);
                    }
                    return Ok(());
                }
            }
        }
        let bytes = owned(bytes)?;
        let connection = self.connections.get_mut(&id).ok_or(Status::Closed)?;
        // A value for another host waits where the network service takes it.
        let for_network = connection
            .remote
            .as_ref()
            .is_some_and(|link| link.side == side.peer());
        let peer = connection.end_mut(side.peer());
        peer.inbox.try_reserve(1).map_err(|_| Status::NoMemory)?;
        peer.inbox_bytes += length;
        peer.inbox.push_back(Queued { bytes, payer });
        self.pay(payer, length);
        if for_network {
            self.network.outbound.insert(id);
        }
        Ok(())
    }

    /// `read`: an event that completes with the next message, consuming it.
    pub fn read(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
    ) -> Result<EventId, Status> {
        self.receive(process, number, false).map(Received::event)
    }

    /// `peek`: an event that completes with a copy of the next message, leaving it.
    pub fn peek(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
    ) -> Result<EventId, Status> {
        self.receive(process, number, true).map(Received::event)
    }

    fn receive(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
        keep: bool,
    ) -> Result<Received, Status> {
        let running = self.processes.get(&process).ok_or(Status::NoSuchObject)?;
        let capability = running
            .descriptors
            .require(number, DescriptorRights::READ)?;
        let Object::Connection(id, side) = capability.object else {
            return Err(Status::WrongObject);
        };
        self.receive_from(process, id, side, keep)
    }

    /// `read` (or, when `keep`, `peek`) at `side` of connection `id`, whose
    /// descriptor's rights were checked.
    fn receive_from(
        &mut self,
        process: ProcessId,
        id: ConnectionId,
        side: Side,
        keep: bool,
    ) -> Result<Received, Status> {
        // The reader and the connection are each looked up once (they are apart, so
        // both are held at once): this runs for every message a program receives.
        let limit = self.kernel_memory_limit;
        let running = self
            .processes
            .get_mut(&process)
            .ok_or(Status::NoSuchObject)?;
        if !running.events.has_room() {
            return Err(Status::LimitReached);
        }
        let held = running.events.held_bytes() + running.paid;
        let connection = self.connections.get_mut(&id).ok_or(Status::Closed)?;
        let peer_open = connection.end(side.peer()).references > 0;
        let end = connection.end_mut(side);
        // The value becomes the reader's to hold until it retires it.
        let waiting_length = end.inbox.front().map(|queued| queued.bytes.len());
        if held.saturating_add(EVENT_KERNEL_BYTES + waiting_length.unwrap_or(0)) > limit {
            return Err(Status::LimitReached);
        }
        let message: Option<Queued> = if keep {
            end.inbox
                .front()
                .map(|queued| {
                    super::copied(&queued.bytes).map(|bytes| Queued {
                        bytes,
                        payer: process,
                    })
                })
                .transpose()?
        } else {
            end.inbox.pop_front()
        };
        match message {
            Some(queued) => {
                let length = queued.bytes.len();
                // A peek leaves the message, so only a read gives its bytes back, and
                // its writer its charge.
                let refund = if keep {
                    None
                } else {
                    end.inbox_bytes -= length;
                    Some(queued.payer)
                };
                let completed = running
                    .events
                    .completed(Outcome::Value(queued.bytes))
                    .map(Received::Completed);
                if let Some(payer) = refund {
                    self.refund(payer, length);
                }
                completed
            }
            None if !peer_open => Err(Status::Closed),
            None => {
                let waiting = if keep {
                    Waiting::Peek(id, side)
                } else {
                    Waiting::Read(id, side)
                };
                // The room for the event was checked above.
                let event = running.events.pending(waiting)?;
                end.readers.push_back((process, event));
                Ok(Received::Pending(event))
            }
        }
    }
}
