//! `net-bench-server` (run as bob on host beta): serves `net-bench` to one client
//! across the hosts' tunnel, answering `Bounce` values until an empty one, then
//! counting them unanswered until `Shutdown`; prints `net-bench-server: answered N,
//! counted M values of B bytes`.
//!
//! Exit status: 0 served until `Shutdown`; 1 `advertise` failed; 2 `import` failed;
//! 3 a read failed; 4 a reply could not be written; 5 a request did not decode.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::net_bench::server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("net-bench-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
