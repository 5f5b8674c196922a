//! Links the bootable kernel with the x86_64 platform's linker script; host builds
//! need no linker script.

fn main() {
    let script = "platform/x86_64/link.ld";
    println!("cargo::rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let directory = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bins=-T{directory}/{script}");
        println!("cargo::rustc-link-arg-bins=--no-pie");
        println!("cargo::rustc-link-arg-bins=-zmax-page-size=0x1000");
        // Keep sections reached only through __start_/__stop_ symbols: a linked
        // rump kernel's link sets.
        println!("cargo::rustc-link-arg-bins=-znostart-stop-gc");
        // No loader makes anything read-only after relocation here; the constructor
        // and TLS sections lie where the linker script puts them.
        println!("cargo::rustc-link-arg-bins=-znorelro");
    }
}
