//! Generates the Rust of the services' ETN types into `OUT_DIR`, and links the
//! programs at the start of the user range; host builds need no link script.

fn main() {
    if let Err(error) = ethos_typesys::codegen::build_script::compile(
        "../../boot/types/services.etn",
        "services.rs",
    ) {
        eprintln!("{error}");
        std::process::exit(1);
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
