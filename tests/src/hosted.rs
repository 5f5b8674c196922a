//! The hosted rows: the init sets of the QEMU `process-*` rows, run on Linux through
//! the hosted platform (`ethos-hosted IMAGE init=SET`, each program a thread) and
//! judged by the very checks of those rows.
//!
//! Each row is made from its QEMU row ([`crate::scenarios`], [`crate::hostile`]): the
//! same command line, the same expected end, the same check of the transcript; only
//! the machine differs. A set the hosted platform cannot run (a program that needs an MMU,
//! `fork`) is refused by the runner with an `@ethos test-fail` report named
//! [`HOSTED_UNSUPPORTED`]; the row is then skipped with the runner's reason if
//! [`CANNOT_RUN`] expects the refusal, and failed if it does not, so a set that ran
//! hosted yesterday cannot quietly stop running.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use ethos_abi::report::contract::HOSTED_UNSUPPORTED;
use ethos_abi::{ExitCode, Report};

use crate::harness::{self, Expectation, RunEnd, Transcript, Verdict};
use crate::qemu::shell_quote;
use crate::system::{Media, Outcome};

/// The sets the hosted platform cannot run, and why: their rows are skipped when the
/// runner refuses them for that.
pub const CANNOT_RUN: &[(&str, &str)] = &[
    (
        "init=faults",
        "its fault programs need an MMU and a kernel that survives their faults",
    ),
    (
        "init=family",
        "`family` forks, and a thread cannot be copied",
    ),
    (
        "init=memory",
        "`memory-hog` makes raw calls (a `print` over the limit passed with its own \
         length), which the hosted binary's library does not make",
    ),
    (
        "init=fuzz-1",
        "`syscall-fuzz` makes raw calls with hostile addresses and forks",
    ),
    (
        "init=fuzz-7",
        "`syscall-fuzz` makes raw calls with hostile addresses and forks",
    ),
    (
        "init=fuzz-42",
        "`syscall-fuzz` makes raw calls with hostile addresses and forks",
    ),
    (
        "init=fuzz-1337",
        "`syscall-fuzz` makes raw calls with hostile addresses and forks",
    ),
    (
        "init=kill-waiting",
        "`kill-waiting` forks, and a thread cannot be copied",
    ),
    (
        "init=fork-churn",
        "`fork-churn` forks, and a thread cannot be copied",
    ),
];

/// How long a hosted run may take unless its QEMU row allows longer.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One hosted row.
#[derive(Clone, Debug)]
pub struct HostedTest {
    pub name: String,
    pub about: String,
    /// The command line: `init=SET`.
    pub words: &'static str,
    /// The check of the QEMU row this one is made from.
    pub check: fn(&Transcript) -> Result<(), String>,
    pub timeout: Duration,
    /// Why the hosted platform is expected to refuse the set, if it is.
    pub cannot_run: Option<&'static str>,
}

/// What the rows need from the build.
#[derive(Clone, Debug)]
pub struct HostedInputs {
    /// The hosted runner (`ethos-hosted`).
    pub runner: PathBuf,
    /// The packed initial image it runs sets of.
    pub initial_image: PathBuf,
    /// Where failed runs' logs go.
    pub log_directory: PathBuf,
}

/// A row for every QEMU `process-*` row that boots the kernel with tests with an
/// `init=SET` command line and expects success.
pub fn all() -> Vec<HostedTest> {
    crate::scenarios::all()
        .into_iter()
        .chain(crate::hostile::all())
        .filter_map(|row| {
            let Media::Pvh { test: None, words } = row.media else {
                return None;
            };
            let Expectation::Ends {
                code: ExitCode::Success,
                check,
            } = row.expectation
            else {
                return None;
            };
            words.starts_with("init=").then(|| HostedTest {
                name: format!("hosted-{}", row.name),
                about: format!("{} (hosted: programs as threads on Linux)", row.about),
                words,
                check,
                timeout: row.timeout.unwrap_or(TIMEOUT).max(TIMEOUT),
                cannot_run: CANNOT_RUN
                    .iter()
                    .find(|(set, _)| *set == words)
                    .map(|(_, why)| *why),
            })
        })
        .collect()
}

/// The rows whose name contains `filter` (all rows for `None`).
pub fn select(filter: Option<&str>) -> Vec<HostedTest> {
    all()
        .into_iter()
        .filter(|row| filter.is_none_or(|filter| row.name.contains(filter)))
        .collect()
}

/// How a hosted run ended, from the runner's exit status.
fn classify(status: ExitStatus) -> RunEnd {
    match status.code() {
        Some(code) => match ExitCode::from_host_status(code) {
            Some(kernel) => RunEnd::Kernel(kernel),
            None => RunEnd::Hosted(Some(code)),
        },
        None => RunEnd::Hosted(None),
    }
}

/// The reason the runner gave for refusing the set, if it refused it.
fn refusal(transcript: &Transcript) -> Option<String> {
    transcript.reports().find_map(|report| match report {
        Ok(Report::TestFail { name, reason }) if name == HOSTED_UNSUPPORTED => {
            Some(reason.to_string())
        }
        _ => None,
    })
}

impl HostedTest {
    /// The runner's command line for this row.
    pub fn command(&self, inputs: &HostedInputs) -> Command {
        let mut command = Command::new(&inputs.runner);
        command
            .arg(&inputs.initial_image)
            .args(self.words.split_whitespace());
        command
    }

    /// The command as a shell line.
    pub fn display(&self, inputs: &HostedInputs) -> String {
        std::iter::once(inputs.runner.to_string_lossy())
            .chain(std::iter::once(inputs.initial_image.to_string_lossy()))
            .map(|word| shell_quote(&word))
            .chain(self.words.split_whitespace().map(str::to_string))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Judges a finished run: skipped if the runner refused a set it is expected to
    /// refuse, failed if it refused another, else judged as the QEMU row is.
    pub fn judge(&self, transcript: &Transcript) -> Verdict {
        match (refusal(transcript), self.cannot_run) {
            (Some(reason), Some(_)) if transcript.end == RunEnd::Kernel(ExitCode::Failure) => {
                Verdict::Skipped(format!("the hosted platform cannot run it: {reason}"))
            }
            (Some(reason), _) => Verdict::Failed(format!(
                "the hosted platform refused a set it is expected to run: {reason} ({})",
                transcript.end
            )),
            (None, _) => harness::judge(
                transcript,
                &Expectation::Ends {
                    code: ExitCode::Success,
                    check: self.check,
                },
            ),
        }
    }

    /// Runs this row and judges it.
    pub fn run(&self, inputs: &HostedInputs) -> Outcome {
        let started = Instant::now();
        let transcript = harness::run_process(
            self.command(inputs),
            self.display(inputs),
            self.timeout,
            |_| {},
            classify,
        );
        let verdict = self.judge(&transcript);
        let log = match verdict {
            Verdict::Failed(_) => transcript.keep(&inputs.log_directory, &self.name).ok(),
            _ => None,
        };
        Outcome {
            verdict,
            elapsed: started.elapsed(),
            log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(lines: &[&str], end: RunEnd) -> Transcript {
        crate::harness::transcript_of(lines, end)
    }

    fn row(name: &str) -> HostedTest {
        all()
            .into_iter()
            .find(|row| row.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    }

    #[test]
    fn every_init_set_of_the_qemu_rows_has_a_hosted_row() {
        let names: Vec<String> = all().into_iter().map(|row| row.name).collect();
        for set in [
            "ipc",
            "typecheck",
            "authorization",
            "faults",
            "fdsend",
            "events",
            "family",
            "soak",
            "memory-hog",
            "value-flood",
            "peek-flood",
            "cancel-churn",
            "kill-waiting",
            "fork-churn",
            "deadlock-after-cancel",
            "print-flood",
        ] {
            assert!(
                names.contains(&format!("hosted-process-{set}")),
                "{names:?}"
            );
        }
        // The production kernel's row is no init set of the kernel with tests.
        assert!(!names.iter().any(|name| name.contains("production")));
        for (set, _) in CANNOT_RUN {
            assert!(all().iter().any(|row| row.words == *set), "{set}");
        }
    }

    #[test]
    fn a_hosted_row_judges_with_its_qemu_rows_check() {
        let ipc = row("hosted-process-ipc");
        let good = transcript(
            &[
                "user alice: calc-server: connection from bob",
                "user bob: calc-client: 110 replies correct",
                "@ethos process-end pid=1 user=alice program=calc-server how=exit status=0",
                "@ethos process-end pid=2 user=bob program=calc-client how=exit status=0",
            ],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert_eq!(ipc.judge(&good), Verdict::Passed);
        let wrong_status = transcript(
            &[
                "user alice: calc-server: connection from bob",
                "user bob: calc-client: 110 replies correct",
                "@ethos process-end pid=1 user=alice program=calc-server how=exit status=0",
                "@ethos process-end pid=2 user=bob program=calc-client how=exit status=2",
            ],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert!(matches!(ipc.judge(&wrong_status), Verdict::Failed(_)));
        let runner_panicked = transcript(&good_lines(&good), RunEnd::Hosted(Some(101)));
        assert!(
            matches!(ipc.judge(&runner_panicked), Verdict::Failed(reason) if reason.contains("status 101"))
        );
    }

    fn good_lines(transcript: &Transcript) -> Vec<&str> {
        transcript
            .lines
            .iter()
            .map(|(_, line)| line.as_str())
            .collect()
    }

    #[test]
    fn a_refusal_skips_only_the_sets_expected_to_be_refused() {
        let refused = transcript(
            &[
                "@ethos test-fail name=hosted-unsupported reason=init set `x`: program `y` cannot run hosted: it forks",
            ],
            RunEnd::Kernel(ExitCode::Failure),
        );
        assert!(
            matches!(row("hosted-process-family").judge(&refused), Verdict::Skipped(reason) if reason.contains("it forks"))
        );
        assert!(
            matches!(row("hosted-process-ipc").judge(&refused), Verdict::Failed(reason) if reason.contains("expected to run"))
        );
        // A set expected to be refused that runs is judged like any other.
        let ran = transcript(&[], RunEnd::Kernel(ExitCode::Success));
        assert!(matches!(
            row("hosted-process-family").judge(&ran),
            Verdict::Failed(_)
        ));
    }
}
