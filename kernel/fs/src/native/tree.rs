//! Reading the whole tree from one superblock: every directory, checked against its
//! checksums and structure, and every block it and its files hold, marked in a
//! [`Space`]. Mount keeps what this reads; the checker reports what it found wrong.
//! It must never panic or loop, whatever the disk holds: every directory is read
//! once (ids and blocks are unique or the walk reports them), with no recursion.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_devices::{BlockDevice, BlockError};

use super::layout::{self, Blob, StoredKind, Superblock};
use super::space::Space;
use crate::{DirectoryId, DirectoryRecord, Name};

/// What a name in a loaded directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Node {
    File {
        created: u64,
        modified: u64,
        blob: Blob,
    },
    Directory(DirectoryId),
}

/// A directory held in memory, with where its bytes are on disk.
#[derive(Clone, Debug)]
pub(super) struct Directory {
    pub(super) record: DirectoryRecord,
    pub(super) created: u64,
    /// The directory holding it and its name there; `None` for the root.
    pub(super) parent: Option<(DirectoryId, Name)>,
    pub(super) names: BTreeMap<Name, Node>,
    pub(super) blob: Blob,
    /// Why its bytes could not be read; its names are then unknown.
    pub(super) damage: Option<String>,
}

/// Everything one walk found.
#[derive(Debug)]
pub(super) struct Tree {
    pub(super) directories: BTreeMap<DirectoryId, Directory>,
    pub(super) space: Space,
    /// What is wrong, in words; empty for a sound tree.
    pub(super) problems: Vec<String>,
    /// The first request the device failed, if one did.
    pub(super) device_error: Option<BlockError>,
    pub(super) files: u64,
}

/// Reads the blob's bytes and checks every extent's checksum.
pub(super) fn read_blob<D: BlockDevice>(
    device: &mut D,
    blob: &Blob,
    capacity: u64,
) -> Result<Vec<u8>, BlobError> {
    let block_size = device.block_size();
    let total = blob
        .blocks()
        .checked_mul(block_size as u64)
        .filter(|&bytes| {
            bytes >= blob.length && bytes <= capacity.saturating_mul(block_size as u64)
        })
        .ok_or_else(|| BlobError::Damaged(String::from("its extents do not fit the disk")))?;
    let mut bytes = vec![0u8; total as usize];
    let mut offset = 0usize;
    for extent in &blob.extents {
        if extent.end() > capacity {
            return Err(BlobError::Damaged(format!(
                "blocks {}..{} are past the end of the disk ({capacity} blocks)",
                extent.start,
                extent.end()
            )));
        }
        let length = extent.blocks as usize * block_size;
        let buffer = &mut bytes[offset..offset + length];
        device
            .read_blocks(extent.start, buffer)
            .map_err(BlobError::Device)?;
        if layout::checksum(buffer) != extent.checksum {
            return Err(BlobError::Damaged(format!(
                "blocks {}..{} do not match their checksum",
                extent.start,
                extent.end()
            )));
        }
        offset += length;
    }
    bytes.truncate(blob.length as usize);
    Ok(bytes)
}

/// Why a blob could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum BlobError {
    Device(BlockError),
    Damaged(String),
}

/// Marks every block of `blob` used, reporting blocks that are taken or outside.
fn claim(space: &mut Space, blob: &Blob, what: &str, problems: &mut Vec<String>) -> bool {
    let mut sound = true;
    for extent in &blob.extents {
        if let Err(block) = space.mark(extent.start, u64::from(extent.blocks)) {
            sound = false;
            if block >= space.capacity() {
                problems.push(format!(
                    "{what}: blocks {}..{} reach past the end of the file system ({} blocks)",
                    extent.start,
                    extent.end(),
                    space.capacity()
                ));
            } else {
                problems.push(format!(
                    "{what}: block {block} is also used by something else (or a superblock)"
                ));
            }
        }
    }
    sound
}

/// A directory found but not yet read.
struct Pending {
    id: DirectoryId,
    parent: Option<(DirectoryId, Name)>,
    blob: Blob,
    /// How to name it in a report: `directory /a/b`.
    path: String,
}

/// Walks the tree `superblock` names. With `read_values`, every file's value is
/// read and its checksums checked as well (the checker); without, only directories
/// are read (mount).
pub(super) fn load<D: BlockDevice>(
    device: &mut D,
    superblock: &Superblock,
    read_values: bool,
) -> Tree {
    let capacity = superblock.capacity;
    let mut space = Space::new(capacity);
    let mut problems = Vec::new();
    // Both superblock slots are always in use.
    let _ = space.mark(0, 2.min(capacity));
    let mut tree = Tree {
        directories: BTreeMap::new(),
        space: Space::new(0),
        problems: Vec::new(),
        device_error: None,
        files: 0,
    };
    let mut seen = BTreeSet::from([DirectoryId::ROOT]);
    let mut pending = vec![Pending {
        id: DirectoryId::ROOT,
        parent: None,
        blob: superblock.root.clone(),
        path: String::from("directory /"),
    }];
    while let Some(Pending {
        id,
        parent,
        blob,
        path,
    }) = pending.pop()
    {
        let mut directory = Directory {
            record: DirectoryRecord {
                label: String::new(),
                type_hash: [0; crate::TYPE_HASH_LENGTH],
            },
            created: 0,
            parent,
            names: BTreeMap::new(),
            blob: blob.clone(),
            damage: None,
        };
        if !claim(&mut space, &blob, &path, &mut problems) {
            directory.damage = Some(format!("{path} shares blocks with something else"));
            tree.directories.insert(id, directory);
            continue;
        }
        let stored = match read_blob(device, &blob, capacity) {
            Ok(bytes) => layout::decode_directory(&bytes, superblock.block_size as usize),
            Err(BlobError::Device(error)) => {
                tree.device_error.get_or_insert(error);
                Err(format!("the device failed to read it: {error}"))
            }
            Err(BlobError::Damaged(what)) => Err(what),
        };
        let stored = match stored {
            Ok(stored) if stored.id != id => Err(format!(
                "it calls itself directory {} but its parent knows it as {}",
                stored.id.0, id.0
            )),
            other => other,
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(what) => {
                let message = format!("{path} is damaged: {what}");
                problems.push(message.clone());
                directory.damage = Some(message);
                tree.directories.insert(id, directory);
                continue;
            }
        };
        directory.record = stored.record;
        directory.created = stored.created;
        for entry in stored.entries {
            let entry_path = match path.strip_prefix("directory /") {
                Some("") => format!("/{}", entry.name),
                _ => format!("{}/{}", path.trim_start_matches("directory "), entry.name),
            };
            match entry.kind {
                StoredKind::File => {
                    tree.files += 1;
                    let what = format!("file {entry_path}");
                    if claim(&mut space, &entry.blob, &what, &mut problems) && read_values {
                        match read_blob(device, &entry.blob, capacity) {
                            Ok(_) => {}
                            Err(BlobError::Device(error)) => {
                                tree.device_error.get_or_insert(error);
                                problems.push(format!("{what}: the device failed: {error}"));
                            }
                            Err(BlobError::Damaged(damage)) => {
                                problems.push(format!("{what} is damaged: {damage}"));
                            }
                        }
                    }
                    directory.names.insert(
                        entry.name,
                        Node::File {
                            created: entry.created,
                            modified: entry.modified,
                            blob: entry.blob,
                        },
                    );
                }
                StoredKind::Directory(child) => {
                    if child.0 >= superblock.next_directory {
                        problems.push(format!(
                            "directory {entry_path} has id {} but ids so far end before {}",
                            child.0, superblock.next_directory
                        ));
                    }
                    if !seen.insert(child) {
                        problems.push(format!(
                            "directory {entry_path} has id {}, which another directory has",
                            child.0
                        ));
                        continue;
                    }
                    directory
                        .names
                        .insert(entry.name.clone(), Node::Directory(child));
                    pending.push(Pending {
                        id: child,
                        parent: Some((id, entry.name)),
                        blob: entry.blob,
                        path: format!("directory {entry_path}"),
                    });
                }
            }
        }
        tree.directories.insert(id, directory);
    }
    tree.space = space;
    tree.problems = problems;
    tree
}
