//! One transport type for every virtio PCI device: modern (the crate's) or legacy
//! (this kernel's), chosen per device at probe time.

use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::PortWindow;
use crate::legacy::LegacyTransport;

/// A virtio PCI transport of either generation.
#[derive(Debug)]
pub enum VirtioTransport<P> {
    /// Capabilities in memory BARs (the crate's transport).
    Modern(PciTransport),
    /// Registers in I/O BAR 0 (virtio 0.9.5).
    Legacy(LegacyTransport<P>),
}

impl<P> VirtioTransport<P> {
    pub fn generation(&self) -> &'static str {
        match self {
            VirtioTransport::Modern(_) => "modern",
            VirtioTransport::Legacy(_) => "legacy",
        }
    }
}

macro_rules! each {
    ($self:ident, $transport:ident => $body:expr) => {
        match $self {
            VirtioTransport::Modern($transport) => $body,
            VirtioTransport::Legacy($transport) => $body,
        }
    };
}

impl<P: PortWindow> Transport for VirtioTransport<P> {
    fn device_type(&self) -> DeviceType {
        each!(self, transport => transport.device_type())
    }
    fn read_device_features(&mut self) -> u64 {
        each!(self, transport => transport.read_device_features())
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        each!(self, transport => transport.write_driver_features(driver_features))
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        each!(self, transport => transport.max_queue_size(queue))
    }
    fn notify(&mut self, queue: u16) {
        each!(self, transport => transport.notify(queue))
    }
    fn get_status(&self) -> DeviceStatus {
        each!(self, transport => transport.get_status())
    }
    fn set_status(&mut self, status: DeviceStatus) {
        each!(self, transport => transport.set_status(status))
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        each!(self, transport => transport.set_guest_page_size(guest_page_size))
    }
    fn requires_legacy_layout(&self) -> bool {
        each!(self, transport => transport.requires_legacy_layout())
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        each!(self, transport => transport.queue_set(queue, size, descriptors, driver_area, device_area))
    }
    fn queue_unset(&mut self, queue: u16) {
        each!(self, transport => transport.queue_unset(queue))
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        each!(self, transport => transport.queue_used(queue))
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        each!(self, transport => transport.ack_interrupt())
    }
    fn read_config_generation(&self) -> u32 {
        each!(self, transport => transport.read_config_generation())
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, VirtioError> {
        each!(self, transport => transport.read_config_space(offset))
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), VirtioError> {
        each!(self, transport => transport.write_config_space(offset, value))
    }
}
