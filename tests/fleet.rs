//! The fleet recipe of the README, run as written: several hosts' captures analysed with
//! `--label` into Parquet, then the README's DuckDB queries over all of them, their answers
//! checked against the JSON documents of the same runs. Also: the Parquet files have the
//! documented columns, and every field of a jsonl line has its column.
//!
//! DuckDB runs from Python (`pip install duckdb`); `.ci/run` installs it in a venv under
//! `target/pyenv`. `TCPFLOW_AUDIT_PYTHON` names another interpreter that has it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TempPath, fixture};
use serde_json::Value;
use tcpflow_audit::report::parquet::{CONNECTION_COLUMNS, ENDPOINT_COLUMNS, HOST_COLUMNS, Source};

fn run(args: &[&str]) -> Output {
    let o = common::run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn python() -> PathBuf {
    let p = std::env::var_os("TCPFLOW_AUDIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{}: no Python with duckdb; run .ci/run's install step (python3 -m venv target/pyenv && target/pyenv/bin/pip install duckdb) or set TCPFLOW_AUDIT_PYTHON",
        p.display()
    );
    p
}

/// Run SQL statements in DuckDB (in `dir`); the rows of the last one, as JSON objects.
fn duckdb(dir: &Path, sql: &str) -> Vec<BTreeMap<String, Value>> {
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
cur = con.execute(sys.stdin.read())
names = [d[0] for d in cur.description]
print(json.dumps([dict(zip(names, row)) for row in cur.fetchall()], default=str))
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{sql}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("rows as JSON")
}

/// The SQL block of the README that follows `<!-- fleet-query: NAME -->`.
fn readme_query(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = format!("<!-- fleet-query: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} in README"))..];
    let start = after.find("```sql\n").expect("an sql block") + 7;
    let len = after[start..].find("```").expect("the block's end");
    after[start..start + len].to_string()
}

const HOSTS: [(&str, &str); 3] = [
    ("web-1", "http10_server_close_server.pcap"),
    ("web-2", "tw_reuse_server.pcap.gz"),
    ("db-1", "bulk_loss5_server.pcap.gz"),
];

/// Each host's run as the README says, into `out/<label>/`; each host's JSON document.
fn fleet(out: &Path) -> BTreeMap<&'static str, Value> {
    let mut docs = BTreeMap::new();
    for (label, capture) in HOSTS {
        let f = fixture(capture);
        let dir = out.join(label);
        run(&[
            "--label",
            label,
            "--format",
            "parquet",
            "-o",
            dir.to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
        let o = run(&["--label", label, "--format", "json", f.to_str().unwrap()]);
        docs.insert(label, serde_json::from_slice(&o.stdout).unwrap());
    }
    docs
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

#[test]
fn the_readme_fleet_queries_answer_what_the_json_says() {
    let root = TempPath::dir("fleet");
    let docs = fleet(&root.path().join("out"));

    // Servers by TIME_WAIT peak.
    let rows = duckdb(root.path(), &readme_query("servers-by-time-wait-peak"));
    let mut expected: Vec<(i64, String, String, i64, i64)> = Vec::new();
    for (label, doc) in &docs {
        for e in doc["time_wait"]["by_endpoint"].as_array().unwrap() {
            if e["role"] == "server" {
                expected.push((
                    -e["peak"].as_i64().unwrap(),
                    label.to_string(),
                    e["endpoint"].as_str().unwrap().to_string(),
                    e["entered"].as_i64().unwrap(),
                    e["held_at_end"].as_i64().unwrap(),
                ));
            }
        }
    }
    expected.sort();
    assert!(expected.len() >= 2, "{expected:?}");
    let got: Vec<(i64, String, String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                -r["peak"].as_i64().unwrap(),
                r["label"].as_str().unwrap().to_string(),
                r["endpoint"].as_str().unwrap().to_string(),
                r["entered"].as_i64().unwrap(),
                r["held_at_end"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // Retransmission rate per server and hour.
    let rows = duckdb(
        root.path(),
        &readme_query("retransmission-rate-per-server-and-hour"),
    );
    let mut expected: BTreeMap<(String, String, i64), (i64, i64, i64)> = BTreeMap::new();
    for (label, doc) in &docs {
        for c in doc["connections"].as_array().unwrap() {
            let hour = (f64_of(&c["start_ts"]) / 3600.0).floor() as i64 * 3600;
            let e = expected
                .entry((
                    label.to_string(),
                    c["server_address"].as_str().unwrap().to_string(),
                    hour,
                ))
                .or_default();
            e.0 += 1;
            for side in ["client", "server"] {
                e.1 += c[side]["retransmissions"].as_i64().unwrap();
                e.2 += c[side]["packets"].as_i64().unwrap();
            }
        }
    }
    assert!(
        expected.values().any(|e| e.1 > 0),
        "a host with retransmissions"
    );
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for (r, ((label, server, hour), (conns, retrans, packets))) in rows.iter().zip(&expected) {
        assert_eq!(r["label"].as_str(), Some(label.as_str()));
        assert_eq!(r["server_address"].as_str(), Some(server.as_str()));
        let shown = r["hour"].as_str().unwrap();
        let hour_text = Command::new("date")
            .args(["-u", "-d", &format!("@{hour}"), "+%Y-%m-%d %H:00"])
            .output()
            .unwrap();
        assert_eq!(shown, String::from_utf8_lossy(&hour_text.stdout).trim());
        assert_eq!(r["connections"].as_i64(), Some(*conns));
        assert_eq!(r["retransmissions"].as_i64(), Some(*retrans));
        assert_eq!(r["packets"].as_i64(), Some(*packets));
        let rate = f64_of(&r["retransmission_rate"]);
        assert!(
            (rate - *retrans as f64 / *packets as f64).abs() < 1e-4,
            "{r:?}"
        );
    }
}

fn pointer_columns<T>(
    columns: &[tcpflow_audit::report::parquet::Column<T>],
) -> BTreeSet<&'static str> {
    columns
        .iter()
        .filter_map(|c| match c.from {
            Source::Pointer(p) => Some(p),
            Source::Record(_) => None,
        })
        .collect()
}

/// Every leaf of a JSON object, by pointer; arrays are leaves, and a null (an object absent in
/// this connection, or a value it lacks) is no leaf: its columns are NULL.
fn leaves(v: &Value, at: String, out: &mut BTreeSet<String>) {
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{at}/{k}"), out);
            }
        }
        _ => {
            out.insert(at);
        }
    }
}

#[test]
fn every_field_of_a_jsonl_line_has_its_parquet_column() {
    let covered = pointer_columns(CONNECTION_COLUMNS);
    let mut seen = BTreeSet::new();
    for (label, capture) in HOSTS.iter().chain(&[
        ("ka", "keepalive_client.pcap"),
        ("ref", "refused_client.pcap"),
    ]) {
        let f = fixture(capture);
        if !f.exists() {
            continue;
        }
        let o = run(&["--format", "jsonl", "--label", label, f.to_str().unwrap()]);
        for line in String::from_utf8(o.stdout).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            leaves(&v, String::new(), &mut seen);
        }
    }
    // The endpoints' addresses are the connection's `client_address` and `server_address`.
    let duplicates = ["/client/address", "/server/address"];
    let missing: Vec<&String> = seen
        .iter()
        .filter(|p| !covered.contains(p.as_str()) && !duplicates.contains(&p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "jsonl fields without a Parquet column: {missing:?}"
    );
    // And no column reads a field that does not exist.
    let unknown: Vec<&&str> = covered.iter().filter(|p| !seen.contains(**p)).collect();
    assert!(unknown.is_empty(), "columns of no jsonl field: {unknown:?}");
}

#[test]
fn parquet_files_have_the_documented_columns_and_the_json_values() {
    let root = TempPath::dir("pq");
    let docs = fleet(&root.path().join("out"));
    let names = |columns: Vec<&str>| columns.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    for (file, columns) in [
        (
            "connections",
            names(CONNECTION_COLUMNS.iter().map(|c| c.name).collect()),
        ),
        (
            "time_wait_endpoints",
            names(ENDPOINT_COLUMNS.iter().map(|c| c.name).collect()),
        ),
        (
            "time_wait_hosts",
            names(HOST_COLUMNS.iter().map(|c| c.name).collect()),
        ),
    ] {
        let rows = duckdb(
            root.path(),
            &format!("DESCRIBE SELECT * FROM 'out/web-1/{file}.parquet'"),
        );
        let got: Vec<String> = rows
            .iter()
            .map(|r| r["column_name"].as_str().unwrap().to_string())
            .collect();
        let expected = columns;
        assert_eq!(got, expected, "{file}");
    }
    // Row counts and a few values, per host.
    for (label, doc) in &docs {
        let conns = doc["connections"].as_array().unwrap();
        let rows = duckdb(
            root.path(),
            &format!(
                "SELECT id, label, client_address, outcome, history, client_retransmissions, handshake_rtt_ms, client_ip, server_port, epoch_us(start_time) AS start_us, events FROM 'out/{label}/connections.parquet' ORDER BY id"
            ),
        );
        assert_eq!(rows.len(), conns.len(), "{label}");
        for (r, c) in rows.iter().zip(conns) {
            assert_eq!(r["id"], c["id"]);
            assert_eq!(r["label"], c["label"]);
            assert_eq!(r["client_address"], c["client_address"]);
            assert_eq!(r["outcome"], c["outcome"]);
            assert_eq!(r["history"], c["history"]);
            assert_eq!(r["client_retransmissions"], c["client"]["retransmissions"]);
            assert_eq!(
                r["handshake_rtt_ms"].as_f64(),
                c["handshake"]["rtt_ms"].as_f64()
            );
            let addr = c["client_address"].as_str().unwrap();
            assert!(addr.starts_with(r["client_ip"].as_str().unwrap()));
            assert!(
                c["server_address"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(":{}", r["server_port"]))
            );
            let start_us = (f64_of(&c["start_ts"]) * 1e6).round() as i64;
            assert!((r["start_us"].as_i64().unwrap() - start_us).abs() <= 1);
            let events: Value = serde_json::from_str(r["events"].as_str().unwrap()).unwrap();
            assert_eq!(events, c["events"]);
        }
        let eps = doc["time_wait"]["by_endpoint"].as_array().unwrap();
        let rows = duckdb(
            root.path(),
            &format!(
                "SELECT endpoint, peak, entered, series FROM 'out/{label}/time_wait_endpoints.parquet'"
            ),
        );
        assert_eq!(rows.len(), eps.len());
        for (r, e) in rows.iter().zip(eps) {
            assert_eq!(r["endpoint"], e["endpoint"]);
            assert_eq!(r["peak"], e["peak"]);
            assert_eq!(r["entered"], e["entered"]);
            assert_eq!(r["series"], e["series"]);
        }
        // Hosts: the endpoint records added up per address.
        let rows = duckdb(
            root.path(),
            &format!(
                "SELECT host, entered, peak_max_endpoint FROM 'out/{label}/time_wait_hosts.parquet'"
            ),
        );
        let mut by_host: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for e in eps {
            let ep = e["endpoint"].as_str().unwrap();
            let host = ep[..ep.rfind(':').unwrap()]
                .trim_matches(['[', ']'])
                .to_string();
            let h = by_host.entry(host).or_default();
            h.0 += e["entered"].as_i64().unwrap();
            h.1 = h.1.max(e["peak"].as_i64().unwrap());
        }
        let got: BTreeMap<String, (i64, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r["host"].as_str().unwrap().to_string(),
                    (
                        r["entered"].as_i64().unwrap(),
                        r["peak_max_endpoint"].as_i64().unwrap(),
                    ),
                )
            })
            .collect();
        assert_eq!(got, by_host, "{label}");
    }
}
