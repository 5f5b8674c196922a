//! The fake kernel's state and the semantics of each call it answers.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use ethos_abi::arguments::MAXIMUM_BLOCK_EVENTS;
use ethos_abi::{Call, Status};

use super::{Logged, Responder};
use crate::kernel::Argument;

#[derive(Debug)]
pub(super) enum Waiting {
    Read(u32),
    Peek(u32),
    Import(u32),
    Beep,
    FdReceive,
}

#[derive(Debug)]
pub(super) enum EventState {
    Pending(Waiting),
    Completed {
        order: u64,
        outcome: Result<Vec<u8>, Status>,
    },
}

pub(super) enum Peer {
    /// An offered service answering each request after a delay.
    Service {
        responder: Rc<RefCell<Responder>>,
        delay: u64,
    },
    /// A scripted client of a service the program advertised.
    Client,
}

pub(super) struct End {
    pub(super) inbox: VecDeque<Vec<u8>>,
    pub(super) peer: Peer,
    pub(super) peer_closed: bool,
    /// What the program wrote on this end.
    pub(super) written: Vec<Vec<u8>>,
}

pub(super) enum Object {
    Listener,
    Connection(End),
}

pub(super) struct Offered {
    pub(super) responder: Rc<RefCell<Responder>>,
    pub(super) delay: u64,
}

pub(super) enum Happening {
    Timer(u64),
    Deliver { descriptor: u32, bytes: Vec<u8> },
    HangUp { descriptor: u32 },
    Arrive(Arrival),
    Offer { service: String, offered: Offered },
    Batch(Vec<u32>),
}

/// A client connecting to a service the program advertises.
pub(crate) struct Arrival {
    pub(crate) service: String,
    pub(crate) user: String,
    /// Each message with its delay after the connection.
    pub(crate) messages: Vec<(u64, Vec<u8>)>,
    /// Hang up this long after the connection, if at all.
    pub(crate) hang_up: Option<u64>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) clock: u64,
    pub(super) next_event: u64,
    pub(super) completions: u64,
    pub(super) events: BTreeMap<u64, EventState>,
    pub(super) next_descriptor: u32,
    pub(super) descriptors: BTreeMap<u32, Object>,
    pub(super) offered: BTreeMap<String, Offered>,
    pub(super) refused: BTreeMap<String, Status>,
    pub(super) advertisable: Vec<String>,
    pub(super) listeners: BTreeMap<String, u32>,
    pub(super) backlog: BTreeMap<u32, VecDeque<(u32, String)>>,
    pub(super) scheduled: Vec<(u64, u64, Happening)>,
    pub(super) sequence: u64,
    pub(super) batches: VecDeque<Vec<u32>>,
    pub(super) forced: BTreeMap<Call, VecDeque<Status>>,
    pub(super) log: Vec<Logged>,
    pub(super) printed: Vec<String>,
    pub(super) sent: Vec<(Vec<u32>, String, String)>,
    pub(super) user: String,
    /// The event a `writeRead` kept because its value did not fit: answered beside
    /// the status.
    pub(super) kept: Option<u64>,
}

impl State {
    pub(super) fn schedule(&mut self, at: u64, happening: Happening) {
        self.sequence += 1;
        self.scheduled.push((at, self.sequence, happening));
    }

    pub(super) fn allocate_descriptor(&mut self) -> u32 {
        let number = self.next_descriptor;
        self.next_descriptor += 1;
        number
    }

    fn new_event(&mut self, state: EventState) -> u64 {
        self.next_event += 1;
        self.events.insert(self.next_event, state);
        self.next_event
    }

    fn completed(&mut self, outcome: Result<Vec<u8>, Status>) -> u64 {
        self.completions += 1;
        let order = self.completions;
        self.new_event(EventState::Completed { order, outcome })
    }

    fn complete(&mut self, event: u64, outcome: Result<Vec<u8>, Status>) {
        self.completions += 1;
        let order = self.completions;
        if let Some(state @ EventState::Pending(_)) = self.events.get_mut(&event) {
            *state = EventState::Completed { order, outcome };
        }
    }

    /// The oldest pending event matching `wanted`.
    fn pending(&self, wanted: impl Fn(&Waiting) -> bool) -> Option<u64> {
        self.events.iter().find_map(|(id, state)| match state {
            EventState::Pending(waiting) if wanted(waiting) => Some(*id),
            _ => None,
        })
    }

    fn end(&mut self, descriptor: u32) -> Result<&mut End, Status> {
        match self.descriptors.get_mut(&descriptor) {
            Some(Object::Connection(end)) => Ok(end),
            Some(Object::Listener) => Err(Status::WrongObject),
            None => Err(Status::NoSuchObject),
        }
    }

    /// Runs the earliest scheduled happening, moving the clock to it; false if none.
    fn run_next(&mut self) -> bool {
        let Some(index) = self
            .scheduled
            .iter()
            .enumerate()
            .min_by_key(|(_, (at, sequence, _))| (*at, *sequence))
            .map(|(index, _)| index)
        else {
            return false;
        };
        let (at, _, happening) = self.scheduled.remove(index);
        self.clock = self.clock.max(at);
        self.happen(happening);
        true
    }

    /// Runs every happening due by the clock.
    fn run_due(&mut self) {
        while self.scheduled.iter().any(|(at, _, _)| *at <= self.clock) {
            self.run_next();
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Timer(event) => self.complete(event, Ok(Vec::new())),
            Happening::Deliver { descriptor, bytes } => self.deliver(descriptor, bytes),
            Happening::HangUp { descriptor } => {
                if let Ok(end) = self.end(descriptor) {
                    end.peer_closed = true;
                }
                while let Some(event) = self.pending(
                    |waiting| matches!(waiting, Waiting::Read(d) | Waiting::Peek(d) if *d == descriptor),
                ) {
                    self.complete(event, Err(Status::Closed));
                }
            }
            Happening::Arrive(arrival) => self.arrive(arrival),
            Happening::Offer { service, offered } => {
                self.offered.insert(service, offered);
            }
            Happening::Batch(numbers) => {
                self.batches.push_back(numbers);
                self.deliver_batches();
            }
        }
    }

    fn deliver(&mut self, descriptor: u32, bytes: Vec<u8>) {
        let Ok(end) = self.end(descriptor) else {
            return;
        };
        end.inbox.push_back(bytes);
        // Waiting peeks see a copy; the oldest waiting read takes the message.
        while let Some(event) = self.pending(
            |waiting| matches!(waiting, Waiting::Read(d) | Waiting::Peek(d) if *d == descriptor),
        ) {
            let is_peek = matches!(
                self.events.get(&event),
                Some(EventState::Pending(Waiting::Peek(_)))
            );
            let Ok(end) = self.end(descriptor) else {
                return;
            };
            let message = if is_peek {
                end.inbox.front().cloned()
            } else {
                end.inbox.pop_front()
            };
            let Some(message) = message else { return };
            self.complete(event, Ok(message));
            if !is_peek {
                return;
            }
        }
    }

    fn arrive(&mut self, arrival: Arrival) {
        let Some(&listening) = self.listeners.get(&arrival.service) else {
            return;
        };
        let descriptor = self.allocate_descriptor();
        self.descriptors.insert(
            descriptor,
            Object::Connection(End {
                inbox: VecDeque::new(),
                peer: Peer::Client,
                peer_closed: false,
                written: Vec::new(),
            }),
        );
        let now = self.clock;
        for (delay, bytes) in arrival.messages {
            self.schedule(now + delay, Happening::Deliver { descriptor, bytes });
        }
        if let Some(delay) = arrival.hang_up {
            self.schedule(now + delay, Happening::HangUp { descriptor });
        }
        self.backlog
            .entry(listening)
            .or_default()
            .push_back((descriptor, arrival.user));
        self.match_backlog(listening);
    }

    fn match_backlog(&mut self, listening: u32) {
        while let Some(event) =
            self.pending(|waiting| matches!(waiting, Waiting::Import(l) if *l == listening))
        {
            let Some((descriptor, user)) = self
                .backlog
                .get_mut(&listening)
                .and_then(VecDeque::pop_front)
            else {
                return;
            };
            let mut bytes = descriptor.to_le_bytes().to_vec();
            bytes.extend_from_slice(user.as_bytes());
            self.complete(event, Ok(bytes));
        }
    }

    fn deliver_batches(&mut self) {
        while !self.batches.is_empty() {
            let Some(event) = self.pending(|waiting| matches!(waiting, Waiting::FdReceive)) else {
                return;
            };
            let Some(numbers) = self.batches.pop_front() else {
                return;
            };
            for number in &numbers {
                self.descriptors.insert(
                    *number,
                    Object::Connection(End {
                        inbox: VecDeque::new(),
                        peer: Peer::Client,
                        peer_closed: false,
                        written: Vec::new(),
                    }),
                );
            }
            let bytes = numbers
                .iter()
                .flat_map(|number| number.to_le_bytes())
                .collect();
            self.complete(event, Ok(bytes));
        }
    }

    fn first_completed(&self, set: &[u64]) -> Result<Option<u64>, Status> {
        let mut first: Option<(u64, u64)> = None;
        for id in set {
            match self.events.get(id) {
                None => return Err(Status::NoSuchObject),
                Some(EventState::Pending(_)) => {}
                Some(EventState::Completed { order, .. }) => {
                    if first.is_none_or(|(earliest, _)| *order < earliest) {
                        first = Some((*order, *id));
                    }
                }
            }
        }
        Ok(first.map(|(_, id)| id))
    }

    fn read(&mut self, descriptor: u32, keep: bool) -> Result<u64, Status> {
        let end = self.end(descriptor)?;
        let message = if keep {
            end.inbox.front().cloned()
        } else {
            end.inbox.pop_front()
        };
        let peer_closed = end.peer_closed;
        match message {
            Some(bytes) => Ok(self.completed(Ok(bytes))),
            None if peer_closed => Err(Status::Closed),
            None => Ok(self.new_event(EventState::Pending(if keep {
                Waiting::Peek(descriptor)
            } else {
                Waiting::Read(descriptor)
            }))),
        }
    }

    fn write(&mut self, descriptor: u32, value: &[u8]) -> Result<u64, Status> {
        let clock = self.clock;
        let end = self.end(descriptor)?;
        if end.peer_closed {
            return Err(Status::Closed);
        }
        end.written.push(value.to_vec());
        if let Peer::Service { responder, delay } = &end.peer {
            let delay = *delay;
            let reply = (responder.borrow_mut())(value);
            if let Some(bytes) = reply {
                self.schedule(clock + delay, Happening::Deliver { descriptor, bytes });
            }
        }
        Ok(0)
    }

    fn ipc(&mut self, service: &str, host: &str, first: &[u8]) -> Result<u64, Status> {
        if !host.is_empty() {
            return Err(Status::TunnelNotCreated);
        }
        if let Some(status) = self.refused.get(service) {
            return Err(*status);
        }
        let offered = self.offered.get(service).ok_or(Status::NoSuchObject)?;
        let peer = Peer::Service {
            responder: offered.responder.clone(),
            delay: offered.delay,
        };
        let descriptor = self.allocate_descriptor();
        self.descriptors.insert(
            descriptor,
            Object::Connection(End {
                inbox: VecDeque::new(),
                peer,
                peer_closed: false,
                written: Vec::new(),
            }),
        );
        if !first.is_empty() {
            self.write(descriptor, first)?;
        }
        Ok(self.completed(Ok(descriptor.to_le_bytes().to_vec())))
    }

    fn block(&mut self, set: &[u64]) -> Result<u64, Status> {
        if set.is_empty() || set.len() as u64 > MAXIMUM_BLOCK_EVENTS {
            return Err(Status::InvalidArgument);
        }
        self.run_due();
        loop {
            if let Some(event) = self.first_completed(set)? {
                return Ok(event);
            }
            // Parked: time passes until the next thing happens.
            assert!(
                self.run_next(),
                "block on {set:?} would park forever: nothing is scheduled"
            );
        }
    }

    fn retire(&mut self, event: u64, buffer: &mut [u8]) -> Result<u64, Status> {
        match self.events.get(&event) {
            None => Err(Status::NoSuchObject),
            Some(EventState::Pending(_)) => Err(Status::WouldBlock),
            Some(EventState::Completed {
                outcome: Ok(bytes), ..
            }) => {
                let place = buffer
                    .get_mut(..bytes.len())
                    .ok_or(Status::BufferTooSmall)?;
                place.copy_from_slice(bytes);
                let used = bytes.len() as u64;
                self.events.remove(&event);
                Ok(used)
            }
            Some(EventState::Completed {
                outcome: Err(status),
                ..
            }) => {
                let status = *status;
                self.events.remove(&event);
                Err(status)
            }
        }
    }

    pub(super) fn answer(
        &mut self,
        call: Call,
        arguments: &mut [Argument<'_>],
    ) -> Result<u64, Status> {
        use Argument as A;
        match (call, arguments) {
            (Call::Advertise, [A::Name(service)]) => {
                if !self.advertisable.iter().any(|allowed| allowed == service) {
                    return Err(Status::NotAuthorized);
                }
                if self.listeners.contains_key(*service) {
                    return Err(Status::AlreadyExists);
                }
                let descriptor = self.allocate_descriptor();
                self.descriptors.insert(descriptor, Object::Listener);
                self.listeners.insert(service.to_string(), descriptor);
                Ok(u64::from(descriptor))
            }
            (Call::Import, [A::Descriptor(listening)]) => {
                let listening = listening.number();
                match self.descriptors.get(&listening) {
                    Some(Object::Listener) => {}
                    Some(Object::Connection(_)) => return Err(Status::WrongObject),
                    None => return Err(Status::NoSuchObject),
                }
                let event = self.new_event(EventState::Pending(Waiting::Import(listening)));
                self.match_backlog(listening);
                Ok(event)
            }
            (Call::Ipc, [A::Name(service), A::Name(host), A::Value(first)]) => {
                self.ipc(service, host, first)
            }
            (Call::Read, [A::Descriptor(descriptor)]) => self.read(descriptor.number(), false),
            (Call::Peek, [A::Descriptor(descriptor)]) => self.read(descriptor.number(), true),
            (Call::Write, [A::Descriptor(descriptor), A::Value(value)]) => {
                self.write(descriptor.number(), value)
            }
            (Call::FdSend, [A::Descriptors(numbers), A::Name(user), A::Name(program)]) => {
                for number in numbers.iter() {
                    if !self.descriptors.contains_key(number) {
                        return Err(Status::NoSuchObject);
                    }
                }
                self.sent
                    .push((numbers.to_vec(), user.to_string(), program.to_string()));
                Ok(0)
            }
            (Call::FdReceive, []) => {
                let event = self.new_event(EventState::Pending(Waiting::FdReceive));
                self.deliver_batches();
                Ok(event)
            }
            (Call::Close, [A::Descriptor(descriptor)]) => self
                .descriptors
                .remove(&descriptor.number())
                .map(|_| 0)
                .ok_or(Status::NoSuchObject),
            (Call::GetPid, []) => Ok(7),
            (Call::GetUser, [A::Buffer(buffer)]) => {
                let name = self.user.clone();
                let place = buffer.get_mut(..name.len()).ok_or(Status::BufferTooSmall)?;
                place.copy_from_slice(name.as_bytes());
                Ok(name.len() as u64)
            }
            (Call::GetTime, []) => Ok(self.clock),
            (Call::Beep, [A::Time(deadline)]) => {
                if *deadline <= self.clock {
                    return Ok(self.completed(Ok(Vec::new())));
                }
                let event = self.new_event(EventState::Pending(Waiting::Beep));
                let deadline = *deadline;
                self.schedule(deadline, Happening::Timer(event));
                Ok(event)
            }
            (Call::Random, [A::Size(size)]) => {
                let bytes = (0..*size).map(|index| index as u8).collect();
                Ok(self.completed(Ok(bytes)))
            }
            (Call::Print, [A::Value(text)]) => {
                let text = core::str::from_utf8(text).map_err(|_| Status::InvalidArgument)?;
                self.printed.push(text.to_string());
                Ok(0)
            }
            (Call::Block, [A::Events(ids)]) => self.block(ids),
            (Call::Retire, [A::Event(event), A::Buffer(buffer)]) => self.retire(event.id(), buffer),
            (Call::BlockAndRetire, [A::Event(event), A::Buffer(buffer)]) => {
                self.block(&[event.id()])?;
                self.retire(event.id(), buffer)
            }
            (
                Call::WriteRead,
                [
                    A::Descriptor(descriptor),
                    A::Value(value),
                    A::Buffer(buffer),
                ],
            ) => {
                self.write(descriptor.number(), value)?;
                let event = self.read(descriptor.number(), false)?;
                self.block(&[event])?;
                let collected = self.retire(event, buffer);
                if collected == Err(Status::BufferTooSmall) {
                    self.kept = Some(event);
                }
                collected
            }
            (Call::Cancel, [A::Event(event)]) => {
                self.scheduled.retain(
                    |(_, _, happening)| !matches!(happening, Happening::Timer(e) if *e == event.id()),
                );
                self.events
                    .remove(&event.id())
                    .map(|_| 0)
                    .ok_or(Status::NoSuchObject)
            }
            (Call::Exit, [A::ExitStatus(_)]) => Ok(0),
            // This kernel holds no user's key, and checks no signature.
            (Call::Sign, [A::Value(_)]) => Err(Status::NotAuthorized),
            _ => Err(Status::NotSupported),
        }
    }
}
