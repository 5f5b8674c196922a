//! Time from the TSC: frequency discovery arithmetic and tick ↔ nanosecond conversion.
//!
//! The platform reads the raw inputs (CPUID leaves, the KVM pvclock page, a PIT
//! measurement); this module turns them into a frequency and converts with a 32.32
//! fixed-point multiplier so the hot path is one multiply and one shift.
//!
//! A measurement against a reference counter is pinned at both ends to an *edge* of
//! the reference (the moment its count changes), each edge bracketed by the TSC
//! readings either side of the reads that saw it. Its precision is then set by how
//! quickly the counter can be read, not by the reference's period, so a window of a
//! few tens of microseconds suffices where one aligned to nothing needs milliseconds.

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// A calibrated TSC: converts cycle counts to nanoseconds and back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscClock {
    hz: u64,
    /// Nanoseconds per tick, times 2^32.
    nanos_per_tick_fixed: u64,
}

impl TscClock {
    /// A clock for a TSC running at `hz`; `None` below 1 MHz, which no real TSC is.
    pub fn from_hz(hz: u64) -> Option<TscClock> {
        if hz < 1_000_000 {
            return None;
        }
        let nanos_per_tick_fixed = u64::try_from((NANOS_PER_SECOND << 32) / hz as u128).ok()?;
        Some(TscClock {
            hz,
            nanos_per_tick_fixed,
        })
    }

    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Nanoseconds in `ticks` TSC cycles.
    pub fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        let nanos = (ticks as u128 * self.nanos_per_tick_fixed as u128) >> 32;
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// TSC cycles in `nanos` nanoseconds.
    pub fn nanos_to_ticks(&self, nanos: u64) -> u64 {
        let ticks = nanos as u128 * self.hz as u128 / NANOS_PER_SECOND;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

/// TSC frequency from CPUID leaf 0x15: `crystal_hz * numerator / denominator`.
pub fn hz_from_crystal_ratio(denominator: u32, numerator: u32, crystal_hz: u32) -> Option<u64> {
    if denominator == 0 || numerator == 0 || crystal_hz == 0 {
        return None;
    }
    Some(crystal_hz as u64 * numerator as u64 / denominator as u64)
}

/// TSC frequency from CPUID leaf 0x15 whose crystal field is zero, with leaf 0x16's
/// base frequency (`base_mhz`) standing in: the crystal is then `base × denominator /
/// numerator`, so the TSC runs at the base frequency (as Linux reads these leaves).
pub fn hz_from_ratio_and_base(denominator: u32, numerator: u32, base_mhz: u32) -> Option<u64> {
    if denominator == 0 || numerator == 0 || base_mhz == 0 {
        return None;
    }
    Some(base_mhz as u64 * 1_000_000)
}

/// TSC frequency from a pvclock page (KVM, Xen): the guest computes
/// `nanos = ((ticks << shift or >> -shift) * multiplier) >> 32`, so the frequency is
/// `10^9 * 2^32 / multiplier`, scaled back by the shift.
pub fn hz_from_pvclock(multiplier: u32, shift: i8) -> Option<u64> {
    if multiplier == 0 {
        return None;
    }
    let base = (NANOS_PER_SECOND << 32) / multiplier as u128;
    let hz = if shift >= 0 {
        base >> shift
    } else {
        base << shift.unsigned_abs()
    };
    u64::try_from(hz).ok()
}

/// TSC frequency measured against a reference timer: `tsc_ticks` elapsed while the
/// reference counted `reference_ticks` at `reference_hz`.
pub fn hz_from_reference(tsc_ticks: u64, reference_ticks: u64, reference_hz: u64) -> Option<u64> {
    if reference_ticks == 0 {
        return None;
    }
    let hz = tsc_ticks as u128 * reference_hz as u128 / reference_ticks as u128;
    u64::try_from(hz).ok()
}

/// Where a reference counter's count changed, as the TSC saw it: `before` was read
/// just before the read that still returned the old count, `after` just after the
/// read that returned the new one, so the change happened between the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub before: u64,
    pub after: u64,
}

impl Edge {
    fn middle(self) -> u64 {
        self.before + (self.after.saturating_sub(self.before)) / 2
    }

    fn half_width(self) -> u64 {
        self.after.saturating_sub(self.before).div_ceil(2)
    }
}

/// The worst error a calibration may carry, in parts per million: a tenth of a
/// percent, a millisecond a second.
pub const CALIBRATION_TOLERANCE_PPM: u64 = 1_000;

/// TSC frequency from two edges of a reference counter running at `reference_hz`,
/// `reference_ticks` apart; `None` while the edges' brackets leave an error above
/// `tolerance_ppm` of the window (or the window is empty), so the caller waits for a
/// later edge.
pub fn hz_between_edges(
    start: Edge,
    end: Edge,
    reference_ticks: u64,
    reference_hz: u64,
    tolerance_ppm: u64,
) -> Option<u64> {
    let tsc_ticks = end.middle().checked_sub(start.middle())?;
    let uncertainty = start.half_width() + end.half_width();
    if tsc_ticks == 0 || uncertainty as u128 * 1_000_000 > tsc_ticks as u128 * tolerance_ppm as u128
    {
        return None;
    }
    hz_from_reference(tsc_ticks, reference_ticks, reference_hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact_enough() {
        let clock = TscClock::from_hz(2_995_200_000).unwrap();
        assert_eq!(clock.ticks_to_nanos(2_995_200_000), 999_999_999);
        assert_eq!(clock.nanos_to_ticks(1_000_000), 2_995_200);
        let back = clock.ticks_to_nanos(clock.nanos_to_ticks(123_456_789));
        assert!(back.abs_diff(123_456_789) <= 1, "{back}");
        assert_eq!(TscClock::from_hz(999_999), None);
    }

    #[test]
    fn huge_tick_counts_saturate_instead_of_wrapping() {
        let clock = TscClock::from_hz(1_000_000).unwrap();
        assert_eq!(clock.ticks_to_nanos(u64::MAX), u64::MAX);
    }

    #[test]
    fn crystal_ratio() {
        // 24 MHz crystal, ratio 125/2: a 1.5 GHz TSC.
        assert_eq!(
            hz_from_crystal_ratio(2, 125, 24_000_000),
            Some(1_500_000_000)
        );
        assert_eq!(hz_from_crystal_ratio(2, 125, 0), None);
    }

    #[test]
    fn ratio_without_crystal_takes_the_base_frequency() {
        assert_eq!(hz_from_ratio_and_base(2, 176, 2_200), Some(2_200_000_000));
        assert_eq!(hz_from_ratio_and_base(0, 176, 2_200), None);
        assert_eq!(hz_from_ratio_and_base(2, 176, 0), None);
    }

    #[test]
    fn edges_pin_the_frequency_once_the_window_outgrows_their_brackets() {
        // A 1 GHz TSC against the PIT: 60 PIT ticks are 50,285 ns.
        let start = Edge {
            before: 1_000,
            after: 1_030,
        };
        let end = Edge {
            before: 51_270,
            after: 51_300,
        };
        let hz = hz_between_edges(start, end, 60, 1_193_182, CALIBRATION_TOLERANCE_PPM).unwrap();
        assert!(hz.abs_diff(1_000_000_000) < 1_000_000, "{hz}");
        // The same brackets over a window of 20,000 ticks leave more than 0.1 %.
        let early = Edge {
            before: 20_970,
            after: 21_000,
        };
        assert_eq!(
            hz_between_edges(start, early, 24, 1_193_182, CALIBRATION_TOLERANCE_PPM),
            None
        );
        // Wide brackets (a slow counter read) need a longer window.
        let slow = Edge {
            before: 1_000,
            after: 60_000,
        };
        assert_eq!(
            hz_between_edges(slow, end, 60, 1_193_182, CALIBRATION_TOLERANCE_PPM),
            None
        );
        assert_eq!(
            hz_between_edges(end, start, 60, 1_193_182, CALIBRATION_TOLERANCE_PPM),
            None
        );
    }

    #[test]
    fn pvclock_round_trip() {
        // What KVM computes for a 2.5 GHz TSC: multiplier 0xCCCCCCCC with shift -1.
        let hz = hz_from_pvclock(0xCCCC_CCCC, -1).unwrap();
        assert!(hz.abs_diff(2_500_000_000) < 10, "{hz}");
        let hz = hz_from_pvclock(0x8000_0000, 0).unwrap();
        assert_eq!(hz, 2_000_000_000);
        assert_eq!(hz_from_pvclock(0, 0), None);
    }

    #[test]
    fn reference_measurement() {
        // 14,914 PIT ticks (12.5 ms at 1.193182 MHz) against 37.5 M TSC cycles.
        let hz = hz_from_reference(37_500_000, 14_915, 1_193_182).unwrap();
        assert!(hz.abs_diff(3_000_000_000) < 1_000_000, "{hz}");
        assert_eq!(hz_from_reference(1, 0, 1), None);
    }
}
