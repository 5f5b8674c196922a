//! The host tools the project needs, found or installed.
//!
//! As root on a Debian or Ubuntu machine, a missing tool is installed with apt
//! (the command is echoed); anywhere else the error names the exact command to run.

use std::path::Path;
use std::process::Command;

use crate::{XtaskError, command};

/// A program and the Debian package that provides it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// A program on `PATH`, or an absolute path that must exist.
    pub program: &'static str,
    pub package: &'static str,
}

/// QEMU for x86_64.
pub const QEMU: Tool = Tool {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};

/// NetBSD's `makefs`, which makes the FFS disks of the rump store.
pub const MAKEFS: Tool = Tool {
    program: "makefs",
    package: "makefs",
};

/// What `grub-mkrescue` needs to make a BIOS-bootable ISO.
pub const GRUB_ISO: [Tool; 4] = [
    Tool {
        program: "grub-mkrescue",
        package: "grub-common",
    },
    Tool {
        program: "/usr/lib/grub/i386-pc/multiboot2.mod",
        package: "grub-pc-bin",
    },
    Tool {
        program: "xorriso",
        package: "xorriso",
    },
    Tool {
        program: "mformat",
        package: "mtools",
    },
];

/// What the host-ping matrix rows need: `ip` to make a tap device, `ping` to ping
/// the guest through it.
pub const HOST_NETWORK: [Tool; 2] = [
    Tool {
        program: "ip",
        package: "iproute2",
    },
    Tool {
        program: "ping",
        package: "iputils-ping",
    },
];

fn present(tool: &Tool) -> bool {
    if tool.program.starts_with('/') {
        return Path::new(tool.program).exists();
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|directory| directory.join(tool.program).is_file())
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// Makes sure every tool is present, installing missing ones where possible.
pub fn ensure(tools: &[Tool]) -> Result<(), XtaskError> {
    let mut packages: Vec<&str> = tools
        .iter()
        .filter(|tool| !present(tool))
        .map(|tool| tool.package)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", packages.join(" "));
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !(apt && running_as_root()) {
        let missing = tools
            .iter()
            .filter(|tool| !present(tool))
            .map(|tool| tool.program)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(XtaskError::MissingTool {
            tool: missing,
            install: format!("sudo apt-get update && sudo {install}"),
        });
    }
    command::run(Command::new("apt-get").arg("update").arg("-qq"))?;
    command::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    match tools.iter().find(|tool| !present(tool)) {
        None => Ok(()),
        Some(tool) => Err(XtaskError::MissingTool {
            tool: tool.program.to_string(),
            install,
        }),
    }
}

/// Makes sure the Rust target the kernel builds for is installed.
pub fn ensure_kernel_target() -> Result<(), XtaskError> {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // Without rustup, cargo reports a missing target itself.
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&output.stdout);
    if installed
        .lines()
        .any(|line| line.trim() == crate::kernel::TARGET)
    {
        return Ok(());
    }
    command::run(Command::new("rustup").args(["target", "add", crate::kernel::TARGET]))
}
