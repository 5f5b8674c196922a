//! `soak-server` (run as alice): advertises `soak` (interface `Bouncer`), serves one
//! connection, answering each `Bounce` with its payload, until `Shutdown`; then
//! prints `soak-server: served N requests, 0 malformed`.
//!
//! Exit status: 0 served until a shutdown with no malformed request; 1 `advertise`
//! failed; 2 `import` failed; 3 a `read` failed or the client left before `Shutdown`;
//! 4 a reply could not be written; 5 some request did not decode.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::bounce::soak_server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("soak-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
