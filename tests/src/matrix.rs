//! The driver regression matrix: (device model, QEMU options, backend, test) rows
//! that `cargo xtask test` expands into QEMU runs, with host-side work where a row
//! needs it (a UDP echo client, a second guest, a disk image checked afterwards, the
//! host's own `ping` through a tap device).
//!
//! A row asks the kernel for its backend on the command line (`backend.CLASS=NAME`
//! for each class it exercises) and names the driver it expects for each; the
//! kernel's `@ethos device` lines must say exactly that backend and driver, so a row
//! never passes on another backend than its own. A `rump` row on a kernel that
//! links no rump kernel is skipped with the reason, never run as native. Every row
//! is a real boot that can fail: the kernel's report lines *and* the host's own
//! checks must agree.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use ethos_abi::{KernelTest, Report};
use std::net::Ipv4Addr;
use std::sync::mpsc;

use ethos_abi::drivers::driver_name::{
    RUMP_LD, RUMP_NETINET, RUMP_VIOIF, RUMP_WM, SMOLTCP, UART_16550, VIRTIO_BLK, VIRTIO_NET,
    VIRTIO_RNG,
};
use ethos_abi::drivers::{
    BLOCK_PATTERN_SEED, Backend, DeviceClass, HOST_PING_COUNT, NET_SERVING_METRIC, PATTERN_SECTOR,
    TAP_GUEST_NUMBER, fill_sector_pattern, tap_guest_address, tap_guest_mac,
};

use crate::harness::{self, Expectation, RunEnd, Transcript, Verdict};
use crate::matrix_host::{
    EchoSummary, PingSummary, TapDevice, free_tcp_port, free_udp_port, ping_through, send_stop,
    tap_unavailable, udp_echo_client, wait_until_answering,
};
use crate::qemu::{Accelerator, Machine, QemuConfig};
use crate::system::{Inputs, Outcome};

/// What a row does besides booting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The kernel test passes on its own.
    Kernel,
    /// The whole-disk pattern test; the host then checks the image file.
    BlockPattern,
    /// The whole-disk pattern test, checked as `BlockPattern`; the disk's interrupts
    /// must also have come by MSI-X (`msix`) or by INTx only.
    BlockInterrupts { msix: bool },
    /// The pattern test on a disk whose reads and writes fail at chosen sectors.
    BlockFaults,
    /// A host process sends this many datagrams of mixed sizes through a host
    /// forward and checks every echo byte for byte.
    UdpEcho { datagrams: u32 },
    /// Two guests on a socket network, each on its own backend; both must pass. The
    /// row's own options, backend and drivers are the first guest's (which listens);
    /// `second` connects.
    Peers { second: Guest },
    /// The host pings the guest through a tap device with the system `ping`; every
    /// echo must come back, and the guest must count them answered. Skipped (never
    /// passed) where the host cannot make a tap device.
    HostPing,
    /// No device of any class: the kernel names each missing class and goes on.
    NoDevices,
    /// The guest leases its address by DHCP from QEMU user networking and pings the
    /// router; the lease must be user networking's first guest address.
    Dhcp,
    /// The `devices` test; the kernel must report reaching configuration space
    /// through ECAM (`true`) or port I/O (`false`), and have bound a block device.
    ConfigAccess { ecam: bool },
    /// The `devices` test with every DMA allocation of the rump kernel's drivers
    /// refused (`rump.dma=refuse`): the refusal must be reported, the row's classes
    /// left unserved (their driver failed to attach), and the kernel must go on to
    /// pass the test.
    DmaRefused,
}

/// A guest of a two-guest row besides the row's own: its QEMU options (with the
/// same placeholders), the backend it asks for and the drivers that must serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    pub qemu_options: &'static str,
    pub backend: Backend,
    pub serves: &'static [(DeviceClass, &'static str)],
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct MatrixRow {
    pub name: &'static str,
    /// The emulated machine: the PC unless a row needs PCI Express.
    pub machine: Machine,
    pub device_model: &'static str,
    /// Options for QEMU; `{disk}`, `{port}`, `{peer}`, `{mac}`, `{tap}` and
    /// `{tap_mac}` are filled in per run.
    pub qemu_options: &'static str,
    pub backend: Backend,
    /// The kernel test (`test=NAME`).
    pub test: KernelTest,
    pub scenario: Scenario,
    /// The classes the row exercises, each with the driver of [`MatrixRow::backend`]
    /// that must serve it.
    pub serves: &'static [(DeviceClass, &'static str)],
}

/// What a row of the native network stack over virtio-net exercises.
const NATIVE_DATAGRAMS: &[(DeviceClass, &str)] = &[
    (DeviceClass::Network, VIRTIO_NET),
    (DeviceClass::Datagram, SMOLTCP),
];
const NATIVE_NETWORK: &[(DeviceClass, &str)] = &[(DeviceClass::Network, VIRTIO_NET)];
const NATIVE_BLOCK: &[(DeviceClass, &str)] = &[(DeviceClass::Block, VIRTIO_BLK)];
const NATIVE_ENTROPY: &[(DeviceClass, &str)] = &[(DeviceClass::Entropy, VIRTIO_RNG)];
/// NetBSD's TCP/IP over its virtio network driver, in a rump kernel.
const RUMP_DATAGRAMS: &[(DeviceClass, &str)] = &[
    (DeviceClass::Network, RUMP_VIOIF),
    (DeviceClass::Datagram, RUMP_NETINET),
];
/// NetBSD's TCP/IP over its Intel e1000 driver, in a rump kernel.
const RUMP_WM_DATAGRAMS: &[(DeviceClass, &str)] = &[
    (DeviceClass::Network, RUMP_WM),
    (DeviceClass::Datagram, RUMP_NETINET),
];
/// NetBSD's virtio block driver (`ld` over `virtio`), in a rump kernel: the name
/// its first unit reports.
const RUMP_BLOCK: &[(DeviceClass, &str)] = &[(DeviceClass::Block, RUMP_LD)];

/// A peer guest's device on a socket network: virtio-net, modern or legacy.
const SOCKET_PEER_MODERN: &str =
    "-netdev socket,id=n0,{peer} -device virtio-net-pci,netdev=n0,mac={mac},disable-legacy=on";
const SOCKET_PEER_LEGACY: &str =
    "-netdev socket,id=n0,{peer} -device virtio-net-pci,netdev=n0,mac={mac},disable-modern=on";
/// The second guest of a peers row on the native stack over legacy virtio-net.
const NATIVE_LEGACY_PEER: Guest = Guest {
    qemu_options: SOCKET_PEER_LEGACY,
    backend: Backend::Native,
    serves: NATIVE_DATAGRAMS,
};

const DISK_BYTES: u64 = 8 * 1024 * 1024;
/// Sectors the fault row's `blkdebug` rules fail: one write, one read.
const FAULT_WRITE_SECTOR: u64 = 2048;
const FAULT_READ_SECTOR: u64 = 8192;
const TCG_TIMEOUT: Duration = Duration::from_secs(120);

const fn row(
    name: &'static str,
    device_model: &'static str,
    qemu_options: &'static str,
    test: KernelTest,
    scenario: Scenario,
    serves: &'static [(DeviceClass, &'static str)],
) -> MatrixRow {
    MatrixRow {
        name,
        machine: Machine::Pc,
        device_model,
        qemu_options,
        backend: Backend::Native,
        test,
        scenario,
        serves,
    }
}

/// `row` on the rump backend, served by `serves`.
const fn on_rump(row: MatrixRow, serves: &'static [(DeviceClass, &'static str)]) -> MatrixRow {
    MatrixRow {
        backend: Backend::Rump,
        serves,
        ..row
    }
}

/// Every row, in the order they run.
pub fn rows() -> Vec<MatrixRow> {
    use Scenario::*;
    vec![
        row(
            "matrix-virtio-net-legacy-ping",
            "virtio-net-pci (legacy)",
            "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,disable-modern=on",
            KernelTest::NetPing,
            Kernel,
            NATIVE_NETWORK,
        ),
        row(
            "matrix-virtio-net-modern-ping",
            "virtio-net-pci (modern)",
            "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,disable-legacy=on",
            KernelTest::NetPing,
            Kernel,
            NATIVE_NETWORK,
        ),
        row(
            "matrix-virtio-net-legacy-udp-echo",
            "virtio-net-pci (legacy)",
            concat!(
                "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                " -device virtio-net-pci,netdev=n0,disable-modern=on"
            ),
            KernelTest::UdpEcho,
            UdpEcho { datagrams: 10_000 },
            NATIVE_DATAGRAMS,
        ),
        row(
            "matrix-virtio-net-modern-udp-echo",
            "virtio-net-pci (modern)",
            concat!(
                "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                " -device virtio-net-pci,netdev=n0,disable-legacy=on"
            ),
            KernelTest::UdpEcho,
            UdpEcho { datagrams: 10_000 },
            NATIVE_DATAGRAMS,
        ),
        // NetBSD's virtio transport is legacy only (see rump-sys/README.md).
        on_rump(
            row(
                "matrix-virtio-net-legacy-udp-echo-rump",
                "virtio-net-pci (legacy)",
                concat!(
                    "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                    " -device virtio-net-pci,netdev=n0,disable-modern=on"
                ),
                KernelTest::UdpEcho,
                UdpEcho { datagrams: 10_000 },
                NATIVE_DATAGRAMS,
            ),
            RUMP_DATAGRAMS,
        ),
        // A NetBSD driver whose DMA request is refused fails to attach, is reported,
        // and the kernel goes on.
        on_rump(
            row(
                "matrix-virtio-net-legacy-dma-refused-rump",
                "virtio-net-pci (legacy), every rump DMA allocation refused",
                "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,disable-modern=on",
                KernelTest::Devices,
                DmaRefused,
                NATIVE_DATAGRAMS,
            ),
            RUMP_DATAGRAMS,
        ),
        on_rump(
            row(
                "matrix-e1000-udp-echo-rump",
                "e1000",
                concat!(
                    "-netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                    " -device e1000,netdev=n0"
                ),
                KernelTest::UdpEcho,
                UdpEcho { datagrams: 10_000 },
                NATIVE_DATAGRAMS,
            ),
            RUMP_WM_DATAGRAMS,
        ),
        row(
            "matrix-virtio-net-socket-peers",
            "virtio-net-pci (modern and legacy)",
            SOCKET_PEER_MODERN,
            KernelTest::NetPeer,
            Peers {
                second: NATIVE_LEGACY_PEER,
            },
            NATIVE_DATAGRAMS,
        ),
        // A rump guest and a native guest exchange UDP; the native guest's pings are
        // answered by NetBSD.
        on_rump(
            row(
                "matrix-virtio-net-socket-peers-rump-native",
                "virtio-net-pci (legacy, then modern)",
                SOCKET_PEER_LEGACY,
                KernelTest::NetPeer,
                Peers {
                    second: Guest {
                        qemu_options: SOCKET_PEER_MODERN,
                        backend: Backend::Native,
                        serves: NATIVE_DATAGRAMS,
                    },
                },
                NATIVE_DATAGRAMS,
            ),
            RUMP_DATAGRAMS,
        ),
        on_rump(
            row(
                "matrix-e1000-socket-peers-rump-native",
                "e1000, then virtio-net-pci (legacy)",
                "-netdev socket,id=n0,{peer} -device e1000,netdev=n0,mac={mac}",
                KernelTest::NetPeer,
                Peers {
                    second: NATIVE_LEGACY_PEER,
                },
                NATIVE_DATAGRAMS,
            ),
            RUMP_WM_DATAGRAMS,
        ),
        row(
            "matrix-virtio-net-legacy-host-ping",
            "virtio-net-pci (legacy) on a tap device",
            concat!(
                "-netdev tap,id=n0,ifname={tap},script=no,downscript=no",
                " -device virtio-net-pci,netdev=n0,mac={tap_mac},disable-modern=on"
            ),
            KernelTest::NetServe,
            HostPing,
            NATIVE_DATAGRAMS,
        ),
        row(
            "matrix-virtio-net-modern-host-ping",
            "virtio-net-pci (modern) on a tap device",
            concat!(
                "-netdev tap,id=n0,ifname={tap},script=no,downscript=no",
                " -device virtio-net-pci,netdev=n0,mac={tap_mac},disable-legacy=on"
            ),
            KernelTest::NetServe,
            HostPing,
            NATIVE_DATAGRAMS,
        ),
        // NetBSD answers the host's pings; the guest keeps its service up until the
        // host's stop datagram.
        on_rump(
            row(
                "matrix-virtio-net-legacy-host-ping-rump",
                "virtio-net-pci (legacy) on a tap device",
                concat!(
                    "-netdev tap,id=n0,ifname={tap},script=no,downscript=no",
                    " -device virtio-net-pci,netdev=n0,mac={tap_mac},disable-modern=on"
                ),
                KernelTest::NetServe,
                HostPing,
                NATIVE_DATAGRAMS,
            ),
            RUMP_DATAGRAMS,
        ),
        on_rump(
            row(
                "matrix-e1000-host-ping-rump",
                "e1000 on a tap device",
                concat!(
                    "-netdev tap,id=n0,ifname={tap},script=no,downscript=no",
                    " -device e1000,netdev=n0,mac={tap_mac}"
                ),
                KernelTest::NetServe,
                HostPing,
                NATIVE_DATAGRAMS,
            ),
            RUMP_WM_DATAGRAMS,
        ),
        row(
            "matrix-virtio-blk-legacy",
            "virtio-blk-pci (legacy)",
            concat!(
                "-drive file={disk},format=raw,if=none,id=d0",
                " -device virtio-blk-pci,drive=d0,disable-modern=on,queue-size=16"
            ),
            KernelTest::Block,
            BlockPattern,
            NATIVE_BLOCK,
        ),
        row(
            "matrix-virtio-blk-modern",
            "virtio-blk-pci (modern)",
            concat!(
                "-drive file={disk},format=raw,if=none,id=d0",
                " -device virtio-blk-pci,drive=d0,disable-legacy=on"
            ),
            KernelTest::Block,
            BlockPattern,
            NATIVE_BLOCK,
        ),
        row(
            "matrix-virtio-blk-blkdebug",
            "virtio-blk-pci (modern) on blkdebug",
            concat!(
                "-drive file=blkdebug:{rules}:{disk},format=raw,if=none,id=d0",
                " -device virtio-blk-pci,drive=d0,disable-legacy=on"
            ),
            KernelTest::BlockFaults,
            BlockFaults,
            NATIVE_BLOCK,
        ),
        // NetBSD's virtio transport is legacy only: its disks are too.
        on_rump(
            row(
                "matrix-virtio-blk-legacy-rump",
                "virtio-blk-pci (legacy)",
                concat!(
                    "-drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-pci,drive=d0,disable-modern=on"
                ),
                KernelTest::Block,
                BlockPattern,
                NATIVE_BLOCK,
            ),
            RUMP_BLOCK,
        ),
        on_rump(
            row(
                "matrix-virtio-blk-blkdebug-rump",
                "virtio-blk-pci (legacy) on blkdebug",
                concat!(
                    "-drive file=blkdebug:{rules}:{disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-pci,drive=d0,disable-modern=on"
                ),
                KernelTest::BlockFaults,
                BlockFaults,
                NATIVE_BLOCK,
            ),
            RUMP_BLOCK,
        ),
        row(
            "matrix-virtio-rng-legacy",
            "virtio-rng-pci (legacy)",
            "-device virtio-rng-pci,disable-modern=on",
            KernelTest::Entropy,
            Kernel,
            NATIVE_ENTROPY,
        ),
        row(
            "matrix-virtio-rng-modern",
            "virtio-rng-pci (modern)",
            "-device virtio-rng-pci,disable-legacy=on",
            KernelTest::Entropy,
            Kernel,
            NATIVE_ENTROPY,
        ),
        // The kernel test fails if a bound entropy device gave its generator nothing.
        row(
            "matrix-virtio-rng-random",
            "virtio-rng-pci (modern), seeding the kernel generator",
            "-device virtio-rng-pci,disable-legacy=on",
            KernelTest::Random,
            Kernel,
            NATIVE_ENTROPY,
        ),
        row(
            "matrix-virtio-net-modern-dhcp",
            "virtio-net-pci (modern), DHCP",
            "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,disable-legacy=on",
            KernelTest::NetDhcp,
            Dhcp,
            NATIVE_NETWORK,
        ),
        row(
            "matrix-no-devices",
            "none",
            "",
            KernelTest::Devices,
            NoDevices,
            &[(DeviceClass::Console, UART_16550)],
        ),
        row(
            "matrix-pc-port-io",
            "virtio-blk-pci (modern) on the PC",
            concat!(
                "-drive file={disk},format=raw,if=none,id=d0",
                " -device virtio-blk-pci,drive=d0,disable-legacy=on"
            ),
            KernelTest::Devices,
            ConfigAccess { ecam: false },
            NATIVE_BLOCK,
        ),
        on(
            Machine::Q35,
            row(
                "matrix-q35-ecam",
                "virtio-blk-pci (modern) on Q35",
                concat!(
                    "-drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-pci,drive=d0,disable-legacy=on"
                ),
                KernelTest::Devices,
                ConfigAccess { ecam: true },
                NATIVE_BLOCK,
            ),
        ),
        on(
            Machine::Q35,
            row(
                "matrix-q35-virtio-blk-modern-msix",
                "virtio-blk-pci (modern, MSI-X) on Q35",
                concat!(
                    "-drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-pci,drive=d0,disable-legacy=on"
                ),
                KernelTest::Block,
                BlockInterrupts { msix: true },
                NATIVE_BLOCK,
            ),
        ),
        row(
            "matrix-virtio-blk-legacy-intx",
            "virtio-blk-pci (legacy, INTx)",
            concat!(
                "-drive file={disk},format=raw,if=none,id=d0",
                " -device virtio-blk-pci,drive=d0,disable-modern=on,queue-size=16"
            ),
            KernelTest::Block,
            BlockInterrupts { msix: false },
            NATIVE_BLOCK,
        ),
        on(
            Machine::Microvm,
            row(
                "matrix-virtio-mmio-blk",
                "virtio-blk-device (virtio-mmio 2) on microvm, from the DSDT",
                concat!(
                    "-global virtio-mmio.force-legacy=false",
                    " -drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-device,drive=d0"
                ),
                KernelTest::Block,
                BlockInterrupts { msix: false },
                NATIVE_BLOCK,
            ),
        ),
        on(
            Machine::Microvm,
            row(
                "matrix-virtio-mmio-legacy-blk",
                "virtio-blk-device (virtio-mmio 1, legacy) on microvm, from the DSDT",
                concat!(
                    "-drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-device,drive=d0"
                ),
                KernelTest::Block,
                BlockInterrupts { msix: false },
                NATIVE_BLOCK,
            ),
        ),
        on(
            Machine::MicrovmWithoutAcpi,
            row(
                "matrix-virtio-mmio-blk-command-line",
                "virtio-blk-device (virtio-mmio 2) on microvm without ACPI, from the command line",
                concat!(
                    "-global virtio-mmio.force-legacy=false",
                    " -drive file={disk},format=raw,if=none,id=d0",
                    " -device virtio-blk-device,drive=d0"
                ),
                KernelTest::Block,
                BlockInterrupts { msix: false },
                NATIVE_BLOCK,
            ),
        ),
        on(
            Machine::Microvm,
            row(
                "matrix-virtio-mmio-rng",
                "virtio-rng-device (virtio-mmio 2) on microvm, seeding the kernel generator",
                "-global virtio-mmio.force-legacy=false -device virtio-rng-device",
                KernelTest::Random,
                Kernel,
                NATIVE_ENTROPY,
            ),
        ),
        on(
            Machine::Microvm,
            row(
                "matrix-virtio-mmio-net-udp-echo",
                "virtio-net-device (virtio-mmio 2) on microvm",
                concat!(
                    "-global virtio-mmio.force-legacy=false",
                    " -netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                    " -device virtio-net-device,netdev=n0"
                ),
                KernelTest::UdpEcho,
                UdpEcho { datagrams: 10_000 },
                NATIVE_DATAGRAMS,
            ),
        ),
        on(
            Machine::MicrovmWithoutAcpi,
            row(
                "matrix-virtio-mmio-legacy-net-udp-echo-command-line",
                "virtio-net-device (virtio-mmio 1, legacy) on microvm without ACPI",
                concat!(
                    " -netdev user,id=n0,hostfwd=udp:127.0.0.1:{port}-:7",
                    " -device virtio-net-device,netdev=n0"
                ),
                KernelTest::UdpEcho,
                UdpEcho { datagrams: 10_000 },
                NATIVE_DATAGRAMS,
            ),
        ),
    ]
}

/// `row` on `machine` instead of the PC: Q35 for PCI Express; QEMU's `microvm`,
/// whose virtio devices are virtio-mmio declared in the DSDT (GSI 24 on, on the
/// second I/O APIC; QEMU 7's are legacy version 1 unless `force-legacy=false`); or
/// `microvm` without ACPI, whose virtio-mmio devices come as `virtio_mmio.device=`
/// words on the command line (GSI 5 on), as on Firecracker.
const fn on(machine: Machine, row: MatrixRow) -> MatrixRow {
    MatrixRow { machine, ..row }
}

/// Rows whose name or device model contains `filter`, or with a guest on the
/// backend it names.
pub fn select(filter: Option<&str>) -> Vec<MatrixRow> {
    rows()
        .into_iter()
        .filter(|row| {
            filter.is_none_or(|filter| {
                row.name.contains(filter)
                    || row.device_model.contains(filter)
                    || row
                        .guests()
                        .iter()
                        .any(|guest| guest.backend.name() == filter)
            })
        })
        .collect()
}

/// Values for a row's placeholders.
#[derive(Clone, Debug, Default)]
struct Fill {
    disk: String,
    rules: String,
    port: u16,
    peer: String,
    mac: String,
    tap: String,
}

fn expand(options: &str, fill: &Fill) -> Vec<String> {
    options
        .split_whitespace()
        .map(|word| {
            word.replace("{disk}", &fill.disk)
                .replace("{rules}", &fill.rules)
                .replace("{port}", &fill.port.to_string())
                .replace("{peer}", &fill.peer)
                .replace("{mac}", &fill.mac)
                .replace("{tap_mac}", &tap_mac_text())
                .replace("{tap}", &fill.tap)
        })
        .collect()
}

/// The command line words that ask the kernel for `backend` on every class of
/// `serves`.
pub fn backend_words(backend: Backend, serves: &[(DeviceClass, &str)]) -> String {
    serves
        .iter()
        .map(|(class, _)| format!("backend.{}={}", class.name(), backend.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the kernel's device lines say that `backend` serves every class of
/// `serves` with the driver named there: exactly one line per class, and that line
/// names this backend and this driver.
pub fn devices_served(
    transcript: &Transcript,
    backend: Backend,
    serves: &[(DeviceClass, &str)],
) -> Result<(), String> {
    if serves.is_empty() {
        return Err("the row names no device class to check".into());
    }
    for &(class, driver) in serves {
        let lines: Vec<(Backend, &str)> = transcript
            .reports()
            .filter_map(|report| match report {
                Ok(Report::Device {
                    class: served,
                    backend,
                    driver,
                }) if served == class => Some((backend, driver)),
                _ => None,
            })
            .collect();
        let expected = format!("{} {driver}", backend.name());
        match lines.as_slice() {
            [] => {
                return Err(format!(
                    "no device line for the {} class (the row needs {expected})",
                    class.name()
                ));
            }
            [(found, found_driver)] if *found == backend && *found_driver == driver => {}
            [(found, found_driver)] => {
                return Err(format!(
                    "the {} class is served by {} {found_driver}, but the row needs {expected}",
                    class.name(),
                    found.name()
                ));
            }
            _ => {
                return Err(format!(
                    "{} device lines for the {} class; a class has one",
                    lines.len(),
                    class.name()
                ));
            }
        }
    }
    Ok(())
}

/// Why rows of the rump backend cannot run with a kernel that links no rump kernel,
/// given the value of `RUMPKERNEL_DIR`.
pub fn rump_skip_reason(rumpkernel_dir: Option<&std::ffi::OsStr>) -> String {
    match rumpkernel_dir {
        None => "needs a rump kernel: RUMPKERNEL_DIR is not set, and this kernel links none".into(),
        Some(directory) => format!(
            "needs a rump kernel: RUMPKERNEL_DIR={} is set, but this kernel links no rump \
             kernel yet (it has no rump-backed driver)",
            directory.to_string_lossy()
        ),
    }
}

impl Guest {
    /// The kernel command line: the test, then the guest's backend for every class
    /// it exercises.
    pub fn command_line(&self, test: KernelTest) -> String {
        format!(
            "test={} {}",
            test.name(),
            backend_words(self.backend, self.serves)
        )
    }
}

impl MatrixRow {
    /// The row's own guest: the only one, or the first of two.
    pub fn first_guest(&self) -> Guest {
        Guest {
            qemu_options: self.qemu_options,
            backend: self.backend,
            serves: self.serves,
        }
    }

    /// Every guest a run of the row boots, in the order of its transcripts.
    pub fn guests(&self) -> Vec<Guest> {
        match self.scenario {
            Scenario::Peers { second } => vec![self.first_guest(), second],
            _ => vec![self.first_guest()],
        }
    }

    /// The backend of each guest, in order (`rump, native`).
    pub fn backend_names(&self) -> String {
        self.guests()
            .iter()
            .map(|guest| guest.backend.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first guest's kernel command line.
    pub fn command_line(&self) -> String {
        self.guest_command_line(&self.first_guest())
    }

    /// A guest's kernel command line, with the words the row's scenario adds.
    fn guest_command_line(&self, guest: &Guest) -> String {
        let line = guest.command_line(self.test);
        match self.scenario {
            Scenario::DmaRefused => format!("{line} rump.dma=refuse"),
            _ => line,
        }
    }

    /// Why this row cannot run with the kernel of `inputs`, if it cannot: any of
    /// its guests on the rump backend needs a kernel that links one.
    pub fn skip_reason(&self, inputs: &Inputs) -> Option<String> {
        self.guests()
            .iter()
            .any(|guest| guest.backend == Backend::Rump)
            .then(|| inputs.rump_unavailable.clone())
            .flatten()
    }

    /// The verdict once the kernel's device lines are checked: a run judged passed
    /// passes only if each guest's transcript shows that guest's backend and
    /// drivers serving.
    pub fn judged(&self, verdict: Verdict, transcripts: &[Transcript]) -> Verdict {
        if verdict != Verdict::Passed {
            return verdict;
        }
        if transcripts.is_empty() {
            return Verdict::Failed("no run to check the device lines of".into());
        }
        let guests = self.guests();
        if transcripts.len() != guests.len() {
            return Verdict::Failed(format!(
                "{} runs for the row's {} guests",
                transcripts.len(),
                guests.len()
            ));
        }
        for (index, (transcript, guest)) in transcripts.iter().zip(&guests).enumerate() {
            let checked = match self.scenario {
                // The drivers were made to fail: their classes must stay unserved.
                Scenario::DmaRefused => dma_refusal_reported(transcript, guest.serves),
                _ => devices_served(transcript, guest.backend, guest.serves),
            };
            if let Err(reason) = checked {
                return Verdict::Failed(if guests.len() == 1 {
                    reason
                } else {
                    format!("guest {}: {reason}", index + 1)
                });
            }
        }
        Verdict::Passed
    }

    fn config(&self, guest: &Guest, inputs: &Inputs, fill: &Fill) -> QemuConfig {
        let mut config = QemuConfig::pvh(
            &inputs.kernel,
            &self.guest_command_line(guest),
            self.machine,
            Accelerator::Tcg,
        );
        config.extra = expand(guest.qemu_options, fill);
        config
    }

    /// The QEMU command of each guest a run of this row boots (placeholders shown
    /// as names).
    pub fn display(&self, inputs: &Inputs) -> Vec<String> {
        self.guests()
            .iter()
            .enumerate()
            .map(|(index, guest)| {
                let fill = Fill {
                    disk: "DISK".into(),
                    rules: "RULES".into(),
                    port: 0,
                    peer: if index == 0 {
                        "listen=127.0.0.1:PORT".into()
                    } else {
                        "connect=127.0.0.1:PORT".into()
                    },
                    mac: format!("52:54:00:e7:00:0{}", index + 1),
                    tap: "ethos-tapN".into(),
                };
                self.config(guest, inputs, &fill).display()
            })
            .collect()
    }

    /// Runs the row and judges it.
    pub fn run(&self, inputs: &Inputs) -> Outcome {
        let started = Instant::now();
        if let Some(reason) = self.skip_reason(inputs) {
            return Outcome {
                verdict: Verdict::Skipped(reason),
                elapsed: started.elapsed(),
                log: None,
            };
        }
        let scratch = inputs.log_directory.join("matrix").join(self.name);
        let (verdict, transcripts) = match fs::create_dir_all(&scratch) {
            Ok(()) => self.run_in(inputs, &scratch),
            Err(error) => (
                Verdict::Failed(format!("{}: {error}", scratch.display())),
                Vec::new(),
            ),
        };
        let verdict = self.judged(verdict, &transcripts);
        // Every guest's log is kept (`NAME-0`, `NAME-1`, …); the first is named.
        let log = match verdict {
            Verdict::Failed(_) => transcripts
                .iter()
                .enumerate()
                .filter_map(|(index, transcript)| {
                    transcript
                        .keep(&inputs.log_directory, &format!("{}-{index}", self.name))
                        .ok()
                })
                .collect::<Vec<_>>()
                .into_iter()
                .next(),
            _ => None,
        };
        Outcome {
            verdict,
            elapsed: started.elapsed(),
            log,
        }
    }

    fn run_in(&self, inputs: &Inputs, scratch: &Path) -> (Verdict, Vec<Transcript>) {
        let pass = Expectation::Pass { test: self.test };
        match self.scenario {
            Scenario::Kernel => {
                let transcript = harness::run(
                    &self.config(&self.first_guest(), inputs, &Fill::default()),
                    TCG_TIMEOUT,
                );
                (harness::judge(&transcript, &pass), vec![transcript])
            }
            Scenario::DmaRefused => {
                let transcript = harness::run(
                    &self.config(&self.first_guest(), inputs, &Fill::default()),
                    TCG_TIMEOUT,
                );
                (harness::judge(&transcript, &pass), vec![transcript])
            }
            Scenario::NoDevices | Scenario::Dhcp => {
                let transcript = harness::run(
                    &self.config(&self.first_guest(), inputs, &Fill::default()),
                    TCG_TIMEOUT,
                );
                let verdict = match harness::judge(&transcript, &pass) {
                    Verdict::Passed if self.scenario == Scenario::Dhcp => {
                        lease_reported(&transcript)
                            .map_or_else(Verdict::Failed, |()| Verdict::Passed)
                    }
                    Verdict::Passed => no_devices_reported(&transcript)
                        .map_or_else(Verdict::Failed, |()| Verdict::Passed),
                    other => other,
                };
                (verdict, vec![transcript])
            }
            Scenario::BlockPattern
            | Scenario::BlockFaults
            | Scenario::BlockInterrupts { .. }
            | Scenario::ConfigAccess { .. } => self.run_block(inputs, scratch, &pass),
            Scenario::UdpEcho { datagrams } => self.run_echo(inputs, datagrams, &pass),
            Scenario::Peers { .. } => self.run_peers(inputs, &pass),
            Scenario::HostPing => match tap_unavailable() {
                Some(reason) => (Verdict::Skipped(reason), Vec::new()),
                None => self.run_host_ping(inputs, &pass),
            },
        }
    }

    fn run_block(
        &self,
        inputs: &Inputs,
        scratch: &Path,
        pass: &Expectation,
    ) -> (Verdict, Vec<Transcript>) {
        let disk = scratch.join("disk.img");
        let rules = scratch.join("blkdebug.conf");
        let prepared = fs::File::create(&disk)
            .and_then(|file| file.set_len(DISK_BYTES))
            .and_then(|()| fs::write(&rules, blkdebug_rules()));
        if let Err(error) = prepared {
            return (Verdict::Failed(format!("disk image: {error}")), Vec::new());
        }
        let fill = Fill {
            disk: disk.display().to_string(),
            rules: rules.display().to_string(),
            ..Fill::default()
        };
        let transcript = harness::run(
            &self.config(&self.first_guest(), inputs, &fill),
            TCG_TIMEOUT,
        );
        let verdict = match (harness::judge(&transcript, pass), self.scenario) {
            (Verdict::Passed, Scenario::BlockPattern) => {
                image_holds_pattern(&disk).map_or_else(Verdict::Failed, |()| Verdict::Passed)
            }
            (Verdict::Passed, Scenario::BlockInterrupts { msix }) => image_holds_pattern(&disk)
                .and_then(|()| interrupts_came_by(&transcript, msix))
                .map_or_else(Verdict::Failed, |()| Verdict::Passed),
            (Verdict::Passed, Scenario::ConfigAccess { ecam }) => {
                config_access_reported(&transcript, ecam)
                    .map_or_else(Verdict::Failed, |()| Verdict::Passed)
            }
            (verdict, _) => verdict,
        };
        (verdict, vec![transcript])
    }

    fn run_echo(
        &self,
        inputs: &Inputs,
        datagrams: u32,
        pass: &Expectation,
    ) -> (Verdict, Vec<Transcript>) {
        let Some(port) = free_udp_port() else {
            return (Verdict::Failed("no free UDP port".into()), Vec::new());
        };
        let fill = Fill {
            port,
            ..Fill::default()
        };
        let config = self.config(&self.first_guest(), inputs, &fill);
        let guest = std::thread::spawn(move || harness::run(&config, TCG_TIMEOUT));
        let client = udp_echo_client(port, datagrams, Duration::from_secs(60));
        let transcript = guest.join().unwrap_or_else(|_| lost_run());
        let verdict = match (client, harness::judge(&transcript, pass)) {
            (Err(reason), _) => Verdict::Failed(format!("host echo client: {reason}")),
            (Ok(summary), Verdict::Passed) => echo_counts_agree(&transcript, &summary)
                .map_or_else(Verdict::Failed, |()| Verdict::Passed),
            (Ok(_), other) => other,
        };
        (verdict, vec![transcript])
    }

    fn run_peers(&self, inputs: &Inputs, pass: &Expectation) -> (Verdict, Vec<Transcript>) {
        let Some(port) = free_tcp_port() else {
            return (Verdict::Failed("no free TCP port".into()), Vec::new());
        };
        let Scenario::Peers { second } = self.scenario else {
            return (Verdict::Failed("not a two-guest row".into()), Vec::new());
        };
        let one = Fill {
            peer: format!("listen=127.0.0.1:{port}"),
            mac: "52:54:00:e7:00:01".into(),
            ..Fill::default()
        };
        let two = Fill {
            peer: format!("connect=127.0.0.1:{port}"),
            mac: "52:54:00:e7:00:02".into(),
            ..Fill::default()
        };
        let first = self.config(&self.first_guest(), inputs, &one);
        let second = self.config(&second, inputs, &two);
        let listener = std::thread::spawn(move || harness::run(&first, TCG_TIMEOUT));
        // The listening QEMU must be up before the other connects.
        std::thread::sleep(Duration::from_millis(1500));
        let connector = harness::run(&second, TCG_TIMEOUT);
        let listener = listener.join().unwrap_or_else(|_| lost_run());
        let verdict = match (
            harness::judge(&listener, pass),
            harness::judge(&connector, pass),
        ) {
            (Verdict::Passed, Verdict::Passed) => Verdict::Passed,
            (Verdict::Failed(reason), _) => Verdict::Failed(format!("guest 1: {reason}")),
            (_, Verdict::Failed(reason)) => Verdict::Failed(format!("guest 2: {reason}")),
            (other, _) => other,
        };
        (verdict, vec![listener, connector])
    }
}

impl MatrixRow {
    /// Makes a tap device, boots the guest on it, waits for it to serve, pings it
    /// with the system `ping`, stops it, and deletes the tap device in every case.
    fn run_host_ping(&self, inputs: &Inputs, pass: &Expectation) -> (Verdict, Vec<Transcript>) {
        let tap = match TapDevice::create() {
            Ok(tap) => tap,
            Err(reason) => return (Verdict::Failed(format!("tap device: {reason}")), Vec::new()),
        };
        let fill = Fill {
            tap: tap.name().to_string(),
            ..Fill::default()
        };
        let config = self.config(&self.first_guest(), inputs, &fill);
        let (serving_sender, serving) = mpsc::channel::<()>();
        let guest = std::thread::spawn(move || {
            harness::run_observed(&config, TCG_TIMEOUT, |line| {
                if matches!(
                    ethos_abi::Report::parse(line),
                    Ok(Some(Report::Metric { name, .. })) if name == NET_SERVING_METRIC
                ) {
                    let _ = serving_sender.send(());
                }
            })
        });
        let [a, b, c, d] = tap_guest_address(TAP_GUEST_NUMBER);
        let target = Ipv4Addr::new(a, b, c, d);
        let pinged = match serving.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => self
                .address_answers(&tap, target)
                .and_then(|()| ping_through(&tap, target, HOST_PING_COUNT)),
            Err(_) => Err("the guest never reported that it serves".to_string()),
        };
        if let Ok(summary) = &pinged {
            println!("     {}", summary.line);
        }
        // Stop the guest whatever the ping did, so its own verdict comes promptly.
        let stopped = send_stop(target);
        let transcript = guest.join().unwrap_or_else(|_| lost_run());
        drop(tap);
        let verdict = match (pinged, stopped, harness::judge(&transcript, pass)) {
            (Err(reason), _, _) => Verdict::Failed(format!("host ping: {reason}")),
            (Ok(summary), _, _) if !every_echo_returned(&summary) => Verdict::Failed(format!(
                "host ping: not every echo came back: {}",
                summary.line
            )),
            (_, Err(reason), _) => Verdict::Failed(format!("host stop datagram: {reason}")),
            (Ok(summary), Ok(()), Verdict::Passed) => {
                answers_agree(&transcript, &summary, self.backend)
                    .map_or_else(Verdict::Failed, |()| Verdict::Passed)
            }
            (Ok(_), Ok(()), other) => other,
        };
        (verdict, vec![transcript])
    }
}

impl MatrixRow {
    /// A native guest answers as soon as it says it serves. NetBSD holds a new
    /// address back while it probes for duplicates (RFC 5227, some seconds); the
    /// kernel serves the rump datagram class only after that, but a rump guest is
    /// still pinged until it first answers, before the counted pings.
    fn address_answers(&self, tap: &TapDevice, target: Ipv4Addr) -> Result<(), String> {
        if self.backend == Backend::Native {
            return Ok(());
        }
        let waited = wait_until_answering(tap, target, Duration::from_secs(30))?;
        println!(
            "     {target} answers after {:.1} s of duplicate address probing",
            waited.as_secs_f64()
        );
        Ok(())
    }
}

/// Whether `ping` got back every echo it sent, and sent as many as asked.
fn every_echo_returned(summary: &PingSummary) -> bool {
    summary.transmitted == HOST_PING_COUNT && summary.received == summary.transmitted
}

/// The guest must have answered at least the echoes the host got back. A guest on
/// the rump backend cannot count them (NetBSD answers ICMP out of the kernel
/// test's sight): there the host's count is the whole check, every echo back
/// through a tap only that guest is on, and the guest passed only if the host's
/// stop datagram reached its datagram service.
fn answers_agree(
    transcript: &Transcript,
    summary: &PingSummary,
    backend: Backend,
) -> Result<(), String> {
    if backend == Backend::Rump {
        return Ok(());
    }
    let answered = transcript
        .metric("echo_replies_sent")
        .ok_or("no echo_replies_sent metric")?;
    if answered < u64::from(summary.received) {
        return Err(format!(
            "the guest answered {answered} echo requests, the host got {} replies",
            summary.received
        ));
    }
    Ok(())
}

/// The tap guest's MAC as QEMU writes it.
fn tap_mac_text() -> String {
    ethos_abi::drivers::Mac(tap_guest_mac(TAP_GUEST_NUMBER)).to_string()
}

/// `blkdebug` rules failing one write and one read with EIO.
fn blkdebug_rules() -> String {
    format!(
        "[inject-error]\nevent = \"write_aio\"\nerrno = \"5\"\nsector = \"{FAULT_WRITE_SECTOR}\"\n\n\
         [inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\nsector = \"{FAULT_READ_SECTOR}\"\n"
    )
}

/// Checks, on the host, that every sector of the image holds the pattern.
fn image_holds_pattern(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    if bytes.len() as u64 != DISK_BYTES {
        return Err(format!(
            "the image has {} bytes, not {DISK_BYTES}",
            bytes.len()
        ));
    }
    let mut expected = [0u8; PATTERN_SECTOR];
    for (sector, actual) in bytes.chunks(PATTERN_SECTOR).enumerate() {
        fill_sector_pattern(BLOCK_PATTERN_SEED, sector as u64, &mut expected);
        if actual != expected {
            return Err(format!(
                "after the guest exited, sector {sector} of the image does not hold the pattern"
            ));
        }
    }
    Ok(())
}

fn echo_counts_agree(transcript: &Transcript, summary: &EchoSummary) -> Result<(), String> {
    let echoed = transcript
        .metric("udp_echoed")
        .ok_or("no udp_echoed metric")?;
    // Retransmissions may make the guest echo more than the host counted, never less.
    if echoed < u64::from(summary.datagrams) {
        return Err(format!(
            "the guest echoed {echoed} datagrams, the host got {} back",
            summary.datagrams
        ));
    }
    Ok(())
}

/// The kernel refused the rump drivers' DMA, said so, served none of `serves`, and
/// the run went on (the test's own pass is judged apart).
fn dma_refusal_reported(
    transcript: &Transcript,
    serves: &[(DeviceClass, &str)],
) -> Result<(), String> {
    let refused = transcript
        .lines
        .iter()
        .any(|(_, line)| line.contains("DMA allocation refused (rump.dma=refuse)"));
    if !refused {
        return Err("no DMA refusal reported".into());
    }
    for (class, _) in serves {
        let served = transcript.reports().any(
            |report| matches!(report, Ok(Report::Device { class: served, .. }) if served == *class),
        );
        if served {
            return Err(format!(
                "the {} class was served although its driver's DMA was refused",
                class.name()
            ));
        }
    }
    Ok(())
}

fn no_devices_reported(transcript: &Transcript) -> Result<(), String> {
    for class in ["network", "datagram", "block", "entropy"] {
        let device_line = transcript.reports().any(|report| {
            matches!(report, Ok(Report::Device { class: served, .. }) if served.name() == class)
        });
        if device_line {
            return Err(format!(
                "a device line for the {class} class on a machine with no device"
            ));
        }
        let count = transcript
            .metric(&format!("devices_{class}"))
            .ok_or_else(|| format!("no devices_{class} metric"))?;
        if count != 0 {
            return Err(format!("{count} {class} devices on a machine with none"));
        }
        // One line names every missing class: `classes=network,datagram,…`.
        let named = transcript.lines.iter().any(|(_, line)| {
            line.contains("no device of these classes")
                && line
                    .split_once("classes=")
                    .is_some_and(|(_, classes)| classes.split(',').any(|name| name.trim() == class))
        });
        if !named {
            return Err(format!(
                "the kernel did not say the {class} class is missing"
            ));
        }
    }
    Ok(())
}

/// QEMU user networking leases `10.0.2.15/24` to its first guest.
fn lease_reported(transcript: &Transcript) -> Result<(), String> {
    let address = transcript
        .metric("dhcp_address")
        .ok_or("no dhcp_address metric")?;
    let prefix = transcript
        .metric("dhcp_prefix_length")
        .ok_or("no dhcp_prefix_length metric")?;
    let leased = Ipv4Addr::from(u32::try_from(address).map_err(|_| "dhcp_address is not IPv4")?);
    if leased != Ipv4Addr::new(10, 0, 2, 15) || prefix != 24 {
        return Err(format!(
            "leased {leased}/{prefix}, not user networking's 10.0.2.15/24"
        ));
    }
    Ok(())
}

fn interrupts_came_by(transcript: &Transcript, msix: bool) -> Result<(), String> {
    let messages = transcript
        .metric("device_interrupts_msix")
        .ok_or("no device_interrupts_msix metric")?;
    let intx = transcript
        .metric("device_interrupts_intx")
        .ok_or("no device_interrupts_intx metric")?;
    let (wanted, unwanted, how) = if msix {
        (messages, intx, "MSI-X")
    } else {
        (intx, messages, "INTx")
    };
    if wanted == 0 {
        return Err(format!(
            "the disk raised no interrupt by {how} (MSI-X {messages}, INTx {intx})"
        ));
    }
    if unwanted != 0 {
        return Err(format!(
            "the disk should interrupt by {how} only (MSI-X {messages}, INTx {intx})"
        ));
    }
    Ok(())
}

fn config_access_reported(transcript: &Transcript, ecam: bool) -> Result<(), String> {
    let reported = transcript
        .metric("pci_config_ecam")
        .ok_or("no pci_config_ecam metric")?;
    let wanted = u64::from(ecam);
    if reported != wanted {
        return Err(format!(
            "configuration space was reached by {}, not {}",
            if reported == 1 { "ECAM" } else { "port I/O" },
            if ecam { "ECAM" } else { "port I/O" }
        ));
    }
    match transcript.metric("devices_block") {
        Some(1) => Ok(()),
        other => Err(format!(
            "the virtio-blk device was not bound (devices_block {other:?})"
        )),
    }
}

/// The transcript of a run whose thread died before it could return one.
fn lost_run() -> Transcript {
    Transcript {
        command: String::new(),
        lines: Vec::new(),
        stderr: String::new(),
        end: RunEnd::SpawnFailed("the thread running QEMU panicked".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_class_has_both_generations() {
        let rows = rows();
        let mut names: Vec<_> = rows.iter().map(|row| row.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rows.len());
        for model in ["virtio-net-pci", "virtio-blk-pci", "virtio-rng-pci"] {
            for generation in ["disable-modern=on", "disable-legacy=on"] {
                assert!(
                    rows.iter().any(|row| row.qemu_options.contains(model)
                        && row.qemu_options.contains(generation)),
                    "{model} lacks a {generation} row"
                );
            }
        }
        assert!(rows.iter().any(|row| row.scenario == Scenario::NoDevices));
    }

    #[test]
    fn placeholders_are_filled() {
        let fill = Fill {
            disk: "/tmp/d.img".into(),
            port: 5555,
            ..Fill::default()
        };
        let options = "-drive file={disk},format=raw -netdev user,hostfwd=udp:127.0.0.1:{port}-:7 \
                       -netdev tap,ifname={tap} -device virtio-net-pci,mac={tap_mac}";
        let fill = Fill {
            tap: "ethos-tap7".into(),
            ..fill
        };
        let words = expand(options, &fill);
        assert!(words.iter().any(|word| word.ends_with("ifname=ethos-tap7")));
        assert!(
            words
                .iter()
                .any(|word| word.ends_with("mac=52:54:00:e8:00:02"))
        );
        assert!(words.iter().any(|word| word.contains("file=/tmp/d.img")));
        assert!(words.iter().any(|word| word.contains("127.0.0.1:5555-:7")));
        assert!(words.iter().all(|word| !word.contains('{')));
    }

    #[test]
    fn a_host_ping_needs_every_echo_and_the_guest_to_agree() {
        let summary = |transmitted, received| PingSummary {
            transmitted,
            received,
            line: String::new(),
        };
        assert!(every_echo_returned(&summary(
            HOST_PING_COUNT,
            HOST_PING_COUNT
        )));
        assert!(!every_echo_returned(&summary(
            HOST_PING_COUNT,
            HOST_PING_COUNT - 1
        )));
        assert!(!every_echo_returned(&summary(0, 0)));
        let transcript = |answered: u64| Transcript {
            command: String::new(),
            lines: vec![(
                Duration::ZERO,
                format!("@ethos metric name=echo_replies_sent value={answered} unit=count"),
            )],
            stderr: String::new(),
            end: RunEnd::Kernel(ethos_abi::ExitCode::Success),
        };
        assert_eq!(
            answers_agree(&transcript(5), &summary(5, 5), Backend::Native),
            Ok(())
        );
        assert!(answers_agree(&transcript(4), &summary(5, 5), Backend::Native).is_err());
        // A rump guest's answers are NetBSD's, which it cannot count: the host's
        // count alone judges it.
        let silent = transcript_without_lines();
        assert!(answers_agree(&silent, &summary(5, 5), Backend::Native).is_err());
        assert_eq!(
            answers_agree(&silent, &summary(5, 5), Backend::Rump),
            Ok(())
        );
        let host_ping = select(Some("host-ping"));
        assert_eq!(
            host_ping
                .iter()
                .filter(|row| row.backend == Backend::Native)
                .count(),
            2,
            "a legacy and a modern native host-ping row"
        );
        assert_eq!(
            host_ping
                .iter()
                .filter(|row| row.backend == Backend::Rump)
                .map(|row| row.serves)
                .collect::<Vec<_>>(),
            vec![RUMP_DATAGRAMS, RUMP_WM_DATAGRAMS],
            "a rump host-ping row on vioif0 and one on wm0"
        );
    }

    fn transcript_without_lines() -> Transcript {
        transcript(&[], RunEnd::Kernel(ethos_abi::ExitCode::Success))
    }

    #[test]
    fn the_filter_matches_names_models_and_backends() {
        assert!(
            select(Some("virtio-blk"))
                .iter()
                .all(|row| row.device_model.contains("virtio-blk"))
        );
        let on = |backend: Backend| {
            move |row: &MatrixRow| row.guests().iter().any(|guest| guest.backend == backend)
        };
        let native = select(Some("native"));
        assert!(native.iter().all(on(Backend::Native)));
        let rump = select(Some("rump"));
        assert!(!rump.is_empty(), "no row of the rump backend");
        assert!(rump.iter().all(on(Backend::Rump)));
        // Only the rows with a guest on each backend are in both.
        let both = rows()
            .iter()
            .filter(|row| on(Backend::Native)(row) && on(Backend::Rump)(row))
            .count();
        assert_eq!(both, 2, "the two rump-native peer rows");
        assert_eq!(native.len() + rump.len(), rows().len() + both);
    }

    #[test]
    fn a_dma_refused_row_needs_the_refusal_and_no_device_of_its_classes() {
        let refusal = "WARN rump: DMA allocation refused (rump.dma=refuse) size=20480";
        let end = || RunEnd::Kernel(ethos_abi::ExitCode::Success);
        let clean = transcript(&[refusal, "@ethos test-pass name=devices"], end());
        assert_eq!(dma_refusal_reported(&clean, RUMP_DATAGRAMS), Ok(()));
        let silent = transcript(&["@ethos test-pass name=devices"], end());
        assert!(dma_refusal_reported(&silent, RUMP_DATAGRAMS).is_err());
        let served = transcript(
            &[
                refusal,
                "@ethos device class=network backend=rump driver=vioif0",
            ],
            end(),
        );
        assert!(dma_refusal_reported(&served, RUMP_DATAGRAMS).is_err());
        assert!(
            row_named("matrix-virtio-net-legacy-dma-refused-rump")
                .command_line()
                .ends_with("backend.network=rump backend.datagram=rump rump.dma=refuse")
        );
    }

    fn transcript(lines: &[&str], end: RunEnd) -> Transcript {
        crate::harness::transcript_of(lines, end)
    }

    const READY: &str = "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh";

    /// A UDP echo run that passed, on the native stack over virtio-net.
    fn native_echo_run() -> Transcript {
        transcript(
            &[
                "@ethos device class=network backend=native driver=virtio-net",
                "@ethos device class=datagram backend=native driver=smoltcp",
                "@ethos device class=console backend=native driver=uart-16550",
                READY,
                "@ethos test-begin name=udp_echo",
                "@ethos metric name=udp_echoed value=10000 unit=count",
                "@ethos test-pass name=udp_echo",
            ],
            RunEnd::Kernel(ethos_abi::ExitCode::Success),
        )
    }

    fn row_named(name: &str) -> MatrixRow {
        rows()
            .into_iter()
            .find(|row| row.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    }

    fn inputs(rump_unavailable: Option<String>) -> Inputs {
        Inputs {
            kernel: "/kernel".into(),
            production_kernel: "/production-kernel".into(),
            boot_iso: "/iso".into(),
            log_directory: std::env::temp_dir(),
            initial_image_counts: Vec::new(),
            rump_unavailable,
        }
    }

    #[test]
    fn every_row_asks_for_its_backend_and_names_that_backends_drivers() {
        let native_drivers = [VIRTIO_NET, VIRTIO_BLK, VIRTIO_RNG, SMOLTCP, UART_16550];
        let rump_drivers = [RUMP_VIOIF, RUMP_WM, RUMP_NETINET, RUMP_LD];
        for row in rows() {
            for guest in row.guests() {
                assert!(!guest.serves.is_empty(), "{} names no class", row.name);
                let drivers: &[&str] = match guest.backend {
                    Backend::Native => &native_drivers,
                    Backend::Rump => &rump_drivers,
                };
                let command_line = guest.command_line(row.test);
                for (class, driver) in guest.serves {
                    assert!(drivers.contains(driver), "{}: {driver}", row.name);
                    let word = format!("backend.{}={}", class.name(), guest.backend.name());
                    assert!(
                        command_line.split(' ').any(|w| w == word),
                        "{}: {command_line}",
                        row.name,
                    );
                }
            }
        }
        assert_eq!(
            row_named("matrix-virtio-net-legacy-udp-echo-rump").command_line(),
            "test=udp_echo backend.network=rump backend.datagram=rump"
        );
    }

    #[test]
    fn a_rump_row_is_skipped_on_a_kernel_without_rump_and_says_why() {
        let rump = row_named("matrix-virtio-net-legacy-udp-echo-rump");
        let native = row_named("matrix-virtio-net-legacy-udp-echo");
        let without = inputs(Some(rump_skip_reason(None)));
        let reason = rump
            .skip_reason(&without)
            .expect("a rump row runs without rump");
        assert!(reason.contains("RUMPKERNEL_DIR"), "{reason}");
        assert_eq!(native.skip_reason(&without), None);
        // Run, the row is skipped before any QEMU starts, with that reason.
        let outcome = rump.run(&without);
        assert_eq!(outcome.verdict, Verdict::Skipped(reason));
        let set = rump_skip_reason(Some(std::ffi::OsStr::new("/opt/rump")));
        assert!(set.contains("RUMPKERNEL_DIR=/opt/rump"), "{set}");
        assert_eq!(rump.skip_reason(&inputs(None)), None);
    }

    #[test]
    fn a_rump_row_run_on_a_native_only_kernel_fails() {
        let rump = row_named("matrix-virtio-net-legacy-udp-echo-rump");
        let pass = Expectation::Pass { test: rump.test };
        // A kernel that ignored the backend words and echoed natively.
        let native = native_echo_run();
        assert_eq!(harness::judge(&native, &pass), Verdict::Passed);
        assert_eq!(
            rump.judged(Verdict::Passed, std::slice::from_ref(&native)),
            Verdict::Failed(
                "the network class is served by native virtio-net, but the row needs rump vioif0"
                    .into()
            )
        );
        // A kernel that honours them refuses the boot.
        let refused = transcript(
            &[
                "boot failed: devices: the network class is to be served by the rump backend",
                "@ethos test-fail name=boot reason=devices: the network class is to be served \
                 by the rump backend, but no rump kernel is linked into this kernel (a rump \
                 backend needs a kernel linked with the rump kernel build that RUMPKERNEL_DIR \
                 names, see rump-sys/README.md); choose `native` for network",
            ],
            RunEnd::Kernel(ethos_abi::ExitCode::Failure),
        );
        let verdict = rump.judged(harness::judge(&refused, &pass), &[refused]);
        assert!(
            matches!(&verdict, Verdict::Failed(reason) if reason.contains("RUMPKERNEL_DIR")),
            "{verdict:?}"
        );
        // The same native run passes the native row.
        let native_row = row_named("matrix-virtio-net-legacy-udp-echo");
        assert_eq!(
            native_row.judged(Verdict::Passed, &[native]),
            Verdict::Passed
        );
    }

    #[test]
    fn device_lines_must_name_the_rows_backend_and_driver_once() {
        let row = row_named("matrix-virtio-net-modern-udp-echo");
        let judged = |lines: &[&str]| {
            let run = transcript(lines, RunEnd::Kernel(ethos_abi::ExitCode::Success));
            row.judged(Verdict::Passed, &[run])
        };
        let network = "@ethos device class=network backend=native driver=virtio-net";
        let datagram = "@ethos device class=datagram backend=native driver=smoltcp";
        assert_eq!(judged(&[network, datagram]), Verdict::Passed);
        assert_eq!(
            judged(&[network]),
            Verdict::Failed(
                "no device line for the datagram class (the row needs native smoltcp)".into()
            )
        );
        assert_eq!(
            judged(&[
                "@ethos device class=network backend=native driver=e1000",
                datagram
            ]),
            Verdict::Failed(
                "the network class is served by native e1000, but the row needs native \
                 virtio-net"
                    .into()
            )
        );
        assert_eq!(
            judged(&[network, network, datagram]),
            Verdict::Failed("2 device lines for the network class; a class has one".into())
        );
        // A failed run stays failed, whatever its device lines.
        assert_eq!(
            row.judged(Verdict::Failed("echo lost".into()), &[native_echo_run()]),
            Verdict::Failed("echo lost".into())
        );
        assert!(matches!(
            row.judged(Verdict::Passed, &[]),
            Verdict::Failed(_)
        ));
        // Two guests: both must show the backend.
        let peers = row_named("matrix-virtio-net-socket-peers");
        let bare = transcript(&[READY], RunEnd::Kernel(ethos_abi::ExitCode::Success));
        assert!(matches!(
            peers.judged(Verdict::Passed, &[native_echo_run(), bare]),
            Verdict::Failed(_)
        ));
    }

    /// A peer run that passed, with these device lines.
    fn peer_run(devices: &[&str]) -> Transcript {
        let mut lines = devices.to_vec();
        lines.extend([
            READY,
            "@ethos test-begin name=net_peer",
            "@ethos metric name=peer_datagrams_received value=200 unit=count",
            "@ethos test-pass name=net_peer",
        ]);
        transcript(&lines, RunEnd::Kernel(ethos_abi::ExitCode::Success))
    }

    const RUMP_VIOIF_LINES: [&str; 2] = [
        "@ethos device class=network backend=rump driver=vioif0",
        "@ethos device class=datagram backend=rump driver=netinet",
    ];
    const NATIVE_LINES: [&str; 2] = [
        "@ethos device class=network backend=native driver=virtio-net",
        "@ethos device class=datagram backend=native driver=smoltcp",
    ];

    #[test]
    fn each_peer_is_judged_against_its_own_backend() {
        let row = row_named("matrix-virtio-net-socket-peers-rump-native");
        assert_eq!(row.backend_names(), "rump, native");
        assert_eq!(
            row.guests()
                .iter()
                .map(|guest| guest.command_line(row.test))
                .collect::<Vec<_>>(),
            [
                "test=net_peer backend.network=rump backend.datagram=rump",
                "test=net_peer backend.network=native backend.datagram=native",
            ]
        );
        let rump = peer_run(&RUMP_VIOIF_LINES);
        let native = peer_run(&NATIVE_LINES);
        assert_eq!(
            row.judged(Verdict::Passed, &[rump.clone(), native.clone()]),
            Verdict::Passed
        );
        // The rump guest fell back to the native stack: the row fails.
        assert_eq!(
            row.judged(Verdict::Passed, &[native.clone(), native.clone()]),
            Verdict::Failed(
                "guest 1: the network class is served by native virtio-net, but the row \
                 needs rump vioif0"
                    .into()
            )
        );
        // The native guest may not be served by rump either, nor the guests swapped.
        assert_eq!(
            row.judged(Verdict::Passed, &[rump.clone(), rump.clone()]),
            Verdict::Failed(
                "guest 2: the network class is served by rump vioif0, but the row needs \
                 native virtio-net"
                    .into()
            )
        );
        assert!(matches!(
            row.judged(Verdict::Passed, &[native.clone(), rump.clone()]),
            Verdict::Failed(reason) if reason.starts_with("guest 1: ")
        ));
        // One run for two guests is no pass.
        assert!(matches!(
            row.judged(Verdict::Passed, std::slice::from_ref(&rump)),
            Verdict::Failed(_)
        ));
        // The native row still wants both guests native.
        let both_native = row_named("matrix-virtio-net-socket-peers");
        assert_eq!(both_native.backend_names(), "native, native");
        assert_eq!(
            both_native.judged(Verdict::Passed, &[native.clone(), native.clone()]),
            Verdict::Passed
        );
        assert!(matches!(
            both_native.judged(Verdict::Passed, &[native, rump]),
            Verdict::Failed(reason) if reason.starts_with("guest 2: ")
        ));
        // The e1000 row wants wm0 for its rump guest.
        let e1000 = row_named("matrix-e1000-socket-peers-rump-native");
        let wm = peer_run(&[
            "@ethos device class=network backend=rump driver=wm0",
            "@ethos device class=datagram backend=rump driver=netinet",
        ]);
        assert_eq!(
            e1000.judged(Verdict::Passed, &[wm, peer_run(&NATIVE_LINES)]),
            Verdict::Passed
        );
        assert!(matches!(
            e1000.judged(Verdict::Passed, &[peer_run(&RUMP_VIOIF_LINES), peer_run(&NATIVE_LINES)]),
            Verdict::Failed(reason) if reason.contains("needs rump wm0")
        ));
    }

    #[test]
    fn a_row_with_any_rump_guest_is_skipped_without_rump() {
        let without = inputs(Some(rump_skip_reason(None)));
        for row in rows() {
            let rump = row
                .guests()
                .iter()
                .any(|guest| guest.backend == Backend::Rump);
            assert_eq!(row.skip_reason(&without).is_some(), rump, "{}", row.name);
            assert_eq!(row.skip_reason(&inputs(None)), None);
        }
        let mixed = row_named("matrix-virtio-net-socket-peers-rump-native");
        assert!(matches!(
            mixed.run(&without).verdict,
            Verdict::Skipped(reason) if reason.contains("RUMPKERNEL_DIR")
        ));
    }

    #[test]
    fn the_rump_rows_use_devices_netbsd_drives() {
        for row in select(Some("rump")) {
            for guest in row.guests() {
                if guest.backend != Backend::Rump {
                    continue;
                }
                // NetBSD's virtio is legacy only; its e1000 is `wm`.
                let options = guest.qemu_options;
                assert!(
                    options.contains("disable-modern=on") || options.contains("-device e1000"),
                    "{}: {options}",
                    row.name
                );
                if options.contains("-device e1000") {
                    assert_eq!(guest.serves[0], (DeviceClass::Network, RUMP_WM));
                }
            }
        }
        assert_eq!(
            row_named("matrix-virtio-blk-blkdebug-rump").command_line(),
            "test=block_faults backend.block=rump"
        );
        assert_eq!(
            row_named("matrix-virtio-blk-legacy-rump").serves,
            RUMP_BLOCK
        );
    }

    #[test]
    fn a_machine_without_devices_has_no_device_line_but_the_consoles() {
        let lines = |extra: &str| {
            let mut lines =
                vec!["@ethos device class=console backend=native driver=uart-16550".to_string()];
            lines.push(
                "WARN no device of these classes; going on without \
                 classes=network,datagram,block,entropy"
                    .to_string(),
            );
            for class in ["network", "datagram", "block", "entropy"] {
                lines.push(format!(
                    "@ethos metric name=devices_{class} value=0 unit=count"
                ));
            }
            lines.push(extra.to_string());
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            transcript(&lines, RunEnd::Kernel(ethos_abi::ExitCode::Success))
        };
        assert_eq!(no_devices_reported(&lines("")), Ok(()));
        assert_eq!(
            no_devices_reported(&lines(
                "@ethos device class=datagram backend=native driver=smoltcp"
            )),
            Err("a device line for the datagram class on a machine with no device".into())
        );
        let row = row_named("matrix-no-devices");
        assert_eq!(row.judged(Verdict::Passed, &[lines("")]), Verdict::Passed);
    }

    #[test]
    fn a_damaged_image_is_detected() {
        let directory = std::env::temp_dir().join(format!("ethos-matrix-{}", std::process::id()));
        fs::create_dir_all(&directory).unwrap();
        let path = directory.join("disk.img");
        let mut bytes = vec![0u8; DISK_BYTES as usize];
        for (sector, chunk) in bytes.chunks_mut(PATTERN_SECTOR).enumerate() {
            fill_sector_pattern(BLOCK_PATTERN_SEED, sector as u64, chunk);
        }
        fs::write(&path, &bytes).unwrap();
        assert_eq!(image_holds_pattern(&path), Ok(()));
        bytes[5000 * 512 + 1] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        assert!(
            image_holds_pattern(&path)
                .unwrap_err()
                .contains("sector 5000")
        );
        fs::remove_dir_all(&directory).unwrap();
    }
}
