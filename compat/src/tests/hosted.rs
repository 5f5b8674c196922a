//! Programs as threads on the hosted platform, through this library's adapter: typed
//! IPC between two users, the policy, the recognizer, bad pointers, timers and exit
//! statuses, all decided by the kernel's own code; and what the platform does with
//! threads — deadlocks, `kill`, `exec`, and refusing `fork`.

extern crate std;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;

use crate::hosted::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, ServiceName, User, UserName,
};
use crate::hosted::process_model::policy::{Grant, HostMatch, Policy, Principal, ProgramMatch};
use crate::hosted::process_model::{Configuration, ServiceDeclaration};
use ethos_abi::{LabelRights, Status};
use ethos_typesys_sample::{
    Counter, CounterClient, CounterDescribeReply, CounterIncrementReply, CounterResetReply,
    CounterServer, Label as SampleLabel, Shape, serve_counter,
};

use crate::Descriptor;
use crate::hosted::{Console, Ending, HostedSystem, ProgramTable, program};
use crate::typed::{RpcConnection, Served, serve_one};
use crate::{calls, println};

const MILLISECOND: u64 = 1_000_000;

fn identity(program: &str) -> ProgramId {
    ProgramId::of_executable(program.as_bytes())
}

/// alice runs `server` (advertise, import on `counter`); bob runs `client` (ipc);
/// carol and the program `probe` are granted nothing.
fn system() -> HostedSystem {
    system_with(ProgramTable::new())
}

/// The same system, whose programs (for `run` and `exec`) are those of `programs`.
fn system_with(programs: ProgramTable) -> HostedSystem {
    let person = |name: &str, key: u8| User {
        name: UserName::new(name).unwrap(),
        public_key: PublicKey([key; 32]),
        groups: vec![],
    };
    let program = |name: &str| Program {
        name: ProgramName::new(name).unwrap(),
        identity: identity(name),
        label: Label::new("programs").unwrap(),
    };
    let grant = |user: &str, program: &str, rights| Grant {
        label: Label::new("counter").unwrap(),
        principal: Principal::User(UserName::new(user).unwrap()),
        program: ProgramMatch::Program(identity(program)),
        rights,
        host: HostMatch::Local,
    };
    HostedSystem::new(
        Configuration {
            users: vec![person("alice", 1), person("bob", 2), person("carol", 3)],
            programs: vec![program("server"), program("client"), program("probe")],
            policy: Policy::new(vec![
                grant(
                    "alice",
                    "server",
                    LabelRights::ADVERTISE | LabelRights::IMPORT,
                ),
                grant("bob", "client", LabelRights::IPC),
            ]),
            types: ethos_typesys_sample::type_graph().unwrap(),
            services: vec![ServiceDeclaration {
                name: ServiceName::new("counter").unwrap(),
                type_hash: Counter::TYPE_HASH,
                label: Label::new("counter").unwrap(),
                maximum_value: ethos_abi::arguments::MAXIMUM_VALUE_SIZE as usize,
            }],
            kernel_memory_per_process: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
        },
        programs,
        Console::collected(),
    )
    .unwrap()
}

#[derive(Default)]
struct Total(u64);

impl CounterServer for Total {
    fn increment(&mut self, by: u64) -> CounterIncrementReply {
        self.0 += by;
        CounterIncrementReply { count: self.0 }
    }

    fn describe(&mut self, _: Shape, _: Option<Box<SampleLabel>>) -> CounterDescribeReply {
        CounterDescribeReply {
            text: String::new(),
            area: 0.0,
        }
    }

    fn reset(&mut self) -> CounterResetReply {
        self.0 = 0;
        CounterResetReply {}
    }
}

/// Serves one connection until its client closes; 0, or the failed step.
fn server() -> i32 {
    let Ok(listening) = calls::advertise("counter") else {
        return 1;
    };
    let Ok((connection, user)) = crate::import_blocking(listening) else {
        return 2;
    };
    println!("server: connection from {user}");
    let mut total = Total::default();
    let mut served = 0;
    loop {
        match crate::read_blocking(connection) {
            Ok(request) => match serve_one(connection, &mut total, serve_counter, &request) {
                Ok(Served::Answered) => served += 1,
                _ => return 3,
            },
            Err(Status::Closed) => break,
            Err(_) => return 4,
        }
    }
    println!("server: served {served} requests");
    0
}

/// Ten increments through the generated stub; 0, or the failed step.
fn client() -> i32 {
    let connection = match crate::ipc_when_advertised("counter", 5_000 * MILLISECOND) {
        Ok(connection) => connection,
        Err(Status::NotAuthorized) => return 3,
        Err(_) => return 1,
    };
    let mut counter = CounterClient {
        transport: RpcConnection::new(connection),
    };
    for by in 1..=10 {
        if counter.increment(by).map(|reply| reply.count).ok() != Some(by * (by + 1) / 2) {
            return 2;
        }
    }
    // Bytes that are no Counter request never reach the server.
    if calls::write(connection, &[9, 0, 0, 0]) != Err(Status::InvalidType) {
        return 5;
    }
    let _ = calls::close(connection);
    0
}

#[test]
fn a_server_and_a_client_talk_through_the_kernel_core() {
    let system = system();
    let server = system
        .spawn_with("alice", "server", program(server))
        .unwrap();
    let client = system.spawn_with("bob", "client", program(client)).unwrap();
    assert_eq!(client.wait(), Ending::Exited(0));
    assert_eq!(server.wait(), Ending::Exited(0));
    let console = system.console();
    assert!(console.contains(&String::from("user alice: server: connection from bob")));
    assert!(console.contains(&String::from("user alice: server: served 10 requests")));
}

#[test]
fn the_policy_refuses_the_user_and_the_program() {
    let system = system();
    let server = system
        .spawn_with("alice", "server", program(server))
        .unwrap();
    let refused = |user, name| {
        system
            .spawn_with(user, name, program(client))
            .unwrap()
            .wait()
    };
    assert_eq!(refused("carol", "client"), Ending::Exited(3));
    assert_eq!(refused("bob", "probe"), Ending::Exited(3));
    // The server still serves the one client allowed.
    assert_eq!(refused("bob", "client"), Ending::Exited(0));
    assert_eq!(server.wait(), Ending::Exited(0));
}

#[test]
fn addresses_no_argument_covers_are_unmapped() {
    let system = system();
    let probe = system
        .spawn_with(
            "carol",
            "probe",
            program(|| {
                let kernel_address = calls::print_unchecked(0x10_0000, 16);
                // SAFETY: the hosted kernel writes only into buffers the call's
                // arguments borrow, and this one borrows none.
                let unmapped = unsafe { calls::get_user_unchecked(0x6000_0000_0000, 16) };
                let user = calls::get_user();
                i32::from(
                    kernel_address == Err(Status::InvalidArgument)
                        && unmapped == Err(Status::InvalidArgument)
                        && user.as_deref() == Ok("carol"),
                )
            }),
        )
        .unwrap();
    assert_eq!(probe.wait(), Ending::Exited(1));
}

#[test]
fn block_parks_until_the_first_timer_and_exit_sets_the_status() {
    let system = system();
    let probe = system
        .spawn_with(
            "carol",
            "probe",
            program(|| -> i32 {
                let start = calls::get_time().unwrap();
                let slow = calls::beep(start + 50 * MILLISECOND).unwrap();
                let fast = calls::beep(start + 5 * MILLISECOND).unwrap();
                let first = calls::block(&[slow, fast]);
                let elapsed = calls::get_time().unwrap() - start;
                if first != Ok(fast) || elapsed < 5 * MILLISECOND {
                    calls::exit(1);
                }
                let both = crate::future::block_on(crate::future::join(
                    crate::future::sleep(3 * MILLISECOND),
                    crate::future::wait(slow),
                ));
                if both != (Ok(()), Ok(vec![]))
                    || calls::get_time().unwrap() - start < 50 * MILLISECOND
                {
                    calls::exit(2);
                }
                calls::exit(42)
            }),
        )
        .unwrap();
    assert_eq!(probe.wait(), Ending::Exited(42));
}

#[test]
fn a_panicking_program_ends_with_the_panic_status() {
    let system = system();
    let probe = system
        .spawn_with(
            "carol",
            "probe",
            program(|| -> i32 { panic!("on purpose") }),
        )
        .unwrap();
    assert_eq!(probe.wait(), Ending::Exited(crate::runtime::PANIC_STATUS));
    assert_eq!(
        system
            .spawn_with("dave", "probe", program(|| 0))
            .map(|_| ()),
        Err(Status::NoSuchObject)
    );
}

/// The user, program pairs of a set, checked.
fn set(processes: &[(&str, &str)]) -> vec::Vec<(UserName, ProgramName)> {
    processes
        .iter()
        .map(|(user, program)| {
            (
                UserName::new(user).unwrap(),
                ProgramName::new(program).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_set_whose_processes_all_wait_for_nothing_is_ended_as_a_deadlock() {
    // Alone, the server waits for a client forever; so does a second one, whose
    // service nobody may reach.
    let system = system_with(ProgramTable::new().runs("server", program(server)));
    let finished = system
        .run(&set(&[("alice", "server"), ("alice", "server")]))
        .unwrap();
    let endings: vec::Vec<Ending> = finished.iter().map(|ended| ended.ending).collect();
    // The second cannot advertise what the first did, and exits 1.
    assert_eq!(
        endings,
        [Ending::Exited(1), Ending::Deadlocked],
        "{finished:?}"
    );
    let console = system.console();
    assert!(
        console.contains(&String::from(
            "every process waits and nothing can wake one: deadlock"
        )),
        "{console:#?}"
    );
    assert!(
        console
            .iter()
            .any(|line| line.starts_with("@ethos process-end ")
                && line.ends_with(" how=deadlock status=0")),
        "{console:#?}"
    );
}

#[test]
fn a_set_that_ends_is_no_deadlock_and_reports_every_process() {
    let system = system_with(
        ProgramTable::new()
            .runs("server", program(server))
            .runs("client", program(client)),
    );
    let finished = system
        .run(&set(&[("alice", "server"), ("bob", "client")]))
        .unwrap();
    let mut who: vec::Vec<(&str, &str, Ending)> = finished
        .iter()
        .map(|ended| (ended.user.as_str(), ended.program.as_str(), ended.ending))
        .collect();
    who.sort_by_key(|(user, _, _)| *user);
    assert_eq!(
        who,
        [
            ("alice", "server", Ending::Exited(0)),
            ("bob", "client", Ending::Exited(0))
        ]
    );
    let console = system.console();
    for ended in &finished {
        let report = alloc::format!(
            "@ethos process-end pid={} user={} program={} how=exit status=0",
            ended.process.0,
            ended.user,
            ended.program
        );
        assert!(console.contains(&report), "no `{report}` in {console:#?}");
    }
}

#[test]
fn kill_wakes_and_ends_a_waiting_process_of_the_same_user() {
    let system = system();
    // The server waits for a client that never comes.
    let waiting = system
        .spawn_with("alice", "server", program(server))
        .unwrap();
    let target = waiting.process();
    let killer = system
        .spawn_with(
            "alice",
            "probe",
            program(move || {
                // Until the target is parked, kill may come before its wait: either way
                // it must end as killed.
                let _ = crate::sleep(20 * MILLISECOND);
                i32::from(calls::kill(target).is_ok())
            }),
        )
        .unwrap();
    let by = killer.process();
    assert_eq!(killer.wait(), Ending::Exited(1));
    assert_eq!(waiting.wait(), Ending::Killed { by });
}

#[test]
fn fork_is_refused_with_its_reason_and_the_child_never_exists() {
    let system = system();
    let parent = system
        .spawn_with(
            "carol",
            "probe",
            program(|| match calls::fork() {
                Err(Status::NotSupported) => 0,
                _ => 1,
            }),
        )
        .unwrap();
    assert_eq!(parent.wait(), Ending::Exited(0));
    let refused = system.refused();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("called fork"), "{refused:?}");
    assert_eq!(system.finished().len(), 1);
}

#[test]
fn exec_starts_the_named_program_on_the_same_process() {
    let system = system_with(
        ProgramTable::new()
            .runs(
                "client",
                program(|| {
                    println!("client: now running");
                    7
                }),
            )
            .cannot_run("server", "it is only a test's word"),
    );
    let first = system
        .spawn_with(
            "carol",
            "probe",
            program(|| {
                let _ = calls::exec(Descriptor::ROOT_DIRECTORY, "client");
                1
            }),
        )
        .unwrap();
    let process = first.process();
    assert_eq!(first.wait(), Ending::Exited(7));
    let finished = system.finished();
    assert_eq!(finished[0].process, process);
    assert_eq!(finished[0].program.as_str(), "client");
    assert!(
        system
            .console()
            .contains(&String::from("user carol: client: now running"))
    );
    assert!(system.refused().is_empty());

    // A program the platform cannot run ends the process, with the reason.
    let second = system
        .spawn_with(
            "carol",
            "probe",
            program(|| {
                let _ = calls::exec(Descriptor::ROOT_DIRECTORY, "server");
                1
            }),
        )
        .unwrap();
    assert_eq!(second.wait(), Ending::ExecFailed);
    let refused = system.refused();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("program `server` cannot run hosted: it is only a test's word"),
        "{refused:?}"
    );
}
