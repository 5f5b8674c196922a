//! Why an initial image is refused: one variant per way it can be wrong, each naming
//! the entry and the thing in it that is wrong.

use alloc::string::String;
use core::fmt;

use ethos_abi::LabelRights;
use ethos_abi::drivers::{Backend, DeviceClass};
use ethos_typesys::etn::ParseError;
use ethos_typesys::graph::GraphError;
use ethos_typesys::wire::WireError;
use tar_no_std::CorruptDataError;

use crate::hosts::HostError;
use crate::process_model::identity::NameError;

/// Why [`super::read`] refused an image.
#[derive(Debug)]
pub enum ImageError {
    /// The bytes are not a whole ustar archive (cut short, damaged headers, no end).
    Archive(CorruptDataError),
    /// An entry is not a regular file (a directory, link or device).
    NotAFile {
        /// The entry's path, as far as it could be read.
        path: String,
        /// The entry's ustar type flag.
        type_flag: u8,
    },
    /// An entry's path is not UTF-8.
    PathNotUtf8 {
        /// The entry's number in the archive, from 0.
        index: usize,
    },
    /// An entry whose path is none the image format has.
    UnknownEntry(String),
    /// Two entries with one path.
    DuplicateEntry(String),
    /// A mandatory entry is absent.
    MissingEntry(&'static str),
    /// A record does not decode as its type.
    Record {
        /// The entry holding the record.
        entry: String,
        /// Why it does not decode.
        error: WireError,
    },
    /// A name in an entry, or an entry's own name, is not a valid name.
    BadName {
        /// The entry holding the name.
        entry: String,
        /// What the name names (`user`, `group`, `label`, ...).
        what: &'static str,
        /// The name as written.
        name: String,
        /// Why it is refused.
        error: NameError,
    },
    /// A program is not an ELF file.
    NotElf(String),
    /// An ETN file is not UTF-8.
    EtnNotUtf8 {
        /// The entry.
        entry: String,
        /// The length of its valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// An ETN file does not parse; the error names the entry, line and column.
    Etn(ParseError),
    /// Two ETN files declare one type name.
    DuplicateType {
        /// The name.
        name: String,
        /// The file that declared it first.
        first: String,
        /// The file that declared it again.
        second: String,
    },
    /// The types of all ETN files together do not make a type graph.
    TypeGraph(GraphError),
    /// A service's type is declared in no ETN file.
    UnknownType {
        /// The service.
        service: String,
        /// The type it names.
        type_name: String,
    },
    /// Two services share a name.
    DuplicateService(String),
    /// An entry names a user no `users/` entry declares.
    UnknownUser {
        /// The entry naming it.
        entry: String,
        /// The user's name.
        user: String,
    },
    /// A grant names a group no user belongs to.
    UnknownGroup {
        /// The entry naming it.
        entry: String,
        /// The group's name.
        group: String,
    },
    /// An entry names a program no `programs/` entry holds.
    UnknownProgram {
        /// The entry naming it.
        entry: String,
        /// The program's name.
        program: String,
    },
    /// A grant names a right that does not exist.
    UnknownRight {
        /// The grant's label.
        label: String,
        /// The right as written.
        right: String,
    },
    /// A grant grants nothing.
    NoRights {
        /// The grant's label.
        label: String,
    },
    /// A label is given for a path that is not a program of the image.
    LabelForUnknownEntry(String),
    /// A program has two labels.
    DuplicateLabel(String),
    /// A program has no label.
    MissingLabel(String),
    /// `devices` names a class that does not exist.
    UnknownDeviceClass(String),
    /// `devices` names a backend that does not exist.
    UnknownBackend {
        /// The class it is chosen for.
        class: String,
        /// The backend as written.
        backend: String,
    },
    /// `storage` names no backend there is.
    UnknownStorageBackend(String),
    /// `devices` chooses twice for one class.
    DuplicateDeviceClass(String),
    /// `limits` sets a per-process kernel memory limit below the least allowed.
    KernelMemoryLimit(u64),
    /// `limits` gives the rump kernel less memory than it needs to boot.
    RumpMemoryLimit(u64),
    /// `host` or `hosts` gives a host facts no host can have.
    Host {
        /// The entry.
        entry: String,
        /// The host, by name.
        host: String,
        /// What is wrong.
        error: HostError,
    },
    /// `hosts` lists a name or a key twice, or this host itself.
    DirectoryEntry {
        /// The host, by name.
        host: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// `keys/NAME` holds a key whose public half is not user `NAME`'s public key.
    UserKeyMismatch(String),
    /// A service's largest value is zero or above the ABI's maximum.
    ServiceMaximumValue {
        /// The service.
        service: String,
        /// Its maximum as written.
        bytes: u64,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Archive(error) => write!(formatter, "not a whole ustar archive: {error}"),
            ImageError::NotAFile { path, type_flag } => write!(
                formatter,
                "entry `{path}` has ustar type {:?}; only regular files may be in the image",
                char::from(*type_flag)
            ),
            ImageError::PathNotUtf8 { index } => {
                write!(formatter, "the path of entry number {index} is not UTF-8")
            }
            ImageError::UnknownEntry(path) => write!(
                formatter,
                "entry `{path}` is none of programs/NAME, types/NAME.etn, users/NAME, \
                 init/NAME, keys/NAME, labels, policy, services, devices, limits, storage, host, \
                 hosts"
            ),
            ImageError::DuplicateEntry(path) => write!(formatter, "entry `{path}` appears twice"),
            ImageError::MissingEntry(path) => write!(formatter, "the image has no `{path}` entry"),
            ImageError::Record { entry, error } => write!(formatter, "entry `{entry}`: {error}"),
            ImageError::BadName {
                entry,
                what,
                name,
                error,
            } => write!(formatter, "entry `{entry}`: {what} name {name:?}: {error}"),
            ImageError::NotElf(entry) => {
                write!(formatter, "entry `{entry}` is not an ELF executable")
            }
            ImageError::EtnNotUtf8 { entry, valid_up_to } => write!(
                formatter,
                "entry `{entry}` is not UTF-8 text (valid up to byte {valid_up_to})"
            ),
            ImageError::Etn(error) => write!(formatter, "{error}"),
            ImageError::DuplicateType {
                name,
                first,
                second,
            } => write!(
                formatter,
                "type `{name}` is declared in both `{first}` and `{second}`"
            ),
            ImageError::TypeGraph(error) => {
                write!(formatter, "the types of all ETN files together: {error}")
            }
            ImageError::UnknownType { service, type_name } => write!(
                formatter,
                "entry `services`: service `{service}` has type `{type_name}`, which no ETN \
                 file declares"
            ),
            ImageError::DuplicateService(name) => write!(
                formatter,
                "entry `services`: service `{name}` is declared twice"
            ),
            ImageError::UnknownUser { entry, user } => write!(
                formatter,
                "entry `{entry}` names user `{user}`, who has no `users/` entry"
            ),
            ImageError::UnknownGroup { entry, group } => write!(
                formatter,
                "entry `{entry}` names group `{group}`, to which no user belongs"
            ),
            ImageError::UnknownProgram { entry, program } => write!(
                formatter,
                "entry `{entry}` names program `{program}`, which has no `programs/` entry"
            ),
            ImageError::UnknownRight { label, right } => {
                write!(
                    formatter,
                    "entry `policy`: a grant on label `{label}` names right {right:?}; the \
                     rights are"
                )?;
                for (index, (name, _)) in LabelRights::NAMES.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(formatter, "{separator}{name}")?;
                }
                Ok(())
            }
            ImageError::NoRights { label } => write!(
                formatter,
                "entry `policy`: a grant on label `{label}` grants no right"
            ),
            ImageError::LabelForUnknownEntry(path) => write!(
                formatter,
                "entry `labels` labels `{path}`, which is not a program of the image"
            ),
            ImageError::DuplicateLabel(path) => {
                write!(formatter, "entry `labels` labels `{path}` twice")
            }
            ImageError::MissingLabel(path) => {
                write!(formatter, "entry `labels` gives no label for `{path}`")
            }
            ImageError::UnknownDeviceClass(class) => {
                write!(
                    formatter,
                    "entry `devices` names device class {class:?}; the classes are"
                )?;
                for (index, class) in DeviceClass::ALL.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(formatter, "{separator}{}", class.name())?;
                }
                Ok(())
            }
            ImageError::UnknownStorageBackend(backend) => {
                write!(
                    formatter,
                    "entry `storage` chooses backend {backend:?}; the backends are"
                )?;
                for (index, backend) in Backend::ALL.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(formatter, "{separator}{}", backend.name())?;
                }
                Ok(())
            }
            ImageError::UnknownBackend { class, backend } => {
                write!(
                    formatter,
                    "entry `devices` chooses backend {backend:?} for `{class}`; the backends are"
                )?;
                for (index, backend) in Backend::ALL.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(formatter, "{separator}{}", backend.name())?;
                }
                Ok(())
            }
            ImageError::ServiceMaximumValue { service, bytes } => write!(
                formatter,
                "entry `services`: service `{service}` carries values of at most {bytes} bytes; \
                 it must be between 1 and {} bytes",
                ethos_abi::arguments::MAXIMUM_VALUE_SIZE
            ),
            ImageError::RumpMemoryLimit(bytes) => write!(
                formatter,
                "entry `limits` gives the rump kernel {bytes} bytes; the least is {} bytes",
                ethos_abi::arguments::MINIMUM_RUMP_KERNEL_MEMORY
            ),
            ImageError::KernelMemoryLimit(bytes) => write!(
                formatter,
                "entry `limits` lets a process hold {bytes} bytes of kernel memory; the least \
                 is {} bytes",
                ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY
            ),
            ImageError::Host { entry, host, error } => {
                write!(formatter, "entry `{entry}`: host `{host}`: {error}")
            }
            ImageError::DirectoryEntry { host, problem } => {
                write!(formatter, "entry `hosts`: host `{host}` {problem}")
            }
            ImageError::UserKeyMismatch(user) => write!(
                formatter,
                "entry `keys/{user}` holds a private key whose public half is not user \
                 `{user}`'s public key"
            ),
            ImageError::DuplicateDeviceClass(class) => write!(
                formatter,
                "entry `devices` chooses a backend for `{class}` twice"
            ),
        }
    }
}

impl core::error::Error for ImageError {}
