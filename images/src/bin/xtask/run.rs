//! `cargo xtask run`: boot the default image with the console on this terminal, or
//! run an init set of the initial image on Linux through the hosted platform.

use std::process::{Command, ExitCode, Stdio};

use ethos_abi::ExitCode as KernelExit;
use ethos_images::platform::{self, Platform};
use ethos_images::{XtaskError, command, kernel, prerequisites};
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

/// Where `run` runs the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RunPlatform {
    /// QEMU/KVM: the PVH kernel ELF.
    Kvm,
    /// The same ELF, booted by QEMU as Xen's PVH entry would.
    Xen,
    /// The GRUB ISO (multiboot2), on QEMU's PC.
    Metal,
    /// Linux: the initial image's init set (`init=SET`) as threads of one process
    /// on the hosted platform (kernel/platform/hosted); no QEMU.
    Hosted,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArguments {
    /// kvm boots the PVH ELF; metal boots the GRUB ISO (multiboot2, on `pc`); hosted
    /// runs `init=SET` on Linux, each program a thread.
    #[arg(long, value_enum, default_value_t = RunPlatform::Kvm)]
    platform: RunPlatform,
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
    let platform = match arguments.platform {
        RunPlatform::Kvm => Platform::Kvm,
        RunPlatform::Xen => Platform::Xen,
        RunPlatform::Metal => Platform::Metal,
        RunPlatform::Hosted => return hosted(&arguments.command_line),
    };
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let accelerator = accelerator(arguments.accel)?;
    let kernel = kernel::build_kernel(kernel::Flavour::for_command_line(&arguments.command_line))?;
    let (machine, media) = match platform {
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

/// `--platform hosted`: the hosted runner with the packed initial image and the
/// command line; success only if the run ended as a QEMU run's kernel would report
/// success.
fn hosted(command_line: &str) -> Result<ExitCode, XtaskError> {
    let build = kernel::build_hosted()?;
    let mut runner = Command::new(&build.runner);
    runner
        .arg(&build.initial_image)
        .args(command_line.split_whitespace());
    command::echo(&runner);
    let status = runner.status().map_err(|error| XtaskError::Spawn {
        program: build.runner.display().to_string(),
        error,
    })?;
    match status.code().and_then(KernelExit::from_host_status) {
        Some(KernelExit::Success) => {
            eprintln!("hosted run ended: success");
            Ok(ExitCode::SUCCESS)
        }
        Some(code) => {
            eprintln!("hosted run ended: {}", code.name());
            Ok(ExitCode::FAILURE)
        }
        None => {
            eprintln!("the hosted runner ended ({status}) without the kernel's word");
            Ok(ExitCode::FAILURE)
        }
    }
}
