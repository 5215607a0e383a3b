//! The default human report: capture summary, one row per connection, patterns and the TIME_WAIT
//! section when TIME_WAIT matters.

use std::fmt::Write as _;
use std::io;

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};

use crate::audit::Audit;
use crate::conn::Connection;
use crate::report::columns::{self, Plain, Row, Scope, Value};
use crate::report::endpoint;
use crate::time::Timestamp;
use crate::time_wait::EndpointTimeWait;

pub fn summary(a: &Audit) -> String {
    let mut s = String::new();
    let c = &a.capture;
    let gz = if c.gzip { ", gzip" } else { "" };
    let order = if c.big_endian {
        "big-endian"
    } else {
        "little-endian"
    };
    let _ = writeln!(
        s,
        "Capture: {} ({} {order}{gz}, {} section(s), {} interface(s))",
        c.file,
        c.format,
        c.sections.max(1),
        c.interfaces
    );
    let span = match (a.first_ts, a.last_ts) {
        (Some(f), Some(l)) => format!(
            "{} .. {} ({:.3} s)",
            f.display(c.ts_digits),
            l.display(c.ts_digits),
            l.secs_since(f)
        ),
        _ => "no frames".into(),
    };
    let _ = writeln!(s, "Time:    {span}");
    let _ = writeln!(
        s,
        "Frames:  {} = {} TCP segments + {} skipped; {} connections",
        c.frames,
        a.tcp_segments,
        a.skipped_total(),
        a.connection_count
    );
    for (reason, n) in &a.skipped {
        let _ = writeln!(s, "         skipped {n:>6} {} ({reason})", reason.key());
    }
    for w in &c.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// The connections table's columns: a heading and the registry field it shows; a per-side
/// count shows the client's and the server's as `c/s`.
const COLUMNS: [(&str, Cell); 14] = [
    ("id", Cell::One("id")),
    ("client", Cell::One("client")),
    ("server", Cell::One("server")),
    ("start s", Cell::One("start_ts")),
    ("dur s", Cell::One("duration_s")),
    ("pkts c/s", Cell::Pair("packets")),
    ("bytes c/s", Cell::Pair("bytes")),
    ("handshake", Cell::One("handshake")),
    ("close", Cell::One("close")),
    ("TIME_WAIT", Cell::One("time_wait")),
    ("outcome", Cell::One("outcome")),
    ("retrans c/s", Cell::Pair("retransmissions")),
    ("dupack c/s", Cell::Pair("dup_acks")),
    ("anomalies", Cell::One("anomalies")),
];

const HEADER: [&str; 14] = {
    let mut h = [""; 14];
    let mut i = 0;
    while i < 14 {
        h[i] = COLUMNS[i].0;
        i += 1;
    }
    h
};

#[derive(Clone, Copy)]
enum Cell {
    One(&'static str),
    Pair(&'static str),
}

/// Rows drawn at a time. comfy-table holds every cell of a table until it is drawn (about 6 KB
/// a row), so a large table is drawn in chunks that share the column widths of the whole.
pub const CHUNK_ROWS: usize = 1024;

fn row(origin: Timestamp, c: &Connection) -> [String; 14] {
    let r = Row::new(c);
    let show = |name: &str, scope: Scope| -> String {
        let Some(f) = columns::field(name) else {
            return String::new();
        };
        match f.value(&r, scope) {
            // Times relative to the capture's first frame; nothing to show is a dash.
            Value::Time(t) => format!("{:.3}", t.secs_since(origin)),
            Value::Missing => "-".into(),
            v => Plain(&v, 0).to_string(),
        }
    };
    COLUMNS.map(|(_, cell)| match cell {
        Cell::One(name) => show(name, Scope::Both),
        Cell::Pair(name) => format!(
            "{}/{}",
            show(name, Scope::Client),
            show(name, Scope::Server)
        ),
    })
}

/// The connections table (no final newline), drawn [`CHUNK_ROWS`] rows at a time.
pub fn write_connections_table(
    out: &mut dyn io::Write,
    a: &Audit,
    conns: &[&Connection],
) -> io::Result<()> {
    write_connections_table_in_chunks(out, a, conns, CHUNK_ROWS)
}

/// [`write_connections_table`] with a chosen chunk size. Every chunk gets the widths of the
/// whole table; with this style a chunk's top border is the same line as a row separator, so
/// dropping it from every chunk after the first draws exactly the table drawn in one piece.
pub fn write_connections_table_in_chunks(
    out: &mut dyn io::Write,
    a: &Audit,
    conns: &[&Connection],
    chunk_rows: usize,
) -> io::Result<()> {
    let origin = a.first_ts.unwrap_or_default();
    // Every cell is ASCII, so its width is its length.
    let mut widths = HEADER.map(str::len);
    for c in conns {
        for (w, cell) in widths.iter_mut().zip(row(origin, c)) {
            *w = (*w).max(cell.len());
        }
    }
    for (i, chunk) in conns.chunks(chunk_rows.max(1)).enumerate() {
        let mut t = Table::new();
        t.load_style(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Disabled);
        if i == 0 {
            t.set_header(HEADER);
        }
        for c in chunk {
            t.add_row(row(origin, c));
        }
        // Columns exist once a header or row made them.
        t.set_constraints(widths.map(|w| {
            let padded = u16::try_from(w + 2).unwrap_or(u16::MAX);
            ColumnConstraint::Absolute(Width::Fixed(padded))
        }));
        let drawn = t.to_string();
        if i == 0 {
            out.write_all(drawn.as_bytes())?;
        } else {
            let rows = drawn.split_once('\n').map_or("", |(_, rest)| rest);
            out.write_all(b"\n")?;
            out.write_all(rows.as_bytes())?;
        }
    }
    if conns.is_empty() {
        let mut t = Table::new();
        t.load_style(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(HEADER);
        out.write_all(t.to_string().as_bytes())?;
    }
    Ok(())
}

pub fn patterns(a: &Audit) -> String {
    let mut s = String::new();
    for p in &a.patterns {
        let ids: Vec<String> = p
            .connections
            .iter()
            .take(12)
            .map(|i| i.to_string())
            .collect();
        let more = if p.connections.len() > 12 {
            format!(" … (+{})", p.connections.len() - 12)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "Pattern {}: {} [connections {}{more}]",
            p.kind,
            p.summary,
            ids.join(", ")
        );
    }
    s
}

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub fn sparkline(series: &[u32]) -> String {
    let max = series.iter().copied().max().unwrap_or(0).max(1);
    series
        .iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                SPARK[((v as usize * 7) / max as usize).min(7)]
            }
        })
        .collect()
}

/// The TIME_WAIT report (also the `time-wait` command's output).
pub fn time_wait(a: &Audit, limit: usize) -> String {
    let tw = &a.time_wait;
    let mut s = String::new();
    let _ = writeln!(s, "TIME_WAIT (duration {:.0} s)", tw.duration_s);
    if tw.by_endpoint.is_empty() {
        let _ = writeln!(s, "  no endpoint closed actively or entered TIME_WAIT");
        return s;
    }
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(vec![
        "endpoint",
        "role",
        "conns",
        "active/passive close",
        "entered",
        "peak",
        "peak at s",
        "held at end",
        "reused",
        "held over time",
    ]);
    let origin = a.first_ts.unwrap_or_default();
    for e in tw.by_endpoint.iter().take(limit) {
        t.add_row(vec![
            endpoint(e.endpoint),
            e.role.to_string(),
            e.connections.to_string(),
            format!("{}/{}", e.closed_actively, e.closed_passively),
            e.entered.to_string(),
            e.peak.to_string(),
            e.peak_ts
                .map_or("-".into(), |t| format!("{:.3}", t.secs_since(origin))),
            e.held_at_end.to_string(),
            e.reused.to_string(),
            format!("|{}|", sparkline(&e.series)),
        ]);
    }
    let _ = writeln!(s, "{t}");
    if tw.by_endpoint.len() > limit {
        let _ = writeln!(s, "  … {} more endpoints", tw.by_endpoint.len() - limit);
    }
    for e in tw.by_endpoint.iter().filter(|e| !e.diagnosis.is_empty()) {
        diagnosis(&mut s, e);
    }
    let reuses: Vec<&Connection> = a
        .connections
        .iter()
        .map(|c| &**c)
        .filter(|c| c.reuse.is_some())
        .collect();
    if !reuses.is_empty() {
        let _ = writeln!(
            s,
            "4-tuple reuse during TIME_WAIT: {} connection(s)",
            reuses.len()
        );
        for c in reuses.iter().take(limit) {
            if let Some(r) = &c.reuse {
                let verdict = if r.acceptable {
                    "acceptable"
                } else {
                    "NOT acceptable"
                };
                let _ = writeln!(
                    s,
                    "  conn {} reuses conn {} ({} held it {:.1} s): {verdict} — {}; capture shows: {}",
                    c.id, r.previous, r.holder_addr, r.held_for_s, r.reason, r.outcome
                );
            }
        }
    }
    for e in tw
        .by_endpoint
        .iter()
        .filter(|e| e.role == "server" && e.peer_ports > 1)
        .take(limit)
    {
        if let Some(f) = e.fastest_port_reuse_s {
            let _ = writeln!(
                s,
                "Client ports toward {}: {} distinct peer address:port pairs over {} connections; fastest reuse of one after {:.3} s",
                endpoint(e.endpoint),
                e.peer_ports,
                e.connections,
                f
            );
        }
    }
    s
}

fn diagnosis(s: &mut String, e: &EndpointTimeWait) {
    let _ = writeln!(s, "Diagnosis for {}:", endpoint(e.endpoint));
    for line in &e.diagnosis {
        let _ = writeln!(s, "  - {line}");
    }
}
