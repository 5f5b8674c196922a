//! Writing an initial image: the host tools' half of the format, built only for them
//! (feature `image-writer`) and for the host tests.
//!
//! The writer lays out what it is given and checks nothing beyond what the archive
//! format itself needs: [`super::read`] is the one place an image is judged, so the
//! tools read back every image they write. The archive is reproducible: entries in a
//! fixed order, every time stamp, owner and mode the same.

extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_typesys::wire::{self, WireError};
use serde::Serialize;

use super::EntryPath;
use super::records::{
    DevicesRecord, HostRecord, HostsRecord, InitSetRecord, LabelsRecord, LimitsRecord,
    PolicyRecord, ServicesRecord, StorageRecord, UserKeyRecord, UserRecord,
};

/// Everything an initial image holds, as the writer takes it.
#[derive(Clone, Debug, Default)]
pub struct ImageContents<'a> {
    /// `users/NAME`, by name.
    pub users: Vec<(String, UserRecord)>,
    /// `programs/NAME`: each program's name and executable.
    pub programs: Vec<(String, &'a [u8])>,
    /// `types/NAME.etn`: each file's name (with `.etn`) and source.
    pub type_files: Vec<(String, &'a [u8])>,
    /// `labels`.
    pub labels: LabelsRecord,
    /// `policy`.
    pub policy: PolicyRecord,
    /// `services`.
    pub services: ServicesRecord,
    /// `devices`.
    pub devices: DevicesRecord,
    /// `limits`, if the image sets any.
    pub limits: Option<LimitsRecord>,
    /// `storage`, if the image has a store.
    pub storage: Option<StorageRecord>,
    /// `init/NAME`, by set name.
    pub init_sets: Vec<(String, InitSetRecord)>,
    /// `host`, if the image makes the machine a host.
    pub host: Option<HostRecord>,
    /// `hosts`, if the image lists other hosts.
    pub hosts: Option<HostsRecord>,
    /// `keys/NAME`, by user name.
    pub user_keys: Vec<(String, UserKeyRecord)>,
}

/// Why an image could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// A record could not be encoded.
    Encode {
        /// The entry.
        entry: String,
        /// Why.
        error: WireError,
    },
    /// The archive refused the entry (for example, a path ustar cannot hold).
    Archive {
        /// The entry.
        entry: String,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Encode { entry, error } => write!(formatter, "entry `{entry}`: {error}"),
            WriteError::Archive { entry, error } => write!(formatter, "entry `{entry}`: {error}"),
        }
    }
}

impl core::error::Error for WriteError {}

/// The ustar archive holding `contents`, laid out as [`super`] describes.
pub fn write(contents: &ImageContents<'_>) -> Result<Vec<u8>, WriteError> {
    let mut archive = Archive {
        builder: tar::Builder::new(Vec::new()),
    };
    for (name, record) in &contents.users {
        archive.record(EntryPath::User(name), record)?;
    }
    for (name, executable) in &contents.programs {
        archive.file(EntryPath::Program(name), executable)?;
    }
    for (name, source) in &contents.type_files {
        archive.file(EntryPath::TypeFile(name), source)?;
    }
    archive.record(EntryPath::Labels, &contents.labels)?;
    archive.record(EntryPath::Policy, &contents.policy)?;
    archive.record(EntryPath::Services, &contents.services)?;
    archive.record(EntryPath::Devices, &contents.devices)?;
    if let Some(limits) = &contents.limits {
        archive.record(EntryPath::Limits, limits)?;
    }
    if let Some(storage) = &contents.storage {
        archive.record(EntryPath::Storage, storage)?;
    }
    for (name, record) in &contents.init_sets {
        archive.record(EntryPath::InitSet(name), record)?;
    }
    if let Some(host) = &contents.host {
        archive.record(EntryPath::Host, host)?;
    }
    if let Some(hosts) = &contents.hosts {
        archive.record(EntryPath::Hosts, hosts)?;
    }
    for (name, record) in &contents.user_keys {
        archive.record(EntryPath::UserKey(name), record)?;
    }
    archive
        .builder
        .into_inner()
        .map_err(|error| WriteError::Archive {
            entry: String::from("(end of archive)"),
            error,
        })
}

struct Archive {
    builder: tar::Builder<Vec<u8>>,
}

impl Archive {
    fn record<T: Serialize>(&mut self, entry: EntryPath<'_>, record: &T) -> Result<(), WriteError> {
        let bytes = wire::encode(record).map_err(|error| WriteError::Encode {
            entry: entry.path(),
            error,
        })?;
        self.file(entry, &bytes)
    }

    fn file(&mut self, entry: EntryPath<'_>, bytes: &[u8]) -> Result<(), WriteError> {
        let path = entry.path();
        let refused = |error| WriteError::Archive {
            entry: path.clone(),
            error,
        };
        let mut header = tar::Header::new_ustar();
        header.set_path(&path).map_err(refused)?;
        header.set_size(bytes.len() as u64);
        header.set_mode(0o444);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.builder.append(&header, bytes).map_err(refused)
    }
}
