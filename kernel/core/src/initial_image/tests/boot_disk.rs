//! The initial image on the disk: the archive's entries written to `/boot` of an
//! in-memory store read back as the same image, and a damaged `/boot` refused with
//! the entry or directory at fault.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use ethos_fs::memory::MemoryStore;
use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Name, Store};

use super::{sample, written};
use crate::initial_image::boot_disk::{self, BootDirectory};
use crate::initial_image::*;

fn root() -> DirectoryRecord {
    DirectoryRecord {
        label: String::from("files"),
        type_hash: [7; 64],
    }
}

/// A store whose `/boot` holds the sample image, and the archive it came from.
fn disk() -> (MemoryStore, Vec<u8>) {
    let bytes = written(&sample());
    let mut store = MemoryStore::new(root());
    boot_disk::write(&mut store, &archive_entries(&bytes).unwrap(), 5).unwrap();
    (store, bytes)
}

fn directory(store: &mut MemoryStore, directory: BootDirectory) -> DirectoryId {
    let mut id = DirectoryId::ROOT;
    let mut path = Vec::from([boot_disk::BOOT]);
    path.extend(directory.name());
    for name in path {
        match store.lookup(id, &Name::new(name).unwrap()).unwrap() {
            Entry::Directory(child) => id = child,
            Entry::File => panic!("{name} is a file"),
        }
    }
    id
}

fn refused(store: &mut MemoryStore, bytes: &[u8]) -> String {
    match boot_disk::read_disk(store) {
        Err(error) => error.to_string(),
        Ok(None) => panic!("no /boot"),
        Ok(Some(entries)) => boot_disk::read_image(&entries, bytes)
            .map(|_| ())
            .expect_err("a damaged /boot is refused")
            .to_string(),
    }
}

#[test]
fn the_entries_written_to_the_disk_read_back_as_the_same_image() {
    let (mut store, bytes) = disk();
    let on_disk = boot_disk::read_disk(&mut store).unwrap().unwrap();
    // Every entry but the machine's three is on the disk, byte for byte.
    let mut expected: Vec<(String, Vec<u8>)> = archive_entries(&bytes)
        .unwrap()
        .into_iter()
        .filter(|(path, _)| !["devices", "limits", "storage"].contains(&path.as_str()))
        .map(|(path, data)| (path, data.to_vec()))
        .collect();
    let mut found = on_disk.clone();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    let from_disk = boot_disk::read_image(&on_disk, &bytes).unwrap();
    let from_archive = read(&bytes).unwrap();
    assert_eq!(
        format!("{:?}", from_disk.configuration),
        format!("{:?}", from_archive.configuration)
    );
    assert_eq!(format!("{from_disk:?}"), format!("{from_archive:?}"));
    assert_eq!(from_disk.executables, from_archive.executables);
    assert_eq!(from_disk.init_sets, from_archive.init_sets);
    assert_eq!(from_disk.counts, from_archive.counts);
    assert_eq!(from_disk.storage, from_archive.storage);
    assert_eq!(from_disk.hosts.user_keys.len(), 1);
}

#[test]
fn every_directory_carries_its_label_and_type() {
    let (mut store, _) = disk();
    let types = boot_disk::boot_types().unwrap();
    for each in BootDirectory::ALL {
        let id = directory(&mut store, each);
        let record = store.directory(id).unwrap();
        assert_eq!(record.label, each.label(), "{}", each.path());
        let node = types.find_by_name(each.type_name()).unwrap();
        assert_eq!(record.type_hash, types.hash(node).unwrap().0);
    }
    assert_eq!(BootDirectory::Keys.label(), boot_disk::KEYS_LABEL);
    assert_eq!(BootDirectory::Identity.label(), boot_disk::KEYS_LABEL);
}

#[test]
fn a_disk_without_boot_has_no_image_and_boot_is_written_once() {
    let mut store = MemoryStore::new(root());
    assert!(boot_disk::read_disk(&mut store).unwrap().is_none());
    let (mut store, bytes) = disk();
    let again = boot_disk::write(&mut store, &archive_entries(&bytes).unwrap(), 6);
    assert_eq!(
        again.unwrap_err().to_string(),
        "the disk's /boot: the name is taken"
    );
}

#[test]
fn a_damaged_boot_is_refused_with_what_is_at_fault() {
    let name = |text: &str| Name::new(text).unwrap();
    // A record whose body is not a value of its type: the reader names the entry.
    let (mut store, bytes) = disk();
    let boot = directory(&mut store, BootDirectory::Records);
    store
        .write_file(boot, &name("labels"), &[0, 0, 0, 0, 9], 7)
        .unwrap();
    assert!(refused(&mut store, &bytes).starts_with("entry `labels`: "));
    // The variant of another record.
    let (mut store, bytes) = disk();
    let policy = store.read_file(boot, &name("policy")).unwrap();
    store.write_file(boot, &name("labels"), &policy, 7).unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot/labels: holds a `policy` record"
    );
    // A program whose length is not its size.
    let (mut store, bytes) = disk();
    let programs = directory(&mut store, BootDirectory::Programs);
    store
        .write_file(programs, &name("hello"), &[1, 0, 0, 0, 0, 0, 0, 0], 7)
        .unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot/programs/hello: says it holds 1 bytes but holds 0"
    );
    // A user that is no `User`.
    let (mut store, bytes) = disk();
    let users = directory(&mut store, BootDirectory::Users);
    store.write_file(users, &name("zed"), b"zed", 7).unwrap();
    assert!(refused(&mut store, &bytes).starts_with("entry `users/zed`: "));
    // A name outside the layout, and a directory where files belong.
    let (mut store, bytes) = disk();
    store.write_file(boot, &name("devices"), b"", 7).unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot/devices: is no file of the layout"
    );
    let (mut store, bytes) = disk();
    store
        .create_directory(users, &name("more"), &root(), 7)
        .unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot/users: `more` is a directory; only files belong here"
    );
    // The identity directory under a label programs may be granted.
    let (mut store, bytes) = disk();
    let identity = directory(&mut store, BootDirectory::Identity);
    store.remove(identity, &name("host")).unwrap();
    store.remove(boot, &name("identity")).unwrap();
    let record = DirectoryRecord {
        label: String::from("files"),
        ..store.directory(boot).unwrap()
    };
    store
        .create_directory(boot, &name("identity"), &record, 7)
        .unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot/identity: has label `files`, not `boot-keys`"
    );
    // `/boot` a file.
    let mut store = MemoryStore::new(root());
    store
        .write_file(DirectoryId::ROOT, &name("boot"), b"", 7)
        .unwrap();
    assert_eq!(
        refused(&mut store, &bytes),
        "the disk's /boot: is a file, not a directory"
    );
}

#[test]
fn a_policy_granting_on_boots_labels_is_refused() {
    for (label, rights) in [
        (boot_disk::KEYS_LABEL, &["read"][..]),
        (boot_disk::BOOT_LABEL, &["read", "write"][..]),
        (boot_disk::BOOT_LABEL, &["create"][..]),
    ] {
        let mut contents = sample();
        contents.policy.grants.push(super::grant(
            label,
            PrincipalRecord::User(String::from("alice")),
            ProgramMatchRecord::Any,
            rights,
        ));
        let error = read(&written(&contents)).unwrap_err();
        assert!(
            matches!(&error, ImageError::ReservedLabel { label: found } if found == label),
            "{error}"
        );
    }
    let mut contents = sample();
    contents.policy.grants.push(super::grant(
        boot_disk::BOOT_LABEL,
        PrincipalRecord::User(String::from("alice")),
        ProgramMatchRecord::Any,
        &["read"],
    ));
    read(&written(&contents)).unwrap();
}
