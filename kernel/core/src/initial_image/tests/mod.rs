//! Host tests of the initial image: a round trip through the writer, the layout,
//! the records' ETN types and arbitrary bytes; damaged images are in [`damage`].

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::LabelRights;
use ethos_abi::drivers::{Backend, DeviceClass};
use ethos_typesys::etn;
use proptest::prelude::*;

use super::*;
use crate::process_model::ProcessModel;
use crate::process_model::identity::{GroupName, Label, ProgramId, PublicKey};

mod damage;

use damage::rechecksum;

/// Stands in for an executable: only the ELF magic is checked when reading.
const HELLO: &[u8] = b"\x7fELF hello";
const ECHO: &[u8] = b"\x7fELF echo";

const TYPES: &str = "\
Message string
Echo interface { Say(Text Message) (Text Message) }
";

/// The public half of the private key `[secret; 32]`.
fn public_of(secret: u8) -> [u8; 32] {
    ethos_crypto::SecretKey::from_bytes([secret; 32])
        .public_key()
        .0
}

fn user(secret: u8, groups: &[&str]) -> UserRecord {
    UserRecord {
        public_key: public_of(secret),
        groups: groups.iter().map(|group| group.to_string()).collect(),
    }
}

fn labelled(program: &str, label: &str) -> LabelRecord {
    LabelRecord {
        path: EntryPath::Program(program).path(),
        label: String::from(label),
    }
}

fn grant(
    label: &str,
    principal: PrincipalRecord,
    program: ProgramMatchRecord,
    rights: &[&str],
) -> GrantRecord {
    GrantRecord {
        label: String::from(label),
        principal,
        program,
        rights: rights.iter().map(|right| right.to_string()).collect(),
        host: HostMatchRecord::Local,
    }
}

fn process(user: &str, program: &str) -> InitProcessRecord {
    InitProcessRecord {
        user: String::from(user),
        program: String::from(program),
    }
}

/// A small, valid image.
fn sample() -> ImageContents<'static> {
    ImageContents {
        users: vec![
            (String::from("alice"), user(1, &["staff"])),
            (String::from("bob"), user(2, &[])),
        ],
        programs: vec![(String::from("hello"), HELLO), (String::from("echo"), ECHO)],
        type_files: vec![(String::from("boot.etn"), TYPES.as_bytes())],
        labels: LabelsRecord {
            labels: vec![labelled("hello", "programs"), labelled("echo", "programs")],
        },
        policy: PolicyRecord {
            grants: vec![
                grant(
                    "echo",
                    PrincipalRecord::User(String::from("alice")),
                    ProgramMatchRecord::Program(String::from("echo")),
                    &["advertise", "import"],
                ),
                grant(
                    "echo",
                    PrincipalRecord::Group(String::from("staff")),
                    ProgramMatchRecord::Any,
                    &["ipc"],
                ),
            ],
        },
        services: ServicesRecord {
            services: vec![ServiceRecord {
                name: String::from("echo"),
                type_name: String::from("Echo"),
                label: String::from("echo"),
                maximum_value: 4096,
            }],
        },
        init_sets: vec![
            (
                String::from("default"),
                InitSetRecord {
                    processes: vec![process("alice", "echo"), process("bob", "hello")],
                },
            ),
            (String::from("empty"), InitSetRecord::default()),
        ],
        devices: DevicesRecord {
            backends: vec![
                chosen("network", "rump"),
                chosen("datagram", "rump"),
                chosen("block", "native"),
            ],
        },
        limits: Some(LimitsRecord {
            kernel_memory_per_process: 1 << 20,
            rump_kernel_memory: 48 << 20,
        }),
        storage: Some(StorageRecord {
            backend: String::from("native"),
        }),
        host: Some(HostRecord {
            name: String::from("alpha"),
            address: [10, 0, 2, 15],
            port: 4433,
            private_key: [40; 32],
        }),
        hosts: Some(HostsRecord {
            hosts: vec![known_host("beta", 16, 41), known_host("gamma", 17, 42)],
        }),
        user_keys: vec![(
            String::from("alice"),
            UserKeyRecord {
                private_key: [1; 32],
            },
        )],
    }
}

fn known_host(name: &str, last: u8, secret: u8) -> KnownHostRecord {
    KnownHostRecord {
        name: String::from(name),
        address: [10, 0, 2, last],
        port: 4433,
        public_key: public_of(secret),
    }
}

fn chosen(class: &str, backend: &str) -> DeviceBackendRecord {
    DeviceBackendRecord {
        class: String::from(class),
        backend: String::from(backend),
    }
}

fn written(contents: &ImageContents<'_>) -> Vec<u8> {
    write(contents).expect("the sample is writable")
}

#[test]
fn an_image_reads_back_as_written() {
    let bytes = written(&sample());
    let image = read(&bytes).unwrap();
    assert_eq!(
        image.counts,
        Counts {
            users: 2,
            programs: 2,
            type_files: 1,
            services: 1,
            grants: 2,
            init_sets: 2,
            host: 1,
            known_hosts: 2,
            user_keys: 1,
        }
    );
    let configuration = &image.configuration;
    let alice = &configuration.users[0];
    assert_eq!(alice.name.as_str(), "alice");
    assert_eq!(alice.public_key, PublicKey(public_of(1)));
    assert!(alice.is_member_of(&GroupName::new("staff").unwrap()));
    let echo = ProgramName::new("echo").unwrap();
    assert_eq!(image.executables[&echo], ECHO);
    let program = configuration
        .programs
        .iter()
        .find(|program| program.name == echo)
        .unwrap();
    assert_eq!(program.identity, ProgramId::of_executable(ECHO));
    assert_eq!(program.label.as_str(), "programs");

    let schema = etn::parse("boot.etn", TYPES).unwrap();
    let echo_type = schema.graph.find_by_name("Echo").unwrap();
    let service = &configuration.services[0];
    assert_eq!(service.name.as_str(), "echo");
    assert_eq!(&service.type_hash, schema.graph.hash(echo_type).unwrap());

    let label = Label::new("echo").unwrap();
    let bob = configuration
        .users
        .iter()
        .find(|user| user.name.as_str() == "bob")
        .unwrap();
    let echo_id = ProgramId::of_executable(ECHO);
    let hello_id = ProgramId::of_executable(HELLO);
    let policy = &configuration.policy;
    assert_eq!(
        policy.rights(&label, alice, &echo_id),
        LabelRights::ADVERTISE | LabelRights::IMPORT | LabelRights::IPC
    );
    assert_eq!(policy.rights(&label, alice, &hello_id), LabelRights::IPC);
    assert_eq!(policy.rights(&label, bob, &echo_id), LabelRights::NONE);

    let default = &image.init_sets["default"];
    assert_eq!(default.len(), 2);
    assert_eq!(default[0].0.as_str(), "alice");
    assert_eq!(default[0].1, echo);
    assert!(image.init_sets["empty"].is_empty());

    let mut backends = ethos_abi::drivers::BackendChoice::NATIVE;
    backends.choose(DeviceClass::Network, Backend::Rump);
    backends.choose(DeviceClass::Datagram, Backend::Rump);
    assert_eq!(image.backends, backends);
    assert_eq!(read_backend_choice(&bytes).unwrap(), backends);
    assert_eq!(image.storage, Some(Backend::Native));
    // The entry alone, as a kernel's build copies it out of the image.
    let archive = tar_no_std::TarArchiveRef::new(&bytes).unwrap();
    let devices = archive
        .entries()
        .find(|entry| entry.filename().as_str() == Ok("devices"))
        .unwrap();
    assert_eq!(devices_backend_choice(devices.data()).unwrap(), backends);
    let truncated = &devices.data()[..devices.data().len() - 1];
    assert!(devices_backend_choice(truncated).is_err());

    let mut model = ProcessModel::new(image.configuration).unwrap();
    for (user, program) in default {
        model.create_process(user, program).unwrap();
    }
}

#[test]
fn writing_is_reproducible() {
    assert_eq!(written(&sample()), written(&sample()));
}

#[test]
fn an_image_without_types_or_users_is_valid() {
    let bytes = written(&ImageContents::default());
    let image = read(&bytes).unwrap();
    assert_eq!(image.counts, Counts::default());
    assert!(image.configuration.types.nodes().is_empty());
    // No class named: every class is served natively.
    assert_eq!(image.backends, ethos_abi::drivers::BackendChoice::NATIVE);
    // No store: the file system's calls are not supported.
    assert_eq!(image.storage, None);
}

#[test]
fn the_layout_round_trips() {
    for path in [
        "storage",
        "programs/hello",
        "types/boot.etn",
        "users/alice",
        "init/default",
        "labels",
        "policy",
        "services",
        "devices",
        "limits",
        "host",
        "hosts",
        "keys/alice",
    ] {
        assert_eq!(EntryPath::parse(path).unwrap().path(), path);
    }
    for path in [
        "programs/",
        "programs",
        "programs/a/b",
        "types/boot",
        "types/.etn",
        "users//x",
        "keys/",
        "keys/a/b",
        "init",
        "policy/x",
        "/policy",
    ] {
        assert_eq!(EntryPath::parse(path), None, "{path}");
    }
}

#[test]
fn records_are_values_of_their_etn_types() {
    let schema = etn::parse("records", RECORD_TYPES).unwrap();
    let check = |type_name: &str, value: &dyn erased::Encode| {
        let node = schema.graph.find_by_name(type_name).unwrap();
        let hash = schema.graph.hash(node).unwrap();
        let bytes = value.encode();
        ethos_typesys::validate(&schema.graph, hash, &bytes)
            .unwrap_or_else(|error| panic!("{type_name}: {error:?}"));
    };
    let contents = sample();
    check("User", &contents.users[0].1);
    check("Policy", &contents.policy);
    check("Labels", &contents.labels);
    check("Services", &contents.services);
    check("InitSet", &contents.init_sets[0].1);
    check("Devices", &contents.devices);
    check("Limits", &contents.limits.unwrap());
    check("Host", contents.host.as_ref().unwrap());
    check("Hosts", contents.hosts.as_ref().unwrap());
    check("UserKey", &contents.user_keys[0].1);
}

#[test]
fn the_host_its_directory_and_its_user_keys_read_back() {
    let bytes = written(&sample());
    let hosts = read(&bytes).unwrap().hosts;
    let this = hosts.this_host.as_ref().unwrap();
    assert_eq!(this.name.as_str(), "alpha");
    assert_eq!(this.address.to_string(), "10.0.2.15:4433");
    assert_eq!(this.public_key().0, public_of(40));
    let names: Vec<&str> = hosts
        .directory
        .hosts()
        .map(|host| host.name.as_str())
        .collect();
    assert_eq!(names, ["beta", "gamma"]);
    use crate::hosts::Directory;
    let beta = hosts.directory.host("beta").unwrap();
    assert_eq!(beta.address.to_string(), "10.0.2.16:4433");
    assert_eq!(beta.public_key.0, public_of(41));
    let alice = crate::process_model::identity::UserName::new("alice").unwrap();
    assert_eq!(
        hosts.user_keys.key(&alice).unwrap().public_key().0,
        public_of(1)
    );
    assert_eq!(hosts.user_keys.len(), 1);
    // Without `host`, `hosts` and `keys/`, the machine is no host.
    let bare = ImageContents {
        host: None,
        hosts: None,
        user_keys: Vec::new(),
        ..sample()
    };
    let hosts = read(&written(&bare)).unwrap().hosts;
    assert!(hosts.this_host.is_none() && hosts.directory.is_empty() && hosts.user_keys.is_empty());
}

#[test]
fn wrong_host_facts_and_keys_are_refused() {
    let refused = |change: fn(&mut ImageContents<'static>)| {
        let mut contents = sample();
        change(&mut contents);
        read(&written(&contents)).unwrap_err().to_string()
    };
    assert_eq!(
        refused(|contents| contents.host.as_mut().unwrap().address = [0; 4]),
        "entry `host`: host `alpha`: 0.0.0.0 cannot receive datagrams (unspecified, broadcast \
         or multicast)"
    );
    assert_eq!(
        refused(|contents| contents.host.as_mut().unwrap().port = 0),
        "entry `host`: host `alpha`: port 0 cannot receive datagrams"
    );
    assert_eq!(
        refused(|contents| contents.hosts.as_mut().unwrap().hosts[1].name = String::from("beta")),
        "entry `hosts`: host `beta` is listed twice"
    );
    assert_eq!(
        refused(|contents| contents.hosts.as_mut().unwrap().hosts[1].public_key = public_of(41)),
        "entry `hosts`: host `gamma` has the key of a host listed before it: a key is one host"
    );
    assert_eq!(
        refused(|contents| contents.hosts.as_mut().unwrap().hosts[0].public_key = [0; 32]),
        "entry `hosts`: host `beta`: the public key is a point of small order: no private key \
         goes with it"
    );
    assert_eq!(
        refused(|contents| contents.hosts.as_mut().unwrap().hosts[0].name = String::from("alpha")),
        "entry `hosts`: host `alpha` is this host (by name or key): the directory lists the others"
    );
    assert_eq!(
        refused(|contents| contents.hosts.as_mut().unwrap().hosts[0].public_key = public_of(40)),
        "entry `hosts`: host `beta` is this host (by name or key): the directory lists the others"
    );
    assert_eq!(
        refused(|contents| contents.user_keys[0].1.private_key = [2; 32]),
        "entry `keys/alice` holds a private key whose public half is not user `alice`'s public key"
    );
    assert_eq!(
        refused(|contents| contents.user_keys[0].0 = String::from("carol")),
        "entry `keys/carol` names user `carol`, who has no `users/` entry"
    );
    assert_eq!(
        refused(|contents| contents.host.as_mut().unwrap().name = String::from("a/b")),
        "entry `host`: host name \"a/b\": name holds '/' or a control character"
    );
}

#[test]
fn the_kernel_memory_limit_is_the_images_or_the_default() {
    let image_bytes = written(&sample());
    assert_eq!(
        read(&image_bytes)
            .unwrap()
            .configuration
            .kernel_memory_per_process,
        1 << 20
    );
    let default = written(&ImageContents::default());
    assert_eq!(
        read(&default)
            .unwrap()
            .configuration
            .kernel_memory_per_process,
        ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY
    );
    let mut tiny = sample();
    tiny.limits = Some(LimitsRecord {
        kernel_memory_per_process: 100,
        ..LimitsRecord::default()
    });
    let error = read(&written(&tiny)).unwrap_err();
    assert!(
        matches!(error, ImageError::KernelMemoryLimit(100)),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("the least is 16384 bytes"),
        "{error}"
    );
}

#[test]
fn the_rump_memory_limit_is_read_alone_at_boot() {
    assert_eq!(
        read_rump_memory_limit(&written(&sample())).unwrap(),
        48 << 20
    );
    assert_eq!(
        read_rump_memory_limit(&written(&ImageContents::default())).unwrap(),
        ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY
    );
    let mut small = sample();
    small.limits = Some(LimitsRecord {
        rump_kernel_memory: 1 << 20,
        ..LimitsRecord::default()
    });
    let bytes = written(&small);
    assert!(matches!(
        read_rump_memory_limit(&bytes),
        Err(ImageError::RumpMemoryLimit(1048576))
    ));
    assert!(matches!(
        read(&bytes),
        Err(ImageError::RumpMemoryLimit(1048576))
    ));
}

/// Encoding through a trait object, for the table above.
mod erased {
    use alloc::vec::Vec;

    pub(super) trait Encode {
        fn encode(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            ethos_typesys::wire::encode(self).unwrap()
        }
    }
}

/// The offsets of the sample's header blocks.
fn header_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().raw_header_position() as usize)
        .collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read(&bytes);
    }

    #[test]
    fn damaged_images_never_panic(
        changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
        fix_checksums in any::<bool>(),
    ) {
        let mut bytes = written(&sample());
        for (position, value) in changes {
            let position = position % bytes.len();
            bytes[position] = value;
        }
        if fix_checksums {
            for offset in header_offsets(&written(&sample())) {
                rechecksum(&mut bytes, offset);
            }
        }
        let _ = read(&bytes);
    }
}

#[test]
fn a_service_maximum_value_must_be_within_the_abis() {
    let bytes = written(&sample());
    let image = read(&bytes).unwrap();
    assert_eq!(image.configuration.services[0].maximum_value, 4096);
    for bytes in [0, ethos_abi::arguments::MAXIMUM_VALUE_SIZE + 1] {
        let mut contents = sample();
        contents.services.services[0].maximum_value = bytes;
        let error = read(&written(&contents)).unwrap_err();
        assert!(
            matches!(&error, ImageError::ServiceMaximumValue { service, bytes: b } if service == "echo" && *b == bytes),
            "{error:?}"
        );
    }
}
