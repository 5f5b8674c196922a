//! The I/O APIC: routes a PCI function's legacy INTx line (its global system
//! interrupt, which on PC machines equals the line number the firmware wrote in
//! configuration space) to a vector on the boot CPU.
//!
//! The I/O APIC serving GSI 0 is where the ACPI MADT says; without a MADT it is
//! assumed at its architectural default address. Nothing here may unmask a line
//! without a handler behind its vector.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::memory;

use super::paging::map_device_memory;

/// The physical address of the first I/O APIC when no MADT says otherwise.
const DEFAULT_BASE: u64 = 0xfec0_0000;
/// The first vector handed to device interrupts; GSI `n` gets `DEVICE_VECTOR_BASE + n`.
pub const DEVICE_VECTOR_BASE: u8 = 0x40;

static BASE: AtomicU64 = AtomicU64::new(0);

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    NoFrameAllocator,
    Map,
    Absent(u64),
    NoSuchLine { line: u8, lines: u8 },
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

fn base() -> Result<u64, IoApicError> {
    let known = BASE.load(Ordering::Acquire);
    if known != 0 {
        return Ok(known);
    }
    let address = super::firmware::firmware_platform()
        .ok()
        .and_then(|platform| platform.io_apic)
        .map_or(DEFAULT_BASE, |io_apic| u64::from(io_apic.address));
    let mut guard = memory::FRAMES.lock();
    let frames = guard.as_mut().ok_or(IoApicError::NoFrameAllocator)?;
    map_device_memory(address, 0x1000, frames).map_err(|_| IoApicError::Map)?;
    drop(guard);
    if read(address, 1) == u32::MAX {
        return Err(IoApicError::Absent(address));
    }
    BASE.store(address, Ordering::Release);
    Ok(address)
}

/// Routes `line` to vector [`DEVICE_VECTOR_BASE`]` + line` on the boot CPU, level
/// triggered and active high (how PC firmware describes PCI links), and unmasks it.
pub fn route_pci_line(line: u8) -> Result<u8, IoApicError> {
    let base = base()?;
    let lines = ((read(base, 1) >> 16) & 0xff) as u8 + 1;
    if line >= lines || line >= 0xff - DEVICE_VECTOR_BASE {
        return Err(IoApicError::NoSuchLine { line, lines });
    }
    let vector = DEVICE_VECTOR_BASE + line;
    let apic_id = super::apic::local_apic_id();
    let register = 0x10 + 2 * u32::from(line);
    write(base, register + 1, u32::from(apic_id) << 24);
    write(base, register, u32::from(vector) | (1 << 15));
    Ok(vector)
}

fn set_mask(line: u8, masked: bool) {
    // Called from the interrupt path: only a line `route_pci_line` set up, so the
    // base is known and no lock is taken.
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    let register = 0x10 + 2 * u32::from(line);
    // The interrupt path masks lines too; keep it out of the select/window pair.
    x86_64::instructions::interrupts::without_interrupts(|| {
        let low = read(base, register);
        let low = if masked {
            low | (1 << 16)
        } else {
            low & !(1 << 16)
        };
        write(base, register, low);
    });
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
