//! The process model's state: processes, their users and programs, listeners,
//! connections and virtual processes, and the bookkeeping that ties descriptors and
//! events to them.
//!
//! Objects are counted: every capability in a descriptor table or in a virtual
//! process's queue holds one reference, and a listener's backlog holds the server end
//! of each connection not yet imported. When the last reference to a connection end
//! goes, the peer's waiting reads fail with `Closed`; when the last listening
//! descriptor goes, the service is withdrawn. The calls themselves live in
//! [`super::ipc`], [`super::transfer`] and [`super::timers`]. Nothing here trusts a
//! program: every id a process names is looked up and may be absent.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use litemap::LiteMap;

use ethos_abi::{DescriptorNumber, EventId, LabelRights, ProcessId, Status};
use ethos_typesys::{TypeGraph, TypeHash};

use super::descriptors::{Capability, ConnectionId, DescriptorTable, ListenerId, Object, Side};
use super::events::{EventTable, Instant, Outcome, Waiting};
use super::identity::{Label, Program, ProgramId, ProgramName, ServiceName, User, UserName};
use super::policy::Policy;

/// A service the boot image declares: its interface type and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDeclaration {
    /// The service's name.
    pub name: ServiceName,
    /// The type every message on its connections is checked against.
    pub type_hash: TypeHash,
    /// The label the policy decides `advertise`, `import` and `ipc` on.
    pub label: Label,
    /// The largest value its connections carry, in bytes.
    pub maximum_value: usize,
}

/// Everything the process model starts from, read from the boot image.
#[derive(Clone, Debug)]
pub struct Configuration {
    /// The user records.
    pub users: Vec<User>,
    /// The programs in `/programs`.
    pub programs: Vec<Program>,
    /// The authorization policy.
    pub policy: Policy,
    /// Every type the kernel knows, from `/types`.
    pub types: TypeGraph<'static>,
    /// The services in `/services`.
    pub services: Vec<ServiceDeclaration>,
    /// Kernel memory each process may hold on its behalf, in bytes (see
    /// [`ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY`]); a platform with a
    /// bounded heap lowers it to fit (see [`super::memory_limit`]).
    pub kernel_memory_per_process: usize,
}

/// Why a configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigurationError {
    /// Two user records share a name.
    DuplicateUser(UserName),
    /// Two programs share a name.
    DuplicateProgram(ProgramName),
    /// Two services share a name.
    DuplicateService(ServiceName),
    /// A service's type is not in the type graph.
    UnknownServiceType(ServiceName),
}

impl core::fmt::Display for ConfigurationError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigurationError::DuplicateUser(name) => {
                write!(formatter, "user {name} is declared twice")
            }
            ConfigurationError::DuplicateProgram(name) => {
                write!(formatter, "program {name} is declared twice")
            }
            ConfigurationError::DuplicateService(name) => {
                write!(formatter, "service {name} is declared twice")
            }
            ConfigurationError::UnknownServiceType(name) => {
                write!(formatter, "service {name} has a type the type graph lacks")
            }
        }
    }
}

/// A waiter: the process and the event to complete.
pub(super) type Waiter = (ProcessId, EventId);

pub(super) struct Process {
    /// Fixed when the process is made; no call changes it.
    pub(super) user: UserName,
    pub(super) program: ProgramId,
    pub(super) descriptors: DescriptorTable,
    pub(super) events: EventTable,
    /// Kernel memory of values it queued and descriptors it sent that nobody took
    /// yet (its events count in `events`).
    pub(super) paid: usize,
}

/// A value waiting in an inbox, and the process it is charged to.
pub(super) struct Queued {
    pub(super) bytes: Vec<u8>,
    pub(super) payer: ProcessId,
}

/// Descriptors waiting for a virtual process, and the process they are charged to.
#[derive(Clone)]
pub(super) struct Batch {
    pub(super) capabilities: Vec<Capability>,
    pub(super) payer: ProcessId,
}

impl Batch {
    pub(super) fn charge(&self) -> usize {
        self.capabilities.len() * ethos_abi::arguments::DESCRIPTOR_IN_FLIGHT_BYTES
    }
}

pub(super) struct Listener {
    pub(super) service: ServiceName,
    pub(super) references: usize,
    pub(super) backlog: VecDeque<ConnectionId>,
    pub(super) importers: VecDeque<Waiter>,
}

pub(super) struct End {
    pub(super) inbox: VecDeque<Queued>,
    pub(super) inbox_bytes: usize,
    pub(super) readers: VecDeque<Waiter>,
    pub(super) references: usize,
}

pub(super) struct Connection {
    /// The node of its type in the graph, found when it was made (`None`: the
    /// graph lacks it, so every value is refused).
    pub(super) root: Option<ethos_typesys::graph::NodeIndex>,
    /// Whether the type is an interface: requests go client to server, replies back.
    pub(super) interface: bool,
    /// The largest value written on it (its service's).
    pub(super) maximum_value: usize,
    pub(super) client: UserName,
    pub(super) ends: [End; 2],
    /// Where one end is another host's: that end's values go to the network.
    pub(super) remote: Option<super::remote::RemoteLink>,
}

impl Connection {
    pub(super) fn end(&self, side: Side) -> &End {
        &self.ends[side as usize]
    }

    pub(super) fn end_mut(&mut self, side: Side) -> &mut End {
        &mut self.ends[side as usize]
    }
}

#[derive(Default)]
pub(super) struct VirtualProcess {
    pub(super) queue: VecDeque<Batch>,
    pub(super) receivers: VecDeque<Waiter>,
}

/// The portable process model: one per kernel.
pub struct ProcessModel {
    pub(super) users: BTreeMap<UserName, User>,
    pub(super) programs: BTreeMap<ProgramId, Program>,
    pub(super) program_names: BTreeMap<ProgramName, ProgramId>,
    pub(super) policy: Policy,
    pub(super) types: TypeGraph<'static>,
    pub(super) services: BTreeMap<ServiceName, ServiceDeclaration>,
    pub(super) advertised: BTreeMap<ServiceName, ListenerId>,
    pub(super) listeners: BTreeMap<ListenerId, Listener>,
    /// Connections and processes are looked up several times for every message and
    /// every switch: lists sorted by id (ids only grow, so a new one goes last),
    /// searched by halving, where a tree would walk nodes.
    pub(super) connections: LiteMap<ConnectionId, Connection>,
    pub(super) virtual_processes: BTreeMap<(UserName, ProgramId), VirtualProcess>,
    pub(super) processes: LiteMap<ProcessId, Process>,
    pub(super) timers: BTreeSet<(Instant, ProcessId, EventId)>,
    /// Processes to wake, each once: a short list, kept with its capacity, since
    /// every message that completes a read adds one and every switch drains it.
    pub(super) woken: Vec<ProcessId>,
    /// Kernel memory each process may hold (see [`super::memory_limit`]).
    pub(super) kernel_memory_limit: usize,
    /// What the network service must do for remote connections.
    pub(super) network: super::remote::Network,
    /// The typed file system's store, once the platform attached one.
    pub(super) files: Option<super::files::FileSystem>,
    next_process: u64,
    pub(super) next_object: u64,
}

impl core::fmt::Debug for ProcessModel {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("ProcessModel")
            .field("processes", &self.processes.len())
            .field("listeners", &self.listeners.len())
            .field("connections", &self.connections.len())
            .field("virtual_processes", &self.virtual_processes.len())
            .finish()
    }
}

impl ProcessModel {
    /// A model with no process yet.
    pub fn new(configuration: Configuration) -> Result<ProcessModel, ConfigurationError> {
        let mut users = BTreeMap::new();
        for user in configuration.users {
            let name = user.name.clone();
            if users.insert(name.clone(), user).is_some() {
                return Err(ConfigurationError::DuplicateUser(name));
            }
        }
        let mut programs = BTreeMap::new();
        let mut program_names = BTreeMap::new();
        for program in configuration.programs {
            if program_names
                .insert(program.name.clone(), program.identity)
                .is_some()
            {
                return Err(ConfigurationError::DuplicateProgram(program.name));
            }
            programs.insert(program.identity, program);
        }
        let mut services = BTreeMap::new();
        for service in configuration.services {
            if configuration.types.find(&service.type_hash).is_none() {
                return Err(ConfigurationError::UnknownServiceType(service.name));
            }
            let name = service.name.clone();
            if services.insert(name.clone(), service).is_some() {
                return Err(ConfigurationError::DuplicateService(name));
            }
        }
        Ok(ProcessModel {
            users,
            programs,
            program_names,
            policy: configuration.policy,
            types: configuration.types,
            services,
            advertised: BTreeMap::new(),
            listeners: BTreeMap::new(),
            connections: LiteMap::new(),
            virtual_processes: BTreeMap::new(),
            processes: LiteMap::new(),
            timers: BTreeSet::new(),
            woken: Vec::new(),
            kernel_memory_limit: configuration.kernel_memory_per_process,
            network: super::remote::Network::default(),
            files: None,
            next_process: 0,
            next_object: 0,
        })
    }

    /// Starts a process of `program` for `user`. Its user never changes afterwards.
    pub fn create_process(
        &mut self,
        user: &UserName,
        program: &ProgramName,
    ) -> Result<ProcessId, Status> {
        if !self.users.contains_key(user) {
            return Err(Status::NoSuchObject);
        }
        let program = *self
            .program_names
            .get(program)
            .ok_or(Status::NoSuchObject)?;
        let id = self.allocate_process();
        let mut descriptors = DescriptorTable::new();
        if let Some(root) = self.root_capability() {
            descriptors.install_reserved(ethos_abi::arguments::reserved::ROOT_DIRECTORY, root);
        }
        self.processes.insert(
            id,
            Process {
                user: user.clone(),
                program,
                descriptors,
                events: EventTable::new(),
                paid: 0,
            },
        );
        Ok(id)
    }

    /// Ends a process: closes its descriptors and drops its events.
    pub fn end_process(&mut self, process: ProcessId) -> Result<(), Status> {
        let mut ended = self
            .processes
            .remove(&process)
            .ok_or(Status::NoSuchObject)?;
        for capability in ended.descriptors.drain() {
            self.release(capability.object);
        }
        // Its waiters go with it: no timer of an ended process keeps the machine
        // waiting, and no queue keeps its place.
        let waiting: Vec<(EventId, Waiting)> = ended
            .events
            .pending_events()
            .map(|(event, waiting)| (event, waiting.clone()))
            .collect();
        for (event, waiting) in &waiting {
            self.forget_waiter(process, *event, waiting);
        }
        // Descriptors that completed events brought are already in the table, so the
        // outcomes hold nothing more to release.
        ended.events.drain();
        self.woken.retain(|woken| *woken != process);
        Ok(())
    }

    /// The user a process runs for.
    pub fn user_of(&self, process: ProcessId) -> Result<&UserName, Status> {
        Ok(&self.process(process)?.user)
    }

    /// The program a process runs.
    pub fn program_of(&self, process: ProcessId) -> Result<ProgramId, Status> {
        Ok(self.process(process)?.program)
    }

    /// How many descriptors a process holds open.
    pub fn descriptor_count(&self, process: ProcessId) -> Result<usize, Status> {
        Ok(self.process(process)?.descriptors.len())
    }

    /// How many events a process holds.
    pub fn event_count(&self, process: ProcessId) -> Result<usize, Status> {
        Ok(self.process(process)?.events.len())
    }

    /// How many connections exist; for tests of object lifetimes.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Processes whose events completed since the last call: the scheduler wakes them.
    pub fn take_woken(&mut self) -> Vec<ProcessId> {
        self.drain_woken().collect()
    }

    /// [`ProcessModel::take_woken`], lent: the list keeps its memory for the next.
    /// In order of process id.
    pub fn drain_woken(&mut self) -> alloc::vec::Drain<'_, ProcessId> {
        // One woken process, a round trip's case, is in order already.
        if self.woken.len() > 1 {
            self.woken.sort_unstable();
        }
        self.woken.drain(..)
    }

    pub(super) fn process(&self, process: ProcessId) -> Result<&Process, Status> {
        self.processes.get(&process).ok_or(Status::NoSuchObject)
    }

    pub(super) fn process_mut(&mut self, process: ProcessId) -> Result<&mut Process, Status> {
        self.processes.get_mut(&process).ok_or(Status::NoSuchObject)
    }

    /// Whether `process`'s user running its program holds `needed` on `label`.
    pub(super) fn authorize(
        &self,
        process: ProcessId,
        label: &Label,
        needed: LabelRights,
    ) -> Result<(), Status> {
        self.authorize_towards(process, label, needed, None)
    }

    /// [`ProcessModel::authorize`] for a connection to `host` (`None`: here).
    pub(super) fn authorize_towards(
        &self,
        process: ProcessId,
        label: &Label,
        needed: LabelRights,
        host: Option<&str>,
    ) -> Result<(), Status> {
        let running = self.process(process)?;
        let user = self.users.get(&running.user).ok_or(Status::NoSuchObject)?;
        let allowed = match host {
            None => self.policy.allows(label, user, &running.program, needed),
            Some(host) => self
                .policy
                .allows_to_host(label, user, &running.program, host, needed),
        };
        if allowed {
            Ok(())
        } else {
            Err(Status::NotAuthorized)
        }
    }

    /// Completes a waiter's event if it still waits, and marks its process to wake.
    pub(super) fn complete(&mut self, waiter: Waiter, outcome: Outcome) -> bool {
        let (process, event) = waiter;
        let Some(running) = self.processes.get_mut(&process) else {
            return false;
        };
        let completed = running.events.complete(event, outcome);
        if completed {
            self.wake(process);
        }
        completed
    }

    /// Marks `process`, one of whose events completed, for the scheduler to wake
    /// ([`ProcessModel::take_woken`]); once, however many completed.
    pub(super) fn wake(&mut self, process: ProcessId) {
        if !self.woken.contains(&process) {
            self.woken.push(process);
        }
    }

    /// Kernel memory `process` holds: its events and their outcomes, the values it
    /// queued and the descriptors it sent that nobody took yet.
    pub fn kernel_memory_held(&self, process: ProcessId) -> Result<usize, Status> {
        let running = self.process(process)?;
        Ok(running.events.held_bytes() + running.paid)
    }

    /// `LimitReached` unless `process` may hold `more` bytes besides what it holds.
    pub(super) fn ensure_room_for(&self, process: ProcessId, more: usize) -> Result<(), Status> {
        let held = self.kernel_memory_held(process)?;
        if held.saturating_add(more) <= self.kernel_memory_limit {
            Ok(())
        } else {
            Err(Status::LimitReached)
        }
    }

    /// Charges `bytes` of queued values or descriptors in flight to `process`.
    pub(super) fn pay(&mut self, process: ProcessId, bytes: usize) {
        if let Some(running) = self.processes.get_mut(&process) {
            running.paid += bytes;
        }
    }

    /// Gives back a charge made with [`ProcessModel::pay`] (nothing if the payer ended:
    /// its account ended with it).
    pub(super) fn refund(&mut self, payer: ProcessId, bytes: usize) {
        if let Some(running) = self.processes.get_mut(&payer) {
            running.paid = running.paid.saturating_sub(bytes);
        }
    }

    /// A new event of `process` waiting for `waiting`, if its kernel memory allows.
    pub(super) fn new_pending(
        &mut self,
        process: ProcessId,
        waiting: Waiting,
    ) -> Result<EventId, Status> {
        let limit = self.kernel_memory_limit;
        let running = self.process_mut(process)?;
        let held = running.events.held_bytes() + running.paid;
        if held.saturating_add(ethos_abi::arguments::EVENT_KERNEL_BYTES) > limit {
            return Err(Status::LimitReached);
        }
        running.events.pending(waiting)
    }

    /// A new event of `process` completed with `outcome`, if its kernel memory allows.
    pub(super) fn new_completed(
        &mut self,
        process: ProcessId,
        outcome: Outcome,
    ) -> Result<EventId, Status> {
        self.ensure_room_for(
            process,
            ethos_abi::arguments::EVENT_KERNEL_BYTES + outcome.held_bytes(),
        )?;
        self.process_mut(process)?.events.completed(outcome)
    }

    /// Whether a waiter's event still waits (it may have been cancelled or its process
    /// may have ended).
    pub(super) fn still_waiting(&self, waiter: Waiter) -> bool {
        self.processes
            .get(&waiter.0)
            .is_some_and(|running| running.events.waiting(waiter.1).is_some())
    }

    pub(super) fn allocate_process(&mut self) -> ProcessId {
        self.next_process += 1;
        ProcessId(self.next_process)
    }

    pub(super) fn allocate_object(&mut self) -> u64 {
        self.next_object += 1;
        self.next_object
    }

    /// Counts one more reference to `object`.
    pub(super) fn retain(&mut self, object: Object) {
        match object {
            Object::Listener(id) => {
                if let Some(listener) = self.listeners.get_mut(&id) {
                    listener.references += 1;
                }
            }
            Object::Connection(id, side) => {
                if let Some(connection) = self.connections.get_mut(&id) {
                    connection.end_mut(side).references += 1;
                }
            }
            Object::Directory(_) => {}
        }
    }

    /// Drops one reference to `object`, tearing it down with the last.
    pub(super) fn release(&mut self, object: Object) {
        match object {
            Object::Listener(id) => self.release_listener(id),
            Object::Connection(id, side) => self.release_end(id, side),
            Object::Directory(_) => {}
        }
    }

    fn release_listener(&mut self, id: ListenerId) {
        let Some(listener) = self.listeners.get_mut(&id) else {
            return;
        };
        listener.references = listener.references.saturating_sub(1);
        if listener.references > 0 {
            return;
        }
        let Some(listener) = self.listeners.remove(&id) else {
            return;
        };
        self.advertised.remove(&listener.service);
        for waiter in listener.importers {
            self.complete(waiter, Outcome::Failed(Status::Closed));
        }
        for connection in listener.backlog {
            self.release_end(connection, Side::Server);
        }
    }

    pub(super) fn release_end(&mut self, id: ConnectionId, side: Side) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        let end = connection.end_mut(side);
        end.references = end.references.saturating_sub(1);
        if end.references > 0 {
            return;
        }
        if let Some(link) = &connection.remote
            && link.side != side
        {
            // The last local reference went: the network closes the other host's
            // end once the values still waiting for it have left.
            self.close_remote(id);
            return;
        }
        let end = connection.end_mut(side);
        // Nobody can read this end any more: its messages go (their writers get their
        // charges back), and reads still pending on it (made before the descriptor
        // was closed) fail.
        let dropped: Vec<Queued> = end.inbox.drain(..).collect();
        end.inbox_bytes = 0;
        let orphaned: Vec<Waiter> = end.readers.drain(..).collect();
        let peer_readers: Vec<Waiter> = connection.end_mut(side.peer()).readers.drain(..).collect();
        let both_closed = connection.end(side.peer()).references == 0;
        for queued in dropped {
            self.refund(queued.payer, queued.bytes.len());
        }
        for waiter in orphaned.into_iter().chain(peer_readers) {
            self.complete(waiter, Outcome::Failed(Status::Closed));
        }
        if both_closed {
            self.connections.remove(&id);
        }
    }

    /// Installs `capability` in `process`'s table, counting the reference.
    pub(super) fn install(
        &mut self,
        process: ProcessId,
        capability: Capability,
    ) -> Result<DescriptorNumber, Status> {
        let number = self.process_mut(process)?.descriptors.install(capability)?;
        self.retain(capability.object);
        Ok(number)
    }

    /// Installs a capability whose reference is already counted (a server end leaving
    /// the backlog, descriptors leaving a virtual process's queue).
    pub(super) fn install_counted(
        &mut self,
        process: ProcessId,
        capability: Capability,
    ) -> Result<DescriptorNumber, Status> {
        self.process_mut(process)?.descriptors.install(capability)
    }

    /// Closes the descriptors a dropped outcome brought into `process`.
    pub(super) fn release_outcome(&mut self, process: ProcessId, outcome: Outcome) {
        let numbers = match outcome {
            Outcome::Connected(number) => alloc::vec![number],
            Outcome::Imported { descriptor, .. } => alloc::vec![descriptor],
            Outcome::Descriptors(numbers) => numbers,
            Outcome::Value(_) | Outcome::TimerExpired | Outcome::Failed(_) => Vec::new(),
        };
        for number in numbers {
            // Already closed by the program, perhaps: then nothing is left to release.
            let _ = self.close(process, number);
        }
    }

    /// `close`: empties the slot and drops the reference.
    pub fn close(&mut self, process: ProcessId, number: DescriptorNumber) -> Result<(), Status> {
        let capability = self.process_mut(process)?.descriptors.remove(number)?;
        self.release(capability.object);
        Ok(())
    }

    /// `copyFd`: a new descriptor for the same object with at most the same rights.
    pub fn copy_descriptor(
        &mut self,
        process: ProcessId,
        number: DescriptorNumber,
        rights: ethos_abi::DescriptorRights,
    ) -> Result<DescriptorNumber, Status> {
        let (copy, capability) = self
            .process_mut(process)?
            .descriptors
            .copy(number, rights)?;
        self.retain(capability.object);
        Ok(copy)
    }
}
