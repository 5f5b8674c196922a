//! Port I/O for drivers: PCI configuration mechanism #1 (`0xcf8`/`0xcfc`) and
//! bounds-checked windows onto a device's I/O BAR.
//!
//! An [`IoWindow`] is the only way a driver reaches ports: its constructor is the one
//! place that vouches the range belongs to the device, and every access is checked
//! against the range. Nothing here may touch a port outside a window or the two
//! configuration ports.

use ethos_core::pci::{ConfigSpace, FunctionAddress};
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// PCI configuration space through configuration mechanism #1 (256 bytes a function).
#[derive(Clone, Copy, Debug, Default)]
pub struct PortConfigSpace;

fn config_address(function: FunctionAddress, offset: u16) -> u32 {
    (1 << 31)
        | (u32::from(function.bus) << 16)
        | (u32::from(function.device & 0x1f) << 11)
        | (u32::from(function.function & 0x7) << 8)
        | u32::from(offset & 0xfc)
}

impl ConfigSpace for PortConfigSpace {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32 {
        if offset >= 256 {
            return u32::MAX;
        }
        without_interrupts(|| {
            // SAFETY: the configuration ports of mechanism #1; the address/data pair
            // is written and read with interrupts off so no other access interleaves.
            unsafe {
                Port::<u32>::new(CONFIG_ADDRESS).write(config_address(function, offset));
                Port::<u32>::new(CONFIG_DATA).read()
            }
        })
    }

    fn write(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        if offset >= 256 {
            return;
        }
        without_interrupts(|| {
            // SAFETY: as in `read`; the callers write only registers they own.
            unsafe {
                Port::<u32>::new(CONFIG_ADDRESS).write(config_address(function, offset));
                Port::<u32>::new(CONFIG_DATA).write(value);
            }
        })
    }
}

impl virtio_drivers::transport::pci::bus::ConfigurationAccess for PortConfigSpace {
    fn read_word(
        &self,
        device_function: virtio_drivers::transport::pci::bus::DeviceFunction,
        register_offset: u8,
    ) -> u32 {
        ConfigSpace::read(self, to_address(device_function), register_offset.into())
    }

    fn write_word(
        &mut self,
        device_function: virtio_drivers::transport::pci::bus::DeviceFunction,
        register_offset: u8,
        data: u32,
    ) {
        ConfigSpace::write(
            self,
            to_address(device_function),
            register_offset.into(),
            data,
        )
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortConfigSpace
    }
}

fn to_address(function: virtio_drivers::transport::pci::bus::DeviceFunction) -> FunctionAddress {
    FunctionAddress {
        bus: function.bus,
        device: function.device,
        function: function.function,
    }
}

/// A device's range of I/O ports.
#[derive(Debug)]
pub struct IoWindow {
    base: u16,
    size: u16,
}

impl IoWindow {
    /// # Safety
    /// `[base, base + size)` must be an I/O BAR of a device that this window's owner
    /// alone drives, so that reads and writes there affect only that device.
    pub unsafe fn new(base: u16, size: u16) -> IoWindow {
        IoWindow { base, size }
    }

    fn port(&self, offset: u16, width: u16) -> Option<u16> {
        (offset.checked_add(width)? <= self.size).then(|| self.base + offset)
    }
}

/// A window is the native virtio drivers' way to their device's ports; an access
/// outside it reads all ones and writes nothing.
impl ethos_virtio::PortWindow for IoWindow {
    fn length(&self) -> u16 {
        self.size
    }

    fn read8(&self, offset: u16) -> u8 {
        let Some(port) = self.port(offset, 1) else {
            return u8::MAX;
        };
        // SAFETY: the port lies in the device's window (`new`'s contract).
        unsafe { Port::<u8>::new(port).read() }
    }

    fn read16(&self, offset: u16) -> u16 {
        let Some(port) = self.port(offset, 2) else {
            return u16::MAX;
        };
        // SAFETY: as in `read8`.
        unsafe { Port::<u16>::new(port).read() }
    }

    fn read32(&self, offset: u16) -> u32 {
        let Some(port) = self.port(offset, 4) else {
            return u32::MAX;
        };
        // SAFETY: as in `read8`.
        unsafe { Port::<u32>::new(port).read() }
    }

    fn write8(&mut self, offset: u16, value: u8) {
        if let Some(port) = self.port(offset, 1) {
            // SAFETY: as in `read8`.
            unsafe { Port::<u8>::new(port).write(value) }
        }
    }

    fn write16(&mut self, offset: u16, value: u16) {
        if let Some(port) = self.port(offset, 2) {
            // SAFETY: as in `read8`.
            unsafe { Port::<u16>::new(port).write(value) }
        }
    }

    fn write32(&mut self, offset: u16, value: u32) {
        if let Some(port) = self.port(offset, 4) {
            // SAFETY: as in `read8`.
            unsafe { Port::<u32>::new(port).write(value) }
        }
    }
}
