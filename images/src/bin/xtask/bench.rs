//! `cargo xtask bench boot`: boot time, measured by the kernel and by the host,
//! beside the Linux guest's.
//!
//! Each Ethos row boots `test=boot` many times per machine and accelerator; each
//! row is compared with the first row measured in the same run (the `-kernel` path
//! through SeaBIOS on the PC). Under `-icount shift=0,sleep=off` the kernel's clock
//! counts instructions: those rows boot twice, and the two counts must agree.
//!
//! The Linux guest (Debian's kernel, [`ethos_images::linux_guest`]) boots on both
//! machines with the same QEMU options. Its "kernel entry → init"
//! is the guest's `CLOCK_MONOTONIC` when `/init` starts, which begins when the
//! kernel sets its clock up, after the kernel decompressed itself and early in
//! `start_kernel`: it leaves out the first part of Linux's boot, so it flatters
//! Linux. Its "QEMU start → init" is when the host read `/init`'s first line, and
//! under `-icount` the time stamp counter `/init` reads (instructions since the
//! machine started, firmware included). Figures are printed and saved to
//! `target/bench/boot.json`, never asserted.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ethos_abi::KernelTest;
use ethos_images::{XtaskError, kernel, linux_guest, prerequisites};
use ethos_tests::harness::{self, Expectation, Transcript, Verdict};
use ethos_tests::linux_guest::init_start;
use ethos_tests::qemu::{Accelerator, Machine, QemuConfig, kvm_usable_for_figures};
use ethos_tests::system::command_line;

use crate::bench_results::{self, BenchResults, Goal, ICOUNT, Measures, Metric, Spread};

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct BootArguments {
    /// Boots per machine and accelerator.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) boots: u32,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) tcg: bool,
    /// Boots per machine under -icount shift=0,sleep=off (0: none).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub(crate) icount_runs: u32,
    /// Boot the Linux guest beside Ethos.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) linux_guest: bool,
}

impl Default for BootArguments {
    fn default() -> Self {
        BootArguments {
            boots: 10,
            tcg: true,
            icount_runs: 2,
            linux_guest: true,
        }
    }
}

/// How a row runs: an accelerator, or TCG counting instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    Accelerated(Accelerator),
    Icount,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Accelerated(accelerator) => accelerator.name(),
            Measure::Icount => "icount",
        }
    }
}

/// One boot: kernel entry → ready and QEMU start → ready, in nanoseconds (under
/// `-icount`, instructions), and the guest's instruction count since the machine
/// started, when it says it.
#[derive(Clone, Copy, Debug)]
struct Boot {
    kernel_ns: u64,
    host_ns: u64,
    since_reset: Option<u64>,
}

struct Row {
    label: String,
    system: &'static str,
    machine: Machine,
    measure: Measure,
    boots: Vec<Boot>,
    failures: u32,
}

fn ethos_boot(transcript: &Transcript) -> Result<Boot, String> {
    let verdict = harness::judge(
        transcript,
        &Expectation::Pass {
            test: KernelTest::Boot,
        },
    );
    match (
        verdict,
        transcript.kernel_boot_nanos(),
        transcript.ready_after(),
    ) {
        (Verdict::Passed, Some(kernel_ns), Some(ready)) => Ok(Boot {
            kernel_ns,
            host_ns: ready.as_nanos() as u64,
            since_reset: None,
        }),
        (verdict, _, _) => Err(format!("boot failed: {verdict:?} ({})", transcript.end)),
    }
}

fn linux_boot(transcript: &Transcript) -> Result<Boot, String> {
    let start = init_start(transcript)?;
    if transcript.end.kernel_code() != Some(ethos_abi::ExitCode::Success) {
        return Err(format!(
            "the Linux guest did not end well: {}",
            transcript.end
        ));
    }
    Ok(Boot {
        kernel_ns: start.monotonic_ns,
        host_ns: start.host.as_nanos() as u64,
        since_reset: Some(start.tsc),
    })
}

fn measure_row(
    config: &QemuConfig,
    label: String,
    system: &'static str,
    measure: Measure,
    boots: u32,
    read: fn(&Transcript) -> Result<Boot, String>,
) -> Row {
    println!("$ {}   (x{boots})", config.display());
    let mut row = Row {
        label,
        system,
        machine: config.machine,
        measure,
        boots: Vec::new(),
        failures: 0,
    };
    for _ in 0..boots {
        let transcript = harness::run(config, Duration::from_secs(300));
        match read(&transcript) {
            Ok(boot) => row.boots.push(boot),
            Err(reason) => {
                row.failures += 1;
                println!("  {reason}");
            }
        }
    }
    row
}

fn configured(mut config: QemuConfig, measure: Measure) -> QemuConfig {
    if measure == Measure::Icount {
        config.extra.extend(ICOUNT.map(String::from));
    }
    config
}

/// Measures every row: the results, and whether any boot failed.
pub(crate) fn measure(arguments: &BootArguments) -> Result<(BenchResults, bool), XtaskError> {
    let started = bench_results::now();
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let kernel = kernel::build_kernel(kernel::Flavour::Selftest)?;
    let linux = if arguments.linux_guest {
        Some((
            linux_guest::kernel()?,
            linux_guest::initramfs()?,
            linux_guest::host_tsc_khz()?,
        ))
    } else {
        None
    };
    let kvm = match kvm_usable_for_figures() {
        Ok(()) => "usable".to_string(),
        Err(reason) => {
            println!("skipping KVM rows: {reason}");
            reason.to_string()
        }
    };
    let mut measures = Vec::new();
    if kvm == "usable" {
        measures.push(Measure::Accelerated(Accelerator::Kvm));
    }
    if arguments.tcg {
        measures.push(Measure::Accelerated(Accelerator::Tcg));
    }
    if arguments.icount_runs > 0 {
        measures.push(Measure::Icount);
    }
    let boots_of = |measure| match measure {
        Measure::Icount => arguments.icount_runs,
        Measure::Accelerated(_) => arguments.boots,
    };
    let mut rows = Vec::new();
    let mut commands = Vec::new();
    for &measure in &measures {
        let accelerator = match measure {
            Measure::Accelerated(accelerator) => accelerator,
            Measure::Icount => Accelerator::Tcg,
        };
        for machine in [Machine::Pc, Machine::Microvm] {
            let config = configured(
                QemuConfig::pvh(
                    &kernel,
                    &command_line(Some(KernelTest::Boot), ""),
                    machine,
                    accelerator,
                ),
                measure,
            );
            commands.push(config.display());
            let label = format!("Ethos {} / {}", machine.name(), measure.name());
            rows.push(measure_row(
                &config,
                label,
                "Ethos",
                measure,
                boots_of(measure),
                ethos_boot,
            ));
            let Some((linux_kernel, initramfs, host_tsc_khz)) = &linux else {
                continue;
            };
            let tsc_khz = match measure {
                Measure::Icount => linux_guest::ICOUNT_TSC_KHZ,
                Measure::Accelerated(_) => *host_tsc_khz,
            };
            let mut config = configured(
                QemuConfig::pvh(
                    linux_kernel,
                    &linux_guest::command_line(tsc_khz, ""),
                    machine,
                    accelerator,
                ),
                measure,
            );
            config
                .extra
                .extend(["-initrd".into(), initramfs.display().to_string()]);
            commands.push(config.display());
            let label = format!("Linux {} / {}", machine.name(), measure.name());
            rows.push(measure_row(
                &config,
                label,
                "Linux",
                measure,
                boots_of(measure),
                linux_boot,
            ));
        }
    }
    print_rows(&rows);
    let failed = rows.iter().any(|row| row.failures > 0);
    let find = |system: &str, machine: Machine, measure: Measure| {
        rows.iter()
            .find(|row| row.system == system && row.machine == machine && row.measure == measure)
    };
    let measures_of = |system: &str, machine: Machine, pick: fn(&Boot) -> Option<u64>| {
        let spread = |measure| {
            find(system, machine, measure).and_then(|row| {
                Spread::of(
                    &row.boots
                        .iter()
                        .filter_map(pick)
                        .map(|value| value as f64)
                        .collect::<Vec<_>>(),
                )
            })
        };
        Measures {
            tcg_ns: spread(Measure::Accelerated(Accelerator::Tcg)),
            kvm_ns: spread(Measure::Accelerated(Accelerator::Kvm)),
            instructions: find(system, machine, Measure::Icount)
                .map(|row| row.boots.iter().filter_map(pick).collect())
                .unwrap_or_default(),
        }
    };
    let wall_only = |measures: Measures| Measures {
        instructions: Vec::new(),
        ..measures
    };
    let mut metrics = Vec::new();
    for machine in [Machine::Pc, Machine::Microvm] {
        let name = machine.name();
        metrics.push(Metric {
            key: format!("boot_kernel_{name}"),
            label: format!("boot: kernel entry → ready ({name})"),
            ethos: measures_of("Ethos", machine, |boot| Some(boot.kernel_ns)),
            linux: measures_of("Linux", machine, |boot| Some(boot.kernel_ns)),
            host_ns: None,
            goal: (machine == Machine::Microvm).then_some(Goal::Instructions(50_000)),
        });
        metrics.push(Metric {
            key: format!("boot_host_{name}"),
            label: format!("boot: QEMU start → ready line ({name})"),
            // Under -icount the host's clock says nothing about instructions.
            ethos: wall_only(measures_of("Ethos", machine, |boot| Some(boot.host_ns))),
            linux: Measures {
                instructions: find("Linux", machine, Measure::Icount)
                    .map(|row| {
                        row.boots
                            .iter()
                            .filter_map(|boot| boot.since_reset)
                            .collect()
                    })
                    .unwrap_or_default(),
                ..wall_only(measures_of("Linux", machine, |boot| Some(boot.host_ns)))
            },
            host_ns: None,
            goal: None,
        });
    }
    let mut notes = vec![
        "Linux's kernel entry → ready is CLOCK_MONOTONIC at /init's start: it starts after \
         the kernel decompressed itself, so it leaves out the start of Linux's boot"
            .to_string(),
        "the Linux guest is told its TSC's rate (tsc_early_khz=, the host's under TCG, \
         1 GHz under -icount) and to trust it (tsc=reliable): under emulation on microvm \
         it can neither calibrate nor keep its TSC"
            .to_string(),
        "QEMU start → ready in instructions: the Linux guest's time stamp counter at /init \
         under -icount; Ethos does not print its count since the machine started"
            .to_string(),
        "under -icount the guest clock counts instructions and also the time skipped while \
         the CPU is idle (sleep=off): a boot that waits for a timer counts the wait"
            .to_string(),
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
        bench: "boot".into(),
        commit: bench_results::commit(),
        started,
        finished: bench_results::now(),
        qemu: bench_results::qemu_version(),
        machine: "pc and microvm".into(),
        linux_kernel: bench_results::linux_kernel_name(
            linux.as_ref().map(|(kernel, _, _)| Path::new(kernel)),
        ),
        kvm,
        commands,
        metrics,
        notes,
    };
    Ok((results, failed))
}

pub(crate) fn boot(arguments: &BootArguments) -> Result<ExitCode, XtaskError> {
    let (results, failed) = measure(arguments)?;
    bench_results::print(&results);
    results.save_and_finish(failed)
}

fn print_rows(rows: &[Row]) {
    let Some(baseline) = rows
        .iter()
        .find(|row| row.measure != Measure::Icount && !row.boots.is_empty())
        .and_then(|row| host_ms(row).map(|spread| spread.median))
    else {
        println!("nothing was measured in time");
        return;
    };
    println!();
    println!(
        "{:<22} {:>5} | {:>32} | {:>32} | {:>9}",
        "system machine / accel",
        "boots",
        "(a) kernel entry→ready, ms",
        "(b) QEMU start→ready line, ms",
        "(b) ratio"
    );
    for row in rows {
        let Some(kernel) = Spread::of(
            &row.boots
                .iter()
                .map(|boot| boot.kernel_ns as f64 / 1e6)
                .collect::<Vec<_>>(),
        ) else {
            println!("{:<22} no successful boot", row.label);
            continue;
        };
        if row.measure == Measure::Icount {
            println!(
                "{:<22} {:>5} | {:>32} | {:>32} |",
                row.label,
                row.boots.len(),
                format!(
                    "{} instructions",
                    row.boots
                        .iter()
                        .map(|boot| boot.kernel_ns.to_string())
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                row.boots
                    .iter()
                    .filter_map(|boot| boot.since_reset)
                    .map(|count| count.to_string())
                    .collect::<Vec<_>>()
                    .join(" / ")
            );
            continue;
        }
        let Some(host) = host_ms(row) else { continue };
        println!(
            "{:<22} {:>5} | {:>10.3} [{:>8.3} – {:>8.3}] | {:>10.1} [{:>8.1} – {:>8.1}] | {:>8.2}x",
            row.label,
            row.boots.len(),
            kernel.median,
            kernel.min,
            kernel.max,
            host.median,
            host.min,
            host.max,
            host.median / baseline
        );
    }
    println!("(median [min – max]; ratio: row's (b) median / first row's (b) median;");
    println!(" icount rows: (a) in instructions per boot, (b) the guest's count since reset)");
    println!("goals: (a) < 1 ms, (b) < 100 ms, (a) on microvm ≤ 50,000 instructions");
}

fn host_ms(row: &Row) -> Option<Spread> {
    Spread::of(
        &row.boots
            .iter()
            .map(|boot| boot.host_ns as f64 / 1e6)
            .collect::<Vec<_>>(),
    )
}
