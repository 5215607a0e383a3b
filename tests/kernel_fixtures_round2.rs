//! Round-two kernel fixtures (fixtures/kernel/round2, recorded by fixtures/record/record.sh):
//! tail loss probes, an RTO series without probes, keep-alive vs resend, reordering before the
//! receiver, a fast sender, RST to TIME_WAIT (tcp_rfc1337 0 and 1), VLAN contexts.
//!
//! Every counter below is asserted on every capture (issue #14 left no known mismatch; the last
//! two were a tail loss probe of new data and a D-SACK reaching TIME_WAIT). A scenario can move
//! up to fixtures/kernel, where tests/kernel_fixtures.rs checks everything. No expected number
//! is written here: they all come from the truth files.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn round2_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel/round2")
}

/// The capture cannot show a sysctl: where the recorded hosts ran with
/// `net.ipv4.tcp_rfc1337 = 1`, the analysis is told so (`--rfc1337`).
fn options_for(t: &Value) -> Vec<&'static str> {
    let on = |host: &str| {
        t["params"][format!("sysctl_{host}")]["net.ipv4.tcp_rfc1337"].as_str() == Some("1")
    };
    if on("server") || on("client") {
        vec!["--rfc1337"]
    } else {
        vec![]
    }
}

fn run_json(path: &Path, options: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(options)
        .arg("--format")
        .arg("json")
        .arg(path)
        .output()
        .expect("run binary");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn truths() -> Vec<Value> {
    let mut v: Vec<Value> = std::fs::read_dir(round2_dir())
        .expect("fixtures/kernel/round2")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        .collect();
    v.sort_by(|a: &Value, b: &Value| a["scenario"].as_str().cmp(&b["scenario"].as_str()));
    assert!(v.len() >= 8, "round-two scenarios: found {}", v.len());
    v
}

fn nstat(t: &Value, host: &str, key: &str) -> u64 {
    t[host]["nstat"][key].as_u64().unwrap_or(0)
}

fn conns(doc: &Value) -> &Vec<Value> {
    doc["connections"].as_array().unwrap()
}

fn sum(doc: &Value, role: &str, key: &str) -> u64 {
    conns(doc)
        .iter()
        .map(|c| c[role][key].as_u64().unwrap())
        .sum()
}

fn ip_of(endpoint: &str) -> &str {
    let (ip, _) = endpoint.rsplit_once(':').unwrap();
    ip.trim_start_matches('[').trim_end_matches(']')
}

/// Every capture of every round-two scenario, against the host beside the capture point (its
/// every sent segment passed the capture) and, for connections and TIME_WAIT, both hosts.
#[test]
fn round_two_counters_agree_with_the_kernel() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for t in truths() {
        let name = t["scenario"].as_str().unwrap();
        for point in ["client", "server"] {
            let Some(file) = t["captures"][point].as_str() else {
                continue;
            };
            let doc = run_json(&round2_dir().join(file), &options_for(&t));
            let cap = &doc["capture"];
            let skipped: u64 = cap["skipped"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(
                cap["tcp_segments"].as_u64().unwrap() + skipped,
                cap["packets"].as_u64().unwrap(),
                "{name} at {point}: frame accounting"
            );
            let gave_up = conns(&doc).iter().filter(|c| c["outcome"] == "S0").count() as u64;
            let valid = conns(&doc)
                .iter()
                .filter(|c| c["handshake"]["valid"] == true)
                .count() as u64;
            let held = |host: &str| -> u64 {
                let addr = t[host]["addr"].as_str().unwrap();
                doc["time_wait"]["by_endpoint"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| ip_of(e["endpoint"].as_str().unwrap()) == addr)
                    .map(|e| e["held_at_end"].as_u64().unwrap())
                    .sum()
            };
            let checks: Vec<(&str, u64, u64)> = vec![
                (
                    "connections",
                    conns(&doc).len() as u64,
                    nstat(&t, "client", "TcpActiveOpens"),
                ),
                ("handshakes", valid, nstat(&t, "server", "TcpPassiveOpens")),
                (
                    "retransmissions",
                    sum(&doc, point, "retransmissions"),
                    nstat(&t, point, "TcpRetransSegs"),
                ),
                (
                    "fast",
                    sum(&doc, point, "fast_retransmissions"),
                    nstat(&t, point, "TcpExtTCPFastRetrans"),
                ),
                (
                    "rto",
                    sum(&doc, point, "rto_retransmissions")
                        + if point == "client" { gave_up } else { 0 },
                    nstat(&t, point, "TcpExtTCPTimeouts"),
                ),
                (
                    // Both kinds of probe: resends of the tail and new data.
                    "tail_loss_probe",
                    sum(&doc, point, "tail_loss_probes") + sum(&doc, point, "new_data_probes"),
                    nstat(&t, point, "TcpExtTCPLossProbes"),
                ),
                (
                    "keep_alives",
                    sum(&doc, point, "keep_alives"),
                    nstat(&t, point, "TcpExtTCPKeepAlive"),
                ),
                (
                    "dsacked",
                    sum(&doc, point, "dsacked_retransmissions"),
                    nstat(&t, point, "TcpExtTCPDSACKRecv"),
                ),
                (
                    "time_wait_client",
                    held("client"),
                    t["client"]["time_wait_at_end"].as_u64().unwrap(),
                ),
                (
                    "time_wait_server",
                    held("server"),
                    t["server"]["time_wait_at_end"].as_u64().unwrap(),
                ),
            ];
            for (check, ours, kernel) in checks {
                checked += 1;
                if ours != kernel {
                    failures.push(format!(
                        "{name} at {point}: {check}: tcpflow-audit {ours}, kernel {kernel}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 100, "only {checked} checks ran");
}

/// Where the drop rule dropped packets between the two capture points, the capture away from
/// the sender cannot show more retransmissions than the sender counted.
#[test]
fn retransmissions_seen_away_from_the_sender_never_exceed_the_senders_count() {
    for t in truths() {
        let name = t["scenario"].as_str().unwrap();
        for (point, sender) in [("client", "server"), ("server", "client")] {
            let Some(file) = t["captures"][point].as_str() else {
                continue;
            };
            let doc = run_json(&round2_dir().join(file), &options_for(&t));
            assert!(
                sum(&doc, sender, "retransmissions") <= nstat(&t, sender, "TcpRetransSegs"),
                "{name}: {sender} retransmissions seen at the {point}"
            );
        }
    }
}

/// Reordering before the receiver (issue #14, cause 3): at the server capture, the data segments
/// called out of order are at most those the router held back (its own log), and every
/// retransmission the sender's kernel counted is seen except those the drop rule took (at most
/// one of the 12 random drops hit a retransmission: the client capture shows all 13).
#[test]
fn reordering_before_the_receiver_is_told_from_retransmissions() {
    let t = truths()
        .into_iter()
        .find(|t| t["scenario"] == "reorder_receiver")
        .expect("reorder_receiver truth");
    let held = t["params"]["delay"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["dir"] == "c2s" && a["action"].as_str().unwrap().starts_with("hold 2"))
        .count() as u64;
    let file = t["captures"]["server"].as_str().unwrap();
    let doc = run_json(&round2_dir().join(file), &[]);
    let ooo = sum(&doc, "client", "out_of_order");
    let seen = sum(&doc, "client", "retransmissions");
    let sent = nstat(&t, "client", "TcpRetransSegs");
    assert!(ooo <= held, "out of order {ooo}, router held {held}");
    assert!(
        seen + 1 >= sent && seen <= sent,
        "retransmissions seen {seen}, sender counted {sent}"
    );
}
