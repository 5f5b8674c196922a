//! QEMU command lines and QEMU processes.
//!
//! Every QEMU the harness starts is registered in a process-wide list; a guard kills
//! it when dropped (also while unwinding from a panic), and the Ctrl-C handler
//! installed by [`install_interrupt_handler`] kills every registered one before the
//! program exits. No QEMU outlives the command that started it.

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};

use ethos_abi::exit::DEBUG_EXIT_DEVICE;

/// The QEMU binary, unless `ETHOS_QEMU` names another (the harness's own tests use
/// a stand-in).
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("ETHOS_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// How QEMU runs guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accelerator {
    Kvm,
    Tcg,
}

impl Accelerator {
    pub fn name(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

/// Why KVM cannot be used here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvmUnavailable(pub String);

impl fmt::Display for KvmUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KVM is not usable: {}", self.0)
    }
}

/// Whether `/dev/kvm` exists and this user may open it for reading and writing.
pub fn kvm_usable() -> Result<(), KvmUnavailable> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|error| KvmUnavailable(format!("/dev/kvm: {error}")))
}

/// Whether KVM may give figures: [`kvm_usable`], and the host CPU has hardware
/// virtualization (`vmx` or `svm` among the flags of /proc/cpuinfo). A nested
/// hypervisor can offer /dev/kvm without it and then interprets guest code, some
/// thousand times slower than the hardware would run it: right for tests, wrong for
/// figures.
pub fn kvm_usable_for_figures() -> Result<(), KvmUnavailable> {
    kvm_usable()?;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo")
        .map_err(|error| KvmUnavailable(format!("/proc/cpuinfo: {error}")))?;
    if has_virtualization_flag(&cpuinfo) {
        Ok(())
    } else {
        Err(KvmUnavailable(
            "/dev/kvm opens, but the CPU flags in /proc/cpuinfo have neither vmx (VT-x) \
             nor svm (AMD-V): guest code would be interpreted, not run"
                .into(),
        ))
    }
}

fn has_virtualization_flag(cpuinfo: &str) -> bool {
    cpuinfo.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, flags)| {
            key.trim() == "flags"
                && flags
                    .split_ascii_whitespace()
                    .any(|flag| flag == "vmx" || flag == "svm")
        })
    })
}

/// KVM when it is usable, else TCG.
pub fn best_accelerator() -> Accelerator {
    match kvm_usable() {
        Ok(()) => Accelerator::Kvm,
        Err(_) => Accelerator::Tcg,
    }
}

/// The emulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Machine {
    /// The PC with SeaBIOS: `-kernel` boots PVH through a firmware option ROM.
    Pc,
    /// QEMU's firmware-light microvm: PVH straight from `-kernel`.
    Microvm,
    /// The PC with PCI Express (Q35): SeaBIOS, and an ACPI MCFG describing ECAM.
    Q35,
    /// `microvm` without ACPI: QEMU names its virtio-mmio devices on the command line
    /// (`virtio_mmio.device=`), as Firecracker does, instead of in a DSDT.
    MicrovmWithoutAcpi,
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Pc => "pc",
            Machine::Microvm => "microvm",
            Machine::Q35 => "q35",
            Machine::MicrovmWithoutAcpi => "microvm,acpi=off",
        }
    }
}

/// What the machine boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootMedia {
    /// The kernel ELF through its PVH note, with a command line.
    PvhKernel {
        kernel: PathBuf,
        command_line: String,
    },
    /// A bootable CD image (GRUB, multiboot2); its command line is in its grub.cfg.
    Iso { image: PathBuf },
}

/// Which guest device carries the console to QEMU's standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestConsole {
    /// The 16550 UART (`-serial stdio`).
    Serial,
    /// The debug port 0xe9 (`-debugcon stdio`), as on Xen; no UART at all.
    DebugPort,
}

/// One QEMU invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuConfig {
    pub machine: Machine,
    pub accelerator: Accelerator,
    pub memory_mib: u32,
    pub media: BootMedia,
    pub console: GuestConsole,
    /// The CPU model; `None` for the accelerator's default (see [`QemuConfig::arguments`]).
    pub cpu: Option<String>,
    /// More options, appended as given (devices, netdevs, drives).
    pub extra: Vec<String>,
    /// Whether the machine has `isa-debug-exit`; without it the kernel ends the run
    /// by a reset and its `@ethos exit` report is the verdict.
    pub exit_device: bool,
}

impl QemuConfig {
    /// A PVH boot of `kernel` with `command_line`.
    pub fn pvh(
        kernel: &Path,
        command_line: &str,
        machine: Machine,
        accelerator: Accelerator,
    ) -> Self {
        QemuConfig {
            machine,
            accelerator,
            memory_mib: 256,
            media: BootMedia::PvhKernel {
                kernel: kernel.to_path_buf(),
                command_line: command_line.to_string(),
            },
            console: GuestConsole::Serial,
            cpu: None,
            extra: Vec::new(),
            exit_device: true,
        }
    }

    /// The arguments after the binary name.
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments: Vec<String> = vec![
            "-M".into(),
            self.machine.name().into(),
            "-accel".into(),
            self.accelerator.name().into(),
            "-cpu".into(),
            // `max` exposes every feature the accelerator can; under KVM here it
            // fails on an MSR the host refuses, so KVM gets QEMU's default model.
            match (&self.cpu, self.accelerator) {
                (Some(model), _) => model.clone(),
                (None, Accelerator::Kvm) => "qemu64".into(),
                (None, Accelerator::Tcg) => "max".into(),
            },
            "-m".into(),
            format!("{}M", self.memory_mib),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
        ];
        match self.console {
            GuestConsole::Serial => arguments.extend(["-serial".into(), "stdio".into()]),
            GuestConsole::DebugPort => arguments.extend([
                "-serial".into(),
                "none".into(),
                "-debugcon".into(),
                "stdio".into(),
            ]),
        }
        if self.exit_device {
            arguments.extend(["-device".into(), DEBUG_EXIT_DEVICE.into()]);
        }
        match &self.media {
            BootMedia::PvhKernel {
                kernel,
                command_line,
            } => {
                arguments.push("-kernel".into());
                arguments.push(kernel.display().to_string());
                arguments.push("-append".into());
                arguments.push(command_line.clone());
            }
            BootMedia::Iso { image } => {
                arguments.push("-cdrom".into());
                arguments.push(image.display().to_string());
                arguments.push("-boot".into());
                arguments.push("d".into());
            }
        }
        arguments.extend(self.extra.iter().cloned());
        arguments
    }

    /// The command, ready to spawn (stdin closed, serial on stdout).
    pub fn command(&self) -> Command {
        let mut command = Command::new(qemu_binary());
        command.args(self.arguments());
        command
    }

    /// The command line as a shell would show it, for echoing.
    pub fn display(&self) -> String {
        std::iter::once(qemu_binary().display().to_string())
            .chain(
                self.arguments()
                    .into_iter()
                    .map(|argument| shell_quote(&argument)),
            )
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quotes an argument for display when it holds characters a shell would split on.
pub fn shell_quote(argument: &str) -> String {
    if !argument.is_empty()
        && argument
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
    {
        argument.to_string()
    } else {
        format!("'{}'", argument.replace('\'', r"'\''"))
    }
}

/// Process ids of running QEMUs, for the Ctrl-C handler.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

fn kill_pid(pid: u32) {
    // Pids leave the list before `wait` hands them back to the system, so a listed
    // pid is still this program's child.
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Installs (once) a Ctrl-C/termination handler that kills every running QEMU and
/// exits with status 130.
pub fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        let result = ctrlc::set_handler(|| {
            let pids = RUNNING.lock().map(|pids| pids.clone()).unwrap_or_default();
            for pid in &pids {
                kill_pid(*pid);
            }
            eprintln!("\ninterrupted: stopped {} QEMU process(es)", pids.len());
            std::process::exit(130);
        });
        if let Err(error) = result {
            eprintln!("warning: cannot install the Ctrl-C handler: {error}");
        }
    });
}

/// A running QEMU that is killed and reaped when dropped.
#[derive(Debug)]
pub struct QemuProcess {
    child: Child,
    reaped: bool,
}

impl QemuProcess {
    /// Spawns `command` with the given stdout (stderr captured) and registers it.
    pub fn spawn(command: Command, stdout: Stdio) -> std::io::Result<QemuProcess> {
        Self::spawn_with(command, stdout, Stdio::piped())
    }

    /// Spawns `command` with the given stdout and stderr and registers it.
    pub fn spawn_with(
        mut command: Command,
        stdout: Stdio,
        stderr: Stdio,
    ) -> std::io::Result<QemuProcess> {
        install_interrupt_handler();
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()?;
        if let Ok(mut pids) = RUNNING.lock() {
            pids.push(child.id());
        }
        Ok(QemuProcess {
            child,
            reaped: false,
        })
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn unregister(&self) {
        if let Ok(mut pids) = RUNNING.lock() {
            pids.retain(|pid| *pid != self.child.id());
        }
    }

    /// Whether it has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.unregister();
            self.reaped = true;
        }
        Ok(status)
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait()?;
        self.unregister();
        self.reaped = true;
        Ok(status)
    }

    /// Kills it and waits for it.
    pub fn kill(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.unregister();
            self.reaped = true;
        }
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvh_command_line_has_everything_a_test_boot_needs() {
        let config = QemuConfig::pvh(
            Path::new("/k/ethos-kernel"),
            "test=heap log=debug",
            Machine::Microvm,
            Accelerator::Tcg,
        );
        let arguments = config.arguments();
        let joined = arguments.join(" ");
        for needed in [
            "-M microvm",
            "-accel tcg",
            "-no-reboot",
            "-serial stdio",
            "-display none",
            "-device isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel /k/ethos-kernel",
        ] {
            assert!(joined.contains(needed), "missing `{needed}` in {joined}");
        }
        let append = arguments.iter().position(|a| a == "-append").unwrap();
        assert_eq!(arguments[append + 1], "test=heap log=debug");
        assert!(config.display().contains("'test=heap log=debug'"));
    }

    #[test]
    fn iso_boots_from_cdrom() {
        let config = QemuConfig {
            media: BootMedia::Iso {
                image: PathBuf::from("/i/ethos.iso"),
            },
            ..QemuConfig::pvh(Path::new("/k"), "", Machine::Pc, Accelerator::Kvm)
        };
        let joined = config.arguments().join(" ");
        assert!(joined.contains("-cdrom /i/ethos.iso -boot d"), "{joined}");
        assert!(!joined.contains("-kernel"));
    }

    #[test]
    fn a_cpu_model_replaces_the_default() {
        let default = QemuConfig::pvh(Path::new("/k"), "", Machine::Microvm, Accelerator::Tcg);
        assert!(default.arguments().join(" ").contains("-cpu max"));
        let chosen = QemuConfig {
            cpu: Some("qemu64".into()),
            ..default
        };
        let joined = chosen.arguments().join(" ");
        assert!(joined.contains("-cpu qemu64"), "{joined}");
        assert!(!joined.contains("-cpu max"), "{joined}");
    }

    #[test]
    fn hardware_virtualization_is_read_from_the_cpu_flags() {
        assert!(has_virtualization_flag(
            "processor\t: 0\nflags\t\t: fpu vme vmx sse\n"
        ));
        assert!(has_virtualization_flag("flags\t\t: fpu svm\n"));
        assert!(!has_virtualization_flag(
            "flags\t\t: fpu vme hypervisor sse\n"
        ));
        assert!(!has_virtualization_flag(
            "vmx flags\t: vnmi preemption_timer\n"
        ));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("plain-word_1.2"), "plain-word_1.2");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
