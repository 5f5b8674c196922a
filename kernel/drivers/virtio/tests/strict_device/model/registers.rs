//! The model's three register layouts — virtio 1.x PCI's structures (§4.1.4),
//! legacy PCI's I/O registers (§4.1.4.8) and virtio-mmio's block (§4.2.2, §4.2.4)
//! — and the windows the transports under test reach them through.
//!
//! Each layout is a table of (offset, width, register, direction); an access that
//! matches no row exactly is a violation.

use ethos_virtio::{MemoryWindow, PortWindow};

use super::{Device, Interface, NOTIFY_OFF_MULTIPLIER, Shared};

/// Which part of the device a window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Structure {
    /// PCI: `virtio_pci_common_cfg`.
    Common,
    /// PCI: the notification structure.
    Notify,
    /// PCI: the ISR status byte.
    Isr,
    /// PCI: the device configuration.
    DeviceConfig,
    /// Legacy PCI: I/O BAR 0.
    LegacyPorts,
    /// Virtio-mmio: the whole register block and the configuration after it.
    Mmio,
}

impl Structure {
    fn length(self, device: &Device) -> usize {
        match self {
            Structure::Common => 0x38,
            Structure::Notify => (device.queues.len() + 1) * NOTIFY_OFF_MULTIPLIER as usize,
            Structure::Isr => 1,
            Structure::DeviceConfig => device.config.len(),
            Structure::LegacyPorts => 0x14 + device.config.len(),
            Structure::Mmio => 0x100 + device.config.len(),
        }
    }
}

/// A read, or a write of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Half {
    Low,
    High,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    MagicValue,
    Version,
    DeviceId,
    VendorId,
    DeviceFeatureSelect,
    DeviceFeature,
    DriverFeatureSelect,
    DriverFeature,
    /// Legacy PCI: the 32 feature bits, no select.
    LegacyDeviceFeatures,
    LegacyDriverFeatures,
    MsixConfig,
    NumQueues,
    Status,
    ConfigGeneration,
    QueueSelect,
    QueueSizeMax,
    QueueSize,
    QueueMsixVector,
    /// PCI's queue_enable: 1 only.
    QueueEnable,
    /// Virtio-mmio's QueueReady: 1 or 0.
    QueueReady,
    QueueNotifyOff,
    QueueDescriptors(Half),
    QueueDriver(Half),
    QueueDevice(Half),
    GuestPageSize,
    QueueAlign,
    QueuePageNumber,
    QueueNotify,
    InterruptStatus,
    InterruptAcknowledge,
    /// PCI's ISR byte: reading clears it.
    Isr,
}

use Direction::{ReadOnly, ReadWrite, WriteOnly};
use Half::{High, Low};
use Register as R;

type Row = (usize, usize, Register, Direction);

const COMMON: &[Row] = &[
    (0x00, 4, R::DeviceFeatureSelect, ReadWrite),
    (0x04, 4, R::DeviceFeature, ReadOnly),
    (0x08, 4, R::DriverFeatureSelect, ReadWrite),
    (0x0c, 4, R::DriverFeature, ReadWrite),
    (0x10, 2, R::MsixConfig, ReadWrite),
    (0x12, 2, R::NumQueues, ReadOnly),
    (0x14, 1, R::Status, ReadWrite),
    (0x15, 1, R::ConfigGeneration, ReadOnly),
    (0x16, 2, R::QueueSelect, ReadWrite),
    (0x18, 2, R::QueueSize, ReadWrite),
    (0x1a, 2, R::QueueMsixVector, ReadWrite),
    (0x1c, 2, R::QueueEnable, ReadWrite),
    (0x1e, 2, R::QueueNotifyOff, ReadOnly),
    (0x20, 4, R::QueueDescriptors(Low), ReadWrite),
    (0x24, 4, R::QueueDescriptors(High), ReadWrite),
    (0x28, 4, R::QueueDriver(Low), ReadWrite),
    (0x2c, 4, R::QueueDriver(High), ReadWrite),
    (0x30, 4, R::QueueDevice(Low), ReadWrite),
    (0x34, 4, R::QueueDevice(High), ReadWrite),
];

const LEGACY_PORTS: &[Row] = &[
    (0x00, 4, R::LegacyDeviceFeatures, ReadOnly),
    (0x04, 4, R::LegacyDriverFeatures, ReadWrite),
    (0x08, 4, R::QueuePageNumber, ReadWrite),
    (0x0c, 2, R::QueueSizeMax, ReadOnly),
    (0x0e, 2, R::QueueSelect, ReadWrite),
    (0x10, 2, R::QueueNotify, WriteOnly),
    (0x12, 1, R::Status, ReadWrite),
    (0x13, 1, R::Isr, ReadOnly),
];

const MMIO: &[Row] = &[
    (0x000, 4, R::MagicValue, ReadOnly),
    (0x004, 4, R::Version, ReadOnly),
    (0x008, 4, R::DeviceId, ReadOnly),
    (0x00c, 4, R::VendorId, ReadOnly),
    (0x010, 4, R::DeviceFeature, ReadOnly),
    (0x014, 4, R::DeviceFeatureSelect, WriteOnly),
    (0x020, 4, R::DriverFeature, WriteOnly),
    (0x024, 4, R::DriverFeatureSelect, WriteOnly),
    (0x030, 4, R::QueueSelect, WriteOnly),
    (0x034, 4, R::QueueSizeMax, ReadOnly),
    (0x038, 4, R::QueueSize, WriteOnly),
    (0x050, 4, R::QueueNotify, WriteOnly),
    (0x060, 4, R::InterruptStatus, ReadOnly),
    (0x064, 4, R::InterruptAcknowledge, WriteOnly),
    (0x070, 4, R::Status, ReadWrite),
];

const MMIO_LEGACY_ONLY: &[Row] = &[
    (0x028, 4, R::GuestPageSize, WriteOnly),
    (0x03c, 4, R::QueueAlign, WriteOnly),
    (0x040, 4, R::QueuePageNumber, ReadWrite),
];

const MMIO_VERSION_2_ONLY: &[Row] = &[
    (0x044, 4, R::QueueReady, ReadWrite),
    (0x080, 4, R::QueueDescriptors(Low), WriteOnly),
    (0x084, 4, R::QueueDescriptors(High), WriteOnly),
    (0x090, 4, R::QueueDriver(Low), WriteOnly),
    (0x094, 4, R::QueueDriver(High), WriteOnly),
    (0x0a0, 4, R::QueueDevice(Low), WriteOnly),
    (0x0a4, 4, R::QueueDevice(High), WriteOnly),
    (0x0fc, 4, R::ConfigGeneration, ReadOnly),
];

fn set_half(field: &mut u64, half: Half, value: u32) {
    *field = match half {
        Low => (*field & !0xffff_ffff) | u64::from(value),
        High => (*field & 0xffff_ffff) | (u64::from(value) << 32),
    };
}

fn get_half(field: u64, half: Half) -> u32 {
    match half {
        Low => field as u32,
        High => (field >> 32) as u32,
    }
}

impl Device {
    /// One access by the driver: `width` bytes at `offset` into `structure`. The
    /// windows make every access through here; a test may make one the windows
    /// cannot (an 8-byte one).
    pub(crate) fn access(
        &mut self,
        structure: Structure,
        offset: usize,
        width: usize,
        access: Access,
    ) -> u64 {
        let all_ones = u64::MAX >> (64 - 8 * width.clamp(1, 8));
        if ![1, 2, 4].contains(&width) {
            self.refuse(format!(
                "invalid data length for virtio access: len {width} at {offset:#x} of \
                 {structure:?}"
            ));
            return all_ones;
        }
        let length = structure.length(self);
        if !offset.is_multiple_of(width) || offset + width > length {
            self.refuse(format!(
                "{width}-byte access at {offset:#x} of {structure:?} ({length} bytes) is \
                 misaligned or outside it"
            ));
            return all_ones;
        }
        let table: Vec<Row> = match structure {
            Structure::Common => COMMON.to_vec(),
            Structure::LegacyPorts if offset >= 0x14 => {
                return self.config_access(offset - 0x14, width, access);
            }
            Structure::LegacyPorts => LEGACY_PORTS.to_vec(),
            Structure::Mmio if offset >= 0x100 => {
                return self.config_access(offset - 0x100, width, access);
            }
            Structure::Mmio => {
                let version_only = if self.interface == Interface::MmioLegacy {
                    MMIO_LEGACY_ONLY
                } else {
                    MMIO_VERSION_2_ONLY
                };
                [MMIO, version_only].concat()
            }
            Structure::DeviceConfig => return self.config_access(offset, width, access),
            Structure::Isr => vec![(0, 1, R::Isr, ReadOnly)],
            Structure::Notify => return self.notify_access(offset, width, access),
        };
        let Some(&(_, _, register, direction)) = table
            .iter()
            .find(|&&(at, size, ..)| at == offset && size == width)
        else {
            self.refuse(format!(
                "{structure:?}: {width}-byte {access:?} at {offset:#x} is not a register at \
                 its width"
            ));
            return all_ones;
        };
        match (access, direction) {
            (Access::Read, WriteOnly) => {
                self.refuse(format!("{register:?} is write-only, but was read"));
                all_ones
            }
            (Access::Write(value), ReadOnly) => {
                self.refuse(format!(
                    "{register:?} is read-only, but {value:#x} was written"
                ));
                all_ones
            }
            (Access::Read, _) => u64::from(self.read_register(register)),
            (Access::Write(value), _) => {
                self.write_register(register, value as u32);
                0
            }
        }
    }

    fn config_access(&mut self, offset: usize, width: usize, access: Access) -> u64 {
        match access {
            Access::Read => self.read_config(offset, width),
            Access::Write(value) => {
                self.refuse(format!(
                    "device configuration {offset:#x} written ({value:#x}); no field is writable"
                ));
                0
            }
        }
    }

    fn notify_access(&mut self, offset: usize, width: usize, access: Access) -> u64 {
        let multiplier = NOTIFY_OFF_MULTIPLIER as usize;
        match access {
            Access::Write(value)
                if width == 2 && offset.is_multiple_of(multiplier) && offset > 0 =>
            {
                let queue = offset / multiplier - 1;
                if value != queue as u64 {
                    self.refuse(format!(
                        "notification for queue {queue} carries {value}, not its index"
                    ));
                    return 0;
                }
                self.notify(value as u32);
                0
            }
            _ => {
                self.refuse(format!(
                    "notification structure: {width}-byte {access:?} at {offset:#x}; only \
                     16-bit writes of a queue's index at its offset"
                ));
                u64::MAX
            }
        }
    }

    fn read_register(&mut self, register: Register) -> u32 {
        let queue = self.selected_queue().cloned().unwrap_or_default();
        match register {
            R::MagicValue => ethos_virtio::mmio::MAGIC,
            R::Version => {
                if self.interface == Interface::MmioLegacy {
                    1
                } else {
                    2
                }
            }
            R::DeviceId => self.function.device_id(),
            R::VendorId => 0x554d_4551,
            R::DeviceFeatureSelect => self.device_feature_select,
            R::DeviceFeature => self.read_device_features(self.device_feature_select),
            R::LegacyDeviceFeatures => self.read_device_features(0),
            R::DriverFeatureSelect => self.driver_feature_select,
            R::DriverFeature => get_half(
                self.driver_features,
                if self.driver_feature_select == 0 {
                    Low
                } else {
                    High
                },
            ),
            R::LegacyDriverFeatures => self.driver_features as u32,
            R::MsixConfig => u32::from(self.msix_config),
            R::NumQueues => self.queues.len() as u32,
            R::Status => u32::from(self.status),
            R::ConfigGeneration => 0,
            R::QueueSelect => self.queue_select,
            R::QueueSizeMax => u32::from(queue.max_size),
            R::QueueSize => u32::from(queue.size),
            R::QueueMsixVector => u32::from(queue.msix_vector),
            R::QueueEnable | R::QueueReady => u32::from(queue.enabled),
            R::QueueNotifyOff => self.queue_select + 1,
            R::QueueDescriptors(half) => get_half(queue.descriptors, half),
            R::QueueDriver(half) => get_half(queue.driver, half),
            R::QueueDevice(half) => get_half(queue.device, half),
            R::QueuePageNumber => {
                if queue.enabled {
                    let page_size = match self.interface {
                        Interface::LegacyPci => 4096,
                        _ => u64::from(self.guest_page_size.max(1)),
                    };
                    (queue.descriptors / page_size) as u32
                } else {
                    0
                }
            }
            R::InterruptStatus => u32::from(self.isr),
            R::Isr => u32::from(std::mem::take(&mut self.isr)),
            R::GuestPageSize | R::QueueAlign | R::QueueNotify | R::InterruptAcknowledge => {
                unreachable!("write-only registers are refused above")
            }
        }
    }

    fn write_register(&mut self, register: Register, value: u32) {
        match register {
            R::Status => self.write_status(value),
            R::DeviceFeatureSelect => self.device_feature_select = value,
            R::DriverFeatureSelect => self.driver_feature_select = value,
            R::DriverFeature => self.write_driver_features(self.driver_feature_select, value),
            R::LegacyDriverFeatures => self.write_driver_features(0, value),
            R::MsixConfig => self.msix_config = value as u16,
            R::QueueSelect => self.queue_select = value,
            R::QueueSize => self.write_queue_size(value),
            R::QueueMsixVector => {
                if let Some(queue) = self.queues.get_mut(self.queue_select as usize) {
                    queue.msix_vector = value as u16;
                }
            }
            R::QueueEnable => {
                if value == 1 {
                    self.enable_queue();
                } else {
                    self.refuse(format!(
                        "queue_enable written with {value}; a driver writes only 1"
                    ));
                }
            }
            R::QueueReady => match value {
                1 => self.enable_queue(),
                0 => {
                    if let Some(queue) = self.queues.get_mut(self.queue_select as usize) {
                        queue.enabled = false;
                    }
                }
                _ => self.refuse(format!("QueueReady written with {value}")),
            },
            R::QueueDescriptors(half) => {
                if let Some(queue) = self.configurable_queue("queue descriptor address written") {
                    set_half(&mut queue.descriptors, half, value);
                }
            }
            R::QueueDriver(half) => {
                if let Some(queue) = self.configurable_queue("queue driver area written") {
                    set_half(&mut queue.driver, half, value);
                }
            }
            R::QueueDevice(half) => {
                if let Some(queue) = self.configurable_queue("queue device area written") {
                    set_half(&mut queue.device, half, value);
                }
            }
            R::GuestPageSize => {
                if self.status & DRIVER_OK_OR_FAILED != 0 {
                    self.refuse("guest page size written after DRIVER_OK");
                }
                self.guest_page_size = value;
            }
            R::QueueAlign => {
                if let Some(queue) = self.configurable_queue("queue alignment written") {
                    queue.align = value;
                }
            }
            R::QueuePageNumber => self.place_legacy_queue(value),
            R::QueueNotify => self.notify(value),
            R::InterruptAcknowledge => self.isr &= !(value as u8),
            R::MagicValue
            | R::Version
            | R::DeviceId
            | R::VendorId
            | R::DeviceFeature
            | R::LegacyDeviceFeatures
            | R::NumQueues
            | R::ConfigGeneration
            | R::QueueSizeMax
            | R::QueueNotifyOff
            | R::InterruptStatus
            | R::Isr => unreachable!("read-only registers are refused above"),
        }
    }
}

const DRIVER_OK_OR_FAILED: u8 = super::DRIVER_OK | super::FAILED;

/// A memory window onto one structure of the model (or its virtio-mmio block).
#[derive(Clone, Debug)]
pub(crate) struct ModelWindow {
    device: Shared,
    structure: Structure,
}

impl ModelWindow {
    pub(crate) fn new(device: &Shared, structure: Structure) -> ModelWindow {
        ModelWindow {
            device: device.clone(),
            structure,
        }
    }

    fn access(&self, offset: usize, width: usize, access: Access) -> u64 {
        self.device
            .borrow_mut()
            .access(self.structure, offset, width, access)
    }
}

impl MemoryWindow for ModelWindow {
    fn length(&self) -> usize {
        self.structure.length(&self.device.borrow())
    }

    fn read8(&self, offset: usize) -> u8 {
        self.access(offset, 1, Access::Read) as u8
    }

    fn read16(&self, offset: usize) -> u16 {
        self.access(offset, 2, Access::Read) as u16
    }

    fn read32(&self, offset: usize) -> u32 {
        self.access(offset, 4, Access::Read) as u32
    }

    fn write8(&mut self, offset: usize, value: u8) {
        self.access(offset, 1, Access::Write(value.into()));
    }

    fn write16(&mut self, offset: usize, value: u16) {
        self.access(offset, 2, Access::Write(value.into()));
    }

    fn write32(&mut self, offset: usize, value: u32) {
        self.access(offset, 4, Access::Write(value.into()));
    }
}

/// The I/O window of a legacy PCI model.
#[derive(Clone, Debug)]
pub(crate) struct ModelPorts {
    window: ModelWindow,
}

impl ModelPorts {
    pub(crate) fn new(device: &Shared) -> ModelPorts {
        ModelPorts {
            window: ModelWindow::new(device, Structure::LegacyPorts),
        }
    }
}

impl PortWindow for ModelPorts {
    fn length(&self) -> u16 {
        self.window.length() as u16
    }

    fn read8(&self, offset: u16) -> u8 {
        self.window.read8(offset.into())
    }

    fn read16(&self, offset: u16) -> u16 {
        self.window.read16(offset.into())
    }

    fn read32(&self, offset: u16) -> u32 {
        self.window.read32(offset.into())
    }

    fn write8(&mut self, offset: u16, value: u8) {
        self.window.write8(offset.into(), value)
    }

    fn write16(&mut self, offset: u16, value: u16) {
        self.window.write16(offset.into(), value)
    }

    fn write32(&mut self, offset: u16, value: u32) {
        self.window.write32(offset.into(), value)
    }
}
