//! Time from the TSC: frequency discovery arithmetic and tick ↔ nanosecond conversion.
//!
//! The platform reads the raw inputs (CPUID leaves, the KVM pvclock page, a PIT
//! measurement); this module turns them into a frequency and converts with a 32.32
//! fixed-point multiplier so the hot path is one multiply and one shift.

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
