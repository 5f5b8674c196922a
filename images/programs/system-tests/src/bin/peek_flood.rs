//! `peek-flood` (run as mallory): on a connection to its own service `hostile`, writes
//! one 256 KiB `Bounce` request and peeks it from the server end until a peek is
//! refused with `NoMemory` or `LimitReached` (at most 4,096, the event limit); cancels
//! every copy, peeks once more, reads the message back and closes everything.
//!
//! Exit status: 0 every call was answered as it should be; 1 advertising, connecting
//! to itself or the write failed; 2 no peek was refused; 3 a peek answered another
//! failure; 4 a cancel failed; 5 the peek after the copies went did not give the
//! message; 6 the read did not; 7 a close failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::peek_flood::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("peek-flood is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
