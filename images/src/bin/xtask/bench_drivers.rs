//! `cargo xtask bench drivers`: UDP throughput and round trip between a host
//! process and the guest, and sequential block write and read rates, in a table
//! whose columns are the backends (native now; rump once rump drivers exist).
//!
//! Runs under KVM when it is usable and under TCG; figures are printed, never
//! asserted. Each is also given as a ratio to the same work done on the host in the
//! same run (loopback UDP echo, direct file I/O), the baseline.

use std::process::ExitCode;

use ethos_images::{XtaskError, kernel, prerequisites, target_directory};
use ethos_tests::driver_bench::{DriverFigures, measure_host_baseline, measure_native};
use ethos_tests::qemu::{Accelerator, kvm_usable};

#[derive(Debug, clap::Args)]
pub(crate) struct DriverArguments {
    /// Datagrams the UDP echo sends (mixed sizes up to 1472 bytes).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    datagrams: u32,
    /// Size of the benchmark disk in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    disk_mib: u64,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tcg: bool,
}

pub(crate) fn drivers(arguments: &DriverArguments) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let kernel = kernel::build_kernel(kernel::Flavour::Selftest)?;
    let scratch = target_directory().join("bench-drivers");
    let mut accelerators = Vec::new();
    match kvm_usable() {
        Ok(()) => accelerators.push(Accelerator::Kvm),
        Err(reason) => println!("skipping KVM: {reason}"),
    }
    if arguments.tcg {
        accelerators.push(Accelerator::Tcg);
    }
    let mut failed = false;
    println!("== host baseline (loopback UDP echo, O_DIRECT file I/O)");
    let baseline = measure_host_baseline(&scratch, arguments.datagrams, arguments.disk_mib);
    for reason in &baseline.errors {
        println!("baseline: {reason}");
        failed = true;
    }
    for accelerator in accelerators {
        println!("== {}", accelerator.name());
        let native = measure_native(
            &kernel,
            &scratch,
            accelerator,
            arguments.datagrams,
            arguments.disk_mib,
        );
        for reason in &native.errors {
            println!("native: {reason}");
            failed = true;
        }
        print_table(accelerator, &native, &baseline);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(accelerator: Accelerator, native: &DriverFigures, baseline: &DriverFigures) {
    let cell = |value: Option<f64>| value.map_or("failed".to_string(), |v| format!("{v:.2}"));
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => format!("{:.4}x", value / base),
        _ => "-".to_string(),
    };
    let rump = "no driver yet";
    println!();
    println!(
        "{:<44} | {:>12} | {:>12} | {:>12} | {:>14}",
        format!("{} (virtio, modern transport)", accelerator.name()),
        "native",
        "host",
        "native/host",
        "rump"
    );
    let rows: [(&str, Option<f64>, Option<f64>); 4] = [
        (
            "UDP echo throughput, payload one way (Mbit/s)",
            native.udp_mbit_per_s,
            baseline.udp_mbit_per_s,
        ),
        (
            "UDP round trip (µs)",
            native.udp_round_trip_us,
            baseline.udp_round_trip_us,
        ),
        (
            "block sequential write (MB/s)",
            native.block_write_mb_per_s,
            baseline.block_write_mb_per_s,
        ),
        (
            "block sequential read (MB/s)",
            native.block_read_mb_per_s,
            baseline.block_read_mb_per_s,
        ),
    ];
    for (label, value, base) in rows {
        println!(
            "{label:<44} | {:>12} | {:>12} | {:>12} | {rump:>14}",
            cell(value),
            cell(base),
            ratio(value, base)
        );
    }
    println!("(UDP: one datagram in flight, so throughput is bound by the round trip;");
    println!(" host: the same work between two host sockets / on a host file, this run)");
}
