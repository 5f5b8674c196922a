//! PCI: walking configuration space, sizing BARs, reading capabilities, and the
//! registry drivers bind to by vendor, device or class.
//!
//! Configuration space is reached through the [`ConfigSpace`] trait; the platform
//! implements it with port I/O (`0xcf8`/`0xcfc`) or ECAM, and host tests with a
//! model. Everything read from a device is checked before use: a function that
//! answers nonsense (a BAR that does not decode, a capability list that loops) is
//! described or skipped, never trusted into a panic.

use alloc::vec::Vec;
use core::fmt;

/// Bus, device and function of one PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunctionAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for FunctionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Access to configuration space, 32 bits at a time at 4-byte-aligned offsets.
pub trait ConfigSpace {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32;
    fn write(&mut self, function: FunctionAddress, offset: u16, value: u32);
}

/// Registers of the type-0 and type-1 headers this module reads.
pub mod register {
    pub const VENDOR_DEVICE: u16 = 0x00;
    pub const COMMAND_STATUS: u16 = 0x04;
    pub const CLASS_REVISION: u16 = 0x08;
    pub const HEADER_TYPE: u16 = 0x0c;
    pub const BAR0: u16 = 0x10;
    pub const BUS_NUMBERS: u16 = 0x18;
    pub const CAPABILITY_POINTER: u16 = 0x34;
    pub const INTERRUPT: u16 = 0x3c;
    /// Command register bits.
    pub const COMMAND_IO: u32 = 1 << 0;
    pub const COMMAND_MEMORY: u32 = 1 << 1;
    pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
    pub const COMMAND_INTX_DISABLE: u32 = 1 << 10;
    /// Status register bit (in the upper half of `COMMAND_STATUS`).
    pub const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
}

/// Capability identifiers the kernel looks for.
pub mod capability {
    pub const MSI: u8 = 0x05;
    pub const VENDOR: u8 = 0x09;
    pub const MSI_X: u8 = 0x11;
}

/// A decoded base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    Memory {
        address: u64,
        size: u64,
        prefetchable: bool,
        wide: bool,
    },
    Io {
        port: u32,
        size: u32,
    },
}

impl Bar {
    /// Whether the firmware gave the BAR an address.
    pub fn is_assigned(&self) -> bool {
        match self {
            Bar::Memory { address, .. } => *address != 0,
            Bar::Io { port, .. } => *port != 0,
        }
    }
}

/// One PCI function as enumeration found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    pub address: FunctionAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    pub class: u8,
    pub subclass: u8,
    pub programming_interface: u8,
    pub revision: u8,
    pub header_type: u8,
    /// The legacy interrupt line the firmware assigned (0xff: none).
    pub interrupt_line: u8,
    /// INTA..INTD as 1..4; 0 when the function has no legacy interrupt.
    pub interrupt_pin: u8,
    pub bars: [Option<Bar>; 6],
    /// `(identifier, offset)` of each capability, in list order.
    pub capabilities: Vec<(u8, u8)>,
}

impl PciFunction {
    /// The offset of the first capability with `identifier`.
    pub fn capability(&self, identifier: u8) -> Option<u8> {
        self.capabilities
            .iter()
            .find(|(id, _)| *id == identifier)
            .map(|(_, offset)| *offset)
    }
}

impl fmt::Display for PciFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04x}:{:04x} class {:02x}.{:02x}.{:02x}",
            self.address,
            self.vendor_id,
            self.device_id,
            self.class,
            self.subclass,
            self.programming_interface
        )
    }
}

/// Sizes the six BARs of a type-0 header: writes all ones, reads the mask back and
/// restores the original value, with decoding off meanwhile so the device does not
/// answer at a bogus address.
pub fn size_bars(config: &mut dyn ConfigSpace, function: FunctionAddress) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    let command = config.read(function, register::COMMAND_STATUS);
    config.write(
        function,
        register::COMMAND_STATUS,
        command & 0xffff & !(register::COMMAND_IO | register::COMMAND_MEMORY),
    );
    let mut index = 0;
    while index < 6 {
        let offset = register::BAR0 + index as u16 * 4;
        let original = config.read(function, offset);
        config.write(function, offset, u32::MAX);
        let mask = config.read(function, offset);
        config.write(function, offset, original);
        if original & 1 == 1 {
            let size = (!(mask & !0x3)).wrapping_add(1) & 0xffff;
            if mask != 0 && size != 0 {
                bars[index] = Some(Bar::Io {
                    port: original & !0x3,
                    size,
                });
            }
            index += 1;
            continue;
        }
        let wide = (original >> 1) & 0x3 == 0x2;
        let prefetchable = original & 0x8 != 0;
        let mut address = (original & !0xf) as u64;
        let mut full_mask = (mask & !0xf) as u64 | 0xffff_ffff_0000_0000;
        if wide && index < 5 {
            let high_offset = offset + 4;
            let high = config.read(function, high_offset);
            config.write(function, high_offset, u32::MAX);
            let high_mask = config.read(function, high_offset);
            config.write(function, high_offset, high);
            address |= (high as u64) << 32;
            full_mask = (full_mask & 0xffff_ffff) | ((high_mask as u64) << 32);
        }
        let size = (!full_mask).wrapping_add(1);
        if mask & !0xf != 0 && size != 0 {
            bars[index] = Some(Bar::Memory {
                address,
                size,
                prefetchable,
                wide,
            });
        }
        index += if wide { 2 } else { 1 };
    }
    config.write(function, register::COMMAND_STATUS, command & 0xffff);
    bars
}

/// Walks the capability list; stops at 48 entries, which no real list reaches, so a
/// list that loops ends.
pub fn capabilities(config: &dyn ConfigSpace, function: FunctionAddress) -> Vec<(u8, u8)> {
    let mut found = Vec::new();
    if config.read(function, register::COMMAND_STATUS) & register::STATUS_CAPABILITIES == 0 {
        return found;
    }
    let mut offset = (config.read(function, register::CAPABILITY_POINTER) & 0xfc) as u8;
    while offset >= 0x40 && found.len() < 48 {
        let header = config.read(function, offset as u16);
        found.push((header as u8, offset));
        offset = ((header >> 8) & 0xfc) as u8;
    }
    found
}

fn describe(config: &mut dyn ConfigSpace, address: FunctionAddress) -> Option<PciFunction> {
    let ids = config.read(address, register::VENDOR_DEVICE);
    // All ones is the PCI answer for no function; all zeros is what an ECAM window
    // with nothing behind it reads as on some VMMs (Firecracker's). Neither is a
    // vendor: 0x0000 and 0xffff are never assigned.
    if matches!(ids & 0xffff, 0xffff | 0x0000) {
        return None;
    }
    let class = config.read(address, register::CLASS_REVISION);
    let header_type = (config.read(address, register::HEADER_TYPE) >> 16) as u8;
    let interrupt = config.read(address, register::INTERRUPT);
    let bars = if header_type & 0x7f == 0 {
        size_bars(config, address)
    } else {
        [None; 6]
    };
    Some(PciFunction {
        address,
        vendor_id: ids as u16,
        device_id: (ids >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        programming_interface: (class >> 8) as u8,
        revision: class as u8,
        header_type,
        interrupt_line: interrupt as u8,
        interrupt_pin: (interrupt >> 8) as u8,
        bars,
        capabilities: capabilities(config, address),
    })
}

/// Finds every function reachable from bus 0 through PCI-to-PCI bridges.
pub fn enumerate(config: &mut dyn ConfigSpace) -> Vec<PciFunction> {
    let mut found = Vec::new();
    let mut buses = alloc::vec![0u8];
    let mut visited = [false; 256];
    while let Some(bus) = buses.pop() {
        if core::mem::replace(&mut visited[bus as usize], true) {
            continue;
        }
        for device in 0..32 {
            let first = FunctionAddress {
                bus,
                device,
                function: 0,
            };
            let Some(zero) = describe(config, first) else {
                continue;
            };
            let functions = if zero.header_type & 0x80 != 0 { 8 } else { 1 };
            let mut here = alloc::vec![zero];
            for function in 1..functions {
                let address = FunctionAddress {
                    bus,
                    device,
                    function,
                };
                here.extend(describe(config, address));
            }
            for function in here {
                if function.header_type & 0x7f == 1 {
                    let numbers = config.read(function.address, register::BUS_NUMBERS);
                    let secondary = (numbers >> 8) as u8;
                    if secondary != 0 {
                        buses.push(secondary);
                    }
                }
                found.push(function);
            }
        }
    }
    found.sort_by_key(|function| function.address);
    found
}

/// What a driver binds to; `None` fields match anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMatch {
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    pub class: Option<(u8, u8)>,
}

impl DeviceMatch {
    pub const fn vendor_device(vendor_id: u16, device_id: u16) -> DeviceMatch {
        DeviceMatch {
            vendor_id: Some(vendor_id),
            device_id: Some(device_id),
            class: None,
        }
    }

    pub const fn class(class: u8, subclass: u8) -> DeviceMatch {
        DeviceMatch {
            vendor_id: None,
            device_id: None,
            class: Some((class, subclass)),
        }
    }

    pub fn matches(&self, function: &PciFunction) -> bool {
        self.vendor_id.is_none_or(|id| id == function.vendor_id)
            && self.device_id.is_none_or(|id| id == function.device_id)
            && self
                .class
                .is_none_or(|class| class == (function.class, function.subclass))
    }
}

/// Drivers by what they match: the first entry that matches a function wins, so
/// specific entries go before general ones.
#[derive(Debug)]
pub struct Registry<Driver> {
    entries: Vec<(DeviceMatch, Driver)>,
}

impl<Driver> Default for Registry<Driver> {
    fn default() -> Self {
        Registry {
            entries: Vec::new(),
        }
    }
}

impl<Driver: Copy> Registry<Driver> {
    pub fn register(&mut self, pattern: DeviceMatch, driver: Driver) {
        self.entries.push((pattern, driver));
    }

    /// The driver for `function`, if one matches.
    pub fn driver_for(&self, function: &PciFunction) -> Option<Driver> {
        self.entries
            .iter()
            .find(|(pattern, _)| pattern.matches(function))
            .map(|(_, driver)| *driver)
    }
}

#[cfg(test)]
#[path = "pci_tests.rs"]
mod tests;
