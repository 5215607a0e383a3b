//! Every fact of a connection that can be printed, compared or ranked, by name, in one list.
//! The connections table, CSV, `--fail-on` rules and `--top-by` all look fields up here, so a
//! new column is one entry in [`FIELDS`].

use std::fmt;
use std::net::SocketAddr;

use crate::analysis::count::DirStats;
use crate::conn::Connection;
use crate::conn::summary::Summary;
use crate::time::Timestamp;

/// Which endpoint's count a per-side field gives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// The sum over both endpoints.
    Both,
    Client,
    Server,
}

impl Scope {
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::Both => "",
            Scope::Client => "client.",
            Scope::Server => "server.",
        }
    }
}

/// A field's value. How it is printed is the report's choice (a time is relative in the
/// table, absolute in CSV).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Count(u64),
    /// A quantity in ms or s, printed with three decimals.
    Number(f64),
    Text(&'static str),
    Owned(String),
    Address(SocketAddr),
    Time(Timestamp),
    Bool(bool),
    /// The capture does not show it (no handshake, nobody closed).
    Missing,
}

impl Value {
    /// As a number, for comparisons and rankings.
    pub fn number(&self) -> Option<f64> {
        match *self {
            Value::Count(n) => Some(n as f64),
            Value::Number(x) => Some(x),
            Value::Time(t) => Some(t.nanos() as f64 / 1e9),
            _ => None,
        }
    }

    /// As text, for `=` and `!=` rules.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Text(t) => Some((*t).to_string()),
            Value::Owned(t) => Some(t.clone()),
            Value::Address(a) => Some(a.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// The plain form CSV uses: times absolute with the capture's digits, missing values empty.
pub struct Plain<'a>(pub &'a Value, pub u8);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Value::Count(n) => write!(f, "{n}"),
            Value::Number(x) => write!(f, "{x:.3}"),
            Value::Text(t) => f.write_str(t),
            Value::Owned(t) => f.write_str(t),
            Value::Address(a) => write!(f, "{a}"),
            Value::Time(t) => write!(f, "{}", t.display(self.1)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Missing => Ok(()),
        }
    }
}

/// One connection and its summary, computed once for all of its fields.
pub struct Row<'a> {
    pub c: &'a Connection,
    pub s: Summary,
}

impl<'a> Row<'a> {
    pub fn new(c: &'a Connection) -> Row<'a> {
        Row { c, s: c.summary() }
    }

    fn stats(&self, scope: Scope, f: fn(&DirStats) -> u64) -> u64 {
        let c = self.c;
        let (cl, sv) = (&c.dirs[c.client].stats, &c.dirs[c.server()].stats);
        match scope {
            Scope::Both => f(cl) + f(sv),
            Scope::Client => f(cl),
            Scope::Server => f(sv),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Counted per endpoint: `client.NAME`, `server.NAME`, or summed.
    PerSide,
    Number,
    Text,
}

pub struct Field {
    pub name: &'static str,
    /// Other names it answers to (older spellings).
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub help: &'static str,
    get: fn(&Row, Scope) -> Value,
}

impl Field {
    pub fn value(&self, row: &Row, scope: Scope) -> Value {
        (self.get)(row, scope)
    }

    pub fn is_text(&self) -> bool {
        self.kind == Kind::Text
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The field called `name` (or one of its aliases).
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|f| f.name == name || f.aliases.contains(&name))
}

macro_rules! count {
    ($name:literal, $help:literal, $stat:ident) => {
        Field {
            name: $name,
            aliases: &[],
            kind: Kind::PerSide,
            help: $help,
            get: |r, scope| Value::Count(r.stats(scope, |s| u64::from(s.$stat))),
        }
    };
}

fn party(p: Option<crate::conn::summary::Party>) -> Value {
    p.map_or(Value::Missing, |p| Value::Text(p.name()))
}

pub static FIELDS: &[Field] = &[
    Field {
        name: "id",
        aliases: &[],
        kind: Kind::Number,
        help: "connection id, in order of first appearance",
        get: |r, _| Value::Count(u64::from(r.c.id)),
    },
    Field {
        name: "client",
        aliases: &[],
        kind: Kind::Text,
        help: "the client's address:port",
        get: |r, _| Value::Address(r.c.addrs[r.c.client]),
    },
    Field {
        name: "server",
        aliases: &[],
        kind: Kind::Text,
        help: "the server's address:port",
        get: |r, _| Value::Address(r.c.addrs[r.c.server()]),
    },
    Field {
        name: "start_ts",
        aliases: &[],
        kind: Kind::Number,
        help: "time of its first segment",
        get: |r, _| Value::Time(r.c.first_ts),
    },
    Field {
        name: "end_ts",
        aliases: &[],
        kind: Kind::Number,
        help: "time of its last segment",
        get: |r, _| Value::Time(r.c.last_ts),
    },
    Field {
        name: "duration_s",
        aliases: &["duration"],
        kind: Kind::Number,
        help: "seconds from its first segment to its last",
        get: |r, _| Value::Number(r.s.duration_s),
    },
    Field {
        name: "outcome",
        aliases: &[],
        kind: Kind::Text,
        help: "Zeek's conn_state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH",
        get: |r, _| Value::Text(r.s.outcome.name()),
    },
    Field {
        name: "history",
        aliases: &[],
        kind: Kind::Text,
        help: "Zeek's history letters (client upper case)",
        get: |r, _| Value::Owned(r.c.history()),
    },
    Field {
        name: "handshake",
        aliases: &[],
        kind: Kind::Text,
        help: "what the capture saw of the handshake: ok/BAD with its round trip, SYN xN, partial, not seen",
        get: |r, _| Value::Owned(r.s.handshake.to_string()),
    },
    Field {
        name: "handshake_valid",
        aliases: &[],
        kind: Kind::Text,
        help: "both handshake ACKs acknowledged ISN+1",
        get: |r, _| Value::Bool(r.s.handshake_valid),
    },
    Field {
        name: "handshake_rtt_ms",
        aliases: &["handshake_ms"],
        kind: Kind::Number,
        help: "SYN to SYN-ACK to ACK at the capture point, ms",
        get: |r, _| r.s.handshake_rtt_ms.map_or(Value::Missing, Value::Number),
    },
    Field {
        name: "close",
        aliases: &[],
        kind: Kind::Text,
        help: "who sent the first FIN, else the first RST",
        get: |r, _| Value::Owned(r.s.close().to_string()),
    },
    Field {
        name: "close_initiator",
        aliases: &[],
        kind: Kind::Text,
        help: "who sent the first FIN: client, server or both",
        get: |r, _| party(r.s.close_initiator),
    },
    Field {
        name: "time_wait",
        aliases: &[],
        kind: Kind::Text,
        help: "who entered TIME_WAIT: client, server or both",
        get: |r, _| party(r.s.time_wait_holder),
    },
    Field {
        name: "reset_by",
        aliases: &[],
        kind: Kind::Text,
        help: "who sent the first acceptable RST",
        get: |r, _| {
            r.s.reset_by
                .map_or(Value::Missing, |p| Value::Text(p.name()))
        },
    },
    count!("retransmissions", "segments sent again", retransmissions),
    count!(
        "fast_retransmissions",
        "resent after dup ACKs or SACK showed the loss",
        fast_retransmissions
    ),
    count!(
        "rto_retransmissions",
        "resent when the retransmission timer fired",
        rto_retransmissions
    ),
    count!(
        "spurious_retransmissions",
        "resent although already acknowledged",
        spurious_retransmissions
    ),
    count!("dup_acks", "duplicate ACKs", dup_acks),
    count!(
        "zero_window",
        "segments advertising a zero window",
        zero_window
    ),
    count!(
        "zero_window_probes",
        "zero-window probes",
        zero_window_probes
    ),
    count!("keep_alives", "keep-alives", keep_alives),
    count!("resets", "RST segments", resets),
    count!(
        "out_of_order",
        "segments that filled a gap too soon to be resent",
        out_of_order
    ),
    Field {
        name: "packets",
        aliases: &[],
        kind: Kind::PerSide,
        help: "segments sent",
        get: |r, scope| Value::Count(r.stats(scope, |s| s.packets)),
    },
    Field {
        name: "bytes",
        aliases: &[],
        kind: Kind::PerSide,
        help: "payload bytes sent",
        get: |r, scope| Value::Count(r.stats(scope, |s| s.payload_bytes)),
    },
    Field {
        name: "anomalies",
        aliases: &[],
        kind: Kind::PerSide,
        help: "anomaly events (with events past the per-connection cap, when summed)",
        get: |r, scope| {
            let c = r.c;
            let by = |side| {
                c.events
                    .iter()
                    .filter(|e| e.kind.is_anomaly() && e.side == Some(side))
                    .count() as u64
            };
            Value::Count(match scope {
                Scope::Both => r.s.anomalies as u64,
                Scope::Client => by(c.client),
                Scope::Server => by(c.server()),
            })
        },
    },
    Field {
        name: "anomaly_kinds",
        aliases: &[],
        kind: Kind::Text,
        help: "the kinds of anomaly with their counts, e.g. `3 fast, 1 rto, 12 dupack`",
        get: |r, _| Value::Owned(crate::report::findings::anomaly_text(r.c)),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in FIELDS {
            for name in std::iter::once(&f.name).chain(f.aliases) {
                assert!(seen.insert(*name), "{name} named twice");
            }
        }
        assert_eq!(
            field("handshake_ms").map(|f| f.name),
            Some("handshake_rtt_ms")
        );
        assert!(field("nonsense").is_none());
    }
}
