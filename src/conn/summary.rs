//! The facts every report prints about a connection, computed once and typed: its outcome
//! (Zeek's conn_state, SPEC.md §7), who closed first, who held TIME_WAIT, who reset it, and how
//! the handshake went.

use std::fmt;

use crate::conn::Connection;
use crate::conn::fsm::State;
use crate::events::Side;
use crate::time::Timestamp;

/// The part an endpoint plays in the connection (SPEC.md §1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }

    pub fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// Who did a thing that either endpoint, or both, may do (close first, hold TIME_WAIT).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Party {
    Client,
    Server,
    Both,
}

impl Party {
    pub fn name(self) -> &'static str {
        match self {
            Party::Client => "client",
            Party::Server => "server",
            Party::Both => "both",
        }
    }
}

impl From<Role> for Party {
    fn from(r: Role) -> Party {
        match r {
            Role::Client => Party::Client,
            Role::Server => Party::Server,
        }
    }
}

/// Zeek's conn_state (SPEC.md §7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// SYN seen, no reply.
    S0,
    /// Established, not closed.
    S1,
    /// Established and closed normally by both.
    SF,
    /// SYN answered by a RST.
    Rej,
    /// Established, only the client closed.
    S2,
    /// Established, only the server closed.
    S3,
    /// The client reset it.
    Rsto,
    /// The server reset it.
    Rstr,
    /// The client sent a SYN then a RST; no SYN-ACK.
    Rstos0,
    /// The server sent a SYN-ACK then a RST; no SYN from the client seen.
    Rstrh,
    /// The client sent a SYN then a FIN; no SYN-ACK.
    Sh,
    /// The server sent a SYN-ACK then a FIN; no SYN from the client seen.
    Shr,
    /// No SYN seen: midstream traffic.
    Oth,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::S0 => "S0",
            Outcome::S1 => "S1",
            Outcome::SF => "SF",
            Outcome::Rej => "REJ",
            Outcome::S2 => "S2",
            Outcome::S3 => "S3",
            Outcome::Rsto => "RSTO",
            Outcome::Rstr => "RSTR",
            Outcome::Rstos0 => "RSTOS0",
            Outcome::Rstrh => "RSTRH",
            Outcome::Sh => "SH",
            Outcome::Shr => "SHR",
            Outcome::Oth => "OTH",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of the three-way handshake the capture saw.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum HandshakeSeen {
    /// SYN, SYN-ACK and the ACK: the round trip at the capture point, and whether both ACKs
    /// acknowledged ISN+1.
    Complete { rtt_ms: f64, valid: bool },
    /// Only the client's SYN, this many times.
    SynOnly { syns: u32 },
    /// Neither SYN.
    NotSeen,
    /// Some of it (the SYN-ACK without the SYN, or no final ACK).
    Partial,
}

impl fmt::Display for HandshakeSeen {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            // Negative or longer than a year: the capture's clock, not the handshake, is wrong.
            HandshakeSeen::Complete { rtt_ms, .. }
                if !(0.0..=crate::time::ABSURD_GAP_S * 1e3).contains(&rtt_ms) =>
            {
                write!(f, "CLOCK {rtt_ms:.3} ms")
            }
            HandshakeSeen::Complete {
                rtt_ms,
                valid: true,
            } => write!(f, "ok {rtt_ms:.3} ms"),
            HandshakeSeen::Complete { rtt_ms, .. } => write!(f, "BAD {rtt_ms:.3} ms"),
            HandshakeSeen::SynOnly { syns } => write!(f, "SYN x{syns}"),
            HandshakeSeen::NotSeen => f.write_str("not seen"),
            HandshakeSeen::Partial => f.write_str("partial"),
        }
    }
}

/// How the connection ended, for the table: the first FIN's sender, else the first RST's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Close {
    Fin(Party),
    Rst(Role),
    None,
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Close::Fin(who) => write!(f, "{} FIN", who.name()),
            Close::Rst(who) => write!(f, "{} RST", who.name()),
            Close::None => f.write_str("-"),
        }
    }
}

/// The facts of one connection that the reports, rules and rankings share.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Summary {
    pub outcome: Outcome,
    /// Who sent the first FIN; `Both` when the FINs crossed (simultaneous close).
    pub close_initiator: Option<Party>,
    /// Who entered TIME_WAIT.
    pub time_wait_holder: Option<Party>,
    /// Who sent the first acceptable RST.
    pub reset_by: Option<Role>,
    pub handshake: HandshakeSeen,
    /// SYN → SYN-ACK → ACK at the capture point, whether or not the ACKs were right.
    pub handshake_rtt_ms: Option<f64>,
    pub handshake_valid: bool,
    pub anomalies: usize,
    pub duration_s: f64,
}

impl Summary {
    pub fn of(c: &Connection) -> Summary {
        let reset_by = reset_by(c);
        let close_initiator = close_initiator(c);
        let handshake_rtt_ms = c.handshake.rtt_ms();
        let handshake_valid = c.handshake.valid();
        let (cl, sv) = (&c.dirs[c.client], &c.dirs[c.server()]);
        let handshake = match handshake_rtt_ms {
            Some(rtt_ms) => HandshakeSeen::Complete {
                rtt_ms,
                valid: handshake_valid,
            },
            None if cl.isn.is_some() && sv.isn.is_none() => {
                HandshakeSeen::SynOnly { syns: cl.syn_count }
            }
            None if cl.isn.is_none() && sv.isn.is_none() => HandshakeSeen::NotSeen,
            None => HandshakeSeen::Partial,
        };
        Summary {
            outcome: outcome(c, reset_by),
            close_initiator,
            time_wait_holder: time_wait_holder(c),
            reset_by,
            handshake,
            handshake_rtt_ms,
            handshake_valid,
            anomalies: c.events.anomaly_count(),
            duration_s: c.last_ts.secs_since(c.first_ts),
        }
    }

    pub fn close(&self) -> Close {
        match (self.close_initiator, self.reset_by) {
            (Some(who), _) => Close::Fin(who),
            (None, Some(who)) => Close::Rst(who),
            (None, None) => Close::None,
        }
    }
}

impl Connection {
    pub fn summary(&self) -> Summary {
        Summary::of(self)
    }

    pub fn role(&self, side: Side) -> Role {
        if side == self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// The side that sent first among `(when, frame)` stamps, as a role.
    fn first_of(&self, stamps: [Option<(Timestamp, u64)>; 2]) -> Option<Role> {
        let first = (0..2)
            .filter_map(|s| stamps[s].map(|(ts, f)| (ts, f, s)))
            .min_by_key(|&(ts, f, _)| (ts, f))?;
        Some(self.role(first.2))
    }
}

fn close_initiator(c: &Connection) -> Option<Party> {
    let crossed = (0..2).all(|s| c.ends[s].passed_through(State::Closing));
    if crossed {
        return Some(Party::Both);
    }
    c.first_of([c.dirs[0].fin_at, c.dirs[1].fin_at])
        .map(Party::from)
}

fn time_wait_holder(c: &Connection) -> Option<Party> {
    let held = [0, 1].map(|s| c.ends[s].passed_through(State::TimeWait));
    match held {
        [false, false] => None,
        [true, true] => Some(Party::Both),
        [true, false] => Some(c.role(0).into()),
        [false, true] => Some(c.role(1).into()),
    }
}

fn reset_by(c: &Connection) -> Option<Role> {
    c.first_of([c.dirs[0].rst_at, c.dirs[1].rst_at])
}

fn outcome(c: &Connection, first_rst: Option<Role>) -> Outcome {
    let (cl, sv) = (&c.dirs[c.client], &c.dirs[c.server()]);
    let orig_syn = cl.isn.is_some() && !cl.syn_was_synack;
    let resp_synack = sv.syn_was_synack;
    let orig_fin = cl.fin_seq.is_some();
    let resp_fin = sv.fin_seq.is_some();
    if orig_syn && !resp_synack {
        return match first_rst {
            Some(Role::Server) => Outcome::Rej,
            Some(Role::Client) => Outcome::Rstos0,
            None if orig_fin => Outcome::Sh,
            None => Outcome::S0,
        };
    }
    if !orig_syn && resp_synack {
        return match first_rst {
            Some(Role::Server) => Outcome::Rstrh,
            _ if resp_fin => Outcome::Shr,
            _ => Outcome::Oth,
        };
    }
    if !orig_syn {
        return Outcome::Oth;
    }
    match first_rst {
        Some(Role::Client) => Outcome::Rsto,
        Some(Role::Server) => Outcome::Rstr,
        None => match (orig_fin, resp_fin) {
            (true, true) => Outcome::SF,
            (true, false) => Outcome::S2,
            (false, true) => Outcome::S3,
            (false, false) => Outcome::S1,
        },
    }
}
