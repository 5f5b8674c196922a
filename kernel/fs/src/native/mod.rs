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
//! or may not have made it durable.
//!
//! Changes other than removals leave free twice the blocks the directories take
//! (and four more), so that a full store can always be emptied: a removal must
//! write the directories above it before it frees anything.
//!
//! The store keeps every directory in memory (read at mount) and reads values from
//! the disk on each `read_file`. The format has no free-space map: mount marks the
//! blocks the tree reaches, so there is no map to get wrong after a crash. A disk
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
//! bytes. Nothing else is on the disk: every block not reached from the superblock
//! is free.

mod check;
#[cfg(feature = "std")]
mod file_device;
mod layout;
mod space;
mod tree;

use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry as Slot;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ethos_devices::{BlockDevice, BlockError};

pub use check::{CheckReport, check};
#[cfg(feature = "std")]
pub use file_device::{FILE_BLOCK_SIZE, FileDevice};
use layout::{Blob, Extent, MAXIMUM_EXTENTS, StoredKind, Superblock, SuperblockProblem};
use space::Space;
use tree::{BlobError, Directory, Node};

use crate::{
    DirectoryId, DirectoryRecord, Entry, Information, MAXIMUM_FILE_SIZE, Name, Store, StoreError,
};

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

/// A store on a block device. See the module documentation. A clone (of a store
/// on a cloneable device, in tests) is an independent store on its own disk.
#[derive(Clone)]
pub struct NativeStore<D: BlockDevice> {
    device: D,
    block_size: usize,
    generation: u64,
    /// The superblock slot (0 or 1) holding the current superblock.
    slot: u64,
    next_directory: u64,
    directories: BTreeMap<DirectoryId, Directory>,
    space: Space,
    /// Blocks a failed commit wrote after issuing its superblock.
    quarantine: Vec<Extent>,
    /// Why the store is read-only, when its tree is damaged.
    damage: Option<String>,
}

impl<D: BlockDevice> fmt::Debug for NativeStore<D> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NativeStore")
            .field("generation", &self.generation)
            .field("directories", &self.directories.len())
            .field("usage", &self.usage())
            .field("damage", &self.damage)
            .finish()
    }
}

/// One commit's changes, applied to the store only once it is durable.
#[derive(Default)]
struct Transaction {
    /// New versions of directories (written out at commit).
    staged: BTreeMap<DirectoryId, Directory>,
    removed: Vec<DirectoryId>,
    allocated: Vec<Extent>,
    freed: Vec<Blob>,
    next_directory: u64,
    superblock_issued: bool,
    /// Free blocks this change must leave untouched.
    reserve: u64,
}

/// Whether a change may use the blocks held back for removals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Growing,
    Removal,
}

fn geometry<D: BlockDevice>(device: &D) -> Result<(usize, u64), MountError> {
    let block_size = device.block_size();
    if !layout::block_size_supported(block_size) {
        return Err(MountError::BlockSize(block_size));
    }
    let blocks = device.capacity_blocks();
    if blocks < MINIMUM_BLOCKS {
        return Err(MountError::TooSmall { blocks });
    }
    Ok((block_size, blocks))
}

/// Makes an empty file system on `device` whose root directory carries `root`.
/// Whatever the device held is lost.
pub fn format<D: BlockDevice>(
    mut device: D,
    root: &DirectoryRecord,
    now: u64,
) -> Result<NativeStore<D>, MountError> {
    let (block_size, blocks) = geometry(&device)?;
    root.check().map_err(MountError::InvalidRoot)?;
    // An older file system's superblocks must not outlive the new one's first.
    device
        .write_blocks(0, &vec![0; 2 * block_size])
        .map_err(MountError::Device)?;
    device.flush().map_err(MountError::Device)?;
    let mut space = Space::new(blocks);
    let _ = space.mark(0, 2);
    let root_directory = Directory {
        record: root.clone(),
        created: now,
        parent: None,
        names: BTreeMap::new(),
        blob: Blob::default(),
        damage: None,
    };
    let mut store = NativeStore {
        device,
        block_size,
        generation: 0,
        slot: 0,
        next_directory: DirectoryId::ROOT.0 + 1,
        directories: BTreeMap::from([(DirectoryId::ROOT, root_directory.clone())]),
        space,
        quarantine: Vec::new(),
        damage: None,
    };
    store
        .mutate(Change::Growing, |_, transaction| {
            transaction.staged.insert(DirectoryId::ROOT, root_directory);
            Ok(())
        })
        .map_err(|error| match error {
            StoreError::Device(error) => MountError::Device(error),
            _ => MountError::TooSmall { blocks },
        })?;
    // Slot 0 gets the same tree as generation 0, so both slots are valid.
    let root_blob = store.directories[&DirectoryId::ROOT].blob.clone();
    store
        .write_superblock(0, 0, store.next_directory, &root_blob)
        .and_then(|()| store.device.flush())
        .map_err(MountError::Device)?;
    Ok(store)
}

/// The two superblock slots as decoded.
fn read_superblocks<D: BlockDevice>(
    device: &mut D,
    block_size: usize,
) -> Result<[Result<Superblock, SuperblockProblem>; 2], BlockError> {
    let mut buffer = vec![0u8; 2 * block_size];
    device.read_blocks(0, &mut buffer)?;
    Ok([
        Superblock::decode(&buffer[..block_size]),
        Superblock::decode(&buffer[block_size..]),
    ])
}

/// The newest valid superblock and its slot, or why there is none.
fn newest(
    slots: [Result<Superblock, SuperblockProblem>; 2],
) -> Result<(u64, Superblock), MountError> {
    let mut best: Option<(u64, Superblock)> = None;
    let mut problems = Vec::new();
    for (slot, decoded) in slots.into_iter().enumerate() {
        match decoded {
            Ok(superblock) => {
                if best
                    .as_ref()
                    .is_none_or(|(_, other)| superblock.generation > other.generation)
                {
                    best = Some((slot as u64, superblock));
                }
            }
            Err(problem) => problems.push((slot, problem)),
        }
    }
    if let Some(best) = best {
        return Ok(best);
    }
    if problems
        .iter()
        .all(|(_, problem)| *problem == SuperblockProblem::Blank)
    {
        return Err(MountError::Blank);
    }
    if let Some(version) = problems.iter().find_map(|(_, problem)| match problem {
        SuperblockProblem::Version(version) => Some(*version),
        _ => None,
    }) {
        return Err(MountError::UnsupportedVersion(version));
    }
    let ours = problems.iter().any(|(_, problem)| {
        matches!(
            problem,
            SuperblockProblem::Checksum | SuperblockProblem::Malformed(_)
        )
    });
    if !ours {
        return Err(MountError::Foreign);
    }
    let described: Vec<String> = problems
        .iter()
        .map(|(slot, problem)| format!("slot {slot}: {}", check::describe(problem)))
        .collect();
    Err(MountError::Damaged(described.join("; ")))
}

/// Opens the file system on `device`: reads its newest valid superblock and every
/// directory. A damaged tree mounts read-only (see the module documentation).
pub fn mount<D: BlockDevice>(mut device: D) -> Result<NativeStore<D>, MountError> {
    let (block_size, blocks) = geometry(&device)?;
    let slots = read_superblocks(&mut device, block_size).map_err(MountError::Device)?;
    let (slot, superblock) = newest(slots)?;
    if superblock.block_size as usize != block_size {
        return Err(MountError::BlockSizeMismatch {
            recorded: superblock.block_size,
            device: block_size,
        });
    }
    if superblock.capacity > blocks {
        return Err(MountError::Truncated {
            recorded: superblock.capacity,
            device: blocks,
        });
    }
    if superblock.capacity < MINIMUM_BLOCKS {
        return Err(MountError::Damaged(format!(
            "the superblock says the file system spans {} blocks",
            superblock.capacity
        )));
    }
    let tree = tree::load(&mut device, &superblock, false);
    if let Some(error) = tree.device_error {
        return Err(MountError::Device(error));
    }
    let damage = match tree.problems.as_slice() {
        [] => None,
        [only] => Some(only.clone()),
        [first, rest @ ..] => Some(format!("{first} (and {} more problems)", rest.len())),
    };
    Ok(NativeStore {
        device,
        block_size,
        generation: superblock.generation,
        slot,
        next_directory: superblock.next_directory,
        directories: tree.directories,
        space: tree.space,
        quarantine: Vec::new(),
        damage,
    })
}

impl<D: BlockDevice> NativeStore<D> {
    /// The device, for another mount or for the checker.
    pub fn into_device(self) -> D {
        self.device
    }

    /// The device under the store, for tests that cut its power or fail its
    /// requests. Writing to it behind the store's back damages the store.
    #[cfg(any(test, feature = "testing"))]
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// How much of the device is used.
    pub fn usage(&self) -> Usage {
        Usage {
            block_size: self.block_size,
            blocks: self.space.capacity(),
            used: self.space.used(),
            free: self.space.capacity() - self.space.used(),
        }
    }

    /// Why the store is read-only, if its tree is damaged.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// The commit count of the current superblock.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn live(&self, directory: DirectoryId) -> Result<&Directory, StoreError> {
        let found = self
            .directories
            .get(&directory)
            .ok_or(StoreError::NotFound)?;
        match &found.damage {
            Some(what) => Err(StoreError::Corrupt(what.clone())),
            None => Ok(found),
        }
    }

    /// Blocks a change other than a removal leaves free, so that a full store can
    /// always be emptied: a removal rewrites the directories from its own to the
    /// root, which never needs more than twice the blocks every directory takes now
    /// (the slack covers their references growing as extents split).
    fn removal_reserve(&self) -> u64 {
        let directories: u64 = self
            .directories
            .values()
            .map(|directory| directory.blob.blocks())
            .sum();
        2 * directories + 4
    }

    /// Runs `stage` to prepare a change and commits it; on any error undoes
    /// everything in memory, so the store stays as it was.
    fn mutate<R>(
        &mut self,
        change: Change,
        stage: impl FnOnce(&mut Self, &mut Transaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if let Some(what) = &self.damage {
            return Err(StoreError::Corrupt(format!(
                "the store is read-only: {what}"
            )));
        }
        let reserve = match change {
            Change::Growing => self.removal_reserve(),
            Change::Removal => 0,
        };
        let mut transaction = Transaction {
            next_directory: self.next_directory,
            reserve,
            ..Transaction::default()
        };
        let result = stage(self, &mut transaction)
            .and_then(|value| self.commit(&mut transaction).map(|()| value));
        match result {
            Ok(value) => {
                self.install(transaction);
                Ok(value)
            }
            Err(error) => {
                for extent in transaction.allocated {
                    if transaction.superblock_issued {
                        self.quarantine.push(extent);
                    } else {
                        self.space.release(extent.start, u64::from(extent.blocks));
                    }
                }
                Err(error)
            }
        }
    }

    /// Writes `bytes` into newly allocated blocks.
    fn write_blob(
        &mut self,
        transaction: &mut Transaction,
        bytes: &[u8],
    ) -> Result<Blob, StoreError> {
        let block_size = self.block_size;
        let blocks = (bytes.len() as u64).div_ceil(block_size as u64);
        let free = self.space.capacity() - self.space.used();
        if free < blocks.saturating_add(transaction.reserve) {
            return Err(StoreError::Full);
        }
        let runs = self
            .space
            .allocate(blocks, MAXIMUM_EXTENTS)
            .ok_or(StoreError::Full)?;
        let mut extents = Vec::with_capacity(runs.len());
        let mut offset = 0usize;
        let mut failure = None;
        for run in runs {
            let length = run.blocks as usize * block_size;
            let end = (offset + length).min(bytes.len());
            let mut buffer = vec![0u8; length];
            buffer[..end - offset].copy_from_slice(&bytes[offset..end]);
            let extent = Extent {
                start: run.start,
                blocks: run.blocks,
                checksum: layout::checksum(&buffer),
            };
            transaction.allocated.push(extent);
            extents.push(extent);
            if failure.is_none() {
                failure = self.device.write_blocks(run.start, &buffer).err();
            }
            offset += length;
        }
        match failure {
            Some(error) => Err(StoreError::Device(error)),
            None => Ok(Blob {
                length: bytes.len() as u64,
                extents,
            }),
        }
    }

    fn write_superblock(
        &mut self,
        slot: u64,
        generation: u64,
        next_directory: u64,
        root: &Blob,
    ) -> Result<(), BlockError> {
        let superblock = Superblock {
            block_size: self.block_size as u32,
            capacity: self.space.capacity(),
            generation,
            next_directory,
            root: root.clone(),
        };
        let mut block = vec![0u8; self.block_size];
        block[..layout::SUPERBLOCK_BYTES].copy_from_slice(&superblock.encode());
        self.device.write_blocks(slot, &block)
    }

    /// A directory as the transaction sees it.
    fn current<'a>(
        &'a self,
        transaction: &'a Transaction,
        id: DirectoryId,
    ) -> Option<&'a Directory> {
        transaction
            .staged
            .get(&id)
            .or_else(|| self.directories.get(&id))
    }

    /// Writes every staged directory and each of their ancestors, children first,
    /// then the superblock.
    fn commit(&mut self, transaction: &mut Transaction) -> Result<(), StoreError> {
        let mut dirty: BTreeMap<DirectoryId, usize> = BTreeMap::new();
        for &id in transaction.staged.keys() {
            let mut chain = Vec::new();
            let mut at = Some(id);
            while let Some(current) = at {
                chain.push(current);
                at = self
                    .current(transaction, current)
                    .and_then(|directory| directory.parent.as_ref())
                    .map(|(parent, _)| *parent);
            }
            for (height, id) in chain.iter().enumerate() {
                dirty.insert(*id, chain.len() - height);
            }
        }
        let mut order: Vec<(usize, DirectoryId)> =
            dirty.into_iter().map(|(id, depth)| (depth, id)).collect();
        order.sort_by(|a, b| b.cmp(a));
        for (_, id) in order {
            let mut directory = match transaction.staged.remove(&id) {
                Some(directory) => directory,
                None => self.live(id)?.clone(),
            };
            let bytes = self.encode(transaction, id, &directory)?;
            let blob = self.write_blob(transaction, &bytes)?;
            transaction
                .freed
                .push(core::mem::replace(&mut directory.blob, blob));
            transaction.staged.insert(id, directory);
        }
        let root = transaction
            .staged
            .get(&DirectoryId::ROOT)
            .map(|root| root.blob.clone())
            .ok_or_else(|| StoreError::Corrupt(String::from("the commit lost the root")))?;
        self.device.flush()?;
        transaction.superblock_issued = true;
        let (slot, generation) = (1 - self.slot, self.generation + 1);
        self.write_superblock(slot, generation, transaction.next_directory, &root)?;
        self.device.flush()?;
        Ok(())
    }

    fn encode(
        &self,
        transaction: &Transaction,
        id: DirectoryId,
        directory: &Directory,
    ) -> Result<Vec<u8>, StoreError> {
        let mut entries = Vec::with_capacity(directory.names.len());
        for (name, node) in &directory.names {
            entries.push(match node {
                Node::File {
                    created,
                    modified,
                    blob,
                } => (name, StoredKind::File, *created, *modified, blob),
                Node::Directory(child) => {
                    let child_directory = self.current(transaction, *child).ok_or_else(|| {
                        StoreError::Corrupt(format!("directory {} is missing", child.0))
                    })?;
                    (
                        name,
                        StoredKind::Directory(*child),
                        child_directory.created,
                        child_directory.created,
                        &child_directory.blob,
                    )
                }
            });
        }
        let mut bytes = Vec::new();
        layout::encode_directory(
            id,
            directory.created,
            &directory.record,
            entries.into_iter(),
            &mut bytes,
        );
        Ok(bytes)
    }

    /// Makes a durable transaction the store's state.
    fn install(&mut self, transaction: Transaction) {
        for id in transaction.removed {
            self.directories.remove(&id);
        }
        self.directories.extend(transaction.staged);
        for blob in transaction.freed {
            for extent in blob.extents {
                self.space.release(extent.start, u64::from(extent.blocks));
            }
        }
        for extent in core::mem::take(&mut self.quarantine) {
            self.space.release(extent.start, u64::from(extent.blocks));
        }
        self.generation += 1;
        self.slot = 1 - self.slot;
        self.next_directory = transaction.next_directory;
    }

    /// The transaction's copy of `directory`, made on first use.
    fn stage<'a>(
        &self,
        transaction: &'a mut Transaction,
        directory: DirectoryId,
    ) -> Result<&'a mut Directory, StoreError> {
        Ok(match transaction.staged.entry(directory) {
            Slot::Occupied(staged) => staged.into_mut(),
            Slot::Vacant(vacant) => vacant.insert(self.live(directory)?.clone()),
        })
    }
}

impl<D: BlockDevice> Store for NativeStore<D> {
    fn directory(&mut self, directory: DirectoryId) -> Result<DirectoryRecord, StoreError> {
        Ok(self.live(directory)?.record.clone())
    }

    fn lookup(&mut self, directory: DirectoryId, name: &Name) -> Result<Entry, StoreError> {
        match self.live(directory)?.names.get(name) {
            Some(Node::File { .. }) => Ok(Entry::File),
            Some(Node::Directory(id)) => Ok(Entry::Directory(*id)),
            None => Err(StoreError::NotFound),
        }
    }

    fn create_directory(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        record: &DirectoryRecord,
        now: u64,
    ) -> Result<DirectoryId, StoreError> {
        record.check()?;
        if self.live(directory)?.names.contains_key(name) {
            return Err(StoreError::AlreadyExists);
        }
        self.mutate(Change::Growing, |store, transaction| {
            let id = DirectoryId(transaction.next_directory);
            transaction.next_directory += 1;
            store
                .stage(transaction, directory)?
                .names
                .insert(name.clone(), Node::Directory(id));
            transaction.staged.insert(
                id,
                Directory {
                    record: record.clone(),
                    created: now,
                    parent: Some((directory, name.clone())),
                    names: BTreeMap::new(),
                    blob: Blob::default(),
                    damage: None,
                },
            );
            Ok(id)
        })
    }

    fn read_file(&mut self, directory: DirectoryId, name: &Name) -> Result<Vec<u8>, StoreError> {
        let blob = match self.live(directory)?.names.get(name) {
            Some(Node::File { blob, .. }) => blob.clone(),
            Some(Node::Directory(_)) => return Err(StoreError::WrongKind),
            None => return Err(StoreError::NotFound),
        };
        let capacity = self.space.capacity();
        tree::read_blob(&mut self.device, &blob, capacity).map_err(|error| match error {
            BlobError::Device(error) => StoreError::Device(error),
            BlobError::Damaged(what) => StoreError::Corrupt(format!("file {name:?}: {what}")),
        })
    }

    fn write_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        value: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        if value.len() > MAXIMUM_FILE_SIZE {
            return Err(StoreError::TooLarge);
        }
        let (created, old) = match self.live(directory)?.names.get(name) {
            Some(Node::File { created, blob, .. }) => (*created, Some(blob.clone())),
            Some(Node::Directory(_)) => return Err(StoreError::WrongKind),
            None => (now, None),
        };
        self.mutate(Change::Growing, |store, transaction| {
            let blob = store.write_blob(transaction, value)?;
            transaction.freed.extend(old);
            store.stage(transaction, directory)?.names.insert(
                name.clone(),
                Node::File {
                    created,
                    modified: now,
                    blob,
                },
            );
            Ok(())
        })
    }

    fn remove(&mut self, directory: DirectoryId, name: &Name) -> Result<(), StoreError> {
        let node = self
            .live(directory)?
            .names
            .get(name)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let freed = match node {
            Node::File { blob, .. } => (blob, None),
            Node::Directory(child) => {
                let child_directory = self.live(child)?;
                if !child_directory.names.is_empty() {
                    return Err(StoreError::NotEmpty);
                }
                (child_directory.blob.clone(), Some(child))
            }
        };
        self.mutate(Change::Removal, |store, transaction| {
            let (blob, child) = freed;
            transaction.freed.push(blob);
            transaction.removed.extend(child);
            store.stage(transaction, directory)?.names.remove(name);
            Ok(())
        })
    }

    fn next_name(
        &mut self,
        directory: DirectoryId,
        after: Option<&Name>,
    ) -> Result<Option<Name>, StoreError> {
        let names = &self.live(directory)?.names;
        let next = match after {
            None => names.keys().next(),
            Some(after) => names
                .range::<Name, _>((
                    core::ops::Bound::Excluded(after),
                    core::ops::Bound::Unbounded,
                ))
                .map(|(name, _)| name)
                .next(),
        };
        Ok(next.cloned())
    }

    fn information(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Information, StoreError> {
        let parent = self.live(directory)?;
        match parent.names.get(name).ok_or(StoreError::NotFound)? {
            Node::File {
                created,
                modified,
                blob,
            } => Ok(Information {
                entry: Entry::File,
                size: blob.length,
                type_hash: parent.record.type_hash,
                label: parent.record.label.clone(),
                created: *created,
                modified: *modified,
            }),
            Node::Directory(id) => {
                let child = self.live(*id)?;
                Ok(Information {
                    entry: Entry::Directory(*id),
                    size: 0,
                    type_hash: child.record.type_hash,
                    label: child.record.label.clone(),
                    created: child.created,
                    modified: child.created,
                })
            }
        }
    }
}
