//! A sanity check of generator output: a byte histogram judged by chi-square, and
//! no 32-byte block seen twice.
//!
//! It catches gross failures (a stuck or constant source, a counter, a stream that
//! repeats), not subtle ones: passing it says nothing about unpredictability. The
//! bounds are wide enough that good output fails about once in a billion runs.

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;
use core::ops::RangeInclusive;

/// The bytes of one block compared for repeats.
pub const BLOCK_BYTES: usize = 32;

/// Chi-square values (255 degrees of freedom) that good output stays within: each
/// tail beyond them has a probability under 10^-9.
pub const CHI_SQUARE_BOUNDS: RangeInclusive<u64> = 140..=420;

/// The fewest bytes the histogram is judged on: five expected per value.
pub const MINIMUM_BYTES: u64 = 256 * 5;

/// What a passing sample looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSummary {
    pub bytes: u64,
    pub blocks: u64,
    /// The byte histogram's chi-square statistic, rounded down.
    pub chi_square: u64,
}

/// Why a sample of output is not plausibly random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputError {
    /// Fewer bytes than [`MINIMUM_BYTES`] were checked.
    TooFewBytes { bytes: u64 },
    /// The byte histogram is too uneven (or too even) for random bytes.
    ChiSquare { value: u64 },
    /// Two blocks begin with the same eight bytes.
    RepeatedBlock { first: u64, second: u64 },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::TooFewBytes { bytes } => {
                write!(f, "only {bytes} bytes checked, fewer than {MINIMUM_BYTES}")
            }
            OutputError::ChiSquare { value } => write!(
                f,
                "the byte histogram's chi-square is {value}, outside {}..={}",
                CHI_SQUARE_BOUNDS.start(),
                CHI_SQUARE_BOUNDS.end()
            ),
            OutputError::RepeatedBlock { first, second } => write!(
                f,
                "{BLOCK_BYTES}-byte blocks {first} and {second} begin with the same 8 bytes"
            ),
        }
    }
}

/// Output fed in pieces of any size, checked at the end.
#[derive(Clone, Debug)]
pub struct OutputCheck {
    histogram: [u64; 256],
    bytes: u64,
    /// The first eight bytes of each whole block, with the block's number.
    block_starts: Vec<(u64, u64)>,
    /// The bytes of a block not yet complete.
    partial: [u8; BLOCK_BYTES],
    partial_length: usize,
}

impl Default for OutputCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl OutputCheck {
    pub fn new() -> OutputCheck {
        OutputCheck {
            histogram: [0; 256],
            bytes: 0,
            block_starts: Vec::new(),
            partial: [0; BLOCK_BYTES],
            partial_length: 0,
        }
    }

    /// Counts `output`, which continues what was fed before.
    pub fn feed(&mut self, output: &[u8]) {
        for &byte in output {
            self.histogram[byte as usize] += 1;
            self.partial[self.partial_length] = byte;
            self.partial_length += 1;
            if self.partial_length == BLOCK_BYTES {
                let mut start = [0; 8];
                start.copy_from_slice(&self.partial[..8]);
                let number = self.block_starts.len() as u64;
                self.block_starts.push((u64::from_le_bytes(start), number));
                self.partial_length = 0;
            }
        }
        self.bytes += output.len() as u64;
    }

    /// The histogram's chi-square statistic against a uniform distribution, rounded
    /// down: the sum over byte values of (observed - expected)^2 / expected.
    pub fn chi_square(&self) -> u64 {
        if self.bytes == 0 {
            return 0;
        }
        // Scaled by 256 to stay in integers: expected = bytes / 256.
        let total = u128::from(self.bytes);
        let scaled: u128 = self
            .histogram
            .iter()
            .map(|&count| {
                let difference = (u128::from(count) * 256).abs_diff(total);
                difference * difference
            })
            .sum();
        u64::try_from(scaled / (256 * total)).unwrap_or(u64::MAX)
    }

    /// Judges everything fed so far.
    pub fn finish(mut self) -> Result<OutputSummary, OutputError> {
        if self.bytes < MINIMUM_BYTES {
            return Err(OutputError::TooFewBytes { bytes: self.bytes });
        }
        let chi_square = self.chi_square();
        if !CHI_SQUARE_BOUNDS.contains(&chi_square) {
            return Err(OutputError::ChiSquare { value: chi_square });
        }
        // Sorted by start, then by number: the earliest repeat is the pair with the
        // smallest second number.
        self.block_starts.sort_unstable();
        if let Some(pair) = self
            .block_starts
            .windows(2)
            .filter(|pair| pair[0].0 == pair[1].0)
            .min_by_key(|pair| pair[1].1)
        {
            return Err(OutputError::RepeatedBlock {
                first: pair[0].1,
                second: pair[1].1,
            });
        }
        Ok(OutputSummary {
            bytes: self.bytes,
            blocks: self.block_starts.len() as u64,
            chi_square,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{Generator, SEED_BITS};

    fn generator_output(bytes: usize) -> Vec<u8> {
        let mut generator = Generator::new();
        generator.add_entropy(b"output check test seed, 32 bytes", SEED_BITS);
        let mut output = vec![0; bytes];
        generator.fill(&mut output).unwrap();
        output
    }

    #[test]
    fn generator_output_passes_in_pieces_of_any_size() {
        let output = generator_output(1 << 20);
        let mut check = OutputCheck::new();
        let mut rest = &output[..];
        let mut piece = 1;
        while !rest.is_empty() {
            let (now, later) = rest.split_at(piece.min(rest.len()));
            check.feed(now);
            rest = later;
            piece = piece * 3 % 4099 + 1;
        }
        let summary = check.finish().unwrap();
        assert_eq!(summary.bytes, 1 << 20);
        assert_eq!(summary.blocks, (1 << 20) / 32);
    }

    #[test]
    fn a_constant_fails() {
        let mut check = OutputCheck::new();
        check.feed(&[0x55; 1 << 16]);
        assert_eq!(
            check.finish(),
            Err(OutputError::ChiSquare {
                value: 255 * (1 << 16)
            })
        );
    }

    #[test]
    fn a_counter_is_too_even() {
        let counter: Vec<u8> = (0..1 << 16).map(|index: u32| index as u8).collect();
        let mut check = OutputCheck::new();
        check.feed(&counter);
        assert_eq!(check.finish(), Err(OutputError::ChiSquare { value: 0 }));
    }

    #[test]
    fn a_repeated_block_fails() {
        let mut output = generator_output(1 << 16);
        output.copy_within(100 * 32..100 * 32 + 8, 1500 * 32);
        let mut check = OutputCheck::new();
        check.feed(&output);
        assert_eq!(
            check.finish(),
            Err(OutputError::RepeatedBlock {
                first: 100,
                second: 1500
            })
        );
    }

    #[test]
    fn a_stream_that_starts_over_fails() {
        // A short repeat, so that the histogram alone does not give it away.
        let once = generator_output(1 << 16);
        let mut check = OutputCheck::new();
        check.feed(&once);
        check.feed(&once[..4096]);
        assert_eq!(
            check.finish(),
            Err(OutputError::RepeatedBlock {
                first: 0,
                second: (1 << 16) / 32
            })
        );
    }

    #[test]
    fn too_little_output_is_not_judged() {
        let mut check = OutputCheck::new();
        check.feed(&generator_output(1000));
        assert_eq!(
            check.finish(),
            Err(OutputError::TooFewBytes { bytes: 1000 })
        );
    }
}
