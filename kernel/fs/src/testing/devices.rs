//! Block devices for tests: a disk in memory, one that loses power, one that fails
//! chosen requests.

use alloc::vec;
use alloc::vec::Vec;

use ethos_devices::{BlockDevice, BlockError, check_block_request};

use super::Random;

/// A disk in memory whose every write is durable at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryDevice {
    block_size: usize,
    bytes: Vec<u8>,
}

impl MemoryDevice {
    /// `blocks` zeroed blocks of `block_size` bytes.
    pub fn new(blocks: u64, block_size: usize) -> MemoryDevice {
        MemoryDevice {
            block_size,
            bytes: vec![0; blocks as usize * block_size],
        }
    }

    /// A disk holding `bytes` (a trailing partial block is dropped).
    pub fn from_bytes(mut bytes: Vec<u8>, block_size: usize) -> MemoryDevice {
        bytes.truncate(bytes.len() / block_size * block_size);
        MemoryDevice { block_size, bytes }
    }

    /// Every byte of the disk, to damage it.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl BlockDevice for MemoryDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn capacity_blocks(&self) -> u64 {
        (self.bytes.len() / self.block_size) as u64
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        check_block_request(
            first_block,
            buffer.len(),
            self.block_size,
            self.capacity_blocks(),
        )?;
        let start = first_block as usize * self.block_size;
        buffer.copy_from_slice(&self.bytes[start..start + buffer.len()]);
        Ok(())
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        check_block_request(
            first_block,
            data.len(),
            self.block_size,
            self.capacity_blocks(),
        )?;
        let start = first_block as usize * self.block_size;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// A disk with a volatile write cache that can lose power. Reads see every write;
/// a flush makes the writes before it durable. After [`CrashDevice::cut_power_after`]
/// it accepts that many more writes, then fails every request. [`CrashDevice::crash`]
/// answers the disk as it is when the power returns: what was flushed, plus a random
/// subset of the unflushed block writes applied in a random order.
#[derive(Clone, Debug)]
pub struct CrashDevice {
    block_size: usize,
    durable: Vec<u8>,
    current: Vec<u8>,
    /// Unflushed writes, one block each, in the order they were made.
    pending: Vec<(u64, Vec<u8>)>,
    writes: u64,
    flushes: u64,
    blocks_written: u64,
    writes_until_power_cut: Option<u64>,
}

impl CrashDevice {
    /// `blocks` zeroed blocks of `block_size` bytes.
    pub fn new(blocks: u64, block_size: usize) -> CrashDevice {
        let bytes = vec![0; blocks as usize * block_size];
        CrashDevice {
            block_size,
            durable: bytes.clone(),
            current: bytes,
            pending: Vec::new(),
            writes: 0,
            flushes: 0,
            blocks_written: 0,
            writes_until_power_cut: None,
        }
    }

    /// Write requests accepted so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Flush requests accepted so far.
    pub fn flushes(&self) -> u64 {
        self.flushes
    }

    /// Blocks written so far.
    pub fn blocks_written(&self) -> u64 {
        self.blocks_written
    }

    /// After `writes` more write requests, the power fails.
    pub fn cut_power_after(&mut self, writes: u64) {
        self.writes_until_power_cut = Some(writes);
    }

    fn powered(&self) -> bool {
        self.writes_until_power_cut != Some(0)
    }

    /// The disk after a power cut now: durable blocks and a random subset of the
    /// unflushed ones, in a random order; powered again, with an empty cache.
    pub fn crash(&self, random: &mut Random) -> CrashDevice {
        let mut image = self.durable.clone();
        let mut survivors: Vec<&(u64, Vec<u8>)> = self
            .pending
            .iter()
            .filter(|_| random.chance(1, 2))
            .collect();
        random.shuffle(&mut survivors);
        for (block, data) in survivors {
            let start = *block as usize * self.block_size;
            image[start..start + self.block_size].copy_from_slice(data);
        }
        CrashDevice {
            block_size: self.block_size,
            durable: image.clone(),
            current: image,
            pending: Vec::new(),
            writes: 0,
            flushes: 0,
            blocks_written: 0,
            writes_until_power_cut: None,
        }
    }
}

impl BlockDevice for CrashDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn capacity_blocks(&self) -> u64 {
        (self.current.len() / self.block_size) as u64
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        check_block_request(
            first_block,
            buffer.len(),
            self.block_size,
            self.capacity_blocks(),
        )?;
        if !self.powered() {
            return Err(BlockError::Device);
        }
        let start = first_block as usize * self.block_size;
        buffer.copy_from_slice(&self.current[start..start + buffer.len()]);
        Ok(())
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        check_block_request(
            first_block,
            data.len(),
            self.block_size,
            self.capacity_blocks(),
        )?;
        if !self.powered() {
            return Err(BlockError::Device);
        }
        if let Some(left) = &mut self.writes_until_power_cut {
            *left -= 1;
        }
        self.writes += 1;
        self.blocks_written += (data.len() / self.block_size) as u64;
        let start = first_block as usize * self.block_size;
        self.current[start..start + data.len()].copy_from_slice(data);
        for (index, block) in data.chunks(self.block_size).enumerate() {
            self.pending
                .push((first_block + index as u64, block.to_vec()));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if !self.powered() {
            return Err(BlockError::Device);
        }
        self.flushes += 1;
        for (block, data) in self.pending.drain(..) {
            let start = block as usize * self.block_size;
            self.durable[start..start + self.block_size].copy_from_slice(&data);
        }
        Ok(())
    }
}

/// A request a [`FaultyDevice`] fails, as QEMU's blkdebug does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every read that covers this block.
    ReadOf(u64),
    /// Every write that covers this block.
    WriteTo(u64),
    /// The write request with this number, counting from 1 at the fault's adding.
    WriteNumber(u64),
    /// The flush with this number, counting from 1 at the fault's adding.
    FlushNumber(u64),
}

/// A device that fails the requests its faults name and passes the rest on.
#[derive(Clone, Debug)]
pub struct FaultyDevice<D> {
    inner: D,
    faults: Vec<Fault>,
    writes: u64,
    flushes: u64,
    /// Requests failed so far.
    pub failed: u64,
}

impl<D: BlockDevice> FaultyDevice<D> {
    pub fn new(inner: D) -> FaultyDevice<D> {
        FaultyDevice {
            inner,
            faults: Vec::new(),
            writes: 0,
            flushes: 0,
            failed: 0,
        }
    }

    /// Fails what `fault` names from now on; request counts restart.
    pub fn add(&mut self, fault: Fault) {
        self.faults.push(fault);
        self.writes = 0;
        self.flushes = 0;
    }

    /// Fails nothing from now on.
    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The device behind, to cut its power.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }

    fn covers(&self, first_block: u64, length: usize, block: u64) -> bool {
        let blocks = (length / self.inner.block_size().max(1)) as u64;
        (first_block..first_block.saturating_add(blocks)).contains(&block)
    }
}

impl<D: BlockDevice> BlockDevice for FaultyDevice<D> {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }

    fn capacity_blocks(&self) -> u64 {
        self.inner.capacity_blocks()
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        let failing = self.faults.iter().any(|fault| {
            matches!(fault, Fault::ReadOf(block) if self.covers(first_block, buffer.len(), *block))
        });
        if failing {
            self.failed += 1;
            return Err(BlockError::Io { first_block });
        }
        self.inner.read_blocks(first_block, buffer)
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        self.writes += 1;
        let failing = self.faults.iter().any(|fault| match fault {
            Fault::WriteTo(block) => self.covers(first_block, data.len(), *block),
            Fault::WriteNumber(number) => *number == self.writes,
            _ => false,
        });
        if failing {
            self.failed += 1;
            return Err(BlockError::Io { first_block });
        }
        self.inner.write_blocks(first_block, data)
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.flushes += 1;
        let failing = self
            .faults
            .iter()
            .any(|fault| matches!(fault, Fault::FlushNumber(number) if *number == self.flushes));
        if failing {
            self.failed += 1;
            return Err(BlockError::Device);
        }
        self.inner.flush()
    }
}
