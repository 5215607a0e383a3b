//! Wrap-aware TCP sequence numbers (RFC 9293 §3.4).
//!
//! Sequence numbers live on a circle of 2^32 values: `a < b` means "b is at most 2^31 ahead of a".
//! This is the only place in the crate that looks at the raw `u32` ordering; everything else
//! compares `SeqNumber`s. The model is smoltcp's `TcpSeqNumber`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
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

/// Ordering modulo 2^32 (RFC 9293 §3.4): `b > a` when `b` is less than 2^31 ahead of `a`.
/// It is not a total order: two numbers exactly 2^31 apart are neither before nor after each
/// other, and the order is not transitive around the circle. So `SeqNumber` is `PartialOrd`
/// only, and no sort or `Ord`-based `max` can use it by mistake.
impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        match self.0.wrapping_sub(other.0) {
            0 => Some(Ordering::Equal),
            0x8000_0000 => None,
            d if d < 0x8000_0000 => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        }
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
    fn half_the_circle_apart_is_unordered() {
        let a = SeqNumber(7);
        let b = a + 0x8000_0000;
        assert_eq!(a.partial_cmp(&b), None);
        assert_eq!(b.partial_cmp(&a), None);
        assert_ne!(a, b);
        assert!(a + 0x7fff_ffff > a);
        assert!(a + 0x8000_0001 < a);
    }

    #[test]
    fn raw_u32_order_would_be_wrong() {
        let a = SeqNumber(0xffff_fff0);
        let b = SeqNumber(0x0000_0010);
        assert!(a.0 > b.0);
        assert!(a < b, "b is 32 ahead of a on the circle");
    }
}
