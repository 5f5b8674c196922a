//! `cargo xtask check`: the gate every change passes before its tests run.
//!
//! Formatting (`cargo fmt --check`) over the whole workspace, then clippy with
//! `-D warnings` twice: once for the host (every workspace crate, tests and examples
//! included) and once for `x86_64-unknown-none` (the kernel and the programs, each
//! built from the directory whose `.cargo/config.toml` sets its code generation, as
//! `cargo xtask build` builds them), and the kernel's layering (no crate imports
//! one above it; only the platforms, rump-sys and compat's `syscall` hold `unsafe`;
//! see `ethos_images::layers`). Every step runs even when one fails, so one run
//! lists every finding; the command fails if any step did.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use ethos_images::kernel::TARGET;
use ethos_images::{XtaskError, command, layers, prerequisites, workspace_root};

/// Every rump-sys feature that selects rump kernel components: with them all, the whole
/// facade over the rump kernel compiles (and is linted) without a rump kernel build.
const RUMP_COMPONENT_FEATURES: &str =
    "vfs,dev,tmpfs,kernfs,ffs,ext2fs,disk,net,inet,inet6,shmif,virtif";

/// What is built for the kernel target (package and feature arguments), and the
/// directory each is built from: the kernel as users get it and with its in-kernel
/// tests, the rump hypercalls and facade without the standard library, and the programs.
const KERNEL_TARGET_BUILDS: [(&[&str], &str); 5] = [
    (&["-p", "ethos-kernel"], "."),
    (&["-p", "ethos-kernel", "--features", "selftest"], "."),
    // The rump backends, hypercalls and PCI glue: checked without a rump build.
    (&["-p", "ethos-kernel", "--features", "selftest,rump"], "."),
    (
        &[
            "-p",
            "rump-sys",
            "--no-default-features",
            "--features",
            RUMP_COMPONENT_FEATURES,
        ],
        ".",
    ),
    (
        &["-p", "hello", "-p", "system-test-programs"],
        "images/programs",
    ),
];

/// One step of the gate: what it checks and the command that checks it.
struct Step {
    what: String,
    command: Command,
}

fn cargo(directory: PathBuf, arguments: &[&str]) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(directory).args(arguments);
    command
}

fn steps() -> Vec<Step> {
    let root = workspace_root();
    let mut steps = vec![
        Step {
            what: "formatting".into(),
            command: cargo(root.clone(), &["fmt", "--all", "--check"]),
        },
        Step {
            what: "clippy, host".into(),
            command: cargo(
                root.clone(),
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        },
        Step {
            what: "clippy, host: rump-sys with every component feature".into(),
            command: cargo(
                root.clone(),
                &[
                    "clippy",
                    "-p",
                    "rump-sys",
                    "--all-targets",
                    "--features",
                    RUMP_COMPONENT_FEATURES,
                    "--features",
                    "sysproxy",
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        },
    ];
    for (selection, directory) in KERNEL_TARGET_BUILDS {
        let mut arguments = vec!["clippy", "--target", TARGET];
        arguments.extend(selection);
        arguments.extend(["--", "-D", "warnings"]);
        steps.push(Step {
            what: format!("clippy, {TARGET}: {}", selection.join(" ")),
            command: cargo(root.join(directory), &arguments),
        });
    }
    steps
}

pub(crate) fn check() -> Result<ExitCode, XtaskError> {
    prerequisites::ensure_kernel_target()?;
    let mut failed = Vec::new();
    match layers::violations(&workspace_root(), layers::LAYERS) {
        Ok(found) if found.is_empty() => {
            println!("layers: every crate imports only crates below it")
        }
        Ok(found) => {
            for violation in &found {
                eprintln!("error: {violation}");
            }
            failed.push("layers".to_string());
        }
        Err(error) => {
            eprintln!("error: layers: {error}");
            failed.push("layers".to_string());
        }
    }
    for mut step in steps() {
        if let Err(error) = command::run(&mut step.command) {
            eprintln!("error: {error}");
            failed.push(step.what);
        }
    }
    if failed.is_empty() {
        println!("check passed: layers, formatting and clippy (host and {TARGET})");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("check failed: {}", failed.join("; "));
        Ok(ExitCode::FAILURE)
    }
}
