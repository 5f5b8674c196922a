//! ACPI tables, as far as the device layer needs them: the RSDP, the root table
//! (RSDT or XSDT), the MCFG (where PCI Express configuration space is memory-mapped,
//! ECAM), the MADT (where the I/O APICs are) and, through the FADT, the DSDT's
//! virtio-mmio devices ([`crate::virtio_mmio`]).
//!
//! The tables are parsed by hand rather than with the `acpi` crate: the kernel reads
//! five fields from four tables, and this parser needs neither an allocator nor a
//! page-mapping handler, so it runs before memory is set up (while the boot map
//! still covers the tables) and is host-tested on byte fixtures through the small
//! [`PhysicalReader`] trait. (The crate's newest release is also a pre-release.)
//!
//! Everything read is firmware data and is checked before use (signatures,
//! checksums, lengths); a table that fails a check is reported as an error, never
//! trusted into a panic or an out-of-bounds read. Nothing here may write memory.

use core::fmt;

use crate::virtio_mmio::{self, MmioDevices};

/// Reads physical memory: the kernel reads the identity map, host tests a fixture.
pub trait PhysicalReader {
    /// Fills `into` from physical address `address`, or says the range is unreadable.
    fn read(&self, address: u64, into: &mut [u8]) -> Result<(), AcpiError>;

    /// The `length` bytes at `address` lent in place, where the reader can (the
    /// kernel's identity map): a table is then summed where it lies instead of
    /// copied in pieces first. `None` where it cannot; `read` is then used, and it
    /// still says why a range is unreadable.
    fn in_place(&self, _address: u64, _length: usize) -> Option<&[u8]> {
        None
    }
}

/// Why the tables could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP was handed over and none was found in the BIOS areas.
    NoRsdp,
    /// The RSDP at this address has a wrong signature or checksum.
    BadRsdp(u64),
    /// A read of this physical range was refused.
    Unreadable { address: u64, length: usize },
    /// The table at `address` does not carry `signature`.
    WrongSignature { address: u64, expected: [u8; 4] },
    /// The table at `address` does not sum to zero.
    BadChecksum { address: u64, signature: [u8; 4] },
    /// The table at `address` claims an impossible length.
    BadLength {
        address: u64,
        signature: [u8; 4],
        length: u32,
    },
}

fn signature_text(signature: &[u8; 4]) -> &str {
    core::str::from_utf8(signature).unwrap_or("????")
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(f, "no ACPI RSDP was handed over or found"),
            AcpiError::BadRsdp(address) => {
                write!(
                    f,
                    "the RSDP at {address:#x} has a bad signature or checksum"
                )
            }
            AcpiError::Unreadable { address, length } => {
                write!(f, "{length} bytes at {address:#x} cannot be read")
            }
            AcpiError::WrongSignature { address, expected } => write!(
                f,
                "the table at {address:#x} is not the {} it should be",
                signature_text(expected)
            ),
            AcpiError::BadChecksum { address, signature } => write!(
                f,
                "the {} table at {address:#x} has a bad checksum",
                signature_text(signature)
            ),
            AcpiError::BadLength {
                address,
                signature,
                length,
            } => write!(
                f,
                "the {} table at {address:#x} claims {length} bytes",
                signature_text(signature)
            ),
        }
    }
}

/// One ECAM window from the MCFG: buses `start_bus..=end_bus` of `segment`, each
/// bus 1 MiB from `base` (which is the address of bus 0, even when `start_bus` > 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamRegion {
    pub base: u64,
    pub segment: u16,
    pub start_bus: u8,
    pub end_bus: u8,
}

impl EcamRegion {
    /// The physical address of the first byte of `start_bus`.
    pub fn window_start(&self) -> u64 {
        self.base + (u64::from(self.start_bus) << 20)
    }

    /// The bytes the window spans, from [`EcamRegion::window_start`].
    pub fn window_length(&self) -> u64 {
        (u64::from(self.end_bus) - u64::from(self.start_bus) + 1) << 20
    }

    /// The address of a register, or `None` outside the window.
    pub fn register_address(&self, bus: u8, device: u8, function: u8, offset: u16) -> Option<u64> {
        if bus < self.start_bus || bus > self.end_bus || device > 31 || function > 7 {
            return None;
        }
        if offset >= 4096 {
            return None;
        }
        Some(
            self.base
                + (u64::from(bus) << 20)
                + (u64::from(device) << 15)
                + (u64::from(function) << 12)
                + u64::from(offset),
        )
    }
}

/// One I/O APIC from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApicEntry {
    pub id: u8,
    pub address: u32,
    /// The first global system interrupt the I/O APIC serves.
    pub gsi_base: u32,
}

/// How many I/O APICs the kernel keeps from the MADT.
pub const MAXIMUM_IO_APICS: usize = 4;

/// What the device layer takes from ACPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    pub rsdp: u64,
    /// The RSDP's OEM ID: who wrote the tables (`FIRECK` is Firecracker).
    pub oem_id: [u8; 6],
    /// The ECAM window of segment 0 that covers bus 0, if the machine has an MCFG.
    pub ecam: Option<EcamRegion>,
    /// The I/O APIC serving GSI 0, if the MADT lists one.
    pub io_apic: Option<IoApicEntry>,
    /// Every I/O APIC the MADT lists (QEMU's `microvm` has a second for GSI 24–47).
    pub io_apics: [Option<IoApicEntry>; MAXIMUM_IO_APICS],
    /// The virtio-mmio devices the DSDT declares, or why the DSDT could not be read.
    /// A damaged DSDT costs these devices only, not the tables above.
    pub virtio_mmio: Result<MmioDevices, AcpiError>,
}

/// The OEM ID Firecracker writes in its ACPI tables.
pub const FIRECRACKER_OEM_ID: [u8; 6] = *b"FIRECK";

impl Platform {
    /// Whether the tables are Firecracker's.
    pub fn is_firecracker(&self) -> bool {
        self.oem_id == FIRECRACKER_OEM_ID
    }

    /// The I/O APIC that serves `gsi` and the input it arrives on, if one does.
    /// An I/O APIC's extent is not in the MADT: it reaches the next one's base, or
    /// 24 inputs for the last.
    pub fn io_apic_for(&self, gsi: u32) -> Option<(IoApicEntry, u32)> {
        let apics = self.io_apics.iter().flatten();
        let serving = apics
            .clone()
            .filter(|apic| apic.gsi_base <= gsi)
            .max_by_key(|apic| apic.gsi_base)?;
        let next = apics
            .filter(|apic| apic.gsi_base > serving.gsi_base)
            .map(|apic| apic.gsi_base)
            .min()
            .unwrap_or(serving.gsi_base.saturating_add(24));
        (gsi < next).then_some((*serving, gsi - serving.gsi_base))
    }
}

const HEADER_LENGTH: usize = 36;
/// Longer than any MCFG, MADT or root table a machine this kernel boots has.
const MAX_TABLE_LENGTH: u32 = 1 << 20;

fn read_array<const N: usize>(
    reader: &dyn PhysicalReader,
    address: u64,
) -> Result<[u8; N], AcpiError> {
    let mut bytes = [0u8; N];
    reader.read(address, &mut bytes)?;
    Ok(bytes)
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from(u32_at(bytes, offset)) | (u64::from(u32_at(bytes, offset + 4)) << 32)
}

fn sums_to_zero(bytes: &[u8]) -> bool {
    byte_sum(0, bytes) == 0
}

/// `start` plus every byte of `bytes`, modulo 256: eight bytes a step, their pairs
/// added in 16-bit lanes (which cannot carry into each other for eight bytes), so a
/// table is summed in an eighth of the steps of a byte loop.
fn byte_sum(start: u8, bytes: &[u8]) -> u8 {
    const LOW_BYTES: u64 = 0x00ff_00ff_00ff_00ff;
    let mut chunks = bytes.chunks_exact(8);
    let mut sum = start;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let lanes = (word & LOW_BYTES) + ((word >> 8) & LOW_BYTES);
        // The four 16-bit lane totals, added into the top lane.
        let total = (lanes.wrapping_mul(0x0001_0001_0001_0001) >> 48) as u8;
        sum = sum.wrapping_add(total);
    }
    chunks
        .remainder()
        .iter()
        .fold(sum, |sum, byte| sum.wrapping_add(*byte))
}

/// Checks the RSDP at `address` and returns the root table's address and whether it
/// is the XSDT (64-bit entries).
fn check_rsdp(reader: &dyn PhysicalReader, address: u64) -> Result<(u64, bool), AcpiError> {
    let first: [u8; 20] = read_array(reader, address)?;
    if &first[..8] != b"RSD PTR " || !sums_to_zero(&first) {
        return Err(AcpiError::BadRsdp(address));
    }
    let revision = first[15];
    if revision >= 2 {
        let whole: [u8; 36] = read_array(reader, address)?;
        let length = u32_at(&whole, 20) as usize;
        let xsdt = u64_at(&whole, 24);
        if (36..=64).contains(&length) && xsdt != 0 {
            let mut extended = [0u8; 64];
            reader.read(address, &mut extended[..length])?;
            if sums_to_zero(&extended[..length]) {
                return Ok((xsdt, true));
            }
        }
    }
    Ok((u64::from(u32_at(&first, 16)), false))
}

/// The first valid RSDP on a 16-byte boundary in `start..start + length`. The area is
/// read a KiB at a time and the signature compared in place (a 128 KiB BIOS area is
/// 8,192 candidates, too many for a read each); a block that cannot be read whole is
/// tried a candidate at a time.
fn scan(reader: &dyn PhysicalReader, start: u64, length: u64) -> Option<u64> {
    const BLOCK: usize = 1024;
    const SIGNATURE: u64 = u64::from_le_bytes(*b"RSD PTR ");
    let end = start + length;
    let mut block = [0u8; BLOCK];
    let mut block_start = start & !15;
    while block_start + 20 <= end {
        let take = ((end - block_start) as usize).min(BLOCK);
        // The candidates `address` in this block with `address + 20 <= end`.
        let candidates = ((end - block_start - 20) / 16 + 1).min((BLOCK / 16) as u64) as usize;
        let whole = reader.read(block_start, &mut block[..take]).is_ok();
        let mut next = 0;
        while next < candidates {
            let found = if whole {
                block[next * 16..candidates * 16]
                    .chunks_exact(16)
                    .position(|candidate| {
                        candidate
                            .first_chunk::<8>()
                            .is_some_and(|bytes| u64::from_le_bytes(*bytes) == SIGNATURE)
                    })
            } else {
                (next..candidates).position(|index| {
                    read_array::<8>(reader, block_start + index as u64 * 16)
                        .is_ok_and(|bytes| u64::from_le_bytes(bytes) == SIGNATURE)
                })
            };
            let Some(found) = found else {
                break;
            };
            let address = block_start + (next + found) as u64 * 16;
            if check_rsdp(reader, address).is_ok() {
                return Some(address);
            }
            next += found + 1;
        }
        block_start += BLOCK as u64;
    }
    None
}

/// The RSDP: `hint` (from the boot loader) when given and valid, else the first
/// valid one in the first KiB of the EBDA or in `0xe0000..0x100000`.
pub fn find_rsdp(reader: &dyn PhysicalReader, hint: Option<u64>) -> Result<u64, AcpiError> {
    if let Some(address) = hint.filter(|address| *address != 0) {
        check_rsdp(reader, address)?;
        return Ok(address);
    }
    let ebda = read_array::<2>(reader, 0x40e)
        .map(|segment| u64::from(u16::from_le_bytes(segment)) << 4)
        .unwrap_or(0);
    if ebda >= 0x400
        && let Some(found) = scan(reader, ebda, 1024)
    {
        return Ok(found);
    }
    scan(reader, 0xe_0000, 0x2_0000).ok_or(AcpiError::NoRsdp)
}

/// Checks a table's header and checksum; returns its length.
fn check_table(
    reader: &dyn PhysicalReader,
    address: u64,
    expected: [u8; 4],
) -> Result<usize, AcpiError> {
    let header: [u8; HEADER_LENGTH] = read_array(reader, address)?;
    let signature = [header[0], header[1], header[2], header[3]];
    if signature != expected {
        return Err(AcpiError::WrongSignature { address, expected });
    }
    let length = u32_at(&header, 4);
    if !(HEADER_LENGTH as u32..=MAX_TABLE_LENGTH).contains(&length) {
        return Err(AcpiError::BadLength {
            address,
            signature,
            length,
        });
    }
    if let Some(bytes) = reader.in_place(address, length as usize) {
        if byte_sum(0, bytes) != 0 {
            return Err(AcpiError::BadChecksum { address, signature });
        }
        return Ok(length as usize);
    }
    let mut sum = 0u8;
    let mut chunk = [0u8; 64];
    let mut done = 0usize;
    while done < length as usize {
        let take = (length as usize - done).min(chunk.len());
        reader.read(address + done as u64, &mut chunk[..take])?;
        sum = byte_sum(sum, &chunk[..take]);
        done += take;
    }
    if sum != 0 {
        return Err(AcpiError::BadChecksum { address, signature });
    }
    Ok(length as usize)
}

/// The address of the first table with `signature` the root table lists, if any.
/// Listed tables with other signatures are not checksummed; the one returned is.
pub fn find_table(
    reader: &dyn PhysicalReader,
    rsdp: u64,
    signature: [u8; 4],
) -> Result<Option<u64>, AcpiError> {
    let (root, wide) = check_rsdp(reader, rsdp)?;
    let root_signature = if wide { *b"XSDT" } else { *b"RSDT" };
    let length = check_table(reader, root, root_signature)?;
    let entry_size = if wide { 8 } else { 4 };
    let entries = (length - HEADER_LENGTH) / entry_size;
    for index in 0..entries {
        let at = root + (HEADER_LENGTH + index * entry_size) as u64;
        let table = if wide {
            u64::from_le_bytes(read_array::<8>(reader, at)?)
        } else {
            u64::from(u32::from_le_bytes(read_array::<4>(reader, at)?))
        };
        if table == 0 {
            continue;
        }
        let Ok(found) = read_array::<4>(reader, table) else {
            continue;
        };
        if found == signature {
            check_table(reader, table, signature)?;
            return Ok(Some(table));
        }
    }
    Ok(None)
}

/// The MCFG's window for segment 0 that covers bus 0 (the one the kernel
/// enumerates from), if the machine has an MCFG.
pub fn ecam(reader: &dyn PhysicalReader, rsdp: u64) -> Result<Option<EcamRegion>, AcpiError> {
    let Some(table) = find_table(reader, rsdp, *b"MCFG")? else {
        return Ok(None);
    };
    let length = check_table(reader, table, *b"MCFG")?;
    // Header, 8 reserved bytes, then 16-byte allocation entries.
    let mut offset = HEADER_LENGTH + 8;
    while offset + 16 <= length {
        let entry: [u8; 16] = read_array(reader, table + offset as u64)?;
        let region = EcamRegion {
            base: u64_at(&entry, 0),
            segment: u16_at(&entry, 8),
            start_bus: entry[10],
            end_bus: entry[11],
        };
        if region.segment == 0
            && region.start_bus == 0
            && region.end_bus >= region.start_bus
            && region.base != 0
        {
            return Ok(Some(region));
        }
        offset += 16;
    }
    Ok(None)
}

/// Every I/O APIC the MADT lists (at most [`MAXIMUM_IO_APICS`]), in its order.
pub fn io_apics(
    reader: &dyn PhysicalReader,
    rsdp: u64,
) -> Result<[Option<IoApicEntry>; MAXIMUM_IO_APICS], AcpiError> {
    let mut found = [None; MAXIMUM_IO_APICS];
    let Some(table) = find_table(reader, rsdp, *b"APIC")? else {
        return Ok(found);
    };
    let length = check_table(reader, table, *b"APIC")?;
    // Header, local APIC address and flags, then variable-length entries.
    let mut offset = HEADER_LENGTH + 8;
    let mut slots = found.iter_mut();
    while offset + 2 <= length {
        let [kind, entry_length] = read_array::<2>(reader, table + offset as u64)?;
        let entry_length = entry_length as usize;
        if entry_length < 2 || offset + entry_length > length {
            break;
        }
        if kind == 1 && entry_length >= 12 {
            let entry: [u8; 12] = read_array(reader, table + offset as u64)?;
            let apic = IoApicEntry {
                id: entry[2],
                address: u32_at(&entry, 4),
                gsi_base: u32_at(&entry, 8),
            };
            if apic.address != 0 {
                match slots.next() {
                    Some(slot) => *slot = Some(apic),
                    None => break,
                }
            }
        }
        offset += entry_length;
    }
    Ok(found)
}

/// The MADT's I/O APIC that serves GSI 0, if the MADT lists one.
pub fn io_apic(reader: &dyn PhysicalReader, rsdp: u64) -> Result<Option<IoApicEntry>, AcpiError> {
    Ok(io_apics(reader, rsdp)?
        .into_iter()
        .flatten()
        .find(|apic| apic.gsi_base == 0))
}

/// The FADT's DSDT: its 64-bit address where the FADT is long enough and gives one,
/// else the 32-bit one.
fn dsdt_address(reader: &dyn PhysicalReader, rsdp: u64) -> Result<Option<u64>, AcpiError> {
    let Some(fadt) = find_table(reader, rsdp, *b"FACP")? else {
        return Ok(None);
    };
    let length = check_table(reader, fadt, *b"FACP")?;
    if length >= 148 {
        let wide = u64::from_le_bytes(read_array::<8>(reader, fadt + 140)?);
        if wide != 0 {
            return Ok(Some(wide));
        }
    }
    if length >= 44 {
        let narrow = u32::from_le_bytes(read_array::<4>(reader, fadt + 40)?);
        if narrow != 0 {
            return Ok(Some(u64::from(narrow)));
        }
    }
    Ok(None)
}

/// The virtio-mmio devices the DSDT declares (none without a FADT or DSDT).
pub fn dsdt_devices(reader: &dyn PhysicalReader, rsdp: u64) -> Result<MmioDevices, AcpiError> {
    let Some(dsdt) = dsdt_address(reader, rsdp)? else {
        return Ok(MmioDevices::default());
    };
    let length = check_table(reader, dsdt, *b"DSDT")?;
    virtio_mmio::scan_dsdt(reader, dsdt, length)
}

/// Finds the RSDP and reads the ECAM window, the I/O APICs and the DSDT's
/// virtio-mmio devices from it. A missing MCFG, MADT or DSDT is not an error (`None`
/// or nothing there); a damaged MCFG or MADT is, and a damaged DSDT is kept as the
/// devices' error.
pub fn discover(reader: &dyn PhysicalReader, hint: Option<u64>) -> Result<Platform, AcpiError> {
    let rsdp = find_rsdp(reader, hint)?;
    let io_apics = io_apics(reader, rsdp)?;
    let oem_id = read_array::<6>(reader, rsdp + 9)?;
    Ok(Platform {
        rsdp,
        oem_id,
        ecam: ecam(reader, rsdp)?,
        io_apic: io_apics
            .into_iter()
            .flatten()
            .find(|apic| apic.gsi_base == 0),
        io_apics,
        virtio_mmio: dsdt_devices(reader, rsdp),
    })
}

#[cfg(test)]
#[path = "acpi_tests.rs"]
mod tests;
