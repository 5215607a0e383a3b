//! The default report as a person meets it: answer first, every line within the terminal's
//! width, the connections table capped with a closing line; duplicated captures; the
//! command-line habits of tcpdump and tshark users.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{TempPath, fixture};

fn run_at(columns: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"));
    cmd.args(args).env_remove("COLUMNS");
    if let Some(c) = columns {
        cmd.env("COLUMNS", c);
    }
    cmd.output().expect("run binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example that writes synthetic captures, built by `cargo test` beside the test binaries.
fn synth_tool() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let tool = dir.join("examples").join("synth_capture");
    assert!(
        tool.exists(),
        "{} missing: run `cargo test`, which builds the examples",
        tool.display()
    );
    tool
}

/// A synthetic capture of 5,000 connections (built once per test run).
fn synth_5000() -> &'static Path {
    static PATH: OnceLock<TempPath> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = TempPath::new("synth5000.pcap");
        let o = Command::new(synth_tool())
            .args([path.path().to_str().unwrap(), "5000", "20", "5", "7"])
            .output()
            .expect("run synth_capture");
        assert!(o.status.success(), "{}", stderr(&o));
        path
    })
    .path()
}

fn kernel_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".pcap") || n.ends_with(".pcap.gz")
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "kernel fixtures missing");
    v
}

fn assert_within(out: &str, width: usize, what: &str) {
    for (i, line) in out.lines().enumerate() {
        assert!(
            line.chars().count() <= width,
            "{what}: line {} is {} wide (> {width}):\n{line}",
            i + 1,
            line.chars().count()
        );
    }
}

#[test]
fn every_line_fits_80_and_200_columns_on_every_kernel_fixture_and_5000_connections() {
    let mut captures = kernel_fixtures();
    captures.push(synth_5000().to_path_buf());
    for cap in &captures {
        let p = cap.to_str().unwrap();
        for width in [80, 200] {
            let w = width.to_string();
            for args in [vec![p], vec!["time-wait", p], vec!["--all", p]] {
                let o = run_at(Some(&w), &args);
                assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
                assert_within(&stdout(&o), width, &format!("{args:?} at {width}"));
            }
        }
    }
}

#[test]
fn findings_and_the_time_wait_diagnosis_come_within_the_first_60_lines() {
    for cap in [
        synth_5000().to_path_buf(),
        fixture("http10_server_close_client.pcap"),
        fixture("bulk_loss20_client.pcap.gz"),
    ] {
        let o = run_at(Some("80"), &[cap.to_str().unwrap()]);
        let out = stdout(&o);
        let head: Vec<&str> = out.lines().take(60).collect();
        let head = head.join("\n");
        assert!(head.starts_with("Capture "), "{head}");
        assert!(head.contains(" UTC"), "first and last frame in UTC: {head}");
        assert!(head.contains("Findings"), "{head}");
        assert!(head.contains("retransmissions"), "{head}");
        let findings_at = head.find("Findings").unwrap();
        if let Some(table_at) = out.find("\nConnections") {
            assert!(findings_at < table_at, "findings before the table");
        }
        if cap.to_string_lossy().contains("bulk_loss") {
            // The worst connection of each kind is named.
            assert!(head.contains("fast retransmissions"), "{head}");
            assert!(head.contains("#1×"), "{head}");
        } else {
            assert!(head.contains("Diagnosis for"), "{head}");
            assert!(head.contains("steady state"), "{head}");
        }
    }
}

#[test]
fn the_table_is_capped_at_40_with_a_closing_line_and_all_lists_every_connection() {
    let p = synth_5000().to_str().unwrap();
    let out = stdout(&run_at(Some("120"), &[p]));
    let start = out
        .find("\nConnections: the 40 of 5000 with the most anomalies")
        .unwrap();
    let table: Vec<&str> = out[start + 1..].lines().collect();
    let rows = table
        .iter()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(rows, 40, "{out}");
    let last = table.last().unwrap();
    assert!(
        last.contains("4960 more connections") && last.contains("--all"),
        "{last}"
    );
    // No rule between rows: no line made of box-drawing characters.
    assert!(!out.lines().any(|l| l.starts_with('─')), "{out}");
    // The anomalies column names kinds with counts.
    assert!(out.contains("1 fast, "), "{out}");

    let all = stdout(&run_at(Some("200"), &["--all", p]));
    let start = all.find("\nConnections: 5000, in id order").unwrap();
    let rows: Vec<u32> = all[start + 1..]
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        rows,
        (1..=5000).collect::<Vec<u32>>(),
        "one line per connection, in id order"
    );
    assert!(!all.contains("more connections"));
}

#[test]
fn without_columns_a_pipe_gets_120() {
    let out = stdout(&run_at(None, &[synth_5000().to_str().unwrap()]));
    assert_within(&out, 120, "no COLUMNS, stdout a pipe");
    assert!(
        out.lines().any(|l| l.chars().count() > 80),
        "uses the width"
    );
}

/// The records of a little-endian microsecond pcap: (header, [records]).
fn split_pcap(bytes: &[u8]) -> (&[u8], Vec<&[u8]>) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "LE µs pcap");
    let mut at = 24;
    let mut records = Vec::new();
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&bytes[at..at + 16 + incl]);
        at += 16 + incl;
    }
    (&bytes[..24], records)
}

fn json(args: &[&str]) -> (serde_json::Value, String) {
    let o = run_at(None, args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), stderr(&o))
}

fn total(doc: &serde_json::Value, field: &str) -> u64 {
    doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client"][field].as_u64().unwrap() + c["server"][field].as_u64().unwrap())
        .sum()
}

#[test]
fn a_capture_appended_to_itself_counts_duplicates_and_adds_no_retransmission() {
    for name in [
        "http10_server_close_client.pcap",
        "client_close_client.pcap",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let (header, records) = split_pcap(&bytes);
        let mut doubled = header.to_vec();
        for _ in 0..2 {
            for r in &records {
                doubled.extend_from_slice(r);
            }
        }
        let twice = TempPath::with_bytes("doubled.pcap", &doubled);
        let (once, _) = json(&["--format", "json", fixture(name).to_str().unwrap()]);
        let (doc, err) = json(&["--format", "json", twice.path().to_str().unwrap()]);
        let cap = &doc["capture"];
        // Every TCP segment of the second half (frames that are not TCP keep their reason).
        let segments = once["capture"]["tcp_segments"].as_u64().unwrap();
        assert_eq!(cap["duplicate_frames"], segments, "{name}");
        assert_eq!(cap["skipped"]["duplicate"], segments);
        assert_eq!(cap["tcp_segments"], segments);
        assert_eq!(cap["packets"], 2 * records.len() as u64);
        for field in ["retransmissions", "spurious_retransmissions", "dup_acks"] {
            assert_eq!(total(&doc, field), total(&once, field), "{name}: {field}");
        }
        assert_eq!(
            doc["connections"], once["connections"],
            "{name}: the same analysis"
        );
        let warnings = cap["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = warnings[0].as_str().unwrap();
        assert!(w.contains("editcap -D"), "{w}");
        assert!(
            w.contains(&format!("from frame {}", records.len() + 1)),
            "{w}"
        );
        // The same warning on stderr, in every format.
        assert_eq!(err.matches("warning:").count(), 1, "{err}");
        for format in ["table", "csv", "jsonl"] {
            let o = run_at(None, &["--format", format, twice.path().to_str().unwrap()]);
            assert_eq!(stderr(&o).matches("editcap -D").count(), 1, "{format}");
        }
        // A clean capture gets no warning at all.
        assert!(once["capture"]["warnings"].as_array().unwrap().is_empty());
        assert_eq!(once["capture"]["duplicate_frames"], 0);
    }
}

#[test]
fn a_filter_that_selects_nothing_says_so_on_stderr() {
    let f = fixture("refused_client.pcap");
    let p = f.to_str().unwrap();
    for args in [
        vec!["--host", "192.0.2.99", p],
        vec!["--conn", "9999", p],
        vec!["--format", "jsonl", "--port", "1", p],
        vec!["--format", "csv", "--anomalies-only", "--port", "1", p],
    ] {
        let o = run_at(None, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&o).contains("no connection matches the filters"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = run_at(None, &["--host", "10.200.1.2", p]);
    assert!(!stderr(&o).contains("no connection"), "{}", stderr(&o));
}

#[test]
fn dash_r_reads_a_file_and_files_combine_with_it() {
    let f = fixture("refused_client.pcap");
    let p = f.to_str().unwrap();
    let plain = run_at(Some("100"), &[p]);
    let with_r = run_at(Some("100"), &["-r", p]);
    assert_eq!(with_r.status.code(), Some(0), "{}", stderr(&with_r));
    assert_eq!(plain.stdout, with_r.stdout);
    // -r files and plain ones are read together, as one capture (tests/manycap.rs has the merge).
    let both = run_at(Some("100"), &["--format", "json", "-r", p, p]);
    assert_eq!(both.status.code(), Some(0), "{}", stderr(&both));
    let doc: serde_json::Value = serde_json::from_slice(&both.stdout).unwrap();
    assert_eq!(doc["capture"]["files"].as_array().map(Vec::len), Some(2));
}

#[test]
fn fail_on_an_unknown_field_lists_the_valid_ones_and_help_and_man_list_them() {
    let f = fixture("refused_client.pcap");
    let o = run_at(None, &["--fail-on", "retrans>0", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for name in [
        "retransmissions*",
        "dup_acks*",
        "outcome",
        "anomaly_kinds",
        "host_time_wait_peak",
        "time_wait_held_at_end",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    let help = stdout(&run_at(None, &["--help"]));
    let man = stdout(&run_at(None, &["man"]));
    for text in [&help, &man] {
        assert!(text.contains("rto_retransmissions"), "{text}");
        assert!(text.contains("per host"), "{text}");
        assert!(text.contains("per endpoint"), "{text}");
        assert!(text.contains("summed"), "{text}");
    }
    assert!(man.contains(".SH EXAMPLES"), "{man}");
}

#[test]
fn time_wait_speaks_of_what_it_accepts_and_prints_json_and_csv() {
    let f = fixture("client_close_client.pcap");
    let p = f.to_str().unwrap();
    let o = run_at(None, &["--time-wait", "foo", p]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("linux") && err.contains("60s"), "{err}");
    let o = run_at(None, &["time-wait", "--format", "json", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tw: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hosts = tw["by_host"].as_array().unwrap();
    let client = hosts
        .iter()
        .find(|h| h["role"] == "client")
        .expect("client host");
    assert!(client["ports"].as_u64().unwrap() > 1, "{client}");
    assert!(client["busiest_peer"]["address"].is_string(), "{client}");
    let diagnosis = client["diagnosis"].to_string();
    assert!(diagnosis.contains("per second"), "{diagnosis}");
    assert!(diagnosis.contains("ip_local_port_range"), "{diagnosis}");
    assert!(diagnosis.contains("28,232"), "{diagnosis}");
    let o = run_at(None, &["time-wait", "--format", "csv", p]);
    let csv = stdout(&o);
    assert!(csv.starts_with("scope,address,role,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("host,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("endpoint,")), "{csv}");
    // The table names the host too.
    let out = stdout(&run_at(Some("100"), &["time-wait", p]));
    assert!(out.contains("Diagnosis for host 10.200.1.2"), "{out}");
}

#[test]
fn host_time_wait_peak_is_per_host() {
    let f = fixture("client_close_client.pcap");
    let p = f.to_str().unwrap();
    let (doc, _) = json(&["--format", "json", p]);
    let peak = doc["time_wait"]["by_host"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["peak"].as_u64().unwrap())
        .max()
        .unwrap();
    let endpoint_peak = doc["time_wait"]["by_endpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["peak"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(peak > endpoint_peak, "a client host adds up its ports");
    let rule = |r: String| run_at(None, &["-q", "--fail-on", &r, p]).status.code();
    assert_eq!(rule(format!("host_time_wait_peak>={peak}")), Some(1));
    assert_eq!(rule(format!("host_time_wait_peak>{peak}")), Some(0));
    assert_eq!(rule(format!("time_wait_peak>{endpoint_peak}")), Some(0));
}

#[test]
fn the_headline_rtt_is_the_path_not_the_short_leg() {
    // Captured next to the client: the client's data times the whole path; the server's data
    // only the few microseconds between the client and the capture point.
    for name in [
        "bulk_loss5_client.pcap.gz",
        "http10_server_close_client.pcap",
    ] {
        let (doc, _) = json(&["--format", "json", fixture(name).to_str().unwrap()]);
        for c in doc["connections"].as_array().unwrap() {
            let rtt = &c["rtt"];
            if rtt["samples"].as_u64().unwrap() == 0 {
                continue;
            }
            assert_eq!(c["capture_point"], "client", "{name}");
            assert_eq!(rtt["basis"], "sender_near_capture", "{name}");
            assert_eq!(rtt["direction"], "client", "{name}");
            let hs = c["handshake"]["rtt_ms"].as_f64().unwrap();
            let min = rtt["min_ms"].as_f64().unwrap();
            assert!(
                min > hs / 2.0,
                "{name} conn {}: rtt {min} vs handshake {hs}",
                c["id"]
            );
        }
    }
}
