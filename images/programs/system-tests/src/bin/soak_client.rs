//! `soak-client`: 500,000 `Bounce` round trips of 16-byte payloads on `soak` —
//! 1,000,000 messages — each reply checked against its request; prints
//! `soak-client: <n> messages` every 100,000 messages, the last being
//! `soak-client: 1000000 messages`; then sends `Shutdown`.
//!
//! Exit status: 0 every reply correct and the shutdown answered; 1 `soak` could not
//! be reached; 2 a round trip failed; 3 a reply differed from its request; 4 the
//! shutdown failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::bounce::soak_client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("soak-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
