//! Where a machine's virtio-mmio devices are (virtio 1.2, section 4.2).
//!
//! A VMM says so in one of two ways: on the command line, one
//! `virtio_mmio.device=SIZE@ADDR:IRQ` word per device (Firecracker always, QEMU's
//! `microvm` when it has no ACPI; read by [`crate::command_line`]), or in the ACPI
//! DSDT, as a device whose `_HID` is `LNRO0005` and whose `_CRS` holds its register
//! window and its interrupt (QEMU's `microvm` with ACPI, Firecracker since it has ACPI).
//! [`dsdt_devices`] reads the latter.
//!
//! The DSDT is AML, bytecode meant for an interpreter. The kernel does not interpret
//! it: these VMMs declare their virtio-mmio devices statically —
//! `Name (_HID, "LNRO0005")` and `Name (_CRS, ResourceTemplate () {…})` in one
//! `Device` — so [`dsdt_devices`] finds each such `_HID` string and reads the
//! resource template that follows it, before the next `_HID`. A `_CRS` computed by a
//! method is not seen (no VMM this kernel boots on writes one). An AML interpreter
//! (the `acpi` crate's) would need an allocator and a handler for every operation
//! region, and this runs before memory is set up; the scan is written here, bounded
//! and checked like the rest of the ACPI parsing.

use core::fmt;

use crate::acpi::{AcpiError, PhysicalReader};

/// How many virtio-mmio devices the kernel keeps from one source.
pub const MAXIMUM_MMIO_DEVICES: usize = 32;

/// The fewest bytes a virtio-mmio window can have: its registers end at 0x100.
pub const MINIMUM_MMIO_WINDOW: u64 = 0x100;

/// One virtio-mmio device: its register window and its interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDevice {
    /// The physical address of its register window.
    pub base: u64,
    /// The window's length in bytes.
    pub size: u64,
    /// Its interrupt, a global system interrupt number (an I/O APIC input).
    pub interrupt: u32,
}

impl fmt::Display for MmioDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}+{:#x} irq {}",
            self.base, self.size, self.interrupt
        )
    }
}

/// Virtio-mmio devices, in the order found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmioDevices {
    devices: [Option<MmioDevice>; MAXIMUM_MMIO_DEVICES],
}

impl MmioDevices {
    /// Adds `device`; false if the table is full.
    pub fn push(&mut self, device: MmioDevice) -> bool {
        match self.devices.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => {
                *slot = Some(device);
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = MmioDevice> + '_ {
        self.devices.iter().flatten().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.devices[0].is_none()
    }

    /// Whether a device with this window's base is already here.
    pub fn has_base(&self, base: u64) -> bool {
        self.iter().any(|device| device.base == base)
    }
}

/// The `_HID` of a virtio-mmio device, as an AML string (`StringPrefix`, the
/// characters, the terminating zero).
const VIRTIO_MMIO_HID: &[u8] = b"_HID\x0dLNRO0005\x00";
const HID: &[u8] = b"_HID";
/// `_CRS` followed by `BufferOp`: a resource template declared by name.
const STATIC_CRS: &[u8] = b"_CRS\x11";
/// How far past a `_HID` its device's `_CRS` may be.
const CRS_REACH: usize = 256;

/// The DSDT's bytes, read through a [`PhysicalReader`] a window at a time.
struct TableBytes<'r> {
    reader: &'r dyn PhysicalReader,
    address: u64,
    length: usize,
    window: [u8; 64],
    window_at: Option<usize>,
    /// The whole table, where the reader lends it in place: then no window is
    /// copied (some 1,500 instructions of the boot for a microvm's DSDT).
    whole: Option<&'r [u8]>,
}

impl TableBytes<'_> {
    fn byte(&mut self, offset: usize) -> Result<Option<u8>, AcpiError> {
        if offset >= self.length {
            return Ok(None);
        }
        if let Some(whole) = self.whole {
            return Ok(whole.get(offset).copied());
        }
        let start = offset - offset % self.window.len();
        if self.window_at != Some(start) {
            let take = (self.length - start).min(self.window.len());
            self.reader
                .read(self.address + start as u64, &mut self.window[..take])?;
            self.window_at = Some(start);
        }
        Ok(Some(self.window[offset - start]))
    }

    /// The first offset at or after `from` holding `wanted`, searched a window at a
    /// time rather than a byte call at a time.
    fn find(&mut self, from: usize, wanted: u8) -> Result<Option<usize>, AcpiError> {
        if let Some(whole) = self.whole {
            return Ok(whole
                .get(from..)
                .and_then(|rest| rest.iter().position(|byte| *byte == wanted))
                .map(|found| from + found));
        }
        let mut offset = from;
        while self.byte(offset)?.is_some() {
            let start = offset - offset % self.window.len();
            let take = (self.length - start).min(self.window.len());
            if let Some(found) = self.window[offset - start..take]
                .iter()
                .position(|byte| *byte == wanted)
            {
                return Ok(Some(offset + found));
            }
            offset = start + take;
        }
        Ok(None)
    }

    fn matches(&mut self, offset: usize, expected: &[u8]) -> Result<bool, AcpiError> {
        for (index, wanted) in expected.iter().enumerate() {
            if self.byte(offset + index)? != Some(*wanted) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn u16_at(&mut self, offset: usize) -> Result<Option<u16>, AcpiError> {
        Ok(match (self.byte(offset)?, self.byte(offset + 1)?) {
            (Some(low), Some(high)) => Some(u16::from_le_bytes([low, high])),
            _ => None,
        })
    }

    fn u32_at(&mut self, offset: usize) -> Result<Option<u32>, AcpiError> {
        let (Some(low), Some(high)) = (self.u16_at(offset)?, self.u16_at(offset + 2)?) else {
            return Ok(None);
        };
        Ok(Some(u32::from(low) | (u32::from(high) << 16)))
    }
}

/// The virtio-mmio devices the DSDT at `address` (checked by the caller) declares.
pub(crate) fn scan_dsdt(
    reader: &dyn PhysicalReader,
    address: u64,
    length: usize,
) -> Result<MmioDevices, AcpiError> {
    let mut bytes = TableBytes {
        reader,
        address,
        length,
        window: [0; 64],
        window_at: None,
        whole: reader.in_place(address, length),
    };
    let mut found = MmioDevices::default();
    // The AML starts after the 36-byte header.
    let mut offset = 36;
    while offset + VIRTIO_MMIO_HID.len() <= length {
        // Searched by its string prefix byte, rarer in AML than the `_` of every name.
        match bytes.find(offset + HID.len(), VIRTIO_MMIO_HID[HID.len()])? {
            Some(prefix) if prefix - HID.len() + VIRTIO_MMIO_HID.len() <= length => {
                offset = prefix - HID.len();
            }
            _ => break,
        }
        if !bytes.matches(offset, VIRTIO_MMIO_HID)? {
            offset += 1;
            continue;
        }
        let after = offset + VIRTIO_MMIO_HID.len();
        if let Some(device) = device_resources(&mut bytes, after)?
            && !found.has_base(device.base)
            && !found.push(device)
        {
            break;
        }
        offset = after;
    }
    Ok(found)
}

/// The window and interrupt of the `_CRS` that follows a virtio-mmio `_HID` ending at
/// `from`, if one follows before the next `_HID` and holds both.
fn device_resources(
    bytes: &mut TableBytes<'_>,
    from: usize,
) -> Result<Option<MmioDevice>, AcpiError> {
    for at in from..from + CRS_REACH {
        if bytes.matches(at, HID)? {
            return Ok(None);
        }
        if bytes.matches(at, STATIC_CRS)? {
            return resource_template(bytes, at + STATIC_CRS.len());
        }
    }
    Ok(None)
}

/// Reads a `Buffer` (after its `BufferOp`) holding a resource template: its
/// `Memory32Fixed` window and its first interrupt (extended or legacy).
fn resource_template(
    bytes: &mut TableBytes<'_>,
    at: usize,
) -> Result<Option<MmioDevice>, AcpiError> {
    // PkgLength: the lead byte's top two bits count the bytes that follow it.
    let Some(lead) = bytes.byte(at)? else {
        return Ok(None);
    };
    let follow = usize::from(lead >> 6);
    let mut package = usize::from(if follow == 0 {
        lead & 0x3f
    } else {
        lead & 0x0f
    });
    for index in 0..follow {
        let Some(byte) = bytes.byte(at + 1 + index)? else {
            return Ok(None);
        };
        package |= usize::from(byte) << (4 + 8 * index);
    }
    let end = at + package;
    // BufferSize: an integer term.
    let mut cursor = at + 1 + follow;
    let size = match bytes.byte(cursor)? {
        Some(0x00) => Some(0),
        Some(0x01) => Some(1),
        Some(0x0a) => bytes.byte(cursor + 1)?.map(usize::from),
        Some(0x0b) => bytes.u16_at(cursor + 1)?.map(usize::from),
        Some(0x0c) => bytes.u32_at(cursor + 1)?.map(|size| size as usize),
        _ => None,
    };
    let Some(size) = size else {
        return Ok(None);
    };
    cursor += match bytes.byte(cursor)? {
        Some(0x0a) => 2,
        Some(0x0b) => 3,
        Some(0x0c) => 5,
        _ => 1,
    };
    let limit = end.min(cursor.saturating_add(size));
    let (mut window, mut interrupt) = (None, None);
    while cursor < limit {
        let Some(tag) = bytes.byte(cursor)? else {
            break;
        };
        if tag & 0x80 == 0 {
            // A small descriptor: type in bits 6..3, length in bits 2..0.
            let kind = (tag >> 3) & 0x0f;
            let length = usize::from(tag & 0x07);
            if kind == 0x0f {
                break;
            }
            if kind == 0x04
                && length >= 2
                && let Some(mask) = bytes.u16_at(cursor + 1)?
                && mask != 0
            {
                interrupt = interrupt.or(Some(mask.trailing_zeros()));
            }
            cursor += 1 + length;
        } else {
            let Some(length) = bytes.u16_at(cursor + 1)? else {
                break;
            };
            let body = cursor + 3;
            match tag & 0x7f {
                // Memory32Fixed: information, base, length.
                0x06 if length >= 9 => {
                    if let (Some(base), Some(size)) =
                        (bytes.u32_at(body + 1)?, bytes.u32_at(body + 5)?)
                    {
                        window = window.or(Some((u64::from(base), u64::from(size))));
                    }
                }
                // Extended interrupt: flags, count, then the interrupts.
                0x09 if length >= 6 && bytes.byte(body + 1)?.is_some_and(|count| count > 0) => {
                    interrupt = interrupt.or(bytes.u32_at(body + 2)?);
                }
                _ => {}
            }
            cursor = body + usize::from(length);
        }
    }
    Ok(match (window, interrupt) {
        (Some((base, size)), Some(interrupt)) if size >= MINIMUM_MMIO_WINDOW => Some(MmioDevice {
            base,
            size,
            interrupt,
        }),
        _ => None,
    })
}

#[cfg(test)]
#[path = "virtio_mmio_tests.rs"]
mod tests;
