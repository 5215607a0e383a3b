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
    fn differences() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(10, 1_500_000);
        assert_eq!(b.millis_since(a), 1.5);
        assert_eq!(a.plus_secs(60.0), Timestamp::from_secs_nanos(70, 0));
    }
}
