//! The network benchmark's runs (`cargo xtask bench net`): two guests on one QEMU
//! socket network, the server's booted first and the client's once the server says
//! it is ready, and the figures the client prints, read from its transcript.
//!
//! Both sides print one line of `key=value` words: Ethos's `net-bench-client`
//! (`user alice: net-bench setup_ns=… bulk_ns=…`) and the Linux guest's `/init`
//! (`linux-guest net setup_ns=… bulk_received=…`). Nothing here judges a time.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{self, Expectation, Transcript, Verdict, field};
use crate::linux_guest::LINE_PREFIX;
use crate::qemu::{Accelerator, Machine, QemuConfig};

/// What Ethos's client prints its figures after, past the kernel's `user NAME: `.
pub const ETHOS_PREFIX: &str = "net-bench ";
/// What the Linux client prints its figures after, past [`LINE_PREFIX`].
pub const LINUX_PREFIX: &str = "net ";
/// The line of Ethos's server once `net-bench` is advertised.
pub const ETHOS_SERVER_READY: &str = "net-bench-server: advertised net-bench";
/// The line of the Linux server once its socket is bound.
pub const LINUX_SERVER_READY: &str = "linux-guest net-server ready";
/// What Ethos's server prints last: `answered N, counted M values of B bytes`.
pub const ETHOS_SERVER_SUMMARY: &str = "net-bench-server: answered ";

/// One client run's figures: nanoseconds by the client's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetFigures {
    /// The first value sent to its reply, the connection's setup included.
    pub setup_ns: u64,
    /// How many first values were sent before one was answered.
    pub connect_tries: u64,
    pub round_trip_64_ns: u64,
    pub round_trip_4k_ns: u64,
    /// Round trips per payload size.
    pub samples: u64,
    pub bulk_values: u64,
    pub bulk_bytes: u64,
    /// The bulk's first value sent to the server's answer after its last.
    pub bulk_ns: u64,
    /// The payload bytes the server counted in the bulk.
    pub bulk_received: u64,
}

impl NetFigures {
    /// Payload bytes the server received per second of the bulk, in MB/s.
    pub fn bulk_megabytes_per_second(&self) -> f64 {
        self.bulk_received as f64 * 1e3 / self.bulk_ns.max(1) as f64
    }
}

/// Reads a line of figures; `bulk_received` is the line's, else `received`.
pub fn parse_figures(line: &str, received: Option<u64>) -> Result<NetFigures, String> {
    let bulk_received = match received {
        Some(bytes) => bytes,
        None => field(line, "bulk_received")?,
    };
    Ok(NetFigures {
        setup_ns: field(line, "setup_ns")?,
        connect_tries: field(line, "connect_tries")?,
        round_trip_64_ns: field(line, "rtt64_ns")?,
        round_trip_4k_ns: field(line, "rtt4k_ns")?,
        samples: field(line, "samples")?,
        bulk_values: field(line, "bulk_values")?,
        bulk_bytes: field(line, "bulk_bytes")?,
        bulk_ns: field(line, "bulk_ns")?,
        bulk_received,
    })
}

/// The payload bytes Ethos's server counted in the bulk, from its last line.
pub fn ethos_server_received(server: &Transcript) -> Result<u64, String> {
    let line = server
        .lines
        .iter()
        .find_map(|(_, line)| {
            let (_, rest) = line.strip_prefix("user ")?.split_once(": ")?;
            rest.starts_with(ETHOS_SERVER_SUMMARY).then_some(rest)
        })
        .ok_or("net-bench-server printed no `net-bench-server: answered …` line")?;
    let bytes = line
        .rsplit_once(" values of ")
        .and_then(|(_, rest)| rest.strip_suffix(" bytes"))
        .ok_or_else(|| format!("`{line}` does not end `values of B bytes`"))?;
    bytes
        .parse()
        .map_err(|_| format!("`{bytes}` in `{line}` is not a number"))
}

/// Ethos's figures: the client's line, with the bytes its server counted.
pub fn ethos_figures(client: &Transcript, server: &Transcript) -> Result<NetFigures, String> {
    let line = client
        .lines
        .iter()
        .find_map(|(_, line)| {
            let (_, rest) = line.strip_prefix("user ")?.split_once(": ")?;
            rest.strip_prefix(ETHOS_PREFIX)
        })
        .ok_or("net-bench-client printed no `net-bench …` line")?;
    parse_figures(line, Some(ethos_server_received(server)?))
}

/// The Linux client's figures.
pub fn linux_figures(client: &Transcript) -> Result<NetFigures, String> {
    let line = client
        .lines
        .iter()
        .find_map(|(_, line)| line.strip_prefix(LINE_PREFIX)?.strip_prefix(LINUX_PREFIX))
        .ok_or("the Linux client printed no `linux-guest net …` line")?;
    parse_figures(line, None)
}

/// A guest of the pair: `kernel` with `command_line`, host `number`'s MAC, on the
/// socket network at `peer` (`listen=…` or `connect=…`), under TCG on microvm.
pub fn guest_config(
    kernel: &Path,
    command_line: &str,
    initramfs: Option<&Path>,
    number: u8,
    peer: &str,
) -> QemuConfig {
    let mut config = QemuConfig::pvh(kernel, command_line, Machine::Microvm, Accelerator::Tcg);
    if let Some(initramfs) = initramfs {
        config
            .extra
            .extend(["-initrd".into(), initramfs.display().to_string()]);
    }
    config.extra.extend([
        "-netdev".into(),
        format!("socket,id=n0,{peer}"),
        "-device".into(),
        format!(
            "virtio-net-device,netdev=n0,mac={}",
            ethos_abi::drivers::Mac(ethos_abi::drivers::peer_mac(number))
        ),
    ]);
    config
}

/// Boots `server`, waits for a line containing `ready`, then boots `client`; both
/// transcripts once both runs ended (or `timeout` passed).
pub fn run_pair(
    server: QemuConfig,
    client: &QemuConfig,
    ready: &'static str,
    timeout: Duration,
) -> Result<(Transcript, Transcript), String> {
    let (ready_sender, ready_receiver) = mpsc::channel();
    let serving = std::thread::spawn(move || {
        harness::run_observed(&server, timeout, |line| {
            if line.contains(ready) {
                let _ = ready_sender.send(());
            }
        })
    });
    match ready_receiver.recv_timeout(timeout) {
        Ok(()) => {}
        Err(_) => {
            let transcript = serving
                .join()
                .map_err(|_| "the server's QEMU thread was lost")?;
            return Err(format!(
                "the server never printed `{ready}` ({}); its last lines: {:?}",
                transcript.end,
                last_lines(&transcript)
            ));
        }
    }
    let client = harness::run(client, timeout);
    let server = serving
        .join()
        .map_err(|_| "the server's QEMU thread was lost")?;
    Ok((client, server))
}

/// The last few console lines, for a failure's message.
pub fn last_lines(transcript: &Transcript) -> Vec<String> {
    let skip = transcript.lines.len().saturating_sub(5);
    transcript
        .lines
        .iter()
        .skip(skip)
        .map(|(_, line)| line.clone())
        .collect()
}

/// The run ended with the kernel's (or `/init`'s) success code.
pub fn ended_well(transcript: &Transcript) -> Result<(), String> {
    match harness::judge(
        transcript,
        &Expectation::Ends {
            code: ethos_abi::ExitCode::Success,
            check: |_| Ok(()),
        },
    ) {
        Verdict::Passed => Ok(()),
        Verdict::Failed(reason) | Verdict::Skipped(reason) => Err(format!(
            "{reason}; last lines: {:?}",
            last_lines(transcript)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::RunEnd;

    fn transcript(lines: &[&str]) -> Transcript {
        harness::transcript_of(lines, RunEnd::Kernel(ethos_abi::ExitCode::Success))
    }

    #[test]
    fn ethos_figures_take_the_bytes_the_server_counted() {
        let client = transcript(&[
            "user alice: net-bench setup_ns=900 connect_tries=1 rtt64_ns=70 rtt4k_ns=90 \
             samples=300 bulk_values=1000 bulk_bytes=4096000 bulk_ns=2000000",
        ]);
        let server = transcript(&[
            "user bob: net-bench-server: advertised net-bench",
            "user bob: net-bench-server: answered 603, counted 1000 values of 4096000 bytes",
        ]);
        let figures = ethos_figures(&client, &server).unwrap();
        assert_eq!(figures.setup_ns, 900);
        assert_eq!(figures.round_trip_4k_ns, 90);
        assert_eq!(figures.bulk_received, 4_096_000);
        assert_eq!(figures.bulk_megabytes_per_second(), 2048.0);
        assert!(ethos_figures(&client, &transcript(&[])).is_err());
    }

    #[test]
    fn linux_figures_carry_what_arrived() {
        let client = transcript(&[
            "linux-guest init monotonic_ns=1 tsc=2",
            "linux-guest net setup_ns=5 connect_tries=2 rtt64_ns=6 rtt4k_ns=7 samples=300 \
             bulk_values=1000 bulk_bytes=4096000 bulk_ns=8 bulk_received=4000000",
        ]);
        let figures = linux_figures(&client).unwrap();
        assert_eq!(figures.connect_tries, 2);
        assert_eq!(figures.bulk_received, 4_000_000);
        assert!(linux_figures(&transcript(&["linux-guest net setup_ns=5"])).is_err());
    }
}
