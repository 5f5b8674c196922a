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

/// Builds the programs, then the kernel in release mode with the programs it embeds
/// (see the kernel's `build.rs`), and returns the path of the kernel's ELF.
pub fn build_kernel() -> Result<PathBuf, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    let programs = build_programs()?;
    let mut build = cargo();
    for program in &programs {
        if let Some(name) = program.file_name() {
            let variable = format!(
                "ETHOS_PROGRAM_{}",
                name.to_string_lossy().to_uppercase().replace('-', "_")
            );
            build.env(variable, program);
        }
    }
    command::run(build.current_dir(workspace_root()).args([
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
/// kernel target, built from its own directory so that its `.cargo/config.toml`
/// adds its code generation flags) and returns their paths.
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
        command::run(cargo().current_dir(directory.join(&name)).args([
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
