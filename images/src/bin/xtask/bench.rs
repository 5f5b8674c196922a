//! `cargo xtask bench boot`: boot time, measured by the kernel and by the host.
//!
//! Figures are printed, never asserted. Each row is compared with the first row
//! measured in the same run (the `-kernel` path through SeaBIOS on the PC).

use std::process::ExitCode;
use std::time::Duration;

use ethos_abi::KernelTest;
use ethos_images::{XtaskError, kernel, prerequisites};
use ethos_tests::harness::{self, Expectation, Verdict};
use ethos_tests::qemu::{Accelerator, Machine, QemuConfig, kvm_usable};
use ethos_tests::system::command_line;

#[derive(Debug, clap::Args)]
pub(crate) struct BootArguments {
    /// Boots per machine and accelerator.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    boots: u32,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tcg: bool,
}

/// Median and extremes of a sample, in the sample's unit.
fn summary(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    let median = if samples.len().is_multiple_of(2) {
        (samples[middle - 1] + samples[middle]) / 2.0
    } else {
        samples[middle]
    };
    (median, samples[0], samples[samples.len() - 1])
}

struct Row {
    label: String,
    kernel_ms: (f64, f64, f64),
    host_ms: (f64, f64, f64),
    failures: u32,
}

pub(crate) fn boot(arguments: &BootArguments) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let kernel = kernel::build_kernel(kernel::Flavour::Selftest)?;
    let mut configurations = Vec::new();
    match kvm_usable() {
        Ok(()) => {
            configurations.push((Machine::Pc, Accelerator::Kvm));
            configurations.push((Machine::Microvm, Accelerator::Kvm));
        }
        Err(reason) => println!("skipping KVM rows: {reason}"),
    }
    if arguments.tcg {
        configurations.push((Machine::Pc, Accelerator::Tcg));
        configurations.push((Machine::Microvm, Accelerator::Tcg));
    }
    let mut rows = Vec::new();
    for (machine, accelerator) in configurations {
        let config = QemuConfig::pvh(
            &kernel,
            &command_line(Some(KernelTest::Boot), ""),
            machine,
            accelerator,
        );
        println!("$ {}   (x{})", config.display(), arguments.boots);
        let (mut kernel_ms, mut host_ms, mut failures) = (Vec::new(), Vec::new(), 0);
        for _ in 0..arguments.boots {
            let transcript = harness::run(&config, Duration::from_secs(180));
            let verdict = harness::judge(
                &transcript,
                &Expectation::Pass {
                    test: KernelTest::Boot,
                },
            );
            match (
                verdict,
                transcript.kernel_boot_nanos(),
                transcript.ready_after(),
            ) {
                (Verdict::Passed, Some(nanos), Some(ready)) => {
                    kernel_ms.push(nanos as f64 / 1e6);
                    host_ms.push(ready.as_secs_f64() * 1e3);
                }
                (verdict, _, _) => {
                    failures += 1;
                    println!("  boot failed: {verdict:?} ({})", transcript.end);
                }
            }
        }
        if kernel_ms.is_empty() {
            println!(
                "  no successful boot on {} / {}",
                machine.name(),
                accelerator.name()
            );
            continue;
        }
        rows.push(Row {
            label: format!("{} / {}", machine.name(), accelerator.name()),
            kernel_ms: summary(&mut kernel_ms),
            host_ms: summary(&mut host_ms),
            failures,
        });
    }
    let Some(baseline) = rows.first().map(|row| row.host_ms.0) else {
        println!("nothing was measured");
        return Ok(ExitCode::FAILURE);
    };
    println!();
    println!(
        "{:<16} {:>5} | {:>32} | {:>32} | {:>9}",
        "machine / accel",
        "boots",
        "(a) kernel entry→ready, ms",
        "(b) QEMU start→ready line, ms",
        "(b) ratio"
    );
    for row in &rows {
        let (median, low, high) = row.kernel_ms;
        let (host_median, host_low, host_high) = row.host_ms;
        println!(
            "{:<16} {:>5} | {:>10.3} [{:>8.3} – {:>8.3}] | {:>10.1} [{:>8.1} – {:>8.1}] | {:>8.2}x",
            row.label,
            arguments.boots - row.failures,
            median,
            low,
            high,
            host_median,
            host_low,
            host_high,
            host_median / baseline
        );
    }
    println!("(median [min – max]; ratio: row's (b) median / first row's (b) median)");
    println!("goals: (a) < 1 ms, (b) < 100 ms");
    let failed: u32 = rows.iter().map(|row| row.failures).sum();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_odd_and_even_samples() {
        assert_eq!(summary(&mut [3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summary(&mut [4.0, 1.0, 3.0, 2.0]), (2.5, 1.0, 4.0));
    }
}
