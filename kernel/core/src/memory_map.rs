//! The machine's physical memory map, normalised: sorted, page-aligned, disjoint
//! usable ranges with every reserved range (firmware, kernel image, boot data) removed.
//!
//! Firmware maps may list overlapping or unsorted entries; usable ranges are shrunk
//! inward to whole pages and reserved ranges grown outward, so a page is usable only
//! if no entry says otherwise. Fixed capacity: this runs before there is a heap.

use core::fmt;

/// The size of a physical frame and of a small page.
pub const PAGE_SIZE: u64 = 4096;

/// How many disjoint usable ranges a map can hold.
pub const MAX_RANGES: usize = 64;

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysicalRange {
    pub start: u64,
    pub end: u64,
}

impl PhysicalRange {
    /// The range `[start, start + length)`, saturating at the top of the address space.
    pub const fn from_start_length(start: u64, length: u64) -> PhysicalRange {
        PhysicalRange {
            start,
            end: start.saturating_add(length),
        }
    }

    pub const fn length(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub const fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }
}

impl fmt::Display for PhysicalRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

/// Why a range could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// More disjoint usable ranges than [`MAX_RANGES`].
    TooManyRanges,
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryMapError::TooManyRanges => {
                write!(f, "the memory map has more than {MAX_RANGES} usable ranges")
            }
        }
    }
}

/// Usable physical memory as sorted, disjoint, page-aligned ranges.
#[derive(Clone, Debug)]
pub struct MemoryMap {
    ranges: [PhysicalRange; MAX_RANGES],
    count: usize,
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

const fn align_up(value: u64) -> u64 {
    match value.checked_add(PAGE_SIZE - 1) {
        Some(bumped) => bumped & !(PAGE_SIZE - 1),
        None => !(PAGE_SIZE - 1),
    }
}

const fn align_down(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

impl MemoryMap {
    pub const fn new() -> MemoryMap {
        MemoryMap {
            ranges: [PhysicalRange { start: 0, end: 0 }; MAX_RANGES],
            count: 0,
        }
    }

    /// The usable ranges, sorted by address.
    pub fn usable(&self) -> &[PhysicalRange] {
        &self.ranges[..self.count]
    }

    /// Bytes of usable memory in all.
    pub fn total_usable(&self) -> u64 {
        self.usable().iter().map(PhysicalRange::length).sum()
    }

    /// The end of the highest usable range (0 if there is none).
    pub fn highest_end(&self) -> u64 {
        self.usable().last().map_or(0, |range| range.end)
    }

    /// Records usable memory, merging it with neighbours it touches or overlaps.
    pub fn add_usable(&mut self, range: PhysicalRange) -> Result<(), MemoryMapError> {
        let mut merged = PhysicalRange {
            start: align_up(range.start),
            end: align_down(range.end),
        };
        if merged.is_empty() {
            return Ok(());
        }
        // Absorb every existing range that overlaps or touches the new one.
        let mut kept = 0;
        for index in 0..self.count {
            let existing = self.ranges[index];
            if existing.end < merged.start || merged.end < existing.start {
                self.ranges[kept] = existing;
                kept += 1;
            } else {
                merged.start = merged.start.min(existing.start);
                merged.end = merged.end.max(existing.end);
            }
        }
        self.count = kept;
        self.insert_sorted(merged)
    }

    /// Removes `range` (grown to whole pages) from usable memory.
    pub fn reserve(&mut self, range: PhysicalRange) -> Result<(), MemoryMapError> {
        let hole = PhysicalRange {
            start: align_down(range.start),
            end: align_up(range.end),
        };
        if hole.is_empty() {
            return Ok(());
        }
        let mut index = 0;
        while index < self.count {
            let existing = self.ranges[index];
            if existing.end <= hole.start || hole.end <= existing.start {
                index += 1;
                continue;
            }
            let below = PhysicalRange {
                start: existing.start,
                end: hole.start.max(existing.start),
            };
            let above = PhysicalRange {
                start: hole.end.min(existing.end),
                end: existing.end,
            };
            self.remove_at(index);
            if !above.is_empty() {
                self.insert_sorted(above)?;
            }
            if !below.is_empty() {
                self.insert_sorted(below)?;
                index += 1;
            }
        }
        Ok(())
    }

    fn remove_at(&mut self, index: usize) {
        self.ranges.copy_within(index + 1..self.count, index);
        self.count -= 1;
    }

    fn insert_sorted(&mut self, range: PhysicalRange) -> Result<(), MemoryMapError> {
        if self.count == MAX_RANGES {
            return Err(MemoryMapError::TooManyRanges);
        }
        let at = self.ranges[..self.count].partition_point(|existing| existing.start < range.start);
        self.ranges.copy_within(at..self.count, at + 1);
        self.ranges[at] = range;
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> PhysicalRange {
        PhysicalRange { start, end }
    }

    #[test]
    fn usable_ranges_shrink_to_pages_and_merge() {
        let mut map = MemoryMap::new();
        map.add_usable(range(0x1001, 0x5fff)).unwrap();
        assert_eq!(map.usable(), &[range(0x2000, 0x5000)]);
        map.add_usable(range(0x5000, 0x9000)).unwrap();
        map.add_usable(range(0x10_0000, 0x20_0000)).unwrap();
        map.add_usable(range(0x8000, 0xa000)).unwrap();
        assert_eq!(
            map.usable(),
            &[range(0x2000, 0xa000), range(0x10_0000, 0x20_0000)]
        );
        assert_eq!(map.total_usable(), 0x8000 + 0x10_0000);
        assert_eq!(map.highest_end(), 0x20_0000);
    }

    #[test]
    fn sub_page_usable_ranges_vanish() {
        let mut map = MemoryMap::new();
        map.add_usable(range(0x1001, 0x1fff)).unwrap();
        assert!(map.usable().is_empty());
    }

    #[test]
    fn reserving_splits_and_grows_to_pages() {
        let mut map = MemoryMap::new();
        map.add_usable(range(0, 0x10_0000)).unwrap();
        map.reserve(range(0x3001, 0x4001)).unwrap();
        assert_eq!(map.usable(), &[range(0, 0x3000), range(0x5000, 0x10_0000)]);
        // A reservation spanning several ranges removes all of them in between.
        map.reserve(range(0x1000, 0xf_0000)).unwrap();
        assert_eq!(
            map.usable(),
            &[range(0, 0x1000), range(0xf_0000, 0x10_0000)]
        );
        map.reserve(range(0, u64::MAX)).unwrap();
        assert!(map.usable().is_empty());
    }

    #[test]
    fn unsorted_firmware_maps_come_out_sorted() {
        let mut map = MemoryMap::new();
        for start in [7u64, 3, 5, 1] {
            map.add_usable(range(start << 20, (start << 20) + 0x1000))
                .unwrap();
        }
        let starts: Vec<u64> = map.usable().iter().map(|r| r.start >> 20).collect();
        assert_eq!(starts, [1, 3, 5, 7]);
    }

    #[test]
    fn capacity_is_an_error_not_a_panic() {
        let mut map = MemoryMap::new();
        for index in 0..MAX_RANGES as u64 {
            map.add_usable(range(index * 0x2000, index * 0x2000 + 0x1000))
                .unwrap();
        }
        assert_eq!(
            map.add_usable(range(0x1_0000_0000, 0x1_0000_1000)),
            Err(MemoryMapError::TooManyRanges)
        );
        // Splitting a full map needs a free slot too.
        let mut full = map.clone();
        full.remove_at(0);
        full.add_usable(range(0x1_0000_0000, 0x1_0001_0000))
            .unwrap();
        assert_eq!(
            full.reserve(range(0x1_0000_4000, 0x1_0000_5000)),
            Err(MemoryMapError::TooManyRanges)
        );
    }
}
