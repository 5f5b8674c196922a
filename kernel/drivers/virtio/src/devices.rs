//! virtio-blk, virtio-net and virtio-rng as the kernel's device classes, over the
//! `virtio-drivers` crate's device drivers.
//!
//! Each wrapper checks requests with the portable core's rules before the device
//! sees them, maps the crate's errors to the class's error, and acknowledges the
//! device's interrupt after each operation so its INTx line can be unmasked. None of
//! them may turn a device error into success, or start on a device its transport
//! gave up on.

use ethos_devices::{
    BlockDevice, BlockError, EntropyError, EntropySource, NetworkDevice, NetworkError,
    check_block_request,
};
use virtio_drivers::Error as VirtioError;
use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::device::rng::VirtIORng;

use crate::net_queues::{NetQueues, ReceiveError};
use crate::transport::{Refusal, VirtioTransport};
use crate::{DeviceInterrupt, Machine};

/// The transport a machine's drivers work through.
type TransportOf<M> = VirtioTransport<<M as Machine>::Ports, <M as Machine>::Memory>;

/// Receive and transmit queue entries. QEMU's legacy virtio-net fixes both queues at
/// 256 entries, and the modern device accepts the same, so one size serves both.
pub const NET_QUEUE_SIZE: usize = 256;
/// Receive buffer bytes: a 1514-byte frame plus the 12-byte virtio-net header.
const NET_BUFFER_LENGTH: usize = 2048;
/// The queue size the crate's block driver uses; a legacy device must match it.
pub const BLOCK_QUEUE_SIZE: u16 = 16;
/// The queue size the crate's entropy driver uses.
pub const ENTROPY_QUEUE_SIZE: u16 = 8;

/// Why a driver did not start on its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The transport gave up on the device during initialisation (it is FAILED).
    Refused(Refusal),
    /// The driver of `virtio-drivers` failed.
    Virtio(VirtioError),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Refused(refusal) => write!(f, "{refusal}"),
            StartError::Virtio(error) => write!(f, "virtio: {error}"),
        }
    }
}

/// Starts a driver of `virtio-drivers` on `transport`; a device its transport gave
/// up on is an error even if the driver did not notice (the driver is dropped).
fn start<M: Machine, D>(
    transport: TransportOf<M>,
    driver: impl FnOnce(TransportOf<M>) -> Result<D, VirtioError>,
) -> Result<D, StartError> {
    let record = transport.refusal_record();
    let started = driver(transport);
    match record.refusal() {
        Some(refusal) => Err(StartError::Refused(refusal)),
        None => started.map_err(StartError::Virtio),
    }
}

/// A virtio block device.
pub struct VirtioBlock<M: Machine> {
    device: VirtIOBlk<M::Hal, TransportOf<M>>,
    capacity: u64,
    read_only: bool,
    line: M::Interrupt,
}

impl<M: Machine> core::fmt::Debug for VirtioBlock<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioBlock")
            .field("capacity", &self.capacity)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

fn block_error(error: VirtioError, first_block: u64) -> BlockError {
    match error {
        VirtioError::IoError => BlockError::Io { first_block },
        VirtioError::Unsupported => BlockError::Unsupported,
        _ => BlockError::Device,
    }
}

impl<M: Machine> VirtioBlock<M> {
    pub fn new(
        transport: TransportOf<M>,
        line: M::Interrupt,
    ) -> Result<VirtioBlock<M>, StartError> {
        let device = start::<M, _>(transport, VirtIOBlk::<M::Hal, _>::new)?;
        Ok(VirtioBlock {
            capacity: device.capacity(),
            read_only: device.readonly(),
            device,
            line,
        })
    }

    fn finish<T>(&mut self, outcome: Result<T, VirtioError>) -> Result<T, VirtioError> {
        self.line.service(|| self.device.ack_interrupt());
        outcome
    }
}

impl<M: Machine> BlockDevice for VirtioBlock<M> {
    fn block_size(&self) -> usize {
        SECTOR_SIZE
    }

    fn capacity_blocks(&self) -> u64 {
        self.capacity
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        check_block_request(first_block, buffer.len(), SECTOR_SIZE, self.capacity)?;
        let outcome = self.device.read_blocks(first_block as usize, buffer);
        self.finish(outcome)
            .map_err(|error| block_error(error, first_block))
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        check_block_request(first_block, data.len(), SECTOR_SIZE, self.capacity)?;
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        let outcome = self.device.write_blocks(first_block as usize, data);
        self.finish(outcome)
            .map_err(|error| block_error(error, first_block))
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        let outcome = self.device.flush();
        self.finish(outcome).map_err(|error| block_error(error, 0))
    }
}

/// A virtio network interface, over the queues its machine chooses (see
/// [`crate::net_queues`]).
pub struct VirtioNetwork<M: Machine> {
    queues: M::NetQueues,
    mac: [u8; 6],
    line: M::Interrupt,
}

impl<M: Machine> core::fmt::Debug for VirtioNetwork<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioNetwork")
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

impl<M: Machine> VirtioNetwork<M> {
    pub fn new(
        transport: TransportOf<M>,
        line: M::Interrupt,
    ) -> Result<VirtioNetwork<M>, StartError> {
        let queues = start::<M, _>(transport, |transport| {
            M::NetQueues::start(transport, NET_BUFFER_LENGTH)
        })?;
        Ok(VirtioNetwork {
            mac: queues.mac_address(),
            queues,
            line,
        })
    }
}

impl<M: Machine> NetworkDevice for VirtioNetwork<M> {
    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        // The crate does not negotiate VIRTIO_NET_F_STATUS; without it the link is
        // up by definition.
        true
    }

    fn max_frame_length(&self) -> usize {
        1514
    }

    fn can_transmit(&mut self) -> bool {
        self.queues.can_send()
    }

    fn begin_transmit_batch(&mut self) {
        self.queues.begin_transmit_batch()
    }

    fn end_transmit_batch(&mut self) {
        self.queues.end_transmit_batch()
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetworkError> {
        if frame.len() > self.max_frame_length() {
            return Err(NetworkError::FrameTooLarge {
                length: frame.len(),
                limit: self.max_frame_length(),
            });
        }
        // No acknowledgement here: one after the last look at the receive queue
        // could swallow the interrupt of a frame that landed just before it.
        // `receive` acknowledges, and every poll of the stack receives.
        match self.queues.send(frame) {
            Ok(()) => Ok(()),
            Err(VirtioError::QueueFull) => Err(NetworkError::Busy),
            Err(_) => Err(NetworkError::Device),
        }
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetworkError> {
        // Acknowledged before the queue is looked at, never after: a frame that
        // lands after this look interrupts again, so a caller that found nothing
        // and waits for the interrupt is woken by it.
        self.line.service(|| self.queues.ack_interrupt());
        match self.queues.receive(buffer) {
            Ok(received) => Ok(received),
            Err(ReceiveError::TooLarge(length)) => Err(NetworkError::FrameTooLarge {
                length,
                limit: buffer.len(),
            }),
            Err(ReceiveError::Device) => Err(NetworkError::Device),
        }
    }
}

/// A virtio entropy device.
pub struct VirtioEntropy<M: Machine> {
    device: VirtIORng<M::Hal, TransportOf<M>>,
    line: M::Interrupt,
}

impl<M: Machine> core::fmt::Debug for VirtioEntropy<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtioEntropy").finish_non_exhaustive()
    }
}

impl<M: Machine> VirtioEntropy<M> {
    pub fn new(
        transport: TransportOf<M>,
        line: M::Interrupt,
    ) -> Result<VirtioEntropy<M>, StartError> {
        Ok(VirtioEntropy {
            device: start::<M, _>(transport, VirtIORng::new)?,
            line,
        })
    }
}

impl<M: Machine> EntropySource for VirtioEntropy<M> {
    fn fill(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError> {
        let outcome = self.device.request_entropy(buffer);
        self.line.service(|| self.device.ack_interrupt());
        match outcome {
            Ok(0) => Err(EntropyError::Exhausted),
            Ok(count) => Ok(count.min(buffer.len())),
            Err(_) => Err(EntropyError::Device),
        }
    }
}
