//! The binary as CI jobs use it: formats, --fail-on exit codes, filters, errors, determinism.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kernel")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(args)
        .output()
        .expect("run binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn default_table_names_every_connection_and_the_time_wait_holder() {
    let f = fixture("http10_server_close_client.pcap");
    let o = run(&[f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("200 connections"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("server FIN") && l.contains(" SF "))
            .count(),
        200
    );
    assert!(out.contains("TIME_WAIT (duration 60 s)"));
    assert!(
        out.contains("The server closed 200 of its 200 connections first"),
        "{out}"
    );
}

#[test]
fn timeline_of_one_connection_shows_the_ladder_and_states() {
    let f = fixture("http10_server_close_client.pcap");
    let o = run(&[f.to_str().unwrap(), "--conn", "1"]);
    let out = stdout(&o);
    for needle in [
        "client CLOSED -> SYN_SENT",
        "server LISTEN -> SYN_RECEIVED",
        "client SYN_SENT -> ESTABLISHED",
        "server ESTABLISHED -> FIN_WAIT_1",
        "server FIN_WAIT_2 -> TIME_WAIT",
        "client LAST_ACK -> CLOSED",
        "SYN-ACK acks client ISN+1: ok",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn json_is_the_spec_document_and_runs_are_byte_identical() {
    let f = fixture("bulk_loss20_client.pcap.gz");
    let a = run(&["--format", "json", f.to_str().unwrap()]);
    let b = run(&["--format", "json", f.to_str().unwrap()]);
    assert_eq!(a.stdout, b.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(doc["schema"], "tcpflow-audit/1");
    for key in [
        "packets",
        "tcp_segments",
        "skipped",
        "first_ts",
        "last_ts",
        "warnings",
    ] {
        assert!(!doc["capture"][key].is_null(), "capture.{key}");
    }
    let c = &doc["connections"][0];
    for key in [
        "id",
        "client",
        "server",
        "start_ts",
        "end_ts",
        "outcome",
        "history",
        "handshake",
        "close",
        "client",
        "server",
        "rtt",
        "events",
    ] {
        assert!(!c[key].is_null(), "connection.{key}");
    }
    for key in [
        "entered",
        "peak",
        "peak_ts",
        "held_at_end",
        "reused",
        "role",
        "endpoint",
    ] {
        assert!(
            !doc["time_wait"]["by_endpoint"][0][key].is_null(),
            "time_wait.{key}"
        );
    }
    // Timestamps keep the capture's precision (microseconds here).
    let ts = serde_json::to_string(&c["start_ts"]).unwrap();
    assert_eq!(ts.split('.').nth(1).map(str::len), Some(6), "{ts}");
}

#[test]
fn jsonl_and_csv_have_one_line_per_connection() {
    let f = fixture("refused_client.pcap");
    let o = run(&["--format", "jsonl", f.to_str().unwrap()]);
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 5);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["outcome"], "REJ");
    }
    let o = run(&["--format", "csv", f.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 6);
    assert!(out.lines().next().unwrap().starts_with("id,client,server,"));
}

#[test]
fn fail_on_rules_exit_1_and_name_the_connections() {
    let f = fixture("refused_client.pcap");
    let o = run(&[
        f.to_str().unwrap(),
        "--format",
        "json",
        "--fail-on",
        "outcome=REJ",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("rule 'outcome=REJ' matched 5 connection(s): 1, 2, 3, 4, 5"),
        "{}",
        stderr(&o)
    );
    let o = run(&[f.to_str().unwrap(), "--fail-on", "retransmissions>0"]);
    assert_eq!(o.status.code(), Some(0));
    let bulk = fixture("bulk_loss5_client.pcap.gz");
    let o = run(&[
        bulk.to_str().unwrap(),
        "--fail-on",
        "client.retransmissions>=1",
        "--fail-on",
        "resets>0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("client.retransmissions>=1"));
    assert!(!stderr(&o).contains("resets"));
    let tw = fixture("http10_server_close_server.pcap");
    let o = run(&[
        tw.to_str().unwrap(),
        "--fail-on",
        "server_time_wait_peak>=200",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        tw.to_str().unwrap(),
        "--fail-on",
        "server_time_wait_peak>=201",
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn a_bad_rule_is_exit_2_naming_the_token() {
    let f = fixture("refused_client.pcap");
    let o = run(&[f.to_str().unwrap(), "--fail-on", "retrans>0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown field 'retrans'"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn filters_combine() {
    let f = fixture("http10_server_close_client.pcap");
    let count = |args: &[&str]| {
        let mut all = vec!["--format", "jsonl", f.to_str().unwrap()];
        all.extend_from_slice(args);
        stdout(&run(&all)).lines().count()
    };
    assert_eq!(count(&[]), 200);
    assert_eq!(count(&["--port", "8080"]), 200);
    assert_eq!(count(&["--port", "9999"]), 0);
    assert_eq!(
        count(&["--net", "10.200.2.0/24", "--conn", "7", "--conn", "9"]),
        2
    );
    assert_eq!(count(&["--host", "10.200.9.9"]), 0);
    assert_eq!(count(&["--top", "3", "--top-by", "packets"]), 3);
    assert_eq!(count(&["--anomalies-only"]), 0);
}

#[test]
fn time_wait_command_reports_the_server_endpoint() {
    let f = fixture("tw_reuse_server.pcap.gz");
    let o = run(&["time-wait", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("10.200.2.2:8080"), "{out}");
    assert!(out.contains("4-tuple reuse during TIME_WAIT"), "{out}");
    assert!(out.contains("Diagnosis for 10.200.2.2:8080"), "{out}");
    let o = run(&["time-wait", "--time-wait", "windows", f.to_str().unwrap()]);
    assert!(stdout(&o).contains("TIME_WAIT (duration 240 s)"));
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(fixture("refused_client.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 5);
}

#[test]
fn unusable_input_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("tfa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, b"GET / HTTP/1.1\r\n").unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    for (path, needle) in [
        (
            text.to_str().unwrap(),
            "not a pcap or pcapng capture (first bytes: 47 45 54 20",
        ),
        (empty.to_str().unwrap(), "empty file"),
        (dir.to_str().unwrap(), "is a directory"),
        ("/nonexistent/capture.pcap", "cannot open"),
    ] {
        let o = run(&[path]);
        assert_eq!(o.status.code(), Some(2), "{path}");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = run(&["--format", "xml", text.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
