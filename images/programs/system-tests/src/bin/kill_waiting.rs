//! `kill-waiting` (run as mallory): forks 1,000 children that each leave a read, a
//! beep an hour ahead, an import and an fdReceive pending and block on them, and
//! kills each; then forks 100 children that each set 1,000 beeps an hour ahead and
//! exit; then a read, an import, an fdReceive and a beep it makes must be answered.
//!
//! Exit status of the parent: 0 every call was answered; 1 advertising or connecting
//! to itself failed; 2 a fork failed; 3 reading what a child said failed; 4 killing a
//! waiting child failed; 5 a waiter made afterwards was not answered. Of a child: 0
//! (one that set its timers and exited); 10 it could not make its waiters or timers
//! or say so; 11 its block answered. A waiting child is killed by its parent.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::kill_waiting::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kill-waiting is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
