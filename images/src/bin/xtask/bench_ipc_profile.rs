//! `cargo xtask bench ipc --profile`: where the instructions of an Ethos round trip
//! go, by function.
//!
//! It boots the benchmark as `bench ipc` does under `-icount` (same kernel, same
//! `init=bench`, same machine and options) with QEMU's `-d in_asm,exec,nochain`
//! log written to a named pipe, and reads the log as it streams (a whole run logs
//! about 2 GB; nothing of it is kept). Each executed translated block's
//! instructions are credited to the function it starts in ([`crate::ipc_trace`]).
//! `bench-client` calls `BouncerClient::bounce` once per round trip, first
//! [`SAMPLES`] times with 64 B, then as many times with 4 KiB: the profile of each
//! size covers the middle half of its calls, from one entry into `bounce` to
//! another, and is divided by the round trips it holds. Its total must agree with
//! the round trip the client measured with `getTime` in the same run: the two
//! differ by what the window holds besides the round trip (the two clock reads
//! around each call and the loop), a few hundred instructions.
//!
//! Writes `target/bench/ipc-profile.md` and `ipc-profile.json`. It never changes
//! what `bench ipc` measures, and is never part of it.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ethos_images::{XtaskError, kernel, prerequisites};
use ethos_tests::harness::{self, Expectation, Verdict};
use ethos_tests::ipc_bench::{KernelFigures, kernel_figures};
use ethos_tests::qemu::{Accelerator, Machine};
use serde::Serialize;

use crate::bench_ipc;
use crate::bench_results::{self, bench_directory};
use crate::ipc_trace::{self, Entry, Executables, Owner, Profile, Window, WindowProfile};

/// Round trips `bench-client` makes per payload size (its `samples=`).
const SAMPLES: u64 = 2_000;
/// The client's function entered once per round trip.
const WINDOW_FUNCTION: &str = "bounce::bounce_once";
/// Functions printed per payload size (the files hold them all).
const PRINTED_FUNCTIONS: usize = 40;
/// How many of the hottest blocks the report lists; the terminal shows none.
const REPORTED_BLOCKS: usize = 150;
/// How far the profile's total may stray from the client's own figure: the clock
/// reads and the loop are a few hundred instructions; more than this means the
/// windows or the crediting are wrong.
const AGREEMENT: f64 = 0.15;
/// A logged run took a minute and a half on a quiet host; this leaves room for a
/// slow, busy one.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Why there is no profile.
#[derive(Debug)]
enum ProfileError {
    Xtask(XtaskError),
    Executable(ipc_trace::TraceError),
    /// A program of the benchmark is not among the programs built.
    MissingProgram(&'static str),
    /// The client has no single function to delimit the windows.
    WindowFunction {
        found: Vec<String>,
    },
    /// The run did not end as the benchmark should.
    Run(String),
    /// The client entered the window function an unexpected number of times.
    Entries {
        seen: u64,
        expected: u64,
    },
    /// The profile's total and the client's figure disagree.
    Disagreement(String),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::Xtask(error) => write!(f, "{error}"),
            ProfileError::Executable(error) => write!(f, "{error}"),
            ProfileError::MissingProgram(name) => {
                write!(f, "the build made no `{name}` program")
            }
            ProfileError::WindowFunction { found } => write!(
                f,
                "bench-client should have one function named `…{WINDOW_FUNCTION}`, it has {}: {}",
                found.len(),
                found.join(", ")
            ),
            ProfileError::Run(problem) => write!(f, "the profiled run failed: {problem}"),
            ProfileError::Entries { seen, expected } => write!(
                f,
                "the log shows {seen} entries into `{WINDOW_FUNCTION}` of bench-client, not \
                 {expected}: the windows cannot be placed"
            ),
            ProfileError::Disagreement(problem) => f.write_str(problem),
        }
    }
}

impl From<XtaskError> for ProfileError {
    fn from(error: XtaskError) -> Self {
        ProfileError::Xtask(error)
    }
}

impl From<ipc_trace::TraceError> for ProfileError {
    fn from(error: ipc_trace::TraceError) -> Self {
        ProfileError::Executable(error)
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ProfileError + '_ {
    move |error| {
        ProfileError::Xtask(XtaskError::File {
            path: path.to_path_buf(),
            error,
        })
    }
}

/// One payload size's window and its profile.
#[derive(Debug, Serialize)]
struct SizeProfile {
    payload_bytes: u64,
    /// The client's median round trip under `-icount`, in instructions.
    client_measured: u64,
    /// The profile's instructions per round trip.
    instructions_per_round_trip: f64,
    profile: WindowProfile,
}

impl SizeProfile {
    fn total(&self) -> f64 {
        self.instructions_per_round_trip
    }

    fn label(&self) -> String {
        match self.payload_bytes {
            4096 => "4 KiB".into(),
            bytes => format!("{bytes} B"),
        }
    }

    /// The figure's name in the client's line.
    fn key(&self) -> &'static str {
        if self.payload_bytes == 4096 {
            "rtt4k_ns"
        } else {
            "rtt64_ns"
        }
    }

    /// The report's lines: the first `functions` functions, then the first
    /// `blocks` blocks.
    fn lines(&self, functions: usize, blocks: usize) -> Vec<String> {
        let window = &self.profile;
        let total = self.total();
        let owners = window
            .owners()
            .iter()
            .map(|(owner, count)| {
                format!(
                    "{} {}",
                    owner.name(),
                    grouped(window.per_round_trip(*count))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let difference = total - self.client_measured as f64;
        let mut lines = vec![
            format!(
                "{} round trip: {} instructions per round trip ({owners})",
                self.label(),
                grouped(total)
            ),
            format!(
                "  over {} round trips, entries {} to {} into `{WINDOW_FUNCTION}`; the client \
                 measured {}={} under -icount, {:+.0} ({:+.1}%) from the profile: the profile \
                 also holds the two getTime calls and the loop around each call",
                grouped(window.round_trips as f64),
                grouped(window.window_first_entry as f64),
                grouped(window.window_end_entry as f64),
                self.key(),
                grouped(self.client_measured as f64),
                difference,
                100.0 * difference / self.client_measured as f64
            ),
            format!(
                "  {:>12} {:>6}  {:<7} function",
                "per trip", "share", "owner"
            ),
        ];
        for count in window.functions.iter().take(functions) {
            let per_trip = window.per_round_trip(count.instructions);
            lines.push(format!(
                "  {:>12} {:>5.1}%  {:<7} {}",
                format!("{per_trip:.1}"),
                100.0 * per_trip / total,
                count.owner.name(),
                count.function
            ));
        }
        if window.functions.len() > functions {
            lines.push(format!(
                "  … and {} more functions",
                window.functions.len() - functions
            ));
        }
        if blocks > 0 {
            lines.push(String::new());
            lines.push(format!(
                "  the {} blocks with the most instructions (a block is credited whole to \
                 the function it starts in):",
                blocks.min(window.blocks.len())
            ));
            lines.push(format!(
                "  {:>12} {:>8} {:>6}  {:<7} {:>18}  function",
                "per trip", "runs", "length", "owner", "address"
            ));
            for block in window.blocks.iter().take(blocks) {
                lines.push(format!(
                    "  {:>12} {:>8} {:>6}  {:<7} {:>#18x}  {}",
                    format!("{:.1}", window.per_round_trip(block.runs * block.length)),
                    format!("{:.2}", window.per_round_trip(block.runs)),
                    block.length,
                    block.owner.name(),
                    block.address,
                    block.function
                ));
            }
        }
        lines
    }
}

/// A count with thousands separated, rounded.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut shown = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            shown.push(',');
        }
        shown.push(digit);
    }
    if value < -0.5 {
        format!("-{shown}")
    } else {
        shown
    }
}

/// What is saved in `ipc-profile.json`.
#[derive(Serialize)]
struct Saved<'a> {
    #[serde(flatten)]
    run: bench_results::ProfileRun<'a>,
    sizes: &'a [SizeProfile],
}

pub(crate) fn profile(machine: Machine) -> Result<ExitCode, XtaskError> {
    match run_profile(machine) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ProfileError::Xtask(error)) => Err(error),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_profile(machine: Machine) -> Result<(), ProfileError> {
    let started = bench_results::now();
    let clock = Instant::now();
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let build = kernel::build(kernel::Flavour::Production)?;
    let program = |name: &'static str| {
        build
            .programs
            .iter()
            .find(|path| path.file_name().is_some_and(|file| file == name))
            .ok_or(ProfileError::MissingProgram(name))
    };
    let executables = Executables {
        kernel: ipc_trace::read_executable(&build.kernel)?.symbols,
        client: ipc_trace::read_executable(program("bench-client")?)?,
        server: ipc_trace::read_executable(program("bench-server")?)?,
    };
    let entry_address = window_function(&executables)?;
    let windows = [0, 1].map(|phase| Window {
        first: phase * SAMPLES + SAMPLES / 4,
        end: phase * SAMPLES + SAMPLES * 3 / 4,
    });
    let directory = bench_directory();
    std::fs::create_dir_all(&directory).map_err(file_error(&directory))?;
    let pipe = directory.join("ipc-profile.log.pipe");
    ipc_trace::make_pipe(&pipe).map_err(file_error(&pipe))?;
    let mut config = bench_ipc::ethos_config(&build.kernel, machine, Accelerator::Tcg, true);
    config.extra.extend(ipc_trace::log_options(&pipe));
    let command = config.display();
    println!("$ {command}");
    println!(
        "(QEMU's log streams through {}; nothing of it is kept)",
        pipe.display()
    );
    let entry = Entry {
        owner: Owner::Client,
        address: entry_address,
    };
    let (transcript, streamed) =
        ipc_trace::profiled(&pipe, &executables, entry, windows.to_vec(), || {
            harness::run(&config, TIMEOUT)
        });
    let (profile, log_bytes) = match streamed {
        Ok(result) => result.map_err(file_error(&pipe))?,
        Err(_) => return Err(ProfileError::Run("the log reader panicked".into())),
    };
    let figures = judged_figures(&transcript)?;
    println!(
        "log: {:.2} GB read in {:.0} s; the client printed null_ns={} rtt64_ns={} rtt4k_ns={} \
         samples={}",
        log_bytes as f64 / 1e9,
        clock.elapsed().as_secs_f64(),
        figures.null_call_ns,
        figures.round_trip_64_ns,
        figures.round_trip_4k_ns,
        figures.samples
    );
    let untranslated = profile.untranslated;
    let untranslated_note = profile.untranslated_note();
    let sizes = sizes(profile, &figures)?;
    let mut report = vec![
        "# Where an Ethos round trip's instructions go".to_string(),
        String::new(),
        format!(
            "`cargo xtask bench ipc --profile` on {started}, commit {}: each translated block \
             QEMU ran is credited to the function it starts in (kernel symbols; in user space \
             the program whose bytes the block is, `both` where the two programs' bytes are \
             the same), per round trip.",
            bench_results::commit()
        ),
        String::new(),
        format!("    $ {command}"),
        String::new(),
    ];
    for size in &sizes {
        let lines = size.lines(PRINTED_FUNCTIONS, 0);
        println!();
        for line in &lines {
            println!("{line}");
        }
        report.push("```".into());
        report.extend(size.lines(usize::MAX, REPORTED_BLOCKS));
        report.push("```".into());
        report.push(String::new());
    }
    if let Some(note) = untranslated_note {
        println!("{note}");
        report.push(note);
    }
    let saved = Saved {
        run: bench_results::ProfileRun::new(
            started,
            &command,
            WINDOW_FUNCTION,
            log_bytes,
            untranslated,
        ),
        sizes: &sizes,
    };
    let (markdown, json) = bench_results::write_profile("ipc-profile", &report, &saved)?;
    println!();
    println!("wrote {} and {}", markdown.display(), json.display());
    agreement(&sizes)
}

/// The address of `bounce` in bench-client.
fn window_function(executables: &Executables) -> Result<u64, ProfileError> {
    executables
        .client
        .symbols
        .only_address_of(|name| name.ends_with(WINDOW_FUNCTION))
        .map_err(|found| ProfileError::WindowFunction { found })
}

/// The client's figures, when the run ended as the benchmark does.
fn judged_figures(transcript: &harness::Transcript) -> Result<KernelFigures, ProfileError> {
    let judged = harness::judge(
        transcript,
        &Expectation::Ends {
            code: ethos_abi::ExitCode::Success,
            check: |transcript| kernel_figures(transcript).map(drop),
        },
    );
    match (judged, kernel_figures(transcript)) {
        (Verdict::Passed, Ok(figures)) if figures.samples == SAMPLES => Ok(figures),
        (Verdict::Passed, Ok(figures)) => Err(ProfileError::Run(format!(
            "the client made {} round trips per size, the windows are placed for {SAMPLES}",
            figures.samples
        ))),
        (verdict, figures) => {
            let log = transcript
                .keep(&bench_directory().join("logs"), "ipc-profile")
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            Err(ProfileError::Run(format!(
                "{verdict:?} {:?} ({}); serial log: {log}",
                figures.err(),
                transcript.end
            )))
        }
    }
}

/// Each size's profile beside the client's figure, once the windows are sure.
fn sizes(profile: Profile, figures: &KernelFigures) -> Result<Vec<SizeProfile>, ProfileError> {
    let expected = 2 * SAMPLES;
    if profile.entries != expected {
        return Err(ProfileError::Entries {
            seen: profile.entries,
            expected,
        });
    }
    Ok(profile
        .windows
        .into_iter()
        .zip([
            (64, figures.round_trip_64_ns),
            (4096, figures.round_trip_4k_ns),
        ])
        .map(|(profile, (payload_bytes, client_measured))| SizeProfile {
            payload_bytes,
            client_measured,
            instructions_per_round_trip: profile.per_round_trip(profile.instructions),
            profile,
        })
        .collect())
}

/// Fails when a profile's total strays from the client's figure by more than
/// [`AGREEMENT`].
fn agreement(sizes: &[SizeProfile]) -> Result<(), ProfileError> {
    for size in sizes {
        let measured = size.client_measured as f64;
        if (size.total() - measured).abs() > AGREEMENT * measured {
            return Err(ProfileError::Disagreement(format!(
                "the {} profile totals {} instructions per round trip, the client measured {} \
                 ({}): more apart than {:.0}%, so the profile does not describe the round trip",
                size.label(),
                grouped(size.total()),
                grouped(measured),
                size.key(),
                AGREEMENT * 100.0
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(8535.4), "8,535");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
        assert_eq!(grouped(-1500.0), "-1,500");
    }
}
