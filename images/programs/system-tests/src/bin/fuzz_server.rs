//! `fuzz-server` (run as alice): advertises `fuzz` (interface `Calculator`) beside
//! `syscall-fuzz` and serves every connection whatever its client does, so that the
//! fuzzers' `ipc`, `read` and `write` calls meet a live server; ends when the first
//! fuzzer sends its stop text, printing `fuzz-server: served N requests, 0 malformed,
//! C connections`.
//!
//! Exit status: 0 stopped by the first fuzzer; 1 `advertise` failed; 2 `import`
//! failed; 6 `block` failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::fuzz::server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fuzz-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
