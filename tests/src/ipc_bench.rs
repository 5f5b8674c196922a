//! The IPC benchmark's two halves: the kernel's figures, read from what the
//! `bench-client` program prints, and the host baseline, a round trip through a
//! pair of pipes between two host processes with the same payloads.
//!
//! The baseline's echo side is a child process copying its stdin to its stdout,
//! such as one running [`serve_pipe_echo`]: the caller says how to start it (a
//! command whose stdin and stdout become the pipes). Both host processes run on one
//! CPU, as the Ethos processes do: then a round trip is two process switches on
//! both sides. (Spread over two CPUs of a virtual machine, the host's round trip
//! also waits for a halted CPU to wake, and its median moved between 15 and 93 µs
//! from run to run, against about 10 µs on one CPU.)

use std::io::{Read, Write};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::harness::{self, Transcript};

/// What `bench-client` prints, after the kernel's `user <name>: ` prefix.
pub const BENCH_LINE_PREFIX: &str = "bench ";

/// The kernel's figures: medians in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelFigures {
    pub null_call_ns: u64,
    pub round_trip_64_ns: u64,
    pub round_trip_4k_ns: u64,
    pub samples: u64,
}

/// Reads `bench null_ns=… rtt64_ns=… rtt4k_ns=… samples=…` from a transcript.
pub fn kernel_figures(transcript: &Transcript) -> Result<KernelFigures, String> {
    let line = transcript
        .lines
        .iter()
        .find_map(|(_, line)| {
            let (_, rest) = line.strip_prefix("user ")?.split_once(": ")?;
            rest.strip_prefix(BENCH_LINE_PREFIX)
        })
        .ok_or("bench-client printed no `bench …` line")?;
    parse_figures(line)
}

pub(crate) fn parse_figures(line: &str) -> Result<KernelFigures, String> {
    let field = |key: &str| harness::field(line, key);
    Ok(KernelFigures {
        null_call_ns: field("null_ns")?,
        round_trip_64_ns: field("rtt64_ns")?,
        round_trip_4k_ns: field("rtt4k_ns")?,
        samples: field("samples")?,
    })
}

/// The host baseline: medians in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PipeFigures {
    pub round_trip_64_ns: f64,
    pub round_trip_4k_ns: f64,
}

/// The echo side of the baseline: copies stdin to stdout as bytes arrive, until
/// stdin ends (what `cat` does, without depending on it).
pub fn serve_pipe_echo() -> std::io::Result<()> {
    echo_stream(std::io::stdin().lock(), std::io::stdout().lock())
}

fn echo_stream(mut input: impl Read, mut output: impl Write) -> std::io::Result<()> {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let count = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        output.write_all(&buffer[..count])?;
        output.flush()?;
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len().is_multiple_of(2) {
        (samples[middle - 1] + samples[middle]) / 2.0
    } else {
        samples[middle]
    }
}

/// Measures round trips through pipes to `echo` (a command running
/// [`serve_pipe_echo`]), `samples` per payload size after a warm-up.
pub fn measure_pipe_baseline(mut echo: Command, samples: usize) -> Result<PipeFigures, String> {
    // The child inherits the one CPU; the caller gets its own set back on return.
    let _one_cpu = OneCpu::pin()?;
    let mut child = echo
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("starting the pipe echo process: {error}"))?;
    let (Some(mut to_child), Some(mut from_child)) = (child.stdin.take(), child.stdout.take())
    else {
        return Err("the pipe echo process has no pipes".into());
    };
    let mut round_trips = |size: usize| -> Result<f64, String> {
        let message: Vec<u8> = (0..size).map(|index| index as u8).collect();
        let mut reply = vec![0; size];
        let mut times = Vec::with_capacity(samples);
        for round in 0..samples + samples / 10 {
            let started = Instant::now();
            to_child
                .write_all(&message)
                .map_err(|error| format!("writing to the echo process: {error}"))?;
            from_child
                .read_exact(&mut reply)
                .map_err(|error| format!("reading from the echo process: {error}"))?;
            let elapsed = started.elapsed();
            if reply != message {
                return Err(format!("the echo of {size} bytes came back different"));
            }
            // The first tenth warms caches and the scheduler up.
            if round >= samples / 10 {
                times.push(elapsed.as_nanos() as f64);
            }
        }
        Ok(median(&mut times))
    };
    let figures = (|| {
        Ok(PipeFigures {
            round_trip_64_ns: round_trips(64)?,
            round_trip_4k_ns: round_trips(4096)?,
        })
    })();
    drop(to_child);
    let _ = child.wait();
    figures
}

/// Keeps the calling thread, and the processes it starts meanwhile, on the first
/// CPU it may use; its own CPU set comes back on drop.
struct OneCpu {
    saved: CpuSet,
}

impl OneCpu {
    fn pin() -> Result<OneCpu, String> {
        let this_thread = Pid::from_raw(0);
        let saved = sched_getaffinity(this_thread)
            .map_err(|error| format!("reading this thread's CPU set: {error}"))?;
        let first = (0..CpuSet::count())
            .find(|&cpu| saved.is_set(cpu).unwrap_or(false))
            .ok_or("this thread may run on no CPU")?;
        let mut one = CpuSet::new();
        one.set(first)
            .map_err(|error| format!("naming CPU {first}: {error}"))?;
        sched_setaffinity(this_thread, &one)
            .map_err(|error| format!("keeping the baseline on CPU {first}: {error}"))?;
        Ok(OneCpu { saved })
    }
}

impl Drop for OneCpu {
    fn drop(&mut self) {
        let _ = sched_setaffinity(Pid::from_raw(0), &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_from_the_program_line() {
        let figures =
            parse_figures("null_ns=120 rtt64_ns=5400 rtt4k_ns=9100 samples=2000").unwrap();
        assert_eq!(
            figures,
            KernelFigures {
                null_call_ns: 120,
                round_trip_64_ns: 5400,
                round_trip_4k_ns: 9100,
                samples: 2000,
            }
        );
        assert!(parse_figures("null_ns=1 rtt64_ns=2 samples=3").is_err());
        assert!(parse_figures("null_ns=x rtt64_ns=2 rtt4k_ns=3 samples=3").is_err());
    }

    #[test]
    fn the_echo_copies_every_byte() {
        let input: Vec<u8> = (0..200_000u32).map(|index| index as u8).collect();
        let mut output = Vec::new();
        echo_stream(input.as_slice(), &mut output).unwrap();
        assert_eq!(output, input);
    }

    #[test]
    fn the_baseline_measures_a_real_echo_process() {
        let figures = measure_pipe_baseline(Command::new("cat"), 50).unwrap();
        assert!(figures.round_trip_64_ns > 0.0);
        assert!(figures.round_trip_4k_ns > 0.0);
    }

    #[test]
    fn a_missing_echo_program_is_an_error() {
        let error = measure_pipe_baseline(Command::new("/nonexistent/echo"), 5).unwrap_err();
        assert!(error.contains("starting the pipe echo process"), "{error}");
    }
}
