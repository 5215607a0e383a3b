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
//! hashes (all compared at once, branch-free, their times looked at only on a hash match) and a
//! ring of the last [`HISTORY`] frames in time order (4 MiB, written in order, so cheap;
//! searched only for a frame older than one before it). A repeat of a frame more than
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
    /// The low 32 bits of the hashes of the last [`RECENT`] frames, apart from the rest so that
    /// comparing all of them is one short vectorised pass (eight SSE2 compares); slots from
    /// `filled` on are not frames yet.
    recent_tag: [u32; RECENT],
    /// Their whole hashes, read only where the low bits matched.
    recent_hash: [u64; RECENT],
    /// Their timestamps (nanoseconds), read only where the hash matched.
    recent_ts: [i64; RECENT],
    /// Slots of the ring holding a frame (they fill from 0; [`RECENT`] once it went round).
    filled: usize,
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
            recent_tag: [0; RECENT],
            recent_hash: [0; RECENT],
            recent_ts: [0; RECENT],
            filled: 0,
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
        let near = self.near(e);
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
        self.recent_tag[self.next] = e.hash as u32;
        self.recent_hash[self.next] = e.hash;
        self.recent_ts[self.next] = e.ts;
        self.next = (self.next + 1) % RECENT;
        self.filled = (self.filled + 1).min(RECENT);
        false
    }

    /// Case (a): one of the recent frames has `e`'s hash and is at most [`NEAR_NS`] apart.
    /// Every hash's low bits are compared without a branch (so the loop vectorises); only a
    /// match, nearly always a duplicate, looks at the filled slots one by one.
    fn near(&self, e: Entry) -> bool {
        let tag = e.hash as u32;
        let matches = self
            .recent_tag
            .iter()
            .fold(0u32, |any, &t| any | u32::from(t == tag));
        matches != 0
            && (0..self.filled).any(|i| {
                self.recent_hash[i] == e.hash
                    && self.recent_ts[i].abs_diff(e.ts) <= NEAR_NS.unsigned_abs()
            })
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

/// A 64-bit hash of `bytes` and their length, for telling equal frames: 32 bytes a round in two
/// independent lanes of folded multiplies (wyhash's mixing step), so an IP packet of a typical
/// 60–90 captured bytes takes three short rounds instead of a chain of one multiply per 8 bytes.
/// The last round reads the final 32 bytes (overlapping the round before; the length is in the
/// seed, so that is still all of the bytes); a packet under 32 bytes is zero-padded.
pub fn hash(bytes: &[u8]) -> u64 {
    const P: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let len = bytes.len();
    let (mut a, mut b) = ((len as u64) ^ P[0], (len as u64).rotate_left(32) ^ P[1]);
    let mut round = |c: &[u8; 32]| {
        a = fold(word(c, 0) ^ a, word(c, 8) ^ P[2]);
        b = fold(word(c, 16) ^ b, word(c, 24) ^ P[3]);
    };
    if len < 32 {
        let mut padded = [0u8; 32];
        padded[..len].copy_from_slice(bytes);
        round(&padded);
    } else {
        let (chunks, _) = bytes[..len - 1].as_chunks::<32>();
        for c in chunks {
            round(c);
        }
        round(bytes[len - 32..].first_chunk().expect("32 bytes or more"));
    }
    fold(a ^ P[3], b ^ P[0])
}

/// The 128-bit product of `x` and `y`, its halves xored (wyhash's `mum`).
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

fn word(c: &[u8; 32], at: usize) -> u64 {
    u64::from_le_bytes(*c[at..].first_chunk().expect("within the chunk"))
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
        // A change of any one byte, at every length around the 32-byte rounds, and at the end
        // of a tail the last round reads twice.
        for len in 0..200usize {
            let base: Vec<u8> = (0..len).map(|i| (i * 131 + 7) as u8).collect();
            let h = hash(&base);
            for at in 0..len {
                let mut b = base.clone();
                b[at] ^= 1 << (at % 8);
                assert_ne!(hash(&b), h, "len {len}, byte {at}");
            }
        }
    }
}
