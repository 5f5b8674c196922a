//! The virtio 1.x PCI transport (virtio 1.2 §4.1.4): the common configuration,
//! notification, ISR and device configuration structures, each in a memory window
//! the platform maps from the place [`crate::pci::ModernLayout`] found for it.
//!
//! Written here instead of taking `virtio-drivers`' `PciTransport`, which writes the
//! 64-bit queue addresses with single 8-byte accesses (and reaches the BARs through
//! raw pointers of its own). Every field here is accessed at the width §4.1.4.3
//! gives it — the feature words and queue addresses as 32-bit halves, low first —
//! and nothing is ever accessed 8 bytes at a time.

use alloc::vec::Vec;
use core::fmt;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::MemoryWindow;
use crate::config_space::{self, Width};
use crate::transport::{Refusal, RefusalRecord, give_up, reset};

/// `virtio_pci_common_cfg` (§4.1.4.3): its fields' offsets.
mod common {
    pub(super) const DEVICE_FEATURE_SELECT: usize = 0x00; // le32
    pub(super) const DEVICE_FEATURE: usize = 0x04; // le32, read-only
    pub(super) const DRIVER_FEATURE_SELECT: usize = 0x08; // le32
    pub(super) const DRIVER_FEATURE: usize = 0x0c; // le32
    pub(super) const DEVICE_STATUS: usize = 0x14; // u8
    pub(super) const CONFIG_GENERATION: usize = 0x15; // u8, read-only
    pub(super) const QUEUE_SELECT: usize = 0x16; // le16
    pub(super) const QUEUE_SIZE: usize = 0x18; // le16
    pub(super) const QUEUE_ENABLE: usize = 0x1c; // le16
    pub(super) const QUEUE_NOTIFY_OFF: usize = 0x1e; // le16, read-only
    pub(super) const QUEUE_DESC: usize = 0x20; // le64: two le32 halves
    pub(super) const QUEUE_DRIVER: usize = 0x28; // le64: two le32 halves
    pub(super) const QUEUE_DEVICE: usize = 0x30; // le64: two le32 halves
}

/// The common configuration structure's length in virtio 1.0 (1.2 adds two fields
/// this driver does not use).
pub(crate) const COMMON_LENGTH: usize = 0x38;

/// The windows a modern device's transport works through, as the platform mapped
/// them.
#[derive(Debug)]
pub struct ModernWindows<W> {
    /// `virtio_pci_common_cfg`.
    pub common: W,
    /// The notification structure.
    pub notify: W,
    /// `notify_off_multiplier` of the notification capability.
    pub notify_off_multiplier: u32,
    /// The ISR status byte.
    pub isr: W,
    /// The device-specific configuration, if the device has one.
    pub device: Option<W>,
}

/// Why a modern transport cannot be built over the windows given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModernError {
    /// A structure of the device is shorter than the specification's layout.
    StructureTooShort {
        structure: &'static str,
        length: usize,
        needed: usize,
    },
}

impl fmt::Display for ModernError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModernError::StructureTooShort {
                structure,
                length,
                needed,
            } => write!(
                f,
                "the {structure} structure is {length} bytes, shorter than the {needed} \
                 the specification lays out"
            ),
        }
    }
}

/// A virtio 1.x device over PCI.
#[derive(Debug)]
pub struct ModernTransport<W: MemoryWindow> {
    device_type: DeviceType,
    common: W,
    notify: W,
    notify_off_multiplier: u32,
    isr: W,
    device: Option<W>,
    /// Each set-up queue's notification offset in `notify`, by queue index (read
    /// once, at set-up, as §4.1.4.4 allows).
    notify_offsets: Vec<Option<usize>>,
    refusals: RefusalRecord,
}

impl<W: MemoryWindow> ModernTransport<W> {
    /// A transport for a device of `device_type` over `windows`, after checking
    /// that each structure is as long as the specification lays it out.
    pub fn new(
        device_type: DeviceType,
        windows: ModernWindows<W>,
    ) -> Result<ModernTransport<W>, ModernError> {
        for (structure, length, needed) in [
            (
                "common configuration",
                windows.common.length(),
                COMMON_LENGTH,
            ),
            ("notification", windows.notify.length(), 2),
            ("ISR status", windows.isr.length(), 1),
        ] {
            if length < needed {
                return Err(ModernError::StructureTooShort {
                    structure,
                    length,
                    needed,
                });
            }
        }
        Ok(ModernTransport {
            device_type,
            common: windows.common,
            notify: windows.notify,
            notify_off_multiplier: windows.notify_off_multiplier,
            isr: windows.isr,
            device: windows.device,
            notify_offsets: Vec::new(),
            refusals: RefusalRecord::default(),
        })
    }

    /// Where this transport records giving up on its device.
    pub fn refusal_record(&self) -> &RefusalRecord {
        &self.refusals
    }

    fn write64(&mut self, offset: usize, value: u64) {
        self.common.write32(offset, value as u32);
        self.common.write32(offset + 4, (value >> 32) as u32);
    }

    /// The byte offset in the notification structure of `queue`'s register, if the
    /// 16-bit write fits in the structure.
    fn notify_offset(&mut self, queue: u16) -> Option<usize> {
        self.common.write16(common::QUEUE_SELECT, queue);
        let notify_off = self.common.read16(common::QUEUE_NOTIFY_OFF);
        let offset = usize::from(notify_off).checked_mul(self.notify_off_multiplier as usize)?;
        (offset.checked_add(2)? <= self.notify.length()).then_some(offset)
    }
}

impl<W: MemoryWindow> Transport for ModernTransport<W> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        crate::read_feature_words(
            &mut self.common,
            common::DEVICE_FEATURE_SELECT,
            common::DEVICE_FEATURE,
        )
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        crate::write_feature_words(
            &mut self.common,
            common::DRIVER_FEATURE_SELECT,
            common::DRIVER_FEATURE,
            driver_features,
        );
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.common.write16(common::QUEUE_SELECT, queue);
        u32::from(self.common.read16(common::QUEUE_SIZE))
    }

    fn notify(&mut self, queue: u16) {
        let known = self
            .notify_offsets
            .get(usize::from(queue))
            .copied()
            .flatten();
        if let Some(offset) = known.or_else(|| self.notify_offset(queue)) {
            self.notify.write16(offset, queue);
        }
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(u32::from(self.common.read8(common::DEVICE_STATUS)))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.common
            .write8(common::DEVICE_STATUS, status.bits() as u8);
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {
        // PCI has no such register: queues are placed by byte address.
    }

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        let (Ok(size), Some(offset)) = (u16::try_from(size), self.notify_offset(queue)) else {
            tracing::error!(
                queue,
                size,
                "modern virtio queue: size or notification register out of range"
            );
            let record = self.refusals.clone();
            give_up(self, &record, Refusal::QueueUnusable { queue });
            return;
        };
        // `notify_offset` selected the queue.
        self.common.write16(common::QUEUE_SIZE, size);
        self.write64(common::QUEUE_DESC, descriptors);
        self.write64(common::QUEUE_DRIVER, driver_area);
        self.write64(common::QUEUE_DEVICE, device_area);
        self.common.write16(common::QUEUE_ENABLE, 1);
        let index = usize::from(queue);
        if self.notify_offsets.len() <= index {
            self.notify_offsets.resize(index + 1, None);
        }
        self.notify_offsets[index] = Some(offset);
    }

    fn queue_unset(&mut self, _queue: u16) {
        // A driver may not disable a queue (§4.1.4.3.2: it must not write 0 to
        // queue_enable); dropping the transport resets the device, which does.
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.common.write16(common::QUEUE_SELECT, queue);
        self.common.read16(common::QUEUE_ENABLE) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        // Reading the ISR byte clears it and deasserts INTx.
        InterruptStatus::from_bits_truncate(u32::from(self.isr.read8(0)))
    }

    fn read_config_generation(&self) -> u32 {
        u32::from(self.common.read8(common::CONFIG_GENERATION))
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, VirtioError> {
        let device = self
            .device
            .as_ref()
            .ok_or(VirtioError::ConfigSpaceMissing)?;
        config_space::read(offset, device.length(), |at, width| {
            config_space::read_memory(device, at, width)
        })
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), VirtioError> {
        let device = self
            .device
            .as_mut()
            .ok_or(VirtioError::ConfigSpaceMissing)?;
        let available = device.length();
        config_space::write(offset, available, &value, |at, width: Width, word| {
            config_space::write_memory(device, at, width, word)
        })
    }
}

/// Dropping the transport resets the device, so it stops using the queues whose
/// memory goes with the driver; a device given up on stays FAILED instead, for the
/// host to see.
impl<W: MemoryWindow> Drop for ModernTransport<W> {
    fn drop(&mut self) {
        if self.refusals.refusal().is_none() && reset(self).is_err() {
            tracing::warn!("virtio device did not finish its reset");
        }
    }
}
