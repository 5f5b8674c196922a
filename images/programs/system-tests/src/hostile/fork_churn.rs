//! `fork-churn`: [`CHILDREN`] short-lived children, one after another.
//!
//! Each child says so on its parent's connection and exits 0; the parent reads what
//! it said before it forks the next, so few live at once. A kernel that kept
//! something for every process that ever ended would grow its heap by the children
//! times its size.

use ethos_compat::{Forked, fork, get_time, println, read_blocking, write};

use super::{MILLISECOND, advertise_service, bounce_request, connect_to_self};

/// Children forked, each of which exits at once.
pub const CHILDREN: u32 = 2_000;

/// Exit statuses of `fork-churn` and of its children.
pub mod status {
    /// Advertising or connecting to itself failed.
    pub const SETUP: i32 = 1;
    /// A `fork` failed.
    pub const FORK: i32 = 2;
    /// Reading what a child said failed.
    pub const HEARD: i32 = 3;
    /// A child could not say so.
    pub const CHILD_SAY: i32 = 10;
}

const NAME: &str = "fork-churn";

/// `fork-churn`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Ok(listening) = advertise_service(NAME) else {
        return status::SETUP;
    };
    let Ok((client, server)) = connect_to_self(NAME, listening) else {
        return status::SETUP;
    };
    let start = get_time().unwrap_or(0);
    for forked in 0..CHILDREN {
        match fork() {
            Ok(Forked::Child) => {
                let mut request = [0u8; 16];
                return match write(client, bounce_request(&mut request)) {
                    Ok(()) => 0,
                    Err(error) => {
                        println!("{NAME}: child #{forked} could not say so: {error}");
                        status::CHILD_SAY
                    }
                };
            }
            Ok(Forked::Parent { .. }) => {}
            Err(error) => {
                println!("{NAME}: fork #{forked} failed: {error}");
                return status::FORK;
            }
        }
        if let Err(error) = read_blocking(server) {
            println!("{NAME}: reading what child #{forked} said failed: {error}");
            return status::HEARD;
        }
    }
    println!(
        "{NAME}: {CHILDREN} children forked and ended in {} ms",
        get_time().unwrap_or(0).saturating_sub(start) / MILLISECOND
    );
    println!("{NAME}: every call was answered and the kernel went on");
    0
}
