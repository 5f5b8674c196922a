//! `cargo xtask bench net`: typed IPC between two hosts (64 B and 4 KiB round trips,
//! the tunnel's setup, one-way bulk transfer) beside two Linux guests doing plain
//! UDP with the same payloads, on the same emulator, machine, device model and
//! QEMU socket network, measured in the same run.
//!
//! The Ethos side is a host pair built as the host-pair test rows build it
//! (`cargo xtask hosts alpha beta`): beta boots `init=net-bench-server`, alpha
//! `init=net-bench-client` (images/programs/system-tests/src/net_bench.rs), whose
//! values cross the kernels' MinimaLT tunnel. The Linux side is Debian's kernel
//! with `virtio_mmio` and `virtio_net` loaded from its initramfs and a static
//! `/init` (images/linux-guest/net.c) that configures eth0 itself with the same
//! addresses and MACs. Each pair's server boots first; its client boots once the
//! server printed that it is ready. The systems alternate, run after run, and the
//! figures are the medians over runs of what each client measured with its own
//! clock (`getTime`; `CLOCK_MONOTONIC`).
//!
//! Why wall time under TCG, not instructions under `-icount`: the other benches
//! count instructions with `-icount shift=0,sleep=off`, where a guest's clock is its
//! instruction count. Here a round trip is mostly waiting for the other guest, and
//! a waiting guest idles: with `sleep=off` its clock jumps to its next timer
//! deadline, not to when the packet arrives, so what it measures is its own timer
//! period (Ethos's network thread sleeps a 10 ms tick when idle) and the other
//! guest's instructions are counted by nobody. The two guests' instruction clocks
//! are not one clock, so there is no instruction count of a round trip to take.
//! Wall time under plain TCG is the same clock for both systems, and alternating
//! them over several runs in one invocation puts both under the same host load.
//! Figures are printed and saved to `target/bench/net.json`, never asserted.

mod profile;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ethos_images::{XtaskError, host_set, linux_guest, prerequisites};
use ethos_tests::harness::Transcript;
use ethos_tests::matrix_host::{free_tcp_port, free_udp_port};
use ethos_tests::net_bench::{
    ETHOS_SERVER_READY, LINUX_SERVER_READY, NetFigures, ended_well, ethos_figures, guest_config,
    linux_figures, run_pair,
};
use ethos_tests::qemu::QemuConfig;

use crate::bench_results::{self, BenchResults, Measures, Metric, Spread, bench_directory};

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct NetArguments {
    /// Runs per system (each boots a pair of guests); the systems alternate.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) runs: u32,
    /// Measure the Linux guests beside Ethos.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) linux_guest: bool,
    /// How QEMU joins the two guests' NICs.
    #[arg(long, value_enum, default_value_t = Link::Datagram)]
    pub(crate) link: Link,
    /// Instead of the timed comparison, run the Ethos pair once with each guest
    /// under `-icount shift=0` and print where each host's network thread spends
    /// its instructions. No figure is saved.
    #[arg(long)]
    pub(crate) thread_instructions: bool,
    /// Instead of the timed comparison, run the Ethos pair once under `-icount
    /// shift=0` with QEMU logging every block the client guest runs, and write where
    /// its instructions go, by function, to `target/bench/net-profile.md` and
    /// `.json`. No figure of `bench net` is saved.
    #[arg(long, conflicts_with = "thread_instructions")]
    pub(crate) profile: bool,
}

/// How the host carries frames between the two QEMUs (`-netdev socket`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Link {
    /// One UDP datagram per frame between two loopback ports (`udp=`, `localaddr=`).
    Datagram,
    /// One TCP connection (`listen=`, `connect=`), as the host-pair test rows use.
    /// QEMU does not turn Nagle's algorithm off on it, so the second and later
    /// frames of a burst wait for the host's delayed acknowledgement of the first
    /// (about 40 ms): a message of several frames pays that, one of one frame not.
    Stream,
}

impl Link {
    /// The server's and the client's `-netdev socket` options, on fresh ports
    /// (`None` for the ports' names, to show the commands).
    fn options(self, fresh: bool) -> Option<[String; 2]> {
        match self {
            Link::Stream => {
                let port = if fresh {
                    free_tcp_port()?.to_string()
                } else {
                    "PORT".into()
                };
                Some([
                    format!("listen=127.0.0.1:{port}"),
                    format!("connect=127.0.0.1:{port}"),
                ])
            }
            Link::Datagram => {
                let (server, client) = if fresh {
                    (free_udp_port()?.to_string(), free_udp_port()?.to_string())
                } else {
                    ("PORT2".into(), "PORT1".into())
                };
                Some([
                    format!("udp=127.0.0.1:{client},localaddr=127.0.0.1:{server}"),
                    format!("udp=127.0.0.1:{server},localaddr=127.0.0.1:{client}"),
                ])
            }
        }
    }
}

/// How long one guest of a pair may run.
const TIMEOUT: Duration = Duration::from_secs(300);

/// One of the two systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Ethos,
    Linux,
}

/// What each system's pair boots.
struct Pairs {
    /// Host 1 (alpha, the client) and host 2 (beta, the server).
    ethos: [PathBuf; 2],
    linux: Option<LinuxPair>,
}

struct LinuxPair {
    kernel: PathBuf,
    initramfs: PathBuf,
    host_tsc_khz: u64,
}

impl Pairs {
    /// The Ethos pair alone, as the host-pair rows make it.
    fn ethos_only() -> Result<Pairs, XtaskError> {
        Ok(Pairs {
            ethos: host_set::make_pair(&host_set::host_pair_plan())?,
            linux: None,
        })
    }

    /// The Ethos pair's server and client QEMU with both guests under `-icount
    /// shift=0` (`sleep` on, so a halted guest still waits for the other's packets in
    /// real time), on fresh ports when `fresh` (see [`Link::options`]).
    fn ethos_under_icount(&self, link: Link, fresh: bool) -> Option<[QemuConfig; 2]> {
        let mut configs = self.configs(System::Ethos, &link.options(fresh)?)?;
        for config in &mut configs {
            config
                .extra
                .extend(["-icount".to_string(), "shift=0".to_string()]);
        }
        Some(configs)
    }

    /// The server's and the client's QEMU, with the `-netdev socket` options
    /// `link`.
    fn configs(&self, system: System, link: &[String; 2]) -> Option<[QemuConfig; 2]> {
        let [listen, connect] = link;
        match system {
            System::Ethos => Some([
                guest_config(&self.ethos[1], "init=net-bench-server", None, 2, listen),
                guest_config(&self.ethos[0], "init=net-bench-client", None, 1, connect),
            ]),
            System::Linux => {
                let linux = self.linux.as_ref()?;
                let line = |role: &str| {
                    linux_guest::command_line(linux.host_tsc_khz, &format!("net={role}"))
                };
                Some([
                    guest_config(
                        &linux.kernel,
                        &line("server"),
                        Some(&linux.initramfs),
                        2,
                        listen,
                    ),
                    guest_config(
                        &linux.kernel,
                        &line("client"),
                        Some(&linux.initramfs),
                        1,
                        connect,
                    ),
                ])
            }
        }
    }
}

/// One run of `system`'s pair: the client's figures, or why there are none.
fn run_once(pairs: &Pairs, system: System, link: Link, run: u32) -> Result<NetFigures, String> {
    let options = link.options(true).ok_or("no free loopback port")?;
    let [server, client] = pairs.configs(system, &options).ok_or("no Linux guest")?;
    let ready = match system {
        System::Ethos => ETHOS_SERVER_READY,
        System::Linux => LINUX_SERVER_READY,
    };
    let (client, server) = run_pair(server, &client, ready, TIMEOUT)?;
    let figures = both_ended_well(&client, &server)
        .and_then(|()| match system {
            System::Ethos => ethos_figures(&client, &server),
            System::Linux => linux_figures(&client),
        })
        .and_then(|figures| check_counts(&figures).map(|()| figures));
    if figures.is_err() {
        keep_logs(system, run, &client, &server);
    }
    if system == System::Ethos {
        for (role, transcript) in [("client", &client), ("server", &server)] {
            println!("    {role} {}", thread_phases(transcript));
        }
    }
    figures
}

/// Whether both guests of a pair ended as a benchmark's should; which did not and why.
fn both_ended_well(client: &Transcript, server: &Transcript) -> Result<(), String> {
    ended_well(client)
        .map_err(|reason| format!("client: {reason}"))
        .and_then(|()| ended_well(server).map_err(|reason| format!("server: {reason}")))
}

/// Runs the Ethos pair once, outside the timed comparison, and keeps the serial logs
/// when either guest did not end well: the client's and the server's transcripts.
fn run_ethos_once(
    server: QemuConfig,
    client: &QemuConfig,
) -> Result<(Transcript, Transcript), String> {
    let (client, server) = run_pair(server, client, ETHOS_SERVER_READY, TIMEOUT)?;
    both_ended_well(&client, &server)
        .inspect_err(|_| keep_logs(System::Ethos, 0, &client, &server))
        .map(|()| (client, server))
}

/// The phases an Ethos guest's network thread reports (`net_thread_*`); the last,
/// `idle`, is its waiting.
const PHASES: [&str; 6] = ["poll", "receive", "bridge", "transmit", "other", "idle"];

/// The phases of an Ethos guest's network thread over the whole run, as the kernel
/// reports them when its set ends (`net_thread_*` metrics, microseconds of its
/// clock): where the time of the round trips went on that host.
fn thread_phases(transcript: &Transcript) -> String {
    let values: Vec<Option<u64>> = PHASES
        .iter()
        .map(|phase| transcript.metric(&format!("net_thread_{phase}")))
        .collect();
    let Some(values) = values.into_iter().collect::<Option<Vec<u64>>>() else {
        return "network thread: no phases reported".into();
    };
    let total = values.iter().sum::<u64>().max(1);
    let shown: Vec<String> = PHASES
        .iter()
        .zip(&values)
        .map(|(phase, value)| {
            format!(
                "{phase} {:.1} ms ({:.0}%)",
                *value as f64 / 1e3,
                *value as f64 * 100.0 / total as f64
            )
        })
        .collect();
    format!(
        "network thread: {} over {} rounds",
        shown.join(", "),
        transcript.metric("net_thread_rounds").unwrap_or(0)
    )
}

/// `--thread-instructions`: one run of the Ethos pair with both guests under
/// `-icount shift=0` (`sleep` on, so a halted guest still waits for the other's
/// packets in real time). A guest's clock then advances one nanosecond per
/// instruction while it runs, so the phases its network thread reports
/// (`net_thread_*`, which leave out its waits) are instruction counts, the same
/// from run to run up to how the traffic falls into rounds. The round trips the
/// client measures mix instructions and waiting and are not figures here.
fn thread_instructions(link: Link) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let pairs = Pairs::ethos_only()?;
    for config in pairs.ethos_under_icount(link, false).into_iter().flatten() {
        println!("$ {}", config.display());
    }
    let Some([server, client]) = pairs.ethos_under_icount(link, true) else {
        println!("bench net --thread-instructions: no free loopback port");
        return Ok(ExitCode::FAILURE);
    };
    let (client, server) = match run_ethos_once(server, &client) {
        Ok(transcripts) => transcripts,
        Err(reason) => {
            println!("bench net --thread-instructions: the run failed: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "each host's network thread over the benchmark's whole set, in millions of \
         instructions (-icount shift=0; its waits are not counted):"
    );
    for (role, transcript) in [("client", &client), ("server", &server)] {
        let metric = |name: &str| transcript.metric(&format!("net_thread_{name}"));
        let shown: Vec<String> = PHASES
            .iter()
            .filter(|name| **name != "idle")
            .map(|name| match metric(name) {
                // The thread reports microseconds of its clock: thousands of
                // instructions here.
                Some(value) => format!("{name} {:.1}", value as f64 / 1e3),
                None => format!("{name} -"),
            })
            .collect();
        println!(
            "  {role}: {} over {} rounds",
            shown.join(", "),
            metric("rounds").unwrap_or(0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The counts both sides were built with.
fn check_counts(figures: &NetFigures) -> Result<(), String> {
    let expected = (
        u64::from(linux_guest::NET_ROUND_TRIPS),
        u64::from(linux_guest::NET_BULK_VALUES),
        u64::from(linux_guest::NET_BULK_VALUES) * u64::from(linux_guest::NET_LARGE_PAYLOAD),
    );
    let got = (figures.samples, figures.bulk_values, figures.bulk_bytes);
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "the client measured (samples, bulk values, bulk bytes) {got:?}, not {expected:?}: \
             the programs and images/src/linux_guest.rs disagree"
        ))
    }
}

fn keep_logs(system: System, run: u32, client: &Transcript, server: &Transcript) {
    let directory = bench_directory().join("logs");
    for (role, transcript) in [("client", client), ("server", server)] {
        if let Ok(path) = transcript.keep(&directory, &format!("net-{system:?}-{run}-{role}")) {
            println!("  serial log: {}", path.display());
        }
    }
}

/// One figure of a run, in nanoseconds.
type Pick = fn(&NetFigures) -> f64;

/// The figures: key, label, how each run's value is read.
const FIGURES: [(&str, &str, Pick); 4] = [
    ("net_rtt_64", "64 B round trip across hosts", |figures| {
        figures.round_trip_64_ns as f64
    }),
    ("net_rtt_4k", "4 KiB round trip across hosts", |figures| {
        figures.round_trip_4k_ns as f64
    }),
    (
        "net_setup",
        "setup: first value → first reply",
        |figures| figures.setup_ns as f64,
    ),
    (
        "net_bulk_per_4k",
        "bulk: ns per 4 KiB value received",
        |figures| {
            figures.bulk_ns as f64 * f64::from(linux_guest::NET_LARGE_PAYLOAD)
                / figures.bulk_received.max(1) as f64
        },
    ),
];

/// The host's one-minute load average and its CPUs, since both guests' round trips
/// wait on the host scheduling their emulators (`bench fs` notes it too).
pub(crate) fn host_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{load} on {cpus} CPUs")
}

pub(crate) fn net(arguments: &NetArguments) -> Result<ExitCode, XtaskError> {
    if arguments.profile {
        return profile::profile(arguments.link);
    }
    if arguments.thread_instructions {
        return thread_instructions(arguments.link);
    }
    let started = bench_results::now();
    let load_before = host_load();
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let plan = host_set::host_pair_plan();
    let ethos = host_set::make_pair(&plan)?;
    let port = plan.port;
    let linux = if arguments.linux_guest {
        let kernel = linux_guest::kernel()?;
        Some(LinuxPair {
            initramfs: linux_guest::net_initramfs(&kernel, port)?,
            kernel,
            host_tsc_khz: linux_guest::host_tsc_khz()?,
        })
    } else {
        None
    };
    let pairs = Pairs { ethos, linux };
    let mut systems = vec![System::Ethos];
    if pairs.linux.is_some() {
        systems.push(System::Linux);
    }
    let mut commands = Vec::new();
    for &system in &systems {
        let shown = arguments.link.options(false).unwrap_or_default();
        if let Some(configs) = pairs.configs(system, &shown) {
            for config in configs {
                println!("$ {}   (x{})", config.display(), arguments.runs);
                commands.push(config.display());
            }
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
            match run_once(&pairs, system, arguments.link, run) {
                Ok(figures) => {
                    println!(
                        "  {system:?} run {}: setup {} ns ({} tries), round trip 64 B {} ns, \
                         4 KiB {} ns, bulk {} of {} bytes in {} ns ({:.2} MB/s)",
                        run + 1,
                        figures.setup_ns,
                        figures.connect_tries,
                        figures.round_trip_64_ns,
                        figures.round_trip_4k_ns,
                        figures.bulk_received,
                        figures.bulk_bytes,
                        figures.bulk_ns,
                        figures.bulk_megabytes_per_second()
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
    let spread =
        |runs: &[NetFigures], pick: Pick| Spread::of(&runs.iter().map(pick).collect::<Vec<_>>());
    let metrics: Vec<Metric> = FIGURES
        .iter()
        .map(|(key, label, pick)| Metric {
            key: (*key).into(),
            label: (*label).into(),
            ethos: Measures {
                tcg_ns: spread(&ethos_runs, *pick),
                kvm_ns: None,
                instructions: Vec::new(),
            },
            linux: Measures {
                tcg_ns: spread(&linux_runs, *pick),
                kvm_ns: None,
                instructions: Vec::new(),
            },
            host_ns: None,
            goal: None,
        })
        .collect();
    let mut notes = vec![
        "TCG wall time by each client's own clock; -icount does not apply across two \
         guests (see the module doc of bench_net.rs)"
            .to_string(),
        "goal (issue 17): the typed round trip at most 1.0× the Linux guests' plain UDP \
         round trip"
            .to_string(),
        "Linux: plain UDP, no encryption, no authentication, no typing; its setup is the \
         first datagram to its reply, an ARP exchange included; Ethos's setup includes the \
         tunnel's handshake and the record request of the connecting user"
            .to_string(),
        "bulk: one way, 4 KiB values, from the first written to the server's answer after \
         the last; UDP has no flow control, so Linux's figure counts only what arrived"
            .to_string(),
    ];
    for (system, runs) in [("Ethos", &ethos_runs), ("Linux", &linux_runs)] {
        let retried = runs
            .iter()
            .filter(|figures| figures.connect_tries > 1)
            .count();
        if retried > 0 {
            notes.push(format!(
                "{system}: {retried} run(s) sent the first value more than once; their setup \
                 includes the wait"
            ));
        }
        let short = runs
            .iter()
            .filter(|figures| figures.bulk_received < figures.bulk_bytes)
            .map(|figures| format!("{} of {}", figures.bulk_received, figures.bulk_bytes))
            .collect::<Vec<_>>();
        if !short.is_empty() {
            notes.push(format!(
                "{system}: bulk bytes received of those sent (the rest lost in flight): {}",
                short.join(", ")
            ));
        }
    }
    notes.push(format!(
        "host load average: {load_before} before the runs, {} after",
        host_load()
    ));
    if pairs.linux.is_none() {
        notes.push("the Linux guests were not measured (--linux-guest false)".into());
    }
    let results = BenchResults {
        bench: "net".into(),
        commit: bench_results::commit(),
        started,
        finished: bench_results::now(),
        qemu: bench_results::qemu_version(),
        machine: format!(
            "microvm, virtio-net-device, QEMU socket network ({})",
            match arguments.link {
                Link::Datagram => "UDP datagrams",
                Link::Stream => "TCP stream",
            }
        ),
        linux_kernel: bench_results::linux_kernel_name(
            pairs.linux.as_ref().map(|linux| linux.kernel.as_path()),
        ),
        kvm: "not used: both guests run under TCG".into(),
        commands,
        metrics,
        notes,
    };
    print_table(&results, &ethos_runs, &linux_runs);
    results.save_and_finish(failed)
}

fn print_table(results: &BenchResults, ethos: &[NetFigures], linux: &[NetFigures]) {
    let shown = |spread: Option<Spread>, scale: f64| {
        spread.map_or("-".to_string(), |spread| {
            format!(
                "{:.1} [{:.1}–{:.1}]",
                spread.median / scale,
                spread.min / scale,
                spread.max / scale
            )
        })
    };
    println!();
    println!(
        "bench net on {} ({}), commit {}, Linux guest {}; {} Ethos and {} Linux runs",
        results.machine,
        results.qemu,
        results.commit,
        results.linux_kernel,
        ethos.len(),
        linux.len()
    );
    println!(
        "{:<38} | {:>26} | {:>26} | {:>8}",
        "figure (TCG wall time, µs)", "Ethos (typed, MinimaLT)", "Linux guests (UDP)", "Ethos/L"
    );
    for metric in &results.metrics {
        let ratio = metric
            .tcg_ratio()
            .map_or("-".into(), |ratio| format!("{ratio:.2}x"));
        println!(
            "{:<38} | {:>26} | {:>26} | {:>8}",
            metric.label,
            shown(metric.ethos.tcg_ns, 1e3),
            shown(metric.linux.tcg_ns, 1e3),
            ratio
        );
    }
    let rate = |runs: &[NetFigures]| {
        Spread::of(
            &runs
                .iter()
                .map(NetFigures::bulk_megabytes_per_second)
                .collect::<Vec<_>>(),
        )
    };
    let (ours, theirs) = (rate(ethos), rate(linux));
    let ratio = match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs.median > 0.0 => {
            format!("{:.2}x", ours.median / theirs.median)
        }
        _ => "-".into(),
    };
    println!(
        "{:<38} | {:>26} | {:>26} | {:>8}",
        "bulk throughput, MB/s received",
        shown(ours, 1.0),
        shown(theirs, 1.0),
        ratio
    );
    println!("(median [min–max] over runs of each run's figure; round trips: each run's median)");
    for note in &results.notes {
        println!("note: {note}");
    }
}
