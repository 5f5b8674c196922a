//! `fork-churn` (run as mallory): forks 2,000 children one after another; each says so
//! on its parent's connection and exits 0, and the parent reads what it said before
//! it forks the next.
//!
//! Exit status of the parent: 0 every child was forked and heard from; 1 advertising
//! or connecting to itself failed; 2 a fork failed; 3 reading what a child said
//! failed. Of a child: 0 it said so; 10 it could not.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::hostile::fork_churn::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fork-churn is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
