//! `across-soak` (run as alice on host alpha): 100,000 short `Say` requests to
//! `across` on beta, 64 waiting for their replies at a time, every reply checked
//! byte-exact and in order; prints `across-soak: 100000 replies in order`.
//!
//! Exit status: 0 every reply correct; 1 `across` could not be reached; 2 a request
//! could not be written; 3 a reply could not be read; 4 a reply differed from its
//! request.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::across::soak);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("across-soak is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
