//! `across-server` (run as bob on host beta): advertises the service `across`
//! (interface `Echo`), imports one connection — from another host, through the
//! kernels' MinimaLT tunnel — and prints `across-server: connection from <user>`,
//! the name this host's image gives the client's authenticated key. It answers every
//! `Say` with the same `Say` until the client closes, then prints `across-server:
//! answered N requests` and ends.
//!
//! Exit status: 0 after the client closed; 1 `advertise` failed; 2 `import` failed;
//! 3 a `read` failed other than by the client closing; 4 a value read was no `Say`
//! (a kernel let an ill-typed value through); 5 a reply could not be written.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::across::server);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("across-server is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
