//! Which segment proves which state-machine [`Event`] (SPEC.md §2), for both endpoints of a
//! connection. What an event does to a state is [`fsm::step`]'s alone; this file decides when the
//! capture has shown the event: a FIN reaching ESTABLISHED is only proved by its ACK, a SYN-ACK
//! reaching SYN_SENT by the client's ACK, a RST only when it is acceptable to its receiver.

use crate::conn::Connection;
use crate::conn::fsm::{self, Event, State, Step};
use crate::conn::handshake::{HandshakeAck, Seen};
use crate::decode::segment::Segment;
use crate::events::{EventKind, Side, other};
use crate::time::Timestamp;

impl Connection {
    /// Feed `event` to `side`'s machine; an event no row fits is recorded as unexpected.
    pub(crate) fn go(
        &mut self,
        side: Side,
        event: Event,
        ts: Timestamp,
        frame: Option<u64>,
        inferred: bool,
    ) {
        let state = self.ends[side].state;
        let then = match fsm::step(state, event) {
            Step::Stay => None,
            Step::Go(to) => Some(to),
            Step::Unexpected { then } => {
                self.events
                    .push(frame, ts, Some(side), EventKind::Unexpected, || {
                        unexpected(state, event)
                    });
                then
            }
        };
        // The transition is kept with its endpoint and takes its place in the story.
        if let Some(to) = then
            && self.ends[side].state != to
        {
            let order = self.events.take_order();
            self.ends[side].set_state(to, ts, frame, inferred, order);
        }
    }

    /// The FIN `side` received is proved to have arrived (or, `inferred`, taken as arrived at
    /// the end): it is fed to the state machine now.
    pub(crate) fn fin_proved(
        &mut self,
        side: Side,
        ts: Timestamp,
        at: Option<u64>,
        inferred: bool,
    ) {
        self.pending_fin[side] = false;
        let fin = Event::RecvFin {
            acks_own_fin: false,
        };
        self.go(side, fin, ts, at, inferred);
    }

    /// Segments that reach an endpoint in TIME_WAIT (SPEC.md §6).
    pub(crate) fn time_wait_arrivals(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
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
                self.events
                    .push(Some(frame), ts, Some(s), EventKind::TimeWaitSegment, || {
                        "acknowledges again from TIME_WAIT (its last ACK was lost)".into()
                    });
            }
            return;
        }
        let detail = if seg.flags.rst() {
            "RST reaches the peer in TIME_WAIT (TIME_WAIT assassination, RFC 1337)".to_string()
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
        self.events
            .push(Some(frame), ts, Some(s), EventKind::TimeWaitSegment, || {
                detail
            });
    }

    /// RFC 9293 §3.3.2 as a capture sees it (SPEC.md §2).
    pub(crate) fn state_machine(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
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
                self.events
                    .push(at, ts, Some(s), EventKind::DataBeforeHandshake, || {
                        format!("sends data in {st} before the handshake completed")
                    });
            }
            if let Some(fs) = self.dirs[s].fin_seq
                && seg.seq + seg.payload_len > fs
                && !(f.fin() && seg.seq + seg.payload_len == fs)
            {
                self.events
                    .push(at, ts, Some(s), EventKind::DataAfterFin, || {
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
            self.fin_proved(r, ts, at, false);
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
            self.events.push(
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
            // Linux's tcp_timewait_state_process: only a RST at exactly RCV.NXT is in window.
            State::TimeWait => self.dirs[r]
                .highest_ack
                .is_none_or(|rcv_nxt| seg.seq == rcv_nxt),
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
            self.events
                .push(Some(frame), ts, Some(s), EventKind::Unexpected, || {
                    "RST outside the receive window (ignored by the receiver)".into()
                });
            return;
        }
        if receiver_state == State::TimeWait && self.rfc1337 {
            self.events
                .push(Some(frame), ts, Some(s), EventKind::TimeWaitSegment, || {
                    "in-window RST ignored in TIME_WAIT (RFC 1337, --rfc1337; Linux's tcp_rfc1337=1)"
                        .into()
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
        } else if receiver_state == State::TimeWait {
            format!(
                "resets the connection in {sender_state}: the in-window RST ends the peer's TIME_WAIT (Linux's default, tcp_rfc1337=0)"
            )
        } else {
            format!("resets the connection in {sender_state} (peer in {receiver_state})")
        };
        self.events
            .push(Some(frame), ts, Some(s), EventKind::Reset, || detail);
        self.reset_seen = true;
        self.pending_fin = [false; 2];
        self.go(s, Event::SendRst, ts, Some(frame), false);
        self.go(r, Event::RecvRst, ts, Some(frame), false);
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
            self.go(s, Event::AckSynAck, ts, at, false);
        }
        // The client's first ACK completes the handshake; check it acknowledges the server's ISN+1.
        if s == self.client
            && self.handshake.ack.is_none()
            && !seg.flags.syn()
            && self.dirs[r].syn_was_synack
            && let Some(server_isn) = self.dirs[r].isn
        {
            let ok = seg.ack == server_isn + 1;
            self.handshake.ack = Some(HandshakeAck {
                at: Seen { ts, frame },
                acks_isn_plus_1: ok,
            });
            if !ok && seg.ack < server_isn + 1 {
                self.events
                    .push(at, ts, Some(s), EventKind::BadHandshakeAck, || {
                        format!(
                            "handshake ACK acknowledges {} instead of the server's ISN+1",
                            seg.ack.relative_to(server_isn)
                        )
                    });
            }
            self.handshake.infer_capture_point();
        }
        // A FIN received while ESTABLISHED (or later), proved by acknowledging it.
        if self.pending_fin[s]
            && let Some(fs) = self.dirs[r].fin_seq
            && seg.ack > fs
        {
            self.fin_proved(s, ts, at, false);
        }
    }

    fn on_syn(&mut self, s: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let r = other(s);
        let at = Some(frame);
        let synack = seg.flags.ack();
        let d = &mut self.dirs[s];
        d.syn_count += 1;
        if d.isn.is_none() {
            d.isn = Some(seg.seq);
            d.syn_options = Some(seg.options);
            d.syn_was_synack = synack;
            d.first_syn = Some((ts, frame));
        } else if d.isn != Some(seg.seq) {
            d.isn = Some(seg.seq);
            d.next_seq = None;
            self.events
                .push(at, ts, Some(s), EventKind::NewAttempt, || {
                    "sends a SYN with a different ISN: a new attempt".into()
                });
        }
        if seg.payload_len > 0 {
            self.events.push(at, ts, Some(s), EventKind::DataOnSyn, || {
                format!(
                    "SYN carries {} bytes of data (TCP Fast Open or crafted)",
                    seg.payload_len
                )
            });
        }
        if !synack {
            self.dirs[s].last_syn_ts = Some(ts);
            self.go(s, Event::SendSyn, ts, at, false);
            // Receiver: a bare SYN reaching SYN_SENT is a simultaneous open.
            if self.dirs[r].isn.is_some() {
                self.go(r, Event::RecvSyn, ts, at, false);
            }
            return;
        }
        // SYN-ACK.
        self.dirs[s].synack_sent = true;
        if self.handshake.first_synack.is_none() {
            self.handshake.first_synack = Some(Seen { ts, frame });
            self.handshake.answered_syn_ts = self.dirs[r].last_syn_ts;
            if let Some(client_isn) = self.dirs[r].isn {
                let ok = seg.ack == client_isn + 1;
                self.handshake.synack_ack_ok = Some(ok);
                if !ok {
                    self.events
                        .push(at, ts, Some(s), EventKind::BadHandshakeAck, || {
                            format!(
                                "SYN-ACK acknowledges {} instead of the client's ISN+1",
                                seg.ack.relative_to(client_isn)
                            )
                        });
                }
            }
            self.apply_window_scaling();
        }
        let before = self.ends[s].state;
        self.go(s, Event::SendSynAck, ts, at, false);
        // Simultaneous open: the peer's SYN-ACK, captured earlier, already acked our SYN.
        let ours = self.dirs[s].isn;
        if before != self.ends[s].state
            && ours
                .zip(self.dirs[r].highest_ack)
                .is_some_and(|(isn, a)| a > isn)
        {
            let ack = Event::RecvAck {
                of_syn: true,
                of_fin: false,
            };
            self.go(s, ack, ts, at, false);
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
                self.events
                    .push(at, ts, Some(s), EventKind::Unexpected, || {
                        "sends a second FIN at a different sequence number".into()
                    });
                return;
            }
            None => {
                self.dirs[s].fin_seq = Some(fin_seq);
                self.dirs[s].fin_at = Some((ts, frame));
            }
        }
        self.go(s, Event::SendFin, ts, at, false);
    }

    fn on_ack_received(&mut self, r: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        if !fsm::moves_on_ack(self.ends[r].state) {
            return;
        }
        // A FIN+ACK that acks our FIN passes through FIN_WAIT_2 on the same segment: RFC 9293
        // §3.10.7.4 processes the ACK ("enter FIN-WAIT-2 and continue") before the FIN, and so
        // does Linux (tcp_rcv_state_process, then tcp_fin). SPEC.md's table folds the two.
        let ack = Event::RecvAck {
            of_syn: self.dirs[r].isn.is_some_and(|isn| seg.ack > isn),
            of_fin: self.dirs[r].fin_seq.is_some_and(|fs| seg.ack > fs),
        };
        self.go(r, ack, ts, Some(frame), false);
    }

    fn on_fin_received(&mut self, r: Side, seg: &Segment, ts: Timestamp, frame: u64) {
        let s = other(r);
        if self.dirs[s].fin_seq != Some(seg.seq + seg.payload_len + u32::from(seg.flags.syn())) {
            return;
        }
        match self.ends[r].state {
            // SPEC.md §2: ESTABLISHED → CLOSE_WAIT is proved by the receiver's ACK of the FIN.
            State::Established | State::SynReceived | State::SynSent => self.pending_fin[r] = true,
            // After a RST both ends are CLOSED; the FIN is recorded as a segment after the reset.
            State::Closed if self.reset_seen => {}
            _ => {
                let acks_own_fin =
                    seg.flags.ack() && self.dirs[r].fin_seq.is_some_and(|fs| seg.ack > fs);
                self.go(r, Event::RecvFin { acks_own_fin }, ts, Some(frame), false);
            }
        }
    }
}

/// What an event that fits no row of the table looks like to a reader.
fn unexpected(state: State, event: Event) -> String {
    match (state, event) {
        (State::SynSent, Event::SendFin) => "sends FIN in SYN_SENT, before any SYN-ACK".into(),
        (st, Event::SendFin) => format!("sends FIN in {st}"),
        (st, Event::RecvFin { .. }) => format!("a FIN reaches it in {st}"),
        (st, e) => format!("{e:?} in {st}"),
    }
}
