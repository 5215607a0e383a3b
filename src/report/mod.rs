//! Reports: each output format is a writer over the finished [`Audit`], behind one small
//! trait, [`Report`], so the binary chooses one with [`writer`] and each is testable as bytes.
//!
//! [`columns`] is the registry of connection fields that the table, CSV, rules and rankings
//! share; [`table`] is the human report, [`timeline`] the per-connection ladder, [`json`] the
//! JSON document and JSON Lines, [`csv`] one row per connection.

pub mod columns;
pub mod csv;
pub mod graph_data;
pub mod html;
pub mod json;
pub mod table;
pub mod timeline;

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::audit::Audit;
use crate::conn::Connection;

/// `ip:port`, IPv6 as `[addr]:port` (SPEC.md §8).
pub fn endpoint(a: SocketAddr) -> String {
    a.to_string()
}

/// One output format.
pub trait Report {
    /// Write the report on `audit`, with `selected` the connections the filters kept.
    fn write(&self, out: &mut dyn Write, audit: &Audit, selected: &[&Connection])
    -> io::Result<()>;
}

/// The formats a caller can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Capture summary, connections table, patterns, TIME_WAIT; with `timelines`, the ladder of
    /// every selected connection.
    Table {
        timelines: bool,
    },
    /// Capture summary and the TIME_WAIT report only.
    TimeWait,
    /// The JSON document: pretty for a person, else compact with one connection per line.
    Json {
        pretty: bool,
    },
    Jsonl,
    Csv,
}

pub fn writer(kind: Kind) -> Box<dyn Report> {
    match kind {
        Kind::Table { timelines } => Box::new(Table { timelines }),
        Kind::TimeWait => Box::new(TimeWait),
        Kind::Json { pretty } => Box::new(Json { pretty }),
        Kind::Jsonl => Box::new(Jsonl),
        Kind::Csv => Box::new(Csv),
    }
}

pub struct Table {
    pub timelines: bool,
}

impl Report for Table {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[&Connection]) -> io::Result<()> {
        write!(out, "{}", table::summary(a))?;
        writeln!(out)?;
        if !selected.is_empty() {
            table::write_connections_table(out, a, selected)?;
            writeln!(out)?;
        }
        let patterns = table::patterns(a);
        if !patterns.is_empty() {
            writeln!(out)?;
            write!(out, "{patterns}")?;
        }
        if a.time_wait.by_endpoint.iter().any(|e| e.entered > 0) {
            writeln!(out)?;
            write!(out, "{}", table::time_wait(a, 10))?;
        }
        if self.timelines {
            for c in selected {
                writeln!(out)?;
                write!(out, "{}", timeline::render(c))?;
            }
        }
        Ok(())
    }
}

pub struct TimeWait;

impl Report for TimeWait {
    fn write(&self, out: &mut dyn Write, a: &Audit, _: &[&Connection]) -> io::Result<()> {
        write!(out, "{}", table::summary(a))?;
        writeln!(out)?;
        write!(out, "{}", table::time_wait(a, 20))
    }
}

pub struct Json {
    pub pretty: bool,
}

impl Report for Json {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[&Connection]) -> io::Result<()> {
        json::write_document(&mut *out, a, selected, self.pretty)?;
        writeln!(out)
    }
}

pub struct Jsonl;

impl Report for Jsonl {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[&Connection]) -> io::Result<()> {
        for c in selected {
            json::write_line(out, c, a.capture.ts_digits)?;
        }
        Ok(())
    }
}

pub struct Csv;

impl Report for Csv {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[&Connection]) -> io::Result<()> {
        writeln!(out, "{}", csv::header())?;
        for c in selected {
            writeln!(out, "{}", csv::row(c, a.capture.ts_digits))?;
        }
        Ok(())
    }
}
