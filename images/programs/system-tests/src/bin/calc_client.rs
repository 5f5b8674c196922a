//! `calc-client`: connects to `calc` (trying again every millisecond for up to 5 s
//! while it is not advertised), checks 100 `Add` and 10 `Echo` replies, prints
//! `calc-client: 110 replies correct` and sends `Shutdown`. Run by a user the policy
//! does not grant `ipc` on `calc`, it prints `calc-client: not authorized`.
//!
//! Exit status: 0 every reply correct and the shutdown answered; 1 `calc` could not
//! be reached; 2 a wrong sum; 3 not authorized (`ipc` answered `NotAuthorized`);
//! 4 a wrong echo; 5 a call failed (refused, or its reply did not decode); 6 the
//! shutdown failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::calc::client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("calc-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
