//! Links the bootable kernel with its linker script, and puts the files the kernel
//! embeds (programs, the initial image) into the build's output directory; host
//! builds need no linker script.
//!
//! `cargo xtask build` builds the programs and packs the initial image first and
//! names each file in an environment variable (`ETHOS_PROGRAM_HELLO`,
//! `ETHOS_INITIAL_IMAGE`); a build without one embeds an empty file, which the tests
//! that need it report as missing.

/// The embedded files: the variable naming the built file, and the file name under
/// the output directory.
const EMBEDDED: [(&str, &str); 2] = [
    ("ETHOS_PROGRAM_HELLO", "hello.elf"),
    ("ETHOS_INITIAL_IMAGE", "initial.tar"),
];

fn main() {
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (variable, file) in EMBEDDED {
        println!("cargo::rerun-if-env-changed={variable}");
        let bytes = match std::env::var(variable) {
            Ok(path) => {
                println!("cargo::rerun-if-changed={path}");
                std::fs::read(&path).unwrap_or_else(|error| panic!("{variable}={path}: {error}"))
            }
            Err(_) => Vec::new(),
        };
        std::fs::write(output.join(file), bytes).expect("the output directory is writable");
    }
    let script = "src/arch/x86_64/link.ld";
    println!("cargo::rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let directory = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bins=-T{directory}/{script}");
        println!("cargo::rustc-link-arg-bins=--no-pie");
        println!("cargo::rustc-link-arg-bins=-zmax-page-size=0x1000");
    }
}
