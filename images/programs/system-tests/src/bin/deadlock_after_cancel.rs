//! `deadlock-after-cancel` (run as mallory, alone): cancels a beep an hour ahead, leaves
//! an import on its own service pending and blocks on it. Nothing can wake it, so the
//! kernel must end it as deadlocked at once, not an hour later.
//!
//! Exit status, if the kernel lets it end by itself: 1 the beep or its cancel failed;
//! 2 advertising or the import failed; 3 block answered.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::deadlock::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("deadlock-after-cancel is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
