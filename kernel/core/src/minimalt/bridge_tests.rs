//! Remote typed IPC end to end on the host: two process models, each with its
//! MinimaLT service and bridge, on an in-memory network. Programs call the model as
//! they would through system calls; nothing else is simulated.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::{DescriptorNumber, EventId, LabelRights, ProcessId, Status};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::bridge::Bridge;
use super::*;
use crate::hosts::{HostName, KnownHost, UserKeys};
use crate::process_model::events::Outcome;
use crate::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, ServiceName, User, UserName,
};
use crate::process_model::policy::{Grant, HostMatch, Policy, Principal, ProgramMatch};
use crate::process_model::{Configuration, ProcessModel, ServiceDeclaration};

const TYPES: &str = "
Echo interface {
    Say(Text string) (Text string)
}
";

fn secret(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32])
}

fn address(last: u8) -> HostAddress {
    HostAddress::new([10, 0, 7, last], 7100).unwrap()
}

fn name(text: &str) -> UserName {
    UserName::new(text).unwrap()
}

fn identity(program: &str) -> ProgramId {
    ProgramId::of_executable(program.as_bytes())
}

/// `Echo.Say` carrying `text` (request and reply have this form).
fn say(text: &str) -> Vec<u8> {
    let mut bytes = 0u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// The users' keys: alice 7, bob 8, carol 9.
const ALICE: u8 = 7;
const BOB: u8 = 8;
const CAROL: u8 = 9;

/// One policy for both hosts: bob's `server` serves `echo` here; alice's `client`
/// may reach it on beta, and beta lets alice in from alpha; carol's `client` may try
/// any host, but no host lets carol in; `probe` is granted nothing.
fn configuration() -> Configuration {
    let schema = ethos_typesys::etn::parse("echo.etn", TYPES).unwrap();
    let node = schema.graph.find_by_name("Echo").unwrap();
    let echo = *schema.graph.hash(node).unwrap();
    let person = |user: &str, key: u8| User {
        name: name(user),
        public_key: PublicKey(secret(key).public_key().0),
        groups: Vec::new(),
    };
    let program = |program: &str| Program {
        name: ProgramName::new(program).unwrap(),
        identity: identity(program),
        label: Label::new("programs").unwrap(),
    };
    let label = Label::new("echo").unwrap();
    let grant = |user: &str, program: ProgramMatch, rights, host| Grant {
        label: label.clone(),
        principal: Principal::User(name(user)),
        program,
        rights,
        host,
    };
    Configuration {
        users: vec![
            person("alice", ALICE),
            person("bob", BOB),
            person("carol", CAROL),
        ],
        programs: vec![program("server"), program("client"), program("probe")],
        policy: Policy::new(vec![
            grant(
                "bob",
                ProgramMatch::Program(identity("server")),
                LabelRights::ADVERTISE | LabelRights::IMPORT,
                HostMatch::Local,
            ),
            grant(
                "alice",
                ProgramMatch::Program(identity("client")),
                LabelRights::IPC,
                HostMatch::Host(HostName::new("beta").unwrap()),
            ),
            grant(
                "alice",
                ProgramMatch::Any,
                LabelRights::IPC,
                HostMatch::Host(HostName::new("alpha").unwrap()),
            ),
            grant(
                "carol",
                ProgramMatch::Program(identity("client")),
                LabelRights::IPC,
                HostMatch::Any,
            ),
        ]),
        types: schema.graph,
        services: vec![ServiceDeclaration {
            name: ServiceName::new("echo").unwrap(),
            type_hash: echo,
            label,
            maximum_value: 64 * 1024,
        }],
        kernel_memory_per_process: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
    }
}

/// One host: its process model, MinimaLT service and bridge.
struct Host {
    model: ProcessModel,
    service: TunnelService,
    bridge: Bridge,
}

impl Host {
    fn new(key: u8, last: u8, other: (&str, u8, u8), users: &[(&str, u8)]) -> Host {
        let configuration = configuration();
        let types = Box::new(GraphTypes {
            graph: configuration.types.clone(),
        });
        let mut model = ProcessModel::new(configuration).unwrap();
        model.attach_network();
        let directory = StaticDirectory::new(vec![KnownHost {
            name: HostName::new(other.0).unwrap(),
            address: address(other.1),
            public_key: secret(other.2).public_key(),
        }])
        .unwrap();
        let mut keys = UserKeys::default();
        for (user, key) in users {
            let public = PublicKey(secret(*key).public_key().0);
            assert!(keys.insert(name(user), &public, secret(*key)));
        }
        model.install_user_keys(keys);
        Host {
            model,
            service: TunnelService::new(
                secret(key),
                address(last),
                directory,
                types,
                Box::new(ChaCha20Rng::seed_from_u64(u64::from(key))),
                kernel_endpoint_config(),
                Time::from_milliseconds(1_000),
            ),
            bridge: Bridge::new(),
        }
    }
}

/// alpha (10.0.7.1, alice and carol work there) and beta (10.0.7.2, bob).
struct Network {
    alpha: Host,
    beta: Host,
    now: Time,
}

impl Network {
    fn new() -> Network {
        Network {
            alpha: Host::new(1, 1, ("beta", 2, 2), &[("alice", ALICE), ("carol", CAROL)]),
            beta: Host::new(2, 2, ("alpha", 1, 1), &[("bob", BOB)]),
            now: Time::from_milliseconds(1_000),
        }
    }

    /// Runs both bridges and carries datagrams until both hosts are quiet, passing
    /// each from alpha to beta through `tamper`.
    fn run_with(&mut self, tamper: &mut dyn FnMut(Vec<u8>) -> Vec<Vec<u8>>) {
        for _ in 0..256 {
            let now = self.now;
            let mut moved = false;
            for host in [&mut self.alpha, &mut self.beta] {
                host.bridge.step(&mut host.model, &mut host.service, now);
            }
            while let Some(transmit) = self.alpha.service.poll_transmit(now) {
                for payload in tamper(transmit.payload) {
                    self.beta
                        .service
                        .handle_datagram(now, socket_address(address(1)), &payload);
                }
                moved = true;
            }
            while let Some(transmit) = self.beta.service.poll_transmit(now) {
                self.alpha.service.handle_datagram(
                    now,
                    socket_address(address(2)),
                    &transmit.payload,
                );
                moved = true;
            }
            if !moved {
                for host in [&mut self.alpha, &mut self.beta] {
                    host.bridge.step(&mut host.model, &mut host.service, now);
                }
                if self.alpha.service.poll_transmit(now).is_none()
                    && self.beta.service.poll_transmit(now).is_none()
                {
                    return;
                }
            }
        }
        panic!("the hosts never went quiet");
    }

    fn run(&mut self) {
        self.run_with(&mut |payload| vec![payload]);
    }
}

fn process(model: &mut ProcessModel, user: &str, program: &str) -> ProcessId {
    model
        .create_process(&name(user), &ProgramName::new(program).unwrap())
        .unwrap()
}

fn echo() -> ServiceName {
    ServiceName::new("echo").unwrap()
}

fn read_value(model: &mut ProcessModel, process: ProcessId, end: DescriptorNumber) -> Vec<u8> {
    let event = model.read(process, end).unwrap();
    match model.retire(process, event) {
        Ok(Outcome::Value(bytes)) => bytes,
        other => panic!("expected a value, got {other:?}"),
    }
}

/// Bob's server on beta advertises `echo` and waits in `import`.
fn serve(network: &mut Network) -> (ProcessId, EventId) {
    let server = process(&mut network.beta.model, "bob", "server");
    let listening = network.beta.model.advertise(server, &echo()).unwrap();
    let import = network.beta.model.import(server, listening).unwrap();
    (server, import)
}

/// Alice's client on alpha connects to `echo` on beta with a first request; beta's
/// server imports it. Answers (client, client end, server, server end).
fn connect(network: &mut Network) -> (ProcessId, DescriptorNumber, ProcessId, DescriptorNumber) {
    let (server, import) = serve(network);
    let client = process(&mut network.alpha.model, "alice", "client");
    let connect = network
        .alpha
        .model
        .ipc(client, &echo(), "beta", say("hello"))
        .unwrap();
    assert_eq!(
        network.alpha.model.retire(client, connect),
        Err(Status::WouldBlock),
        "the connection waits for beta's answer"
    );
    network.run();
    let Ok(Outcome::Connected(client_end)) = network.alpha.model.retire(client, connect) else {
        panic!("alice's ipc did not connect");
    };
    let Ok(Outcome::Imported {
        descriptor,
        client: who,
    }) = network.beta.model.retire(server, import)
    else {
        panic!("bob's import did not complete");
    };
    // Beta's kernel names the user alpha's kernel proved, by beta's own name for her.
    assert_eq!(who, name("alice"));
    (client, client_end, server, descriptor)
}

#[test]
fn typed_request_and_reply_between_programs_on_two_hosts() {
    let mut network = Network::new();
    let (client, client_end, server, server_end) = connect(&mut network);
    let beta = &mut network.beta.model;
    assert_eq!(read_value(beta, server, server_end), say("hello"));
    // Values of every size, larger than a datagram too, both ways, in order.
    for round in 0..6 {
        let text = "x".repeat(round * 3_000);
        network
            .beta
            .model
            .write(server, server_end, say(&text))
            .unwrap();
        network.run();
        assert_eq!(
            read_value(&mut network.alpha.model, client, client_end),
            say(&text)
        );
        network
            .alpha
            .model
            .write(client, client_end, say(&text))
            .unwrap();
        network.run();
        assert_eq!(
            read_value(&mut network.beta.model, server, server_end),
            say(&text)
        );
    }
    // The writer's own kernel refuses an ill-typed value: method 9 of Echo.
    assert_eq!(
        network
            .alpha
            .model
            .write(client, client_end, vec![9, 0, 0, 0]),
        Err(Status::InvalidType)
    );
    // Values written just before the close still arrive, then the close.
    for k in 0..3 {
        let text = alloc::format!("last {k}");
        network
            .alpha
            .model
            .write(client, client_end, say(&text))
            .unwrap();
    }
    network.alpha.model.close(client, client_end).unwrap();
    network.run();
    for k in 0..3 {
        let text = alloc::format!("last {k}");
        assert_eq!(
            read_value(&mut network.beta.model, server, server_end),
            say(&text)
        );
    }
    assert_eq!(
        network.beta.model.read(server, server_end),
        Err(Status::Closed)
    );
    assert_eq!(network.alpha.model.connection_count(), 0);
    assert_eq!(network.alpha.bridge.connection_count(), 0);
    assert_eq!(network.beta.bridge.connection_count(), 0);
    let (alpha, beta) = (
        network.alpha.bridge.counters(),
        network.beta.bridge.counters(),
    );
    assert_eq!((alpha.opened, alpha.accepted, alpha.values_lost), (1, 1, 0));
    assert_eq!((beta.incoming_accepted, beta.values_refused), (1, 0));
    // The charge for every value went back to its writer.
    assert_eq!(network.alpha.model.kernel_memory_held(client).unwrap(), 0);
}

#[test]
fn the_policy_of_both_hosts_decides_and_refusals_deliver_nothing() {
    let mut network = Network::new();
    let (server, import) = serve(&mut network);
    // The program: alice's `probe` has no grant, so her own kernel refuses at once.
    let probe = process(&mut network.alpha.model, "alice", "probe");
    assert_eq!(
        network.alpha.model.ipc(probe, &echo(), "beta", say("hi")),
        Err(Status::NotAuthorized)
    );
    // The user: carol's kernel lets her `client` try, beta's policy refuses her.
    let carol = process(&mut network.alpha.model, "carol", "client");
    let refused = network
        .alpha
        .model
        .ipc(carol, &echo(), "beta", say("let me in"))
        .unwrap();
    network.run();
    assert_eq!(
        network.alpha.model.retire(carol, refused),
        Ok(Outcome::Failed(Status::NotAuthorized))
    );
    assert_eq!(network.beta.bridge.counters().incoming_refused, 1);
    // A host the directory does not list (carol may try any): no tunnel.
    let nowhere = network
        .alpha
        .model
        .ipc(carol, &echo(), "nowhere", say("hi"))
        .unwrap();
    network.run();
    assert_eq!(
        network.alpha.model.retire(carol, nowhere),
        Ok(Outcome::Failed(Status::TunnelNotCreated))
    );
    let alice = process(&mut network.alpha.model, "alice", "client");
    // The host: alice's client may reach beta only; a grant naming beta does not
    // cover gamma, whatever gamma is.
    assert_eq!(
        network.alpha.model.ipc(alice, &echo(), "gamma", say("hi")),
        Err(Status::NotAuthorized)
    );
    // Nothing reached bob's server.
    assert_eq!(
        network.beta.model.retire(server, import),
        Err(Status::WouldBlock)
    );
    assert_eq!(network.beta.model.connection_count(), 0);
    assert_eq!(network.alpha.model.connection_count(), 0);
}

#[test]
fn an_ill_typed_value_from_a_modified_peer_never_reaches_the_program() {
    let mut network = Network::new();
    let (_client, _client_end, server, server_end) = connect(&mut network);
    assert_eq!(
        read_value(&mut network.beta.model, server, server_end),
        say("hello")
    );
    // Alpha's kernel, modified, sends what its own check would refuse.
    let remote = network.alpha.bridge.remotes_for_tests()[0];
    network
        .alpha
        .service
        .send_unchecked_as_modified_peer(remote, &[9, 0, 0, 0])
        .unwrap();
    network
        .alpha
        .service
        .send_unchecked_as_modified_peer(remote, &say("well typed"))
        .unwrap();
    network.run();
    assert_eq!(network.beta.service.counters().ill_typed_values, 1);
    assert_eq!(
        read_value(&mut network.beta.model, server, server_end),
        say("well typed")
    );
    let pending = network.beta.model.read(server, server_end).unwrap();
    assert_eq!(
        network.beta.model.retire(server, pending),
        Err(Status::WouldBlock),
        "nothing else is waiting"
    );
}

#[test]
fn a_cancelled_connect_and_an_ended_server_leave_nothing_behind() {
    let mut network = Network::new();
    let (server, _import) = serve(&mut network);
    let client = process(&mut network.alpha.model, "alice", "client");
    let asked = network
        .alpha
        .model
        .ipc(client, &echo(), "beta", say("hello"))
        .unwrap();
    network.alpha.model.cancel(client, asked).unwrap();
    network.run();
    assert_eq!(network.alpha.model.connection_count(), 0);
    // A new connection; then the server's process ends: the client's reads fail
    // with `Closed`, its writes too.
    network.beta.model.end_process(server).unwrap();
    let (client, client_end, server, _) = connect(&mut network);
    network.beta.model.end_process(server).unwrap();
    network.run();
    assert_eq!(
        network.alpha.model.read(client, client_end),
        Err(Status::Closed)
    );
    assert_eq!(
        network.alpha.model.write_handing(
            client,
            client_end,
            Cow::Owned(say("anyone?")),
            &mut |_, _| false
        ),
        Err(Status::Closed)
    );
    assert_eq!(network.beta.model.connection_count(), 0);
    assert_eq!(network.beta.bridge.connection_count(), 0);
}

#[test]
fn a_client_that_comes_before_the_service_is_advertised_waits_for_it_a_while() {
    let mut network = Network::new();
    let client = process(&mut network.alpha.model, "alice", "client");
    let early = network
        .alpha
        .model
        .ipc(client, &echo(), "beta", say("early"))
        .unwrap();
    network.run();
    assert_eq!(
        network.alpha.model.retire(client, early),
        Err(Status::WouldBlock),
        "beta holds the connection while `echo` is not advertised"
    );
    network.now = network.now.plus_milliseconds(1_000);
    let (server, import) = serve(&mut network);
    network.run();
    assert!(matches!(
        network.alpha.model.retire(client, early),
        Ok(Outcome::Connected(_))
    ));
    let Ok(Outcome::Imported { descriptor, .. }) = network.beta.model.retire(server, import) else {
        panic!("the early connection was not imported");
    };
    assert_eq!(
        read_value(&mut network.beta.model, server, descriptor),
        say("early")
    );
    // Past the patience, a service nobody advertises refuses.
    let late = network
        .alpha
        .model
        .ipc(client, &ServiceName::new("echo").unwrap(), "beta", say("x"))
        .unwrap();
    network.beta.model.end_process(server).unwrap();
    network.run();
    network.now = network
        .now
        .plus_milliseconds(bridge::ADVERTISE_PATIENCE_MILLISECONDS);
    network.run();
    assert_eq!(
        network.alpha.model.retire(client, late),
        Ok(Outcome::Failed(Status::NotAuthorized))
    );
}

#[test]
fn a_peer_that_floods_a_reader_who_does_not_read_is_cut_off_with_bounded_memory() {
    let mut network = Network::new();
    let (client, client_end, server, server_end) = connect(&mut network);
    let value = say(&"f".repeat(60 * 1024));
    let mut written = 0usize;
    // Bob's server never reads; alice's client writes as fast as her kernel lets her.
    for _ in 0..400 {
        match network.alpha.model.write(client, client_end, value.clone()) {
            Ok(()) => written += 1,
            Err(Status::WouldBlock) => network.run(),
            Err(Status::Closed) => break,
            Err(status) => panic!("{status:?}"),
        }
        if written.is_multiple_of(8) {
            network.run();
        }
    }
    network.run();
    // Beta queued what a connection may hold, kept a bounded excess, then closed it.
    let counted = network.beta.bridge.counters();
    assert_eq!(counted.overruns, 1, "{counted:?}");
    assert!(written * value.len() > REMOTE_INBOX + bridge::HELD_BYTES);
    assert_eq!(
        network.alpha.model.write(client, client_end, say("more")),
        Err(Status::Closed)
    );
    // What was queued before the cut is still the server's to read, then `Closed`.
    let mut read = 0;
    loop {
        match network.beta.model.read(server, server_end) {
            Ok(event) => match network.beta.model.retire(server, event) {
                Ok(Outcome::Value(bytes)) => {
                    assert!(bytes == say("hello") || bytes == value);
                    read += 1;
                }
                other => panic!("{other:?}"),
            },
            Err(Status::Closed) => break,
            Err(status) => panic!("{status:?}"),
        }
    }
    assert!(read * value.len() <= REMOTE_INBOX + value.len());
    assert_eq!(network.beta.bridge.connection_count(), 0);
}

const REMOTE_INBOX: usize = crate::process_model::remote::REMOTE_INBOX_BYTES;
