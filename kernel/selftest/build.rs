//! Puts the `hello` program the user-mode tests run into the build's output directory.
//!
//! `cargo xtask build` builds it first and names it in `ETHOS_PROGRAM_HELLO`; a build
//! without it embeds an empty file, which those tests report as missing.

fn main() {
    const VARIABLE: &str = "ETHOS_PROGRAM_HELLO";
    println!("cargo::rerun-if-env-changed={VARIABLE}");
    let bytes = match std::env::var(VARIABLE) {
        Ok(path) => {
            println!("cargo::rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|error| panic!("{VARIABLE}={path}: {error}"))
        }
        Err(_) => Vec::new(),
    };
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(output.join("hello.elf"), bytes).expect("the output directory is writable");
}
