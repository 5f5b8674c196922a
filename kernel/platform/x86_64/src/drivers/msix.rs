//! MSI-X for virtio-pci devices on the modern transport: one vector table entry
//! aimed at the boot CPU's local APIC, every queue's interrupt routed to it.
//!
//! The `virtio-drivers` crate sets queues up but leaves each queue's MSI-X vector
//! at "none", and keeps the common configuration structure private, so this module
//! finds that structure through the device's vendor capability and writes the two
//! vector registers itself. The legacy transport is never given MSI-X: enabling it
//! moves the legacy device registers, which the legacy transport does not expect.
//!
//! Everything read from the device (table size, BAR indicator, offsets) is checked
//! against the BARs enumeration sized before any access; nothing here may touch an
//! address outside a BAR of the function it was given.

use core::fmt;

use ethos_core::pci::{Bar, ConfigSpace, PciFunction, capability};

use super::interrupts::InterruptLine;
use crate::arch::{self, PciConfig};

/// `virtio_pci_cap.cfg_type` of the common configuration structure.
const VIRTIO_PCI_CAP_COMMON_CFG: u32 = 1;
/// `virtio_pci_common_cfg`: its length and the registers used here.
const COMMON_LENGTH: u64 = 0x38;
const COMMON_MSIX_CONFIG: u64 = 0x10;
const COMMON_NUM_QUEUES: u64 = 0x12;
const COMMON_QUEUE_SELECT: u64 = 0x16;
const COMMON_QUEUE_MSIX_VECTOR: u64 = 0x1a;
const NO_VECTOR: u16 = 0xffff;
/// Message control bits, in the upper half of the capability's first dword.
const CONTROL_ENABLE: u32 = 1 << 31;
const CONTROL_FUNCTION_MASK: u32 = 1 << 30;

/// Why a device was not given MSI-X (it then uses INTx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MsixError {
    Absent,
    TableOutsideBar { bar: u8, offset: u32 },
    NoCommonConfig,
    NoSlot,
    VectorRefused { queue: u16 },
}

impl fmt::Display for MsixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsixError::Absent => write!(f, "the function has no MSI-X capability"),
            MsixError::TableOutsideBar { bar, offset } => {
                write!(
                    f,
                    "the vector table at BAR {bar} + {offset:#x} is not inside a memory BAR"
                )
            }
            MsixError::NoCommonConfig => {
                write!(f, "no virtio common configuration inside a memory BAR")
            }
            MsixError::NoSlot => write!(f, "every message-signalled vector is taken"),
            MsixError::VectorRefused { queue } => {
                write!(f, "the device refused an MSI-X vector for queue {queue}")
            }
        }
    }
}

/// A device whose MSI-X is enabled with table entry 0 programmed.
#[derive(Debug)]
pub(super) struct VirtioMsix {
    slot: u8,
    capability: u8,
    common: u64,
}

/// The physical address of `length` bytes at `offset` into memory BAR `index`.
fn bar_address(function: &PciFunction, index: u8, offset: u32, length: u64) -> Option<u64> {
    match function.bars.get(usize::from(index))? {
        Some(Bar::Memory { address, size, .. })
            if *address != 0 && u64::from(offset) + length <= *size =>
        {
            Some(address + u64::from(offset))
        }
        _ => None,
    }
}

fn common_config(config: &PciConfig, function: &PciFunction) -> Option<u64> {
    function
        .capabilities
        .iter()
        .filter(|(id, _)| *id == capability::VENDOR)
        .find_map(|&(_, offset)| {
            let offset = u16::from(offset);
            let header = config.read(function.address, offset);
            if header >> 24 != VIRTIO_PCI_CAP_COMMON_CFG || (header >> 16) & 0xff < 16 {
                return None;
            }
            let bar = config.read(function.address, offset + 4) as u8;
            let start = config.read(function.address, offset + 8);
            bar_address(function, bar, start, COMMON_LENGTH)
        })
}

fn write16(address: u64, value: u16) {
    // SAFETY: `address` is a register of the virtio common configuration, which
    // `common_config` checked lies inside a memory BAR of this function; `map_bars`
    // identity-mapped every such BAR uncached before any driver started.
    unsafe { (address as *mut u16).write_volatile(value) }
}

fn read16(address: u64) -> u16 {
    // SAFETY: as in `write16`.
    unsafe { (address as *const u16).read_volatile() }
}

/// Programs vector table entry 0 to a message slot of its own and enables MSI-X
/// (the function's INTx then stays silent). Call before the driver starts; the
/// queues are routed by [`VirtioMsix::route_queues`] once it has.
pub(super) fn enable(
    config: &mut PciConfig,
    function: &PciFunction,
) -> Result<(VirtioMsix, InterruptLine), MsixError> {
    let capability = function
        .capability(capability::MSI_X)
        .ok_or(MsixError::Absent)?;
    let table = config.read(function.address, u16::from(capability) + 4);
    let (bar, offset) = ((table & 0x7) as u8, table & !0x7);
    let entry =
        bar_address(function, bar, offset, 16).ok_or(MsixError::TableOutsideBar { bar, offset })?;
    let common = common_config(config, function).ok_or(MsixError::NoCommonConfig)?;
    let slot = InterruptLine::allocate_message_slot().ok_or(MsixError::NoSlot)?;
    let (address, data) = arch::msi_message(slot).ok_or(MsixError::NoSlot)?;
    // SAFETY: `entry` is table entry 0, 16 bytes inside a memory BAR of this
    // function (checked by `bar_address`), identity-mapped uncached by `map_bars`.
    // MSI-X is still disabled, so the device sends nothing while it is written.
    unsafe {
        let words = entry as *mut u32;
        words.write_volatile(address as u32);
        words.add(1).write_volatile((address >> 32) as u32);
        words.add(2).write_volatile(data);
        words.add(3).write_volatile(0);
    }
    let control = config.read(function.address, u16::from(capability));
    config.write(
        function.address,
        u16::from(capability),
        (control | CONTROL_ENABLE) & !CONTROL_FUNCTION_MASK,
    );
    Ok((
        VirtioMsix {
            slot,
            capability,
            common,
        },
        InterruptLine::message(slot),
    ))
}

impl VirtioMsix {
    /// Routes every queue's interrupt to table entry 0 and configuration changes to
    /// none; the device must have finished its driver's initialisation (a reset
    /// clears the routing).
    pub(super) fn route_queues(&self) -> Result<(), MsixError> {
        write16(self.common + COMMON_MSIX_CONFIG, NO_VECTOR);
        let queues = read16(self.common + COMMON_NUM_QUEUES);
        for queue in 0..queues {
            write16(self.common + COMMON_QUEUE_SELECT, queue);
            write16(self.common + COMMON_QUEUE_MSIX_VECTOR, 0);
            if read16(self.common + COMMON_QUEUE_MSIX_VECTOR) != 0 {
                return Err(MsixError::VectorRefused { queue });
            }
        }
        tracing::debug!(slot = self.slot, queues, "MSI-X routed");
        Ok(())
    }

    /// Turns MSI-X off again; the device goes back to INTx.
    pub(super) fn disable(&self, config: &mut PciConfig, function: &PciFunction) {
        let control = config.read(function.address, u16::from(self.capability));
        config.write(
            function.address,
            u16::from(self.capability),
            control & !CONTROL_ENABLE,
        );
    }
}
