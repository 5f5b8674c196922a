//! The scenarios the tests of `ffs_store.rs` run, each in its own process with its own
//! rump kernel; each prints what it proved, then halts the rump kernel (which ends
//! the process with status 0).

use ethos_fs::memory::MemoryStore;
use ethos_fs::testing::{Random, conformance, names};
use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Name, Store, StoreError};
use ethos_fs_rump::{CallingThread, FfsStore, MountError};
use rump_sys::kernel::fs;
use rump_sys::kernel::{RumpKernel, SignalModel};

/// The disk's name inside the rump kernel.
const DEVICE: &str = "/dev/ethos-disk";

type Ffs = FfsStore<CallingThread>;

pub fn run(scenario: &str, disk: &str) {
    let kernel = RumpKernel::boot(SignalModel::Ignore).expect("rump_init");
    fs::register_host_block_device(DEVICE, disk).expect("the disk as a block device");
    match scenario {
        "conformance" => conformance_scenario(),
        "persist_write" => persist_write(),
        "persist_read" => persist_read(),
        "refuse_foreign" | "refuse_bare_ffs" => refuse(),
        "model" => model(),
        other => panic!("no scenario {other}"),
    }
    let error = kernel.reboot();
    panic!("reboot returned: {error}");
}

fn mount() -> Ffs {
    FfsStore::mount(CallingThread, DEVICE).unwrap_or_else(|error| panic!("mount: {error}"))
}

fn name(text: &str) -> Name {
    Name::new(text).expect("a valid name")
}

fn conformance_scenario() {
    let mut store = mount();
    let usage = store.usage().expect("usage");
    assert!(
        usage.blocks > 0 && usage.used > 0 && usage.used < usage.blocks,
        "{usage:?}"
    );
    conformance(&mut store);
    store.unmount().expect("unmount");
    let mut store = mount();
    assert_eq!(names(&mut store, DirectoryId::ROOT), Vec::<String>::new());
    assert_eq!(
        store.directory(DirectoryId::ROOT).expect("root").label,
        "root"
    );
    store.unmount().expect("unmount");
    println!("the FFS store conforms");
}

fn notes_record() -> DirectoryRecord {
    DirectoryRecord {
        label: String::from("notes"),
        type_hash: [9; 64],
    }
}

fn large_value() -> Vec<u8> {
    (0..200_000u32)
        .map(|index| (index * 13 % 241) as u8)
        .collect()
}

fn check_persisted(store: &mut Ffs) {
    let Ok(Entry::Directory(notes)) = store.lookup(DirectoryId::ROOT, &name("notes")) else {
        panic!("notes is not a directory");
    };
    assert_eq!(store.directory(notes), Ok(notes_record()));
    assert_eq!(store.read_file(notes, &name("a")), Ok(b"second".to_vec()));
    assert_eq!(store.read_file(notes, &name("large")), Ok(large_value()));
    assert_eq!(
        store.read_file(notes, &name("gone")),
        Err(StoreError::NotFound)
    );
    let information = store.information(notes, &name("a")).expect("information");
    assert_eq!((information.created, information.modified), (10, 20));
    assert_eq!(information.size, 6);
    assert_eq!(names(store, notes), ["a", "large"]);
    assert_eq!(names(store, DirectoryId::ROOT), ["notes"]);
}

fn persist_write() {
    let mut store = mount();
    let notes = store
        .create_directory(DirectoryId::ROOT, &name("notes"), &notes_record(), 5)
        .expect("notes");
    store
        .write_file(notes, &name("a"), b"first", 10)
        .expect("a");
    store
        .write_file(notes, &name("a"), b"second", 20)
        .expect("a again");
    store
        .write_file(notes, &name("large"), &large_value(), 30)
        .expect("large");
    store
        .write_file(notes, &name("gone"), b"x", 40)
        .expect("gone");
    store.remove(notes, &name("gone")).expect("remove gone");
    check_persisted(&mut store);
    store.unmount().expect("unmount");
    let mut store = mount();
    check_persisted(&mut store);
    store.unmount().expect("unmount");
    println!("written and read back after a remount");
}

fn persist_read() {
    let mut store = mount();
    check_persisted(&mut store);
    store.unmount().expect("unmount");
    println!("read back in a new rump kernel");
}

fn refuse() {
    match FfsStore::mount(CallingThread, DEVICE) {
        Ok(_) => panic!("a disk that is not a store was mounted"),
        Err(error @ (MountError::NotFfs { .. } | MountError::NoRootRecord)) => {
            println!("refused: {error}");
        }
        Err(error) => panic!("refused for the wrong reason: {error}"),
    }
}

/// Resolves a path of directory names from the root.
fn resolve(store: &mut dyn Store, path: &[Name]) -> DirectoryId {
    let mut directory = DirectoryId::ROOT;
    for component in path {
        match store.lookup(directory, component) {
            Ok(Entry::Directory(id)) => directory = id,
            other => panic!("{component}: {other:?}"),
        }
    }
    directory
}

fn same_kind<T, U>(left: &Result<T, StoreError>, right: &Result<U, StoreError>) -> bool {
    match (left, right) {
        (Ok(_), Ok(_)) => true,
        (Err(left), Err(right)) => left == right,
        _ => false,
    }
}

/// Random calls on both stores, the FFS one remounted now and then; every answer,
/// listing and value must agree.
fn model() {
    let root = DirectoryRecord {
        label: String::from("root"),
        type_hash: [1; 64],
    };
    let mut memory = MemoryStore::new(root);
    let mut ffs = mount();
    let mut random = Random::new(0x5eed_f5f5);
    let file_names = ["a", "b", "c", "d", "é", "Z"];
    let directory_names = ["x", "y", "z"];
    // Directories known to exist, as paths from the root.
    let mut directories: Vec<Vec<Name>> = vec![Vec::new()];
    let mut now = 1_000;
    for step in 0..600 {
        now += 1;
        let path = directories[random.below(directories.len() as u64) as usize].clone();
        let (in_memory, in_ffs) = (resolve(&mut memory, &path), resolve(&mut ffs, &path));
        let context = format!("step {step} in /{path:?}");
        match random.below(10) {
            0..=3 => {
                let file = name(file_names[random.below(6) as usize]);
                let length = random.below(6_000) as usize;
                let value = random.bytes(length);
                let left = memory.write_file(in_memory, &file, &value, now);
                let right = ffs.write_file(in_ffs, &file, &value, now);
                assert_eq!(left, right, "{context}: write {file}");
            }
            4 => {
                let directory = name(directory_names[random.below(3) as usize]);
                let record = DirectoryRecord {
                    label: format!("label-{step}"),
                    type_hash: [random.below(256) as u8; 64],
                };
                let left = memory.create_directory(in_memory, &directory, &record, now);
                let right = ffs.create_directory(in_ffs, &directory, &record, now);
                assert!(
                    same_kind(&left, &right),
                    "{context}: mkdir {directory}: {left:?} {right:?}"
                );
                if left.is_ok() {
                    let mut child = path.clone();
                    child.push(directory);
                    directories.push(child);
                }
            }
            5 => {
                let all: Vec<&str> = file_names.iter().chain(&directory_names).copied().collect();
                let target = name(all[random.below(all.len() as u64) as usize]);
                let left = memory.remove(in_memory, &target);
                let right = ffs.remove(in_ffs, &target);
                assert_eq!(left, right, "{context}: remove {target}");
                if left.is_ok() {
                    let mut removed = path.clone();
                    removed.push(target);
                    directories.retain(|known| !known.starts_with(&removed));
                }
            }
            6 => {
                let file = name(file_names[random.below(6) as usize]);
                let left = memory.read_file(in_memory, &file);
                let right = ffs.read_file(in_ffs, &file);
                assert_eq!(left, right, "{context}: read {file}");
            }
            7 => {
                let all: Vec<&str> = file_names.iter().chain(&directory_names).copied().collect();
                let target = name(all[random.below(all.len() as u64) as usize]);
                let left = memory.information(in_memory, &target);
                let right = ffs.information(in_ffs, &target);
                assert!(same_kind(&left, &right), "{context}: information {target}");
                if let (Ok(left), Ok(right)) = (left, right) {
                    assert_eq!(
                        (
                            left.size,
                            left.type_hash,
                            left.label,
                            left.created,
                            left.modified
                        ),
                        (
                            right.size,
                            right.type_hash,
                            right.label,
                            right.created,
                            right.modified
                        ),
                        "{context}: information {target}"
                    );
                }
            }
            8 => {
                assert_eq!(
                    names(&mut memory, in_memory),
                    names(&mut ffs, in_ffs),
                    "{context}"
                );
            }
            _ => {
                if random.chance(1, 4) {
                    ffs.unmount().expect("unmount");
                    ffs = mount();
                }
            }
        }
    }
    for path in &directories {
        let (in_memory, in_ffs) = (resolve(&mut memory, path), resolve(&mut ffs, path));
        assert_eq!(memory.directory(in_memory), ffs.directory(in_ffs));
        let listed = names(&mut memory, in_memory);
        assert_eq!(listed, names(&mut ffs, in_ffs));
        for entry in listed {
            let entry = name(&entry);
            if let Ok(Entry::File) = memory.lookup(in_memory, &entry) {
                assert_eq!(
                    memory.read_file(in_memory, &entry),
                    ffs.read_file(in_ffs, &entry)
                );
            }
        }
    }
    ffs.unmount().expect("unmount");
    println!(
        "{} directories: the FFS store matches the memory store",
        directories.len()
    );
}
