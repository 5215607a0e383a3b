//! What is wrong with a capture, before any row: capture-wide totals and each anomaly kind with
//! the connections that have the most of it. The same kinds, per connection, are what the
//! table's anomalies column names (`3 fast, 1 rto, 12 dupack`).

use std::fmt::Write as _;

use crate::analysis::count::DirStats;
use std::ops::Deref;

use crate::conn::Connection;
use crate::conn::summary::{HandshakeSeen, Outcome};
use crate::events::EventKind;

/// One kind of anomaly as the reports name it: a short name for the table's column, a longer
/// one for the findings, and where its count comes from (the exact per-endpoint counters where
/// one exists, else the connection's event log).
pub struct AnomalyKind {
    pub short: &'static str,
    pub long: &'static str,
    source: Source,
}

enum Source {
    Stat(fn(&DirStats) -> u32),
    Event(EventKind),
}

impl AnomalyKind {
    /// This kind's count in `c`, over both endpoints.
    pub fn count(&self, c: &Connection) -> u64 {
        match self.source {
            Source::Stat(f) => c.dirs.iter().map(|d| u64::from(f(&d.stats))).sum(),
            Source::Event(k) => c.events.iter().filter(|e| e.kind == k).count() as u64,
        }
    }
}

macro_rules! stat {
    ($short:literal, $long:literal, $field:ident) => {
        AnomalyKind {
            short: $short,
            long: $long,
            source: Source::Stat(|s| s.$field),
        }
    };
}

macro_rules! event {
    ($short:literal, $long:literal, $kind:ident) => {
        AnomalyKind {
            short: $short,
            long: $long,
            source: Source::Event(EventKind::$kind),
        }
    };
}

/// Every kind, in the order the reports list them: the five retransmission kinds (which add up
/// to `retransmissions`), tail loss probes of new data (not retransmissions), then ACK and
/// window trouble, then what the capture missed, then protocol oddities.
pub static KINDS: &[AnomalyKind] = &[
    stat!("fast", "fast retransmissions", fast_retransmissions),
    stat!("rto", "RTO retransmissions", rto_retransmissions),
    stat!(
        "after-rto",
        "retransmissions after an RTO",
        after_rto_retransmissions
    ),
    stat!("tlp", "tail loss probes", tail_loss_probes),
    stat!(
        "spurious",
        "spurious retransmissions",
        spurious_retransmissions
    ),
    stat!("tlp-new", "tail loss probes of new data", new_data_probes),
    stat!("ooo", "out-of-order segments", out_of_order),
    stat!("dupack", "duplicate ACKs", dup_acks),
    stat!("zerowin", "zero-window advertisements", zero_window),
    stat!("zwprobe", "zero-window probes", zero_window_probes),
    stat!(
        "gap",
        "segments not captured (gaps)",
        prev_segment_not_captured
    ),
    stat!("unseen", "ACKs of segments not captured", acked_unseen),
    stat!("rst", "resets", resets),
    event!("bad-hs", "bad handshake ACKs", BadHandshakeAck),
    event!("new-syn", "new SYN attempts", NewAttempt),
    event!("after-fin", "data after FIN", DataAfterFin),
    event!("after-rst", "segments after RST", SegmentAfterReset),
    event!("syn-data", "data on SYN", DataOnSyn),
    event!("early-data", "data before handshake", DataBeforeHandshake),
    event!("tw-seg", "segments in TIME_WAIT", TimeWaitSegment),
    event!("unexpected", "unexpected segments", Unexpected),
];

/// The kinds `c` has, with their counts, in [`KINDS`] order: `3 fast, 1 rto, 12 dupack`; `-`
/// for none.
pub fn anomaly_text(c: &Connection) -> String {
    let mut s = String::new();
    for k in KINDS {
        let n = k.count(c);
        if n > 0 {
            if !s.is_empty() {
                s.push_str(", ");
            }
            let _ = write!(s, "{n} {}", k.short);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// How many connections the findings name for each kind.
pub const WORST_SHOWN: usize = 3;

/// Totals over a set of connections.
#[derive(Clone)]
pub struct Findings {
    pub connections: u64,
    /// Zeek outcomes with their counts, most frequent first (ties in code order).
    pub outcomes: Vec<(&'static str, u64)>,
    pub failed_handshakes: u64,
    pub retransmissions: u64,
    pub keep_alives: u64,
    /// Per kind of [`KINDS`]: the total, the connections that have it, and the
    /// [`WORST_SHOWN`] with the most (id, count), ties by id.
    pub kinds: Vec<KindTotal>,
}

#[derive(Clone)]
pub struct KindTotal {
    pub kind: &'static AnomalyKind,
    pub total: u64,
    pub connections: u64,
    pub worst: Vec<(u32, u64)>,
}

const OUTCOMES: [Outcome; 13] = [
    Outcome::SF,
    Outcome::S0,
    Outcome::S1,
    Outcome::Rej,
    Outcome::S2,
    Outcome::S3,
    Outcome::Rsto,
    Outcome::Rstr,
    Outcome::Rstos0,
    Outcome::Rstrh,
    Outcome::Sh,
    Outcome::Shr,
    Outcome::Oth,
];

/// [`Findings`] being added up, a connection at a time in any order: the result does not
/// depend on the order.
#[derive(Clone)]
pub struct Tally {
    outcomes: [u64; 13],
    f: Findings,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            outcomes: [0; 13],
            f: Findings {
                connections: 0,
                outcomes: Vec::new(),
                failed_handshakes: 0,
                retransmissions: 0,
                keep_alives: 0,
                kinds: KINDS
                    .iter()
                    .map(|kind| KindTotal {
                        kind,
                        total: 0,
                        connections: 0,
                        worst: Vec::new(),
                    })
                    .collect(),
            },
        }
    }
}

impl Tally {
    pub fn add(&mut self, c: &Connection) {
        let f = &mut self.f;
        let s = c.summary();
        f.connections += 1;
        if let Some(i) = OUTCOMES.iter().position(|&o| o == s.outcome) {
            self.outcomes[i] += 1;
        }
        // A SYN that never led to an established connection.
        if matches!(s.handshake, HandshakeSeen::SynOnly { .. })
            || matches!(
                s.outcome,
                Outcome::S0 | Outcome::Rej | Outcome::Rstos0 | Outcome::Sh
            )
        {
            f.failed_handshakes += 1;
        }
        for d in &c.dirs {
            f.retransmissions += u64::from(d.stats.retransmissions);
            f.keep_alives += u64::from(d.stats.keep_alives);
        }
        for t in &mut f.kinds {
            let n = t.kind.count(c);
            if n == 0 {
                continue;
            }
            t.total += n;
            t.connections += 1;
            // Keep the worst few: most first, then lowest id.
            let at = t
                .worst
                .iter()
                .position(|&(id, m)| (n, std::cmp::Reverse(c.id)) > (m, std::cmp::Reverse(id)))
                .unwrap_or(t.worst.len());
            if at < WORST_SHOWN {
                t.worst.insert(at, (c.id, n));
                t.worst.truncate(WORST_SHOWN);
            }
        }
    }

    pub fn finish(self) -> Findings {
        let mut f = self.f;
        let mut by_count: Vec<(&'static str, u64)> = OUTCOMES
            .iter()
            .zip(self.outcomes)
            .filter(|&(_, n)| n > 0)
            .map(|(o, n)| (o.name(), n))
            .collect();
        by_count.sort_by_key(|o| std::cmp::Reverse(o.1));
        f.outcomes = by_count;
        f
    }
}

impl Findings {
    pub fn of<C: Deref<Target = Connection>>(conns: impl Iterator<Item = C>) -> Findings {
        let mut t = Tally::default();
        for c in conns {
            t.add(&c);
        }
        t.finish()
    }

    pub fn total(&self, short: &str) -> u64 {
        self.kinds
            .iter()
            .find(|t| t.kind.short == short)
            .map_or(0, |t| t.total)
    }
}

/// What the findings section prints, one idea a line, no line wider than `width`.
pub fn render(f: &Findings, width: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Findings");
    let list = |items: Vec<String>| {
        if items.is_empty() {
            String::new()
        } else {
            format!(": {}", items.join(", "))
        }
    };
    let outcomes = f.outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
    let line = format!("  connections       {}{}", f.connections, list(outcomes));
    push_cut(&mut s, &line, width);
    let _ = writeln!(s, "  failed handshakes {}", f.failed_handshakes);
    let retrans = ["fast", "rto", "after-rto", "tlp", "spurious"]
        .iter()
        .filter(|k| f.total(k) > 0)
        .map(|k| format!("{} {k}", f.total(k)))
        .collect();
    let line = format!("  retransmissions   {}{}", f.retransmissions, list(retrans));
    push_cut(&mut s, &line, width);
    let _ = writeln!(
        s,
        "  dup ACKs {}, zero windows {}, zero-window probes {}",
        f.total("dupack"),
        f.total("zerowin"),
        f.total("zwprobe"),
    );
    let _ = writeln!(
        s,
        "  keep-alives {}, resets {}",
        f.keep_alives,
        f.total("rst")
    );
    let present: Vec<&KindTotal> = f.kinds.iter().filter(|t| t.total > 0).collect();
    if present.is_empty() {
        let _ = writeln!(s, "  no anomalies");
        return s;
    }
    let _ = writeln!(
        s,
        "  anomalies: kind, count, in how many connections, the most (#id×count)"
    );
    let name_width = present.iter().map(|t| t.kind.long.len()).max().unwrap_or(0);
    for t in present {
        let head = format!(
            "    {:<name_width$} {:>7} in {:>5}:",
            t.kind.long, t.total, t.connections
        );
        let mut line = head;
        for (id, n) in &t.worst {
            let item = format!(" #{id}×{n}");
            if line.chars().count() + item.chars().count() > width {
                break;
            }
            line.push_str(&item);
        }
        push_cut(&mut s, &line, width);
    }
    s
}

/// `line` and a newline, cut to `width` characters with a final `…` if longer.
pub fn push_cut(s: &mut String, line: &str, width: usize) {
    s.push_str(&crate::report::fit::cut_end(line, width));
    s.push('\n');
}
