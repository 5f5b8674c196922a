//! `across-idle` (run as bob on host beta): the server side of the refused run. It
//! advertises `across` and `across-gamma`, so that the other host's clients meet the
//! policy rather than a service not advertised, and waits 30 s for a connection that
//! must not come; then prints `across-idle: no connection in 30 s` and ends.
//!
//! Exit status: 0 no connection came; 1 `advertise` failed; 2 `import`, `beep` or
//! waiting on them failed; 3 a connection came, though the policy refuses every
//! client of the run.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::across::idle);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("across-idle is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
