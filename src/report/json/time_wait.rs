//! The `time_wait` section of the JSON document (also `time-wait --format json`), one record
//! at a time.

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Value, json};

use super::{num3, opt_num3, ts};
use crate::audit::Audit;
use crate::report::endpoint;
use crate::time_wait::{EndpointTimeWait, HostTimeWait};

/// The document's `time_wait` object (also `time-wait --format json`).
pub fn time_wait(a: &Audit, digits: u8) -> TimeWaitJson<'_> {
    TimeWaitJson { a, digits }
}

/// The `time_wait` section, written record by record as it is serialized: a capture where
/// every client port held TIME_WAIT has a record per port, never all built at once.
pub struct TimeWaitJson<'a> {
    a: &'a Audit,
    digits: u8,
}

impl Serialize for TimeWaitJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (tw, label, digits) = (&self.a.time_wait, self.a.label.as_deref(), self.digits);
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("duration_s", &tw.duration_s)?;
        m.serialize_entry(
            "by_endpoint",
            &Records(&tw.by_endpoint, &|e| time_wait_endpoint(e, digits, label)),
        )?;
        m.serialize_entry(
            "by_host",
            &Records(&tw.by_host, &|h| time_wait_host(h, digits, label)),
        )?;
        m.end()
    }
}

/// A list serialized one record at a time, each made into JSON only when its turn comes.
struct Records<'a, T>(&'a [T], &'a dyn Fn(&T) -> Value);

impl<T> Serialize for Records<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&(self.1)(r))?;
        }
        seq.end()
    }
}

/// `v` with `--label` first, when given.
fn labelled(mut v: Value, label: Option<&str>) -> Value {
    if let (Some(label), Value::Object(map)) = (label, &mut v) {
        map.shift_insert(0, "label".into(), Value::String(label.into()));
    }
    v
}

/// One host's TIME_WAIT record, stamped with `--label` when given.
pub fn time_wait_host(h: &HostTimeWait, digits: u8, label: Option<&str>) -> Value {
    labelled(tw_host_fields(h, digits), label)
}

fn tw_host_fields(h: &HostTimeWait, digits: u8) -> Value {
    json!({
        "host": h.host.to_string(),
        "role": h.role,
        "ports": h.ports,
        "connections": h.connections,
        "closed_actively": h.closed_actively,
        "entered": h.entered,
        "peak": h.peak,
        "peak_ts": h.peak_ts.map_or(Value::Null, |t| ts(t, digits)),
        "held_at_end": h.held_at_end,
        "rate_per_s": num3(h.rate_per_s),
        "busiest_peer": h.busiest_peer.map_or(Value::Null, |(p, n)| json!({"address": endpoint(p), "entered": n})),
        "diagnosis": h.diagnosis,
    })
}

/// One `time_wait.by_endpoint` record, stamped with `label` when given.
pub fn time_wait_endpoint(e: &EndpointTimeWait, digits: u8, label: Option<&str>) -> Value {
    labelled(tw_endpoint_fields(e, digits), label)
}

fn tw_endpoint_fields(e: &EndpointTimeWait, digits: u8) -> Value {
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
