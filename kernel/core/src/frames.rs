//! The physical frame allocator: one bit per 4 KiB frame, set while the frame is in use.
//!
//! Written by hand because it must work before the heap exists, over storage the
//! platform carves out of the memory map, and must answer contiguous and aligned
//! requests (page tables, heaps, DMA) as well as single frames. A frame is handed
//! out at most once until it is freed; freeing a frame that is not allocated is an
//! error, never silent corruption of the free count.

use core::fmt;

use crate::memory_map::{MemoryMap, PAGE_SIZE, PhysicalRange};

const BITS: usize = u64::BITS as usize;

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The bitmap storage is too small for the memory it must describe.
    StorageTooSmall {
        needed_words: usize,
        given_words: usize,
    },
    /// The address is not the start of a frame.
    Misaligned(u64),
    /// The address is beyond the memory this allocator manages.
    OutOfRange(u64),
    /// The frame is not allocated: a double free, or a frame that was never usable.
    NotAllocated(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::StorageTooSmall {
                needed_words,
                given_words,
            } => write!(
                f,
                "frame bitmap needs {needed_words} words of storage, got {given_words}"
            ),
            FrameError::Misaligned(address) => {
                write!(f, "{address:#x} is not the start of a frame")
            }
            FrameError::OutOfRange(address) => {
                write!(f, "{address:#x} is beyond managed physical memory")
            }
            FrameError::NotAllocated(address) => {
                write!(f, "frame {address:#x} is not allocated (double free?)")
            }
        }
    }
}

/// Allocates physical frames from the usable memory of a [`MemoryMap`].
#[derive(Debug)]
pub struct FrameBitmap<'storage> {
    /// Bit `i` set: frame `i` (address `i * PAGE_SIZE`) is in use or not usable.
    bits: &'storage mut [u64],
    frames: usize,
    free: usize,
    /// Where the next single-frame search starts: lowest frame that may be free.
    search_from: usize,
}

impl<'storage> FrameBitmap<'storage> {
    /// Words of storage needed to manage the memory in `map`.
    pub fn words_needed(map: &MemoryMap) -> usize {
        let frames = (map.highest_end() / PAGE_SIZE) as usize;
        frames.div_ceil(BITS)
    }

    /// An allocator for the usable memory in `map`, keeping its bitmap in `storage`.
    /// The caller reserves the storage's own frames in `map` before calling this.
    pub fn new(
        storage: &'storage mut [u64],
        map: &MemoryMap,
    ) -> Result<FrameBitmap<'storage>, FrameError> {
        let needed_words = Self::words_needed(map);
        if storage.len() < needed_words {
            return Err(FrameError::StorageTooSmall {
                needed_words,
                given_words: storage.len(),
            });
        }
        storage.fill(u64::MAX);
        let mut bitmap = FrameBitmap {
            bits: storage,
            frames: (map.highest_end() / PAGE_SIZE) as usize,
            free: 0,
            search_from: usize::MAX,
        };
        for range in map.usable() {
            let first = (range.start / PAGE_SIZE) as usize;
            let last = (range.end / PAGE_SIZE) as usize;
            bitmap.update_range(first, last, false);
            bitmap.free += last - first;
            bitmap.search_from = bitmap.search_from.min(first);
        }
        bitmap.search_from = bitmap.search_from.min(bitmap.frames);
        Ok(bitmap)
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// The lowest free frame, marked in use.
    pub fn allocate(&mut self) -> Option<u64> {
        let mut word = self.search_from / BITS;
        while word < self.bits.len() {
            let bits = self.bits[word];
            if bits != u64::MAX {
                let frame = word * BITS + bits.trailing_ones() as usize;
                if frame >= self.frames {
                    return None;
                }
                self.set(frame);
                self.free -= 1;
                self.search_from = frame + 1;
                return Some(frame as u64 * PAGE_SIZE);
            }
            word += 1;
        }
        None
    }

    /// `count` contiguous free frames whose first address is a multiple of
    /// `align_frames` frames (a power of two), all marked in use.
    pub fn allocate_contiguous(&mut self, count: usize, align_frames: usize) -> Option<u64> {
        if count == 0 || !align_frames.is_power_of_two() {
            return None;
        }
        let mut start = self.search_from.next_multiple_of(align_frames);
        while start.checked_add(count)? <= self.frames {
            match self.last_used_in(start, start + count) {
                // Restart after the last used frame of the window.
                Some(used) => start = (used + 1).next_multiple_of(align_frames),
                None => {
                    self.update_range(start, start + count, true);
                    self.free -= count;
                    if start == self.search_from {
                        self.search_from = start + count;
                    }
                    return Some(start as u64 * PAGE_SIZE);
                }
            }
        }
        None
    }

    /// Returns a frame allocated earlier.
    pub fn free(&mut self, address: u64) -> Result<(), FrameError> {
        if !address.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned(address));
        }
        let frame = (address / PAGE_SIZE) as usize;
        if frame >= self.frames {
            return Err(FrameError::OutOfRange(address));
        }
        if !self.is_set(frame) {
            return Err(FrameError::NotAllocated(address));
        }
        self.clear(frame);
        self.free += 1;
        self.search_from = self.search_from.min(frame);
        Ok(())
    }

    /// Returns `count` contiguous frames allocated earlier, starting at `address`.
    pub fn free_contiguous(&mut self, address: u64, count: usize) -> Result<(), FrameError> {
        for index in 0..count as u64 {
            self.free(address + index * PAGE_SIZE)?;
        }
        Ok(())
    }

    /// Whether every frame of `range` is currently allocated (or not usable).
    pub fn is_range_in_use(&self, range: PhysicalRange) -> bool {
        let first = (range.start / PAGE_SIZE) as usize;
        let last = range.end.div_ceil(PAGE_SIZE) as usize;
        (first..last).all(|frame| frame >= self.frames || self.is_set(frame))
    }

    /// Sets (`used`) or clears the bits of frames `first..last`: the partial words
    /// at either end by mask, the whole words between with one fill (a run of
    /// gigabytes is then a few hundred stores, not a loop of masks).
    fn update_range(&mut self, first: usize, last: usize, used: bool) {
        if first >= last {
            return;
        }
        let apply = |word: &mut u64, mask: u64| {
            if used {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        };
        let first_word = first / BITS;
        let last_word = (last - 1) / BITS;
        let low_mask = u64::MAX << (first % BITS);
        let high_mask = u64::MAX >> (BITS - 1 - (last - 1) % BITS);
        if first_word == last_word {
            apply(&mut self.bits[first_word], low_mask & high_mask);
            return;
        }
        apply(&mut self.bits[first_word], low_mask);
        self.bits[first_word + 1..last_word].fill(if used { u64::MAX } else { 0 });
        apply(&mut self.bits[last_word], high_mask);
    }

    /// The highest used frame in `first..last`: the partial words at either end by
    /// mask, the whole words between compared with zero.
    fn last_used_in(&self, first: usize, last: usize) -> Option<usize> {
        if first >= last {
            return None;
        }
        let highest =
            |word: usize, used: u64| word * BITS + (BITS - 1 - used.leading_zeros() as usize);
        let first_word = first / BITS;
        let last_word = (last - 1) / BITS;
        let low_mask = u64::MAX << (first % BITS);
        let high_mask = u64::MAX >> (BITS - 1 - (last - 1) % BITS);
        if first_word == last_word {
            let used = self.bits[first_word] & low_mask & high_mask;
            return (used != 0).then(|| highest(first_word, used));
        }
        let used = self.bits[last_word] & high_mask;
        if used != 0 {
            return Some(highest(last_word, used));
        }
        let middle = &self.bits[first_word + 1..last_word];
        // An OR over the whole words first, which the compiler unrolls to about one
        // instruction a word: a free window (the boot's heap, 256 words) is then not
        // searched word by word, at some eight instructions a word.
        if middle.iter().fold(0, |any, word| any | word) != 0
            && let Some(offset) = middle.iter().rposition(|word| *word != 0)
        {
            let word = first_word + 1 + offset;
            return Some(highest(word, self.bits[word]));
        }
        let used = self.bits[first_word] & low_mask;
        (used != 0).then(|| highest(first_word, used))
    }

    fn is_set(&self, frame: usize) -> bool {
        self.bits[frame / BITS] & (1 << (frame % BITS)) != 0
    }

    fn set(&mut self, frame: usize) {
        self.bits[frame / BITS] |= 1 << (frame % BITS);
    }

    fn clear(&mut self, frame: usize) {
        self.bits[frame / BITS] &= !(1 << (frame % BITS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn map(ranges: &[(u64, u64)]) -> MemoryMap {
        let mut map = MemoryMap::new();
        for &(start, end) in ranges {
            map.add_usable(PhysicalRange { start, end }).unwrap();
        }
        map
    }

    #[test]
    fn hands_out_every_usable_frame_exactly_once() {
        let map = map(&[(0x1000, 0x9000), (0x20000, 0x30000)]);
        let mut storage = vec![0u64; FrameBitmap::words_needed(&map)];
        let mut frames = FrameBitmap::new(&mut storage, &map).unwrap();
        assert_eq!(frames.free_frames(), 8 + 16);
        let mut seen = HashSet::new();
        while let Some(frame) = frames.allocate() {
            assert!(map.usable().iter().any(|r| r.contains(frame)), "{frame:#x}");
            assert!(seen.insert(frame), "{frame:#x} handed out twice");
        }
        assert_eq!(seen.len(), 24);
        assert_eq!(frames.free_frames(), 0);
        // Freed frames are reused.
        frames.free(0x5000).unwrap();
        assert_eq!(frames.allocate(), Some(0x5000));
    }

    #[test]
    fn bad_frees_are_errors() {
        let map = map(&[(0x1000, 0x9000)]);
        let mut storage = vec![0u64; FrameBitmap::words_needed(&map)];
        let mut frames = FrameBitmap::new(&mut storage, &map).unwrap();
        let frame = frames.allocate().unwrap();
        assert_eq!(
            frames.free(frame + 1),
            Err(FrameError::Misaligned(frame + 1))
        );
        assert_eq!(
            frames.free(0x100_0000),
            Err(FrameError::OutOfRange(0x100_0000))
        );
        frames.free(frame).unwrap();
        assert_eq!(frames.free(frame), Err(FrameError::NotAllocated(frame)));
        assert_eq!(frames.free_frames(), 8);
    }

    #[test]
    fn contiguous_requests_respect_alignment_and_holes() {
        let map = map(&[(0x1000, 0x3000), (0x4000, 0x40000)]);
        let mut storage = vec![0u64; FrameBitmap::words_needed(&map)];
        let mut frames = FrameBitmap::new(&mut storage, &map).unwrap();
        let block = frames.allocate_contiguous(4, 4).unwrap();
        assert_eq!(block % (4 * PAGE_SIZE), 0);
        assert_eq!(block, 0x4000);
        assert!(frames.is_range_in_use(PhysicalRange::from_start_length(block, 0x4000)));
        let big = frames.allocate_contiguous(16, 16).unwrap();
        assert_eq!(big, 0x10000);
        // Single frames still come from the low hole first.
        assert_eq!(frames.allocate(), Some(0x1000));
        assert_eq!(frames.allocate_contiguous(1000, 1), None);
        assert_eq!(frames.allocate_contiguous(0, 1), None);
        assert_eq!(frames.allocate_contiguous(1, 3), None);
        frames.free_contiguous(big, 16).unwrap();
        assert_eq!(frames.allocate_contiguous(16, 16), Some(big));
    }

    #[test]
    fn word_range_operations_match_a_bit_by_bit_model() {
        let map = map(&[(0, 0x100_0000)]);
        let mut storage = vec![0u64; FrameBitmap::words_needed(&map)];
        let mut frames = FrameBitmap::new(&mut storage, &map).unwrap();
        let mut model = vec![false; frames.frames];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let first = (seed % 4096) as usize;
            let last = (first + (seed >> 20) as usize % 300).min(4096);
            let used = seed & 1 == 1;
            frames.update_range(first, last, used);
            model[first..last].fill(used);
            let probe_first = ((seed >> 32) % 4096) as usize;
            let probe_last = (probe_first + (seed >> 44) as usize % 200).min(4096);
            let expected = (probe_first..probe_last).rev().find(|&frame| model[frame]);
            assert_eq!(frames.last_used_in(probe_first, probe_last), expected);
        }
        for (frame, &used) in model.iter().enumerate() {
            assert_eq!(frames.is_set(frame), used, "frame {frame}");
        }
    }

    #[test]
    fn storage_too_small_is_reported() {
        let map = map(&[(0, 0x100_0000)]);
        let mut storage = vec![0u64; 3];
        assert!(matches!(
            FrameBitmap::new(&mut storage, &map),
            Err(FrameError::StorageTooSmall {
                needed_words: 64,
                given_words: 3
            })
        ));
    }
}
