//! One TCP connection (one incarnation of a 4-tuple), updated one segment at a time. It holds
//! the parts and hands each segment to them in turn:
//! [`history`] (Zeek's letters), [`transitions`] (which segment proves which event of the two
//! endpoints' state machines, [`fsm`]), [`handshake`], the segment analysis of each direction
//! ([`crate::analysis`]: classify, then count), and, for a connection that may be drawn, its
//! [`sketch`].
//!
//! Sides are indexed 0 and 1 by the order the capture first saw the addresses; which one is the
//! client is decided by SPEC.md §1's rules and kept in `client`.

pub mod frozen;
pub mod fsm;
pub mod handshake;
pub mod history;
mod predict;
pub mod sketch;
pub mod story;
pub mod summary;
pub mod transitions;

use std::net::SocketAddr;

use crate::analysis::classify::{self, Context};
use crate::analysis::count;
use crate::analysis::direction::{self, Direction};
use crate::analysis::rtt::RttEstimator;
use crate::analysis::{RetransKind, SegClass, SegFlags};
use crate::conn::fsm::{Endpoint, Event, State};
use crate::conn::handshake::{CapturePoint, Handshake};
use crate::conn::history::History;
use crate::decode::segment::{Segment, TcpFlags};
use crate::events::{EventLog, SegmentLog};
use crate::seq::SeqNumber;
use crate::time::Timestamp;

pub use crate::events::{EventKind, MAX_EVENTS, Side, other};

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
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
/// What became of a SYN that reused a 4-tuple held in TIME_WAIT, known when the connection is
/// finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReuseOutcome {
    #[default]
    Unknown,
    Accepted,
    Refused,
    ChallengeAck,
    NoAnswer,
}

impl ReuseOutcome {
    pub fn name(self) -> &'static str {
        match self {
            ReuseOutcome::Unknown => "",
            ReuseOutcome::Accepted => "accepted (SYN-ACK)",
            ReuseOutcome::Refused => "refused (RST)",
            ReuseOutcome::ChallengeAck => "answered without SYN-ACK (challenge ACK)",
            ReuseOutcome::NoAnswer => "no answer in the capture",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Reuse {
    pub previous: u32,
    /// The side (of this connection) that still held the old incarnation in TIME_WAIT.
    pub holder: Side,
    pub holder_addr: SocketAddr,
    pub held_for_s: f64,
    /// RFC 6191 / RFC 1122 §4.2.2.13: may the holder accept this SYN?
    pub acceptable: bool,
    pub reason: String,
    /// Filled at the end.
    pub outcome: ReuseOutcome,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub id: u32,
    pub addrs: [SocketAddr; 2],
    pub client: Side,
    pub role_rule: RoleRule,
    pub dirs: [Direction; 2],
    pub ends: [Endpoint; 2],
    pub first_ts: Timestamp,
    /// The latest time seen (a clock that steps back does not lower it).
    pub last_ts: Timestamp,
    /// The time of the last segment as stamped, to tell a step of the clock from the next.
    stamped_ts: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    pub handshake: Handshake,
    history: History,
    pub events: EventLog,
    pub reset_seen: bool,
    after_reset_reported: bool,
    /// The FIN each side received but has not yet proved by acknowledging it.
    pending_fin: [bool; 2],
    /// Boxed: rare, and a few words a connection otherwise.
    pub reuse: Option<Box<Reuse>>,
    /// When a TIME_WAIT of this incarnation ended because a new SYN reused the 4-tuple.
    pub reused_by: Option<(u32, Timestamp, u64)>,
    /// Not in a frozen connection ([`frozen`]): only a connection without one is frozen.
    #[serde(skip)]
    pub timeline: Option<Vec<TimelineEntry>>,
    /// What the pictures need, kept only for connections that may be drawn. Not in a frozen
    /// connection, as `timeline`.
    #[serde(skip)]
    pub sketch: Option<Box<sketch::Sketch>>,
    pub finished: bool,
    /// An endpoint in TIME_WAIT drops an in-window RST (RFC 1337, Linux `tcp_rfc1337=1`)
    /// instead of closing (Linux's default).
    pub rfc1337: bool,
    /// The VLAN IDs its segments carried (outer, inner; 0 when untagged), part of its key.
    pub vlan: [u16; 2],
    /// The other direction's VLAN IDs, where they differ (one direction tagged, or tagged
    /// differently): segments with them joined this connection.
    pub vlan_reply: Option<[u16; 2]>,
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
            stamped_ts: ts,
            first_frame: frame,
            last_frame: frame,
            handshake: Handshake::default(),
            history: History::default(),
            events: EventLog::default(),
            reset_seen: false,
            after_reset_reported: false,
            pending_fin: [false; 2],
            reuse: None,
            reused_by: None,
            timeline: record_timeline.then(Vec::new),
            sketch: None,
            finished: false,
            rfc1337: false,
            vlan: [0, 0],
            vlan_reply: None,
        }
    }

    pub fn server(&self) -> Side {
        other(self.client)
    }

    pub fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.addrs[0] { 0 } else { 1 }
    }

    pub fn role_name(&self, side: Side) -> &'static str {
        self.role(side).name()
    }

    /// Zeek's history string.
    pub fn history(&self) -> String {
        self.history.render(self.client)
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

    /// Process one segment of this connection: history, TIME_WAIT arrivals, the segment's class
    /// and counters, the endpoints' state machines, then the directions' bookkeeping. With
    /// `predict`, a segment that header prediction (`conn/predict`) recognises takes the short path
    /// to the same result.
    pub fn on_segment(&mut self, seg: &Segment, ts: Timestamp, frame: u64, predict: bool) {
        let s = self.side_of(seg.src);
        if let Some(problem) = crate::time::clock_problem(self.stamped_ts, ts) {
            let last_frame = self.last_frame;
            self.events
                .push(Some(frame), ts, Some(s), EventKind::Clock, || {
                    format!("clock problem: stamped {}", problem.relative_to(last_frame))
                });
        }
        self.last_ts = self.last_ts.max(ts);
        self.stamped_ts = ts;
        self.last_frame = frame;
        self.history.note(s, seg);

        let predicted = if predict {
            self.predicted(s, seg, ts)
        } else {
            None
        };
        let (class, seg_flags, rtt_sample) = match predicted {
            Some(rtt_sample) => (SegClass::Normal, SegFlags::default(), rtt_sample),
            None => self.full_path(s, seg, ts, frame),
        };

        if self.timeline.is_some() || self.sketch.is_some() {
            let entry = TimelineEntry {
                frame,
                ts,
                from: s,
                flags: seg.flags,
                seq: seg.seq,
                ack: seg.ack,
                len: seg.payload_len,
                window: self.dirs[s].scaled_window(seg),
                class,
                seg_flags,
                options: seg.options,
            };
            if let Some(sk) = self.sketch.as_mut() {
                sk.record(&entry, [self.dirs[0].isn, self.dirs[1].isn], rtt_sample);
            }
            if let Some(tl) = self.timeline.as_mut() {
                tl.push(entry);
            }
        }
    }

    /// Every step of [`Connection::on_segment`] for the segment `seg` from side `s`: the
    /// segment's class and flags, and the RTT sample its ACK gave.
    fn full_path(
        &mut self,
        s: Side,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) -> (SegClass, SegFlags, Option<f64>) {
        if self.reset_seen && !self.after_reset_reported {
            self.after_reset_reported = true;
            let what = if seg.flags.fin() {
                "FIN"
            } else if seg.flags.rst() {
                "another RST"
            } else {
                "segment"
            };
            self.events.push(
                Some(frame),
                ts,
                Some(s),
                EventKind::SegmentAfterReset,
                || format!("{what} after the connection was reset"),
            );
        }
        self.time_wait_arrivals(s, seg, ts, frame);

        let ctx = self.context(s);
        let (d, p) = pair_mut(&mut self.dirs, s);
        let verdict = classify::classify(d, p, seg, ts, ctx);
        if verdict.probe_was_timeout {
            self.probes_were_timeouts(s);
        }
        let (d, p) = pair_mut(&mut self.dirs, s);
        let mut log = SegmentLog {
            log: &mut self.events,
            frame,
            ts,
            side: s,
        };
        count::apply(&verdict, d, p, seg, &mut log);

        self.state_machine(s, seg, ts, frame);

        // RFC 9293 §3.10.7.3: in SYN_SENT an ACK that does not acknowledge the SYN is
        // unacceptable (the peer answers it with a RST and stays in SYN_SENT); it moves nothing.
        let r = other(s);
        let unacceptable = seg.flags.ack()
            && !seg.flags.rst()
            && self.ends[r].state == State::SynSent
            && self.dirs[r].isn.is_some_and(|isn| seg.ack != isn + 1);
        let (d, p) = pair_mut(&mut self.dirs, s);
        let rtt_sample = direction::after_segment(d, p, seg, ts, verdict.class, !unacceptable);
        (verdict.class, verdict.flags, rtt_sample)
    }

    /// The sender on side `s` sends no tail loss probes (its timer resends double from the
    /// first, here or in another connection from the same host): every resend this connection
    /// called a probe was its first retransmission timeout. Counters, events and the ladder are
    /// corrected.
    pub fn probes_were_timeouts(&mut self, s: Side) {
        let d = &mut self.dirs[s];
        d.sends_no_probes = true;
        if std::mem::take(&mut d.stats.new_data_probes) > 0 {
            // Nor were its probes of new data probes: only new data, sent when it was.
            if d.tlp_sent.is_some_and(|o| o.new_data_frame.is_some()) {
                d.tlp_high = None;
                d.tlp_sent = None;
            }
            self.events
                .forget(|e| e.side == Some(s) && e.kind == EventKind::NewDataProbe);
        }
        let d = &mut self.dirs[s];
        let n = std::mem::take(&mut d.stats.tail_loss_probes);
        if n == 0 {
            return;
        }
        d.stats.rto_retransmissions += n;
        if d.tlp_high.take().is_some() {
            // The probe still out was the first timeout of the episode under way.
            d.tlp_sent = None;
            d.rto_streak = d.rto_streak.max(1);
        }
        const PROBE: &str = " resent as a tail loss probe";
        for e in self.events.iter_mut() {
            if e.side == Some(s)
                && let Some(at) = e.detail.find(PROBE)
            {
                let quiet = e.detail[at + PROBE.len()..].to_string();
                e.detail.truncate(at);
                e.detail
                    .push_str(&format!(" resent by RTO (timeout #1{quiet})"));
            }
        }
        if let Some(tl) = self.timeline.as_mut() {
            for t in tl.iter_mut().filter(|t| t.from == s) {
                if t.class == SegClass::Retransmission(RetransKind::TailLossProbe) {
                    t.class = SegClass::Retransmission(RetransKind::Rto);
                }
            }
        }
        if let Some(sk) = self.sketch.as_mut() {
            sk.probes_were_timeouts(s);
        }
    }

    /// What classifying a segment from `s` needs to know of the connection.
    pub fn context(&self, s: Side) -> Context {
        let near_sender = self.near_sender(s);
        // The shortest round trip seen: the handshake's (one late ACK makes it long), and, where
        // the capture is beside the receiver, the receiver's own data samples (full round trips
        // from there). Without either, half the sender's SRTT.
        let receiver = &self.dirs[other(s)].rtt.estimator;
        let receiver_rtt = (!near_sender
            && self.handshake.capture_point != CapturePoint::Between
            && receiver.samples > 0)
            .then_some(receiver.min_ms);
        let min_rtt = match (self.handshake.rtt_ms(), receiver_rtt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let reorder_window_ms = match min_rtt {
            Some(rtt) => 0.9 * rtt,
            None => (self.dirs[s].rtt.estimator.srtt_ms / 2.0).max(3.0),
        };
        Context {
            near_sender,
            reorder_window_ms,
            peer_in_time_wait: self.ends[other(s)].state == State::TimeWait,
        }
    }

    /// Is the capture point close to the sender on side `s`, so its segments are seen in
    /// sending order?
    pub fn near_sender(&self, s: Side) -> bool {
        match self.handshake.capture_point {
            CapturePoint::NearClient => s == self.client,
            CapturePoint::NearServer => s != self.client,
            // Without evidence, take the reading SPEC.md §4 gives for the common case: a segment
            // below the highest sequence seen is a retransmission.
            CapturePoint::Unknown => true,
            CapturePoint::Between => false,
        }
    }

    /// Give back what only the segment analysis needed (the RTT rings, the gaps) and spare
    /// capacity: called when the connection is finished, and when it closes by FINs to wait out
    /// its linger time (a late segment allocates what it needs again).
    pub fn release(&mut self) {
        for d in &mut self.dirs {
            d.release();
        }
        self.events.shrink_to_fit();
        for end in &mut self.ends {
            end.transitions.shrink_to_fit();
        }
        if let Some(sk) = self.sketch.as_mut() {
            sk.shrink();
        }
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
                    self.fin_proved(side, ts, Some(frame), true);
                }
            }
            if self.ends[side].state == State::TimeWait
                && let Some(entered) = self.ends[side].time_wait_entered
            {
                let expiry = entered.plus_secs(time_wait_s);
                match self.reused_by {
                    Some((_, ts, frame)) if ts < expiry => {
                        self.go(side, Event::TimeWaitEnds, ts, Some(frame), false)
                    }
                    _ if expiry <= capture_end => {
                        self.go(side, Event::TimeWaitEnds, expiry, None, true)
                    }
                    _ => {}
                }
            }
        }
        self.release();
        if let Some(reuse) = self.reuse.as_mut() {
            let holder = reuse.holder;
            let d = &self.dirs[holder];
            reuse.outcome = if d.syn_was_synack {
                ReuseOutcome::Accepted
            } else if d.rst_at.is_some() {
                ReuseOutcome::Refused
            } else if d.stats.packets > 0 {
                ReuseOutcome::ChallengeAck
            } else {
                ReuseOutcome::NoAnswer
            };
        }
    }

    /// RTT of the direction with more samples (the data direction), and that direction.
    /// The connection's headline RTT: the path's round trip, from the samples of the
    /// endpoint next to the capture point (its data leaves there and its ACKs come back from
    /// the far end). The other direction only times the short leg between the capture point
    /// and the nearer host. See [`RttBasis`] for the cases.
    pub fn main_rtt(&self) -> (Side, RttEstimator, RttBasis) {
        let est = |s: Side| self.dirs[s].rtt.estimator;
        let near = match self.handshake.capture_point {
            CapturePoint::NearClient => Some(self.client),
            CapturePoint::NearServer => Some(self.server()),
            CapturePoint::Between | CapturePoint::Unknown => None,
        };
        match near {
            Some(s) if est(s).samples > 0 => (s, est(s), RttBasis::NearSender),
            Some(s) if est(other(s)).samples > 0 => (other(s), est(other(s)), RttBasis::ShortLeg),
            Some(s) => (s, est(s), RttBasis::None),
            None => {
                let (a, b) = (self.client, self.server());
                let (ea, eb) = (est(a), est(b));
                let pick = match (ea.samples > 0, eb.samples > 0) {
                    (true, true) if eb.min_ms > ea.min_ms => b,
                    (true, _) => a,
                    (false, true) => b,
                    (false, false) => return (a, ea, RttBasis::None),
                };
                (pick, est(pick), RttBasis::LongerLeg)
            }
        }
    }
}

/// Which samples a connection's headline RTT comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RttBasis {
    /// Data from the endpoint next to the capture point: the whole path.
    NearSender,
    /// The capture point is between the hosts or unknown: the direction with the larger
    /// minimum, the longer of the two legs (each direction times only its own leg).
    LongerLeg,
    /// Only the far endpoint's data was timed: the leg between the capture point and the
    /// nearer host, not the path (the handshake RTT is then the better figure).
    ShortLeg,
    /// No samples.
    None,
}

impl RttBasis {
    pub fn key(self) -> Option<&'static str> {
        match self {
            RttBasis::NearSender => Some("sender_near_capture"),
            RttBasis::LongerLeg => Some("longer_leg"),
            RttBasis::ShortLeg => Some("short_leg"),
            RttBasis::None => None,
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
