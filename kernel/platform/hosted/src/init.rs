//! `init=SET` on the hosted platform: reads a packed initial image with the core's
//! own reader, runs its process set SET to the end and reports as the x86_64
//! kernel's `init` does.
//!
//! What it prints is what a QEMU run prints for the same set: a ready line, each
//! program's output (`user NAME: …`), a console line and an `@ethos process-end`
//! report as each process ends, the per-process kernel memory limit (the image's:
//! the host's heap is not bounded, so nothing lowers it), the kernel's heap before,
//! at its peak and after the run (when [`crate::heap::KernelHeap`] is the
//! allocator), and how many processes ended. The run succeeds when the set ran to
//! its end, whatever its processes did: judging them is the harness's work, as on
//! QEMU. It fails, with an `@ethos test-fail` report naming why, for a bad command
//! line or image or an unknown set.
//! What the hosted platform cannot do — a program that needs an MMU or is no host
//! function, `fork`, `test=NAME` — fails the run with the report named
//! [`HOSTED_UNSUPPORTED`], so the harness can tell "cannot run here" from "ran
//! wrong". This module never runs a set partly: every program of the set is checked
//! runnable before any process starts.

use std::process;
use std::time::Instant as Clock;

use ethos_abi::report::contract::HOSTED_UNSUPPORTED;
use ethos_abi::{ExitCode, Report};
use ethos_core::command_line::CommandLine;
use ethos_core::initial_image;

use crate::console::Console;
use crate::heap;
use crate::programs::ProgramTable;
use crate::system::HostedSystem;

/// How a hosted run ended, and the lines its console kept.
#[derive(Debug)]
pub struct Outcome {
    /// What a QEMU run of the same command line would have ended with.
    pub code: ExitCode,
    /// The console's lines, if it kept them ([`Console::Collected`]).
    pub lines: Vec<String>,
}

/// The entry of a hosted binary: `IMAGE WORD…` — the packed initial image's path and
/// the kernel command line. Exits with [`ExitCode::host_status`].
pub fn boot(arguments: impl Iterator<Item = String>, programs: ProgramTable) -> process::ExitCode {
    let arguments: Vec<String> = arguments.collect();
    let Some((path, words)) = arguments.split_first() else {
        eprintln!(
            "usage: HOSTED-BINARY IMAGE init=SET\n  IMAGE: a packed initial image \
             (target/images/initial.tar, made by `cargo xtask build`)"
        );
        return exit(ExitCode::Failure);
    };
    let mut console = Console::Standard;
    let outcome = match std::fs::read(path) {
        Ok(image) => run(&image, &words.join(" "), programs, console),
        Err(error) => {
            fail(
                &mut console,
                "boot",
                &format!("the initial image {path}: {error}"),
            );
            Outcome {
                code: ExitCode::Failure,
                lines: Vec::new(),
            }
        }
    };
    exit(outcome.code)
}

fn exit(code: ExitCode) -> process::ExitCode {
    process::ExitCode::from(u8::try_from(code.host_status()).unwrap_or(1))
}

fn fail(console: &mut Console, name: &str, reason: &str) {
    console.report(Report::TestFail { name, reason });
}

fn failed(mut console: Console, name: &str, reason: &str) -> Outcome {
    fail(&mut console, name, reason);
    Outcome {
        code: ExitCode::Failure,
        lines: console.lines().to_vec(),
    }
}

/// Runs the command line `words` against the packed initial `image`, with the
/// programs of `programs`, writing on `console`.
pub fn run(image: &[u8], words: &str, programs: ProgramTable, mut console: Console) -> Outcome {
    let started = Clock::now();
    let line = match CommandLine::parse(words) {
        Ok(line) => line,
        Err(error) => {
            console.line(&format!("boot failed: command line: {error}"));
            return failed(console, "boot", &format!("command line: {error}"));
        }
    };
    if let Some(test) = line.test {
        return failed(
            console,
            HOSTED_UNSUPPORTED,
            &format!(
                "`test={test}`: the in-kernel tests test the machine, which the hosted \
                 platform does not have; run them on QEMU"
            ),
        );
    }
    let Some(set_name) = line.init else {
        return failed(
            console,
            HOSTED_UNSUPPORTED,
            "nothing to run: the hosted platform runs an init set (`init=SET`); it does \
             not idle as a booted kernel does",
        );
    };
    console.report(Report::Ready {
        boot_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        tsc_khz: 0,
        timer: "host",
        boot_protocol: "hosted",
    });
    let window = heap::enter();
    let image = match initial_image::read(image) {
        Ok(image) => image,
        Err(error) => return failed(console, "init", &format!("the initial image: {error}")),
    };
    let Some(set) = image.init_sets.get(set_name) else {
        let known: Vec<&str> = image.init_sets.keys().map(String::as_str).collect();
        return failed(
            console,
            "init",
            &format!(
                "the initial image has no init set `{set_name}`; it has: {}",
                known.join(" ")
            ),
        );
    };
    let mut unrunnable: Vec<String> = Vec::new();
    for (_, program) in set {
        if let Err(why) = programs.entry(program) {
            let why = why.to_string();
            if !unrunnable.contains(&why) {
                unrunnable.push(why);
            }
        }
    }
    if !unrunnable.is_empty() {
        return failed(
            console,
            HOSTED_UNSUPPORTED,
            &format!("init set `{set_name}`: {}", unrunnable.join("; ")),
        );
    }
    drop(window);
    // The system takes the console; if it cannot start, the report goes where the
    // console would have written it.
    let fallback = match &console {
        Console::Standard => Console::Standard,
        Console::Collected(lines) => Console::Collected(lines.clone()),
    };
    let system = match HostedSystem::new(image.configuration, programs, console) {
        Ok(system) => system,
        Err(error) => {
            return failed(
                fallback,
                "init",
                &format!("starting the hosted system: {error}"),
            );
        }
    };
    let metric = |name: &str, value: u64, unit: &str| {
        system.report(Report::Metric { name, value, unit });
    };
    metric(
        "kernel_memory_per_process",
        system.kernel_memory_limit() as u64,
        "bytes",
    );
    if let Some(before) = heap::in_use() {
        heap::restart_peak();
        metric("heap_before", before, "bytes");
    }
    let finished = match system.run(set) {
        Ok(finished) => finished,
        Err(error) => {
            system.report(Report::TestFail {
                name: "init",
                reason: &format!("starting init set `{set_name}`: {error}"),
            });
            return Outcome {
                code: ExitCode::Failure,
                lines: system.console(),
            };
        }
    };
    if let (Some(peak), Some(after)) = (heap::peak(), heap::in_use()) {
        metric("heap_peak", peak, "bytes");
        metric("heap_after", after, "bytes");
    }
    metric("processes_ended", finished.len() as u64, "count");
    let refused = system.refused();
    let code = if refused.is_empty() {
        ExitCode::Success
    } else {
        system.report(Report::TestFail {
            name: HOSTED_UNSUPPORTED,
            reason: &refused.join("; "),
        });
        ExitCode::Failure
    };
    Outcome {
        code,
        lines: system.console(),
    }
}
