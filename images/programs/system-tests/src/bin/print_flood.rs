//! `print-flood` (run as mallory, beside `tick-counter`): a print of 32 MiB and one of
//! 64 KiB and one byte must be refused with `InvalidArgument`; four prints of exactly
//! 64 KiB (one line: `print-flood: a print of 65536 bytes: ` and `=` to the end) must
//! succeed, the longest timed.
//!
//! Exit status: 0 every call was answered as it should be; 1 the large buffer was
//! taken; 2 the 32 MiB print was not refused with `InvalidArgument`; 3 the print one
//! byte over the limit was not; 4 a print of exactly the limit failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::print_flood::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("print-flood is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
