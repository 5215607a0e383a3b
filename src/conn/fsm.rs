//! Endpoint states (RFC 9293 §3.3.2) and the record of each endpoint's transitions.
//!
//! A capture sees segments, not sockets: every transition is stamped with the frame that proves
//! it. Transitions that no frame proves (TIME_WAIT expiring, an endpoint first seen mid-stream)
//! carry no frame and are marked inferred.

use std::fmt;

use crate::time::Timestamp;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
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

#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub ts: Timestamp,
    /// The frame that proves the transition; `None` when only time proves it.
    pub frame: Option<u64>,
    pub inferred: bool,
}

/// One endpoint's state machine as reconstructed from the capture.
#[derive(Clone, Debug)]
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
