//! Whole-disk checks over any [`BlockDevice`]: write the shared sector pattern over
//! every block, flush, read everything back and compare; and probe that requests past
//! the end fail with an error.
//!
//! The same functions judge native and rump block drivers. They must never report
//! success for a write or read the device refused.

use alloc::vec;
use core::fmt;

use ethos_abi::drivers::{PATTERN_SECTOR, fill_sector_pattern};

use crate::{BlockDevice, BlockError};

/// How many bytes each request moves.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Why a whole-disk check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockCheckError {
    /// The block size is not a whole number of pattern sectors.
    BlockSize(usize),
    Write {
        first_block: u64,
        error: BlockError,
    },
    Flush(BlockError),
    Read {
        first_block: u64,
        error: BlockError,
    },
    /// Read-back data differs from what was written.
    Mismatch {
        block: u64,
        offset: usize,
    },
    /// A request past the end of the disk succeeded.
    BeyondCapacityAccepted {
        first_block: u64,
    },
    /// A request past the end failed, but not with `OutOfRange`.
    BeyondCapacityWrongError(BlockError),
}

impl fmt::Display for BlockCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockCheckError::BlockSize(size) => {
                write!(f, "block size {size} is not a multiple of {PATTERN_SECTOR}")
            }
            BlockCheckError::Write { first_block, error } => {
                write!(f, "write at block {first_block}: {error}")
            }
            BlockCheckError::Flush(error) => write!(f, "flush: {error}"),
            BlockCheckError::Read { first_block, error } => {
                write!(f, "read at block {first_block}: {error}")
            }
            BlockCheckError::Mismatch { block, offset } => {
                write!(f, "block {block} differs from the pattern at byte {offset}")
            }
            BlockCheckError::BeyondCapacityAccepted { first_block } => {
                write!(
                    f,
                    "a request at block {first_block}, past the end, succeeded"
                )
            }
            BlockCheckError::BeyondCapacityWrongError(error) => {
                write!(
                    f,
                    "a request past the end failed with `{error}`, not out of range"
                )
            }
        }
    }
}

/// What a whole-disk check moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternSummary {
    pub blocks: u64,
    pub bytes: u64,
}

fn fill_pattern(seed: u64, first_block: u64, block_size: usize, buffer: &mut [u8]) {
    let sectors_per_block = (block_size / PATTERN_SECTOR) as u64;
    let first_sector = first_block * sectors_per_block;
    for (index, sector) in buffer.chunks_mut(PATTERN_SECTOR).enumerate() {
        fill_sector_pattern(seed, first_sector + index as u64, sector);
    }
}

/// Writes the pattern over the whole device, then flushes.
pub fn write_pattern(
    device: &mut dyn BlockDevice,
    seed: u64,
) -> Result<PatternSummary, BlockCheckError> {
    let block_size = device.block_size();
    if block_size == 0 || !block_size.is_multiple_of(PATTERN_SECTOR) {
        return Err(BlockCheckError::BlockSize(block_size));
    }
    let capacity = device.capacity_blocks();
    let chunk_blocks = (CHUNK_BYTES / block_size).max(1) as u64;
    let mut buffer = vec![0u8; chunk_blocks as usize * block_size];
    let mut block = 0;
    while block < capacity {
        let count = chunk_blocks.min(capacity - block);
        let bytes = &mut buffer[..count as usize * block_size];
        fill_pattern(seed, block, block_size, bytes);
        device
            .write_blocks(block, bytes)
            .map_err(|error| BlockCheckError::Write {
                first_block: block,
                error,
            })?;
        block += count;
    }
    device.flush().map_err(BlockCheckError::Flush)?;
    Ok(PatternSummary {
        blocks: capacity,
        bytes: capacity * block_size as u64,
    })
}

/// Reads the whole device and compares it with the pattern.
pub fn verify_pattern(
    device: &mut dyn BlockDevice,
    seed: u64,
) -> Result<PatternSummary, BlockCheckError> {
    let block_size = device.block_size();
    if block_size == 0 || !block_size.is_multiple_of(PATTERN_SECTOR) {
        return Err(BlockCheckError::BlockSize(block_size));
    }
    let capacity = device.capacity_blocks();
    let chunk_blocks = (CHUNK_BYTES / block_size).max(1) as u64;
    let mut buffer = vec![0u8; chunk_blocks as usize * block_size];
    let mut expected = vec![0u8; buffer.len()];
    let mut block = 0;
    while block < capacity {
        let count = chunk_blocks.min(capacity - block);
        let length = count as usize * block_size;
        // Poison first, so a read that moves nothing cannot pass as the pattern.
        buffer[..length].fill(0xa5);
        device
            .read_blocks(block, &mut buffer[..length])
            .map_err(|error| BlockCheckError::Read {
                first_block: block,
                error,
            })?;
        fill_pattern(seed, block, block_size, &mut expected[..length]);
        if let Some(offset) = buffer[..length]
            .iter()
            .zip(&expected[..length])
            .position(|(got, want)| got != want)
        {
            return Err(BlockCheckError::Mismatch {
                block: block + (offset / block_size) as u64,
                offset: offset % block_size,
            });
        }
        block += count;
    }
    Ok(PatternSummary {
        blocks: capacity,
        bytes: capacity * block_size as u64,
    })
}

/// Reads and writes just past the end, and straddling it: each must fail with
/// `OutOfRange`, and nothing may panic.
pub fn check_beyond_capacity(device: &mut dyn BlockDevice) -> Result<(), BlockCheckError> {
    let block_size = device.block_size();
    let capacity = device.capacity_blocks();
    let mut buffer = vec![0u8; block_size * 2];
    for first_block in [capacity, capacity.saturating_sub(1), u64::MAX - 1] {
        let outcomes = [
            device.read_blocks(first_block, &mut buffer),
            device.write_blocks(first_block, &buffer),
        ];
        for outcome in outcomes {
            match outcome {
                Ok(()) => return Err(BlockCheckError::BeyondCapacityAccepted { first_block }),
                Err(BlockError::OutOfRange { .. }) => {}
                Err(other) => return Err(BlockCheckError::BeyondCapacityWrongError(other)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_block_request;

    /// A disk in memory that can be told to fail one block.
    struct MemoryDisk {
        bytes: Vec<u8>,
        failing_block: Option<u64>,
        flushed: bool,
    }

    impl BlockDevice for MemoryDisk {
        fn block_size(&self) -> usize {
            512
        }
        fn capacity_blocks(&self) -> u64 {
            (self.bytes.len() / 512) as u64
        }
        fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
            let blocks =
                check_block_request(first_block, buffer.len(), 512, self.capacity_blocks())?;
            if let Some(bad) = self.failing_block
                && (first_block..first_block + blocks).contains(&bad)
            {
                return Err(BlockError::Io { first_block });
            }
            let start = first_block as usize * 512;
            buffer.copy_from_slice(&self.bytes[start..start + buffer.len()]);
            Ok(())
        }
        fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
            let blocks = check_block_request(first_block, data.len(), 512, self.capacity_blocks())?;
            if let Some(bad) = self.failing_block
                && (first_block..first_block + blocks).contains(&bad)
            {
                return Err(BlockError::Io { first_block });
            }
            let start = first_block as usize * 512;
            self.bytes[start..start + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), BlockError> {
            self.flushed = true;
            Ok(())
        }
    }

    fn disk(blocks: usize) -> MemoryDisk {
        MemoryDisk {
            bytes: vec![0; blocks * 512],
            failing_block: None,
            flushed: false,
        }
    }

    #[test]
    fn pattern_round_trips_over_an_odd_sized_disk() {
        let mut device = disk(300);
        let written = write_pattern(&mut device, 7).unwrap();
        assert!(device.flushed);
        assert_eq!(verify_pattern(&mut device, 7).unwrap(), written);
        assert_eq!(written.bytes, 300 * 512);
    }

    #[test]
    fn a_changed_byte_is_found() {
        let mut device = disk(200);
        write_pattern(&mut device, 7).unwrap();
        device.bytes[150 * 512 + 3] ^= 1;
        assert_eq!(
            verify_pattern(&mut device, 7),
            Err(BlockCheckError::Mismatch {
                block: 150,
                offset: 3
            })
        );
    }

    #[test]
    fn device_errors_are_reported_not_hidden() {
        let mut device = disk(200);
        device.failing_block = Some(190);
        assert!(matches!(
            write_pattern(&mut device, 7),
            Err(BlockCheckError::Write { .. })
        ));
        assert!(!device.flushed);
    }

    #[test]
    fn requests_past_the_end_fail() {
        let mut device = disk(16);
        assert_eq!(check_beyond_capacity(&mut device), Ok(()));
    }
}
