//! For the kernel crates' build scripts: a file the build made, named in an
//! environment variable, copied into the crate's output directory for
//! `include_bytes!`.
//!
//! `cargo xtask build` builds the programs and packs the initial image first and names
//! each in its variable; a build without the variable embeds an empty file, which the
//! kernel reports as missing where it needs it.

/// Copies the file `variable` names to `file` in `OUT_DIR` (an empty file when the
/// variable is unset), and has cargo rerun the script when either changes.
pub(crate) fn embed(variable: &str, file: &str) {
    println!("cargo::rerun-if-env-changed={variable}");
    let bytes = match std::env::var(variable) {
        Ok(path) => {
            println!("cargo::rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|error| panic!("{variable}={path}: {error}"))
        }
        Err(_) => Vec::new(),
    };
    let output = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(output.join(file), bytes).expect("the output directory is writable");
}
