//! Running the generator from a `build.rs`: read an `.etn` file, write the Rust to
//! `OUT_DIR`, and tell cargo to rerun when the file changes. The including crate then
//! writes `include!(concat!(env!("OUT_DIR"), "/name.rs"));`. Never writes anywhere
//! but `OUT_DIR`.

use std::path::{Path, PathBuf};
use std::string::{String, ToString};

use super::CodegenError;

/// Generates Rust for the ETN file `source` into `OUT_DIR/output_name` and returns the
/// path written. Prints `cargo:rerun-if-changed` for the source.
pub fn compile(source: impl AsRef<Path>, output_name: &str) -> Result<PathBuf, CodegenError> {
    let source = source.as_ref();
    std::println!("cargo:rerun-if-changed={}", source.display());
    let directory = std::env::var_os("OUT_DIR").ok_or(CodegenError::MissingOutputDirectory)?;
    let output = Path::new(&directory).join(output_name);
    compile_to(source, &output)?;
    Ok(output)
}

/// Generates Rust for the ETN file `source` into the file `output`.
pub fn compile_to(source: &Path, output: &Path) -> Result<(), CodegenError> {
    let text = std::fs::read_to_string(source).map_err(|error| CodegenError::Io {
        path: source.to_path_buf(),
        error,
    })?;
    let file_name: String = source.display().to_string();
    let generated = super::generate_from_source(&file_name, &text)?;
    std::fs::write(output, generated).map_err(|error| CodegenError::Io {
        path: output.to_path_buf(),
        error,
    })
}
