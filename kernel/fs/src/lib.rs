//! Storage for the typed file system: the [`Store`] trait every backend implements,
//! and the in-memory store ([`memory::MemoryStore`]) that the kernel core's tests
//! and the backends' conformance tests use as the model, and the native on-disk
//! store ([`native`]) over the block device class.
//!
//! A store holds a tree of directories. Each directory carries a label (what the
//! policy decides on) and a type hash (every file in it is one value of that type),
//! both fixed when it is made. A name in a directory is either a file, holding the
//! bytes of one value, or a directory. The store checks names and sizes; it never
//! decides who may do what and never looks inside a value: the process model checks
//! rights and runs the recognizer before it asks the store to write.
//!
//! What every backend promises (and the conformance tests check):
//! - a call that returns `Ok` after it changed something has made the change
//!   durable: after a power cut the change is there;
//! - a change is atomic: after a power cut, or to a concurrent reader, a file holds
//!   its old value or its new one, never a mix, and a directory is made or removed
//!   whole;
//! - a call that returns an error changed nothing.

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod memory;
pub mod native;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::Status;
use ethos_abi::arguments::{MAXIMUM_NAME_LENGTH, MAXIMUM_VALUE_SIZE};

/// The length of a type hash (SHA-512 over the type's canonical graph).
pub const TYPE_HASH_LENGTH: usize = 64;

/// A directory's type: the identity hash of the type every file in it has.
pub type TypeHashBytes = [u8; TYPE_HASH_LENGTH];

/// The largest file: one value of at most [`MAXIMUM_VALUE_SIZE`] bytes.
pub const MAXIMUM_FILE_SIZE: usize = MAXIMUM_VALUE_SIZE as usize;

/// The longest label, in bytes.
pub const MAXIMUM_LABEL_LENGTH: usize = MAXIMUM_NAME_LENGTH as usize;

/// One name inside a directory: 1 to 255 bytes of UTF-8, neither `.` nor `..`,
/// without `/` or NUL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// The name, if `text` is one.
    pub fn new(text: &str) -> Result<Name, StoreError> {
        let valid = !text.is_empty()
            && text.len() <= MAXIMUM_NAME_LENGTH as usize
            && text != "."
            && text != ".."
            && !text.bytes().any(|byte| byte == b'/' || byte == 0);
        if valid {
            Ok(Name(String::from(text)))
        } else {
            Err(StoreError::InvalidName)
        }
    }

    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Identifies one directory for as long as it exists. A removed directory's id is
/// never handed out again by the same store, so a stale id finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirectoryId(pub u64);

impl DirectoryId {
    /// The root directory, which every store has and which cannot be removed.
    pub const ROOT: DirectoryId = DirectoryId(1);
}

/// What a directory carries from its creation on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRecord {
    /// The label the policy decides on.
    pub label: String,
    /// The type of every file in it.
    pub type_hash: TypeHashBytes,
}

impl DirectoryRecord {
    /// Checks the label's length.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.label.is_empty() || self.label.len() > MAXIMUM_LABEL_LENGTH {
            return Err(StoreError::InvalidName);
        }
        Ok(())
    }
}

/// What a name in a directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A file holding one value.
    File,
    /// A directory.
    Directory(DirectoryId),
}

/// What `fileInformation` reports about one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Information {
    /// A file or a directory.
    pub entry: Entry,
    /// A file's value's length in bytes; 0 for a directory.
    pub size: u64,
    /// A file's type (its directory's); a directory's own type.
    pub type_hash: TypeHashBytes,
    /// A file's label (its directory's); a directory's own label.
    pub label: String,
    /// When it was made, in nanoseconds of the caller's clock.
    pub created: u64,
    /// When its value last changed (a directory: when it was made).
    pub modified: u64,
}

/// Why a store refused or failed a call. Nothing was changed when one is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No such name, or the directory no longer exists.
    NotFound,
    /// The name is taken (by a directory, when a file was to be made, or anything,
    /// when a directory was to be made).
    AlreadyExists,
    /// A file was named where a directory is needed, or a directory where a file is.
    WrongKind,
    /// The directory still holds names.
    NotEmpty,
    /// The name or label is empty, too long, `.`, `..`, or holds `/` or NUL.
    InvalidName,
    /// The value is larger than [`MAXIMUM_FILE_SIZE`].
    TooLarge,
    /// The store has no room; nothing already written was lost.
    Full,
    /// The device failed a request.
    Device(ethos_devices::BlockError),
    /// What the store read does not match its checksum or structure.
    Corrupt(String),
    /// The root directory cannot be removed.
    Root,
}

impl fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => formatter.write_str("no such file or directory"),
            StoreError::AlreadyExists => formatter.write_str("the name is taken"),
            StoreError::WrongKind => {
                formatter.write_str("a file where a directory is needed, or the reverse")
            }
            StoreError::NotEmpty => formatter.write_str("the directory is not empty"),
            StoreError::InvalidName => formatter.write_str("not a valid name or label"),
            StoreError::TooLarge => write!(
                formatter,
                "the value is larger than {MAXIMUM_FILE_SIZE} bytes"
            ),
            StoreError::Full => formatter.write_str("the store is full"),
            StoreError::Device(error) => write!(formatter, "the device failed: {error}"),
            StoreError::Corrupt(what) => write!(formatter, "damaged: {what}"),
            StoreError::Root => formatter.write_str("the root directory cannot be removed"),
        }
    }
}

impl From<ethos_devices::BlockError> for StoreError {
    fn from(error: ethos_devices::BlockError) -> StoreError {
        StoreError::Device(error)
    }
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Status {
        match error {
            StoreError::NotFound => Status::NoSuchObject,
            StoreError::AlreadyExists => Status::AlreadyExists,
            StoreError::WrongKind => Status::WrongObject,
            StoreError::NotEmpty => Status::DirectoryNotEmpty,
            StoreError::InvalidName | StoreError::TooLarge => Status::InvalidArgument,
            StoreError::Full => Status::StorageFull,
            StoreError::Device(_) | StoreError::Corrupt(_) => Status::StorageFailed,
            StoreError::Root => Status::NotAuthorized,
        }
    }
}

/// The first name of `names` after `after` in byte order (the first of all for
/// `None`): what [`Store::next_name`] answers for a directory whose names are the
/// keys of a map.
pub fn name_after<V>(
    names: &alloc::collections::BTreeMap<Name, V>,
    after: Option<&Name>,
) -> Option<Name> {
    let next = match after {
        None => names.keys().next(),
        Some(after) => names
            .range::<Name, _>((
                core::ops::Bound::Excluded(after),
                core::ops::Bound::Unbounded,
            ))
            .map(|(name, _)| name)
            .next(),
    };
    next.cloned()
}

/// A typed file system's storage. See the crate documentation for what every
/// implementation promises; `now` is the caller's clock in nanoseconds, recorded as
/// the times [`Information`] reports.
pub trait Store {
    /// The record of directory `directory`.
    fn directory(&mut self, directory: DirectoryId) -> Result<DirectoryRecord, StoreError>;

    /// What `name` in `directory` is.
    fn lookup(&mut self, directory: DirectoryId, name: &Name) -> Result<Entry, StoreError>;

    /// Makes directory `name` in `directory`; answers its id.
    fn create_directory(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        record: &DirectoryRecord,
        now: u64,
    ) -> Result<DirectoryId, StoreError>;

    /// The whole value of file `name` in `directory`.
    fn read_file(&mut self, directory: DirectoryId, name: &Name) -> Result<Vec<u8>, StoreError>;

    /// Makes file `name` in `directory` hold `value`, creating it if it does not
    /// exist, atomically and durably.
    fn write_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        value: &[u8],
        now: u64,
    ) -> Result<(), StoreError>;

    /// Removes file `name`, or the empty directory `name`, from `directory`.
    fn remove(&mut self, directory: DirectoryId, name: &Name) -> Result<(), StoreError>;

    /// The first name in `directory` after `after` in byte order (the first name
    /// of all when `after` is `None`); `None` past the last.
    fn next_name(
        &mut self,
        directory: DirectoryId,
        after: Option<&Name>,
    ) -> Result<Option<Name>, StoreError>;

    /// What `fileInformation` reports about `name` in `directory`.
    fn information(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Information, StoreError>;
}
