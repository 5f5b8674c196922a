//! `cancel-churn` (run as mallory): 100,000 rounds each of `beep` an hour ahead, `read`
//! of a connection end nobody writes to, `import` on its own service and `fdReceive`,
//! each cancelled at once and each loop timed; then a read, an import, an fdReceive
//! and a beep made afterwards must be answered.
//!
//! Exit status: 0 every call was answered; 1 advertising or connecting to itself
//! failed; 2 a beep or its cancel failed; 3 a read or its cancel; 4 an import or its
//! cancel; 5 an fdReceive or its cancel; 6 a waiter made afterwards was not answered.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::cancel_churn::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("cancel-churn is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
