//! Connection tracking: maps each segment to the current incarnation of its 4-tuple, starts a new
//! incarnation when a SYN reuses the 4-tuple (SPEC.md §1), and settles roles at the end.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::connection::{Connection, EventKind, Reuse, RoleRule, other};
use crate::segment::Segment;
use crate::time::Timestamp;

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

type FlowKey = (SocketAddr, SocketAddr);

fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    if a <= b { (a, b) } else { (b, a) }
}

pub struct Tracker {
    connections: Vec<Connection>,
    current: HashMap<FlowKey, usize>,
    timeline: TimelineSelect,
    time_wait_s: f64,
}

impl Tracker {
    pub fn new(timeline: TimelineSelect, time_wait_s: f64) -> Tracker {
        Tracker {
            connections: Vec::new(),
            current: HashMap::new(),
            timeline,
            time_wait_s,
        }
    }

    pub fn on_segment(&mut self, seg: &Segment, ts: Timestamp, frame: u64) {
        let key = flow_key(seg.src, seg.dst);
        let idx = match self.current.get(&key) {
            Some(&i) if !self.connections[i].is_new_incarnation(seg) => i,
            Some(&i) => self.new_incarnation(i, key, seg, ts, frame),
            None => self.open(key, seg, ts, frame),
        };
        self.connections[idx].on_segment(seg, ts, frame);
    }

    fn open(&mut self, key: FlowKey, seg: &Segment, ts: Timestamp, frame: u64) -> usize {
        let id = self.connections.len() as u32 + 1;
        let mut conn = Connection::new(id, seg, ts, frame, self.timeline.wants(id));
        if conn.role_rule == RoleRule::FirstSender {
            // Mid-stream: a port below 1024 marks the server at once; the port-popularity rule
            // needs the whole capture and is applied in `finish`.
            let (a, b) = (conn.addrs[0].port(), conn.addrs[1].port());
            if a < b && a < 1024 {
                conn.client = 1;
                conn.role_rule = RoleRule::WellKnownPort;
            } else if b < a && b < 1024 {
                conn.role_rule = RoleRule::WellKnownPort;
            }
        }
        self.connections.push(conn);
        let idx = self.connections.len() - 1;
        self.current.insert(key, idx);
        idx
    }

    /// A SYN reuses the 4-tuple: close the old incarnation and judge the reuse if the old one
    /// was still in TIME_WAIT (RFC 6191, RFC 1122 §4.2.2.13).
    fn new_incarnation(
        &mut self,
        old_idx: usize,
        key: FlowKey,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) -> usize {
        let new_id = self.connections.len() as u32 + 1;
        let reuse = {
            let old = &mut self.connections[old_idx];
            let holder = old.time_wait_holders().next().filter(|&h| {
                let entered = old.ends[h].time_wait_entered.unwrap_or(ts);
                ts < entered.plus_secs(self.time_wait_s)
            });
            let judged = holder.map(|h| {
                let entered = old.ends[h].time_wait_entered.unwrap_or(ts);
                let sender_old = old.side_of(seg.src);
                let (acceptable, reason) = judge_reuse(old, sender_old, h, seg);
                (h, old.addrs[h], ts.secs_since(entered), acceptable, reason)
            });
            if judged.is_some() {
                old.reused_by = Some((new_id, ts, frame));
                old.event(
                    Some(frame),
                    ts,
                    None,
                    EventKind::Reuse,
                    format!("4-tuple reused by connection {new_id} during TIME_WAIT"),
                );
            }
            old.finish(ts, self.time_wait_s);
            judged
                .map(|(_, addr, held, acceptable, reason)| (old.id, addr, held, acceptable, reason))
        };
        let idx = self.open(key, seg, ts, frame);
        if let Some((previous, holder_addr, held_for_s, acceptable, reason)) = reuse {
            let conn = &mut self.connections[idx];
            let holder = conn.side_of(holder_addr);
            conn.reuse = Some(Reuse {
                previous,
                holder,
                holder_addr,
                held_for_s,
                acceptable,
                reason,
                outcome: "",
            });
            conn.event(
                Some(frame),
                ts,
                Some(other(holder)),
                EventKind::Reuse,
                format!("SYN reuses the 4-tuple of connection {previous}, still in TIME_WAIT at {holder_addr} for {held_for_s:.1} s"),
            );
        }
        idx
    }

    /// End of capture: settle every connection and the roles that need capture-wide counts.
    pub fn finish(mut self, capture_end: Timestamp) -> Vec<Connection> {
        let mut port_uses: HashMap<u16, u32> = HashMap::new();
        for c in &self.connections {
            for a in c.addrs {
                *port_uses.entry(a.port()).or_default() += 1;
            }
        }
        for c in &mut self.connections {
            if c.role_rule == RoleRule::FirstSender {
                let (a, b) = (c.addrs[0].port(), c.addrs[1].port());
                let (ua, ub) = (port_uses[&a], port_uses[&b]);
                // SPEC.md §1: the lower port is the server if it is the more common one.
                if a < b && ua > ub {
                    c.client = 1;
                    c.role_rule = RoleRule::CommonPort;
                } else if b < a && ub > ua {
                    c.role_rule = RoleRule::CommonPort;
                }
            }
            c.finish(capture_end, self.time_wait_s);
        }
        self.connections
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
