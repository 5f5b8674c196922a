//! The `across` service: typed IPC between two hosts, through the kernels' MinimaLT
//! tunnel. `across-server` (bob, on host beta) echoes every `Say` of one connection;
//! `across-client` (alice, on host alpha) reaches it by naming beta in `ipc`;
//! `across-probe` and carol's `across-client` are refused, by alpha's kernel or by
//! beta's; `across-idle` serves the refused run and checks that nothing reached it.
//!
//! The service's type is `Echo` (`images/boot/types/boot.etn`), whose one method
//! `Say(Text)` has a request and a reply of the same form: the method index 0 as a
//! little-endian `u32`, the text's length as a little-endian `u64`, then its bytes.
//! The server answers through the generated `serve_echo`; clients write that form
//! with [`say`], which cannot fail, and compare each reply byte for byte with its
//! request (`tests/across.rs` checks that [`say`] is what the generated code encodes).
//!
//! The exit statuses of each program are the constants of its module.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_compat::results::{IMPORT, NOTHING, retire_as};
use ethos_compat::typed::{Served, serve_one};
use ethos_compat::{
    EventSet, advertise, beep, close, get_time, import, ipc_blocking, println, read_blocking,
    write, write_blocking,
};

use crate::boot_types::{EchoSayReply, EchoServer, Text, serve_echo};
use crate::serving::{Accepted, NoConnection, accept_one, connect_remote};

/// The service the pair of hosts talks over.
pub const SERVICE: &str = "across";
/// A service of the same type whose grants name only host gamma, which is not in
/// the pair.
pub const GAMMA_SERVICE: &str = "across-gamma";
/// The host that runs `across-server`.
pub const SERVER_HOST: &str = "beta";
/// A host no directory lists.
pub const UNKNOWN_HOST: &str = "nowhere";

/// Requests `across-client` sends after the first.
pub const FURTHER_REQUESTS: usize = 100;
/// Bytes request `k` carries beyond request 0's prefix, per `k`: request 100 carries
/// 3,700, more than one datagram holds.
pub const GROWTH_PER_REQUEST: usize = 37;

/// How long `across-idle` waits for a connection that must never come: 30 s, well
/// past the refused run of the other host (its boot, the probe's three refusals,
/// carol's refusal by this host's kernel, and its linger).
pub const IDLE_NANOSECONDS: u64 = 30_000_000_000;

/// The index of `Say`, `Echo`'s only method.
const SAY: u32 = 0;
/// A method index `Echo` does not have: a value of it is ill-typed.
const NO_SUCH_METHOD: u32 = 9;

/// `Say(text)`: the request and the reply alike.
pub fn say(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + text.len());
    bytes.extend_from_slice(&SAY.to_le_bytes());
    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// The `Echo` of `across-server`: every `Say` comes back as it came.
#[derive(Debug, Default)]
pub struct Echoer;

impl EchoServer for Echoer {
    fn say(&mut self, text: Text) -> EchoSayReply {
        EchoSayReply { text }
    }
}

/// The text of request `index` of `across-client`: `across 0`, then `across K `
/// followed by K × [`GROWTH_PER_REQUEST`] letters that change with position and
/// request, so a reply with bytes moved or from another request differs.
pub fn request_text(index: usize) -> String {
    if index == 0 {
        return String::from("across 0");
    }
    let mut text = format!("across {index} ");
    text.extend(
        (0..index * GROWTH_PER_REQUEST)
            .map(|position| char::from(b'a' + ((index + position) % 26) as u8)),
    );
    text
}

/// Exit statuses of `across-server`.
pub mod server_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed, or its event completed with a failure.
    pub const IMPORT: i32 = 2;
    /// A `read` failed other than by the client closing.
    pub const READ: i32 = 3;
    /// A value read was no `Say`: a kernel let an ill-typed value through.
    pub const MALFORMED: i32 = 4;
    /// A reply could not be written.
    pub const REPLY: i32 = 5;
}

/// `across-server`: advertises `across`, imports one connection, prints
/// `across-server: connection from <user>`, answers every `Say` with the same `Say`
/// until the client closes, then prints `across-server: answered N requests`.
pub fn server() -> i32 {
    const NAME: &str = "across-server";
    let Accepted {
        listening,
        connection,
    } = match accept_one(NAME, SERVICE) {
        Ok(accepted) => accepted,
        Err(NoConnection::Advertise(_)) => return server_status::ADVERTISE,
        Err(NoConnection::Import(_)) => return server_status::IMPORT,
    };
    let mut answered = 0u64;
    loop {
        let request = match read_blocking(connection) {
            Ok(request) => request,
            Err(Status::Closed) => break,
            Err(status) => {
                println!("{NAME}: read failed after {answered} requests: {status}");
                return server_status::READ;
            }
        };
        match serve_one(connection, &mut Echoer, serve_echo, &request) {
            Ok(Served::Answered) => answered += 1,
            Ok(Served::Malformed(error)) => {
                println!(
                    "{NAME}: request {answered} ({} bytes) is no Say: {error}",
                    request.len()
                );
                return server_status::MALFORMED;
            }
            Err(status) => {
                println!("{NAME}: reply {answered} failed: {status}");
                return server_status::REPLY;
            }
        }
    }
    let _ = close(connection);
    let _ = close(listening);
    println!("{NAME}: answered {answered} requests");
    0
}

/// Exit statuses of `across-client`.
pub mod client_status {
    /// The service could not be reached: not advertised within the patience, no
    /// tunnel, or refused other than by the policy.
    pub const CONNECT: i32 = 1;
    /// A reply differed from its request.
    pub const WRONG_REPLY: i32 = 2;
    /// The policy refused the connection (`ipc` answered `NotAuthorized`).
    pub const NOT_AUTHORIZED: i32 = 3;
    /// The ill-typed value was not refused with `InvalidType` by the client's kernel.
    pub const ILL_TYPED: i32 = 4;
    /// A request could not be written.
    pub const WRITE: i32 = 5;
    /// A reply could not be read.
    pub const READ: i32 = 6;
    /// Closing the connection failed.
    pub const CLOSE: i32 = 7;
}

/// `across-client`: connects to `across` on beta with `Say("across 0")`, sends
/// [`FURTHER_REQUESTS`] more of growing length, checks every reply byte-exact and
/// in order, has one ill-typed value refused by its own kernel, prints
/// `across-client: 101 replies byte-exact` and closes.
pub fn client() -> i32 {
    const NAME: &str = "across-client";
    let first = say(&request_text(0));
    let connection = match connect_remote(SERVICE, SERVER_HOST, &first) {
        Ok((connection, _)) => connection,
        Err(Status::NotAuthorized) => {
            println!("{NAME}: not authorized");
            return client_status::NOT_AUTHORIZED;
        }
        Err(status) => {
            println!("{NAME}: cannot connect to {SERVICE} on {SERVER_HOST}: {status:?}");
            return client_status::CONNECT;
        }
    };
    println!("{NAME}: connected to {SERVICE} on {SERVER_HOST}");
    // The kernel checks a value against the connection's type before it leaves.
    let ill_typed = NO_SUCH_METHOD.to_le_bytes();
    match write(connection, &ill_typed) {
        Err(Status::InvalidType) => {
            println!("{NAME}: method {NO_SUCH_METHOD} refused, InvalidType")
        }
        answer => {
            println!("{NAME}: method {NO_SUCH_METHOD} answered {answer:?}, not InvalidType");
            return client_status::ILL_TYPED;
        }
    }
    for index in 0..=FURTHER_REQUESTS {
        let request = say(&request_text(index));
        if index > 0
            && let Err(status) = write_blocking(connection, &request)
        {
            println!("{NAME}: request {index} failed: {status}");
            return client_status::WRITE;
        }
        let reply = match read_blocking(connection) {
            Ok(reply) => reply,
            Err(status) => {
                println!("{NAME}: reply {index} failed: {status}");
                return client_status::READ;
            }
        };
        if reply != request {
            println!(
                "{NAME}: reply {index} differs from its request ({} bytes, {} sent)",
                reply.len(),
                request.len()
            );
            return client_status::WRONG_REPLY;
        }
    }
    println!("{NAME}: {} replies byte-exact", FURTHER_REQUESTS + 1);
    match close(connection) {
        Ok(()) => 0,
        Err(status) => {
            println!("{NAME}: close failed: {status}");
            client_status::CLOSE
        }
    }
}

/// Requests `across-soak` sends in all (the first with the connection).
pub const SOAK_REQUESTS: usize = 100_000;
/// Requests `across-soak` keeps waiting for their replies.
pub const SOAK_WINDOW: usize = 64;

/// Exit statuses of `across-soak`.
pub mod soak_status {
    /// The service could not be reached.
    pub const CONNECT: i32 = 1;
    /// A request could not be written.
    pub const WRITE: i32 = 2;
    /// A reply could not be read.
    pub const READ: i32 = 3;
    /// A reply differed from its request, or came out of order.
    pub const WRONG_REPLY: i32 = 4;
}

/// `across-soak`: [`SOAK_REQUESTS`] short `Say`s to `across` on beta, with up to
/// [`SOAK_WINDOW`] waiting for their replies, each reply checked byte-exact and in
/// order; prints `across-soak: 100000 replies in order` and closes. The kernels
/// sample their heaps as the traffic goes (`tunnel_heap_growth`).
pub fn soak() -> i32 {
    const NAME: &str = "across-soak";
    let request = |index: usize| say(&format!("soak {index}"));
    let connection = match connect_remote(SERVICE, SERVER_HOST, &request(0)) {
        Ok((connection, _)) => connection,
        Err(status) => {
            println!("{NAME}: cannot connect to {SERVICE} on {SERVER_HOST}: {status:?}");
            return soak_status::CONNECT;
        }
    };
    let (mut sent, mut replies) = (1, 0);
    while replies < SOAK_REQUESTS {
        while sent < SOAK_REQUESTS && sent - replies < SOAK_WINDOW {
            match write(connection, &request(sent)) {
                Ok(()) => sent += 1,
                // The kernel holds enough for now: read a reply first.
                Err(Status::WouldBlock) => break,
                Err(status) => {
                    println!("{NAME}: request {sent} failed: {status}");
                    return soak_status::WRITE;
                }
            }
        }
        let reply = match read_blocking(connection) {
            Ok(reply) => reply,
            Err(status) => {
                println!("{NAME}: reply {replies} failed: {status}");
                return soak_status::READ;
            }
        };
        if reply != request(replies) {
            println!("{NAME}: reply {replies} differs from its request");
            return soak_status::WRONG_REPLY;
        }
        replies += 1;
    }
    let _ = close(connection);
    println!("{NAME}: {replies} replies in order");
    0
}

/// Exit statuses of `across-probe`: the first check that did not come as expected.
pub mod probe_status {
    /// `ipc` to `across` on beta from a program not granted beta was not refused
    /// with `NotAuthorized`.
    pub const UNGRANTED_PROGRAM: i32 = 1;
    /// `ipc` to `across-gamma` on beta, whose grants name only host gamma, was not
    /// refused with `NotAuthorized`.
    pub const OTHER_HOST: i32 = 2;
    /// `ipc` to a host no directory lists was not refused with `TunnelNotCreated`.
    pub const UNKNOWN_HOST: i32 = 3;
}

/// `across-probe`: three connections the kernels must refuse, one line each,
/// `across-probe: <check> refused: <status>`.
pub fn probe() -> i32 {
    let first = say("probe");
    let checks = [
        (
            "a program not granted beta",
            SERVICE,
            SERVER_HOST,
            Status::NotAuthorized,
            probe_status::UNGRANTED_PROGRAM,
        ),
        (
            "a service granted for host gamma only",
            GAMMA_SERVICE,
            SERVER_HOST,
            Status::NotAuthorized,
            probe_status::OTHER_HOST,
        ),
        (
            "a host no directory lists",
            SERVICE,
            UNKNOWN_HOST,
            Status::TunnelNotCreated,
            probe_status::UNKNOWN_HOST,
        ),
    ];
    let mut failed = None;
    for (check, service, host, expected, status) in checks {
        match ipc_blocking(service, host, &first) {
            Err(refusal) if refusal == expected => {
                println!("across-probe: {check} refused: {refusal:?}");
            }
            Err(refusal) => {
                println!("across-probe: {check} refused with {refusal:?}, not {expected:?}");
                failed.get_or_insert(status);
            }
            Ok(connection) => {
                println!("across-probe: {check} connected to {service} on {host}");
                let _ = close(connection);
                failed.get_or_insert(status);
            }
        }
    }
    failed.unwrap_or(0)
}

/// Exit statuses of `across-idle`.
pub mod idle_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` or `beep` failed, or waiting on them failed.
    pub const CALL: i32 = 2;
    /// A connection arrived, though the policy refuses every client of the run.
    pub const CONNECTED: i32 = 3;
}

/// What an event of `across-idle`'s set stands for.
enum Idle {
    /// A connection to this service.
    Import(&'static str),
    /// The end of the wait.
    Deadline,
}

/// `across-idle`: advertises `across` and `across-gamma`, so that a refusal by the
/// policy is not mistaken for a service not advertised, and waits
/// [`IDLE_NANOSECONDS`] for a connection that must not come; prints
/// `across-idle: no connection in 30 s`.
pub fn idle() -> i32 {
    const NAME: &str = "across-idle";
    let mut waiting = EventSet::new();
    for service in [SERVICE, GAMMA_SERVICE] {
        let listening = match advertise(service) {
            Ok(listening) => listening,
            Err(status) => {
                println!("{NAME}: advertise {service} failed: {status}");
                return idle_status::ADVERTISE;
            }
        };
        match import(listening) {
            Ok(event) => waiting.insert(event, Idle::Import(service)),
            Err(status) => {
                println!("{NAME}: import on {service} failed: {status}");
                return idle_status::CALL;
            }
        }
    }
    println!("{NAME}: advertised {SERVICE} and {GAMMA_SERVICE}");
    let deadline = get_time().and_then(|now| beep(now.saturating_add(IDLE_NANOSECONDS)));
    match deadline {
        Ok(event) => waiting.insert(event, Idle::Deadline),
        Err(status) => {
            println!("{NAME}: beep failed: {status}");
            return idle_status::CALL;
        }
    }
    match waiting.wait() {
        Ok((event, Idle::Deadline)) => {
            let _ = retire_as(event, &NOTHING);
            println!(
                "{NAME}: no connection in {} s",
                IDLE_NANOSECONDS / 1_000_000_000
            );
            let _ = waiting.cancel_all();
            0
        }
        Ok((event, Idle::Import(service))) => {
            let _ = waiting.cancel_all();
            match retire_as(event, &IMPORT) {
                Ok((connection, user)) => {
                    println!("{NAME}: connection to {service} from {user}");
                    let _ = close(connection);
                    idle_status::CONNECTED
                }
                Err(status) => {
                    println!("{NAME}: import on {service} failed: {status}");
                    idle_status::CALL
                }
            }
        }
        Err(status) => {
            println!("{NAME}: block failed: {status}");
            idle_status::CALL
        }
    }
}
