//! The cryptographic primitives under every key and box: X25519 and XSalsa20-Poly1305.
//!
//! `keys` builds everything else from these five functions; builds for fuzzing put the
//! cheap stand-ins of `stand_in` in their place, so this is the one seam between the
//! protocol and the real primitives. This module must never keep a secret it was given.

use curve25519_dalek::{EdwardsPoint, MontgomeryPoint};
use salsa20::XSalsaCore;
use salsa20::cipher::consts::U10;
use salsa20::cipher::{Block, KeyIvInit, StreamCipherCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::keys::{BoxOpenFailed, KEY_LENGTH, NONCE_LENGTH, PublicKeyBytes, TAG_LENGTH};
use crate::mac;

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
    let mut stream = Keystream::new(key, nonce);
    stream.apply(buffer);
    stream.tag(buffer)
}

/// Decrypts `buffer` in place if `tag` authenticates it; leaves it unchanged otherwise.
pub(crate) fn open(
    key: &[u8; KEY_LENGTH],
    nonce: &[u8; NONCE_LENGTH],
    buffer: &mut [u8],
    tag: &[u8; TAG_LENGTH],
) -> Result<(), BoxOpenFailed> {
    let mut stream = Keystream::new(key, nonce);
    let expected = stream.tag(buffer);
    if !bool::from(expected.ct_eq(tag)) {
        return Err(BoxOpenFailed);
    }
    stream.apply(buffer);
    Ok(())
}

/// XSalsa20 keystream as a pseudorandom function of (`key`, `label`).
///
/// The box's first keystream block is the Poly1305 key; the 32 bytes that follow are what
/// encrypting 32 zero bytes yields, and they are the output.
pub(crate) fn pseudorandom(key: &[u8; KEY_LENGTH], label: &[u8; NONCE_LENGTH]) -> [u8; KEY_LENGTH] {
    let mut output = [0u8; KEY_LENGTH];
    Keystream::new(key, label).apply(&mut output);
    output
}

/// Bytes of keystream block 0 after the Poly1305 key (its first [`KEY_LENGTH`]):
/// they encrypt the start of the message.
const HEAD_LENGTH: usize = 32;

/// The XSalsa20 keystream of one box: NaCl's `crypto_secretbox`, as the
/// `xsalsa20poly1305` crate builds it from the `salsa20` and `poly1305` crates.
///
/// Composed here rather than taken from that crate for speed on a target without
/// vector registers (the kernel's). There its keystream goes through `cipher`'s XOR,
/// byte by byte, 15 instructions per 4 bytes — about a fifth of the whole box; here it
/// is XORed eight bytes at a time. Its Poly1305 is the `poly1305` crate's 26-bit-limb
/// code; here it is `mac`'s 64-bit one. The tests check seal, open and the
/// pseudorandom function against `xsalsa20poly1305` byte for byte.
struct Keystream {
    core: XSalsaCore<U10>,
    /// The first half of keystream block 0: the Poly1305 key.
    mac_key: [u8; KEY_LENGTH],
    /// Its second half: the keystream of the message's first bytes.
    head: [u8; HEAD_LENGTH],
}

impl Keystream {
    fn new(key: &[u8; KEY_LENGTH], nonce: &[u8; NONCE_LENGTH]) -> Keystream {
        let mut core = XSalsaCore::<U10>::new(key.into(), nonce.into());
        let mut first = Block::<XSalsaCore<U10>>::default();
        core.write_keystream_block(&mut first);
        let (mac_key, head) = first.split_at(KEY_LENGTH);
        let mut stream = Keystream {
            core,
            mac_key: [0; KEY_LENGTH],
            head: [0; HEAD_LENGTH],
        };
        stream.mac_key.copy_from_slice(mac_key);
        stream.head.copy_from_slice(head);
        first.zeroize();
        stream
    }

    /// The box's Poly1305 tag of `ciphertext`, keyed by the first half of keystream
    /// block 0.
    fn tag(&self, ciphertext: &[u8]) -> [u8; TAG_LENGTH] {
        mac::poly1305(&self.mac_key, ciphertext)
    }

    /// XORs the keystream after the MAC key into `buffer`.
    fn apply(&mut self, buffer: &mut [u8]) {
        let head = buffer.len().min(HEAD_LENGTH);
        let (start, rest) = buffer.split_at_mut(head);
        xor_into(start, &self.head[..head]);
        let mut block = Block::<XSalsaCore<U10>>::default();
        for chunk in rest.chunks_mut(block.len()) {
            self.core.write_keystream_block(&mut block);
            xor_into(chunk, &block[..chunk.len()]);
        }
        block.zeroize();
    }
}

impl Drop for Keystream {
    fn drop(&mut self) {
        // The core erases its own key state when dropped.
        self.mac_key.zeroize();
        self.head.zeroize();
    }
}

/// `data[i] ^= keystream[i]`, eight bytes at a time; the two have the same length.
fn xor_into(data: &mut [u8], keystream: &[u8]) {
    const WORD: usize = core::mem::size_of::<u64>();
    let mut data_words = data.chunks_exact_mut(WORD);
    let mut key_words = keystream.chunks_exact(WORD);
    for (word, key) in (&mut data_words).zip(&mut key_words) {
        let mut bytes = [0u8; WORD];
        bytes.copy_from_slice(word);
        let mut key_bytes = [0u8; WORD];
        key_bytes.copy_from_slice(key);
        let mixed = u64::from_ne_bytes(bytes) ^ u64::from_ne_bytes(key_bytes);
        word.copy_from_slice(&mixed.to_ne_bytes());
    }
    for (byte, key) in data_words
        .into_remainder()
        .iter_mut()
        .zip(key_words.remainder())
    {
        *byte ^= key;
    }
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

    use alloc::vec::Vec;
    use proptest::prelude::*;
    use xsalsa20poly1305::aead::AeadInPlace;
    use xsalsa20poly1305::{KeyInit, Tag, XSalsa20Poly1305};

    /// The reference box: the `xsalsa20poly1305` crate.
    fn reference_seal(
        key: &[u8; KEY_LENGTH],
        nonce: &[u8; NONCE_LENGTH],
        message: &[u8],
    ) -> (Vec<u8>, [u8; TAG_LENGTH]) {
        let mut sealed = message.to_vec();
        let tag = XSalsa20Poly1305::new(key.into())
            .encrypt_in_place_detached(nonce.into(), b"", &mut sealed)
            .expect("a short message seals");
        (sealed, tag.into())
    }

    proptest! {
        #[test]
        fn the_box_is_the_reference_box(
            key in any::<[u8; KEY_LENGTH]>(),
            nonce in any::<[u8; NONCE_LENGTH]>(),
            message in proptest::collection::vec(any::<u8>(), 0..400),
            flip in any::<prop::sample::Index>(),
        ) {
            let (expected, expected_tag) = reference_seal(&key, &nonce, &message);
            let mut sealed = message.clone();
            let tag = seal(&key, &nonce, &mut sealed);
            prop_assert_eq!(&sealed, &expected);
            prop_assert_eq!(tag, expected_tag);

            let mut opened = sealed.clone();
            prop_assert!(open(&key, &nonce, &mut opened, &tag).is_ok());
            prop_assert_eq!(&opened, &message);
            let mut reference = sealed.clone();
            prop_assert!(XSalsa20Poly1305::new((&key).into())
                .decrypt_in_place_detached((&nonce).into(), b"", &mut reference, Tag::from_slice(&tag))
                .is_ok());
            prop_assert_eq!(&reference, &message);

            // A changed tag or byte is refused and the buffer stays as it came.
            let mut bad_tag = tag;
            bad_tag[flip.index(TAG_LENGTH)] ^= 1;
            let mut untouched = sealed.clone();
            prop_assert_eq!(open(&key, &nonce, &mut untouched, &bad_tag), Err(BoxOpenFailed));
            prop_assert_eq!(&untouched, &sealed);
            if !sealed.is_empty() {
                let mut tampered = sealed.clone();
                tampered[flip.index(sealed.len())] ^= 0x80;
                let before = tampered.clone();
                prop_assert_eq!(open(&key, &nonce, &mut tampered, &tag), Err(BoxOpenFailed));
                prop_assert_eq!(tampered, before);
            }
        }

        #[test]
        fn the_pseudorandom_function_is_the_reference_keystream(
            key in any::<[u8; KEY_LENGTH]>(),
            label in any::<[u8; NONCE_LENGTH]>(),
        ) {
            let (expected, _) = reference_seal(&key, &label, &[0u8; KEY_LENGTH]);
            prop_assert_eq!(pseudorandom(&key, &label).to_vec(), expected);
        }
    }

    #[test]
    fn every_length_around_the_block_edges_seals_as_the_reference() {
        let key = [7u8; KEY_LENGTH];
        let nonce = [9u8; NONCE_LENGTH];
        for length in 0..=200 {
            let message: Vec<u8> = (0..length).map(|i| (i * 31 % 251) as u8).collect();
            let (expected, expected_tag) = reference_seal(&key, &nonce, &message);
            let mut sealed = message.clone();
            assert_eq!(
                seal(&key, &nonce, &mut sealed),
                expected_tag,
                "length {length}"
            );
            assert_eq!(sealed, expected, "length {length}");
        }
    }
}
