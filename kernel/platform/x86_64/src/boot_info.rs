//! What the boot loader tells the kernel: protocol, memory map, command line, and
//! (PVH) where the ACPI RSDP is.
//!
//! PVH start info (Xen's `hvm_start_info`, also used by QEMU and Firecracker) is
//! read by hand, it is four fields; multiboot2 information through the `multiboot2`
//! crate. Everything needed later is copied into kernel statics here, so the memory
//! the loader used can be handed to the frame allocator afterwards.

use core::fmt;

use ethos_core::memory_map::{MemoryMap, MemoryMapError, PhysicalRange};
use multiboot2::{BootInformation, BootInformationHeader, MemoryAreaType};
use spin::Once;

use crate::arch::{BOOT_PROTOCOL_MULTIBOOT2, BOOT_PROTOCOL_PVH};

const PVH_MAGIC: u32 = 0x336e_c578;
const PVH_MEMORY_TYPE_RAM: u32 = 1;
const COMMAND_LINE_CAPACITY: usize = 1024;
/// How far a PVH command line is measured when it is longer than the capacity.
const LENGTH_SCAN_LIMIT: usize = 64 * 1024;

/// How the kernel was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootProtocol {
    Pvh,
    Multiboot2,
}

impl BootProtocol {
    pub fn name(self) -> &'static str {
        match self {
            BootProtocol::Pvh => "pvh",
            BootProtocol::Multiboot2 => "multiboot2",
        }
    }
}

/// The boot information, copied out of loader memory.
#[derive(Debug)]
pub struct BootInfo {
    pub protocol: BootProtocol,
    /// RAM as the firmware reported it, before the kernel reserves anything.
    pub ram: MemoryMap,
    pub command_line: &'static str,
    /// The ACPI RSDP's physical address, when the loader handed one over.
    pub rsdp: Option<u64>,
}

/// Why the boot information cannot be used.
#[derive(Debug)]
pub enum BootInfoError {
    UnknownProtocol(u32),
    BadPvhMagic(u32),
    PvhWithoutMemoryMap {
        version: u32,
    },
    Multiboot2(multiboot2::LoadError),
    Multiboot2WithoutMemoryMap,
    /// The command line's length, as far as it was measured ([`LENGTH_SCAN_LIMIT`] at
    /// most: then it is at least that long).
    CommandLineTooLong(usize),
    CommandLineNotText,
    MemoryMap(MemoryMapError),
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootInfoError::UnknownProtocol(value) => write!(f, "unknown boot protocol {value}"),
            BootInfoError::BadPvhMagic(magic) => {
                write!(
                    f,
                    "PVH start info has magic {magic:#x}, expected {PVH_MAGIC:#x}"
                )
            }
            BootInfoError::PvhWithoutMemoryMap { version } => write!(
                f,
                "PVH start info version {version} carries no memory map (version 1 needed)"
            ),
            BootInfoError::Multiboot2(error) => {
                write!(f, "multiboot2 information is invalid: {error:?}")
            }
            BootInfoError::Multiboot2WithoutMemoryMap => {
                write!(f, "multiboot2 information has no memory map tag")
            }
            BootInfoError::CommandLineTooLong(length) if *length >= LENGTH_SCAN_LIMIT => write!(
                f,
                "kernel command line is at least {length} bytes; at most \
                 {COMMAND_LINE_CAPACITY} are read"
            ),
            BootInfoError::CommandLineTooLong(length) => write!(
                f,
                "kernel command line is {length} bytes; at most {COMMAND_LINE_CAPACITY} are read"
            ),
            BootInfoError::CommandLineNotText => write!(f, "kernel command line is not UTF-8"),
            BootInfoError::MemoryMap(error) => write!(f, "memory map: {error}"),
        }
    }
}

struct CommandLineCopy {
    bytes: [u8; COMMAND_LINE_CAPACITY],
    length: usize,
}

static COMMAND_LINE: Once<CommandLineCopy> = Once::new();

fn keep_command_line(bytes: &[u8]) -> Result<&'static str, BootInfoError> {
    if bytes.len() > COMMAND_LINE_CAPACITY {
        return Err(BootInfoError::CommandLineTooLong(bytes.len()));
    }
    let copy = COMMAND_LINE.call_once(|| {
        let mut copy = CommandLineCopy {
            bytes: [0; COMMAND_LINE_CAPACITY],
            length: bytes.len(),
        };
        copy.bytes[..bytes.len()].copy_from_slice(bytes);
        copy
    });
    core::str::from_utf8(&copy.bytes[..copy.length]).map_err(|_| BootInfoError::CommandLineNotText)
}

/// `hvm_start_info`, the fields the kernel reads.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct PvhStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    module_count: u32,
    module_list_address: u64,
    command_line_address: u64,
    rsdp_address: u64,
    memory_map_address: u64,
    memory_map_entries: u32,
    reserved: u32,
}

/// `hvm_memmap_table_entry`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct PvhMemoryMapEntry {
    address: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Reads a NUL-terminated string of at most `limit + 1` bytes at a physical address.
///
/// # Safety
/// `address` must be identity-mapped readable memory holding a NUL within
/// `limit + 1` bytes, or at least `limit + 1` readable bytes.
unsafe fn c_string(address: u64, limit: usize) -> &'static [u8] {
    let start = address as *const u8;
    let mut length = 0;
    // SAFETY: the caller vouches for `limit + 1` readable bytes.
    while length <= limit && unsafe { start.add(length).read() } != 0 {
        length += 1;
    }
    // SAFETY: the bytes just scanned are readable and nothing writes them.
    unsafe { core::slice::from_raw_parts(start, length) }
}

fn parse_pvh(address: u32) -> Result<BootInfo, BootInfoError> {
    // SAFETY: the loader passed the start-info address in `ebx`; the boot tables
    // identity-map the first 4 GiB, where it lies. Read unaligned: it is untrusted.
    let info = unsafe { (address as usize as *const PvhStartInfo).read_unaligned() };
    if info.magic != PVH_MAGIC {
        return Err(BootInfoError::BadPvhMagic(info.magic));
    }
    if info.version < 1 || info.memory_map_entries == 0 {
        return Err(BootInfoError::PvhWithoutMemoryMap {
            version: info.version,
        });
    }
    let mut ram = MemoryMap::new();
    for index in 0..info.memory_map_entries as u64 {
        let entry_address = info.memory_map_address + index * 24;
        // SAFETY: the start info names `memory_map_entries` entries at this address,
        // below 4 GiB and identity-mapped.
        let entry =
            unsafe { (entry_address as usize as *const PvhMemoryMapEntry).read_unaligned() };
        if entry.kind == PVH_MEMORY_TYPE_RAM {
            ram.add_usable(PhysicalRange::from_start_length(entry.address, entry.size))
                .map_err(BootInfoError::MemoryMap)?;
        }
    }
    let command_line = if info.command_line_address == 0 {
        keep_command_line(&[])?
    } else {
        // SAFETY: the loader placed a NUL-terminated string there, below 4 GiB (which
        // the boot tables map); the scan stops at the scan limit in any case. It
        // measures past the capacity so an overlong line is reported by its length.
        keep_command_line(unsafe { c_string(info.command_line_address, LENGTH_SCAN_LIMIT) })?
    };
    Ok(BootInfo {
        protocol: BootProtocol::Pvh,
        ram,
        command_line,
        rsdp: (info.rsdp_address != 0).then_some(info.rsdp_address),
    })
}

fn parse_multiboot2(address: u32) -> Result<BootInfo, BootInfoError> {
    // SAFETY: the loader passed the information address in `ebx` after the magic
    // was checked; it lies below 4 GiB, identity-mapped. `load` validates sizes.
    let info = unsafe { BootInformation::load(address as usize as *const BootInformationHeader) }
        .map_err(BootInfoError::Multiboot2)?;
    let areas = info
        .memory_map_tag()
        .ok_or(BootInfoError::Multiboot2WithoutMemoryMap)?;
    let mut ram = MemoryMap::new();
    for area in areas.memory_areas() {
        if area.typ() == MemoryAreaType::Available {
            ram.add_usable(PhysicalRange::from_start_length(
                area.start_address(),
                area.size(),
            ))
            .map_err(BootInfoError::MemoryMap)?;
        }
    }
    let command_line = match info.command_line_tag() {
        Some(tag) => keep_command_line(
            tag.cmdline()
                .map_err(|_| BootInfoError::CommandLineNotText)?
                .as_bytes(),
        )?,
        None => keep_command_line(&[])?,
    };
    Ok(BootInfo {
        protocol: BootProtocol::Multiboot2,
        ram,
        command_line,
        // Multiboot2 loaders copy the RSDP into a tag; the kernel finds the
        // original in the BIOS areas instead.
        rsdp: None,
    })
}

/// Reads the boot information the entry code was handed.
pub fn parse(protocol: u32, address: u32) -> Result<BootInfo, BootInfoError> {
    match protocol {
        BOOT_PROTOCOL_PVH => parse_pvh(address),
        BOOT_PROTOCOL_MULTIBOOT2 => parse_multiboot2(address),
        other => Err(BootInfoError::UnknownProtocol(other)),
    }
}
