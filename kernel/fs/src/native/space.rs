//! Which blocks are in use: one bit per block, built at mount from the tree (the
//! format keeps no free map, so there is none to get wrong after a crash). It must
//! never hand out a block that is marked.

use alloc::vec;
use alloc::vec::Vec;

/// A run of blocks handed out by [`Space::allocate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) start: u64,
    pub(super) blocks: u32,
}

#[derive(Clone, Debug)]
pub(super) struct Space {
    words: Vec<u64>,
    capacity: u64,
    used: u64,
    /// Where the next search starts, so consecutive writes lie side by side.
    cursor: u64,
}

impl Space {
    /// `capacity` blocks, all free.
    pub(super) fn new(capacity: u64) -> Space {
        Space {
            words: vec![0; capacity.div_ceil(64) as usize],
            capacity,
            used: 0,
            cursor: 0,
        }
    }

    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(super) fn used(&self) -> u64 {
        self.used
    }

    pub(super) fn is_used(&self, block: u64) -> bool {
        block < self.capacity && self.words[(block / 64) as usize] & (1 << (block % 64)) != 0
    }

    fn set(&mut self, block: u64, used: bool) {
        let word = &mut self.words[(block / 64) as usize];
        let bit = 1u64 << (block % 64);
        if used && *word & bit == 0 {
            *word |= bit;
            self.used += 1;
        } else if !used && *word & bit != 0 {
            *word &= !bit;
            self.used -= 1;
        }
    }

    /// Marks `blocks` blocks from `start` used. Answers the first block that is
    /// already used or past the end, marking nothing.
    pub(super) fn mark(&mut self, start: u64, blocks: u64) -> Result<(), u64> {
        let end = start.checked_add(blocks).ok_or(start)?;
        if end > self.capacity {
            return Err(start.max(self.capacity));
        }
        if let Some(taken) = (start..end).find(|&block| self.is_used(block)) {
            return Err(taken);
        }
        for block in start..end {
            self.set(block, true);
        }
        Ok(())
    }

    /// Frees `blocks` blocks from `start` (those past the end are ignored).
    pub(super) fn release(&mut self, start: u64, blocks: u64) {
        let end = start.saturating_add(blocks).min(self.capacity);
        for block in start..end {
            self.set(block, false);
        }
    }

    /// Marks and answers free runs holding `blocks` blocks in all, in at most
    /// `maximum_runs` runs; `None` (marking nothing) when there is no such room.
    pub(super) fn allocate(&mut self, blocks: u64, maximum_runs: usize) -> Option<Vec<Run>> {
        if blocks == 0 {
            return Some(Vec::new());
        }
        if self.capacity - self.used < blocks {
            return None;
        }
        let mut runs: Vec<Run> = Vec::new();
        let mut missing = blocks;
        let mut block = self.cursor.min(self.capacity);
        let mut scanned = 0;
        while missing > 0 && scanned < self.capacity {
            if block >= self.capacity {
                block = 0;
            }
            if block.is_multiple_of(64)
                && block + 64 <= self.capacity
                && self.words[(block / 64) as usize] == u64::MAX
            {
                // A whole word of used blocks, passed at once.
                block += 64;
                scanned += 64;
                continue;
            }
            if self.is_used(block) {
                block += 1;
                scanned += 1;
                continue;
            }
            let mut length = 0u64;
            while block + length < self.capacity
                && !self.is_used(block + length)
                && length < missing
                && length < u64::from(u32::MAX)
                && scanned + length < self.capacity
            {
                length += 1;
            }
            runs.push(Run {
                start: block,
                blocks: length as u32,
            });
            missing -= length;
            block += length;
            scanned += length;
            if runs.len() > maximum_runs {
                // The space near the cursor is cut into small holes (the old copies of
                // directories a run of writes left behind): the largest runs, wherever
                // they are, may still hold it.
                return self.allocate_largest(blocks, maximum_runs);
            }
        }
        if missing > 0 {
            return None;
        }
        for run in &runs {
            for block in run.start..run.start + u64::from(run.blocks) {
                self.set(block, true);
            }
        }
        self.cursor = block;
        Some(runs)
    }
}

impl Space {
    /// [`Space::allocate`] from the largest free runs of the whole space, in block
    /// order; `None` (marking nothing) when the `maximum_runs` largest cannot hold
    /// `blocks` blocks.
    fn allocate_largest(&mut self, blocks: u64, maximum_runs: usize) -> Option<Vec<Run>> {
        let mut free: Vec<Run> = Vec::new();
        let mut block = 0;
        while block < self.capacity {
            if self.is_used(block) {
                block += 1;
                continue;
            }
            let start = block;
            while block < self.capacity
                && !self.is_used(block)
                && block - start < u64::from(u32::MAX)
            {
                block += 1;
            }
            free.push(Run {
                start,
                blocks: (block - start) as u32,
            });
        }
        free.sort_by(|a, b| b.blocks.cmp(&a.blocks).then(a.start.cmp(&b.start)));
        let mut runs = Vec::new();
        let mut missing = blocks;
        for run in free.into_iter().take(maximum_runs) {
            if missing == 0 {
                break;
            }
            let taken = u64::from(run.blocks).min(missing);
            runs.push(Run {
                start: run.start,
                blocks: taken as u32,
            });
            missing -= taken;
        }
        if missing > 0 {
            return None;
        }
        runs.sort_by_key(|run| run.start);
        for run in &runs {
            for block in run.start..run.start + u64::from(run.blocks) {
                self.set(block, true);
            }
        }
        if let Some(last) = runs.last() {
            self.cursor = last.start + u64::from(last.blocks);
        }
        Some(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_skips_used_blocks_and_wraps() {
        let mut space = Space::new(10);
        space.mark(0, 2).unwrap();
        space.mark(4, 1).unwrap();
        let runs = space.allocate(4, 4).unwrap();
        assert_eq!(
            runs,
            [
                Run {
                    start: 2,
                    blocks: 2
                },
                Run {
                    start: 5,
                    blocks: 2
                }
            ]
        );
        assert_eq!(space.used(), 7);
        assert!(space.allocate(4, 4).is_none());
        space.release(0, 2);
        let runs = space.allocate(3, 4).unwrap();
        assert_eq!(
            runs,
            [Run {
                start: 7,
                blocks: 3
            }]
        );
        assert_eq!(
            space.allocate(2, 1).unwrap(),
            [Run {
                start: 0,
                blocks: 2
            }]
        );
        assert_eq!(space.mark(3, 1), Err(3));
        assert_eq!(space.mark(9, 2), Err(10));
    }

    #[test]
    fn small_holes_before_the_cursor_do_not_hide_a_large_run_after_them() {
        // Holes of one block at the start, then a long free run.
        let mut space = Space::new(64);
        for block in (0..16).step_by(2) {
            space.mark(block, 1).unwrap();
        }
        let runs = space.allocate(20, 2).unwrap();
        assert_eq!(
            runs,
            [Run {
                start: 15,
                blocks: 20
            }]
        );
        assert_eq!(space.used(), 28);
        // Too few runs even from the largest: nothing is marked.
        assert!(space.allocate(40, 2).is_none());
        assert_eq!(space.used(), 28);
    }

    #[test]
    fn whole_used_words_are_passed_and_the_last_partial_word_is_found() {
        let mut space = Space::new(200);
        space.mark(0, 190).unwrap();
        assert_eq!(
            space.allocate(10, 1).unwrap(),
            [Run {
                start: 190,
                blocks: 10
            }]
        );
        assert!(space.allocate(1, 1).is_none());
        space.release(64, 1);
        assert_eq!(
            space.allocate(1, 1).unwrap(),
            [Run {
                start: 64,
                blocks: 1
            }]
        );
    }

    #[test]
    fn too_many_runs_is_no_room() {
        let mut space = Space::new(8);
        for block in [1, 3, 5, 7] {
            space.mark(block, 1).unwrap();
        }
        assert!(space.allocate(4, 3).is_none());
        assert_eq!(space.used(), 4);
        assert_eq!(space.allocate(4, 4).unwrap().len(), 4);
    }
}
