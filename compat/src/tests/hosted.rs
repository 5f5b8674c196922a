//! Programs as threads against the hosted kernel core: typed IPC between two users,
//! the policy, the recognizer, bad pointers, timers and exit statuses, all decided by
//! the kernel's own code.

extern crate std;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;

use ethos_abi::{LabelRights, Status};
use ethos_core::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, ServiceName, User, UserName,
};
use ethos_core::process_model::policy::{Grant, Policy, Principal, ProgramMatch};
use ethos_core::process_model::{Configuration, ServiceDeclaration};
use ethos_typesys_sample::{
    Counter, CounterClient, CounterDescribeReply, CounterIncrementReply, CounterResetReply,
    CounterServer, Label as SampleLabel, Shape, serve_counter,
};

use crate::hosted::HostedSystem;
use crate::typed::{RpcConnection, Served, serve_one};
use crate::{calls, println};

const MILLISECOND: u64 = 1_000_000;

fn identity(program: &str) -> ProgramId {
    ProgramId::of_executable(program.as_bytes())
}

/// alice runs `server` (advertise, import on `counter`); bob runs `client` (ipc);
/// carol and the program `probe` are granted nothing.
fn system() -> HostedSystem {
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
    };
    HostedSystem::new(Configuration {
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
        }],
    })
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
    let server = system.spawn("alice", "server", server).unwrap();
    let client = system.spawn("bob", "client", client).unwrap();
    assert_eq!(client.wait(), 0);
    assert_eq!(server.wait(), 0);
    let console = system.console();
    assert!(console.contains(&String::from("user alice: server: connection from bob")));
    assert!(console.contains(&String::from("user alice: server: served 10 requests")));
}

#[test]
fn the_policy_refuses_the_user_and_the_program() {
    let system = system();
    let server = system.spawn("alice", "server", server).unwrap();
    assert_eq!(system.spawn("carol", "client", client).unwrap().wait(), 3);
    assert_eq!(system.spawn("bob", "probe", client).unwrap().wait(), 3);
    // The server still serves the one client allowed.
    assert_eq!(system.spawn("bob", "client", client).unwrap().wait(), 0);
    assert_eq!(server.wait(), 0);
}

#[test]
fn addresses_no_argument_covers_are_unmapped() {
    let system = system();
    let program = system
        .spawn("carol", "probe", || {
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
        })
        .unwrap();
    assert_eq!(program.wait(), 1);
}

#[test]
fn block_parks_until_the_first_timer_and_exit_sets_the_status() {
    let system = system();
    let program = system
        .spawn("carol", "probe", || {
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
            if both != (Ok(()), Ok(vec![])) || calls::get_time().unwrap() - start < 50 * MILLISECOND
            {
                calls::exit(2);
            }
            calls::exit(42)
        })
        .unwrap();
    assert_eq!(program.wait(), 42);
}

#[test]
fn a_panicking_program_ends_with_the_panic_status() {
    let system = system();
    let program = system
        .spawn("carol", "probe", || panic!("on purpose"))
        .unwrap();
    assert_eq!(program.wait(), crate::runtime::PANIC_STATUS);
    assert_eq!(
        system.spawn("dave", "probe", || 0).map(|_| ()),
        Err(Status::NoSuchObject)
    );
}
