//! The native store's tests: conformance, the model, power cuts, damage, faults.

mod conformance;
mod damage;
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
