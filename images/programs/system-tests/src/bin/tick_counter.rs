//! `tick-counter` (run as mallory, beside `print-flood`): waits for 100 beeps 10 ms
//! apart and prints how late the latest was answered
//! (`tick-counter: 100 beeps 10 ms apart, the latest N ms late`).
//!
//! Exit status: 0 every beep was answered; 1 `getTime` or a beep failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::print_flood::tick_counter);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("tick-counter is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
