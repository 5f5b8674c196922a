//! Driver benchmarks behind `cargo xtask bench drivers`: UDP echo throughput and
//! round trip between a host process and the guest, and sequential block write and
//! read rates as the guest measures them. Figures are printed, never asserted.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ethos_abi::Report;

use crate::harness::{self, Expectation, Transcript, Verdict};
use crate::matrix_host::{free_udp_port, udp_echo_client};
use crate::qemu::{Accelerator, Machine, QemuConfig};

/// What one backend measured on one accelerator.
#[derive(Clone, Debug, Default)]
pub struct DriverFigures {
    /// Echo payload carried one way per second, in Mbit/s (one datagram in flight).
    pub udp_mbit_per_s: Option<f64>,
    /// Mean round trip host → guest → host, in microseconds.
    pub udp_round_trip_us: Option<f64>,
    pub block_write_mb_per_s: Option<f64>,
    pub block_read_mb_per_s: Option<f64>,
    /// Why a figure is missing.
    pub errors: Vec<String>,
}

fn timeout(accelerator: Accelerator) -> Duration {
    match accelerator {
        Accelerator::Kvm => Duration::from_secs(300),
        Accelerator::Tcg => Duration::from_secs(180),
    }
}

fn metric(transcript: &Transcript, wanted: &str) -> Option<u64> {
    transcript.reports().find_map(|report| match report {
        Ok(Report::Metric { name, value, .. }) if name == wanted => Some(value),
        _ => None,
    })
}

fn judged(transcript: &Transcript, test: &'static str) -> Result<(), String> {
    match harness::judge(transcript, &Expectation::Pass { test }) {
        Verdict::Passed => Ok(()),
        Verdict::Failed(reason) | Verdict::Skipped(reason) => Err(reason),
    }
}

fn arguments(options: &str) -> Vec<String> {
    options.split_whitespace().map(str::to_string).collect()
}

/// Measures the native virtio-net and virtio-blk drivers (modern transport); a
/// figure that could not be measured is `None`, with the reason in `errors`.
pub fn measure_native(
    kernel: &Path,
    scratch: &Path,
    accelerator: Accelerator,
    datagrams: u32,
    disk_mib: u64,
) -> DriverFigures {
    let mut figures = DriverFigures::default();
    if let Err(reason) = measure_udp(kernel, accelerator, datagrams, &mut figures) {
        figures.errors.push(format!("UDP: {reason}"));
    }
    if let Err(reason) = measure_block(kernel, scratch, accelerator, disk_mib, &mut figures) {
        figures.errors.push(format!("block: {reason}"));
    }
    figures
}

fn measure_udp(
    kernel: &Path,
    accelerator: Accelerator,
    datagrams: u32,
    figures: &mut DriverFigures,
) -> Result<(), String> {
    let port = free_udp_port().ok_or("no free UDP port")?;
    let mut config = QemuConfig::pvh(kernel, "test=udp_echo", Machine::Pc, accelerator);
    config.extra = arguments(&format!(
        "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7 \
         -device virtio-net-pci,netdev=n0,disable-legacy=on"
    ));
    println!("$ {}", config.display());
    let limit = timeout(accelerator);
    let guest = std::thread::spawn(move || harness::run(&config, limit));
    let client = udp_echo_client(port, datagrams, limit / 2);
    let transcript = guest.join().map_err(|_| "the QEMU thread panicked")?;
    let summary = client?;
    judged(&transcript, "udp_echo")?;
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    figures.udp_mbit_per_s = Some(summary.bytes as f64 * 8.0 / seconds / 1e6);
    figures.udp_round_trip_us = Some(summary.mean_round_trip.as_secs_f64() * 1e6);
    Ok(())
}

fn measure_block(
    kernel: &Path,
    scratch: &Path,
    accelerator: Accelerator,
    disk_mib: u64,
    figures: &mut DriverFigures,
) -> Result<(), String> {
    let limit = timeout(accelerator);

    fs::create_dir_all(scratch).map_err(|error| error.to_string())?;
    let disk = scratch.join("bench-disk.img");
    fs::File::create(&disk)
        .and_then(|file| file.set_len(disk_mib * 1024 * 1024))
        .map_err(|error| format!("{}: {error}", disk.display()))?;
    let mut config = QemuConfig::pvh(kernel, "test=block", Machine::Pc, accelerator);
    config.extra = arguments(&format!(
        "-drive file={},format=raw,if=none,id=d0,cache=none \
         -device virtio-blk-pci,drive=d0,disable-legacy=on",
        disk.display()
    ));
    println!("$ {}", config.display());
    let transcript = harness::run(&config, limit);
    let rate = |name| metric(&transcript, name).map(|kib| kib as f64 * 1024.0 / 1e6);
    let _ = fs::remove_file(&disk);
    judged(&transcript, "block")?;
    figures.block_write_mb_per_s = Some(rate("block_write_rate").ok_or("no block_write_rate")?);
    figures.block_read_mb_per_s = Some(rate("block_read_rate").ok_or("no block_read_rate")?);
    Ok(())
}
