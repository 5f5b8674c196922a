//! The I/O APICs: route a device's interrupt line — a global system interrupt (GSI):
//! a PCI function's legacy INTx line, which on PC machines equals the line number
//! the firmware wrote in configuration space, or a virtio-mmio device's interrupt —
//! to a vector on the boot CPU.
//!
//! The I/O APICs are where the ACPI MADT says, each serving GSIs from its base
//! (QEMU's `microvm` has a second one for GSI 24–47); without a MADT there is one at
//! its architectural default address serving GSI 0–23. Nothing here may unmask a
//! line without a handler behind its vector.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::memory;

use super::paging::map_device_memory;

/// The physical address of the first I/O APIC when no MADT says otherwise.
const DEFAULT_BASE: u64 = 0xfec0_0000;
/// The first vector handed to device interrupts; GSI `n` gets `DEVICE_VECTOR_BASE + n`.
pub const DEVICE_VECTOR_BASE: u8 = 0x40;
/// How many GSIs can be routed: two I/O APICs' worth.
pub const DEVICE_LINES: u8 = 48;

/// For each routed GSI, where its redirection entry is: the I/O APIC's (mapped)
/// base, with the input number in the low bits (a base is page-aligned). Zero for a
/// line not routed, which the interrupt path then leaves alone.
static ROUTED: [AtomicU64; DEVICE_LINES as usize] =
    [const { AtomicU64::new(0) }; DEVICE_LINES as usize];

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    NoFrameAllocator,
    Map,
    Absent(u64),
    NoSuchLine {
        line: u8,
        lines: u8,
    },
    /// No I/O APIC the MADT lists serves this GSI.
    Unserved(u8),
}

impl core::fmt::Display for IoApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IoApicError::NoFrameAllocator => write!(f, "memory is not set up"),
            IoApicError::Map => write!(f, "the I/O APIC page could not be mapped"),
            IoApicError::Absent(address) => write!(f, "no I/O APIC answers at {address:#x}"),
            IoApicError::NoSuchLine { line, lines } => {
                write!(f, "line {line} is beyond the I/O APIC's {lines} inputs")
            }
            IoApicError::Unserved(line) => {
                write!(f, "no I/O APIC serves GSI {line}")
            }
        }
    }
}

fn read(base: u64, register: u32) -> u32 {
    // SAFETY: `base` is the I/O APIC page, mapped uncached by `init`; the select and
    // window registers are at offsets 0x00 and 0x10. Callers run with interrupts off
    // or before any device interrupt is unmasked, so selections do not interleave.
    unsafe {
        ((base) as *mut u32).write_volatile(register);
        ((base + 0x10) as *const u32).read_volatile()
    }
}

fn write(base: u64, register: u32, value: u32) {
    // SAFETY: as in `read`.
    unsafe {
        ((base) as *mut u32).write_volatile(register);
        ((base + 0x10) as *mut u32).write_volatile(value);
    }
}

/// The I/O APIC serving `gsi`, mapped, and the input the GSI arrives on.
fn serving(gsi: u8) -> Result<(u64, u8), IoApicError> {
    let (address, input) = match super::firmware::firmware_platform() {
        Ok(platform) if platform.io_apics.iter().any(Option::is_some) => {
            let (apic, input) = platform
                .io_apic_for(u32::from(gsi))
                .ok_or(IoApicError::Unserved(gsi))?;
            (u64::from(apic.address), input as u8)
        }
        _ => (DEFAULT_BASE, gsi),
    };
    let mut guard = memory::FRAMES.lock();
    let frames = guard.as_mut().ok_or(IoApicError::NoFrameAllocator)?;
    map_device_memory(address, 0x1000, frames).map_err(|_| IoApicError::Map)?;
    drop(guard);
    if read(address, 1) == u32::MAX {
        return Err(IoApicError::Absent(address));
    }
    let inputs = ((read(address, 1) >> 16) & 0xff) as u8 + 1;
    if input >= inputs {
        return Err(IoApicError::NoSuchLine {
            line: gsi,
            lines: inputs,
        });
    }
    Ok((address, input))
}

/// Routes GSI `line` to vector [`DEVICE_VECTOR_BASE`]` + line` on the boot CPU,
/// level triggered and active high (how PC firmware describes PCI links, and how
/// QEMU drives virtio-mmio lines), and unmasks it.
pub fn route_line(line: u8) -> Result<u8, IoApicError> {
    if line >= DEVICE_LINES {
        return Err(IoApicError::NoSuchLine {
            line,
            lines: DEVICE_LINES,
        });
    }
    let (base, input) = serving(line)?;
    let vector = DEVICE_VECTOR_BASE + line;
    let apic_id = super::apic::local_apic_id();
    let register = 0x10 + 2 * u32::from(input);
    ROUTED[line as usize].store(base | u64::from(input), Ordering::Release);
    write(base, register + 1, u32::from(apic_id) << 24);
    write(base, register, entry_low(line, false));
    Ok(vector)
}

fn set_mask(line: u8, masked: bool) {
    // Called from the interrupt path: only a line `route_line` set up, so its place
    // is known and no lock is taken.
    let Some(place) = ROUTED
        .get(line as usize)
        .map(|place| place.load(Ordering::Acquire))
    else {
        return;
    };
    if place == 0 {
        return;
    }
    let (base, input) = (place & !0xfff, (place & 0xff) as u32);
    let register = 0x10 + 2 * input;
    // The interrupt path masks lines too; keep it out of the select/window pair. The
    // entry's low word is known (`entry_low`), so it is written without being read
    // first: two register accesses, not four, each a trip out of an emulated guest.
    x86_64::instructions::interrupts::without_interrupts(|| {
        write(base, register, entry_low(line, masked));
    });
}

/// The low word of `line`'s redirection entry as `route_line` sets it: its vector,
/// level triggered, active high, fixed delivery, and the mask bit. (Its remote IRR
/// and delivery status bits are the I/O APIC's own; writes leave them alone.)
fn entry_low(line: u8, masked: bool) -> u32 {
    const LEVEL_TRIGGERED: u32 = 1 << 15;
    const MASKED: u32 = 1 << 16;
    let mask = if masked { MASKED } else { 0 };
    u32::from(DEVICE_VECTOR_BASE + line) | LEVEL_TRIGGERED | mask
}

/// Masks a line: the interrupt path does this so a level-triggered line does not
/// fire again before its driver has acknowledged the device.
pub fn mask_line(line: u8) {
    set_mask(line, true);
}

/// Unmasks a line once its driver has acknowledged the device.
pub fn unmask_line(line: u8) {
    set_mask(line, false);
}
