//! `cargo xtask bench ipc`: the typed round trip between two Ethos processes (64 B
//! and 4 KiB) and a null system call, against a Linux pipe round trip between two
//! host processes with the same payloads, measured in the same run.
//!
//! The kernel side boots `init=bench` (the `bench-server` and `bench-client`
//! programs of the initial image) under KVM when it is usable and under TCG;
//! `bench-client` times itself with `getTime` and prints its medians. Figures are
//! printed, never asserted.

use std::process::{Command, ExitCode};
use std::time::Duration;

use ethos_images::{XtaskError, kernel, prerequisites};
use ethos_tests::harness::{self, Verdict};
use ethos_tests::ipc_bench::{KernelFigures, PipeFigures, kernel_figures, measure_pipe_baseline};
use ethos_tests::qemu::{Accelerator, Machine, QemuConfig, kvm_usable};

#[derive(Debug, clap::Args)]
pub(crate) struct IpcArguments {
    /// Round trips per payload size for the host pipe baseline.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pipe_samples: u64,
    /// Measure under KVM, when it is usable.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    kvm: bool,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tcg: bool,
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

pub(crate) fn ipc(arguments: &IpcArguments) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let kernel = kernel::build_kernel(kernel::Flavour::Production)?;
    let mut accelerators = Vec::new();
    if arguments.kvm {
        match kvm_usable() {
            Ok(()) => accelerators.push(Accelerator::Kvm),
            Err(reason) => println!("skipping KVM: {reason}"),
        }
    }
    if arguments.tcg {
        accelerators.push(Accelerator::Tcg);
    }
    if accelerators.is_empty() {
        println!("nothing to measure: KVM is not usable or not chosen, and TCG is not chosen");
        return Ok(ExitCode::FAILURE);
    }
    let mut failed = false;
    println!("== host baseline: pipe round trip between two processes");
    let baseline = match measure_pipe_baseline(echo_command()?, arguments.pipe_samples as usize) {
        Ok(figures) => Some(figures),
        Err(reason) => {
            println!("baseline: {reason}");
            failed = true;
            None
        }
    };
    let mut rows: Vec<(Accelerator, KernelFigures)> = Vec::new();
    for accelerator in accelerators {
        let config = QemuConfig::pvh(&kernel, "init=bench", Machine::Microvm, accelerator);
        println!("$ {}", config.display());
        let transcript = harness::run(&config, Duration::from_secs(600));
        let judged = harness::judge(
            &transcript,
            &harness::Expectation::Ends {
                code: ethos_abi::ExitCode::Success,
                check: |transcript| kernel_figures(transcript).map(|_| ()),
            },
        );
        match (judged, kernel_figures(&transcript)) {
            (Verdict::Passed, Ok(figures)) => rows.push((accelerator, figures)),
            (verdict, figures) => {
                println!(
                    "  {}: the benchmark did not complete: {verdict:?} {:?} ({})",
                    accelerator.name(),
                    figures.err(),
                    transcript.end
                );
                failed = true;
            }
        }
    }
    print_table(&rows, baseline);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(rows: &[(Accelerator, KernelFigures)], baseline: Option<PipeFigures>) {
    println!();
    println!(
        "{:<22} {:>14} {:>14} {:>16} {:>12}",
        "median, ns", "Ethos", "host pipe", "Ethos / host", "samples"
    );
    for (accelerator, figures) in rows {
        let name = accelerator.name();
        let ratio = |ours: u64, theirs: Option<f64>| match theirs {
            Some(theirs) if theirs > 0.0 => format!("{:.3}x", ours as f64 / theirs),
            _ => "-".to_string(),
        };
        let host_64 = baseline.map(|figures| figures.round_trip_64_ns);
        let host_4k = baseline.map(|figures| figures.round_trip_4k_ns);
        let shown =
            |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.0}"));
        println!(
            "{:<22} {:>14} {:>14} {:>16} {:>12}",
            format!("null call ({name})"),
            figures.null_call_ns,
            "-",
            "-",
            figures.samples
        );
        println!(
            "{:<22} {:>14} {:>14} {:>16} {:>12}",
            format!("64 B round trip ({name})"),
            figures.round_trip_64_ns,
            shown(host_64),
            ratio(figures.round_trip_64_ns, host_64),
            figures.samples
        );
        println!(
            "{:<22} {:>14} {:>14} {:>16} {:>12}",
            format!("4 KiB round trip ({name})"),
            figures.round_trip_4k_ns,
            shown(host_4k),
            ratio(figures.round_trip_4k_ns, host_4k),
            figures.samples
        );
    }
    println!("goal: the 64 B typed round trip at most 1/3 of the host pipe's (ratio <= 0.333x)");
}
