//! The records of the initial image: every entry that is not an executable or ETN
//! source is one ETE value of one of these types.
//!
//! These structs are the only definition of the records; the host tools write them
//! and the kernel reads them. Records name things by text: checking that a name is
//! valid and that it names something the image holds is the reader's work
//! ([`super::read`]), never the writer's, so a damaged image is caught where it is
//! used. [`RECORD_TYPES`] declares the same records in ETN, and a host test checks
//! that every record the writer produces is a value of its type.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// The records' types in ETN, in the order of this module.
pub const RECORD_TYPES: &str = "
// The records of the initial image, as ETE values.
User         struct { PublicKey [32]byte; Groups []string }
Nothing      struct {}
Principal    union { User string; Group string }
ProgramMatch union { Program string; Any Nothing }
HostMatch    union { Local Nothing; Host string; Any Nothing }
Grant        struct { Label string; Principal Principal; Program ProgramMatch; Rights []string; Host HostMatch }
Policy       struct { Grants []Grant }
Labelled     struct { Path string; Label string }
Labels       struct { Labels []Labelled }
Service      struct { Name string; Type string; Label string; MaximumValue uint64 }
Services     struct { Services []Service }
InitProcess  struct { User string; Program string }
InitSet      struct { Processes []InitProcess }
DeviceBackend struct { Class string; Backend string }
Devices      struct { Backends []DeviceBackend }
Limits       struct { KernelMemoryPerProcess uint64; RumpKernelMemory uint64 }
Host         struct { Name string; Address [4]byte; Port uint16; PrivateKey [32]byte }
KnownHost    struct { Name string; Address [4]byte; Port uint16; PublicKey [32]byte }
Hosts        struct { Hosts []KnownHost }
UserKey      struct { PrivateKey [32]byte }
Storage      struct { Backend string }
";

/// `users/<name>` (ETN `User`): one user; the entry's name is the user's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's Curve25519 public key.
    pub public_key: [u8; 32],
    /// The groups the user belongs to.
    pub groups: Vec<String>,
}

/// Whom a grant names (ETN `Principal`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalRecord {
    /// One user, by name.
    User(String),
    /// Every member of a group, by name.
    Group(String),
}

/// Which programs a grant covers (ETN `ProgramMatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgramMatchRecord {
    /// The program of this name in `programs/`.
    Program(String),
    /// Any program.
    Any,
}

/// Which hosts a grant covers (ETN `HostMatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMatchRecord {
    /// This host's own processes.
    Local,
    /// Connections with the host of this name.
    Host(String),
    /// Connections with any other host.
    Any,
}

/// One rule of the policy (ETN `Grant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The label the rule is about.
    pub label: String,
    /// Whom it grants to.
    pub principal: PrincipalRecord,
    /// For which programs.
    pub program: ProgramMatchRecord,
    /// The rights, by name (see [`ethos_abi::LabelRights::NAMES`]).
    pub rights: Vec<String>,
    /// Between which hosts.
    pub host: HostMatchRecord,
}

/// `policy` (ETN `Policy`): every grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The grants, in no particular order: rights only add up.
    pub grants: Vec<GrantRecord>,
}

/// The label of one entry of the image (ETN `Labelled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// The entry's path in the image, such as `programs/hello`.
    pub path: String,
    /// Its label.
    pub label: String,
}

/// `labels` (ETN `Labels`): the label of every program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsRecord {
    /// One record per labelled entry.
    pub labels: Vec<LabelRecord>,
}

/// A service `init` may advertise (ETN `Service`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The service's name.
    pub name: String,
    /// The name of its type, declared in one of the image's ETN files.
    pub type_name: String,
    /// The label the policy decides `advertise`, `import` and `ipc` on.
    pub label: String,
    /// The largest value its connections carry, in bytes (at most
    /// [`ethos_abi::arguments::MAXIMUM_VALUE_SIZE`]).
    pub maximum_value: u64,
}

/// `services` (ETN `Services`): every service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesRecord {
    /// The services.
    pub services: Vec<ServiceRecord>,
}

/// One process an init set starts (ETN `InitProcess`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitProcessRecord {
    /// The user it runs for.
    pub user: String,
    /// The program it runs, by name in `programs/`.
    pub program: String,
}

/// `init/<set>` (ETN `InitSet`): the processes one init set starts, in order; the
/// entry's name is the set's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSetRecord {
    /// The processes.
    pub processes: Vec<InitProcessRecord>,
}

/// Which backend serves one device class (ETN `DeviceBackend`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBackendRecord {
    /// The class, by name (see [`ethos_abi::drivers::DeviceClass::name`]).
    pub class: String,
    /// The backend, by name (see [`ethos_abi::drivers::Backend::name`]).
    pub backend: String,
}

/// `limits` (ETN `Limits`): what a process may hold of the kernel. Optional: without
/// it, the kernel's defaults apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsRecord {
    /// Kernel memory a process may hold on its behalf, in bytes (see
    /// [`ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY`]).
    pub kernel_memory_per_process: u64,
    /// Memory the rump kernel may use, in bytes (see
    /// [`ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY`]).
    pub rump_kernel_memory: u64,
}

impl Default for LimitsRecord {
    fn default() -> LimitsRecord {
        LimitsRecord {
            kernel_memory_per_process: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY as u64,
            rump_kernel_memory: ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY,
        }
    }
}

/// `storage` (ETN `Storage`): the backend that serves the typed file system's
/// store, on the machine's disk. Optional: without it, the kernel mounts no store
/// and the file system's calls answer `not-supported`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRecord {
    /// `native` (the kernel's own store) or `rump` (NetBSD's FFS in a rump kernel).
    pub backend: String,
}

/// `devices` (ETN `Devices`): the backend of each device class the image chooses;
/// each class at most once, and a class not named is served natively.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesRecord {
    /// The choices, in any order.
    pub backends: Vec<DeviceBackendRecord>,
}

/// `host` (ETN `Host`): this machine as a host. Optional: without it, the machine
/// reaches no other host and none reaches it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The host's name.
    pub name: String,
    /// Its IPv4 address.
    pub address: [u8; 4],
    /// The UDP port it receives MinimaLT's datagrams on.
    pub port: u16,
    /// The private half of its long-term X25519 key.
    pub private_key: [u8; 32],
}

impl core::fmt::Debug for HostRecord {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("HostRecord")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Another host, as the image's directory lists it (ETN `KnownHost`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownHostRecord {
    /// The host's name.
    pub name: String,
    /// Its IPv4 address.
    pub address: [u8; 4],
    /// The UDP port it receives MinimaLT's datagrams on.
    pub port: u16,
    /// Its long-term X25519 public key: its identity.
    pub public_key: [u8; 32],
}

/// `hosts` (ETN `Hosts`): the other hosts this machine knows. Optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsRecord {
    /// The hosts, each name and key once.
    pub hosts: Vec<KnownHostRecord>,
}

/// `keys/<user>` (ETN `UserKey`): the private key of a user who works on this host;
/// the entry's name is the user's name, and the key's public half must be the
/// user's public key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserKeyRecord {
    /// The private half of the user's X25519 key.
    pub private_key: [u8; 32],
}

impl core::fmt::Debug for UserKeyRecord {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("UserKeyRecord")
            .finish_non_exhaustive()
    }
}
