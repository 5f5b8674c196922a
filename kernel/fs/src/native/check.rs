//! The checker (fsck): reads a device without changing it and reports, in words,
//! everything wrong with the file system on it. It must never write, never panic
//! and never stop at the first problem it can read past.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_devices::BlockDevice;

use super::layout::{self, SuperblockProblem};
use super::mount::read_superblocks;
use super::{MINIMUM_BLOCKS, tree};

/// What the checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The generation of the superblock it walked from, if one was valid.
    pub generation: Option<u64>,
    pub directories: u64,
    pub files: u64,
    /// Blocks the tree reaches, superblocks included.
    pub blocks_used: u64,
    /// Blocks the file system spans.
    pub blocks_total: u64,
    /// Everything wrong, one sentence each; empty when the file system is clean.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.generation {
            Some(generation) => writeln!(
                formatter,
                "generation {generation}: {} directories, {} files, {} of {} blocks used",
                self.directories, self.files, self.blocks_used, self.blocks_total
            )?,
            None => writeln!(formatter, "no usable superblock")?,
        }
        if self.problems.is_empty() {
            return writeln!(formatter, "clean");
        }
        match self.problems.len() {
            1 => writeln!(formatter, "1 problem:")?,
            count => writeln!(formatter, "{count} problems:")?,
        }
        for problem in &self.problems {
            writeln!(formatter, "- {problem}")?;
        }
        Ok(())
    }
}

/// A superblock slot's problem in words.
pub(super) fn describe(problem: &SuperblockProblem) -> String {
    match problem {
        SuperblockProblem::Blank => String::from("it is zeros"),
        SuperblockProblem::Foreign => String::from("it does not start with the magic"),
        SuperblockProblem::Version(version) => {
            format!("it is of format version {version}, not {}", layout::VERSION)
        }
        SuperblockProblem::Checksum => String::from("it does not match its checksum"),
        SuperblockProblem::Malformed(what) => format!("it is malformed: {what}"),
    }
}

/// Checks the file system on `device`: both superblocks, then every directory,
/// value and block reached from the newest valid one.
pub fn check<D: BlockDevice>(device: &mut D) -> CheckReport {
    let mut report = CheckReport::default();
    let block_size = device.block_size();
    let blocks = device.capacity_blocks();
    if !layout::block_size_supported(block_size) {
        report.problems.push(format!(
            "the device's block size of {block_size} bytes is not supported"
        ));
        return report;
    }
    if blocks < MINIMUM_BLOCKS {
        report.problems.push(format!(
            "the device has {blocks} blocks, fewer than a file system needs ({MINIMUM_BLOCKS})"
        ));
        return report;
    }
    let slots = match read_superblocks(device, block_size) {
        Ok(slots) => slots,
        Err(error) => {
            report
                .problems
                .push(format!("the superblocks could not be read: {error}"));
            return report;
        }
    };
    let mut newest: Option<(usize, layout::Superblock)> = None;
    for (slot, decoded) in slots.into_iter().enumerate() {
        match decoded {
            Ok(superblock) => match &newest {
                Some((_, other)) if other.generation == superblock.generation => {
                    report.problems.push(format!(
                        "both superblocks have generation {}",
                        superblock.generation
                    ));
                }
                Some((_, other)) if other.generation > superblock.generation => {}
                _ => newest = Some((slot, superblock)),
            },
            Err(problem) => report
                .problems
                .push(format!("superblock slot {slot}: {}", describe(&problem))),
        }
    }
    let Some((_, superblock)) = newest else {
        report.problems.push(String::from(
            "no superblock is valid, so nothing else can be checked",
        ));
        return report;
    };
    report.generation = Some(superblock.generation);
    report.blocks_total = superblock.capacity;
    if superblock.block_size as usize != block_size {
        report.problems.push(format!(
            "the file system has {}-byte blocks but the device {block_size}-byte blocks",
            superblock.block_size
        ));
        return report;
    }
    if superblock.capacity > blocks {
        report.problems.push(format!(
            "the file system spans {} blocks but the device has only {blocks}: it was truncated",
            superblock.capacity
        ));
        return report;
    }
    if superblock.capacity < MINIMUM_BLOCKS {
        report.problems.push(format!(
            "the superblock says the file system spans {} blocks",
            superblock.capacity
        ));
        return report;
    }
    let tree = tree::load(device, &superblock, true);
    report.directories = tree.directories.len() as u64;
    report.files = tree.files;
    report.blocks_used = tree.space.used();
    report.problems.extend(tree.problems);
    report
}

#[cfg(test)]
mod tests {
    //! Disks made by hand with one thing wrong each: the checker names it.

    use alloc::string::ToString;
    use alloc::vec;

    use super::super::layout::{Blob, Extent, StoredKind, Superblock, encode_directory};
    use super::*;
    use crate::testing::MemoryDevice;
    use crate::{DirectoryId, DirectoryRecord, Name};

    const BLOCK: usize = 512;

    /// Writes `bytes` from block `start` as one extent.
    fn put(device: &mut MemoryDevice, start: u64, bytes: &[u8]) -> Blob {
        let blocks = bytes.len().div_ceil(BLOCK).max(1);
        let mut padded = vec![0u8; blocks * BLOCK];
        padded[..bytes.len()].copy_from_slice(bytes);
        let at = start as usize * BLOCK;
        device.bytes_mut()[at..at + padded.len()].copy_from_slice(&padded);
        Blob {
            length: bytes.len() as u64,
            extents: if bytes.is_empty() {
                vec![]
            } else {
                vec![Extent {
                    start,
                    blocks: blocks as u32,
                    checksum: layout::checksum(&padded),
                }]
            },
        }
    }

    fn directory(id: u64, entries: &[(&str, StoredKind, &Blob)]) -> alloc::vec::Vec<u8> {
        let record = DirectoryRecord {
            label: "label".to_string(),
            type_hash: [1; 64],
        };
        let names: alloc::vec::Vec<Name> = entries
            .iter()
            .map(|(name, ..)| Name::new(name).unwrap())
            .collect();
        let mut bytes = alloc::vec::Vec::new();
        encode_directory(
            DirectoryId(id),
            0,
            &record,
            entries
                .iter()
                .zip(&names)
                .map(|((_, kind, blob), name)| (name, *kind, 0, 0, *blob)),
            &mut bytes,
        );
        bytes
    }

    /// A disk whose root directory (at block 40) holds `entries`; ids end at 10.
    fn disk(device: &mut MemoryDevice, root: &[u8]) {
        let root = put(device, 40, root);
        for (slot, generation) in [(0usize, 0u64), (1, 1)] {
            let superblock = Superblock {
                block_size: BLOCK as u32,
                capacity: 64,
                generation,
                next_directory: 10,
                root: root.clone(),
            };
            device.bytes_mut()[slot * BLOCK..slot * BLOCK + 512]
                .copy_from_slice(&superblock.encode());
        }
    }

    fn problems_of(entries: impl FnOnce(&mut MemoryDevice) -> alloc::vec::Vec<u8>) -> String {
        let mut device = MemoryDevice::new(64, BLOCK);
        let root = entries(&mut device);
        disk(&mut device, &root);
        let report = check(&mut device);
        assert!(!report.is_clean(), "{report}");
        report.to_string()
    }

    #[test]
    fn a_sound_hand_made_disk_is_clean() {
        let mut device = MemoryDevice::new(64, BLOCK);
        let value = put(&mut device, 10, b"value");
        let child = put(&mut device, 12, &directory(2, &[]));
        let root = directory(
            1,
            &[
                ("a", StoredKind::File, &value),
                ("b", StoredKind::Directory(DirectoryId(2)), &child),
            ],
        );
        disk(&mut device, &root);
        let report = check(&mut device);
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.directories, report.files), (2, 1));
    }

    #[test]
    fn two_files_in_one_block() {
        let report = problems_of(|device| {
            let value = put(device, 10, b"value");
            directory(
                1,
                &[
                    ("a", StoredKind::File, &value),
                    ("b", StoredKind::File, &value),
                ],
            )
        });
        assert!(report.contains("/b: block 10 is also used"), "{report}");
    }

    #[test]
    fn names_out_of_order() {
        let report = problems_of(|device| {
            let value = put(device, 10, b"one");
            let other = put(device, 11, b"two");
            directory(
                1,
                &[
                    ("b", StoredKind::File, &value),
                    ("a", StoredKind::File, &other),
                ],
            )
        });
        assert!(report.contains("not sorted and unique"), "{report}");
    }

    #[test]
    fn two_directories_with_one_id_and_ids_past_the_next() {
        let report = problems_of(|device| {
            let first = put(device, 10, &directory(2, &[]));
            let second = put(device, 12, &directory(2, &[]));
            let late = put(device, 14, &directory(11, &[]));
            directory(
                1,
                &[
                    ("a", StoredKind::Directory(DirectoryId(2)), &first),
                    ("b", StoredKind::Directory(DirectoryId(2)), &second),
                    ("c", StoredKind::Directory(DirectoryId(11)), &late),
                ],
            )
        });
        assert!(report.contains("which another directory has"), "{report}");
        assert!(report.contains("ids so far end before 10"), "{report}");
    }

    #[test]
    fn a_directory_under_another_id() {
        let report = problems_of(|device| {
            let child = put(device, 10, &directory(3, &[]));
            directory(1, &[("a", StoredKind::Directory(DirectoryId(2)), &child)])
        });
        assert!(report.contains("calls itself directory 3"), "{report}");
    }

    #[test]
    fn sizes_that_do_not_match_their_blocks_and_extents_past_the_end() {
        let report = problems_of(|device| {
            let mut long = put(device, 10, b"short");
            long.length = 2000;
            let mut outside = put(device, 12, b"x");
            outside.extents[0].start = 63;
            outside.extents[0].blocks = 4;
            directory(
                1,
                &[
                    ("a", StoredKind::File, &long),
                    ("b", StoredKind::File, &outside),
                ],
            )
        });
        assert!(
            report.contains("need 4 blocks but its extents hold 1"),
            "{report}"
        );
    }

    #[test]
    fn a_file_past_the_end_of_the_disk() {
        let report = problems_of(|device| {
            let mut outside = put(device, 12, b"x");
            outside.extents[0].start = 63;
            outside.extents[0].blocks = 1;
            outside.length = 512;
            let mut far = put(device, 13, b"y");
            far.extents[0].start = 70;
            directory(
                1,
                &[
                    ("a", StoredKind::File, &outside),
                    ("b", StoredKind::File, &far),
                ],
            )
        });
        assert!(report.contains("/a is damaged"), "{report}");
        assert!(report.contains("reach past the end"), "{report}");
    }
}
