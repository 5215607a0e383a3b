//! CSV: one row per connection (RFC 4180 quoting), its columns taken from the registry.

use std::fmt::Write as _;

use crate::audit::Audit;
use crate::conn::Connection;
use crate::report::columns::{self, Field, Plain, Row, Scope};

/// The columns, in order: a field of the registry and, for a per-side count, the endpoint.
const COLUMNS: &[(&str, Scope)] = &[
    ("id", Scope::Both),
    ("client", Scope::Both),
    ("server", Scope::Both),
    ("start_ts", Scope::Both),
    ("end_ts", Scope::Both),
    ("outcome", Scope::Both),
    ("history", Scope::Both),
    ("handshake_valid", Scope::Both),
    ("handshake_rtt_ms", Scope::Both),
    ("close_initiator", Scope::Both),
    ("time_wait", Scope::Both),
    ("reset_by", Scope::Both),
    ("packets", Scope::Client),
    ("packets", Scope::Server),
    ("bytes", Scope::Client),
    ("bytes", Scope::Server),
    ("retransmissions", Scope::Client),
    ("retransmissions", Scope::Server),
    ("dup_acks", Scope::Client),
    ("dup_acks", Scope::Server),
    ("anomalies", Scope::Both),
];

fn columns() -> impl Iterator<Item = (&'static Field, Scope)> {
    COLUMNS
        .iter()
        .filter_map(|&(name, scope)| Some((columns::field(name)?, scope)))
}

/// The header line: a per-side count is `client_NAME` or `server_NAME`.
pub fn header() -> String {
    let names: Vec<String> = columns()
        .map(|(f, scope)| match scope {
            Scope::Both => f.name.to_string(),
            Scope::Client => format!("client_{}", f.name),
            Scope::Server => format!("server_{}", f.name),
        })
        .collect();
    names.join(",")
}

/// One cell, quoted as RFC 4180 asks when it holds a comma, a quote or a line break.
pub fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One connection's row: each cell written into the row in place, and quoted only when it
/// holds a comma, a quote or a newline.
pub fn row(c: &Connection, digits: u8) -> String {
    let r = Row::new(c);
    let mut s = String::with_capacity(512);
    for (i, (f, scope)) in columns().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let start = s.len();
        let _ = write!(s, "{}", Plain(&f.value(&r, scope), digits));
        if s[start..].contains([',', '"', '\n']) {
            let quoted = cell(&s[start..]);
            s.truncate(start);
            s.push_str(&quoted);
        }
    }
    s
}

/// `time-wait --format csv`: one row per host (`scope` host, `address` its IP) and one per
/// endpoint (`scope` endpoint, `address` ip:port), hosts first, each in the report's order.
pub fn write_time_wait(out: &mut dyn std::io::Write, a: &Audit) -> std::io::Result<()> {
    let digits = a.capture.ts_digits;
    writeln!(
        out,
        "scope,address,role,connections,closed_actively,closed_passively,entered,peak,peak_ts,held_at_end,reused,rate_per_s"
    )?;
    let t = |ts: Option<crate::time::Timestamp>| {
        ts.map_or(String::new(), |t| t.display(digits).to_string())
    };
    for h in &a.time_wait.by_host {
        writeln!(
            out,
            "host,{},{},{},{},,{},{},{},{},,{:.3}",
            h.host,
            h.role,
            h.connections,
            h.closed_actively,
            h.entered,
            h.peak,
            t(h.peak_ts),
            h.held_at_end,
            h.rate_per_s
        )?;
    }
    for e in &a.time_wait.by_endpoint {
        let mut addr = String::new();
        addr.push_str(&cell(&e.endpoint.to_string()));
        writeln!(
            out,
            "endpoint,{addr},{},{},{},{},{},{},{},{},{},",
            e.role,
            e.connections,
            e.closed_actively,
            e.closed_passively,
            e.entered,
            e.peak,
            t(e.peak_ts),
            e.held_at_end,
            e.reused
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_in_the_registry() {
        assert_eq!(columns().count(), COLUMNS.len());
        assert!(header().starts_with("id,client,server,start_ts,end_ts,outcome,history"));
        assert!(header().ends_with("client_dup_acks,server_dup_acks,anomalies"));
    }
}
