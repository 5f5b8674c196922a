//! What [`crate::VirtioNetwork`] drives a virtio-net device through: its two
//! queues, as a [`NetQueues`] the [`crate::Machine`] chooses.
//!
//! Sending without waiting for the device to take the frame is the fast way, but
//! `virtio-drivers` offers it only through `VirtIONetRaw`, whose calls are
//! `unsafe` (a buffer handed to the device must stay put, untouched, until the
//! device hands it back), and this crate holds no `unsafe` code: a platform that
//! sends without waiting implements [`NetQueues`] itself. [`WaitingNetQueues`] is
//! the safe one any machine can take, over the crate's `VirtIONet`: each send
//! waits until the device has taken the frame, which under emulation is until the
//! emulator's I/O thread has run, once per frame.

use virtio_drivers::Error as VirtioError;
use virtio_drivers::Hal;
use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::{InterruptStatus, Transport};

/// A virtio-net device's receive and transmit queues, with the buffers they hold.
pub trait NetQueues: Sized {
    /// The transport the device is reached through.
    type Transport;

    /// Starts the device on `transport`, with receive buffers of `buffer_length`
    /// bytes (a frame and the virtio-net header).
    fn start(transport: Self::Transport, buffer_length: usize) -> Result<Self, VirtioError>;

    /// The device's hardware address.
    fn mac_address(&self) -> [u8; 6];

    /// Acknowledges the device's interrupt.
    fn ack_interrupt(&mut self) -> InterruptStatus;

    /// Whether a frame can be sent now.
    fn can_send(&mut self) -> bool;

    /// Sends `frame` (without the virtio-net header, which this adds).
    fn send(&mut self, frame: &[u8]) -> Result<(), VirtioError>;

    /// Copies the next received frame into `out` and gives its buffer back to the
    /// device: its length, or `None` when none is waiting. A frame longer than
    /// `out` is dropped.
    fn receive(&mut self, out: &mut [u8]) -> Result<Option<usize>, ReceiveError>;

    /// See `ethos_devices::NetworkDevice::begin_transmit_batch`; nothing by default.
    fn begin_transmit_batch(&mut self) {}

    /// See `ethos_devices::NetworkDevice::end_transmit_batch`; nothing by default.
    fn end_transmit_batch(&mut self) {}
}

/// Why [`NetQueues::receive`] gave no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// The device or the queue failed.
    Device,
    /// The frame, this long, did not fit the buffer it was to be copied into.
    TooLarge(usize),
}

/// [`NetQueues`] over `virtio-drivers`' `VirtIONet`, with no `unsafe` code: each
/// send waits until the device has taken the frame.
pub struct WaitingNetQueues<H: Hal, T: Transport, const SIZE: usize> {
    device: VirtIONet<H, T, SIZE>,
}

impl<H: Hal, T: Transport, const SIZE: usize> core::fmt::Debug for WaitingNetQueues<H, T, SIZE> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaitingNetQueues").finish_non_exhaustive()
    }
}

impl<H: Hal, T: Transport, const SIZE: usize> NetQueues for WaitingNetQueues<H, T, SIZE> {
    type Transport = T;

    fn start(transport: T, buffer_length: usize) -> Result<Self, VirtioError> {
        Ok(WaitingNetQueues {
            device: VirtIONet::new(transport, buffer_length)?,
        })
    }

    fn mac_address(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.device.ack_interrupt()
    }

    fn can_send(&mut self) -> bool {
        self.device.can_send()
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), VirtioError> {
        let mut buffer = self.device.new_tx_buffer(frame.len());
        buffer.packet_mut().copy_from_slice(frame);
        self.device.send(buffer)
    }

    fn receive(&mut self, out: &mut [u8]) -> Result<Option<usize>, ReceiveError> {
        let received = match self.device.receive() {
            Ok(received) => received,
            Err(VirtioError::NotReady) => return Ok(None),
            Err(_) => return Err(ReceiveError::Device),
        };
        let frame = received.packet();
        let length = frame.len();
        let copied = out
            .get_mut(..length)
            .map(|target| target.copy_from_slice(frame));
        // The buffer goes back to the device whether or not the frame fitted.
        self.device
            .recycle_rx_buffer(received)
            .map_err(|_| ReceiveError::Device)?;
        match copied {
            Some(()) => Ok(Some(length)),
            None => Err(ReceiveError::TooLarge(length)),
        }
    }
}
