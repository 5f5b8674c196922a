//! Rows that boot two hosts of a set (`cargo xtask hosts`) on one QEMU socket
//! network and judge both: the kernels' MinimaLT service carries typed values
//! between them, with the client's user authenticated to the server.
//!
//! Host `N` boots with the MAC `52:54:00:e7:00:0N` (which gives it `10.0.7.N`, the
//! address its image names). The first host's QEMU listens on a free loopback TCP
//! port and the second connects to it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ethos_abi::KernelTest;

use crate::harness::{self, Expectation, Transcript, Verdict};
use crate::matrix_host::free_tcp_port;
use crate::qemu::{Accelerator, Machine, QemuConfig};
use crate::system::Outcome;

/// The kernels of a two-host set: host 1 (the client) and host 2 (the server).
#[derive(Clone, Debug)]
pub struct HostPair {
    pub client: PathBuf,
    pub server: PathBuf,
    /// Where failed runs keep their serial logs.
    pub log_directory: PathBuf,
}

/// One row.
#[derive(Clone, Debug)]
pub struct HostPairRow {
    pub name: &'static str,
    pub about: &'static str,
    /// The NIC model, with its `netdev=n0`.
    pub nic: &'static str,
    pub machine: Machine,
    /// Metrics each host must report, with their values: (client's, server's).
    pub client_metrics: &'static [(&'static str, u64)],
    pub server_metrics: &'static [(&'static str, u64)],
}

/// Every row.
pub fn all() -> Vec<HostPairRow> {
    vec![HostPairRow {
        name: "hosts-tunnel-echo",
        about: "two hosts: alice on host 1 reaches `echo` on host 2 through the kernels' \
                MinimaLT service; host 2's kernel authenticates her, 101 typed requests \
                come back byte-exact across a rekey, and no datagram is dropped",
        nic: "virtio-net-device,netdev=n0",
        machine: Machine::Microvm,
        client_metrics: &[
            ("tunnel_values_echoed", 101),
            ("tunnel_rekeys", 1),
            ("tunnel_record_requests_sent", 1),
            ("tunnel_count", 1),
            ("tunnel_datagrams_dropped", 0),
        ],
        server_metrics: &[
            ("tunnel_user_authenticated", 1),
            ("tunnel_values_answered", 101),
            ("tunnel_ill_typed_values", 0),
            ("tunnel_datagrams_dropped", 0),
        ],
    }]
}

/// The rows whose name contains `filter` (all without one).
pub fn select(filter: Option<&str>) -> Vec<HostPairRow> {
    all()
        .into_iter()
        .filter(|row| filter.is_none_or(|text| row.name.contains(text)))
        .collect()
}

const TIMEOUT: Duration = Duration::from_secs(180);

impl HostPairRow {
    fn config(&self, kernel: &Path, number: u8, peer: &str) -> QemuConfig {
        let mut config = QemuConfig::pvh(
            kernel,
            &format!("test={}", KernelTest::Tunnel.name()),
            self.machine,
            Accelerator::Tcg,
        );
        config.extra = vec![
            "-netdev".into(),
            format!("socket,id=n0,{peer}"),
            "-device".into(),
            format!("{},mac=52:54:00:e7:00:0{number}", self.nic),
        ];
        config
    }

    /// The QEMU commands of both hosts (the port shown as a name).
    pub fn display(&self, pair: &HostPair) -> Vec<String> {
        vec![
            self.config(&pair.server, 2, "listen=127.0.0.1:PORT")
                .display(),
            self.config(&pair.client, 1, "connect=127.0.0.1:PORT")
                .display(),
        ]
    }

    /// Boots both hosts and judges them.
    pub fn run(&self, pair: &HostPair) -> Outcome {
        let started = Instant::now();
        let Some(port) = free_tcp_port() else {
            return Outcome {
                verdict: Verdict::Failed("no free TCP port".into()),
                elapsed: started.elapsed(),
                log: None,
            };
        };
        let server = self.config(&pair.server, 2, &format!("listen=127.0.0.1:{port}"));
        let client = self.config(&pair.client, 1, &format!("connect=127.0.0.1:{port}"));
        let listening = std::thread::spawn(move || harness::run(&server, TIMEOUT));
        // The listening QEMU must be up before the other connects.
        std::thread::sleep(Duration::from_millis(1500));
        let client = harness::run(&client, TIMEOUT);
        let server = listening.join();
        let verdict = match server {
            Ok(server) => {
                let verdict = judge(&client, self.client_metrics, "host 1 (client)")
                    .and_then(|()| judge(&server, self.server_metrics, "host 2 (server)"));
                let log = verdict
                    .is_err()
                    .then(|| keep_logs(pair, self.name, &client, &server))
                    .flatten();
                return Outcome {
                    verdict: verdict.map_or_else(Verdict::Failed, |()| Verdict::Passed),
                    elapsed: started.elapsed(),
                    log,
                };
            }
            Err(_) => Verdict::Failed("the server's QEMU thread was lost".into()),
        };
        Outcome {
            verdict,
            elapsed: started.elapsed(),
            log: None,
        }
    }
}

/// The host passed the test and reported every metric with its value.
fn judge(transcript: &Transcript, metrics: &[(&str, u64)], host: &str) -> Result<(), String> {
    let expectation = Expectation::Pass {
        test: KernelTest::Tunnel,
    };
    match harness::judge(transcript, &expectation) {
        Verdict::Passed => {}
        Verdict::Failed(reason) | Verdict::Skipped(reason) => {
            return Err(format!("{host}: {reason}"));
        }
    }
    for (name, wanted) in metrics {
        match transcript.metric(name) {
            Some(value) if value == *wanted => {}
            Some(value) => return Err(format!("{host}: {name} is {value}, not {wanted}")),
            None => return Err(format!("{host}: no {name} metric")),
        }
    }
    Ok(())
}

/// Writes both serial logs beside each other; returns the client's path.
fn keep_logs(
    pair: &HostPair,
    name: &str,
    client: &Transcript,
    server: &Transcript,
) -> Option<PathBuf> {
    std::fs::create_dir_all(&pair.log_directory).ok()?;
    let mut first = None;
    for (host, transcript) in [("client", client), ("server", server)] {
        let path = pair.log_directory.join(format!("{name}-{host}.log"));
        let text: String = transcript
            .lines
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        std::fs::write(&path, text).ok()?;
        first.get_or_insert(path);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::RunEnd;

    fn transcript(lines: &[&str]) -> Transcript {
        Transcript {
            command: String::new(),
            lines: lines
                .iter()
                .map(|line| (Duration::ZERO, line.to_string()))
                .collect(),
            stderr: String::new(),
            end: RunEnd::Kernel(ethos_abi::ExitCode::Success),
        }
    }

    /// The judgement needs the pass, the exit and every metric at its value.
    #[test]
    fn a_host_passes_only_with_its_metrics() {
        let good = transcript(&[
            "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh",
            "@ethos test-begin name=tunnel",
            "@ethos metric name=tunnel_values_echoed value=101 unit=count",
            "@ethos test-pass name=tunnel",
        ]);
        assert_eq!(
            judge(&good, &[("tunnel_values_echoed", 101)], "host 1"),
            Ok(())
        );
        assert_eq!(
            judge(&good, &[("tunnel_values_echoed", 100)], "host 1"),
            Err("host 1: tunnel_values_echoed is 101, not 100".into())
        );
        assert_eq!(
            judge(&good, &[("tunnel_rekeys", 1)], "host 1"),
            Err("host 1: no tunnel_rekeys metric".into())
        );
        let failed = transcript(&[
            "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh",
            "@ethos test-begin name=tunnel",
            "@ethos test-fail name=tunnel reason=\"no reply\"",
        ]);
        assert!(
            judge(&failed, &[], "host 2")
                .unwrap_err()
                .starts_with("host 2: ")
        );
    }
}
