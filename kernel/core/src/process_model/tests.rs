//! Scenario tests of the process model: typed request and reply between users,
//! refusals, descriptor passing, events, object lifetimes.

use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::{DescriptorNumber, DescriptorRights, EventId, LabelRights, ProcessId, Status};
use ethos_typesys::TypeHash;

use super::events::{Instant, Outcome};
use super::identity::{
    GroupName, Label, Program, ProgramId, ProgramName, PublicKey, ServiceName, User, UserName,
};
use super::policy::{Grant, HostMatch, Policy, Principal, ProgramMatch};
use super::{Configuration, ProcessModel, ServiceDeclaration};

mod accounting;
mod calls;
mod files;
mod signing;

const SCHEMA: &str = "
Echo interface {
    Say(Text string) (Text string)
}
Note string
";

pub(super) fn user(name: &str) -> UserName {
    UserName::new(name).unwrap()
}

pub(super) fn program(name: &str) -> ProgramName {
    ProgramName::new(name).unwrap()
}

pub(super) fn service(name: &str) -> ServiceName {
    ServiceName::new(name).unwrap()
}

fn identity(name: &str) -> ProgramId {
    ProgramId::of_executable(name.as_bytes())
}

/// An `Echo.Say` request (`server = false`) or reply carrying `text`.
pub(super) fn say(text: &str) -> Vec<u8> {
    let mut bytes = 0u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// The largest value on `echo` connections.
pub(super) const ECHO_MAXIMUM_VALUE: usize = 1024;

/// The model every scenario starts from:
/// - alice (group staff) runs `server`, which may advertise and import `echo`;
/// - bob (group staff) and carol (no group) run `client`; staff may `ipc` to `echo`
///   from any program;
/// - carol running `relay` may `fdReceive`; nobody running `client` may.
pub(super) fn model() -> ProcessModel {
    model_with_limit(ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY)
}

/// [`model`], with each process allowed `limit` bytes of kernel memory.
pub(super) fn model_with_limit(limit: usize) -> ProcessModel {
    let schema = ethos_typesys::etn::parse("test.etn", SCHEMA).unwrap();
    let hash_of = |name: &str| -> TypeHash {
        let node = schema.graph.find_by_name(name).unwrap();
        *schema.graph.hash(node).unwrap()
    };
    let echo = hash_of("Echo");
    let note = hash_of("Note");
    let staff = GroupName::new("staff").unwrap();
    let person = |name: &str, key: u8, groups: Vec<GroupName>| User {
        name: user(name),
        public_key: PublicKey([key; 32]),
        groups,
    };
    let program_record = |name: &str, label: &str| Program {
        name: program(name),
        identity: identity(name),
        label: Label::new(label).unwrap(),
    };
    let grant = |label: &str, principal: Principal, program: ProgramMatch, rights| Grant {
        label: Label::new(label).unwrap(),
        principal,
        program,
        rights,
        host: HostMatch::Local,
    };
    ProcessModel::new(Configuration {
        users: vec![
            person("alice", 1, vec![staff.clone()]),
            person("bob", 2, vec![staff.clone()]),
            person("carol", 3, vec![]),
        ],
        programs: vec![
            program_record("server", "servers"),
            program_record("client", "clients"),
            program_record("relay", "relays"),
        ],
        policy: Policy::new(vec![
            grant(
                "echo",
                Principal::User(user("alice")),
                ProgramMatch::Program(identity("server")),
                LabelRights::ADVERTISE | LabelRights::IMPORT,
            ),
            grant(
                "echo",
                Principal::Group(staff.clone()),
                ProgramMatch::Any,
                LabelRights::IPC,
            ),
            grant(
                "notes",
                Principal::Group(staff),
                ProgramMatch::Any,
                LabelRights::ADVERTISE | LabelRights::IMPORT | LabelRights::IPC,
            ),
            grant(
                "relays",
                Principal::User(user("carol")),
                ProgramMatch::Program(identity("relay")),
                LabelRights::FD_RECEIVE,
            ),
        ]),
        types: schema.graph.clone(),
        services: vec![
            ServiceDeclaration {
                name: service("echo"),
                type_hash: echo,
                label: Label::new("echo").unwrap(),
                maximum_value: ECHO_MAXIMUM_VALUE,
            },
            ServiceDeclaration {
                name: service("notes"),
                type_hash: note,
                label: Label::new("notes").unwrap(),
                maximum_value: ethos_abi::arguments::MAXIMUM_VALUE_SIZE as usize,
            },
        ],
        kernel_memory_per_process: limit,
    })
    .unwrap()
}

pub(super) fn value(model: &mut ProcessModel, process: ProcessId, event: EventId) -> Vec<u8> {
    match model.retire(process, event) {
        Ok(Outcome::Value(bytes)) => bytes,
        other => panic!("expected a value, got {other:?}"),
    }
}

/// A server (alice) with `echo` advertised and a client (bob) connected, the first
/// request already delivered to the server.
struct Connected {
    model: ProcessModel,
    server: ProcessId,
    client: ProcessId,
    server_end: DescriptorNumber,
    client_end: DescriptorNumber,
    listening: DescriptorNumber,
}

fn connected() -> Connected {
    let mut model = model();
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let client = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    let listening = model.advertise(server, &service("echo")).unwrap();
    let import = model.import(server, listening).unwrap();
    assert_eq!(model.retire(server, import), Err(Status::WouldBlock));
    let connect = model
        .ipc(client, &service("echo"), "", say("hello"))
        .unwrap();
    let Ok(Outcome::Connected(client_end)) = model.retire(client, connect) else {
        panic!("ipc did not connect");
    };
    assert_eq!(model.take_woken(), vec![server]);
    let Ok(Outcome::Imported {
        descriptor,
        client: who,
    }) = model.retire(server, import)
    else {
        panic!("import did not complete");
    };
    assert_eq!(who, user("bob"), "import names the client's user");
    Connected {
        model,
        server,
        client,
        server_end: descriptor,
        client_end,
        listening,
    }
}

#[test]
fn two_users_exchange_typed_request_and_reply() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        ..
    } = connected();
    let request = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, request), say("hello"));
    let reply = model.read(client, client_end).unwrap();
    model
        .write(server, server_end, say("hello yourself"))
        .unwrap();
    assert_eq!(model.take_woken(), vec![client]);
    assert_eq!(value(&mut model, client, reply), say("hello yourself"));
}

/// A write whose waiting read's process takes the value at once (its platform
/// delivered it to the parked call that collects it) leaves nothing held: the
/// read's event is gone, its process woken, nobody charged. A delivery refused
/// completes the read as usual.
#[test]
fn a_delivered_value_completes_and_retires_the_read_at_once() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        ..
    } = connected();
    let request = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, request), say("hello"));
    let reply = model.read(client, client_end).unwrap();
    let held = model.kernel_memory_held(client).unwrap();
    let mut handed = Vec::new();
    model
        .write_handing(
            server,
            server_end,
            alloc::borrow::Cow::Borrowed(&say("hello yourself")),
            &mut |waiter, bytes| {
                handed.push((waiter, bytes.to_vec()));
                true
            },
        )
        .unwrap();
    assert_eq!(handed, vec![((client, reply), say("hello yourself"))]);
    assert_eq!(model.take_woken(), vec![client]);
    assert_eq!(model.retire(client, reply), Err(Status::NoSuchObject));
    assert_eq!(
        model.kernel_memory_held(client).unwrap(),
        held - ethos_abi::arguments::EVENT_KERNEL_BYTES
    );
    assert_eq!(model.kernel_memory_held(server), Ok(0));
    // Refused: the read completes with the value, copied from the borrowed bytes.
    let reply = model.read(client, client_end).unwrap();
    model
        .write_handing(
            server,
            server_end,
            alloc::borrow::Cow::Borrowed(&say("again")),
            &mut |_, _| false,
        )
        .unwrap();
    assert_eq!(model.take_woken(), vec![client]);
    assert_eq!(value(&mut model, client, reply), say("again"));
}

#[test]
fn an_ill_typed_write_is_refused_and_never_seen() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        ..
    } = connected();
    let first = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, first), say("hello"));
    let mut truncated = say("second");
    truncated.pop();
    let mut unknown_method = say("x");
    unknown_method[0] = 7;
    let mut trailing = say("x");
    trailing.push(0);
    for bad in [truncated, unknown_method, trailing, vec![], vec![0xff; 3]] {
        assert_eq!(
            model.write(client, client_end, bad.clone()),
            Err(Status::InvalidType),
            "{bad:?}"
        );
    }
    let mut bad_utf8 = say("ab");
    let last = bad_utf8.len() - 1;
    bad_utf8[last] = 0xff;
    assert_eq!(
        model.write(client, client_end, bad_utf8),
        Err(Status::InvalidType)
    );
    model.write(client, client_end, say("second")).unwrap();
    let next = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, next), say("second"));
    // Nothing else is queued: the refused writes left no trace.
    let empty = model.read(server, server_end).unwrap();
    assert_eq!(model.retire(server, empty), Err(Status::WouldBlock));
}

#[test]
fn ill_typed_first_value_refuses_the_connection() {
    let mut model = model();
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let client = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    model.advertise(server, &service("echo")).unwrap();
    assert_eq!(
        model.ipc(client, &service("echo"), "", b"junk".to_vec()),
        Err(Status::InvalidType)
    );
    assert_eq!(model.connection_count(), 0);
    assert_eq!(model.descriptor_count(client), Ok(0));
}

#[test]
fn authorization_looks_at_user_and_program() {
    let mut model = model();
    let server = model
        .create_process(&user("alice"), &program("server"))
        .unwrap();
    let alice_client = model
        .create_process(&user("alice"), &program("client"))
        .unwrap();
    let bob_server = model
        .create_process(&user("bob"), &program("server"))
        .unwrap();
    let carol = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    // The right user with the wrong program, and the right program with the wrong user.
    assert_eq!(
        model.advertise(alice_client, &service("echo")),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.advertise(bob_server, &service("echo")),
        Err(Status::NotAuthorized)
    );
    let listening = model.advertise(server, &service("echo")).unwrap();
    assert_eq!(
        model.advertise(server, &service("echo")),
        Err(Status::AlreadyExists)
    );
    // carol is not staff: no ipc. bob is: granted, from any program.
    assert_eq!(
        model.ipc(carol, &service("echo"), "", Vec::new()),
        Err(Status::NotAuthorized)
    );
    assert!(
        model
            .ipc(bob_server, &service("echo"), "", Vec::new())
            .is_ok()
    );
    // A listening descriptor passed to a process the policy does not let import is
    // useless to it.
    let copy = model
        .copy_descriptor(server, listening, super::ipc::LISTENER_RIGHTS)
        .unwrap();
    assert!(model.import(server, copy).is_ok());
    assert_eq!(
        model.ipc(bob_server, &service("echo"), "elsewhere", Vec::new()),
        Err(Status::TunnelNotCreated)
    );
    assert_eq!(
        model.ipc(bob_server, &service("nothing"), "", Vec::new()),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn fd_send_hands_a_connection_to_another_users_virtual_process() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        ..
    } = connected();
    // carol's relay collects what is sent to (carol, relay) and serves it.
    let relay = model
        .create_process(&user("carol"), &program("relay"))
        .unwrap();
    let receive = model.fd_receive(relay).unwrap();
    model
        .fd_send(server, &[server_end], &user("carol"), &program("relay"))
        .unwrap();
    model.close(server, server_end).unwrap();
    assert_eq!(model.take_woken(), vec![relay]);
    let Ok(Outcome::Descriptors(received)) = model.retire(relay, receive) else {
        panic!("fdReceive did not complete");
    };
    let [handed] = received[..] else {
        panic!("one descriptor was sent, got {received:?}");
    };
    let request = model.read(relay, handed).unwrap();
    assert_eq!(value(&mut model, relay, request), say("hello"));
    model.write(relay, handed, say("from carol")).unwrap();
    let reply = model.read(client, client_end).unwrap();
    assert_eq!(value(&mut model, client, reply), say("from carol"));
    // Sent before anyone asks: the virtual process exists on demand and keeps it.
    model
        .fd_send(client, &[client_end], &user("carol"), &program("relay"))
        .unwrap();
    let later = model.fd_receive(relay).unwrap();
    assert!(matches!(
        model.retire(relay, later),
        Ok(Outcome::Descriptors(numbers)) if numbers.len() == 1
    ));
}

#[test]
fn fd_receive_and_fd_send_are_checked() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        ..
    } = connected();
    // Not granted FD_RECEIVE: bob's client, and carol running another program.
    assert_eq!(model.fd_receive(client), Err(Status::NotAuthorized));
    let carol_client = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    assert_eq!(model.fd_receive(carol_client), Err(Status::NotAuthorized));
    // A descriptor without the transfer right cannot be sent.
    let readable = model
        .copy_descriptor(server, server_end, DescriptorRights::READ)
        .unwrap();
    assert_eq!(
        model.fd_send(server, &[readable], &user("carol"), &program("relay")),
        Err(Status::NotAuthorized)
    );
    assert_eq!(
        model.fd_send(server, &[server_end], &user("nobody"), &program("relay")),
        Err(Status::NoSuchObject)
    );
    assert_eq!(
        model.fd_send(server, &[server_end], &user("carol"), &program("nothing")),
        Err(Status::NoSuchObject)
    );
    assert_eq!(
        model.fd_send(server, &[], &user("carol"), &program("relay")),
        Err(Status::InvalidArgument)
    );
    // carol's relay gets only what was sent to (carol, relay): a batch for
    // (carol, client) is not its to take.
    model
        .fd_send(server, &[server_end], &user("carol"), &program("client"))
        .unwrap();
    let relay = model
        .create_process(&user("carol"), &program("relay"))
        .unwrap();
    let receive = model.fd_receive(relay).unwrap();
    assert_eq!(model.retire(relay, receive), Err(Status::WouldBlock));
}

#[test]
fn block_returns_the_first_completed_cancel_drops_and_beep_wakes() {
    let Connected {
        mut model,
        server,
        server_end,
        client,
        client_end,
        ..
    } = connected();
    let drained = model.read(server, server_end).unwrap();
    model.retire(server, drained).unwrap();
    let late = model.beep(server, Instant(2_000), Instant(0)).unwrap();
    let early = model.beep(server, Instant(1_000), Instant(0)).unwrap();
    let read = model.read(server, server_end).unwrap();
    let set = [late, read, early];
    assert_eq!(
        model.block(server, &set, Instant(10)),
        Err(Status::WouldBlock)
    );
    assert_eq!(model.next_deadline(), Some(Instant(1_000)));
    model.write(client, client_end, say("now")).unwrap();
    assert_eq!(model.block(server, &set, Instant(1_500)), Ok(read));
    assert_eq!(value(&mut model, server, read), say("now"));
    assert_eq!(
        model.block(server, &[late, early], Instant(1_500)),
        Ok(early)
    );
    model.cancel(server, late).unwrap();
    assert_eq!(
        model.block(server, &[late], Instant(3_000)),
        Err(Status::NoSuchObject)
    );
    assert_eq!(model.retire(server, early), Ok(Outcome::TimerExpired));
    // A cancelled read never takes a message: the next read gets it.
    let cancelled = model.read(server, server_end).unwrap();
    model.cancel(server, cancelled).unwrap();
    model.write(client, client_end, say("kept")).unwrap();
    let next = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, next), say("kept"));
    assert_eq!(model.event_count(server), Ok(0));
    // A deadline already past completes at once.
    let past = model.beep(server, Instant(5), Instant(10)).unwrap();
    assert_eq!(model.retire(server, past), Ok(Outcome::TimerExpired));
}

#[test]
fn peek_copies_and_read_consumes() {
    let Connected {
        mut model,
        server,
        server_end,
        ..
    } = connected();
    let peeked = model.peek(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, peeked), say("hello"));
    let read = model.read(server, server_end).unwrap();
    assert_eq!(value(&mut model, server, read), say("hello"));
}

#[test]
fn closing_ends_wakes_readers_and_frees_connections() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        listening,
    } = connected();
    let waiting = model.read(client, client_end).unwrap();
    model.close(server, server_end).unwrap();
    assert_eq!(
        model.retire(client, waiting),
        Ok(Outcome::Failed(Status::Closed))
    );
    assert_eq!(
        model.write(client, client_end, say("x")),
        Err(Status::Closed)
    );
    assert_eq!(model.read(client, client_end), Err(Status::Closed));
    assert_eq!(model.connection_count(), 1);
    model.close(client, client_end).unwrap();
    assert_eq!(model.connection_count(), 0);
    // Closing the last listening descriptor withdraws the service.
    model.close(server, listening).unwrap();
    assert_eq!(
        model.ipc(client, &service("echo"), "", Vec::new()),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn ending_a_process_releases_everything_it_held() {
    let Connected {
        mut model,
        server,
        client,
        client_end,
        ..
    } = connected();
    let waiting = model.read(client, client_end).unwrap();
    model.end_process(server).unwrap();
    assert_eq!(
        model.retire(client, waiting),
        Ok(Outcome::Failed(Status::Closed))
    );
    assert_eq!(model.end_process(server), Err(Status::NoSuchObject));
    model.end_process(client).unwrap();
    assert_eq!(model.connection_count(), 0);
}

#[test]
fn many_messages_leave_no_state_behind() {
    let Connected {
        mut model,
        server,
        client,
        server_end,
        client_end,
        ..
    } = connected();
    let first = model.read(server, server_end).unwrap();
    model.retire(server, first).unwrap();
    let request = say("ping");
    let reply = say("pong");
    for _ in 0..10_000 {
        model.write(client, client_end, request.clone()).unwrap();
        let read = model.read(server, server_end).unwrap();
        assert_eq!(value(&mut model, server, read), request);
        let waiting = model.read(client, client_end).unwrap();
        model.write(server, server_end, reply.clone()).unwrap();
        assert_eq!(value(&mut model, client, waiting), reply);
    }
    assert_eq!(model.event_count(server), Ok(0));
    assert_eq!(model.event_count(client), Ok(0));
    assert_eq!(model.connection_count(), 1);
}

#[test]
fn a_full_inbox_makes_writes_wait() {
    let Connected {
        mut model,
        client,
        client_end,
        ..
    } = connected();
    // The first value is already queued.
    for _ in 1..super::ipc::INBOX_MESSAGES {
        model.write(client, client_end, say("x")).unwrap();
    }
    assert_eq!(
        model.write(client, client_end, say("x")),
        Err(Status::WouldBlock)
    );
}

#[test]
fn a_process_keeps_its_user() {
    let mut model = model();
    let process = model
        .create_process(&user("bob"), &program("relay"))
        .unwrap();
    assert_eq!(model.user_of(process), Ok(&user("bob")));
    assert_eq!(model.program_of(process), Ok(identity("relay")));
    assert_eq!(
        model.create_process(&user("mallory"), &program("relay")),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn fork_copies_descriptors_and_keeps_user_and_program() {
    let Connected {
        mut model,
        client,
        client_end,
        ..
    } = connected();
    let child = model.fork_process(client).unwrap();
    assert_ne!(child, client);
    assert_eq!(model.user_of(child).unwrap(), &user("bob"));
    assert_eq!(model.program_of(child), model.program_of(client));
    assert_eq!(
        model.descriptor_count(child),
        model.descriptor_count(client)
    );
    assert_eq!(
        model.event_count(child).unwrap(),
        0,
        "events stay with the parent"
    );
    // The parent's end stays open while the child holds its copy.
    model.close(client, client_end).unwrap();
    model
        .write(child, client_end, say("from the child"))
        .unwrap();
    model.end_process(child).unwrap();
    assert_eq!(
        model.write(client, client_end, say("gone")),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn exec_changes_the_program_never_the_user() {
    let mut model = model();
    let process = model
        .create_process(&user("carol"), &program("client"))
        .unwrap();
    let root = DescriptorNumber::new(1).unwrap();
    model.exec(process, root, &program("relay")).unwrap();
    assert_eq!(model.program_of(process).unwrap(), identity("relay"));
    assert_eq!(model.user_of(process).unwrap(), &user("carol"));
    // Now running `relay`, carol holds fdReceive on the relays label.
    assert!(model.fd_receive(process).is_ok());
    assert_eq!(
        model.exec(process, root, &program("missing")),
        Err(Status::NoSuchObject)
    );
    let current = DescriptorNumber::new(2).unwrap();
    assert_eq!(
        model.exec(process, current, &program("server")),
        Err(Status::NoSuchObject)
    );
}

#[test]
fn kill_ends_only_processes_of_the_same_user() {
    let Connected {
        mut model,
        server,
        client,
        ..
    } = connected();
    let sibling = model
        .create_process(&user("bob"), &program("client"))
        .unwrap();
    assert_eq!(model.kill(client, server), Err(Status::NotAuthorized));
    assert_eq!(
        model.kill(client, ProcessId(9_999)),
        Err(Status::NoSuchObject)
    );
    model.kill(client, sibling).unwrap();
    assert_eq!(model.user_of(sibling), Err(Status::NoSuchObject));
    assert!(model.user_of(server).is_ok());
}

/// `cancel` takes the waiter with the event: cancelling over and over never grows
/// the model, and a cancelled timer no longer counts as something that can wake.
#[test]
fn cancel_removes_the_waiter_it_names() {
    let Connected {
        mut model,
        server,
        client,
        client_end,
        listening,
        ..
    } = connected();
    let relay = model
        .create_process(&user("carol"), &program("relay"))
        .unwrap();
    let baseline = model.waiter_count();
    for round in 0..1_000u64 {
        let timer = model
            .beep(client, Instant(1_000_000 + round), Instant(0))
            .unwrap();
        let read = model.read(client, client_end).unwrap();
        let peek = model.peek(client, client_end).unwrap();
        let import = model.import(server, listening).unwrap();
        let receive = model.fd_receive(relay).unwrap();
        assert_eq!(model.waiter_count(), baseline + 5);
        for (process, event) in [
            (client, timer),
            (client, read),
            (client, peek),
            (server, import),
            (relay, receive),
        ] {
            model.cancel(process, event).unwrap();
        }
        assert_eq!(
            model.waiter_count(),
            baseline,
            "round {round} left a waiter"
        );
    }
    assert_eq!(
        model.next_deadline(),
        None,
        "a cancelled timer still counts"
    );
    assert_eq!(model.event_count(client).unwrap(), 0);
}

/// A process that ends takes its timers and its places in queues with it.
#[test]
fn ending_a_process_removes_its_waiters() {
    let Connected {
        mut model,
        client,
        client_end,
        ..
    } = connected();
    let baseline = model.waiter_count();
    model.beep(client, Instant(5_000), Instant(0)).unwrap();
    model.read(client, client_end).unwrap();
    assert_eq!(model.waiter_count(), baseline + 2);
    assert_eq!(model.next_deadline(), Some(Instant(5_000)));
    model.end_process(client).unwrap();
    assert_eq!(model.waiter_count(), 0, "the connection's readers went too");
    assert_eq!(model.next_deadline(), None);
}
