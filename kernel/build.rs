//! Links the bootable kernel with its linker script, and puts the programs the kernel
//! embeds into the build's output directory; host builds need no linker script.
//!
//! `cargo xtask build` builds the programs first and names each in an environment
//! variable (`ETHOS_PROGRAM_HELLO`); a build without it embeds an empty file, which
//! the tests that run the program report as missing.

/// The embedded programs: the variable naming the built file, and the file name
/// under the output directory.
const PROGRAMS: [(&str, &str); 1] = [("ETHOS_PROGRAM_HELLO", "hello.elf")];

fn main() {
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (variable, file) in PROGRAMS {
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
