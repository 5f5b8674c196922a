//! Declares `cfg(rump_linked)` when `RUMPKERNEL_DIR` names a rump kernel build (then
//! rump-sys links it into this crate's tests), and keeps the link sets of the rump
//! components in the test binaries (`-z nostart-stop-gc`, as rump-sys's README asks
//! of every binary that links it).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rump_linked)");
    println!("cargo::rerun-if-env-changed=RUMPKERNEL_DIR");
    let named = std::env::var_os("RUMPKERNEL_DIR").is_some_and(|value| !value.is_empty());
    let hosted = std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none");
    if named && hosted {
        println!("cargo::rustc-cfg=rump_linked");
        println!("cargo::rustc-link-arg=-Wl,-z,nostart-stop-gc");
    }
}
