//! The cryptographic primitives under every key and box: X25519 and XSalsa20-Poly1305.
//!
//! `keys` builds everything else from these five functions; builds for fuzzing put the
//! cheap stand-ins of `stand_in` in their place, so this is the one seam between the
//! protocol and the real primitives. This module must never keep a secret it was given.

use curve25519_dalek::{EdwardsPoint, MontgomeryPoint};
use xsalsa20poly1305::aead::AeadInPlace;
use xsalsa20poly1305::{KeyInit, Tag, XSalsa20Poly1305};
use zeroize::Zeroize;

use crate::keys::{BoxOpenFailed, KEY_LENGTH, NONCE_LENGTH, PublicKeyBytes, TAG_LENGTH};

/// X25519 of a secret scalar and a peer's public u-coordinate, or `None` when the result
/// is all zeros (the peer's key has small order).
///
/// A u-coordinate on the curve (every honest key) is mapped to its Edwards point and
/// multiplied there, which uses the vector backend on CPUs that have one and is about
/// twice as fast as the Montgomery ladder; the u-coordinate of the product is the X25519
/// result because the map commutes with scalar multiplication and the clamped scalar is
/// used unreduced. Points on the twist take the ladder of `x25519_dalek`.
pub(crate) fn x25519(secret: &[u8; KEY_LENGTH], peer: &PublicKeyBytes) -> Option<[u8; KEY_LENGTH]> {
    let peer_point = MontgomeryPoint(peer.0);
    let mut shared = match peer_point.to_edwards(0) {
        Some(point) => point.mul_clamped(*secret).to_montgomery().0,
        None => x25519_dalek::x25519(*secret, peer.0),
    };
    let zero = shared.iter().fold(0u8, |any, byte| any | byte) == 0;
    if zero {
        shared.zeroize();
        return None;
    }
    Some(shared)
}

/// The public key of a secret scalar: the fixed base, with precomputed tables.
pub(crate) fn public_of(secret: &[u8; KEY_LENGTH]) -> PublicKeyBytes {
    PublicKeyBytes(EdwardsPoint::mul_base_clamped(*secret).to_montgomery().0)
}

/// Encrypts `buffer` in place and returns the Poly1305 tag.
pub(crate) fn seal(
    key: &[u8; KEY_LENGTH],
    nonce: &[u8; NONCE_LENGTH],
    buffer: &mut [u8],
) -> [u8; TAG_LENGTH] {
    let cipher = XSalsa20Poly1305::new(key.into());
    match cipher.encrypt_in_place_detached(nonce.into(), b"", buffer) {
        Ok(tag) => tag.into(),
        // Encryption fails only for messages longer than the cipher's 256 GiB limit,
        // which no caller can build from a datagram; an all-zero tag cannot verify.
        Err(_) => [0u8; TAG_LENGTH],
    }
}

/// Decrypts `buffer` in place if `tag` authenticates it; leaves it unchanged otherwise.
pub(crate) fn open(
    key: &[u8; KEY_LENGTH],
    nonce: &[u8; NONCE_LENGTH],
    buffer: &mut [u8],
    tag: &[u8; TAG_LENGTH],
) -> Result<(), BoxOpenFailed> {
    let cipher = XSalsa20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(nonce.into(), b"", buffer, Tag::from_slice(tag))
        .map_err(|_| BoxOpenFailed)
}

/// XSalsa20 keystream as a pseudorandom function of (`key`, `label`).
///
/// The box's first keystream block is the Poly1305 key; the 32 bytes that follow are what
/// encrypting 32 zero bytes yields, and they are the output.
pub(crate) fn pseudorandom(key: &[u8; KEY_LENGTH], label: &[u8; NONCE_LENGTH]) -> [u8; KEY_LENGTH] {
    let cipher = XSalsa20Poly1305::new(key.into());
    let mut output = [0u8; KEY_LENGTH];
    // As in `seal`: cannot fail for 32 bytes.
    let _tag = cipher.encrypt_in_place_detached(label.into(), b"", &mut output);
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};
    use x25519_dalek::StaticSecret;

    #[test]
    fn fast_agreement_matches_the_reference_ladder() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for _ in 0..64 {
            let mut secret = [0u8; KEY_LENGTH];
            let mut peer = [0u8; KEY_LENGTH];
            rng.fill_bytes(&mut secret);
            rng.fill_bytes(&mut peer);
            // Random u-coordinates land on the curve or on its twist about equally.
            peer[31] &= 0x7f;
            let expected = x25519_dalek::x25519(secret, peer);
            assert_eq!(x25519(&secret, &PublicKeyBytes(peer)), Some(expected));
            let reference = x25519_dalek::PublicKey::from(&StaticSecret::from(secret)).to_bytes();
            assert_eq!(public_of(&secret).0, reference);
        }
    }
}
