//! Reading an initial image: the archive's entries sorted by kind, then each kind
//! checked and its cross references resolved, in an order where everything an entry
//! names is known before it is checked (types and users before services and grants).
//! Nothing here panics or trusts a length, a name or a reference in the image.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use ethos_abi::LabelRights;
use ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY;
use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};
use ethos_typesys::TypeGraph;
use ethos_typesys::wire;
use serde::de::DeserializeOwned;
use tar_no_std::TarArchiveRef;

use super::records::{
    DevicesRecord, HostMatchRecord, HostRecord, HostsRecord, InitSetRecord, LabelsRecord,
    LimitsRecord, PolicyRecord, PrincipalRecord, ProgramMatchRecord, ServicesRecord, StorageRecord,
    UserKeyRecord, UserRecord,
};
use super::{Counts, EntryPath, ImageError, InitSet, InitialImage, types};
use crate::hosts::{
    DirectoryError, HostAddress, HostIdentity, HostName, KnownHost, StaticDirectory, ThisHost,
    UserKeys,
};
use crate::process_model::identity::{
    GroupName, Label, NameError, Program, ProgramId, ProgramName, PublicKey, ServiceName, User,
    UserName, check_name,
};
use crate::process_model::policy::{Grant, HostMatch, Policy, Principal, ProgramMatch};
use crate::process_model::{Configuration, ServiceDeclaration};

/// The entries of an archive, sorted by kind, not yet checked.
#[derive(Default)]
struct Entries<'a> {
    programs: Vec<(String, &'a [u8])>,
    type_files: Vec<(String, &'a [u8])>,
    users: Vec<(String, &'a [u8])>,
    init_sets: Vec<(String, &'a [u8])>,
    labels: Option<&'a [u8]>,
    policy: Option<&'a [u8]>,
    services: Option<&'a [u8]>,
    devices: Option<&'a [u8]>,
    limits: Option<&'a [u8]>,
    storage: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
    hosts: Option<&'a [u8]>,
    user_keys: Vec<(String, &'a [u8])>,
}

/// Reads and checks the initial image in `bytes`.
pub fn read(bytes: &[u8]) -> Result<InitialImage<'_>, ImageError> {
    let entries = entries(bytes)?;
    let types = types::type_graph(&entries.type_files)?;
    let users = users(&entries.users)?;
    let labels = labels(entries.labels.ok_or(ImageError::MissingEntry("labels"))?)?;
    let (programs, executables) = programs(&entries.programs, labels)?;
    let grants = grants(
        entries.policy.ok_or(ImageError::MissingEntry("policy"))?,
        &users,
        &programs,
    )?;
    let services = services(
        entries
            .services
            .ok_or(ImageError::MissingEntry("services"))?,
        &types,
    )?;
    let init_sets = init_sets(&entries.init_sets, &users, &programs)?;
    let kernel_memory_per_process = match entries.limits {
        Some(bytes) => {
            // The rump limit is the boot's (`read_rump_memory_limit`); checked here too,
            // so an image is refused whole, before anything runs.
            let record: LimitsRecord = record(&EntryPath::Limits, bytes)?;
            if record.rump_kernel_memory < ethos_abi::arguments::MINIMUM_RUMP_KERNEL_MEMORY {
                return Err(ImageError::RumpMemoryLimit(record.rump_kernel_memory));
            }
            kernel_memory_limit(bytes)?
        }
        None => ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
    };
    let backends = backend_choice(entries.devices.ok_or(ImageError::MissingEntry("devices"))?)?;
    let hosts = host_identity(&entries, &users)?;
    let storage = match entries.storage {
        Some(bytes) => {
            let record: StorageRecord = record(&EntryPath::Storage, bytes)?;
            Some(
                Backend::from_name(&record.backend)
                    .ok_or(ImageError::UnknownStorageBackend(record.backend))?,
            )
        }
        None => None,
    };
    let counts = Counts {
        users: users.len() as u64,
        programs: programs.len() as u64,
        type_files: entries.type_files.len() as u64,
        services: services.len() as u64,
        grants: grants.len() as u64,
        init_sets: init_sets.len() as u64,
        host: u64::from(hosts.this_host.is_some()),
        known_hosts: hosts.directory.len() as u64,
        user_keys: hosts.user_keys.len() as u64,
    };
    Ok(InitialImage {
        configuration: Configuration {
            users: users.into_values().collect(),
            programs: programs.into_values().collect(),
            policy: Policy::new(grants),
            types,
            services,
            kernel_memory_per_process,
        },
        executables,
        init_sets,
        counts,
        backends,
        hosts,
        storage,
    })
}

/// The backend choice of the image in `bytes`, from its `devices` entry alone: what
/// the kernel needs at boot, before (and whether or not) it reads the rest.
pub fn read_backend_choice(bytes: &[u8]) -> Result<BackendChoice, ImageError> {
    let archive = TarArchiveRef::new(bytes).map_err(ImageError::Archive)?;
    let devices = archive
        .entries()
        .find(|entry| {
            entry
                .filename()
                .as_str()
                .is_ok_and(|path| EntryPath::parse(path) == Some(EntryPath::Devices))
        })
        .ok_or(ImageError::MissingEntry("devices"))?;
    backend_choice(devices.data())
}

/// The backend choice in the bytes of a `devices` entry, checked as [`read`] checks
/// it: for a kernel whose build copied the entry out of its image.
pub fn devices_backend_choice(bytes: &[u8]) -> Result<BackendChoice, ImageError> {
    backend_choice(bytes)
}

/// The memory the rump kernel may use, from the image's `limits` entry alone (the
/// default without one): what the kernel needs at boot, before it starts NetBSD.
pub fn read_rump_memory_limit(bytes: &[u8]) -> Result<u64, ImageError> {
    let archive = TarArchiveRef::new(bytes).map_err(ImageError::Archive)?;
    let Some(limits) = archive.entries().find(|entry| {
        entry
            .filename()
            .as_str()
            .is_ok_and(|path| EntryPath::parse(path) == Some(EntryPath::Limits))
    }) else {
        return Ok(ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY);
    };
    let record: LimitsRecord = record(&EntryPath::Limits, limits.data())?;
    if record.rump_kernel_memory < ethos_abi::arguments::MINIMUM_RUMP_KERNEL_MEMORY {
        return Err(ImageError::RumpMemoryLimit(record.rump_kernel_memory));
    }
    Ok(record.rump_kernel_memory)
}

/// The kernel memory a process may hold, from `limits`: at least
/// [`MINIMUM_PROCESS_KERNEL_MEMORY`], at most what the kernel can count.
fn kernel_memory_limit(bytes: &[u8]) -> Result<usize, ImageError> {
    let record: LimitsRecord = record(&EntryPath::Limits, bytes)?;
    usize::try_from(record.kernel_memory_per_process)
        .ok()
        .filter(|limit| *limit >= MINIMUM_PROCESS_KERNEL_MEMORY)
        .ok_or(ImageError::KernelMemoryLimit(
            record.kernel_memory_per_process,
        ))
}

/// Every class the record names, with its backend; the others native.
fn backend_choice(bytes: &[u8]) -> Result<BackendChoice, ImageError> {
    let record: DevicesRecord = record(&EntryPath::Devices, bytes)?;
    let mut choice = BackendChoice::NATIVE;
    let mut chosen = BTreeSet::new();
    for entry in &record.backends {
        let class = DeviceClass::from_name(&entry.class)
            .ok_or_else(|| ImageError::UnknownDeviceClass(entry.class.clone()))?;
        let backend =
            Backend::from_name(&entry.backend).ok_or_else(|| ImageError::UnknownBackend {
                class: entry.class.clone(),
                backend: entry.backend.clone(),
            })?;
        if !chosen.insert(class) {
            return Err(ImageError::DuplicateDeviceClass(entry.class.clone()));
        }
        choice.choose(class, backend);
    }
    Ok(choice)
}

/// Every entry of the archive by kind; refuses anything but regular files at paths
/// of the layout, each path once.
fn entries(bytes: &[u8]) -> Result<Entries<'_>, ImageError> {
    let archive = TarArchiveRef::new(bytes).map_err(ImageError::Archive)?;
    for (index, (_, header)) in archive.headers().enumerate() {
        let regular = header
            .typeflag
            .try_to_type_flag()
            .is_ok_and(|flag| flag.is_regular_file());
        if !regular {
            let path = header
                .name
                .as_str()
                .map_err(|_| ImageError::PathNotUtf8 { index })?;
            return Err(ImageError::NotAFile {
                path: String::from(path),
                type_flag: header_type_flag(header),
            });
        }
    }
    let mut seen = BTreeSet::new();
    let mut entries = Entries::default();
    for (index, entry) in archive.entries().enumerate() {
        let name = entry.filename();
        let path = name
            .as_str()
            .map_err(|_| ImageError::PathNotUtf8 { index })?;
        if !seen.insert(String::from(path)) {
            return Err(ImageError::DuplicateEntry(String::from(path)));
        }
        let data = entry.data();
        let owned = |name: &str| (String::from(name), data);
        match EntryPath::parse(path).ok_or_else(|| ImageError::UnknownEntry(path.to_string()))? {
            EntryPath::Program(name) => entries.programs.push(owned(name)),
            EntryPath::TypeFile(_) => entries.type_files.push(owned(path)),
            EntryPath::User(name) => entries.users.push(owned(name)),
            EntryPath::InitSet(name) => entries.init_sets.push(owned(name)),
            EntryPath::Labels => entries.labels = Some(data),
            EntryPath::Policy => entries.policy = Some(data),
            EntryPath::Services => entries.services = Some(data),
            EntryPath::Devices => entries.devices = Some(data),
            EntryPath::Limits => entries.limits = Some(data),
            EntryPath::Storage => entries.storage = Some(data),
            EntryPath::Host => entries.host = Some(data),
            EntryPath::Hosts => entries.hosts = Some(data),
            EntryPath::UserKey(name) => entries.user_keys.push(owned(name)),
        }
    }
    Ok(entries)
}

/// The raw type flag byte of a header, for messages.
fn header_type_flag(header: &tar_no_std::PosixHeader) -> u8 {
    match header.typeflag.try_to_type_flag() {
        Ok(flag) => flag as u8,
        Err(_) => b'?',
    }
}

fn record<T: DeserializeOwned>(entry: &EntryPath<'_>, bytes: &[u8]) -> Result<T, ImageError> {
    wire::decode(bytes).map_err(|error| ImageError::Record {
        entry: entry.path(),
        error,
    })
}

/// A checked name, or the error naming the entry and what the name is for.
fn name<T>(
    entry: &EntryPath<'_>,
    what: &'static str,
    text: &str,
    new: fn(&str) -> Result<T, NameError>,
) -> Result<T, ImageError> {
    new(text).map_err(|error| ImageError::BadName {
        entry: entry.path(),
        what,
        name: String::from(text),
        error,
    })
}

fn users(entries: &[(String, &[u8])]) -> Result<BTreeMap<UserName, User>, ImageError> {
    let mut users = BTreeMap::new();
    for (user, bytes) in entries {
        let entry = EntryPath::User(user);
        let name = name(&entry, "user", user, UserName::new)?;
        let record: UserRecord = record(&entry, bytes)?;
        let groups = record
            .groups
            .iter()
            .map(|group| self::name(&entry, "group", group, GroupName::new))
            .collect::<Result<Vec<_>, _>>()?;
        users.insert(
            name.clone(),
            User {
                name,
                public_key: PublicKey(record.public_key),
                groups,
            },
        );
    }
    Ok(users)
}

/// Each program's label, by program name as written.
fn labels(bytes: &[u8]) -> Result<BTreeMap<String, Label>, ImageError> {
    let entry = EntryPath::Labels;
    let record: LabelsRecord = record(&entry, bytes)?;
    let mut labels = BTreeMap::new();
    for labelled in record.labels {
        let Some(EntryPath::Program(program)) = EntryPath::parse(&labelled.path) else {
            return Err(ImageError::LabelForUnknownEntry(labelled.path));
        };
        let label = name(&entry, "label", &labelled.label, Label::new)?;
        if labels.insert(String::from(program), label).is_some() {
            return Err(ImageError::DuplicateLabel(labelled.path));
        }
    }
    Ok(labels)
}

type Programs<'a> = (
    BTreeMap<ProgramName, Program>,
    BTreeMap<ProgramName, &'a [u8]>,
);

fn programs<'a>(
    entries: &[(String, &'a [u8])],
    mut labels: BTreeMap<String, Label>,
) -> Result<Programs<'a>, ImageError> {
    let mut programs = BTreeMap::new();
    let mut executables = BTreeMap::new();
    for (program, bytes) in entries {
        let entry = EntryPath::Program(program);
        let name = name(&entry, "program", program, ProgramName::new)?;
        if !bytes.starts_with(b"\x7fELF") {
            return Err(ImageError::NotElf(entry.path()));
        }
        let label = labels
            .remove(program.as_str())
            .ok_or_else(|| ImageError::MissingLabel(entry.path()))?;
        programs.insert(
            name.clone(),
            Program {
                name: name.clone(),
                identity: ProgramId::of_executable(bytes),
                label,
            },
        );
        executables.insert(name, *bytes);
    }
    if let Some(program) = labels.into_keys().next() {
        return Err(ImageError::LabelForUnknownEntry(
            EntryPath::Program(&program).path(),
        ));
    }
    Ok((programs, executables))
}

fn known_user(
    entry: &EntryPath<'_>,
    users: &BTreeMap<UserName, User>,
    user: &str,
) -> Result<UserName, ImageError> {
    let name = name(entry, "user", user, UserName::new)?;
    if !users.contains_key(&name) {
        return Err(ImageError::UnknownUser {
            entry: entry.path(),
            user: String::from(user),
        });
    }
    Ok(name)
}

fn known_program<'p>(
    entry: &EntryPath<'_>,
    programs: &'p BTreeMap<ProgramName, Program>,
    program: &str,
) -> Result<&'p Program, ImageError> {
    let name = name(entry, "program", program, ProgramName::new)?;
    programs
        .get(&name)
        .ok_or_else(|| ImageError::UnknownProgram {
            entry: entry.path(),
            program: String::from(program),
        })
}

fn grants(
    bytes: &[u8],
    users: &BTreeMap<UserName, User>,
    programs: &BTreeMap<ProgramName, Program>,
) -> Result<Vec<Grant>, ImageError> {
    let entry = EntryPath::Policy;
    let record: PolicyRecord = record(&entry, bytes)?;
    let groups: BTreeSet<&GroupName> = users.values().flat_map(|user| &user.groups).collect();
    let mut grants = Vec::new();
    for grant in record.grants {
        let label = name(&entry, "label", &grant.label, Label::new)?;
        let principal = match &grant.principal {
            PrincipalRecord::User(user) => Principal::User(known_user(&entry, users, user)?),
            PrincipalRecord::Group(group) => {
                let name = name(&entry, "group", group, GroupName::new)?;
                if !groups.contains(&name) {
                    return Err(ImageError::UnknownGroup {
                        entry: entry.path(),
                        group: group.clone(),
                    });
                }
                Principal::Group(name)
            }
        };
        let program = match &grant.program {
            ProgramMatchRecord::Program(program) => {
                ProgramMatch::Program(known_program(&entry, programs, program)?.identity)
            }
            ProgramMatchRecord::Any => ProgramMatch::Any,
        };
        let mut rights = LabelRights::NONE;
        for right in &grant.rights {
            rights = rights
                | LabelRights::from_name(right).ok_or_else(|| ImageError::UnknownRight {
                    label: grant.label.clone(),
                    right: right.clone(),
                })?;
        }
        if rights.is_empty() {
            return Err(ImageError::NoRights { label: grant.label });
        }
        let host = match &grant.host {
            HostMatchRecord::Local => HostMatch::Local,
            // Any valid name: a grant may name a host this image's directory does
            // not list yet (a host set's images share one policy).
            HostMatchRecord::Host(host) => {
                HostMatch::Host(name(&entry, "host", host, HostName::new)?)
            }
            HostMatchRecord::Any => HostMatch::Any,
        };
        grants.push(Grant {
            label,
            principal,
            program,
            rights,
            host,
        });
    }
    Ok(grants)
}

fn services(bytes: &[u8], types: &TypeGraph<'_>) -> Result<Vec<ServiceDeclaration>, ImageError> {
    let entry = EntryPath::Services;
    let record: ServicesRecord = record(&entry, bytes)?;
    let mut names = BTreeSet::new();
    let mut services = Vec::new();
    for service in record.services {
        let name = name(&entry, "service", &service.name, ServiceName::new)?;
        if !names.insert(name.clone()) {
            return Err(ImageError::DuplicateService(service.name));
        }
        let type_hash = types
            .find_by_name(&service.type_name)
            .and_then(|node| types.hash(node))
            .ok_or_else(|| ImageError::UnknownType {
                service: service.name.clone(),
                type_name: service.type_name.clone(),
            })?;
        let maximum_value = usize::try_from(service.maximum_value)
            .ok()
            .filter(|bytes| *bytes > 0 && *bytes as u64 <= ethos_abi::arguments::MAXIMUM_VALUE_SIZE)
            .ok_or_else(|| ImageError::ServiceMaximumValue {
                service: service.name.clone(),
                bytes: service.maximum_value,
            })?;
        services.push(ServiceDeclaration {
            name,
            type_hash: *type_hash,
            label: self::name(&entry, "label", &service.label, Label::new)?,
            maximum_value,
        });
    }
    Ok(services)
}

fn init_sets(
    entries: &[(String, &[u8])],
    users: &BTreeMap<UserName, User>,
    programs: &BTreeMap<ProgramName, Program>,
) -> Result<BTreeMap<String, InitSet>, ImageError> {
    let mut sets = BTreeMap::new();
    for (set, bytes) in entries {
        let entry = EntryPath::InitSet(set);
        name(&entry, "init set", set, check_name)?;
        let record: InitSetRecord = record(&entry, bytes)?;
        let mut processes = Vec::new();
        for process in &record.processes {
            let user = known_user(&entry, users, &process.user)?;
            let program = known_program(&entry, programs, &process.program)?;
            processes.push((user, program.name.clone()));
        }
        sets.insert(set.clone(), processes);
    }
    Ok(sets)
}

/// `host`, `hosts` and `keys/`: this machine as a host, the hosts it knows (never
/// itself, each name and key once) and the user keys it holds (each one's public half
/// the user's public key).
fn host_identity(
    entries: &Entries<'_>,
    users: &BTreeMap<UserName, User>,
) -> Result<HostIdentity, ImageError> {
    let host_error = |entry: &EntryPath<'_>, host: &str, error| ImageError::Host {
        entry: entry.path(),
        host: String::from(host),
        error,
    };
    let this_host = match entries.host {
        Some(bytes) => {
            let entry = EntryPath::Host;
            let record: HostRecord = record(&entry, bytes)?;
            let name = name(&entry, "host", &record.name, HostName::new)?;
            let address = HostAddress::new(record.address, record.port)
                .map_err(|error| host_error(&entry, &record.name, error))?;
            Some(ThisHost::new(name, address, record.private_key))
        }
        None => None,
    };
    let directory = match entries.hosts {
        Some(bytes) => {
            let entry = EntryPath::Hosts;
            let record: HostsRecord = record(&entry, bytes)?;
            let mut hosts = Vec::new();
            for host in &record.hosts {
                let host_name = name(&entry, "host", &host.name, HostName::new)?;
                let address = HostAddress::new(host.address, host.port)
                    .map_err(|error| host_error(&entry, &host.name, error))?;
                if let Some(this) = &this_host
                    && (this.name == host_name || this.public_key().0 == host.public_key)
                {
                    return Err(ImageError::DirectoryEntry {
                        host: host.name.clone(),
                        problem: "is this host (by name or key): the directory lists the others",
                    });
                }
                hosts.push(KnownHost {
                    name: host_name,
                    address,
                    public_key: ethos_crypto::PublicKeyBytes(host.public_key),
                });
            }
            StaticDirectory::new(hosts).map_err(|error| match error {
                DirectoryError::DuplicateName(host) => ImageError::DirectoryEntry {
                    host: String::from(host.as_str()),
                    problem: "is listed twice",
                },
                DirectoryError::DuplicateKey(host) => ImageError::DirectoryEntry {
                    host: String::from(host.as_str()),
                    problem: "has the key of a host listed before it: a key is one host",
                },
                DirectoryError::Host(host, error) => host_error(&entry, host.as_str(), error),
            })?
        }
        None => StaticDirectory::default(),
    };
    let mut user_keys = UserKeys::default();
    for (user, bytes) in &entries.user_keys {
        let entry = EntryPath::UserKey(user);
        let user_name = known_user(&entry, users, user)?;
        let record: UserKeyRecord = record(&entry, bytes)?;
        let public_key = users
            .get(&user_name)
            .map(|user| user.public_key)
            .ok_or_else(|| ImageError::UnknownUser {
                entry: entry.path(),
                user: user.clone(),
            })?;
        let key = ethos_crypto::SecretKey::from_bytes(record.private_key);
        if !user_keys.insert(user_name, &public_key, key) {
            return Err(ImageError::UserKeyMismatch(user.clone()));
        }
    }
    Ok(HostIdentity {
        this_host,
        directory,
        user_keys,
    })
}
