//! The table test: every system call, through the raw register path, without the right
//! it needs and with out-of-range arguments, answers its documented status.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::arguments::{
    EVENT_KERNEL_BYTES, MAXIMUM_NAME_LENGTH, MAXIMUM_RANDOM_SIZE, MAXIMUM_VALUE_SIZE,
    USER_SPACE_END,
};
use ethos_abi::{Call, DescriptorRights, ProcessId, Status};

use super::super::dispatch::{Environment, Outcome, ParkedCall, handle};
use super::super::events::Instant;
use super::super::identity::UserName;
use super::super::request::UserRange;
use super::{model, program, say, service, user};
use crate::process_model::ProcessModel;

/// Memory of one process: `SIZE` bytes mapped at `BASE`, nothing else.
pub(super) struct FakeEnvironment {
    pub(super) memory: Vec<u8>,
    printed: Vec<(UserName, String)>,
}

pub(super) const BASE: u64 = 0x10_0000;
const SIZE: usize = 0x1_0000;
/// A user-space address that is not mapped: a bad pointer.
const UNMAPPED: u64 = 0x7000_0000;

impl FakeEnvironment {
    pub(super) fn new() -> FakeEnvironment {
        FakeEnvironment {
            memory: vec![0; SIZE],
            printed: Vec::new(),
        }
    }

    fn offset(&self, range: UserRange) -> Result<usize, Status> {
        let start = range
            .address()
            .checked_sub(BASE)
            .ok_or(Status::InvalidArgument)?;
        let end = start + range.length();
        if end > SIZE as u64 {
            return Err(Status::InvalidArgument);
        }
        Ok(start as usize)
    }

    /// Puts `bytes` at `BASE + offset` and returns (address, length) words.
    pub(super) fn place(&mut self, offset: usize, bytes: &[u8]) -> (u64, u64) {
        self.memory[offset..offset + bytes.len()].copy_from_slice(bytes);
        (BASE + offset as u64, bytes.len() as u64)
    }
}

impl Environment for FakeEnvironment {
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        if range.length() == 0 {
            return Ok(Vec::new());
        }
        let start = self.offset(range)?;
        Ok(self.memory[start..start + range.length() as usize].to_vec())
    }

    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        if bytes.is_empty() {
            return Ok(());
        }
        let start = self.offset(range)?;
        self.memory[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant(1_000)
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        buffer.fill(0x5a);
    }

    fn print(&mut self, user: &UserName, text: &str) {
        self.printed.push((user.clone(), String::from(text)));
    }
}

/// The register path a platform would take: [`handle`], answered in the words for
/// `rax` and `rdx`. A parked `block` answers
/// would-block; an ended caller, its status; `fork` and `kill`, the process id;
/// `exec`, 0.
fn system_call(
    model: &mut ProcessModel,
    environment: &mut dyn Environment,
    process: ProcessId,
    number: u64,
    arguments: [u64; 6],
) -> (u64, u64) {
    let result = match handle(model, environment, process, number, arguments) {
        Outcome::Return(result) => result,
        Outcome::Kept { status, event } => return status.to_registers_keeping(event),
        Outcome::Park(_) => Err(Status::WouldBlock),
        Outcome::Exit(status) => Ok(u64::from(status as u32)),
        Outcome::Fork(child) | Outcome::Kill(child) => Ok(child.0),
        Outcome::Exec(_) => Ok(0),
    };
    Status::to_registers(result)
}

pub(super) fn status_of(
    model: &mut ProcessModel,
    environment: &mut FakeEnvironment,
    process: ProcessId,
    call: Call,
    arguments: [u64; 6],
) -> (Status, u64) {
    let (status, value) = system_call(
        model,
        environment,
        process,
        u64::from(call.number()),
        arguments,
    );
    (Status::from_code(status).unwrap(), value)
}

struct Setup {
    model: ProcessModel,
    environment: FakeEnvironment,
    server: ProcessId,
    client: ProcessId,
    /// bob's connection end with only READ (no WRITE, TRANSFER, COPY).
    read_only: u64,
    /// alice's listening descriptor copied with no IMPORT right.
    no_import: u64,
    /// bob's full connection end.
    connection: u64,
}

fn setup() -> Setup {
    let mut model = model();
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let client = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let listening = model.advertise(server, &service("echo")).unwrap();
    let connect = model.ipc(client, &service("echo"), "", Vec::new()).unwrap();
    let Ok(super::Outcome::Connected(connection)) = model.retire(client, connect) else {
        panic!("ipc did not connect");
    };
    let read_only = model
        .copy_descriptor(client, connection, DescriptorRights::READ)
        .unwrap();
    let no_import = model
        .copy_descriptor(server, listening, DescriptorRights::TRANSFER)
        .unwrap();
    Setup {
        model,
        environment: FakeEnvironment::new(),
        server,
        client,
        read_only: u64::from(read_only.get()),
        no_import: u64::from(no_import.get()),
        connection: u64::from(connection.get()),
    }
}

#[test]
fn every_call_without_its_right_answers_its_documented_status() {
    let Setup {
        mut model,
        mut environment,
        server,
        client,
        read_only,
        no_import,
        connection,
    } = setup();
    let echo = environment.place(0, b"echo");
    let carol = environment.place(16, b"carol");
    let relay = environment.place(32, b"relay");
    let request = environment.place(64, &say("hi"));
    let read_only_word = environment.place(128, &(read_only as u32).to_le_bytes());
    let someone = ethos_crypto::SecretKey::from_bytes([9; 32]).public_key();
    let someone = environment.place(0x100, &someone.0).0;
    let mut rows: Vec<(Call, ProcessId, [u64; 6], Status)> = vec![
        // alice's client program may not advertise: the policy names the server.
        (
            Call::Advertise,
            client,
            [echo.0, echo.1, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
        (
            Call::Import,
            server,
            [no_import, 0, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
        (Call::Read, client, [connection, 0, 0, 0, 0, 0], Status::Ok),
        (
            Call::Write,
            client,
            [read_only, request.0, request.1, 0, 0, 0],
            Status::NotAuthorized,
        ),
        (
            Call::FdSend,
            client,
            [read_only_word.0, 1, carol.0, carol.1, relay.0, relay.1],
            Status::NotAuthorized,
        ),
        (Call::FdReceive, client, [0; 6], Status::NotAuthorized),
        (
            Call::CopyFd,
            client,
            [read_only, 1, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
        // Reading through a listening descriptor: it has no READ right.
        (
            Call::Peek,
            server,
            [no_import, 0, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
    ];
    // Calls that need no right answer their ordinary status; those this kernel lacks
    // answer NotSupported whatever the caller holds.
    for call in [
        Call::ReadVar,
        Call::WriteVar,
        Call::CreateDirectory,
        Call::OpenDirectory,
        Call::GetNextName,
        Call::FileInformation,
        Call::RemoveDirectoryOrFile,
    ] {
        rows.push((
            call,
            client,
            [5, echo.0, echo.1, echo.0, echo.1, BASE],
            Status::NotSupported,
        ));
    }
    // This host holds no user's key: nobody may sign. A signature of zeros verifies
    // for no value.
    rows.push((
        Call::Sign,
        client,
        [echo.0, echo.1, 0, 0, 0, 0],
        Status::NotAuthorized,
    ));
    // Nor sign a file: the key is asked for before the file.
    rows.push((
        Call::SignFile,
        client,
        [1, echo.0, echo.1, 0, 0, 0],
        Status::NotAuthorized,
    ));
    rows.push((
        Call::Authenticate,
        client,
        [someone, echo.0, echo.1, BASE + 0x200, 0, 0],
        Status::InvalidAuthentication,
    ));
    // exec names a directory that is not the root, or a program that is not there;
    // kill names another user's process, or none.
    let client_name = environment.place(256, b"client");
    let nowhere = environment.place(272, b"nowhere");
    rows.extend([
        (
            Call::Exec,
            client,
            [2, client_name.0, client_name.1, 0, 0, 0],
            Status::NoSuchObject,
        ),
        (
            Call::Exec,
            client,
            [1, nowhere.0, nowhere.1, 0, 0, 0],
            Status::NoSuchObject,
        ),
        (
            Call::Exec,
            client,
            [1, UNMAPPED, 6, 0, 0, 0],
            Status::InvalidArgument,
        ),
        (
            Call::Kill,
            client,
            [server.0, 0, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
        (
            Call::Kill,
            client,
            [9_999, 0, 0, 0, 0, 0],
            Status::NoSuchObject,
        ),
        (Call::Kill, client, [0; 6], Status::InvalidArgument),
    ]);
    // bob is staff, so ipc is granted; carol is not.
    let carol_process = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    rows.push((
        Call::Ipc,
        carol_process,
        [echo.0, echo.1, 0, 0, 0, 0],
        Status::NotAuthorized,
    ));
    for (call, process, arguments, expected) in rows {
        let (status, _) = status_of(&mut model, &mut environment, process, call, arguments);
        assert_eq!(status, expected, "{call}");
    }
}

#[test]
fn every_call_with_out_of_range_arguments_answers_its_documented_status() {
    let Setup {
        mut model,
        mut environment,
        client,
        connection,
        ..
    } = setup();
    let echo = environment.place(0, b"echo");
    let bad_utf8 = environment.place(16, &[0xff, 0xfe]);
    let slash = environment.place(24, b"a/b");
    let too_long_name = MAXIMUM_NAME_LENGTH + 1;
    let too_large = MAXIMUM_VALUE_SIZE + 1;
    let past_user_space = USER_SPACE_END - 2;
    let invalid = Status::InvalidArgument;
    let rows: Vec<(Call, [u64; 6], Status)> = vec![
        (
            Call::Advertise,
            [echo.0, too_long_name, 0, 0, 0, 0],
            invalid,
        ),
        (Call::Advertise, [past_user_space, 4, 0, 0, 0, 0], invalid),
        (Call::Advertise, [UNMAPPED, 4, 0, 0, 0, 0], invalid),
        (
            Call::Advertise,
            [bad_utf8.0, bad_utf8.1, 0, 0, 0, 0],
            invalid,
        ),
        (Call::Advertise, [slash.0, slash.1, 0, 0, 0, 0], invalid),
        (Call::Advertise, [echo.0, 0, 0, 0, 0, 0], invalid),
        (Call::Import, [1024, 0, 0, 0, 0, 0], invalid),
        (Call::Import, [900, 0, 0, 0, 0, 0], Status::NoSuchObject),
        // Rights are checked before the object's kind: a connection has no IMPORT right.
        (
            Call::Import,
            [connection, 0, 0, 0, 0, 0],
            Status::NotAuthorized,
        ),
        (Call::Ipc, [echo.0, echo.1, 0, 0, UNMAPPED, 8], invalid),
        (Call::Ipc, [echo.0, echo.1, 0, 0, BASE, too_large], invalid),
        (
            Call::Ipc,
            [echo.0, echo.1, echo.0, echo.1, 0, 0],
            Status::TunnelNotCreated,
        ),
        (Call::Read, [u64::MAX, 0, 0, 0, 0, 0], invalid),
        (Call::Read, [900, 0, 0, 0, 0, 0], Status::NoSuchObject),
        (Call::Write, [connection, UNMAPPED, 16, 0, 0, 0], invalid),
        (Call::Write, [connection, BASE, too_large, 0, 0, 0], invalid),
        (
            Call::Write,
            [connection, echo.0, echo.1, 0, 0, 0],
            Status::InvalidType,
        ),
        (Call::Peek, [2048, 0, 0, 0, 0, 0], invalid),
        (Call::ReadVar, [1024, echo.0, echo.1, 0, 0, 0], invalid),
        (
            Call::WriteVar,
            [5, echo.0, echo.1, BASE, too_large, 0],
            invalid,
        ),
        (
            Call::CreateDirectory,
            [5, echo.0, echo.1, echo.0, echo.1, past_user_space],
            invalid,
        ),
        (
            Call::OpenDirectory,
            [5, echo.0, too_long_name, 0, 0, 0],
            invalid,
        ),
        (
            Call::GetNextName,
            [5, echo.0, echo.1, BASE, too_large, 0],
            invalid,
        ),
        (
            Call::FileInformation,
            [1024, echo.0, echo.1, 0, 0, 0],
            invalid,
        ),
        (
            Call::RemoveDirectoryOrFile,
            [5, past_user_space, 8, 0, 0, 0],
            invalid,
        ),
        (
            Call::FdSend,
            [BASE, 0, echo.0, echo.1, echo.0, echo.1],
            invalid,
        ),
        (
            Call::FdSend,
            [BASE, 17, echo.0, echo.1, echo.0, echo.1],
            invalid,
        ),
        (
            Call::FdSend,
            [UNMAPPED, 1, echo.0, echo.1, echo.0, echo.1],
            invalid,
        ),
        (Call::Close, [1024, 0, 0, 0, 0, 0], invalid),
        (Call::Close, [900, 0, 0, 0, 0, 0], Status::NoSuchObject),
        (Call::CopyFd, [connection, 1 << 5, 0, 0, 0, 0], invalid),
        (Call::CopyFd, [connection, u64::MAX, 0, 0, 0, 0], invalid),
        (Call::Exec, [5, echo.0, too_long_name, 0, 0, 0], invalid),
        (Call::Kill, [0, 0, 0, 0, 0, 0], invalid),
        (Call::GetUser, [UNMAPPED, 8, 0, 0, 0, 0], invalid),
        (Call::GetUser, [BASE, 2, 0, 0, 0, 0], Status::BufferTooSmall),
        (Call::Random, [0, 0, 0, 0, 0, 0], invalid),
        (Call::Random, [too_large, 0, 0, 0, 0, 0], invalid),
        (
            Call::Random,
            [MAXIMUM_RANDOM_SIZE + 1, 0, 0, 0, 0, 0],
            invalid,
        ),
        (Call::Print, [UNMAPPED, 4, 0, 0, 0, 0], invalid),
        (Call::Print, [bad_utf8.0, bad_utf8.1, 0, 0, 0, 0], invalid),
        (Call::Block, [BASE, 0, 0, 0, 0, 0], invalid),
        (Call::Block, [BASE, 65, 0, 0, 0, 0], invalid),
        (Call::Block, [UNMAPPED, 1, 0, 0, 0, 0], invalid),
        (Call::Retire, [0, BASE, 8, 0, 0, 0], invalid),
        (Call::Retire, [999, BASE, 8, 0, 0, 0], Status::NoSuchObject),
        (Call::Retire, [1, BASE, too_large, 0, 0, 0], invalid),
        (Call::BlockAndRetire, [0, BASE, 8, 0, 0, 0], invalid),
        (
            Call::BlockAndRetire,
            [999, BASE, 8, 0, 0, 0],
            Status::NoSuchObject,
        ),
        (Call::BlockAndRetire, [1, BASE, too_large, 0, 0, 0], invalid),
        (Call::Cancel, [0, 0, 0, 0, 0, 0], invalid),
        (Call::Cancel, [999, 0, 0, 0, 0, 0], Status::NoSuchObject),
        (
            Call::WriteRead,
            [connection, UNMAPPED, 16, BASE, 8, 0],
            invalid,
        ),
        (
            Call::WriteRead,
            [connection, BASE, too_large, BASE, 8, 0],
            invalid,
        ),
        (
            Call::WriteRead,
            [connection, BASE, 8, BASE, too_large, 0],
            invalid,
        ),
        (
            Call::WriteRead,
            [connection, echo.0, echo.1, BASE, 8, 0],
            Status::InvalidType,
        ),
        (Call::Sign, [BASE, too_large, 0, 0, 0, 0], invalid),
        (Call::Sign, [past_user_space, 8, 0, 0, 0, 0], invalid),
        (Call::SignFile, [1024, echo.0, echo.1, 0, 0, 0], invalid),
        (Call::SignFile, [1, UNMAPPED, 4, 0, 0, 0], invalid),
        (
            Call::Authenticate,
            [UNMAPPED, echo.0, echo.1, BASE, 0, 0],
            invalid,
        ),
        (
            Call::Authenticate,
            [BASE, echo.0, echo.1, UNMAPPED, 0, 0],
            invalid,
        ),
        (
            Call::Authenticate,
            [BASE, BASE, too_large, BASE, 0, 0],
            invalid,
        ),
        (
            Call::Authenticate,
            [past_user_space, echo.0, echo.1, BASE, 0, 0],
            invalid,
        ),
        // The zero key is of small order: no signature can be checked against it.
        (
            Call::Authenticate,
            [BASE + 0x300, echo.0, echo.1, BASE, 0, 0],
            invalid,
        ),
    ];
    let mut covered: Vec<Call> = Vec::new();
    for (call, arguments, expected) in rows {
        let (status, _) = status_of(&mut model, &mut environment, client, call, arguments);
        assert_eq!(status, expected, "{call} {arguments:x?}");
        covered.push(call);
    }
    // Calls with no argument have nothing out of range, nor have `exit` (any status)
    // and `beep` (any deadline; a past one completes at once). Every other call is
    // covered.
    for call in Call::ALL {
        let can_be_out_of_range = !ethos_abi::arguments::layout(call).is_empty()
            && !matches!(call, Call::Exit | Call::Beep);
        assert!(
            !can_be_out_of_range || covered.contains(&call),
            "{call} has no out-of-range row"
        );
    }
    let (status, _) = status_of(&mut model, &mut environment, client, Call::Exit, [0; 6]);
    assert_eq!(status, Status::Ok);
    let (status, _) = status_of(&mut model, &mut environment, client, Call::GetPid, [0; 6]);
    assert_eq!(
        status,
        Status::NoSuchObject,
        "an ended process has no calls left"
    );
    let (status, _) = system_call(&mut model, &mut environment, client, 0, [0; 6]);
    assert_eq!(Status::from_code(status), Some(Status::UnknownCall));
}

#[test]
fn the_register_path_runs_a_whole_exchange() {
    let Setup {
        mut model,
        mut environment,
        server,
        client,
        connection,
        ..
    } = setup();
    let request = environment.place(0, &say("ping"));
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        client,
        Call::Write,
        [connection, request.0, request.1, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    // The server imports through registers too.
    let (status, event) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Import,
        [5, 0, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    let events = environment.place(256, &event.to_le_bytes());
    let (status, first) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Block,
        [events.0, 1, 0, 0, 0, 0],
    );
    assert_eq!((status, first), (Status::Ok, event));
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Retire,
        [event, BASE + 512, 2, 0, 0, 0],
    );
    assert_eq!(
        status,
        Status::BufferTooSmall,
        "the event stays for a larger buffer"
    );
    let (status, length) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Retire,
        [event, BASE + 512, 64, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    assert_eq!(&environment.memory[512 + 4..512 + length as usize], b"bob");
    let descriptor = u64::from(u32::from_le_bytes(
        environment.memory[512..516].try_into().unwrap(),
    ));
    let (_, read) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Read,
        [descriptor, 0, 0, 0, 0, 0],
    );
    let (status, length) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Retire,
        [read, BASE + 1024, 64, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    assert_eq!(
        &environment.memory[1024..1024 + length as usize],
        &say("ping")[..]
    );
    let (status, length) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::GetUser,
        [BASE + 2048, 16, 0, 0, 0, 0],
    );
    assert_eq!(
        (status, &environment.memory[2048..2048 + length as usize]),
        (Status::Ok, &b"alice"[..])
    );
    let text = environment.place(4096, b"served");
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Print,
        [text.0, text.1, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    assert_eq!(
        environment.printed,
        vec![(user("alice"), String::from("served"))]
    );
    let (status, time) = status_of(&mut model, &mut environment, server, Call::GetTime, [0; 6]);
    assert_eq!((status, time), (Status::Ok, 1_000));
    let (_, random) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Random,
        [4, 0, 0, 0, 0, 0],
    );
    let (status, length) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Retire,
        [random, BASE + 3000, 4, 0, 0, 0],
    );
    assert_eq!((status, length), (Status::Ok, 4));
    assert_eq!(&environment.memory[3000..3004], &[0x5a; 4]);
    // blockAndRetire of a completed event: a too-small buffer leaves it for a
    // larger one, which collects it; then it is gone.
    let (_, random) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::Random,
        [4, 0, 0, 0, 0, 0],
    );
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::BlockAndRetire,
        [random, BASE + 3000, 2, 0, 0, 0],
    );
    assert_eq!(status, Status::BufferTooSmall);
    let (status, length) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::BlockAndRetire,
        [random, BASE + 3000, 8, 0, 0, 0],
    );
    assert_eq!((status, length), (Status::Ok, 4));
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        server,
        Call::BlockAndRetire,
        [random, BASE + 3000, 8, 0, 0, 0],
    );
    assert_eq!(status, Status::NoSuchObject);
}

fn outcome_of(
    model: &mut ProcessModel,
    environment: &mut FakeEnvironment,
    process: ProcessId,
    call: Call,
    arguments: [u64; 6],
) -> Outcome {
    handle(
        model,
        environment,
        process,
        u64::from(call.number()),
        arguments,
    )
}

/// The platform-facing answer of every call that changes who runs: each platform
/// acts on these alone.
#[test]
fn handle_answers_what_the_platform_does_with_the_caller() {
    let Setup {
        mut model,
        mut environment,
        server,
        client,
        ..
    } = setup();
    let env = &mut environment;
    // fork: a new process in the model, of the same user.
    let Outcome::Fork(child) = outcome_of(&mut model, env, client, Call::Fork, [0; 6]) else {
        panic!("fork did not fork");
    };
    assert_eq!(model.user_of(child).unwrap(), &user("bob"));
    // exec from the root directory (1): the model names the new program.
    let (address, length) = env.place(512, b"relay");
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            child,
            Call::Exec,
            [1, address, length, 0, 0, 0]
        ),
        Outcome::Exec(program("relay"))
    );
    // block on a timer far in the future: the caller parks.
    let (status, timer) = status_of(
        &mut model,
        env,
        server,
        Call::Beep,
        [u64::MAX / 2, 0, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    let (events, count) = env.place(1024, &timer.to_le_bytes());
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            server,
            Call::Block,
            [events, count / 8, 0, 0, 0, 0]
        ),
        Outcome::Park(ParkedCall {
            number: u64::from(Call::Block.number()),
            arguments: [events, count / 8, 0, 0, 0, 0]
        })
    );
    // blockAndRetire on the same timer parks too, and writes nothing.
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            server,
            Call::BlockAndRetire,
            [timer, events, 8, 0, 0, 0]
        ),
        Outcome::Park(ParkedCall {
            number: u64::from(Call::BlockAndRetire.number()),
            arguments: [timer, events, 8, 0, 0, 0]
        })
    );
    // kill of another user's process is refused and answered, not acted on.
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            child,
            Call::Kill,
            [server.0, 0, 0, 0, 0, 0]
        ),
        Outcome::Return(Err(Status::NotAuthorized))
    );
    // kill of one's own: the platform stops the target; the caller gets its id.
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            client,
            Call::Kill,
            [child.0, 0, 0, 0, 0, 0]
        ),
        Outcome::Kill(child)
    );
    assert_eq!(model.user_of(child), Err(Status::NoSuchObject));
    // exit: the caller ends with its status (the low 32 bits).
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            client,
            Call::Exit,
            [u64::from((-3i32) as u32), 0, 0, 0, 0, 0]
        ),
        Outcome::Exit(-3)
    );
    // Any other call is answered in registers.
    assert_eq!(
        outcome_of(&mut model, env, server, Call::GetPid, [0; 6]),
        Outcome::Return(Ok(server.0))
    );
}

/// `random` of more than the caller may hold is refused by its limit before the
/// kernel allocates the value, so the limit answers first, not the heap.
#[test]
fn random_past_the_limit_is_refused_before_it_is_allocated() {
    let mut model = super::model_with_limit(1 << 19);
    let mut environment = FakeEnvironment::new();
    let process = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        process,
        Call::Random,
        [MAXIMUM_RANDOM_SIZE, 0, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::LimitReached);
    assert_eq!(model.kernel_memory_held(process), Ok(0));
    let (status, _) = status_of(
        &mut model,
        &mut environment,
        process,
        Call::Random,
        [(1 << 19) - EVENT_KERNEL_BYTES as u64, 0, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok, "a value within the limit is given");
}

/// `getPid` and `getTime` answered for a running process without the model give
/// what the model's own path gives; every other call is left to it.
#[test]
fn calls_answered_without_the_model_agree_with_it() {
    let mut model = super::model_with_limit(1 << 19);
    let mut environment = FakeEnvironment::new();
    let process = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let now = environment.now();
    for call in [Call::GetPid, Call::GetTime] {
        let number = u64::from(call.number());
        assert_eq!(
            crate::process_model::dispatch::answer_running(number, process, || now),
            Some(
                match outcome_of(&mut model, &mut environment, process, call, [0; 6]) {
                    Outcome::Return(result) => result,
                    other => panic!("{call} answered {other:?}"),
                }
            ),
            "{call}"
        );
    }
    for call in Call::ALL {
        if !matches!(call, Call::GetPid | Call::GetTime) {
            let number = u64::from(call.number());
            assert_eq!(
                crate::process_model::dispatch::answer_running(number, process, || now),
                None,
                "{call}"
            );
        }
    }
}

/// `read` on `descriptor` and `retire` of its event at once, through registers: the
/// value that was waiting.
fn read_at_once(
    model: &mut ProcessModel,
    env: &mut FakeEnvironment,
    process: ProcessId,
    descriptor: u64,
) -> Vec<u8> {
    let (status, read) = status_of(model, env, process, Call::Read, [descriptor, 0, 0, 0, 0, 0]);
    assert_eq!(status, Status::Ok);
    let (status, length) = status_of(
        model,
        env,
        process,
        Call::Retire,
        [read, BASE + 2048, 64, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    env.memory[2048..2048 + length as usize].to_vec()
}

/// `writeRead` is `write`, `read` and `blockAndRetire` on that read: it parks as that
/// `blockAndRetire` when no reply waits, collects one that does at once, keeps a
/// reply too long for its buffer for `retire` (answering the event's id), and
/// sends nothing when the read would be refused.
#[test]
fn write_read_writes_then_waits_in_block_and_retire() {
    let Setup {
        mut model,
        mut environment,
        server,
        client,
        read_only,
        connection,
        ..
    } = setup();
    let env = &mut environment;
    let request = env.place(0, &say("ping"));
    let reply_place = BASE + 1024;
    // No reply waits: the client parks in blockAndRetire on its read.
    let Outcome::Park(parked) = outcome_of(
        &mut model,
        env,
        client,
        Call::WriteRead,
        [connection, request.0, request.1, reply_place, 64, 0],
    ) else {
        panic!("writeRead with no reply waiting did not park");
    };
    assert_eq!(parked.number, u64::from(Call::BlockAndRetire.number()));
    assert_eq!(parked.arguments[1..], [reply_place, 64, 0, 0, 0]);
    // The server takes the request and answers.
    let (_, imported) = status_of(&mut model, env, server, Call::Import, [5, 0, 0, 0, 0, 0]);
    let (status, _) = status_of(
        &mut model,
        env,
        server,
        Call::Retire,
        [imported, BASE + 512, 64, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    let accepted = u64::from(u32::from_le_bytes(env.memory[512..516].try_into().unwrap()));
    assert_eq!(read_at_once(&mut model, env, server, accepted), say("ping"));
    let reply = env.place(3072, &say("pong"));
    let (status, _) = status_of(
        &mut model,
        env,
        server,
        Call::Write,
        [accepted, reply.0, reply.1, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    // The parked call, made again, collects the reply.
    assert_eq!(
        outcome_of(
            &mut model,
            env,
            client,
            Call::BlockAndRetire,
            parked.arguments
        ),
        Outcome::Return(Ok(say("pong").len() as u64))
    );
    assert_eq!(
        &env.memory[1024..1024 + say("pong").len()],
        &say("pong")[..]
    );
    // A reply already waiting is collected at once; one too long for the buffer is
    // kept, and the answer names its event for `retire`.
    let (status, _) = status_of(
        &mut model,
        env,
        server,
        Call::Write,
        [accepted, reply.0, reply.1, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    let (status, event) = status_of(
        &mut model,
        env,
        client,
        Call::WriteRead,
        [connection, request.0, request.1, reply_place, 4, 0],
    );
    assert_eq!(status, Status::BufferTooSmall);
    let (status, length) = status_of(
        &mut model,
        env,
        client,
        Call::Retire,
        [event, reply_place, 64, 0, 0, 0],
    );
    assert_eq!((status, length), (Status::Ok, say("pong").len() as u64));
    // The second request went: the server reads it.
    assert_eq!(read_at_once(&mut model, env, server, accepted), say("ping"));
    // Without the right to read, or to write, nothing is sent.
    let write_only = model
        .copy_descriptor(
            client,
            ethos_abi::DescriptorNumber::new(connection).unwrap(),
            DescriptorRights::WRITE,
        )
        .unwrap();
    for descriptor in [read_only, u64::from(write_only.get())] {
        let (status, _) = status_of(
            &mut model,
            env,
            client,
            Call::WriteRead,
            [descriptor, request.0, request.1, reply_place, 64, 0],
        );
        assert_eq!(status, Status::NotAuthorized);
    }
    let (status, read) = status_of(
        &mut model,
        env,
        server,
        Call::Read,
        [accepted, 0, 0, 0, 0, 0],
    );
    assert_eq!(status, Status::Ok);
    let events = env.place(4096, &read.to_le_bytes());
    let (status, _) = status_of(
        &mut model,
        env,
        server,
        Call::Block,
        [events.0, 1, 0, 0, 0, 0],
    );
    assert_eq!(
        status,
        Status::WouldBlock,
        "a refused writeRead sent nothing"
    );
}
