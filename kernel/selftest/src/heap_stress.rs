//! A heap stress run: many allocations of many sizes and alignments, freed in a
//! scrambled order and reused, every byte checked against the pattern it was given.
//!
//! It exercises whatever global allocator the program has: the kernel heap inside
//! the kernel, the system allocator in host tests. The caller compares the heap's use
//! before and after, which must match: the run frees everything it took.

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// How many allocations are alive at once.
const LIVE_SLOTS: usize = 128;

/// A page-aligned block, to check alignments larger than a cache line.
#[repr(C, align(4096))]
struct PageBlock([u8; 4096]);

/// One live allocation and the pattern it must still hold.
enum Block {
    Bytes(Vec<u8>),
    Words(Vec<u64>),
    Pages(Box<[PageBlock]>),
}

/// What a stress run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StressSummary {
    pub allocations: u64,
    pub bytes_allocated: u64,
    pub largest: usize,
}

/// A block whose contents or alignment were not what the run wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapError {
    Corrupted {
        slot: usize,
        offset: usize,
        expected: u8,
        found: u8,
    },
    Misaligned {
        slot: usize,
        address: usize,
        align: usize,
    },
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapError::Corrupted {
                slot,
                offset,
                expected,
                found,
            } => write!(
                f,
                "slot {slot} byte {offset} changed: expected {expected:#04x}, found {found:#04x}"
            ),
            HeapError::Misaligned {
                slot,
                address,
                align,
            } => write!(
                f,
                "slot {slot} at {address:#x} is not aligned to {align} bytes"
            ),
        }
    }
}

/// xorshift64*: deterministic sizes and orders from a seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn pattern(slot: usize, generation: u64, offset: usize) -> u8 {
    (slot as u64 ^ generation.rotate_left(7) ^ offset as u64 ^ (offset as u64 >> 8)) as u8
}

impl Block {
    fn new(random: &mut Random, slot: usize, generation: u64) -> (Block, usize) {
        let block = match random.below(16) {
            // Mostly small objects, then medium buffers, a few large ones.
            0..=9 => {
                let length = 1 + random.below(256) as usize;
                Block::Bytes(
                    (0..length)
                        .map(|at| pattern(slot, generation, at))
                        .collect(),
                )
            }
            10..=12 => {
                let length = 1 + random.below(2048) as usize;
                Block::Words(
                    (0..length)
                        .map(|at| u64::from(pattern(slot, generation, at)))
                        .collect(),
                )
            }
            13 | 14 => {
                let pages = 1 + random.below(4) as usize;
                let mut pages: Box<[PageBlock]> =
                    (0..pages).map(|_| PageBlock([0; 4096])).collect();
                for (at, byte) in pages
                    .iter_mut()
                    .flat_map(|page| page.0.iter_mut())
                    .enumerate()
                {
                    *byte = pattern(slot, generation, at);
                }
                Block::Pages(pages)
            }
            _ => {
                let length = 64 * 1024 + random.below(192 * 1024) as usize;
                Block::Bytes(
                    (0..length)
                        .map(|at| pattern(slot, generation, at))
                        .collect(),
                )
            }
        };
        let size = block.size();
        (block, size)
    }

    fn size(&self) -> usize {
        match self {
            Block::Bytes(bytes) => bytes.len(),
            Block::Words(words) => words.len() * 8,
            Block::Pages(pages) => pages.len() * 4096,
        }
    }

    fn check(&self, slot: usize, generation: u64) -> Result<(), HeapError> {
        let (address, align) = match self {
            Block::Bytes(bytes) => (bytes.as_ptr() as usize, 1),
            Block::Words(words) => (words.as_ptr() as usize, 8),
            Block::Pages(pages) => (pages.as_ptr() as usize, 4096),
        };
        if address % align != 0 {
            return Err(HeapError::Misaligned {
                slot,
                address,
                align,
            });
        }
        let mismatch = |offset: usize, found: u8| {
            let expected = pattern(slot, generation, offset);
            (found != expected).then_some(HeapError::Corrupted {
                slot,
                offset,
                expected,
                found,
            })
        };
        let first_error = match self {
            Block::Bytes(bytes) => bytes
                .iter()
                .enumerate()
                .find_map(|(at, &byte)| mismatch(at, byte)),
            Block::Words(words) => words
                .iter()
                .enumerate()
                .find_map(|(at, &word)| mismatch(at, word as u8)),
            Block::Pages(pages) => pages
                .iter()
                .flat_map(|page| page.0.iter())
                .enumerate()
                .find_map(|(at, &byte)| mismatch(at, byte)),
        };
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs `rounds` rounds of allocate / check / free over the global allocator.
pub fn run(rounds: usize, seed: u64) -> Result<StressSummary, HeapError> {
    let mut random = Random(seed | 1);
    let mut slots: Vec<Option<(Block, u64)>> = (0..LIVE_SLOTS).map(|_| None).collect();
    let mut summary = StressSummary::default();
    for generation in 0..rounds as u64 {
        let slot = random.below(LIVE_SLOTS as u64) as usize;
        if let Some((block, written)) = slots[slot].take() {
            block.check(slot, written)?;
        }
        let (block, size) = Block::new(&mut random, slot, generation);
        summary.allocations += 1;
        summary.bytes_allocated += size as u64;
        summary.largest = summary.largest.max(size);
        slots[slot] = Some((block, generation));
        // Now and then, free a scattered quarter of the slots to make holes.
        if generation % 64 == 63 {
            for _ in 0..LIVE_SLOTS / 4 {
                let victim = random.below(LIVE_SLOTS as u64) as usize;
                if let Some((block, written)) = slots[victim].take() {
                    block.check(victim, written)?;
                }
            }
        }
    }
    for (slot, entry) in slots.iter_mut().enumerate() {
        if let Some((block, written)) = entry.take() {
            block.check(slot, written)?;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_passes_on_a_sound_allocator() {
        let summary = run(2_000, 7).unwrap();
        assert_eq!(summary.allocations, 2_000);
        assert!(summary.largest >= 64 * 1024);
    }

    #[test]
    fn corruption_is_detected() {
        let mut random = Random(3);
        let (mut block, _) = Block::new(&mut random, 5, 9);
        assert_eq!(block.check(5, 9), Ok(()));
        match &mut block {
            Block::Bytes(bytes) => bytes[0] ^= 0xff,
            Block::Words(words) => words[0] ^= 0xff,
            Block::Pages(pages) => pages[0].0[0] ^= 0xff,
        }
        assert!(matches!(
            block.check(5, 9),
            Err(HeapError::Corrupted {
                slot: 5,
                offset: 0,
                ..
            })
        ));
    }
}
