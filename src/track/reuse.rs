//! A SYN that reuses a 4-tuple starts a new incarnation; if the old one was still in TIME_WAIT,
//! the reuse is judged as the holder would (RFC 6191, RFC 1122 §4.2.2.13).

use crate::conn::{Connection, EventKind, Reuse, other};
use crate::decode::segment::Segment;
use crate::time::Timestamp;

use super::{FlowKey, Slot, Tracker};

impl Tracker {
    /// A SYN reuses the 4-tuple: retire the old incarnation and judge the reuse if the old one
    /// was still in TIME_WAIT (RFC 6191, RFC 1122 §4.2.2.13).
    pub(super) fn new_incarnation(
        &mut self,
        key: FlowKey,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
    ) {
        let new_id = self.next_id;
        let Some(slot) = self.live.remove(&key) else {
            return;
        };
        let mut old = self.built(key, slot);
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
        // A reuse is written into the new connection at once, so it is built at once.
        self.open(key, seg, ts, frame, reuse.is_none());
        if let Some((previous, holder_addr, held_for_s, acceptable, reason)) = reuse
            && let Some(Slot::Conn(conn)) = self.live.get_mut(&key)
        {
            let holder = conn.side_of(holder_addr);
            conn.reuse = Some(Box::new(Reuse {
                previous,
                holder,
                holder_addr,
                held_for_s,
                acceptable,
                reason,
                outcome: Default::default(),
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
