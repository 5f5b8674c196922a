//! `cancel-churn`: waiters made and cancelled by the hundred thousand.
//!
//! [`ROUNDS`] rounds each of: a `beep` an hour ahead, a `read` of a connection end
//! nobody writes to, an `import` on its own service nobody else connects to, and an
//! `fdReceive` nobody sends to — each cancelled at once, each loop timed. A kernel
//! that kept anything per cancelled waiter (a timer, a place in a queue) would grow
//! its heap by the rounds times its size while the program runs. Then each kind of
//! waiter is made once more and answered for real: a `read` of a written value, an
//! `import` of a new connection, an `fdReceive` of a descriptor the program sent to
//! itself, a 1 ms `beep`.

use ethos_abi::Status;
use ethos_compat::{Event, beep, cancel, fd_receive, get_time, import, println, read};

use super::{MILLISECOND, advertise_service, connect_to_self, waiters_answered};

/// Rounds of each kind of waiter.
pub const ROUNDS: u32 = 100_000;
/// How far ahead the cancelled beeps are: an hour.
pub const FAR_AHEAD: u64 = 3_600_000 * MILLISECOND;

/// Exit statuses of `cancel-churn`.
pub mod status {
    /// Advertising or connecting to itself failed.
    pub const SETUP: i32 = 1;
    /// A `beep` or its `cancel` failed.
    pub const BEEP: i32 = 2;
    /// A `read` or its `cancel` failed.
    pub const READ: i32 = 3;
    /// An `import` or its `cancel` failed.
    pub const IMPORT: i32 = 4;
    /// An `fdReceive` or its `cancel` failed.
    pub const FD_RECEIVE: i32 = 5;
    /// A waiter made after the rounds was not answered as it should be.
    pub const AFTER: i32 = 6;
}

const NAME: &str = "cancel-churn";

/// `cancel-churn`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Ok(listening) = advertise_service(NAME) else {
        return status::SETUP;
    };
    let Ok((client, server)) = connect_to_self(NAME, listening) else {
        return status::SETUP;
    };
    let churned = churn("beep", status::BEEP, || {
        beep(get_time()?.saturating_add(FAR_AHEAD))
    })
    .and_then(|()| churn("read", status::READ, || read(server)))
    .and_then(|()| churn("import", status::IMPORT, || import(listening)))
    .and_then(|()| churn("fdReceive", status::FD_RECEIVE, fd_receive))
    .and_then(|()| waiters_answered(NAME, listening, client, server, status::AFTER));
    match churned {
        Ok(()) => {
            println!("{NAME}: every call was answered and the kernel went on");
            0
        }
        Err(status) => status,
    }
}

/// [`ROUNDS`] rounds of `call` and `cancel` of the event it made, timed.
fn churn(what: &str, failed: i32, call: impl Fn() -> Result<Event, Status>) -> Result<(), i32> {
    let start = get_time().unwrap_or(0);
    for round in 0..ROUNDS {
        if let Err(error) = call().and_then(cancel) {
            println!("{NAME}: {what} and cancel, round {round}: {error}");
            return Err(failed);
        }
    }
    let took = get_time().unwrap_or(0).saturating_sub(start);
    println!(
        "{NAME}: {ROUNDS} rounds of {what} and cancel in {} ms",
        took / MILLISECOND
    );
    Ok(())
}
