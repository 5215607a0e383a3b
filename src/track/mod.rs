//! Connection tracking: maps each segment to the current incarnation of its 4-tuple, starts a new
//! incarnation when a SYN reuses the 4-tuple (SPEC.md §1), and retires a connection as soon as no
//! segment can belong to it any more, so memory follows the connections still open.
//!
//! A connection is finished when a new incarnation replaces it, or when neither endpoint holds
//! it open (every endpoint CLOSED, LISTEN or TIME_WAIT) and no segment of it has been seen for
//! the linger time: the TIME_WAIT duration, at least [`MIN_LINGER_S`]. That is 2·MSL, after
//! which no segment of the old connection can still be in the network (RFC 9293 §3.4.2), and
//! TIME_WAIT has expired. Finished connections wait in a queue until the caller takes them
//! ([`Tracker::drain_finished`]); whatever is left is settled by [`Tracker::finish`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::fastmap::{self, FastMap};
use std::net::{IpAddr, SocketAddr};

use crate::conn::fsm::State;
use crate::conn::sketch::{DrawRank, Sketch, draw_rank};
use crate::conn::{Connection, EventKind, Reuse, RoleRule, other};
use crate::decode::segment::Segment;
use crate::time::Timestamp;

/// The shortest quiet time after which a closed connection is retired: Linux's TIME_WAIT
/// (`TCP_TIMEWAIT_LEN`, 60 s), so a short `--time-wait` does not split a connection whose last
/// retransmissions are still on the way.
pub const MIN_LINGER_S: f64 = 60.0;

/// Which connections keep a per-segment ladder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TimelineSelect {
    #[default]
    None,
    All,
    Ids(Vec<u32>),
}

impl TimelineSelect {
    fn wants(&self, id: u32) -> bool {
        match self {
            TimelineSelect::None => false,
            TimelineSelect::All => true,
            TimelineSelect::Ids(ids) => ids.contains(&id),
        }
    }
}

/// Which connections keep a sketch (what the pictures need, [`crate::conn::sketch`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SketchSelect {
    #[default]
    None,
    All,
    Ids(Vec<u32>),
    /// The `n` connections the page draws by default (most anomalies first), known only at the
    /// end: connections are sketched as they open, at most [`SKETCHED_PER_DRAWN`]`·n` at once;
    /// one that closes keeps its sketch only while it ranks among the first `n` closed (its
    /// anomalies are then final but for a late segment: connections closing later can only
    /// push it down), and the audit keeps only the first `n` of those finished. A drawn
    /// connection left without a sketch (opened while the others held them all) is recorded
    /// by a second reading of the capture (`report::html::graphs`).
    MostAnomalous(usize),
}

/// Which connections the report may draw (its selection), for [`SketchSelect::MostAnomalous`].
pub type Drawable = Rc<dyn Fn(&Connection) -> bool>;

/// Under [`SketchSelect::MostAnomalous`]`(n)`, at most this many times `n` open connections
/// keep a sketch: a few bulk transfers side by side are all sketched (and never read twice,
/// which would cost as much as the first reading), while thousands open at once do not each
/// record their segments for the ten drawn (a second reading of those few costs less).
pub const SKETCHED_PER_DRAWN: usize = 4;

impl SketchSelect {
    fn wants(&self, id: u32) -> bool {
        match self {
            SketchSelect::None => false,
            SketchSelect::All | SketchSelect::MostAnomalous(_) => true,
            SketchSelect::Ids(ids) => ids.contains(&id),
        }
    }
}

/// How segments are grouped into connections and how endpoints behave, beyond the capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackOptions {
    /// An endpoint in TIME_WAIT drops an in-window RST (RFC 1337, Linux `tcp_rfc1337=1`);
    /// by default it closes, as Linux does.
    pub rfc1337: bool,
    /// Leave the VLAN IDs out of the flow key, for captures where one direction is tagged and
    /// the other is not.
    pub ignore_vlan: bool,
}

/// Both endpoints, lower first, and the VLAN IDs (outer, inner; 0 when untagged): the same
/// 4-tuple on two VLANs is two connections, as in Suricata's default `vlan.use-for-tracking`.
type FlowKey = (SocketAddr, SocketAddr, [u16; 2]);

fn flow_key(a: SocketAddr, b: SocketAddr, vlan: [u16; 2]) -> FlowKey {
    if a <= b { (a, b, vlan) } else { (b, a, vlan) }
}

/// Does either endpoint still hold the connection open?
fn is_closed(c: &Connection) -> bool {
    c.ends
        .iter()
        .all(|e| matches!(e.state, State::Closed | State::Listen | State::TimeWait))
}

pub struct Tracker {
    /// The current incarnation of every 4-tuple not yet retired. Boxed: a connection is a few
    /// KiB, and the table moves its entries when it grows.
    live: FastMap<FlowKey, Box<Connection>>,
    closed: ClosedQueue,
    /// Finished connections not yet taken by the caller.
    #[allow(
        clippy::vec_box,
        reason = "moved on to the caller as they are, without copying a few KiB each"
    )]
    finished: Vec<Box<Connection>>,
    /// How many connections used each port, for the port-popularity role rule.
    port_uses: FastMap<u16, u32>,
    next_id: u32,
    /// The previous segment's timestamp.
    last_ts: Option<Timestamp>,
    timeline: TimelineSelect,
    sketches: SketchSelect,
    /// Open connections holding a sketch.
    sketched_open: usize,
    /// Under [`SketchSelect::MostAnomalous`]`(n)`: the first `n` connections that closed with
    /// a sketch, best first (rank and key; some may be retired since).
    closed_best: Vec<(DrawRank, FlowKey)>,
    /// The connections the report may draw (its selection); others keep no sketch once closed.
    drawable: Option<Drawable>,
    time_wait_s: f64,
    /// Hosts whose timer resends double from the first one: they send no tail loss probes, so
    /// a lone resend of theirs read as a probe was a timeout (settled when it is retired).
    no_probe_senders: FastMap<IpAddr, ()>,
    options: TrackOptions,
    /// The VLAN IDs of the newest connection of each 4-tuple, and the other direction's IDs of
    /// connections tagged differently each way (see `vlan_partner`).
    newest_vlan: FastMap<(SocketAddr, SocketAddr), [u16; 2]>,
    vlan_alias: FastMap<FlowKey, [u16; 2]>,
}

/// Remember the hosts of `conn` that showed they send no tail loss probes.
fn note_no_probes(hosts: &mut FastMap<IpAddr, ()>, conn: &Connection) {
    for s in 0..2 {
        if conn.dirs[s].sends_no_probes {
            hosts.insert(conn.addrs[s].ip(), ());
        }
    }
}

impl Tracker {
    pub fn new(timeline: TimelineSelect, time_wait_s: f64) -> Tracker {
        Tracker {
            live: fastmap::new(),
            closed: ClosedQueue {
                heap: BinaryHeap::new(),
                linger_s: time_wait_s.max(MIN_LINGER_S),
            },
            finished: Vec::new(),
            port_uses: fastmap::new(),
            next_id: 1,
            last_ts: None,
            timeline,
            sketches: SketchSelect::None,
            sketched_open: 0,
            closed_best: Vec::new(),
            drawable: None,
            time_wait_s,
            no_probe_senders: fastmap::new(),
            options: TrackOptions::default(),
            newest_vlan: fastmap::new(),
            vlan_alias: fastmap::new(),
        }
    }

    /// The same tracker with `options` (RFC 1337, VLAN IDs in the flow key).
    pub fn with_options(mut self, options: TrackOptions) -> Tracker {
        self.options = options;
        self
    }

    /// The same tracker, keeping the sketches of `sketches`; under
    /// [`SketchSelect::MostAnomalous`], of connections `drawable` accepts (any without it).
    pub fn with_sketches(mut self, sketches: SketchSelect, drawable: Option<Drawable>) -> Tracker {
        self.sketches = sketches;
        self.drawable = drawable;
        self
    }

    pub fn on_segment(&mut self, seg: &Segment, ts: Timestamp, frame: u64) {
        // The clock that retires connections is the earlier of this segment's time and the
        // previous one's, so one frame stamped far in the future does not retire everything.
        let clock = self.last_ts.map_or(ts, |last| last.min(ts));
        self.last_ts = Some(ts);
        self.retire_until(clock);
        let vlan = if self.options.ignore_vlan {
            [0, 0]
        } else {
            seg.vlan
        };
        let mut key = flow_key(seg.src, seg.dst, vlan);
        // One lookup for the common case: a segment of the current incarnation.
        let new_incarnation = loop {
            match self.live.get_mut(&key) {
                Some(conn) if !conn.is_new_incarnation(seg) => {
                    let closed = self.closed.feed(conn, key, seg, ts, frame);
                    note_no_probes(&mut self.no_probe_senders, conn);
                    if closed {
                        self.rank_closed(key);
                    }
                    return;
                }
                Some(_) => break true,
                None => match self.vlan_partner(key, seg) {
                    Some(partner) => key = partner,
                    None => break false,
                },
            }
        };
        if new_incarnation {
            self.new_incarnation(key, seg, ts, frame);
        } else {
            self.open(key, seg, ts, frame);
        }
        if let Some(conn) = self.live.get_mut(&key) {
            let closed = self.closed.feed(conn, key, seg, ts, frame);
            note_no_probes(&mut self.no_probe_senders, conn);
            if closed {
                self.rank_closed(key);
            }
        }
    }

    /// The connection of `key` just closed: under [`SketchSelect::MostAnomalous`] it keeps its
    /// sketch only if it ranks among the first `n` drawable ones closed (with a sketch or
    /// without), and pushes the one after them out.
    fn rank_closed(&mut self, key: FlowKey) {
        let SketchSelect::MostAnomalous(n) = self.sketches else {
            return;
        };
        let Some(c) = self.live.get_mut(&key) else {
            return;
        };
        let rank = draw_rank(c);
        let pos = self.closed_best.partition_point(|(r, _)| *r < rank);
        if pos >= n || !self.drawable.as_ref().is_none_or(|d| d(c)) {
            if c.sketch.take().is_some() {
                self.sketched_open -= 1;
            }
            return;
        }
        self.closed_best.insert(pos, (rank, key));
        if self.closed_best.len() > n
            && let Some((out_rank, out_key)) = self.closed_best.pop()
            && let Some(out) = self.live.get_mut(&out_key)
            && out.id == out_rank.1
            && out.sketch.take().is_some()
        {
            self.sketched_open -= 1;
        }
    }

    /// The connection a segment just given to [`Tracker::on_segment`] went to.
    pub fn connection_of(&self, seg: &Segment) -> Option<&Connection> {
        let vlan = if self.options.ignore_vlan {
            [0, 0]
        } else {
            seg.vlan
        };
        let key = flow_key(seg.src, seg.dst, vlan);
        if let Some(c) = self.live.get(&key) {
            return Some(c);
        }
        let &w = self.vlan_alias.get(&key)?;
        self.live.get(&(key.0, key.1, w)).map(|c| &**c)
    }

    /// A segment whose VLAN IDs match no live connection may be the other direction of one
    /// that is tagged differently one way (a router on a stick, a capture where only one
    /// direction is tagged): the newest connection of the 4-tuple, if it has seen only the other
    /// endpoint so far. The pairing is remembered for the rest of the connection.
    fn vlan_partner(&mut self, key: FlowKey, seg: &Segment) -> Option<FlowKey> {
        if self.options.ignore_vlan {
            return None;
        }
        if let Some(&w) = self.vlan_alias.get(&key) {
            let alt = (key.0, key.1, w);
            if self.live.contains_key(&alt) {
                return Some(alt);
            }
            self.vlan_alias.remove(&key);
        }
        let &w = self.newest_vlan.get(&(key.0, key.1))?;
        let alt = (key.0, key.1, w);
        let conn = self.live.get_mut(&alt).filter(|_| w != key.2)?;
        let s = conn.side_of(seg.src);
        if conn.dirs[s].stats.packets > 0
            || conn.dirs[other(s)].stats.packets == 0
            || conn.vlan_reply.is_some()
        {
            return None;
        }
        conn.vlan_reply = Some(key.2);
        self.vlan_alias.insert(key, w);
        Some(alt)
    }

    /// Connections finished so far, in the order they finished.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Box<Connection>> {
        self.finished.drain(..)
    }

    /// Retire every closed connection that has been quiet for the linger time by `now`.
    fn retire_until(&mut self, now: Timestamp) {
        while let Some(&Reverse((at, id, key))) = self.closed.heap.peek() {
            if at > now {
                break;
            }
            self.closed.heap.pop();
            // Gone already, or opened again since it closed (a refused SYN answered on its
            // retry): `feed` queues it again when it next closes.
            let Some(c) = self.live.get(&key).filter(|c| c.id == id && is_closed(c)) else {
                continue;
            };
            let due = c.last_ts.plus_secs(self.closed.linger_s);
            if due > now {
                self.closed.heap.push(Reverse((due, id, key)));
                continue;
            }
            if let Some(c) = self.live.remove(&key) {
                self.retire(c, now);
            }
        }
    }

    /// Settle a connection that will see no more segments and queue it for the caller.
    fn retire(&mut self, mut c: Box<Connection>, end: Timestamp) {
        if c.sketch.is_some() {
            self.sketched_open -= 1;
        }
        self.settle_role(&mut c);
        let (a, b, vlan) = flow_key(c.addrs[0], c.addrs[1], c.vlan);
        if self.newest_vlan.get(&(a, b)) == Some(&vlan) {
            self.newest_vlan.remove(&(a, b));
        }
        if let Some(reply) = c.vlan_reply {
            self.vlan_alias.remove(&(a, b, reply));
        }
        for s in 0..2 {
            if c.dirs[s].stats.tail_loss_probes > 0
                && self.no_probe_senders.contains_key(&c.addrs[s].ip())
            {
                c.probes_were_timeouts(s);
            }
        }
        c.finish(end, self.time_wait_s);
        self.finished.push(c);
    }

    /// SPEC.md §1: without a handshake or a port below 1024, the lower port is the server if
    /// more connections (so far) used it.
    fn settle_role(&self, c: &mut Connection) {
        if c.role_rule != RoleRule::FirstSender {
            return;
        }
        let (a, b) = (c.addrs[0].port(), c.addrs[1].port());
        let uses = |p| self.port_uses.get(&p).copied().unwrap_or(0);
        let (ua, ub) = (uses(a), uses(b));
        if a < b && ua > ub {
            c.client = 1;
            c.role_rule = RoleRule::CommonPort;
        } else if b < a && ub > ua {
            c.role_rule = RoleRule::CommonPort;
        }
    }

    fn open(&mut self, key: FlowKey, seg: &Segment, ts: Timestamp, frame: u64) {
        let id = self.next_id;
        self.next_id += 1;
        let mut conn = Connection::new(id, seg, ts, frame, self.timeline.wants(id));
        let room = match self.sketches {
            SketchSelect::MostAnomalous(n) => self.sketched_open < SKETCHED_PER_DRAWN * n,
            _ => true,
        };
        if room && self.sketches.wants(id) {
            conn.sketch = Some(Box::new(Sketch::new(ts)));
            self.sketched_open += 1;
        }
        conn.rfc1337 = self.options.rfc1337;
        conn.vlan = key.2;
        if !self.options.ignore_vlan {
            self.newest_vlan.insert((key.0, key.1), key.2);
        }
        if conn.role_rule == RoleRule::FirstSender {
            // Mid-stream: a port below 1024 marks the server at once; the port-popularity rule
            // waits until the connection is retired.
            let (a, b) = (conn.addrs[0].port(), conn.addrs[1].port());
            if a < b && a < 1024 {
                conn.client = 1;
                conn.role_rule = RoleRule::WellKnownPort;
            } else if b < a && b < 1024 {
                conn.role_rule = RoleRule::WellKnownPort;
            }
        }
        for a in conn.addrs {
            *self.port_uses.entry(a.port()).or_default() += 1;
        }
        self.live.insert(key, Box::new(conn));
    }

    /// A SYN reuses the 4-tuple: retire the old incarnation and judge the reuse if the old one
    /// was still in TIME_WAIT (RFC 6191, RFC 1122 §4.2.2.13).
    fn new_incarnation(&mut self, key: FlowKey, seg: &Segment, ts: Timestamp, frame: u64) {
        let new_id = self.next_id;
        let Some(mut old) = self.live.remove(&key) else {
            return;
        };
        let holder = old.time_wait_holders().next().filter(|&h| {
            let entered = old.ends[h].time_wait_entered.unwrap_or(ts);
            ts < entered.plus_secs(self.time_wait_s)
        });
        let reuse = holder.map(|h| {
            let entered = old.ends[h].time_wait_entered.unwrap_or(ts);
            let sender_old = old.side_of(seg.src);
            let (acceptable, reason) = judge_reuse(&old, sender_old, h, seg);
            (
                old.id,
                old.addrs[h],
                ts.secs_since(entered),
                acceptable,
                reason,
            )
        });
        if reuse.is_some() {
            old.reused_by = Some((new_id, ts, frame));
            old.events
                .push(Some(frame), ts, None, EventKind::Reuse, || {
                    format!("4-tuple reused by connection {new_id} during TIME_WAIT")
                });
        }
        self.retire(old, ts);
        self.open(key, seg, ts, frame);
        if let Some((previous, holder_addr, held_for_s, acceptable, reason)) = reuse
            && let Some(conn) = self.live.get_mut(&key)
        {
            let holder = conn.side_of(holder_addr);
            conn.reuse = Some(Box::new(Reuse {
                previous,
                holder,
                holder_addr,
                held_for_s,
                acceptable,
                reason,
                outcome: "",
            }));
            conn.events.push(
                Some(frame),
                ts,
                Some(other(holder)),
                EventKind::Reuse,
                || format!("SYN reuses the 4-tuple of connection {previous}, still in TIME_WAIT at {holder_addr} for {held_for_s:.1} s"),
            );
        }
    }

    /// End of capture: settle every connection still live. Returns the finished connections
    /// not yet drained together with these, ordered by id.
    pub fn finish(self, capture_end: Timestamp) -> Vec<Connection> {
        let boxed = self.finish_boxed(capture_end);
        let mut out = Vec::with_capacity(boxed.len());
        for c in boxed {
            out.push(*c);
        }
        out
    }

    /// [`Tracker::finish`] without moving the connections out of their boxes.
    pub fn finish_boxed(mut self, capture_end: Timestamp) -> Vec<Box<Connection>> {
        let mut live: Vec<Box<Connection>> = self.live.drain().map(|(_, c)| c).collect();
        live.sort_by_key(|c| c.id);
        for c in live {
            self.retire(c, capture_end);
        }
        let mut out = self.finished;
        out.sort_by_key(|c| c.id);
        out
    }
}

/// Closed connections by the time they may be retired: last segment + linger. Checked lazily:
/// a connection that saw more segments since is pushed again with its new time.
struct ClosedQueue {
    heap: BinaryHeap<Reverse<(Timestamp, u32, FlowKey)>>,
    linger_s: f64,
}

impl ClosedQueue {
    /// Process one segment of `conn`, and queue the connection if the segment closed it (then
    /// true).
    fn feed(
        &mut self,
        conn: &mut Connection,
        key: FlowKey,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) -> bool {
        let was_closed = is_closed(conn);
        conn.on_segment(seg, ts, frame);
        let closed_now = !was_closed && is_closed(conn);
        if closed_now {
            // Closed by FINs, nothing is in flight any more: what only the segment analysis
            // needed (the RTT ring, the gaps) is given back for the linger time; a late segment
            // allocates it again. (After a RST, late segments can still be timed.)
            if !conn.reset_seen {
                conn.release();
            }
            let at = conn.last_ts.plus_secs(self.linger_s);
            self.heap.push(Reverse((at, conn.id, key)));
        }
        closed_now
    }
}

/// May the TIME_WAIT holder `holder` of `old` accept the new SYN `seg` sent by `sender`?
fn judge_reuse(old: &Connection, sender: usize, holder: usize, seg: &Segment) -> (bool, String) {
    if sender == holder {
        return (
            true,
            "the TIME_WAIT holder itself reuses the 4-tuple (Linux tcp_tw_reuse)".into(),
        );
    }
    let d = &old.dirs[sender];
    if let (Some((tsval, _)), Some(last)) = (seg.options.timestamps, d.last_tsval) {
        let newer = (tsval.wrapping_sub(last) as i32) > 0;
        let verdict = if newer { "greater" } else { "not greater" };
        return (
            newer,
            format!("RFC 6191: TSval {tsval} is {verdict} than the old incarnation's last {last}"),
        );
    }
    match d.next_seq {
        Some(last_seq) => {
            let newer = seg.seq > last_seq;
            let verdict = if newer { "above" } else { "not above" };
            (
                newer,
                format!(
                    "RFC 1122 §4.2.2.13: ISN {} is {verdict} the old incarnation's last sequence number {}",
                    seg.seq, last_seq
                ),
            )
        }
        None => (
            true,
            "nothing known of the old incarnation's sequence numbers".into(),
        ),
    }
}
