//! `events`: `beep(+200 ms)` = e1, `beep(+20 ms)` = e2, `fdReceive` = e3 (nothing is
//! ever sent, so it never completes); `block([e1, e2, e3])` must answer e2 after at
//! least 20 ms; `cancel(e3)` succeeds and `retire(e3)` then fails; `block([e1])`
//! answers e1 after at least 200 ms; a `beep(+10 s)` is cancelled, and `block` on a
//! new `beep(+10 ms)` answers it (well before the 10 s). Then compat's executor:
//! `join` of 30 ms and 10 ms sleeps ends after at least 30 ms, and `select` of 5 ms
//! and 10 s sleeps ends with the first. Every step is printed. The policy must grant
//! the user running it `fd-receive` on the program's label.
//!
//! Exit status: 0 every check passed; 1 `getTime` failed; 2 `beep` or `fdReceive`
//! failed; 3 the first `block` did not answer e2; 4 it answered before 20 ms; 5
//! retiring e2 failed; 6 cancelling e3 failed; 7 retiring e3 succeeded after its
//! cancel; 8 `block([e1])` did not answer e1; 9 it answered before 200 ms; 10
//! cancelling the 10 s beep failed; 11 the 10 ms beep was not answered, or only
//! after 5 s; 12 the `join` was wrong or early; 13 the `select` was wrong or late.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::events::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("events is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
