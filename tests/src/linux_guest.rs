//! What the Linux guest baseline's `/init` prints (images/linux-guest/init.c), read
//! from a transcript.

use std::time::Duration;

use crate::harness::{Transcript, field};
use crate::ipc_bench::{KernelFigures, parse_figures};

/// Every line `/init` prints starts with this.
pub const LINE_PREFIX: &str = "linux-guest ";

/// `/init`'s first line: when it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitStart {
    /// Since QEMU was spawned, by the host clock, when the line arrived.
    pub host: Duration,
    /// The guest's `CLOCK_MONOTONIC` at `/init`'s start: nanoseconds since the
    /// kernel set its clock up, early in `start_kernel` (after decompression).
    pub monotonic_ns: u64,
    /// The time stamp counter at `/init`'s start: under `-icount shift=0` the
    /// instructions since the machine started, firmware included.
    pub tsc: u64,
}

/// Reads `linux-guest init monotonic_ns=… tsc=…`.
pub fn init_start(transcript: &Transcript) -> Result<InitStart, String> {
    let (host, line) = transcript
        .lines
        .iter()
        .find_map(|(at, line)| Some((*at, line.strip_prefix(LINE_PREFIX)?.strip_prefix("init ")?)))
        .ok_or("the Linux guest's /init printed no `linux-guest init …` line")?;
    Ok(InitStart {
        host,
        monotonic_ns: field(line, "monotonic_ns")?,
        tsc: field(line, "tsc")?,
    })
}

/// Reads `linux-guest bench null_ns=… rtt64_ns=… rtt4k_ns=… samples=…`.
pub fn linux_figures(transcript: &Transcript) -> Result<KernelFigures, String> {
    let line = transcript
        .lines
        .iter()
        .find_map(|(_, line)| line.strip_prefix(LINE_PREFIX)?.strip_prefix("bench "))
        .ok_or("the Linux guest's /init printed no `linux-guest bench …` line")?;
    parse_figures(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::RunEnd;

    fn transcript(lines: &[&str]) -> Transcript {
        Transcript {
            command: "qemu".into(),
            lines: lines
                .iter()
                .enumerate()
                .map(|(index, line)| (Duration::from_millis(100 * index as u64), line.to_string()))
                .collect(),
            stderr: String::new(),
            end: RunEnd::Kernel(ethos_abi::ExitCode::Success),
        }
    }

    #[test]
    fn the_init_line_and_the_figures_are_read() {
        let run = transcript(&[
            "SeaBIOS (version 1.16.2-debian-1.16.2-1)",
            "linux-guest init monotonic_ns=5398368188 tsc=43303283998",
            "linux-guest bench null_ns=337 rtt64_ns=10856 rtt4k_ns=27412 samples=2000",
        ]);
        assert_eq!(
            init_start(&run).unwrap(),
            InitStart {
                host: Duration::from_millis(100),
                monotonic_ns: 5_398_368_188,
                tsc: 43_303_283_998,
            }
        );
        assert_eq!(
            linux_figures(&run).unwrap(),
            KernelFigures {
                null_call_ns: 337,
                round_trip_64_ns: 10_856,
                round_trip_4k_ns: 27_412,
                samples: 2000,
            }
        );
    }

    #[test]
    fn missing_or_garbled_lines_are_errors() {
        let silent = transcript(&["[    0.000000] Linux version 6.1.0"]);
        assert!(
            init_start(&silent)
                .unwrap_err()
                .contains("no `linux-guest init")
        );
        assert!(
            linux_figures(&silent)
                .unwrap_err()
                .contains("no `linux-guest bench")
        );
        let garbled = transcript(&[
            "linux-guest init monotonic_ns=12 tsc=x",
            "linux-guest bench null_ns=1 rtt64_ns=2 samples=3",
        ]);
        assert!(init_start(&garbled).unwrap_err().contains("`tsc`"));
        assert!(linux_figures(&garbled).unwrap_err().contains("rtt4k_ns"));
        // Ethos's own bench line is not the guest's.
        let ethos =
            transcript(&["user bench-client: bench null_ns=1 rtt64_ns=2 rtt4k_ns=3 samples=4"]);
        assert!(linux_figures(&ethos).is_err());
    }
}
