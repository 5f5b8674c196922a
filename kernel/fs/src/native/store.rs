//! The store itself: what it holds in memory, how a change becomes one commit
//! (copy-on-write up to the root, flush, superblock, flush), and the calls of
//! [`Store`]. A call that fails must leave everything in memory as it was.

use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry as Slot;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ethos_devices::{BlockDevice, BlockError};

use super::Usage;
use super::layout::{self, Blob, Extent, MAXIMUM_EXTENTS, StoredKind, Superblock};
use super::space::Space;
use super::tree::{self, BlobError, Directory, Node};
use crate::{
    DirectoryId, DirectoryRecord, Entry, Information, MAXIMUM_FILE_SIZE, Name, Store, StoreError,
};

/// A store on a block device. See the module documentation. A clone (of a store
/// on a cloneable device, in tests) is an independent store on its own disk.
#[derive(Clone)]
pub struct NativeStore<D: BlockDevice> {
    pub(super) device: D,
    pub(super) block_size: usize,
    pub(super) generation: u64,
    /// The superblock slot (0 or 1) holding the current superblock.
    pub(super) slot: u64,
    pub(super) next_directory: u64,
    pub(super) directories: BTreeMap<DirectoryId, Directory>,
    pub(super) space: Space,
    /// Blocks a failed commit wrote after issuing its superblock.
    pub(super) quarantine: Vec<Extent>,
    /// Why the store is read-only, when its tree is damaged.
    pub(super) damage: Option<String>,
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
pub(super) struct Transaction {
    /// New versions of directories (written out at commit).
    pub(super) staged: BTreeMap<DirectoryId, Directory>,
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
pub(super) enum Change {
    Growing,
    Removal,
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
    pub(super) fn mutate<R>(
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

    pub(super) fn write_superblock(
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
            if bytes.len() as u64 > layout::MAXIMUM_DIRECTORY_BYTES {
                return Err(StoreError::Full);
            }
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
        Ok(crate::name_after(names, after))
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
