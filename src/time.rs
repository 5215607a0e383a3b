//! Capture timestamps: nanoseconds since the Unix epoch, printed with the capture's own precision.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// `self - earlier` in milliseconds.
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e6
    }

    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e9
    }

    pub fn plus_secs(self, secs: f64) -> Timestamp {
        Timestamp(self.0.saturating_add((secs * 1e9) as i64))
    }

    /// Seconds since the epoch with `digits` decimals (6 for µs captures, 9 for ns).
    pub fn display(self, digits: u8) -> TimestampDisplay {
        TimestampDisplay {
            ts: self,
            digits: digits.min(9),
        }
    }
}

impl Timestamp {
    /// `2024-05-01 10:00:00.123456 UTC`, with `digits` decimals (proleptic Gregorian calendar).
    pub fn utc(self, digits: u8) -> String {
        let n = self.0;
        let secs = n.div_euclid(1_000_000_000);
        let frac = n.rem_euclid(1_000_000_000) as u64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let digits = digits.min(9);
        let frac = if digits == 0 {
            String::new()
        } else {
            format!(
                ".{:0w$}",
                frac / 10u64.pow(9 - u32::from(digits)),
                w = usize::from(digits)
            )
        };
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{frac} UTC",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub struct TimestampDisplay {
    ts: Timestamp,
    digits: u8,
}

impl fmt::Display for TimestampDisplay {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let n = self.ts.0;
        let sign = if n < 0 { "-" } else { "" };
        let abs = n.unsigned_abs();
        let secs = abs / 1_000_000_000;
        let frac = abs % 1_000_000_000;
        if self.digits == 0 {
            return write!(f, "{sign}{secs}");
        }
        let scaled = frac / 10u64.pow(9 - u32::from(self.digits));
        write!(
            f,
            "{sign}{secs}.{scaled:0width$}",
            width = usize::from(self.digits)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_with_capture_precision() {
        let ts = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        assert_eq!(ts.display(9).to_string(), "1700000000.123456789");
        assert_eq!(ts.display(6).to_string(), "1700000000.123456");
        assert_eq!(ts.display(0).to_string(), "1700000000");
        assert_eq!(Timestamp(5).display(9).to_string(), "0.000000005");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(Timestamp(0).utc(0), "1970-01-01 00:00:00 UTC");
        let ts = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789);
        assert_eq!(ts.utc(6), "2023-11-14 22:13:20.123456 UTC");
        assert_eq!(
            Timestamp::from_secs_nanos(951_782_400, 0).utc(0),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(Timestamp(-1).utc(9), "1969-12-31 23:59:59.999999999 UTC");
    }

    #[test]
    fn differences() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(10, 1_500_000);
        assert_eq!(b.millis_since(a), 1.5);
        assert_eq!(a.plus_secs(60.0), Timestamp::from_secs_nanos(70, 0));
    }
}
