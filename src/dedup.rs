//! Frames the capture holds twice: a file appended to itself, or one packet captured on two
//! interfaces. Either would otherwise read as a burst of spurious retransmissions.
//!
//! A frame is a duplicate when its bytes from the IP header on equal an earlier frame's and
//! either (a) that frame is among the last [`RECENT`] frames and at most [`NEAR_NS`] earlier
//! (two interfaces, as `editcap -D` finds them), or (b) it carries the very same timestamp
//! (the same record read again, as after a backward time jump when a file was appended to
//! itself). Bytes are compared through a 64-bit hash of the IP packet and its length; a
//! retransmission differs in the IP ID or TCP timestamps and never shares a timestamp to the
//! nanosecond. Memory is fixed, allocated once, nothing per frame: a ring of the [`RECENT`]
//! hashes and a ring of the last [`HISTORY`] frames in time order (4 MiB, written in order, so
//! cheap; searched only for a frame older than one before it). A repeat of a frame more than
//! [`HISTORY`] frames back, or of a frame that itself arrived out of time order, is not
//! recognised by (b).

use crate::time::Timestamp;

/// Recent frames compared for case (a).
pub const RECENT: usize = 32;
/// How close in time a repeat on another interface must be: 1 ms.
pub const NEAR_NS: i64 = 1_000_000;
/// Repeats, from a backward jump on, that make one "appended to itself" warning.
pub const APPENDED_MIN: u64 = 10;
/// Frames kept in time order for case (b).
pub const HISTORY: usize = 1 << 18;

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Entry {
    hash: u64,
    ts: i64,
}

pub struct Dedup {
    /// The last [`RECENT`] frames; `None` until filled.
    recent: [Option<Entry>; RECENT],
    next: usize,
    /// A ring of the last [`HISTORY`] frames that did not go back in time, so their timestamps
    /// never decrease and a frame from the past is found by binary search.
    history: Box<[Entry]>,
    /// Frames ever written to `history` (the next one goes to `written % HISTORY`).
    written: u64,
    /// Where the last repeat was found, plus one: a file appended to itself repeats in order.
    cursor: u64,
    /// The latest timestamp so far, to tell a backward jump.
    latest: Option<Timestamp>,
    pub duplicates: u64,
    /// The first frame whose timestamp is earlier than one before it: (frame, seconds back).
    pub first_backward: Option<(u64, f64)>,
    /// The first duplicate frame (the frame it repeats is not kept, only its hash).
    pub first_duplicate: Option<u64>,
}

impl Default for Dedup {
    fn default() -> Dedup {
        Dedup {
            recent: [None; RECENT],
            next: 0,
            history: vec![Entry::default(); HISTORY].into_boxed_slice(),
            written: 0,
            cursor: 0,
            latest: None,
            duplicates: 0,
            first_backward: None,
            first_duplicate: None,
        }
    }
}

impl Dedup {
    /// Note the time of frame `number`, to tell the first backward jump.
    pub fn note_time(&mut self, number: u64, ts: Timestamp) {
        match self.latest {
            Some(l) if ts < l => {
                if self.first_backward.is_none() {
                    self.first_backward = Some((number, l.secs_since(ts)));
                }
            }
            _ => self.latest = Some(ts),
        }
    }

    /// Note frame `number` at `ts` whose IP packet is `ip` (after [`Dedup::note_time`]); true
    /// if it repeats an earlier one.
    pub fn is_duplicate(&mut self, number: u64, ts: Timestamp, ip: &[u8]) -> bool {
        let e = Entry {
            hash: hash(ip),
            ts: ts.nanos(),
        };
        let near = self
            .recent
            .iter()
            .flatten()
            .any(|r| r.hash == e.hash && r.ts.abs_diff(e.ts) <= NEAR_NS.unsigned_abs());
        // Only a frame from the past can be a record read again.
        let past = self.latest.is_some_and(|l| ts < l);
        if near || (past && self.seen(e)) {
            self.duplicates += 1;
            self.first_duplicate.get_or_insert(number);
            return true;
        }
        if !past {
            self.history[(self.written % HISTORY as u64) as usize] = e;
            self.written += 1;
        }
        self.recent[self.next] = Some(e);
        self.next = (self.next + 1) % RECENT;
        false
    }

    fn at(&self, i: u64) -> Entry {
        self.history[(i % HISTORY as u64) as usize]
    }

    /// Whether `e` (same hash, same timestamp) is in the history.
    fn seen(&mut self, e: Entry) -> bool {
        let lo = self.written.saturating_sub(HISTORY as u64);
        let hi = self.written;
        // A replay goes on where the last one matched.
        let from = self.cursor.max(lo);
        for i in from..from.saturating_add(4).min(hi) {
            if self.at(i) == e {
                self.cursor = i + 1;
                return true;
            }
        }
        // The first entry not earlier than `e`, then every entry at that instant.
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = a + (b - a) / 2;
            if self.at(mid).ts < e.ts {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        while a < hi && self.at(a).ts == e.ts {
            if self.at(a).hash == e.hash {
                self.cursor = a + 1;
                return true;
            }
            a += 1;
        }
        false
    }

    /// The warnings to give, once each: duplicates with the remedy, and a backward jump; one
    /// warning for both when the repeats start at the jump (a file appended to itself).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        // Repeats that start at the jump, or a few frames after it (frames that are not TCP
        // segments are not compared).
        let appended = match (self.first_backward, self.first_duplicate) {
            (Some((jump, _)), Some(dup)) => {
                dup >= jump && dup - jump < RECENT as u64 && self.duplicates >= APPENDED_MIN
            }
            _ => false,
        };
        if let (true, Some((frame, back))) = (appended, self.first_backward) {
            out.push(format!(
                "from frame {frame} the capture goes back {back:.6} s and repeats earlier frames byte for byte ({} duplicate frames in all): a file appended to itself? They were left out of the analysis; `editcap -D 1000 in out` removes them",
                self.duplicates
            ));
            return out;
        }
        if let Some(first) = self.first_duplicate {
            out.push(format!(
                "{} frames repeat an earlier frame byte for byte from the IP header on (the first is frame {first}): the capture holds packets twice (two interfaces, or a file appended to itself); they were left out of the analysis. `editcap -D 1000 in out` removes them",
                self.duplicates
            ));
        }
        if let Some((frame, back)) = self.first_backward {
            out.push(format!(
                "frame {frame} is {back:.6} s earlier than a frame before it: the capture is not in time order; `reordercap in out` sorts it"
            ));
        }
        out
    }
}

/// FxHash-style multiply-rotate over 8-byte words, seeded with the length: fast, and the
/// length is part of what is compared.
pub fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // Final avalanche so the low bits (the table slot) depend on every byte.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(us: i64) -> Timestamp {
        Timestamp(us * 1000)
    }

    #[test]
    fn a_repeat_on_another_interface_is_a_duplicate() {
        let mut d = Dedup::default();
        assert!(!d.is_duplicate(1, t(0), b"packet one"));
        assert!(d.is_duplicate(2, t(20), b"packet one"));
        // Same bytes a second later: a retransmission without IP ID or timestamps, kept.
        assert!(!d.is_duplicate(3, t(1_000_000), b"packet one"));
        assert_eq!(d.duplicates, 1);
        assert_eq!(d.first_duplicate, Some(2));
        assert!(d.first_backward.is_none());
    }

    #[test]
    fn a_file_appended_to_itself_repeats_from_a_backward_jump() {
        let mut d = Dedup::default();
        let frames: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().repeat(10)).collect();
        for (i, f) in frames.iter().enumerate() {
            d.note_time(i as u64 + 1, t(i as i64 * 5000));
            assert!(!d.is_duplicate(i as u64 + 1, t(i as i64 * 5000), f));
        }
        for (i, f) in frames.iter().enumerate() {
            d.note_time(1001 + i as u64, t(i as i64 * 5000));
            assert!(d.is_duplicate(1001 + i as u64, t(i as i64 * 5000), f));
        }
        assert_eq!(d.duplicates, 1000);
        assert_eq!(d.first_backward.map(|b| b.0), Some(1001));
        assert_eq!(d.warnings().len(), 1, "one warning for both");
        assert!(d.warnings()[0].contains("from frame 1001"));
    }

    #[test]
    fn different_bytes_or_lengths_hash_apart() {
        assert_ne!(hash(b"abcdefgh"), hash(b"abcdefgi"));
        assert_ne!(hash(b"abc"), hash(b"abc\0"));
        assert_ne!(hash(b""), hash(b"\0"));
    }
}
