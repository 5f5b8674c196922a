//! Boots one QEMU (or starts one hosted run), collects what the kernel says, and
//! judges it.
//!
//! The serial console (a hosted run's standard output) is read line by line on a
//! thread; the run ends when the process exits or the deadline passes, in which case
//! it is killed. The verdict comes from the exit code (mapped through
//! [`ethos_abi::ExitCode`]) *and* the report lines: an exit code alone never passes a
//! test.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ethos_abi::{ExitCode, KernelTest, Report};

use crate::qemu::{QemuConfig, QemuProcess};

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The kernel wrote this code to the exit device.
    Kernel(ExitCode),
    /// The machine had no exit device: QEMU ended on the kernel's reset, and the
    /// kernel's last `@ethos exit` report gave this code.
    Reported(ExitCode),
    /// QEMU exited with a status the kernel cannot produce (0: powered off or
    /// triple-faulted with `-no-reboot`; even numbers: QEMU's own errors).
    QemuStatus(i32),
    /// QEMU was ended by a signal.
    Signal,
    /// The hosted runner exited with a status that is no kernel code (a panic of the
    /// runner itself), or was ended by a signal (`None`).
    Hosted(Option<i32>),
    /// The deadline passed; the process was killed.
    TimedOut(Duration),
    /// The process could not be started.
    SpawnFailed(String),
}

impl fmt::Display for RunEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunEnd::Kernel(code) => write!(f, "the kernel exited with `{}`", code.name()),
            RunEnd::Reported(code) => write!(
                f,
                "the kernel reported `{}` and reset the machine",
                code.name()
            ),
            RunEnd::QemuStatus(status) => {
                write!(
                    f,
                    "QEMU exited with status {status} without the kernel's exit code"
                )
            }
            RunEnd::Signal => write!(f, "QEMU was killed by a signal"),
            RunEnd::Hosted(Some(status)) => write!(
                f,
                "the hosted runner exited with status {status} without the kernel's word"
            ),
            RunEnd::Hosted(None) => write!(f, "the hosted runner was killed by a signal"),
            RunEnd::TimedOut(limit) => {
                write!(
                    f,
                    "no end within {:.0} s; the run was killed",
                    limit.as_secs_f64()
                )
            }
            RunEnd::SpawnFailed(error) => write!(f, "the run could not be started: {error}"),
        }
    }
}

impl RunEnd {
    /// The code the kernel ended the run with, by the exit device or by its report
    /// before a reset.
    pub fn kernel_code(&self) -> Option<ExitCode> {
        match self {
            RunEnd::Kernel(code) | RunEnd::Reported(code) => Some(*code),
            _ => None,
        }
    }
}

/// The code of the last `@ethos exit` report among `lines`.
fn reported_exit(lines: &[(Duration, String)]) -> Option<ExitCode> {
    lines
        .iter()
        .rev()
        .find_map(|(_, line)| match Report::parse(line) {
            Ok(Some(Report::Exit { code })) => Some(code),
            _ => None,
        })
}

/// Everything one run produced.
#[derive(Clone, Debug)]
pub struct Transcript {
    pub command: String,
    /// Serial console lines, each with the time since QEMU was spawned.
    pub lines: Vec<(Duration, String)>,
    pub stderr: String,
    pub end: RunEnd,
}

impl Transcript {
    /// The report lines, parsed; malformed ones are returned as errors.
    pub fn reports(&self) -> impl Iterator<Item = Result<Report<'_>, String>> {
        self.lines
            .iter()
            .filter_map(|(_, line)| match Report::parse(line) {
                Ok(Some(report)) => Some(Ok(report)),
                Ok(None) => None,
                Err(error) => Some(Err(format!("malformed report `{line}`: {error}"))),
            })
    }

    /// The value of the first metric report named `wanted`.
    pub fn metric(&self, wanted: &str) -> Option<u64> {
        self.reports().find_map(|report| match report {
            Ok(Report::Metric { name, value, .. }) if name == wanted => Some(value),
            _ => None,
        })
    }

    /// Time from QEMU's spawn to the kernel's ready line.
    pub fn ready_after(&self) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, line)| matches!(Report::parse(line), Ok(Some(Report::Ready { .. }))))
            .map(|(at, _)| *at)
    }

    /// The kernel's own entry → ready time, in nanoseconds.
    pub fn kernel_boot_nanos(&self) -> Option<u64> {
        self.reports().find_map(|report| match report {
            Ok(Report::Ready { boot_ns, .. }) => Some(boot_ns),
            _ => None,
        })
    }

    /// Writes the whole run to `directory/name.log` and returns the path.
    pub fn keep(&self, directory: &Path, name: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(directory)?;
        let path = directory.join(format!("{name}.log"));
        let mut text = format!("$ {}\n# end: {}\n", self.command, self.end);
        for (at, line) in &self.lines {
            text.push_str(&format!("[{:9.3}] {line}\n", at.as_secs_f64()));
        }
        if !self.stderr.is_empty() {
            text.push_str("# stderr:\n");
            text.push_str(&self.stderr);
        }
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// The number a line of figures (words `key=value`, as the benchmark programs print
/// them) gives for `key`.
pub fn field(line: &str, key: &str) -> Result<u64, String> {
    line.split_ascii_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .ok_or_else(|| format!("`{line}` lacks `{key}=`"))?
        .parse()
        .map_err(|_| format!("`{key}` in `{line}` is not a number"))
}

/// Boots `config`, waits at most `timeout`, and returns the transcript. QEMU is
/// always gone when this returns.
pub fn run(config: &QemuConfig, timeout: Duration) -> Transcript {
    run_observed(config, timeout, |_| {})
}

/// Like [`run`], and hands every serial line to `observe` as it arrives, so host
/// work can start when the kernel says it is ready for it.
pub fn run_observed(
    config: &QemuConfig,
    timeout: Duration,
    observe: impl FnMut(&str),
) -> Transcript {
    run_process(
        config.command(),
        config.display(),
        timeout,
        observe,
        classify,
    )
}

/// Runs `command` (shown as `display`) as [`run_observed`] runs QEMU: its standard
/// output is the console, and `classify` says how its exit status ended the run.
pub fn run_process(
    to_run: Command,
    display: String,
    timeout: Duration,
    mut observe: impl FnMut(&str),
    classify: fn(ExitStatus) -> RunEnd,
) -> Transcript {
    let program = to_run.get_program().to_string_lossy().into_owned();
    let command = display;
    let spawned = Instant::now();
    let mut process = match QemuProcess::spawn(to_run, Stdio::piped()) {
        Ok(process) => process,
        Err(error) => {
            return Transcript {
                command,
                lines: Vec::new(),
                stderr: String::new(),
                end: RunEnd::SpawnFailed(format!("{program}: {error}")),
            };
        }
    };
    let (sender, receiver) = mpsc::channel::<(Duration, String)>();
    let stdout = process.child().stdout.take();
    // The text after the last newline when the output closes: a line the kernel
    // had not finished, kept apart so that a run the harness cuts short does not
    // read a number it cut in two (`durable 18` of `durable 18251`).
    let (fragment_sender, fragment_receiver) = mpsc::channel::<(Duration, String)>();
    let reader = std::thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        let mut reader = BufReader::new(stdout);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(_) if buffer.last() != Some(&b'\n') => {
                    let fragment = String::from_utf8_lossy(&buffer)
                        .trim_end_matches('\r')
                        .to_string();
                    let _ = fragment_sender.send((spawned.elapsed(), fragment));
                    return;
                }
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    if sender.send((spawned.elapsed(), line)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stderr = process.child().stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });

    let deadline = spawned + timeout;
    let mut lines = Vec::new();
    let end = loop {
        let now = Instant::now();
        if now >= deadline {
            process.kill();
            break RunEnd::TimedOut(timeout);
        }
        match receiver.recv_timeout((deadline - now).min(Duration::from_millis(50))) {
            Ok(line) => {
                observe(&line.1);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Output closed: QEMU is exiting. Give it until the deadline.
                match process.try_wait() {
                    Ok(Some(status)) => break classify(status),
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(error) => {
                        process.kill();
                        break RunEnd::SpawnFailed(error.to_string());
                    }
                }
            }
        }
    };
    process.kill();
    let _ = reader.join();
    lines.extend(receiver.try_iter());
    // An unfinished last line is the kernel's own when it ended the run (a panic
    // message cut short is still worth reading), and a cut artefact when the
    // harness killed it at the deadline.
    if !matches!(end, RunEnd::TimedOut(_)) {
        lines.extend(fragment_receiver.try_iter());
    }
    // Status 0 is QEMU ending on a reset (`-no-reboot`): on a machine without the
    // exit device, the kernel's last report is its word.
    let end = match (end, reported_exit(&lines)) {
        (RunEnd::QemuStatus(0), Some(code)) => RunEnd::Reported(code),
        (end, _) => end,
    };
    let stderr = stderr_reader.join().unwrap_or_default();
    Transcript {
        command,
        lines,
        stderr,
        end,
    }
}

/// How a QEMU run ended, from QEMU's exit status.
fn classify(status: ExitStatus) -> RunEnd {
    match status.code() {
        Some(code) => match ExitCode::from_qemu_status(code) {
            Some(kernel) => RunEnd::Kernel(kernel),
            None => RunEnd::QemuStatus(code),
        },
        None => RunEnd::Signal,
    }
}

/// What a system test expects of a run.
#[derive(Clone, Copy, Debug)]
pub enum Expectation {
    /// The named kernel test reaches `test-pass` and the kernel exits with success.
    Pass { test: KernelTest },
    /// The run ends with `code`, and `check` accepts the transcript.
    Ends {
        code: ExitCode,
        check: fn(&Transcript) -> Result<(), String>,
    },
}

/// A judgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
    Skipped(String),
}

/// Judges `transcript` against `expectation`.
pub fn judge(transcript: &Transcript, expectation: &Expectation) -> Verdict {
    let mut reports = Vec::new();
    for report in transcript.reports() {
        match report {
            Ok(report) => reports.push(report),
            Err(error) => return Verdict::Failed(error),
        }
    }
    // The exit device and the exit report must say the same.
    if let (RunEnd::Kernel(code), Some(reported)) =
        (&transcript.end, reported_exit(&transcript.lines))
        && *code != reported
    {
        return Verdict::Failed(format!(
            "the kernel reported `{}` but exited with `{}`",
            reported.name(),
            code.name()
        ));
    }
    match expectation {
        Expectation::Pass { test } => {
            let test = test.name();
            if let Some(reason) = reports.iter().find_map(|report| match report {
                Report::TestFail { name, reason } => Some(format!("`{name}` failed: {reason}")),
                _ => None,
            }) {
                return Verdict::Failed(reason);
            }
            if !reports.iter().any(|r| matches!(r, Report::Ready { .. })) {
                return Verdict::Failed(format!(
                    "the kernel never reported ready ({})",
                    transcript.end
                ));
            }
            if !reports
                .iter()
                .any(|r| matches!(r, Report::TestPass { name } if *name == test))
            {
                return Verdict::Failed(format!(
                    "no test-pass report for `{test}` ({})",
                    transcript.end
                ));
            }
            if transcript.end.kernel_code() != Some(ExitCode::Success) {
                return Verdict::Failed(format!("`{test}` reported a pass but {}", transcript.end));
            }
            Verdict::Passed
        }
        Expectation::Ends { code, check } => {
            if transcript.end.kernel_code() != Some(*code) {
                return Verdict::Failed(format!(
                    "expected the kernel to exit with `{}`, but {}",
                    code.name(),
                    transcript.end
                ));
            }
            match check(transcript) {
                Ok(()) => Verdict::Passed,
                Err(reason) => Verdict::Failed(reason),
            }
        }
    }
}

/// A transcript of `lines`, all at time zero, that ended as `end`: for the tests
/// of judgements.
#[cfg(test)]
pub(crate) fn transcript_of(lines: &[&str], end: RunEnd) -> Transcript {
    Transcript {
        command: String::new(),
        lines: lines
            .iter()
            .map(|line| (Duration::ZERO, line.to_string()))
            .collect(),
        stderr: String::new(),
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(lines: &[&str], end: RunEnd) -> Transcript {
        Transcript {
            command: "qemu".into(),
            lines: lines
                .iter()
                .enumerate()
                .map(|(index, line)| (Duration::from_millis(index as u64), line.to_string()))
                .collect(),
            stderr: String::new(),
            end,
        }
    }

    const READY: &str = "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh";

    #[test]
    fn a_pass_needs_ready_the_pass_report_and_the_success_code() {
        let pass = Expectation::Pass {
            test: KernelTest::Heap,
        };
        let good = transcript(
            &[
                READY,
                "@ethos test-begin name=heap",
                "@ethos test-pass name=heap",
            ],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert_eq!(judge(&good, &pass), Verdict::Passed);
        assert_eq!(good.ready_after(), Some(Duration::from_millis(0)));
        assert_eq!(good.kernel_boot_nanos(), Some(1000));

        let silent_success = transcript(&[READY], RunEnd::Kernel(ExitCode::Success));
        assert!(
            matches!(judge(&silent_success, &pass), Verdict::Failed(reason) if reason.contains("no test-pass"))
        );

        let other_test = transcript(
            &[READY, "@ethos test-pass name=timer"],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert!(matches!(judge(&other_test, &pass), Verdict::Failed(_)));

        let wrong_code = transcript(
            &[READY, "@ethos test-pass name=heap"],
            RunEnd::QemuStatus(0),
        );
        assert!(
            matches!(judge(&wrong_code, &pass), Verdict::Failed(reason) if reason.contains("status 0"))
        );

        let failed = transcript(
            &[READY, "@ethos test-fail name=heap reason=slot 3 changed"],
            RunEnd::Kernel(ExitCode::Failure),
        );
        assert_eq!(
            judge(&failed, &pass),
            Verdict::Failed("`heap` failed: slot 3 changed".into())
        );

        let timed_out = transcript(&[READY], RunEnd::TimedOut(Duration::from_secs(5)));
        assert!(
            matches!(judge(&timed_out, &pass), Verdict::Failed(reason) if reason.contains("no end within 5 s"))
        );
    }

    #[test]
    fn without_an_exit_device_the_exit_report_is_the_verdict() {
        let pass = Expectation::Pass {
            test: KernelTest::Heap,
        };
        let lines = [
            READY,
            "@ethos test-pass name=heap",
            "@ethos exit code=success",
        ];
        let lines: Vec<(Duration, String)> = lines
            .iter()
            .map(|line| (Duration::ZERO, line.to_string()))
            .collect();
        assert_eq!(reported_exit(&lines), Some(ExitCode::Success));
        let reset = transcript(
            &[
                READY,
                "@ethos test-pass name=heap",
                "@ethos exit code=success",
            ],
            RunEnd::Reported(ExitCode::Success),
        );
        assert_eq!(judge(&reset, &pass), Verdict::Passed);
        let reset_failed = transcript(
            &[READY, "@ethos exit code=failure"],
            RunEnd::Reported(ExitCode::Failure),
        );
        assert!(matches!(judge(&reset_failed, &pass), Verdict::Failed(_)));
        // The exit device and the report disagree: the run is failed.
        let torn = transcript(
            &[
                READY,
                "@ethos test-pass name=heap",
                "@ethos exit code=failure",
            ],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert!(
            matches!(judge(&torn, &pass), Verdict::Failed(reason) if reason.contains("reported `failure`"))
        );
        assert_eq!(reported_exit(&[]), None);
    }

    #[test]
    fn malformed_reports_fail_the_run() {
        let garbled = transcript(
            &[READY, "@ethos test-pass", "@ethos test-pass name=heap"],
            RunEnd::Kernel(ExitCode::Success),
        );
        assert!(matches!(
            judge(&garbled, &Expectation::Pass {
            test: KernelTest::Heap,
        }),
            Verdict::Failed(reason) if reason.contains("malformed")
        ));
    }

    #[test]
    fn expected_endings_check_code_and_transcript() {
        fn mentions_panic(transcript: &Transcript) -> Result<(), String> {
            transcript
                .lines
                .iter()
                .any(|(_, line)| line.contains("kernel panic"))
                .then_some(())
                .ok_or_else(|| "no panic message".to_string())
        }
        let expectation = Expectation::Ends {
            code: ExitCode::Failure,
            check: mentions_panic,
        };
        let panicked = transcript(&["kernel panic: boom"], RunEnd::Kernel(ExitCode::Failure));
        assert_eq!(judge(&panicked, &expectation), Verdict::Passed);
        let quiet = transcript(&["nothing"], RunEnd::Kernel(ExitCode::Failure));
        assert_eq!(
            judge(&quiet, &expectation),
            Verdict::Failed("no panic message".into())
        );
        let success = transcript(&["kernel panic: boom"], RunEnd::Kernel(ExitCode::Success));
        assert!(matches!(judge(&success, &expectation), Verdict::Failed(_)));
    }
}
