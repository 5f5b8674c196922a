//! The conformance suite: one function that drives any store through every call of
//! [`Store`] and every error it can answer. It panics at the first departure.
//!
//! No call of the trait names the root as something to remove (`remove` takes a
//! name in a directory, and the root is in none), so [`StoreError::Root`] is the
//! caller's to answer; the suite checks that the root stays whatever is done.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::{
    DirectoryId, DirectoryRecord, Entry, MAXIMUM_FILE_SIZE, MAXIMUM_LABEL_LENGTH, Name, Store,
    StoreError,
};

fn name(text: &str) -> Name {
    Name::new(text).expect("a valid name")
}

fn record(label: &str, type_byte: u8) -> DirectoryRecord {
    DirectoryRecord {
        label: String::from(label),
        type_hash: [type_byte; 64],
    }
}

/// Every name in `directory`, in order, through `next_name`.
pub fn names(store: &mut dyn Store, directory: DirectoryId) -> Vec<String> {
    let mut names = Vec::new();
    let mut after: Option<Name> = None;
    while let Some(next) = store
        .next_name(directory, after.as_ref())
        .expect("next_name")
    {
        names.push(String::from(next.as_str()));
        after = Some(next);
    }
    names
}

/// Drives `store`, which must be empty with a root record of label `root` and type
/// bytes all 1, through every call. Times passed are 100 and up.
pub fn conformance(store: &mut dyn Store) {
    let root = DirectoryId::ROOT;
    let root_record = store.directory(root).expect("the root exists");
    assert_eq!(
        names(store, root),
        Vec::<String>::new(),
        "a new store is empty"
    );
    assert_eq!(
        store.directory(DirectoryId(9_999)),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.next_name(DirectoryId(9_999), None),
        Err(StoreError::NotFound)
    );

    // Directories: made once, their record kept, their name taken.
    let bad_labels = [String::new(), "l".repeat(MAXIMUM_LABEL_LENGTH + 1)];
    for label in bad_labels {
        let bad = DirectoryRecord {
            label,
            type_hash: [2; 64],
        };
        assert_eq!(
            store.create_directory(root, &name("bad"), &bad, 100),
            Err(StoreError::InvalidName)
        );
    }
    let notes_record = record("notes-label", 2);
    let notes = store
        .create_directory(root, &name("notes"), &notes_record, 101)
        .expect("create notes");
    assert_ne!(notes, root);
    assert_eq!(
        store.create_directory(root, &name("notes"), &notes_record, 102),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.create_directory(DirectoryId(9_999), &name("x"), &notes_record, 102),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.lookup(root, &name("notes")),
        Ok(Entry::Directory(notes))
    );
    assert_eq!(store.directory(notes), Ok(notes_record.clone()));
    let information = store
        .information(root, &name("notes"))
        .expect("information");
    assert_eq!(information.entry, Entry::Directory(notes));
    assert_eq!(information.size, 0);
    assert_eq!(information.label, "notes-label");
    assert_eq!(information.type_hash, [2; 64]);
    assert_eq!((information.created, information.modified), (101, 101));

    // Files: made, read, replaced; their information follows.
    store
        .write_file(notes, &name("first"), b"one", 110)
        .expect("write first");
    assert_eq!(store.read_file(notes, &name("first")), Ok(b"one".to_vec()));
    assert_eq!(store.lookup(notes, &name("first")), Ok(Entry::File));
    store
        .write_file(notes, &name("first"), b"one, longer", 120)
        .expect("replace first");
    assert_eq!(
        store.read_file(notes, &name("first")),
        Ok(b"one, longer".to_vec())
    );
    let information = store
        .information(notes, &name("first"))
        .expect("information");
    assert_eq!(information.entry, Entry::File);
    assert_eq!(information.size, 11);
    assert_eq!(information.label, "notes-label");
    assert_eq!(information.type_hash, [2; 64]);
    assert_eq!((information.created, information.modified), (110, 120));
    store
        .write_file(notes, &name("empty"), b"", 121)
        .expect("an empty value");
    assert_eq!(store.read_file(notes, &name("empty")), Ok(Vec::new()));
    let large: Vec<u8> = (0..300_000u32)
        .map(|index| (index * 7 % 251) as u8)
        .collect();
    store
        .write_file(root, &name("large"), &large, 122)
        .expect("a large value");
    assert_eq!(store.read_file(root, &name("large")), Ok(large));
    let information = store
        .information(root, &name("large"))
        .expect("information");
    assert_eq!(
        (information.size, information.label),
        (300_000, root_record.label.clone())
    );

    // Wrong kinds, missing names, values too large: refused, nothing changed.
    assert_eq!(
        store.write_file(root, &name("notes"), b"x", 130),
        Err(StoreError::WrongKind)
    );
    assert_eq!(
        store.read_file(root, &name("notes")),
        Err(StoreError::WrongKind)
    );
    assert_eq!(
        store.create_directory(notes, &name("first"), &notes_record, 130),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.read_file(notes, &name("missing")),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.lookup(notes, &name("missing")),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.information(notes, &name("missing")),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.remove(notes, &name("missing")),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.write_file(DirectoryId(9_999), &name("x"), b"x", 130),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.read_file(DirectoryId(9_999), &name("x")),
        Err(StoreError::NotFound)
    );
    let too_large = vec![0u8; MAXIMUM_FILE_SIZE + 1];
    assert_eq!(
        store.write_file(notes, &name("first"), &too_large, 131),
        Err(StoreError::TooLarge)
    );
    assert_eq!(
        store.read_file(notes, &name("first")),
        Ok(b"one, longer".to_vec())
    );
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert_eq!(Name::new(bad), Err(StoreError::InvalidName), "{bad:?}");
    }
    let longest = "n".repeat(255);
    store
        .write_file(notes, &name(&longest), b"long name", 132)
        .expect("the longest name");

    // Names come in byte order, from any starting name.
    for text in ["b", "a", "B", "é", "c"] {
        store
            .write_file(notes, &name(text), text.as_bytes(), 140)
            .expect("write");
    }
    let expected = ["B", "a", "b", "c", "empty", "first", longest.as_str(), "é"];
    assert_eq!(names(store, notes), expected);
    assert_eq!(
        store.next_name(notes, Some(&name("aa"))),
        Ok(Some(name("b")))
    );
    assert_eq!(store.next_name(notes, Some(&name("é"))), Ok(None));

    // Nested directories; removal only of files and empty directories.
    let inner = store
        .create_directory(notes, &name("inner"), &record("inner-label", 3), 150)
        .expect("nested directory");
    store
        .write_file(inner, &name("deep"), b"deep value", 151)
        .expect("write deep");
    assert_eq!(
        store.remove(root, &name("notes")),
        Err(StoreError::NotEmpty)
    );
    assert_eq!(
        store.remove(notes, &name("inner")),
        Err(StoreError::NotEmpty)
    );
    assert_eq!(
        store.read_file(inner, &name("deep")),
        Ok(b"deep value".to_vec())
    );
    store.remove(inner, &name("deep")).expect("remove deep");
    assert_eq!(
        store.read_file(inner, &name("deep")),
        Err(StoreError::NotFound)
    );
    store.remove(notes, &name("inner")).expect("remove inner");
    assert_eq!(store.directory(inner), Err(StoreError::NotFound));
    assert_eq!(
        store.write_file(inner, &name("deep"), b"x", 160),
        Err(StoreError::NotFound)
    );
    for text in expected {
        store.remove(notes, &name(text)).expect("remove");
    }
    store.remove(root, &name("notes")).expect("remove notes");
    assert_eq!(
        store.lookup(root, &name("notes")),
        Err(StoreError::NotFound)
    );
    assert_eq!(store.directory(notes), Err(StoreError::NotFound));

    // A removed directory's id is never handed out again.
    let again = store
        .create_directory(root, &name("notes"), &notes_record, 170)
        .expect("create notes again");
    assert!(again != notes && again != inner && again != root);
    assert_eq!(names(store, again), Vec::<String>::new());
    store.remove(root, &name("large")).expect("remove large");
    store.remove(root, &name("notes")).expect("remove notes");

    // The root outlives everything.
    assert_eq!(store.directory(root), Ok(root_record));
    assert_eq!(names(store, root), Vec::<String>::new());
}
