//! Reads the ACPI tables the device layer needs (the MCFG's ECAM window, the MADT's
//! I/O APIC) once, at boot, before the kernel's own page tables replace the boot map.
//!
//! The parsing is the portable core's (`ethos_core::acpi`); this module only lends
//! it physical memory through the boot identity map of the first 4 GiB, and keeps the
//! result. It must never read above 4 GiB or after the boot map is gone: every read
//! is checked against that bound, and [`discover_firmware_tables`] runs before `memory::init`.

use ethos_core::acpi::{self, AcpiError, PhysicalReader, Platform};
use spin::Once;

/// The boot map's identity-mapped extent.
const BOOT_MAP_END: u64 = 1 << 32;

static PLATFORM: Once<Result<Platform, AcpiError>> = Once::new();

/// Physical memory through the boot identity map.
struct BootMapReader;

impl PhysicalReader for BootMapReader {
    fn read(&self, address: u64, into: &mut [u8]) -> Result<(), AcpiError> {
        let refused = AcpiError::Unreadable {
            address,
            length: into.len(),
        };
        let end = address.checked_add(into.len() as u64).ok_or(refused)?;
        if end > BOOT_MAP_END {
            return Err(refused);
        }
        // SAFETY: the boot tables identity-map all of the first 4 GiB and are still
        // live (this runs before `memory::init`); the range was checked to lie below
        // 4 GiB. Firmware tables are plain memory, which the kernel does not own:
        // reading them has no effect, and `into` cannot overlap them.
        unsafe {
            core::ptr::copy_nonoverlapping(
                address as usize as *const u8,
                into.as_mut_ptr(),
                into.len(),
            )
        };
        Ok(())
    }

    fn in_place(&self, address: u64, length: usize) -> Option<&[u8]> {
        let end = address.checked_add(length as u64)?;
        if end > BOOT_MAP_END || address == 0 {
            return None;
        }
        // SAFETY: as in `read`: the boot tables identity-map the range (checked to
        // lie below 4 GiB, and not at the null address) and stay live while the
        // tables are read; firmware tables are plain memory nothing writes while
        // the kernel reads them, and a byte slice has no alignment to respect.
        Some(unsafe { core::slice::from_raw_parts(address as usize as *const u8, length) })
    }
}

/// Reads the tables from the RSDP the loader handed over (or one found in the BIOS
/// areas) and keeps what it found. Runs before logging: the device probe reports
/// the result. A machine without usable ACPI gets the error, and the kernel falls
/// back to port I/O and the I/O APIC's default address.
pub fn discover_firmware_tables(rsdp_hint: Option<u64>) {
    PLATFORM.call_once(|| acpi::discover(&BootMapReader, rsdp_hint));
}

/// What [`discover_firmware_tables`] found, or why nothing (also when it never ran).
pub fn firmware_platform() -> Result<Platform, AcpiError> {
    PLATFORM.get().copied().unwrap_or(Err(AcpiError::NoRsdp))
}

/// Where Firecracker's boot timer listens (`--boot-timer`): the first page of its
/// 32-bit device window.
const FIRECRACKER_BOOT_TIMER: u64 = 0xc000_0000;
/// The byte that tells Firecracker's boot timer the guest has booted.
const BOOT_COMPLETE: u8 = 123;

/// Tells the VMM the kernel is ready, where the VMM listens for it: on Firecracker
/// (its ACPI tables say `FIRECK`), one byte to its boot timer, so Firecracker's own
/// log times the boot. Anywhere else nothing is written. True if a VMM was told.
pub fn tell_vmm_booted() -> bool {
    if !firmware_platform().is_ok_and(|platform| platform.is_firecracker()) {
        return false;
    }
    {
        let mut guard = crate::memory::FRAMES.lock();
        let Some(frames) = guard.as_mut() else {
            return false;
        };
        if super::map_device_memory(FIRECRACKER_BOOT_TIMER, 0x1000, frames).is_err() {
            return false;
        }
    }
    // SAFETY: the tables are Firecracker's, whose boot timer occupies this page (a
    // write there without `--boot-timer` lands on no device and is dropped); it was
    // mapped uncached just above. One byte at offset 0 is the device's protocol.
    unsafe { (FIRECRACKER_BOOT_TIMER as *mut u8).write_volatile(BOOT_COMPLETE) };
    true
}
