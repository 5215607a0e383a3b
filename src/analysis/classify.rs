//! SPEC.md §4: one primary class per segment, decided in order: zero-window probe, keep-alive,
//! retransmission (or out-of-order), duplicate ACK, window update; plus the flags a segment can
//! carry besides its class (zero window, gap before it, ACK of unseen data, D-SACK, window full).
//!
//! [`classify`] only looks: it reads the sender's and the peer's [`Direction`] and returns a
//! [`Verdict`]. [`crate::analysis::count::apply`] is what changes counters and state.

use crate::analysis::direction::{Direction, RecoveryKind};
use crate::analysis::rtt::{LINUX_RTO_FLOOR_MS, LINUX_TIMEOUT_MIN_MS};
use crate::analysis::{RetransKind, SegClass, SegFlags};
use crate::decode::segment::Segment;
use crate::seq::SeqNumber;
use crate::time::Timestamp;

/// What the connection knows that a direction does not.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The capture point is close to the sender, so its segments are seen in sending order.
    pub near_sender: bool,
    /// A gap filled sooner than this after it opened was reordered, not resent: a resent
    /// segment can only reach the capture a round trip after the loss was signalled back.
    pub reorder_window_ms: f64,
    /// The peer is in TIME_WAIT. Linux keeps only a timewait mini-socket there
    /// (`tcp_timewait_state_process`), which parses options for PAWS alone: SACK blocks reaching
    /// it are never read, so a D-SACK it receives tells its sender nothing (no TCPDSACKRecv).
    pub peer_in_time_wait: bool,
}

/// What a segment that carries sequence space already sent is.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Resent {
    /// A retransmission, with why it was sent again.
    Retransmission(Retransmission),
    /// Away from the sender: it fills a gap that opened this long ago, too soon for a resend.
    OutOfOrder { gap_age_ms: f64 },
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Retransmission {
    pub kind: RetransKind,
    /// How long the peer had been silent, and the sender, when it was sent.
    pub peer_quiet_ms: Option<f64>,
    pub since_sent_ms: Option<f64>,
    /// How long after the retransmission timer was last re-armed (see `since_progress_ms`).
    pub since_progress_ms: Option<f64>,
}

/// New data sent by the probe timer: a tail loss probe that is not a retransmission (RFC 8985
/// §7.3: "transmit a new segment, if available"; Linux's `tcp_send_loss_probe` sends the next
/// new segment when the receive window allows it, whatever the congestion window, else resends
/// the last one). Linux counts it in TCPLossProbes, not in TcpRetransSegs.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct NewDataProbe {
    /// How long the sender had been silent, with data outstanding and nothing heard.
    pub quiet_ms: f64,
    /// When Linux's probe timer fires after the sender's previous segment.
    pub pto_ms: f64,
}

/// Everything [`classify`] found out about one segment.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct Verdict {
    pub class: SegClass,
    pub flags: SegFlags,
    /// The zero window starts an episode (the previous window was not zero).
    pub zero_window_opens: bool,
    /// Sequence space already sent (the segment consumed a remembered gap if it lay in one).
    pub resent: Option<Resent>,
    /// A BSD-style zero-window probe pushed the byte at SND.NXT: remember it.
    pub probe_byte_sent: bool,
    /// That probe byte is sent again at the head of the next segment: not a retransmission.
    pub probe_byte_resent: bool,
    /// Sequence space `[start, end)` before this segment that the capture did not see.
    pub gap_before: Option<(SeqNumber, SeqNumber)>,
    /// Its first SACK block reports this many bytes received twice (RFC 2883).
    pub dsack_bytes: Option<i64>,
    /// That D-SACK reaches a peer in TIME_WAIT, which does not read it ([`Context`]).
    pub dsack_unread: bool,
    /// Its ACK covers this many bytes beyond anything the capture saw the peer send.
    pub acked_unseen_bytes: Option<i64>,
    /// The peer's window (bytes) that this segment's data fills exactly.
    pub window_full_of: Option<u64>,
    /// This RTO came twice the first resend's wait after it: that resend was a timeout too,
    /// not a tail loss probe, and the sender sends no probes.
    pub probe_was_timeout: bool,
    /// New data sent as a tail loss probe.
    pub new_data_probe: Option<NewDataProbe>,
    /// More new data right behind what was read as a new-data probe, before the peer said
    /// anything: a probe sends one segment, so that was the start of a burst, not a probe.
    pub probe_retracted: bool,
}

/// Classify `seg`, sent by the endpoint whose direction is `d`, with `p` the peer's direction.
pub fn classify(
    d: &Direction,
    p: &Direction,
    seg: &Segment,
    ts: Timestamp,
    ctx: Context,
) -> Verdict {
    let f = seg.flags;
    let mut v = Verdict::default();

    if seg.window == 0 && !f.syn() && !f.rst() {
        v.flags.zero_window = true;
        v.zero_window_opens = d.window != Some(0);
    }

    let peer_zero = p.window == Some(0);
    if let Some(nxt) = d.next_seq {
        let probe_shaped = !f.syn() && !f.fin() && !f.rst() && seg.payload_len <= 1;
        if probe_shaped
            && peer_zero
            && ((seg.payload_len == 1 && seg.seq == nxt) || seg.seq == nxt - 1)
        {
            v.class = SegClass::ZeroWindowProbe;
            v.probe_byte_sent = seg.payload_len == 1 && seg.seq == nxt;
        } else if probe_shaped
            && seg.seq == nxt - 1
            && d.fin_seq.is_none_or(|fs| fs + 1 != nxt)
            && p.highest_ack.is_none_or(|a| a >= nxt)
        {
            // Linux sends keep-alives only with nothing outstanding (SND.UNA = SND.NXT,
            // `tcp_keepalive_timer`): a byte at SND.NXT-1 not yet acknowledged is being resent.
            v.class = SegClass::KeepAlive;
        } else if f.syn()
            && f.ack()
            && !d.syn_was_synack
            && !d.synack_sent
            && Some(seg.seq) == d.isn
        {
            // Simultaneous open (RFC 9293 §3.5): the SYN-ACK after our own bare SYN is the
            // handshake, not a retransmission.
        } else if d.probe_byte == Some(seg.seq)
            && seg.payload_len > 1
            && p.highest_ack.is_none_or(|a| a <= seg.seq)
        {
            // The window opened: the byte a BSD-style probe pushed at SND.NXT is sent again at
            // the head of the next segment. The stack counts a probe, not a retransmission
            // (Wireshark agrees).
            v.probe_byte_resent = true;
        } else if seg.seg_len() > 0 && seg.seq < nxt {
            let resent = resent(d, p, seg, ts, ctx);
            if let Resent::Retransmission(r) = resent {
                v.class = SegClass::Retransmission(r.kind);
                v.probe_was_timeout = r.kind == RetransKind::Rto && probe_was_timeout(d, ts);
            } else {
                v.class = SegClass::OutOfOrder;
            }
            v.resent = Some(resent);
        } else if seg.seq > nxt && !f.syn() && !f.rst() {
            v.flags.prev_not_captured = true;
            v.gap_before = Some((nxt, seg.seq));
        } else if seg.seq == nxt && seg.payload_len > 0 && !f.syn() && !f.rst() {
            v.probe_retracted = new_data_follows_probe(d, p);
            v.new_data_probe = new_data_probe(d, p, ts, ctx.near_sender);
        }
    }

    // ACK-side classes: the ACK in this segment is about the peer's data.
    if f.ack() && !f.syn() {
        // RFC 2883: a first SACK block below the cumulative ACK, or inside the second block,
        // reports data received twice — the peer's retransmission of it was spurious.
        let blocks = seg.options.sack_blocks();
        if let Some(b0) = blocks.first() {
            let inside_next = blocks
                .get(1)
                .is_some_and(|b1| b0.left >= b1.left && b0.right <= b1.right);
            if b0.right <= seg.ack || inside_next {
                v.flags.dsack = true;
                v.dsack_bytes = Some(b0.right.diff(b0.left));
                v.dsack_unread = ctx.peer_in_time_wait;
            }
        }
        if let Some(bytes) = acked_unseen(d, p, seg) {
            v.flags.acked_unseen = true;
            v.acked_unseen_bytes = Some(bytes);
        }
        let pure = seg.payload_len == 0 && !f.fin() && !f.rst();
        if v.class == SegClass::Normal && pure {
            v.class = ack_class(d, p, seg);
        }
    }

    if !matches!(v.class, SegClass::Retransmission(_))
        && let Some(w) = fills_window(p, seg)
    {
        v.flags.window_full = true;
        v.window_full_of = Some(w);
    }
    v
}

/// The ACK of `seg` (from `d`'s sender) covers this many bytes beyond anything the capture saw
/// the peer send, and beyond what it already reported so.
pub(crate) fn acked_unseen(d: &Direction, p: &Direction, seg: &Segment) -> Option<i64> {
    let peer_next = p.next_seq?;
    (seg.ack > peer_next && d.unseen_ack_high.is_none_or(|h| seg.ack > h))
        .then(|| seg.ack.diff(peer_next))
}

/// Window full: the data of `seg` reaches exactly the right edge of the peer's window; the
/// window (bytes).
#[inline]
pub(crate) fn fills_window(p: &Direction, seg: &Segment) -> Option<u64> {
    if seg.payload_len == 0 {
        return None;
    }
    let (w, pa) = (p.window?, p.highest_ack?);
    (w > 0 && seg.end() == pa + (w.min(u64::from(u32::MAX)) as u32)).then_some(w)
}

/// A pure ACK: the answer to a probe, a duplicate ACK, a window update, or nothing special.
pub(crate) fn ack_class(d: &Direction, p: &Direction, seg: &Segment) -> SegClass {
    let replying_to_probe = matches!(
        p.last_class,
        Some(SegClass::KeepAlive) | Some(SegClass::ZeroWindowProbe)
    );
    if replying_to_probe && p.next_seq.is_some_and(|n| seg.ack >= n - 1) {
        return if p.last_class == Some(SegClass::KeepAlive) {
            SegClass::KeepAliveAck
        } else {
            SegClass::ZeroWindowProbeAck
        };
    }
    // RFC 5681 §2 (c): the ACK equals the greatest one sent (an old ACK is not a duplicate).
    if d.last_ack == Some(seg.ack) && d.highest_ack == Some(seg.ack) {
        let outstanding = p.next_seq.is_some_and(|n| n > seg.ack);
        if seg.window == d.last_win_raw && outstanding {
            // RFC 5681 §2: same ACK, same window, no data, data outstanding.
            return SegClass::DupAck(d.dup_ack_run + 1);
        } else if seg.window != d.last_win_raw {
            return SegClass::WindowUpdate;
        }
    }
    SegClass::Normal
}

/// Sequence space already seen: a retransmission, unless (away from the sender) it fills a
/// gap that opened moments ago.
///
/// Timestamps decide first (RFC 7323): a resend leaves after the segment that showed the gap, so
/// its TSval is newer; a delayed original left before it, so its TSval is not newer. Equal
/// TSvals (a clock tick coarser than the path) leave it to time: a gap filled sooner than
/// `reorder_window_ms` (a round trip) was reordered.
fn resent(d: &Direction, p: &Direction, seg: &Segment, ts: Timestamp, ctx: Context) -> Resent {
    if !ctx.near_sender
        && let Some(hole) = d.gap(seg.seq)
    {
        let gap_age_ms = ts.millis_since(hole.opened);
        let tsval_ahead = seg
            .options
            .timestamps
            .zip(hole.opener_tsval)
            .map(|((v, _), opener)| v.wrapping_sub(opener) as i32);
        let reordered = match tsval_ahead {
            Some(ahead) if ahead != 0 => ahead < 0,
            _ => gap_age_ms <= ctx.reorder_window_ms,
        };
        if reordered {
            return Resent::OutOfOrder { gap_age_ms };
        }
    }
    let peer_quiet_ms = p.last_ts.map(|t| ts.millis_since(t));
    let since_sent_ms = d.last_ts.map(|t| ts.millis_since(t));
    let since_progress_ms = Some(since_progress_ms(d, p, ts)).filter(|m| m.is_finite());
    Resent::Retransmission(Retransmission {
        kind: retrans_kind(d, p, seg, ts, ctx, peer_quiet_ms, since_sent_ms),
        peer_quiet_ms,
        since_sent_ms,
        since_progress_ms,
    })
}

/// How long ago the sender's retransmission timer was last re-armed: when SND.UNA last
/// advanced, when it last retransmitted, or its first segment.
fn since_progress_ms(d: &Direction, p: &Direction, ts: Timestamp) -> f64 {
    // A probe of new data re-arms the timer too (`tcp_send_loss_probe` ends in
    // `tcp_rearm_rto`).
    let probe = d.tlp_sent.map(|t| t.at);
    [p.highest_ack_ts, d.last_retransmit_ts, d.first_ts, probe]
        .into_iter()
        .flatten()
        .max()
        .map_or(f64::INFINITY, |t| ts.millis_since(t))
}

/// A tail loss probe is out and this timeout came at least 1.5 times the probe's own wait (or
/// the RTO) after it. After a real probe Linux re-arms the RTO from the probe, so the RTO follows
/// it by about one RTO; a stack without probes backs off and doubles instead (206, 600, 1200 ms).
/// A probe of new data is never a timeout (a timeout resends the oldest data), so it proves
/// nothing here.
fn probe_was_timeout(d: &Direction, ts: Timestamp) -> bool {
    let Some(out) = d.tlp_sent.filter(|o| o.new_data_frame.is_none()) else {
        return false;
    };
    let rto = d.rtt.estimator.linux_rto_ms().unwrap_or(0.0);
    d.tlp_high.is_some() && ts.millis_since(out.at) >= 1.5 * out.wait_ms.max(rto)
}

/// Could Linux's probe timer be armed (`tcp_schedule_loss_probe`)? SACK negotiated, no recovery
/// under way (Open state), no probe already out, no timeout in this episode.
fn probe_timer_armed(d: &Direction, p: &Direction) -> bool {
    !d.sends_no_probes
        && d.sack_negotiated(p)
        && d.recovery.is_none()
        && d.tlp_high.is_none()
        && d.rto_streak == 0
}

/// Could Linux resend this segment as a tail loss probe? The timer is armed and the segment is
/// the tail: a probe that resends sends the highest sequence sent.
fn probe_possible(d: &Direction, p: &Direction, seg: &Segment) -> bool {
    probe_timer_armed(d, p) && Some(seg.end()) == d.next_seq
}

/// Is new data at SND.NXT, sent now, the probe timer's? Linux arms the timer when it sends new
/// data (`tcp_write_xmit` calls `tcp_schedule_loss_probe`) for PTO = 2·SRTT + 2 ms, or
/// 2·SRTT + 200 ms with one segment in flight (a delayed ACK), and never beyond the RTO timer
/// (counted from the oldest segment out). Strict reading, beside the sender only (elsewhere the
/// capture does not see the gap as the sender did): the sender's previous segment was new data,
/// data is outstanding, the peer has sent nothing since, and the silence matches that PTO.
#[inline(always)]
pub(crate) fn new_data_probe(
    d: &Direction,
    p: &Direction,
    ts: Timestamp,
    near_sender: bool,
) -> Option<NewDataProbe> {
    // Most new data fails one of the first tests (a sender's burst is answered while it lasts),
    // so they come first; the timing is worked out only for the rest.
    let last = d.last_ts?;
    let peer_silent = p.last_ts.is_none_or(|t| t <= last);
    if !near_sender || !peer_silent || d.last_new_data_ts != Some(last) {
        return None;
    }
    let outstanding = d.una(p).zip(d.next_seq).is_some_and(|(u, n)| u < n);
    if !outstanding || !probe_timer_armed(d, p) {
        return None;
    }
    probe_on_time(d, ts, last)
}

/// [`new_data_probe`] past its first tests: is the sender's silence since `last` its PTO?
#[inline(never)]
fn probe_on_time(d: &Direction, ts: Timestamp, last: Timestamp) -> Option<NewDataProbe> {
    let e = d.rtt.estimator;
    let in_flight = d.rtt.outstanding();
    if e.samples == 0 || in_flight == 0 {
        return None;
    }
    let extra = if in_flight == 1 {
        LINUX_RTO_FLOOR_MS
    } else {
        LINUX_TIMEOUT_MIN_MS
    };
    let mut pto_ms = 2.0 * e.srtt_ms + extra;
    if let (Some(rto), Some(head)) = (e.linux_rto_ms(), d.rtt.oldest_sent()) {
        let rto_left = rto - last.millis_since(head);
        if rto_left > 0.0 {
            pto_ms = pto_ms.min(rto_left);
        }
    }
    let quiet_ms = ts.millis_since(last);
    // The kernel's SRTT is not quite the capture's; and timers fire late, not early (a jiffy of
    // rounding up, the timer wheel's slack): a small margin below, a larger one above.
    let on_time = quiet_ms >= 0.9 * pto_ms - 1.0 && quiet_ms <= 1.2 * pto_ms + 5.0;
    on_time.then_some(NewDataProbe { quiet_ms, pto_ms })
}

/// The sender's previous segment was read as a probe of new data and the peer has said nothing
/// since: a probe sends one segment (`tcp_write_xmit` with `push_one = 2`), so more new data now
/// means the sender was sending a burst of its own.
pub(crate) fn new_data_follows_probe(d: &Direction, p: &Direction) -> bool {
    d.tlp_sent.is_some_and(|o| {
        o.new_data_frame.is_some() && d.last_ts == Some(o.at) && p.last_ts.is_none_or(|t| t <= o.at)
    })
}

/// Decide why a segment was sent again. `d` is the sender's direction, `p` the peer's.
fn retrans_kind(
    d: &Direction,
    p: &Direction,
    seg: &Segment,
    ts: Timestamp,
    ctx: Context,
    peer_quiet_ms: Option<f64>,
    since_sent_ms: Option<f64>,
) -> RetransKind {
    let end = seg.end();
    // Spurious only if the sender knew: beside the sender, an ACK that reached the capture
    // less than its reaction lag before the resend had not been processed yet.
    let known = if ctx.near_sender && d.reaction_lag_ms > 0.0 {
        p.ack_known_at(ts.plus_secs(-d.reaction_lag_ms / 1000.0))
    } else {
        p.highest_ack
    };
    if known.is_some_and(|a| end <= a) {
        return RetransKind::Spurious;
    }
    if seg.flags.syn() {
        // SYN and SYN-ACK retransmissions are always timer driven.
        return RetransKind::Rto;
    }
    let rto = d.rtt.estimator.linux_rto_ms().unwrap_or(1000.0);
    let quiet = peer_quiet_ms
        .unwrap_or(f64::INFINITY)
        .min(since_sent_ms.unwrap_or(f64::INFINITY));
    let quiet_from_peer = peer_quiet_ms.unwrap_or(f64::INFINITY);
    let at_head = d.una(p).is_none_or(|u| seg.seq <= u);
    // A timeout: the oldest data resent about an RTO after the last progress. Linux re-arms the
    // retransmission timer when SND.UNA advances and when it retransmits, not on dup ACKs, so a
    // lost fast retransmission is resent by RTO while dup ACKs keep arriving.
    let since_progress = since_progress_ms(d, p, ts);
    if at_head && (quiet_from_peer >= 0.8 * rto || since_progress >= 0.8 * rto) {
        // With one segment out, Linux's probe timeout is 2·SRTT + 200 ms capped at the RTO:
        // the probe leaves at about RTO time, and only a second resend is the RTO.
        if probe_possible(d, p, seg) {
            return RetransKind::TailLossProbe;
        }
        return RetransKind::Rto;
    }
    if let Some(rec) = d.recovery
        && rec.kind == RecoveryKind::Loss
    {
        return RetransKind::AfterRto;
    }
    let loss_shown = (p.dup_ack_run >= 1 && p.last_ack.is_some_and(|a| a <= seg.seq + 1))
        || p.sack_high.is_some_and(|h| h > seg.seq);
    if loss_shown || d.recovery.is_some() {
        return RetransKind::Fast;
    }
    let srtt = d.rtt.estimator.srtt_ms;
    if Some(end) == d.next_seq
        && quiet >= (1.5 * srtt).max(2.0)
        && !d.sends_no_probes
        && d.tlp_high.is_none()
    {
        return RetransKind::TailLossProbe;
    }
    if quiet_from_peer >= 0.8 * rto {
        return RetransKind::Rto;
    }
    RetransKind::Fast
}
