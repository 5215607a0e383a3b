//! The JSON document of SPEC.md §8 (`schema: "tcpflow-audit/1"`), and JSON Lines.

use std::str::FromStr;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Map, Number, Value, json};

use crate::analysis::rtt::{RFC_RTO_FLOOR_MS, RttEstimator};
use crate::audit::Audit;
use crate::conn::story::Detail;
use crate::conn::summary::{Party, Role};
use crate::conn::{Connection, Side};
use crate::decode::segment::TcpOptions;
use crate::time::Timestamp;

mod addr;
mod number;
mod time_wait;

use addr::Addr;
use number::{N3, Ts};

pub use time_wait::{TimeWaitJson, time_wait, time_wait_endpoint, time_wait_host};

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
pub fn document<'a>(a: &'a Audit, connections: &'a [usize]) -> Value {
    serde_json::to_value(Document::new(a, connections)).unwrap_or(Value::Null)
}

/// Write the document without holding it in memory: each connection is turned into JSON and
/// written in turn, so memory stays with the connections, not with the size of the output.
pub fn write_document<'a, W: std::io::Write>(
    mut out: W,
    a: &'a Audit,
    connections: &'a [usize],
    pretty: bool,
) -> serde_json::Result<()> {
    let doc = Document::new(a, connections);
    if pretty {
        return serde_json::to_writer_pretty(out, &doc);
    }
    let digits = a.capture.ts_digits;
    let io = serde_json::Error::io;
    out.write_all(b"{\"schema\":").map_err(io)?;
    serde_json::to_writer(&mut out, &doc.schema)?;
    out.write_all(b",\"capture\":").map_err(io)?;
    serde_json::to_writer(&mut out, &doc.capture)?;
    out.write_all(b",\"connections\":[").map_err(io)?;
    // Each connection is serialized into one buffer and written whole: serde writes a token
    // at a time, cheap into a Vec, not through the writer.
    let mut buf = Vec::with_capacity(8192);
    for (i, c) in a.connections.each_of(connections).enumerate() {
        buf.clear();
        buf.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(
            &mut buf,
            &ConnectionJson::new(&c, digits).with_label(a.label.as_deref()),
        )?;
        out.write_all(&buf).map_err(io)?;
    }
    if !connections.is_empty() {
        out.write_all(b"\n").map_err(io)?;
    }
    out.write_all(b"],\"time_wait\":").map_err(io)?;
    serde_json::to_writer(&mut out, &doc.time_wait)?;
    out.write_all(b",\"patterns\":").map_err(io)?;
    serde_json::to_writer(&mut out, &doc.patterns)?;
    out.write_all(b"}").map_err(io)
}

/// Field order is the order of SPEC.md §8.
#[derive(serde::Serialize)]
struct Document<'a> {
    schema: &'static str,
    capture: Value,
    connections: Connections<'a>,
    time_wait: TimeWaitJson<'a>,
    patterns: Value,
}

/// The selected connections, each thawed while it is written.
struct Connections<'a> {
    audit: &'a Audit,
    selected: &'a [usize],
    digits: u8,
    label: Option<&'a str>,
}

impl Serialize for Connections<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.selected.len()))?;
        for c in self.audit.connections.each_of(self.selected) {
            seq.serialize_element(&ConnectionJson::new(&c, self.digits).with_label(self.label))?;
        }
        seq.end()
    }
}

impl<'a> Document<'a> {
    fn new(a: &'a Audit, connections: &'a [usize]) -> Document<'a> {
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
                "duplicate_frames": a.capture.duplicate_frames,
                "evicted_connections": a.capture.evicted_connections,
                "warnings": a.capture.warnings,
                "files": a.capture.files.iter().map(|f| json!({
                    "file": f.file,
                    "format": f.format,
                    "gzip": f.gzip,
                    "big_endian": f.big_endian,
                    "sections": f.sections,
                    "interfaces": f.interfaces,
                    "frames": f.frames,
                    "warnings": f.warnings,
                })).collect::<Vec<_>>(),
            }),
            connections: Connections {
                audit: a,
                selected: connections,
                digits,
                label: a.label.as_deref(),
            },
            time_wait: time_wait(a, digits),
            patterns: a
                .patterns
                .iter()
                .map(|p| json!({ "kind": p.kind, "summary": p.summary, "connections": p.connections }))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct OptionsJson {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: bool,
}

fn options(o: Option<TcpOptions>) -> Option<OptionsJson> {
    o.map(|o| OptionsJson {
        mss: o.mss,
        window_scale: o.window_scale,
        sack_permitted: o.sack_permitted,
        timestamps: o.timestamps.is_some(),
    })
}

#[derive(Serialize)]
struct Negotiated {
    mss: Option<u16>,
    window_scaling: bool,
    sack: bool,
    timestamps: bool,
}

#[derive(Serialize)]
struct Handshake {
    client_isn: Option<u32>,
    server_isn: Option<u32>,
    syn_to_synack_ms: Option<N3>,
    synack_to_ack_ms: Option<N3>,
    rtt_ms: Option<N3>,
    valid: bool,
    synack_acks_isn_plus_1: Option<bool>,
    ack_acks_server_isn_plus_1: Option<bool>,
    syn_count: u32,
    client_options: Option<OptionsJson>,
    server_options: Option<OptionsJson>,
    negotiated: Option<Negotiated>,
}

#[derive(Serialize)]
struct Close {
    initiator: Option<&'static str>,
    time_wait: Option<&'static str>,
    reset_by: Option<&'static str>,
}

#[derive(Serialize)]
struct StateJson {
    state: &'static str,
    ts: Ts,
    frame: Option<u64>,
    inferred: bool,
}

#[derive(Serialize)]
struct EndpointJson<'a> {
    address: Addr,
    final_state: &'static str,
    states: States<'a>,
    #[serde(flatten)]
    stats: &'a crate::analysis::count::DirStats,
}

/// An RTT estimator's summary. Without samples it has no `rto_floor_ms`/`linux_rto_ms` keys;
/// `direction` only on the connection's main estimate.
#[derive(Serialize)]
struct RttJson {
    samples: u32,
    min_ms: Option<N3>,
    srtt_ms: Option<N3>,
    rttvar_ms: Option<N3>,
    rto_ms: Option<N3>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rto_floor_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linux_rto_ms: Option<Option<N3>>,
    max_ms: Option<N3>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    /// Only on the connection's main estimate: which samples it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    basis: Option<Option<&'static str>>,
}

fn rtt_json(e: RttEstimator, direction: Option<&'static str>) -> RttJson {
    let sampled = e.samples > 0;
    let val = |v: f64| sampled.then_some(N3(v));
    RttJson {
        samples: e.samples,
        min_ms: val(e.min_ms),
        srtt_ms: val(e.srtt_ms),
        rttvar_ms: val(e.rttvar_ms),
        rto_ms: if sampled {
            e.rto_ms(RFC_RTO_FLOOR_MS).map(N3)
        } else {
            None
        },
        rto_floor_ms: sampled.then_some(RFC_RTO_FLOOR_MS),
        linux_rto_ms: sampled.then(|| e.linux_rto_ms().map(N3)),
        max_ms: val(e.max_ms),
        direction,
        basis: None,
    }
}

#[derive(Serialize)]
struct RttByDirection {
    client: RttJson,
    server: RttJson,
}

#[derive(Serialize)]
struct ReuseJson<'a> {
    previous: u32,
    time_wait_holder: &'static str,
    held_for_s: N3,
    acceptable: bool,
    reason: &'a str,
    outcome: &'static str,
}

#[derive(Serialize)]
struct EventJson<'a> {
    frame: Option<u64>,
    ts: Ts,
    from: Option<&'static str>,
    kind: &'static str,
    detail: Detail<'a>,
}

/// One connection object (SPEC.md §8), borrowed from the connection: serialized straight to the
/// output, with no JSON tree built in between.
#[derive(Serialize)]
pub struct ConnectionJson<'a> {
    /// `--label`: who recorded it (a host name), so records of many hosts can be joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    id: u32,
    client_address: Addr,
    server_address: Addr,
    role_rule: &'static str,
    start_ts: Ts,
    end_ts: Ts,
    duration_s: N3,
    first_frame: u64,
    last_frame: u64,
    outcome: &'static str,
    history: String,
    capture_point: &'static str,
    handshake: Handshake,
    close: Close,
    client: EndpointJson<'a>,
    server: EndpointJson<'a>,
    rtt: RttJson,
    rtt_by_direction: RttByDirection,
    reuse: Option<ReuseJson<'a>>,
    events: Events<'a>,
    events_dropped: u32,
}

impl<'a> ConnectionJson<'a> {
    pub fn new(c: &'a Connection, digits: u8) -> ConnectionJson<'a> {
        let (cl, sv) = (c.client, c.server());
        let copt = c.dirs[cl].syn_options;
        let sopt = c.dirs[sv].syn_options;
        let negotiated = copt.zip(sopt).map(|(a, b)| Negotiated {
            mss: a.mss.zip(b.mss).map(|(x, y)| x.min(y)),
            window_scaling: a.window_scale.is_some() && b.window_scale.is_some(),
            sack: a.sack_permitted && b.sack_permitted,
            timestamps: a.timestamps.is_some() && b.timestamps.is_some(),
        });
        let (main_side, main, basis) = c.main_rtt();
        let rtt_dir = |side: Side| rtt_json(c.dirs[side].rtt.estimator, None);
        let (syn_synack, synack_ack) = (
            c.handshake.syn_to_synack_ms(),
            c.handshake.synack_to_ack_ms(),
        );
        let summary = c.summary();
        ConnectionJson {
            label: None,
            id: c.id,
            client_address: Addr(c.addrs[cl]),
            server_address: Addr(c.addrs[sv]),
            role_rule: c.role_rule.key(),
            start_ts: Ts(c.first_ts, digits),
            end_ts: Ts(c.last_ts, digits),
            duration_s: N3(summary.duration_s),
            first_frame: c.first_frame,
            last_frame: c.last_frame,
            outcome: summary.outcome.name(),
            history: c.history(),
            capture_point: c.handshake.capture_point.name(),
            handshake: Handshake {
                client_isn: c.dirs[cl].isn.map(|s| s.0),
                server_isn: c.dirs[sv].isn.map(|s| s.0),
                syn_to_synack_ms: syn_synack.map(N3),
                synack_to_ack_ms: synack_ack.map(N3),
                rtt_ms: summary.handshake_rtt_ms.map(N3),
                valid: summary.handshake_valid,
                synack_acks_isn_plus_1: c.handshake.synack_ack_ok,
                ack_acks_server_isn_plus_1: c.handshake.ack.map(|a| a.acks_isn_plus_1),
                syn_count: c.dirs[cl].syn_count,
                client_options: options(copt),
                server_options: options(sopt),
                negotiated,
            },
            close: Close {
                initiator: summary.close_initiator.map(Party::name),
                time_wait: summary.time_wait_holder.map(Party::name),
                reset_by: summary.reset_by.map(Role::name),
            },
            client: endpoint_json(c, cl, digits),
            server: endpoint_json(c, sv, digits),
            rtt: RttJson {
                basis: Some(basis.key()),
                ..rtt_json(main, Some(c.role_name(main_side)))
            },
            rtt_by_direction: RttByDirection {
                client: rtt_dir(cl),
                server: rtt_dir(sv),
            },
            reuse: c.reuse.as_ref().map(|r| ReuseJson {
                previous: r.previous,
                time_wait_holder: c.role_name(r.holder),
                held_for_s: N3(r.held_for_s),
                acceptable: r.acceptable,
                reason: &r.reason,
                outcome: r.outcome.name(),
            }),
            events: Events {
                story: c.story(),
                c,
                digits,
            },
            events_dropped: c.events.dropped(),
        }
    }
}

impl<'a> ConnectionJson<'a> {
    /// The object stamped with `--label`.
    pub fn with_label(mut self, label: Option<&'a str>) -> ConnectionJson<'a> {
        self.label = label;
        self
    }
}

/// One connection object as a JSON value (for tests and callers that inspect it).
pub fn connection(c: &Connection, digits: u8) -> Value {
    serde_json::to_value(ConnectionJson::new(c, digits)).unwrap_or(Value::Null)
}

fn endpoint_json(c: &Connection, side: Side, digits: u8) -> EndpointJson<'_> {
    EndpointJson {
        address: Addr(c.addrs[side]),
        final_state: c.ends[side].state.name(),
        states: States { c, side, digits },
        stats: &c.dirs[side].stats,
    }
}

/// An endpoint's states, the initial one first, each made into JSON as it is written: no list
/// is built per endpoint.
struct States<'a> {
    c: &'a Connection,
    side: Side,
    digits: u8,
}

impl Serialize for States<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (end, digits) = (&self.c.ends[self.side], self.digits);
        let mut seq = s.serialize_seq(Some(end.transitions.len() + 1))?;
        seq.serialize_element(&StateJson {
            state: end.initial.name(),
            ts: Ts(self.c.first_ts, digits),
            frame: None,
            inferred: end.initial_inferred,
        })?;
        for t in &end.transitions {
            seq.serialize_element(&StateJson {
                state: t.to.name(),
                ts: Ts(t.ts, digits),
                frame: t.frame,
                inferred: t.inferred,
            })?;
        }
        seq.end()
    }
}

/// The connection's story, each entry made into JSON as it is written.
struct Events<'a> {
    story: Vec<crate::conn::story::Entry<'a>>,
    c: &'a Connection,
    digits: u8,
}

impl Serialize for Events<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.story.len()))?;
        for e in &self.story {
            seq.serialize_element(&EventJson {
                frame: e.frame,
                ts: Ts(e.ts, self.digits),
                from: e.side.map(|s| self.c.role_name(s)),
                kind: e.kind.name(),
                detail: e.detail,
            })?;
        }
        seq.end()
    }
}

/// One connection as a JSON line (stamped with `label` when given), written whole; flushing it
/// for a reader downstream is the caller's choice (see `main`: where a reader follows).
pub fn write_line(
    out: &mut dyn std::io::Write,
    c: &Connection,
    digits: u8,
    label: Option<&str>,
) -> std::io::Result<()> {
    LINE.with_borrow_mut(|buf| {
        buf.clear();
        serde_json::to_writer(&mut *buf, &ConnectionJson::new(c, digits).with_label(label))?;
        buf.push(b'\n');
        out.write_all(buf)
    })
}

thread_local! {
    /// The buffer a JSON line is serialized into before it is written whole.
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
}
