//! The device classes every backend implements: network, datagram ([`datagram`]),
//! block, entropy, console; in [`block_check`] and [`datagram_check`], the
//! conformance checks every backend runs unchanged; and, in [`backends`], which
//! (class, backend) pairs a kernel can serve.
//!
//! A class is a trait with one typed error. Native Rust drivers (virtio) and
//! rump-backed drivers implement the same traits, so the same kernel tests and the
//! same network stack run on either. Nothing here may know which backend is behind a
//! trait object, and nothing here touches the machine: request checks that every
//! backend must make (bounds, alignment) live here so they are tested on the host.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod backends;
pub mod block_check;
pub mod datagram;
pub mod datagram_check;

use core::fmt;

pub use backends::{BackendUnavailable, DriverEntry};
pub use datagram::{Datagram, DatagramError, DatagramSocket, LinkStatistics, Readiness};
pub use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The request reaches past the last block of the device.
    OutOfRange {
        first_block: u64,
        blocks: u64,
        capacity: u64,
    },
    /// The buffer is not a whole, non-zero number of blocks.
    Misaligned { length: usize, block_size: usize },
    /// The device is read-only and the request writes.
    ReadOnly,
    /// The device reported an input/output error for the request.
    Io { first_block: u64 },
    /// The device does not support the operation (for example, flush).
    Unsupported,
    /// The device or its transport misbehaved (bad status, queue failure).
    Device,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::OutOfRange {
                first_block,
                blocks,
                capacity,
            } => write!(
                f,
                "blocks {first_block}..{} are beyond the capacity of {capacity} blocks",
                first_block.saturating_add(*blocks)
            ),
            BlockError::Misaligned { length, block_size } => write!(
                f,
                "a buffer of {length} bytes is not a whole number of {block_size}-byte blocks"
            ),
            BlockError::ReadOnly => write!(f, "the device is read-only"),
            BlockError::Io { first_block } => {
                write!(f, "the device reported an I/O error at block {first_block}")
            }
            BlockError::Unsupported => write!(f, "the device does not support the operation"),
            BlockError::Device => write!(f, "the device or its transport failed"),
        }
    }
}

/// A disk: fixed-size blocks numbered from zero.
pub trait BlockDevice {
    /// Bytes per block (512 for virtio-blk).
    fn block_size(&self) -> usize;
    /// Number of blocks.
    fn capacity_blocks(&self) -> u64;
    /// Reads `buffer.len() / block_size` blocks starting at `first_block`.
    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `data.len() / block_size` blocks starting at `first_block`. `Ok` means
    /// the device accepted every block; it never stands for a partial write.
    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), BlockError>;
}

/// Checks a request of `length` bytes at `first_block` against a device's geometry;
/// returns the number of blocks it covers. Every backend calls this before it
/// touches the device.
pub fn check_block_request(
    first_block: u64,
    length: usize,
    block_size: usize,
    capacity: u64,
) -> Result<u64, BlockError> {
    if block_size == 0 || length == 0 || !length.is_multiple_of(block_size) {
        return Err(BlockError::Misaligned { length, block_size });
    }
    let blocks = (length / block_size) as u64;
    match first_block.checked_add(blocks) {
        Some(end) if end <= capacity => Ok(blocks),
        _ => Err(BlockError::OutOfRange {
            first_block,
            blocks,
            capacity,
        }),
    }
}

/// Why a network device operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkError {
    /// Every transmit slot is in use; try again after polling.
    Busy,
    /// The frame does not fit the device (or the caller's receive buffer).
    FrameTooLarge { length: usize, limit: usize },
    /// The device or its transport failed.
    Device,
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Busy => write!(f, "every transmit slot is in use"),
            NetworkError::FrameTooLarge { length, limit } => {
                write!(
                    f,
                    "a {length}-byte frame exceeds the limit of {limit} bytes"
                )
            }
            NetworkError::Device => write!(f, "the device or its transport failed"),
        }
    }
}

/// An Ethernet interface: whole frames in and out, without the frame check sequence.
pub trait NetworkDevice {
    /// The interface's hardware address.
    fn mac_address(&self) -> [u8; 6];
    /// Whether the link is up (devices without link status report up).
    fn link_up(&self) -> bool;
    /// The largest frame, header included, the device sends or receives.
    fn max_frame_length(&self) -> usize;
    /// Whether a transmit slot is free now.
    fn can_transmit(&mut self) -> bool;
    /// Queues one frame for transmission.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetworkError>;
    /// Copies one received frame into `buffer`; `Ok(None)` when none is waiting.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetworkError>;
    /// Frames transmitted from here to [`NetworkDevice::end_transmit_batch`] may be
    /// announced to the device together, once, at its end: for a device whose every
    /// announcement is costly (a trip out of a virtual machine). Nothing by default.
    fn begin_transmit_batch(&mut self) {}
    /// Announces what was transmitted since [`NetworkDevice::begin_transmit_batch`].
    fn end_transmit_batch(&mut self) {}
}

/// Why an entropy source gave nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The device or its transport failed.
    Device,
    /// The device returned no bytes where some were asked for.
    Exhausted,
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyError::Device => write!(f, "the entropy device or its transport failed"),
            EntropyError::Exhausted => write!(f, "the entropy device returned no bytes"),
        }
    }
}

/// A source of random bytes from outside the kernel.
pub trait EntropySource {
    /// Fills a prefix of `buffer`; returns how many bytes were written (at least one).
    fn fill(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError>;

    /// Fills all of `buffer`, asking as often as needed.
    fn fill_all(&mut self, buffer: &mut [u8]) -> Result<(), EntropyError> {
        let mut done = 0;
        while done < buffer.len() {
            match self.fill(&mut buffer[done..])? {
                0 => return Err(EntropyError::Exhausted),
                count => done += count.min(buffer.len() - done),
            }
        }
        Ok(())
    }
}

/// Why a console operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleError {
    /// The device or its transport failed.
    Device,
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::Device => write!(f, "the console device failed"),
        }
    }
}

/// A byte stream to an operator: the serial line, a virtio console.
pub trait Console {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), ConsoleError>;
    /// One byte typed by the operator, if one is waiting.
    fn read_byte(&mut self) -> Result<Option<u8>, ConsoleError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for alloc::boxed::Box<T> {
    fn block_size(&self) -> usize {
        (**self).block_size()
    }
    fn capacity_blocks(&self) -> u64 {
        (**self).capacity_blocks()
    }
    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        (**self).read_blocks(first_block, buffer)
    }
    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        (**self).write_blocks(first_block, data)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        (**self).flush()
    }
}

impl<T: NetworkDevice + ?Sized> NetworkDevice for alloc::boxed::Box<T> {
    fn mac_address(&self) -> [u8; 6] {
        (**self).mac_address()
    }
    fn link_up(&self) -> bool {
        (**self).link_up()
    }
    fn max_frame_length(&self) -> usize {
        (**self).max_frame_length()
    }
    fn can_transmit(&mut self) -> bool {
        (**self).can_transmit()
    }
    fn begin_transmit_batch(&mut self) {
        (**self).begin_transmit_batch()
    }
    fn end_transmit_batch(&mut self) {
        (**self).end_transmit_batch()
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetworkError> {
        (**self).transmit(frame)
    }
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetworkError> {
        (**self).receive(buffer)
    }
}

/// Which classes a probe found a device for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    found: [usize; DeviceClass::ALL.len()],
}

impl Inventory {
    /// Counts one more device of `class`.
    pub fn add(&mut self, class: DeviceClass) {
        self.found[class.index()] += 1;
    }

    /// How many devices of `class` were found.
    pub fn count(&self, class: DeviceClass) -> usize {
        self.found[class.index()]
    }

    /// The classes with no device, in [`DeviceClass::ALL`] order.
    pub fn missing(&self) -> impl Iterator<Item = DeviceClass> + '_ {
        DeviceClass::ALL
            .into_iter()
            .filter(|class| self.count(*class) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_requests_inside_the_disk_pass() {
        assert_eq!(check_block_request(0, 512, 512, 8), Ok(1));
        assert_eq!(check_block_request(4, 2048, 512, 8), Ok(4));
    }

    #[test]
    fn block_requests_past_the_end_or_overflowing_fail() {
        assert_eq!(
            check_block_request(8, 512, 512, 8),
            Err(BlockError::OutOfRange {
                first_block: 8,
                blocks: 1,
                capacity: 8
            })
        );
        assert!(matches!(
            check_block_request(u64::MAX, 512, 512, 8),
            Err(BlockError::OutOfRange { .. })
        ));
    }

    #[test]
    fn partial_or_empty_buffers_are_misaligned() {
        for length in [0, 1, 511, 513] {
            assert_eq!(
                check_block_request(0, length, 512, 8),
                Err(BlockError::Misaligned {
                    length,
                    block_size: 512
                })
            );
        }
        assert!(check_block_request(0, 512, 0, 8).is_err());
    }

    struct Counter(u8);
    impl EntropySource for Counter {
        fn fill(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError> {
            // Gives at most three bytes a call, as a slow device would.
            let count = buffer.len().min(3);
            for byte in &mut buffer[..count] {
                self.0 = self.0.wrapping_add(1);
                *byte = self.0;
            }
            Ok(count)
        }
    }

    #[test]
    fn fill_all_asks_until_full() {
        let mut buffer = [0u8; 10];
        Counter(0).fill_all(&mut buffer).unwrap();
        assert_eq!(buffer, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn inventory_names_missing_classes() {
        let mut inventory = Inventory::default();
        inventory.add(DeviceClass::Block);
        let missing: Vec<_> = inventory.missing().collect();
        assert_eq!(
            missing,
            [
                DeviceClass::Network,
                DeviceClass::Datagram,
                DeviceClass::Entropy,
                DeviceClass::Console
            ]
        );
    }
}
