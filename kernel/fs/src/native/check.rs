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
    let mut newest = None;
    for (slot, decoded) in slots.into_iter().enumerate() {
        match decoded {
            Ok(superblock) => match &newest {
                Some((_, other)) if superblock_generation(other) == superblock.generation => {
                    report.problems.push(format!(
                        "both superblocks have generation {}",
                        superblock.generation
                    ));
                }
                Some((_, other)) if superblock_generation(other) > superblock.generation => {}
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
            "the file system spans {} blocks but the device has only {blocks}",
            superblock.capacity
        ));
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

fn superblock_generation(superblock: &layout::Superblock) -> u64 {
    superblock.generation
}
