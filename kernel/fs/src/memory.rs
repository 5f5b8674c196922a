//! A store held in memory: the reference every backend's conformance tests compare
//! against, and the kernel core's store in its host tests. Nothing survives the
//! value, so it promises durability only for as long as it lives.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{
    DirectoryId, DirectoryRecord, Entry, Information, MAXIMUM_FILE_SIZE, Name, Store, StoreError,
};

#[derive(Clone, Debug)]
enum Node {
    File {
        value: Vec<u8>,
        created: u64,
        modified: u64,
    },
    Directory(DirectoryId),
}

#[derive(Clone, Debug)]
struct Directory {
    record: DirectoryRecord,
    created: u64,
    names: BTreeMap<Name, Node>,
}

/// A store in memory.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    directories: BTreeMap<DirectoryId, Directory>,
    next_directory: u64,
    /// Bytes of values it may hold in all, `None` for no bound.
    capacity: Option<usize>,
    used: usize,
}

impl MemoryStore {
    /// An empty store whose root directory carries `root`.
    pub fn new(root: DirectoryRecord) -> MemoryStore {
        let mut directories = BTreeMap::new();
        directories.insert(
            DirectoryId::ROOT,
            Directory {
                record: root,
                created: 0,
                names: BTreeMap::new(),
            },
        );
        MemoryStore {
            directories,
            next_directory: DirectoryId::ROOT.0 + 1,
            capacity: None,
            used: 0,
        }
    }

    /// The same store, holding at most `bytes` of values in all (writes past it
    /// answer [`StoreError::Full`]).
    pub fn with_capacity(mut self, bytes: usize) -> MemoryStore {
        self.capacity = Some(bytes);
        self
    }

    fn directory_mut(&mut self, directory: DirectoryId) -> Result<&mut Directory, StoreError> {
        self.directories
            .get_mut(&directory)
            .ok_or(StoreError::NotFound)
    }

    fn directory_ref(&self, directory: DirectoryId) -> Result<&Directory, StoreError> {
        self.directories.get(&directory).ok_or(StoreError::NotFound)
    }
}

impl Store for MemoryStore {
    fn directory(&mut self, directory: DirectoryId) -> Result<DirectoryRecord, StoreError> {
        Ok(self.directory_ref(directory)?.record.clone())
    }

    fn lookup(&mut self, directory: DirectoryId, name: &Name) -> Result<Entry, StoreError> {
        match self.directory_ref(directory)?.names.get(name) {
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
        let id = DirectoryId(self.next_directory);
        let parent = self.directory_mut(directory)?;
        if parent.names.contains_key(name) {
            return Err(StoreError::AlreadyExists);
        }
        parent.names.insert(name.clone(), Node::Directory(id));
        self.next_directory += 1;
        self.directories.insert(
            id,
            Directory {
                record: record.clone(),
                created: now,
                names: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    fn read_file(&mut self, directory: DirectoryId, name: &Name) -> Result<Vec<u8>, StoreError> {
        match self.directory_ref(directory)?.names.get(name) {
            Some(Node::File { value, .. }) => Ok(value.clone()),
            Some(Node::Directory(_)) => Err(StoreError::WrongKind),
            None => Err(StoreError::NotFound),
        }
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
        let (capacity, used) = (self.capacity, self.used);
        let parent = self.directory_mut(directory)?;
        let (old_length, created) = match parent.names.get(name) {
            Some(Node::File { value, created, .. }) => (value.len(), *created),
            Some(Node::Directory(_)) => return Err(StoreError::WrongKind),
            None => (0, now),
        };
        let new_used = used - old_length + value.len();
        if capacity.is_some_and(|capacity| new_used > capacity) {
            return Err(StoreError::Full);
        }
        parent.names.insert(
            name.clone(),
            Node::File {
                value: value.to_vec(),
                created,
                modified: now,
            },
        );
        self.used = new_used;
        Ok(())
    }

    fn remove(&mut self, directory: DirectoryId, name: &Name) -> Result<(), StoreError> {
        let node = self
            .directory_ref(directory)?
            .names
            .get(name)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        match node {
            Node::File { value, .. } => {
                self.used -= value.len();
            }
            Node::Directory(id) => {
                if !self.directory_ref(id)?.names.is_empty() {
                    return Err(StoreError::NotEmpty);
                }
                self.directories.remove(&id);
            }
        }
        self.directory_mut(directory)?.names.remove(name);
        Ok(())
    }

    fn next_name(
        &mut self,
        directory: DirectoryId,
        after: Option<&Name>,
    ) -> Result<Option<Name>, StoreError> {
        let names = &self.directory_ref(directory)?.names;
        Ok(crate::name_after(names, after))
    }

    fn information(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Information, StoreError> {
        let parent = self.directory_ref(directory)?;
        match parent.names.get(name).ok_or(StoreError::NotFound)? {
            Node::File {
                value,
                created,
                modified,
            } => Ok(Information {
                entry: Entry::File,
                size: value.len() as u64,
                type_hash: parent.record.type_hash,
                label: parent.record.label.clone(),
                created: *created,
                modified: *modified,
            }),
            Node::Directory(id) => {
                let child = self.directory_ref(*id)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn record(label: &str) -> DirectoryRecord {
        DirectoryRecord {
            label: String::from(label),
            type_hash: [7; 64],
        }
    }

    fn name(text: &str) -> Name {
        Name::new(text).unwrap()
    }

    #[test]
    fn files_directories_and_names() {
        let mut store = MemoryStore::new(record("root"));
        let root = DirectoryId::ROOT;
        let notes = store
            .create_directory(root, &name("notes"), &record("private"), 5)
            .unwrap();
        store.write_file(notes, &name("b"), b"two", 6).unwrap();
        store.write_file(notes, &name("a"), b"one", 7).unwrap();
        assert_eq!(store.read_file(notes, &name("a")).unwrap(), b"one");
        assert_eq!(store.next_name(notes, None).unwrap(), Some(name("a")));
        assert_eq!(
            store.next_name(notes, Some(&name("a"))).unwrap(),
            Some(name("b"))
        );
        assert_eq!(store.next_name(notes, Some(&name("b"))).unwrap(), None);
        let information = store.information(notes, &name("a")).unwrap();
        assert_eq!(
            (information.size, information.label.as_str()),
            (3, "private")
        );
        assert_eq!(
            store.remove(root, &name("notes")),
            Err(StoreError::NotEmpty)
        );
        store.remove(notes, &name("a")).unwrap();
        store.remove(notes, &name("b")).unwrap();
        store.remove(root, &name("notes")).unwrap();
        assert_eq!(store.directory(notes), Err(StoreError::NotFound));
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert_eq!(Name::new(bad), Err(StoreError::InvalidName), "{bad:?}");
        }
        assert!(Name::new(&"x".repeat(255)).is_ok());
        assert!(Name::new(&"x".repeat(256)).is_err());
    }

    #[test]
    fn a_full_store_changes_nothing() {
        let mut store = MemoryStore::new(record("root")).with_capacity(4);
        let root = DirectoryId::ROOT;
        store.write_file(root, &name("a"), b"abc", 1).unwrap();
        assert_eq!(
            store.write_file(root, &name("b"), b"de", 2),
            Err(StoreError::Full)
        );
        store.write_file(root, &name("a"), b"abcd", 3).unwrap();
        assert_eq!(store.read_file(root, &name("a")).unwrap(), b"abcd");
    }
}
