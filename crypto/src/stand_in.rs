//! Cheap stand-ins for X25519 and XSalsa20-Poly1305, compiled only when fuzzing
//! (`cargo fuzz` sets `--cfg fuzzing`), so that a fuzzer spends its time in the state
//! machine instead of in field arithmetic. Same five functions as `primitives`.
//!
//! They keep every property the state machine's paths depend on:
//! - agreement is commutative, so both ends of a tunnel, a record's sealer and opener, and
//!   a user and the server derive the same key; the all-zero public key agrees on all
//!   zeros, so the small-order refusal stays reachable;
//! - a box opens only under the key and nonce that sealed it, and its keyed tag changes
//!   with every single changed byte, so forged, damaged, truncated and misdirected boxes
//!   are refused as before and leave the buffer untouched;
//! - derivations are deterministic and differ per key and label.
//!
//! They keep no secret from anyone who reads this file: this module must never be
//! compiled into anything but a fuzzing build.

use crate::keys::{BoxOpenFailed, KEY_LENGTH, NONCE_LENGTH, PublicKeyBytes, TAG_LENGTH};

/// The 64-bit finalizer of SplitMix64: a bijection that spreads every input bit.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// Thirty-two bytes (a key, or a stride of a box) as four little-endian words.
fn words(bytes: &[u8; 32]) -> [u64; 4] {
    let (words, _) = bytes.as_chunks::<8>();
    [0, 1, 2, 3].map(|lane| u64::from_le_bytes(words[lane]))
}

/// Odd multipliers standing in for the base point, one per 64-bit lane.
const BASE: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
];

/// Lane-wise `secret · peer` modulo 2^64, which commutes: `a · (b · BASE)` equals
/// `b · (a · BASE)`. Forcing each secret lane odd makes the result zero only for a zero
/// peer lane.
fn multiply(secret: &[u8; KEY_LENGTH], peer: &[u64; 4]) -> [u8; KEY_LENGTH] {
    let scalars = words(secret);
    let mut product = [0u8; KEY_LENGTH];
    let (chunks, _) = product.as_chunks_mut::<8>();
    for lane in 0..4 {
        chunks[lane] = (scalars[lane] | 1).wrapping_mul(peer[lane]).to_le_bytes();
    }
    product
}

/// Stands in for X25519; `None` for the all-zero peer key.
pub(crate) fn x25519(secret: &[u8; KEY_LENGTH], peer: &PublicKeyBytes) -> Option<[u8; KEY_LENGTH]> {
    let shared = multiply(secret, &words(&peer.0));
    (shared != [0u8; KEY_LENGTH]).then_some(shared)
}

/// Stands in for the public key of `secret`.
pub(crate) fn public_of(secret: &[u8; KEY_LENGTH]) -> PublicKeyBytes {
    PublicKeyBytes(multiply(secret, &BASE))
}

/// One 64-bit state per (key, nonce), from which keystream and tag are drawn.
fn stream_state(key: &[u8; KEY_LENGTH], nonce: &[u8; NONCE_LENGTH]) -> u64 {
    let (key_words, _) = key.as_chunks::<8>();
    let (nonce_words, _) = nonce.as_chunks::<8>();
    key_words
        .iter()
        .chain(nonce_words)
        .fold(0x6a09_e667_f3bc_c908, |state, word| {
            mix(state ^ u64::from_le_bytes(*word))
        })
}

/// Bytes handled per loop step: few steps matter under coverage instrumentation, which
/// traces every comparison, loop conditions included.
const STRIDE: usize = 32;

/// The last, short stride, zero-padded.
fn padded(tail: &[u8]) -> [u8; STRIDE] {
    let mut block = [0u8; STRIDE];
    block[..tail.len()].copy_from_slice(tail);
    block
}

/// The keystream: four words from `state` (a Weyl sequence, each word scrambled by a
/// multiply), repeated over the whole box. Secrecy is the one property the stand-ins do
/// not keep, so a pad per (key, nonce) does, and costs no multiply per stride.
fn keystream(state: u64) -> [u64; 4] {
    let mut counter = state;
    [0, 1, 2, 3].map(|_| {
        counter = counter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (counter ^ (counter >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    })
}

fn xor_stride(block: &[u8; STRIDE], stream: [u64; 4]) -> [u8; STRIDE] {
    let input = words(block);
    let mut output = [0u8; STRIDE];
    let (chunks, _) = output.as_chunks_mut::<8>();
    for lane in 0..4 {
        chunks[lane] = (input[lane] ^ stream[lane]).to_le_bytes();
    }
    output
}

fn apply_keystream(state: u64, buffer: &mut [u8]) {
    let pad = keystream(state);
    let (blocks, tail) = buffer.as_chunks_mut::<STRIDE>();
    for block in blocks {
        *block = xor_stride(block, pad);
    }
    if !tail.is_empty() {
        let length = tail.len();
        let output = xor_stride(&padded(tail), pad);
        tail.copy_from_slice(&output[..length]);
    }
}

/// The tag is four chains over the ciphertext's words (word `i` of each stride goes to
/// chain `i`, so a stride's steps do not wait on each other), then its length, keyed by the
/// (key, nonce) state. Each step (xor a word, multiply by an odd constant, rotate) is a
/// bijection of the chain for a fixed word and of the word for a fixed chain, and the
/// chains are joined by xor, which is a bijection of each for fixed others: changing any
/// one word, or the length, always changes the tag.
fn tag_start(state: u64) -> [u64; 4] {
    let start = mix(state ^ 0x5441_4731);
    [0, 1, 2, 3].map(|lane| start ^ lane)
}

/// One step of the tag's chains over a stride of ciphertext.
fn absorb(chains: [u64; 4], block: &[u8; STRIDE]) -> [u64; 4] {
    let input = words(block);
    [0, 1, 2, 3].map(|lane| {
        (chains[lane] ^ input[lane])
            .wrapping_mul(0x94d0_49bb_1331_11eb)
            .rotate_left(29)
    })
}

/// The tag from the chains after every whole stride, the short last stride and the length.
fn tag_finish(chains: [u64; 4], tail: &[u8], length: usize, state: u64) -> [u8; TAG_LENGTH] {
    let [a, b, c, d] = absorb(chains, &padded(tail));
    let chain = a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48);
    let first = mix(chain ^ length as u64);
    let second = mix(first ^ state);
    (u128::from(first) | u128::from(second) << 64).to_le_bytes()
}

/// Stands in for XSalsa20-Poly1305 sealing: keystream and tag in one pass over the buffer,
/// each stride tagged right after it is enciphered.
pub(crate) fn seal(
    key: &[u8; KEY_LENGTH],
    nonce: &[u8; NONCE_LENGTH],
    buffer: &mut [u8],
) -> [u8; TAG_LENGTH] {
    let state = stream_state(key, nonce);
    let length = buffer.len();
    let pad = keystream(state);
    let mut chains = tag_start(state);
    let (blocks, tail) = buffer.as_chunks_mut::<STRIDE>();
    for block in blocks {
        *block = xor_stride(block, pad);
        chains = absorb(chains, block);
    }
    if !tail.is_empty() {
        let output = xor_stride(&padded(tail), pad);
        let tail_length = tail.len();
        tail.copy_from_slice(&output[..tail_length]);
    }
    tag_finish(chains, tail, length, state)
}

/// Stands in for XSalsa20-Poly1305 opening; leaves `buffer` unchanged on failure. The tag
/// is checked before anything is deciphered, so a refused box (the common case under
/// fuzzing) costs one pass.
pub(crate) fn open(
    key: &[u8; KEY_LENGTH],
    nonce: &[u8; NONCE_LENGTH],
    buffer: &mut [u8],
    expected: &[u8; TAG_LENGTH],
) -> Result<(), BoxOpenFailed> {
    let state = stream_state(key, nonce);
    let (blocks, tail) = buffer.as_chunks::<STRIDE>();
    let chains = blocks.iter().fold(tag_start(state), absorb);
    if tag_finish(chains, tail, buffer.len(), state) != *expected {
        return Err(BoxOpenFailed);
    }
    apply_keystream(state, buffer);
    Ok(())
}

/// Stands in for the XSalsa20 keystream as a pseudorandom function.
pub(crate) fn pseudorandom(key: &[u8; KEY_LENGTH], label: &[u8; NONCE_LENGTH]) -> [u8; KEY_LENGTH] {
    let mut output = [0u8; KEY_LENGTH];
    apply_keystream(stream_state(key, label), &mut output);
    output
}
