//! The native virtio drivers: virtio-blk, virtio-net and virtio-rng as the kernel's
//! device classes (`ethos-devices`), over the `virtio-drivers` crate's device
//! drivers and either PCI transport.
//!
//! Nothing here touches the machine: a driver reaches it only through the safe
//! types a platform hands in through [`Machine`] — its DMA and address translation
//! (`virtio_drivers::Hal`), an I/O-port window checked against the device's BAR
//! ([`PortWindow`]) and an interrupt line ([`DeviceInterrupt`]). The platform finds
//! the devices, vouches for their windows and builds the transports; this crate
//! drives them.
//!
//! - [`devices`]: the class adapters;
//! - [`transport`]: one transport type for modern and legacy devices;
//! - [`legacy`]: the legacy (virtio 0.9.5) register map, which `virtio-drivers`
//!   lacks.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod devices;
pub mod legacy;
pub mod transport;

use core::fmt::Debug;

pub use devices::{VirtioBlock, VirtioEntropy, VirtioNetwork};
pub use legacy::LegacyTransport;
pub use transport::VirtioTransport;
use virtio_drivers::transport::InterruptStatus;

/// A device's window of I/O ports. Offsets are from the window's start; an access
/// outside the window reads all ones and writes nothing.
pub trait PortWindow: Debug {
    fn read8(&self, offset: u16) -> u8;
    fn read16(&self, offset: u16) -> u16;
    fn read32(&self, offset: u16) -> u32;
    fn write8(&mut self, offset: u16, value: u8);
    fn write16(&mut self, offset: u16, value: u16);
    fn write32(&mut self, offset: u16, value: u32);
}

/// How a driver tells the platform it has serviced its device's interrupt.
pub trait DeviceInterrupt: Copy + Debug {
    /// Acknowledges the device with `acknowledge`, then lets its line fire again.
    fn service(self, acknowledge: impl FnOnce() -> InterruptStatus);
}

/// What a platform gives the drivers: its DMA and address translation, its
/// I/O-port windows and its interrupt lines.
pub trait Machine {
    /// DMA memory and address translation for `virtio-drivers`.
    type Hal: virtio_drivers::Hal;
    /// A device's I/O-port window.
    type Ports: PortWindow;
    /// A device's interrupt.
    type Interrupt: DeviceInterrupt;
}
