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

mod columns;

pub use columns::CONNECTION_COLUMNS;

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
