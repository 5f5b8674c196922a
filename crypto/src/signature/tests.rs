//! XEdDSA against the specification's properties, and against an independent Ed25519
//! verifier: an XEdDSA signature is an Ed25519 signature under the Edwards key that
//! `calculate_key_pair` gives, which must be the one `convert_mont` rebuilds from the
//! X25519 public key alone.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::*;

fn key(seed: u8) -> SecretKey {
    SecretKey::generate(&mut ChaCha20Rng::from_seed([seed; 32]))
}

fn random(seed: u8) -> [u8; SIGNATURE_RANDOM_LENGTH] {
    let mut bytes = [0u8; SIGNATURE_RANDOM_LENGTH];
    ChaCha20Rng::from_seed([seed ^ 0x5a; 32]).fill_bytes(&mut bytes);
    bytes
}

/// The Edwards public key a verifier rebuilds from the X25519 public key.
fn converted(public: &PublicKeyBytes) -> [u8; 32] {
    MontgomeryPoint(public.0)
        .to_edwards(0)
        .expect("an honest key is on the curve")
        .compress()
        .to_bytes()
}

#[test]
fn a_signature_verifies_under_its_key() {
    let signer = key(1);
    let signature = signer.sign(b"a value", &random(1));
    assert_eq!(signer.public_key().verify(b"a value", &signature), Ok(()));
}

#[test]
fn another_key_refuses_the_signature() {
    let signature = key(1).sign(b"a value", &random(1));
    assert_eq!(
        key(2).public_key().verify(b"a value", &signature),
        Err(SignatureError::Invalid)
    );
}

#[test]
fn a_tampered_message_is_refused() {
    let signer = key(3);
    let signature = signer.sign(b"pay 10", &random(3));
    for other in [&b"pay 11"[..], b"pay 10 ", b"", b"pay 1"] {
        assert_eq!(
            signer.public_key().verify(other, &signature),
            Err(SignatureError::Invalid)
        );
    }
}

#[test]
fn every_flipped_bit_of_a_signature_is_refused() {
    let signer = key(4);
    let signature = signer.sign(b"value", &random(4));
    for byte in 0..SIGNATURE_LENGTH {
        for bit in 0..8 {
            let mut tampered = signature;
            tampered.0[byte] ^= 1 << bit;
            assert!(
                signer.public_key().verify(b"value", &tampered).is_err(),
                "byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn the_random_input_makes_each_signature_new_and_each_verifies() {
    let signer = key(5);
    let first = signer.sign(b"value", &random(1));
    let second = signer.sign(b"value", &random(2));
    assert_ne!(first, second);
    assert_eq!(signer.public_key().verify(b"value", &first), Ok(()));
    assert_eq!(signer.public_key().verify(b"value", &second), Ok(()));
    // The same inputs make the same signature: nothing else is random.
    assert_eq!(first, signer.sign(b"value", &random(1)));
}

#[test]
fn both_signs_of_the_edwards_key_are_met_and_both_verify() {
    // `calculate_key_pair` negates the scalar of about half of all keys; both
    // branches must give the Edwards key a verifier rebuilds.
    let mut negated = 0;
    for seed in 0..32 {
        let signer = key(seed);
        let mut clamped = clamp_integer(*signer.secret_bytes());
        let point = ED25519_BASEPOINT_TABLE * &Scalar::from_bytes_mod_order(clamped);
        clamped.zeroize();
        if point.compress().to_bytes()[31] & 0x80 != 0 {
            negated += 1;
        }
        let (_, public) = calculate_key_pair(signer.secret_bytes());
        assert_eq!(public.to_bytes(), converted(&signer.public_key()));
        let signature = signer.sign(&[seed], &random(seed));
        assert_eq!(signer.public_key().verify(&[seed], &signature), Ok(()));
    }
    assert!(0 < negated && negated < 32, "{negated} of 32 negated");
}

#[test]
fn the_converted_key_matches_the_xeddsa_crate_vector() {
    // The private key and Edwards public key (sign bit 0) of the `xeddsa` crate's
    // `test_calculate_key_pair`; this implementation computes the same point.
    let private = [
        0xf8, 0xce, 0xd4, 0x2b, 0x07, 0xe7, 0x81, 0x0a, 0x04, 0xcc, 0x85, 0x4b, 0x03, 0x57, 0x6d,
        0xf1, 0xe4, 0xc0, 0xfe, 0xb1, 0x6d, 0x68, 0x5e, 0x0a, 0xc0, 0x42, 0x5e, 0x1c, 0x3c, 0x5e,
        0xb2, 0x47,
    ];
    let edwards = [
        0xd7, 0x6d, 0x40, 0x33, 0x2e, 0xd1, 0x13, 0x88, 0xca, 0xa6, 0x9b, 0x50, 0x67, 0x6d, 0x63,
        0x08, 0x25, 0xcd, 0xda, 0xd0, 0x32, 0x46, 0xed, 0xd6, 0x1e, 0xd3, 0xca, 0x72, 0xe6, 0xcb,
        0x2c, 0x2e,
    ];
    let signer = SecretKey::from_bytes(private);
    assert_eq!(calculate_key_pair(&private).1.to_bytes(), edwards);
    assert_eq!(converted(&signer.public_key()), edwards);
}

#[test]
fn an_independent_ed25519_verifier_accepts_the_signatures() {
    for seed in 0..16 {
        let signer = key(seed);
        let message = [seed; 40];
        let signature = signer.sign(&message, &random(seed));
        let verifier = ed25519_dalek::VerifyingKey::from_bytes(&converted(&signer.public_key()))
            .expect("a valid Edwards key");
        let ed25519 = ed25519_dalek::Signature::from_bytes(&signature.0);
        assert!(verifier.verify_strict(&message, &ed25519).is_ok());
        assert!(verifier.verify_strict(b"other", &ed25519).is_err());
    }
}

#[test]
fn an_unreduced_s_is_refused() {
    // s + q is the same scalar, but a second encoding: the signature is refused.
    let signer = key(6);
    let signature = signer.sign(b"value", &random(6));
    let mut s = [0u8; 32];
    s.copy_from_slice(&signature.0[32..]);
    let mut widened = [0u8; 32];
    let mut carry = 0u16;
    for index in 0..32 {
        let sum = u16::from(s[index]) + u16::from(ORDER[index]) + carry;
        widened[index] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(
        Scalar::from_bytes_mod_order(widened),
        Scalar::from_bytes_mod_order(s)
    );
    let mut tampered = signature;
    tampered.0[32..].copy_from_slice(&widened);
    assert_eq!(
        signer.public_key().verify(b"value", &tampered),
        Err(SignatureError::Invalid)
    );
}

#[test]
fn unusable_public_keys_are_refused() {
    let signature = key(7).sign(b"value", &random(7));
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut top_bit = key(7).public_key().0;
    top_bit[31] |= 0x80;
    // 0 and 1 are points of small order (the identity and a point of order 4 on the
    // Edwards side); p and a set top bit are not canonical.
    for public in [[0; 32], one(), p, top_bit] {
        assert_eq!(
            PublicKeyBytes(public).verify(b"value", &signature),
            Err(SignatureError::UnusablePublicKey),
            "{public:02x?}"
        );
    }
}

/// The group order q = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn one() -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[0] = 1;
    bytes
}

#[test]
fn canonical_field_elements_end_below_p() {
    let mut below = [0xff; 32];
    below[0] = 0xec;
    below[31] = 0x7f;
    assert!(is_canonical_field_element(&below));
    below[0] = 0xed;
    assert!(!is_canonical_field_element(&below));
    assert!(is_canonical_field_element(&[0; 32]));
}

#[test]
fn parts_sign_as_their_concatenation() {
    let signer = key(8);
    let signature = signer.sign_parts(&[b"con", b"", b"text", b"value"], &random(8));
    assert_eq!(
        signer.public_key().verify(b"contextvalue", &signature),
        Ok(())
    );
    assert_eq!(signature, signer.sign(b"contextvalue", &random(8)));
    assert_eq!(
        signer
            .public_key()
            .verify_parts(&[b"context", b"value"], &signature),
        Ok(())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn signatures_verify_and_bind_key_and_message(
        secret in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        random in prop::array::uniform32(any::<u8>()),
        message in prop::collection::vec(any::<u8>(), 0..200),
        flip in any::<usize>(),
    ) {
        let signer = SecretKey::from_bytes(secret);
        let mut z = [0u8; SIGNATURE_RANDOM_LENGTH];
        z[..32].copy_from_slice(&random);
        z[32..].copy_from_slice(&random);
        let signature = signer.sign(&message, &z);
        prop_assert_eq!(signer.public_key().verify(&message, &signature), Ok(()));

        let stranger = SecretKey::from_bytes(other);
        if stranger.public_key() != signer.public_key() {
            prop_assert!(stranger.public_key().verify(&message, &signature).is_err());
        }
        let mut changed = message.clone();
        changed.push(0);
        prop_assert!(signer.public_key().verify(&changed, &signature).is_err());
        let mut tampered = signature;
        tampered.0[flip % SIGNATURE_LENGTH] ^= 1 << (flip % 8);
        prop_assert!(signer.public_key().verify(&message, &tampered).is_err());
    }
}
