//! `print-flood` and `tick-counter`: one `print` may not hold the machine.
//!
//! `print-flood` prints 32 MiB of text in one call and one byte more than the print
//! limit, both of which must be refused with `InvalidArgument` (the length alone
//! decides: the text is there to be read), then [`PRINTS`] prints of exactly the
//! limit, 64 KiB on one line, which must succeed, each timed. `tick-counter`, beside
//! it, waits for [`TICKS`] beeps 10 ms apart and reports how late the latest was
//! answered: a print that held the scheduler would show there.

use alloc::string::String;

use ethos_abi::Status;
use ethos_abi::arguments::MAXIMUM_PRINT_LENGTH;
use ethos_compat::{get_time, print, println, sleep_until};

use super::{LARGE_BUFFER, MILLISECOND};

/// Prints of exactly the limit.
pub const PRINTS: u32 = 4;
/// Beeps `tick-counter` waits for.
pub const TICKS: u64 = 100;
/// Between two of its beeps: 10 ms.
pub const TICK: u64 = 10 * MILLISECOND;
/// How the line of a maximal print begins; `=` fills the rest.
pub const MAXIMAL_LINE_START: &str = "print-flood: a print of 65536 bytes: ";

/// Exit statuses of `print-flood`.
pub mod status {
    /// The large buffer was taken.
    pub const SETUP: i32 = 1;
    /// The 32 MiB `print` was not refused with `InvalidArgument`.
    pub const LARGE: i32 = 2;
    /// The `print` one byte over the limit was not refused with `InvalidArgument`.
    pub const OVER: i32 = 3;
    /// A `print` of exactly the limit failed.
    pub const MAXIMAL: i32 = 4;
}

/// Exit statuses of `tick-counter`.
pub mod tick_status {
    /// `getTime` or a `beep` failed.
    pub const CALL: i32 = 1;
}

const NAME: &str = "print-flood";

/// `print-flood`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Some(buffer) = LARGE_BUFFER.try_lock() else {
        println!("{NAME}: the large buffer is taken");
        return status::SETUP;
    };
    // Zero bytes are text: the kernel would print each as a `?`.
    let large = core::str::from_utf8(&buffer[..]).unwrap_or_default();
    match print(large) {
        Err(Status::InvalidArgument) => {
            println!("{NAME}: print of 32 MiB refused, InvalidArgument");
        }
        answer => {
            println!("{NAME}: print of {} bytes answered {answer:?}", large.len());
            return status::LARGE;
        }
    }
    drop(buffer);
    let limit = MAXIMUM_PRINT_LENGTH as usize;
    let mut text = String::with_capacity(limit + 1);
    text.push_str(MAXIMAL_LINE_START);
    while text.len() <= limit {
        text.push('=');
    }
    match print(&text) {
        Err(Status::InvalidArgument) => {
            println!("{NAME}: print of 64 KiB and one byte refused, InvalidArgument");
        }
        answer => {
            println!("{NAME}: print of {} bytes answered {answer:?}", text.len());
            return status::OVER;
        }
    }
    text.truncate(limit);
    let mut longest = 0;
    for _ in 0..PRINTS {
        let start = get_time().unwrap_or(0);
        if let Err(error) = print(&text) {
            println!("{NAME}: print of 64 KiB failed: {error}");
            return status::MAXIMAL;
        }
        longest = longest.max(get_time().unwrap_or(0).saturating_sub(start));
    }
    println!(
        "{NAME}: {PRINTS} prints of 64 KiB, the longest in {} ms",
        longest / MILLISECOND
    );
    println!("{NAME}: every call was answered and the kernel went on");
    0
}

/// `tick-counter`: [`TICKS`] beeps [`TICK`] apart, and how late the latest was.
pub fn tick_counter() -> i32 {
    let Ok(start) = get_time() else {
        return tick_status::CALL;
    };
    let mut latest = 0;
    for tick in 1..=TICKS {
        let deadline = start + tick * TICK;
        let answered = sleep_until(deadline).and_then(|()| get_time());
        match answered {
            Ok(now) => latest = latest.max(now.saturating_sub(deadline)),
            Err(error) => {
                println!("tick-counter: beep #{tick} failed: {error}");
                return tick_status::CALL;
            }
        }
    }
    println!(
        "tick-counter: {TICKS} beeps 10 ms apart, the latest {} ms late",
        latest / MILLISECOND
    );
    0
}
