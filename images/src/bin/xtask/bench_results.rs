//! What the benchmarks that compare Ethos with the Linux guest measure, how they
//! print it, and how they keep it: each bench saves its figures as
//! `target/bench/<bench>.json`, which `bench report` reads.
//!
//! Every figure has two measures: the wall time under TCG (the median of each
//! run's figure, with the lowest and highest over the runs), and the instructions
//! under `-icount shift=0,sleep=off`, where the guest's clock advances one
//! nanosecond per instruction; that run is made twice and the two counts must
//! agree. KVM figures are there only where the host has hardware virtualization.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use ethos_images::error::FileContext;
use ethos_images::{XtaskError, target_directory, workspace_root};
use serde::{Deserialize, Serialize};

/// QEMU's options for counting instructions: the guest clock is the instruction
/// counter (one nanosecond each), and an idle CPU skips ahead to the next timer
/// instead of waiting for it (so a figure that spans idle time, like a boot that
/// waits for a timer, counts the time skipped too). The guest's random numbers
/// (RDRAND) come from a fixed seed and its real-time clock starts at a fixed date
/// and follows the guest clock: without these two, two boots of the Linux guest
/// differed by some thousand instructions.
pub(crate) const ICOUNT: [&str; 6] = [
    "-icount",
    "shift=0,sleep=off",
    "-seed",
    "1",
    "-rtc",
    "base=2020-01-01T00:00:00,clock=vm",
];

/// Median and extremes over runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) runs: usize,
}

impl Spread {
    /// `None` for no samples.
    pub(crate) fn of(samples: &[f64]) -> Option<Spread> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = match sorted.len() {
            0 => return None,
            length if length.is_multiple_of(2) => (sorted[middle - 1] + sorted[middle]) / 2.0,
            _ => sorted[middle],
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: sorted.len(),
        })
    }
}

/// One system's measures of one figure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Measures {
    /// Nanoseconds under TCG, over the runs.
    pub(crate) tcg_ns: Option<Spread>,
    /// Nanoseconds under KVM, when KVM may give figures.
    pub(crate) kvm_ns: Option<Spread>,
    /// Instructions, one entry per `-icount` run.
    pub(crate) instructions: Vec<u64>,
}

impl Measures {
    /// The instruction count when every `-icount` run gave the same.
    pub(crate) fn agreed_instructions(&self) -> Option<u64> {
        let first = *self.instructions.first()?;
        self.instructions
            .iter()
            .all(|count| *count == first)
            .then_some(first)
    }

    /// What the `-icount` runs say: the count, or every count when they differ.
    pub(crate) fn instructions_shown(&self) -> String {
        match (self.agreed_instructions(), self.instructions.len()) {
            (_, 0) => "-".into(),
            (Some(count), 1) => format!("{count} (1 run)"),
            (Some(count), runs) => format!("{count} ({runs} runs agree)"),
            (None, _) => format!(
                "DIFFER: {}",
                self.instructions
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
        }
    }
}

/// What a figure should reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Goal {
    /// Ethos's instructions at most this fraction of the Linux guest's.
    RatioOfLinux(f64),
    /// Ethos's instructions at most this many.
    Instructions(u64),
    /// Ethos's TCG wall time at most this fraction of the Linux guest's (medians),
    /// for figures no instruction count can give (see `bench_fs.rs`).
    WallRatioOfLinux(f64),
}

impl Goal {
    pub(crate) fn describe(&self) -> String {
        match self {
            Goal::RatioOfLinux(ratio) => format!("≤ {ratio:.3}× Linux guest (instructions)"),
            Goal::Instructions(count) => format!("≤ {count} instructions"),
            Goal::WallRatioOfLinux(ratio) => {
                format!("≤ {ratio:.3}× Linux guest (TCG wall time)")
            }
        }
    }

    /// The goal in instructions, given the Linux guest's count.
    pub(crate) fn instructions(&self, linux: Option<u64>) -> Option<f64> {
        match self {
            Goal::RatioOfLinux(ratio) => linux.map(|count| count as f64 * ratio),
            Goal::Instructions(count) => Some(*count as f64),
            Goal::WallRatioOfLinux(_) => None,
        }
    }
}

/// One figure: Ethos beside the Linux guest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Metric {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) ethos: Measures,
    pub(crate) linux: Measures,
    /// Two host processes, by the host clock (the IPC figures only).
    pub(crate) host_ns: Option<f64>,
    pub(crate) goal: Option<Goal>,
}

impl Metric {
    /// Ethos / Linux guest, in instructions.
    pub(crate) fn instruction_ratio(&self) -> Option<f64> {
        let (ours, theirs) = (
            self.ethos.agreed_instructions()?,
            self.linux.agreed_instructions()?,
        );
        (theirs > 0).then(|| ours as f64 / theirs as f64)
    }

    /// Ethos / Linux guest, in TCG wall time (medians).
    pub(crate) fn tcg_ratio(&self) -> Option<f64> {
        let (ours, theirs) = (self.ethos.tcg_ns?, self.linux.tcg_ns?);
        (theirs.median > 0.0).then(|| ours.median / theirs.median)
    }

    /// Whether Ethos meets the goal, by its instruction count (or, for a wall time
    /// goal, by its TCG median).
    pub(crate) fn goal_met(&self) -> Option<bool> {
        if let Some(Goal::WallRatioOfLinux(ratio)) = self.goal {
            return Some(self.tcg_ratio()? <= ratio);
        }
        let goal = self
            .goal
            .as_ref()?
            .instructions(self.linux.agreed_instructions())?;
        Some(self.ethos.agreed_instructions()? as f64 <= goal)
    }
}

/// Everything one bench measured, as saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BenchResults {
    pub(crate) bench: String,
    pub(crate) commit: String,
    /// When the bench started and ended (UTC).
    pub(crate) started: String,
    pub(crate) finished: String,
    pub(crate) qemu: String,
    pub(crate) machine: String,
    pub(crate) linux_kernel: String,
    /// Why there are no KVM figures, or `usable`.
    pub(crate) kvm: String,
    /// The command lines, one per system and measure.
    pub(crate) commands: Vec<String>,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) notes: Vec<String>,
}

/// Where the benches keep their figures and the report.
/// What the results say of the Linux guest's kernel: its file's name, or that the
/// Linux guest was not measured.
pub(crate) fn linux_kernel_name(kernel: Option<&Path>) -> String {
    kernel
        .and_then(Path::file_name)
        .map_or("not measured".into(), |name| {
            name.to_string_lossy().into_owned()
        })
}

pub(crate) fn bench_directory() -> PathBuf {
    target_directory().join("bench")
}

/// What a profile's JSON file records of the run it comes from.
#[derive(Serialize)]
pub(crate) struct ProfileRun<'a> {
    commit: String,
    started: String,
    qemu: String,
    command: &'a str,
    window_function: &'a str,
    log_bytes: u64,
    untranslated_blocks_run: u64,
}

impl<'a> ProfileRun<'a> {
    /// The run `command` started at `started`, with its windows placed by
    /// `window_function`, whose log of `log_bytes` had `untranslated` block runs
    /// without a translation; the commit and QEMU are this tree's and this machine's.
    pub(crate) fn new(
        started: String,
        command: &'a str,
        window_function: &'a str,
        log_bytes: u64,
        untranslated: u64,
    ) -> ProfileRun<'a> {
        ProfileRun {
            commit: commit(),
            started,
            qemu: qemu_version(),
            command,
            window_function,
            log_bytes,
            untranslated_blocks_run: untranslated,
        }
    }
}

/// Writes a profile's report, `STEM.md` from `markdown`'s lines and `STEM.json` from
/// `saved`, in the bench directory; their paths.
pub(crate) fn write_profile(
    stem: &str,
    markdown: &[String],
    saved: &impl Serialize,
) -> Result<(PathBuf, PathBuf), XtaskError> {
    let directory = bench_directory();
    std::fs::create_dir_all(&directory).at(&directory)?;
    let report = directory.join(format!("{stem}.md"));
    std::fs::write(&report, markdown.join("\n")).at(&report)?;
    let json = directory.join(format!("{stem}.json"));
    let text = serde_json::to_string_pretty(saved)
        .map_err(|error| XtaskError::Usage(format!("encoding {}: {error}", json.display())))?;
    std::fs::write(&json, text).at(&json)?;
    Ok((report, json))
}

impl BenchResults {
    pub(crate) fn path(bench: &str) -> PathBuf {
        bench_directory().join(format!("{bench}.json"))
    }

    pub(crate) fn save(&self) -> Result<PathBuf, XtaskError> {
        let path = Self::path(&self.bench);
        std::fs::create_dir_all(bench_directory()).at(bench_directory())?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|error| XtaskError::Usage(format!("encoding {}: {error}", path.display())))?;
        std::fs::write(&path, text + "\n").at(&path)?;
        Ok(path)
    }

    /// Saves the results, says where, and gives the exit code of a bench that
    /// `failed` or not.
    pub(crate) fn save_and_finish(&self, failed: bool) -> Result<ExitCode, XtaskError> {
        let path = self.save()?;
        println!("saved {}", path.display());
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }

    pub(crate) fn load(bench: &str) -> Result<BenchResults, XtaskError> {
        let path = Self::path(bench);
        let text = std::fs::read_to_string(&path).map_err(|error| {
            XtaskError::Usage(format!(
                "{}: {error}; run `cargo xtask bench {bench}` first, or `cargo xtask bench report` without --saved",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|error| XtaskError::Description {
            path,
            location: Some((error.line(), error.column())),
            problem: error.to_string(),
        })
    }
}

fn first_line_of(command: &mut Command) -> String {
    command
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The commit measured, `+changes` when the work tree differs from it.
pub(crate) fn commit() -> String {
    let root = workspace_root();
    let hash = first_line_of(
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["rev-parse", "HEAD"]),
    );
    let dirty = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|output| !output.stdout.is_empty());
    if dirty {
        format!("{hash}+changes")
    } else {
        hash
    }
}

/// Now, in UTC.
pub(crate) fn now() -> String {
    first_line_of(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
}

/// The QEMU version line.
pub(crate) fn qemu_version() -> String {
    first_line_of(Command::new(ethos_tests::qemu::qemu_binary()).arg("--version"))
}

fn shown_ns(spread: Option<Spread>) -> String {
    spread.map_or("-".into(), |spread| {
        format!("{:.0} [{:.0}–{:.0}]", spread.median, spread.min, spread.max)
    })
}

fn shown_ratio(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |ratio| format!("{ratio:.3}x"))
}

/// The table of `results`, as printed and as put in the report.
pub(crate) fn table(results: &BenchResults) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<40} {:>6} | {:>28} | {:>28} | {:>8} | {:>10}",
        "figure", "", "Ethos", "Linux guest", "Ethos/L", "host procs"
    )];
    for metric in &results.metrics {
        lines.push(format!(
            "{:<40} {:>6} | {:>28} | {:>28} | {:>8} | {:>10}",
            metric.label,
            "tcg ns",
            shown_ns(metric.ethos.tcg_ns),
            shown_ns(metric.linux.tcg_ns),
            shown_ratio(metric.tcg_ratio()),
            metric.host_ns.map_or("-".into(), |ns| format!("{ns:.0}"))
        ));
        if metric.ethos.kvm_ns.is_some() || metric.linux.kvm_ns.is_some() {
            let ratio = match (metric.ethos.kvm_ns, metric.linux.kvm_ns) {
                (Some(ours), Some(theirs)) if theirs.median > 0.0 => {
                    Some(ours.median / theirs.median)
                }
                _ => None,
            };
            lines.push(format!(
                "{:<40} {:>6} | {:>28} | {:>28} | {:>8} |",
                "",
                "kvm ns",
                shown_ns(metric.ethos.kvm_ns),
                shown_ns(metric.linux.kvm_ns),
                shown_ratio(ratio)
            ));
        }
        lines.push(format!(
            "{:<40} {:>6} | {:>28} | {:>28} | {:>8} |",
            "",
            "instr",
            metric.ethos.instructions_shown(),
            metric.linux.instructions_shown(),
            shown_ratio(metric.instruction_ratio())
        ));
        if let Some(goal) = &metric.goal {
            let verdict = match metric.goal_met() {
                Some(true) => "met",
                Some(false) => "NOT met",
                None if matches!(goal, Goal::WallRatioOfLinux(_)) => {
                    "not judged (a system has no figure)"
                }
                None => "not judged (no agreed counts)",
            };
            lines.push(format!("{:<40} goal: {} — {verdict}", "", goal.describe()));
        }
    }
    lines.push(
        "(tcg: median [min–max] of each run's figure; instr: -icount shift=0,sleep=off, one count per run)"
            .into(),
    );
    lines
}

/// Prints the table and the notes.
pub(crate) fn print(results: &BenchResults) {
    println!();
    println!(
        "bench {} on {} ({}), commit {}, Linux guest {}",
        results.bench, results.machine, results.qemu, results.commit, results.linux_kernel
    );
    for line in table(results) {
        println!("{line}");
    }
    for note in &results.notes {
        println!("note: {note}");
    }
    println!("KVM: {}", results.kvm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_of_odd_even_and_no_samples() {
        let odd = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max, odd.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of(&[]), None);
    }

    fn metric(ethos: &[u64], linux: &[u64], goal: Option<Goal>) -> Metric {
        Metric {
            key: "rtt64".into(),
            label: "64 B round trip".into(),
            ethos: Measures {
                instructions: ethos.to_vec(),
                ..Measures::default()
            },
            linux: Measures {
                instructions: linux.to_vec(),
                ..Measures::default()
            },
            host_ns: None,
            goal,
        }
    }

    #[test]
    fn instruction_counts_count_only_when_the_runs_agree() {
        let agreed = metric(
            &[3000, 3000],
            &[9000, 9000],
            Some(Goal::RatioOfLinux(1.0 / 3.0)),
        );
        assert_eq!(agreed.instruction_ratio(), Some(3000.0 / 9000.0));
        assert_eq!(agreed.goal_met(), Some(true));
        assert_eq!(agreed.ethos.instructions_shown(), "3000 (2 runs agree)");
        let torn = metric(
            &[3000, 3001],
            &[9000, 9000],
            Some(Goal::RatioOfLinux(1.0 / 3.0)),
        );
        assert_eq!(torn.instruction_ratio(), None);
        assert_eq!(torn.goal_met(), None);
        assert_eq!(torn.ethos.instructions_shown(), "DIFFER: 3000 / 3001");
        let over = metric(&[60_000, 60_000], &[], Some(Goal::Instructions(50_000)));
        assert_eq!(over.goal_met(), Some(false));
        assert_eq!(over.instruction_ratio(), None);
    }

    #[test]
    fn a_wall_time_goal_is_judged_by_the_tcg_medians() {
        let mut metric = metric(&[], &[], Some(Goal::WallRatioOfLinux(1.0)));
        assert_eq!(metric.goal_met(), None);
        metric.ethos.tcg_ns = Spread::of(&[900.0, 1100.0, 1000.0]);
        metric.linux.tcg_ns = Spread::of(&[1000.0]);
        assert_eq!(metric.goal_met(), Some(true));
        metric.ethos.tcg_ns = Spread::of(&[1001.0]);
        assert_eq!(metric.goal_met(), Some(false));
        assert_eq!(Goal::WallRatioOfLinux(1.0).instructions(Some(5)), None);
    }

    #[test]
    fn results_survive_json() {
        let results = BenchResults {
            bench: "ipc".into(),
            commit: "abc".into(),
            started: "2026-01-01T00:00:00Z".into(),
            finished: "2026-01-01T00:01:00Z".into(),
            qemu: "QEMU emulator version 7.2".into(),
            machine: "pc".into(),
            linux_kernel: "vmlinuz-6.1.0-57-amd64".into(),
            kvm: "not usable".into(),
            commands: vec!["qemu-system-x86_64 -M pc".into()],
            metrics: vec![metric(&[1, 1], &[2, 2], Some(Goal::Instructions(5)))],
            notes: vec![],
        };
        let text = serde_json::to_string(&results).unwrap();
        let back: BenchResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back, results);
        assert!(table(&results).iter().any(|line| line.contains("0.500x")));
    }
}
