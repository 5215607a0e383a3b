//! The endpoint state machine (RFC 9293 §3.3.2, SPEC.md §2) as one table, [`step`], and the
//! record of each endpoint's transitions.
//!
//! A capture sees segments, not sockets: every transition is stamped with the frame that proves
//! it. Transitions that no frame proves (TIME_WAIT expiring, an endpoint first seen mid-stream)
//! carry no frame and are marked inferred. Which segment proves which [`Event`] is decided in
//! [`crate::conn::transitions`]; what an event does to a state is decided here alone.

use std::fmt;

use crate::time::Timestamp;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    Closing,
    TimeWait,
    CloseWait,
    LastAck,
}

impl State {
    /// The eleven states of RFC 9293 §3.3.2.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ];

    /// The name netstat and ss print.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an endpoint does, or is shown to have received, as far as the capture proves it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// It sends a bare SYN (an active open).
    SendSyn,
    /// A bare SYN reaches it (it had sent one itself: a simultaneous open).
    RecvSyn,
    /// It sends a SYN-ACK.
    SendSynAck,
    /// It acknowledges the peer's SYN-ACK: proof that the SYN-ACK acking its ISN+1 arrived.
    AckSynAck,
    /// An ACK reaches it; it may acknowledge its SYN, its FIN, or (one segment) both.
    RecvAck { of_syn: bool, of_fin: bool },
    /// It sends its FIN.
    SendFin,
    /// The peer's FIN reaches it (proved by its ACK, or by a later segment); `acks_own_fin`:
    /// the same segment acknowledges the FIN it sent.
    RecvFin { acks_own_fin: bool },
    /// It sends an acceptable RST.
    SendRst,
    /// An acceptable RST reaches it.
    RecvRst,
    /// The TIME_WAIT duration passed, or a new SYN reused the 4-tuple.
    TimeWaitEnds,
}

impl Event {
    /// Every event, each flag both ways.
    pub const ALL: [Event; 14] = [
        Event::SendSyn,
        Event::RecvSyn,
        Event::SendSynAck,
        Event::AckSynAck,
        Event::RecvAck {
            of_syn: false,
            of_fin: false,
        },
        Event::RecvAck {
            of_syn: true,
            of_fin: false,
        },
        Event::RecvAck {
            of_syn: false,
            of_fin: true,
        },
        Event::RecvAck {
            of_syn: true,
            of_fin: true,
        },
        Event::SendFin,
        Event::RecvFin {
            acks_own_fin: false,
        },
        Event::RecvFin { acks_own_fin: true },
        Event::SendRst,
        Event::RecvRst,
        Event::TimeWaitEnds,
    ];
}

/// What [`step`] decides.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    /// The event changes nothing (as expected in this state).
    Stay,
    /// The endpoint enters this state.
    Go(State),
    /// No row of the table fits: an anomaly to record (SPEC.md §2: "an anomaly, not a crash"),
    /// after which the endpoint goes to `then`, if anywhere.
    Unexpected { then: Option<State> },
}

/// Whether an ACK can move `state` ([`step`] with [`Event::RecvAck`]): only the states waiting
/// for their SYN or FIN to be acknowledged. Every other ACK carries news of data, not of state,
/// so the caller (one call per segment) need not ask the table.
pub fn moves_on_ack(state: State) -> bool {
    matches!(
        state,
        State::SynReceived | State::FinWait1 | State::Closing | State::LastAck
    )
}

/// The state machine: what `event` does to an endpoint in `state`.
pub fn step(state: State, event: Event) -> Step {
    use Event::*;
    use State::*;
    match (state, event) {
        // RFC 9293 §3.10.1 (OPEN): CLOSED sends SYN, enters SYN-SENT. A SYN from the side taken
        // for the listener is a simultaneous open (§3.5).
        (Closed | Listen, SendSyn) => Step::Go(SynSent),
        // A SYN sent again: the classifier counts the retransmission (spurious once the
        // handshake is done); a SYN with a new ISN is a new attempt, recorded where it is seen.
        (_, SendSyn) => Step::Stay,
        // §3.10.7.3, SYN-SENT: "if the SYN bit is on ... and no ACK": enter SYN-RECEIVED.
        (SynSent, RecvSyn) => Step::Go(SynReceived),
        // A resent SYN reaching the peer that already answered it.
        (_, RecvSyn) => Step::Stay,
        // §3.10.7.2, LISTEN: a SYN arrives, the SYN-ACK is sent, enter SYN-RECEIVED (also after
        // a bare SYN of our own: the simultaneous open's SYN-ACK).
        (Listen | Closed | SynSent, SendSynAck) => Step::Go(SynReceived),
        // A SYN-ACK sent again: counted by the classifier as a retransmission.
        (_, SendSynAck) => Step::Stay,
        // §3.10.7.3, SYN-SENT: our SYN acknowledged, enter ESTABLISHED; the capture sees the
        // proof in the ACK this endpoint sends back.
        (SynSent, AckSynAck) => Step::Go(Established),
        // §3.10.7.4, the ACK processing: SYN-RECEIVED enters ESTABLISHED when its SYN is
        // acknowledged; FIN-WAIT-1 enters FIN-WAIT-2, CLOSING enters TIME-WAIT and LAST-ACK
        // enters CLOSED when their FIN is.
        (SynReceived, RecvAck { of_syn: true, .. }) => Step::Go(Established),
        (FinWait1, RecvAck { of_fin: true, .. }) => Step::Go(FinWait2),
        (Closing, RecvAck { of_fin: true, .. }) => Step::Go(TimeWait),
        (LastAck, RecvAck { of_fin: true, .. }) => Step::Go(Closed),
        // Any other ACK carries news of data, not of state.
        (_, RecvAck { .. }) => Step::Stay,
        // §3.10.4 (CLOSE): ESTABLISHED (and SYN-RECEIVED) send FIN and enter FIN-WAIT-1;
        // CLOSE-WAIT sends FIN and enters LAST-ACK.
        (Established | SynReceived, SendFin) => Step::Go(FinWait1),
        (CloseWait, SendFin) => Step::Go(LastAck),
        // A FIN before any SYN-ACK: Linux can only do this for a TCP Fast Open or crafted peer.
        (SynSent, SendFin) => Step::Unexpected {
            then: Some(FinWait1),
        },
        // §3.10.7.4, eighth step (the FIN bit): ESTABLISHED enters CLOSE-WAIT; FIN-WAIT-1 enters
        // TIME-WAIT if our FIN was acknowledged, else CLOSING; FIN-WAIT-2 enters TIME-WAIT.
        (Established | SynReceived | SynSent, RecvFin { .. }) => Step::Go(CloseWait),
        (FinWait1, RecvFin { acks_own_fin: true }) => Step::Go(TimeWait),
        (
            FinWait1,
            RecvFin {
                acks_own_fin: false,
            },
        ) => Step::Go(Closing),
        (FinWait2, RecvFin { .. }) => Step::Go(TimeWait),
        // The peer's FIN again (our ACK of it was lost or late): the classifier counts it.
        (Closing | TimeWait | CloseWait | LastAck, RecvFin { .. }) => Step::Stay,
        // §3.10.7 (RST in any synchronized state): the connection is aborted.
        (Closed, SendRst | RecvRst) => Step::Stay,
        (_, SendRst) => Step::Go(Closed),
        // Any RST that reaches the endpoint ends it, TIME_WAIT included: Linux's default
        // (`net.ipv4.tcp_rfc1337 = 0`, "TIME_WAIT assassination"). With RFC 1337's fix the
        // endpoint drops the RST instead, so no RecvRst is delivered (`--rfc1337`).
        (_, RecvRst) => Step::Go(Closed),
        // §3.10.7.4, TIME-WAIT: the 2·MSL timer expires, or a new SYN is accepted (RFC 6191).
        (TimeWait, TimeWaitEnds) => Step::Go(Closed),
        // No row fits (a FIN sent from FIN_WAIT_2 or CLOSED, a FIN reaching a closed endpoint):
        // SPEC.md §2 calls it an anomaly.
        _ => Step::Unexpected { then: None },
    }
}

#[derive(Clone, Copy, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub ts: Timestamp,
    /// The frame that proves the transition; `None` when only time proves it.
    pub frame: Option<u64>,
    pub inferred: bool,
    /// Its place in the connection's story (`crate::events`).
    pub order: u32,
}

/// One endpoint's state machine as reconstructed from the capture.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub state: State,
    /// The state the endpoint was in when the capture first saw it.
    pub initial: State,
    /// `initial` was guessed (capture began mid-connection), not seen.
    pub initial_inferred: bool,
    pub transitions: Vec<Transition>,
    pub time_wait_entered: Option<Timestamp>,
}

impl Endpoint {
    pub fn new(initial: State, inferred: bool) -> Endpoint {
        Endpoint {
            state: initial,
            initial,
            initial_inferred: inferred,
            transitions: Vec::new(),
            time_wait_entered: None,
        }
    }

    /// Every change of state goes through here (smoltcp's `set_state`).
    pub fn set_state(
        &mut self,
        to: State,
        ts: Timestamp,
        frame: Option<u64>,
        inferred: bool,
        order: u32,
    ) -> Option<Transition> {
        if self.state == to {
            return None;
        }
        let t = Transition {
            from: self.state,
            to,
            ts,
            frame,
            inferred,
            order,
        };
        self.transitions.push(t);
        self.state = to;
        if to == State::TimeWait {
            self.time_wait_entered = Some(ts);
        }
        Some(t)
    }

    pub fn passed_through(&self, state: State) -> bool {
        self.initial == state || self.transitions.iter().any(|t| t.to == state)
    }
}

#[cfg(test)]
mod tests {
    use super::Event::*;
    use super::State::*;
    use super::*;

    const ALL: [State; 11] = State::ALL;

    const ACK_OF_SYN: Event = RecvAck {
        of_syn: true,
        of_fin: false,
    };
    const ACK_OF_FIN: Event = RecvAck {
        of_syn: true,
        of_fin: true,
    };
    const FIN: Event = RecvFin {
        acks_own_fin: false,
    };
    const FIN_ACKING_OURS: Event = RecvFin { acks_own_fin: true };

    #[test]
    fn only_the_states_moves_on_ack_names_move_on_an_ack() {
        for st in ALL {
            for (of_syn, of_fin) in [(false, false), (true, false), (false, true), (true, true)] {
                let step = step(st, RecvAck { of_syn, of_fin });
                if !moves_on_ack(st) {
                    assert_eq!(step, Step::Stay, "{st} on {of_syn} {of_fin}");
                }
            }
            let moves = [(true, false), (true, true)]
                .iter()
                .any(|&(of_syn, of_fin)| step(st, RecvAck { of_syn, of_fin }) != Step::Stay);
            assert_eq!(moves, moves_on_ack(st), "{st}");
        }
    }

    /// Every row of SPEC.md §2, in its order.
    #[test]
    fn test_spec_table_rows() {
        let rows = [
            (Closed, SendSyn, SynSent),
            (Listen, SendSynAck, SynReceived),
            (SynSent, AckSynAck, Established),
            (SynSent, RecvSyn, SynReceived),
            (SynReceived, ACK_OF_SYN, Established),
            (Established, SendFin, FinWait1),
            (Established, FIN, CloseWait),
            (FinWait1, ACK_OF_FIN, FinWait2),
            (FinWait1, FIN, Closing),
            (FinWait1, FIN_ACKING_OURS, TimeWait),
            (FinWait2, FIN, TimeWait),
            (Closing, ACK_OF_FIN, TimeWait),
            (CloseWait, SendFin, LastAck),
            (LastAck, ACK_OF_FIN, Closed),
            (TimeWait, TimeWaitEnds, Closed),
        ];
        for (from, event, to) in rows {
            assert_eq!(step(from, event), Step::Go(to), "{from} on {event:?}");
        }
    }

    // Tests for RST: any state but CLOSED goes to CLOSED, except TIME_WAIT receiving one.
    #[test]
    fn test_any_state_rst() {
        for st in ALL {
            let sent = if st == Closed {
                Step::Stay
            } else {
                Step::Go(Closed)
            };
            assert_eq!(step(st, SendRst), sent, "{st} sends RST");
            let received = if st == Closed {
                Step::Stay
            } else {
                Step::Go(Closed)
            };
            assert_eq!(step(st, RecvRst), received, "{st} receives RST");
        }
    }

    // Tests for ACKs: they change state only where the table says; elsewhere they carry data.
    #[test]
    fn test_any_state_ack_without_news() {
        for st in ALL {
            let plain = RecvAck {
                of_syn: false,
                of_fin: false,
            };
            assert_eq!(step(st, plain), Step::Stay, "{st}");
        }
        assert_eq!(step(Established, ACK_OF_FIN), Step::Stay);
        assert_eq!(step(TimeWait, ACK_OF_FIN), Step::Stay);
    }

    // Tests for the SYN_SENT state.
    #[test]
    fn test_syn_sent_fin_is_unexpected_but_followed() {
        assert_eq!(
            step(SynSent, SendFin),
            Step::Unexpected {
                then: Some(FinWait1)
            }
        );
    }

    #[test]
    fn test_syn_sent_syn_resent() {
        assert_eq!(step(SynSent, SendSyn), Step::Stay);
    }

    // Tests for the closing states: a FIN sent where no row has one is an anomaly.
    #[test]
    fn test_closing_states_second_fin_is_unexpected() {
        for st in [
            FinWait1, FinWait2, Closing, TimeWait, LastAck, Closed, Listen,
        ] {
            assert_eq!(step(st, SendFin), Step::Unexpected { then: None }, "{st}");
        }
    }

    #[test]
    fn test_fin_reaching_no_connection_is_unexpected() {
        for st in [Closed, Listen] {
            assert_eq!(step(st, FIN), Step::Unexpected { then: None }, "{st}");
        }
        for st in [Closing, TimeWait, CloseWait, LastAck] {
            assert_eq!(step(st, FIN), Step::Stay, "{st}: the peer resent its FIN");
        }
    }

    // Tests for the TIME_WAIT state.
    #[test]
    fn test_time_wait_ends_only_from_time_wait() {
        for st in ALL {
            let expected = if st == TimeWait {
                Step::Go(Closed)
            } else {
                Step::Unexpected { then: None }
            };
            assert_eq!(step(st, TimeWaitEnds), expected, "{st}");
        }
    }
}
