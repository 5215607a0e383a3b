//! When a connection leaves the table: closed and quiet for the linger time, its client given
//! up on unanswered SYNs, or the end of the capture; and what is settled as it leaves.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::conn::fsm::State;
use crate::conn::{Connection, RoleRule, other};
use crate::decode::segment::Segment;
use crate::time::Timestamp;

use super::budget::Held;
use super::{FlowKey, NO_VLAN, SYN_GIVE_UP_S, SYN_SLACK_S, Slot, Tracker, UNTAGGED, is_closed};

/// When the client of a connection whose SYNs were never answered gives up: only one side has
/// sent, and it is still in SYN_SENT. `None` for any other connection.
fn syn_given_up(slot: &Slot) -> Option<Timestamp> {
    let (first, last) = match slot {
        Slot::First(f) => (f.ts, f.ts),
        // Closed.
        Slot::Frozen(_) => return None,
        Slot::Conn(c) => {
            let sender = (0..2).find(|&s| c.dirs[s].stats.packets > 0)?;
            let quiet = c.dirs[other(sender)].stats.packets == 0;
            if !quiet || c.ends[sender].state != State::SynSent {
                return None;
            }
            (c.dirs[sender].first_syn?.0, c.last_ts)
        }
    };
    let next_resend = 2.0 * last.secs_since(first) + 1.0;
    Some(first.plus_secs(SYN_GIVE_UP_S.max(next_resend) + SYN_SLACK_S))
}

impl Tracker {
    /// Retire every closed connection that has been quiet for the linger time by `now`.
    pub(super) fn retire_until(&mut self, now: Timestamp) {
        while let Some(&Reverse((at, id, key))) = self.closed.heap.peek() {
            if at > now {
                break;
            }
            self.closed.heap.pop();
            // Gone already, or opened again since it closed (a refused SYN answered on its
            // retry): `feed` queues it again when it next closes.
            let last_ts = match self.live.get(&key) {
                Some(Slot::Conn(c)) if c.id == id && is_closed(c) => c.last_ts,
                // Frozen only when closed, and until a segment thaws it.
                Some(Slot::Frozen(f)) if f.id == id => f.last_ts,
                _ => continue,
            };
            let due = last_ts.plus_secs(self.closed.linger_s);
            if due > now {
                self.closed.heap.push(Reverse((due, id, key)));
                continue;
            }
            if let Some(slot) = self.live.remove(&key) {
                let c = self.built(key, slot);
                self.retire(c, now);
            }
        }
    }

    /// Retire every connection whose client has given up on its unanswered SYNs by `now`
    /// ([`SYN_GIVE_UP_S`]), in order of id. A later SYN of the same 4-tuple opens a new one.
    pub(super) fn retire_unanswered(&mut self, now: Timestamp) {
        let mut due: Vec<(u32, FlowKey)> = self
            .live
            .iter()
            .filter(|(_, slot)| syn_given_up(slot).is_some_and(|at| at <= now))
            .map(|(&key, slot)| (slot.id(), key))
            .collect();
        due.sort_unstable_by_key(|&(id, _)| id);
        for (_, key) in due {
            if let Some(slot) = self.live.remove(&key) {
                let c = self.built(key, slot);
                self.retire(c, now);
            }
        }
    }

    /// Settle a connection that will see no more segments and queue it for the caller.
    pub(super) fn retire(&mut self, c: Box<Connection>, end: Timestamp) {
        let c = self.settle(c, end);
        self.finished.push(c);
    }

    /// Settle a connection that will see no more segments (it leaves the table).
    pub(super) fn settle(&mut self, mut c: Box<Connection>, end: Timestamp) -> Box<Connection> {
        if c.sketch.is_some() {
            self.sketched_open -= 1;
        }
        self.settle_role(&mut c);
        let key = FlowKey::new(c.addrs[0], c.addrs[1], c.vlan);
        if self.newest_vlan(key.pair) == Some(key.vlan) {
            if key.vlan != UNTAGGED && self.live.contains_key(&key.with_vlan(UNTAGGED)) {
                // An older untagged incarnation is still live, but it is not the newest.
                self.newest_vlan.insert(key.pair, NO_VLAN);
            } else {
                self.newest_vlan.remove(&key.pair);
            }
        }
        if let Some(reply) = c.vlan_reply {
            self.vlan_alias.remove(&key.with_vlan(reply));
        }
        for s in 0..2 {
            let st = &c.dirs[s].stats;
            if st.tail_loss_probes + st.new_data_probes > 0
                && self.no_probe_senders.contains_key(&c.addrs[s].ip())
            {
                c.probes_were_timeouts(s);
            }
        }
        c.finish(end, self.time_wait_s);
        c
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
    pub fn finish_boxed(self, capture_end: Timestamp) -> Vec<Box<Connection>> {
        let mut out = Vec::new();
        self.finish_each(capture_end, |c, _| out.push(c));
        out
    }

    /// [`Tracker::finish`], handing each connection to `f` in order of id as it is settled,
    /// with the connections still held after it, so that connections held only as their first
    /// SYN are built one at a time and the caller can keep within a memory bound.
    pub fn finish_each(mut self, capture_end: Timestamp, mut f: impl FnMut(Box<Connection>, Held)) {
        let mut done = std::mem::take(&mut self.finished);
        done.sort_by_key(|c| c.id);
        // Nothing is retired by time any more.
        self.closed.heap = BinaryHeap::new();
        let mut held = self.held();
        let mut done = done.into_iter().peekable();
        for (key, slot) in self.live.take_in_order_of_id() {
            let id = slot.id();
            while let Some(c) = done.next_if(|c| c.id < id) {
                f(c, held);
            }
            held = held.minus(slot.held());
            let c = self.built(key, slot);
            f(self.settle(c, capture_end), held);
        }
        done.for_each(|c| f(c, held));
    }
}

/// Closed connections by the time they may be retired: last segment + linger. Checked lazily:
/// a connection that saw more segments since is pushed again with its new time.
pub(super) struct ClosedQueue {
    pub(super) heap: BinaryHeap<Reverse<(Timestamp, u32, FlowKey)>>,
    pub(super) linger_s: f64,
}

impl ClosedQueue {
    /// Process one segment of `conn` (`predict`: see [`Connection::on_segment`]), and queue the
    /// connection if the segment closed it (then true).
    #[inline(always)]
    pub(super) fn feed(
        &mut self,
        conn: &mut Connection,
        key: FlowKey,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
        predict: bool,
    ) -> bool {
        let was_closed = is_closed(conn);
        conn.on_segment(seg, ts, frame, predict);
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
