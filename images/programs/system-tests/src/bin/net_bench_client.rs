//! `net-bench-client` (run as alice on host alpha): times the first `ipc` to
//! `net-bench` on beta up to its reply, median 64 B and 4 KiB round trips, and a
//! one-way bulk transfer of 4 KiB values, and prints one line
//! `net-bench setup_ns=<n> connect_tries=<n> rtt64_ns=<n> rtt4k_ns=<n> samples=<n>
//! bulk_values=<n> bulk_bytes=<n> bulk_ns=<n>`. Benchmarks never fail on time.
//!
//! Exit status: 0 measured; 1 `net-bench` on beta could not be reached; 2 `getTime`
//! failed; 3 a call failed; 4 a reply differed from its request; 5 a bulk value could
//! not be written.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::net_bench::client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("net-bench-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
