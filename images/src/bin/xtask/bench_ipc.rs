//! `cargo xtask bench ipc`: the typed round trip between two Ethos processes (64 B
//! and 4 KiB) and a null system call, beside the same work in a Linux guest (two
//! processes and a pair of pipes, `getppid`) under the same emulator and machine,
//! and a pipe round trip between two host processes, measured in the same run.
//!
//! The Ethos side boots `init=bench` (the `bench-server` and `bench-client`
//! programs of the initial image); `bench-client` times itself with `getTime` and
//! prints its medians. The Linux guest is Debian's kernel with a static `/init`
//! doing what `bench-client` does ([`ethos_images::linux_guest`]). Each is measured
//! under TCG (several runs: the median and spread of each run's medians), under
//! `-icount shift=0,sleep=off` (twice: the guest's clock then counts instructions,
//! and the two counts must agree), and under KVM where the host has hardware
//! virtualization. Both boot on the same machine, microvm unless `--machine pc`,
//! with the same QEMU options; the Linux guest is told its TSC's rate on its
//! command line ([`linux_guest::command_line`]). Figures are printed and saved to
//! `target/bench/ipc.json`, never asserted. With `--profile` it measures nothing
//! and instead says where Ethos's round trips spend their instructions
//! ([`crate::bench_ipc_profile`]).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use ethos_images::{XtaskError, kernel, linux_guest, prerequisites};
use ethos_tests::harness::{self, Transcript, Verdict};
use ethos_tests::ipc_bench::{KernelFigures, PipeFigures, kernel_figures, measure_pipe_baseline};
use ethos_tests::linux_guest::linux_figures;
use ethos_tests::qemu::{Accelerator, Machine, QemuConfig, kvm_usable_for_figures};

use crate::bench_results::{
    self, BenchResults, Goal, ICOUNT, Measures, Metric, Spread, bench_directory,
};

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct IpcArguments {
    /// Round trips per payload size for the host pipe baseline.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub(crate) pipe_samples: u64,
    /// Measure under KVM, when the host has hardware virtualization.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) kvm: bool,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) tcg: bool,
    /// Runs per system under TCG (and KVM).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) runs: u32,
    /// Runs per system under -icount shift=0,sleep=off (0: none).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub(crate) icount_runs: u32,
    /// Measure the Linux guest beside Ethos.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) linux_guest: bool,
    /// The machine both guests boot on.
    #[arg(long, value_enum, default_value_t = BenchMachine::Microvm)]
    pub(crate) machine: BenchMachine,
    /// Instead of measuring, profile Ethos's round trips by function: one run under
    /// -icount with QEMU's execution log, each 64 B and 4 KiB round trip's
    /// instructions per kernel and program function. Saves
    /// target/bench/ipc-profile.md and ipc-profile.json.
    #[arg(long, conflicts_with_all = ["pipe_samples", "kvm", "tcg", "runs", "icount_runs", "linux_guest"])]
    pub(crate) profile: bool,
}

/// The machines the IPC figures can be taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchMachine {
    Pc,
    Microvm,
}

impl BenchMachine {
    fn machine(self) -> Machine {
        match self {
            BenchMachine::Pc => Machine::Pc,
            BenchMachine::Microvm => Machine::Microvm,
        }
    }
}

impl Default for IpcArguments {
    fn default() -> Self {
        IpcArguments {
            pipe_samples: 20_000,
            kvm: true,
            tcg: true,
            runs: 5,
            icount_runs: 2,
            linux_guest: true,
            machine: BenchMachine::Microvm,
            profile: false,
        }
    }
}

/// How the host baseline starts its echo process: this program, in echo mode.
fn echo_command() -> Result<Command, XtaskError> {
    let program = std::env::current_exe().map_err(|error| XtaskError::Spawn {
        program: "the xtask executable, as the pipe echo".into(),
        error,
    })?;
    let mut command = Command::new(program);
    command.arg("pipe-echo");
    Ok(command)
}

/// One of the two guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Ethos,
    Linux,
}

struct Guests {
    machine: Machine,
    ethos: PathBuf,
    linux: Option<LinuxGuest>,
}

/// The Linux guest's kernel and initramfs, and the host's TSC rate in kHz.
struct LinuxGuest {
    kernel: PathBuf,
    initramfs: PathBuf,
    host_tsc_khz: u64,
}

/// How Ethos boots for the benchmark on `machine`; `icount` counts instructions.
pub(crate) fn ethos_config(
    kernel: &Path,
    machine: Machine,
    accelerator: Accelerator,
    icount: bool,
) -> QemuConfig {
    let mut config = QemuConfig::pvh(kernel, "init=bench", machine, accelerator);
    if icount {
        config.extra.extend(ICOUNT.map(String::from));
    }
    config
}

impl Guests {
    fn config(&self, system: System, accelerator: Accelerator, icount: bool) -> Option<QemuConfig> {
        let mut config = match system {
            System::Ethos => {
                return Some(ethos_config(&self.ethos, self.machine, accelerator, icount));
            }
            System::Linux => {
                let linux = self.linux.as_ref()?;
                let tsc_khz = if icount {
                    linux_guest::ICOUNT_TSC_KHZ
                } else {
                    linux.host_tsc_khz
                };
                let mut config = QemuConfig::pvh(
                    &linux.kernel,
                    &linux_guest::command_line(tsc_khz, "bench=ipc"),
                    self.machine,
                    accelerator,
                );
                config
                    .extra
                    .extend(["-initrd".into(), linux.initramfs.display().to_string()]);
                config
            }
        };
        if icount {
            config.extra.extend(ICOUNT.map(String::from));
        }
        Some(config)
    }
}

/// One run's figures, or why there are none.
fn run_once(system: System, config: &QemuConfig) -> Result<KernelFigures, String> {
    let read: fn(&Transcript) -> Result<KernelFigures, String> = match system {
        System::Ethos => kernel_figures,
        System::Linux => linux_figures,
    };
    let transcript = harness::run(config, Duration::from_secs(900));
    let check: fn(&Transcript) -> Result<(), String> = match system {
        System::Ethos => |transcript| kernel_figures(transcript).map(drop),
        System::Linux => |transcript| linux_figures(transcript).map(drop),
    };
    let judged = harness::judge(
        &transcript,
        &harness::Expectation::Ends {
            code: ethos_abi::ExitCode::Success,
            check,
        },
    );
    match (judged, read(&transcript)) {
        (Verdict::Passed, Ok(figures)) => Ok(figures),
        (verdict, figures) => {
            let log = transcript
                .keep(&bench_directory().join("logs"), &format!("ipc-{system:?}"))
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            Err(format!(
                "the benchmark did not complete: {verdict:?} {:?} ({}); serial log: {log}",
                figures.err(),
                transcript.end
            ))
        }
    }
}

/// Each run's figures of `system` under one measure.
fn runs(
    guests: &Guests,
    system: System,
    accelerator: Accelerator,
    icount: bool,
    count: u32,
    commands: &mut Vec<String>,
    failed: &mut bool,
) -> Vec<KernelFigures> {
    let Some(config) = guests.config(system, accelerator, icount) else {
        return Vec::new();
    };
    println!("$ {}   (x{count})", config.display());
    commands.push(config.display());
    let mut figures = Vec::new();
    for run in 0..count {
        match run_once(system, &config) {
            Ok(these) => {
                println!(
                    "  {system:?} run {}: null {} rtt64 {} rtt4k {} samples {}",
                    run + 1,
                    these.null_call_ns,
                    these.round_trip_64_ns,
                    these.round_trip_4k_ns,
                    these.samples
                );
                figures.push(these);
            }
            Err(reason) => {
                println!("  {system:?} run {}: {reason}", run + 1);
                *failed = true;
            }
        }
    }
    figures
}

/// All of one system's runs.
#[derive(Default)]
struct Runs {
    tcg: Vec<KernelFigures>,
    kvm: Vec<KernelFigures>,
    icount: Vec<KernelFigures>,
}

impl Runs {
    fn measures(&self, pick: fn(&KernelFigures) -> u64) -> Measures {
        let spread = |runs: &[KernelFigures]| {
            Spread::of(
                &runs
                    .iter()
                    .map(|figures| pick(figures) as f64)
                    .collect::<Vec<_>>(),
            )
        };
        Measures {
            tcg_ns: spread(&self.tcg),
            kvm_ns: spread(&self.kvm),
            instructions: self.icount.iter().map(pick).collect(),
        }
    }
}

/// Measures everything: the results, and whether any run failed.
pub(crate) fn measure(arguments: &IpcArguments) -> Result<(BenchResults, bool), XtaskError> {
    let started = bench_results::now();
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let ethos = kernel::build_kernel(kernel::Flavour::Production)?;
    let linux = if arguments.linux_guest {
        Some(LinuxGuest {
            kernel: linux_guest::kernel()?,
            initramfs: linux_guest::initramfs()?,
            host_tsc_khz: linux_guest::host_tsc_khz()?,
        })
    } else {
        None
    };
    let linux_kernel =
        bench_results::linux_kernel_name(linux.as_ref().map(|linux| linux.kernel.as_path()));
    let machine = arguments.machine.machine();
    let guests = Guests {
        machine,
        ethos,
        linux,
    };
    let kvm = match (arguments.kvm, kvm_usable_for_figures()) {
        (false, _) => "not chosen".to_string(),
        (true, Ok(())) => "usable".to_string(),
        (true, Err(reason)) => reason.to_string(),
    };
    if kvm != "usable" {
        println!("no KVM figures: {kvm}");
    }
    let mut failed = false;
    println!("== host baseline: pipe round trip between two processes");
    let baseline: Option<PipeFigures> =
        match measure_pipe_baseline(echo_command()?, arguments.pipe_samples as usize) {
            Ok(figures) => Some(figures),
            Err(reason) => {
                println!("baseline: {reason}");
                failed = true;
                None
            }
        };
    let mut commands = Vec::new();
    let mut measured = |system: System| {
        let mut runs_of = Runs::default();
        if arguments.tcg {
            runs_of.tcg = runs(
                &guests,
                system,
                Accelerator::Tcg,
                false,
                arguments.runs,
                &mut commands,
                &mut failed,
            );
        }
        if kvm == "usable" {
            runs_of.kvm = runs(
                &guests,
                system,
                Accelerator::Kvm,
                false,
                arguments.runs,
                &mut commands,
                &mut failed,
            );
        }
        if arguments.icount_runs > 0 {
            runs_of.icount = runs(
                &guests,
                system,
                Accelerator::Tcg,
                true,
                arguments.icount_runs,
                &mut commands,
                &mut failed,
            );
        }
        runs_of
    };
    let ethos_runs = measured(System::Ethos);
    let linux_runs = measured(System::Linux);
    let mut notes = Vec::new();
    let samples = |runs: &Runs| {
        runs.tcg
            .iter()
            .chain(&runs.kvm)
            .chain(&runs.icount)
            .map(|figures| figures.samples)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (ethos_samples, linux_samples) = (samples(&ethos_runs), samples(&linux_runs));
    if !linux_samples.is_empty() && ethos_samples != linux_samples {
        notes.push(format!(
            "the round trips per size differ: Ethos {ethos_samples:?}, Linux guest {linux_samples:?}"
        ));
    }
    let metric =
        |key: &str, label: &str, pick: fn(&KernelFigures) -> u64, host: Option<f64>, goal| Metric {
            key: key.into(),
            label: label.into(),
            ethos: ethos_runs.measures(pick),
            linux: linux_runs.measures(pick),
            host_ns: host,
            goal: Some(goal),
        };
    let metrics = vec![
        metric(
            "null_call",
            "null system call",
            |figures| figures.null_call_ns,
            None,
            Goal::RatioOfLinux(0.5),
        ),
        metric(
            "round_trip_64",
            "64 B round trip",
            |figures| figures.round_trip_64_ns,
            baseline.map(|figures| figures.round_trip_64_ns),
            Goal::RatioOfLinux(1.0 / 3.0),
        ),
        metric(
            "round_trip_4k",
            "4 KiB round trip",
            |figures| figures.round_trip_4k_ns,
            baseline.map(|figures| figures.round_trip_4k_ns),
            Goal::RatioOfLinux(1.0),
        ),
    ];
    for metric in &metrics {
        for (system, measures) in [("Ethos", &metric.ethos), ("Linux guest", &metric.linux)] {
            if measures.instructions.len() > 1 && measures.agreed_instructions().is_none() {
                notes.push(format!(
                    "{}: the -icount runs of {system} differ ({})",
                    metric.label,
                    measures.instructions_shown()
                ));
            }
        }
    }
    let results = BenchResults {
        bench: "ipc".into(),
        commit: bench_results::commit(),
        started,
        finished: bench_results::now(),
        qemu: bench_results::qemu_version(),
        machine: machine.name().into(),
        linux_kernel,
        kvm,
        commands,
        metrics,
        notes,
    };
    Ok((results, failed))
}

pub(crate) fn ipc(arguments: &IpcArguments) -> Result<ExitCode, XtaskError> {
    if arguments.profile {
        return crate::bench_ipc_profile::profile(arguments.machine.machine());
    }
    let (results, failed) = measure(arguments)?;
    bench_results::print(&results);
    results.save_and_finish(failed)
}
