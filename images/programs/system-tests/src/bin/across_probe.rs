//! `across-probe` (run as alice on host alpha): three connections to another host
//! that the kernels must refuse, each printed as `across-probe: <check> refused:
//! <status>`: (a) `across` on beta from this program, which the policy grants
//! `across` towards `nowhere` only (alice is granted beta only for `across-client`):
//! `NotAuthorized`; (b)
//! `across-gamma` on beta, whose grants name only host gamma: `NotAuthorized`, from
//! either kernel; (c) `across` on `nowhere`, a host no directory lists:
//! `TunnelNotCreated`.
//!
//! Exit status: 0 all three refused as expected; else the first that was not: 1 (a),
//! 2 (b), 3 (c).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::across::probe);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("across-probe is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
