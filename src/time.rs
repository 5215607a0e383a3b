//! Capture timestamps: nanoseconds since the Unix epoch, printed with the capture's own precision.

use std::cell::Cell;
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Timestamp(pub i64);

thread_local! {
    /// What a serialized [`Timestamp`] is written relative to ([`relative_to`]).
    static SERDE_BASE: Cell<i64> = const { Cell::new(0) };
}

/// Run `f` with every [`Timestamp`] serialized or deserialized as its distance from `base`:
/// the times of one connection lie close together, so a frozen connection
/// (`crate::conn::frozen`) writes each in a few bytes of variable-length integer instead of
/// nine. The same `base` must be given to read them back.
pub fn relative_to<R>(base: Timestamp, f: impl FnOnce() -> R) -> R {
    struct Restore(i64);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERDE_BASE.set(self.0);
        }
    }
    let _restore = Restore(SERDE_BASE.replace(base.0));
    f()
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0.wrapping_sub(SERDE_BASE.get()))
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let delta = <i64 as serde::Deserialize>::deserialize(d)?;
        Ok(Timestamp(delta.wrapping_add(SERDE_BASE.get())))
    }
}

/// A step between two timestamps of one capture larger than this (a year) is a clock problem,
/// not a pause: no capture runs that long, and no TCP connection waits that long between
/// segments.
pub const ABSURD_GAP_S: f64 = 31_557_600.0;

/// How `later` relates to `earlier` when it is not a plain step forward: the clock went
/// backwards, or jumped by more than [`ABSURD_GAP_S`]. `None` for an ordinary step.
pub fn clock_problem(earlier: Timestamp, later: Timestamp) -> Option<ClockProblem> {
    // The ordinary step (every frame's) told in integers, without the float division: forward
    // by less than the gap less a second is `None` whatever the division rounds to.
    const ORDINARY_NS: i64 = (ABSURD_GAP_S as i64 - 1) * 1_000_000_000;
    if (0..ORDINARY_NS).contains(&later.0.saturating_sub(earlier.0)) {
        return None;
    }
    let secs = later.secs_since(earlier);
    if secs < 0.0 {
        Some(ClockProblem::Backwards(-secs))
    } else if secs > ABSURD_GAP_S {
        Some(ClockProblem::Jump(secs))
    } else {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum ClockProblem {
    /// Stamped this many seconds before the earlier one.
    Backwards(f64),
    /// Stamped this many seconds (more than a year) after it.
    Jump(f64),
}

impl ClockProblem {
    /// "5.000 s before frame 2", "0.030 ms before frame 2", "3155760000.000 s (100.0 years)
    /// after frame 2".
    pub fn relative_to(self, frame: u64) -> String {
        match self {
            ClockProblem::Backwards(s) if s >= 1.0 => format!("{s:.3} s before frame {frame}"),
            ClockProblem::Backwards(s) => format!("{:.3} ms before frame {frame}", s * 1e3),
            ClockProblem::Jump(s) => format!(
                "{s:.3} s ({:.1} years) after frame {frame}",
                s / ABSURD_GAP_S
            ),
        }
    }
}

/// Watches the capture's clock frame by frame and words what it saw for the capture warnings:
/// the first absurd jump forward, with its frame and how many more (a step backwards is warned
/// by `crate::dedup`, which also tells a file appended to itself).
#[derive(Default)]
pub struct ClockWatch {
    last: Option<(Timestamp, u64)>,
    backwards: Option<(u64, ClockProblem, u64)>,
    backwards_more: u64,
    jump: Option<(u64, ClockProblem, u64)>,
    jump_more: u64,
}

impl ClockWatch {
    pub fn frame(&mut self, ts: Timestamp, frame: u64) {
        if let Some((last, last_frame)) = self.last
            && let Some(p) = clock_problem(last, ts)
        {
            let (first, more) = match p {
                ClockProblem::Backwards(_) => (&mut self.backwards, &mut self.backwards_more),
                ClockProblem::Jump(_) => (&mut self.jump, &mut self.jump_more),
            };
            if first.is_some() {
                *more += 1;
            } else {
                *first = Some((frame, p, last_frame));
            }
        }
        self.last = Some((ts, frame));
    }

    /// The warnings, in the order of the capture.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<(u64, String)> = Vec::new();
        let more = |n: u64, what: &str| match n {
            0 => String::new(),
            1 => format!(" (and once more{what})"),
            n => format!(" (and {n} more times{what})"),
        };
        // A step backwards is the reader's to warn about (`crate::dedup`: not in time order);
        // here only its count is kept, for the tests.
        let _ = (self.backwards, self.backwards_more, more(0, ""));
        if let Some((frame, p, prev)) = self.jump {
            out.push((
                frame,
                format!(
                    "clock problem: the capture's clock jumps forward at frame {frame}, stamped {}{}; \
                     durations across such a jump are not real; a connection whose own segments \
                     jump has a clock anomaly",
                    p.relative_to(prev),
                    more(self.jump_more, "")
                ),
            ));
        }
        out.sort_by_key(|(frame, _)| *frame);
        out.into_iter().map(|(_, w)| w).collect()
    }
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    /// The latest and earliest instants a timestamp holds (nanoseconds since 1970 in 64 bits):
    /// 2262-04-11T23:47:16.854775807Z and 1677-09-21T00:12:43.145224192Z.
    pub const MAX: Timestamp = Timestamp(i64::MAX);
    pub const MIN: Timestamp = Timestamp(i64::MIN);

    /// Saturates at [`Timestamp::MAX`] or [`Timestamp::MIN`]; [`Timestamp::checked_from_secs_nanos`]
    /// tells when it would.
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// `None` when the instant lies outside 1677–2262, where nanoseconds since 1970 do not fit
    /// in 64 bits.
    pub fn checked_from_secs_nanos(secs: i64, nanos: i64) -> Option<Timestamp> {
        secs.checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(nanos))
            .map(Timestamp)
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

impl TimestampDisplay {
    /// The text, formatted on the stack (no allocation, no `fmt` machinery): what a JSON
    /// number of every connection's timestamps is written from.
    pub fn text(&self) -> DecimalText {
        // Laid out as [sign][seconds].[nine fraction digits], then cut after `digits` of them:
        // every division is by a constant.
        const DOT: usize = 22;
        let n = self.ts.0;
        let abs = n.unsigned_abs();
        let (mut secs, mut frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
        let mut buf = [0u8; 32];
        for b in buf[DOT + 1..DOT + 10].iter_mut().rev() {
            *b = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        buf[DOT] = b'.';
        let mut start = DOT;
        loop {
            start -= 1;
            buf[start] = b'0' + (secs % 10) as u8;
            secs /= 10;
            if secs == 0 {
                break;
            }
        }
        if n < 0 {
            start -= 1;
            buf[start] = b'-';
        }
        let end = match self.digits {
            0 => DOT,
            d => DOT + 1 + usize::from(d),
        };
        DecimalText { buf, start, end }
    }
}

/// A timestamp's decimal text in a fixed buffer (see [`TimestampDisplay::text`]).
pub struct DecimalText {
    buf: [u8; 32],
    start: usize,
    end: usize,
}

impl DecimalText {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..self.end]).expect("ASCII digits")
    }
}

impl fmt::Display for TimestampDisplay {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.text().as_str())
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
        // The stack formatting agrees with `format!` of the parts, whatever the sign, size and
        // digits.
        for n in [
            0,
            1,
            -1,
            999_999_999,
            -1_000_000_000,
            5_000_000_123,
            i64::MAX,
            i64::MIN,
        ] {
            for digits in 0..=9u8 {
                let abs = i64::unsigned_abs(n);
                let sign = if n < 0 { "-" } else { "" };
                let secs = abs / 1_000_000_000;
                let frac = (abs % 1_000_000_000) / 10u64.pow(9 - u32::from(digits));
                let want = match digits {
                    0 => format!("{sign}{secs}"),
                    d => format!("{sign}{secs}.{frac:0w$}", w = usize::from(d)),
                };
                assert_eq!(Timestamp(n).display(digits).to_string(), want);
            }
        }
    }

    #[test]
    fn clock_problems_are_told_from_pauses() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 0);
        assert_eq!(clock_problem(t, t), None);
        assert_eq!(clock_problem(t, t.plus_secs(30.0 * 86_400.0)), None);
        let back = clock_problem(t, Timestamp(t.0 - 30_000)).unwrap();
        assert_eq!(back.relative_to(7), "0.030 ms before frame 7");
        let back = clock_problem(t, t.plus_secs(-3_600.0)).unwrap();
        assert_eq!(back.relative_to(7), "3600.000 s before frame 7");
        let jump = clock_problem(t, t.plus_secs(2.0 * ABSURD_GAP_S)).unwrap();
        assert_eq!(
            jump.relative_to(7),
            "63115200.000 s (2.0 years) after frame 7"
        );
    }

    #[test]
    fn the_clock_watch_tells_the_first_step_and_how_many_more() {
        let mut w = ClockWatch::default();
        let t = Timestamp::from_secs_nanos(1_700_000_000, 0);
        for (frame, ts) in [
            (1, t),
            (2, t.plus_secs(-1.0)),
            (3, t),
            (4, t.plus_secs(-2.0)),
        ] {
            w.frame(ts, frame);
        }
        assert_eq!(w.backwards.map(|b| b.0), Some(2));
        assert_eq!(w.backwards_more, 1);
        assert!(w.warnings().is_empty(), "steps back are warned by dedup");
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
