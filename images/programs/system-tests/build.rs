//! Generates the Rust of the services' ETN types (the test services' and the boot
//! image's own) into `OUT_DIR`, and links the
//! programs at the start of the user range; host builds need no link script.

fn main() {
    for (source, generated) in [
        ("../../boot/types/services.etn", "services.rs"),
        ("../../boot/types/boot.etn", "boot.rs"),
        ("../../boot/types/files.etn", "files.rs"),
    ] {
        if let Err(error) = ethos_typesys::codegen::build_script::compile(source, generated) {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
    let script = "link.ld";
    println!("cargo::rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let directory = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bins=-T{directory}/{script}");
        println!("cargo::rustc-link-arg-bins=--no-pie");
        println!("cargo::rustc-link-arg-bins=-zmax-page-size=0x1000");
    }
}
