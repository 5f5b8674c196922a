//! PCI configuration space through ECAM, the memory-mapped window the ACPI MCFG
//! describes (4 KiB a function), and the choice between it and port I/O.
//!
//! The window is identity-mapped uncached once, when [`PciConfig::for_platform`]
//! first finds it; afterwards accesses are plain 32-bit volatile loads and stores.
//! Nothing here may touch an address outside the mapped window: every access is
//! bounds-checked by [`EcamRegion::register_address`].

use ethos_core::acpi::EcamRegion;
use ethos_core::frames::FrameBitmap;
use ethos_core::pci::{ConfigSpace, FunctionAddress};
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

use super::paging::{PagingError, map_device_memory};
use super::port_io::PortConfigSpace;

/// How configuration space is reached on this machine.
#[derive(Clone, Copy, Debug)]
pub enum PciConfig {
    Port(PortConfigSpace),
    /// A window that [`PciConfig::for_platform`] mapped.
    Ecam(EcamRegion),
}

impl PciConfig {
    /// ECAM through `region` when given (mapping its window uncached), else port I/O.
    pub fn for_platform(
        region: Option<EcamRegion>,
        frames: &mut FrameBitmap<'_>,
    ) -> Result<PciConfig, PagingError> {
        match region {
            Some(region) => {
                map_device_memory(region.window_start(), region.window_length(), frames)?;
                Ok(PciConfig::Ecam(region))
            }
            None => Ok(PciConfig::Port(PortConfigSpace)),
        }
    }

    /// The access method's name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            PciConfig::Port(_) => "port-io",
            PciConfig::Ecam(_) => "ecam",
        }
    }

    fn ecam_address(region: &EcamRegion, function: FunctionAddress, offset: u16) -> Option<u64> {
        region.register_address(
            function.bus,
            function.device,
            function.function,
            offset & !3,
        )
    }
}

impl ConfigSpace for PciConfig {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32 {
        match self {
            PciConfig::Port(port) => port.read(function, offset),
            PciConfig::Ecam(region) => match Self::ecam_address(region, function, offset) {
                // SAFETY: the address lies inside the ECAM window, which
                // `for_platform` identity-mapped uncached; it is 4-byte aligned.
                Some(address) => unsafe { (address as *const u32).read_volatile() },
                None => u32::MAX,
            },
        }
    }

    fn write(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        match self {
            PciConfig::Port(port) => port.write(function, offset, value),
            PciConfig::Ecam(region) => {
                if let Some(address) = Self::ecam_address(region, function, offset) {
                    // SAFETY: as in `read`; callers write only registers they own.
                    unsafe { (address as *mut u32).write_volatile(value) }
                }
            }
        }
    }
}

impl ConfigurationAccess for PciConfig {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        ConfigSpace::read(self, to_address(device_function), register_offset.into())
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        ConfigSpace::write(
            self,
            to_address(device_function),
            register_offset.into(),
            data,
        )
    }

    unsafe fn unsafe_clone(&self) -> Self {
        *self
    }
}

fn to_address(function: DeviceFunction) -> FunctionAddress {
    FunctionAddress {
        bus: function.bus,
        device: function.device,
        function: function.function,
    }
}
