//! One TCP connection (one incarnation of a 4-tuple): its two endpoints' state machines, the
//! handshake, the close, and per-direction segment analysis, updated one segment at a time.
//!
//! Sides are indexed 0 and 1 by the order the capture first saw the addresses; which one is the
//! client is decided by SPEC.md §1's rules and kept in `client`.

pub mod fsm;

use std::net::SocketAddr;

use crate::analysis::rtt::{LINUX_RTO_FLOOR_MS, RttEstimator};
use crate::analysis::{Direction, Recovery, RecoveryKind, RetransKind, SegClass, SegFlags};
use crate::conn::fsm::{Endpoint, State, Transition};
use crate::decode::segment::{Segment, TcpFlags};
use crate::seq::SeqNumber;
use crate::time::Timestamp;

pub type Side = usize;

pub fn other(side: Side) -> Side {
    1 - side
}

/// Events kept per connection; beyond this only the counters grow (memory must not grow with
/// segments).
pub const MAX_EVENTS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RoleRule {
    /// The client sent the first SYN.
    Syn,
    /// The client received a SYN-ACK.
    SynAck,
    /// The server's port is below 1024.
    WellKnownPort,
    /// The server's port appears in more connections.
    CommonPort,
    /// The client sent the first segment the capture saw.
    FirstSender,
}

impl RoleRule {
    pub fn describe(self) -> &'static str {
        match self {
            RoleRule::Syn => "sent the first SYN",
            RoleRule::SynAck => "received the SYN-ACK",
            RoleRule::WellKnownPort => "server port below 1024",
            RoleRule::CommonPort => "server port seen in more connections",
            RoleRule::FirstSender => "first sender seen",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            RoleRule::Syn => "syn",
            RoleRule::SynAck => "syn_ack",
            RoleRule::WellKnownPort => "well_known_port",
            RoleRule::CommonPort => "common_port",
            RoleRule::FirstSender => "first_sender",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CapturePoint {
    NearClient,
    NearServer,
    Between,
    Unknown,
}

impl CapturePoint {
    pub fn name(self) -> &'static str {
        match self {
            CapturePoint::NearClient => "client",
            CapturePoint::NearServer => "server",
            CapturePoint::Between => "between",
            CapturePoint::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EventKind {
    State,
    SynRetransmission,
    SynAckRetransmission,
    FinRetransmission,
    Retransmission,
    OutOfOrder,
    TripleDupAck,
    ZeroWindow,
    ZeroWindowProbe,
    KeepAlive,
    WindowFull,
    Reset,
    PrevSegmentNotCaptured,
    AckedUnseen,
    BadHandshakeAck,
    DataAfterFin,
    SegmentAfterReset,
    DataOnSyn,
    DataBeforeHandshake,
    NewAttempt,
    TimeWaitSegment,
    Dsack,
    Reuse,
    Unexpected,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::SynRetransmission => "syn_retransmission",
            EventKind::SynAckRetransmission => "synack_retransmission",
            EventKind::FinRetransmission => "fin_retransmission",
            EventKind::Retransmission => "retransmission",
            EventKind::OutOfOrder => "out_of_order",
            EventKind::TripleDupAck => "triple_dup_ack",
            EventKind::ZeroWindow => "zero_window",
            EventKind::ZeroWindowProbe => "zero_window_probe",
            EventKind::KeepAlive => "keep_alive",
            EventKind::WindowFull => "window_full",
            EventKind::Reset => "reset",
            EventKind::PrevSegmentNotCaptured => "previous_segment_not_captured",
            EventKind::AckedUnseen => "acked_unseen_segment",
            EventKind::BadHandshakeAck => "bad_handshake_ack",
            EventKind::DataAfterFin => "data_after_fin",
            EventKind::SegmentAfterReset => "segment_after_reset",
            EventKind::DataOnSyn => "data_on_syn",
            EventKind::DataBeforeHandshake => "data_before_handshake",
            EventKind::NewAttempt => "new_attempt",
            EventKind::TimeWaitSegment => "time_wait_segment",
            EventKind::Dsack => "dsack",
            EventKind::Reuse => "port_reuse",
            EventKind::Unexpected => "unexpected",
        }
    }

    /// Anomalies are what `--anomalies-only` and the table's anomaly column count.
    pub fn is_anomaly(self) -> bool {
        !matches!(
            self,
            EventKind::State | EventKind::KeepAlive | EventKind::Reuse
        )
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub frame: Option<u64>,
    pub ts: Timestamp,
    /// The side whose segment or state it is about.
    pub side: Option<Side>,
    pub kind: EventKind,
    pub detail: String,
}

/// One line of a connection's ladder (kept only for connections whose timeline was asked for).
#[derive(Clone, Copy, Debug)]
pub struct TimelineEntry {
    pub frame: u64,
    pub ts: Timestamp,
    pub from: Side,
    pub flags: TcpFlags,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub len: u32,
    pub window: u64,
    pub class: SegClass,
    pub seg_flags: SegFlags,
    pub options: crate::decode::segment::TcpOptions,
}

/// What the capture shows of a 4-tuple reused while its previous incarnation was in TIME_WAIT.
#[derive(Clone, Debug)]
pub struct Reuse {
    pub previous: u32,
    /// The side (of this connection) that still held the old incarnation in TIME_WAIT.
    pub holder: Side,
    pub holder_addr: SocketAddr,
    pub held_for_s: f64,
    /// RFC 6191 / RFC 1122 §4.2.2.13: may the holder accept this SYN?
    pub acceptable: bool,
    pub reason: String,
    /// Filled at the end: "accepted (SYN-ACK)", "reset", "answered with ACK", "no answer".
    pub outcome: &'static str,
}

#[derive(Clone, Debug)]
pub struct Connection {
    pub id: u32,
    pub addrs: [SocketAddr; 2],
    pub client: Side,
    pub role_rule: RoleRule,
    pub dirs: [Direction; 2],
    pub ends: [Endpoint; 2],
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Completion of the handshake: the client's ACK of the server's SYN.
    pub handshake_ack: Option<(Timestamp, u64, bool)>,
    pub synack_ack_ok: Option<bool>,
    /// The SYN that the SYN-ACK answered, for the SYN→SYN-ACK time.
    pub answered_syn_ts: Option<Timestamp>,
    pub first_synack_ts: Option<(Timestamp, u64)>,
    pub capture_point: CapturePoint,
    /// (side, letter) in order of first appearance, Zeek style.
    history: [(u8, u8); 20],
    history_len: u8,
    pub events: Vec<Event>,
    pub events_dropped: u32,
    pub reset_seen: bool,
    after_reset_reported: bool,
    /// The FIN each side received but has not yet proved by acknowledging it.
    pending_fin: [bool; 2],
    pub reuse: Option<Reuse>,
    /// When a TIME_WAIT of this incarnation ended because a new SYN reused the 4-tuple.
    pub reused_by: Option<(u32, Timestamp, u64)>,
    pub timeline: Option<Vec<TimelineEntry>>,
    pub finished: bool,
}

impl Connection {
    pub fn new(
        id: u32,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
        record_timeline: bool,
    ) -> Connection {
        let syn_only = seg.flags.syn() && !seg.flags.ack();
        let synack = seg.flags.syn() && seg.flags.ack();
        let (client, role_rule) = if syn_only {
            (0, RoleRule::Syn)
        } else if synack {
            (1, RoleRule::SynAck)
        } else {
            (0, RoleRule::FirstSender)
        };
        let mut ends = [
            Endpoint::new(State::Closed, false),
            Endpoint::new(State::Closed, false),
        ];
        if syn_only {
            ends[1] = Endpoint::new(State::Listen, true);
        } else if synack {
            // The SYN was not captured: the client must have been in SYN_SENT.
            ends[1] = Endpoint::new(State::SynSent, true);
            ends[0] = Endpoint::new(State::Listen, true);
        } else {
            ends[0] = Endpoint::new(State::Established, true);
            ends[1] = Endpoint::new(State::Established, true);
        }
        Connection {
            id,
            addrs: [seg.src, seg.dst],
            client,
            role_rule,
            dirs: [Direction::default(), Direction::default()],
            ends,
            first_ts: ts,
            last_ts: ts,
            first_frame: frame,
            last_frame: frame,
            handshake_ack: None,
            synack_ack_ok: None,
            answered_syn_ts: None,
            first_synack_ts: None,
            capture_point: CapturePoint::Unknown,
            history: [(0, 0); 20],
            history_len: 0,
            events: Vec::new(),
            events_dropped: 0,
            reset_seen: false,
            after_reset_reported: false,
            pending_fin: [false; 2],
            reuse: None,
            reused_by: None,
            timeline: record_timeline.then(Vec::new),
            finished: false,
        }
    }

    pub fn server(&self) -> Side {
        other(self.client)
    }

    pub fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.addrs[0] { 0 } else { 1 }
    }

    pub fn role_name(&self, side: Side) -> &'static str {
        if side == self.client {
            "client"
        } else {
            "server"
        }
    }

    pub fn history(&self) -> String {
        self.history[..usize::from(self.history_len)]
            .iter()
            .map(|&(side, letter)| {
                let c = letter as char;
                if usize::from(side) == self.client {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    fn note_history(&mut self, side: Side, letter: u8) {
        let seen = self.history[..usize::from(self.history_len)].contains(&(side as u8, letter));
        if !seen && usize::from(self.history_len) < self.history.len() {
            self.history[usize::from(self.history_len)] = (side as u8, letter);
            self.history_len += 1;
        }
    }

    /// Record an event; `detail` is only called while there is room, so a connection whose
    /// events are full allocates nothing more for them (only `events_dropped` grows).
    pub fn event(
        &mut self,
        frame: Option<u64>,
        ts: Timestamp,
        side: Option<Side>,
        kind: EventKind,
        detail: impl FnOnce() -> String,
    ) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(Event {
                frame,
                ts,
                side,
                kind,
                detail: detail(),
            });
        } else {
            self.events_dropped += 1;
        }
    }

    fn transition(
        &mut self,
        side: Side,
        to: State,
        ts: Timestamp,
        frame: Option<u64>,
        inferred: bool,
    ) {
        if let Some(t) = self.ends[side].set_state(to, ts, frame, inferred) {
            self.record_transition(side, t);
        }
    }

    fn record_transition(&mut self, side: Side, t: Transition) {
        let note = if t.inferred { " (inferred)" } else { "" };
        self.event(t.frame, t.ts, Some(side), EventKind::State, || {
            format!("{} -> {}{note}", t.from, t.to)
        });
    }

    /// Would a SYN from `seg` start a new incarnation of this 4-tuple rather than belong here?
    pub fn is_new_incarnation(&self, seg: &Segment) -> bool {
        if !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        let s = self.side_of(seg.src);
        let d = &self.dirs[s];
        match d.isn {
            Some(isn) if isn == seg.seq => false,
            Some(_) => true,
            None => {
                // No SYN from this side yet: the same connection only when the other side's
                // SYN-ACK (captured first, reordered) already acknowledged this ISN.
                let peer = &self.dirs[other(s)];
                let reordered = peer.syn_was_synack && peer.highest_ack == Some(seg.seq + 1);
                // Or a simultaneous open: the other side sent a bare SYN and still waits.
                let simultaneous = peer.isn.is_some()
                    && !peer.syn_was_synack
                    && self.ends[other(s)].state == State::SynSent;
                !(reordered || simultaneous)
            }
        }
    }

    /// The endpoints still holding this incarnation in TIME_WAIT.
    pub fn time_wait_holders(&self) -> impl Iterator<Item = Side> + '_ {
        (0..2).filter(|&s| self.ends[s].state == State::TimeWait)
    }

    /// Process one segment of this connection.
    pub fn on_segment(&mut self, seg: &Segment, ts: Timestamp, frame: u64) {
        let s = self.side_of(seg.src);
        self.last_ts = self.last_ts.max(ts);
        self.last_frame = frame;
        self.note_letters(s, seg);

        if self.reset_seen && !self.after_reset_reported {
            self.after_reset_reported = true;
            let what = if seg.flags.fin() {
                "FIN"
            } else if seg.flags.rst() {
                "another RST"
            } else {
                "segment"
            };
            self.event(
                Some(frame),
                ts,
                Some(s),
                EventKind::SegmentAfterReset,
                || format!("{what} after the connection was reset"),
            );
        }
        self.time_wait_arrivals(s, seg, ts, frame);

        let (class, flags) = self.classify(s, seg, ts, frame);
        self.state_machine(s, seg, ts, frame);
        self.update_after(s, seg, ts, class);

        if let Some(tl) = self.timeline.as_mut() {
            let d = &self.dirs[s];
            tl.push(TimelineEntry {
                frame,
                ts,
                from: s,
                flags: seg.flags,
                seq: seg.seq,
                ack: seg.ack,
                len: seg.payload_len,
                window: scaled_window(seg, d),
                class,
                seg_flags: flags,
                options: seg.options,
            });
        }
    }

    fn note_letters(&mut self, s: Side, seg: &Segment) {
        let f = seg.flags;
        if f.syn() {
            self.note_history(s, if f.ack() { b'h' } else { b's' });
        } else if f.ack() && seg.payload_len == 0 && !f.fin() && !f.rst() {
            self.note_history(s, b'a');
        }
        if seg.payload_len > 0 {
            self.note_history(s, b'd');
        }
        if f.fin() {
            self.note_history(s, b'f');
        }
        if f.rst() {
            self.note_history(s, b'r');
        }
        if seg.window == 0 && !f.syn() && !f.rst() {
            self.note_history(s, b'w');
        }
    }

    /// Segments that reach an endpoint in TIME_WAIT (SPEC.md §6).
    fn time_wait_arrivals(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        if self.ends[r].state != State::TimeWait {
            let acked_before = self.dirs[r]
                .fin_seq
                .zip(self.dirs[s].highest_ack)
                .is_some_and(|(fs, a)| a > fs);
            if self.ends[s].state == State::TimeWait
                && acked_before
                && seg.flags.ack()
                && seg.seg_len() == 0
                && !seg.flags.rst()
            {
                self.event(Some(frame), ts, Some(s), EventKind::TimeWaitSegment, || {
                    "acknowledges again from TIME_WAIT (its last ACK was lost)".into()
                });
            }
            return;
        }
        let detail = if seg.flags.rst() {
            "RST reaches the peer in TIME_WAIT (RFC 1337 TIME_WAIT assassination; Linux ignores it by default)".to_string()
        } else if seg.flags.fin() {
            "FIN retransmitted to the peer in TIME_WAIT: its last ACK was lost or late".to_string()
        } else if seg.payload_len > 0 {
            format!(
                "{} bytes of stray data reach the peer in TIME_WAIT",
                seg.payload_len
            )
        } else if seg.flags.syn() {
            return;
        } else {
            "segment reaches the peer in TIME_WAIT".to_string()
        };
        self.event(Some(frame), ts, Some(s), EventKind::TimeWaitSegment, || {
            detail
        });
    }

    /// SPEC.md §4: one primary class per segment, in order: zero-window probe, keep-alive,
    /// retransmission (or out-of-order), duplicate ACK, window update.
    fn classify(
        &mut self,
        s: Side,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) -> (SegClass, SegFlags) {
        let near_sender = self.near(s);
        let reorder_window_ms = match (self.syn_to_synack_ms(), self.synack_to_ack_ms()) {
            (Some(a), Some(b)) => 0.9 * (a + b),
            _ => (self.dirs[s].rtt.estimator.srtt_ms / 2.0).max(3.0),
        };
        let (d, p) = pair_mut(&mut self.dirs, s);
        let f = seg.flags;
        let mut flags = SegFlags::default();
        let mut class = SegClass::Normal;
        let seg_len = seg.seg_len();
        let end = seg.end();
        let mut events = SegmentEvents {
            room: MAX_EVENTS.saturating_sub(self.events.len()),
            kept: Vec::new(),
            dropped: 0,
        };

        d.stats.packets += 1;
        d.stats.payload_bytes += u64::from(seg.payload_len);
        if f.rst() {
            d.stats.resets += 1;
        }
        if seg.window == 0 && !f.syn() && !f.rst() {
            flags.zero_window = true;
            d.stats.zero_window += 1;
            if d.window != Some(0) {
                d.stats.zero_window_episodes += 1;
                events.push(EventKind::ZeroWindow, || {
                    "advertises a zero window: its receive buffer is full".into()
                });
            }
        }

        let peer_window = p.window;
        let peer_zero = peer_window == Some(0);
        let peer_quiet_ms = p.last_ts.map(|t| ts.millis_since(t));
        let since_sent_ms = d.last_ts.map(|t| ts.millis_since(t));

        if let Some(nxt) = d.next_seq {
            let probe_shaped = !f.syn() && !f.fin() && !f.rst() && seg.payload_len <= 1;
            if probe_shaped
                && peer_zero
                && ((seg.payload_len == 1 && seg.seq == nxt) || seg.seq == nxt - 1)
            {
                class = SegClass::ZeroWindowProbe;
                d.stats.zero_window_probes += 1;
                if seg.payload_len == 1 && seg.seq == nxt {
                    d.probe_byte = Some(seg.seq);
                }
                events.push(EventKind::ZeroWindowProbe, || {
                    format!(
                        "zero-window probe ({} byte at {})",
                        seg.payload_len,
                        if seg.seq == nxt {
                            "SND.NXT"
                        } else {
                            "SND.NXT-1"
                        }
                    )
                });
            } else if probe_shaped && seg.seq == nxt - 1 && d.fin_seq.is_none_or(|fs| fs + 1 != nxt)
            {
                class = SegClass::KeepAlive;
                d.stats.keep_alives += 1;
                events.push(EventKind::KeepAlive, || {
                    format!("keep-alive ({} byte at SND.NXT-1)", seg.payload_len)
                });
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
                d.probe_byte = None;
            } else if seg_len > 0 && seg.seq < nxt {
                // Sequence space already seen: a retransmission, unless (away from the sender)
                // it fills a hole that opened moments ago.
                let hole_opened = d.fill_hole(seg.seq, end);
                // A resent segment can only reach the capture a round trip after the loss was
                // signalled back to the sender, so a gap filled sooner than that was reordered.
                let soon_ms = reorder_window_ms;
                if !near_sender && hole_opened.is_some_and(|t| ts.millis_since(t) <= soon_ms) {
                    class = SegClass::OutOfOrder;
                    d.stats.out_of_order += 1;
                    events.push(EventKind::OutOfOrder, || {
                        format!(
                            "fills a gap {:.3} ms after it opened",
                            ts.millis_since(hole_opened.unwrap_or(ts))
                        )
                    });
                } else {
                    let una = d.una(p);
                    let kind = retrans_kind(d, p, seg, end, una, ts, peer_quiet_ms, since_sent_ms);
                    d.last_retransmit_ts = Some(ts);
                    class = SegClass::Retransmission(kind);
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
                    if f.fin()
                        && seg.payload_len > 0
                        && d.fin_seq == Some(seg.seq + seg.payload_len)
                    {
                        d.stats.fin_retransmissions += 1;
                    }
                    events.push(event_kind, || {
                        describe_retransmission(d, seg, kind, peer_quiet_ms, since_sent_ms)
                    });
                    if kind == RetransKind::Rto {
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
            } else if seg.seq > nxt && !f.syn() && !f.rst() {
                flags.prev_not_captured = true;
                d.stats.prev_segment_not_captured += 1;
                d.open_hole(nxt, seg.seq, ts);
                events.push(EventKind::PrevSegmentNotCaptured, || {
                    format!(
                        "{} bytes of sequence space before this segment were not captured",
                        seg.seq.diff(nxt)
                    )
                });
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
                    flags.dsack = true;
                    d.stats.dsacks_sent += 1;
                    p.stats.dsacked_retransmissions += 1;
                    events.push(
                        EventKind::Dsack,
                        || format!("D-SACK: received {} bytes twice; the peer's retransmission of them was spurious", b0.right.diff(b0.left)),
                    );
                }
            }
            if let Some(peer_next) = p.next_seq {
                let beyond = seg.ack > peer_next && d.unseen_ack_high.is_none_or(|h| seg.ack > h);
                if beyond {
                    flags.acked_unseen = true;
                    d.stats.acked_unseen += 1;
                    d.unseen_ack_high = Some(seg.ack);
                    events.push(EventKind::AckedUnseen, || {
                        format!(
                            "acknowledges {} bytes the capture never showed",
                            seg.ack.diff(peer_next)
                        )
                    });
                }
            }
            let pure = seg.payload_len == 0 && !f.fin() && !f.rst();
            if class == SegClass::Normal && pure {
                let replying_to_probe = matches!(
                    p.last_class,
                    Some(SegClass::KeepAlive) | Some(SegClass::ZeroWindowProbe)
                );
                if replying_to_probe && p.next_seq.is_some_and(|n| seg.ack >= n - 1) {
                    if p.last_class == Some(SegClass::KeepAlive) {
                        class = SegClass::KeepAliveAck;
                        d.stats.keep_alive_acks += 1;
                    } else {
                        class = SegClass::ZeroWindowProbeAck;
                        d.stats.zero_window_probe_acks += 1;
                    }
                } else if d.last_ack == Some(seg.ack) && d.highest_ack == Some(seg.ack) {
                    // RFC 5681 §2 (c): the ACK equals the greatest one sent (an old ACK is not a
                    // duplicate).
                    let outstanding = p.next_seq.is_some_and(|n| n > seg.ack);
                    if seg.window == d.last_win_raw && outstanding {
                        // RFC 5681 §2: same ACK, same window, no data, data outstanding.
                        d.dup_ack_run += 1;
                        d.stats.dup_acks += 1;
                        class = SegClass::DupAck(d.dup_ack_run);
                        if d.dup_ack_run == 3 {
                            d.stats.triple_dup_acks += 1;
                            events.push(EventKind::TripleDupAck, || "third duplicate ACK: the threshold for a fast retransmission (RFC 5681 §3.2)".into());
                        }
                    } else if seg.window != d.last_win_raw {
                        class = SegClass::WindowUpdate;
                        d.stats.window_updates += 1;
                    }
                }
            }
        }

        // Window full: the data reaches exactly the right edge of the peer's window.
        if seg.payload_len > 0
            && let (Some(w), Some(pa)) = (peer_window, p.highest_ack)
            && w > 0
            && end == pa + (w.min(u64::from(u32::MAX)) as u32)
            && !matches!(class, SegClass::Retransmission(_))
        {
            flags.window_full = true;
            d.stats.window_full += 1;
            events.push(EventKind::WindowFull, || {
                format!("fills the peer's {w}-byte window exactly")
            });
        }

        for (kind, detail) in events.kept {
            self.event(Some(frame), ts, Some(s), kind, || detail);
        }
        self.events_dropped += events.dropped;
        (class, flags)
    }

    /// Is the capture point close to the sender `s` (so its segments are seen in sending order)?
    fn near(&self, s: Side) -> bool {
        match self.capture_point {
            CapturePoint::NearClient => s == self.client,
            CapturePoint::NearServer => s != self.client,
            // Without evidence, take the reading SPEC.md §4 gives for the common case: a segment
            // below the highest sequence seen is a retransmission.
            CapturePoint::Unknown => true,
            CapturePoint::Between => false,
        }
    }

    /// Bookkeeping after classification: highest sequence, ACK tracking, RTT samples.
    fn update_after(&mut self, s: Side, seg: &Segment, ts: Timestamp, class: SegClass) {
        let end = seg.end();
        let f = seg.flags;
        {
            let d = &mut self.dirs[s];
            let is_new_data = d.next_seq.is_none_or(|n| end > n);
            if seg.seg_len() > 0 && is_new_data && !matches!(class, SegClass::Retransmission(_)) {
                d.rtt.on_send(end, ts);
            }
            // A RST occupies no sequence space, and one answering a bad ACK carries that ACK's
            // number: it never moves SND.MAX.
            if !f.rst() && d.next_seq.is_none_or(|n| end > n) {
                d.next_seq = Some(end);
            }
        }
        // RFC 9293 §3.10.7.3: in SYN_SENT an ACK that does not acknowledge the SYN is
        // unacceptable (the peer answers it with a RST and stays in SYN_SENT); it moves nothing.
        let unacceptable = f.ack() && !f.rst() && self.ends[other(s)].state == State::SynSent && {
            let peer = &self.dirs[other(s)];
            peer.isn.is_some_and(|isn| seg.ack != isn + 1)
        };
        let (d, p) = pair_mut(&mut self.dirs, s);
        if unacceptable {
            // Remembered only so the peer's RST reply can be recognised (on_reset).
            d.last_ack = Some(seg.ack);
        }
        if f.ack() && !unacceptable {
            if d.highest_ack.is_none_or(|h| seg.ack > h) {
                d.highest_ack = Some(seg.ack);
                d.highest_ack_ts = Some(ts);
                d.sack_high = None;
                p.rtt.on_ack(seg.ack, ts);
                p.forget_holes_below(seg.ack);
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
            d.window = Some(scaled_window(seg, d));
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
    }

    /// RFC 9293 §3.3.2 as a capture sees it (SPEC.md §2).
    fn state_machine(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        let f = seg.flags;
        let at = Some(frame);

        if f.rst() {
            self.on_reset(s, seg, ts, frame);
            return;
        }

        // What the sender's ACK proves it received.
        if f.ack() {
            self.proofs_by_ack(s, seg, ts, frame);
        }

        // What the sender does.
        if f.syn() {
            self.on_syn(s, seg, ts, frame);
        }
        if seg.payload_len > 0 && !f.syn() {
            let st = self.ends[s].state;
            if matches!(st, State::SynSent) || (st == State::SynReceived && !f.ack()) {
                self.event(at, ts, Some(s), EventKind::DataBeforeHandshake, || {
                    format!("sends data in {st} before the handshake completed")
                });
            }
            if let Some(fs) = self.dirs[s].fin_seq
                && seg.seq + seg.payload_len > fs
                && !(f.fin() && seg.seq + seg.payload_len == fs)
            {
                self.event(at, ts, Some(s), EventKind::DataAfterFin, || {
                    "sends data beyond its FIN".into()
                });
            }
        }
        if f.fin() {
            self.on_fin_sent(s, seg, ts, frame);
        }

        // What the receiver gets (assumed delivered, except where SPEC.md §2 asks for proof).
        // A segment beyond the sender's FIN proves the FIN reached the receiver first (TCP
        // delivers in order): settle a FIN still waiting for proof before this segment's ACK.
        if self.pending_fin[r]
            && let Some(fs) = self.dirs[s].fin_seq
            && seg.seq > fs
        {
            self.pending_fin[r] = false;
            self.apply_fin_received(r, ts, at, false);
        }
        // (A SYN-ACK's ACK matters only to a SYN_RECEIVED peer: simultaneous open.)
        if f.ack() && (!f.syn() || self.ends[r].state == State::SynReceived) {
            self.on_ack_received(r, seg, ts, frame);
        }
        if f.fin() {
            self.on_fin_received(r, seg, ts, frame);
        }
    }

    fn on_reset(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        let sender_state = self.ends[s].state;
        let receiver_state = self.ends[r].state;
        // RFC 9293 §3.10.7.3: in SYN_SENT, an ACK that does not acknowledge our SYN is answered
        // with <SEQ=SEG.ACK><CTL=RST> and the endpoint stays in SYN_SENT (a stale peer state,
        // for example an old incarnation still open on the other side).
        let answers_bad_ack = sender_state == State::SynSent
            && !seg.flags.ack()
            && self.dirs[r].last_ack == Some(seg.seq)
            && self.dirs[s].isn.is_some_and(|isn| seg.seq != isn + 1);
        if answers_bad_ack {
            self.event(
                Some(frame),
                ts,
                Some(s),
                EventKind::Reset,
                || "answers an ACK that does not acknowledge its SYN (RFC 9293 §3.10.7.3); stays in SYN_SENT".into(),
            );
            return;
        }
        // RFC 9293 §3.10.7.3 (and RFC 5961): acceptable when in the receive window; in SYN_SENT
        // only when it acknowledges the SYN.
        let acceptable = match receiver_state {
            State::SynSent => {
                !seg.flags.ack()
                    || self.dirs[r].isn.is_none_or(|isn| seg.ack == isn + 1)
                    || self.dirs[r].next_seq == Some(seg.ack)
            }
            _ => match (self.dirs[r].highest_ack, self.dirs[r].window) {
                (Some(rcv_nxt), Some(wnd)) => {
                    let off = seg.seq.diff(rcv_nxt);
                    (-1..=(wnd.max(1) as i64).max(65_535)).contains(&off)
                }
                _ => true,
            },
        };
        if !acceptable {
            self.event(Some(frame), ts, Some(s), EventKind::Unexpected, || {
                "RST outside the receive window (ignored by the receiver)".into()
            });
            return;
        }
        if self.dirs[s].rst_at.is_none() {
            self.dirs[s].rst_at = Some((ts, frame));
        }
        let refused = receiver_state == State::SynSent
            && matches!(sender_state, State::Listen | State::Closed);
        let detail = if refused {
            "refuses the connection (RST to a SYN: nothing listening)".to_string()
        } else {
            format!("resets the connection in {sender_state} (peer in {receiver_state})")
        };
        self.event(Some(frame), ts, Some(s), EventKind::Reset, || detail);
        self.reset_seen = true;
        self.pending_fin = [false; 2];
        // An endpoint in TIME_WAIT that receives a RST stays there on Linux (RFC 1337).
        if sender_state != State::Closed {
            self.transition(s, State::Closed, ts, Some(frame), false);
        }
        if receiver_state != State::TimeWait && receiver_state != State::Closed {
            self.transition(r, State::Closed, ts, Some(frame), false);
        }
    }

    fn proofs_by_ack(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        let at = Some(frame);
        // SYN_SENT receives a SYN-ACK acking its ISN+1, proved by its ACK of the peer's SYN.
        if self.ends[s].state == State::SynSent
            && !seg.flags.syn()
            && self.dirs[r].syn_was_synack
            && let Some(peer_isn) = self.dirs[r].isn
            && seg.ack > peer_isn
        {
            self.transition(s, State::Established, ts, at, false);
        }
        // The client's first ACK completes the handshake; check it acknowledges the server's ISN+1.
        if s == self.client
            && self.handshake_ack.is_none()
            && !seg.flags.syn()
            && self.dirs[r].syn_was_synack
            && let Some(server_isn) = self.dirs[r].isn
        {
            let ok = seg.ack == server_isn + 1;
            self.handshake_ack = Some((ts, frame, ok));
            if !ok && seg.ack < server_isn + 1 {
                self.event(at, ts, Some(s), EventKind::BadHandshakeAck, || {
                    format!(
                        "handshake ACK acknowledges {} instead of the server's ISN+1",
                        seg.ack.relative_to(server_isn)
                    )
                });
            }
            self.infer_capture_point();
        }
        // A FIN received while ESTABLISHED (or later), proved by acknowledging it.
        if self.pending_fin[s]
            && let Some(fs) = self.dirs[r].fin_seq
            && seg.ack > fs
        {
            self.pending_fin[s] = false;
            self.apply_fin_received(s, ts, at, false);
        }
    }

    fn on_syn(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        let at = Some(frame);
        let synack = seg.flags.ack();
        {
            let d = &mut self.dirs[s];
            d.syn_count += 1;
            if d.isn.is_none() {
                d.isn = Some(seg.seq);
                d.syn_options = Some(seg.options);
                d.syn_was_synack = synack;
                d.first_syn = Some((ts, frame));
            } else if d.isn != Some(seg.seq) {
                self.event(at, ts, Some(s), EventKind::NewAttempt, || {
                    "sends a SYN with a different ISN: a new attempt".into()
                });
                self.dirs[s].isn = Some(seg.seq);
                self.dirs[s].next_seq = None;
            }
        }
        if seg.payload_len > 0 {
            self.event(at, ts, Some(s), EventKind::DataOnSyn, || {
                format!(
                    "SYN carries {} bytes of data (TCP Fast Open or crafted)",
                    seg.payload_len
                )
            });
        }
        if !synack {
            self.dirs[s].last_syn_ts = Some(ts);
            match self.ends[s].state {
                State::Closed => self.transition(s, State::SynSent, ts, at, false),
                State::Listen => {
                    // Simultaneous open from the side we took for the listener.
                    self.transition(s, State::SynSent, ts, at, false)
                }
                _ => {}
            }
            // Receiver: a bare SYN reaching SYN_SENT is a simultaneous open.
            if self.ends[r].state == State::SynSent && self.dirs[r].isn.is_some() {
                self.transition(r, State::SynReceived, ts, at, false);
            }
            return;
        }
        // SYN-ACK.
        self.dirs[s].synack_sent = true;
        if self.first_synack_ts.is_none() {
            self.first_synack_ts = Some((ts, frame));
            self.answered_syn_ts = self.dirs[r].last_syn_ts;
            if let Some(client_isn) = self.dirs[r].isn {
                let ok = seg.ack == client_isn + 1;
                self.synack_ack_ok = Some(ok);
                if !ok {
                    self.event(at, ts, Some(s), EventKind::BadHandshakeAck, || {
                        format!(
                            "SYN-ACK acknowledges {} instead of the client's ISN+1",
                            seg.ack.relative_to(client_isn)
                        )
                    });
                }
            }
            self.apply_window_scaling();
        }
        match self.ends[s].state {
            State::Listen | State::Closed | State::SynSent => {
                self.transition(s, State::SynReceived, ts, at, false);
                // Simultaneous open: the peer's SYN-ACK, captured earlier, already acked our SYN.
                let ours = self.dirs[s].isn;
                if ours
                    .zip(self.dirs[r].highest_ack)
                    .is_some_and(|(isn, a)| a > isn)
                {
                    self.transition(s, State::Established, ts, at, false);
                }
            }
            _ => {}
        }
    }

    /// Window scaling applies only when both SYNs carried the option (RFC 7323 §2.2).
    fn apply_window_scaling(&mut self) {
        let (a, b) = (self.dirs[0].syn_options, self.dirs[1].syn_options);
        if let (Some(a), Some(b)) = (a, b) {
            let both = a.window_scale.is_some() && b.window_scale.is_some();
            self.dirs[0].window_scaling_known = true;
            self.dirs[1].window_scaling_known = true;
            if both {
                self.dirs[0].window_shift = a.window_scale.unwrap_or(0).min(14);
                self.dirs[1].window_shift = b.window_scale.unwrap_or(0).min(14);
            }
        }
    }

    fn on_fin_sent(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let at = Some(frame);
        let fin_seq = seg.seq + seg.payload_len + u32::from(seg.flags.syn());
        match self.dirs[s].fin_seq {
            Some(fs) if fs == fin_seq => return, // retransmitted FIN: counted by classify
            Some(_) => {
                self.event(at, ts, Some(s), EventKind::Unexpected, || {
                    "sends a second FIN at a different sequence number".into()
                });
                return;
            }
            None => {
                self.dirs[s].fin_seq = Some(fin_seq);
                self.dirs[s].fin_at = Some((ts, frame));
            }
        }
        let st = self.ends[s].state;
        match st {
            State::Established | State::SynReceived => {
                self.transition(s, State::FinWait1, ts, at, false)
            }
            State::CloseWait => self.transition(s, State::LastAck, ts, at, false),
            State::SynSent => {
                self.event(at, ts, Some(s), EventKind::Unexpected, || {
                    "sends FIN in SYN_SENT, before any SYN-ACK".into()
                });
                self.transition(s, State::FinWait1, ts, at, false);
            }
            _ => {
                self.event(at, ts, Some(s), EventKind::Unexpected, || {
                    format!("sends FIN in {st}")
                });
            }
        }
    }

    fn on_ack_received(&mut self, r: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let at = Some(frame);
        let st = self.ends[r].state;
        let acks_syn = self.dirs[r].isn.is_some_and(|isn| seg.ack > isn);
        let acks_fin = self.dirs[r].fin_seq.is_some_and(|fs| seg.ack > fs);
        match st {
            State::SynReceived if acks_syn => self.transition(r, State::Established, ts, at, false),
            // A FIN+ACK that acks our FIN passes through FIN_WAIT_2 on the same segment: RFC 9293
            // §3.10.7.4 processes the ACK ("enter FIN-WAIT-2 and continue") before the FIN, and so
            // does Linux (tcp_rcv_state_process, then tcp_fin). SPEC.md's table folds the two.
            State::FinWait1 if acks_fin => self.transition(r, State::FinWait2, ts, at, false),
            State::Closing if acks_fin => self.transition(r, State::TimeWait, ts, at, false),
            State::LastAck if acks_fin => self.transition(r, State::Closed, ts, at, false),
            _ => {}
        }
    }

    fn on_fin_received(&mut self, r: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let s = other(r);
        if self.dirs[s].fin_seq != Some(seg.seq + seg.payload_len + u32::from(seg.flags.syn())) {
            return;
        }
        match self.ends[r].state {
            // SPEC.md §2: ESTABLISHED → CLOSE_WAIT is proved by the receiver's ACK of the FIN.
            State::Established | State::SynReceived | State::SynSent => self.pending_fin[r] = true,
            State::FinWait1 | State::FinWait2 => {
                self.apply_fin_received_with_ack(r, seg, ts, Some(frame))
            }
            _ => {}
        }
    }

    fn apply_fin_received_with_ack(
        &mut self,
        r: Side,
        seg: &Segment,
        ts: Timestamp,
        at: Option<u64>,
    ) {
        let acks_my_fin = seg.flags.ack() && self.dirs[r].fin_seq.is_some_and(|fs| seg.ack > fs);
        match self.ends[r].state {
            State::FinWait1 if acks_my_fin => self.transition(r, State::TimeWait, ts, at, false),
            State::FinWait1 => self.transition(r, State::Closing, ts, at, false),
            State::FinWait2 => self.transition(r, State::TimeWait, ts, at, false),
            _ => {}
        }
    }

    /// The deferred "receives FIN" of an endpoint, once its ACK proves the FIN arrived.
    fn apply_fin_received(&mut self, r: Side, ts: Timestamp, at: Option<u64>, inferred: bool) {
        match self.ends[r].state {
            State::Established | State::SynReceived | State::SynSent => {
                self.transition(r, State::CloseWait, ts, at, inferred)
            }
            // It sent its own FIN before the peer's arrived: a simultaneous close.
            State::FinWait1 => self.transition(r, State::Closing, ts, at, inferred),
            State::FinWait2 => self.transition(r, State::TimeWait, ts, at, inferred),
            _ => {}
        }
    }

    /// The capture point from the handshake (SPEC.md §1): near the client the SYN→SYN-ACK gap
    /// holds almost the whole RTT, near the server the SYN-ACK→ACK gap does.
    fn infer_capture_point(&mut self) {
        let (Some(a), Some(b)) = (self.syn_to_synack_ms(), self.synack_to_ack_ms()) else {
            return;
        };
        self.capture_point = if a >= 4.0 * b {
            CapturePoint::NearClient
        } else if b >= 4.0 * a {
            CapturePoint::NearServer
        } else {
            CapturePoint::Between
        };
    }

    pub fn syn_to_synack_ms(&self) -> Option<f64> {
        let (synack, _) = self.first_synack_ts?;
        Some(synack.millis_since(self.answered_syn_ts?))
    }

    pub fn synack_to_ack_ms(&self) -> Option<f64> {
        let (synack, _) = self.first_synack_ts?;
        let (ack, _, _) = self.handshake_ack?;
        Some(ack.millis_since(synack))
    }

    /// Called once when the connection will see no more segments (capture end or reuse).
    pub fn finish(&mut self, capture_end: Timestamp, time_wait_s: f64) {
        if self.finished {
            return;
        }
        self.finished = true;
        for side in 0..2 {
            if self.pending_fin[side] {
                // The ACK proving the FIN arrived was not captured; stamp it at the FIN.
                self.pending_fin[side] = false;
                if let Some((ts, frame)) = self.dirs[other(side)].fin_at {
                    self.apply_fin_received(side, ts, Some(frame), true);
                }
            }
            if self.ends[side].state == State::TimeWait
                && let Some(entered) = self.ends[side].time_wait_entered
            {
                let expiry = entered.plus_secs(time_wait_s);
                match self.reused_by {
                    Some((_, ts, frame)) if ts < expiry => {
                        self.transition(side, State::Closed, ts, Some(frame), false)
                    }
                    _ if expiry <= capture_end => {
                        self.transition(side, State::Closed, expiry, None, true)
                    }
                    _ => {}
                }
            }
        }
        // Kept until the report is written: no spare capacity.
        self.events.shrink_to_fit();
        for end in &mut self.ends {
            end.transitions.shrink_to_fit();
        }
        if let Some(reuse) = self.reuse.as_mut() {
            let holder = reuse.holder;
            let d = &self.dirs[holder];
            reuse.outcome = if d.syn_was_synack {
                "accepted (SYN-ACK)"
            } else if d.rst_at.is_some() {
                "refused (RST)"
            } else if d.stats.packets > 0 {
                "answered without SYN-ACK (challenge ACK)"
            } else {
                "no answer in the capture"
            };
        }
    }

    /// Who sent the first FIN; "both" when the FINs crossed (simultaneous close).
    pub fn close_initiator(&self) -> Option<&'static str> {
        let crossed = (0..2).all(|s| self.ends[s].passed_through(State::Closing));
        if crossed {
            return Some("both");
        }
        let fins: Vec<(Timestamp, u64, Side)> = (0..2)
            .filter_map(|s| self.dirs[s].fin_at.map(|(ts, f)| (ts, f, s)))
            .collect();
        let first = fins.iter().min_by_key(|(ts, f, _)| (*ts, *f))?;
        Some(self.role_name(first.2))
    }

    pub fn time_wait_holder(&self) -> Option<&'static str> {
        let held: Vec<Side> = (0..2)
            .filter(|&s| self.ends[s].passed_through(State::TimeWait))
            .collect();
        match held.as_slice() {
            [] => None,
            [s] => Some(self.role_name(*s)),
            _ => Some("both"),
        }
    }

    pub fn reset_by(&self) -> Option<&'static str> {
        let resets: Vec<(Timestamp, u64, Side)> = (0..2)
            .filter_map(|s| self.dirs[s].rst_at.map(|(ts, f)| (ts, f, s)))
            .collect();
        let first = resets.iter().min_by_key(|(ts, f, _)| (*ts, *f))?;
        Some(self.role_name(first.2))
    }

    /// Zeek's conn_state (SPEC.md §7).
    pub fn conn_state(&self) -> &'static str {
        let (c, sv) = (self.client, self.server());
        let orig_syn = self.dirs[c].isn.is_some() && !self.dirs[c].syn_was_synack;
        let resp_synack = self.dirs[sv].syn_was_synack;
        let first_rst = self.reset_by();
        let orig_fin = self.dirs[c].fin_seq.is_some();
        let resp_fin = self.dirs[sv].fin_seq.is_some();
        if orig_syn && !resp_synack {
            return match first_rst {
                Some("server") => "REJ",
                Some(_) => "RSTOS0",
                None if orig_fin => "SH",
                None => "S0",
            };
        }
        if !orig_syn && resp_synack {
            return match first_rst {
                Some("server") => "RSTRH",
                _ if resp_fin => "SHR",
                _ => "OTH",
            };
        }
        if !orig_syn {
            return "OTH";
        }
        match first_rst {
            Some("client") => "RSTO",
            Some(_) => "RSTR",
            None => match (orig_fin, resp_fin) {
                (true, true) => "SF",
                (true, false) => "S2",
                (false, true) => "S3",
                (false, false) => "S1",
            },
        }
    }

    pub fn handshake_valid(&self) -> bool {
        self.synack_ack_ok == Some(true) && self.handshake_ack.is_some_and(|(_, _, ok)| ok)
    }

    pub fn anomaly_count(&self) -> usize {
        self.events.iter().filter(|e| e.kind.is_anomaly()).count() + self.events_dropped as usize
    }

    /// RTT of the direction with more samples (the data direction), and that direction.
    pub fn main_rtt(&self) -> (Side, RttEstimator) {
        let a = self.dirs[self.client].rtt.estimator;
        let b = self.dirs[self.server()].rtt.estimator;
        if b.samples > a.samples {
            (self.server(), b)
        } else {
            (self.client, a)
        }
    }
}

/// The events one segment raises. A detail is written only while the connection has room for
/// it, so once its events are full a segment allocates nothing.
struct SegmentEvents {
    room: usize,
    kept: Vec<(EventKind, String)>,
    dropped: u32,
}

impl SegmentEvents {
    fn push(&mut self, kind: EventKind, detail: impl FnOnce() -> String) {
        if self.kept.len() < self.room {
            self.kept.push((kind, detail()));
        } else {
            self.dropped += 1;
        }
    }
}

fn pair_mut(dirs: &mut [Direction; 2], s: Side) -> (&mut Direction, &mut Direction) {
    let (a, b) = dirs.split_at_mut(1);
    if s == 0 {
        (&mut a[0], &mut b[0])
    } else {
        (&mut b[0], &mut a[0])
    }
}

fn scaled_window(seg: &Segment, d: &Direction) -> u64 {
    if seg.flags.syn() {
        u64::from(seg.window)
    } else {
        u64::from(seg.window) << d.window_shift
    }
}

/// Decide why a segment was sent again. `d` is the sender's direction, `p` the peer's.
// The inputs are the facts the decision weighs; bundling them in a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn retrans_kind(
    d: &Direction,
    p: &Direction,
    seg: &Segment,
    end: SeqNumber,
    una: Option<SeqNumber>,
    ts: Timestamp,
    peer_quiet_ms: Option<f64>,
    since_sent_ms: Option<f64>,
) -> RetransKind {
    if p.highest_ack.is_some_and(|a| end <= a) {
        return RetransKind::Spurious;
    }
    if seg.flags.syn() {
        // SYN and SYN-ACK retransmissions are always timer driven.
        return RetransKind::Rto;
    }
    let rto = d.rtt.estimator.rto_ms(LINUX_RTO_FLOOR_MS).unwrap_or(1000.0);
    let quiet = peer_quiet_ms
        .unwrap_or(f64::INFINITY)
        .min(since_sent_ms.unwrap_or(f64::INFINITY));
    let quiet_from_peer = peer_quiet_ms.unwrap_or(f64::INFINITY);
    let at_head = una.is_none_or(|u| seg.seq <= u);
    // A timeout: the oldest data resent about an RTO after the last progress. Linux re-arms the
    // retransmission timer when SND.UNA advances and when it retransmits, not on dup ACKs, so a
    // lost fast retransmission is resent by RTO while dup ACKs keep arriving.
    let progress = [p.highest_ack_ts, d.last_retransmit_ts, d.first_ts]
        .into_iter()
        .flatten()
        .max();
    let since_progress = progress.map_or(f64::INFINITY, |t| ts.millis_since(t));
    if at_head && (quiet_from_peer >= 0.8 * rto || since_progress >= 0.8 * rto) {
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
    if Some(end) == d.next_seq && quiet >= (1.5 * srtt).max(2.0) {
        return RetransKind::TailLossProbe;
    }
    if quiet_from_peer >= 0.8 * rto {
        return RetransKind::Rto;
    }
    RetransKind::Fast
}

fn describe_retransmission(
    d: &Direction,
    seg: &Segment,
    kind: RetransKind,
    peer_quiet_ms: Option<f64>,
    since_sent_ms: Option<f64>,
) -> String {
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
    let quiet = peer_quiet_ms
        .map(|q| format!(", peer silent {q:.1} ms"))
        .unwrap_or_default();
    match kind {
        RetransKind::Rto if seg.flags.syn() => {
            let gap = since_sent_ms
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
