//! One transport type for every virtio device — modern PCI, legacy PCI or
//! virtio-mmio, chosen per device when it is found — and the initialisation
//! sequence every device goes through.
//!
//! `virtio-drivers`' own `Transport::begin_init` sets ACKNOWLEDGE and DRIVER in one
//! status write and never reads the status back after FEATURES_OK; a device that
//! enforces the specification's status transitions (Firecracker's) refuses the first
//! and a device that refuses the features goes unnoticed. [`VirtioTransport`]
//! overrides it with the sequence of virtio 1.2 §3.1.1, one status bit at a time,
//! and marks the device FAILED when FEATURES_OK does not stick. From then on the
//! transport leaves the device alone (no queue is offered, no further status is
//! written), and the [`RefusalRecord`] tells whoever started the driver why.

use alloc::sync::Arc;
use core::fmt;
use core::ops::BitAnd;

use bitflags::Flags;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::legacy::LegacyTransport;
use crate::mmio::{MmioTransport, MmioVersion};
use crate::modern::ModernTransport;
use crate::{MemoryWindow, PortWindow};

/// `VIRTIO_F_RING_EVENT_IDX` (virtio 1.2 §6), never negotiated. With it,
/// `virtio-drivers` 0.13 notifies the device after every buffer it adds once the
/// device's `avail_event` has been passed (`VirtQueue::should_notify` tests
/// `avail_idx >= avail_event + 1`), where §2.7.10 asks for a notification only when
/// an add crosses that index. QEMU's virtio-net moves `avail_event` to the first
/// buffer it has not taken, so every receive buffer given back and every frame sent
/// was a trip into the emulator's device code: 6 to 12 µs of guest time each in
/// `bench net`. Without it the driver honours the device's `NO_NOTIFY` flag, which
/// QEMU sets while it has receive buffers and while a send is pending.
const RING_EVENT_IDX: u64 = 1 << 29;

/// How many times a driver reads the status back waiting for a reset to finish.
/// Every device this kernel meets resets at once; the bound keeps a broken one
/// from hanging the boot.
const RESET_POLLS: u32 = 100_000;

/// Why a transport gave up on its device (and marked it FAILED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The status did not read back as 0 after a reset.
    ResetIncomplete { status: u8 },
    /// FEATURES_OK did not stick: the device does not accept the features its
    /// driver chose. `status` is what it read back.
    FeaturesNotAccepted { status: u8 },
    /// The transport cannot give the device a queue the driver laid out (its size,
    /// address or notification register does not fit); the details were logged.
    QueueUnusable { queue: u16 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ResetIncomplete { status } => write!(
                f,
                "the device did not finish its reset (status {status:#04x}); marked failed"
            ),
            Refusal::FeaturesNotAccepted { status } => write!(
                f,
                "the device did not accept the features its driver chose (FEATURES_OK \
                 did not stick, status {status:#04x}); marked failed"
            ),
            Refusal::QueueUnusable { queue } => write!(
                f,
                "queue {queue} as the driver laid it out does not fit the device; \
                 marked failed"
            ),
        }
    }
}

/// Where a transport records that it gave up on its device. Shared: a driver of
/// `virtio-drivers` consumes its transport, so whoever started it keeps a clone to
/// learn why it failed.
#[derive(Clone, Debug, Default)]
pub struct RefusalRecord(Arc<spin::Once<Refusal>>);

impl RefusalRecord {
    /// The first refusal recorded, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.0.get().copied()
    }

    /// Records `refusal` unless one is recorded already (the first cause is kept).
    pub(crate) fn record(&self, refusal: Refusal) {
        self.0.call_once(|| refusal);
    }
}

/// Marks a device FAILED, keeping the bits it has (the only status change a driver
/// may make at any point), and records why.
pub(crate) fn give_up(transport: &mut impl Transport, record: &RefusalRecord, refusal: Refusal) {
    tracing::error!(%refusal, "virtio device given up");
    let status = transport.get_status();
    transport.set_status(status | DeviceStatus::FAILED);
    record.record(refusal);
}

/// Writes 0 to the status and waits for it to read back as 0 (virtio 1.2 §4.1.4.3.2,
/// §4.2.3.1). `Err` carries the status still read.
pub(crate) fn reset(transport: &mut impl Transport) -> Result<(), u8> {
    transport.set_status(DeviceStatus::empty());
    let mut status = transport.get_status();
    for _ in 0..RESET_POLLS {
        if status.is_empty() {
            return Ok(());
        }
        core::hint::spin_loop();
        status = transport.get_status();
    }
    Err(status.bits() as u8)
}

/// A virtio transport of any kind.
#[derive(Debug)]
pub enum VirtioTransport<P, W: MemoryWindow> {
    /// Virtio 1.x over PCI: structures in memory BARs.
    Modern(ModernTransport<W>),
    /// Virtio 0.9.5 over PCI: registers in I/O BAR 0.
    Legacy(LegacyTransport<P>),
    /// Virtio-mmio, version 2 or legacy 1.
    Mmio(MmioTransport<W>),
}

macro_rules! each {
    ($self:ident, $transport:ident => $body:expr) => {
        match $self {
            VirtioTransport::Modern($transport) => $body,
            VirtioTransport::Legacy($transport) => $body,
            VirtioTransport::Mmio($transport) => $body,
        }
    };
}

impl<P: PortWindow, W: MemoryWindow> VirtioTransport<P, W> {
    /// What kind of transport this is, for reports: `modern`, `legacy`, `mmio` or
    /// `mmio-legacy`.
    pub fn generation(&self) -> &'static str {
        match self {
            VirtioTransport::Modern(_) => "modern",
            VirtioTransport::Legacy(_) => "legacy",
            VirtioTransport::Mmio(mmio) => match mmio.version() {
                MmioVersion::Modern => "mmio",
                MmioVersion::Legacy => "mmio-legacy",
            },
        }
    }

    /// Where this transport records giving up on its device.
    pub fn refusal_record(&self) -> RefusalRecord {
        each!(self, transport => transport.refusal_record().clone())
    }

    /// Whether the transport gave up on its device.
    fn given_up(&self) -> bool {
        each!(self, transport => transport.refusal_record().refusal().is_some())
    }

    /// Whether the device speaks a legacy interface, which has no FEATURES_OK
    /// (virtio 1.2 §3.1.2: features are final when the driver writes them).
    fn is_legacy(&self) -> bool {
        match self {
            VirtioTransport::Modern(_) => false,
            VirtioTransport::Legacy(_) => true,
            VirtioTransport::Mmio(mmio) => mmio.version() == MmioVersion::Legacy,
        }
    }

    fn give_up(&mut self, refusal: Refusal) {
        let record = self.refusal_record();
        give_up(self, &record, refusal);
    }
}

/// Every method passes through to the transport of the device's kind, except that
/// once the transport has given up on its device nothing more is written to it and
/// it offers no queue, and that initialisation follows the specification step by
/// step (see the module's description).
impl<P: PortWindow, W: MemoryWindow> Transport for VirtioTransport<P, W> {
    fn device_type(&self) -> DeviceType {
        each!(self, transport => transport.device_type())
    }

    fn read_device_features(&mut self) -> u64 {
        each!(self, transport => transport.read_device_features())
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        if !self.given_up() {
            each!(self, transport => transport.write_driver_features(driver_features))
        }
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        // A driver asked for no more than 0 entries gives up before touching the
        // queue's registers (`VirtQueue::new` answers `InvalidParam`).
        if self.given_up() {
            return 0;
        }
        each!(self, transport => transport.max_queue_size(queue))
    }

    fn notify(&mut self, queue: u16) {
        if !self.given_up() {
            each!(self, transport => transport.notify(queue))
        }
    }

    fn get_status(&self) -> DeviceStatus {
        each!(self, transport => transport.get_status())
    }

    fn set_status(&mut self, status: DeviceStatus) {
        if !self.given_up() {
            each!(self, transport => transport.set_status(status))
        }
    }

    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        if !self.given_up() {
            each!(self, transport => transport.set_guest_page_size(guest_page_size))
        }
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
        if !self.given_up() {
            each!(self, transport => transport.queue_set(queue, size, descriptors, driver_area, device_area))
        }
    }

    fn queue_unset(&mut self, queue: u16) {
        if !self.given_up() {
            each!(self, transport => transport.queue_unset(queue))
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        if self.given_up() {
            return false;
        }
        each!(self, transport => transport.queue_used(queue))
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        each!(self, transport => transport.ack_interrupt())
    }

    /// Virtio 1.2 §3.1.1 steps 1 to 6: reset; ACKNOWLEDGE; DRIVER; read the device's
    /// features and write the subset the driver supports; FEATURES_OK, then read the
    /// status back and give up on the device (FAILED) if FEATURES_OK did not stick.
    /// A legacy device has no FEATURES_OK: its features are final once written.
    fn begin_init<F: Flags<Bits = u64> + BitAnd<Output = F> + fmt::Debug>(
        &mut self,
        supported_features: F,
    ) -> F {
        if let Err(status) = reset(self) {
            self.give_up(Refusal::ResetIncomplete { status });
            return F::empty();
        }
        self.set_status(DeviceStatus::ACKNOWLEDGE);
        self.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
        let device_features = self.read_device_features();
        let negotiated =
            F::from_bits_truncate(device_features & !RING_EVENT_IDX) & supported_features;
        tracing::debug!(
            device_features = %format_args!("{device_features:#x}"),
            negotiated = %format_args!("{:#x}", negotiated.bits()),
            "virtio features"
        );
        self.write_driver_features(negotiated.bits());
        if !self.is_legacy() {
            self.set_status(
                DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER | DeviceStatus::FEATURES_OK,
            );
            let status = self.get_status();
            if !status.contains(DeviceStatus::FEATURES_OK) {
                self.give_up(Refusal::FeaturesNotAccepted {
                    status: status.bits() as u8,
                });
                return negotiated;
            }
        }
        self.set_guest_page_size(PAGE_SIZE as u32);
        negotiated
    }

    /// Step 8: DRIVER_OK, the one bit added to what `begin_init` set.
    fn finish_init(&mut self) {
        let features_ok = if self.is_legacy() {
            DeviceStatus::empty()
        } else {
            DeviceStatus::FEATURES_OK
        };
        self.set_status(
            DeviceStatus::ACKNOWLEDGE
                | DeviceStatus::DRIVER
                | features_ok
                | DeviceStatus::DRIVER_OK,
        );
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
        if self.given_up() {
            return Err(VirtioError::NotReady);
        }
        each!(self, transport => transport.write_config_space(offset, value))
    }
}
