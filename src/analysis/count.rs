//! Applying a [`Verdict`] to what one endpoint sent: its counters, its direction's state and
//! the connection's events. The only place a segment's class changes anything.

use serde::Serialize;

use crate::analysis::classify::{NewDataProbe, Resent, Retransmission, Verdict};
use crate::analysis::direction::{Direction, ProbeOut, Recovery, RecoveryKind};
use crate::analysis::{RetransKind, SegClass};
use crate::decode::segment::Segment;
use crate::events::{EventKind, SegmentLog};
use crate::seq::SeqNumber;

/// What one endpoint sent, counted.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq, serde::Deserialize)]
pub struct DirStats {
    pub packets: u64,
    pub payload_bytes: u64,
    pub retransmissions: u32,
    pub fast_retransmissions: u32,
    pub rto_retransmissions: u32,
    pub after_rto_retransmissions: u32,
    /// Tail loss probes that resent the last segment (retransmissions).
    pub tail_loss_probes: u32,
    /// Tail loss probes that sent new data: not retransmissions. Linux's TCPLossProbes counts
    /// both kinds: `tail_loss_probes + new_data_probes`.
    pub new_data_probes: u32,
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
    /// Only D-SACKs it could read: not those reaching it in TIME_WAIT (Linux's TCPDSACKRecv).
    pub dsacked_retransmissions: u32,
    pub resets: u32,
}

/// Apply `v`, the verdict on `seg`, to its sender's direction `d` and the peer's `p`; its events
/// go to `log` in a fixed order: zero window, the primary class, D-SACK, ACK of unseen data,
/// third dup ACK, window full.
pub fn apply(
    v: &Verdict,
    d: &mut Direction,
    p: &mut Direction,
    seg: &Segment,
    log: &mut SegmentLog,
) {
    let f = seg.flags;
    let s = &mut d.stats;
    s.packets += 1;
    s.payload_bytes += u64::from(seg.payload_len);
    if f.rst() {
        s.resets += 1;
    }
    if v.flags.zero_window {
        s.zero_window += 1;
        if v.zero_window_opens {
            s.zero_window_episodes += 1;
            log.push(EventKind::ZeroWindow, || {
                "advertises a zero window: its receive buffer is full".into()
            });
        }
    }

    match v.class {
        SegClass::ZeroWindowProbe => {
            d.stats.zero_window_probes += 1;
            let nxt = d.next_seq.unwrap_or(seg.seq);
            if v.probe_byte_sent {
                d.probe_byte = Some(seg.seq);
            }
            log.push(EventKind::ZeroWindowProbe, || {
                let at = if seg.seq == nxt {
                    "SND.NXT"
                } else {
                    "SND.NXT-1"
                };
                format!("zero-window probe ({} byte at {at})", seg.payload_len)
            });
        }
        SegClass::KeepAlive => {
            d.stats.keep_alives += 1;
            log.push(EventKind::KeepAlive, || {
                format!("keep-alive ({} byte at SND.NXT-1)", seg.payload_len)
            });
        }
        _ => {}
    }
    if v.probe_byte_resent {
        d.probe_byte = None;
    }
    if v.probe_retracted {
        retract_new_data_probe(d, log);
    }
    if let Some(probe) = v.new_data_probe {
        count_new_data_probe(d, seg, probe, log);
    }
    if let Some(resent) = v.resent {
        d.fill_gap(seg.seq, seg.end());
        match resent {
            Resent::OutOfOrder { gap_age_ms } => {
                d.stats.out_of_order += 1;
                log.push(EventKind::OutOfOrder, || {
                    format!("fills a gap {gap_age_ms:.3} ms after it opened")
                });
            }
            Resent::Retransmission(r) => count_retransmission(d, seg, r, log),
        }
    }
    if let Some((start, end)) = v.gap_before {
        d.stats.prev_segment_not_captured += 1;
        d.open_gap(start, end, log.ts, seg.options.timestamps.map(|(v, _)| v));
        log.push(EventKind::PrevSegmentNotCaptured, || {
            format!(
                "{} bytes of sequence space before this segment were not captured",
                end.diff(start)
            )
        });
    }

    if let Some(bytes) = v.dsack_bytes {
        d.stats.dsacks_sent += 1;
        if v.dsack_unread {
            log.push(EventKind::Dsack, || {
                format!(
                    "D-SACK: received {bytes} bytes twice; the peer's retransmission of them was spurious, but the peer is in TIME_WAIT and reads no SACK blocks (Linux: timewait socket)"
                )
            });
        } else {
            p.stats.dsacked_retransmissions += 1;
            log.push(EventKind::Dsack, || {
                format!(
                    "D-SACK: received {bytes} bytes twice; the peer's retransmission of them was spurious"
                )
            });
        }
    }
    if let Some(bytes) = v.acked_unseen_bytes {
        d.stats.acked_unseen += 1;
        d.unseen_ack_high = Some(seg.ack);
        log.push(EventKind::AckedUnseen, || {
            format!("acknowledges {bytes} bytes the capture never showed")
        });
    }
    match v.class {
        SegClass::KeepAliveAck => d.stats.keep_alive_acks += 1,
        SegClass::ZeroWindowProbeAck => d.stats.zero_window_probe_acks += 1,
        SegClass::DupAck(run) => {
            d.dup_ack_run = run;
            d.stats.dup_acks += 1;
            if run == 3 {
                d.stats.triple_dup_acks += 1;
                log.push(EventKind::TripleDupAck, || {
                    "third duplicate ACK: the threshold for a fast retransmission (RFC 5681 §3.2)"
                        .into()
                });
            }
        }
        SegClass::WindowUpdate => d.stats.window_updates += 1,
        _ => {}
    }
    if let Some(w) = v.window_full_of {
        d.stats.window_full += 1;
        log.push(EventKind::WindowFull, || {
            format!("fills the peer's {w}-byte window exactly")
        });
    }
}

fn count_retransmission(d: &mut Direction, seg: &Segment, r: Retransmission, log: &mut SegmentLog) {
    let f = seg.flags;
    let (kind, end) = (r.kind, seg.end());
    let nxt = d.next_seq.unwrap_or(end);
    d.last_retransmit_ts = Some(log.ts);
    d.stats.retransmissions += 1;
    d.stats.retransmitted_bytes += u64::from(seg.payload_len);
    match kind {
        RetransKind::Fast => d.stats.fast_retransmissions += 1,
        RetransKind::Rto => d.stats.rto_retransmissions += 1,
        RetransKind::AfterRto => d.stats.after_rto_retransmissions += 1,
        RetransKind::TailLossProbe => d.stats.tail_loss_probes += 1,
        RetransKind::Spurious => d.stats.spurious_retransmissions += 1,
    }
    d.rtt.on_retransmit(seg.seq, end);
    let event_kind = if f.syn() && f.ack() {
        EventKind::SynAckRetransmission
    } else if f.syn() {
        d.stats.syn_retransmissions += 1;
        EventKind::SynRetransmission
    } else if f.fin() && seg.payload_len == 0 {
        d.stats.fin_retransmissions += 1;
        EventKind::FinRetransmission
    } else {
        EventKind::Retransmission
    };
    if f.fin() && seg.payload_len > 0 && d.fin_seq == Some(seg.seq + seg.payload_len) {
        d.stats.fin_retransmissions += 1;
    }
    log.push(event_kind, || describe_retransmission(d, seg, r));
    if kind == RetransKind::TailLossProbe {
        let rto = d.rtt.estimator.linux_rto_ms().unwrap_or(0.0);
        d.tlp_high = Some(nxt);
        // How long the probe waited: from the later of the timer's last re-arming and the
        // tail's own first transmission.
        let since_tail = d.last_new_data_ts.map(|t| log.ts.millis_since(t));
        let wait = match (r.since_progress_ms, since_tail) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(rto),
        };
        d.tlp_sent = Some(ProbeOut {
            at: log.ts,
            wait_ms: wait,
            new_data_frame: None,
        });
    }
    if kind == RetransKind::Rto {
        d.tlp_high = None;
        d.tlp_sent = None;
        d.rto_streak += 1;
        d.recovery = Some(Recovery {
            kind: RecoveryKind::Loss,
            high: nxt,
        });
    } else if kind == RetransKind::Fast && d.recovery.is_none() {
        d.recovery = Some(Recovery {
            kind: RecoveryKind::Fast,
            high: nxt,
        });
    }
}

fn count_new_data_probe(
    d: &mut Direction,
    seg: &Segment,
    probe: NewDataProbe,
    log: &mut SegmentLog,
) {
    d.stats.new_data_probes += 1;
    // Linux's `tlp_high_seq`: SND.NXT after the probe.
    d.tlp_high = Some(seg.end());
    d.tlp_sent = Some(ProbeOut {
        at: log.ts,
        wait_ms: probe.quiet_ms,
        new_data_frame: Some(log.frame),
    });
    let rel = seg.seq.relative_to(d.isn.unwrap_or(SeqNumber(0)));
    log.push(EventKind::NewDataProbe, || {
        format!(
            "{} bytes of new data at seq {rel} sent as a tail loss probe (nothing heard for {:.1} ms, probe timeout {:.1} ms); not a retransmission",
            seg.payload_len, probe.quiet_ms, probe.pto_ms
        )
    });
}

/// The segment read as a probe of new data was the first of a burst: it is ordinary new data.
fn retract_new_data_probe(d: &mut Direction, log: &mut SegmentLog) {
    let Some(frame) = d.tlp_sent.take().and_then(|o| o.new_data_frame) else {
        return;
    };
    d.tlp_high = None;
    d.stats.new_data_probes = d.stats.new_data_probes.saturating_sub(1);
    log.log
        .forget(|e| e.kind == EventKind::NewDataProbe && e.frame == Some(frame));
}

fn describe_retransmission(d: &Direction, seg: &Segment, r: Retransmission) -> String {
    let what = if seg.flags.syn() && seg.flags.ack() {
        "SYN-ACK".to_string()
    } else if seg.flags.syn() {
        "SYN".to_string()
    } else if seg.flags.fin() && seg.payload_len == 0 {
        "FIN".to_string()
    } else {
        format!("{} bytes", seg.payload_len)
    };
    let base = d.isn.unwrap_or(SeqNumber(0));
    let rel = seg.seq.relative_to(base);
    let quiet = r
        .peer_quiet_ms
        .map(|q| format!(", peer silent {q:.1} ms"))
        .unwrap_or_default();
    match r.kind {
        RetransKind::Rto if seg.flags.syn() => {
            let gap = r
                .since_sent_ms
                .map(|g| format!(" {:.2} s after the previous one", g / 1000.0))
                .unwrap_or_default();
            format!("{what} retransmitted (#{}){gap}", d.syn_count)
        }
        RetransKind::Rto => {
            let n = d.rto_streak + 1;
            format!("{what} at seq {rel} resent by RTO (timeout #{n}{quiet})")
        }
        RetransKind::Fast => {
            format!("{what} at seq {rel} resent after dup ACKs/SACK showed the loss")
        }
        RetransKind::AfterRto => {
            format!("{what} at seq {rel} resent in loss recovery after an RTO")
        }
        RetransKind::TailLossProbe => {
            format!("{what} at seq {rel} resent as a tail loss probe{quiet}")
        }
        RetransKind::Spurious => {
            format!("{what} at seq {rel} resent although already acknowledged")
        }
    }
}
