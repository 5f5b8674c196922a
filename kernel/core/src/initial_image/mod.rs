//! The initial image: the read-only files the kernel starts from until the typed file
//! system exists — programs, types, users, the policy, the services and the sets of
//! processes `init` may start — packed by the host tools into one ustar archive.
//!
//! # Layout
//!
//! Every entry is a regular file; nothing else may be in the archive.
//!
//! | entry | holds |
//! |-------|-------|
//! | `programs/NAME` | the program's ELF executable; its identity is the SHA-512 of these bytes |
//! | `types/NAME.etn` | ETN source (UTF-8); each file stands alone (see `types.rs`) |
//! | `users/NAME` | a [`UserRecord`] |
//! | `labels` | a [`LabelsRecord`]: the label of every program, exactly one each |
//! | `policy` | a [`PolicyRecord`] |
//! | `services` | a [`ServicesRecord`]; each names its type by an ETN type name |
//! | `init/NAME` | an [`InitSetRecord`]: the processes the init set `NAME` starts |
//! | `devices` | a [`DevicesRecord`]: the backend that serves each device class |
//! | `limits` | a [`LimitsRecord`]: what a process may hold of the kernel |
//! | `storage` | a [`StorageRecord`]: the backend of the file system's store |
//! | `host` | a [`HostRecord`]: this machine as a host, with its private key |
//! | `hosts` | a [`HostsRecord`]: the other hosts it knows |
//! | `keys/NAME` | a [`UserKeyRecord`]: the private key of user `NAME`, who works here |
//!
//! Records are ETE values ([`ethos_typesys::wire`]) of the types in
//! [`RECORD_TYPES`]. `labels`, `policy`, `services` and `devices` must be present;
//! the others may be absent or many. No program can read an entry of the image but
//! the programs (`fdReceive` of `programs/NAME`), so the private keys in `host` and
//! `keys/` stay in the kernel. [`read_backend_choice`] reads `devices` alone,
//! for the boot, which must not pay for checking (and hashing) everything else.
//!
//! [`read`] checks everything before the kernel uses any of it: every name, every
//! cross reference (a grant's user, group and program; a service's type; an init
//! set's users and programs), every ETN file. It never panics, whatever the bytes:
//! a malformed image is an [`ImageError`] naming the entry at fault. This module only
//! reads; it never starts a process or changes any state of the kernel.

mod error;
mod reader;
pub mod records;
mod types;
#[cfg(any(test, feature = "image-writer"))]
mod writer;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::drivers::BackendChoice;

use crate::hosts::HostIdentity;
use crate::process_model::Configuration;
use crate::process_model::identity::{ProgramName, UserName};

pub use error::ImageError;
pub use reader::{devices_backend_choice, read, read_backend_choice, read_rump_memory_limit};
pub use records::{
    DeviceBackendRecord, DevicesRecord, GrantRecord, HostMatchRecord, HostRecord, HostsRecord,
    InitProcessRecord, InitSetRecord, KnownHostRecord, LabelRecord, LabelsRecord, LimitsRecord,
    PolicyRecord, PrincipalRecord, ProgramMatchRecord, RECORD_TYPES, ServiceRecord, ServicesRecord,
    StorageRecord, UserKeyRecord, UserRecord,
};
#[cfg(any(test, feature = "image-writer"))]
pub use writer::{ImageContents, WriteError, write};

/// Where an entry sits in the image: the one definition of the layout, for the
/// reader and the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPath<'a> {
    /// `programs/NAME`
    Program(&'a str),
    /// `types/NAME.etn`, with the file name (`NAME.etn`).
    TypeFile(&'a str),
    /// `users/NAME`
    User(&'a str),
    /// `init/NAME`
    InitSet(&'a str),
    /// `labels`
    Labels,
    /// `policy`
    Policy,
    /// `services`
    Services,
    /// `devices`
    Devices,
    /// `limits`
    Limits,
    /// `storage`
    Storage,
    /// `host`
    Host,
    /// `hosts`
    Hosts,
    /// `keys/NAME`
    UserKey(&'a str),
}

/// The extension of ETN files in `types/`.
pub const ETN_EXTENSION: &str = ".etn";

impl<'a> EntryPath<'a> {
    /// The entry at `path`, if the layout has one there.
    pub fn parse(path: &'a str) -> Option<EntryPath<'a>> {
        let file = |directory: &str| {
            path.strip_prefix(directory)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|name| !name.is_empty() && !name.contains('/'))
        };
        match path {
            "labels" => return Some(EntryPath::Labels),
            "policy" => return Some(EntryPath::Policy),
            "services" => return Some(EntryPath::Services),
            "devices" => return Some(EntryPath::Devices),
            "limits" => return Some(EntryPath::Limits),
            "storage" => return Some(EntryPath::Storage),
            "host" => return Some(EntryPath::Host),
            "hosts" => return Some(EntryPath::Hosts),
            _ => {}
        }
        if let Some(name) = file("programs") {
            return Some(EntryPath::Program(name));
        }
        if let Some(name) = file("types") {
            let stem = name.strip_suffix(ETN_EXTENSION)?;
            return (!stem.is_empty()).then_some(EntryPath::TypeFile(name));
        }
        if let Some(name) = file("users") {
            return Some(EntryPath::User(name));
        }
        if let Some(name) = file("keys") {
            return Some(EntryPath::UserKey(name));
        }
        file("init").map(EntryPath::InitSet)
    }

    /// The entry's path in the archive.
    pub fn path(&self) -> String {
        match self {
            EntryPath::Program(name) => format!("programs/{name}"),
            EntryPath::TypeFile(name) => format!("types/{name}"),
            EntryPath::User(name) => format!("users/{name}"),
            EntryPath::InitSet(name) => format!("init/{name}"),
            EntryPath::Labels => String::from("labels"),
            EntryPath::Policy => String::from("policy"),
            EntryPath::Services => String::from("services"),
            EntryPath::Devices => String::from("devices"),
            EntryPath::Limits => String::from("limits"),
            EntryPath::Storage => String::from("storage"),
            EntryPath::Host => String::from("host"),
            EntryPath::Hosts => String::from("hosts"),
            EntryPath::UserKey(name) => format!("keys/{name}"),
        }
    }
}

/// How many of each thing an image holds: what the `initial_image` kernel test
/// reports and what the description of the image declares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `users/` entries.
    pub users: u64,
    /// `programs/` entries.
    pub programs: u64,
    /// `types/` entries.
    pub type_files: u64,
    /// Services in `services`.
    pub services: u64,
    /// Grants in `policy`.
    pub grants: u64,
    /// `init/` entries.
    pub init_sets: u64,
    /// 1 when the image makes the machine a host (`host`), else 0.
    pub host: u64,
    /// Hosts in `hosts`.
    pub known_hosts: u64,
    /// `keys/` entries.
    pub user_keys: u64,
}

impl Counts {
    /// Each count with the name of the metric that reports it.
    pub fn metrics(&self) -> [(&'static str, u64); 9] {
        [
            ("image_users", self.users),
            ("image_programs", self.programs),
            ("image_type_files", self.type_files),
            ("image_services", self.services),
            ("image_grants", self.grants),
            ("image_init_sets", self.init_sets),
            ("image_host", self.host),
            ("image_known_hosts", self.known_hosts),
            ("image_user_keys", self.user_keys),
        ]
    }
}

/// The processes of one init set: (user, program) pairs, in the order they start.
pub type InitSet = Vec<(UserName, ProgramName)>;

/// Everything the kernel takes from a checked initial image.
pub struct InitialImage<'a> {
    /// What [`crate::process_model::ProcessModel::new`] starts from.
    pub configuration: Configuration,
    /// Each program's executable, borrowed from the image.
    pub executables: BTreeMap<ProgramName, &'a [u8]>,
    /// The init sets, by name.
    pub init_sets: BTreeMap<String, InitSet>,
    /// How many of each thing the image holds.
    pub counts: Counts,
    /// The backend that serves each device class.
    pub backends: BackendChoice,
    /// This machine as a host, the hosts it knows, the user keys it holds.
    pub hosts: HostIdentity,
    /// The backend of the file system's store, if the image has one.
    pub storage: Option<ethos_abi::drivers::Backend>,
}

impl fmt::Debug for InitialImage<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("InitialImage")
            .field("counts", &self.counts)
            .field(
                "executables",
                &self
                    .executables
                    .iter()
                    .map(|(name, bytes)| (name.as_str(), bytes.len()))
                    .collect::<Vec<_>>(),
            )
            .field("init_sets", &self.init_sets)
            .field("backends", &self.backends)
            .field("hosts", &self.hosts)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}
