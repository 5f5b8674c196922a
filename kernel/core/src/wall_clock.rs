//! The wall clock: the time of day a PC's real-time clock (the MC146818 CMOS RTC
//! that QEMU and most PCs have) gives, turned into seconds since the Unix epoch.
//!
//! The platform reads the registers; this module only decodes them, so it is
//! host-tested. Hosts that exchange MinimaLT directory records compare expiry times
//! from each other's clocks, which needs a shared epoch: this one.
//!
//! The calendar arithmetic (days from a civil date) is written by hand: it is a few
//! lines of integer arithmetic, and no kernel-ready crate does only this.

use core::fmt;

/// The RTC's registers, as read (seconds, minutes, hours, day of month, month,
/// year; status register B; the century register where the firmware names one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    pub status_b: u8,
    pub century: Option<u8>,
}

/// Status register B: values are binary, not BCD.
const BINARY: u8 = 1 << 2;
/// Status register B: hours run 0–23, not 1–12 with a PM bit.
const HOURS_24: u8 = 1 << 1;
/// In 12-hour mode, the hour's top bit says PM.
const PM: u8 = 1 << 7;

/// Why the registers are not a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcError {
    /// A BCD register holds a nibble above 9 (or every bit set: no RTC answered).
    NotBcd(u8),
    /// A field is out of its range.
    OutOfRange(&'static str, u8),
}

impl fmt::Display for RtcError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcError::NotBcd(value) => write!(
                formatter,
                "register value {value:#04x} is not BCD (no RTC, or a broken one)"
            ),
            RtcError::OutOfRange(field, value) => {
                write!(formatter, "{field} {value} is out of range")
            }
        }
    }
}

fn bcd(value: u8) -> Result<u8, RtcError> {
    let (high, low) = (value >> 4, value & 0x0f);
    if high > 9 || low > 9 {
        return Err(RtcError::NotBcd(value));
    }
    Ok(high * 10 + low)
}

/// Days from 1970-01-01 to the civil date `year`-`month`-`day` (proleptic
/// Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years start in March, so the leap day is the last day of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

impl RtcRegisters {
    /// Seconds since 1970-01-01T00:00:00 UTC (the RTC is taken to keep UTC, as QEMU's
    /// does by default).
    pub fn unix_seconds(&self) -> Result<u64, RtcError> {
        let decode = |value: u8| {
            if self.status_b & BINARY != 0 {
                Ok(value)
            } else {
                bcd(value)
            }
        };
        let seconds = decode(self.seconds)?;
        let minutes = decode(self.minutes)?;
        let hours = if self.status_b & HOURS_24 != 0 {
            decode(self.hours)?
        } else {
            let hour = decode(self.hours & !PM)?;
            if !(1..=12).contains(&hour) {
                return Err(RtcError::OutOfRange("hour", hour));
            }
            (hour % 12) + if self.hours & PM != 0 { 12 } else { 0 }
        };
        let day = decode(self.day)?;
        let month = decode(self.month)?;
        let year = decode(self.year)?;
        let century = match self.century {
            Some(century) => decode(century)?,
            // Without a century register: this kernel was written after 2000.
            None => 20,
        };
        for (field, value, low, high) in [
            ("second", seconds, 0, 59),
            ("minute", minutes, 0, 59),
            ("hour", hours, 0, 23),
            ("day", day, 1, 31),
            ("month", month, 1, 12),
            ("year", year, 0, 99),
            ("century", century, 19, 99),
        ] {
            if !(low..=high).contains(&value) {
                return Err(RtcError::OutOfRange(field, value));
            }
        }
        let full_year = i64::from(century) * 100 + i64::from(year);
        let days = days_from_civil(full_year, u32::from(month), u32::from(day));
        let seconds_of_day = i64::from(hours) * 3600 + i64::from(minutes) * 60 + i64::from(seconds);
        u64::try_from(days * 86_400 + seconds_of_day)
            .map_err(|_| RtcError::OutOfRange("year", year))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bcd_registers(
        (year, month, day): (u8, u8, u8),
        (hours, minutes, seconds): (u8, u8, u8),
    ) -> RtcRegisters {
        RtcRegisters {
            seconds,
            minutes,
            hours,
            day,
            month,
            year,
            status_b: HOURS_24,
            century: Some(0x20),
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn bcd_and_binary_registers_decode_to_the_same_time() {
        // 2026-12-04T11:23:00Z is 1,796,383,380 seconds after the epoch.
        let bcd = bcd_registers((0x26, 0x12, 0x04), (0x11, 0x23, 0x00));
        assert_eq!(bcd.unix_seconds(), Ok(1_796_383_380));
        let binary = RtcRegisters {
            seconds: 0,
            minutes: 23,
            hours: 11,
            day: 4,
            month: 12,
            year: 26,
            status_b: BINARY | HOURS_24,
            century: None,
        };
        assert_eq!(binary.unix_seconds(), Ok(1_796_383_380));
        // 12-hour mode: 11 PM is 23 h; 12 AM is 0 h.
        let pm = RtcRegisters {
            hours: 0x11 | PM,
            status_b: 0,
            ..bcd
        };
        assert_eq!(pm.unix_seconds(), Ok(1_796_383_380 + 12 * 3600));
        let midnight = RtcRegisters {
            hours: 0x12,
            status_b: 0,
            ..bcd
        };
        assert_eq!(midnight.unix_seconds(), Ok(1_796_383_380 - 11 * 3600));
    }

    #[test]
    fn no_rtc_and_nonsense_are_refused() {
        let absent = RtcRegisters {
            seconds: 0xff,
            minutes: 0xff,
            hours: 0xff,
            day: 0xff,
            month: 0xff,
            year: 0xff,
            status_b: !BINARY,
            century: None,
        };
        assert_eq!(absent.unix_seconds(), Err(RtcError::NotBcd(0xff)));
        let month_13 = bcd_registers((0x26, 0x13, 0x04), (0x11, 0x23, 0x00));
        assert_eq!(
            month_13.unix_seconds(),
            Err(RtcError::OutOfRange("month", 13))
        );
        let second_60 = bcd_registers((0x26, 0x12, 0x04), (0x11, 0x23, 0x60));
        assert_eq!(
            second_60.unix_seconds(),
            Err(RtcError::OutOfRange("second", 60))
        );
    }
}
