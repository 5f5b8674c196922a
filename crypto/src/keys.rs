//! Keys of MinimaLT and the few primitives built from them.
//!
//! A host has a long-term key; it accepts new tunnels under an ephemeral incoming key that
//! is rotated by policy; a client makes a fresh ephemeral key for each tunnel and drops it
//! (zeroized) as soon as the shared tunnel key exists. Users are X25519 public keys. Every
//! derived secret (tunnel keys, user keys) is zeroized when dropped.
//!
//! This module must never expose a private key's bytes except through an explicit
//! `to_bytes` that the caller asked for, and never keep a Diffie-Hellman output longer than
//! the derivation that consumes it.

use core::fmt;

use rand_core::CryptoRngCore;
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[cfg(not(fuzzing))]
use crate::primitives::{self as primitive, public_of, x25519};
#[cfg(fuzzing)]
use crate::stand_in::{self as primitive, public_of, x25519};

/// Length of a public key, a secret key and a derived symmetric key.
pub const KEY_LENGTH: usize = 32;
/// Length of a Poly1305 authenticator tag.
pub(crate) const TAG_LENGTH: usize = 16;
/// Length of an XSalsa20 nonce.
pub(crate) const NONCE_LENGTH: usize = 24;

/// An X25519 public key: of a host, of an ephemeral key, or of a user.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKeyBytes(pub [u8; KEY_LENGTH]);

impl fmt::Debug for PublicKeyBytes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey(")?;
        for byte in &self.0[..6] {
            write!(formatter, "{byte:02x}")?;
        }
        write!(formatter, "…)")
    }
}

/// A long-lived X25519 secret key: a host's permanent key, or a user's key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    secret: StaticSecret,
    #[zeroize(skip)]
    public: PublicKeyBytes,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Makes a new random key.
    pub fn generate(rng: &mut dyn CryptoRngCore) -> Self {
        let mut bytes = [0u8; KEY_LENGTH];
        rng.fill_bytes(&mut bytes);
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// Rebuilds a key from its 32 secret bytes (X25519 clamps them).
    pub fn from_bytes(bytes: [u8; KEY_LENGTH]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = public_of(secret.as_bytes());
        Self { secret, public }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKeyBytes {
        self.public
    }

    /// The secret bytes, for the signatures made in this crate.
    pub(crate) fn secret_bytes(&self) -> &[u8; KEY_LENGTH] {
        self.secret.as_bytes()
    }

    /// Derives a symmetric key shared with `peer` for the purpose named by `label`.
    /// Fails if the peer's key is of small order (the shared secret would be predictable).
    pub(crate) fn derive_shared(
        &self,
        peer: &PublicKeyBytes,
        label: &Label,
    ) -> Result<SymmetricKey, WeakPeerKey> {
        let mut shared = x25519(self.secret.as_bytes(), peer).ok_or(WeakPeerKey)?;
        let key = SymmetricKey::from_secret(&shared, label);
        shared.zeroize();
        Ok(key)
    }
}

/// The peer's public key is of small order: no secret can be agreed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeakPeerKey;

/// A client's ephemeral key for one outgoing tunnel. Consumed by
/// [`OutgoingEphemeral::agree`] and zeroized on drop, so the private half never outlives
/// the key exchange.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct OutgoingEphemeral {
    secret: [u8; KEY_LENGTH],
    #[zeroize(skip)]
    public: PublicKeyBytes,
}

impl OutgoingEphemeral {
    pub(crate) fn generate(rng: &mut dyn CryptoRngCore) -> Self {
        let mut secret = [0u8; KEY_LENGTH];
        rng.fill_bytes(&mut secret);
        let public = public_of(&secret);
        Self { secret, public }
    }

    pub(crate) fn public_key(&self) -> PublicKeyBytes {
        self.public
    }

    /// Agrees the tunnel key with the server's ephemeral incoming key and erases the
    /// ephemeral secret.
    pub(crate) fn agree(self, server: &PublicKeyBytes) -> Result<SymmetricKey, WeakPeerKey> {
        let mut shared = x25519(&self.secret, server).ok_or(WeakPeerKey)?;
        let key = SymmetricKey::from_secret(&shared, &Label::TUNNEL_KEY);
        shared.zeroize();
        // `self`, and with it the ephemeral secret, is zeroized when it drops here.
        Ok(key)
    }
}

/// A 24-byte domain-separation label used as the XSalsa20 nonce of a derivation.
#[derive(Clone, Copy)]
pub(crate) struct Label(pub(crate) [u8; NONCE_LENGTH]);

impl Label {
    pub(crate) const TUNNEL_KEY: Label = Label::fixed(b"minimalt tunnel key");
    pub(crate) const TUNNEL_BINDING: Label = Label::fixed(b"minimalt tunnel binding");
    pub(crate) const USER_AUTHENTICATOR: Label = Label::fixed(b"minimalt user auth");
    pub(crate) const DIRECTORY_RECORD: Label = Label::fixed(b"minimalt directory");
    pub(crate) const PUZZLE_HASH: Label = Label::fixed(b"minimalt puzzle hash");

    /// A label from a short constant, zero-padded.
    pub(crate) const fn fixed(text: &[u8]) -> Label {
        let mut bytes = [0u8; NONCE_LENGTH];
        let mut index = 0;
        while index < text.len() && index < NONCE_LENGTH {
            bytes[index] = text[index];
            index += 1;
        }
        Label(bytes)
    }

    /// A label made of a 12-byte prefix and up to 12 bytes of context.
    pub(crate) fn with_context(prefix: &[u8; 12], context: &[u8]) -> Label {
        let mut bytes = [0u8; NONCE_LENGTH];
        bytes[..12].copy_from_slice(prefix);
        let length = context.len().min(12);
        bytes[12..12 + length].copy_from_slice(&context[..length]);
        Label(bytes)
    }
}

/// A 32-byte symmetric key for XSalsa20-Poly1305 boxes and for derivations.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(any(test, fuzzing), derive(PartialEq, Eq))]
#[cfg_attr(fuzzing, derive(Hash))]
pub(crate) struct SymmetricKey([u8; KEY_LENGTH]);

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SymmetricKey(…)")
    }
}

/// The box did not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxOpenFailed;

impl SymmetricKey {
    pub(crate) fn from_bytes(bytes: [u8; KEY_LENGTH]) -> Self {
        Self(bytes)
    }

    /// Hashes a Diffie-Hellman output (or any secret) into a key for one purpose.
    pub(crate) fn from_secret(secret: &[u8; KEY_LENGTH], label: &Label) -> Self {
        Self(pseudorandom(secret, label))
    }

    /// A new key for another purpose; `self` stays usable.
    pub(crate) fn derive(&self, label: &Label) -> SymmetricKey {
        SymmetricKey(pseudorandom(&self.0, label))
    }

    /// Pseudorandom bytes keyed by this key.
    pub(crate) fn pseudorandom(&self, label: &Label) -> [u8; KEY_LENGTH] {
        pseudorandom(&self.0, label)
    }

    /// Encrypts `buffer` in place and returns the Poly1305 tag.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LENGTH], buffer: &mut [u8]) -> [u8; TAG_LENGTH] {
        primitive::seal(&self.0, nonce, buffer)
    }

    /// Decrypts `buffer` in place if `tag` authenticates it; leaves it unchanged otherwise.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LENGTH],
        buffer: &mut [u8],
        tag: &[u8; TAG_LENGTH],
    ) -> Result<(), BoxOpenFailed> {
        primitive::open(&self.0, nonce, buffer, tag)
    }
}

fn pseudorandom(key: &[u8; KEY_LENGTH], label: &Label) -> [u8; KEY_LENGTH] {
    primitive::pseudorandom(key, &label.0)
}

/// Proof that the holder of a user's private key opened a connection on one tunnel.
///
/// It is a box from the user's key to the server host's key, under a nonce made from the
/// tunnel's binding, of the user's public key: only the user and the server host can make
/// it, and it verifies on no other tunnel.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub struct Authenticator(pub [u8; AUTHENTICATOR_LENGTH]);

/// Length of an [`Authenticator`]: a tag and the boxed 32-byte user key.
pub const AUTHENTICATOR_LENGTH: usize = TAG_LENGTH + KEY_LENGTH;

impl fmt::Debug for Authenticator {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Authenticator(…)")
    }
}

impl Authenticator {
    /// Made by the client for `user` on the tunnel with `binding`, to `server_host`.
    pub(crate) fn create(
        user: &SecretKey,
        server_host: &PublicKeyBytes,
        binding: &[u8; KEY_LENGTH],
    ) -> Result<Self, WeakPeerKey> {
        let key = user.derive_shared(server_host, &Label::USER_AUTHENTICATOR)?;
        let mut body = user.public_key().0;
        let tag = key.seal(&binding_nonce(binding), &mut body);
        let mut bytes = [0u8; AUTHENTICATOR_LENGTH];
        bytes[..TAG_LENGTH].copy_from_slice(&tag);
        bytes[TAG_LENGTH..].copy_from_slice(&body);
        Ok(Self(bytes))
    }

    /// Checked by the server host for the claimed `user` on the tunnel with `binding`.
    pub(crate) fn verify(
        &self,
        server_host: &SecretKey,
        user: &PublicKeyBytes,
        binding: &[u8; KEY_LENGTH],
    ) -> bool {
        let Ok(key) = server_host.derive_shared(user, &Label::USER_AUTHENTICATOR) else {
            return false;
        };
        let mut tag = [0u8; TAG_LENGTH];
        tag.copy_from_slice(&self.0[..TAG_LENGTH]);
        let mut body = [0u8; KEY_LENGTH];
        body.copy_from_slice(&self.0[TAG_LENGTH..]);
        key.open(&binding_nonce(binding), &mut body, &tag).is_ok() && body == user.0
    }
}

fn binding_nonce(binding: &[u8; KEY_LENGTH]) -> [u8; NONCE_LENGTH] {
    let mut nonce = [0u8; NONCE_LENGTH];
    nonce.copy_from_slice(&binding[..NONCE_LENGTH]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn both_sides_derive_the_same_key_and_boxes_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let server = SecretKey::generate(&mut rng);
        let client = OutgoingEphemeral::generate(&mut rng);
        let client_public = client.public_key();
        let client_key = client.agree(&server.public_key()).expect("contributory");
        let server_key = server
            .derive_shared(&client_public, &Label::TUNNEL_KEY)
            .expect("contributory");
        assert_eq!(client_key, server_key);
        let nonce = [7u8; NONCE_LENGTH];
        let mut message = *b"hello, tunnel";
        let tag = client_key.seal(&nonce, &mut message);
        assert_ne!(&message, b"hello, tunnel");
        server_key
            .open(&nonce, &mut message, &tag)
            .expect("authentic");
        assert_eq!(&message, b"hello, tunnel");
    }

    #[test]
    fn small_order_peer_key_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let server = SecretKey::generate(&mut rng);
        let zero = PublicKeyBytes([0u8; KEY_LENGTH]);
        assert_eq!(
            server.derive_shared(&zero, &Label::TUNNEL_KEY),
            Err(WeakPeerKey)
        );
    }

    #[test]
    fn authenticator_binds_user_server_and_tunnel() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let user = SecretKey::generate(&mut rng);
        let other_user = SecretKey::generate(&mut rng);
        let server = SecretKey::generate(&mut rng);
        let binding = [1u8; KEY_LENGTH];
        let other_binding = [2u8; KEY_LENGTH];
        let authenticator =
            Authenticator::create(&user, &server.public_key(), &binding).expect("contributory");
        assert!(authenticator.verify(&server, &user.public_key(), &binding));
        assert!(!authenticator.verify(&server, &user.public_key(), &other_binding));
        assert!(!authenticator.verify(&server, &other_user.public_key(), &binding));
    }
}
