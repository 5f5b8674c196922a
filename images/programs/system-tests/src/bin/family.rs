//! `family`: `getPid`, then `fork`: the child checks that its identifier differs
//! from its parent's and becomes `hello` with `exec` (so it ends as `hello` does,
//! with 0); the parent forks a second child that spins forever and kills it, which
//! must succeed, and then kills process 999999, which must answer `NoSuchObject`.
//!
//! Exit status of the parent: 0 all checks passed; 1 `getPid` failed; 2 the first
//! `fork` failed; 3 the second `fork` failed; 4 killing the spinning child failed;
//! 5 killing process 999999 did not answer `NoSuchObject`. Of the first child, if it
//! does not become `hello`: 10 its `getPid` failed; 11 it has its parent's
//! identifier; 12 `exec` returned. The second child never ends by itself: it is
//! killed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(system_test_programs::family::run);

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("family is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
