//! The description of the initial image (`images/boot/image.toml`): its tables as
//! serde structs, and the checks where a line and column help: syntax, keys, and the
//! references between tables. It reads one file and runs no command.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ethos_abi::LabelRights;
use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};
use ethos_core::hosts::HostAddress;
use ethos_core::initial_image::{Counts, ETN_EXTENSION, EntryPath};
use ethos_core::process_model::identity::check_name;
use serde::Deserialize;
use toml::Spanned;

use super::{ANY_PROGRAM, DESCRIPTION};
use crate::error::FileContext;
use crate::{XtaskError, workspace_root};

/// `[[user]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    /// 64 hexadecimal digits: the 32 bytes of a Curve25519 public key.
    pub public_key: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// A file (relative to the description's directory) holding the private half of
    /// the user's key in 64 hexadecimal digits: the user works on this host, whose
    /// kernel holds the key and proves the user to other hosts with it.
    pub private_key_file: Option<String>,
}

/// `[host]`: this machine as a host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub name: String,
    /// The IPv4 address other hosts send to.
    pub address: String,
    /// The UDP port the kernel receives MinimaLT's datagrams on.
    pub port: u16,
    /// A file (relative to the description's directory) holding the private half of
    /// the host's long-term key in 64 hexadecimal digits.
    pub private_key_file: String,
}

/// `[[known_host]]`: another host, in the static directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownHostEntry {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// 64 hexadecimal digits: the host's long-term Curve25519 public key.
    pub public_key: String,
}

/// `[[program]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    /// Its name in `/programs`.
    pub name: String,
    /// The cargo package that builds it.
    pub package: String,
    /// The package's `[[bin]]`; the program's name when absent.
    pub binary: Option<String>,
    pub label: String,
}

impl ProgramEntry {
    /// The name of the executable cargo builds.
    pub fn binary(&self) -> &str {
        self.binary.as_deref().unwrap_or(&self.name)
    }
}

/// `[[types]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypesEntry {
    /// An ETN file, relative to the description's directory.
    pub file: String,
}

/// `[[service]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    pub name: String,
    /// A type declared in one of the `[[types]]` files.
    #[serde(rename = "type")]
    pub type_name: String,
    pub label: String,
    /// The largest value its connections carry, in bytes (at most the ABI's 32 MiB,
    /// which is also the default).
    pub maximum_value: Option<u64>,
}

/// `[[grant]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantEntry {
    pub label: String,
    pub user: Option<String>,
    pub group: Option<String>,
    /// A `[[program]]` name, or [`ANY_PROGRAM`].
    pub program: String,
    /// Names from [`LabelRights::NAMES`].
    pub rights: Vec<String>,
    /// The other host whose connections the grant covers, or [`ANY_PROGRAM`]'s
    /// `"*"` for every other host; none for this host's own processes.
    #[serde(default)]
    pub host: Option<String>,
}

/// One process of an `[init.NAME]` set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitProcessEntry {
    pub user: String,
    pub program: String,
}

/// `[init.NAME]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitEntry {
    pub processes: Vec<InitProcessEntry>,
}

/// `[limits]`: what a process may hold of the kernel; a limit not given is the
/// kernel's default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsEntry {
    /// Bytes of kernel memory a process may hold on its behalf (its events and their
    /// outcomes, values it queued, descriptors it sent): at least 16384. The kernel
    /// lowers it to a quarter of its heap when it is more.
    pub kernel_memory_per_process: Option<Spanned<u64>>,
    /// Bytes of memory the rump kernel may use (NetBSD's `RUMP_MEMLIMIT`): at least
    /// 8 MiB.
    pub rump_kernel_memory: Option<Spanned<u64>>,
}

/// `[storage]`: the typed file system's store: the backend that serves it, and the
/// root directory of the disk `cargo xtask image` makes for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageEntry {
    /// `native` or `rump`.
    pub backend: Spanned<String>,
    /// The root directory's label.
    pub root_label: Spanned<String>,
    /// The root directory's type: a type of the image's `[[types]]` files.
    pub root_type: Spanned<String>,
    /// The size of the disk `cargo xtask image` makes, in bytes (a whole number of
    /// 4096-byte blocks, at least 1 MiB); 64 MiB when not given.
    pub disk_size: Option<Spanned<u64>>,
    /// The labels of the directories programs make in the store, which grants may
    /// name (a grant on a label nothing carries is refused as a mistake).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The disk size when `[storage]` gives none.
pub const DEFAULT_DISK_SIZE: u64 = 64 << 20;
/// The least disk size `[storage]` may give.
pub const MINIMUM_DISK_SIZE: u64 = 1 << 20;

/// The whole description, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    #[serde(default)]
    pub user: Vec<Spanned<UserEntry>>,
    #[serde(default)]
    pub program: Vec<Spanned<ProgramEntry>>,
    #[serde(default)]
    pub types: Vec<Spanned<TypesEntry>>,
    #[serde(default)]
    pub service: Vec<Spanned<ServiceEntry>>,
    #[serde(default)]
    pub grant: Vec<Spanned<GrantEntry>>,
    #[serde(default)]
    pub init: BTreeMap<String, Spanned<InitEntry>>,
    /// `[devices]`: the backend that serves each device class, by name
    /// (`network = "native"`); a class not named is served natively.
    #[serde(default)]
    pub devices: BTreeMap<Spanned<String>, Spanned<String>>,
    /// `[limits]`.
    pub limits: Option<LimitsEntry>,
    /// `[storage]`.
    pub storage: Option<StorageEntry>,
    /// `[host]`.
    pub host: Option<Spanned<HostEntry>>,
    /// `[[known_host]]`.
    #[serde(default)]
    pub known_host: Vec<Spanned<KnownHostEntry>>,
}

/// A description read from its file, with what is needed to report on it.
#[derive(Clone, Debug)]
pub struct LoadedDescription {
    pub path: PathBuf,
    pub text: String,
    pub description: Description,
}

/// The line and column (from 1) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |line| line.chars().count())
        + 1;
    (line, column)
}

impl LoadedDescription {
    /// Reads and checks the description at `path`.
    pub fn load(path: &Path) -> Result<LoadedDescription, XtaskError> {
        let text = std::fs::read_to_string(path).at(path)?;
        LoadedDescription::parse(path, text)
    }

    /// Reads and checks the description of the workspace's initial image.
    pub fn load_default() -> Result<LoadedDescription, XtaskError> {
        LoadedDescription::load(&workspace_root().join(DESCRIPTION))
    }

    /// Checks the description `text`, read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<LoadedDescription, XtaskError> {
        let description: Description = toml::from_str(&text).map_err(|error| {
            let location = error.span().map(|span| line_column(&text, span.start));
            XtaskError::Description {
                path: path.to_path_buf(),
                location,
                problem: error.message().trim_end().to_string(),
            }
        })?;
        let loaded = LoadedDescription {
            path: path.to_path_buf(),
            text,
            description,
        };
        loaded.check()?;
        Ok(loaded)
    }

    /// Refuses a `[[program]]` whose package is not one of `packages` (the workspace's
    /// programs, built for the kernel target), or, once they are built, whose binary
    /// is not among the files `built` answers for; the error names its line.
    pub fn check_programs(
        &self,
        packages: &BTreeSet<String>,
        built: impl Fn(&str) -> bool,
    ) -> Result<(), XtaskError> {
        for program in &self.description.program {
            let entry = program.get_ref();
            if !packages.contains(&entry.package) {
                let known: Vec<&str> = packages.iter().map(String::as_str).collect();
                return Err(self.error(
                    program.span(),
                    format!(
                        "[[program]] `{}`: package `{}` is not a program of the workspace \
                         (images/programs/: {})",
                        entry.name,
                        entry.package,
                        known.join(", ")
                    ),
                ));
            }
            if !built(entry.binary()) {
                return Err(self.error(
                    program.span(),
                    format!(
                        "[[program]] `{}`: package `{}` built no binary `{}` for the kernel target",
                        entry.name,
                        entry.package,
                        entry.binary()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Services whose type is not an interface: allowed (their connections carry
    /// values of the type both ways), but with no request and reply for the kernel
    /// to tell apart, which is rarely what a service wants; one line each, with its
    /// place in the file.
    pub fn service_warnings(
        &self,
        configuration: &ethos_core::process_model::Configuration,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        for declared in &configuration.services {
            let interface = configuration
                .types
                .find(&declared.type_hash)
                .and_then(|node| configuration.types.node(node))
                .is_some_and(|node| {
                    matches!(node.kind, ethos_typesys::graph::Kind::Interface { .. })
                });
            if interface {
                continue;
            }
            let Some(entry) = self
                .description
                .service
                .iter()
                .find(|entry| entry.get_ref().name == declared.name.as_str())
            else {
                continue;
            };
            let (line, column) = line_column(&self.text, entry.span().start);
            warnings.push(format!(
                "{}:{line}:{column}: [[service]] `{}`: type `{}` is not an interface, so its \
                 connections carry `{}` values both ways with no request or reply",
                self.path.display(),
                entry.get_ref().name,
                entry.get_ref().type_name,
                entry.get_ref().type_name,
            ));
        }
        warnings
    }

    /// An error about the entry at `span`, for the packing step.
    pub(crate) fn error_at(&self, span: Range<usize>, problem: String) -> XtaskError {
        self.error(span, problem)
    }

    /// Where in the file the entry lies that an error of the kernel's image reader
    /// names: the table of the user, program, service, grant, init set or type file
    /// it is about. `None` when the error names nothing the description wrote.
    pub(super) fn entry_at_fault(
        &self,
        error: &ethos_core::initial_image::ImageError,
    ) -> Option<Range<usize>> {
        use ethos_core::initial_image::ImageError as E;
        let description = &self.description;
        let user = |name: &str| {
            description
                .user
                .iter()
                .find(|entry| entry.get_ref().name == name)
                .map(Spanned::span)
        };
        let program = |name: &str| {
            description
                .program
                .iter()
                .find(|entry| entry.get_ref().name == name)
                .map(Spanned::span)
        };
        let service = |name: &str| {
            description
                .service
                .iter()
                .rev()
                .find(|entry| entry.get_ref().name == name)
                .map(Spanned::span)
        };
        let grant = |label: &str| {
            description
                .grant
                .iter()
                .find(|entry| entry.get_ref().label == label)
                .map(Spanned::span)
        };
        let types = |file: &str| {
            description
                .types
                .iter()
                .rev()
                .find(|entry| type_file_name(&entry.get_ref().file) == Ok(file))
                .map(Spanned::span)
        };
        // An entry path of the image (`users/NAME`, `init/NAME`, ...).
        let entry = |path: &str| match EntryPath::parse(path)? {
            EntryPath::User(name) => user(name),
            EntryPath::Program(name) => program(name),
            EntryPath::InitSet(name) => description.init.get(name).map(Spanned::span),
            EntryPath::TypeFile(file) => types(file),
            EntryPath::UserKey(name) => user(name),
            EntryPath::Host => description.host.as_ref().map(Spanned::span),
            _ => None,
        };
        let known_host = |name: &str| {
            description
                .known_host
                .iter()
                .rev()
                .find(|entry| entry.get_ref().name == name)
                .map(Spanned::span)
        };
        match error {
            E::BadName {
                entry: path, name, ..
            } => entry(path)
                .or_else(|| user(name))
                .or_else(|| program(name))
                .or_else(|| service(name))
                .or_else(|| grant(name)),
            E::NotElf(name)
            | E::LabelForUnknownEntry(name)
            | E::DuplicateLabel(name)
            | E::MissingLabel(name) => entry(name).or_else(|| program(name)),
            E::Etn(parse) => entry(&parse.file).or_else(|| types(&parse.file)),
            E::DuplicateType { second, .. } => entry(second).or_else(|| types(second)),
            E::UnknownType { service: name, .. } | E::DuplicateService(name) => service(name),
            E::UnknownUser { entry: path, .. }
            | E::UnknownGroup { entry: path, .. }
            | E::UnknownProgram { entry: path, .. } => entry(path),
            E::UnknownRight { label, .. } | E::NoRights { label } => grant(label),
            E::UserKeyMismatch(name) => user(name),
            E::Host {
                entry: path, host, ..
            } => entry(path).or_else(|| known_host(host)),
            E::DirectoryEntry { host, .. } => known_host(host),
            _ => None,
        }
    }

    /// An error about the entry at `span`. The names and values it echoes come from
    /// the file: control characters are shown escaped, and the text is cut short.
    fn error(&self, span: Range<usize>, problem: String) -> XtaskError {
        XtaskError::Description {
            path: self.path.clone(),
            location: Some(line_column(&self.text, span.start)),
            problem: displayable(&problem),
        }
    }

    /// The references between tables, the keys and the right names.
    fn check(&self) -> Result<(), XtaskError> {
        let description = &self.description;
        let mut users = BTreeSet::new();
        let mut groups = BTreeSet::new();
        let mut keys: BTreeMap<[u8; 32], &str> = BTreeMap::new();
        for user in &description.user {
            if !users.insert(user.get_ref().name.as_str()) {
                return Err(self.error(
                    user.span(),
                    format!("[[user]] `{}` is declared twice", user.get_ref().name),
                ));
            }
            let key = public_key(&user.get_ref().public_key).map_err(|problem| {
                self.error(
                    user.span(),
                    format!("[[user]] `{}`: public_key {problem}", user.get_ref().name),
                )
            })?;
            if let Some(other) = keys.insert(key, user.get_ref().name.as_str()) {
                return Err(self.error(
                    user.span(),
                    format!(
                        "[[user]] `{}`: public_key is also `{other}`'s; a key is one user",
                        user.get_ref().name
                    ),
                ));
            }
            groups.extend(user.get_ref().groups.iter().map(String::as_str));
        }
        let mut programs = BTreeSet::new();
        for program in &description.program {
            if !programs.insert(program.get_ref().name.as_str()) {
                return Err(self.error(
                    program.span(),
                    format!("[[program]] `{}` is declared twice", program.get_ref().name),
                ));
            }
        }
        let mut type_files = BTreeSet::new();
        for types in &description.types {
            let file = type_file_name(&types.get_ref().file).map_err(|problem| {
                self.error(
                    types.span(),
                    format!("[[types]] file {:?}: {problem}", types.get_ref().file),
                )
            })?;
            if !type_files.insert(file) {
                return Err(self.error(
                    types.span(),
                    format!(
                        "[[types]] file {:?}: another [[types]] file has the name `{file}`",
                        types.get_ref().file
                    ),
                ));
            }
        }
        let mut services = BTreeSet::new();
        for service in &description.service {
            if !services.insert(service.get_ref().name.as_str()) {
                return Err(self.error(
                    service.span(),
                    format!("[[service]] `{}` is declared twice", service.get_ref().name),
                ));
            }
            let ceiling = ethos_abi::arguments::MAXIMUM_VALUE_SIZE;
            if let Some(maximum) = service.get_ref().maximum_value
                && !(1..=ceiling).contains(&maximum)
            {
                return Err(self.error(
                    service.span(),
                    format!(
                        "[[service]] `{}`: maximum_value {maximum} is not between 1 and {ceiling} \
                         bytes",
                        service.get_ref().name
                    ),
                ));
            }
        }
        let labels: BTreeSet<&str> = description
            .program
            .iter()
            .map(|program| program.get_ref().label.as_str())
            .chain(
                description
                    .service
                    .iter()
                    .map(|service| service.get_ref().label.as_str()),
            )
            .chain(description.storage.iter().flat_map(|storage| {
                core::iter::once(storage.root_label.get_ref().as_str())
                    .chain(storage.labels.iter().map(String::as_str))
            }))
            .collect();
        for grant in &description.grant {
            let entry = grant.get_ref();
            let at = |problem: String| {
                self.error(
                    grant.span(),
                    format!("[[grant]] on label `{}`: {problem}", entry.label),
                )
            };
            if !labels.contains(entry.label.as_str()) {
                return Err(at(
                    "no [[program]], [[service]] or [storage] directory carries the label, so \
                     the grant allows nothing"
                        .to_string(),
                ));
            }
            match (&entry.user, &entry.group) {
                (Some(user), None) if !users.contains(user.as_str()) => {
                    return Err(at(format!("user `{user}` is not a [[user]]")));
                }
                (None, Some(group)) if !groups.contains(group.as_str()) => {
                    return Err(at(format!("no [[user]] is in group `{group}`")));
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => return Err(at("give exactly one of `user` and `group`".to_string())),
            }
            if entry.program != ANY_PROGRAM && !programs.contains(entry.program.as_str()) {
                return Err(at(format!(
                    "program `{}` is neither a [[program]] nor \"{ANY_PROGRAM}\"",
                    entry.program
                )));
            }
            if entry.rights.is_empty() {
                return Err(at("`rights` is empty".to_string()));
            }
            if let Some(host) = entry.host.as_deref().filter(|host| *host != ANY_PROGRAM) {
                ethos_core::process_model::identity::check_name(host).map_err(|error| {
                    at(format!("host {host:?}: {error} (a host's name, or \"*\")"))
                })?;
            }
            for right in &entry.rights {
                if LabelRights::from_name(right).is_none() {
                    let known: Vec<_> = LabelRights::NAMES.iter().map(|(name, _)| *name).collect();
                    return Err(at(format!(
                        "unknown right {right:?} (the rights are {})",
                        known.join(", ")
                    )));
                }
            }
        }
        for (class, backend) in &description.devices {
            if DeviceClass::from_name(class.get_ref()).is_none() {
                let known: Vec<_> = DeviceClass::ALL.iter().map(|class| class.name()).collect();
                return Err(self.error(
                    class.span(),
                    format!(
                        "[devices]: unknown device class `{}` (the classes are {})",
                        class.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            if Backend::from_name(backend.get_ref()).is_none() {
                let known: Vec<_> = Backend::ALL.iter().map(|backend| backend.name()).collect();
                return Err(self.error(
                    backend.span(),
                    format!(
                        "[devices] {}: unknown backend {:?} (the backends are {})",
                        class.get_ref(),
                        backend.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
        let limits = description.limits.as_ref();
        for (key, limit, least) in [
            (
                "kernel_memory_per_process",
                limits.and_then(|limits| limits.kernel_memory_per_process.as_ref()),
                ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY as u64,
            ),
            (
                "rump_kernel_memory",
                limits.and_then(|limits| limits.rump_kernel_memory.as_ref()),
                ethos_abi::arguments::MINIMUM_RUMP_KERNEL_MEMORY,
            ),
        ] {
            if let Some(limit) = limit
                && *limit.get_ref() < least
            {
                return Err(self.error(
                    limit.span(),
                    format!(
                        "[limits] {key}: {} bytes is below the least, {least}",
                        limit.get_ref()
                    ),
                ));
            }
        }
        if let Some(storage) = &description.storage {
            if Backend::from_name(storage.backend.get_ref()).is_none() {
                return Err(self.error(
                    storage.backend.span(),
                    format!(
                        "[storage] backend: unknown backend {:?} (the backends are native, rump)",
                        storage.backend.get_ref()
                    ),
                ));
            }
            if ethos_core::process_model::identity::Label::new(storage.root_label.get_ref())
                .is_err()
            {
                return Err(self.error(
                    storage.root_label.span(),
                    format!(
                        "[storage] root_label: {:?} is not a label (1 to 255 bytes, no '/' \
                         or control character)",
                        storage.root_label.get_ref()
                    ),
                ));
            }
            if let Some(size) = &storage.disk_size
                && (*size.get_ref() < MINIMUM_DISK_SIZE || size.get_ref() % 4096 != 0)
            {
                return Err(self.error(
                    size.span(),
                    format!(
                        "[storage] disk_size: {} bytes is not a whole number of 4096-byte \
                         blocks of at least {MINIMUM_DISK_SIZE}",
                        size.get_ref()
                    ),
                ));
            }
        }
        self.check_hosts()?;
        for (set, entry) in &description.init {
            if set.is_empty()
                || set
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '=')
            {
                return Err(self.error(
                    entry.span(),
                    format!(
                        "[init.{}]: `init=NAME` on the kernel command line cannot name this set \
                         (a name has no spaces, control characters or `=`)",
                        set.escape_debug()
                    ),
                ));
            }
            for process in &entry.get_ref().processes {
                let at =
                    |problem: String| self.error(entry.span(), format!("[init.{set}]: {problem}"));
                if !users.contains(process.user.as_str()) {
                    return Err(at(format!("user `{}` is not a [[user]]", process.user)));
                }
                if !programs.contains(process.program.as_str()) {
                    return Err(at(format!(
                        "program `{}` is not a [[program]]",
                        process.program
                    )));
                }
            }
        }
        Ok(())
    }

    /// `[host]` and `[[known_host]]`: addresses that can receive, names and keys
    /// once each, this host not among the others. (Key files are read when the image
    /// is packed.)
    fn check_hosts(&self) -> Result<(), XtaskError> {
        let description = &self.description;
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        if let Some(host) = &description.host {
            let entry = host.get_ref();
            let at = |problem: String| {
                self.error(host.span(), format!("[host] `{}`: {problem}", entry.name))
            };
            check_name(&entry.name).map_err(|error| at(format!("name: {error}")))?;
            host_address(&entry.address, entry.port).map_err(at)?;
            names.insert(entry.name.as_str());
        }
        for known in &description.known_host {
            let entry = known.get_ref();
            let at = |problem: String| {
                self.error(
                    known.span(),
                    format!("[[known_host]] `{}`: {problem}", entry.name),
                )
            };
            check_name(&entry.name).map_err(|error| at(format!("name: {error}")))?;
            host_address(&entry.address, entry.port).map_err(at)?;
            if !names.insert(entry.name.as_str()) {
                return Err(at(String::from(
                    "the name is [host]'s or another [[known_host]]'s",
                )));
            }
            let key = public_key(&entry.public_key)
                .map_err(|problem| at(format!("public_key {problem}")))?;
            if !keys.insert(key) {
                return Err(at(String::from(
                    "public_key is another [[known_host]]'s: a key is one host",
                )));
            }
        }
        Ok(())
    }

    /// The directory the description's relative paths start from.
    pub fn directory(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The (package, binary) pairs that build the image's programs.
    pub fn packages(&self) -> Vec<(String, String)> {
        self.description
            .program
            .iter()
            .map(|program| {
                let program = program.get_ref();
                (program.package.clone(), program.binary().to_string())
            })
            .collect()
    }

    /// The backend of every device class: as `[devices]` names it, else native.
    /// Names the check refused are left out (a checked description has none).
    pub fn backend_choice(&self) -> BackendChoice {
        let mut choice = BackendChoice::NATIVE;
        for (class, backend) in &self.description.devices {
            if let (Some(class), Some(backend)) = (
                DeviceClass::from_name(class.get_ref()),
                Backend::from_name(backend.get_ref()),
            ) {
                choice.choose(class, backend);
            }
        }
        choice
    }

    /// What the description declares, counted as the kernel counts the image.
    pub fn counts(&self) -> Counts {
        let description = &self.description;
        let count = |length: usize| length as u64;
        Counts {
            users: count(description.user.len()),
            programs: count(description.program.len()),
            type_files: count(description.types.len()),
            services: count(description.service.len()),
            grants: count(description.grant.len()),
            init_sets: count(description.init.len()),
            host: count(usize::from(description.host.is_some())),
            known_hosts: count(description.known_host.len()),
            user_keys: count(
                description
                    .user
                    .iter()
                    .filter(|user| user.get_ref().private_key_file.is_some())
                    .count(),
            ),
        }
    }
}

/// Longest message about a description, in characters.
const MESSAGE_CHARACTERS: usize = 400;

/// `text` fit to print on one terminal line: control characters escaped, and at most
/// [`MESSAGE_CHARACTERS`] characters, saying how much was cut.
fn displayable(text: &str) -> String {
    let mut shown = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == MESSAGE_CHARACTERS {
            let rest = text.chars().count() - count;
            shown.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if character.is_control() {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown
}

/// The 32 bytes of a public key written as 64 hexadecimal digits.
pub(super) fn public_key(text: &str) -> Result<[u8; 32], String> {
    let key = hexadecimal_key(text)?;
    if !ethos_core::hosts::is_strong_key(&key) {
        return Err(String::from(
            "is a point of small order (the all-zero key is one): no private key goes with it",
        ));
    }
    Ok(key)
}

/// The 32 bytes of a key written as 64 hexadecimal digits.
fn hexadecimal_key(text: &str) -> Result<[u8; 32], String> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return Err(format!(
            "must be 64 hexadecimal digits (32 bytes), not {} characters",
            text.chars().count()
        ));
    }
    let mut key = [0; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| "holds a non-ASCII character")?;
        // Digits only: `from_str_radix` alone would take a sign (`+f`).
        if !pair.bytes().all(|digit| digit.is_ascii_hexdigit()) {
            return Err(format!(
                "holds {pair:?}, which is not two hexadecimal digits"
            ));
        }
        *byte = u8::from_str_radix(pair, 16)
            .map_err(|_| format!("holds {pair:?}, which is not two hexadecimal digits"))?;
    }
    Ok(key)
}

/// The IPv4 address and UDP port of a host, as the kernel will check them.
pub(super) fn host_address(address: &str, port: u16) -> Result<HostAddress, String> {
    let ip: std::net::Ipv4Addr = address
        .parse()
        .map_err(|_| format!("address {address:?} is not an IPv4 address (such as 10.0.2.15)"))?;
    HostAddress::new(ip.octets(), port).map_err(|error| error.to_string())
}

/// The private key in the file at `path`: 64 hexadecimal digits (and an end of line).
pub(super) fn private_key_file(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("the key file {} cannot be read: {error}", path.display()))?;
    hexadecimal_key(text.trim_end())
        .map_err(|problem| format!("the key file {}: {problem}", path.display()))
}

/// The name a `[[types]]` file has in the image's `types/`.
pub(super) fn type_file_name(file: &str) -> Result<&str, String> {
    let name = Path::new(file)
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or("names no file")?;
    match EntryPath::parse(&format!("types/{name}")) {
        Some(EntryPath::TypeFile(_)) => Ok(name),
        _ => Err(format!("the file name must end with `{ETN_EXTENSION}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<LoadedDescription, String> {
        LoadedDescription::parse(Path::new("image.toml"), text.to_string())
            .map_err(|error| error.to_string())
    }

    const GOOD: &str = r#"
[[user]]
name = "alice"
public_key = "a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11c"
groups = ["staff"]

[[program]]
name = "hello"
package = "hello"
label = "programs"

[[grant]]
label = "programs"
group = "staff"
program = "*"
rights = ["fd-receive"]

[init.default]
processes = [{ user = "alice", program = "hello" }]
"#;

    #[test]
    fn the_workspace_description_is_valid() {
        let loaded = LoadedDescription::load_default().unwrap();
        let counts = loaded.counts();
        assert!(counts.users > 0 && counts.programs > 0 && counts.services > 0);
        assert!(loaded.description.init.contains_key("default"));
        // The workspace image is native throughout: it boots on a kernel with or
        // without a rump kernel linked.
        assert_eq!(loaded.backend_choice(), BackendChoice::NATIVE);
        assert!(
            DeviceClass::ALL.iter().all(|class| loaded
                .description
                .devices
                .keys()
                .any(|named| named.get_ref() == class.name())),
            "the workspace image names the backend of every class"
        );
        assert!(
            loaded
                .packages()
                .iter()
                .any(|(package, binary)| package == "hello" && binary == "hello")
        );
    }

    #[test]
    fn a_good_description_counts() {
        let loaded = parsed(GOOD).unwrap();
        assert_eq!(
            loaded.counts(),
            Counts {
                users: 1,
                programs: 1,
                type_files: 0,
                services: 0,
                grants: 1,
                init_sets: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn a_devices_table_chooses_backends() {
        let loaded = parsed(&format!(
            "{GOOD}\n[devices]\nnetwork = \"rump\"\ndatagram = \"rump\"\nblock = \"native\"\n"
        ))
        .unwrap();
        let mut expected = BackendChoice::NATIVE;
        expected.choose(DeviceClass::Network, Backend::Rump);
        expected.choose(DeviceClass::Datagram, Backend::Rump);
        assert_eq!(loaded.backend_choice(), expected);
        assert_eq!(
            parsed(GOOD).unwrap().backend_choice(),
            BackendChoice::NATIVE
        );
    }

    #[test]
    fn bad_descriptions_name_the_line_and_entry() {
        let cases = [
            (
                GOOD.replace("a11c\"", "a11\""),
                "image.toml:2:1: [[user]] `alice`: public_key must be 64 hexadecimal digits \
                 (32 bytes), not 63 characters",
            ),
            (
                GOOD.replace("a11c\"", "a1xc\""),
                "image.toml:2:1: [[user]] `alice`: public_key holds \"xc\", which is not two \
                 hexadecimal digits",
            ),
            (
                GOOD.replace("group = \"staff\"", "group = \"wheel\""),
                "image.toml:12:1: [[grant]] on label `programs`: no [[user]] is in group `wheel`",
            ),
            (
                GOOD.replace("group = \"staff\"", "group = \"staff\"\nuser = \"alice\""),
                "image.toml:12:1: [[grant]] on label `programs`: give exactly one of `user` \
                 and `group`",
            ),
            (
                GOOD.replace("program = \"*\"", "program = \"chat\""),
                "image.toml:12:1: [[grant]] on label `programs`: program `chat` is neither a \
                 [[program]] nor \"*\"",
            ),
            (
                GOOD.replace("[\"fd-receive\"]", "[\"fd_receive\"]"),
                "image.toml:12:1: [[grant]] on label `programs`: unknown right \"fd_receive\" \
                 (the rights are advertise, import, ipc, fd-receive, read, write, create, remove)",
            ),
            (
                GOOD.replace("user = \"alice\", program", "user = \"bob\", program"),
                "image.toml:18:1: [init.default]: user `bob` is not a [[user]]",
            ),
            (
                GOOD.replace(
                    "label = \"programs\"\n\n[[grant]]",
                    "lable = \"programs\"\n\n[[grant]]",
                ),
                "image.toml:10:1: unknown field `lable`, expected one of `name`, `package`, \
                 `binary`, `label`",
            ),
            (
                format!("{GOOD}\n[[types]]\nfile = \"types/boot.txt\"\n"),
                "image.toml:21:1: [[types]] file \"types/boot.txt\": the file name must end \
                 with `.etn`",
            ),
            (
                GOOD.replace("[[program]]", "[[program]\n"),
                "image.toml:7:11: unclosed array table, expected `]`",
            ),
            (
                format!("{GOOD}\n[devices]\nnetwork = \"native\"\nnic = \"rump\"\n"),
                "image.toml:23:1: [devices]: unknown device class `nic` (the classes are \
                 network, datagram, block, entropy, console)",
            ),
            (
                format!("{GOOD}\n[devices]\nblock = \"netbsd\"\n"),
                "image.toml:22:9: [devices] block: unknown backend \"netbsd\" (the backends \
                 are native, rump)",
            ),
            (
                format!("{GOOD}\n[devices]\nblock = 1\n"),
                "image.toml:22:9: invalid type: integer `1`, expected a string",
            ),
            (
                format!(
                    "{GOOD}\n[[service]]\nname = \"big\"\ntype = \"T\"\nlabel = \"programs\"\n\
                     maximum_value = 0\n"
                ),
                "image.toml:21:1: [[service]] `big`: maximum_value 0 is not between 1 and \
                 33554432 bytes",
            ),
            (
                format!("{GOOD}\n[limits]\nkernel_memory_per_process = 4096\n"),
                "image.toml:22:29: [limits] kernel_memory_per_process: 4096 bytes is below \
                 the least, 16384",
            ),
            (
                format!("{GOOD}\n[limits]\nkernel_memory = 65536\n"),
                "image.toml:22:1: unknown field `kernel_memory`, expected \
                 `kernel_memory_per_process` or `rump_kernel_memory`",
            ),
            (
                format!("{GOOD}\n[limits]\nrump_kernel_memory = 1048576\n"),
                "image.toml:22:22: [limits] rump_kernel_memory: 1048576 bytes is below the \
                 least, 8388608",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(&text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn silent_mistakes_are_refused_with_their_line() {
        let alice_key = "a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11c";
        let cases = [
            (
                format!("{GOOD}\n[[user]]\nname = \"bob\"\npublic_key = \"{alice_key}\"\n"),
                "image.toml:21:1: [[user]] `bob`: public_key is also `alice`'s; a key is one user",
            ),
            (
                GOOD.replace(alice_key, &"0".repeat(64)),
                "image.toml:2:1: [[user]] `alice`: public_key is a point of small order (the \
                 all-zero key is one): no private key goes with it",
            ),
            (
                GOOD.replace(alice_key, &format!("+{}", &alice_key[1..])),
                "image.toml:2:1: [[user]] `alice`: public_key holds \"+1\", which is not two \
                 hexadecimal digits",
            ),
            (
                format!(
                    "{GOOD}\n[[grant]]\nlabel = \"nothing\"\ngroup = \"staff\"\nprogram = \"*\"\n\
                     rights = [\"ipc\"]\n"
                ),
                "image.toml:21:1: [[grant]] on label `nothing`: no [[program]], [[service]] or \
                 [storage] directory carries the label, so the grant allows nothing",
            ),
            (
                format!("{GOOD}\n[init.\"two words\"]\nprocesses = []\n"),
                "image.toml:21:1: [init.two words]: `init=NAME` on the kernel command line \
                 cannot name this set (a name has no spaces, control characters or `=`)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(&text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn echoed_names_are_escaped_and_cut_short() {
        let grant_on = |label: &str| {
            GOOD.replace(
                "[[grant]]\nlabel = \"programs\"",
                &format!("[[grant]]\nlabel = \"{label}\""),
            )
        };
        let error = parsed(&grant_on(&"u".repeat(1 << 20))).unwrap_err();
        assert!(error.chars().count() < 500, "{} characters", error.len());
        assert!(error.ends_with("more characters)"), "{error}");
        let error = parsed(&grant_on("pro\\u0007grams")).unwrap_err();
        assert!(!error.contains('\u{7}'), "{error:?}");
        assert!(error.contains("pro\\u{7}grams"), "{error}");
    }

    #[test]
    fn a_program_must_be_a_workspace_program_built_for_the_kernel() {
        let loaded = parsed(GOOD).unwrap();
        let others: BTreeSet<String> = ["system-test-programs".to_string()].into();
        let error = loaded
            .check_programs(&others, |_| true)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "image.toml:7:1: [[program]] `hello`: package `hello` is not a \
                               program of the workspace"
            ),
            "{error}"
        );
        let hello: BTreeSet<String> = ["hello".to_string()].into();
        assert!(loaded.check_programs(&hello, |_| true).is_ok());
        let error = loaded
            .check_programs(&hello, |_| false)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("package `hello` built no binary `hello` for the kernel target"),
            "{error}"
        );
    }

    #[test]
    fn keys_are_hexadecimal() {
        assert_eq!(public_key(&"0f".repeat(32)), Ok([0x0f; 32]));
        assert!(public_key(&"é".repeat(32)).is_err());
    }

    #[test]
    fn host_tables_are_checked_with_their_line() {
        let beta = "9".repeat(64);
        let with = |host: &str, known: &str| {
            format!("{GOOD}\n[host]\n{host}\n\n[[known_host]]\n{known}\n")
        };
        let host = "name = \"alpha\"\naddress = \"10.0.7.1\"\nport = 7100\nprivate_key_file = \"alpha.key\"";
        let known = format!(
            "name = \"beta\"\naddress = \"10.0.7.2\"\nport = 7100\npublic_key = \"{beta}\""
        );
        let good = with(host, &known);
        let loaded = parsed(&good).unwrap();
        assert_eq!(loaded.description.known_host.len(), 1);
        let line = good.lines().position(|line| line == "[host]").unwrap() + 1;
        let known_line = good
            .lines()
            .position(|line| line == "[[known_host]]")
            .unwrap()
            + 1;
        let cases = [
            (
                with(&host.replace("10.0.7.1", "10.0.7"), &known),
                format!(
                    "image.toml:{line}:1: [host] `alpha`: address \"10.0.7\" is not an IPv4 \
                     address (such as 10.0.2.15)"
                ),
            ),
            (
                with(&host.replace("10.0.7.1", "224.0.0.1"), &known),
                format!(
                    "image.toml:{line}:1: [host] `alpha`: 224.0.0.1 cannot receive datagrams \
                     (unspecified, broadcast or multicast)"
                ),
            ),
            (
                with(&host.replace("7100", "0"), &known),
                format!("image.toml:{line}:1: [host] `alpha`: port 0 cannot receive datagrams"),
            ),
            (
                with(host, &known.replace("beta", "alpha")),
                format!(
                    "image.toml:{known_line}:1: [[known_host]] `alpha`: the name is [host]'s or \
                     another [[known_host]]'s"
                ),
            ),
            (
                with(host, &known.replace(&beta, &"0".repeat(64))),
                format!(
                    "image.toml:{known_line}:1: [[known_host]] `beta`: public_key is a point of \
                     small order (the all-zero key is one): no private key goes with it"
                ),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(&text).unwrap_err(), expected);
        }
        // The key file is read when the image is packed; a missing one names its line.
        let packed = loaded.pack_with_stand_ins().unwrap_err().to_string();
        assert!(
            packed.starts_with(&format!(
                "image.toml:{line}:1: [host] `alpha`: the key file alpha.key cannot be read"
            )),
            "{packed}"
        );
    }
}
