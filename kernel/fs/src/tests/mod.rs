//! The native store's tests: conformance, the model, power cuts, damage, faults.

mod conformance;
mod damage;
#[cfg(feature = "std")]
mod file_device;
mod limits;
mod model;
mod power_cuts;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::native::{self, NativeStore};
use crate::testing::MemoryDevice;
use crate::{DirectoryId, DirectoryRecord, Entry, Name, Store};

/// The root record the conformance suite expects.
fn root_record() -> DirectoryRecord {
    DirectoryRecord {
        label: String::from("root-label"),
        type_hash: [1; 64],
    }
}

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

/// A freshly formatted store on a memory disk of `blocks` 512-byte blocks.
fn formatted(blocks: u64) -> NativeStore<MemoryDevice> {
    native::format(MemoryDevice::new(blocks, 512), &root_record(), 1).unwrap()
}

/// What a store holds, by path: every file's value and every directory's record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Content {
    File(Vec<u8>),
    Directory(DirectoryRecord),
}

fn snapshot(store: &mut dyn Store) -> BTreeMap<String, Content> {
    let mut contents = BTreeMap::new();
    let mut pending = Vec::from([(DirectoryId::ROOT, String::new())]);
    while let Some((directory, path)) = pending.pop() {
        let record = store.directory(directory).unwrap();
        contents.insert(path.clone(), Content::Directory(record));
        let mut after: Option<Name> = None;
        while let Some(next) = store.next_name(directory, after.as_ref()).unwrap() {
            let child_path = alloc::format!("{path}/{next}");
            match store.lookup(directory, &next).unwrap() {
                Entry::File => {
                    let value = store.read_file(directory, &next).unwrap();
                    contents.insert(child_path, Content::File(value));
                }
                Entry::Directory(child) => pending.push((child, child_path)),
            }
            after = Some(next);
        }
    }
    contents
}

/// One mutating call, for random sequences run against a store and the model.
#[derive(Clone, Debug)]
enum Operation {
    Write {
        directory: DirectoryId,
        name: Name,
        value: Vec<u8>,
    },
    CreateDirectory {
        directory: DirectoryId,
        name: Name,
        label: String,
    },
    Remove {
        directory: DirectoryId,
        name: Name,
    },
}

/// What a call answered: the new directory's id for `CreateDirectory`.
type Answer = Result<Option<DirectoryId>, crate::StoreError>;

fn apply(store: &mut dyn Store, operation: &Operation, now: u64) -> Answer {
    match operation {
        Operation::Write {
            directory,
            name,
            value,
        } => store
            .write_file(*directory, name, value, now)
            .map(|()| None),
        Operation::CreateDirectory {
            directory,
            name,
            label,
        } => {
            let record = DirectoryRecord {
                label: label.clone(),
                type_hash: [label.len() as u8; 64],
            };
            store
                .create_directory(*directory, name, &record, now)
                .map(Some)
        }
        Operation::Remove { directory, name } => store.remove(*directory, name).map(|()| None),
    }
}

/// A random call among a few names, in a directory `directories` lists (which
/// holds removed ones too, so calls also find nothing).
fn random_operation(
    random: &mut crate::testing::Random,
    directories: &[DirectoryId],
    largest_value: u64,
) -> Operation {
    let directory = if random.chance(1, 3) {
        DirectoryId::ROOT
    } else {
        directories[random.below(directories.len() as u64) as usize]
    };
    let name = name(["a", "b", "c", "d", "e"][random.below(5) as usize]);
    match random.below(20) {
        0..=11 => {
            let length = if random.chance(1, 10) {
                random.below(largest_value + 1)
            } else {
                random.below(600)
            };
            Operation::Write {
                directory,
                name,
                value: random.bytes(length as usize),
            }
        }
        12..=14 => Operation::CreateDirectory {
            directory,
            name,
            label: String::from(["left", "right", "middle"][random.below(3) as usize]),
        },
        _ => Operation::Remove { directory, name },
    }
}
