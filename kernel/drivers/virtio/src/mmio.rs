//! The virtio-mmio transport (virtio 1.2 §4.2): one block of 32-bit registers and
//! the device configuration at 0x100, in version 2's layout or legacy version 1's
//! (§4.2.4, queues placed by page number).
//!
//! Built by whoever finds virtio-mmio devices (from firmware tables or the command
//! line) with [`MmioTransport::new`] over a window of the device's whole region;
//! the constructor refuses a region that does not hold a virtio device. Every
//! control register is accessed with one aligned 32-bit access (§4.2.2.2), 64-bit
//! queue addresses as their two 32-bit registers, and the device configuration at
//! its fields' natural widths.

use core::fmt;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::MemoryWindow;
use crate::config_space;
use crate::transport::{Refusal, RefusalRecord, give_up, reset};

/// The control registers (§4.2.2 table 4.1, §4.2.4 for the legacy ones).
mod register {
    pub(super) const MAGIC_VALUE: usize = 0x000;
    pub(super) const VERSION: usize = 0x004;
    pub(super) const DEVICE_ID: usize = 0x008;
    pub(super) const DEVICE_FEATURES: usize = 0x010;
    pub(super) const DEVICE_FEATURES_SELECT: usize = 0x014;
    pub(super) const DRIVER_FEATURES: usize = 0x020;
    pub(super) const DRIVER_FEATURES_SELECT: usize = 0x024;
    /// Legacy only.
    pub(super) const GUEST_PAGE_SIZE: usize = 0x028;
    pub(super) const QUEUE_SELECT: usize = 0x030;
    pub(super) const QUEUE_SIZE_MAX: usize = 0x034;
    pub(super) const QUEUE_SIZE: usize = 0x038;
    /// Legacy only.
    pub(super) const QUEUE_ALIGN: usize = 0x03c;
    /// Legacy only.
    pub(super) const QUEUE_PAGE_NUMBER: usize = 0x040;
    /// Version 2 only.
    pub(super) const QUEUE_READY: usize = 0x044;
    pub(super) const QUEUE_NOTIFY: usize = 0x050;
    pub(super) const INTERRUPT_STATUS: usize = 0x060;
    pub(super) const INTERRUPT_ACKNOWLEDGE: usize = 0x064;
    pub(super) const STATUS: usize = 0x070;
    /// Version 2 only, each a low and a high 32-bit register.
    pub(super) const QUEUE_DESCRIPTORS: usize = 0x080;
    pub(super) const QUEUE_DRIVER: usize = 0x090;
    pub(super) const QUEUE_DEVICE: usize = 0x0a0;
    /// Version 2 only.
    pub(super) const CONFIG_GENERATION: usize = 0x0fc;
    /// The device configuration starts here.
    pub(super) const CONFIG: usize = 0x100;
}

/// "virt", little-endian.
pub const MAGIC: u32 = 0x7472_6976;

/// The register layout a virtio-mmio device uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioVersion {
    /// Version 1: the legacy interface, queues placed by page number.
    Legacy,
    /// Version 2: virtio 1.x.
    Modern,
}

/// Why a region is not a usable virtio-mmio device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioError {
    /// The region is shorter than the control registers.
    RegionTooSmall { length: usize },
    /// The first register is not the magic value "virt".
    BadMagic { found: u32 },
    /// The layout version is neither 1 (legacy) nor 2.
    UnsupportedVersion { version: u32 },
    /// Device ID 0: a placeholder with no device behind it (§4.2.2.1).
    NoDevice,
    /// A device ID this driver does not know.
    UnknownDevice { device_id: u32 },
}

impl fmt::Display for MmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmioError::RegionTooSmall { length } => write!(
                f,
                "the region is {length:#x} bytes, shorter than virtio-mmio's registers \
                 ({:#x})",
                register::CONFIG
            ),
            MmioError::BadMagic { found } => write!(
                f,
                "no virtio-mmio device: magic value {found:#010x}, not {MAGIC:#010x}"
            ),
            MmioError::UnsupportedVersion { version } => {
                write!(f, "virtio-mmio version {version}, neither 1 (legacy) nor 2")
            }
            MmioError::NoDevice => write!(f, "a virtio-mmio slot with no device (device ID 0)"),
            MmioError::UnknownDevice { device_id } => {
                write!(
                    f,
                    "virtio-mmio device ID {device_id} is not a known device type"
                )
            }
        }
    }
}

/// A virtio-mmio device.
#[derive(Debug)]
pub struct MmioTransport<W: MemoryWindow> {
    window: W,
    version: MmioVersion,
    device_type: DeviceType,
    refusals: RefusalRecord,
}

impl<W: MemoryWindow> MmioTransport<W> {
    /// A transport over `window`, the device's whole region: checks the magic
    /// value, the version and the device ID before anything is written.
    pub fn new(window: W) -> Result<MmioTransport<W>, MmioError> {
        let length = window.length();
        if length < register::CONFIG {
            return Err(MmioError::RegionTooSmall { length });
        }
        let found = window.read32(register::MAGIC_VALUE);
        if found != MAGIC {
            return Err(MmioError::BadMagic { found });
        }
        let version = match window.read32(register::VERSION) {
            1 => MmioVersion::Legacy,
            2 => MmioVersion::Modern,
            version => return Err(MmioError::UnsupportedVersion { version }),
        };
        let device_type = match window.read32(register::DEVICE_ID) {
            0 => return Err(MmioError::NoDevice),
            device_id => DeviceType::try_from(device_id)
                .map_err(|_| MmioError::UnknownDevice { device_id })?,
        };
        Ok(MmioTransport {
            window,
            version,
            device_type,
            refusals: RefusalRecord::default(),
        })
    }

    /// The register layout the device uses.
    pub fn version(&self) -> MmioVersion {
        self.version
    }

    /// Where this transport records giving up on its device.
    pub fn refusal_record(&self) -> &RefusalRecord {
        &self.refusals
    }

    fn write64(&mut self, low_register: usize, value: u64) {
        self.window.write32(low_register, value as u32);
        self.window.write32(low_register + 4, (value >> 32) as u32);
    }

    /// The page number of a legacy queue at `descriptors`, if the crate laid it out
    /// as version 1 places it: page-aligned, the available ring right after the
    /// descriptors, the used ring on the next page boundary (§2.7.2 legacy layout).
    fn legacy_page_number(
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) -> Option<u32> {
        let page = PAGE_SIZE as u64;
        let size = u64::from(size);
        let available_end = descriptors + 16 * size + 2 * (size + 3);
        let laid_out = descriptors.is_multiple_of(page)
            && driver_area == descriptors + 16 * size
            && device_area == available_end.next_multiple_of(page);
        laid_out
            .then(|| u32::try_from(descriptors / page).ok())
            .flatten()
    }
}

impl<W: MemoryWindow> Transport for MmioTransport<W> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        crate::read_feature_words(
            &mut self.window,
            register::DEVICE_FEATURES_SELECT,
            register::DEVICE_FEATURES,
        )
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        crate::write_feature_words(
            &mut self.window,
            register::DRIVER_FEATURES_SELECT,
            register::DRIVER_FEATURES,
            driver_features,
        );
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.window
            .write32(register::QUEUE_SELECT, u32::from(queue));
        self.window.read32(register::QUEUE_SIZE_MAX)
    }

    fn notify(&mut self, queue: u16) {
        self.window
            .write32(register::QUEUE_NOTIFY, u32::from(queue));
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.window.read32(register::STATUS))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.window.write32(register::STATUS, status.bits());
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        if self.version == MmioVersion::Legacy {
            self.window
                .write32(register::GUEST_PAGE_SIZE, guest_page_size);
        }
    }

    fn requires_legacy_layout(&self) -> bool {
        self.version == MmioVersion::Legacy
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        match self.version {
            MmioVersion::Legacy => {
                let Some(page_number) =
                    Self::legacy_page_number(size, descriptors, driver_area, device_area)
                else {
                    tracing::error!(
                        queue,
                        size,
                        descriptors,
                        "legacy virtio-mmio queue is not laid out by pages below 16 TiB"
                    );
                    let record = self.refusals.clone();
                    give_up(self, &record, Refusal::QueueUnusable { queue });
                    return;
                };
                self.window
                    .write32(register::QUEUE_SELECT, u32::from(queue));
                self.window.write32(register::QUEUE_SIZE, size);
                self.window.write32(register::QUEUE_ALIGN, PAGE_SIZE as u32);
                self.window
                    .write32(register::QUEUE_PAGE_NUMBER, page_number);
            }
            MmioVersion::Modern => {
                self.window
                    .write32(register::QUEUE_SELECT, u32::from(queue));
                self.window.write32(register::QUEUE_SIZE, size);
                self.write64(register::QUEUE_DESCRIPTORS, descriptors);
                self.write64(register::QUEUE_DRIVER, driver_area);
                self.write64(register::QUEUE_DEVICE, device_area);
                self.window.write32(register::QUEUE_READY, 1);
            }
        }
    }

    fn queue_unset(&mut self, queue: u16) {
        // A legacy driver stops using a queue by writing page number 0 (§4.2.4);
        // version 2 has no such step before 1.2's queue reset, and dropping the
        // transport resets the device, which stops every queue.
        if self.version == MmioVersion::Legacy {
            self.window
                .write32(register::QUEUE_SELECT, u32::from(queue));
            self.window.write32(register::QUEUE_PAGE_NUMBER, 0);
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.window
            .write32(register::QUEUE_SELECT, u32::from(queue));
        let register = match self.version {
            MmioVersion::Legacy => register::QUEUE_PAGE_NUMBER,
            MmioVersion::Modern => register::QUEUE_READY,
        };
        self.window.read32(register) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        let pending = self.window.read32(register::INTERRUPT_STATUS);
        if pending != 0 {
            self.window
                .write32(register::INTERRUPT_ACKNOWLEDGE, pending);
        }
        InterruptStatus::from_bits_truncate(pending)
    }

    fn read_config_generation(&self) -> u32 {
        match self.version {
            // Legacy devices have no generation; their configuration is read as is.
            MmioVersion::Legacy => 0,
            MmioVersion::Modern => self.window.read32(register::CONFIG_GENERATION),
        }
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, VirtioError> {
        let available = self.window.length() - register::CONFIG;
        config_space::read(offset, available, |at, width| {
            config_space::read_memory(&self.window, register::CONFIG + at, width)
        })
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), VirtioError> {
        let available = self.window.length() - register::CONFIG;
        let window = &mut self.window;
        config_space::write(offset, available, &value, |at, width, word| {
            config_space::write_memory(window, register::CONFIG + at, width, word)
        })
    }
}

/// Dropping the transport resets the device, so it stops using the queues whose
/// memory goes with the driver; a device given up on stays FAILED instead, for the
/// host to see.
impl<W: MemoryWindow> Drop for MmioTransport<W> {
    fn drop(&mut self) {
        if self.refusals.refusal().is_none() && reset(self).is_err() {
            tracing::warn!("virtio-mmio device did not finish its reset");
        }
    }
}
