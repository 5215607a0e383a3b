//! Header prediction, as Van Jacobson proposed it and Linux's `tcp_rcv_established` does it:
//! nearly every segment of an established connection is the next in-order data or a plain ACK,
//! and for those the full path of [`Connection::on_segment`] (classification, counters, both
//! endpoints' state machines, TIME_WAIT arrivals) changes only the sender's two counters and its
//! directions' bookkeeping ([`direction::after_segment`]).
//!
//! [`Connection::predicted`] takes a segment only when checks that rule out every other branch
//! of the full path hold, and leaves anything else, or any doubt, to the full path. The result
//! is the same either way: the property test beside this file feeds random exchanges to a
//! connection with prediction and one without and compares every field after every segment;
//! `--no-prediction` sends every segment down the full path, and `tests/prediction.rs`
//! compares the output of the two on every fixture and shared capture.

use crate::analysis::{SegClass, classify, direction};
use crate::conn::fsm::State;
use crate::decode::segment::{Segment, TcpFlags};
use crate::time::Timestamp;

use super::{Connection, Side, other, pair_mut};

/// The flags whose combination decides the path: only ACK may be set.
const CONTROL: u8 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;

impl Connection {
    /// Process `seg` from side `s` if it is predicted, and return the RTT sample its ACK gave
    /// (as [`direction::after_segment`] does); `None`, having changed nothing, when the full
    /// path must take it.
    pub(super) fn predicted(
        &mut self,
        s: Side,
        seg: &Segment,
        ts: Timestamp,
    ) -> Option<Option<f64>> {
        // An ACK with no SYN, FIN or RST, an open window and no SACK blocks: no zero window, no
        // D-SACK, and the history, RST and FIN steps have nothing to do.
        if seg.flags.0 & CONTROL != TcpFlags::ACK || seg.window == 0 || seg.options.sack_count != 0
        {
            return None;
        }
        // Both endpoints ESTABLISHED, no FIN waiting for its proof, no RST seen: no ACK moves
        // ESTABLISHED, no segment reaches TIME_WAIT, none comes after a reset. And the sender's
        // ACK does not complete a handshake (`proofs_by_ack`).
        let r = other(s);
        let completes_handshake =
            s == self.client && self.handshake.ack.is_none() && self.dirs[r].syn_was_synack;
        if self.reset_seen
            || self.pending_fin != [false; 2]
            || self.ends[0].state != State::Established
            || self.ends[1].state != State::Established
            || completes_handshake
        {
            return None;
        }
        let near_sender = self.near_sender(s);
        let (d, p) = pair_mut(&mut self.dirs, s);
        if classify::acked_unseen(d, p, seg).is_some() {
            return None;
        }
        if seg.payload_len == 0 {
            // A plain ACK at SND.NXT (a keep-alive or a zero-window probe sits at SND.NXT-1)
            // that is not a duplicate ACK, a window update or the answer to a probe.
            if d.next_seq.is_some_and(|n| n != seg.seq)
                || classify::ack_class(d, p, seg) != SegClass::Normal
            {
                return None;
            }
        } else if seg.payload_len < 2
            || d.next_seq != Some(seg.seq)
            || d.probe_byte == Some(seg.seq)
            || d.fin_seq.is_some()
            || classify::new_data_follows_probe(d, p)
            || classify::new_data_probe(d, p, ts, near_sender).is_some()
            || classify::fills_window(p, seg).is_some()
        {
            // Not new data at SND.NXT of two bytes or more (one byte may be a zero-window
            // probe); or a probe of new data, more data behind one, or data that fills the
            // peer's window exactly. A zero-window probe's byte resent (SND.NXT comes round to
            // it only after 4 GiB) and data after a FIN (the sender left ESTABLISHED when it sent
            // it, save after an unexpected FIN) are ruled out as well, for one compare each; so
            // is a FIN awaiting proof above.
            return None;
        }
        d.stats.packets += 1;
        d.stats.payload_bytes += u64::from(seg.payload_len);
        Some(direction::after_segment(
            d,
            p,
            seg,
            ts,
            SegClass::Normal,
            true,
        ))
    }
}

#[cfg(test)]
mod tests;
