//! Serving a notified queue (split virtqueues, §2.7): entropy requests are filled
//! with a counting pattern, block requests read and write the model's disk. The
//! rings and buffers are read through `guest`, so a wrong address — a lost high
//! half, a misplaced legacy ring — is a violation, not a wild access.

use super::{Device, Function};
use crate::guest;

const NEXT: u16 = 1;
const WRITE: u16 = 2;
const INDIRECT: u16 = 4;

const BLOCK_IN: u32 = 0;
const BLOCK_OUT: u32 = 1;
const BLOCK_FLUSH: u32 = 4;
const BLOCK_OK: u8 = 0;
const BLOCK_IO_ERROR: u8 = 1;
const BLOCK_UNSUPPORTED: u8 = 2;
const SECTOR: u64 = 512;

/// One descriptor of a chain.
#[derive(Clone, Copy, Debug)]
struct Buffer {
    address: u64,
    length: usize,
    writable: bool,
}

fn read_u16(physical: u64) -> Result<u16, String> {
    let mut bytes = [0; 2];
    guest::read(physical, &mut bytes)?;
    Ok(u16::from_le_bytes(bytes))
}

/// The descriptor chain starting at `head` of a ring of `size` at `descriptors`.
fn chain(descriptors: u64, size: u16, head: u16) -> Result<Vec<Buffer>, String> {
    let mut buffers = Vec::new();
    let mut index = head;
    loop {
        if index >= size || buffers.len() >= usize::from(size) {
            return Err(format!("descriptor chain from {head} is broken at {index}"));
        }
        let mut entry = [0u8; 16];
        guest::read(descriptors + 16 * u64::from(index), &mut entry)?;
        let flags = u16::from_le_bytes([entry[12], entry[13]]);
        if flags & INDIRECT != 0 {
            return Err("indirect descriptor, a feature not negotiated".into());
        }
        buffers.push(Buffer {
            address: u64::from_le_bytes(entry[..8].try_into().unwrap()),
            length: u32::from_le_bytes(entry[8..12].try_into().unwrap()) as usize,
            writable: flags & WRITE != 0,
        });
        if flags & NEXT == 0 {
            return Ok(buffers);
        }
        index = u16::from_le_bytes([entry[14], entry[15]]);
    }
}

impl Device {
    /// Serves every request made available on queue `index`.
    pub(super) fn serve(&mut self, index: usize) {
        if let Err(error) = self.serve_queue(index) {
            self.refuse(error);
        }
    }

    fn serve_queue(&mut self, index: usize) -> Result<(), String> {
        if matches!(self.function, Function::Network { .. }) {
            // Receive buffers wait for frames that never come.
            return Ok(());
        }
        loop {
            let queue = self.queues[index].clone();
            let available = read_u16(queue.driver + 2)?;
            if queue.next_available == available {
                return Ok(());
            }
            let slot = u64::from(queue.next_available % queue.size);
            let head = read_u16(queue.driver + 4 + 2 * slot)?;
            let buffers = chain(queue.descriptors, queue.size, head)?;
            let written = match &mut self.function {
                Function::Entropy => {
                    let counter = &mut self.entropy_counter;
                    fill_entropy(&buffers, counter)?
                }
                Function::Block { disk } => serve_block(disk, &buffers)?,
                Function::Network { .. } => unreachable!("returned above"),
            };
            let used_slot = u64::from(queue.used_index % queue.size);
            let mut element = [0u8; 8];
            element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
            element[4..].copy_from_slice(&(written as u32).to_le_bytes());
            guest::write(queue.device + 4 + 8 * used_slot, &element)?;
            let used_index = queue.used_index.wrapping_add(1);
            guest::write(queue.device + 2, &used_index.to_le_bytes())?;
            let queue = &mut self.queues[index];
            queue.used_index = used_index;
            queue.next_available = queue.next_available.wrapping_add(1);
            self.isr |= 1;
            self.served += 1;
        }
    }
}

/// Fills every buffer with the next bytes of a counting pattern (0, 1, 2, …).
fn fill_entropy(buffers: &[Buffer], counter: &mut u8) -> Result<usize, String> {
    let mut written = 0;
    for buffer in buffers {
        if !buffer.writable {
            return Err("entropy request with a buffer the device may not write".into());
        }
        let bytes: Vec<u8> = (0..buffer.length)
            .map(|_| {
                let byte = *counter;
                *counter = counter.wrapping_add(1);
                byte
            })
            .collect();
        guest::write(buffer.address, &bytes)?;
        written += buffer.length;
    }
    Ok(written)
}

/// Serves one block request: a readable header, data buffers, a writable status.
fn serve_block(disk: &mut [u8], buffers: &[Buffer]) -> Result<usize, String> {
    let (Some(header), Some(status)) = (buffers.first(), buffers.last()) else {
        return Err("empty block request".into());
    };
    if buffers.len() < 2 || header.writable || header.length < 16 || !status.writable {
        return Err(format!("malformed block request: {buffers:?}"));
    }
    let mut bytes = [0u8; 16];
    guest::read(header.address, &mut bytes)?;
    let kind = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let sector = u64::from_le_bytes(bytes[8..].try_into().unwrap());
    let data = &buffers[1..buffers.len() - 1];
    let total: usize = data.iter().map(|buffer| buffer.length).sum();
    let start = sector.checked_mul(SECTOR).map(|start| start as usize);
    let range = start
        .and_then(|start| Some(start..start.checked_add(total)?))
        .filter(|range| range.end <= disk.len());
    let mut written = 0;
    let outcome = match (kind, range) {
        (BLOCK_FLUSH, _) => BLOCK_OK,
        (BLOCK_IN | BLOCK_OUT, None) => BLOCK_IO_ERROR,
        (BLOCK_IN, Some(range)) => {
            let mut at = range.start;
            for buffer in data {
                if !buffer.writable {
                    return Err("block read into a buffer the device may not write".into());
                }
                guest::write(buffer.address, &disk[at..at + buffer.length])?;
                at += buffer.length;
            }
            written = total;
            BLOCK_OK
        }
        (BLOCK_OUT, Some(range)) => {
            let mut at = range.start;
            for buffer in data {
                if buffer.writable {
                    return Err("block write from a buffer marked device-writable".into());
                }
                guest::read(buffer.address, &mut disk[at..at + buffer.length])?;
                at += buffer.length;
            }
            BLOCK_OK
        }
        _ => BLOCK_UNSUPPORTED,
    };
    guest::write(status.address, &[outcome])?;
    Ok(written + 1)
}
