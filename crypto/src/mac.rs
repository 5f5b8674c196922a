//! Poly1305 (RFC 8439 §2.5) with three 44/44/42-bit limbs and 128-bit products: the
//! box's authenticator.
//!
//! Written here because no `no_std` crate has this form: the `poly1305` crate's
//! portable backend (0.8 and 0.9) works in five 26-bit limbs, 153 instructions per
//! 16-byte block on the kernel's target, which has no vector registers — nearly a
//! third of all the work of a box. Three limbs take 91. The arithmetic is
//! the well-known 64-bit form of Poly1305; the tests check it against the `poly1305`
//! crate on every length from 0 to 200 bytes and on random keys and messages, and
//! against RFC 8439's vector. No branch or index depends on the key or the message.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::{KEY_LENGTH, TAG_LENGTH};

/// Bytes per Poly1305 block.
const BLOCK: usize = 16;
const LOW_44: u64 = (1 << 44) - 1;
const LOW_42: u64 = (1 << 42) - 1;
/// 2^128 in the top limb (which starts at bit 88): every full block's high bit.
const HIGH_BIT: u64 = 1 << 40;

/// The key's clamped `r` and its pad `s`, and the running sum `h`, in limbs.
#[derive(Zeroize, ZeroizeOnDrop)]
struct State {
    r: [u64; 3],
    /// `r1` and `r2` times 20: a product at 2^132 or above folds down as 5 × 4.
    scaled: [u64; 2],
    pad: [u64; 2],
    h: [u64; 3],
}

fn le64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(array)
}

fn product(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

impl State {
    fn new(key: &[u8; KEY_LENGTH]) -> State {
        let (t0, t1) = (le64(&key[0..8]), le64(&key[8..16]));
        // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, split 44/44/40.
        let r = [
            t0 & 0xffc_0fff_ffff,
            ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
            (t1 >> 24) & 0x00f_ffff_fc0f,
        ];
        State {
            scaled: [r[1] * 20, r[2] * 20],
            r,
            pad: [le64(&key[16..24]), le64(&key[24..32])],
            h: [0; 3],
        }
    }

    /// h = (h + block) × r, partly reduced modulo 2^130 - 5, for a `block` of
    /// [`BLOCK`] bytes. `high` is the bit above the block's 128: set for a full
    /// block, clear for the padded last one.
    fn block(&mut self, block: &[u8], high: u64) {
        let (t0, t1) = (le64(&block[0..8]), le64(&block[8..16]));
        let [h0, h1, h2] = &mut self.h;
        *h0 += t0 & LOW_44;
        *h1 += ((t0 >> 44) | (t1 << 20)) & LOW_44;
        *h2 += ((t1 >> 24) & LOW_42) | high;
        let [r0, r1, r2] = self.r;
        let [s1, s2] = self.scaled;
        let d0 = product(*h0, r0) + product(*h1, s2) + product(*h2, s1);
        let mut d1 = product(*h0, r1) + product(*h1, r0) + product(*h2, s2);
        let mut d2 = product(*h0, r2) + product(*h1, r1) + product(*h2, r0);
        *h0 = (d0 as u64) & LOW_44;
        d1 += d0 >> 44;
        *h1 = (d1 as u64) & LOW_44;
        d2 += d1 >> 44;
        *h2 = (d2 as u64) & LOW_42;
        *h0 += ((d2 >> 42) as u64) * 5;
        *h1 += *h0 >> 44;
        *h0 &= LOW_44;
    }

    /// The tag: h fully reduced, plus the pad, modulo 2^128. The state is erased as
    /// it drops.
    fn finish(self) -> [u8; TAG_LENGTH] {
        let [mut h0, mut h1, mut h2] = self.h;
        // Carry through twice: h < 2^130 afterwards, and each limb within its width.
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= LOW_44;
            h0 += (h2 >> 42) * 5;
            h2 &= LOW_42;
            h1 += h0 >> 44;
            h0 &= LOW_44;
        }
        // g = h + 5 - 2^130; take it when it does not go below zero (h ≥ p).
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= LOW_44;
        let mut g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= LOW_44;
        let take_g = (g2 >> 63).wrapping_sub(1);
        g0 &= take_g;
        g1 &= take_g;
        g2 &= take_g;
        h0 = (h0 & !take_g) | g0;
        h1 = (h1 & !take_g) | g1;
        h2 = (h2 & !take_g) | g2;
        // h += s, modulo 2^128.
        let [s0, s1] = self.pad;
        h0 += s0 & LOW_44;
        h1 += (((s0 >> 44) | (s1 << 20)) & LOW_44) + (h0 >> 44);
        h0 &= LOW_44;
        h2 += ((s1 >> 24) & LOW_42) + (h1 >> 44);
        h1 &= LOW_44;
        let low = h0 | (h1 << 44);
        let high = (h1 >> 20) | (h2 << 24);
        let mut tag = [0u8; TAG_LENGTH];
        tag[..8].copy_from_slice(&low.to_le_bytes());
        tag[8..].copy_from_slice(&high.to_le_bytes());
        tag
    }
}

/// The Poly1305 tag of `message` under the one-time `key` (r then s).
pub(crate) fn poly1305(key: &[u8; KEY_LENGTH], message: &[u8]) -> [u8; TAG_LENGTH] {
    let mut state = State::new(key);
    let mut blocks = message.chunks_exact(BLOCK);
    for block in &mut blocks {
        state.block(block, HIGH_BIT);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; BLOCK];
        last[..rest.len()].copy_from_slice(rest);
        last[rest.len()] = 1;
        state.block(&last, 0);
    }
    state.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use poly1305::universal_hash::KeyInit;
    use proptest::prelude::*;

    fn reference(key: &[u8; KEY_LENGTH], message: &[u8]) -> [u8; TAG_LENGTH] {
        poly1305::Poly1305::new(poly1305::Key::from_slice(key))
            .compute_unpadded(message)
            .into()
    }

    #[test]
    fn rfc_8439_vector() {
        // RFC 8439 §2.5.2.
        let key: [u8; KEY_LENGTH] = [
            0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5,
            0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf,
            0x41, 0x49, 0xf5, 0x1b,
        ];
        let tag = [
            0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01,
            0x27, 0xa9,
        ];
        assert_eq!(poly1305(&key, b"Cryptographic Forum Research Group"), tag);
    }

    #[test]
    fn every_length_to_200_bytes_and_extreme_keys_match_the_crate() {
        let message: Vec<u8> = (0..200u32).map(|i| (i * 73 % 256) as u8).collect();
        for key in [[0u8; KEY_LENGTH], [0xff; KEY_LENGTH], [0x5a; KEY_LENGTH]] {
            for length in 0..=200 {
                let message = &message[..length];
                assert_eq!(
                    poly1305(&key, message),
                    reference(&key, message),
                    "length {length}"
                );
            }
            // All-ones blocks drive h towards p, where the final reduction matters.
            for length in [16, 32, 64, 160] {
                let ones = [0xffu8; 160];
                assert_eq!(
                    poly1305(&key, &ones[..length]),
                    reference(&key, &ones[..length])
                );
            }
        }
    }

    proptest! {
        #[test]
        fn random_keys_and_messages_match_the_crate(
            key in any::<[u8; KEY_LENGTH]>(),
            message in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            prop_assert_eq!(poly1305(&key, &message), reference(&key, &message));
        }
    }
}
