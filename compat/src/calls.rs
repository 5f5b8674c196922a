//! One function per Ethos system call, in [`Call::ALL`] order, each with typed
//! arguments and a `Result` whose error is the kernel's [`Status`].
//!
//! A call that may block answers an [`Event`]; collect its result with [`block`] and
//! [`retire`], or use the helpers in [`crate::blocking`] and [`crate::future`] that do
//! both and decode the result. Calls this kernel does not provide yet (the typed file
//! system) have their functions all the same, and answer `NotSupported`. Arguments go to the kernel exactly in the ABI's order and are never
//! checked here beyond what a fixed-size copy needs: the kernel is the one that
//! decides.

use alloc::string::String;
use core::convert::Infallible;

use ethos_abi::arguments::{MAXIMUM_BLOCK_EVENTS, MAXIMUM_FD_SEND, MAXIMUM_NAME_LENGTH};
use ethos_abi::{Call, DescriptorRights, ProcessId, Status};
use ethos_typesys::TypeHash;

use crate::handles::{Descriptor, Event};
use crate::kernel::{Argument, RawAnswer, call, call_raw};
use crate::results::MALFORMED_RESULT;

fn descriptor_answer(word: u64) -> Result<Descriptor, Status> {
    u32::try_from(word)
        .map(Descriptor::from_number)
        .map_err(|_| MALFORMED_RESULT)
}

fn event_answer(word: u64) -> Event {
    Event::from_id(word)
}

fn length_answer(word: u64) -> Result<usize, Status> {
    usize::try_from(word).map_err(|_| MALFORMED_RESULT)
}

/// `advertise`: publishes the service `service` (declared with its type and label in
/// the boot image) and answers its listening descriptor.
pub fn advertise(service: &str) -> Result<Descriptor, Status> {
    descriptor_answer(call(Call::Advertise, &mut [Argument::Name(service)])?)
}

/// `import`: an event completing with the next connection to the listening
/// descriptor and its client's user (see [`crate::results::IMPORT`]).
pub fn import(listening: Descriptor) -> Result<Event, Status> {
    call(Call::Import, &mut [Argument::Descriptor(listening)]).map(event_answer)
}

/// `ipc`: connects to `service` on `host` (empty: this machine), sending `first_value`
/// (empty: none) as the first message; an event completing with the connection (see
/// [`crate::results::CONNECTION`]).
pub fn ipc(service: &str, host: &str, first_value: &[u8]) -> Result<Event, Status> {
    call(
        Call::Ipc,
        &mut [
            Argument::Name(service),
            Argument::Name(host),
            Argument::Value(first_value),
        ],
    )
    .map(event_answer)
}

/// `read`: an event completing with the next value on the descriptor, consumed.
pub fn read(descriptor: Descriptor) -> Result<Event, Status> {
    call(Call::Read, &mut [Argument::Descriptor(descriptor)]).map(event_answer)
}

/// `write`: sends one value. `WouldBlock` when the peer's inbox is full: try again
/// later ([`crate::blocking::write_blocking`] does).
pub fn write(descriptor: Descriptor, value: &[u8]) -> Result<(), Status> {
    call(
        Call::Write,
        &mut [Argument::Descriptor(descriptor), Argument::Value(value)],
    )
    .map(drop)
}

/// `peek`: an event completing with a copy of the next value, left in place.
pub fn peek(descriptor: Descriptor) -> Result<Event, Status> {
    call(Call::Peek, &mut [Argument::Descriptor(descriptor)]).map(event_answer)
}

/// `readVar`: an event completing with the whole file `name` in `directory`.
pub fn read_var(directory: Descriptor, name: &str) -> Result<Event, Status> {
    call(
        Call::ReadVar,
        &mut [Argument::Descriptor(directory), Argument::Name(name)],
    )
    .map(event_answer)
}

/// `writeVar`: an event completing when `value` is the whole file `name` in
/// `directory`.
pub fn write_var(directory: Descriptor, name: &str, value: &[u8]) -> Result<Event, Status> {
    call(
        Call::WriteVar,
        &mut [
            Argument::Descriptor(directory),
            Argument::Name(name),
            Argument::Value(value),
        ],
    )
    .map(event_answer)
}

/// `createDirectory`: makes the directory `name` in `directory`, carrying `label` and
/// holding values of the type `type_hash`.
pub fn create_directory(
    directory: Descriptor,
    name: &str,
    label: &str,
    type_hash: &TypeHash,
) -> Result<(), Status> {
    call(
        Call::CreateDirectory,
        &mut [
            Argument::Descriptor(directory),
            Argument::Name(name),
            Argument::Name(label),
            Argument::TypeHash(&type_hash.0),
        ],
    )
    .map(drop)
}

/// `openDirectory`: a descriptor for the directory `name` in `directory`.
pub fn open_directory(directory: Descriptor, name: &str) -> Result<Descriptor, Status> {
    descriptor_answer(call(
        Call::OpenDirectory,
        &mut [Argument::Descriptor(directory), Argument::Name(name)],
    )?)
}

/// `getNextName`: the name after `name` in `directory` (empty `name`: the first).
pub fn get_next_name(directory: Descriptor, name: &str) -> Result<String, Status> {
    let mut buffer = [0; MAXIMUM_NAME_LENGTH as usize];
    let used = length_answer(call(
        Call::GetNextName,
        &mut [
            Argument::Descriptor(directory),
            Argument::Name(name),
            Argument::Buffer(&mut buffer),
        ],
    )?)?;
    text(&buffer, used)
}

/// `fileInformation`: the metadata of `name` in `directory`, written to `buffer`;
/// answers the length written.
pub fn file_information(
    directory: Descriptor,
    name: &str,
    buffer: &mut [u8],
) -> Result<usize, Status> {
    let capacity = buffer.len();
    let used = length_answer(call(
        Call::FileInformation,
        &mut [
            Argument::Descriptor(directory),
            Argument::Name(name),
            Argument::Buffer(buffer),
        ],
    )?)?;
    if used > capacity {
        return Err(MALFORMED_RESULT);
    }
    Ok(used)
}

/// `removeDirectoryOrFile`: removes the file or empty directory `name` in
/// `directory`.
pub fn remove_directory_or_file(directory: Descriptor, name: &str) -> Result<(), Status> {
    call(
        Call::RemoveDirectoryOrFile,
        &mut [Argument::Descriptor(directory), Argument::Name(name)],
    )
    .map(drop)
}

/// `fdSend`: queues copies of `descriptors` (1 to
/// [`MAXIMUM_FD_SEND`]) for the virtual process of `program` running for `user`.
pub fn fd_send(descriptors: &[Descriptor], user: &str, program: &str) -> Result<(), Status> {
    let mut numbers = [0u32; MAXIMUM_FD_SEND as usize];
    let numbers = numbers
        .get_mut(..descriptors.len())
        .ok_or(Status::InvalidArgument)?;
    for (number, descriptor) in numbers.iter_mut().zip(descriptors) {
        *number = descriptor.number();
    }
    call(
        Call::FdSend,
        &mut [
            Argument::Descriptors(numbers),
            Argument::Name(user),
            Argument::Name(program),
        ],
    )
    .map(drop)
}

/// `fdReceive`: an event completing with the next batch of descriptors sent to this
/// process's virtual process (see [`crate::results::DESCRIPTORS`]).
pub fn fd_receive() -> Result<Event, Status> {
    call(Call::FdReceive, &mut []).map(event_answer)
}

/// `close`: empties the descriptor's slot.
pub fn close(descriptor: Descriptor) -> Result<(), Status> {
    call(Call::Close, &mut [Argument::Descriptor(descriptor)]).map(drop)
}

/// `copyFd`: a new descriptor for the same object, with `rights` (at most the
/// original's).
pub fn copy_fd(descriptor: Descriptor, rights: DescriptorRights) -> Result<Descriptor, Status> {
    descriptor_answer(call(
        Call::CopyFd,
        &mut [Argument::Descriptor(descriptor), Argument::Rights(rights)],
    )?)
}

/// Which side of a `fork` the caller is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    /// The original process; the child has this identifier.
    Parent {
        /// The new process.
        child: ProcessId,
    },
    /// The new process, with a copy of the address space and descriptors.
    Child,
}

/// `fork`: a child process with a copy of the caller's address space and descriptor
/// table. Answers in both processes.
pub fn fork() -> Result<Forked, Status> {
    match call(Call::Fork, &mut [])? {
        0 => Ok(Forked::Child),
        child => Ok(Forked::Parent {
            child: ProcessId(child),
        }),
    }
}

/// `exec`: replaces the program with `program` from `directory` (the root directory,
/// [`Descriptor::ROOT_DIRECTORY`], which names the boot image's programs). Returns
/// only when it failed.
pub fn exec(directory: Descriptor, program: &str) -> Result<Infallible, Status> {
    call(
        Call::Exec,
        &mut [Argument::Descriptor(directory), Argument::Name(program)],
    )?;
    // The kernel answered success but came back: the ABI says it never does.
    Err(Status::NotSupported)
}

/// `exit`: ends the program with `status`.
pub fn exit(status: i32) -> ! {
    let _ = call(Call::Exit, &mut [Argument::ExitStatus(status)]);
    ended(status)
}

#[cfg(target_os = "none")]
fn ended(_: i32) -> ! {
    // `exit` does not return; if it did, stop here rather than run on.
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(not(target_os = "none"))]
fn ended(status: i32) -> ! {
    crate::host::end_thread(status)
}

/// `kill`: ends another process of the same user.
pub fn kill(process: ProcessId) -> Result<(), Status> {
    call(Call::Kill, &mut [Argument::Process(process)]).map(drop)
}

/// `getPid`: this process's identifier.
pub fn get_pid() -> Result<ProcessId, Status> {
    call(Call::GetPid, &mut []).map(ProcessId)
}

/// `getUser`: the name of the user this process runs for.
pub fn get_user() -> Result<String, Status> {
    let mut buffer = [0; MAXIMUM_NAME_LENGTH as usize];
    let used = length_answer(call(Call::GetUser, &mut [Argument::Buffer(&mut buffer)])?)?;
    text(&buffer, used)
}

fn text(buffer: &[u8], used: usize) -> Result<String, Status> {
    let bytes = buffer.get(..used).ok_or(MALFORMED_RESULT)?;
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| MALFORMED_RESULT)
}

/// `getTime`: the kernel clock, in nanoseconds since boot.
pub fn get_time() -> Result<u64, Status> {
    call(Call::GetTime, &mut [])
}

/// `beep`: an event completing when the kernel clock reaches `deadline` (nanoseconds
/// since boot, as [`get_time`] counts); at once if it has.
pub fn beep(deadline: u64) -> Result<Event, Status> {
    call(Call::Beep, &mut [Argument::Time(deadline)]).map(event_answer)
}

/// `random`: an event completing with `size` random bytes.
pub fn random(size: usize) -> Result<Event, Status> {
    call(Call::Random, &mut [Argument::Size(size as u64)]).map(event_answer)
}

/// `print`: writes `text` to the console; the kernel ends each line and puts the
/// user's name before it, so `text` needs no final newline.
pub fn print(text: &str) -> Result<(), Status> {
    call(Call::Print, &mut [Argument::Value(text.as_bytes())]).map(drop)
}

/// `block`: the first completed event of `events` (1 to [`MAXIMUM_BLOCK_EVENTS`]),
/// completed first. The kernel parks the process until one has completed.
pub fn block(events: &[Event]) -> Result<Event, Status> {
    // Waiting on one event is the common case: its id alone is copied, not a zeroed
    // array of the most a set may hold.
    if let [event] = events {
        return call(Call::Block, &mut [Argument::Events(&[event.id()])]).map(event_answer);
    }
    let mut ids = [0u64; MAXIMUM_BLOCK_EVENTS as usize];
    let ids = ids.get_mut(..events.len()).ok_or(Status::InvalidArgument)?;
    for (id, event) in ids.iter_mut().zip(events) {
        *id = event.id();
    }
    call(Call::Block, &mut [Argument::Events(ids)]).map(event_answer)
}

/// `retire`: writes the completed event's result to `buffer` and forgets the event;
/// answers the length written. `BufferTooSmall` leaves the event completed;
/// `WouldBlock` means it has not completed. [`crate::results::retire_as`] decodes.
pub fn retire(event: Event, buffer: &mut [u8]) -> Result<usize, Status> {
    length_answer(call(
        Call::Retire,
        &mut [Argument::Event(event), Argument::Buffer(buffer)],
    )?)
}

/// `retire` into the spare capacity of `buffer` (what it can hold beyond its length):
/// the result is appended, and its length answered. The buffer is not filled
/// beforehand, so a large buffer offered for a small result costs nothing. Errors as
/// [`retire`]; the buffer is unchanged then.
pub fn retire_into(event: Event, buffer: &mut alloc::vec::Vec<u8>) -> Result<usize, Status> {
    #[cfg(target_os = "none")]
    {
        crate::syscall::retire_into_spare_capacity(Call::Retire, event, buffer)
    }
    #[cfg(not(target_os = "none"))]
    {
        collect_into(buffer, |spare| retire(event, spare), MALFORMED_RESULT)
    }
}

/// `cancel`: forgets an event, pending or completed; descriptors its result brought
/// are closed.
pub fn cancel(event: Event) -> Result<(), Status> {
    call(Call::Cancel, &mut [Argument::Event(event)]).map(drop)
}

/// `sign`: an event completing with the signature of `value` by this process's
/// user's kernel-held key, then that user's public key (see
/// [`crate::results::SIGNED`]). `NotAuthorized` when this host holds no key for the
/// user.
pub fn sign(value: &[u8]) -> Result<Event, Status> {
    call(Call::Sign, &mut [Argument::Value(value)]).map(event_answer)
}

/// `signFile`: an event completing as [`sign`]'s does, with the signature of the
/// value of file `name` in `directory` (read under `readVar`'s checks).
pub fn sign_file(directory: Descriptor, name: &str) -> Result<Event, Status> {
    call(
        Call::SignFile,
        &mut [Argument::Descriptor(directory), Argument::Name(name)],
    )
    .map(event_answer)
}

/// `authenticate`: whether `signature` is the signature of `value` by the user whose
/// public key is `public_key` (as [`sign`] makes it); `InvalidAuthentication` when it
/// is not.
pub fn authenticate(
    public_key: &[u8; 32],
    value: &[u8],
    signature: &[u8; 64],
) -> Result<(), Status> {
    call(
        Call::Authenticate,
        &mut [
            Argument::PublicKey(public_key),
            Argument::Value(value),
            Argument::Signature(signature),
        ],
    )
    .map(drop)
}

/// `blockAndRetire`: waits until `event` has completed, then writes its result to
/// `buffer` and forgets it, as [`block`] on it followed by [`retire`] would, in one
/// call; answers the length written. `BufferTooSmall` leaves the event completed
/// for [`retire`] to collect.
pub fn block_and_retire(event: Event, buffer: &mut [u8]) -> Result<usize, Status> {
    length_answer(call(
        Call::BlockAndRetire,
        &mut [Argument::Event(event), Argument::Buffer(buffer)],
    )?)
}

/// `blockAndRetire` into the spare capacity of `buffer`, as [`retire_into`] is to
/// [`retire`].
pub fn block_and_retire_into(
    event: Event,
    buffer: &mut alloc::vec::Vec<u8>,
) -> Result<usize, Status> {
    #[cfg(target_os = "none")]
    {
        crate::syscall::retire_into_spare_capacity(Call::BlockAndRetire, event, buffer)
    }
    #[cfg(not(target_os = "none"))]
    {
        collect_into(
            buffer,
            |spare| block_and_retire(event, spare),
            MALFORMED_RESULT,
        )
    }
}

/// Why [`write_read`] collected no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteReadError {
    /// The call failed with this status: refused before anything was sent (as
    /// `write` or `read` refuses), or the read completed with it (`Closed`: the peer
    /// went with nothing left to read).
    Failed(Status),
    /// The value was read but could not be written into the buffer
    /// (`BufferTooSmall`, or `InvalidArgument` for memory the program may not
    /// write): it waits, completed, in this event for [`retire`].
    Kept { status: Status, event: Event },
}

impl WriteReadError {
    /// The status the call answered.
    pub fn status(self) -> Status {
        match self {
            WriteReadError::Failed(status) | WriteReadError::Kept { status, .. } => status,
        }
    }
}

impl core::fmt::Display for WriteReadError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.status(), formatter)
    }
}

/// The answer of `writeRead`, from both words: a failure with an event id beside it
/// kept its value.
#[inline]
fn write_read_answer(answer: RawAnswer) -> Result<u64, WriteReadError> {
    match answer.result() {
        Ok(length) => Ok(length),
        Err(status) if answer.value != 0 => Err(WriteReadError::Kept {
            status,
            event: Event::from_id(answer.value),
        }),
        Err(status) => Err(WriteReadError::Failed(status)),
    }
}

/// `writeRead`: writes `value` to `descriptor`, then waits for the next value on it
/// and writes that into `buffer`, consumed: [`write`], [`read`] and
/// [`block_and_retire`] in one call, the one a typed request and its reply need.
/// Answers the length written. Refused as a `write` would be (`WouldBlock` for a
/// full inbox among them), nothing is sent; a value longer than `buffer` is kept
/// ([`WriteReadError::Kept`]).
pub fn write_read(
    descriptor: Descriptor,
    value: &[u8],
    buffer: &mut [u8],
) -> Result<usize, WriteReadError> {
    let answer = call_raw(
        Call::WriteRead,
        &mut [
            Argument::Descriptor(descriptor),
            Argument::Value(value),
            Argument::Buffer(buffer),
        ],
    );
    write_read_answer(answer)
        .and_then(|length| length_answer(length).map_err(WriteReadError::Failed))
}

/// [`write_read`] into the spare capacity of `buffer`, as [`retire_into`] is to
/// [`retire`]: the value is added after `buffer`'s contents.
#[inline]
pub fn write_read_into(
    descriptor: Descriptor,
    value: &[u8],
    buffer: &mut alloc::vec::Vec<u8>,
) -> Result<usize, WriteReadError> {
    #[cfg(target_os = "none")]
    {
        let (answer, grown) = crate::syscall::into_spare_capacity(
            Call::WriteRead,
            &mut [
                Argument::Descriptor(descriptor),
                Argument::Value(value),
                crate::syscall::SPARE_CAPACITY,
            ],
            buffer,
        );
        write_read_answer(answer)?;
        grown.map_err(WriteReadError::Failed)
    }
    #[cfg(not(target_os = "none"))]
    {
        collect_into(
            buffer,
            |spare| write_read(descriptor, value, spare),
            WriteReadError::Failed(MALFORMED_RESULT),
        )
    }
}

/// A collecting call (`retire`, `blockAndRetire`, `writeRead`) into the spare
/// capacity of `buffer`, zeroed first: a host kernel writes through a slice. An
/// answer longer than what was offered is `malformed`.
#[cfg(not(target_os = "none"))]
fn collect_into<E>(
    buffer: &mut alloc::vec::Vec<u8>,
    collect: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    malformed: E,
) -> Result<usize, E> {
    let start = buffer.len();
    buffer.resize(buffer.capacity(), 0);
    let written = buffer.get_mut(start..).map(collect);
    match written {
        Some(Ok(used)) if used <= buffer.len() - start => {
            buffer.truncate(start + used);
            Ok(used)
        }
        Some(Ok(_)) | None => {
            buffer.truncate(start);
            Err(malformed)
        }
        Some(Err(error)) => {
            buffer.truncate(start);
            Err(error)
        }
    }
}

/// `print` of a range no Rust object backs: for programs that check that the kernel
/// refuses addresses a program may not name. Safe, because the kernel only reads.
pub fn print_unchecked(address: u64, length: u64) -> Result<(), Status> {
    call(
        Call::Print,
        &mut [Argument::UncheckedValue { address, length }],
    )
    .map(drop)
}

/// `getUser` into a range no Rust object backs: for programs that check that the
/// kernel refuses to write where a program may not. Answers the length written.
///
/// # Safety
///
/// The kernel writes the user's name (up to `length` bytes) at `address` if the page
/// tables let the process write there. The caller must make sure that no Rust object
/// is there, or that overwriting it is harmless, in case the kernel does write.
pub unsafe fn get_user_unchecked(address: u64, length: u64) -> Result<usize, Status> {
    length_answer(call(
        Call::GetUser,
        &mut [Argument::UncheckedBuffer { address, length }],
    )?)
}

/// Any call number with any six argument words, exactly as given: for programs that
/// check how the kernel answers calls no library function would make (unknown
/// numbers, wrong layouts, hostile addresses and lengths). Answers both registers
/// undecoded, so that a status word this library does not know stays visible.
///
/// # Safety
///
/// The kernel writes wherever a buffer argument of the call `number` names, if the
/// page tables let the process write there, and `fork`, `exec` and `exit` act on
/// the whole program. The caller must make sure that every range the words name for
/// the kernel to write holds no Rust object (or that overwriting it is harmless),
/// and that the program can go on after whatever the call does to it.
#[cfg(target_os = "none")]
pub unsafe fn system_call_unchecked(number: u64, words: [u64; 6]) -> crate::kernel::RawAnswer {
    crate::syscall::raw_system_call(number, words)
}
