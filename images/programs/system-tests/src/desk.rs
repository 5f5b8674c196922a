//! The `desk` service: a dispatcher imports a connection and passes it with `fdSend`
//! to another user's virtual process, whose worker serves it.
//!
//! `desk-dispatcher` runs as alice, `desk-worker` as carol and `desk-client` as bob.
//! The exit statuses of each program are the constants of its module.

use ethos_compat::{close, fd_receive_blocking, fd_send, get_user, println};

use crate::calc::check_calculator;
use crate::serving::{Calculator, Interrupted, NoConnection, accept_one, serve_until_shutdown};
use crate::types::serve_calculator_into;

/// The service's name.
pub const SERVICE: &str = "desk";
/// The user whose virtual process serves the connections.
pub const WORKER_USER: &str = "carol";
/// The program of that virtual process.
pub const WORKER_PROGRAM: &str = "desk-worker";

/// Exit statuses of `desk-dispatcher`.
pub mod dispatcher_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed.
    pub const IMPORT: i32 = 2;
    /// `fdSend` failed.
    pub const FD_SEND: i32 = 3;
    /// Closing the dispatcher's own copy failed.
    pub const CLOSE: i32 = 4;
}

/// `desk-dispatcher`: advertises `desk`, imports one connection, sends it to
/// carol's `desk-worker` and closes its own copy.
pub fn dispatcher() -> i32 {
    let connection = match accept_one("desk-dispatcher", SERVICE) {
        Ok(accepted) => accepted.connection,
        Err(NoConnection::Advertise(_)) => return dispatcher_status::ADVERTISE,
        Err(NoConnection::Import(_)) => return dispatcher_status::IMPORT,
    };
    if let Err(status) = fd_send(&[connection], WORKER_USER, WORKER_PROGRAM) {
        println!("desk-dispatcher: fdSend failed: {status}");
        return dispatcher_status::FD_SEND;
    }
    println!("desk-dispatcher: sent the connection to {WORKER_USER}'s {WORKER_PROGRAM}");
    if let Err(status) = close(connection) {
        println!("desk-dispatcher: close failed: {status}");
        return dispatcher_status::CLOSE;
    }
    0
}

/// Exit statuses of `desk-worker`.
pub mod worker_status {
    /// `fdReceive` failed.
    pub const FD_RECEIVE: i32 = 1;
    /// The batch did not hold exactly one descriptor.
    pub const BATCH: i32 = 2;
    /// A `read` failed, or the client left before `Shutdown`.
    pub const READ: i32 = 3;
    /// A reply could not be written.
    pub const REPLY: i32 = 4;
    /// Some request did not decode.
    pub const MALFORMED: i32 = 5;
    /// `getUser` failed.
    pub const USER: i32 = 6;
}

/// `desk-worker`: receives one connection with `fdReceive`, serves `Calculator`
/// requests on it until `Shutdown`, and prints
/// `desk-worker: served N requests for <its user>` (N counting the shutdown).
pub fn worker() -> i32 {
    println!("desk-worker: waiting for a connection");
    let connection = match fd_receive_blocking().as_deref() {
        Ok([connection]) => *connection,
        Ok(batch) => {
            println!("desk-worker: received {} descriptors, not 1", batch.len());
            return worker_status::BATCH;
        }
        Err(status) => {
            println!("desk-worker: fdReceive failed: {status}");
            return worker_status::FD_RECEIVE;
        }
    };
    println!("desk-worker: received a connection");
    let calculator = match serve_until_shutdown::<Calculator>(
        "desk-worker",
        connection,
        serve_calculator_into,
    ) {
        Ok(calculator) => calculator,
        Err(Interrupted::Read(_)) => return worker_status::READ,
        Err(Interrupted::Reply(_)) => return worker_status::REPLY,
    };
    let user = match get_user() {
        Ok(user) => user,
        Err(status) => {
            println!("desk-worker: getUser failed: {status}");
            return worker_status::USER;
        }
    };
    println!(
        "desk-worker: served {} requests for {user}, {} malformed",
        calculator.answered, calculator.malformed
    );
    if calculator.malformed == 0 {
        0
    } else {
        worker_status::MALFORMED
    }
}

/// `desk-client`: connects to `desk`, checks 10 `Add` replies, prints
/// `desk-client: 10 replies correct` and sends `Shutdown`; statuses as in
/// [`crate::calc::client_status`].
pub fn client() -> i32 {
    check_calculator("desk-client", SERVICE, 10, 0)
}
