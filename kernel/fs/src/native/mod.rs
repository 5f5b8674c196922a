//! The native store: the typed file system on a [`BlockDevice`], crash-consistent by
//! copy-on-write.
//!
//! # Why copy-on-write
//!
//! Every value is written whole (a file holds one value), so a log would write each
//! value twice; copy-on-write writes it once, in free blocks, and makes it live by
//! rewriting the directories from its own up to the root and then one superblock.
//! A commit never overwrites a block that the last durable superblock reaches, so
//! after a power cut at any point the disk holds either the old tree or the new one,
//! and nothing needs replaying at mount.
//!
//! A mutating call is one commit: write the new blocks, flush, write the superblock
//! into the slot that does not hold the current one, flush. It answers `Ok` only
//! after the second flush. A call that fails (no room, a device error) leaves the
//! store in memory as it was; blocks it wrote after issuing its superblock are kept
//! out of use until the next commit replaces that superblock, since the device may
//! or may not have made it durable. That is the one case where an error does not
//! mean "nothing changed" on the disk: when the device fails the superblock's
//! write or the flush after it, the failed change may be found after a power cut
//! that comes before the next commit (whole, like any other; the next commit
//! replaces it).
//!
//! Changes other than removals leave free twice the blocks the directories take
//! (and four more), so that a full store can always be emptied: a removal must
//! write the directories above it before it frees anything.
//!
//! The store keeps every directory in memory (read at mount), and one bit per block
//! (256 KiB per GiB of 512-byte blocks), and reads values from the disk on each
//! `read_file`. The format has no free-space map: mount marks the blocks the tree
//! reaches, so there is no map to get wrong after a crash. A disk
//! whose tree is damaged still mounts, read-only: calls that need the damaged part
//! answer [`StoreError::Corrupt`], and every change answers it too, since which
//! blocks are free is then unknown.
//!
//! # On-disk format, version 1
//!
//! All integers are little-endian. The block size is the device's (a power of two,
//! 512 to 65536 bytes). Checksums are CRC-32 (IEEE, as in zlib).
//!
//! Blocks 0 and 1 are the superblock slots; the newest slot with a valid checksum
//! (highest generation) is the root of everything. A superblock's first 512 bytes:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0   | 8  | magic `EthosFS\0` |
//! | 8   | 4  | format version, 1 |
//! | 12  | 4  | block size in bytes |
//! | 16  | 8  | capacity: blocks the file system spans |
//! | 24  | 8  | generation, one more at each commit |
//! | 32  | 8  | the next directory id to hand out (ids are never reused) |
//! | 40  | 8  | the root directory's length in bytes |
//! | 48  | 2  | the number of the root directory's extents, at most 24 |
//! | 50  | 6  | zero |
//! | 56  | 16 × 24 | the root directory's extents |
//! | 440 | 68 | zero |
//! | 508 | 4  | CRC-32 of bytes 0..508 |
//!
//! The rest of a superblock's block is zero.
//!
//! An extent is 16 bytes: the first block (8), the number of blocks (4, at least
//! one), and the CRC-32 of all its blocks' bytes (4). A blob (a value, or a
//! directory's bytes) is `length` bytes laid over at most 24 extents in order, the
//! last block padded with zeros; its extents hold exactly `ceil(length / block
//! size)` blocks. Its reference is the length (8), the extent count (2) and the
//! extents. Checksums sit in the reference, not beside the data, so a block that
//! holds an older write is caught as surely as a flipped bit.
//!
//! A directory's bytes:
//!
//! | size | field |
//! |-----:|-------|
//! | 4  | magic `EDir` |
//! | 8  | its directory id (the root's is 1) |
//! | 8  | when it was made (the caller's clock, nanoseconds) |
//! | 64 | type hash |
//! | 2  | label length, 1 to 255 |
//! | n  | label, UTF-8 |
//! | 4  | number of entries |
//! | …  | the entries, in byte order of their names, names unique |
//!
//! An entry: kind (1: 1 for a file, 2 for a directory), name length (1), name
//! (UTF-8, a valid [`Name`]), created (8), modified (8), directory id (8: 0 for a
//! file, the child's id, above 1, for a directory), then the blob reference of the
//! file's value (at most [`MAXIMUM_FILE_SIZE`] bytes) or of the child directory's
//! bytes (at most 16 MiB, as the root's). Nothing else is on the disk: every block not reached from the superblock
//! is free.

mod check;
#[cfg(feature = "std")]
mod file_device;
mod layout;
mod mount;
mod space;
mod store;
mod tree;

use alloc::string::String;
use core::fmt;

use ethos_devices::BlockError;

pub use check::{CheckReport, check};
#[cfg(feature = "std")]
pub use file_device::{FILE_BLOCK_SIZE, FileDevice};
pub use mount::{format, mount};
pub use store::NativeStore;

use crate::StoreError;
#[cfg(doc)]
use crate::{MAXIMUM_FILE_SIZE, Name};

/// The fewest blocks a file system can span.
pub const MINIMUM_BLOCKS: u64 = 16;

/// Why a device could not be formatted or mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountError {
    /// The device failed a request.
    Device(BlockError),
    /// The device's block size is not a power of two from 512 to 65536.
    BlockSize(usize),
    /// The device is smaller than [`MINIMUM_BLOCKS`].
    TooSmall { blocks: u64 },
    /// Both superblock slots are zeros.
    Blank,
    /// Neither superblock slot holds the magic: the disk holds something else.
    Foreign,
    /// A superblock is of a format version this code does not read.
    UnsupportedVersion(u32),
    /// Neither superblock is valid (checksums or fields); what is wrong with each.
    Damaged(String),
    /// The file system was made with another block size than the device's.
    BlockSizeMismatch { recorded: u32, device: usize },
    /// The file system spans more blocks than the device has.
    Truncated { recorded: u64, device: u64 },
    /// The root directory's record is not valid (format only).
    InvalidRoot(StoreError),
}

impl fmt::Display for MountError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::Device(error) => write!(formatter, "the device failed: {error}"),
            MountError::BlockSize(size) => write!(
                formatter,
                "the device's block size of {size} bytes is not supported (a power of two from 512 to 65536)"
            ),
            MountError::TooSmall { blocks } => write!(
                formatter,
                "the device has {blocks} blocks; a file system needs at least {MINIMUM_BLOCKS}"
            ),
            MountError::Blank => {
                formatter.write_str("the device is blank: both superblocks are zeros")
            }
            MountError::Foreign => formatter.write_str(
                "the device holds no Ethos file system: neither superblock has its magic",
            ),
            MountError::UnsupportedVersion(version) => write!(
                formatter,
                "the file system is of format version {version}; this code reads version {}",
                layout::VERSION
            ),
            MountError::Damaged(what) => {
                write!(formatter, "no superblock is valid: {what}")
            }
            MountError::BlockSizeMismatch { recorded, device } => write!(
                formatter,
                "the file system was made with {recorded}-byte blocks but the device has {device}-byte blocks"
            ),
            MountError::Truncated { recorded, device } => write!(
                formatter,
                "the file system spans {recorded} blocks but the device has only {device}: it was truncated"
            ),
            MountError::InvalidRoot(error) => {
                write!(formatter, "the root directory's record: {error}")
            }
        }
    }
}

/// How much of the device the store uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub block_size: usize,
    /// Blocks the file system spans.
    pub blocks: u64,
    /// Blocks live data, directories and the superblocks take (and blocks held back
    /// after a failed commit).
    pub used: u64,
    pub free: u64,
}
