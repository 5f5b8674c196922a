//! Hosts: this machine's identity on the network, the directory of the other hosts it
//! knows, and the private keys of the users it holds.
//!
//! A host is its long-term X25519 public key. [`ThisHost`] keeps the private half,
//! read from the initial image at boot and never handed to a program, with the name,
//! IPv4 address and UDP port other hosts reach it at. [`StaticDirectory`] lists the
//! other hosts the image names, with the same four facts each. [`UserKeys`] holds the
//! private keys of the users who work on this host: the kernel proves them to other
//! hosts, and no program ever sees the keys.
//!
//! # What the static directory lacks against Ethos's directory service
//!
//! Ethos asks a directory service, over an authenticated tunnel, for a host's current
//! record (address, long-term key and the ephemeral key it accepts new tunnels under),
//! so hosts can join, move and rotate keys without anyone rebuilding an image. The
//! static directory is fixed when the image is built: a host that is not in it cannot
//! be reached, a host that moves is lost, a key that is replaced is not learned, and
//! nothing revokes one. The ephemeral keys it does not hold at all: they change while
//! a host runs, so the kernel must ask the host itself. [`Directory`] is the seam: the
//! kernel looks hosts up through it, and a directory service is another implementation.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ethos_crypto::{PublicKeyBytes, SecretKey};

use crate::process_model::identity::{NameError, PublicKey, UserName, check_name};

/// A host's name, as the image's directory gives it: the text programs pass to `ipc`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    /// The name, if `text` is a valid one (the rules of every name in Ethos).
    pub fn new(text: &str) -> Result<HostName, NameError> {
        check_name(text)?;
        Ok(HostName(String::from(text)))
    }

    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Where a host receives MinimaLT's datagrams: an IPv4 address and a UDP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostAddress {
    /// The IPv4 address.
    pub ip: [u8; 4],
    /// The UDP port.
    pub port: u16,
}

impl HostAddress {
    /// The address, if it can receive datagrams: not the unspecified address, not a
    /// broadcast or multicast one, and not port 0.
    pub fn new(ip: [u8; 4], port: u16) -> Result<HostAddress, HostError> {
        if ip == [0; 4] || ip == [255; 4] || (224..=239).contains(&ip[0]) {
            return Err(HostError::Address(ip));
        }
        if port == 0 {
            return Err(HostError::Port);
        }
        Ok(HostAddress { ip, port })
    }
}

impl fmt::Display for HostAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(formatter, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// Why a host's facts are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// An address no datagram can be sent to.
    Address([u8; 4]),
    /// Port 0.
    Port,
    /// A public key of small order: every peer would agree the same secret with it,
    /// whatever its private key, so it proves nothing.
    WeakKey,
}

impl fmt::Display for HostError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Address([a, b, c, d]) => write!(
                formatter,
                "{a}.{b}.{c}.{d} cannot receive datagrams (unspecified, broadcast or multicast)"
            ),
            HostError::Port => formatter.write_str("port 0 cannot receive datagrams"),
            HostError::WeakKey => formatter
                .write_str("the public key is a point of small order: no private key goes with it"),
        }
    }
}

/// Whether a public key can take part in a key agreement: a point of small order
/// (the all-zero key among them) agrees the same secret with every private key.
pub fn is_strong_key(key: &[u8; 32]) -> bool {
    // A clamped scalar is a multiple of the cofactor, so it sends exactly the points
    // of small order to zero.
    x25519_dalek::x25519([0x42; 32], *key) != [0; 32]
}

/// This machine as a host: its name, where it is reached, and its long-term key.
pub struct ThisHost {
    /// Its name.
    pub name: HostName,
    /// Where other hosts send to it.
    pub address: HostAddress,
    /// Its long-term key; zeroized when dropped.
    key: SecretKey,
}

impl ThisHost {
    /// This host, with the 32 private bytes of its long-term key.
    pub fn new(name: HostName, address: HostAddress, private_key: [u8; 32]) -> ThisHost {
        ThisHost {
            name,
            address,
            key: SecretKey::from_bytes(private_key),
        }
    }

    /// Its public key: its identity.
    pub fn public_key(&self) -> PublicKeyBytes {
        self.key.public_key()
    }

    /// Its long-term key, for the kernel's MinimaLT endpoint (the only user).
    pub fn key(&self) -> &SecretKey {
        &self.key
    }
}

impl fmt::Debug for ThisHost {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ThisHost")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Another host, as a directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHost {
    /// Its name.
    pub name: HostName,
    /// Where it is reached.
    pub address: HostAddress,
    /// Its long-term public key: its identity.
    pub public_key: PublicKeyBytes,
}

/// Where the kernel looks other hosts up.
pub trait Directory {
    /// The host called `name`.
    fn host(&self, name: &str) -> Option<&KnownHost>;
    /// The host whose long-term key is `key`.
    fn host_with_key(&self, key: &PublicKeyBytes) -> Option<&KnownHost>;
    /// The host reached at `address` (IPv4 address and UDP port).
    fn host_at(&self, address: &HostAddress) -> Option<&KnownHost>;
}

/// The directory the initial image lists, fixed when the image was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticDirectory {
    hosts: BTreeMap<HostName, KnownHost>,
}

/// Why a directory's list is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    /// Two hosts of one name.
    DuplicateName(HostName),
    /// Two hosts of one key: a key is one host.
    DuplicateKey(HostName),
    /// One host's facts are wrong.
    Host(HostName, HostError),
}

impl StaticDirectory {
    /// The directory of `hosts`: names and keys each once, every key strong.
    pub fn new(hosts: Vec<KnownHost>) -> Result<StaticDirectory, DirectoryError> {
        let mut directory = StaticDirectory::default();
        let mut keys = BTreeMap::new();
        for host in hosts {
            if !is_strong_key(&host.public_key.0) {
                return Err(DirectoryError::Host(host.name, HostError::WeakKey));
            }
            if keys.insert(host.public_key, host.name.clone()).is_some() {
                return Err(DirectoryError::DuplicateKey(host.name));
            }
            if directory.hosts.contains_key(&host.name) {
                return Err(DirectoryError::DuplicateName(host.name));
            }
            directory.hosts.insert(host.name.clone(), host);
        }
        Ok(directory)
    }

    /// Every host, by name.
    pub fn hosts(&self) -> impl Iterator<Item = &KnownHost> {
        self.hosts.values()
    }

    /// How many hosts it lists.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

impl Directory for StaticDirectory {
    fn host(&self, name: &str) -> Option<&KnownHost> {
        self.hosts.get(&HostName(String::from(name)))
    }

    fn host_with_key(&self, key: &PublicKeyBytes) -> Option<&KnownHost> {
        self.hosts.values().find(|host| host.public_key == *key)
    }

    fn host_at(&self, address: &HostAddress) -> Option<&KnownHost> {
        self.hosts.values().find(|host| host.address == *address)
    }
}

/// The private keys of the users who work on this host, by user.
#[derive(Default)]
pub struct UserKeys {
    keys: BTreeMap<UserName, SecretKey>,
}

impl UserKeys {
    /// Holds `key` for `user`, if its public half is `public_key` (the user's
    /// identity); otherwise gives the key back (zeroized when dropped) and refuses.
    pub fn insert(&mut self, user: UserName, public_key: &PublicKey, key: SecretKey) -> bool {
        if key.public_key().0 != public_key.0 {
            return false;
        }
        self.keys.insert(user, key);
        true
    }

    /// The key of `user`, if this host holds it.
    pub fn key(&self, user: &UserName) -> Option<&SecretKey> {
        self.keys.get(user)
    }

    /// The users whose keys this host holds.
    pub fn users(&self) -> impl Iterator<Item = &UserName> {
        self.keys.keys()
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for UserKeys {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.keys.keys()).finish()
    }
}

/// What the image says about this machine on the network.
#[derive(Debug, Default)]
pub struct HostIdentity {
    /// This machine as a host; `None` when the image gives it no identity (it then
    /// reaches no other host and none reaches it).
    pub this_host: Option<ThisHost>,
    /// The other hosts it knows.
    pub directory: StaticDirectory,
    /// The users whose private keys it holds.
    pub user_keys: UserKeys,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, key: [u8; 32]) -> KnownHost {
        KnownHost {
            name: HostName::new(name).unwrap(),
            address: HostAddress::new([10, 0, 2, 16], 4433).unwrap(),
            public_key: PublicKeyBytes(key),
        }
    }

    fn public_of(secret: [u8; 32]) -> [u8; 32] {
        SecretKey::from_bytes(secret).public_key().0
    }

    #[test]
    fn addresses_that_cannot_receive_are_refused() {
        assert!(HostAddress::new([10, 0, 2, 15], 4433).is_ok());
        for ip in [[0; 4], [255; 4], [224, 0, 0, 1], [239, 1, 2, 3]] {
            assert_eq!(HostAddress::new(ip, 4433), Err(HostError::Address(ip)));
        }
        assert_eq!(HostAddress::new([10, 0, 2, 15], 0), Err(HostError::Port));
        assert_eq!(
            HostAddress::new([10, 0, 2, 15], 4433).unwrap().to_string(),
            "10.0.2.15:4433"
        );
    }

    #[test]
    fn a_directory_refuses_doubles_and_weak_keys() {
        let (a, b) = (public_of([1; 32]), public_of([2; 32]));
        let directory =
            StaticDirectory::new(alloc::vec![host("beta", a), host("gamma", b)]).unwrap();
        assert_eq!(directory.len(), 2);
        assert_eq!(directory.host("beta").unwrap().public_key.0, a);
        assert_eq!(
            directory
                .host_with_key(&PublicKeyBytes(b))
                .unwrap()
                .name
                .as_str(),
            "gamma"
        );
        assert!(directory.host("delta").is_none());
        assert_eq!(
            StaticDirectory::new(alloc::vec![host("beta", a), host("beta", b)]),
            Err(DirectoryError::DuplicateName(
                HostName::new("beta").unwrap()
            ))
        );
        assert_eq!(
            StaticDirectory::new(alloc::vec![host("beta", a), host("gamma", a)]),
            Err(DirectoryError::DuplicateKey(
                HostName::new("gamma").unwrap()
            ))
        );
        assert_eq!(
            StaticDirectory::new(alloc::vec![host("beta", [0; 32])]),
            Err(DirectoryError::Host(
                HostName::new("beta").unwrap(),
                HostError::WeakKey
            ))
        );
    }

    #[test]
    fn a_user_key_is_held_only_for_its_own_public_key() {
        let mut keys = UserKeys::default();
        let alice = UserName::new("alice").unwrap();
        let right = PublicKey(public_of([7; 32]));
        let wrong = PublicKey(public_of([8; 32]));
        assert!(!keys.insert(alice.clone(), &wrong, SecretKey::from_bytes([7; 32])));
        assert!(keys.is_empty());
        assert!(keys.insert(alice.clone(), &right, SecretKey::from_bytes([7; 32])));
        assert_eq!(keys.key(&alice).unwrap().public_key().0, right.0);
        // Debug output names users, never key bytes.
        assert_eq!(alloc::format!("{keys:?}"), "{UserName(\"alice\")}");
    }

    #[test]
    fn this_host_shows_no_private_key() {
        let this = ThisHost::new(
            HostName::new("alpha").unwrap(),
            HostAddress::new([10, 0, 2, 15], 4433).unwrap(),
            [9; 32],
        );
        assert_eq!(this.public_key().0, public_of([9; 32]));
        let shown = alloc::format!("{this:?}");
        assert!(shown.contains("alpha") && !shown.contains("09, 09"));
    }
}
