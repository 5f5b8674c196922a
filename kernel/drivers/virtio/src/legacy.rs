//! The legacy (virtio 0.9.5) PCI transport: registers in I/O BAR 0.
//!
//! Written here because `virtio-drivers` implements only the modern PCI transport
//! (capabilities in memory BARs), and the regression matrix must drive legacy-only
//! devices (QEMU's `disable-modern=on`) too. Queues and the device drivers still come
//! from the crate and the initialisation sequence from [`crate::transport`]; this is
//! only the register map.
//!
//! A legacy device fixes each queue's size; the driver cannot choose it. A queue the
//! crate lays out for another size would corrupt memory, so [`LegacyTransport`]
//! refuses such a queue (the device is marked failed) and drivers check
//! [`LegacyTransport::fixed_queue_size`] first to report a clear error.
//!
//! Every register is accessed at its width in the legacy layout, and the device
//! configuration at its fields' natural widths, as on the other transports.

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::PortWindow;
use crate::config_space::{self, Width};
use crate::transport::{Refusal, RefusalRecord, give_up};

mod register {
    pub(super) const DEVICE_FEATURES: u16 = 0x00;
    pub(super) const DRIVER_FEATURES: u16 = 0x04;
    pub(super) const QUEUE_ADDRESS: u16 = 0x08;
    pub(super) const QUEUE_SIZE: u16 = 0x0c;
    pub(super) const QUEUE_SELECT: u16 = 0x0e;
    pub(super) const QUEUE_NOTIFY: u16 = 0x10;
    pub(super) const STATUS: u16 = 0x12;
    pub(super) const ISR: u16 = 0x13;
    /// Device configuration, while MSI-X is off (the kernel never turns it on here).
    pub(super) const CONFIG: u16 = 0x14;
}

/// The legacy queue address register counts 4 KiB pages.
const QUEUE_ADDRESS_SHIFT: u32 = 12;

/// A legacy virtio device behind an I/O window.
#[derive(Debug)]
pub struct LegacyTransport<P> {
    device_type: DeviceType,
    window: P,
    /// Bytes of device configuration the window holds past the registers.
    config_length: usize,
    refusals: RefusalRecord,
}

impl<P: PortWindow> LegacyTransport<P> {
    /// A transport for a device of `device_type` whose I/O BAR 0 is `window`.
    pub fn new(device_type: DeviceType, window: P) -> LegacyTransport<P> {
        LegacyTransport {
            device_type,
            config_length: usize::from(window.length().saturating_sub(register::CONFIG)),
            window,
            refusals: RefusalRecord::default(),
        }
    }

    /// Where this transport records giving up on its device.
    pub fn refusal_record(&self) -> &RefusalRecord {
        &self.refusals
    }

    /// The port of `offset` into the device configuration.
    fn config_port(offset: usize) -> u16 {
        // `config_space` checked `offset` against `config_length`, itself below
        // the window's u16 length.
        register::CONFIG + offset as u16
    }

    /// The size the device gives `queue` (0: no such queue).
    pub fn fixed_queue_size(&mut self, queue: u16) -> u16 {
        self.window.write16(register::QUEUE_SELECT, queue);
        self.window.read16(register::QUEUE_SIZE)
    }
}

impl<P: PortWindow> Transport for LegacyTransport<P> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        u64::from(self.window.read32(register::DEVICE_FEATURES))
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        // Legacy devices have 32 feature bits; higher ones (VERSION_1) cannot exist.
        self.window
            .write32(register::DRIVER_FEATURES, driver_features as u32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        u32::from(self.fixed_queue_size(queue))
    }

    fn notify(&mut self, queue: u16) {
        self.window.write16(register::QUEUE_NOTIFY, queue);
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(u32::from(self.window.read8(register::STATUS)))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.window.write8(register::STATUS, status.bits() as u8);
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {
        // Legacy PCI devices assume 4 KiB pages; there is no register for it.
    }

    fn requires_legacy_layout(&self) -> bool {
        true
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        _driver_area: PhysAddr,
        _device_area: PhysAddr,
    ) {
        let fixed = u32::from(self.fixed_queue_size(queue));
        let page = descriptors >> QUEUE_ADDRESS_SHIFT;
        if size != fixed || descriptors & 0xfff != 0 || page > u64::from(u32::MAX) {
            tracing::error!(
                queue,
                size,
                fixed,
                descriptors,
                "legacy virtio queue does not fit the device"
            );
            let record = self.refusals.clone();
            give_up(self, &record, Refusal::QueueUnusable { queue });
            return;
        }
        // `fixed_queue_size` selected the queue.
        self.window.write32(register::QUEUE_ADDRESS, page as u32);
    }

    fn queue_unset(&mut self, queue: u16) {
        self.window.write16(register::QUEUE_SELECT, queue);
        self.window.write32(register::QUEUE_ADDRESS, 0);
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.window.write16(register::QUEUE_SELECT, queue);
        self.window.read32(register::QUEUE_ADDRESS) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        // Reading the ISR register acknowledges the interrupt.
        InterruptStatus::from_bits_truncate(u32::from(self.window.read8(register::ISR)))
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, VirtioError> {
        config_space::read(offset, self.config_length, |at, width| {
            let port = Self::config_port(at);
            match width {
                Width::Byte => u32::from(self.window.read8(port)),
                Width::Half => u32::from(self.window.read16(port)),
                Width::Word => self.window.read32(port),
            }
        })
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), VirtioError> {
        let window = &mut self.window;
        config_space::write(offset, self.config_length, &value, |at, width, word| {
            let port = Self::config_port(at);
            match width {
                Width::Byte => window.write8(port, word as u8),
                Width::Half => window.write16(port, word as u16),
                Width::Word => window.write32(port, word),
            }
        })
    }
}
