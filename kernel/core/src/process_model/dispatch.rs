//! Dispatch: runs a checked [`Request`] against the [`ProcessModel`], reading and
//! writing the caller's memory only through the platform's [`Environment`].
//!
//! A call answers a [`Status`] in `rax` and, on success, one word in `rdx`. Names read
//! from memory must be UTF-8 and valid names, else `InvalidArgument`. The typed
//! file system's calls answer `NotSupported` on a kernel without a store. `fork`, `exec` and `kill` change the model
//! here and tell the platform, through their [`Answer`], what to do with address
//! spaces and registers. This module never trusts a
//! length or a pointer that did not come through [`UserRange`].

use alloc::borrow::Cow;
use alloc::vec::Vec;

use ethos_abi::arguments::results::DESCRIPTOR_BYTES;
use ethos_abi::arguments::{
    EVENT_KERNEL_BYTES, MAXIMUM_BLOCK_EVENTS, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH,
};
use ethos_abi::{DescriptorNumber, EventId, ProcessId, Status};
use ethos_crypto::SIGNATURE_RANDOM_LENGTH;
use zeroize::Zeroize;

use super::events::{self, Instant};
use super::identity::{ProgramName, ServiceName, UserName};
use super::ipc::Received;
use super::model::ProcessModel;
use super::request::{Request, UserRange};

/// What the platform gives dispatch: the caller's memory, the clock, randomness and
/// the console.
pub trait Environment {
    /// The bytes of `range` in the calling process; `InvalidArgument` if any byte is
    /// not mapped readable for it.
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status>;
    /// The bytes of `range` into `buffer`, which is exactly as long; as
    /// [`Environment::read_memory`] for a range the kernel only looks at, so a
    /// platform can copy it without allocating.
    fn read_memory_into(&self, range: UserRange, buffer: &mut [u8]) -> Result<(), Status> {
        let bytes = self.read_memory(range)?;
        if bytes.len() != buffer.len() {
            return Err(Status::InvalidArgument);
        }
        buffer.copy_from_slice(&bytes);
        Ok(())
    }
    /// Gives `bytes`, the value that completes `process`'s pending read `event`, to
    /// that process's parked collecting call if it is `blockAndRetire` on exactly
    /// that event ([`parked_collect`]) with room for them: writes them into its
    /// buffer and answers the call with their length, as its re-run would. False
    /// (the default) leaves the event to be completed and collected as usual.
    fn deliver(&mut self, process: ProcessId, event: EventId, bytes: &[u8]) -> bool {
        let _ = (process, event, bytes);
        false
    }
    /// Writes `bytes` at the start of `range` (which is at least as long); `InvalidArgument`
    /// if any byte is not mapped writable for the calling process.
    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status>;
    /// The kernel clock.
    fn now(&self) -> Instant;
    /// The time of day in nanoseconds since the Unix epoch, for the times files
    /// record; a platform without a wall clock answers the kernel clock.
    fn wall_time(&self) -> u64 {
        self.now().0
    }
    /// Fills `buffer` from the kernel's random generator.
    fn fill_random(&mut self, buffer: &mut [u8]);
    /// Writes `text` from `user`'s process to the console log.
    fn print(&mut self, user: &UserName, text: &str);
}

/// The exit status of a process that named itself in `kill`, as a shell reports a
/// process ended by SIGKILL.
pub const KILLED_ITSELF: i32 = 137;

/// What a call that succeeded answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The word for `rdx`.
    Value(u64),
    /// The process ended with this status; the platform stops running it.
    Exited(i32),
    /// `fork` made this child in the model; the platform copies the caller's address
    /// space and registers for it, or ends it again if it cannot.
    Forked(ProcessId),
    /// `exec`: the model now names this program for the caller; the platform replaces
    /// the address space with it and starts it at its entry.
    Executed(ProgramName),
    /// `kill` ended this process in the model; the platform stops running it.
    Killed(ProcessId),
    /// `writeRead` wrote and read, and its read has not completed: the caller waits
    /// in `blockAndRetire` on the read's `event` into `buffer`.
    Wait { event: EventId, buffer: UserRange },
    /// `blockAndRetire` or `writeRead` could not write the completed event's
    /// result into the buffer (`BufferTooSmall`, or `InvalidArgument` for memory
    /// the caller may not write): the event stays completed, and its id goes in
    /// `rdx` beside the status, so that a `writeRead` caller, which never saw the
    /// id, can `retire` it.
    Kept { status: Status, event: EventId },
}

/// A system call a process waits in: its number and argument registers. The
/// platform makes it again, in the process's place, when the model wakes the
/// process; the process continues after its own call with that call's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParkedCall {
    pub number: u64,
    pub arguments: [u64; 6],
}

impl ParkedCall {
    /// `blockAndRetire(event, buffer)`.
    pub fn block_and_retire(event: EventId, buffer: UserRange) -> ParkedCall {
        ParkedCall {
            number: u64::from(ethos_abi::Call::BlockAndRetire.number()),
            arguments: [event.0, buffer.address(), buffer.length(), 0, 0, 0],
        }
    }
}

/// What the platform does with the caller after a system call: the one answer of
/// [`handle`], the same for every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answer the caller with this result; it goes on.
    Return(Result<u64, Status>),
    /// `block` (or `blockAndRetire`, or the wait of `writeRead`) found nothing
    /// completed: the caller waits until the model wakes it, then the platform
    /// makes this call in its place (`block` and `blockAndRetire` are the caller's
    /// own call again; `writeRead` waits as `blockAndRetire` on its read).
    Park(ParkedCall),
    /// The call answers `status` with this event's id in `rdx`: the event stays
    /// completed for `retire` (see [`Answer::Kept`]).
    Kept { status: Status, event: EventId },
    /// The caller ended with this status; it never runs again.
    Exit(i32),
    /// `fork` made this child in the model: the platform copies the caller for it
    /// (the child's answer is 0, the caller's the child's id), or ends the child
    /// again if it cannot.
    Fork(ProcessId),
    /// `exec`: the model now names this program for the caller; the platform
    /// replaces the caller's image with it, or ends the caller if it cannot.
    Exec(ProgramName),
    /// `kill` ended this process in the model: the platform stops running it, and
    /// the caller's answer is its id (the caller itself, if it named itself).
    Kill(ProcessId),
}

/// One system call of `process`, from its raw registers: parsed, checked and carried
/// out on the model; the answer says what the platform does with the caller.
pub fn handle(
    model: &mut ProcessModel,
    environment: &mut dyn Environment,
    process: ProcessId,
    number: u64,
    arguments: [u64; 6],
) -> Outcome {
    let request = Request::parse(number, arguments);
    let waits = matches!(
        request,
        Ok(Request::Block { .. } | Request::BlockAndRetire { .. })
    );
    match request.and_then(|request| dispatch(model, environment, process, request)) {
        Ok(Answer::Value(value)) => Outcome::Return(Ok(value)),
        Ok(Answer::Exited(status)) => Outcome::Exit(status),
        Ok(Answer::Forked(child)) => Outcome::Fork(child),
        Ok(Answer::Executed(program)) => Outcome::Exec(program),
        Ok(Answer::Killed(target)) => Outcome::Kill(target),
        Ok(Answer::Wait { event, buffer }) => {
            Outcome::Park(ParkedCall::block_and_retire(event, buffer))
        }
        Ok(Answer::Kept { status, event }) => Outcome::Kept { status, event },
        Err(Status::WouldBlock) if waits => Outcome::Park(ParkedCall { number, arguments }),
        Err(status) => Outcome::Return(Err(status)),
    }
}

/// Values up to this long are written from the kernel stack, not the heap.
const SMALL_VALUE: usize = 128;

/// The event and buffer of a parked call that collects one event's result
/// (`blockAndRetire`), from its registers; `None` for any other call. A platform
/// that delivers a value to such a call ([`Environment::deliver`]) asks here.
#[inline]
pub fn parked_collect(number: u64, arguments: [u64; 6]) -> Option<(EventId, UserRange)> {
    if number != u64::from(ethos_abi::Call::BlockAndRetire.number()) {
        return None;
    }
    match Request::parse_block_and_retire(arguments) {
        Ok(Request::BlockAndRetire { event, buffer }) => Some((event, buffer)),
        _ => None,
    }
}

/// The answer to a call that reads only who its caller is or the clock (`getPid`,
/// `getTime`), for a caller the platform knows is running; `None` for every other
/// call, which goes to [`handle`]. Such a call needs nothing of the model: what
/// [`dispatch`] checks there, that the caller is one of its processes, always holds
/// for a running process (it leaves the CPU before it leaves the model), so the
/// answer is the same without the model's lock or a lookup.
#[inline]
pub fn answer_running(
    number: u64,
    process: ProcessId,
    now: impl FnOnce() -> Instant,
) -> Option<Result<u64, Status>> {
    const GET_PID: u64 = ethos_abi::Call::GetPid.number() as u64;
    const GET_TIME: u64 = ethos_abi::Call::GetTime.number() as u64;
    match number {
        GET_PID => Some(Ok(process.0)),
        GET_TIME => Some(Ok(now().0)),
        _ => None,
    }
}

fn read_text(
    environment: &dyn Environment,
    range: UserRange,
) -> Result<alloc::string::String, Status> {
    let bytes = environment.read_memory(range)?;
    alloc::string::String::from_utf8(bytes).map_err(|_| Status::InvalidArgument)
}

/// Writes `bytes` into the caller's `buffer` and answers their length;
/// `BufferTooSmall` (nothing written) when they do not fit.
fn write_answer(
    environment: &mut dyn Environment,
    buffer: UserRange,
    bytes: &[u8],
) -> Result<Answer, Status> {
    if bytes.len() as u64 > buffer.length() {
        return Err(Status::BufferTooSmall);
    }
    if !bytes.is_empty() {
        environment.write_memory(buffer, bytes)?;
    }
    Ok(Answer::Value(bytes.len() as u64))
}

fn event_value(event: EventId) -> Answer {
    Answer::Value(event.0)
}

fn descriptor_value(number: DescriptorNumber) -> Answer {
    Answer::Value(u64::from(number.get()))
}

/// The bytes `retire` writes for an outcome, or the status a failed call completed with.
/// A value is lent, not copied; the other layouts are a few bytes.
pub fn encode_outcome(outcome: &events::Outcome) -> Result<Cow<'_, [u8]>, Status> {
    let mut bytes = Vec::new();
    match outcome {
        events::Outcome::Value(value) => return Ok(Cow::Borrowed(value)),
        events::Outcome::Connected(number) => bytes.extend_from_slice(&number.get().to_le_bytes()),
        events::Outcome::Imported { descriptor, client } => {
            bytes.extend_from_slice(&descriptor.get().to_le_bytes());
            bytes.extend_from_slice(client.as_str().as_bytes());
        }
        events::Outcome::Descriptors(numbers) => {
            bytes.reserve(numbers.len() * DESCRIPTOR_BYTES);
            for number in numbers {
                bytes.extend_from_slice(&number.get().to_le_bytes());
            }
        }
        events::Outcome::TimerExpired => {}
        events::Outcome::Failed(status) => return Err(*status),
    }
    Ok(Cow::Owned(bytes))
}

/// Runs one checked request for `process`.
#[inline]
pub fn dispatch(
    model: &mut ProcessModel,
    environment: &mut dyn Environment,
    process: ProcessId,
    request: Request,
) -> Result<Answer, Status> {
    match request {
        Request::Advertise { service } => {
            let service = service_name(environment, service)?;
            model.advertise(process, &service).map(descriptor_value)
        }
        Request::Import { listening } => model.import(process, listening).map(event_value),
        Request::Ipc {
            service,
            host,
            first_value,
        } => {
            let service = service_name(environment, service)?;
            let host = read_text(environment, host)?;
            // The value is read in once and moved into the model, which queues it:
            // the kernel needs the value's size once, not twice.
            let first_value = environment.read_memory(first_value)?;
            model
                .ipc(process, &service, &host, first_value)
                .map(event_value)
        }
        Request::Read { descriptor } => model.read(process, descriptor).map(event_value),
        Request::Peek { descriptor } => model.peek(process, descriptor).map(event_value),
        Request::Write { descriptor, value } => {
            // A small value is read onto the stack: when a read waits for it, it goes
            // straight to the reader and the kernel heap is never asked.
            let mut small = [0u8; SMALL_VALUE];
            let bytes = read_value(&*environment, value, &mut small)?;
            model.write_handing(process, descriptor, bytes, &mut |(reader, event), bytes| {
                environment.deliver(reader, event, bytes)
            })?;
            Ok(Answer::Value(0))
        }
        Request::WriteRead {
            descriptor,
            value,
            buffer,
        } => {
            let mut small = [0u8; SMALL_VALUE];
            let bytes = read_value(&*environment, value, &mut small)?;
            let received = model.write_then_read(
                process,
                descriptor,
                bytes,
                &mut |(reader, event), bytes| environment.deliver(reader, event, bytes),
            )?;
            // Then exactly `blockAndRetire` on the read, parked as that call when the
            // read has not completed. (Its `block` would also run due timers, which
            // a read's event does not wait for; the parked call runs them.)
            match received {
                Received::Pending(event) => Ok(Answer::Wait { event, buffer }),
                Received::Completed(event) => collect(model, environment, process, event, buffer),
            }
        }
        Request::FdSend {
            descriptors,
            user,
            program,
        } => {
            let words = environment.read_memory(descriptors)?;
            let numbers = words
                .chunks_exact(DESCRIPTOR_BYTES)
                .map(|word| {
                    let mut bytes = [0; DESCRIPTOR_BYTES];
                    bytes.copy_from_slice(word);
                    DescriptorNumber::new(u64::from(u32::from_le_bytes(bytes)))
                        .map_err(|_| Status::InvalidArgument)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let user = UserName::new(&read_text(environment, user)?)
                .map_err(|_| Status::InvalidArgument)?;
            let program = ProgramName::new(&read_text(environment, program)?)
                .map_err(|_| Status::InvalidArgument)?;
            model.fd_send(process, &numbers, &user, &program)?;
            Ok(Answer::Value(0))
        }
        Request::FdReceive => model.fd_receive(process).map(event_value),
        Request::Close { descriptor } => {
            model.close(process, descriptor)?;
            Ok(Answer::Value(0))
        }
        Request::CopyFd { descriptor, rights } => model
            .copy_descriptor(process, descriptor, rights)
            .map(descriptor_value),
        Request::Exit { status } => {
            model.end_process(process)?;
            Ok(Answer::Exited(status))
        }
        Request::Fork => model.fork_process(process).map(Answer::Forked),
        Request::Exec { directory, name } => {
            let name = ProgramName::new(&read_text(environment, name)?)
                .map_err(|_| Status::InvalidArgument)?;
            model.exec(process, directory, &name)?;
            Ok(Answer::Executed(name))
        }
        Request::Kill { process: target } => {
            if target == process {
                model.end_process(process)?;
                return Ok(Answer::Exited(KILLED_ITSELF));
            }
            model.kill(process, target)?;
            Ok(Answer::Killed(target))
        }
        Request::GetPid => {
            model.user_of(process)?;
            Ok(Answer::Value(process.0))
        }
        Request::GetUser { buffer } => {
            let name = model.user_of(process)?.clone();
            let bytes = name.as_str().as_bytes();
            if bytes.len() as u64 > buffer.length() {
                return Err(Status::BufferTooSmall);
            }
            environment.write_memory(buffer, bytes)?;
            Ok(Answer::Value(bytes.len() as u64))
        }
        Request::GetTime => {
            model.user_of(process)?;
            Ok(Answer::Value(environment.now().0))
        }
        Request::Beep { deadline } => {
            let now = environment.now();
            model.beep(process, deadline, now).map(event_value)
        }
        Request::Random { size } => {
            let length = usize::try_from(size).map_err(|_| Status::InvalidArgument)?;
            // A value the caller may not hold is refused before the kernel allocates
            // it: the limit answers first, not the heap.
            model.ensure_room_for(process, EVENT_KERNEL_BYTES + length)?;
            let mut bytes = super::zeroed(length)?;
            environment.fill_random(&mut bytes);
            model.completed_value(process, bytes).map(event_value)
        }
        Request::Print { text } => {
            let text = read_text(environment, text)?;
            let user = model.user_of(process)?.clone();
            environment.print(&user, &text);
            Ok(Answer::Value(0))
        }
        Request::Block { events } => {
            let now = environment.now();
            // Waiting on one event is the common case: its id alone is read.
            if events.length() == 8 {
                let mut word = [0u8; 8];
                environment.read_memory_into(events, &mut word)?;
                let set = [EventId(u64::from_le_bytes(word))];
                return model.block(process, &set, now).map(event_value);
            }
            // The set is at most `MAXIMUM_BLOCK_EVENTS` ids (the request checked):
            // it is read and decoded on the stack, with nothing allocated.
            let mut words = [0u8; 8 * MAXIMUM_BLOCK_EVENTS as usize];
            let words = words
                .get_mut(..events.length() as usize)
                .ok_or(Status::InvalidArgument)?;
            environment.read_memory_into(events, words)?;
            let mut set = [EventId(0); MAXIMUM_BLOCK_EVENTS as usize];
            let mut count = 0;
            for (slot, word) in set.iter_mut().zip(words.chunks_exact(8)) {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(word);
                *slot = EventId(u64::from_le_bytes(bytes));
                count += 1;
            }
            model.block(process, &set[..count], now).map(event_value)
        }
        Request::Retire { event, buffer } => retire(model, environment, process, event, buffer),
        Request::BlockAndRetire { event, buffer } => {
            // Exactly `block` on the one event, then `retire`: while it has not
            // completed the caller parks, and the kernel makes this call again when
            // it has.
            model.block(process, &[event], environment.now())?;
            collect(model, environment, process, event, buffer)
        }
        Request::Cancel { event } => {
            model.cancel(process, event)?;
            Ok(Answer::Value(0))
        }
        Request::Sign { value } => {
            // A caller with no key is refused before its value is read.
            model
                .user_key(model.user_of(process)?)
                .ok_or(Status::NotAuthorized)?;
            let value = environment.read_memory(value)?;
            let mut random = [0u8; SIGNATURE_RANDOM_LENGTH];
            environment.fill_random(&mut random);
            let signed = model.sign(process, &value, &random);
            random.zeroize();
            signed.map(event_value)
        }
        Request::SignFile { directory, name } => {
            let name = read_text(environment, name)?;
            let mut random = [0u8; SIGNATURE_RANDOM_LENGTH];
            environment.fill_random(&mut random);
            let signed = model.sign_file(process, directory, &name, &random);
            random.zeroize();
            signed.map(event_value)
        }
        Request::Authenticate {
            public_key,
            value,
            signature,
        } => {
            let mut key = [0u8; PUBLIC_KEY_LENGTH as usize];
            environment.read_memory_into(public_key, &mut key)?;
            let mut signature_bytes = [0u8; SIGNATURE_LENGTH as usize];
            environment.read_memory_into(signature, &mut signature_bytes)?;
            let value = environment.read_memory(value)?;
            model.authenticate(process, &key, &value, &signature_bytes)?;
            Ok(Answer::Value(0))
        }
        Request::ReadVar { directory, name } => {
            let name = read_text(environment, name)?;
            model.read_var(process, directory, &name).map(event_value)
        }
        Request::WriteVar {
            directory,
            name,
            value,
        } => {
            let name = read_text(environment, name)?;
            let value = environment.read_memory(value)?;
            let now = environment.wall_time();
            model
                .write_var(process, directory, &name, &value, now)
                .map(event_value)
        }
        Request::CreateDirectory {
            directory,
            name,
            label,
            type_hash,
        } => {
            let name = read_text(environment, name)?;
            let label = read_text(environment, label)?;
            let mut hash = [0u8; 64];
            environment.read_memory_into(type_hash, &mut hash)?;
            let now = environment.wall_time();
            model.create_directory(process, directory, &name, &label, &hash, now)?;
            Ok(Answer::Value(0))
        }
        Request::OpenDirectory { directory, name } => {
            let name = read_text(environment, name)?;
            model
                .open_directory(process, directory, &name)
                .map(descriptor_value)
        }
        Request::GetNextName {
            directory,
            name,
            buffer,
        } => {
            let after = read_text(environment, name)?;
            let next = model.next_name(process, directory, &after)?;
            let bytes = next.as_deref().unwrap_or("").as_bytes();
            write_answer(environment, buffer, bytes)
        }
        Request::FileInformation {
            directory,
            name,
            buffer,
        } => {
            let name = read_text(environment, name)?;
            let bytes = model.file_information(process, directory, &name)?;
            write_answer(environment, buffer, &bytes)
        }
        Request::RemoveDirectoryOrFile { directory, name } => {
            let name = read_text(environment, name)?;
            model.remove_directory_or_file(process, directory, &name)?;
            Ok(Answer::Value(0))
        }
    }
}

/// `retire`: the outcome is written from where it lies, after its length is checked:
/// retiring a large value costs no copy, and a too-small buffer none at all.
fn retire(
    model: &mut ProcessModel,
    environment: &mut dyn Environment,
    process: ProcessId,
    event: EventId,
    buffer: UserRange,
) -> Result<Answer, Status> {
    let encoded = encode_outcome(model.outcome(process, event)?);
    match encoded {
        Ok(bytes) => {
            if bytes.len() as u64 > buffer.length() {
                return Err(Status::BufferTooSmall);
            }
            let length = bytes.len() as u64;
            environment.write_memory(buffer, &bytes)?;
            model.retire(process, event)?;
            Ok(Answer::Value(length))
        }
        Err(status) => {
            model.retire(process, event)?;
            Err(status)
        }
    }
}

/// `retire` for the calls that wait and collect: a result that could not be
/// written leaves the event, whose id they answer beside the status.
fn collect(
    model: &mut ProcessModel,
    environment: &mut dyn Environment,
    process: ProcessId,
    event: EventId,
    buffer: UserRange,
) -> Result<Answer, Status> {
    match retire(model, environment, process, event, buffer) {
        Err(status @ (Status::BufferTooSmall | Status::InvalidArgument))
            if model.outcome(process, event).is_ok() =>
        {
            Ok(Answer::Kept { status, event })
        }
        answer => answer,
    }
}

/// The value at `range` in the caller's memory: in `small` when it fits, else on
/// the heap.
fn read_value<'a>(
    environment: &dyn Environment,
    range: UserRange,
    small: &'a mut [u8; SMALL_VALUE],
) -> Result<Cow<'a, [u8]>, Status> {
    match small.get_mut(..range.length() as usize) {
        Some(place) => {
            environment.read_memory_into(range, place)?;
            Ok(Cow::Borrowed(&*place))
        }
        None => Ok(Cow::Owned(environment.read_memory(range)?)),
    }
}

fn service_name(environment: &dyn Environment, range: UserRange) -> Result<ServiceName, Status> {
    ServiceName::new(&read_text(environment, range)?).map_err(|_| Status::InvalidArgument)
}
