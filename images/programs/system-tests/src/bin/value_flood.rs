//! `value-flood` (run as mallory): on a connection to its own service `hostile`, with a
//! `read` of the client end pending, writes 32 MiB `Bounce` requests until one is
//! refused (at most 4), each timed (`value-flood: 32 MiB write #N answered in T ns`);
//! makes one `ipc` with a 32 MiB first value; writes 1 MiB requests to the server end,
//! which never reads, until one is refused (at most 128). Every refusal must be
//! `NoMemory` or `LimitReached`. Then it cancels the read and closes everything.
//!
//! Exit status: 0 every call was answered as it should be; 1 advertising, connecting
//! to itself or the pending read failed; 2 no 32 MiB write was refused; 3 a 32 MiB
//! write answered another failure; 4 the 32 MiB ipc answered another failure, or its
//! connection could not be closed; 5 no 1 MiB write was refused; 6 a 1 MiB write
//! answered another failure; 7 cancelling or closing failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::value_flood::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("value-flood is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
