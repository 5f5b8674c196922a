//! Puts the initial image the kernel embeds into the build's output directory.
//!
//! `cargo xtask build` packs the image first and names it in `ETHOS_INITIAL_IMAGE`;
//! a build without it embeds an empty file, which the kernel reports as missing when
//! it is asked to start processes.

fn main() {
    const VARIABLE: &str = "ETHOS_INITIAL_IMAGE";
    println!("cargo::rerun-if-env-changed={VARIABLE}");
    let bytes = match std::env::var(VARIABLE) {
        Ok(path) => {
            println!("cargo::rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|error| panic!("{VARIABLE}={path}: {error}"))
        }
        Err(_) => Vec::new(),
    };
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(output.join("initial.tar"), bytes).expect("the output directory is writable");
}
