//! `bench-client`: measures with `getTime` the median cost of a null system call
//! (10,000 `getPid` calls) and the median round trip of 2,000 typed `Bounce` calls
//! with 64-byte and with 4-KiB payloads, each less the median cost of reading the
//! clock, and prints exactly one line
//! `bench null_ns=<n> rtt64_ns=<n> rtt4k_ns=<n> samples=2000` (`samples`: round trips
//! per payload size); then sends `Shutdown`. Benchmarks never fail on time.
//!
//! Exit status: 0 measured and the shutdown answered; 1 `bench` could not be
//! reached; 2 `getTime` or `getPid` failed; 3 a bounce failed; 4 a reply differed
//! from its request; 5 the shutdown failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::bounce::bench_client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("bench-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
