//! The default human report, answer first: the capture, the findings (totals and the worst
//! connections of each anomaly kind), the patterns, the TIME_WAIT diagnosis, then the
//! connections, one line each, no line wider than the terminal.

use std::fmt::Write as _;
use std::io;

use crate::audit::{Audit, ConnRef};
use crate::report::columns::{self, Plain, Row, Scope, Value};
use crate::report::endpoint;
use crate::report::findings;
use crate::report::fit::{self, Column, cut_end};
use crate::time::Timestamp;
use crate::time_wait::{EndpointTimeWait, HostTimeWait};

/// The width used when neither `COLUMNS` nor the terminal tells one.
pub const DEFAULT_WIDTH: usize = 120;
/// Rows the connections table shows without `--all`.
pub const TABLE_CAP: usize = 40;
/// Narrower than this, nothing useful fits; the report is laid out for this much.
pub const MIN_WIDTH: usize = 40;

/// How the human report is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// No line is wider than this many characters.
    pub width: usize,
    /// Every selected connection, in id order, instead of the [`TABLE_CAP`] with the most
    /// anomalies.
    pub all: bool,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            width: DEFAULT_WIDTH,
            all: false,
        }
    }
}

/// The capture: file, format, first and last frame (UTC), duration, frames accounted for,
/// warnings.
pub fn summary(a: &Audit, width: usize) -> String {
    let mut s = String::new();
    let c = &a.capture;
    let gz = if c.gzip { ", gzip" } else { "" };
    let order = if c.big_endian {
        "big-endian"
    } else {
        "little-endian"
    };
    // The file name whole, on its own line; the format beside it only if it fits.
    let format = format!(
        "{} {order}{gz}, {} section(s), {} interface(s)",
        c.format,
        c.sections.max(1),
        c.interfaces
    );
    let line = format!("Capture   {} ({format})", c.file);
    if line.chars().count() <= width {
        let _ = writeln!(s, "{line}");
    } else {
        // A long path is broken over lines, never cut.
        let chars: Vec<char> = c.file.chars().collect();
        for (i, part) in chars.chunks(width.saturating_sub(10).max(1)).enumerate() {
            let head = if i == 0 { "Capture   " } else { "          " };
            let _ = writeln!(s, "{head}{}", part.iter().collect::<String>());
        }
        let _ = writeln!(s, "Format    {format}");
    }
    match (a.first_ts, a.last_ts) {
        (Some(f), Some(l)) => {
            let _ = writeln!(s, "First     {}", f.utc(c.ts_digits));
            let _ = writeln!(
                s,
                "Last      {} ({:.3} s later)",
                l.utc(c.ts_digits),
                l.secs_since(f)
            );
        }
        _ => {
            let _ = writeln!(s, "Time      no frames");
        }
    }
    let _ = writeln!(
        s,
        "Frames    {} = {} TCP segments + {} skipped; {} connections",
        c.frames,
        a.tcp_segments,
        a.skipped_total(),
        a.connection_count
    );
    if c.evicted_connections > 0 {
        let _ = writeln!(
            s,
            "          {} of them evicted by the memory bound, not reported below",
            c.evicted_connections
        );
    }
    for (reason, n) in &a.skipped {
        let line = format!("          skipped {n:>6} {} ({reason})", reason.key());
        findings::push_cut(&mut s, &line, width);
    }
    for w in &c.warnings {
        wrap(&mut s, "warning: ", 2, w, width);
    }
    s
}

/// The connections table's columns: a heading, the registry field it shows (a per-side count
/// shows the client's and the server's as `c/s`), and what may be done to save width.
#[derive(Clone, Copy)]
struct Col {
    head: &'static str,
    field: &'static str,
    pair: bool,
    /// The rank at which a `c/s` pair becomes the sum (heading without ` c/s`).
    narrow: Option<u8>,
    drop: Option<u8>,
    right: bool,
}

const fn col(head: &'static str, field: &'static str) -> Col {
    Col {
        head,
        field,
        pair: false,
        narrow: None,
        drop: None,
        right: false,
    }
}

const fn pair(head: &'static str, field: &'static str, drop: u8) -> Col {
    Col {
        head,
        field,
        pair: true,
        narrow: Some(1),
        drop: Some(drop),
        right: true,
    }
}

const fn dropped(mut c: Col, rank: u8) -> Col {
    c.drop = Some(rank);
    c
}

const fn right(mut c: Col) -> Col {
    c.right = true;
    c
}

/// The columns, and the order in which they give way when the terminal is narrow: (1) per-side
/// pairs become sums, then go (2) start, (3) bytes, (4) close, (5) TIME_WAIT, (6) retrans and
/// dupack (the anomalies column names them), (7) handshake, (8) pkts, (9) dur; then the
/// anomalies text is cut with `…`, and last the addresses are shortened in the middle (their
/// port kept), which the table's heading then says. id, client, server, outcome and
/// anomalies always stay.
const COLUMNS: [Col; 14] = [
    right(col("id", "id")),
    col("client", "client"),
    col("server", "server"),
    dropped(right(col("start s", "start_ts")), 2),
    dropped(right(col("dur s", "duration_s")), 9),
    pair("pkts c/s", "packets", 8),
    pair("bytes c/s", "bytes", 3),
    dropped(col("handshake", "handshake"), 7),
    dropped(col("close", "close"), 4),
    dropped(col("TIME_WAIT", "time_wait"), 5),
    col("outcome", "outcome"),
    pair("retrans c/s", "retransmissions", 6),
    pair("dupack c/s", "dup_acks", 6),
    col("anomalies", "anomaly_kinds"),
];

fn cell(r: &Row, origin: Timestamp, name: &str, scope: Scope) -> String {
    let Some(f) = columns::field(name) else {
        return String::new();
    };
    match f.value(r, scope) {
        // Times relative to the capture's first frame; nothing to show is a dash.
        Value::Time(t) => format!("{:.3}", t.secs_since(origin)),
        Value::Missing => "-".into(),
        v => Plain(&v, 0).to_string(),
    }
}

/// The connections to show, as their places in `a.connections`: every one in id order with
/// `all` or when there are at most [`TABLE_CAP`], else the [`TABLE_CAP`] with the most
/// anomalies, ties by id.
pub fn shown(a: &Audit, selected: &[usize], all: bool) -> Vec<usize> {
    if all || selected.len() <= TABLE_CAP {
        return selected.to_vec();
    }
    let conns = &a.connections;
    let mut ranked: Vec<(usize, u32, usize)> = selected
        .iter()
        .map(|&i| (conns.anomalies(i), conns.id(i), i))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(TABLE_CAP);
    ranked.into_iter().map(|(_, _, i)| i).collect()
}

/// One column's cells, a row at a time: per side for a column of pairs, and for both.
#[derive(Default)]
struct Cells {
    client: Vec<String>,
    server: Vec<String>,
    both: Vec<String>,
}

/// The connections table: a heading that says what is shown, one line per connection, and,
/// when capped, one closing line saying how many more there are and how to see them. Each
/// connection is read once, thawed only while its cells are written.
pub fn write_connections_table(
    out: &mut dyn io::Write,
    a: &Audit,
    conns: &[usize],
    layout: Layout,
) -> io::Result<()> {
    let width = layout.width.max(MIN_WIDTH);
    let rows = shown(a, conns, layout.all);
    let origin = a.first_ts.unwrap_or_default();
    let mut cells: Vec<Cells> = COLUMNS.iter().map(|_| Cells::default()).collect();
    for c in a.connections.each_of(&rows) {
        let r = Row::new(&c);
        for (col, k) in COLUMNS.iter().zip(&mut cells) {
            if col.pair {
                k.client.push(cell(&r, origin, col.field, Scope::Client));
                k.server.push(cell(&r, origin, col.field, Scope::Server));
            }
            k.both.push(cell(&r, origin, col.field, Scope::Both));
        }
    }
    let cols: Vec<Column> = COLUMNS
        .iter()
        .zip(cells)
        .map(|(c, k)| {
            let mut column = if c.pair {
                let both: Vec<String> = k
                    .client
                    .iter()
                    .zip(&k.server)
                    .map(|(x, y)| format!("{x}/{y}"))
                    .collect();
                Column::new(c.head, both).narrow(
                    c.narrow.unwrap_or(1),
                    c.head.trim_end_matches(" c/s"),
                    k.both,
                )
            } else {
                Column::new(c.head, k.both)
            };
            if c.right {
                column = column.right();
            }
            if let Some(rank) = c.drop {
                column = column.drop_at(rank);
            }
            match c.field {
                "client" | "server" => column.cut_to(15, true),
                "anomaly_kinds" => column.cut_to(12, false),
                _ => column,
            }
        })
        .collect();
    let fitted = fit::fit(cols, width);
    let heading = if rows.len() < conns.len() {
        if rows.iter().all(|&i| a.connections.anomalies(i) == 0) {
            format!(
                "Connections: the first {} of {} (none has an anomaly)",
                rows.len(),
                conns.len()
            )
        } else {
            format!(
                "Connections: the {} of {} with the most anomalies (ties by id)",
                rows.len(),
                conns.len()
            )
        }
    } else {
        format!("Connections: {}, in id order", conns.len())
    };
    writeln!(out, "{}", cut_end(&heading, width))?;
    let mut notes = Vec::new();
    if !fitted.narrowed.is_empty() {
        notes.push("pairs summed".to_string());
    }
    if !fitted.dropped.is_empty() {
        notes.push(format!("left out: {}", fitted.dropped.join(", ")));
    }
    if fitted.cut.iter().any(|h| h == "client" || h == "server") {
        notes.push("addresses shortened with … (--format csv has them whole)".into());
    }
    if !notes.is_empty() {
        let mut note = String::new();
        wrap(
            &mut note,
            "",
            2,
            &format!("(fit to {width} columns: {})", notes.join("; ")),
            width,
        );
        out.write_all(note.as_bytes())?;
    }
    for line in &fitted.lines {
        writeln!(out, "{line}")?;
    }
    if rows.len() < conns.len() {
        let more = conns.len() - rows.len();
        let line = format!("… {more} more connections: --all lists every one, --conn ID shows one");
        writeln!(out, "{}", cut_end(&line, width))?;
    }
    Ok(())
}

/// The capture-wide patterns (SYN flood, scan), each with the first connections involved.
pub fn patterns(a: &Audit, width: usize) -> String {
    let mut s = String::new();
    for p in &a.patterns {
        wrap(
            &mut s,
            &format!("Pattern {}: ", p.kind),
            2,
            &p.summary,
            width,
        );
        let ids: Vec<String> = p
            .connections
            .iter()
            .take(12)
            .map(|i| i.to_string())
            .collect();
        let more = if p.connections.len() > 12 {
            format!(" (and {} more)", p.connections.len() - 12)
        } else {
            String::new()
        };
        let line = format!("  connections {}{more}", ids.join(", "));
        findings::push_cut(&mut s, &line, width);
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

/// Words wrapped at `width` after a `indent`ed first line marker `first`.
fn wrap(s: &mut String, first: &str, indent: usize, text: &str, width: usize) {
    let mut line = first.to_string();
    let mut fresh = true;
    for word in text.split(' ') {
        let len = line.chars().count();
        if !fresh && len + 1 + word.chars().count() > width {
            s.push_str(&line);
            s.push('\n');
            line = " ".repeat(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    s.push_str(&cut_end(&line, width));
    s.push('\n');
}

/// The TIME_WAIT report (also the `time-wait` command's output): the diagnosis first, then
/// hosts and endpoints, at most `limit` of each, then reuse and client port cycling.
pub fn time_wait(a: &Audit, limit: usize, width: usize) -> String {
    let width = width.max(MIN_WIDTH);
    let tw = &a.time_wait;
    let mut s = String::new();
    let _ = writeln!(s, "TIME_WAIT (duration {:.0} s)", tw.duration_s);
    if tw.by_endpoint.is_empty() {
        let _ = writeln!(s, "  no endpoint closed actively or entered TIME_WAIT");
        return s;
    }
    // Diagnoses: hosts (a client host's ports add up), then server endpoints; a server host
    // with one port says what its endpoint says.
    for h in tw.by_host.iter().filter(|h| !h.diagnosis.is_empty()) {
        let single_server = h.role == "server"
            && h.ports == 1
            && tw
                .by_endpoint
                .iter()
                .any(|e| e.endpoint.ip() == h.host && !e.diagnosis.is_empty());
        if !single_server {
            diagnosis(&mut s, &format!("host {}", h.host), &h.diagnosis, width);
        }
    }
    for e in tw.by_endpoint.iter().filter(|e| !e.diagnosis.is_empty()) {
        diagnosis(&mut s, &endpoint(e.endpoint), &e.diagnosis, width);
    }
    let origin = a.first_ts.unwrap_or_default();
    let at =
        |t: Option<Timestamp>| t.map_or("-".into(), |t| format!("{:.3}", t.secs_since(origin)));
    let hosts: Vec<&HostTimeWait> = tw.by_host.iter().take(limit).collect();
    if !hosts.is_empty() {
        let _ = writeln!(s, "By host (all its ports):");
        let col = |head: &str, f: &dyn Fn(&HostTimeWait) -> String| {
            Column::new(head, hosts.iter().map(|h| f(h)).collect())
        };
        let cols = vec![
            col("host", &|h| h.host.to_string()).cut_to(15, true),
            col("role", &|h| h.role.to_string()),
            col("ports", &|h| h.ports.to_string()).right().drop_at(3),
            col("conns", &|h| h.connections.to_string())
                .right()
                .drop_at(2),
            col("closed first", &|h| h.closed_actively.to_string()).right(),
            col("entered", &|h| h.entered.to_string()).right(),
            col("per s", &|h| format!("{:.1}", h.rate_per_s)).right(),
            col("peak", &|h| h.peak.to_string()).right(),
            col("peak at s", &|h| at(h.peak_ts)).right().drop_at(1),
            col("held at end", &|h| h.held_at_end.to_string()).right(),
        ];
        for line in fit::fit(cols, width).lines {
            let _ = writeln!(s, "{line}");
        }
        more(&mut s, tw.by_host.len(), limit, "hosts", width);
    }
    let eps: Vec<&EndpointTimeWait> = tw.by_endpoint.iter().take(limit).collect();
    let _ = writeln!(s, "By endpoint:");
    let col = |head: &str, f: &dyn Fn(&EndpointTimeWait) -> String| {
        Column::new(head, eps.iter().map(|e| f(e)).collect())
    };
    let cols = vec![
        col("endpoint", &|e| endpoint(e.endpoint)).cut_to(15, true),
        col("role", &|e| e.role.to_string()),
        col("conns", &|e| e.connections.to_string())
            .right()
            .drop_at(3),
        col("active/passive close", &|e| {
            format!("{}/{}", e.closed_actively, e.closed_passively)
        })
        .right(),
        col("entered", &|e| e.entered.to_string()).right(),
        col("peak", &|e| e.peak.to_string()).right(),
        col("peak at s", &|e| at(e.peak_ts)).right().drop_at(2),
        col("held at end", &|e| e.held_at_end.to_string()).right(),
        col("reused", &|e| e.reused.to_string()).right().drop_at(4),
        col("held over time", &|e| format!("|{}|", sparkline(&e.series))).drop_at(1),
    ];
    for line in fit::fit(cols, width).lines {
        let _ = writeln!(s, "{line}");
    }
    more(&mut s, tw.by_endpoint.len(), limit, "endpoints", width);
    // The first `limit` connections that reused a 4-tuple, and how many did.
    let mut reuses: Vec<ConnRef> = Vec::new();
    let mut reused = 0;
    for i in a.connections.reused() {
        reused += 1;
        if reuses.len() < limit {
            reuses.push(a.connections.read(i));
        }
    }
    if reused > 0 {
        let _ = writeln!(s, "4-tuple reuse during TIME_WAIT: {reused} connection(s)");
        for c in &reuses {
            if let Some(r) = &c.reuse {
                let verdict = if r.acceptable {
                    "acceptable"
                } else {
                    "NOT acceptable"
                };
                let text = format!(
                    "conn {} reuses conn {} ({} held it {:.1} s): {verdict} — {}; capture shows: {}",
                    c.id,
                    r.previous,
                    r.holder_addr,
                    r.held_for_s,
                    r.reason,
                    r.outcome.name()
                );
                wrap(&mut s, "  ", 4, &text, width);
            }
        }
        more(&mut s, reused, limit, "reuses", width);
    }
    for e in tw
        .by_endpoint
        .iter()
        .filter(|e| e.role == "server" && e.peer_ports > 1)
        .take(limit)
    {
        if let Some(f) = e.fastest_port_reuse_s {
            let text = format!(
                "Client ports toward {}: {} distinct peer address:port pairs over {} connections; fastest reuse of one after {:.3} s",
                endpoint(e.endpoint),
                e.peer_ports,
                e.connections,
                f
            );
            wrap(&mut s, "", 2, &text, width);
        }
    }
    s
}

/// The line after a list cut at `limit`: how many it left out and how to see them.
fn more(s: &mut String, total: usize, limit: usize, what: &str, width: usize) {
    if total > limit {
        let line = format!(
            "  … {} more {what} (time-wait --format json or csv lists all {total})",
            total - limit
        );
        findings::push_cut(s, &line, width);
    }
}

fn diagnosis(s: &mut String, who: &str, lines: &[String], width: usize) {
    let _ = writeln!(s, "Diagnosis for {who}:");
    for line in lines {
        wrap(s, "  - ", 4, line, width);
    }
}
