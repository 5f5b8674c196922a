//! The initial image on the host: its description (`images/boot/image.toml`, see
//! `description.rs`), packing it with the kernel library's writer, and listing a
//! packed image.
//!
//! The description is checked where a line and column help; then the packed image is
//! read back with the kernel's own reader, which judges everything else (names, ETN),
//! so an image the kernel would refuse is never written. This module runs no
//! command; building the programs is [`crate::kernel`]'s work.

mod description;

use std::fmt::Write as _;
use std::path::Path;

use ethos_core::initial_image::{
    self, DeviceBackendRecord, DevicesRecord, EntryPath, GrantRecord, HostMatchRecord, HostRecord,
    HostsRecord, ImageContents, InitProcessRecord, InitSetRecord, KnownHostRecord, LabelRecord,
    LabelsRecord, LimitsRecord, PolicyRecord, PrincipalRecord, ProgramMatchRecord, ServiceRecord,
    ServicesRecord, StorageRecord, UserKeyRecord, UserRecord,
};
use ethos_core::process_model::identity::ProgramId;

pub use description::{
    DEFAULT_DISK_SIZE, Description, GrantEntry, HostEntry, InitEntry, InitProcessEntry,
    KnownHostEntry, LoadedDescription, MINIMUM_DISK_SIZE, ProgramEntry, ServiceEntry, StorageEntry,
    TypesEntry, UserEntry,
};
use description::{host_address, private_key_file, public_key, type_file_name};

use crate::XtaskError;
use crate::error::FileContext;

/// The private key in the key file at `path` (64 hexadecimal digits).
pub fn read_private_key(path: &Path) -> Result<[u8; 32], String> {
    private_key_file(path)
}

/// The description of the initial image, relative to the workspace root.
pub const DESCRIPTION: &str = "images/boot/image.toml";

/// The packed image's path under the target directory.
pub const PACKED: &str = "images/initial.tar";

/// What a grant's `program` says to mean every program.
pub const ANY_PROGRAM: &str = "*";

impl LoadedDescription {
    /// Packs the image, taking each program's executable from `binaries` (the
    /// directory cargo built them in), and reads it back with the kernel's reader.
    pub fn pack(&self, binaries: &Path) -> Result<Vec<u8>, XtaskError> {
        let mut executables = Vec::new();
        for program in &self.description.program {
            let path = binaries.join(program.get_ref().binary());
            executables.push(std::fs::read(&path).at(path)?);
        }
        self.pack_executables(&executables)
    }

    /// Packs the image with a stand-in for each program's executable — bytes that
    /// name its binary, so every program keeps an identity of its own — and reads it
    /// back with the kernel's reader. For host tests that need the image's users,
    /// labels, policy, services and init sets, and never load a program.
    pub fn pack_with_stand_ins(&self) -> Result<Vec<u8>, XtaskError> {
        let executables: Vec<Vec<u8>> = self
            .description
            .program
            .iter()
            .map(|program| {
                format!("\x7fELF stand-in for {}", program.get_ref().binary()).into_bytes()
            })
            .collect();
        self.pack_executables(&executables)
    }

    /// `host`, `hosts` and `keys/`, reading the key files the description names.
    fn host_records(&self) -> Result<HostRecords, XtaskError> {
        let description = &self.description;
        let key_at = |span, file: &str, what: String| {
            private_key_file(&self.directory().join(file))
                .map_err(|problem| self.error_at(span, format!("{what}: {problem}")))
        };
        let host = match &description.host {
            Some(host) => {
                let entry = host.get_ref();
                let address = host_address(&entry.address, entry.port)
                    .map_err(|problem| self.error_at(host.span(), problem))?;
                Some(HostRecord {
                    name: entry.name.clone(),
                    address: address.ip,
                    port: address.port,
                    private_key: key_at(
                        host.span(),
                        &entry.private_key_file,
                        format!("[host] `{}`", entry.name),
                    )?,
                })
            }
            None => None,
        };
        let mut known = Vec::new();
        for host in &description.known_host {
            let entry = host.get_ref();
            let address = host_address(&entry.address, entry.port)
                .map_err(|problem| self.error_at(host.span(), problem))?;
            known.push(KnownHostRecord {
                name: entry.name.clone(),
                address: address.ip,
                port: address.port,
                public_key: public_key(&entry.public_key)
                    .map_err(|problem| self.error_at(host.span(), problem))?,
            });
        }
        let mut user_keys = Vec::new();
        for user in &description.user {
            let entry = user.get_ref();
            if let Some(file) = &entry.private_key_file {
                let private_key = key_at(user.span(), file, format!("[[user]] `{}`", entry.name))?;
                user_keys.push((entry.name.clone(), UserKeyRecord { private_key }));
            }
        }
        Ok(HostRecords {
            host,
            hosts: (!known.is_empty()).then_some(HostsRecord { hosts: known }),
            user_keys,
        })
    }

    /// Packs the image with `executables`, one per `[[program]]` in order.
    fn pack_executables(&self, executables: &[Vec<u8>]) -> Result<Vec<u8>, XtaskError> {
        let description = &self.description;
        let host_records = self.host_records()?;
        let mut sources = Vec::new();
        for types in &description.types {
            let path = self.directory().join(&types.get_ref().file);
            sources.push(std::fs::read(&path).at(path)?);
        }
        let contents = ImageContents {
            users: description
                .user
                .iter()
                .map(|user| {
                    let user = user.get_ref();
                    let record = UserRecord {
                        public_key: public_key(&user.public_key).unwrap_or([0; 32]),
                        groups: user.groups.clone(),
                    };
                    (user.name.clone(), record)
                })
                .collect(),
            programs: description
                .program
                .iter()
                .zip(executables)
                .map(|(program, bytes)| (program.get_ref().name.clone(), bytes.as_slice()))
                .collect(),
            type_files: description
                .types
                .iter()
                .zip(&sources)
                .map(|(types, source)| {
                    let name = type_file_name(&types.get_ref().file).unwrap_or_default();
                    (name.to_string(), source.as_slice())
                })
                .collect(),
            labels: LabelsRecord {
                labels: description
                    .program
                    .iter()
                    .map(|program| LabelRecord {
                        path: EntryPath::Program(&program.get_ref().name).path(),
                        label: program.get_ref().label.clone(),
                    })
                    .collect(),
            },
            policy: PolicyRecord {
                grants: description
                    .grant
                    .iter()
                    .map(|grant| grant_record(grant.get_ref()))
                    .collect(),
            },
            services: ServicesRecord {
                services: description
                    .service
                    .iter()
                    .map(|service| {
                        let service = service.get_ref();
                        ServiceRecord {
                            name: service.name.clone(),
                            type_name: service.type_name.clone(),
                            label: service.label.clone(),
                            maximum_value: service
                                .maximum_value
                                .unwrap_or(ethos_abi::arguments::MAXIMUM_VALUE_SIZE),
                        }
                    })
                    .collect(),
            },
            init_sets: description
                .init
                .iter()
                .map(|(name, set)| {
                    let processes = set
                        .get_ref()
                        .processes
                        .iter()
                        .map(|process| InitProcessRecord {
                            user: process.user.clone(),
                            program: process.program.clone(),
                        })
                        .collect();
                    (name.clone(), InitSetRecord { processes })
                })
                .collect(),
            // Every class, named or not: the image says what serves each.
            devices: DevicesRecord {
                backends: self
                    .backend_choice()
                    .iter()
                    .map(|(class, backend)| DeviceBackendRecord {
                        class: class.name().to_string(),
                        backend: backend.name().to_string(),
                    })
                    .collect(),
            },
            // A limit not given is the kernel's default.
            limits: description.limits.as_ref().map(|limits| {
                let default = LimitsRecord::default();
                LimitsRecord {
                    kernel_memory_per_process: limits
                        .kernel_memory_per_process
                        .as_ref()
                        .map_or(default.kernel_memory_per_process, |limit| *limit.get_ref()),
                    rump_kernel_memory: limits
                        .rump_kernel_memory
                        .as_ref()
                        .map_or(default.rump_kernel_memory, |limit| *limit.get_ref()),
                }
            }),
            storage: description.storage.as_ref().map(|storage| StorageRecord {
                backend: storage.backend.get_ref().clone(),
            }),
            host: host_records.host,
            hosts: host_records.hosts,
            user_keys: host_records.user_keys,
        };
        let bytes = initial_image::write(&contents).map_err(|error| XtaskError::Description {
            path: self.path.clone(),
            location: None,
            problem: format!("the image cannot be packed: {error}"),
        })?;
        let image = initial_image::read(&bytes).map_err(|error| {
            let problem = format!("the image it describes is refused: {error}");
            match self.entry_at_fault(&error) {
                Some(span) => self.error_at(span, problem),
                None => XtaskError::Description {
                    path: self.path.clone(),
                    location: None,
                    problem,
                },
            }
        })?;
        for warning in self.service_warnings(&image.configuration) {
            println!("warning: {warning}");
        }
        Ok(bytes)
    }
}

/// What an image holds about this machine as a host.
struct HostRecords {
    host: Option<HostRecord>,
    hosts: Option<HostsRecord>,
    user_keys: Vec<(String, UserKeyRecord)>,
}

fn grant_record(grant: &GrantEntry) -> GrantRecord {
    let principal = match (&grant.user, &grant.group) {
        (Some(user), _) => PrincipalRecord::User(user.clone()),
        (None, group) => PrincipalRecord::Group(group.clone().unwrap_or_default()),
    };
    let program = match grant.program.as_str() {
        ANY_PROGRAM => ProgramMatchRecord::Any,
        name => ProgramMatchRecord::Program(name.to_string()),
    };
    let host = match grant.host.as_deref() {
        None => HostMatchRecord::Local,
        Some(ANY_PROGRAM) => HostMatchRecord::Any,
        Some(name) => HostMatchRecord::Host(name.to_string()),
    };
    GrantRecord {
        label: grant.label.clone(),
        principal,
        program,
        rights: grant.rights.clone(),
        host,
    }
}

/// The first eight bytes of a hash, in hexadecimal: enough to tell identities apart
/// by eye.
fn hash_prefix(hash: &[u8]) -> String {
    hash.iter().take(8).fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// The start of a program's identity (the SHA-512 of its executable), in hexadecimal.
pub fn identity_prefix(executable: &[u8]) -> String {
    hash_prefix(&ProgramId::of_executable(executable).0)
}

/// One line per entry of a packed image (path, size, and a program's identity), then
/// what the kernel reads from it.
pub fn list(path: &Path, bytes: &[u8]) -> Result<Vec<String>, XtaskError> {
    let bad = |problem: String| XtaskError::BadImage {
        path: path.to_path_buf(),
        problem,
    };
    let image = initial_image::read(bytes).map_err(|error| bad(error.to_string()))?;
    let mut lines = vec![format!("{:<32} {:>10}  detail", "entry", "bytes")];
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().at(path)? {
        let entry = entry.at(path)?;
        let name = entry.path().at(path)?.to_string_lossy().into_owned();
        let size = entry.size();
        let detail = match EntryPath::parse(&name) {
            Some(EntryPath::Program(program)) => image
                .executables
                .iter()
                .find(|(known, _)| known.as_str() == program)
                .map(|(_, executable)| format!("sha512 {}…", identity_prefix(executable)))
                .unwrap_or_default(),
            _ => String::new(),
        };
        lines.push(
            format!("{name:<32} {size:>10}  {detail}")
                .trim_end()
                .to_string(),
        );
    }
    let configuration = &image.configuration;
    lines.push(String::new());
    for user in &configuration.users {
        let groups: Vec<_> = user.groups.iter().map(|group| group.as_str()).collect();
        lines.push(format!(
            "user {}: groups [{}]",
            user.name,
            groups.join(", ")
        ));
    }
    for program in &configuration.programs {
        lines.push(format!("program {}: label {}", program.name, program.label));
    }
    lines.push(format!(
        "types: {} named types in {} files",
        configuration
            .types
            .nodes()
            .iter()
            .filter(|node| !node.name.is_empty())
            .count(),
        image.counts.type_files
    ));
    for service in &configuration.services {
        lines.push(format!(
            "service {}: type {}…, label {}",
            service.name,
            hash_prefix(&service.type_hash.0),
            service.label
        ));
    }
    lines.push(format!("policy: {} grants", image.counts.grants));
    let backends: Vec<_> = image
        .backends
        .iter()
        .map(|(class, backend)| format!("{} {}", class.name(), backend.name()))
        .collect();
    lines.push(format!("devices: {}", backends.join(", ")));
    match &image.hosts.this_host {
        Some(host) => lines.push(format!(
            "host {} at {}: key {}…",
            host.name,
            host.address,
            hash_prefix(&host.public_key().0)
        )),
        None => lines.push(String::from(
            "host: none (this machine reaches no other host)",
        )),
    }
    for host in image.hosts.directory.hosts() {
        lines.push(format!(
            "known host {} at {}: key {}…",
            host.name,
            host.address,
            hash_prefix(&host.public_key.0)
        ));
    }
    let holders: Vec<_> = image
        .hosts
        .user_keys
        .users()
        .map(|user| user.as_str())
        .collect();
    if !holders.is_empty() {
        lines.push(format!("user keys held: {}", holders.join(", ")));
    }
    for (set, processes) in &image.init_sets {
        let processes: Vec<_> = processes
            .iter()
            .map(|(user, program)| format!("{program} as {user}"))
            .collect();
        lines.push(format!("init {set}: {}", processes.join(", ")));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_of_a_type_that_is_no_interface_is_warned_of() {
        let workspace = LoadedDescription::load_default().unwrap();
        let image_bytes = workspace.pack_with_stand_ins().unwrap();
        let image = initial_image::read(&image_bytes).unwrap();
        assert_eq!(
            workspace.service_warnings(&image.configuration),
            Vec::<String>::new()
        );

        let directory =
            std::env::temp_dir().join(format!("ethos-service-warnings-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("notes.etn"), "Note struct { Text string }\n").unwrap();
        let text = "\
[[types]]
file = \"notes.etn\"

[[service]]
name = \"notes\"
type = \"Note\"
label = \"notes\"
";
        let path = directory.join("image.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = LoadedDescription::load(&path).unwrap();
        let image_bytes = loaded.pack_with_stand_ins().unwrap();
        std::fs::remove_dir_all(&directory).unwrap();
        let image = initial_image::read(&image_bytes).unwrap();
        let warnings = loaded.service_warnings(&image.configuration);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].ends_with(
                "image.toml:4:1: [[service]] `notes`: type `Note` is not an \
                                   interface, so its connections carry `Note` values both ways \
                                   with no request or reply"
            ),
            "{warnings:?}"
        );
    }

    /// A description whose faults only the kernel's reader finds: packing names the
    /// line of the entry at fault.
    #[test]
    fn the_readers_errors_name_the_entry_at_fault() {
        let directory =
            std::env::temp_dir().join(format!("ethos-reader-errors-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(
            directory.join("broken.etn"),
            "Message string\nEcho interface {\n",
        )
        .unwrap();
        let text = "\
[[user]]
name = \"alice\"
public_key = \"a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11c\"

[[types]]
file = \"broken.etn\"
";
        let path = directory.join("image.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = LoadedDescription::load(&path).unwrap();
        let error = loaded.pack_with_stand_ins().unwrap_err().to_string();
        std::fs::remove_dir_all(&directory).unwrap();
        assert!(
            error.contains("image.toml:5:1: the image it describes is refused"),
            "{error}"
        );
        assert!(error.contains("broken.etn"), "{error}");
    }

    #[test]
    fn stand_ins_keep_every_program_an_identity_of_its_own() {
        let loaded = LoadedDescription::load_default().unwrap();
        let image_bytes = loaded.pack_with_stand_ins().unwrap();
        let image = initial_image::read(&image_bytes).unwrap();
        assert_eq!(image.counts, loaded.counts());
        let mut identities: Vec<ProgramId> = image
            .configuration
            .programs
            .iter()
            .map(|program| program.identity)
            .collect();
        identities.sort();
        identities.dedup();
        assert_eq!(identities.len(), image.configuration.programs.len());
    }

    #[test]
    fn the_workspace_image_packs_to_what_it_declares() {
        let loaded = LoadedDescription::load_default().unwrap();
        let binaries =
            std::env::temp_dir().join(format!("ethos-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&binaries).unwrap();
        for (_, binary) in loaded.packages() {
            std::fs::write(binaries.join(binary), b"\x7fELF stand-in").unwrap();
        }
        let packed = loaded.pack(&binaries);
        std::fs::remove_dir_all(&binaries).unwrap();
        let bytes = packed.unwrap();
        let image = initial_image::read(&bytes).unwrap();
        assert_eq!(image.counts, loaded.counts());
        let lines = list(Path::new("initial.tar"), &bytes).unwrap();
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("programs/hello ") && line.contains("sha512 "))
        );
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("service echo: type "))
        );
        assert!(
            lines.contains(
                &"devices: network native, datagram native, block native, entropy native, \
              console native"
                    .to_string()
            )
        );
        assert_eq!(image.backends, loaded.backend_choice());
    }
}
