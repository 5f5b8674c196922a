//! Building Ethos-on-rump images for every platform, and the pieces `cargo xtask`
//! is made of.
//!
//! Every external program is run through [`command`], which prints it first. A
//! missing tool is installed when that is possible (root with apt) and otherwise
//! named with the exact command that installs it ([`prerequisites`]).
#![forbid(unsafe_code)]

pub mod command;
pub mod disk;
pub mod error;
pub mod host_set;
pub mod initial_image;
pub mod inspect;
pub mod kernel;
pub mod layers;
pub mod linux_guest;
pub mod platform;
pub mod prerequisites;
pub mod rump_build;

pub use error::XtaskError;

use std::path::PathBuf;

/// The workspace root (the directory holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_directory() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(directory) => PathBuf::from(directory),
        None => workspace_root().join("target"),
    }
}
