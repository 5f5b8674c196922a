//! Driver benchmarks behind `cargo xtask bench drivers`: UDP echo throughput and
//! round trip between a host process and the guest (through the datagram class),
//! sequential block write and read rates as the guest measures them, and the
//! kernel's entry → ready time, for each [`Setup`]: the native drivers on the modern
//! and on the legacy virtio transport, and NetBSD's drivers in the rump kernel
//! (legacy only: NetBSD's virtio of these sources speaks nothing else). Figures are
//! printed, never asserted; a run counts only if the kernel's device lines show the
//! backend and drivers measured.
//!
//! Beside them, [`measure_host_baseline`] measures the same work on the host in the
//! same run (a UDP echo on loopback, direct I/O on a file of the same size), so the
//! table can print ratios against a baseline rather than bare figures.

use std::fs;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{self, Expectation, Transcript, Verdict};
use crate::matrix::{backend_words, devices_served};
use crate::matrix_host::{free_udp_port, udp_echo_client};
use crate::qemu::{Accelerator, Machine, QemuConfig};
use crate::system::command_line;
use ethos_abi::KernelTest;
use ethos_abi::drivers::driver_name::{
    RUMP_LD, RUMP_NETINET, RUMP_VIOIF, SMOLTCP, VIRTIO_BLK, VIRTIO_NET,
};
use ethos_abi::drivers::{Backend, DeviceClass, UDP_ECHO_STOP};

/// Which drivers a measurement runs, and on which virtio transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The native drivers and stack, modern virtio transport.
    NativeModern,
    /// The native drivers and stack, legacy virtio transport (INTx).
    NativeLegacy,
    /// NetBSD's `vioif`, TCP/IP and `ld` in the rump kernel, legacy transport.
    Rump,
}

impl Setup {
    pub const ALL: [Setup; 3] = [Setup::NativeModern, Setup::NativeLegacy, Setup::Rump];

    /// The table's column name.
    pub fn label(self) -> &'static str {
        match self {
            Setup::NativeModern => "native modern",
            Setup::NativeLegacy => "native legacy",
            Setup::Rump => "rump legacy",
        }
    }

    pub fn backend(self) -> Backend {
        match self {
            Setup::Rump => Backend::Rump,
            Setup::NativeModern | Setup::NativeLegacy => Backend::Native,
        }
    }

    /// The virtio device option selecting the transport.
    fn transport(self) -> &'static str {
        match self {
            Setup::NativeModern => "disable-legacy=on",
            Setup::NativeLegacy | Setup::Rump => "disable-modern=on",
        }
    }

    /// The same for the disk: the native legacy driver needs queues of its size.
    fn block_transport(self) -> &'static str {
        match self {
            Setup::NativeLegacy => "disable-modern=on,queue-size=16",
            other => other.transport(),
        }
    }

    /// What the UDP figures measure.
    fn udp_serves(self) -> &'static [(DeviceClass, &'static str)] {
        match self {
            Setup::Rump => &[
                (DeviceClass::Network, RUMP_VIOIF),
                (DeviceClass::Datagram, RUMP_NETINET),
            ],
            _ => &[
                (DeviceClass::Network, VIRTIO_NET),
                (DeviceClass::Datagram, SMOLTCP),
            ],
        }
    }

    /// What the block figures measure.
    fn block_serves(self) -> &'static [(DeviceClass, &'static str)] {
        match self {
            Setup::Rump => &[(DeviceClass::Block, RUMP_LD)],
            _ => &[(DeviceClass::Block, VIRTIO_BLK)],
        }
    }
}

/// What one backend measured on one accelerator.
#[derive(Clone, Debug, Default)]
pub struct DriverFigures {
    /// Echo payload carried one way per second, in Mbit/s (one datagram in flight).
    pub udp_mbit_per_s: Option<f64>,
    /// Mean round trip host → guest → host, in microseconds.
    pub udp_round_trip_us: Option<f64>,
    pub block_write_mb_per_s: Option<f64>,
    pub block_read_mb_per_s: Option<f64>,
    /// The kernel's entry → ready time with the UDP devices (a rump setup boots
    /// NetBSD on the way), in milliseconds.
    pub boot_ms: Option<f64>,
    /// Why a figure is missing.
    pub errors: Vec<String>,
}

fn timeout(accelerator: Accelerator) -> Duration {
    match accelerator {
        Accelerator::Kvm => Duration::from_secs(300),
        Accelerator::Tcg => Duration::from_secs(180),
    }
}

fn judged(transcript: &Transcript, test: KernelTest) -> Result<(), String> {
    match harness::judge(transcript, &Expectation::Pass { test }) {
        Verdict::Passed => Ok(()),
        Verdict::Failed(reason) | Verdict::Skipped(reason) => Err(reason),
    }
}

fn arguments(options: &str) -> Vec<String> {
    options.split_whitespace().map(str::to_string).collect()
}

/// Measures the drivers of `setup` (virtio-net and virtio-blk); a figure that
/// could not be measured is `None`, with the reason in `errors`.
pub fn measure(
    kernel: &Path,
    scratch: &Path,
    accelerator: Accelerator,
    setup: Setup,
    datagrams: u32,
    disk_mib: u64,
) -> DriverFigures {
    let mut figures = DriverFigures::default();
    if let Err(reason) = measure_udp(kernel, accelerator, setup, datagrams, &mut figures) {
        figures.errors.push(format!("UDP: {reason}"));
    }
    if let Err(reason) = measure_block(kernel, scratch, accelerator, setup, disk_mib, &mut figures)
    {
        figures.errors.push(format!("block: {reason}"));
    }
    figures
}

fn measure_udp(
    kernel: &Path,
    accelerator: Accelerator,
    setup: Setup,
    datagrams: u32,
    figures: &mut DriverFigures,
) -> Result<(), String> {
    let port = free_udp_port().ok_or("no free UDP port")?;
    let mut config = QemuConfig::pvh(
        kernel,
        &command_line(
            Some(KernelTest::UdpEcho),
            &backend_words(setup.backend(), setup.udp_serves()),
        ),
        Machine::Pc,
        accelerator,
    );
    config.extra = arguments(&format!(
        "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7 \
         -device virtio-net-pci,netdev=n0,{}",
        setup.transport()
    ));
    println!("$ {}", config.display());
    let limit = timeout(accelerator);
    let guest = std::thread::spawn(move || harness::run(&config, limit));
    let client = udp_echo_client(port, datagrams, limit / 2);
    let transcript = guest.join().map_err(|_| "the QEMU thread panicked")?;
    let summary = client?;
    judged(&transcript, KernelTest::UdpEcho)?;
    devices_served(&transcript, setup.backend(), setup.udp_serves())?;
    figures.boot_ms = transcript
        .kernel_boot_nanos()
        .map(|nanos| nanos as f64 / 1e6);
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    figures.udp_mbit_per_s = Some(summary.bytes as f64 * 8.0 / seconds / 1e6);
    figures.udp_round_trip_us = Some(summary.mean_round_trip.as_secs_f64() * 1e6);
    Ok(())
}

fn measure_block(
    kernel: &Path,
    scratch: &Path,
    accelerator: Accelerator,
    setup: Setup,
    disk_mib: u64,
    figures: &mut DriverFigures,
) -> Result<(), String> {
    let limit = timeout(accelerator);

    fs::create_dir_all(scratch).map_err(|error| error.to_string())?;
    let disk = scratch.join("bench-disk.img");
    fs::File::create(&disk)
        .and_then(|file| file.set_len(disk_mib * 1024 * 1024))
        .map_err(|error| format!("{}: {error}", disk.display()))?;
    let mut config = QemuConfig::pvh(
        kernel,
        &command_line(
            Some(KernelTest::Block),
            &backend_words(setup.backend(), setup.block_serves()),
        ),
        Machine::Pc,
        accelerator,
    );
    config.extra = arguments(&format!(
        "-drive file={},format=raw,if=none,id=d0,cache=none \
         -device virtio-blk-pci,drive=d0,{}",
        disk.display(),
        setup.block_transport()
    ));
    println!("$ {}", config.display());
    let transcript = harness::run(&config, limit);
    let rate = |name| transcript.metric(name).map(|kib| kib as f64 * 1024.0 / 1e6);
    let _ = fs::remove_file(&disk);
    judged(&transcript, KernelTest::Block)?;
    devices_served(&transcript, setup.backend(), setup.block_serves())?;
    figures.block_write_mb_per_s = Some(rate("block_write_rate").ok_or("no block_write_rate")?);
    figures.block_read_mb_per_s = Some(rate("block_read_rate").ok_or("no block_read_rate")?);
    Ok(())
}

/// The Linux guest of the drivers baseline: Debian's kernel and an initramfs whose
/// `/init` (images/linux-guest/drivers.c) loads the virtio modules and does the work
/// of `test=udp-echo` (`bench=udp`) or `test=block` (`bench=block`).
#[derive(Clone, Debug)]
pub struct LinuxGuest {
    pub kernel: std::path::PathBuf,
    pub initramfs: std::path::PathBuf,
    /// The kernel command line, to which the run adds its `bench=` word.
    pub command_line: String,
}

/// What the Linux guest's block run prints.
fn linux_block_line(transcript: &Transcript) -> Result<(u64, u64), String> {
    let line = transcript
        .lines
        .iter()
        .find_map(|(_, line)| line.strip_prefix("linux-guest block "))
        .ok_or("the Linux guest printed no `linux-guest block` line")?;
    let field = |key: &str| harness::field(line, key);
    Ok((field("write_kib_s")?, field("read_kib_s")?))
}

fn linux_judged(
    transcript: &Transcript,
    check: fn(&Transcript) -> Result<(), String>,
) -> Result<(), String> {
    match harness::judge(
        transcript,
        &Expectation::Ends {
            code: ethos_abi::ExitCode::Success,
            check,
        },
    ) {
        Verdict::Passed => Ok(()),
        Verdict::Failed(reason) | Verdict::Skipped(reason) => Err(reason),
    }
}

/// The same work as [`measure`]'s native modern column, by Linux's own drivers on
/// the same device models and machine: the UDP echo and the whole-disk pattern.
pub fn measure_linux(
    guest: &LinuxGuest,
    scratch: &Path,
    accelerator: Accelerator,
    datagrams: u32,
    disk_mib: u64,
) -> DriverFigures {
    let mut figures = DriverFigures::default();
    let setup = Setup::NativeModern;
    // UDP.
    let udp = (|| -> Result<(), String> {
        let port = free_udp_port().ok_or("no free UDP port")?;
        let mut config = QemuConfig::pvh(
            &guest.kernel,
            &format!("{} bench=udp", guest.command_line),
            Machine::Pc,
            accelerator,
        );
        config.extra = arguments(&format!(
            "-initrd {} -netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7 \
             -device virtio-net-pci,netdev=n0,{}",
            guest.initramfs.display(),
            setup.transport()
        ));
        println!("$ {}", config.display());
        let limit = timeout(accelerator);
        let run = std::thread::spawn(move || harness::run(&config, limit));
        let client = udp_echo_client(port, datagrams, limit / 2);
        let transcript = run.join().map_err(|_| "the QEMU thread panicked")?;
        let summary = client?;
        linux_judged(&transcript, |transcript| {
            transcript
                .lines
                .iter()
                .any(|(_, line)| line.starts_with("linux-guest udp-echo done"))
                .then_some(())
                .ok_or_else(|| "the Linux guest did not end its echo service".to_string())
        })?;
        // Kernel entry → /init, as `bench boot` reads it (clock set up → /init).
        figures.boot_ms = crate::linux_guest::init_start(&transcript)
            .ok()
            .map(|start| start.monotonic_ns as f64 / 1e6);
        let seconds = summary.elapsed.as_secs_f64().max(1e-9);
        figures.udp_mbit_per_s = Some(summary.bytes as f64 * 8.0 / seconds / 1e6);
        figures.udp_round_trip_us = Some(summary.mean_round_trip.as_secs_f64() * 1e6);
        Ok(())
    })();
    if let Err(reason) = udp {
        figures.errors.push(format!("Linux guest UDP: {reason}"));
    }
    // Block.
    let block = (|| -> Result<(), String> {
        fs::create_dir_all(scratch).map_err(|error| error.to_string())?;
        let disk = scratch.join("linux-bench-disk.img");
        fs::File::create(&disk)
            .and_then(|file| file.set_len(disk_mib * 1024 * 1024))
            .map_err(|error| format!("{}: {error}", disk.display()))?;
        let mut config = QemuConfig::pvh(
            &guest.kernel,
            &format!("{} bench=block", guest.command_line),
            Machine::Pc,
            accelerator,
        );
        config.extra = arguments(&format!(
            "-initrd {} -drive file={},format=raw,if=none,id=d0,cache=none \
             -device virtio-blk-pci,drive=d0,{}",
            guest.initramfs.display(),
            disk.display(),
            setup.block_transport()
        ));
        println!("$ {}", config.display());
        let transcript = harness::run(&config, timeout(accelerator));
        let _ = fs::remove_file(&disk);
        linux_judged(&transcript, |transcript| {
            linux_block_line(transcript).map(drop)
        })?;
        let (write, read) = linux_block_line(&transcript)?;
        figures.block_write_mb_per_s = Some(write as f64 * 1024.0 / 1e6);
        figures.block_read_mb_per_s = Some(read as f64 * 1024.0 / 1e6);
        Ok(())
    })();
    if let Err(reason) = block {
        figures.errors.push(format!("Linux guest block: {reason}"));
    }
    figures
}

/// `O_DIRECT` on Linux x86_64: the guest's disk runs with `cache=none`, so the host
/// baseline bypasses the page cache too.
const OPEN_DIRECT: i32 = 0o40000;

/// One aligned chunk for direct I/O.
#[repr(C, align(4096))]
struct Chunk([u8; 64 * 1024]);

/// The same work on the host, in this run: `datagrams` echoes over loopback UDP to
/// a thread of this process, and a sequential direct write and read of `disk_mib`.
pub fn measure_host_baseline(scratch: &Path, datagrams: u32, disk_mib: u64) -> DriverFigures {
    let mut figures = DriverFigures::default();
    match host_udp(datagrams) {
        Ok((throughput, round_trip)) => {
            figures.udp_mbit_per_s = Some(throughput);
            figures.udp_round_trip_us = Some(round_trip);
        }
        Err(reason) => figures.errors.push(format!("host UDP: {reason}")),
    }
    match host_block(scratch, disk_mib) {
        Ok((write, read)) => {
            figures.block_write_mb_per_s = Some(write);
            figures.block_read_mb_per_s = Some(read);
        }
        Err(reason) => figures.errors.push(format!("host block: {reason}")),
    }
    figures
}

fn host_udp(datagrams: u32) -> Result<(f64, f64), String> {
    let server = UdpSocket::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|error| error.to_string())?;
    let port = server
        .local_addr()
        .map_err(|error| error.to_string())?
        .port();
    let echo = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 4096];
        while let Ok((length, from)) = server.recv_from(&mut buffer) {
            if &buffer[..length] == UDP_ECHO_STOP {
                return;
            }
            let _ = server.send_to(&buffer[..length], from);
        }
    });
    let summary = udp_echo_client(port, datagrams, Duration::from_secs(5));
    let _ = echo.join();
    let summary = summary?;
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    Ok((
        summary.bytes as f64 * 8.0 / seconds / 1e6,
        summary.mean_round_trip.as_secs_f64() * 1e6,
    ))
}

fn host_block(scratch: &Path, disk_mib: u64) -> Result<(f64, f64), String> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(scratch).map_err(|error| error.to_string())?;
    let path = scratch.join("baseline-disk.img");
    let failed = |error: std::io::Error| format!("{}: {error}", path.display());
    let mut chunk = Box::new(Chunk([0x5a; 64 * 1024]));
    let chunks = disk_mib * 1024 * 1024 / chunk.0.len() as u64;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .read(true)
        .custom_flags(OPEN_DIRECT)
        .open(&path)
        .map_err(failed)?;
    let started = Instant::now();
    for index in 0..chunks {
        chunk.0[0] = index as u8;
        file.write_all(&chunk.0).map_err(failed)?;
    }
    file.sync_all().map_err(failed)?;
    let write_seconds = started.elapsed().as_secs_f64().max(1e-9);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_DIRECT)
        .open(&path)
        .map_err(failed)?;
    let started = Instant::now();
    for index in 0..chunks {
        file.read_exact(&mut chunk.0).map_err(failed)?;
        if chunk.0[0] != index as u8 {
            return Err(format!("{}: chunk {index} read back wrong", path.display()));
        }
    }
    let read_seconds = started.elapsed().as_secs_f64().max(1e-9);
    let _ = fs::remove_file(&path);
    let megabytes = (chunks * chunk.0.len() as u64) as f64 / 1e6;
    Ok((megabytes / write_seconds, megabytes / read_seconds))
}
