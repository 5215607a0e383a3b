//! Capture timestamps: nanoseconds since the Unix epoch, printed with the capture's own precision.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Timestamp(pub i64);

/// A step between two timestamps of one capture larger than this (a year) is a clock problem,
/// not a pause: no capture runs that long, and no TCP connection waits that long between
/// segments.
pub const ABSURD_GAP_S: f64 = 31_557_600.0;

/// How `later` relates to `earlier` when it is not a plain step forward: the clock went
/// backwards, or jumped by more than [`ABSURD_GAP_S`]. `None` for an ordinary step.
pub fn clock_problem(earlier: Timestamp, later: Timestamp) -> Option<ClockProblem> {
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
/// the first step backwards and the first absurd jump, each with its frame and how many more.
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
        if let Some((frame, p, prev)) = self.backwards {
            out.push((
                frame,
                format!(
                    "clock problem: the capture's clock runs backwards at frame {frame}, stamped {}{}; \
                     durations across such a step are negative; a connection whose own segments \
                     step back has a clock anomaly",
                    p.relative_to(prev),
                    more(self.backwards_more, "")
                ),
            ));
        }
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
        let warnings = w.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .contains("backwards at frame 2, stamped 1.000 s before frame 1 (and once more)"),
            "{warnings:?}"
        );
    }

    #[test]
    fn differences() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(10, 1_500_000);
        assert_eq!(b.millis_since(a), 1.5);
        assert_eq!(a.plus_secs(60.0), Timestamp::from_secs_nanos(70, 0));
    }
}
