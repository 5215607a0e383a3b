//! Parquet (`--format parquet -o DIR`), for the engines people already run (DuckDB, Spark,
//! Trino, pandas): `connections.parquet` (one row per connection), `time_wait_endpoints.parquet`
//! and `time_wait_hosts.parquet`.
//!
//! A connection row holds the fields of its jsonl line, flattened: one column per leaf, named by
//! its path joined with `_` (`handshake.client_options.mss` is `handshake_client_options_mss`),
//! holding the same value; the lists (`client_states`, `server_states`, `events`) are JSON text.
//! Added for engines: `label`, the addresses split into `client_ip`/`client_port`/`server_ip`/
//! `server_port`, and `start_time`/`end_time` as UTC timestamps (µs). [`CONNECTION_COLUMNS`] is
//! the list; a test holds it to every field of the jsonl lines.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};

use crate::audit::Audit;
use crate::conn::Connection;
use crate::report::json::{self, ConnectionJson};
use crate::time::Timestamp;

/// Rows buffered before they are written as a row group.
const BATCH_ROWS: usize = 8192;

/// A column's type in the Parquet file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// INT64.
    Int,
    /// DOUBLE.
    Float,
    Bool,
    /// UTF-8 text.
    Text,
    /// A JSON array or object as UTF-8 text.
    Json,
    /// TIMESTAMP (µs, UTC); its value is given as microseconds since the epoch.
    Time,
    /// LIST of INT64.
    IntList,
    /// LIST of UTF-8 text.
    TextList,
}

impl Type {
    fn data_type(self) -> DataType {
        match self {
            Type::Int => DataType::Int64,
            Type::Float => DataType::Float64,
            Type::Bool => DataType::Boolean,
            Type::Text | Type::Json => DataType::Utf8,
            Type::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Type::IntList => DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            Type::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

/// Where a column's value comes from: a JSON pointer into the record's JSON object, or a
/// function of the record.
#[derive(Clone, Copy)]
pub enum Source<T: 'static> {
    Pointer(&'static str),
    Record(fn(&T) -> Value),
}

pub struct Column<T: 'static> {
    pub name: &'static str,
    pub ty: Type,
    pub from: Source<T>,
}

/// What a connection column reads: its JSON object and what the derived columns need.
pub struct ConnRecord {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub json: Value,
}

const fn col<T>(name: &'static str, ty: Type, pointer: &'static str) -> Column<T> {
    Column {
        name,
        ty,
        from: Source::Pointer(pointer),
    }
}

const fn derived<T>(name: &'static str, ty: Type, f: fn(&T) -> Value) -> Column<T> {
    Column {
        name,
        ty,
        from: Source::Record(f),
    }
}

fn micros(t: Timestamp) -> Value {
    json!(t.nanos().div_euclid(1000))
}

fn ip(ip: IpAddr) -> Value {
    Value::String(ip.to_string())
}

/// The columns of `connections.parquet`, in order.
pub static CONNECTION_COLUMNS: &[Column<ConnRecord>] = &[
    col("label", Type::Text, "/label"),
    col("id", Type::Int, "/id"),
    derived("client_ip", Type::Text, |r| ip(r.client.ip())),
    derived("client_port", Type::Int, |r| json!(r.client.port())),
    derived("server_ip", Type::Text, |r| ip(r.server.ip())),
    derived("server_port", Type::Int, |r| json!(r.server.port())),
    derived("start_time", Type::Time, |r| micros(r.first_ts)),
    derived("end_time", Type::Time, |r| micros(r.last_ts)),
    col("client_address", Type::Text, "/client_address"),
    col("server_address", Type::Text, "/server_address"),
    col("role_rule", Type::Text, "/role_rule"),
    col("start_ts", Type::Float, "/start_ts"),
    col("end_ts", Type::Float, "/end_ts"),
    col("duration_s", Type::Float, "/duration_s"),
    col("first_frame", Type::Int, "/first_frame"),
    col("last_frame", Type::Int, "/last_frame"),
    col("outcome", Type::Text, "/outcome"),
    col("history", Type::Text, "/history"),
    col("capture_point", Type::Text, "/capture_point"),
    col("handshake_client_isn", Type::Int, "/handshake/client_isn"),
    col("handshake_server_isn", Type::Int, "/handshake/server_isn"),
    col(
        "handshake_syn_to_synack_ms",
        Type::Float,
        "/handshake/syn_to_synack_ms",
    ),
    col(
        "handshake_synack_to_ack_ms",
        Type::Float,
        "/handshake/synack_to_ack_ms",
    ),
    col("handshake_rtt_ms", Type::Float, "/handshake/rtt_ms"),
    col("handshake_valid", Type::Bool, "/handshake/valid"),
    col(
        "handshake_synack_acks_isn_plus_1",
        Type::Bool,
        "/handshake/synack_acks_isn_plus_1",
    ),
    col(
        "handshake_ack_acks_server_isn_plus_1",
        Type::Bool,
        "/handshake/ack_acks_server_isn_plus_1",
    ),
    col("handshake_syn_count", Type::Int, "/handshake/syn_count"),
    col(
        "handshake_client_options_mss",
        Type::Int,
        "/handshake/client_options/mss",
    ),
    col(
        "handshake_client_options_window_scale",
        Type::Int,
        "/handshake/client_options/window_scale",
    ),
    col(
        "handshake_client_options_sack_permitted",
        Type::Bool,
        "/handshake/client_options/sack_permitted",
    ),
    col(
        "handshake_client_options_timestamps",
        Type::Bool,
        "/handshake/client_options/timestamps",
    ),
    col(
        "handshake_server_options_mss",
        Type::Int,
        "/handshake/server_options/mss",
    ),
    col(
        "handshake_server_options_window_scale",
        Type::Int,
        "/handshake/server_options/window_scale",
    ),
    col(
        "handshake_server_options_sack_permitted",
        Type::Bool,
        "/handshake/server_options/sack_permitted",
    ),
    col(
        "handshake_server_options_timestamps",
        Type::Bool,
        "/handshake/server_options/timestamps",
    ),
    col(
        "handshake_negotiated_mss",
        Type::Int,
        "/handshake/negotiated/mss",
    ),
    col(
        "handshake_negotiated_window_scaling",
        Type::Bool,
        "/handshake/negotiated/window_scaling",
    ),
    col(
        "handshake_negotiated_sack",
        Type::Bool,
        "/handshake/negotiated/sack",
    ),
    col(
        "handshake_negotiated_timestamps",
        Type::Bool,
        "/handshake/negotiated/timestamps",
    ),
    col("close_initiator", Type::Text, "/close/initiator"),
    col("close_time_wait", Type::Text, "/close/time_wait"),
    col("close_reset_by", Type::Text, "/close/reset_by"),
    col("client_final_state", Type::Text, "/client/final_state"),
    col("client_states", Type::Json, "/client/states"),
    col("client_packets", Type::Int, "/client/packets"),
    col("client_payload_bytes", Type::Int, "/client/payload_bytes"),
    col(
        "client_retransmissions",
        Type::Int,
        "/client/retransmissions",
    ),
    col(
        "client_fast_retransmissions",
        Type::Int,
        "/client/fast_retransmissions",
    ),
    col(
        "client_rto_retransmissions",
        Type::Int,
        "/client/rto_retransmissions",
    ),
    col(
        "client_after_rto_retransmissions",
        Type::Int,
        "/client/after_rto_retransmissions",
    ),
    col(
        "client_tail_loss_probes",
        Type::Int,
        "/client/tail_loss_probes",
    ),
    col(
        "client_spurious_retransmissions",
        Type::Int,
        "/client/spurious_retransmissions",
    ),
    col(
        "client_syn_retransmissions",
        Type::Int,
        "/client/syn_retransmissions",
    ),
    col(
        "client_fin_retransmissions",
        Type::Int,
        "/client/fin_retransmissions",
    ),
    col(
        "client_retransmitted_bytes",
        Type::Int,
        "/client/retransmitted_bytes",
    ),
    col("client_out_of_order", Type::Int, "/client/out_of_order"),
    col("client_dup_acks", Type::Int, "/client/dup_acks"),
    col(
        "client_triple_dup_acks",
        Type::Int,
        "/client/triple_dup_acks",
    ),
    col("client_zero_window", Type::Int, "/client/zero_window"),
    col(
        "client_zero_window_episodes",
        Type::Int,
        "/client/zero_window_episodes",
    ),
    col(
        "client_zero_window_probes",
        Type::Int,
        "/client/zero_window_probes",
    ),
    col(
        "client_zero_window_probe_acks",
        Type::Int,
        "/client/zero_window_probe_acks",
    ),
    col("client_keep_alives", Type::Int, "/client/keep_alives"),
    col(
        "client_keep_alive_acks",
        Type::Int,
        "/client/keep_alive_acks",
    ),
    col("client_window_updates", Type::Int, "/client/window_updates"),
    col("client_window_full", Type::Int, "/client/window_full"),
    col(
        "client_prev_segment_not_captured",
        Type::Int,
        "/client/prev_segment_not_captured",
    ),
    col("client_acked_unseen", Type::Int, "/client/acked_unseen"),
    col("client_dsacks_sent", Type::Int, "/client/dsacks_sent"),
    col(
        "client_dsacked_retransmissions",
        Type::Int,
        "/client/dsacked_retransmissions",
    ),
    col("client_resets", Type::Int, "/client/resets"),
    col("server_final_state", Type::Text, "/server/final_state"),
    col("server_states", Type::Json, "/server/states"),
    col("server_packets", Type::Int, "/server/packets"),
    col("server_payload_bytes", Type::Int, "/server/payload_bytes"),
    col(
        "server_retransmissions",
        Type::Int,
        "/server/retransmissions",
    ),
    col(
        "server_fast_retransmissions",
        Type::Int,
        "/server/fast_retransmissions",
    ),
    col(
        "server_rto_retransmissions",
        Type::Int,
        "/server/rto_retransmissions",
    ),
    col(
        "server_after_rto_retransmissions",
        Type::Int,
        "/server/after_rto_retransmissions",
    ),
    col(
        "server_tail_loss_probes",
        Type::Int,
        "/server/tail_loss_probes",
    ),
    col(
        "server_spurious_retransmissions",
        Type::Int,
        "/server/spurious_retransmissions",
    ),
    col(
        "server_syn_retransmissions",
        Type::Int,
        "/server/syn_retransmissions",
    ),
    col(
        "server_fin_retransmissions",
        Type::Int,
        "/server/fin_retransmissions",
    ),
    col(
        "server_retransmitted_bytes",
        Type::Int,
        "/server/retransmitted_bytes",
    ),
    col("server_out_of_order", Type::Int, "/server/out_of_order"),
    col("server_dup_acks", Type::Int, "/server/dup_acks"),
    col(
        "server_triple_dup_acks",
        Type::Int,
        "/server/triple_dup_acks",
    ),
    col("server_zero_window", Type::Int, "/server/zero_window"),
    col(
        "server_zero_window_episodes",
        Type::Int,
        "/server/zero_window_episodes",
    ),
    col(
        "server_zero_window_probes",
        Type::Int,
        "/server/zero_window_probes",
    ),
    col(
        "server_zero_window_probe_acks",
        Type::Int,
        "/server/zero_window_probe_acks",
    ),
    col("server_keep_alives", Type::Int, "/server/keep_alives"),
    col(
        "server_keep_alive_acks",
        Type::Int,
        "/server/keep_alive_acks",
    ),
    col("server_window_updates", Type::Int, "/server/window_updates"),
    col("server_window_full", Type::Int, "/server/window_full"),
    col(
        "server_prev_segment_not_captured",
        Type::Int,
        "/server/prev_segment_not_captured",
    ),
    col("server_acked_unseen", Type::Int, "/server/acked_unseen"),
    col("server_dsacks_sent", Type::Int, "/server/dsacks_sent"),
    col(
        "server_dsacked_retransmissions",
        Type::Int,
        "/server/dsacked_retransmissions",
    ),
    col("server_resets", Type::Int, "/server/resets"),
    col("rtt_samples", Type::Int, "/rtt/samples"),
    col("rtt_min_ms", Type::Float, "/rtt/min_ms"),
    col("rtt_srtt_ms", Type::Float, "/rtt/srtt_ms"),
    col("rtt_rttvar_ms", Type::Float, "/rtt/rttvar_ms"),
    col("rtt_rto_ms", Type::Float, "/rtt/rto_ms"),
    col("rtt_rto_floor_ms", Type::Float, "/rtt/rto_floor_ms"),
    col("rtt_linux_rto_ms", Type::Float, "/rtt/linux_rto_ms"),
    col("rtt_max_ms", Type::Float, "/rtt/max_ms"),
    col("rtt_direction", Type::Text, "/rtt/direction"),
    col("rtt_basis", Type::Text, "/rtt/basis"),
    col(
        "rtt_by_direction_client_samples",
        Type::Int,
        "/rtt_by_direction/client/samples",
    ),
    col(
        "rtt_by_direction_client_min_ms",
        Type::Float,
        "/rtt_by_direction/client/min_ms",
    ),
    col(
        "rtt_by_direction_client_srtt_ms",
        Type::Float,
        "/rtt_by_direction/client/srtt_ms",
    ),
    col(
        "rtt_by_direction_client_rttvar_ms",
        Type::Float,
        "/rtt_by_direction/client/rttvar_ms",
    ),
    col(
        "rtt_by_direction_client_rto_ms",
        Type::Float,
        "/rtt_by_direction/client/rto_ms",
    ),
    col(
        "rtt_by_direction_client_rto_floor_ms",
        Type::Float,
        "/rtt_by_direction/client/rto_floor_ms",
    ),
    col(
        "rtt_by_direction_client_linux_rto_ms",
        Type::Float,
        "/rtt_by_direction/client/linux_rto_ms",
    ),
    col(
        "rtt_by_direction_client_max_ms",
        Type::Float,
        "/rtt_by_direction/client/max_ms",
    ),
    col(
        "rtt_by_direction_server_samples",
        Type::Int,
        "/rtt_by_direction/server/samples",
    ),
    col(
        "rtt_by_direction_server_min_ms",
        Type::Float,
        "/rtt_by_direction/server/min_ms",
    ),
    col(
        "rtt_by_direction_server_srtt_ms",
        Type::Float,
        "/rtt_by_direction/server/srtt_ms",
    ),
    col(
        "rtt_by_direction_server_rttvar_ms",
        Type::Float,
        "/rtt_by_direction/server/rttvar_ms",
    ),
    col(
        "rtt_by_direction_server_rto_ms",
        Type::Float,
        "/rtt_by_direction/server/rto_ms",
    ),
    col(
        "rtt_by_direction_server_rto_floor_ms",
        Type::Float,
        "/rtt_by_direction/server/rto_floor_ms",
    ),
    col(
        "rtt_by_direction_server_linux_rto_ms",
        Type::Float,
        "/rtt_by_direction/server/linux_rto_ms",
    ),
    col(
        "rtt_by_direction_server_max_ms",
        Type::Float,
        "/rtt_by_direction/server/max_ms",
    ),
    col("reuse_previous", Type::Int, "/reuse/previous"),
    col(
        "reuse_time_wait_holder",
        Type::Text,
        "/reuse/time_wait_holder",
    ),
    col("reuse_held_for_s", Type::Float, "/reuse/held_for_s"),
    col("reuse_acceptable", Type::Bool, "/reuse/acceptable"),
    col("reuse_reason", Type::Text, "/reuse/reason"),
    col("reuse_outcome", Type::Text, "/reuse/outcome"),
    col("events", Type::Json, "/events"),
    col("events_dropped", Type::Int, "/events_dropped"),
];

/// The columns of `time_wait_endpoints.parquet`: the fields of JSON `time_wait.by_endpoint`,
/// with the endpoint split, the peak's time as a timestamp and the TIME_WAIT duration.
pub static ENDPOINT_COLUMNS: &[Column<EndpointRecord>] = &[
    col("label", Type::Text, "/label"),
    col("endpoint", Type::Text, "/endpoint"),
    derived("ip", Type::Text, |r| ip(r.endpoint.ip())),
    derived("port", Type::Int, |r| json!(r.endpoint.port())),
    col("role", Type::Text, "/role"),
    col("connections", Type::Int, "/connections"),
    col("closed_actively", Type::Int, "/closed_actively"),
    col("closed_passively", Type::Int, "/closed_passively"),
    col("entered", Type::Int, "/entered"),
    col("peak", Type::Int, "/peak"),
    col("peak_ts", Type::Float, "/peak_ts"),
    derived("peak_time", Type::Time, |r| {
        r.peak_ts.map_or(Value::Null, micros)
    }),
    col("held_at_end", Type::Int, "/held_at_end"),
    col("reused", Type::Int, "/reused"),
    col("reused_acceptable", Type::Int, "/reused_acceptable"),
    col("peer_ports", Type::Int, "/peer_ports"),
    col("fastest_port_reuse_s", Type::Float, "/fastest_port_reuse_s"),
    col("series", Type::IntList, "/series"),
    col("diagnosis", Type::TextList, "/diagnosis"),
    derived("time_wait_duration_s", Type::Float, |r| json!(r.duration_s)),
];

/// What an endpoint column reads.
pub struct EndpointRecord {
    pub endpoint: SocketAddr,
    pub peak_ts: Option<Timestamp>,
    pub duration_s: f64,
    pub json: Value,
}

/// The columns of `time_wait_hosts.parquet`: the endpoint records added up per IP address.
pub static HOST_COLUMNS: &[Column<HostRecord>] = &[
    col("label", Type::Text, "/label"),
    col("host", Type::Text, "/host"),
    col("role", Type::Text, "/role"),
    col("endpoints", Type::Int, "/endpoints"),
    col("connections", Type::Int, "/connections"),
    col("closed_actively", Type::Int, "/closed_actively"),
    col("closed_passively", Type::Int, "/closed_passively"),
    col("entered", Type::Int, "/entered"),
    col("peak_max_endpoint", Type::Int, "/peak_max_endpoint"),
    col("peak_sum_endpoints", Type::Int, "/peak_sum_endpoints"),
    derived("peak_time", Type::Time, |r| {
        r.h.peak_ts.map_or(Value::Null, micros)
    }),
    col("held_at_end", Type::Int, "/held_at_end"),
    col("reused", Type::Int, "/reused"),
    col("time_wait_duration_s", Type::Float, "/time_wait_duration_s"),
];

/// One host's TIME_WAIT: its endpoint records added up. The host's true peak (sockets held at
/// once over all its ports) lies between `peak_max_endpoint` and `peak_sum_endpoints`; they are
/// equal when one port holds all of it, as a server's listening port usually does.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HostTimeWait {
    pub label: Option<String>,
    pub host: String,
    /// "server" if any of its endpoints was mostly a server, else "client".
    pub role: &'static str,
    pub endpoints: u32,
    pub connections: u32,
    pub closed_actively: u32,
    pub closed_passively: u32,
    pub entered: u32,
    pub peak_max_endpoint: u32,
    pub peak_sum_endpoints: u32,
    /// When the endpoint with the largest peak reached it.
    #[serde(skip)]
    pub peak_ts: Option<Timestamp>,
    pub held_at_end: u32,
    pub reused: u32,
    pub time_wait_duration_s: f64,
}

/// The endpoint records of `a` added up per IP address, in order of first appearance in
/// `time_wait.by_endpoint` (most TIME_WAIT entries first).
pub fn hosts(a: &Audit) -> Vec<HostTimeWait> {
    let mut out: Vec<HostTimeWait> = Vec::new();
    for e in &a.time_wait.by_endpoint {
        let host = e.endpoint.ip().to_string();
        let i = match out.iter().position(|h| h.host == host) {
            Some(i) => i,
            None => {
                out.push(HostTimeWait {
                    label: a.label.clone(),
                    host,
                    role: "client",
                    endpoints: 0,
                    connections: 0,
                    closed_actively: 0,
                    closed_passively: 0,
                    entered: 0,
                    peak_max_endpoint: 0,
                    peak_sum_endpoints: 0,
                    peak_ts: None,
                    held_at_end: 0,
                    reused: 0,
                    time_wait_duration_s: a.time_wait.duration_s,
                });
                out.len() - 1
            }
        };
        let h = &mut out[i];
        if e.role == "server" {
            h.role = "server";
        }
        h.endpoints += 1;
        h.connections += e.connections;
        h.closed_actively += e.closed_actively;
        h.closed_passively += e.closed_passively;
        h.entered += e.entered;
        if e.peak > h.peak_max_endpoint {
            h.peak_max_endpoint = e.peak;
            h.peak_ts = e.peak_ts;
        }
        h.peak_sum_endpoints += e.peak;
        h.held_at_end += e.held_at_end;
        h.reused += e.reused;
    }
    out
}

/// One column's values being gathered.
enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Time(TimestampMicrosecondBuilder),
    IntList(ListBuilder<Int64Builder>),
    TextList(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(ty: Type) -> Builder {
        match ty {
            Type::Int => Builder::Int(Int64Builder::new()),
            Type::Float => Builder::Float(Float64Builder::new()),
            Type::Bool => Builder::Bool(BooleanBuilder::new()),
            Type::Text | Type::Json => Builder::Text(StringBuilder::new()),
            Type::Time => Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Type::IntList => Builder::IntList(ListBuilder::new(Int64Builder::new())),
            Type::TextList => Builder::TextList(ListBuilder::new(StringBuilder::new())),
        }
    }

    fn append(&mut self, v: &Value) {
        match self {
            Builder::Int(b) => b.append_option(v.as_i64()),
            Builder::Time(b) => b.append_option(v.as_i64()),
            Builder::Float(b) => b.append_option(v.as_f64()),
            Builder::Bool(b) => b.append_option(v.as_bool()),
            Builder::Text(b) => match v {
                Value::Null => b.append_null(),
                Value::String(s) => b.append_value(s),
                other => b.append_value(other.to_string()),
            },
            Builder::IntList(b) => match v.as_array() {
                Some(items) => {
                    for i in items {
                        b.values().append_option(i.as_i64());
                    }
                    b.append(true);
                }
                None => b.append(false),
            },
            Builder::TextList(b) => match v.as_array() {
                Some(items) => {
                    for i in items {
                        b.values().append_option(i.as_str());
                    }
                    b.append(true);
                }
                None => b.append(false),
            },
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::IntList(b) => Arc::new(b.finish()),
            Builder::TextList(b) => Arc::new(b.finish()),
        }
    }
}

/// The record a column reads: its JSON object, and itself for derived columns.
pub trait Record {
    fn json(&self) -> &Value;
}

impl Record for ConnRecord {
    fn json(&self) -> &Value {
        &self.json
    }
}

impl Record for EndpointRecord {
    fn json(&self) -> &Value {
        &self.json
    }
}

/// A host record is its own JSON object (built when it is written).
pub struct HostRecord {
    pub h: HostTimeWait,
    pub json: Value,
}

impl Record for HostRecord {
    fn json(&self) -> &Value {
        &self.json
    }
}

impl<T> Column<T> {
    fn value<'r>(&self, r: &'r T) -> Cow<'r, Value>
    where
        T: Record,
    {
        match self.from {
            Source::Pointer(p) => r
                .json()
                .pointer(p)
                .map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            Source::Record(f) => Cow::Owned(f(r)),
        }
    }
}

/// The Arrow schema of a list of columns; every column may be null.
pub fn schema<T>(columns: &[Column<T>]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

fn parquet_error(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

/// One Parquet file being written, a row group every [`BATCH_ROWS`] rows.
struct TableWriter<T: 'static> {
    columns: &'static [Column<T>],
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    writer: ArrowWriter<File>,
}

impl<T: Record> TableWriter<T> {
    fn create(path: &Path, columns: &'static [Column<T>]) -> io::Result<TableWriter<T>> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let schema = schema(columns);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("tcpflow-audit ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer =
            ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(parquet_error)?;
        Ok(TableWriter {
            columns,
            schema,
            builders: columns.iter().map(|c| Builder::new(c.ty)).collect(),
            rows: 0,
            writer,
        })
    }

    fn push(&mut self, r: &T) -> io::Result<()> {
        for (c, b) in self.columns.iter().zip(&mut self.builders) {
            b.append(&c.value(r));
        }
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch =
            RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(io::Error::other)?;
        self.writer.write(&batch).map_err(parquet_error)?;
        self.rows = 0;
        Ok(())
    }

    fn close(mut self) -> io::Result<()> {
        self.flush()?;
        self.writer.close().map_err(parquet_error)?;
        Ok(())
    }
}

/// `--format parquet -o DIR`: connections are written as they are given (streaming, like
/// jsonl), the TIME_WAIT files at the end.
pub struct ParquetReport {
    dir: PathBuf,
    label: Option<String>,
    connections: TableWriter<ConnRecord>,
    rows: u64,
}

impl ParquetReport {
    pub const CONNECTIONS: &'static str = "connections.parquet";
    pub const ENDPOINTS: &'static str = "time_wait_endpoints.parquet";
    pub const HOSTS: &'static str = "time_wait_hosts.parquet";

    /// Create `dir` if needed and start `connections.parquet` in it.
    pub fn create(dir: &Path, label: Option<&str>) -> io::Result<ParquetReport> {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(ParquetReport {
            dir: dir.to_path_buf(),
            label: label.map(str::to_string),
            connections: TableWriter::create(&dir.join(Self::CONNECTIONS), CONNECTION_COLUMNS)?,
            rows: 0,
        })
    }

    /// One row of `connections.parquet`.
    pub fn connection(&mut self, c: &Connection, digits: u8) -> io::Result<()> {
        let json =
            serde_json::to_value(ConnectionJson::new(c, digits).with_label(self.label.as_deref()))
                .map_err(io::Error::other)?;
        self.connections.push(&ConnRecord {
            client: c.addrs[c.client],
            server: c.addrs[c.server()],
            first_ts: c.first_ts,
            last_ts: c.last_ts,
            json,
        })?;
        self.rows += 1;
        Ok(())
    }

    /// Close `connections.parquet` and write the TIME_WAIT files of `a`. Returns the paths
    /// written and their row counts.
    pub fn finish(self, a: &Audit) -> io::Result<Vec<(PathBuf, u64)>> {
        self.connections.close()?;
        let digits = a.capture.ts_digits;
        let endpoints_path = self.dir.join(Self::ENDPOINTS);
        let mut endpoints = TableWriter::create(&endpoints_path, ENDPOINT_COLUMNS)?;
        for e in &a.time_wait.by_endpoint {
            endpoints.push(&EndpointRecord {
                endpoint: e.endpoint,
                peak_ts: e.peak_ts,
                duration_s: a.time_wait.duration_s,
                json: json::time_wait_endpoint(e, digits, self.label.as_deref()),
            })?;
        }
        endpoints.close()?;
        let hosts_path = self.dir.join(Self::HOSTS);
        let mut host_file = TableWriter::create(&hosts_path, HOST_COLUMNS)?;
        let host_rows = hosts(a);
        for h in &host_rows {
            let json = serde_json::to_value(h).map_err(io::Error::other)?;
            host_file.push(&HostRecord { h: h.clone(), json })?;
        }
        host_file.close()?;
        Ok(vec![
            (self.dir.join(Self::CONNECTIONS), self.rows),
            (endpoints_path, a.time_wait.by_endpoint.len() as u64),
            (hosts_path, host_rows.len() as u64),
        ])
    }
}
