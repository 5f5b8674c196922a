//! What virtio needs from PCI (virtio 1.2 §4.1.2, §4.1.4): the device type of a
//! virtio function, and where a modern device's structures lie — read from its
//! vendor-specific capabilities and checked against the BARs enumeration sized.
//!
//! Nothing here touches a device: it reads configuration space and answers with
//! physical ranges, which the platform maps and turns into windows. A range is only
//! ever inside a memory BAR the function has been assigned.

use core::fmt;

use ethos_core::pci::{Bar, ConfigSpace, PciFunction, capability};
use virtio_drivers::transport::DeviceType;

use crate::modern::COMMON_LENGTH;

/// Virtio's PCI vendor ID.
pub const VENDOR_ID: u16 = 0x1af4;

/// `cfg_type` of the structures this driver uses (§4.1.4).
mod structure {
    pub(super) const COMMON: u8 = 1;
    pub(super) const NOTIFY: u8 = 2;
    pub(super) const ISR: u8 = 3;
    pub(super) const DEVICE: u8 = 4;
}

/// `virtio_pci_cap`: the offsets of its fields past the header dword.
const CAPABILITY_BAR: u16 = 4;
const CAPABILITY_OFFSET: u16 = 8;
const CAPABILITY_LENGTH: u16 = 12;
/// `virtio_pci_notify_cap.notify_off_multiplier`.
const CAPABILITY_NOTIFY_MULTIPLIER: u16 = 16;
/// A `virtio_pci_cap` is 16 bytes, a `virtio_pci_notify_cap` 20.
const CAPABILITY_MINIMUM: u8 = 16;
const NOTIFY_CAPABILITY_MINIMUM: u8 = 20;

/// The virtio device type of a virtio PCI function's device ID: a transitional ID
/// (0x1000 + legacy number) or 0x1040 + the device type.
pub fn device_type(device_id: u16) -> Option<DeviceType> {
    match device_id {
        0x1000 => Some(DeviceType::Network),
        0x1001 => Some(DeviceType::Block),
        0x1002 => Some(DeviceType::MemoryBalloon),
        0x1003 => Some(DeviceType::Console),
        0x1004 => Some(DeviceType::ScsiHost),
        0x1005 => Some(DeviceType::EntropySource),
        0x1009 => Some(DeviceType::_9P),
        0x1041..=0x107f => DeviceType::try_from(device_id - 0x1040).ok(),
        _ => None,
    }
}

/// A physical range of device registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub address: u64,
    pub length: usize,
}

/// Where a modern device's structures are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModernLayout {
    pub common: Region,
    pub notify: Region,
    pub notify_off_multiplier: u32,
    pub isr: Region,
    pub device: Option<Region>,
}

/// Why a function has no usable modern transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// No usable capability of a structure the transport needs: none at all (a
    /// legacy-only device), or none inside an assigned memory BAR.
    Missing { structure: &'static str },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Missing { structure } => write!(
                f,
                "no virtio {structure} capability inside an assigned memory BAR"
            ),
        }
    }
}

/// One `virtio_pci_cap` as read from configuration space.
struct Capability {
    kind: u8,
    bar: u8,
    offset: u32,
    length: u32,
    notify_off_multiplier: Option<u32>,
}

fn read_capability(
    config: &dyn ConfigSpace,
    function: &PciFunction,
    offset: u8,
) -> Option<Capability> {
    let at = |field: u16| config.read(function.address, u16::from(offset) + field);
    let header = at(0);
    let (length, kind) = ((header >> 16) as u8, (header >> 24) as u8);
    if length < CAPABILITY_MINIMUM {
        return None;
    }
    Some(Capability {
        kind,
        bar: at(CAPABILITY_BAR) as u8,
        offset: at(CAPABILITY_OFFSET),
        length: at(CAPABILITY_LENGTH),
        notify_off_multiplier: (length >= NOTIFY_CAPABILITY_MINIMUM)
            .then(|| at(CAPABILITY_NOTIFY_MULTIPLIER)),
    })
}

/// The physical range of a capability, if it lies inside an assigned memory BAR
/// of `function` and is at least `minimum` bytes.
fn region(function: &PciFunction, capability: &Capability, minimum: usize) -> Option<Region> {
    let Some(Bar::Memory { address, size, .. }) =
        *function.bars.get(usize::from(capability.bar))?
    else {
        return None;
    };
    let end = u64::from(capability.offset).checked_add(u64::from(capability.length))?;
    let length = usize::try_from(capability.length).ok()?;
    (address != 0 && end <= size && length >= minimum).then(|| Region {
        address: address + u64::from(capability.offset),
        length,
    })
}

impl ModernLayout {
    /// Reads `function`'s vendor capabilities and takes, for each structure, the
    /// first one that lies inside an assigned memory BAR and is long enough
    /// (§4.1.4: a driver uses the first of each type it can), the notification
    /// structure only from a capability that carries its multiplier.
    pub fn find(
        config: &dyn ConfigSpace,
        function: &PciFunction,
    ) -> Result<ModernLayout, LayoutError> {
        let (mut common, mut notify, mut isr, mut device) = (None, None, None, None);
        let vendor = function
            .capabilities
            .iter()
            .filter(|(identifier, _)| *identifier == capability::VENDOR);
        for &(_, offset) in vendor {
            let Some(capability) = read_capability(config, function, offset) else {
                continue;
            };
            match capability.kind {
                structure::COMMON if common.is_none() => {
                    common = region(function, &capability, COMMON_LENGTH);
                }
                structure::NOTIFY if notify.is_none() => {
                    notify = capability.notify_off_multiplier.and_then(|multiplier| {
                        region(function, &capability, 2).map(|region| (region, multiplier))
                    });
                }
                structure::ISR if isr.is_none() => isr = region(function, &capability, 1),
                structure::DEVICE if device.is_none() => {
                    device = region(function, &capability, 1);
                }
                _ => {}
            }
        }
        let missing = |structure| LayoutError::Missing { structure };
        let common = common.ok_or(missing("common configuration"))?;
        let (notify, notify_off_multiplier) = notify.ok_or(missing("notification"))?;
        let isr = isr.ok_or(missing("ISR status"))?;
        Ok(ModernLayout {
            common,
            notify,
            notify_off_multiplier,
            isr,
            device,
        })
    }
}

#[cfg(test)]
mod tests;
