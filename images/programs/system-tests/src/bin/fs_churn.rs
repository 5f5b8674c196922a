//! `fs-churn`: see `system_test_programs::files`, which gives the lines it prints and
//! its exit statuses.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::files::churn);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fs-churn is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
