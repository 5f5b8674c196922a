//! Building the kernel and the programs.

use std::path::PathBuf;
use std::process::Command;

use crate::{XtaskError, command, prerequisites, target_directory, workspace_root};

/// The Rust target the kernel is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The cargo binary that runs this xtask.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the kernel in release mode and returns the path of its ELF.
pub fn build_kernel() -> Result<PathBuf, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    command::run(cargo().current_dir(workspace_root()).args([
        "build",
        "--release",
        "-p",
        "ethos-kernel",
        "--target",
        TARGET,
    ]))?;
    Ok(target_directory()
        .join(TARGET)
        .join("release")
        .join("ethos-kernel"))
}

/// Builds every program under `images/programs/` (each a cargo package for the
/// kernel target) and returns their paths. There are none until the process model
/// lands; the directory may be absent.
pub fn build_programs() -> Result<Vec<PathBuf>, XtaskError> {
    let directory = workspace_root().join("images").join("programs");
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return Ok(Vec::new());
    };
    let mut programs = Vec::new();
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let manifest = directory.join(&name).join("Cargo.toml");
        command::run(cargo().current_dir(workspace_root()).args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--manifest-path",
            &manifest.display().to_string(),
        ]))?;
        programs.push(target_directory().join(TARGET).join("release").join(&name));
    }
    Ok(programs)
}
