//! `peek-flood`: copies of one message, held until the kernel refuses another.
//!
//! On a connection to its own service it writes one 256 KiB `Bounce` request and
//! `peek`s it from the server end until a `peek` is refused (at most
//! [`MAXIMUM_EVENTS`], which alone would let 1 GiB of copies through). Each `peek`
//! completes at once with a copy the kernel holds until the event goes, so the
//! refusal must be `NoMemory` or `LimitReached` (the row expects `LimitReached`: the
//! limit is at most a quarter of the kernel heap). It then cancels every copy, `peek`s
//! once more (the memory is back), `read`s the message, checks it is what it wrote,
//! and closes every descriptor.

use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::arguments::MAXIMUM_EVENTS;
use ethos_compat::results::{VALUE, retire_as};
use ethos_compat::{Event, cancel, close, peek, println, read_blocking, write};

use super::{advertise_service, bounce_request, connect_to_self, is_refusal_for_memory};

/// The message's size, a whole request.
pub const MESSAGE: usize = 256 << 10;

/// Exit statuses of `peek-flood`.
pub mod status {
    /// Advertising, connecting to itself or writing the message failed.
    pub const SETUP: i32 = 1;
    /// No `peek` was refused.
    pub const NEVER_REFUSED: i32 = 2;
    /// A `peek` answered a failure other than a memory refusal.
    pub const PEEK: i32 = 3;
    /// Cancelling a copy failed.
    pub const CANCEL: i32 = 4;
    /// A `peek` after the copies were cancelled did not give the message.
    pub const AFTER: i32 = 5;
    /// Reading the message failed or gave other bytes.
    pub const READ: i32 = 6;
    /// Closing a descriptor failed.
    pub const CLOSE: i32 = 7;
}

const NAME: &str = "peek-flood";

/// `peek-flood`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Ok(listening) = advertise_service(NAME) else {
        return status::SETUP;
    };
    let Ok((client, server)) = connect_to_self(NAME, listening) else {
        return status::SETUP;
    };
    let mut message = vec![0x5a; MESSAGE];
    let message = bounce_request(&mut message);
    if let Err(error) = write(client, message) {
        println!("{NAME}: write of the 256 KiB message failed: {error}");
        return status::SETUP;
    }
    let mut copies: Vec<Event> = Vec::new();
    let flooded = loop {
        if copies.len() == MAXIMUM_EVENTS {
            println!("{NAME}: {MAXIMUM_EVENTS} peeks of a 256 KiB message, none refused");
            break Err(status::NEVER_REFUSED);
        }
        match peek(server) {
            Ok(copy) => copies.push(copy),
            Err(refusal) if is_refusal_for_memory(refusal) => {
                println!(
                    "{NAME}: {} peeks of a 256 KiB message held, then refused, {refusal:?}",
                    copies.len()
                );
                break Ok(());
            }
            Err(other) => {
                println!("{NAME}: peek #{} answered {other:?}", copies.len());
                break Err(status::PEEK);
            }
        }
    };
    let cancelled = copies.iter().try_for_each(|copy| cancel(*copy));
    if let Err(error) = cancelled {
        println!("{NAME}: cancel of a copy failed: {error}");
        return status::CANCEL;
    }
    if let Err(status) = flooded {
        return status;
    }
    println!("{NAME}: every copy cancelled");
    match peek(server).and_then(|copy| retire_as(copy, &VALUE)) {
        Ok(copy) if copy == message => println!("{NAME}: a peek after them gives the message"),
        answer => {
            println!(
                "{NAME}: a peek after the copies went answered {:?}",
                answer.map(|copy| copy.len())
            );
            return status::AFTER;
        }
    }
    match read_blocking(server) {
        Ok(read) if read == message => {}
        answer => {
            println!(
                "{NAME}: the read of the message answered {:?}",
                answer.map(|read| read.len())
            );
            return status::READ;
        }
    }
    if let Err(error) = close(client)
        .and_then(|()| close(server))
        .and_then(|()| close(listening))
    {
        println!("{NAME}: close failed: {error}");
        return status::CLOSE;
    }
    println!("{NAME}: every call was answered and the kernel went on");
    0
}
