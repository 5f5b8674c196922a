//! XEdDSA signatures with X25519 keys (Signal's XEdDSA specification, revision 1).
//!
//! A user is an X25519 public key, so a user signs with the same key pair that proves
//! them on the network: the Montgomery private key becomes an Edwards scalar `a` whose
//! public point `A` has sign bit 0 (`calculate_key_pair`), and a signature is an
//! Ed25519-shaped `R || s` made with 64 random bytes `Z` mixed into the nonce. A
//! verifier rebuilds `A` from the Montgomery u-coordinate alone (`convert_mont`).
//!
//! Why it is written here: the `xeddsa` crate (1.1) is not `no_std`, and it pulls
//! `rand` 0.10 with its standard-library defaults, a second `sha2` and `ed25519-dalek`;
//! the kernel target has neither a standard library nor SSE. The scheme is two hashes
//! and three group operations on top of `curve25519-dalek`, which the kernel already
//! links.
//!
//! Verification is slightly stricter than the specification, never looser: `s` must
//! be reduced below the group order (the specification only asks `s < 2^253`; a
//! signer following it always produces a reduced `s`, and the stricter check leaves
//! no second encoding of a signature), and a public key of small order is refused
//! (every signature would verify under it).
//!
//! This module must never return or keep the Edwards scalar, the nonce or the hash
//! that makes it: they are zeroized before it returns.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use crate::keys::{KEY_LENGTH, PublicKeyBytes, SecretKey};

/// Length of a signature: `R` (32 bytes) then `s` (32 bytes).
pub const SIGNATURE_LENGTH: usize = 64;
/// Length of the random input `Z` every signature takes.
pub const SIGNATURE_RANDOM_LENGTH: usize = 64;

/// An XEdDSA signature, `R || s`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LENGTH]);

impl core::fmt::Debug for Signature {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "Signature(")?;
        for byte in &self.0[..6] {
            write!(formatter, "{byte:02x}")?;
        }
        write!(formatter, "…)")
    }
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not a canonical u-coordinate of a point of the curve of
    /// large order: nothing can be verified against it.
    UnusablePublicKey,
    /// The signature is malformed, or was not made over this message with this key.
    Invalid,
}

impl core::fmt::Display for SignatureError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            SignatureError::UnusablePublicKey => "the public key cannot verify signatures",
            SignatureError::Invalid => "the signature does not verify",
        })
    }
}

/// The specification's `hash_1` prefix: `2^256 - 2` as 32 little-endian bytes.
const HASH_1_PREFIX: [u8; 32] = {
    let mut prefix = [0xff; 32];
    prefix[0] = 0xfe;
    prefix
};

/// The Edwards private scalar `a` and public point `A` (sign bit 0) of an X25519
/// secret: `calculate_key_pair`.
fn calculate_key_pair(secret: &[u8; KEY_LENGTH]) -> (Scalar, CompressedEdwardsY) {
    let mut clamped = clamp_integer(*secret);
    let mut k = Scalar::from_bytes_mod_order(clamped);
    clamped.zeroize();
    let mut public = (ED25519_BASEPOINT_TABLE * &k).compress().to_bytes();
    let negative = public[31] & 0x80 != 0;
    let a = if negative { -k } else { k };
    k.zeroize();
    public[31] &= 0x7f;
    (a, CompressedEdwardsY(public))
}

/// `h = SHA-512(R || A || M) mod q`; `M` is the concatenation of `message`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[&[u8]]) -> Scalar {
    let mut hasher = Sha512::new();
    hasher.update(r);
    hasher.update(a);
    for part in message {
        hasher.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

impl SecretKey {
    /// Signs `message` with this key (`xeddsa_sign`); `random` is the specification's
    /// `Z`, 64 bytes from a secure random source, fresh for every signature.
    pub fn sign(&self, message: &[u8], random: &[u8; SIGNATURE_RANDOM_LENGTH]) -> Signature {
        self.sign_parts(&[message], random)
    }

    /// [`SecretKey::sign`] of the concatenation of `message`'s parts, which are never
    /// copied together: a kernel signs a context and a large value without a second
    /// copy of the value.
    pub fn sign_parts(
        &self,
        message: &[&[u8]],
        random: &[u8; SIGNATURE_RANDOM_LENGTH],
    ) -> Signature {
        let (mut a, public) = calculate_key_pair(self.secret_bytes());
        let mut hasher = Sha512::new();
        hasher.update(HASH_1_PREFIX);
        hasher.update(a.as_bytes());
        for part in message {
            hasher.update(part);
        }
        hasher.update(random);
        let mut wide: [u8; 64] = hasher.finalize().into();
        let mut r = Scalar::from_bytes_mod_order_wide(&wide);
        wide.zeroize();
        let big_r = (ED25519_BASEPOINT_TABLE * &r).compress().to_bytes();
        let h = challenge(&big_r, public.as_bytes(), message);
        let s = r + h * a;
        r.zeroize();
        a.zeroize();
        let mut signature = [0u8; SIGNATURE_LENGTH];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        Signature(signature)
    }
}

/// Whether `bytes` is a field element below `p = 2^255 - 19`, little-endian.
fn is_canonical_field_element(bytes: &[u8; 32]) -> bool {
    // The values from p to 2^256 - 1 are those with the top bit set, and those whose
    // top byte is 0x7f, whose middle bytes are all 0xff and whose low byte is 0xed
    // or more.
    if bytes[31] & 0x80 != 0 {
        return false;
    }
    let top = bytes[31] == 0x7f && bytes[1..31].iter().all(|byte| *byte == 0xff);
    !(top && bytes[0] >= 0xed)
}

impl PublicKeyBytes {
    /// Checks that `signature` was made over `message` with the secret of this key
    /// (`xeddsa_verify`). Public data only: nothing here needs constant time.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        self.verify_parts(&[message], signature)
    }

    /// [`PublicKeyBytes::verify`] of the concatenation of `message`'s parts.
    pub fn verify_parts(
        &self,
        message: &[&[u8]],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        if !is_canonical_field_element(&self.0) {
            return Err(SignatureError::UnusablePublicKey);
        }
        let public: EdwardsPoint = MontgomeryPoint(self.0)
            .to_edwards(0)
            .ok_or(SignatureError::UnusablePublicKey)?;
        if public.is_small_order() {
            return Err(SignatureError::UnusablePublicKey);
        }
        let mut big_r = [0u8; 32];
        big_r.copy_from_slice(&signature.0[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature.0[32..]);
        let s: Option<Scalar> = Scalar::from_canonical_bytes(s_bytes).into();
        let s = s.ok_or(SignatureError::Invalid)?;
        let h = challenge(&big_r, public.compress().as_bytes(), message);
        let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-public, &s);
        if check.compress().to_bytes() == big_r {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests;
