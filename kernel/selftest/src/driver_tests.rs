//! Kernel tests of the device layer: the probe's inventory, the whole-disk block
//! check, fault injection and entropy. Each runs on whatever backend the probe bound,
//! so the same test judges native and rump drivers.
//!
//! A test that needs a device fails, naming the class, when none was found.

use alloc::vec;
use core::fmt;

use ethos_abi::Report;
use ethos_abi::drivers::BLOCK_PATTERN_SEED;
use ethos_devices::block_check::{self, BlockCheckError, CHUNK_BYTES};
use ethos_devices::datagram_check::DatagramCheckError;
use ethos_devices::{BlockError, DeviceClass, EntropyError};

use ethos_platform_x86_64::{arch, console, drivers, time};

/// Why a driver test failed.
#[derive(Debug)]
pub(crate) enum DriverFailure {
    NotProbed,
    Missing(DeviceClass),
    Block(BlockCheckError),
    FaultNotReported { operation: &'static str },
    WrongFault(BlockError),
    AfterFaults(BlockError),
    FailedWriteReadBack { block: u64 },
    Entropy(EntropyError),
    EntropyConstant,
    Network(&'static str),
    Datagram(DatagramCheckError),
    Timeout { what: &'static str, seconds: u64 },
    TooFewEchoesAnswered { answered: u64, wanted: u64 },
}

impl fmt::Display for DriverFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverFailure::NotProbed => write!(f, "devices were not probed"),
            DriverFailure::Missing(class) => {
                write!(f, "no {} device was found", class.name())
            }
            DriverFailure::Block(error) => write!(f, "block check: {error}"),
            DriverFailure::FaultNotReported { operation } => write!(
                f,
                "no {operation} failed, though errors were injected: failures went unreported"
            ),
            DriverFailure::WrongFault(error) => {
                write!(
                    f,
                    "an injected error came back as `{error}`, not an I/O error"
                )
            }
            DriverFailure::AfterFaults(error) => {
                write!(
                    f,
                    "a clean request failed after the injected errors: {error}"
                )
            }
            DriverFailure::FailedWriteReadBack { block } => {
                write!(
                    f,
                    "the pattern is wrong at block {block}, whose write succeeded"
                )
            }
            DriverFailure::Entropy(error) => write!(f, "entropy: {error}"),
            DriverFailure::EntropyConstant => {
                write!(f, "4096 entropy bytes took fewer than 128 distinct values")
            }
            DriverFailure::Network(what) => write!(f, "network: {what}"),
            DriverFailure::Datagram(error) => write!(f, "datagram: {error}"),
            DriverFailure::Timeout { what, seconds } => {
                write!(f, "{what} did not happen within {seconds} s")
            }
            DriverFailure::TooFewEchoesAnswered { answered, wanted } => write!(
                f,
                "answered {answered} ICMP echo requests, fewer than the {wanted} expected"
            ),
        }
    }
}

pub(crate) fn metric(name: &'static str, value: u64, unit: &'static str) {
    console::report(Report::Metric { name, value, unit });
}

/// Milliseconds since boot by the TSC.
pub(crate) fn now_ms() -> u64 {
    time::since_boot_nanos().unwrap_or(0) / 1_000_000
}

pub(crate) fn devices() -> Result<(), DriverFailure> {
    let (functions, counts, ecam) = drivers::with_devices(|devices| {
        for function in &devices.functions {
            tracing::info!(%function, "PCI");
        }
        for bound in &devices.bound {
            tracing::info!(
                device = %bound.location,
                class = bound.class.name(),
                backend = bound.backend.name(),
                driver = bound.driver,
                transport = bound.transport,
                interrupt = bound.line.kind(),
                line = ?bound.line.line(),
                interrupts = bound.line.count(),
                "bound"
            );
        }
        for class in DeviceClass::ALL {
            match devices.serving(class) {
                Some(serving) => tracing::info!(
                    class = class.name(),
                    backend = serving.backend.name(),
                    driver = serving.driver,
                    "served"
                ),
                None => tracing::info!(class = class.name(), "missing"),
            }
        }
        let counts = DeviceClass::ALL.map(|class| devices.inventory.count(class) as u64);
        tracing::info!(access = devices.config_access, "PCI configuration space");
        let ecam = u64::from(devices.config_access == "ecam");
        (devices.functions.len() as u64, counts, ecam)
    })
    .ok_or(DriverFailure::NotProbed)?;
    metric("pci_functions", functions, "count");
    metric("pci_config_ecam", ecam, "bool");
    let count = |class: DeviceClass| counts[class.index()];
    metric("devices_network", count(DeviceClass::Network), "count");
    metric("devices_datagram", count(DeviceClass::Datagram), "count");
    metric("devices_block", count(DeviceClass::Block), "count");
    metric("devices_entropy", count(DeviceClass::Entropy), "count");
    metric("devices_console", count(DeviceClass::Console), "count");
    Ok(())
}

fn rate_kib_per_s(bytes: u64, start_ms: u64) -> u64 {
    bytes * 1000 / 1024 / now_ms().saturating_sub(start_ms).max(1)
}

pub(crate) fn block() -> Result<(), DriverFailure> {
    let mut disk = drivers::take_block().ok_or(DriverFailure::Missing(DeviceClass::Block))?;
    let interrupts_before = drivers::interrupts_total();
    let (intx_before, messages_before) = drivers::interrupt_totals();
    let start = now_ms();
    let written =
        block_check::write_pattern(&mut *disk, BLOCK_PATTERN_SEED).map_err(DriverFailure::Block)?;
    metric(
        "block_write_rate",
        rate_kib_per_s(written.bytes, start),
        "KiB/s",
    );
    let start = now_ms();
    let read = block_check::verify_pattern(&mut *disk, BLOCK_PATTERN_SEED)
        .map_err(DriverFailure::Block)?;
    metric(
        "block_read_rate",
        rate_kib_per_s(read.bytes, start),
        "KiB/s",
    );
    block_check::check_beyond_capacity(&mut *disk).map_err(DriverFailure::Block)?;
    metric("block_bytes", written.bytes, "bytes");
    metric(
        "device_interrupts",
        drivers::interrupts_total() - interrupts_before,
        "count",
    );
    // How the disk interrupted: the matrix checks MSI-X rows by these.
    let (intx, messages) = drivers::interrupt_totals();
    metric("device_interrupts_intx", intx - intx_before, "count");
    metric(
        "device_interrupts_msix",
        messages - messages_before,
        "count",
    );
    Ok(())
}

/// Writes the pattern chunk by chunk, going on past failures; reads it back the
/// same way. Injected errors must show up as I/O errors on both paths, every chunk
/// whose write and read both succeeded must hold the pattern, and the disk must
/// still work afterwards.
pub(crate) fn block_faults() -> Result<(), DriverFailure> {
    let mut disk = drivers::take_block().ok_or(DriverFailure::Missing(DeviceClass::Block))?;
    let block_size = disk.block_size();
    let capacity = disk.capacity_blocks();
    let chunk_blocks = (CHUNK_BYTES / block_size) as u64;
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut expected = vec![0u8; CHUNK_BYTES];
    let chunks = capacity.div_ceil(chunk_blocks) as usize;
    let mut write_failed = vec![false; chunks];
    let (mut write_errors, mut read_errors) = (0u64, 0u64);
    let fill = |first: u64, bytes: &mut [u8]| {
        for (index, sector) in bytes.chunks_mut(512).enumerate() {
            ethos_abi::drivers::fill_sector_pattern(
                BLOCK_PATTERN_SEED,
                first * (block_size / 512) as u64 + index as u64,
                sector,
            );
        }
    };
    for (chunk, failed) in write_failed.iter_mut().enumerate() {
        let first = chunk as u64 * chunk_blocks;
        let length = (chunk_blocks.min(capacity - first) as usize) * block_size;
        fill(first, &mut buffer[..length]);
        match disk.write_blocks(first, &buffer[..length]) {
            Ok(()) => {}
            Err(BlockError::Io { .. }) => {
                *failed = true;
                write_errors += 1;
            }
            Err(other) => return Err(DriverFailure::WrongFault(other)),
        }
    }
    if let Err(error) = disk.flush() {
        tracing::info!(%error, "flush failed after injected write errors");
    }
    for (chunk, failed) in write_failed.iter().enumerate() {
        let first = chunk as u64 * chunk_blocks;
        let length = (chunk_blocks.min(capacity - first) as usize) * block_size;
        buffer[..length].fill(0xa5);
        match disk.read_blocks(first, &mut buffer[..length]) {
            Ok(()) if *failed => {}
            Ok(()) => {
                fill(first, &mut expected[..length]);
                if let Some(offset) = buffer[..length]
                    .iter()
                    .zip(&expected[..length])
                    .position(|(got, want)| got != want)
                {
                    return Err(DriverFailure::FailedWriteReadBack {
                        block: first + (offset / block_size) as u64,
                    });
                }
            }
            Err(BlockError::Io { .. }) => read_errors += 1,
            Err(other) => return Err(DriverFailure::WrongFault(other)),
        }
    }
    metric("injected_write_errors", write_errors, "count");
    metric("injected_read_errors", read_errors, "count");
    if write_errors == 0 {
        return Err(DriverFailure::FaultNotReported { operation: "write" });
    }
    if read_errors == 0 {
        return Err(DriverFailure::FaultNotReported { operation: "read" });
    }
    // Still up: a request away from the injected sectors goes through.
    disk.read_blocks(0, &mut buffer[..block_size])
        .map_err(DriverFailure::AfterFaults)?;
    Ok(())
}

pub(crate) fn entropy() -> Result<(), DriverFailure> {
    let mut source = drivers::take_entropy().ok_or(DriverFailure::Missing(DeviceClass::Entropy))?;
    let mut bytes = [0u8; 4096];
    let start = arch::read_tsc();
    source
        .fill_all(&mut bytes)
        .map_err(DriverFailure::Entropy)?;
    let cycles = arch::read_tsc() - start;
    let mut seen = [false; 256];
    for byte in bytes {
        seen[byte as usize] = true;
    }
    let distinct = seen.iter().filter(|seen| **seen).count() as u64;
    metric("entropy_distinct_bytes", distinct, "count");
    metric("entropy_cycles", cycles, "cycles");
    if distinct < 128 {
        return Err(DriverFailure::EntropyConstant);
    }
    Ok(())
}
