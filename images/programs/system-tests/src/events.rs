//! `events`: the event calls — `beep`, `block` on a set, `cancel`, `retire` — and the
//! futures and executor of compat on top of them.
//!
//! Times are checked from below only (at least the deadline), except where a
//! cancelled timer must not be waited for; a loaded host may run late, never early.

use ethos_abi::Status;
use ethos_compat::future::{Either, block_on, join, select};
use ethos_compat::results::{NOTHING, retire_as};
use ethos_compat::{Event, beep, block, cancel, fd_receive, future, get_time, println, retire};

const MILLISECOND: u64 = 1_000_000;

/// Exit statuses of `events`.
pub mod status {
    /// `getTime` failed.
    pub const TIME: i32 = 1;
    /// `beep` or `fdReceive` failed.
    pub const CALL: i32 = 2;
    /// `block` on {200 ms, 20 ms, fdReceive} did not answer the 20 ms beep.
    pub const FIRST: i32 = 3;
    /// That answer came before 20 ms had passed.
    pub const EARLY: i32 = 4;
    /// Retiring the 20 ms beep failed.
    pub const RETIRE: i32 = 5;
    /// Cancelling the pending `fdReceive` failed.
    pub const CANCEL: i32 = 6;
    /// Retiring the cancelled `fdReceive` succeeded.
    pub const RETIRED_CANCELLED: i32 = 7;
    /// `block` on the 200 ms beep did not answer it.
    pub const SECOND: i32 = 8;
    /// That answer came before 200 ms had passed.
    pub const SECOND_EARLY: i32 = 9;
    /// Cancelling a 10 s beep failed.
    pub const CANCEL_TIMER: i32 = 10;
    /// `block` on a new 10 ms beep did not answer it, or waited for the cancelled one.
    pub const AFTER_CANCEL: i32 = 11;
    /// `join` of a 30 ms and a 10 ms sleep did not end both, after at least 30 ms.
    pub const JOIN: i32 = 12;
    /// `select` of a 5 ms and a 10 s sleep did not end with the first, soon.
    pub const SELECT: i32 = 13;
}

fn elapsed_since(start: u64) -> Result<u64, i32> {
    get_time()
        .map(|now| now.saturating_sub(start))
        .map_err(|_| status::TIME)
}

fn checked(what: &str, result: Result<Event, Status>) -> Result<Event, i32> {
    result.map_err(|error| {
        println!("events: {what} failed: {error}");
        status::CALL
    })
}

/// `events`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    match steps() {
        Ok(()) => {
            println!("events: every check passed");
            0
        }
        Err(status) => status,
    }
}

fn steps() -> Result<(), i32> {
    let start = get_time().map_err(|_| status::TIME)?;
    let slow = checked("beep(+200 ms)", beep(start + 200 * MILLISECOND))?;
    let fast = checked("beep(+20 ms)", beep(start + 20 * MILLISECOND))?;
    let never = checked("fdReceive", fd_receive())?;
    let answered = block(&[slow, fast, never]);
    let elapsed = elapsed_since(start)?;
    if answered != Ok(fast) {
        println!("events: block on three answered {answered:?}, not the 20 ms beep");
        return Err(status::FIRST);
    }
    if elapsed < 20 * MILLISECOND {
        println!("events: the 20 ms beep answered after {elapsed} ns");
        return Err(status::EARLY);
    }
    println!(
        "events: block on three answered the 20 ms beep after {} ms",
        elapsed / MILLISECOND
    );
    if let Err(error) = retire(fast, &mut []) {
        println!("events: retire of the 20 ms beep failed: {error}");
        return Err(status::RETIRE);
    }
    if let Err(error) = cancel(never) {
        println!("events: cancel of fdReceive failed: {error}");
        return Err(status::CANCEL);
    }
    match retire(never, &mut [0; 64]) {
        Err(error) => println!("events: fdReceive cancelled; retiring it fails: {error}"),
        Ok(_) => {
            println!("events: the cancelled fdReceive could be retired");
            return Err(status::RETIRED_CANCELLED);
        }
    }
    let answered = block(&[slow]);
    let elapsed = elapsed_since(start)?;
    if answered != Ok(slow) {
        println!("events: block on the 200 ms beep answered {answered:?}");
        return Err(status::SECOND);
    }
    if elapsed < 200 * MILLISECOND {
        println!("events: the 200 ms beep answered after {elapsed} ns");
        return Err(status::SECOND_EARLY);
    }
    let _ = retire(slow, &mut []);
    println!(
        "events: block answered the 200 ms beep after {} ms",
        elapsed / MILLISECOND
    );
    after_a_cancelled_timer()?;
    with_futures()
}

/// A cancelled 10 s beep is not waited for: a new 10 ms beep answers first, soon.
fn after_a_cancelled_timer() -> Result<(), i32> {
    let now = get_time().map_err(|_| status::TIME)?;
    let long = checked("beep(+10 s)", beep(now + 10_000 * MILLISECOND))?;
    if let Err(error) = cancel(long) {
        println!("events: cancel of the 10 s beep failed: {error}");
        return Err(status::CANCEL_TIMER);
    }
    let short = checked("beep(+10 ms)", beep(now + 10 * MILLISECOND))?;
    let answered = block(&[short]);
    let elapsed = elapsed_since(now)?;
    if answered != Ok(short) || !(10 * MILLISECOND..5_000 * MILLISECOND).contains(&elapsed) {
        println!(
            "events: after a cancelled 10 s beep, block answered {answered:?} after {elapsed} ns"
        );
        return Err(status::AFTER_CANCEL);
    }
    let _ = retire_as(short, &NOTHING);
    println!(
        "events: 10 s beep cancelled; a 10 ms beep answered after {} ms",
        elapsed / MILLISECOND
    );
    Ok(())
}

/// The executor: `join` waits for both sleeps, `select` ends with the first and
/// cancels the other.
fn with_futures() -> Result<(), i32> {
    let start = get_time().map_err(|_| status::TIME)?;
    let both = block_on(join(
        future::sleep(30 * MILLISECOND),
        future::sleep(10 * MILLISECOND),
    ));
    let elapsed = elapsed_since(start)?;
    if both != (Ok(()), Ok(())) || elapsed < 30 * MILLISECOND {
        println!("events: join of 30 ms and 10 ms sleeps gave {both:?} after {elapsed} ns");
        return Err(status::JOIN);
    }
    println!(
        "events: join of 30 ms and 10 ms sleeps ended after {} ms",
        elapsed / MILLISECOND
    );
    let start = get_time().map_err(|_| status::TIME)?;
    let first = block_on(select(
        future::sleep(5 * MILLISECOND),
        future::sleep(10_000 * MILLISECOND),
    ));
    let elapsed = elapsed_since(start)?;
    if first != Either::Left(Ok(())) || elapsed >= 5_000 * MILLISECOND {
        println!("events: select of 5 ms and 10 s sleeps gave {first:?} after {elapsed} ns");
        return Err(status::SELECT);
    }
    println!(
        "events: select of 5 ms and 10 s sleeps ended with the first after {} ms",
        elapsed / MILLISECOND
    );
    Ok(())
}
