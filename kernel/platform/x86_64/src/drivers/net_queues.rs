//! virtio-net's two queues driven without waiting, as this platform's
//! [`ethos_virtio::NetQueues`]: a frame to send is handed to the device and the call
//! returns; its buffer comes back when the device has taken the frame, at the next
//! send or receive. The safe `ethos_virtio::WaitingNetQueues` waits in every send
//! until the device has taken the frame, which under emulation is until the
//! emulator's I/O thread has run: a multi-frame message then waited for it once per
//! frame, and a network thread that waited for interrupts rather than polling paid
//! that in every round trip (3.9 ms each, against about 0.4 ms polling).
//!
//! It is here, not in `ethos-virtio`, because `virtio-drivers` offers sending
//! without waiting only through `VirtIONetRaw`, whose calls are `unsafe`: a buffer
//! handed to the device must stay where it is, untouched, until the device hands it
//! back. The module keeps that promise by construction. Every buffer it gives the
//! device is a heap allocation it owns, kept in the slot of the token the device
//! answered and touched by nothing until the device returns that token; the device
//! (declared first, so dropped first, which unsets its queues) never outlives the
//! buffers.
//!
//! Two things `virtio-drivers`' `VirtIONetRaw` does not offer are done through a
//! wrapper around the transport ([`NetTransport`]), which the queues share with it:
//! - The device is asked never to interrupt for the transmit queue: a sent frame's
//!   buffer is taken back at the next send or receive, so its completion is news to
//!   nobody, and each such interrupt woke the network thread for a round with
//!   nothing to do. The crate sets that request (the available ring's
//!   `VRING_AVAIL_F_NO_INTERRUPT`) only for both queues at once; the wrapper learns
//!   where the transmit queue's available ring is, and the flag is written there
//!   once. (The event index that would do the same is not negotiated: see
//!   `ethos-virtio`.)
//! - Of the frames of one poll of the stack (`begin_transmit_batch` to
//!   `end_transmit_batch`), the first is announced to the device at once and the
//!   others together after the last. The crate notifies the device for each frame
//!   it queues that the device has not said it will find anyway, and under
//!   emulation a notification made while the emulator is still sending the previous
//!   frame waits for it: 8 to 20 µs of guest time each in `bench net`. The first
//!   frame still leaves while the others are made; announcing all of them only at
//!   the end made round trips slower.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Debug;
use core::ops::BitAnd;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use bitflags::Flags;
use ethos_virtio::{NetQueues, ReceiveError};
use spin::Mutex;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioError, Hal, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// virtio-net's transmit queue.
const TRANSMIT_QUEUE: u16 = 1;
/// The available ring's flag asking the device not to interrupt (virtio 1.2 §2.7.7).
const NO_INTERRUPT: u16 = 1;

/// Where a batch of sends stands (`Shared::batch`): none under way, then under way
/// with no notification yet, with its first made, and with a later one held back.
const NO_BATCH: u8 = 0;
const BATCH_OPEN: u8 = 1;
const BATCH_NOTIFIED: u8 = 2;
const BATCH_HELD: u8 = 3;

/// What the queues and their transport's wrapper share.
#[derive(Debug, Default)]
struct Shared {
    /// The transmit queue's available ring (its driver area), once it is set up.
    transmit_ring: AtomicU64,
    /// `NO_BATCH`, `BATCH_OPEN`, `BATCH_NOTIFIED` or `BATCH_HELD`.
    batch: AtomicU8,
}

/// The transport of a virtio-net device as its queues use it: every call goes to
/// the transport it wraps, which the queues can also reach (to make a held-back
/// notification), except that it learns where the transmit queue's available ring
/// is and holds back the transmit queue's notifications while a batch lasts.
pub(crate) struct NetTransport<T> {
    inner: Arc<Mutex<T>>,
    shared: Arc<Shared>,
}

impl<T: Transport> Transport for NetTransport<T> {
    fn device_type(&self) -> DeviceType {
        self.inner.lock().device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        self.inner.lock().read_device_features()
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner.lock().write_driver_features(driver_features)
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.inner.lock().max_queue_size(queue)
    }
    fn notify(&mut self, queue: u16) {
        if queue == TRANSMIT_QUEUE {
            // A batch's first frame is announced at once, so it leaves while the
            // others are made; the rest wait for the batch's end.
            match self.shared.batch.load(Ordering::Relaxed) {
                BATCH_OPEN => self.shared.batch.store(BATCH_NOTIFIED, Ordering::Relaxed),
                BATCH_NOTIFIED | BATCH_HELD => {
                    self.shared.batch.store(BATCH_HELD, Ordering::Relaxed);
                    return;
                }
                _ => {}
            }
        }
        self.inner.lock().notify(queue)
    }
    fn get_status(&self) -> DeviceStatus {
        self.inner.lock().get_status()
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.inner.lock().set_status(status)
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.inner.lock().set_guest_page_size(guest_page_size)
    }
    fn requires_legacy_layout(&self) -> bool {
        self.inner.lock().requires_legacy_layout()
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        if queue == TRANSMIT_QUEUE {
            self.shared
                .transmit_ring
                .store(driver_area, Ordering::Relaxed);
        }
        self.inner
            .lock()
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }
    fn queue_unset(&mut self, queue: u16) {
        self.inner.lock().queue_unset(queue)
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.inner.lock().queue_used(queue)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.inner.lock().ack_interrupt()
    }
    fn begin_init<F: Flags<Bits = u64> + BitAnd<Output = F> + Debug>(
        &mut self,
        supported_features: F,
    ) -> F {
        self.inner.lock().begin_init(supported_features)
    }
    fn finish_init(&mut self) {
        self.inner.lock().finish_init()
    }
    fn read_config_generation(&self) -> u32 {
        self.inner.lock().read_config_generation()
    }
    fn read_config_space<C: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<C> {
        self.inner.lock().read_config_space(offset)
    }
    fn write_config_space<C: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: C,
    ) -> virtio_drivers::Result<()> {
        self.inner.lock().write_config_space(offset, value)
    }
}

/// A frame to send, in a buffer of its own: the virtio-net header, then the frame.
struct Outgoing {
    buffer: Vec<u8>,
    /// How much of `buffer` the device was given.
    length: usize,
}

/// The device and the buffers it holds.
pub(crate) struct RawNetQueues<H: Hal, T: Transport, const SIZE: usize> {
    // First, so dropped first: the device lets go of its queues before the buffers
    // they point at are freed.
    device: VirtIONetRaw<H, NetTransport<T>, SIZE>,
    /// The transport the device goes through, for a held-back notification.
    transport: Arc<Mutex<T>>,
    shared: Arc<Shared>,
    /// Receive buffers the device holds, by token.
    receiving: Vec<Option<Box<[u8]>>>,
    /// Frames the device holds to send, by token.
    sending: Vec<Option<Outgoing>>,
    /// Send buffers the device gave back, for the next frames.
    spare: Vec<Vec<u8>>,
}

impl<H: Hal, T: Transport, const SIZE: usize> core::fmt::Debug for RawNetQueues<H, T, SIZE> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawNetQueues")
            .field("spare", &self.spare.len())
            .finish_non_exhaustive()
    }
}

impl<H: Hal, T: Transport, const SIZE: usize> RawNetQueues<H, T, SIZE> {
    /// Takes over `device` and gives it `SIZE` receive buffers of `buffer_length`
    /// bytes.
    fn new(
        mut device: VirtIONetRaw<H, NetTransport<T>, SIZE>,
        transport: Arc<Mutex<T>>,
        shared: Arc<Shared>,
        buffer_length: usize,
    ) -> Result<Self, VirtioError> {
        let transmit_ring = shared.transmit_ring.load(Ordering::Relaxed);
        if transmit_ring != 0 {
            // SAFETY: `transmit_ring` is the transmit queue's available ring, as the
            // queue told the transport when it was set up: DMA memory of
            // `KernelHal`, identity-mapped, that lives as long as the device. Its
            // first 16 bits are the ring's flags, which `virtio-drivers` writes only
            // in `enable_interrupts`/`disable_interrupts`, never called here; the
            // device only reads them.
            unsafe { (transmit_ring as *mut u16).write_volatile(NO_INTERRUPT) };
        }
        let mut receiving: Vec<Option<Box<[u8]>>> = (0..SIZE).map(|_| None).collect();
        let mut fill = || -> Result<(), VirtioError> {
            for _ in 0..SIZE {
                let mut buffer = vec![0u8; buffer_length].into_boxed_slice();
                // SAFETY: the buffer is kept in the slot of its token, untouched,
                // until the device gives that token back (`receive`), and outlives
                // the device (here too: on a failure the device goes first).
                let token = unsafe { device.receive_begin(&mut buffer) }?;
                let slot = receiving
                    .get_mut(usize::from(token))
                    .ok_or(VirtioError::WrongToken)?;
                *slot = Some(buffer);
            }
            Ok(())
        };
        if let Err(error) = fill() {
            drop(device);
            drop(receiving);
            return Err(error);
        }
        Ok(RawNetQueues {
            device,
            transport,
            shared,
            receiving,
            sending: (0..SIZE).map(|_| None).collect(),
            spare: Vec::new(),
        })
    }

    /// Takes back the buffers of the frames the device has sent.
    fn reclaim(&mut self) -> Result<(), VirtioError> {
        while let Some(token) = self.device.poll_transmit() {
            let outgoing = self
                .sending
                .get_mut(usize::from(token))
                .and_then(Option::take)
                .ok_or(VirtioError::WrongToken)?;
            let given = outgoing
                .buffer
                .get(..outgoing.length)
                .ok_or(VirtioError::WrongToken)?;
            // SAFETY: `given` is exactly the slice handed over with this token.
            unsafe { self.device.transmit_complete(token, given) }?;
            self.spare.push(outgoing.buffer);
        }
        Ok(())
    }
}

impl<H: Hal, T: Transport, const SIZE: usize> NetQueues for RawNetQueues<H, T, SIZE> {
    type Transport = T;

    fn start(transport: T, buffer_length: usize) -> Result<Self, VirtioError> {
        let transport = Arc::new(Mutex::new(transport));
        let shared = Arc::new(Shared::default());
        let device = VirtIONetRaw::new(NetTransport {
            inner: transport.clone(),
            shared: shared.clone(),
        })?;
        RawNetQueues::new(device, transport, shared, buffer_length)
    }

    fn begin_transmit_batch(&mut self) {
        self.shared.batch.store(BATCH_OPEN, Ordering::Relaxed);
    }

    fn end_transmit_batch(&mut self) {
        if self.shared.batch.swap(NO_BATCH, Ordering::Relaxed) == BATCH_HELD {
            self.transport.lock().notify(TRANSMIT_QUEUE);
        }
    }

    fn mac_address(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.device.ack_interrupt()
    }

    /// Whether a frame can be handed over now.
    fn can_send(&mut self) -> bool {
        // A device that fails here fails the send too, which says so.
        let _ = self.reclaim();
        self.device.can_send()
    }

    /// Hands `frame` to the device to send, without waiting for it to be sent.
    fn send(&mut self, frame: &[u8]) -> Result<(), VirtioError> {
        self.reclaim()?;
        if !self.device.can_send() {
            return Err(VirtioError::QueueFull);
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        // The header's size depends on what the device negotiated: room for the
        // larger one, then as much as it fills.
        buffer.resize(frame.len() + 16, 0);
        let header = self.device.fill_buffer_header(&mut buffer)?;
        let length = header + frame.len();
        buffer.truncate(length);
        buffer
            .get_mut(header..)
            .ok_or(VirtioError::InvalidParam)?
            .copy_from_slice(frame);
        // SAFETY: the buffer is kept in the slot of its token, untouched, until the
        // device gives that token back (`reclaim`), and outlives the device.
        let token = unsafe { self.device.transmit_begin(&buffer) }?;
        let slot = self
            .sending
            .get_mut(usize::from(token))
            .ok_or(VirtioError::WrongToken)?;
        *slot = Some(Outgoing { buffer, length });
        Ok(())
    }

    /// Copies the next received frame into `out` and gives its buffer back to the
    /// device: its length, or `None` when none is waiting. A frame longer than
    /// `out` is dropped and its length answered as the error.
    fn receive(&mut self, out: &mut [u8]) -> Result<Option<usize>, ReceiveError> {
        self.reclaim().map_err(|_| ReceiveError::Device)?;
        let Some(token) = self.device.poll_receive() else {
            return Ok(None);
        };
        let mut buffer = self
            .receiving
            .get_mut(usize::from(token))
            .and_then(Option::take)
            .ok_or(ReceiveError::Device)?;
        // SAFETY: `buffer` is the one handed over with this token.
        let (header, length) = unsafe { self.device.receive_complete(token, &mut buffer) }
            .map_err(|_| ReceiveError::Device)?;
        let copied = match (buffer.get(header..header + length), out.get_mut(..length)) {
            (Some(frame), Some(place)) => {
                place.copy_from_slice(frame);
                Ok(Some(length))
            }
            (None, _) => Err(ReceiveError::Device),
            (Some(_), None) => Err(ReceiveError::TooLarge(length)),
        };
        // The buffer goes back to the device whether or not the frame fitted.
        // SAFETY: as in `new`.
        let again =
            unsafe { self.device.receive_begin(&mut buffer) }.map_err(|_| ReceiveError::Device)?;
        let slot = self
            .receiving
            .get_mut(usize::from(again))
            .ok_or(ReceiveError::Device)?;
        *slot = Some(buffer);
        copied
    }
}
