//! `cargo xtask bench net --profile`: where the client host's instructions go, by
//! function, over the benchmark's set.
//!
//! It runs the Ethos pair once as `--thread-instructions` does (both guests under
//! `-icount shift=0`), with QEMU's `-d in_asm,exec,nochain` log of the client guest
//! written to a named pipe and read as it streams ([`crate::ipc_trace`]; nothing of
//! the log is kept). The profile starts at the network thread's start
//! ([`WINDOW_FUNCTION`]), so the boot before it (the kernel hashing the programs of
//! its image, for one) is left out, and runs to the end of the run. Each function's
//! instructions are also given per byte of the values the client sealed and opened
//! (what it sent and what came back), the measure of the per-byte work of MinimaLT
//! and the stack. The traced guest runs several times slower in wall time (a run
//! took 75 s here against about 10 s), so its peer may retransmit and the client
//! open more than an untraced run would: the client's counts of datagrams are
//! printed beside.
//!
//! Writes `target/bench/net-profile.md` and `net-profile.json`; saves no figure of
//! `bench net`.

use std::process::ExitCode;
use std::time::Instant;

use ethos_images::{XtaskError, linux_guest, prerequisites};
use ethos_tests::harness::Transcript;
use serde::Serialize;

use super::{Link, PHASES, Pairs, run_ethos_once};
use crate::bench_results::{self, bench_directory};
use crate::ipc_trace::{self, Entry, Executables, Owner, Window, WindowProfile};

/// The kernel function whose one entry starts the profile: the network thread.
const WINDOW_FUNCTION: &str = "ethos_platform_x86_64::network::serve";
/// Functions printed (the files hold them all).
const PRINTED_FUNCTIONS: usize = 30;
/// Blocks the report lists.
const REPORTED_BLOCKS: usize = 100;

/// The bytes of values the client seals (sends) and opens (gets back) over the set.
fn value_bytes() -> (u64, u64) {
    let rounds = u64::from(linux_guest::NET_ROUND_TRIPS);
    let small = u64::from(linux_guest::NET_SMALL_PAYLOAD);
    let large = u64::from(linux_guest::NET_LARGE_PAYLOAD);
    let bulk = u64::from(linux_guest::NET_BULK_VALUES);
    let received = rounds * (small + large);
    (received + bulk * large, received)
}

/// What is saved in `net-profile.json`.
#[derive(Serialize)]
struct Saved<'a> {
    #[serde(flatten)]
    run: bench_results::ProfileRun<'a>,
    bytes_sent: u64,
    bytes_received: u64,
    client_metrics: Vec<(String, Option<u64>)>,
    profile: &'a WindowProfile,
}

pub(super) fn profile(link: Link) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let started = bench_results::now();
    let clock = Instant::now();
    let pairs = Pairs::ethos_only()?;
    let client_kernel = pairs.ethos[0].clone();
    let executables = Executables {
        kernel: match ipc_trace::read_executable(&client_kernel) {
            Ok(program) => program.symbols,
            Err(error) => {
                println!("bench net --profile: {error}");
                return Ok(ExitCode::FAILURE);
            }
        },
        ..Executables::default()
    };
    let entry = match executables
        .kernel
        .only_address_of(|name| name == WINDOW_FUNCTION)
    {
        Ok(address) => Entry {
            owner: Owner::Kernel,
            address,
        },
        Err(found) => {
            println!(
                "bench net --profile: the kernel should have one function `{WINDOW_FUNCTION}`, \
                 it has {}: {}",
                found.len(),
                found.join(", ")
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let directory = bench_directory();
    let in_directory = |error: std::io::Error| XtaskError::File {
        path: directory.clone(),
        error,
    };
    std::fs::create_dir_all(&directory).map_err(in_directory)?;
    let pipe = directory.join("net-profile.log.pipe");
    ipc_trace::make_pipe(&pipe).map_err(in_directory)?;
    let Some([server, mut client]) = pairs.ethos_under_icount(link, true) else {
        println!("bench net --profile: no free loopback port");
        return Ok(ExitCode::FAILURE);
    };
    client.extra.extend(ipc_trace::log_options(&pipe));
    let command = client.display();
    println!("$ {}", server.display());
    println!("$ {command}");
    println!(
        "(QEMU's log of the client streams through {}; nothing of it is kept)",
        pipe.display()
    );
    let windows = vec![Window {
        first: 1,
        end: u64::MAX,
    }];
    let (ran, streamed) = ipc_trace::profiled(&pipe, &executables, entry, windows, || {
        run_ethos_once(server, &client)
    });
    let (profile, log_bytes) = match streamed {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => {
            return Err(XtaskError::File { path: pipe, error });
        }
        Err(_) => {
            println!("bench net --profile: the log reader panicked");
            return Ok(ExitCode::FAILURE);
        }
    };
    let client = match ran {
        Ok((client, _)) => client,
        Err(reason) => {
            println!("bench net --profile: the run failed: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let [window] = profile.windows.as_slice() else {
        println!("bench net --profile: the profile has no window");
        return Ok(ExitCode::FAILURE);
    };
    if profile.entries != 1 {
        println!(
            "bench net --profile: the log shows {} entries into `{WINDOW_FUNCTION}`, not 1: the \
             profile cannot be placed",
            profile.entries
        );
        return Ok(ExitCode::FAILURE);
    }
    let (sent, received) = value_bytes();
    let metrics = client_metrics(&client);
    let lines = report_lines(window, sent + received, &metrics);
    println!(
        "log: {:.2} GB read in {:.0} s",
        log_bytes as f64 / 1e9,
        clock.elapsed().as_secs_f64()
    );
    for line in lines.iter().take(PRINTED_FUNCTIONS + 4) {
        println!("{line}");
    }
    let mut report = vec![
        "# Where the client host's instructions go in `bench net`".to_string(),
        String::new(),
        format!(
            "`cargo xtask bench net --profile` on {started}, commit {}: each translated block \
             the client guest ran from the network thread's start to the end of the run is \
             credited to the function it starts in (kernel symbols; user code is not named).",
            bench_results::commit()
        ),
        String::new(),
        format!("    $ {command}"),
        String::new(),
        "```".to_string(),
    ];
    report.extend(lines);
    report.push(String::new());
    report.push(format!(
        "the {REPORTED_BLOCKS} blocks with the most instructions:"
    ));
    report.push(format!(
        "  {:>14} {:>10} {:>6}  {:>10}  function",
        "instructions", "runs", "length", "address"
    ));
    for block in window.blocks.iter().take(REPORTED_BLOCKS) {
        report.push(format!(
            "  {:>14} {:>10} {:>6}  {:>#10x}  {}",
            block.runs * block.length,
            block.runs,
            block.length,
            block.address,
            block.function
        ));
    }
    report.push("```".to_string());
    report.extend(profile.untranslated_note());
    let saved = Saved {
        run: bench_results::ProfileRun::new(
            started,
            &command,
            WINDOW_FUNCTION,
            log_bytes,
            profile.untranslated,
        ),
        bytes_sent: sent,
        bytes_received: received,
        client_metrics: metrics,
        profile: window,
    };
    let (markdown, json) = bench_results::write_profile("net-profile", &report, &saved)?;
    println!("wrote {} and {}", markdown.display(), json.display());
    Ok(ExitCode::SUCCESS)
}

/// What the client's kernel counted: its network thread's phases (microseconds of
/// its clock, thousands of instructions here) and the datagrams it sent and took.
fn client_metrics(client: &Transcript) -> Vec<(String, Option<u64>)> {
    PHASES
        .iter()
        .filter(|phase| **phase != "idle")
        .map(|phase| format!("net_thread_{phase}"))
        .chain(
            ["tunnel_datagrams_sent", "tunnel_datagrams_accepted"]
                .into_iter()
                .map(String::from),
        )
        .map(|name| {
            let value = client.metric(&name);
            (name, value)
        })
        .collect()
}

fn report_lines(
    window: &WindowProfile,
    value_bytes: u64,
    metrics: &[(String, Option<u64>)],
) -> Vec<String> {
    let millions = |count: u64| count as f64 / 1e6;
    let owners = window
        .owners()
        .iter()
        .map(|(owner, count)| format!("{} {:.1}", owner.name(), millions(*count)))
        .collect::<Vec<_>>()
        .join(", ");
    let shown_metrics = metrics
        .iter()
        .map(|(name, value)| match value {
            Some(value) => format!("{name}={value}"),
            None => format!("{name}=-"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut lines = vec![
        format!(
            "client host: {:.1} million instructions ({owners}) over {:.2} MB of values sealed \
             and opened",
            millions(window.instructions),
            value_bytes as f64 / 1e6
        ),
        format!("  its kernel counted: {shown_metrics}"),
        format!(
            "  {:>10} {:>6} {:>9}  {:<7} function",
            "millions", "share", "per byte", "owner"
        ),
    ];
    for count in &window.functions {
        lines.push(format!(
            "  {:>10.2} {:>5.1}% {:>9.2}  {:<7} {}",
            millions(count.instructions),
            100.0 * count.instructions as f64 / window.instructions.max(1) as f64,
            count.instructions as f64 / value_bytes.max(1) as f64,
            count.owner.name(),
            count.function
        ));
    }
    lines
}
