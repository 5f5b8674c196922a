//! A virtio device that holds its driver to the specification (virtio 1.2), behind
//! any of the three transports' register layouts.
//!
//! It answers like a device that enforces the rules (as Firecracker's do): an access
//! the specification forbids is not carried out — a write is dropped, a read
//! answers all ones — and is recorded as a violation. By default a violation also
//! panics at once, so a driver that would spin forever on a device that ignored it
//! fails instead; a test that provokes violations on purpose sets
//! `tolerate_violations` and reads them back. The rules held:
//!
//! - every register access is of its field's width at its offset; nothing is
//!   accessed 8 bytes at a time (64-bit fields are two 32-bit halves);
//! - read-only registers are not written, write-only ones not read;
//! - the status is set one bit at a time, in the order of §3.1.1 (ACKNOWLEDGE,
//!   DRIVER, FEATURES_OK — never on a legacy device — and DRIVER_OK), or reset to 0,
//!   or marked FAILED keeping its bits;
//! - features are read after DRIVER and written between DRIVER and FEATURES_OK;
//!   FEATURES_OK does not stick when the driver took a feature not offered, or, on a
//!   virtio 1.x device, left out VERSION_1 (or when the test asks the device to
//!   refuse);
//! - queues are set up after FEATURES_OK (after DRIVER on a legacy device) and
//!   before DRIVER_OK, each once, with a size it allows and aligned rings;
//! - a queue is notified only after DRIVER_OK, and only once set up;
//! - the device touches only memory the driver shared (see `guest`).
//!
//! Entropy and block requests are served at the notification; a network device's
//! buffers are left waiting.

mod registers;
mod requests;

use std::cell::RefCell;
use std::rc::Rc;

pub(crate) use registers::{Access, ModelPorts, ModelWindow, Structure};

pub(crate) const ACKNOWLEDGE: u8 = 1;
pub(crate) const DRIVER: u8 = 2;
pub(crate) const DRIVER_OK: u8 = 4;
pub(crate) const FEATURES_OK: u8 = 8;
pub(crate) const FAILED: u8 = 0x80;

pub(crate) const VERSION_1: u64 = 1 << 32;
pub(crate) const NET_MAC: u64 = 1 << 5;
pub(crate) const BLOCK_FLUSH: u64 = 1 << 9;

/// The bytes a notification offset counts in the model's PCI notification
/// structure. Queue n's offset is n + 1, so no queue notifies at offset 0 and a
/// transport that forgot to multiply is caught.
pub(crate) const NOTIFY_OFF_MULTIPLIER: u32 = 4;

/// The register layout the device presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interface {
    ModernPci,
    LegacyPci,
    Mmio,
    MmioLegacy,
}

impl Interface {
    pub(crate) fn is_legacy(self) -> bool {
        matches!(self, Interface::LegacyPci | Interface::MmioLegacy)
    }
}

/// What the device is.
#[derive(Debug)]
pub(crate) enum Function {
    Entropy,
    Block { disk: Vec<u8> },
    Network { mac: [u8; 6] },
}

impl Function {
    fn device_id(&self) -> u32 {
        match self {
            Function::Network { .. } => 1,
            Function::Block { .. } => 2,
            Function::Entropy => 4,
        }
    }

    /// The queues' sizes on a legacy PCI device, which fixes them (the kernel's
    /// drivers' sizes); other devices let the driver choose up to 256.
    fn queue_sizes(&self, interface: Interface) -> Vec<u16> {
        let fixed = |size| {
            if interface == Interface::LegacyPci {
                size
            } else {
                256
            }
        };
        match self {
            Function::Entropy => vec![fixed(8)],
            Function::Block { .. } => vec![fixed(16)],
            Function::Network { .. } => vec![256, 256],
        }
    }

    fn features(&self, interface: Interface) -> u64 {
        let version = if interface.is_legacy() { 0 } else { VERSION_1 };
        version
            | match self {
                Function::Entropy => 0,
                Function::Block { .. } => BLOCK_FLUSH,
                Function::Network { .. } => NET_MAC,
            }
    }

    /// The device configuration and its fields, as `(offset, width)`.
    fn configuration(&self) -> (Vec<u8>, Vec<(usize, usize)>) {
        match self {
            Function::Entropy => (Vec::new(), Vec::new()),
            Function::Block { disk } => {
                let mut bytes = vec![0u8; 24];
                bytes[..8].copy_from_slice(&(disk.len() as u64 / 512).to_le_bytes());
                bytes[20..24].copy_from_slice(&512u32.to_le_bytes());
                // capacity, size_max, seg_max, cylinders, heads, sectors, blk_size
                let fields = vec![(0, 8), (8, 4), (12, 4), (16, 2), (18, 1), (19, 1), (20, 4)];
                (bytes, fields)
            }
            Function::Network { mac } => {
                let mut bytes = vec![0u8; 12];
                bytes[..6].copy_from_slice(mac);
                bytes[6] = 1; // VIRTIO_NET_S_LINK_UP
                // mac (six bytes), status, max_virtqueue_pairs, mtu
                let mut fields: Vec<_> = (0..6).map(|at| (at, 1)).collect();
                fields.extend([(6, 2), (8, 2), (10, 2)]);
                (bytes, fields)
            }
        }
    }
}

/// One queue as the device holds it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Queue {
    pub(crate) max_size: u16,
    pub(crate) size: u16,
    pub(crate) descriptors: u64,
    pub(crate) driver: u64,
    pub(crate) device: u64,
    pub(crate) enabled: bool,
    pub(crate) msix_vector: u16,
    /// Legacy virtio-mmio's used-ring alignment.
    align: u32,
    next_available: u16,
    used_index: u16,
}

impl Queue {
    fn new(max_size: u16, interface: Interface) -> Queue {
        Queue {
            max_size,
            // A virtio 1.x PCI device offers its maximum as the size; elsewhere the
            // driver must write one.
            size: if interface == Interface::ModernPci {
                max_size
            } else {
                0
            },
            ..Queue::default()
        }
    }
}

/// The device, shared by its windows and the test.
pub(crate) type Shared = Rc<RefCell<Device>>;

/// The model device.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) interface: Interface,
    pub(crate) function: Function,
    /// The features offered.
    pub(crate) offered: u64,
    /// Refuse FEATURES_OK whatever the driver chose.
    pub(crate) refuse_features: bool,
    /// Record violations without panicking.
    pub(crate) tolerate_violations: bool,
    pub(crate) status: u8,
    /// Every status the device took, in order.
    pub(crate) history: Vec<u8>,
    pub(crate) violations: Vec<String>,
    pub(crate) driver_features: u64,
    pub(crate) queues: Vec<Queue>,
    /// Requests served.
    pub(crate) served: usize,
    device_feature_select: u32,
    driver_feature_select: u32,
    queue_select: u32,
    isr: u8,
    guest_page_size: u32,
    config: Vec<u8>,
    config_fields: Vec<(usize, usize)>,
    msix_config: u16,
    entropy_counter: u8,
}

impl Device {
    pub(crate) fn new(interface: Interface, function: Function) -> Device {
        let (config, config_fields) = function.configuration();
        let queues = function
            .queue_sizes(interface)
            .into_iter()
            .map(|size| Queue::new(size, interface))
            .collect();
        Device {
            interface,
            offered: function.features(interface),
            function,
            refuse_features: false,
            tolerate_violations: false,
            status: 0,
            history: Vec::new(),
            violations: Vec::new(),
            driver_features: 0,
            queues,
            served: 0,
            device_feature_select: 0,
            driver_feature_select: 0,
            queue_select: 0,
            isr: 0,
            guest_page_size: 0,
            config,
            config_fields,
            msix_config: 0xffff,
            entropy_counter: 0,
        }
    }

    pub(crate) fn shared(self) -> Shared {
        Rc::new(RefCell::new(self))
    }

    /// Records a violation of the specification, and panics unless told not to
    /// (or already unwinding, when a driver's drop may touch the device again).
    fn refuse(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.violations.push(what.clone());
        if !self.tolerate_violations && !std::thread::panicking() {
            panic!(
                "{:?} device: the driver broke the specification: {what}",
                self.interface
            );
        }
    }

    fn take_status(&mut self, status: u8) {
        self.status = status;
        self.history.push(status);
    }

    fn reset(&mut self) {
        let queues = self
            .queues
            .iter()
            .map(|queue| Queue::new(queue.max_size, self.interface))
            .collect();
        self.queues = queues;
        self.driver_features = 0;
        self.device_feature_select = 0;
        self.driver_feature_select = 0;
        self.queue_select = 0;
        self.isr = 0;
        self.take_status(0);
    }

    fn write_status(&mut self, value: u32) {
        let old = self.status;
        let Ok(new) = u8::try_from(value) else {
            self.refuse(format!("status {value:#x} has bits beyond the status byte"));
            return;
        };
        if new == 0 {
            self.reset();
            return;
        }
        if new & FAILED != 0 {
            if new == old | FAILED {
                self.take_status(new);
            } else {
                self.refuse(format!(
                    "invalid virtio device status transition {old:#x} -> {new:#x}: FAILED \
                     keeps the bits set"
                ));
            }
            return;
        }
        let next = match old {
            0 => ACKNOWLEDGE,
            0x1 => DRIVER,
            0x3 if self.interface.is_legacy() => DRIVER_OK,
            0x3 => FEATURES_OK,
            0xb if !self.interface.is_legacy() => DRIVER_OK,
            _ => 0,
        };
        if next == 0 || new != old | next {
            self.refuse(format!(
                "invalid virtio device status transition {old:#x} -> {new:#x}: one bit at a \
                 time, in order"
            ));
            return;
        }
        if next == FEATURES_OK && !self.features_acceptable() {
            // The device's answer, not a violation: FEATURES_OK does not stick.
            return;
        }
        self.take_status(new);
    }

    fn features_acceptable(&self) -> bool {
        !self.refuse_features
            && self.driver_features & !self.offered == 0
            && (self.interface.is_legacy() || self.driver_features & VERSION_1 != 0)
    }

    fn read_device_features(&mut self, select: u32) -> u32 {
        if self.status & DRIVER == 0 {
            self.refuse(format!(
                "device features read at status {:#x}, before DRIVER",
                self.status
            ));
        }
        match select {
            0 => self.offered as u32,
            1 => (self.offered >> 32) as u32,
            _ => 0,
        }
    }

    fn write_driver_features(&mut self, select: u32, value: u32) {
        if self.status != ACKNOWLEDGE | DRIVER {
            self.refuse(format!(
                "driver features written at status {:#x}: only after DRIVER and before \
                 FEATURES_OK",
                self.status
            ));
            return;
        }
        match select {
            0 => self.driver_features = (self.driver_features >> 32 << 32) | u64::from(value),
            1 => {
                self.driver_features =
                    (self.driver_features & 0xffff_ffff) | (u64::from(value) << 32)
            }
            _ => self.refuse(format!("driver features written with select {select}")),
        }
    }

    /// Whether the driver may set queues up now; records a violation if not.
    fn may_configure_queues(&mut self, what: &str) -> bool {
        let (after, name) = if self.interface.is_legacy() {
            (DRIVER, "DRIVER")
        } else {
            (FEATURES_OK, "FEATURES_OK")
        };
        let allowed = self.status & after != 0 && self.status & (DRIVER_OK | FAILED) == 0;
        if !allowed {
            self.refuse(format!(
                "{what} at status {:#x}: queues are set up after {name} and before DRIVER_OK",
                self.status
            ));
        }
        allowed
    }

    /// The selected queue, if the driver may change it now (set up after
    /// FEATURES_OK, not yet enabled); records a violation if not.
    fn configurable_queue(&mut self, what: &str) -> Option<&mut Queue> {
        if !self.may_configure_queues(what) {
            return None;
        }
        let select = self.queue_select;
        match self.queues.get(select as usize) {
            None => {
                self.refuse(format!("{what} for queue {select}, which does not exist"));
                None
            }
            Some(queue) if queue.enabled => {
                self.refuse(format!(
                    "{what} for queue {select}, which is already enabled"
                ));
                None
            }
            Some(_) => self.queues.get_mut(select as usize),
        }
    }

    fn selected_queue(&self) -> Option<&Queue> {
        self.queues.get(self.queue_select as usize)
    }

    fn write_queue_size(&mut self, value: u32) {
        let Some(queue) = self.configurable_queue("queue size written") else {
            return;
        };
        let max = u32::from(queue.max_size);
        if value == 0 || value > max || !value.is_power_of_two() {
            let what = format!("queue size {value}: not a power of two up to {max}");
            self.refuse(what);
            return;
        }
        queue.size = value as u16;
    }

    /// Enables the selected queue (PCI queue_enable or virtio-mmio QueueReady).
    fn enable_queue(&mut self) {
        let Some(queue) = self.configurable_queue("queue enabled") else {
            return;
        };
        let problem = if queue.size == 0 || !queue.size.is_power_of_two() {
            Some(format!("queue enabled with size {}", queue.size))
        } else if [queue.descriptors, queue.driver, queue.device].contains(&0) {
            Some("queue enabled without all three ring addresses".to_string())
        } else if queue.descriptors % 16 != 0 || queue.driver % 2 != 0 || queue.device % 4 != 0 {
            Some(format!(
                "queue rings misaligned: descriptors {:#x}, driver {:#x}, device {:#x}",
                queue.descriptors, queue.driver, queue.device
            ))
        } else {
            queue.enabled = true;
            None
        };
        if let Some(problem) = problem {
            self.refuse(problem);
        }
    }

    /// A legacy queue placed by page number (legacy PCI's queue address, legacy
    /// virtio-mmio's QueuePFN); 0 stops the queue.
    fn place_legacy_queue(&mut self, page_number: u32) {
        if page_number == 0 {
            if let Some(queue) = self.queues.get_mut(self.queue_select as usize) {
                queue.enabled = false;
            }
            return;
        }
        let (page_size, pci) = match self.interface {
            Interface::LegacyPci => (4096, true),
            _ => (self.guest_page_size, false),
        };
        let Some(queue) = self.configurable_queue("queue page number written") else {
            return;
        };
        if pci {
            queue.size = queue.max_size;
            queue.align = 4096;
        }
        let (size, align) = (u64::from(queue.size), u64::from(queue.align));
        let problem = if page_size == 0 || !page_size.is_power_of_two() {
            Some(format!("queue placed with guest page size {page_size}"))
        } else if size == 0 || !size.is_power_of_two() {
            Some(format!("queue placed with size {size}"))
        } else if align == 0 || !align.is_power_of_two() {
            Some(format!("queue placed with alignment {align}"))
        } else {
            queue.descriptors = u64::from(page_number) * u64::from(page_size);
            queue.driver = queue.descriptors + 16 * size;
            queue.device = (queue.driver + 6 + 2 * size).next_multiple_of(align);
            queue.enabled = true;
            None
        };
        if let Some(problem) = problem {
            self.refuse(problem);
        }
    }

    fn notify(&mut self, value: u32) {
        if self.status & DRIVER_OK == 0 || self.status & FAILED != 0 {
            self.refuse(format!(
                "queue {value} notified at status {:#x}, not after DRIVER_OK",
                self.status
            ));
            return;
        }
        match self.queues.get(value as usize) {
            Some(queue) if queue.enabled => self.serve(value as usize),
            _ => self.refuse(format!("queue {value} notified but not set up")),
        }
    }

    /// Reads the device configuration: one field at its width, or a 32-bit half of
    /// a 64-bit field.
    fn read_config(&mut self, offset: usize, width: usize) -> u64 {
        let field = self.config_fields.iter().any(|&(at, length)| {
            (offset == at && width == length)
                || (length == 8 && width == 4 && (offset == at || offset == at + 4))
        });
        if !field {
            self.refuse(format!(
                "device configuration: {width}-byte read at {offset:#x} is not a field at \
                 its natural width"
            ));
            return u64::MAX;
        }
        let mut bytes = [0u8; 8];
        bytes[..width].copy_from_slice(&self.config[offset..offset + width]);
        u64::from_le_bytes(bytes)
    }
}
