//! The `calc` service: a server for every connection at once, a client that checks
//! replies, a program the policy refuses, and a client that writes ill-typed requests.
//!
//! The exit statuses of each program are the constants of its module.

use alloc::format;
use alloc::string::String;

use ethos_abi::Status;
use ethos_compat::results::{IMPORT, VALUE, retire_as};
use ethos_compat::{Descriptor, EventSet, RpcConnection, advertise, close, import, println, read};

use crate::serving::{Calculator, Counted, Next, connect};
use crate::types::{CalculatorClient, serve_calculator_into};

/// The service's name.
pub const SERVICE: &str = "calc";

/// Exit statuses of `calc-server`.
pub mod server_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed, or its event completed with a failure.
    pub const IMPORT: i32 = 2;
    /// A `read` failed other than by the client closing.
    pub const READ: i32 = 3;
    /// A reply could not be written.
    pub const REPLY: i32 = 4;
    /// Some request did not decode: the kernel let an ill-typed request through.
    pub const MALFORMED: i32 = 5;
    /// Waiting for events failed.
    pub const BLOCK: i32 = 6;
}

/// What an event of the server's set stands for.
enum Source {
    /// A new connection.
    Import,
    /// A request on this connection.
    Request(Descriptor),
}

/// `calc-server`: advertises `calc`, serves every connection at once (one `block` on
/// the import event and a read event per open connection), and on a `Shutdown`
/// prints `calc-server: served N requests, 0 malformed` (N counting the shutdown)
/// and ends.
pub fn server() -> i32 {
    serve_every_connection("calc-server", SERVICE)
}

/// Serves `service` as [`server`] describes, printing as `program`.
pub fn serve_every_connection(program: &str, service: &str) -> i32 {
    let listening = match advertise(service) {
        Ok(listening) => listening,
        Err(status) => {
            println!("{program}: advertise {service} failed: {status}");
            return server_status::ADVERTISE;
        }
    };
    println!("{program}: advertised {service}");
    let mut waiting = EventSet::new();
    match import(listening) {
        Ok(event) => waiting.insert(event, Source::Import),
        Err(status) => {
            println!("{program}: import failed: {status}");
            return server_status::IMPORT;
        }
    }
    let mut calculator = Counted::<Calculator>::default();
    loop {
        let (event, source) = match waiting.wait() {
            Ok(answered) => answered,
            Err(status) => {
                println!("{program}: block failed: {status}");
                return server_status::BLOCK;
            }
        };
        match source {
            Source::Import => {
                let connection = match retire_as(event, &IMPORT) {
                    Ok((connection, user)) => {
                        println!("{program}: connection from {user}");
                        connection
                    }
                    Err(status) => {
                        println!("{program}: import failed: {status}");
                        return server_status::IMPORT;
                    }
                };
                if let Err(status) = wait_for_request(&mut waiting, connection) {
                    println!("{program}: read failed: {status}");
                    return server_status::READ;
                }
                match import(listening) {
                    Ok(next) => waiting.insert(next, Source::Import),
                    Err(status) => {
                        println!("{program}: import failed: {status}");
                        return server_status::IMPORT;
                    }
                }
            }
            Source::Request(connection) => {
                let request = match retire_as(event, &VALUE) {
                    Ok(request) => request,
                    Err(Status::Closed) => {
                        let _ = close(connection);
                        continue;
                    }
                    Err(status) => {
                        println!("{program}: read failed: {status}");
                        return server_status::READ;
                    }
                };
                match calculator.handle(connection, &request, serve_calculator_into) {
                    Ok(Next::Continue) => {}
                    Ok(Next::Stop) => {
                        println!(
                            "{program}: served {} requests, {} malformed",
                            calculator.answered, calculator.malformed
                        );
                        return if calculator.malformed == 0 {
                            0
                        } else {
                            server_status::MALFORMED
                        };
                    }
                    Err(status) => {
                        println!("{program}: reply failed: {status}");
                        return server_status::REPLY;
                    }
                }
                if let Err(status) = wait_for_request(&mut waiting, connection) {
                    println!("{program}: read failed: {status}");
                    return server_status::READ;
                }
            }
        }
    }
}

/// Adds a read of the next request on `connection` to the set, or closes the
/// connection if its client has gone.
fn wait_for_request(waiting: &mut EventSet<Source>, connection: Descriptor) -> Result<(), Status> {
    match read(connection) {
        Ok(event) => {
            waiting.insert(event, Source::Request(connection));
            Ok(())
        }
        Err(Status::Closed) => {
            let _ = close(connection);
            Ok(())
        }
        Err(status) => Err(status),
    }
}

/// Exit statuses of `calc-client` and `desk-client`.
pub mod client_status {
    /// The service could not be reached (not advertised within 5 s, or refused
    /// other than by the policy).
    pub const CONNECT: i32 = 1;
    /// An `Add` reply held the wrong sum.
    pub const WRONG_SUM: i32 = 2;
    /// The policy refused the connection (`ipc` answered `NotAuthorized`).
    pub const NOT_AUTHORIZED: i32 = 3;
    /// An `Echo` reply held other text.
    pub const WRONG_ECHO: i32 = 4;
    /// A call failed: the kernel refused a request or the reply did not decode.
    pub const CALL: i32 = 5;
    /// The `Shutdown` call failed.
    pub const SHUTDOWN: i32 = 6;
}

/// `calc-client`: connects to `calc`, checks 100 `Add` and 10 `Echo` replies,
/// prints `calc-client: 110 replies correct` and sends `Shutdown`.
pub fn client() -> i32 {
    check_calculator("calc-client", SERVICE, 100, 10)
}

/// Connects to `service` as `program` and checks `adds` sums and `echoes` echoes,
/// then sends `Shutdown`; statuses as in [`client_status`].
pub fn check_calculator(program: &str, service: &str, adds: u64, echoes: u64) -> i32 {
    let connection = match connect(service) {
        Ok(connection) => connection,
        Err(Status::NotAuthorized) => {
            println!("{program}: not authorized");
            return client_status::NOT_AUTHORIZED;
        }
        Err(status) => {
            println!("{program}: cannot connect to {service}: {status}");
            return client_status::CONNECT;
        }
    };
    println!("{program}: connected to {service}");
    let mut calculator = CalculatorClient {
        transport: RpcConnection::new(connection),
    };
    for round in 0..adds {
        let (a, b) = (round.wrapping_mul(7919) + 1, round.wrapping_mul(104_729));
        match calculator.add(a, b) {
            Ok(reply) if reply.sum == a.wrapping_add(b) => {}
            Ok(reply) => {
                println!("{program}: add({a}, {b}) answered {}", reply.sum);
                return client_status::WRONG_SUM;
            }
            Err(error) => {
                println!("{program}: add failed: {error}");
                return client_status::CALL;
            }
        }
    }
    for round in 0..echoes {
        let text: String = format!("echo {round}: typed ✓");
        match calculator.echo(text.clone()) {
            Ok(reply) if reply.text == text => {}
            Ok(reply) => {
                println!("{program}: echo({text:?}) answered {:?}", reply.text);
                return client_status::WRONG_ECHO;
            }
            Err(error) => {
                println!("{program}: echo failed: {error}");
                return client_status::CALL;
            }
        }
    }
    println!("{program}: {} replies correct", adds + echoes);
    match calculator.shutdown() {
        Ok(_) => 0,
        Err(error) => {
            println!("{program}: shutdown failed: {error}");
            client_status::SHUTDOWN
        }
    }
}

/// Exit statuses of `calc-probe`.
pub mod probe_status {
    /// The connection was not refused with `NotAuthorized`.
    pub const NOT_REFUSED: i32 = 1;
}

/// `calc-probe`: connects to `calc` as a program the policy grants nothing, and
/// expects `NotAuthorized`.
pub fn probe() -> i32 {
    match connect(SERVICE) {
        Err(Status::NotAuthorized) => {
            println!("calc-probe: not authorized, as the policy says");
            0
        }
        Err(status) => {
            println!("calc-probe: refused with {status}, not as unauthorized");
            probe_status::NOT_REFUSED
        }
        Ok(connection) => {
            println!("calc-probe: connected, though the policy grants calc-probe nothing");
            let _ = close(connection);
            probe_status::NOT_REFUSED
        }
    }
}

/// Exit statuses of `calc-ill-typed`.
pub mod ill_typed_status {
    /// The service could not be reached.
    pub const CONNECT: i32 = 1;
    /// A request naming no method was not refused with `InvalidType`.
    pub const UNKNOWN_METHOD: i32 = 2;
    /// An `Add` missing bytes was not refused with `InvalidType`.
    pub const TRUNCATED: i32 = 3;
    /// A reply written where a request belongs was not refused with `InvalidType`.
    pub const REPLY_AS_REQUEST: i32 = 4;
    /// An `Echo` whose text is not UTF-8 was not refused with `InvalidType`.
    pub const NOT_UTF8: i32 = 5;
    /// `Add(2, 3)` did not answer 5.
    pub const ADD: i32 = 6;
    /// The `Shutdown` call failed.
    pub const SHUTDOWN: i32 = 7;
}

/// `calc-ill-typed`: writes four kinds of bytes that are no `Calculator` request,
/// each of which the kernel must refuse with `InvalidType`, then checks that
/// `Add(2, 3)` still answers 5 and sends `Shutdown`.
pub fn ill_typed() -> i32 {
    let connection = match connect(SERVICE) {
        Ok(connection) => connection,
        Err(status) => {
            println!("calc-ill-typed: cannot connect to calc: {status}");
            return ill_typed_status::CONNECT;
        }
    };
    // Method index (u32), then the argument struct: see the wire module of typesys.
    let checks: [(&str, &[u8], i32); 4] = [
        (
            "a request naming method 7 of 3",
            &[7, 0, 0, 0],
            ill_typed_status::UNKNOWN_METHOD,
        ),
        (
            "an Add with 3 of its 16 argument bytes",
            &[0, 0, 0, 0, 2, 0, 0],
            ill_typed_status::TRUNCATED,
        ),
        (
            "an Add reply written as a request",
            &[0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
            ill_typed_status::REPLY_AS_REQUEST,
        ),
        (
            "an Echo whose text is not UTF-8",
            &[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe],
            ill_typed_status::NOT_UTF8,
        ),
    ];
    for (what, bytes, status) in checks {
        match ethos_compat::write(connection, bytes) {
            Err(Status::InvalidType) => println!("calc-ill-typed: {what}: refused, InvalidType"),
            answer => {
                println!("calc-ill-typed: {what}: answered {answer:?}, not InvalidType");
                return status;
            }
        }
    }
    let mut calculator = CalculatorClient {
        transport: RpcConnection::new(connection),
    };
    match calculator.add(2, 3) {
        Ok(reply) if reply.sum == 5 => println!("calc-ill-typed: add(2, 3) = 5"),
        Ok(reply) => {
            println!("calc-ill-typed: add(2, 3) answered {}", reply.sum);
            return ill_typed_status::ADD;
        }
        Err(error) => {
            println!("calc-ill-typed: add(2, 3) failed: {error}");
            return ill_typed_status::ADD;
        }
    }
    match calculator.shutdown() {
        Ok(_) => 0,
        Err(error) => {
            println!("calc-ill-typed: shutdown failed: {error}");
            ill_typed_status::SHUTDOWN
        }
    }
}
