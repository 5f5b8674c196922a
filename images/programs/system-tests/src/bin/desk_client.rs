//! `desk-client` (run as bob): connects to `desk` (trying again for up to 5 s),
//! checks 10 `Add` replies — answered by carol's `desk-worker`, not by the program
//! that advertised `desk` — prints `desk-client: 10 replies correct` and sends
//! `Shutdown`.
//!
//! Exit status: as `calc-client`: 0 every reply correct and the shutdown answered;
//! 1 `desk` could not be reached; 2 a wrong sum; 3 not authorized; 5 a call failed;
//! 6 the shutdown failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::desk::client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("desk-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
