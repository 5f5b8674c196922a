//! The hosted kernel's random generator: the core's ChaCha20 generator
//! (`ethos_core::random`), seeded once from the host's own generator
//! (`/dev/urandom`, the kernel's getrandom pool) instead of RDSEED, RDRAND, a
//! virtio-rng device and timing jitter.
//!
//! The seed is credited in full: the host kernel vouches for it as the x86_64
//! platform vouches for RDSEED. This module never hands out a byte without a seed;
//! a host without `/dev/urandom` cannot start a system.

use std::io::Read;

use ethos_core::random::{Generator, SEED_BITS};

/// Where the seed comes from.
pub const SOURCE: &str = "/dev/urandom";

/// How many bytes of seed are read: twice the generator's need.
const SEED_BYTES: usize = 2 * SEED_BITS as usize / 8;

/// A generator seeded from [`SOURCE`].
pub fn seeded() -> std::io::Result<Generator> {
    let mut seed = [0; SEED_BYTES];
    std::fs::File::open(SOURCE)?.read_exact(&mut seed)?;
    let mut generator = Generator::new();
    generator.add_entropy(&seed, 8 * SEED_BYTES as u32);
    seed.fill(0);
    Ok(generator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_generator_hands_out_bytes_that_differ() {
        let mut generator = seeded().unwrap();
        assert!(generator.is_seeded());
        let (mut first, mut second) = ([0; 32], [0; 32]);
        generator.fill(&mut first).unwrap();
        generator.fill(&mut second).unwrap();
        assert_ne!(first, second);
        assert_ne!(first, [0; 32]);
    }
}
