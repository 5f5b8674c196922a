//! The initial image on the machine's disk: `/boot` in the typed file system's
//! store, one typed directory per kind of entry, each file one value.
//!
//! # Layout
//!
//! | directory | label | type | holds (the archive's entry) |
//! |-----------|-------|------|-----------------------------|
//! | `/boot` | `boot` | `BootRecord` | `labels`, `policy`, `services`, `hosts` |
//! | `/boot/programs` | `boot` | `Executable` | `programs/NAME` |
//! | `/boot/types` | `boot` | `EtnSource` | `types/NAME.etn` |
//! | `/boot/users` | `boot` | `User` | `users/NAME` |
//! | `/boot/init` | `boot` | `InitSet` | `init/NAME` |
//! | `/boot/keys` | `boot-keys` | `UserKey` | `keys/NAME` |
//! | `/boot/identity` | `boot-keys` | `Host` | `host`, as the file `host` |
//!
//! The types are declared in [`RECORD_TYPES`]; a directory's type hash is the hash
//! of its type there. An `Executable` is the program's ELF and an `EtnSource` the
//! ETN text, as ETE values (a `u64` length, then the bytes); a `BootRecord` is the
//! record with the union's `u32` variant index before it (`Labels` 0, `Policy` 1,
//! `Services` 2, `Hosts` 3), which must be the one its file's name says; every
//! other file is the record itself. The root of the disk stays the description's
//! `[storage]` root: programs' own files live beside `/boot`.
//!
//! `devices`, `limits` and `storage` are not on the disk: the kernel needs the
//! backend of the block class (and of the store) before it can read the disk, so
//! they stay in the image embedded in the kernel, and [`read_image`] takes them
//! from there.
//!
//! # Who may touch `/boot`
//!
//! The labels `boot` and `boot-keys` are the kernel's. The reader refuses a policy
//! that grants anything but `read` on `boot`, or anything at all on `boot-keys`, and
//! the process model refuses every change under `boot`, every access under
//! `boot-keys`, a directory made with either label, and the name `boot` in the root,
//! whatever the policy says. So the private keys (`/boot/keys`, `/boot/identity`)
//! stay in the kernel, as they do in the embedded image, and no program can make or
//! change what the next boot starts from.
//!
//! # Reading
//!
//! [`read_disk`] walks `/boot` and turns it back into the archive's entries,
//! refusing anything outside the layout (a name, a label, a type, a file where a
//! directory belongs); [`read_image`] checks them with the embedded image's
//! `devices`, `limits` and `storage` through [`super::read_entries`], the same
//! checks an archive gets. Nothing here panics, whatever the disk holds.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Name, Store, StoreError};
use ethos_typesys::TypeGraph;
use ethos_typesys::etn;

use super::{EntryPath, ImageError, InitialImage, RECORD_TYPES, archive_entries, read_entries};

/// The entries `/boot` holds, as `(archive path, bytes)`, read off the disk.
pub type DiskEntries = Vec<(String, Vec<u8>)>;

/// The name of `/boot` in the root of the disk.
pub const BOOT: &str = "boot";
/// The label of `/boot` and of every directory in it but the keys'.
pub const BOOT_LABEL: &str = "boot";
/// The label of the directories that hold private keys: no program may have it.
pub const KEYS_LABEL: &str = "boot-keys";

/// A directory of `/boot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDirectory {
    /// `/boot` itself, with the single records.
    Records,
    /// `/boot/programs`
    Programs,
    /// `/boot/types`
    Types,
    /// `/boot/users`
    Users,
    /// `/boot/init`
    Init,
    /// `/boot/keys`
    Keys,
    /// `/boot/identity`
    Identity,
}

/// The files of `/boot` itself, in the order of `BootRecord`'s variants.
const RECORDS: [&str; 4] = ["labels", "policy", "services", "hosts"];

/// The file of `/boot/identity`.
const IDENTITY: &str = "host";

impl BootDirectory {
    /// Every directory, `/boot` first.
    pub const ALL: [BootDirectory; 7] = [
        BootDirectory::Records,
        BootDirectory::Programs,
        BootDirectory::Types,
        BootDirectory::Users,
        BootDirectory::Init,
        BootDirectory::Keys,
        BootDirectory::Identity,
    ];

    /// Its name in `/boot`; `None` for `/boot` itself.
    pub fn name(self) -> Option<&'static str> {
        match self {
            BootDirectory::Records => None,
            BootDirectory::Programs => Some("programs"),
            BootDirectory::Types => Some("types"),
            BootDirectory::Users => Some("users"),
            BootDirectory::Init => Some("init"),
            BootDirectory::Keys => Some("keys"),
            BootDirectory::Identity => Some("identity"),
        }
    }

    /// Its path on the disk, for messages.
    pub fn path(self) -> String {
        match self.name() {
            Some(name) => format!("/{BOOT}/{name}"),
            None => format!("/{BOOT}"),
        }
    }

    /// Its label.
    pub fn label(self) -> &'static str {
        match self {
            BootDirectory::Keys | BootDirectory::Identity => KEYS_LABEL,
            _ => BOOT_LABEL,
        }
    }

    /// The name of its type in [`RECORD_TYPES`].
    pub fn type_name(self) -> &'static str {
        match self {
            BootDirectory::Records => "BootRecord",
            BootDirectory::Programs => "Executable",
            BootDirectory::Types => "EtnSource",
            BootDirectory::Users => "User",
            BootDirectory::Init => "InitSet",
            BootDirectory::Keys => "UserKey",
            BootDirectory::Identity => "Host",
        }
    }

    /// The archive path of file `name` in it, if the layout has one there.
    fn archive_path(self, name: &str) -> Option<String> {
        let path = match self {
            BootDirectory::Records => RECORDS.contains(&name).then(|| String::from(name))?,
            BootDirectory::Identity => (name == IDENTITY).then(|| String::from(IDENTITY))?,
            BootDirectory::Programs => format!("programs/{name}"),
            BootDirectory::Types => format!("types/{name}"),
            BootDirectory::Users => format!("users/{name}"),
            BootDirectory::Init => format!("init/{name}"),
            BootDirectory::Keys => format!("keys/{name}"),
        };
        EntryPath::parse(&path).is_some().then_some(path)
    }
}

/// Where `entry` is on the disk: its directory and file name; `None` for the
/// entries that stay in the kernel (`devices`, `limits`, `storage`).
pub fn place<'a>(entry: &EntryPath<'a>) -> Option<(BootDirectory, &'a str)> {
    Some(match *entry {
        EntryPath::Program(name) => (BootDirectory::Programs, name),
        EntryPath::TypeFile(name) => (BootDirectory::Types, name),
        EntryPath::User(name) => (BootDirectory::Users, name),
        EntryPath::InitSet(name) => (BootDirectory::Init, name),
        EntryPath::UserKey(name) => (BootDirectory::Keys, name),
        EntryPath::Host => (BootDirectory::Identity, IDENTITY),
        EntryPath::Labels => (BootDirectory::Records, RECORDS[0]),
        EntryPath::Policy => (BootDirectory::Records, RECORDS[1]),
        EntryPath::Services => (BootDirectory::Records, RECORDS[2]),
        EntryPath::Hosts => (BootDirectory::Records, RECORDS[3]),
        EntryPath::Devices | EntryPath::Limits | EntryPath::Storage => return None,
    })
}

/// The types of `/boot`'s directories: [`RECORD_TYPES`], parsed.
pub fn boot_types() -> Result<TypeGraph<'static>, ImageError> {
    etn::parse("records", RECORD_TYPES)
        .map(|schema| schema.graph)
        .map_err(ImageError::Etn)
}

/// The record `directory` carries: its label and its type's hash in `types`.
fn record_of(
    types: &TypeGraph<'_>,
    directory: BootDirectory,
) -> Result<DirectoryRecord, ImageError> {
    let hash = types
        .find_by_name(directory.type_name())
        .and_then(|node| types.hash(node))
        .ok_or_else(|| ImageError::BootDirectory {
            path: directory.path(),
            problem: format!("the kernel declares no type `{}`", directory.type_name()),
        })?;
    Ok(DirectoryRecord {
        label: String::from(directory.label()),
        type_hash: hash.0,
    })
}

/// An entry's bytes as the value of its file.
fn encode(directory: BootDirectory, name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(bytes.len() + 8);
    match directory {
        BootDirectory::Programs | BootDirectory::Types => {
            value.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        }
        BootDirectory::Records => {
            let index = RECORDS
                .iter()
                .position(|record| *record == name)
                .unwrap_or(0);
            value.extend_from_slice(&(index as u32).to_le_bytes());
        }
        _ => {}
    }
    value.extend_from_slice(bytes);
    value
}

/// A file's value as its entry's bytes; what is wrong with it otherwise.
fn decode(directory: BootDirectory, name: &str, mut value: Vec<u8>) -> Result<Vec<u8>, String> {
    match directory {
        BootDirectory::Programs | BootDirectory::Types => {
            let length = value
                .first_chunk::<8>()
                .map(|length| u64::from_le_bytes(*length))
                .ok_or_else(|| String::from("shorter than its length"))?;
            if length != value.len() as u64 - 8 {
                return Err(format!(
                    "says it holds {length} bytes but holds {}",
                    value.len() - 8
                ));
            }
            value.drain(..8);
        }
        BootDirectory::Records => {
            let index = value
                .first_chunk::<4>()
                .map(|index| u32::from_le_bytes(*index))
                .ok_or_else(|| String::from("shorter than a BootRecord's variant index"))?;
            let holds = RECORDS
                .get(index as usize)
                .ok_or_else(|| format!("variant {index} is no variant of BootRecord"))?;
            if *holds != name {
                return Err(format!("holds a `{holds}` record"));
            }
            value.drain(..4);
        }
        _ => {}
    }
    Ok(value)
}

fn name(path: &str, text: &str) -> Result<Name, ImageError> {
    Name::new(text).map_err(|error| ImageError::BootStore {
        path: String::from(path),
        error,
    })
}

/// Writes the entries of a checked image (`(archive path, bytes)`, as
/// [`archive_entries`] gives them) into `/boot`, which must not exist yet. The
/// entries are checked first as the kernel will check them; `devices`, `limits` and
/// `storage` are left out (see the module's documentation).
pub fn write(
    store: &mut dyn Store,
    entries: &[(String, &[u8])],
    now: u64,
) -> Result<(), ImageError> {
    read_entries(entries.iter().cloned())?;
    let types = boot_types()?;
    let failed = |path: &str| {
        let path = String::from(path);
        move |error| ImageError::BootStore { path, error }
    };
    let boot_path = BootDirectory::Records.path();
    let boot = store
        .create_directory(
            DirectoryId::ROOT,
            &name(&boot_path, BOOT)?,
            &record_of(&types, BootDirectory::Records)?,
            now,
        )
        .map_err(failed(&boot_path))?;
    let mut directories = Vec::new();
    for directory in BootDirectory::ALL {
        let id = match directory.name() {
            None => boot,
            Some(child) => store
                .create_directory(
                    boot,
                    &name(&directory.path(), child)?,
                    &record_of(&types, directory)?,
                    now,
                )
                .map_err(failed(&directory.path()))?,
        };
        directories.push((directory, id));
    }
    for (path, bytes) in entries {
        let entry = EntryPath::parse(path).ok_or_else(|| ImageError::UnknownEntry(path.clone()))?;
        let Some((directory, file)) = place(&entry) else {
            continue;
        };
        let Some(&(_, id)) = directories.iter().find(|(known, _)| *known == directory) else {
            continue;
        };
        let file_path = format!("{}/{file}", directory.path());
        store
            .write_file(
                id,
                &name(&file_path, file)?,
                &encode(directory, file, bytes),
                now,
            )
            .map_err(failed(&file_path))?;
    }
    Ok(())
}

/// The entries `/boot` on the disk holds, as `(archive path, bytes)`; `None` when
/// the disk has no `/boot`. Refuses anything outside the layout.
pub fn read_disk(store: &mut dyn Store) -> Result<Option<DiskEntries>, ImageError> {
    let boot_path = BootDirectory::Records.path();
    let boot = match store.lookup(DirectoryId::ROOT, &name(&boot_path, BOOT)?) {
        Ok(Entry::Directory(boot)) => boot,
        Ok(Entry::File) => {
            return Err(ImageError::BootDirectory {
                path: boot_path,
                problem: String::from("is a file, not a directory"),
            });
        }
        Err(StoreError::NotFound) => return Ok(None),
        Err(error) => {
            return Err(ImageError::BootStore {
                path: boot_path,
                error,
            });
        }
    };
    let types = boot_types()?;
    let mut entries = Vec::new();
    let mut found = Vec::new();
    read_directory(
        store,
        &types,
        BootDirectory::Records,
        boot,
        &mut entries,
        &mut |name, id| {
            let directory = BootDirectory::ALL
                .into_iter()
                .find(|directory| directory.name() == Some(name))
                .ok_or_else(|| format!("`{name}` is no directory of the layout"))?;
            found.push((directory, id));
            Ok(())
        },
    )?;
    for (directory, id) in found {
        read_directory(
            store,
            &types,
            directory,
            id,
            &mut entries,
            &mut |name, _| Err(format!("`{name}` is a directory; only files belong here")),
        )?;
    }
    Ok(Some(entries))
}

/// Checks `directory`'s label and type, and reads its files into `entries`;
/// `subdirectory` is told of each directory in it, and refuses those it does not
/// expect.
fn read_directory(
    store: &mut dyn Store,
    types: &TypeGraph<'_>,
    directory: BootDirectory,
    id: DirectoryId,
    entries: &mut Vec<(String, Vec<u8>)>,
    subdirectory: &mut dyn FnMut(&str, DirectoryId) -> Result<(), String>,
) -> Result<(), ImageError> {
    let path = directory.path();
    let failed = |path: &str| {
        let path = String::from(path);
        move |error| ImageError::BootStore { path, error }
    };
    let refused = |path: &str, problem: String| ImageError::BootDirectory {
        path: String::from(path),
        problem,
    };
    let record = store.directory(id).map_err(failed(&path))?;
    let expected = record_of(types, directory)?;
    if record.label != expected.label {
        return Err(refused(
            &path,
            format!("has label `{}`, not `{}`", record.label, expected.label),
        ));
    }
    if record.type_hash != expected.type_hash {
        return Err(refused(
            &path,
            format!("its type is not `{}`", directory.type_name()),
        ));
    }
    let mut after: Option<Name> = None;
    while let Some(file) = store.next_name(id, after.as_ref()).map_err(failed(&path))? {
        let file_path = format!("{path}/{file}");
        match store.lookup(id, &file).map_err(failed(&file_path))? {
            Entry::Directory(child) => {
                subdirectory(file.as_str(), child).map_err(|problem| refused(&path, problem))?;
            }
            Entry::File => {
                let archive_path = directory
                    .archive_path(file.as_str())
                    .ok_or_else(|| refused(&file_path, String::from("is no file of the layout")))?;
                let value = store.read_file(id, &file).map_err(failed(&file_path))?;
                let bytes = decode(directory, file.as_str(), value)
                    .map_err(|problem| refused(&file_path, problem))?;
                entries.push((archive_path, bytes));
            }
        }
        after = Some(file);
    }
    Ok(())
}

/// The image the kernel starts from when its disk has `/boot`: the disk's entries
/// with the embedded image's `devices`, `limits` and `storage`, checked as an
/// archive is.
pub fn read_image<'a>(
    disk: &'a [(String, Vec<u8>)],
    embedded: &'a [u8],
) -> Result<InitialImage<'a>, ImageError> {
    let machine = archive_entries(embedded)?
        .into_iter()
        .filter(|(path, _)| EntryPath::parse(path).is_some_and(|entry| place(&entry).is_none()));
    read_entries(
        disk.iter()
            .map(|(path, bytes)| (path.clone(), bytes.as_slice()))
            .chain(machine),
    )
}
