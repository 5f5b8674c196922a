//! `calc-ill-typed`: connects to `calc` and writes four byte strings that are no
//! `Calculator` request — an unknown method, a truncated `Add`, an `Add` reply in the
//! request direction, an `Echo` whose text is not UTF-8 — each of which the kernel
//! must refuse with `InvalidType`; then `Add(2, 3)` must still answer 5, and it sends
//! `Shutdown`.
//!
//! Exit status: 0 all checks passed; 1 `calc` could not be reached; 2 the unknown
//! method was not refused with `InvalidType`; 3 the truncated `Add` was not; 4 the
//! reply-shaped request was not; 5 the non-UTF-8 `Echo` was not; 6 `Add(2, 3)` did
//! not answer 5; 7 the shutdown failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::calc::ill_typed);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("calc-ill-typed is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
