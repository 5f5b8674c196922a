//! `desk-worker` (run as carol): collects one connection with `fdReceive`, serves
//! `Calculator` requests on it until `Shutdown`, and prints `desk-worker: served N
//! requests for carol, 0 malformed` (N counts the shutdown; the user is the one the
//! worker runs for, named by `getUser`).
//!
//! Exit status: 0 served until a shutdown with no malformed request; 1 `fdReceive`
//! failed; 2 the batch did not hold exactly one descriptor; 3 a `read` failed or the
//! client left before `Shutdown`; 4 a reply could not be written; 5 some request did
//! not decode; 6 `getUser` failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::desk::worker);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("desk-worker is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
