//! `across-client` (run as alice on host alpha): connects to `across` on host beta
//! with `Say("across 0")` as the first value, sends 100 more requests, request K
//! carrying K × 37 more bytes (so the later ones take more than one datagram), and
//! checks every reply byte-exact and in order. Its own kernel must refuse one
//! ill-typed value (method 9 of `Echo`) with `InvalidType`. It prints
//! `across-client: 101 replies byte-exact` and closes the connection. Run as carol,
//! whom beta's policy grants nothing, it is refused and prints `across-client: not
//! authorized`.
//!
//! Exit status: 0 every reply byte-exact; 1 the service could not be reached (not
//! advertised within 20 s, no tunnel, or refused other than by the policy); 2 a reply
//! differed from its request; 3 the policy refused the connection (`NotAuthorized`);
//! 4 the ill-typed value was not refused with `InvalidType`; 5 a request could not be
//! written; 6 a reply could not be read; 7 closing failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::across::client);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("across-client is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
