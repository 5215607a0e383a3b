//! Reports: each output format is a writer over the finished [`Audit`], behind one small
//! trait, [`Report`], so the binary chooses one with [`writer`] and each is testable as bytes.
//!
//! [`columns`] is the registry of connection fields that the table, CSV, rules and rankings
//! share; [`table`] is the human report (with [`findings`], the capture-wide totals, and
//! [`fit`], tables that fit a width), [`timeline`] the per-connection ladder, [`json`] the
//! JSON document and JSON Lines, [`csv`] one row per connection.

pub mod columns;
pub mod csv;
pub mod findings;
pub mod fit;
pub mod graph_data;
pub mod html;
pub mod json;
pub mod parquet;
pub mod stdout;
pub mod table;
pub mod timeline;

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::audit::Audit;
pub use table::Layout;

/// `ip:port`, IPv6 as `[addr]:port` (SPEC.md §8).
pub fn endpoint(a: SocketAddr) -> String {
    a.to_string()
}

/// One output format.
pub trait Report {
    /// Write the report on `audit`, with `selected` the connections the filters kept (their
    /// places in [`Audit::connections`], in report order).
    fn write(&self, out: &mut dyn Write, audit: &Audit, selected: &[usize]) -> io::Result<()>;
}

/// The formats a caller can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Capture summary, connections table, patterns, TIME_WAIT; with `timelines`, the ladder of
    /// every selected connection.
    Table {
        timelines: bool,
        layout: Layout,
    },
    /// Capture summary and the TIME_WAIT report only.
    TimeWait {
        width: usize,
    },
    /// The JSON document's `time_wait` object.
    TimeWaitJson,
    /// One row per host, then per endpoint, of the TIME_WAIT report.
    TimeWaitCsv,
    /// The JSON document: pretty for a person, else compact with one connection per line.
    Json {
        pretty: bool,
    },
    Jsonl,
    Csv,
}

pub fn writer(kind: Kind) -> Box<dyn Report> {
    match kind {
        Kind::Table { timelines, layout } => Box::new(Table { timelines, layout }),
        Kind::TimeWait { width } => Box::new(TimeWait { width }),
        Kind::TimeWaitJson => Box::new(TimeWaitJson),
        Kind::TimeWaitCsv => Box::new(TimeWaitCsv),
        Kind::Json { pretty } => Box::new(Json { pretty }),
        Kind::Jsonl => Box::new(Jsonl),
        Kind::Csv => Box::new(Csv),
    }
}

pub struct Table {
    pub timelines: bool,
    pub layout: Layout,
}

impl Report for Table {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[usize]) -> io::Result<()> {
        let width = self.layout.width.max(table::MIN_WIDTH);
        write!(out, "{}", table::summary(a, width))?;
        writeln!(out)?;
        let all = a.connections.findings();
        write!(out, "{}", findings::render(&all, width))?;
        let patterns = table::patterns(a, width);
        if !patterns.is_empty() {
            writeln!(out)?;
            write!(out, "{patterns}")?;
        }
        if a.time_wait.by_endpoint.iter().any(|e| e.entered > 0) {
            writeln!(out)?;
            write!(out, "{}", table::time_wait(a, 5, width))?;
        }
        if !selected.is_empty() {
            writeln!(out)?;
            table::write_connections_table(out, a, selected, self.layout)?;
        }
        if self.timelines {
            for c in a.connections.each_of(selected) {
                writeln!(out)?;
                write!(out, "{}", timeline::render(&c))?;
            }
        }
        Ok(())
    }
}

pub struct TimeWait {
    pub width: usize,
}

impl Report for TimeWait {
    fn write(&self, out: &mut dyn Write, a: &Audit, _: &[usize]) -> io::Result<()> {
        write!(
            out,
            "{}",
            table::summary(a, self.width.max(table::MIN_WIDTH))
        )?;
        writeln!(out)?;
        write!(out, "{}", table::time_wait(a, 20, self.width))
    }
}

pub struct TimeWaitJson;

impl Report for TimeWaitJson {
    fn write(&self, out: &mut dyn Write, a: &Audit, _: &[usize]) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &json::time_wait(a, a.capture.ts_digits))?;
        writeln!(out)
    }
}

pub struct TimeWaitCsv;

impl Report for TimeWaitCsv {
    fn write(&self, out: &mut dyn Write, a: &Audit, _: &[usize]) -> io::Result<()> {
        csv::write_time_wait(out, a)
    }
}

pub struct Json {
    pub pretty: bool,
}

impl Report for Json {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[usize]) -> io::Result<()> {
        json::write_document(&mut *out, a, selected, self.pretty)?;
        writeln!(out)
    }
}

pub struct Jsonl;

impl Report for Jsonl {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[usize]) -> io::Result<()> {
        for c in a.connections.each_of(selected) {
            json::write_line(out, &c, a.capture.ts_digits, a.label.as_deref())?;
        }
        Ok(())
    }
}

pub struct Csv;

impl Report for Csv {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[usize]) -> io::Result<()> {
        // `--label` comes first, as its own column.
        let label = a.label.as_deref().map(|l| format!("{},", csv::cell(l)));
        let (head, stamp) = match &label {
            Some(l) => ("label,", l.as_str()),
            None => ("", ""),
        };
        writeln!(out, "{head}{}", csv::header())?;
        for c in a.connections.each_of(selected) {
            writeln!(out, "{stamp}{}", csv::row(&c, a.capture.ts_digits))?;
        }
        Ok(())
    }
}
