//! `calc-server` (run as alice): advertises the service `calc` (interface
//! `Calculator`), serves every connection at once — one `block` on the import event
//! and a read event per open connection — printing `calc-server: connection from
//! <user>` for each, and on a `Shutdown` request replies, prints `calc-server: served
//! N requests, 0 malformed` (N counts every request answered, the shutdown too) and
//! ends.
//!
//! Exit status: 0 after a shutdown with no malformed request; 1 `advertise` failed;
//! 2 `import` failed; 3 a `read` failed other than by a client closing; 4 a reply
//! could not be written; 5 some request did not decode (the kernel let an ill-typed
//! request through); 6 `block` failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::calc::server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("calc-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
