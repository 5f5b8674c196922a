//! The system-test programs on the host, as threads on the hosted platform:
//! the init sets of `images/boot/image.toml` that need no fork, no fault and no long soak,
//! with the users, labels, services and grants that file declares. The QEMU tests run
//! the same programs on the kernel itself; this checks the programs and the core
//! together where it is quick to.

use ethos_abi::LabelRights;
use ethos_compat::hosted::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, ServiceName, User, UserName,
};
use ethos_compat::hosted::process_model::policy::{Grant, Policy, Principal, ProgramMatch};
use ethos_compat::hosted::process_model::{Configuration, ServiceDeclaration};
use ethos_compat::hosted::{Console, Ending, HostedSystem, ProgramTable, program};
use ethos_typesys::TypeHash;
use system_test_programs::types::{Bouncer, Calculator};
use system_test_programs::{bounce, calc, desk, events};

/// The programs and their labels, as `images/boot/image.toml` declares them.
const PROGRAMS: [(&str, &str); 16] = [
    ("calc-server", "calc-programs"),
    ("calc-client", "calc-programs"),
    ("calc-probe", "calc-programs"),
    ("calc-ill-typed", "calc-programs"),
    ("bad-pointer", "fault-programs"),
    ("fault-kernel-read", "fault-programs"),
    ("fault-invalid-opcode", "fault-programs"),
    ("desk-dispatcher", "desk-programs"),
    ("desk-worker", "desk-worker"),
    ("desk-client", "desk-programs"),
    ("events", "events"),
    ("family", "family"),
    ("soak-server", "soak-programs"),
    ("soak-client", "soak-programs"),
    ("bench-server", "bench-programs"),
    ("bench-client", "bench-programs"),
];

const SERVE: LabelRights = LabelRights::ADVERTISE.union(LabelRights::IMPORT);

/// The grants, as `images/boot/image.toml` declares them: (label, user, program, rights).
const GRANTS: [(&str, &str, &str, LabelRights); 11] = [
    ("calc", "alice", "calc-server", SERVE),
    ("calc", "bob", "calc-client", LabelRights::IPC),
    ("calc", "bob", "calc-ill-typed", LabelRights::IPC),
    ("desk", "alice", "desk-dispatcher", SERVE),
    ("desk", "bob", "desk-client", LabelRights::IPC),
    (
        "desk-worker",
        "carol",
        "desk-worker",
        LabelRights::FD_RECEIVE,
    ),
    ("events", "alice", "events", LabelRights::FD_RECEIVE),
    ("soak", "alice", "soak-server", SERVE),
    ("soak", "bob", "soak-client", LabelRights::IPC),
    ("bench", "alice", "bench-server", SERVE),
    ("bench", "bob", "bench-client", LabelRights::IPC),
];

fn identity(program: &str) -> ProgramId {
    ProgramId::of_executable(program.as_bytes())
}

fn label(name: &str) -> Label {
    Label::new(name).unwrap()
}

fn system() -> HostedSystem {
    let users = ["ethos", "alice", "bob", "carol"]
        .into_iter()
        .zip(1u8..)
        .map(|(name, key)| User {
            name: UserName::new(name).unwrap(),
            public_key: PublicKey([key; 32]),
            groups: Vec::new(),
        })
        .collect();
    let programs = PROGRAMS
        .into_iter()
        .map(|(name, program_label)| Program {
            name: ProgramName::new(name).unwrap(),
            identity: identity(name),
            label: label(program_label),
        })
        .collect();
    let grants = GRANTS
        .into_iter()
        .map(|(grant_label, user, program, rights)| Grant {
            label: label(grant_label),
            principal: Principal::User(UserName::new(user).unwrap()),
            program: ProgramMatch::Program(identity(program)),
            rights,
        })
        .collect();
    let service = |name: &str, type_hash: TypeHash| ServiceDeclaration {
        name: ServiceName::new(name).unwrap(),
        type_hash,
        label: label(name),
    };
    HostedSystem::new(
        Configuration {
            users,
            programs,
            policy: Policy::new(grants),
            types: system_test_programs::types::type_graph().unwrap(),
            services: vec![
                service("calc", Calculator::TYPE_HASH),
                service("desk", Calculator::TYPE_HASH),
                service("soak", Bouncer::TYPE_HASH),
                service("bench", Bouncer::TYPE_HASH),
            ],
        },
        ProgramTable::new(),
        Console::collected(),
    )
    .unwrap()
}

/// One process of an init set: user, program, and the program's `main`.
type Process = (&'static str, &'static str, fn() -> i32);

/// Runs an init set: every process at once; answers the exit statuses in order and
/// the console.
fn run(processes: &[Process]) -> (Vec<Ending>, Vec<String>) {
    let system = system();
    let running: Vec<_> = processes
        .iter()
        .map(|(user, name, main)| system.spawn_with(user, name, program(*main)).unwrap())
        .collect();
    let statuses = running.into_iter().map(|running| running.wait()).collect();
    (statuses, system.console())
}

fn printed(console: &[String], line: &str) -> bool {
    console.iter().any(|printed| printed == line)
}

#[test]
fn ipc() {
    let (statuses, console) = run(&[
        ("alice", "calc-server", calc::server),
        ("bob", "calc-client", calc::client),
    ]);
    assert_eq!(
        statuses,
        [Ending::Exited(0), Ending::Exited(0)],
        "{console:#?}"
    );
    assert!(printed(
        &console,
        "user alice: calc-server: connection from bob"
    ));
    assert!(printed(
        &console,
        "user alice: calc-server: served 111 requests, 0 malformed"
    ));
    assert!(printed(
        &console,
        "user bob: calc-client: 110 replies correct"
    ));
}

#[test]
fn typecheck() {
    let (statuses, console) = run(&[
        ("alice", "calc-server", calc::server),
        ("bob", "calc-ill-typed", calc::ill_typed),
    ]);
    assert_eq!(
        statuses,
        [Ending::Exited(0), Ending::Exited(0)],
        "{console:#?}"
    );
    assert!(printed(
        &console,
        "user alice: calc-server: served 2 requests, 0 malformed"
    ));
}

#[test]
fn authorization() {
    let (statuses, console) = run(&[
        ("alice", "calc-server", calc::server),
        ("bob", "calc-client", calc::client),
        ("carol", "calc-client", calc::client),
        ("bob", "calc-probe", calc::probe),
    ]);
    assert_eq!(
        statuses,
        [
            Ending::Exited(0),
            Ending::Exited(0),
            Ending::Exited(3),
            Ending::Exited(0)
        ],
        "{console:#?}"
    );
    assert!(printed(&console, "user carol: calc-client: not authorized"));
}

#[test]
fn fdsend() {
    let (statuses, console) = run(&[
        ("alice", "desk-dispatcher", desk::dispatcher),
        ("carol", "desk-worker", desk::worker),
        ("bob", "desk-client", desk::client),
    ]);
    assert_eq!(
        statuses,
        [Ending::Exited(0), Ending::Exited(0), Ending::Exited(0)],
        "{console:#?}"
    );
    assert!(printed(
        &console,
        "user carol: desk-worker: served 11 requests for carol, 0 malformed"
    ));
    assert!(printed(
        &console,
        "user bob: desk-client: 10 replies correct"
    ));
}

#[test]
fn event_calls() {
    let (statuses, console) = run(&[("alice", "events", events::run)]);
    assert_eq!(statuses, [Ending::Exited(0)], "{console:#?}");
    assert!(printed(&console, "user alice: events: every check passed"));
}

#[test]
fn bench() {
    let (statuses, console) = run(&[
        ("alice", "bench-server", bounce::bench_server),
        ("bob", "bench-client", bounce::bench_client),
    ]);
    assert_eq!(
        statuses,
        [Ending::Exited(0), Ending::Exited(0)],
        "{console:#?}"
    );
    assert!(
        console
            .iter()
            .any(|line| line.starts_with("user bob: bench null_ns=")
                && line.ends_with(" samples=2000")),
        "{console:#?}"
    );
    assert!(printed(
        &console,
        "user alice: bench-server: served 4001 requests, 0 malformed"
    ));
}
