//! Making a file system on a device and opening one: choosing the newest valid
//! superblock and reading the tree from it. Whatever the device holds, these
//! answer an error that says what is wrong, never a panic.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_devices::{BlockDevice, BlockError};

use super::layout::{self, Blob, Superblock, SuperblockProblem};
use super::space::Space;
use super::store::{Change, NativeStore};
use super::tree::{self, Directory};
use super::{MINIMUM_BLOCKS, MountError, check};
use crate::{DirectoryId, DirectoryRecord, StoreError};

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
pub(super) fn read_superblocks<D: BlockDevice>(
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
