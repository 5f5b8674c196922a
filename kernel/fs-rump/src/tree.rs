//! The store's calls as rump system calls on the mounted file system: paths of the
//! directories handed out, the hidden names (see [`crate::format`]), the
//! write-sync-rename-sync sequence of every change, and NetBSD errors as
//! [`StoreError`]s.
//!
//! Everything here runs where rump system calls may be made ([`crate::RumpCalls`]);
//! nothing here may leave a visible name half made.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ethos_devices::BlockError;
use ethos_fs::{
    DirectoryId, DirectoryRecord, Entry, Information, MAXIMUM_FILE_SIZE, Name, StoreError,
};
use rump_sys::NetbsdErrno;
use rump_sys::kernel::RumpError;
use rump_sys::kernel::fs::{self, EntryKind, File, FileStatus, OpenMode};

use crate::MountError;
use crate::format::{
    self, GONE_DIRECTORY, NEW_DIRECTORY, NEW_FILE, RECORD, VALUE_HEADER, decode_record,
    decode_times, encode_record, encode_value,
};

/// The NetBSD errno of a failed system call.
pub(crate) fn errno_of(error: &RumpError) -> Option<NetbsdErrno> {
    match error {
        RumpError::System { errno, .. } => Some(*errno),
        _ => None,
    }
}

/// A NetBSD error as the store's.
pub(crate) fn store_error(error: RumpError) -> StoreError {
    let Some(errno) = errno_of(&error) else {
        return StoreError::Corrupt(format!("{error}"));
    };
    match errno {
        NetbsdErrno::ENOENT => StoreError::NotFound,
        NetbsdErrno::EEXIST => StoreError::AlreadyExists,
        NetbsdErrno::ENOTDIR | NetbsdErrno::EISDIR => StoreError::WrongKind,
        NetbsdErrno::ENOTEMPTY => StoreError::NotEmpty,
        NetbsdErrno::ENAMETOOLONG => StoreError::InvalidName,
        NetbsdErrno::ENOSPC | NetbsdErrno::EDQUOT => StoreError::Full,
        NetbsdErrno::EIO => StoreError::Device(BlockError::Device),
        NetbsdErrno::EROFS => StoreError::Device(BlockError::ReadOnly),
        _ => StoreError::Corrupt(format!("{error}")),
    }
}

/// `path/name`.
fn join(path: &[u8], name: &[u8]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(path.len() + 1 + name.len());
    joined.extend_from_slice(path);
    joined.push(b'/');
    joined.extend_from_slice(name);
    joined
}

/// A directory handed out in this mount.
#[derive(Debug)]
struct Known {
    path: Vec<u8>,
}

/// The directories handed out, by id and by inode.
#[derive(Debug)]
pub(crate) struct Tree {
    directories: BTreeMap<DirectoryId, Known>,
    by_inode: BTreeMap<u64, DirectoryId>,
    next_id: u64,
}

const WRITE_NEW: OpenMode = OpenMode {
    write: true,
    create: true,
    exclusive: false,
    truncate: true,
};

/// Writes all of `bytes` to a new file at `path` and makes it durable.
fn write_synced(path: &[u8], bytes: &[u8]) -> Result<(), RumpError> {
    let file = File::open(path, WRITE_NEW)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let written = file.write(rest)?;
        if written == 0 {
            return Err(RumpError::System {
                call: "write",
                errno: NetbsdErrno::EIO,
            });
        }
        rest = &rest[written..];
    }
    file.sync()
}

/// Makes a directory's entries durable.
fn sync_directory(path: &[u8]) -> Result<(), RumpError> {
    File::open(path, OpenMode::default())?.sync()
}

/// The whole content of the file at `path`.
fn read_whole(path: &[u8]) -> Result<Vec<u8>, RumpError> {
    let file = File::open(path, OpenMode::default())?;
    let size = usize::try_from(file.status()?.size).unwrap_or(0);
    let mut bytes = vec![0u8; size];
    let mut filled = 0;
    while filled < bytes.len() {
        let read = file.read(&mut bytes[filled..])?;
        if read == 0 {
            bytes.truncate(filled);
            break;
        }
        filled += read;
    }
    Ok(bytes)
}

/// The first `length` bytes of the file at `path` (fewer if it is shorter).
fn read_prefix(path: &[u8], length: usize) -> Result<Vec<u8>, RumpError> {
    let file = File::open(path, OpenMode::default())?;
    let mut bytes = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        let read = file.read(&mut bytes[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// The status of `path`, `None` if nothing is there.
fn status_if_any(path: &[u8]) -> Result<Option<FileStatus>, StoreError> {
    match fs::status(path) {
        Ok(status) => Ok(Some(status)),
        Err(error) if errno_of(&error) == Some(NetbsdErrno::ENOENT) => Ok(None),
        Err(error) => Err(store_error(error)),
    }
}

/// Removes what is at `path` and everything under it; nothing there is fine. Only
/// for hidden names, whose content no program can see.
fn remove_hidden(path: &[u8]) -> Result<(), RumpError> {
    let status = match fs::status(path) {
        Ok(status) => status,
        Err(error) if errno_of(&error) == Some(NetbsdErrno::ENOENT) => return Ok(()),
        Err(error) => return Err(error),
    };
    if !status.is_directory() {
        return fs::unlink(path);
    }
    for entry in fs::directory_entries(path)? {
        if entry.name == b"." || entry.name == b".." {
            continue;
        }
        remove_hidden(&join(path, &entry.name))?;
    }
    fs::remove_directory(path)
}

impl Tree {
    /// The tree of the file system mounted at `mount_point`, if its root is a store.
    pub(crate) fn open(mount_point: &str) -> Result<Tree, MountError> {
        let root = mount_point.as_bytes();
        let bytes = read_whole(&join(root, RECORD)).map_err(|error| {
            if errno_of(&error) == Some(NetbsdErrno::ENOENT) {
                MountError::NoRootRecord
            } else {
                MountError::DamagedRootRecord(format!("{error}"))
            }
        })?;
        decode_record(&bytes).map_err(MountError::DamagedRootRecord)?;
        let inode = fs::status(root)
            .map_err(|error| MountError::DamagedRootRecord(format!("{error}")))?
            .inode;
        let mut tree = Tree {
            directories: BTreeMap::new(),
            by_inode: BTreeMap::new(),
            next_id: DirectoryId::ROOT.0 + 1,
        };
        tree.directories.insert(
            DirectoryId::ROOT,
            Known {
                path: root.to_vec(),
            },
        );
        tree.by_inode.insert(inode, DirectoryId::ROOT);
        Ok(tree)
    }

    fn path(&self, directory: DirectoryId) -> Result<&[u8], StoreError> {
        self.directories
            .get(&directory)
            .map(|known| known.path.as_slice())
            .ok_or(StoreError::NotFound)
    }

    /// The id of the directory at `path` with inode `inode`: the one handed out
    /// already, or a new one.
    fn id_for(&mut self, path: Vec<u8>, inode: u64) -> DirectoryId {
        if let Some(id) = self.by_inode.get(&inode)
            && self
                .directories
                .get(id)
                .is_some_and(|known| known.path == path)
        {
            return *id;
        }
        let id = DirectoryId(self.next_id);
        self.next_id += 1;
        self.by_inode.insert(inode, id);
        self.directories.insert(id, Known { path });
        id
    }

    /// The record and creation time of the directory at `path`.
    fn record_at(path: &[u8]) -> Result<(DirectoryRecord, u64), StoreError> {
        let bytes = read_whole(&join(path, RECORD)).map_err(|error| match store_error(error) {
            StoreError::NotFound => {
                StoreError::Corrupt(String::from("a directory without its record file"))
            }
            other => other,
        })?;
        decode_record(&bytes).map_err(StoreError::Corrupt)
    }

    pub(crate) fn directory(
        &mut self,
        directory: DirectoryId,
    ) -> Result<DirectoryRecord, StoreError> {
        let path = self.path(directory)?;
        Ok(Self::record_at(path)?.0)
    }

    /// The status of `name` in `directory`, with its path.
    fn named(
        &self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<(Vec<u8>, Option<FileStatus>), StoreError> {
        let path = join(self.path(directory)?, name.as_str().as_bytes());
        let status = status_if_any(&path)?;
        if let Some(status) = &status
            && !status.is_directory()
            && !status.is_regular()
        {
            return Err(StoreError::Corrupt(format!(
                "{name} is neither a file nor a directory"
            )));
        }
        Ok((path, status))
    }

    pub(crate) fn lookup(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Entry, StoreError> {
        match self.named(directory, name)? {
            (_, None) => Err(StoreError::NotFound),
            (path, Some(status)) if status.is_directory() => {
                Ok(Entry::Directory(self.id_for(path, status.inode)))
            }
            _ => Ok(Entry::File),
        }
    }

    pub(crate) fn create_directory(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        record: &DirectoryRecord,
        now: u64,
    ) -> Result<DirectoryId, StoreError> {
        record.check()?;
        let (path, status) = self.named(directory, name)?;
        if status.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let parent = self.path(directory)?.to_vec();
        let new = join(&parent, NEW_DIRECTORY);
        let made = (|| {
            remove_hidden(&new)?;
            fs::make_directory(&new, 0o755)?;
            write_synced(&join(&new, RECORD), &encode_record(record, now))?;
            sync_directory(&new)?;
            fs::rename(&new, &path)?;
            sync_directory(&parent)
        })();
        if let Err(error) = made {
            let _ = remove_hidden(&new);
            return Err(store_error(error));
        }
        let inode = fs::status(&path).map_err(store_error)?.inode;
        Ok(self.id_for(path, inode))
    }

    pub(crate) fn read_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Vec<u8>, StoreError> {
        let (path, status) = self.named(directory, name)?;
        match status {
            None => return Err(StoreError::NotFound),
            Some(status) if status.is_directory() => return Err(StoreError::WrongKind),
            Some(_) => {}
        }
        let mut bytes = read_whole(&path).map_err(store_error)?;
        if bytes.len() < VALUE_HEADER {
            return Err(StoreError::Corrupt(format!(
                "{name}: {} bytes, shorter than a value's header",
                bytes.len()
            )));
        }
        bytes.drain(..VALUE_HEADER);
        Ok(bytes)
    }

    pub(crate) fn write_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        value: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        if value.len() > MAXIMUM_FILE_SIZE {
            return Err(StoreError::TooLarge);
        }
        let (path, status) = self.named(directory, name)?;
        let created = match status {
            Some(status) if status.is_directory() => return Err(StoreError::WrongKind),
            Some(_) => read_prefix(&path, VALUE_HEADER)
                .ok()
                .and_then(|header| decode_times(&header))
                .map_or(now, |(created, _)| created),
            None => now,
        };
        let parent = self.path(directory)?.to_vec();
        let new = join(&parent, NEW_FILE);
        let written = (|| {
            write_synced(&new, &encode_value(value, created, now))?;
            fs::rename(&new, &path)?;
            sync_directory(&parent)
        })();
        written.map_err(|error| {
            let _ = fs::unlink(&new);
            store_error(error)
        })
    }

    pub(crate) fn remove(&mut self, directory: DirectoryId, name: &Name) -> Result<(), StoreError> {
        let (path, status) = self.named(directory, name)?;
        let status = status.ok_or(StoreError::NotFound)?;
        let parent = self.path(directory)?.to_vec();
        if !status.is_directory() {
            fs::unlink(&path).map_err(store_error)?;
            return sync_directory(&parent).map_err(store_error);
        }
        let visible = fs::directory_entries(&path)
            .map_err(store_error)?
            .iter()
            .any(|entry| format::visible(&entry.name));
        if visible {
            return Err(StoreError::NotEmpty);
        }
        // Out of sight first (one rename), then emptied and removed: a power cut
        // leaves the name gone or there, never a directory without its record.
        let gone = join(&parent, GONE_DIRECTORY);
        remove_hidden(&gone).map_err(store_error)?;
        fs::rename(&path, &gone).map_err(store_error)?;
        if let Some(id) = self.by_inode.remove(&status.inode) {
            self.directories.remove(&id);
        }
        sync_directory(&parent).map_err(store_error)?;
        remove_hidden(&gone).map_err(store_error)?;
        sync_directory(&parent).map_err(store_error)
    }

    pub(crate) fn next_name(
        &mut self,
        directory: DirectoryId,
        after: Option<&Name>,
    ) -> Result<Option<Name>, StoreError> {
        let path = self.path(directory)?;
        let entries = fs::directory_entries(path).map_err(store_error)?;
        let after = after.map(|name| name.as_str().as_bytes());
        let next = entries
            .iter()
            .filter(|entry| format::visible(&entry.name))
            .filter(|entry| after.is_none_or(|after| entry.name.as_slice() > after))
            .filter(|entry| matches!(entry.kind, EntryKind::Directory | EntryKind::Regular))
            .map(|entry| entry.name.as_slice())
            .min();
        match next {
            None => Ok(None),
            Some(bytes) => {
                let text = core::str::from_utf8(bytes).unwrap_or_default();
                Name::new(text).map(Some)
            }
        }
    }

    pub(crate) fn information(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Information, StoreError> {
        match self.named(directory, name)? {
            (_, None) => Err(StoreError::NotFound),
            (path, Some(status)) if status.is_directory() => {
                let (record, created) = Self::record_at(&path)?;
                let id = self.id_for(path, status.inode);
                Ok(Information {
                    entry: Entry::Directory(id),
                    size: 0,
                    type_hash: record.type_hash,
                    label: record.label,
                    created,
                    modified: created,
                })
            }
            (path, Some(status)) => {
                let (record, _) = Self::record_at(self.path(directory)?)?;
                let header = read_prefix(&path, VALUE_HEADER).map_err(store_error)?;
                let (created, modified) = decode_times(&header).ok_or_else(|| {
                    StoreError::Corrupt(format!("{name}: shorter than a value's header"))
                })?;
                Ok(Information {
                    entry: Entry::File,
                    size: u64::try_from(status.size)
                        .unwrap_or(0)
                        .saturating_sub(VALUE_HEADER as u64),
                    type_hash: record.type_hash,
                    label: record.label,
                    created,
                    modified,
                })
            }
        }
    }
}
