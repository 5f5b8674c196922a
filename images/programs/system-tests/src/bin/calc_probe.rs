//! `calc-probe`: connects to `calc` as `calc-client` does, but is a different
//! program, which the policy grants nothing: the policy decides on the program, not
//! only on the user.
//!
//! Exit status: 0 `ipc` answered `NotAuthorized`; 1 anything else (connected, or
//! refused for another reason).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::calc::probe);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("calc-probe is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
