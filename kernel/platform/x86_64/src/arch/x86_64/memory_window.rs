//! Bounds-checked windows onto a device's memory-mapped registers: a virtio
//! structure inside a PCI memory BAR, or a virtio-mmio device's region.
//!
//! A [`DeviceMemoryWindow`] is the only way a driver reaches device memory: its
//! constructor is the one place that vouches the range belongs to the device and is
//! mapped, and every access is a single volatile access of exactly its width,
//! checked against the range and aligned to that width. Nothing here may touch an
//! address outside a window, or make an access wider than 32 bits.

use ethos_virtio::MemoryWindow;

/// A device's range of memory-mapped registers.
#[derive(Debug)]
pub struct DeviceMemoryWindow {
    base: u64,
    length: usize,
}

impl DeviceMemoryWindow {
    /// # Safety
    /// `[address, address + length)` must be device registers (part of a memory
    /// BAR, or a virtio-mmio region) of a device that this window's owner alone
    /// drives, mapped uncached at that same virtual address (`map_device_memory`),
    /// so that accesses there affect only that device.
    pub unsafe fn new(address: u64, length: usize) -> DeviceMemoryWindow {
        DeviceMemoryWindow {
            base: address,
            length,
        }
    }

    /// The address of an access of `width` bytes at `offset`, if it lies wholly in
    /// the window and is aligned to its width.
    fn address(&self, offset: usize, width: usize) -> Option<u64> {
        let inside = offset.checked_add(width)? <= self.length;
        (inside && offset.is_multiple_of(width)).then(|| self.base + offset as u64)
    }
}

/// A window is the native virtio drivers' way to their device's registers; an
/// access outside it or misaligned reads all ones and writes nothing.
impl MemoryWindow for DeviceMemoryWindow {
    fn length(&self) -> usize {
        self.length
    }

    fn read8(&self, offset: usize) -> u8 {
        let Some(address) = self.address(offset, 1) else {
            return u8::MAX;
        };
        // SAFETY: the byte lies in the device's window (`new`'s contract), mapped.
        unsafe { (address as *const u8).read_volatile() }
    }

    fn read16(&self, offset: usize) -> u16 {
        let Some(address) = self.address(offset, 2) else {
            return u16::MAX;
        };
        // SAFETY: as in `read8`; `address` is aligned to 2.
        unsafe { (address as *const u16).read_volatile() }
    }

    fn read32(&self, offset: usize) -> u32 {
        let Some(address) = self.address(offset, 4) else {
            return u32::MAX;
        };
        // SAFETY: as in `read8`; `address` is aligned to 4.
        unsafe { (address as *const u32).read_volatile() }
    }

    fn write8(&mut self, offset: usize, value: u8) {
        if let Some(address) = self.address(offset, 1) {
            // SAFETY: as in `read8`.
            unsafe { (address as *mut u8).write_volatile(value) }
        }
    }

    fn write16(&mut self, offset: usize, value: u16) {
        if let Some(address) = self.address(offset, 2) {
            // SAFETY: as in `read16`.
            unsafe { (address as *mut u16).write_volatile(value) }
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        if let Some(address) = self.address(offset, 4) {
            // SAFETY: as in `read32`.
            unsafe { (address as *mut u32).write_volatile(value) }
        }
    }
}
