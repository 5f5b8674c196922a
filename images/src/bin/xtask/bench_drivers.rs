//! `cargo xtask bench drivers`: UDP throughput and round trip between a host
//! process and the guest, sequential block write and read rates, and the kernel's
//! boot time, in a table whose columns are the drivers measured: native on the
//! modern and on the legacy virtio transport, and NetBSD's in the rump kernel (when
//! `RUMPKERNEL_DIR` names a build; the column says why it is empty otherwise), with
//! the kernel image's size with and without the rump kernel.
//!
//! Runs under KVM when it is usable and under TCG; figures are printed, never
//! asserted. Each is also given as a ratio to the same work done on the host in the
//! same run (loopback UDP echo, direct file I/O), the baseline.

use std::process::ExitCode;

use ethos_abi::drivers::Backend;
use ethos_images::linux_guest;
use ethos_images::{XtaskError, kernel, prerequisites, target_directory};
use ethos_tests::driver_bench::{
    DriverFigures, LinuxGuest, Setup, measure, measure_host_baseline, measure_linux,
};
use ethos_tests::qemu::{Accelerator, kvm_usable};

#[derive(Debug, clap::Args)]
pub(crate) struct DriverArguments {
    /// Datagrams the UDP echo sends (mixed sizes up to 1472 bytes).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    datagrams: u32,
    /// Size of the benchmark disk in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    disk_mib: u64,
    /// Measure under KVM when it is usable (correctness only on a host without
    /// hardware virtualization, where KVM interprets guest kernel code).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    kvm: bool,
    /// Also measure under TCG (software emulation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tcg: bool,
    /// Set a Linux guest (Debian's kernel and virtio modules, a static C /init) beside
    /// the native modern column: the same work on the same device models and machine.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    linux_guest: bool,
}

pub(crate) fn drivers(arguments: &DriverArguments) -> Result<ExitCode, XtaskError> {
    prerequisites::ensure(&[prerequisites::QEMU])?;
    let with_rump = kernel::kernel_backends().contains(&Backend::Rump);
    let sizes = if with_rump {
        let native_only = kernel::build_with(kernel::Flavour::Selftest, false)?.kernel;
        Some(kernel::loaded_bytes(&native_only)?)
    } else {
        None
    };
    let kernel = kernel::build_kernel(kernel::Flavour::Selftest)?;
    let loaded = kernel::loaded_bytes(&kernel)?;
    let scratch = target_directory().join("bench-drivers");
    let mut accelerators = Vec::new();
    match kvm_usable() {
        Ok(()) if arguments.kvm => accelerators.push(Accelerator::Kvm),
        Ok(()) => println!("skipping KVM: --kvm false"),
        Err(reason) => println!("skipping KVM: {reason}"),
    }
    if arguments.tcg {
        accelerators.push(Accelerator::Tcg);
    }
    let linux = if arguments.linux_guest {
        let kernel = linux_guest::kernel()?;
        Some(LinuxGuest {
            initramfs: linux_guest::drivers_initramfs(&kernel)?,
            command_line: linux_guest::command_line(linux_guest::host_tsc_khz()?, ""),
            kernel,
        })
    } else {
        None
    };
    let mut failed = false;
    println!("== host baseline (loopback UDP echo, O_DIRECT file I/O)");
    let baseline = measure_host_baseline(&scratch, arguments.datagrams, arguments.disk_mib);
    for reason in &baseline.errors {
        println!("baseline: {reason}");
        failed = true;
    }
    for accelerator in accelerators {
        println!("== {}", accelerator.name());
        let mut columns = Vec::new();
        if let Some(linux) = &linux {
            let figures = measure_linux(
                linux,
                &scratch,
                accelerator,
                arguments.datagrams,
                arguments.disk_mib,
            );
            for reason in &figures.errors {
                println!("{reason}");
                failed = true;
            }
            columns.push(("Linux guest", Some(figures)));
        }
        for setup in Setup::ALL {
            if setup.backend() == Backend::Rump && !with_rump {
                columns.push((setup.label(), None));
                continue;
            }
            let figures = measure(
                &kernel,
                &scratch,
                accelerator,
                setup,
                arguments.datagrams,
                arguments.disk_mib,
            );
            for reason in &figures.errors {
                println!("{}: {reason}", setup.label());
                failed = true;
            }
            columns.push((setup.label(), Some(figures)));
        }
        print_table(accelerator, &columns, &baseline);
    }
    println!();
    match sizes {
        Some(native_only) => println!(
            "kernel image (loaded bytes): {:.2} MiB with the rump kernel, {:.2} MiB without ({:+.2} MiB)",
            mib(loaded),
            mib(native_only),
            mib(loaded) - mib(native_only)
        ),
        None => println!(
            "kernel image (loaded bytes): {:.2} MiB (native only: RUMPKERNEL_DIR is not set)",
            mib(loaded)
        ),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_table(
    accelerator: Accelerator,
    columns: &[(&str, Option<DriverFigures>)],
    baseline: &DriverFigures,
) {
    let cell = |value: Option<f64>| value.map_or("failed".to_string(), |v| format!("{v:.2}"));
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => format!("{:.4}x", value / base),
        _ => "-".to_string(),
    };
    println!();
    let mut header = format!("{:<44} | {:>12}", accelerator.name(), "host");
    for (label, _) in columns {
        header.push_str(&format!(" | {:>14} | {:>8}", label, "/host"));
    }
    let linux = columns
        .iter()
        .find(|(label, _)| *label == "Linux guest")
        .and_then(|(_, figures)| figures.as_ref());
    if linux.is_some() {
        header.push_str(&format!(" | {:>14}", "modern/Linux"));
    }
    println!("{header}");
    type Pick = fn(&DriverFigures) -> Option<f64>;
    let rows: [(&str, Pick); 5] = [
        ("UDP echo throughput, payload one way (Mbit/s)", |f| {
            f.udp_mbit_per_s
        }),
        ("UDP round trip (µs)", |f| f.udp_round_trip_us),
        ("block sequential write (MB/s)", |f| f.block_write_mb_per_s),
        ("block sequential read (MB/s)", |f| f.block_read_mb_per_s),
        ("kernel entry to ready (ms)", |f| f.boot_ms),
    ];
    for (label, pick) in rows {
        let base = pick(baseline);
        let mut line = format!(
            "{label:<44} | {:>12}",
            base.map_or("-".into(), |v| format!("{v:.2}"))
        );
        for (_, figures) in columns {
            match figures {
                Some(figures) => line.push_str(&format!(
                    " | {:>14} | {:>8}",
                    cell(pick(figures)),
                    ratio(pick(figures), base)
                )),
                None => line.push_str(&format!(" | {:>14} | {:>8}", "no rump build", "-")),
            }
        }
        if let Some(linux) = linux {
            let modern = columns
                .iter()
                .find(|(label, _)| *label == Setup::NativeModern.label())
                .and_then(|(_, figures)| figures.as_ref())
                .and_then(pick);
            line.push_str(&format!(" | {:>14}", ratio(modern, pick(linux))));
        }
        println!("{line}");
    }
    println!("(UDP: one datagram in flight, so throughput is bound by the round trip;");
    println!(" host: the same work between two host sockets / on a host file, this run;");
    println!(" Linux guest: Debian's kernel, its virtio modules, modern transport, same machine;");
    println!(" rump: NetBSD's vioif, TCP/IP and ld in the rump kernel, boot includes rump_init;");
    println!(" no rump build: RUMPKERNEL_DIR is not set, see rump-sys/README.md)");
}
