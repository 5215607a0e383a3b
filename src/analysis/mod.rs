//! Per-direction segment analysis state and the classes a segment can get (SPEC.md §4).

pub mod rtt;

use serde::Serialize;

use crate::analysis::rtt::RttSampler;
use crate::decode::segment::TcpOptions;
use crate::seq::SeqNumber;
use crate::time::Timestamp;

/// Why a segment carrying already-sent sequence space was sent again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RetransKind {
    /// Dup ACKs or SACK blocks had shown the loss (RFC 5681 §3.2, RFC 6675).
    Fast,
    /// The retransmission timer fired: a silence of about an RTO before it.
    Rto,
    /// Resent in loss recovery after an RTO, before the pre-timeout data was acknowledged
    /// (Linux counts these as TCPSlowStartRetrans).
    AfterRto,
    /// A tail loss probe (RFC 8985 §7): the last segment resent after about two RTTs of silence.
    TailLossProbe,
    /// Everything in it had already been acknowledged.
    Spurious,
}

/// The one primary class of a segment, decided in SPEC.md §4's order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SegClass {
    Normal,
    ZeroWindowProbe,
    KeepAlive,
    Retransmission(RetransKind),
    OutOfOrder,
    DupAck(u32),
    WindowUpdate,
    KeepAliveAck,
    ZeroWindowProbeAck,
}

impl SegClass {
    pub fn label(self) -> &'static str {
        match self {
            SegClass::Normal => "",
            SegClass::ZeroWindowProbe => "zero-window probe",
            SegClass::KeepAlive => "keep-alive",
            SegClass::Retransmission(RetransKind::Fast) => "fast retransmission",
            SegClass::Retransmission(RetransKind::Rto) => "RTO retransmission",
            SegClass::Retransmission(RetransKind::AfterRto) => "retransmission after RTO",
            SegClass::Retransmission(RetransKind::TailLossProbe) => "tail loss probe",
            SegClass::Retransmission(RetransKind::Spurious) => "spurious retransmission",
            SegClass::OutOfOrder => "out-of-order",
            SegClass::DupAck(_) => "dup ACK",
            SegClass::WindowUpdate => "window update",
            SegClass::KeepAliveAck => "keep-alive ACK",
            SegClass::ZeroWindowProbeAck => "zero-window probe ACK",
        }
    }
}

/// Flags a segment can carry besides its class.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SegFlags {
    pub prev_not_captured: bool,
    pub acked_unseen: bool,
    pub window_full: bool,
    pub zero_window: bool,
    /// Carries a D-SACK block (RFC 2883).
    pub dsack: bool,
}

/// What one endpoint sent, counted.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DirStats {
    pub packets: u64,
    pub payload_bytes: u64,
    pub retransmissions: u32,
    pub fast_retransmissions: u32,
    pub rto_retransmissions: u32,
    pub after_rto_retransmissions: u32,
    pub tail_loss_probes: u32,
    pub spurious_retransmissions: u32,
    pub syn_retransmissions: u32,
    pub fin_retransmissions: u32,
    pub retransmitted_bytes: u64,
    pub out_of_order: u32,
    pub dup_acks: u32,
    pub triple_dup_acks: u32,
    pub zero_window: u32,
    pub zero_window_episodes: u32,
    pub zero_window_probes: u32,
    pub zero_window_probe_acks: u32,
    pub keep_alives: u32,
    pub keep_alive_acks: u32,
    pub window_updates: u32,
    pub window_full: u32,
    pub prev_segment_not_captured: u32,
    pub acked_unseen: u32,
    /// D-SACK blocks it sent: data it received twice (RFC 2883).
    pub dsacks_sent: u32,
    /// Its retransmissions the peer reported receiving twice (D-SACK): spurious after all.
    pub dsacked_retransmissions: u32,
    pub resets: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecoveryKind {
    Fast,
    Loss,
}

#[derive(Clone, Copy, Debug)]
pub struct Recovery {
    pub kind: RecoveryKind,
    /// Recovery ends when the peer acknowledges this (RFC 6582's "recover").
    pub high: SeqNumber,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Hole {
    pub start: SeqNumber,
    pub end: SeqNumber,
    pub opened: Timestamp,
}

const HOLES: usize = 8;

/// Everything known about one direction of a connection: what its sender sent and acknowledged.
#[derive(Clone, Debug, Default)]
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
    /// Its last ACK number and raw window, for dup ACK and window update detection.
    pub last_ack: Option<SeqNumber>,
    pub last_win_raw: u16,
    /// The highest ACK it sent: the peer's data it has confirmed.
    pub highest_ack: Option<SeqNumber>,
    pub highest_ack_ts: Option<Timestamp>,
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
    pub last_rto_gap_ms: Option<f64>,
    pub last_tsval: Option<u32>,
    pub last_class: Option<SegClass>,
    pub holes: [Hole; HOLES],
    pub hole_count: usize,
    pub rtt: RttSampler,
    pub stats: DirStats,
}

impl Direction {
    /// Remember a gap `[start, end)` the capture did not see.
    pub fn open_hole(&mut self, start: SeqNumber, end: SeqNumber, ts: Timestamp) {
        let hole = Hole {
            start,
            end,
            opened: ts,
        };
        if self.hole_count < HOLES {
            self.holes[self.hole_count] = hole;
            self.hole_count += 1;
        } else {
            self.holes.rotate_left(1);
            self.holes[HOLES - 1] = hole;
        }
    }

    /// If `[seq, end)` lies in a remembered hole, consume that part and return when it opened.
    pub fn fill_hole(&mut self, seq: SeqNumber, end: SeqNumber) -> Option<Timestamp> {
        let i = (0..self.hole_count)
            .find(|&i| seq >= self.holes[i].start && seq < self.holes[i].end)?;
        let opened = self.holes[i].opened;
        let h = &mut self.holes[i];
        if seq == h.start {
            h.start = end.min(h.end);
        } else {
            h.end = seq;
        }
        if h.start >= h.end {
            self.holes.copy_within(i + 1..self.hole_count, i);
            self.hole_count -= 1;
        }
        Some(opened)
    }

    pub fn forget_holes_below(&mut self, ack: SeqNumber) {
        let mut kept = 0;
        for i in 0..self.hole_count {
            if self.holes[i].end > ack {
                self.holes[kept] = self.holes[i];
                kept += 1;
            }
        }
        self.hole_count = kept;
    }

    /// SND.UNA as far as the capture can tell: what the peer has acknowledged, else the ISN.
    pub fn una(&self, peer: &Direction) -> Option<SeqNumber> {
        peer.highest_ack.or(self.isn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_fill_from_either_end() {
        let mut d = Direction::default();
        let t = Timestamp::from_secs_nanos(1, 0);
        let base = SeqNumber(u32::MAX - 5);
        d.open_hole(base, base + 3000, t);
        assert_eq!(d.fill_hole(base, base + 1000), Some(t));
        assert_eq!(d.hole_count, 1);
        assert_eq!(d.fill_hole(base + 2000, base + 3000), Some(t));
        assert_eq!(d.fill_hole(base + 1000, base + 2000), Some(t));
        assert_eq!(d.hole_count, 0);
        assert_eq!(d.fill_hole(base, base + 10), None);
    }
}
