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

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use ethos_virtio::{NetQueues, ReceiveError};
use virtio_drivers::Error as VirtioError;
use virtio_drivers::Hal;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{InterruptStatus, Transport};

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
    device: VirtIONetRaw<H, T, SIZE>,
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
    pub(crate) fn new(
        mut device: VirtIONetRaw<H, T, SIZE>,
        buffer_length: usize,
    ) -> Result<Self, VirtioError> {
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
        RawNetQueues::new(VirtIONetRaw::new(transport)?, buffer_length)
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
