//! `bench-server` (run as alice): serves `bench` (interface `Bouncer`) as
//! `soak-server` serves `soak`.
//!
//! Exit status: as `soak-server`: 0 served until a shutdown with no malformed
//! request; 1 `advertise` failed; 2 `import` failed; 3 a `read` failed or the client
//! left before `Shutdown`; 4 a reply could not be written; 5 some request did not
//! decode.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::bounce::bench_server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("bench-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
