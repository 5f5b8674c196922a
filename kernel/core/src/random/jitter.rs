//! How much entropy a run of timing samples is credited with.
//!
//! A sample is the time, in TSC ticks, that one fixed piece of work took; what
//! varies between samples is the jitter of caches, pipelines, interrupts and, in a
//! virtual machine, the host. The estimate is deliberately low: half a bit for each
//! sample that is not *stuck* (its first, second and third differences are all
//! non-zero, as in the jitter entropy designs), and no more than the most-common-value
//! estimate of min-entropy allows. A run in which one value repeats
//! [`REPETITION_CUTOFF`] times in a row is credited nothing: the clock is stuck or too
//! coarse.
//!
//! This never credits more than half a bit per sample. It cannot see a pattern that
//! repeats with a period of several samples, nor tell real jitter from a clock that
//! a hypervisor computes from something predictable: under QEMU's TCG the TSC follows
//! the host's clock through translated code, so samples vary, but an observer of the
//! host could predict much of that variation. Callers that have a better source mix
//! it in as well.

extern crate alloc;

use alloc::vec::Vec;

/// Consecutive equal samples after which a run is credited nothing.
pub const REPETITION_CUTOFF: usize = 16;

/// Bits of entropy credited to `samples` (durations of the same work, in order).
pub fn credit(samples: &[u64]) -> u32 {
    if samples.len() < 4 || longest_repetition(samples) >= REPETITION_CUTOFF {
        return 0;
    }
    let not_stuck = samples
        .windows(4)
        .filter(|window| {
            let first = differences::<3>(window);
            let second = differences::<2>(&first);
            let third = differences::<1>(&second);
            first[2] != 0 && second[1] != 0 && third[0] != 0
        })
        .count();
    let bound = samples
        .len()
        .saturating_mul(most_common_value_bits(samples) as usize);
    u32::try_from(not_stuck.min(bound) / 2).unwrap_or(u32::MAX)
}

/// The wrapping differences of neighbours: one fewer than given.
fn differences<const N: usize>(values: &[u64]) -> [u64; N] {
    let mut result = [0; N];
    for (slot, pair) in result.iter_mut().zip(values.windows(2)) {
        *slot = pair[1].wrapping_sub(pair[0]);
    }
    result
}

fn longest_repetition(samples: &[u64]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut previous = None;
    for &sample in samples {
        run = if previous == Some(sample) { run + 1 } else { 1 };
        longest = longest.max(run);
        previous = Some(sample);
    }
    longest
}

/// Whole bits of min-entropy per sample by the most-common-value estimate:
/// floor(log2(n / count of the most common value)).
fn most_common_value_bits(samples: &[u64]) -> u32 {
    let mut sorted: Vec<u64> = samples.to_vec();
    sorted.sort_unstable();
    let most_common = sorted
        .chunk_by(|a, b| a == b)
        .map(<[u64]>::len)
        .max()
        .unwrap_or(1);
    (samples.len() / most_common).ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64: irregular but reproducible samples around `base`.
    fn noisy(count: usize, base: u64, spread: u64) -> Vec<u64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                base + state % spread
            })
            .collect()
    }

    #[test]
    fn irregular_samples_earn_at_most_half_a_bit_each() {
        let samples = noisy(1024, 300, 64);
        let credit = credit(&samples);
        assert!(credit <= 512, "{credit}");
        assert!(credit >= 400, "{credit}");
    }

    #[test]
    fn a_constant_clock_earns_nothing() {
        assert_eq!(credit(&[120; 1024]), 0);
    }

    #[test]
    fn a_steady_drift_earns_nothing() {
        // Each sample a fixed amount longer: the second differences are all zero.
        let samples: Vec<u64> = (0..1024).map(|index| 100 + 3 * index).collect();
        assert_eq!(credit(&samples), 0);
        // A steadily growing drift: the third differences are all zero.
        let samples: Vec<u64> = (0..1024).map(|index| 100 + index * index).collect();
        assert_eq!(credit(&samples), 0);
    }

    #[test]
    fn a_run_of_repeats_earns_nothing() {
        let mut samples = noisy(1024, 300, 64);
        samples[500..500 + REPETITION_CUTOFF].fill(7);
        assert_eq!(credit(&samples), 0);
        samples[500] = 8;
        assert!(credit(&samples) > 0);
    }

    #[test]
    fn a_dominant_value_earns_nothing() {
        // Three samples in four take the same value: under one bit per sample by the
        // most-common-value estimate, whole bits floored to zero.
        let samples: Vec<u64> = noisy(1024, 300, 64)
            .into_iter()
            .enumerate()
            .map(|(index, sample)| if index % 4 == 0 { sample } else { 50 })
            .collect();
        assert_eq!(credit(&samples), 0);
    }

    #[test]
    fn too_few_samples_earn_nothing() {
        assert_eq!(credit(&[]), 0);
        assert_eq!(credit(&[1, 5, 2]), 0);
    }

    #[test]
    fn wrapping_counters_do_not_overflow() {
        let samples = [u64::MAX, 0, u64::MAX - 5, 3, 9, u64::MAX];
        assert!(credit(&samples) <= 3);
    }
}
