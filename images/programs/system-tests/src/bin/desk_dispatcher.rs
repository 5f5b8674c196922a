//! `desk-dispatcher` (run as alice): advertises `desk` (interface `Calculator`),
//! imports one connection, passes it with `fdSend` to the virtual process of user
//! carol running `desk-worker`, closes its own copy and ends.
//!
//! Exit status: 0 the connection was passed on; 1 `advertise` failed; 2 `import`
//! failed; 3 `fdSend` failed; 4 closing its copy failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::desk::dispatcher);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("desk-dispatcher is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
