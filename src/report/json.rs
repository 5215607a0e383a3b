//! The JSON document of SPEC.md §8 (`schema: "tcpflow-audit/1"`), and JSON Lines.

use std::str::FromStr;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value, json};

use crate::audit::Audit;
use crate::connection::{Connection, Side};
use crate::report::endpoint;
use crate::rtt::{LINUX_RTO_FLOOR_MS, RFC_RTO_FLOOR_MS, RttEstimator};
use crate::segment::TcpOptions;
use crate::time::Timestamp;
use crate::time_wait::EndpointTimeWait;

pub const SCHEMA: &str = "tcpflow-audit/1";

/// A timestamp as a JSON number with the capture's full precision (no float rounding).
pub fn ts(t: Timestamp, digits: u8) -> Value {
    Number::from_str(&t.display(digits).to_string())
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A quantity (ms or s) rounded to three decimals, so output is deterministic across runs.
pub fn num3(v: f64) -> Value {
    let rounded = (v * 1000.0).round() / 1000.0;
    Number::from_f64(rounded)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn opt_num3(v: Option<f64>) -> Value {
    v.map_or(Value::Null, num3)
}

/// The whole document as a value (for tests and callers that want to inspect it).
pub fn document(a: &Audit, connections: &[&Connection]) -> Value {
    serde_json::to_value(Document::new(a, connections)).unwrap_or(Value::Null)
}

/// Write the document without holding it in memory: each connection is turned into JSON and
/// written in turn, so memory stays with the connections, not with the size of the output.
pub fn write_document<W: std::io::Write>(
    out: W,
    a: &Audit,
    connections: &[&Connection],
) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(out, &Document::new(a, connections))
}

/// Field order is the order of SPEC.md §8.
#[derive(serde::Serialize)]
struct Document<'a> {
    schema: &'static str,
    capture: Value,
    connections: Connections<'a>,
    time_wait: Value,
    patterns: Value,
}

struct Connections<'a> {
    conns: &'a [&'a Connection],
    digits: u8,
}

impl Serialize for Connections<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.conns.len()))?;
        for c in self.conns {
            seq.serialize_element(&connection(c, self.digits))?;
        }
        seq.end()
    }
}

impl<'a> Document<'a> {
    fn new(a: &Audit, connections: &'a [&'a Connection]) -> Document<'a> {
        let digits = a.capture.ts_digits;
        let skipped: Map<String, Value> = a
            .skipped_by_key()
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let skipped_detail: Vec<Value> = a
            .skipped
            .iter()
            .map(|(reason, n)| json!({ "reason": reason.key(), "what": reason.to_string(), "count": n }))
            .collect();
        Document {
            schema: SCHEMA,
            capture: json!({
                "file": a.capture.file,
                "format": a.capture.format,
                "gzip": a.capture.gzip,
                "big_endian": a.capture.big_endian,
                "sections": a.capture.sections,
                "interfaces": a.capture.interfaces,
                "packets": a.capture.frames,
                "tcp_segments": a.tcp_segments,
                "skipped": skipped,
                "skipped_detail": skipped_detail,
                "first_ts": a.first_ts.map_or(Value::Null, |t| ts(t, digits)),
                "last_ts": a.last_ts.map_or(Value::Null, |t| ts(t, digits)),
                "warnings": a.capture.warnings,
            }),
            connections: Connections { conns: connections, digits },
            time_wait: time_wait(a, digits),
            patterns: a
                .patterns
                .iter()
                .map(|p| json!({ "kind": p.kind, "summary": p.summary, "connections": p.connections }))
                .collect(),
        }
    }
}

fn options(o: Option<TcpOptions>) -> Value {
    match o {
        None => Value::Null,
        Some(o) => json!({
            "mss": o.mss,
            "window_scale": o.window_scale,
            "sack_permitted": o.sack_permitted,
            "timestamps": o.timestamps.is_some(),
        }),
    }
}

pub fn connection(c: &Connection, digits: u8) -> Value {
    let (cl, sv) = (c.client, c.server());
    let copt = c.dirs[cl].syn_options;
    let sopt = c.dirs[sv].syn_options;
    let negotiated = match (copt, sopt) {
        (Some(a), Some(b)) => json!({
            "mss": a.mss.zip(b.mss).map(|(x, y)| x.min(y)),
            "window_scaling": a.window_scale.is_some() && b.window_scale.is_some(),
            "sack": a.sack_permitted && b.sack_permitted,
            "timestamps": a.timestamps.is_some() && b.timestamps.is_some(),
        }),
        _ => Value::Null,
    };
    let rtt_dir = |side: Side| rtt(c.dirs[side].rtt.estimator);
    let (main_side, main) = c.main_rtt();
    let mut rtt_main = rtt(main);
    if let Value::Object(m) = &mut rtt_main {
        m.insert("direction".into(), json!(c.role_name(main_side)));
    }
    json!({
        "id": c.id,
        "client_address": endpoint(c.addrs[cl]),
        "server_address": endpoint(c.addrs[sv]),
        "role_rule": c.role_rule.key(),
        "start_ts": ts(c.first_ts, digits),
        "end_ts": ts(c.last_ts, digits),
        "duration_s": num3(c.last_ts.secs_since(c.first_ts)),
        "first_frame": c.first_frame,
        "last_frame": c.last_frame,
        "outcome": c.conn_state(),
        "history": c.history(),
        "capture_point": c.capture_point.name(),
        "handshake": {
            "client_isn": c.dirs[cl].isn.map(|s| s.0),
            "server_isn": c.dirs[sv].isn.map(|s| s.0),
            "syn_to_synack_ms": opt_num3(c.syn_to_synack_ms()),
            "synack_to_ack_ms": opt_num3(c.synack_to_ack_ms()),
            "rtt_ms": opt_num3(c.syn_to_synack_ms().zip(c.synack_to_ack_ms()).map(|(a, b)| a + b)),
            "valid": c.handshake_valid(),
            "synack_acks_isn_plus_1": c.synack_ack_ok,
            "ack_acks_server_isn_plus_1": c.handshake_ack.map(|(_, _, ok)| ok),
            "syn_count": c.dirs[cl].syn_count,
            "client_options": options(copt),
            "server_options": options(sopt),
            "negotiated": negotiated,
        },
        "close": {
            "initiator": c.close_initiator(),
            "time_wait": c.time_wait_holder(),
            "reset_by": c.reset_by(),
        },
        "client": endpoint_json(c, cl, digits),
        "server": endpoint_json(c, sv, digits),
        "rtt": rtt_main,
        "rtt_by_direction": { "client": rtt_dir(cl), "server": rtt_dir(sv) },
        "reuse": c.reuse.as_ref().map(|r| json!({
            "previous": r.previous,
            "time_wait_holder": c.role_name(r.holder),
            "held_for_s": num3(r.held_for_s),
            "acceptable": r.acceptable,
            "reason": r.reason,
            "outcome": r.outcome,
        })),
        "events": c.events.iter().map(|e| json!({
            "frame": e.frame,
            "ts": ts(e.ts, digits),
            "from": e.side.map(|s| c.role_name(s)),
            "kind": e.kind.name(),
            "detail": e.detail,
        })).collect::<Vec<_>>(),
        "events_dropped": c.events_dropped,
    })
}

fn endpoint_json(c: &Connection, side: Side, digits: u8) -> Value {
    let end = &c.ends[side];
    let mut states = vec![
        json!({ "state": end.initial.name(), "ts": ts(c.first_ts, digits), "frame": Value::Null, "inferred": end.initial_inferred }),
    ];
    states.extend(end.transitions.iter().map(|t| {
        json!({ "state": t.to.name(), "ts": ts(t.ts, digits), "frame": t.frame, "inferred": t.inferred })
    }));
    let mut m = Map::new();
    m.insert("address".into(), json!(endpoint(c.addrs[side])));
    m.insert("final_state".into(), json!(end.state.name()));
    m.insert("states".into(), Value::Array(states));
    if let Value::Object(stats) = serde_json::to_value(c.dirs[side].stats).unwrap_or(Value::Null) {
        m.extend(stats);
    }
    Value::Object(m)
}

fn rtt(e: RttEstimator) -> Value {
    if e.samples == 0 {
        return json!({ "samples": 0, "min_ms": null, "srtt_ms": null, "rttvar_ms": null, "rto_ms": null, "max_ms": null });
    }
    json!({
        "samples": e.samples,
        "min_ms": num3(e.min_ms),
        "srtt_ms": num3(e.srtt_ms),
        "rttvar_ms": num3(e.rttvar_ms),
        "rto_ms": opt_num3(e.rto_ms(RFC_RTO_FLOOR_MS)),
        "rto_floor_ms": RFC_RTO_FLOOR_MS,
        "linux_rto_ms": opt_num3(e.rto_ms(LINUX_RTO_FLOOR_MS)),
        "max_ms": num3(e.max_ms),
    })
}

fn time_wait(a: &Audit, digits: u8) -> Value {
    json!({
        "duration_s": a.time_wait.duration_s,
        "by_endpoint": a.time_wait.by_endpoint.iter().map(|e| tw_endpoint(e, digits)).collect::<Vec<_>>(),
    })
}

fn tw_endpoint(e: &EndpointTimeWait, digits: u8) -> Value {
    json!({
        "endpoint": endpoint(e.endpoint),
        "role": e.role,
        "connections": e.connections,
        "closed_actively": e.closed_actively,
        "closed_passively": e.closed_passively,
        "entered": e.entered,
        "peak": e.peak,
        "peak_ts": e.peak_ts.map_or(Value::Null, |t| ts(t, digits)),
        "held_at_end": e.held_at_end,
        "reused": e.reused,
        "reused_acceptable": e.reused_acceptable,
        "peer_ports": e.peer_ports,
        "fastest_port_reuse_s": opt_num3(e.fastest_port_reuse_s),
        "series": e.series,
        "diagnosis": e.diagnosis,
    })
}
