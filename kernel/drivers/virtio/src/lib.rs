//! The native virtio drivers: virtio-blk, virtio-net and virtio-rng as the kernel's
//! device classes (`ethos-devices`), over the `virtio-drivers` crate's device
//! drivers and queues and this crate's own transports.
//!
//! Nothing here touches the machine: a driver reaches it only through the safe
//! types a platform hands in through [`Machine`] — its DMA and address translation
//! (`virtio_drivers::Hal`), I/O-port windows ([`PortWindow`]) and memory windows
//! ([`MemoryWindow`]) checked against the device's registers, and an interrupt line
//! ([`DeviceInterrupt`]). The platform finds the devices, vouches for their windows
//! and builds the transports; this crate drives them.
//!
//! The transports are written here, not taken from `virtio-drivers`, so that every
//! register is accessed at the width the virtio specification gives it, 64-bit fields
//! as two 32-bit halves, and the device status is set one step at a time and checked
//! after FEATURES_OK (hypervisors that enforce the specification, Firecracker among
//! them, refuse the crate's own transports). The crate's device drivers and queues
//! are used unchanged over them.
//!
//! - [`devices`]: the class adapters;
//! - [`transport`]: one transport type for every device, and the initialisation
//!   sequence;
//! - [`modern`]: the virtio 1.x PCI transport (structures in memory BARs);
//! - [`legacy`]: the legacy (virtio 0.9.5) PCI transport (I/O BAR 0);
//! - [`mmio`]: the virtio-mmio transport (versions 2 and legacy 1);
//! - [`pci`]: what virtio needs from PCI: device types and where a modern device's
//!   structures are;
//! - [`net_queues`]: what the network driver drives its device's queues through,
//!   which the machine chooses (sending without waiting is a platform's, as it takes
//!   `unsafe` code).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod config_space;
pub mod devices;
pub mod legacy;
pub mod mmio;
pub mod modern;
pub mod net_queues;
pub mod pci;
pub mod transport;

use core::fmt::Debug;

pub use devices::{StartError, VirtioBlock, VirtioEntropy, VirtioNetwork};
pub use legacy::LegacyTransport;
pub use mmio::{MmioError, MmioTransport, MmioVersion};
pub use modern::{ModernError, ModernTransport, ModernWindows};
pub use net_queues::{NetQueues, ReceiveError, WaitingNetQueues};
pub use transport::{Refusal, RefusalRecord, VirtioTransport};
use virtio_drivers::transport::InterruptStatus;

/// A device's window of I/O ports. Offsets are from the window's start; an access
/// outside the window reads all ones and writes nothing.
pub trait PortWindow: Debug {
    /// The window's length in ports.
    fn length(&self) -> u16;
    fn read8(&self, offset: u16) -> u8;
    fn read16(&self, offset: u16) -> u16;
    fn read32(&self, offset: u16) -> u32;
    fn write8(&mut self, offset: u16, value: u8);
    fn write16(&mut self, offset: u16, value: u16);
    fn write32(&mut self, offset: u16, value: u32);
}

/// A device's window of memory-mapped registers: one virtio structure of a PCI BAR,
/// or a virtio-mmio device's whole register block. Offsets are from the window's
/// start. Each access is a single access of exactly its width; there is no 64-bit
/// access, since virtio never needs one. An access that is not wholly inside the
/// window, or whose offset is not a multiple of its width, reads all ones and writes
/// nothing.
pub trait MemoryWindow: Debug {
    /// The window's length in bytes.
    fn length(&self) -> usize;
    fn read8(&self, offset: usize) -> u8;
    fn read16(&self, offset: usize) -> u16;
    fn read32(&self, offset: usize) -> u32;
    fn write8(&mut self, offset: usize, value: u8);
    fn write16(&mut self, offset: usize, value: u16);
    fn write32(&mut self, offset: usize, value: u32);
}

/// How a driver tells the platform it has serviced its device's interrupt.
pub trait DeviceInterrupt: Copy + Debug {
    /// Acknowledges the device with `acknowledge`, then lets its line fire again.
    fn service(self, acknowledge: impl FnOnce() -> InterruptStatus);
}

/// What a platform gives the drivers: its DMA and address translation, its
/// I/O-port and memory windows and its interrupt lines.
pub trait Machine {
    /// DMA memory and address translation for `virtio-drivers`.
    type Hal: virtio_drivers::Hal;
    /// A device's I/O-port window.
    type Ports: PortWindow;
    /// A device's window of memory-mapped registers.
    type Memory: MemoryWindow;
    /// A device's interrupt.
    type Interrupt: DeviceInterrupt;
    /// A virtio-net device's queues: [`net_queues::WaitingNetQueues`], or the
    /// platform's own that sends without waiting.
    type NetQueues: net_queues::NetQueues<Transport = VirtioTransport<Self::Ports, Self::Memory>>;
}

/// The 64 feature bits behind a select register and a 32-bit value register, as
/// the modern PCI and the virtio-mmio transports both lay them out: word 0, then
/// word 1.
pub(crate) fn read_feature_words(
    window: &mut impl MemoryWindow,
    select: usize,
    value: usize,
) -> u64 {
    window.write32(select, 0);
    let low = window.read32(value);
    window.write32(select, 1);
    let high = window.read32(value);
    u64::from(low) | (u64::from(high) << 32)
}

/// Writes 64 feature bits as [`read_feature_words`] reads them.
pub(crate) fn write_feature_words(
    window: &mut impl MemoryWindow,
    select: usize,
    value: usize,
    features: u64,
) {
    window.write32(select, 0);
    window.write32(value, features as u32);
    window.write32(select, 1);
    window.write32(value, (features >> 32) as u32);
}
