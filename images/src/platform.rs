//! Images for each platform: the PVH ELF for KVM/QEMU and Firecracker, the ELF plus
//! an `xl` configuration for Xen PVH, and a GRUB ISO (multiboot2) for bare metal.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::FileContext;
use crate::{XtaskError, command, prerequisites, target_directory};

/// Where an image boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// QEMU/KVM (and Firecracker): the kernel ELF, booted through its PVH note.
    Kvm,
    /// Xen: the same ELF and an `xl` configuration that boots it as a PVH guest.
    Xen,
    /// Bare metal: a GRUB ISO that boots the ELF through multiboot2.
    Metal,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Kvm => "kvm",
            Platform::Xen => "xen",
            Platform::Metal => "metal",
        })
    }
}

/// A file an image build produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub bytes: u64,
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.path.display(), self.bytes)
    }
}

pub fn artifact(path: PathBuf) -> Result<Artifact, XtaskError> {
    let bytes = std::fs::metadata(&path).at(&path)?.len();
    Ok(Artifact { path, bytes })
}

/// The directory an image for `platform` is written to.
pub fn image_directory(platform: Platform) -> PathBuf {
    target_directory().join("images").join(platform.to_string())
}

/// Builds the image for `platform` from the kernel ELF into `directory`.
pub fn build_image(
    platform: Platform,
    kernel: &Path,
    command_line: &str,
    directory: &Path,
) -> Result<Vec<Artifact>, XtaskError> {
    std::fs::create_dir_all(directory).at(directory)?;
    let elf = directory.join("ethos-kernel.elf");
    std::fs::copy(kernel, &elf).at(&elf)?;
    match platform {
        Platform::Kvm => Ok(vec![artifact(elf)?]),
        Platform::Xen => {
            let config = directory.join("ethos.xl.cfg");
            std::fs::write(&config, xl_config(&elf, command_line)).at(&config)?;
            Ok(vec![artifact(elf)?, artifact(config)?])
        }
        Platform::Metal => Ok(vec![artifact(grub_iso(&elf, command_line, directory)?)?]),
    }
}

/// An `xl` domain configuration booting `kernel` as a PVH guest.
pub fn xl_config(kernel: &Path, command_line: &str) -> String {
    let kernel = std::fs::canonicalize(kernel).unwrap_or_else(|_| kernel.to_path_buf());
    format!(
        "# Ethos-on-rump as a Xen PVH guest. Start it with: xl create -c <this file>\n\
         name = \"ethos\"\n\
         type = \"pvh\"\n\
         kernel = \"{}\"\n\
         cmdline = \"{}\"\n\
         memory = 256\n\
         vcpus = 1\n\
         on_poweroff = \"destroy\"\n\
         on_reboot = \"destroy\"\n\
         on_crash = \"destroy\"\n",
        kernel.display(),
        command_line.replace('"', "\\\"")
    )
}

/// The GRUB configuration of the ISO: boot at once, kernel through multiboot2.
pub fn grub_config(command_line: &str) -> String {
    format!(
        "set timeout=0\nset default=0\n\nmenuentry \"Ethos-on-rump\" {{\n    multiboot2 /boot/ethos-kernel.elf {command_line}\n    boot\n}}\n"
    )
}

fn grub_iso(elf: &Path, command_line: &str, directory: &Path) -> Result<PathBuf, XtaskError> {
    prerequisites::ensure(&prerequisites::GRUB_ISO)?;
    let root = directory.join("iso-root");
    let grub = root.join("boot").join("grub");
    std::fs::create_dir_all(&grub).at(&grub)?;
    let kernel = root.join("boot").join("ethos-kernel.elf");
    std::fs::copy(elf, &kernel).at(&kernel)?;
    let config = grub.join("grub.cfg");
    std::fs::write(&config, grub_config(command_line)).at(&config)?;
    let iso = directory.join("ethos.iso");
    command::output(Command::new("grub-mkrescue").arg("-o").arg(&iso).arg(&root))?;
    Ok(iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xl_config_names_the_kernel_and_uses_pvh() {
        let config = xl_config(Path::new("/images/ethos-kernel.elf"), "test=boot");
        assert!(config.lines().any(|line| line == "type = \"pvh\""));
        assert!(
            config
                .lines()
                .any(|line| line == "kernel = \"/images/ethos-kernel.elf\"")
        );
        assert!(config.lines().any(|line| line == "cmdline = \"test=boot\""));
    }

    #[test]
    fn grub_config_boots_multiboot2_without_waiting() {
        let config = grub_config("test=boot");
        assert!(config.contains("set timeout=0"));
        assert!(config.contains("multiboot2 /boot/ethos-kernel.elf test=boot"));
    }
}
