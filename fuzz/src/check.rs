//! What must hold for any bytes given as a capture: the whole pipeline (read, decode, track,
//! analyse, every report format with the HTML report and its plots, every `--fail-on` rule,
//! every `--top-by` ranking) runs without
//! a panic, every frame is accounted for, every endpoint moves only along edges of the state
//! table, the JSON document is JSON, and the connections that
//! `jsonl` streams as they finish are the json document's connections.
//!
//! Shared by the fuzz targets and by `tests/fuzz_regressions.rs` (which includes this file), so
//! an input that once failed here is checked the same way by `cargo test`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

use tcpflow_audit::audit::{Audit, Config, Connections, Hooks, audit, audit_with};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::Connection;
use tcpflow_audit::conn::fsm::{Event, State, Step, step};
use tcpflow_audit::plot::PlotKind;
use tcpflow_audit::report::columns::{FIELDS, Kind as FieldKind};
use tcpflow_audit::report::html::{Html, plot_svg};
use tcpflow_audit::report::{self, Kind, Report, json};
use tcpflow_audit::rules::Rule;
use tcpflow_audit::select::{Selection, TopKey};
use tcpflow_audit::track::{SketchSelect, TimelineSelect};

/// Run every check on `bytes`; panics (with what failed) on the first broken promise. Returns
/// the audit, or `None` when the bytes are not a usable capture (an error, not a panic).
pub fn check_capture(bytes: &[u8]) -> Option<Audit> {
    let input = Input::Bytes(Arc::from(bytes));
    let config = Config {
        time_wait_s: 60.0,
        timeline: TimelineSelect::All,
        sketches: SketchSelect::All,
        ..Config::default()
    };
    let mut a = audit(&input, &config).ok()?;
    assert_eq!(
        a.tcp_segments + a.skipped_total(),
        a.capture.frames,
        "every frame is a TCP segment or skipped with a reason"
    );
    assert_eq!(a.connection_count, a.connections.len() as u64);
    for c in &a.connections {
        check_transitions(c);
    }
    let all = Selection::default().apply(&a.connections);

    let mut documents = Vec::new();
    for kind in [
        Kind::Table {
            timelines: true,
            layout: report::Layout {
                width: 100,
                all: true,
            },
        },
        Kind::TimeWait { width: 100 },
        Kind::TimeWaitJson,
        Kind::TimeWaitCsv,
        Kind::Json { pretty: true },
        Kind::Json { pretty: false },
        Kind::Jsonl,
        Kind::Csv,
    ] {
        let mut out = Vec::new();
        report::writer(kind)
            .write(&mut out, &a, &all)
            .expect("a report written to memory cannot fail");
        if let Kind::Json { .. } = kind {
            documents.push(out);
        }
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&documents[0]).expect("the json report is JSON");
    let compact: serde_json::Value =
        serde_json::from_slice(&documents[1]).expect("the compact json report is JSON");
    assert_eq!(doc, compact, "pretty and compact json say the same");
    check_html(&input, &config, &mut a, &all);

    check_rules(&a);
    for field in FIELDS.iter().filter(|f| f.kind != FieldKind::Text) {
        if let Some(key) = TopKey::parse(field.name) {
            let top = Selection {
                top: Some((3, key)),
                ..Selection::default()
            };
            assert!(top.apply(&a.connections).len() <= 3);
        }
    }

    check_streamed(&input, &config, &a, &doc);
    Some(a)
}

/// Each endpoint moved only along edges of the state table: every recorded transition starts
/// where the previous one ended and is a `(from, to)` that `fsm::step` allows for some event.
fn check_transitions(c: &Connection) {
    for end in &c.ends {
        let mut at = end.initial;
        for t in &end.transitions {
            assert_eq!(t.from, at, "connection {}: transitions chain", c.id);
            assert!(
                is_edge(t.from, t.to),
                "connection {}: {} -> {} is not an edge of the state table",
                c.id,
                t.from,
                t.to
            );
            at = t.to;
        }
        assert_eq!(
            at, end.state,
            "connection {}: the last transition is the state",
            c.id
        );
    }
}

fn is_edge(from: State, to: State) -> bool {
    Event::ALL.into_iter().any(
        |e| matches!(step(from, e), Step::Go(s) | Step::Unexpected { then: Some(s) } if s == to),
    )
}

/// The HTML report both ways (the connections of `--conn` and the most anomalous), drawn from
/// the sketches kept while reading and from those a second pass records (for connections that
/// kept none, as `--top` leaves them), and every plot of a few connections.
fn check_html(input: &Input, config: &Config, a: &mut Audit, all: &[usize]) {
    let ids: Vec<u32> = a.connections.ids().map(|(id, _)| id).take(4).collect();
    // The same connections without their sketches, as `--top` leaves them.
    let unsketched: Connections = a
        .connections
        .iter()
        .map(|c| {
            let mut c = Box::new(c.clone());
            c.sketch = None;
            c
        })
        .collect();
    let mut others = unsketched;
    for _ in 0..2 {
        for chosen in [&ids[..], &[]] {
            let html = Html {
                inputs: std::slice::from_ref(input),
                time_wait_s: config.time_wait_s,
                ids: chosen,
            };
            let mut out = Vec::new();
            html.write(&mut out, a, all)
                .expect("an HTML report written to memory cannot fail");
            assert!(out.starts_with(b"<!DOCTYPE html>"));
        }
        std::mem::swap(&mut a.connections, &mut others);
    }
    for kind in [
        PlotKind::Tsg,
        PlotKind::Ladder,
        PlotKind::Rtt,
        PlotKind::Throughput,
        PlotKind::TimeWait,
    ] {
        for &id in &ids {
            let _ = plot_svg(kind, a, Some(id));
        }
        let _ = plot_svg(kind, a, None);
    }
}

/// Every rule the registry allows, with each operator, on every connection and the capture.
fn check_rules(a: &Audit) {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    for rule in RULES.get_or_init(every_rule) {
        if rule.is_capture_wide() {
            let _ = rule.matches_capture(a);
        } else {
            for c in &a.connections {
                let _ = rule.matches_connection(c);
            }
        }
    }
}

fn every_rule() -> Vec<Rule> {
    let mut texts = Vec::new();
    for f in FIELDS {
        let scopes: &[&str] = if f.kind == FieldKind::PerSide {
            &["", "client.", "server."]
        } else {
            &[""]
        };
        for scope in scopes {
            if f.kind == FieldKind::Text {
                texts.push(format!("{scope}{}=SF", f.name));
                texts.push(format!("{scope}{}!=x", f.name));
            } else {
                for op in [">", ">=", "<", "<=", "=", "!="] {
                    texts.push(format!("{scope}{}{op}0", f.name));
                }
            }
        }
    }
    for field in [
        "connections",
        "skipped",
        "server_time_wait_peak",
        "time_wait_peak",
        "time_wait_held_at_end",
    ] {
        texts.push(format!("{field}>=1"));
    }
    texts
        .iter()
        .map(|text| Rule::parse(text).unwrap_or_else(|e| panic!("rule {text}: {e}")))
        .collect()
}

/// The audit again with the streaming hook: each finished connection's JSON line must be the
/// json document's connection of that id (when written with the document's timestamp digits).
fn check_streamed(input: &Input, config: &Config, a: &Audit, doc: &serde_json::Value) {
    let mut lines: Vec<(u32, u8, Vec<u8>)> = Vec::new();
    let mut finished = |c: &Connection, digits: u8| {
        let mut line = Vec::new();
        json::write_line(&mut line, c, digits, None).expect("a line written to memory cannot fail");
        lines.push((c.id, digits, line));
        ControlFlow::Continue(())
    };
    let hooks = Hooks {
        finished: Some(&mut finished),
        ..Hooks::default()
    };
    let streamed = audit_with(input, config, hooks).expect("the second reading of one capture");
    assert_eq!(streamed.connection_count, a.connection_count);
    assert!(streamed.connections.is_empty(), "the hook took every one");
    assert_eq!(lines.len() as u64, a.connection_count, "one line each");

    let by_id: BTreeMap<u64, &serde_json::Value> = doc["connections"]
        .as_array()
        .expect("connections is an array")
        .iter()
        .map(|c| (c["id"].as_u64().expect("a numeric id"), c))
        .collect();
    assert_eq!(by_id.len(), lines.len(), "ids are unique");
    for (id, digits, line) in &lines {
        assert_eq!(line.last(), Some(&b'\n'), "a line ends with a newline");
        let value: serde_json::Value = serde_json::from_slice(line).expect("a jsonl line is JSON");
        let in_doc = by_id
            .get(&u64::from(*id))
            .unwrap_or_else(|| panic!("connection {id} streamed but not in the document"));
        if *digits == a.capture.ts_digits {
            assert_eq!(
                &value, *in_doc,
                "connection {id}: the streamed line differs from the document"
            );
        } else {
            assert_eq!(value["client_address"], in_doc["client_address"]);
            assert_eq!(value["server_address"], in_doc["server_address"]);
        }
    }
}
