//! Sets of hosts that know each other (`cargo xtask hosts`): one initial image and
//! one kernel per host, made from the workspace's description. Each image holds its
//! host's identity (name, address, port and long-term private key), the static
//! directory of the other hosts (their names, addresses, ports and public keys), and
//! the private keys of the users who work on that host; every image gives those
//! users the same public keys, so each host knows them.
//!
//! Host `N` of a set (from 1) is guest `N` of a QEMU socket network: its NIC's MAC is
//! [`ethos_abi::drivers::PEER_MAC_PREFIX`] followed by `N`, which gives it the address
//! `10.0.7.N` the image names. Keys are made once from the host's random source and
//! kept under `target/hosts/keys/` (readable by their owner only), so rebuilding a set
//! keeps every identity; deleting a key file makes a new identity.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::FileContext;
use crate::initial_image::LoadedDescription;
use crate::kernel::{self, Flavour};
use crate::{XtaskError, target_directory};

/// The UDP port a set's kernels receive MinimaLT's datagrams on, unless told.
pub const DEFAULT_PORT: u16 = 7100;

/// Most hosts in a set: the socket network numbers guests 1 to 254.
pub const MAXIMUM_HOSTS: usize = 254;

/// What a set is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSetPlan {
    /// The hosts' names, in order: host `N` is the `N`-th (from 1).
    pub hosts: Vec<String>,
    /// Which users work on which host: (user, host).
    pub users: Vec<(String, String)>,
    /// The UDP port of every host.
    pub port: u16,
}

/// One host of a built set.
#[derive(Clone, Debug)]
pub struct BuiltHost {
    /// Its name.
    pub name: String,
    /// Its number on the socket network (from 1).
    pub number: u8,
    /// Its description, as written under `target/hosts/NAME/`.
    pub description: PathBuf,
    /// Its kernel.
    pub kernel: PathBuf,
    /// Its public key, in hexadecimal.
    pub public_key: String,
}

impl HostSetPlan {
    /// Checks the plan: at least two hosts, names unique and valid, each user placed
    /// once on a host of the set.
    pub fn check(&self) -> Result<(), XtaskError> {
        let bad = |problem: String| XtaskError::Usage(format!("hosts: {problem}"));
        if self.hosts.len() < 2 || self.hosts.len() > MAXIMUM_HOSTS {
            return Err(bad(format!(
                "a set has 2 to {MAXIMUM_HOSTS} hosts; {} given",
                self.hosts.len()
            )));
        }
        let mut names = BTreeSet::new();
        for host in &self.hosts {
            ethos_core::process_model::identity::check_name(host)
                .map_err(|error| bad(format!("host name {host:?}: {error}")))?;
            if !names.insert(host.as_str()) {
                return Err(bad(format!("host `{host}` is named twice")));
            }
        }
        let mut placed = BTreeSet::new();
        for (user, host) in &self.users {
            if !names.contains(host.as_str()) {
                return Err(bad(format!(
                    "user `{user}` is placed on `{host}`, which is not a host of the set"
                )));
            }
            if !placed.insert(user.as_str()) {
                return Err(bad(format!("user `{user}` is placed twice")));
            }
        }
        if self.port == 0 {
            return Err(bad(String::from("port 0 cannot receive datagrams")));
        }
        Ok(())
    }
}

/// `USER@HOST`, as `--user` takes it.
pub fn parse_placement(text: &str) -> Result<(String, String), String> {
    match text.split_once('@') {
        Some((user, host)) if !user.is_empty() && !host.is_empty() => {
            Ok((user.to_string(), host.to_string()))
        }
        _ => Err(format!("{text:?} is not USER@HOST")),
    }
}

/// Where a set's files go.
pub fn set_directory() -> PathBuf {
    target_directory().join("hosts")
}

/// The host pair the host-pair test rows and `cargo xtask bench net` boot: `cargo
/// xtask hosts alpha beta --user alice@alpha --user carol@alpha --user bob@beta`.
/// Carol works on alpha so that beta's kernel, which knows her key but grants her
/// nothing, is the one to refuse her.
pub fn host_pair_plan() -> HostSetPlan {
    HostSetPlan {
        hosts: vec!["alpha".into(), "beta".into()],
        users: vec![
            ("alice".into(), "alpha".into()),
            ("carol".into(), "alpha".into()),
            ("bob".into(), "beta".into()),
        ],
        port: DEFAULT_PORT,
    }
}

/// The self-test kernels of a pair of hosts (`plan` names two), made from the
/// workspace description: the first host's and the second's.
pub fn make_pair(plan: &HostSetPlan) -> Result<[PathBuf; 2], XtaskError> {
    let base = LoadedDescription::load_default()?;
    match make(plan, &base, Flavour::Selftest)?.as_slice() {
        [first, second] => Ok([first.kernel.clone(), second.kernel.clone()]),
        hosts => Err(XtaskError::Usage(format!(
            "hosts: a pair has two hosts, not {}",
            hosts.len()
        ))),
    }
}

/// Makes every host's description and kernel.
pub fn make(
    plan: &HostSetPlan,
    base: &LoadedDescription,
    flavour: Flavour,
) -> Result<Vec<BuiltHost>, XtaskError> {
    plan.check()?;
    let base_users: BTreeSet<String> = base
        .description
        .user
        .iter()
        .map(|user| user.get_ref().name.clone())
        .collect();
    for (user, _) in &plan.users {
        if !base_users.contains(user) {
            return Err(XtaskError::Usage(format!(
                "hosts: user `{user}` is not a [[user]] of {}",
                base.path.display()
            )));
        }
    }
    let keys = set_directory().join("keys");
    let host_keys: Vec<Key> = plan
        .hosts
        .iter()
        .map(|host| Key::load_or_make(&keys.join(format!("host-{host}.key"))))
        .collect::<Result<_, _>>()?;
    let user_keys: Vec<Key> = plan
        .users
        .iter()
        .map(|(user, _)| Key::load_or_make(&keys.join(format!("user-{user}.key"))))
        .collect::<Result<_, _>>()?;
    let base_table: toml::Table = base.text.parse().map_err(|error| XtaskError::Description {
        path: base.path.clone(),
        location: None,
        problem: format!("{error}"),
    })?;
    let mut built = Vec::new();
    for (index, host) in plan.hosts.iter().enumerate() {
        let number = u8::try_from(index + 1).unwrap_or(u8::MAX);
        let table = host_description(
            &base_table,
            &base.directory(),
            plan,
            index,
            &host_keys,
            &user_keys,
        );
        let directory = set_directory().join(host);
        std::fs::create_dir_all(&directory).at(&directory)?;
        let path = directory.join("image.toml");
        let text = format!(
            "# Host `{host}` of a set made by `cargo xtask hosts` from {}; rebuilt each time.\n\n{}",
            base.path.display(),
            toml::to_string(&table).map_err(|error| XtaskError::Usage(format!(
                "hosts: the description of `{host}` cannot be written: {error}"
            )))?
        );
        std::fs::write(&path, text).at(&path)?;
        let description = LoadedDescription::load(&path)?;
        let kernel = kernel::build_for(flavour, &description, &directory)?;
        built.push(BuiltHost {
            name: host.clone(),
            number,
            description: path,
            kernel,
            public_key: hexadecimal(&host_keys[index].public),
        });
    }
    Ok(built)
}

/// The description of host `index`: the base with its paths made absolute, the
/// set's users' public keys, this host's `[host]` table, the others as
/// `[[known_host]]`, and key files for the users who work here.
fn host_description(
    base: &toml::Table,
    base_directory: &Path,
    plan: &HostSetPlan,
    index: usize,
    host_keys: &[Key],
    user_keys: &[Key],
) -> toml::Table {
    use toml::Value;
    let mut table = base.clone();
    let host = &plan.hosts[index];
    let address = |index: usize| {
        let [a, b, c, d] =
            ethos_abi::drivers::peer_address(u8::try_from(index + 1).unwrap_or(u8::MAX));
        Value::String(format!("{a}.{b}.{c}.{d}"))
    };
    if let Some(Value::Array(types)) = table.get_mut("types") {
        for entry in types.iter_mut().filter_map(Value::as_table_mut) {
            if let Some(Value::String(file)) = entry.get_mut("file") {
                *file = base_directory.join(&*file).display().to_string();
            }
        }
    }
    if let Some(Value::Array(users)) = table.get_mut("user") {
        for entry in users.iter_mut().filter_map(Value::as_table_mut) {
            let Some(name) = entry
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            let Some(position) = plan.users.iter().position(|(user, _)| *user == name) else {
                continue;
            };
            let key = &user_keys[position];
            entry.insert(
                String::from("public_key"),
                Value::String(hexadecimal(&key.public)),
            );
            if plan.users[position].1 == *host {
                entry.insert(
                    String::from("private_key_file"),
                    Value::String(key.path.display().to_string()),
                );
            }
        }
    }
    let mut this = toml::Table::new();
    this.insert(String::from("name"), Value::String(host.clone()));
    this.insert(String::from("address"), address(index));
    this.insert(String::from("port"), Value::Integer(i64::from(plan.port)));
    this.insert(
        String::from("private_key_file"),
        Value::String(host_keys[index].path.display().to_string()),
    );
    table.insert(String::from("host"), Value::Table(this));
    let known: Vec<Value> = plan
        .hosts
        .iter()
        .enumerate()
        .filter(|(other, _)| *other != index)
        .map(|(other, name)| {
            let mut entry = toml::Table::new();
            entry.insert(String::from("name"), Value::String(name.clone()));
            entry.insert(String::from("address"), address(other));
            entry.insert(String::from("port"), Value::Integer(i64::from(plan.port)));
            entry.insert(
                String::from("public_key"),
                Value::String(hexadecimal(&host_keys[other].public)),
            );
            Value::Table(entry)
        })
        .collect();
    table.insert(String::from("known_host"), Value::Array(known));
    table
}

/// A key file and the public half of the key it holds.
struct Key {
    path: PathBuf,
    public: [u8; 32],
}

impl Key {
    /// The key in `path`, made there first if the file does not exist.
    fn load_or_make(path: &Path) -> Result<Key, XtaskError> {
        if !path.exists() {
            let mut secret = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut random| random.read_exact(&mut secret))
                .map_err(|error| {
                    XtaskError::Prerequisite(format!(
                        "hosts: no random source to make a key with (/dev/urandom: {error})"
                    ))
                })?;
            write_private(path, &format!("{}\n", hexadecimal(&secret)))?;
        }
        let secret = crate::initial_image::read_private_key(path)
            .map_err(|problem| XtaskError::Usage(format!("hosts: {problem}")))?;
        Ok(Key {
            path: path.to_path_buf(),
            public: x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES),
        })
    }
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) -> Result<(), XtaskError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory).at(directory)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .at(path)
}

fn hexadecimal(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(hosts: &[&str], users: &[(&str, &str)]) -> HostSetPlan {
        HostSetPlan {
            hosts: hosts.iter().map(|host| host.to_string()).collect(),
            users: users
                .iter()
                .map(|(user, host)| (user.to_string(), host.to_string()))
                .collect(),
            port: DEFAULT_PORT,
        }
    }

    #[test]
    fn plans_are_checked() {
        let refused = |plan: HostSetPlan| plan.check().unwrap_err().to_string();
        assert!(
            plan(&["alpha", "beta"], &[("alice", "alpha")])
                .check()
                .is_ok()
        );
        assert!(refused(plan(&["alpha"], &[])).contains("a set has 2 to 254 hosts; 1 given"));
        assert!(refused(plan(&["alpha", "alpha"], &[])).contains("host `alpha` is named twice"));
        assert!(refused(plan(&["alpha", "a/b"], &[])).contains("host name \"a/b\""));
        assert!(
            refused(plan(&["alpha", "beta"], &[("alice", "gamma")]))
                .contains("user `alice` is placed on `gamma`, which is not a host of the set")
        );
        assert!(
            refused(plan(
                &["alpha", "beta"],
                &[("alice", "alpha"), ("alice", "beta")]
            ))
            .contains("user `alice` is placed twice")
        );
        assert_eq!(
            parse_placement("alice@alpha"),
            Ok((String::from("alice"), String::from("alpha")))
        );
        assert!(parse_placement("alice").is_err() && parse_placement("@alpha").is_err());
    }

    /// Each host's description is the base with its identity, the others as its
    /// directory, the set's user keys, and key files only for the users who work
    /// there; each one packs into an image the kernel's reader accepts.
    #[test]
    fn each_host_knows_the_others_and_holds_only_its_users_keys() {
        let base = LoadedDescription::load_default().unwrap();
        let base_table: toml::Table = base.text.parse().unwrap();
        let directory = std::env::temp_dir().join(format!("ethos-host-set-{}", std::process::id()));
        let keys: Vec<Key> = ["alpha", "beta", "alice", "bob"]
            .iter()
            .map(|name| Key::load_or_make(&directory.join(format!("{name}.key"))).unwrap())
            .collect();
        let (host_keys, user_keys) = keys.split_at(2);
        let plan = plan(&["alpha", "beta"], &[("alice", "alpha"), ("bob", "beta")]);
        for (index, host) in plan.hosts.iter().enumerate() {
            let table = host_description(
                &base_table,
                &base.directory(),
                &plan,
                index,
                host_keys,
                user_keys,
            );
            let path = directory.join(format!("{host}.toml"));
            std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
            let description = LoadedDescription::load(&path).unwrap();
            let bytes = description.pack_with_stand_ins().unwrap();
            let image = ethos_core::initial_image::read(&bytes).unwrap();
            let this = image.hosts.this_host.as_ref().unwrap();
            assert_eq!(this.name.as_str(), host);
            assert_eq!(this.public_key().0, host_keys[index].public);
            let number = index as u8 + 1;
            assert_eq!(this.address.ip, ethos_abi::drivers::peer_address(number));
            assert_eq!(this.address.port, DEFAULT_PORT);
            let known: Vec<(&str, [u8; 32])> = image
                .hosts
                .directory
                .hosts()
                .map(|known| (known.name.as_str(), known.public_key.0))
                .collect();
            let other = 1 - index;
            assert_eq!(
                known,
                [(plan.hosts[other].as_str(), host_keys[other].public)]
            );
            let holders: Vec<&str> = image
                .hosts
                .user_keys
                .users()
                .map(|user| user.as_str())
                .collect();
            assert_eq!(holders, [plan.users[index].0.as_str()]);
            for (position, (user, _)) in plan.users.iter().enumerate() {
                let record = image
                    .configuration
                    .users
                    .iter()
                    .find(|known| known.name.as_str() == user)
                    .unwrap();
                assert_eq!(record.public_key.0, user_keys[position].public);
            }
        }
        // A key file is made once and kept.
        let again = Key::load_or_make(&directory.join("alpha.key")).unwrap();
        assert_eq!(again.public, host_keys[0].public);
        let mode = std::fs::metadata(directory.join("alpha.key"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
