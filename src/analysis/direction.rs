//! What the capture knows of one direction of a connection: what its sender sent and
//! acknowledged, the gaps it has not seen, loss recovery, RTT samples and counters.

use crate::analysis::SegClass;
use crate::analysis::count::DirStats;
use crate::analysis::rtt::RttSampler;
use crate::decode::segment::{Segment, TcpOptions};
use crate::seq::SeqNumber;
use crate::time::Timestamp;

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum RecoveryKind {
    Fast,
    Loss,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Recovery {
    pub kind: RecoveryKind,
    /// Recovery ends when the peer acknowledges this (RFC 6582's "recover").
    pub high: SeqNumber,
}

/// A tail loss probe out: what the sender's `tlp_high_seq` stands for in Linux.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct ProbeOut {
    pub at: Timestamp,
    /// How long after the timer's last re-arming it left.
    pub wait_ms: f64,
    /// It sent new data, in this frame (not a resend of the tail).
    pub new_data_frame: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Hole {
    pub start: SeqNumber,
    pub end: SeqNumber,
    pub opened: Timestamp,
    /// The TSval of the segment that showed the gap (the first one beyond it).
    pub opener_tsval: Option<u32>,
}

const HOLES: usize = 8;
const ACK_LOG: usize = 8;
/// Sends later than this after an ACK are not taken as its reaction (the application was
/// silent, or the window was full).
const MAX_REACTION_LAG_MS: f64 = 20.0;

/// Everything known about one direction of a connection: what its sender sent and acknowledged.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Direction {
    pub isn: Option<SeqNumber>,
    pub syn_options: Option<TcpOptions>,
    /// Its SYN carried ACK (a SYN-ACK).
    pub syn_was_synack: bool,
    /// It has sent a SYN-ACK (after its own bare SYN in a simultaneous open, or as the server).
    pub synack_sent: bool,
    pub syn_count: u32,
    pub first_syn: Option<(Timestamp, u64)>,
    pub last_syn_ts: Option<Timestamp>,
    /// Highest sequence number sent plus one (SND.MAX).
    pub next_seq: Option<SeqNumber>,
    pub fin_seq: Option<SeqNumber>,
    pub fin_at: Option<(Timestamp, u64)>,
    pub rst_at: Option<(Timestamp, u64)>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// When it last sent sequence space never sent before.
    pub last_new_data_ts: Option<Timestamp>,
    /// Its last ACK number and raw window, for dup ACK and window update detection.
    pub last_ack: Option<SeqNumber>,
    pub last_win_raw: u16,
    /// The highest ACK it sent: the peer's data it has confirmed.
    pub highest_ack: Option<SeqNumber>,
    pub highest_ack_ts: Option<Timestamp>,
    /// Its last ACK advances, newest last: what the peer had been told, and when.
    /// Allocated with the first ACK advance, given back with the gaps.
    pub ack_log: Option<Box<[(SeqNumber, Timestamp); ACK_LOG]>>,
    pub ack_log_len: usize,
    /// How long after an ACK arrives this sender's reply leaves (capture beside it): its
    /// recent largest ACK-clocked send delay, decaying.
    pub reaction_lag_ms: f64,
    /// The ACK advance its last ACK-clocked sample was taken from.
    lag_sampled_ack: Option<SeqNumber>,
    /// Its advertised window in bytes (scaled when both SYNs agreed on scaling).
    pub window: Option<u64>,
    pub window_shift: u8,
    pub window_scaling_known: bool,
    pub dup_ack_run: u32,
    /// Highest right edge of SACK blocks it sent since its ACK last advanced.
    pub sack_high: Option<SeqNumber>,
    pub unseen_ack_high: Option<SeqNumber>,
    pub recovery: Option<Recovery>,
    pub rto_streak: u32,
    pub last_retransmit_ts: Option<Timestamp>,
    /// The byte a BSD-style zero-window probe sent at SND.NXT, not yet acknowledged.
    pub probe_byte: Option<SeqNumber>,
    /// A tail loss probe is out: SND.MAX when it was sent (Linux's `tlp_high_seq`). No second
    /// probe until the peer acknowledges it; the next timer-driven resend is the RTO.
    pub tlp_high: Option<SeqNumber>,
    /// That probe.
    pub tlp_sent: Option<ProbeOut>,
    /// This sender's timer resends double from the first one: it sends no tail loss probes
    /// (Linux with `tcp_early_retrans=0`, or a stack without TLP).
    pub sends_no_probes: bool,
    pub last_tsval: Option<u32>,
    pub last_class: Option<SegClass>,
    /// Gaps not yet filled; allocated with the first gap, given back when the connection is
    /// finished.
    pub holes: Option<Box<[Hole; HOLES]>>,
    pub hole_count: usize,
    pub rtt: RttSampler,
    pub stats: DirStats,
}

impl Direction {
    /// Remember a gap `[start, end)` the capture did not see.
    pub fn open_gap(
        &mut self,
        start: SeqNumber,
        end: SeqNumber,
        ts: Timestamp,
        opener_tsval: Option<u32>,
    ) {
        let hole = Hole {
            start,
            end,
            opened: ts,
            opener_tsval,
        };
        let holes = self.holes.get_or_insert_with(Default::default);
        if self.hole_count < HOLES {
            holes[self.hole_count] = hole;
            self.hole_count += 1;
        } else {
            holes.rotate_left(1);
            holes[HOLES - 1] = hole;
        }
    }

    /// When the remembered gap that `seq` falls in opened.
    pub fn gap_opened(&self, seq: SeqNumber) -> Option<Timestamp> {
        let holes = self.holes.as_ref()?;
        self.gap_index(seq).map(|i| holes[i].opened)
    }

    /// The remembered gap that `seq` falls in.
    pub fn gap(&self, seq: SeqNumber) -> Option<Hole> {
        let holes = self.holes.as_ref()?;
        self.gap_index(seq).map(|i| holes[i])
    }

    fn gap_index(&self, seq: SeqNumber) -> Option<usize> {
        let holes = self.holes.as_ref()?;
        (0..self.hole_count).find(|&i| seq >= holes[i].start && seq < holes[i].end)
    }

    /// If `[seq, end)` lies in a remembered gap, consume that part and return when it opened.
    pub fn fill_gap(&mut self, seq: SeqNumber, end: SeqNumber) -> Option<Timestamp> {
        let i = self.gap_index(seq)?;
        let holes = self.holes.as_mut()?;
        let opened = holes[i].opened;
        let h = &mut holes[i];
        if seq == h.start {
            h.start = end.min(h.end);
        } else {
            h.end = seq;
        }
        if h.start >= h.end {
            holes.copy_within(i + 1..self.hole_count, i);
            self.hole_count -= 1;
        }
        Some(opened)
    }

    pub fn forget_holes_below(&mut self, ack: SeqNumber) {
        let Some(holes) = self.holes.as_mut() else {
            return;
        };
        let mut kept = 0;
        for i in 0..self.hole_count {
            if holes[i].end > ack {
                holes[kept] = holes[i];
                kept += 1;
            }
        }
        self.hole_count = kept;
    }

    /// The highest ACK it had sent by `at`: what the peer can have known by then.
    pub fn ack_known_at(&self, at: Timestamp) -> Option<SeqNumber> {
        self.ack_log.as_ref()?[..self.ack_log_len]
            .iter()
            .rev()
            .find(|(_, t)| *t <= at)
            .map(|(a, _)| *a)
    }

    fn log_ack(&mut self, ack: SeqNumber, ts: Timestamp) {
        let log = self.ack_log.get_or_insert_with(Default::default);
        if self.ack_log_len == ACK_LOG {
            log.rotate_left(1);
            self.ack_log_len -= 1;
        }
        log[self.ack_log_len] = (ack, ts);
        self.ack_log_len += 1;
    }

    /// The connection will see no more segments: give back what only the segment analysis
    /// needed (the RTT ring and the gaps), keep what the reports read.
    pub fn release(&mut self) {
        self.rtt.release();
        self.holes = None;
        self.hole_count = 0;
        self.ack_log = None;
        self.ack_log_len = 0;
    }

    /// The window `seg` advertises in bytes: a SYN's is never scaled (RFC 7323 §2.2).
    pub fn scaled_window(&self, seg: &Segment) -> u64 {
        if seg.flags.syn() {
            u64::from(seg.window)
        } else {
            u64::from(seg.window) << self.window_shift
        }
    }

    /// Both SYNs offered SACK: Linux schedules tail loss probes only on such connections.
    pub fn sack_negotiated(&self, peer: &Direction) -> bool {
        let ok = |d: &Direction| d.syn_options.is_some_and(|o| o.sack_permitted);
        ok(self) && ok(peer)
    }

    /// SND.UNA as far as the capture can tell: what the peer has acknowledged, else the ISN.
    pub fn una(&self, peer: &Direction) -> Option<SeqNumber> {
        peer.highest_ack.or(self.isn)
    }
}

/// Bookkeeping after classification: highest sequence sent, what the ACK acknowledges, the
/// advertised window, RTT samples. `ack_acceptable` is false for an ACK that the peer, in
/// SYN_SENT, finds unacceptable (RFC 9293 §3.10.7.3): it moves nothing. Returns the RTT sample
/// (ms) of the peer's data that this segment's ACK gave, if any (the pictures draw it).
#[inline(always)]
pub fn after_segment(
    d: &mut Direction,
    p: &mut Direction,
    seg: &Segment,
    ts: Timestamp,
    class: SegClass,
    ack_acceptable: bool,
) -> Option<f64> {
    let mut rtt_sample = None;
    let end = seg.end();
    let f = seg.flags;
    let is_new_data = d.next_seq.is_none_or(|n| end > n);
    if seg.seg_len() > 0 && is_new_data && !matches!(class, SegClass::Retransmission(_)) {
        d.rtt.on_send(end, ts);
        // The first new data after an ACK advance is the sender's reaction to it.
        if let (Some(a), Some(at)) = (p.highest_ack, p.highest_ack_ts)
            && d.lag_sampled_ack != Some(a)
            && d.last_ts.is_none_or(|l| l <= at)
        {
            d.lag_sampled_ack = Some(a);
            let lag = ts.millis_since(at);
            if (0.0..MAX_REACTION_LAG_MS).contains(&lag) {
                d.reaction_lag_ms = lag.max(0.95 * d.reaction_lag_ms);
            }
        }
    }
    // A RST occupies no sequence space, and one answering a bad ACK carries that ACK's number:
    // it never moves SND.MAX.
    if !f.rst() && is_new_data {
        d.next_seq = Some(end);
        if seg.seg_len() > 0 {
            d.last_new_data_ts = Some(ts);
        }
    }
    if !ack_acceptable {
        // Remembered only so the peer's RST reply can be recognised.
        d.last_ack = Some(seg.ack);
    }
    if f.ack() && ack_acceptable {
        if d.highest_ack.is_none_or(|h| seg.ack > h) {
            d.highest_ack = Some(seg.ack);
            d.highest_ack_ts = Some(ts);
            d.log_ack(seg.ack, ts);
            d.sack_high = None;
            rtt_sample = p.rtt.on_ack(seg.ack, ts);
            p.forget_holes_below(seg.ack);
            if p.tlp_high.is_some_and(|h| seg.ack >= h) {
                p.tlp_high = None;
                p.tlp_sent = None;
            }
            if p.recovery.is_some_and(|rec| seg.ack >= rec.high) {
                p.recovery = None;
                p.rto_streak = 0;
            }
        }
        if d.last_ack != Some(seg.ack) {
            d.dup_ack_run = 0;
        }
        d.last_ack = Some(seg.ack);
        d.last_win_raw = seg.window;
        // A SYN's window is unscaled (RFC 7323 §2.2); scaled_window knows.
        d.window = Some(d.scaled_window(seg));
        for b in seg.options.sack_blocks() {
            if d.sack_high.is_none_or(|h| b.right > h) {
                d.sack_high = Some(b.right);
            }
        }
    }
    if let Some((tsval, _)) = seg.options.timestamps {
        d.last_tsval = Some(tsval);
    }
    d.first_ts.get_or_insert(ts);
    d.last_ts = Some(ts);
    d.last_class = Some(class);
    rtt_sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_fill_from_either_end() {
        let mut d = Direction::default();
        let t = Timestamp::from_secs_nanos(1, 0);
        let base = SeqNumber(u32::MAX - 5);
        d.open_gap(base, base + 3000, t, None);
        assert_eq!(d.fill_gap(base, base + 1000), Some(t));
        assert_eq!(d.hole_count, 1);
        assert_eq!(d.fill_gap(base + 2000, base + 3000), Some(t));
        assert_eq!(d.fill_gap(base + 1000, base + 2000), Some(t));
        assert_eq!(d.hole_count, 0);
        assert_eq!(d.fill_gap(base, base + 10), None);
    }
}
