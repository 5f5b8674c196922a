//! `cargo xtask run`: boot the default image with the console on this terminal.

use std::process::{ExitCode, Stdio};

use ethos_abi::ExitCode as KernelExit;
use ethos_images::platform::{self, Platform};
use ethos_images::{XtaskError, kernel, prerequisites};
use ethos_tests::qemu::{
    Accelerator, BootMedia, Machine, QemuConfig, QemuProcess, best_accelerator, kvm_usable,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AcceleratorChoice {
    /// KVM when /dev/kvm is usable, else TCG.
    Auto,
    Kvm,
    Tcg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MachineChoice {
    /// QEMU's microvm: no firmware between QEMU and the kernel's PVH entry.
    Microvm,
    /// The PC: SeaBIOS, then PVH through an option ROM (or the ISO for metal).
    Pc,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArguments {
    /// kvm boots the PVH ELF; metal boots the GRUB ISO (multiboot2, on `pc`).
    #[arg(long, value_enum, default_value_t = Platform::Kvm)]
    platform: Platform,
    #[arg(long, value_enum, default_value_t = AcceleratorChoice::Auto)]
    accel: AcceleratorChoice,
    /// The machine for the PVH ELF (the ISO always boots on `pc`).
    #[arg(long, value_enum, default_value_t = MachineChoice::Microvm)]
    machine: MachineChoice,
    /// The kernel command line, e.g. `test=heap log=debug` (a `test=` word builds the
    /// kernel with its in-kernel tests).
    #[arg(long, default_value = "")]
    command_line: String,
}

pub(crate) fn accelerator(choice: AcceleratorChoice) -> Result<Accelerator, XtaskError> {
    match choice {
        AcceleratorChoice::Auto => Ok(best_accelerator()),
        AcceleratorChoice::Tcg => Ok(Accelerator::Tcg),
        AcceleratorChoice::Kvm => {
            kvm_usable()
                .map(|()| Accelerator::Kvm)
                .map_err(|error| XtaskError::MissingTool {
                    tool: "/dev/kvm".into(),
                    install: format!("enable KVM for this user or pass --accel tcg ({error})"),
                })
        }
    }
}

pub(crate) fn run(arguments: &RunArguments) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let accelerator = accelerator(arguments.accel)?;
    let kernel = kernel::build_kernel(kernel::Flavour::for_command_line(&arguments.command_line))?;
    let (machine, media) = match arguments.platform {
        Platform::Kvm | Platform::Xen => {
            let machine = match arguments.machine {
                MachineChoice::Microvm => Machine::Microvm,
                MachineChoice::Pc => Machine::Pc,
            };
            let media = BootMedia::PvhKernel {
                kernel,
                command_line: arguments.command_line.clone(),
            };
            (machine, media)
        }
        Platform::Metal => {
            let directory = platform::image_directory(Platform::Metal);
            let artifacts = platform::build_image(
                Platform::Metal,
                &kernel,
                &arguments.command_line,
                &directory,
            )?;
            let image = artifacts
                .into_iter()
                .next()
                .map(|artifact| artifact.path)
                .unwrap_or_else(|| directory.join("ethos.iso"));
            (Machine::Pc, BootMedia::Iso { image })
        }
    };
    let mut config = QemuConfig::pvh(std::path::Path::new(""), "", machine, accelerator);
    config.media = media;
    eprintln!("$ {}", config.display());
    let mut process = QemuProcess::spawn_with(config.command(), Stdio::inherit(), Stdio::inherit())
        .map_err(|error| XtaskError::Spawn {
            program: "qemu-system-x86_64".into(),
            error,
        })?;
    let status = process.wait().map_err(|error| XtaskError::Spawn {
        program: "qemu-system-x86_64".into(),
        error,
    })?;
    match status.code().and_then(KernelExit::from_qemu_status) {
        Some(KernelExit::Success) => {
            eprintln!("kernel exited: success");
            Ok(ExitCode::SUCCESS)
        }
        Some(code) => {
            eprintln!("kernel exited: {}", code.name());
            Ok(ExitCode::FAILURE)
        }
        None => {
            eprintln!("QEMU ended ({status}) without the kernel's exit code");
            Ok(ExitCode::FAILURE)
        }
    }
}
