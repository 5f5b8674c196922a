//! The kernel's random generator: ChaCha20 keyed from an entropy pool.
//!
//! Inputs go into a pool, a running SHA-512 hash; each input comes with the number
//! of bits of entropy its caller vouches for. The generator's whole state is one
//! 32-byte ChaCha20 key. Reseeding hashes the old key with the pool's digest into a
//! new key and empties the pool; it happens before the next output whenever an
//! input arrived since the last reseed, and after every [`Generator::reseed_interval`]
//! bytes of output.
//!
//! Every request is served by fast key erasure: the key's ChaCha20 stream gives the
//! next key first and the requested bytes after it, and the old key is overwritten.
//! Whoever captures the state later cannot recompute what was handed out before.
//!
//! The generator never hands out a byte before inputs worth [`SEED_BITS`] bits in
//! total were added: until then [`Generator::fill`] returns [`NotSeeded`]. It never
//! judges its inputs itself: the credit is the caller's claim, capped only at the
//! input's size. [`jitter`] helps a caller judge timing samples, and
//! [`output_check`] tests a sample of output for gross failures.
//!
//! Copies of the key that the ChaCha20 block function makes on the stack while it
//! runs are not wiped; the guarantee covers the generator's own state.

pub mod jitter;
pub mod output_check;

use core::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha512};

/// The entropy, in bits, that inputs must be credited with before any output.
pub const SEED_BITS: u32 = 256;

/// Output bytes after which the key is reseeded from the pool even without new input.
pub const DEFAULT_RESEED_INTERVAL: usize = 256 * 1024;

/// What starts every pool, so that no other use of SHA-512 collides with it.
const POOL_DOMAIN: &[u8] = b"ethos random pool v1";
/// What starts every key derivation.
const RESEED_DOMAIN: &[u8] = b"ethos random reseed v1";

/// The generator was asked for output before it had enough entropy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotSeeded {
    /// The entropy credited so far, in bits.
    pub credited_bits: u32,
}

impl fmt::Display for NotSeeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the random generator has {} bits of entropy, fewer than the {SEED_BITS} it needs",
            self.credited_bits
        )
    }
}

/// A ChaCha20 generator with fast key erasure, seeded and reseeded from a SHA-512
/// entropy pool.
pub struct Generator {
    /// The running hash of every input since the last reseed.
    pool: Sha512,
    /// Inputs added since the last reseed.
    pending_inputs: u64,
    /// Entropy credited over the generator's life, in bits (saturating).
    credited_bits: u32,
    /// The ChaCha20 key: the generator's only secret besides the pool.
    key: [u8; 32],
    bytes_since_reseed: usize,
    reseed_interval: usize,
    reseeds: u64,
}

impl fmt::Debug for Generator {
    // Never the key or the pool.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("credited_bits", &self.credited_bits)
            .field("pending_inputs", &self.pending_inputs)
            .field("reseeds", &self.reseeds)
            .finish_non_exhaustive()
    }
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    /// An unseeded generator that reseeds every [`DEFAULT_RESEED_INTERVAL`] bytes.
    pub fn new() -> Generator {
        Self::with_reseed_interval(DEFAULT_RESEED_INTERVAL)
    }

    /// An unseeded generator that reseeds every `bytes` bytes of output (at least one).
    pub fn with_reseed_interval(bytes: usize) -> Generator {
        Generator {
            pool: Sha512::new_with_prefix(POOL_DOMAIN),
            pending_inputs: 0,
            credited_bits: 0,
            key: [0; 32],
            bytes_since_reseed: 0,
            reseed_interval: bytes.max(1),
            reseeds: 0,
        }
    }

    /// Mixes `input` into the pool, crediting it with `credited_bits` bits of
    /// entropy; a claim above the input's size in bits counts as its size. An input
    /// worth nothing (a device identifier, a timestamp) is still mixed in.
    pub fn add_entropy(&mut self, input: &[u8], credited_bits: u32) {
        // The length first, so that no two sequences of inputs hash alike.
        self.pool.update((input.len() as u64).to_le_bytes());
        self.pool.update(input);
        self.pending_inputs += 1;
        let most = u32::try_from(input.len().saturating_mul(8)).unwrap_or(u32::MAX);
        self.credited_bits = self.credited_bits.saturating_add(credited_bits.min(most));
    }

    /// The entropy credited so far, in bits.
    pub fn credited_bits(&self) -> u32 {
        self.credited_bits
    }

    /// Whether the generator will produce output.
    pub fn is_seeded(&self) -> bool {
        self.credited_bits >= SEED_BITS
    }

    /// How many times the key was derived afresh from the pool.
    pub fn reseeds(&self) -> u64 {
        self.reseeds
    }

    /// Output bytes between reseeds.
    pub fn reseed_interval(&self) -> usize {
        self.reseed_interval
    }

    /// Fills `output` with random bytes, or refuses while the generator is not
    /// seeded (and then writes nothing).
    pub fn fill(&mut self, output: &mut [u8]) -> Result<(), NotSeeded> {
        if !self.is_seeded() {
            return Err(NotSeeded {
                credited_bits: self.credited_bits,
            });
        }
        let mut rest = output;
        loop {
            if self.pending_inputs > 0 || self.bytes_since_reseed >= self.reseed_interval {
                self.reseed();
            }
            let room = self.reseed_interval - self.bytes_since_reseed;
            let (now, later) = rest.split_at_mut(room.min(rest.len()));
            self.generate(now);
            rest = later;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Derives a new key from the old one and the pool, and empties the pool.
    fn reseed(&mut self) {
        let pool = core::mem::replace(&mut self.pool, Sha512::new_with_prefix(POOL_DOMAIN));
        let mut derivation = Sha512::new_with_prefix(RESEED_DOMAIN);
        derivation.update(self.key);
        derivation.update(self.reseeds.to_le_bytes());
        derivation.update(pool.finalize());
        let mut derived = derivation.finalize();
        self.key.copy_from_slice(&derived[..32]);
        derived.fill(0);
        self.pending_inputs = 0;
        self.bytes_since_reseed = 0;
        self.reseeds += 1;
    }

    /// One fast-key-erasure step: the next key, then `output`, from the key's stream.
    fn generate(&mut self, output: &mut [u8]) {
        let mut stream = ChaCha20Rng::from_seed(self.key);
        stream.fill_bytes(&mut self.key);
        stream.fill_bytes(output);
        self.bytes_since_reseed += output.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(seed: &[u8]) -> Generator {
        let mut generator = Generator::new();
        generator.add_entropy(seed, SEED_BITS);
        generator
    }

    fn draw(generator: &mut Generator, bytes: usize) -> Vec<u8> {
        let mut output = vec![0; bytes];
        generator.fill(&mut output).expect("seeded");
        output
    }

    fn chacha20_stream(key: [u8; 32], bytes: usize) -> Vec<u8> {
        let mut output = vec![0; bytes];
        ChaCha20Rng::from_seed(key).fill_bytes(&mut output);
        output
    }

    #[test]
    fn the_block_function_is_chacha20() {
        // RFC 8439 appendix A.1, test vector 1: all-zero key, nonce and counter.
        let expected = [
            0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90, 0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86,
            0xbd, 0x28, 0xbd, 0xd2, 0x19, 0xb8, 0xa0, 0x8d, 0xed, 0x1a, 0xa8, 0x36, 0xef, 0xcc,
            0x8b, 0x77, 0x0d, 0xc7, 0xda, 0x41, 0x59, 0x7c, 0x51, 0x57, 0x48, 0x8d, 0x77, 0x24,
            0xe0, 0x3f, 0xb8, 0xd8, 0x4a, 0x37, 0x6a, 0x43, 0xb8, 0xf4, 0x15, 0x18, 0xa1, 0x1c,
            0xc3, 0x87, 0xb6, 0x69, 0xb2, 0xee, 0x65, 0x86,
        ];
        assert_eq!(chacha20_stream([0; 32], 64), expected);
    }

    #[test]
    fn refuses_output_until_seeded() {
        let mut generator = Generator::new();
        let mut output = [0xaa; 16];
        assert_eq!(
            generator.fill(&mut output),
            Err(NotSeeded { credited_bits: 0 })
        );
        generator.add_entropy(&[1; 16], 100);
        generator.add_entropy(&[2; 32], 155);
        assert_eq!(
            generator.fill(&mut output),
            Err(NotSeeded { credited_bits: 255 })
        );
        assert_eq!(output, [0xaa; 16], "a refusal writes nothing");
        generator.add_entropy(&[3; 1], 1);
        assert!(generator.is_seeded());
        assert!(generator.fill(&mut output).is_ok());
        assert_ne!(output, [0xaa; 16]);
    }

    #[test]
    fn a_claim_never_exceeds_the_input_size() {
        let mut generator = Generator::new();
        generator.add_entropy(&[7; 4], 1000);
        assert_eq!(generator.credited_bits(), 32);
        generator.add_entropy(&[], 1000);
        assert_eq!(generator.credited_bits(), 32);
        // Many small claims add up to a seed; none is lost, none double-counted.
        for _ in 0..7 {
            generator.add_entropy(&[9; 4], 32);
        }
        assert_eq!(generator.credited_bits(), 256);
        assert!(generator.is_seeded());
    }

    #[test]
    fn the_same_seed_gives_the_same_stream_and_different_seeds_differ() {
        let mut first = seeded(b"a seed of thirty-two bytes......");
        let mut second = seeded(b"a seed of thirty-two bytes......");
        let mut other = seeded(b"a seed of thirty-two bytes.....!");
        let a = draw(&mut first, 1000);
        assert_eq!(a, draw(&mut second, 1000));
        assert_ne!(a, draw(&mut other, 1000));
        // Two generators fed the same requests go on agreeing; splitting a request
        // differently changes the stream, since every request re-keys.
        assert_eq!(draw(&mut first, 10), draw(&mut second, 10));
        let whole = draw(&mut first, 100);
        let mut halves = draw(&mut second, 50);
        halves.extend(draw(&mut second, 50));
        assert_ne!(whole, halves);
    }

    #[test]
    fn how_inputs_are_split_matters() {
        let mut whole = Generator::new();
        whole.add_entropy(b"abcdefghijklmnopqrstuvwxyz012345", 256);
        let mut split = Generator::new();
        split.add_entropy(b"abcdefghijklmnop", 128);
        split.add_entropy(b"qrstuvwxyz012345", 128);
        assert_ne!(draw(&mut whole, 64), draw(&mut split, 64));
    }

    #[test]
    fn output_is_the_chacha20_stream_after_the_next_key() {
        let mut generator = seeded(&[0x42; 32]);
        generator.reseed();
        let key = generator.key;
        let stream = chacha20_stream(key, 32 + 100);
        let output = draw(&mut generator, 100);
        assert_eq!(output, stream[32..]);
        assert_eq!(
            generator.key,
            stream[..32],
            "the next key is the stream's start"
        );
        assert_ne!(generator.key, key);
    }

    #[test]
    fn a_captured_state_does_not_give_earlier_output() {
        let mut generator = seeded(&[0x17; 32]);
        generator.reseed();
        let key = generator.key;
        let earlier = draw(&mut generator, 64);
        let captured = generator.key;
        let later = draw(&mut generator, 64);
        // A generator that never re-keys would go on with the first key's stream.
        let without_rekey = chacha20_stream(key, 32 + 64 + 64);
        assert_eq!(earlier, without_rekey[32..96]);
        assert_ne!(later, without_rekey[96..]);
        // From the captured key only the later output follows; the earlier one
        // appears nowhere in its stream.
        let from_capture = chacha20_stream(captured, 4096);
        assert_eq!(later, from_capture[32..96]);
        assert!(
            !from_capture
                .windows(earlier.len())
                .any(|window| window == earlier)
        );
    }

    #[test]
    fn adding_entropy_changes_the_stream() {
        let mut plain = seeded(&[5; 32]);
        let mut fed = seeded(&[5; 32]);
        assert_eq!(draw(&mut plain, 32), draw(&mut fed, 32));
        let reseeds = fed.reseeds();
        fed.add_entropy(b"interrupt timing", 0);
        assert_ne!(draw(&mut plain, 32), draw(&mut fed, 32));
        assert_eq!(
            fed.reseeds(),
            reseeds + 1,
            "new input reseeds before output"
        );
        // Without new input there is no reseed before the interval.
        draw(&mut fed, 32);
        assert_eq!(fed.reseeds(), reseeds + 1);
    }

    #[test]
    fn large_fills_reseed_at_every_interval() {
        let interval = 1000;
        let mut generator = Generator::with_reseed_interval(interval);
        generator.add_entropy(&[1; 32], 256);
        let mut twin = Generator::with_reseed_interval(interval);
        twin.add_entropy(&[1; 32], 256);
        let output = draw(&mut generator, 5 * interval + 1);
        // The first reseed seeds; one more at each interval boundary crossed.
        assert_eq!(generator.reseeds(), 6);
        // The same bytes come out of requests cut at the interval boundaries.
        let mut pieces = Vec::new();
        for _ in 0..5 {
            pieces.extend(draw(&mut twin, interval));
        }
        pieces.extend(draw(&mut twin, 1));
        assert_eq!(output, pieces);
        // The pieces on either side of a boundary come from different keys.
        assert_ne!(output[..interval], output[interval..2 * interval]);
        // Continuing later crosses the next boundary where it falls.
        draw(&mut generator, interval - 2);
        assert_eq!(generator.reseeds(), 6);
        draw(&mut generator, 2);
        assert_eq!(generator.reseeds(), 7);
    }

    #[test]
    fn consecutive_outputs_never_repeat() {
        let mut generator = seeded(&[0; 32]);
        let mut previous = [0u8; 32];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20_000 {
            let mut block = [0u8; 32];
            generator.fill(&mut block).unwrap();
            assert_ne!(block, previous);
            assert!(seen.insert(block), "a 32-byte output repeated");
            previous = block;
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let generator = seeded(&[0x5a; 32]);
        let shown = format!("{generator:?}");
        assert!(shown.contains("credited_bits: 256"), "{shown}");
        assert!(!shown.contains("key"), "{shown}");
    }
}
