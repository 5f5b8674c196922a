//! Flipped bits are caught by reads and by the checker; mount refuses what is not
//! a file system of ours, with a message saying why; nothing panics on any bytes.

use alloc::string::ToString;
use alloc::vec::Vec;

use crate::native::{self, MountError};
use crate::testing::{MemoryDevice, Random};
use crate::{DirectoryId, DirectoryRecord, Store, StoreError};

use super::{formatted, name, root_record};

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("the bytes are on the disk")
}

/// A store with a subdirectory holding one file; answers the disk and the
/// subdirectory's id.
fn populated() -> (MemoryDevice, DirectoryId) {
    let mut store = formatted(256);
    let record = DirectoryRecord {
        label: "unmistakable-label".to_string(),
        type_hash: [5; 64],
    };
    let sub = store
        .create_directory(DirectoryId::ROOT, &name("sub"), &record, 2)
        .unwrap();
    store
        .write_file(sub, &name("value"), b"a value that is easy to find", 3)
        .unwrap();
    store
        .write_file(DirectoryId::ROOT, &name("other"), b"another value", 4)
        .unwrap();
    (store.into_device(), sub)
}

#[test]
fn a_flipped_bit_in_a_value_is_caught_by_read_and_by_the_checker() {
    let (mut device, sub) = populated();
    let at = find(device.bytes_mut(), b"easy to find");
    device.bytes_mut()[at] ^= 0x10;
    let report = native::check(&mut device);
    assert!(!report.is_clean());
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("file /sub/value")),
        "{report}"
    );
    let mut store = native::mount(device).unwrap();
    assert!(matches!(
        store.read_file(sub, &name("value")),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store.read_file(DirectoryId::ROOT, &name("other")),
        Ok(b"another value".to_vec())
    );
}

#[test]
fn a_flipped_bit_in_a_directory_is_caught_by_read_and_by_the_checker() {
    let (mut device, sub) = populated();
    // Older copies of the directory lie in free blocks too: damage every copy.
    let label = b"unmistakable-label";
    let copies: Vec<usize> = device
        .bytes_mut()
        .windows(label.len())
        .enumerate()
        .filter(|(_, window)| window == label)
        .map(|(at, _)| at)
        .collect();
    assert!(!copies.is_empty());
    for at in copies {
        device.bytes_mut()[at + 3] ^= 0x01;
    }
    let report = native::check(&mut device);
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("directory /sub ") && problem.contains("checksum")),
        "{report}"
    );
    let mut store = native::mount(device).unwrap();
    assert!(store.damage().is_some());
    assert!(matches!(store.directory(sub), Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.read_file(sub, &name("value")),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store.read_file(DirectoryId::ROOT, &name("other")),
        Ok(b"another value".to_vec())
    );
    // Which blocks are free is unknown, so nothing may be written.
    assert!(matches!(
        store.write_file(DirectoryId::ROOT, &name("new"), b"x", 5),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn flipped_bits_in_both_superblocks_refuse_the_mount() {
    let (mut device, _) = populated();
    device.bytes_mut()[30] ^= 0x04;
    device.bytes_mut()[512 + 30] ^= 0x04;
    let report = native::check(&mut device);
    assert_eq!(report.generation, None);
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("checksum"))
    );
    let error = native::mount(device).unwrap_err();
    assert!(matches!(error, MountError::Damaged(_)), "{error}");
    assert!(error.to_string().contains("checksum"), "{error}");
}

#[test]
fn a_torn_newest_superblock_falls_back_to_the_whole_tree_before_it() {
    // Four commits after the format: generation 4, in slot 0. Damage it as a torn
    // write would; generation 3 in slot 1 is the tree before the last write, which
    // no later commit may have overwritten.
    let (mut device, sub) = populated();
    device.bytes_mut()[30] ^= 0x04;
    let report = native::check(&mut device);
    assert_eq!(report.generation, Some(3), "{report}");
    assert_eq!(
        report.problems,
        ["superblock slot 0: it does not match its checksum"],
        "{report}"
    );
    let mut store = native::mount(device).unwrap();
    assert_eq!(
        store.read_file(sub, &name("value")),
        Ok(b"a value that is easy to find".to_vec())
    );
    assert_eq!(
        store.read_file(DirectoryId::ROOT, &name("other")),
        Err(StoreError::NotFound)
    );
    // The next commit goes to the damaged slot and makes the disk clean again.
    store
        .write_file(DirectoryId::ROOT, &name("other"), b"again", 6)
        .unwrap();
    let mut device = store.into_device();
    assert!(native::check(&mut device).is_clean());
}

#[test]
fn mount_refuses_blank_foreign_truncated_small_and_newer_disks_with_reasons() {
    let blank = native::mount(MemoryDevice::new(256, 512)).unwrap_err();
    assert_eq!(blank, MountError::Blank);
    assert!(blank.to_string().contains("blank"));

    let mut random = Random::new(7);
    let foreign = MemoryDevice::from_bytes(random.bytes(256 * 512), 512);
    let error = native::mount(foreign).unwrap_err();
    assert_eq!(error, MountError::Foreign);
    assert!(error.to_string().contains("no Ethos file system"));

    let (device, _) = populated();
    let mut bytes = device.into_bytes();
    bytes.truncate(100 * 512);
    let error = native::mount(MemoryDevice::from_bytes(bytes, 512)).unwrap_err();
    assert_eq!(
        error,
        MountError::Truncated {
            recorded: 256,
            device: 100
        }
    );
    assert!(error.to_string().contains("truncated"));

    let error = native::mount(MemoryDevice::new(8, 512)).unwrap_err();
    assert_eq!(error, MountError::TooSmall { blocks: 8 });
    assert!(error.to_string().contains("at least"));
    let error = native::format(MemoryDevice::new(8, 512), &root_record(), 0).unwrap_err();
    assert_eq!(error, MountError::TooSmall { blocks: 8 });

    let error = native::mount(MemoryDevice::new(64, 100)).unwrap_err();
    assert_eq!(error, MountError::BlockSize(100));

    let (mut device, _) = populated();
    for slot in 0..2 {
        let superblock = &mut device.bytes_mut()[slot * 512..slot * 512 + 512];
        superblock[8] = 2;
        let sum = crc32fast::hash(&superblock[..508]);
        superblock[508..].copy_from_slice(&sum.to_le_bytes());
    }
    let error = native::mount(device).unwrap_err();
    assert_eq!(error, MountError::UnsupportedVersion(2));
    assert!(error.to_string().contains("version 2"));
}

/// Reads everything it can through the store, ignoring the answers.
fn exercise(store: &mut dyn Store) {
    let mut pending = Vec::from([DirectoryId::ROOT]);
    let mut visited = 0;
    while let Some(directory) = pending.pop() {
        visited += 1;
        if visited > 1000 {
            break;
        }
        let _ = store.directory(directory);
        let mut after = None;
        while let Ok(Some(next)) = store.next_name(directory, after.as_ref()) {
            let _ = store.information(directory, &next);
            match store.lookup(directory, &next) {
                Ok(crate::Entry::Directory(child)) => pending.push(child),
                _ => {
                    let _ = store.read_file(directory, &next);
                }
            }
            after = Some(next);
        }
    }
    let _ = store.write_file(DirectoryId::ROOT, &name("after"), b"x", 9);
}

#[test]
fn nothing_panics_on_damaged_or_random_disks() {
    let mut random = Random::new(11);
    let (pristine, _) = populated();
    for round in 0..300 {
        let mut device = if round % 3 == 0 {
            MemoryDevice::from_bytes(random.bytes(64 * 512), 512)
        } else {
            let mut device = pristine.clone();
            let flips = 1 + random.below(8);
            for _ in 0..flips {
                // Mostly where the structures are: the first blocks.
                let limit = if random.chance(3, 4) {
                    16 * 512
                } else {
                    256 * 512
                };
                let at = random.below(limit) as usize;
                device.bytes_mut()[at] ^= 1 << random.below(8);
            }
            device
        };
        let report = native::check(&mut device);
        let _ = report.to_string();
        if let Ok(mut store) = native::mount(device) {
            exercise(&mut store);
        }
    }
}
