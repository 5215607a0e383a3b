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

use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::fastmap::{self, FastMap};
use std::net::IpAddr;

use crate::conn::frozen::Frozen;
use crate::conn::fsm::State;
use crate::conn::sketch::{DrawRank, Sketch, draw_rank};
use crate::conn::{Connection, RoleRule, other};
use crate::decode::segment::Segment;
use crate::time::Timestamp;

pub mod budget;
mod key;
mod retire;
mod reuse;
mod slot;
mod table;

pub use key::{Endpoint, FlowKey, Pair};

pub use slot::{FirstSyn, Slot};

use budget::{Candidate, Held, eviction_rank};
use retire::ClosedQueue;
use table::FlowTable;

/// The shortest quiet time after which a closed connection is retired: Linux's TIME_WAIT
/// (`TCP_TIMEWAIT_LEN`, 60 s), so a short `--time-wait` does not split a connection whose last
/// retransmissions are still on the way.
pub const MIN_LINGER_S: f64 = 60.0;

/// How long a client keeps resending an unanswered SYN before it gives up: Linux's default
/// `net.ipv4.tcp_syn_retries = 6`, resends 1, 3, 7, 15, 31 and 63 s after the first SYN and a
/// last wait of 64 s, 127 s in all. A connection whose SYNs were never answered is retired
/// then; a client seen resending later runs a longer schedule of the same doubling, and is
/// given until its next resend would be due (twice the time from its first SYN to its last,
/// plus one second), plus [`SYN_SLACK_S`].
pub const SYN_GIVE_UP_S: f64 = 127.0;
/// Allowance for a resend that leaves a little late.
const SYN_SLACK_S: f64 = 1.0;
/// How often (in capture time) the table is searched for unanswered SYNs to retire.
const SWEEP_S: f64 = 8.0;

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
    /// Send every segment down the full path, none by header prediction (`--no-prediction`,
    /// `crate::conn::predict`): the output is the same; this is for showing that it is.
    pub full_path: bool,
}

/// Both endpoints, lower first, and the VLAN IDs (outer, inner; 0 when untagged): the same
/// 4-tuple on two VLANs is two connections, as in Suricata's default `vlan.use-for-tracking`.
const UNTAGGED: [u16; 2] = [0, 0];
/// Marks a 4-tuple whose newest connection has been retired (VLAN IDs are 12 bits).
const NO_VLAN: [u16; 2] = [u16::MAX, u16::MAX];

/// Does either endpoint still hold the connection open?
fn is_closed(c: &Connection) -> bool {
    c.ends
        .iter()
        .all(|e| matches!(e.state, State::Closed | State::Listen | State::TimeWait))
}

pub struct Tracker {
    /// The current incarnation of every 4-tuple not yet retired: a connection, boxed (it is a
    /// few KiB, and the table moves its entries when it grows), or only its first SYN.
    live: FlowTable,
    /// Hold a connection that has seen only its first SYN as that SYN ([`Slot::First`]);
    /// off when every segment's connection must be at hand ([`Tracker::connection_of`]).
    compact: bool,
    /// How many entries of `live` are [`Slot::First`].
    first_syns: u64,
    /// The entries of `live` that are [`Slot::Frozen`], and what they are reckoned to cost.
    frozen: Held,
    /// The buffer connections are frozen through.
    scratch: Vec<u8>,
    /// When the table is next searched for unanswered SYNs to retire.
    next_sweep: Option<Timestamp>,
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
    /// The VLAN IDs of the newest connection of each 4-tuple where it is tagged (no entry:
    /// untagged; `NO_VLAN`: retired), and the other direction's IDs of connections tagged
    /// differently each way (see `vlan_partner`).
    newest_vlan: FastMap<Pair, [u16; 2]>,
    vlan_alias: FastMap<FlowKey, [u16; 2]>,
}

/// Remember the hosts of `conn` that showed they send no tail loss probes. Called for every
/// segment, so the common answer (neither does) is two loads in the caller, and the rest is
/// out of line.
#[inline(always)]
fn note_no_probes(hosts: &mut FastMap<IpAddr, ()>, conn: &Connection) {
    if conn.dirs[0].sends_no_probes || conn.dirs[1].sends_no_probes {
        note_hosts_without_probes(hosts, conn);
    }
}

#[cold]
#[inline(never)]
fn note_hosts_without_probes(hosts: &mut FastMap<IpAddr, ()>, conn: &Connection) {
    for s in 0..2 {
        if conn.dirs[s].sends_no_probes {
            hosts.insert(conn.addrs[s].ip(), ());
        }
    }
}

impl Tracker {
    pub fn new(timeline: TimelineSelect, time_wait_s: f64) -> Tracker {
        Tracker {
            live: FlowTable::default(),
            compact: true,
            first_syns: 0,
            frozen: Held::default(),
            scratch: Vec::new(),
            next_sweep: None,
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

    /// Build every connection as its first segment arrives, so that
    /// [`Tracker::connection_of`] always has it (for a caller that watches every frame).
    pub fn without_compact_syns(mut self) -> Tracker {
        self.compact = false;
        self
    }

    pub fn on_segment(&mut self, seg: &Segment, ts: Timestamp, frame: u64) {
        // The clock that retires connections is the earlier of this segment's time and the
        // previous one's, so one frame stamped far in the future does not retire everything.
        let clock = self.last_ts.map_or(ts, |last| last.min(ts));
        self.last_ts = Some(ts);
        self.retire_until(clock);
        let sweep = *self
            .next_sweep
            .get_or_insert_with(|| clock.plus_secs(SWEEP_S));
        if clock >= sweep {
            self.retire_unanswered(clock);
            self.next_sweep = Some(clock.plus_secs(SWEEP_S));
        }
        let vlan = if self.options.ignore_vlan {
            [0, 0]
        } else {
            seg.vlan
        };
        let mut key = FlowKey::new(seg.src, seg.dst, vlan);
        // One lookup for the common case: a segment of the current incarnation.
        let new_incarnation = loop {
            match self.live.get_mut(&key) {
                Some(Slot::Conn(conn)) if !conn.is_new_incarnation(seg) => {
                    let closed =
                        self.closed
                            .feed(conn, key, seg, ts, frame, !self.options.full_path);
                    note_no_probes(&mut self.no_probe_senders, conn);
                    if closed {
                        self.on_closed(key);
                    }
                    return;
                }
                Some(Slot::Conn(_)) => break true,
                // Only its SYN so far, or frozen: build or thaw the connection, then look again.
                Some(Slot::First(_) | Slot::Frozen(_)) => {
                    self.conn_mut(key);
                }
                None => match self.vlan_partner(key, seg) {
                    Some(partner) => key = partner,
                    None => break false,
                },
            }
        };
        if new_incarnation {
            self.new_incarnation(key, seg, ts, frame);
        } else {
            self.open(key, seg, ts, frame, true);
        }
        if let Some(Slot::Conn(conn)) = self.live.get_mut(&key) {
            let closed = self
                .closed
                .feed(conn, key, seg, ts, frame, !self.options.full_path);
            note_no_probes(&mut self.no_probe_senders, conn);
            if closed {
                self.on_closed(key);
            }
        }
    }

    /// The connection of `key` just closed: it may keep its sketch ([`Tracker::rank_closed`]);
    /// without one it is frozen for its linger (`crate::conn::frozen`), unless every
    /// segment's connection must be at hand ([`Tracker::without_compact_syns`]). A late
    /// segment thaws it, and it stays thawed until it is retired.
    fn on_closed(&mut self, key: FlowKey) {
        self.rank_closed(key);
        if !self.compact {
            return;
        }
        if let Some(slot) = self.live.get_mut(&key)
            && let Slot::Conn(c) = slot
            && let Some(frozen) = Frozen::of(c, &mut self.scratch)
        {
            self.frozen = self.frozen.plus(Held::frozen(frozen.len()));
            *slot = Slot::Frozen(frozen);
        }
    }

    /// The connection of `key` just closed: under [`SketchSelect::MostAnomalous`] it keeps its
    /// sketch only if it ranks among the first `n` drawable ones closed (with a sketch or
    /// without), and pushes the one after them out.
    fn rank_closed(&mut self, key: FlowKey) {
        let SketchSelect::MostAnomalous(n) = self.sketches else {
            return;
        };
        let Some(Slot::Conn(c)) = self.live.get_mut(&key) else {
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
            && let Some(Slot::Conn(out)) = self.live.get_mut(&out_key)
            && out.id == out_rank.1
            && out.sketch.take().is_some()
        {
            self.sketched_open -= 1;
        }
    }

    /// The connection of `key`, built from its first SYN if that is all the table holds, or
    /// thawed.
    fn conn_mut(&mut self, key: FlowKey) -> Option<&mut Connection> {
        if let Some(Slot::First(_) | Slot::Frozen(_)) = self.live.get(&key)
            && let Some(slot) = self.live.remove(&key)
        {
            let conn = self.built(key, slot);
            self.live.insert(key, Slot::Conn(conn));
        }
        match self.live.get_mut(&key)? {
            Slot::Conn(c) => Some(c),
            Slot::First(_) | Slot::Frozen(_) => None,
        }
    }

    /// The connection of a slot taken out of the table: a first SYN becomes the connection
    /// [`Tracker::open`] would have built and fed at once; a frozen one is thawed.
    fn built(&mut self, key: FlowKey, slot: Slot) -> Box<Connection> {
        match slot {
            Slot::Conn(c) => c,
            Slot::Frozen(f) => {
                self.frozen = self.frozen.minus(Held::frozen(f.len()));
                f.thaw()
            }
            Slot::First(f) => {
                self.first_syns -= 1;
                let (lo, hi) = key.pair.addrs();
                let seg = f.segment(lo, hi, key.vlan);
                let mut conn = Box::new(self.new_connection(f.id, key, &seg, f.ts, f.frame));
                let predict = !self.options.full_path;
                self.closed
                    .feed(&mut conn, key, &seg, f.ts, f.frame, predict);
                note_no_probes(&mut self.no_probe_senders, &conn);
                conn
            }
        }
    }

    /// The connection a segment just given to [`Tracker::on_segment`] went to.
    pub fn connection_of(&self, seg: &Segment) -> Option<&Connection> {
        let vlan = if self.options.ignore_vlan {
            [0, 0]
        } else {
            seg.vlan
        };
        let key = FlowKey::new(seg.src, seg.dst, vlan);
        if let Some(c) = self.live.get(&key) {
            return c.as_conn();
        }
        let &w = self.vlan_alias.get(&key)?;
        self.live.get(&key.with_vlan(w))?.as_conn()
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
            let alt = key.with_vlan(w);
            if self.live.contains_key(&alt) {
                return Some(alt);
            }
            self.vlan_alias.remove(&key);
        }
        let w = self.newest_vlan(key.pair)?;
        let alt = key.with_vlan(w);
        if w == key.vlan {
            return None;
        }
        let conn = self.conn_mut(alt)?;
        let s = conn.side_of(seg.src);
        if conn.dirs[s].stats.packets > 0
            || conn.dirs[other(s)].stats.packets == 0
            || conn.vlan_reply.is_some()
        {
            return None;
        }
        conn.vlan_reply = Some(key.vlan);
        self.vlan_alias.insert(key, w);
        Some(alt)
    }

    /// The connections tracked now, by kind (for the memory bound, [`budget`]).
    pub fn held(&self) -> Held {
        Held {
            first_syns: self.first_syns,
            connections: self.live.len() as u64 - self.first_syns - self.frozen.frozen,
            ..self.frozen
        }
    }

    /// Every tracked connection as a candidate for eviction.
    pub fn eviction_candidates(&self, out: &mut Vec<Candidate<Option<FlowKey>>>) {
        out.extend(self.live.iter().map(|(&key, slot)| Candidate {
            // A connection that has seen only its SYN is half-open.
            rank: slot.as_conn().map_or(0, eviction_rank),
            last_seen: slot.last_ts(),
            id: slot.id(),
            at: Some(key),
            frees: slot.held(),
        }));
    }

    /// Stop tracking the connection of `key` to keep within the memory bound. It is settled
    /// as though its TIME_WAIT, if any, ran its course; its next segment opens a new
    /// connection. A closed connection lingering for late segments is, with `hand_over`,
    /// retired early ([`Tracker::drain_finished`] has it, to be reported as usual); any other
    /// is handed back to be counted in the capture-wide reports, not reported itself.
    pub fn evict(&mut self, key: FlowKey, hand_over: bool) -> Option<Box<Connection>> {
        let slot = self.live.remove(&key)?;
        let c = self.built(key, slot);
        if hand_over && is_closed(&c) {
            self.retire(c, Timestamp::MAX);
            return None;
        }
        Some(self.settle(c, Timestamp::MAX))
    }

    /// The VLAN IDs of the newest live connection of the 4-tuple `a`–`b`, if it may have one.
    fn newest_vlan(&self, pair: Pair) -> Option<[u16; 2]> {
        match self.newest_vlan.get(&pair) {
            Some(&NO_VLAN) => None,
            Some(&w) => Some(w),
            None => Some(UNTAGGED),
        }
    }

    /// Whether [`Tracker::drain_finished`] has anything to give (most segments finish nothing).
    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Connections finished so far, in the order they finished.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Box<Connection>> {
        self.finished.drain(..)
    }

    /// Open the connection `seg` starts, held as its SYN alone where `may_compact` and possible.
    fn open(&mut self, key: FlowKey, seg: &Segment, ts: Timestamp, frame: u64, may_compact: bool) {
        let id = self.next_id;
        self.next_id += 1;
        if !self.options.ignore_vlan {
            if key.vlan == UNTAGGED {
                // Untagged is what a missing entry means: no entry per connection on the
                // common untagged link.
                if !self.newest_vlan.is_empty() {
                    self.newest_vlan.remove(&key.pair);
                }
            } else {
                self.newest_vlan.insert(key.pair, key.vlan);
            }
        }
        for a in [seg.src, seg.dst] {
            *self.port_uses.entry(a.port()).or_default() += 1;
        }
        let compact = may_compact && self.compact && !self.timeline.wants(id);
        if let Some(first) = compact
            .then(|| FirstSyn::of(seg, key.pair.addrs().0, id, ts, frame))
            .flatten()
        {
            self.live.insert(key, Slot::First(first));
            self.first_syns += 1;
            return;
        }
        let conn = self.new_connection(id, key, seg, ts, frame);
        self.live.insert(key, Slot::Conn(Box::new(conn)));
    }

    /// The connection `seg` opens, not yet fed the segment.
    fn new_connection(
        &mut self,
        id: u32,
        key: FlowKey,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) -> Connection {
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
        conn.vlan = key.vlan;
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
        conn
    }
}
