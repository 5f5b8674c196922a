//! `cargo xtask bench fs`: the typed file system's `writeVar` (durable) and `readVar`
//! of 4 KiB and 1 MiB values and its creates, beside a Linux guest doing the same
//! with files on ext4 (`write` and `fsync`; `O_DIRECT` reads), on the same emulator,
//! machine, virtio-blk device model and disk size, measured in the same run.
//!
//! The Ethos side boots `init=fs-bench` (images/programs/system-tests/src/fs_bench.rs)
//! on a new native store made to the image's `[storage]` plan, as `cargo xtask image`
//! makes `target/images/disk.img`. The Linux side is Debian's kernel with
//! `virtio_mmio`, `virtio_blk` and ext4 loaded from its initramfs and a static
//! `/init` (images/linux-guest/fs.c) that mounts an ext4 file system the host made
//! with `mke2fs` on a disk of the same size. Both run on microvm under TCG with the
//! disk as `virtio-blk-device` (virtio-mmio); every run gets a new disk, and the
//! systems alternate. Each guest times each call with its own clock (`getTime`;
//! `CLOCK_MONOTONIC`) and prints the median per kind; the table gives, per figure,
//! the median and spread over runs, each system's rate and the ratio Ethos / Linux.
//!
//! What the two sides promise differs: `writeVar` replaces a file atomically (after a
//! power cut the old value or the new, never a mix) and is durable when it answers;
//! Linux's `open(O_TRUNC)`, `write`, `fsync` is durable when `fsync` answers but is not
//! atomic (a cut between the truncation and the commit leaves an empty or partial
//! file). Linux gets the cheaper contract.
//!
//! Why wall time under TCG, not instructions under `-icount`: every figure here
//! waits for the emulated disk, which completes on QEMU's host threads, not after a
//! number of guest instructions. A guest that idles while it waits (Linux) has its
//! clock jump to its next timer with `sleep=off`, so its count measures its tick,
//! not the disk; one that polls the device (Ethos's store drives the disk
//! synchronously) counts poll iterations, which vary with the host's I/O. Neither
//! count repeats from run to run or means instructions of work, so none is offered.
//! Figures are printed and saved to `target/bench/fs.json`, never asserted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ethos_images::initial_image::LoadedDescription;
use ethos_images::{XtaskError, disk, kernel, linux_guest, prerequisites, target_directory};
use ethos_tests::fs_bench::{DiskCache, FsFigures, ethos_figures, guest_config, linux_figures};
use ethos_tests::harness::{self, Transcript};
use ethos_tests::net_bench::ended_well;
use ethos_tests::qemu::QemuConfig;

use crate::bench_net::host_load;
use crate::bench_results::{self, BenchResults, Goal, Measures, Metric, Spread, bench_directory};

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct FsArguments {
    /// Runs per system (each boots one guest on a new disk); the systems alternate.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) runs: u32,
    /// Measure the Linux guest beside Ethos.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) linux_guest: bool,
    /// How QEMU backs both guests' disks: writeback (QEMU's default; a guest's
    /// flush is an fdatasync of the image on the host), none (the image opened
    /// O_DIRECT) or unsafe (flushes ignored: the guests' software alone).
    #[arg(long, value_enum, default_value_t = Cache::Writeback)]
    pub(crate) cache: Cache,
}

impl Default for FsArguments {
    fn default() -> Self {
        FsArguments {
            runs: 5,
            linux_guest: true,
            cache: Cache::Writeback,
        }
    }
}

/// QEMU's `-drive cache=` modes the benchmark offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Cache {
    Writeback,
    None,
    Unsafe,
}

impl Cache {
    fn disk_cache(self) -> DiskCache {
        match self {
            Cache::Writeback => DiskCache::Writeback,
            Cache::None => DiskCache::None,
            Cache::Unsafe => DiskCache::Unsafe,
        }
    }
}

/// How long one guest may run.
const TIMEOUT: Duration = Duration::from_secs(300);

/// One of the two systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Ethos,
    Linux,
}

struct LinuxGuest {
    kernel: PathBuf,
    initramfs: PathBuf,
    host_tsc_khz: u64,
}

/// What each system boots, and the disks it gets.
struct Guests {
    ethos: PathBuf,
    plan: disk::DiskPlan,
    linux: Option<LinuxGuest>,
    scratch: PathBuf,
    cache: DiskCache,
}

impl Guests {
    fn disk(&self, system: System) -> PathBuf {
        self.scratch.join(match system {
            System::Ethos => "ethos-disk.img",
            System::Linux => "linux-disk.img",
        })
    }

    fn config(&self, system: System) -> Option<QemuConfig> {
        let disk = self.disk(system);
        match system {
            System::Ethos => Some(guest_config(
                &self.ethos,
                "init=fs-bench",
                None,
                &disk,
                self.cache,
            )),
            System::Linux => {
                let linux = self.linux.as_ref()?;
                Some(guest_config(
                    &linux.kernel,
                    &linux_guest::command_line(linux.host_tsc_khz, ""),
                    Some(&linux.initramfs),
                    &disk,
                    self.cache,
                ))
            }
        }
    }

    /// A new disk for `system`: an empty store, or an empty ext4 file system, of
    /// the plan's size.
    fn make_disk(&self, system: System) -> Result<(), XtaskError> {
        let path = self.disk(system);
        match system {
            // No /boot: the kernel runs its own image, as on the rows' disks.
            System::Ethos => disk::make_disk(&self.plan, &[], &path),
            System::Linux => linux_guest::make_ext4_disk(&path, self.plan.bytes),
        }
    }
}

/// One run of `system`: its figures, or why there are none.
fn run_once(guests: &Guests, system: System, run: u32) -> Result<FsFigures, String> {
    guests
        .make_disk(system)
        .map_err(|error| format!("making the disk: {error}"))?;
    let config = guests.config(system).ok_or("no Linux guest")?;
    let transcript = harness::run(&config, TIMEOUT);
    let figures = ended_well(&transcript)
        .and_then(|()| match system {
            System::Ethos => ethos_figures(&transcript),
            System::Linux => linux_figures(&transcript),
        })
        .and_then(|figures| check_counts(&figures).map(|()| figures));
    if figures.is_err() {
        keep_log(system, run, &transcript);
    }
    figures
}

/// The counts and sizes both sides were built with.
fn check_counts(figures: &FsFigures) -> Result<(), String> {
    let expected = (
        u64::from(linux_guest::FS_SAMPLES),
        u64::from(linux_guest::FS_LARGE_SAMPLES),
        u64::from(linux_guest::FS_SMALL_VALUE),
        u64::from(linux_guest::FS_LARGE_VALUE),
    );
    let got = (
        figures.samples,
        figures.large_samples,
        figures.small_bytes,
        figures.large_bytes,
    );
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "the guest measured (samples, large samples, small bytes, large bytes) {got:?}, \
             not {expected:?}: fs_bench.rs and images/src/linux_guest.rs disagree"
        ))
    }
}

fn keep_log(system: System, run: u32, transcript: &Transcript) {
    let directory = bench_directory().join("logs");
    if let Ok(path) = transcript.keep(&directory, &format!("fs-{system:?}-{run}")) {
        println!("  serial log: {}", path.display());
    }
}

/// One figure of a run, in nanoseconds.
type Pick = fn(&FsFigures) -> u64;

/// The figures: key, label, how each run's value is read, and the bytes one call
/// carries when its rate is given in MB/s rather than calls per second.
const FIGURES: [(&str, &str, Pick, Option<u32>); 5] = [
    (
        "fs_write_4k",
        "4 KiB durable replace (writeVar; write+fsync)",
        |figures| figures.write_small_ns,
        None,
    ),
    (
        "fs_create_4k",
        "4 KiB durable create",
        |figures| figures.create_small_ns,
        None,
    ),
    (
        "fs_read_4k",
        "4 KiB read from the disk",
        |figures| figures.read_small_ns,
        None,
    ),
    (
        "fs_write_1m",
        "1 MiB durable replace",
        |figures| figures.write_large_ns,
        Some(linux_guest::FS_LARGE_VALUE),
    ),
    (
        "fs_read_1m",
        "1 MiB read from the disk",
        |figures| figures.read_large_ns,
        Some(linux_guest::FS_LARGE_VALUE),
    ),
];

/// The goal (the issue's): a durable 4 KiB `writeVar` at least as many per second
/// as the Linux guest's `write` and `fsync`, so at most its time.
const WRITE_GOAL: Goal = Goal::WallRatioOfLinux(1.0);

/// Measures every run: the results, and whether any run failed.
pub(crate) fn measure(arguments: &FsArguments) -> Result<(BenchResults, bool), XtaskError> {
    let started = bench_results::now();
    let load_before = host_load();
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let description = LoadedDescription::load_default()?;
    let plan = description.disk_plan()?.ok_or_else(|| {
        XtaskError::Usage(format!(
            "{} has no [storage]: the benchmark needs the typed file system's disk",
            description.path.display()
        ))
    })?;
    let ethos = kernel::build_kernel(kernel::Flavour::Production)?;
    let linux = if arguments.linux_guest {
        prerequisites::ensure(&[linux_guest::MKE2FS])?;
        let kernel = linux_guest::kernel()?;
        Some(LinuxGuest {
            initramfs: linux_guest::fs_initramfs(&kernel)?,
            kernel,
            host_tsc_khz: linux_guest::host_tsc_khz()?,
        })
    } else {
        None
    };
    let scratch = target_directory().join("bench-fs");
    std::fs::create_dir_all(&scratch).map_err(|error| XtaskError::File {
        path: scratch.clone(),
        error,
    })?;
    let guests = Guests {
        ethos,
        plan,
        linux,
        scratch,
        cache: arguments.cache.disk_cache(),
    };
    let mut systems = vec![System::Ethos];
    if guests.linux.is_some() {
        systems.push(System::Linux);
    }
    let mut commands = Vec::new();
    for &system in &systems {
        if let Some(config) = guests.config(system) {
            println!(
                "$ {}   (x{}, a new disk each)",
                config.display(),
                arguments.runs
            );
            commands.push(config.display());
        }
    }
    let mut ethos_runs = Vec::new();
    let mut linux_runs = Vec::new();
    let mut failed = false;
    for run in 0..arguments.runs {
        // Alternate which system goes first, so that neither always follows the other.
        let mut order = systems.clone();
        if run % 2 == 1 {
            order.reverse();
        }
        for system in order {
            match run_once(&guests, system, run) {
                Ok(figures) => {
                    println!(
                        "  {system:?} run {}: 4 KiB replace {} ns, create {} ns, read {} ns; \
                         1 MiB replace {} ns, read {} ns",
                        run + 1,
                        figures.write_small_ns,
                        figures.create_small_ns,
                        figures.read_small_ns,
                        figures.write_large_ns,
                        figures.read_large_ns
                    );
                    match system {
                        System::Ethos => ethos_runs.push(figures),
                        System::Linux => linux_runs.push(figures),
                    }
                }
                Err(reason) => {
                    failed = true;
                    println!("  {system:?} run {} failed: {reason}", run + 1);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&guests.scratch);
    let metrics = metrics(&ethos_runs, &linux_runs);
    let mut notes = vec![
        "TCG wall time by each guest's own clock, the median of each run's per-call \
         medians; -icount does not apply to waits for the emulated disk (see the module \
         doc of bench_fs.rs)"
            .to_string(),
        "goal: a durable 4 KiB writeVar at least 1.0× the Linux guest's write+fsync rate \
         (Ethos's time at most the Linux guest's)"
            .to_string(),
        format!(
            "Ethos: writeVar answers once the value is durable (two device flushes: the \
             copy-on-write blocks, then a superblock) and replaces it atomically; values \
             are Chunk values encoding to exactly {} and {} bytes; readVar reads from the \
             disk each time, into a buffer made once",
            linux_guest::FS_SMALL_VALUE,
            linux_guest::FS_LARGE_VALUE
        ),
        "Linux: ext4 (mke2fs defaults, 4 KiB blocks, data=ordered) on the same disk size; \
         replace is open(O_TRUNC)+write+fsync+close, not atomic; create is \
         open(O_CREAT|O_EXCL)+write+fsync+close; reads are open(O_DIRECT)+read+close, from \
         the disk each time as Ethos's"
            .to_string(),
        format!(
            "{} timed calls of each 4 KiB kind, {} of each 1 MiB kind, per run; 4 KiB \
             replaces cycle over {} files",
            linux_guest::FS_SAMPLES,
            linux_guest::FS_LARGE_SAMPLES,
            linux_guest::FS_REPLACED_FILES
        ),
        format!(
            "host load average: {load_before} before the runs, {} after",
            host_load()
        ),
    ];
    if guests.linux.is_none() {
        notes.push("the Linux guest was not measured (--linux-guest false)".into());
    }
    let results = BenchResults {
        bench: "fs".into(),
        commit: bench_results::commit(),
        started,
        finished: bench_results::now(),
        qemu: bench_results::qemu_version(),
        machine: format!(
            "microvm, virtio-blk-device (virtio-mmio), {} MiB disk, cache={}",
            guests.plan.bytes >> 20,
            guests.cache.name()
        ),
        linux_kernel: bench_results::linux_kernel_name(
            guests.linux.as_ref().map(|linux| linux.kernel.as_path()),
        ),
        kvm: "not used: both guests run under TCG".into(),
        commands,
        metrics,
        notes,
    };
    Ok((results, failed))
}

pub(crate) fn fs(arguments: &FsArguments) -> Result<ExitCode, XtaskError> {
    let (results, failed) = measure(arguments)?;
    println!();
    for line in table(&results) {
        println!("{line}");
    }
    results.save_and_finish(failed)
}

/// Each figure's measures over the runs of each system.
fn metrics(ethos: &[FsFigures], linux: &[FsFigures]) -> Vec<Metric> {
    let spread = |runs: &[FsFigures], pick: Pick| {
        Spread::of(
            &runs
                .iter()
                .map(|figures| pick(figures) as f64)
                .collect::<Vec<_>>(),
        )
    };
    FIGURES
        .iter()
        .map(|(key, label, pick, _)| Metric {
            key: (*key).into(),
            label: (*label).into(),
            ethos: Measures {
                tcg_ns: spread(ethos, *pick),
                ..Measures::default()
            },
            linux: Measures {
                tcg_ns: spread(linux, *pick),
                ..Measures::default()
            },
            host_ns: None,
            goal: (*key == "fs_write_4k").then_some(WRITE_GOAL),
        })
        .collect()
}

/// The rate of one call taking `median_ns`: calls per second, or MB/s for a call
/// carrying `bytes`.
fn rate(median_ns: f64, bytes: Option<u32>) -> f64 {
    let per_second = 1e9 / median_ns.max(1.0);
    match bytes {
        Some(bytes) => per_second * f64::from(bytes) / 1e6,
        None => per_second,
    }
}

/// The table of `results`, as printed.
fn table(results: &BenchResults) -> Vec<String> {
    let shown = |spread: Option<Spread>| {
        spread.map_or("-".to_string(), |spread| {
            format!(
                "{:.0} [{:.0}–{:.0}]",
                spread.median / 1e3,
                spread.min / 1e3,
                spread.max / 1e3
            )
        })
    };
    let mut lines = vec![
        format!(
            "bench fs on {} ({}), commit {}, Linux guest {}",
            results.machine, results.qemu, results.commit, results.linux_kernel
        ),
        format!(
            "{:<46} | {:>22} | {:>22} | {:>7} | {:>16} | {:>16} | {:>7}",
            "figure (TCG wall time, µs per call)",
            "Ethos (typed store)",
            "Linux guest (ext4)",
            "Ethos/L",
            "Ethos rate",
            "Linux rate",
            "rate E/L"
        ),
    ];
    for metric in &results.metrics {
        let bytes = FIGURES
            .iter()
            .find(|(key, ..)| *key == metric.key)
            .and_then(|(.., bytes)| *bytes);
        let unit = if bytes.is_some() { "MB/s" } else { "/s" };
        let rate_of = |spread: Option<Spread>| spread.map(|spread| rate(spread.median, bytes));
        let (ours, theirs) = (rate_of(metric.ethos.tcg_ns), rate_of(metric.linux.tcg_ns));
        let rate_shown = |value: Option<f64>| {
            value.map_or("-".to_string(), |value| format!("{value:.1} {unit}"))
        };
        lines.push(format!(
            "{:<46} | {:>22} | {:>22} | {:>7} | {:>16} | {:>16} | {:>7}",
            metric.label,
            shown(metric.ethos.tcg_ns),
            shown(metric.linux.tcg_ns),
            metric
                .tcg_ratio()
                .map_or("-".into(), |ratio| format!("{ratio:.2}x")),
            rate_shown(ours),
            rate_shown(theirs),
            match (ours, theirs) {
                (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}x", ours / theirs),
                _ => "-".into(),
            }
        ));
        if let Some(goal) = &metric.goal {
            let verdict = match metric.goal_met() {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not judged (a system has no figure)",
            };
            lines.push(format!(
                "{:<46}   goal: {} — {verdict}",
                "",
                goal.describe()
            ));
        }
    }
    lines.push(
        "(median [min–max] over runs of each run's median per call; Ethos/L: time ratio; \
         rate E/L: Ethos's rate / Linux's)"
            .into(),
    );
    lines.extend(results.notes.iter().map(|note| format!("note: {note}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(write_small_ns: u64) -> FsFigures {
        FsFigures {
            write_small_ns,
            create_small_ns: 4_000_000,
            read_small_ns: 500_000,
            write_large_ns: 50_000_000,
            read_large_ns: 10_000_000,
            small_bytes: u64::from(linux_guest::FS_SMALL_VALUE),
            large_bytes: u64::from(linux_guest::FS_LARGE_VALUE),
            samples: u64::from(linux_guest::FS_SAMPLES),
            large_samples: u64::from(linux_guest::FS_LARGE_SAMPLES),
        }
    }

    fn results(ethos: &[FsFigures], linux: &[FsFigures]) -> BenchResults {
        BenchResults {
            bench: "fs".into(),
            commit: "abc".into(),
            started: "2026-01-01T00:00:00Z".into(),
            finished: "2026-01-01T00:01:00Z".into(),
            qemu: "QEMU emulator version 7.2".into(),
            machine: "microvm".into(),
            linux_kernel: "vmlinuz-6.1.0-57-amd64".into(),
            kvm: "not used".into(),
            commands: vec![],
            metrics: metrics(ethos, linux),
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn the_table_gives_ratios_rates_and_the_goal() {
        let results = results(
            &[figures(2_000_000), figures(3_000_000), figures(2_500_000)],
            &[figures(5_000_000), figures(5_000_000)],
        );
        let lines = table(&results);
        let write = lines
            .iter()
            .find(|line| line.starts_with("4 KiB durable replace"))
            .unwrap();
        // Medians 2.5 ms and 5 ms: half the time, twice the rate.
        assert!(write.contains("2500 [2000–3000]"), "{write}");
        assert!(write.contains("0.50x"), "{write}");
        assert!(write.contains("400.0 /s"), "{write}");
        assert!(write.contains("200.0 /s"), "{write}");
        assert!(write.contains("2.00x"), "{write}");
        assert!(
            lines
                .iter()
                .any(|line| line.contains("goal: ≤ 1.000× Linux guest (TCG wall time) — met")),
            "{lines:#?}"
        );
        // The large figures are rates in MB/s: 1 MiB in 50 ms.
        let large = lines
            .iter()
            .find(|line| line.starts_with("1 MiB durable replace"))
            .unwrap();
        assert!(large.contains("21.0 MB/s"), "{large}");
        assert!(lines.iter().any(|line| line == "note: a note"));
    }

    #[test]
    fn a_slower_write_misses_the_goal_and_no_linux_figure_is_not_judged() {
        let slower = results(&[figures(6_000_000)], &[figures(5_000_000)]);
        assert!(table(&slower).iter().any(|line| line.ends_with("NOT met")),);
        let alone = results(&[figures(6_000_000)], &[]);
        let lines = table(&alone);
        assert!(
            lines
                .iter()
                .any(|line| line.ends_with("not judged (a system has no figure)"))
        );
        assert_eq!(alone.metrics[0].tcg_ratio(), None);
    }

    #[test]
    fn a_guest_built_with_other_counts_is_refused() {
        assert!(check_counts(&figures(1)).is_ok());
        let mut other = figures(1);
        other.samples += 1;
        assert!(check_counts(&other).unwrap_err().contains("disagree"));
    }
}
