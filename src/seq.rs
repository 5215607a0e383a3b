//! Wrap-aware TCP sequence numbers (RFC 9293 §3.4).
//!
//! Sequence numbers live on a circle of 2^32 values: `a < b` means "b is at most 2^31 ahead of a".
//! This is the only place in the crate that looks at the raw `u32` ordering; everything else
//! compares `SeqNumber`s. The model is smoltcp's `TcpSeqNumber`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self` (positive when `self` is ahead).
    pub fn diff(self, other: SeqNumber) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }

    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self >= other { self } else { other }
    }

    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self <= other { self } else { other }
    }

    /// Offset from `base` as an unsigned relative number, as Wireshark shows relative sequence numbers.
    pub fn relative_to(self, base: SeqNumber) -> u32 {
        self.0.wrapping_sub(base.0)
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordering modulo 2^32. Not a total order over all of u32 (a and a+2^31 are "equal-distance"),
/// which is the standard TCP comparison; it is total within any window smaller than 2^31.
impl Ord for SeqNumber {
    fn cmp(&self, other: &SeqNumber) -> Ordering {
        (self.0.wrapping_sub(other.0) as i32).cmp(&0)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Seq({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEAR_WRAP: SeqNumber = SeqNumber(u32::MAX - 10);

    #[test]
    fn ordering_across_the_wrap() {
        let after = NEAR_WRAP + 20;
        assert_eq!(after.0, 9);
        assert!(after > NEAR_WRAP);
        assert!(NEAR_WRAP < after);
        assert_eq!(after.diff(NEAR_WRAP), 20);
        assert_eq!(NEAR_WRAP.diff(after), -20);
        assert_eq!(after.max(NEAR_WRAP), after);
        assert_eq!(after.min(NEAR_WRAP), NEAR_WRAP);
    }

    #[test]
    fn relative_numbers_wrap() {
        assert_eq!((NEAR_WRAP + 1).relative_to(NEAR_WRAP), 1);
        assert_eq!((NEAR_WRAP + 100).relative_to(NEAR_WRAP), 100);
        assert_eq!((NEAR_WRAP - 1).relative_to(NEAR_WRAP), u32::MAX);
    }

    #[test]
    fn raw_u32_order_would_be_wrong() {
        let a = SeqNumber(0xffff_fff0);
        let b = SeqNumber(0x0000_0010);
        assert!(a.0 > b.0);
        assert!(a < b, "b is 32 ahead of a on the circle");
    }
}
