//! The pictures, checked as documents: every mark of a segment class in the time-sequence graph
//! against the JSON count of its connection on every kernel trace, the ladder's states beside
//! the right endpoint, the standalone SVGs of `plot`, and a page that fetches nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tcpflow-audit");

const KINDS: [(&str, &str); 11] = [
    ("fast", "fast_retransmissions"),
    ("rto", "rto_retransmissions"),
    ("after-rto", "after_rto_retransmissions"),
    ("tlp", "tail_loss_probes"),
    ("spurious", "spurious_retransmissions"),
    ("ooo", "out_of_order"),
    ("dupack", "dup_acks"),
    ("zero-window", "zero_window"),
    ("zwp", "zero_window_probes"),
    ("keepalive", "keep_alives"),
    ("window-full", "window_full"),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kernel")
        .join(name)
}

fn kernel_traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .expect("fixtures/kernel")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".pcap") || n.ends_with(".pcap.gz")
        })
        .collect();
    v.sort();
    assert!(v.len() >= 10, "kernel traces missing: {v:?}");
    v
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run binary")
}

fn ok_stdout(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

/// Every `<svg …>…</svg>` of the page whose class list holds `kind`, as text.
fn svgs<'a>(html: &'a str, kind: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg ") {
        let Some(j) = rest[i..].find("</svg>") else {
            break;
        };
        let svg = &rest[i..i + j + 6];
        let open = &svg[..svg.find('>').unwrap_or(0)];
        if open.contains(&format!("class=\"graph {kind}\"")) {
            out.push(svg);
        }
        rest = &rest[i + j + 6..];
    }
    out
}

/// Marks of each class in one time-sequence graph, with their frames.
fn marks(svg: &str) -> (u32, BTreeMap<String, Vec<u64>>) {
    let doc = roxmltree::Document::parse(svg).expect("the graph is well-formed XML");
    let root = doc.root_element();
    let id: u32 = root
        .attribute("data-conn")
        .and_then(|v| v.parse().ok())
        .expect("data-conn");
    let mut by_class: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("use")) {
        let class = n
            .attribute("class")
            .expect("a mark has a class")
            .to_string();
        let frame: u64 = n
            .attribute("data-frame")
            .and_then(|v| v.parse().ok())
            .expect("a mark has its frame");
        by_class.entry(class).or_default().push(frame);
    }
    (id, by_class)
}

fn json_counts(trace: &str) -> BTreeMap<u64, serde_json::Value> {
    let doc: serde_json::Value =
        serde_json::from_str(&ok_stdout(&["--format", "json", trace])).expect("json");
    doc["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| (c["id"].as_u64().expect("id"), c.clone()))
        .collect()
}

fn check_marks_against_json(trace: &str, svg: &str, conns: &BTreeMap<u64, serde_json::Value>) {
    let (id, by_class) = marks(svg);
    let c = &conns[&u64::from(id)];
    for class in by_class.keys() {
        assert!(
            KINDS.iter().any(|(k, _)| k == class),
            "{trace} conn {id}: unknown mark class {class}"
        );
    }
    for (class, counter) in KINDS {
        let json = c["client"][counter].as_u64().expect(counter)
            + c["server"][counter].as_u64().expect(counter);
        let drawn = by_class.get(class).map_or(0, |v| v.len() as u64);
        assert_eq!(drawn, json, "{trace} conn {id}: {class} marks vs {counter}");
        let (first, last) = (
            c["first_frame"].as_u64().expect("first_frame"),
            c["last_frame"].as_u64().expect("last_frame"),
        );
        for f in by_class.get(class).into_iter().flatten() {
            assert!(
                (first..=last).contains(f),
                "{trace} conn {id}: frame {f} outside the connection"
            );
        }
    }
}

#[test]
fn every_mark_matches_the_json_count_on_the_kernel_traces() {
    let mut drawn_marks = 0usize;
    for trace in kernel_traces() {
        let t = trace.to_str().expect("path");
        let conns = json_counts(t);
        let html = ok_stdout(&["--format", "html", t]);
        let graphs = svgs(&html, "tsg");
        assert_eq!(
            graphs.len(),
            conns.len().min(10),
            "{t}: one graph per drawn connection"
        );
        for svg in graphs {
            check_marks_against_json(t, svg, &conns);
            drawn_marks += marks(svg).1.values().map(Vec::len).sum::<usize>();
        }
    }
    // The traces hold fast and RTO retransmissions, dup ACKs, zero windows, probes, keep-alives.
    assert!(drawn_marks > 100, "only {drawn_marks} marks drawn");
}

#[test]
fn plot_tsg_of_every_connection_of_a_lossy_trace_matches_the_json() {
    let t = fixture("bulk_loss20_client.pcap.gz");
    let t = t.to_str().expect("path");
    let conns = json_counts(t);
    for id in conns.keys() {
        let svg = ok_stdout(&["plot", "tsg", "--conn", &id.to_string(), t]);
        check_marks_against_json(t, &svg, &conns);
    }
}

#[test]
fn the_chosen_connections_are_drawn_with_conn() {
    let t = fixture("zero_window_server.pcap");
    let t = t.to_str().expect("path");
    let conns = json_counts(t);
    let html = ok_stdout(&["--format", "html", "--conn", "1", t]);
    let graphs = svgs(&html, "tsg");
    assert_eq!(graphs.len(), 1);
    check_marks_against_json(t, graphs[0], &conns);
    let (_, by_class) = marks(graphs[0]);
    assert!(by_class.contains_key("zero-window") && by_class.contains_key("zwp"));
}

fn states_beside(svg: &str) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, Vec<f64>>) {
    let doc = roxmltree::Document::parse(svg).expect("well-formed ladder");
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut xs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for n in doc.descendants().filter(|n| {
        n.has_tag_name("text")
            && n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|w| w == "state"))
    }) {
        let role = n.attribute("data-role").expect("data-role").to_string();
        names
            .entry(role.clone())
            .or_default()
            .push(n.text().unwrap_or("").to_string());
        xs.entry(role)
            .or_default()
            .push(n.attribute("x").and_then(|x| x.parse().ok()).expect("x"));
    }
    (names, xs)
}

#[test]
fn ladder_of_a_server_close_shows_each_sides_states_beside_its_line() {
    for name in [
        "http10_server_close_server.pcap",
        "http10_server_close_client.pcap",
    ] {
        let t = fixture(name);
        let svg = ok_stdout(&["plot", "ladder", "--conn", "1", t.to_str().expect("path")]);
        let (names, xs) = states_beside(&svg);
        for s in [
            "LISTEN",
            "SYN_RECEIVED",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
        ] {
            assert!(
                names["server"].iter().any(|n| n == s),
                "{name}: server lacks {s}: {names:?}"
            );
        }
        for s in [
            "SYN_SENT",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED",
        ] {
            assert!(
                names["client"].iter().any(|n| n == s),
                "{name}: client lacks {s}: {names:?}"
            );
        }
        let client_max = xs["client"].iter().cloned().fold(f64::MIN, f64::max);
        let server_min = xs["server"].iter().cloned().fold(f64::MAX, f64::min);
        assert!(
            client_max < server_min,
            "{name}: client states left of the server's"
        );
        // One arrow per segment of this short connection, each with its frame.
        let doc = roxmltree::Document::parse(&svg).expect("xml");
        let arrows = doc
            .descendants()
            .filter(|n| n.has_tag_name("g") && n.attribute("data-frame").is_some())
            .count();
        assert_eq!(arrows, 10, "{name}");
    }
}

#[test]
fn a_long_connection_ladder_shows_handshake_and_close() {
    let t = fixture("bulk_loss5_server.pcap.gz");
    let svg = ok_stdout(&["plot", "ladder", "--conn", "1", t.to_str().expect("path")]);
    assert!(svg.contains("segments not drawn"));
    let (names, _) = states_beside(&svg);
    assert!(
        names["client"].iter().any(|n| n == "TIME_WAIT"),
        "{names:?}"
    );
    assert!(
        names["server"].iter().any(|n| n == "CLOSE_WAIT"),
        "{names:?}"
    );
}

#[test]
fn every_plot_kind_is_a_standalone_svg() {
    let t = fixture("bulk_loss5_server.pcap.gz");
    let t = t.to_str().expect("path");
    for kind in ["tsg", "ladder", "rtt", "throughput", "time-wait"] {
        let svg = ok_stdout(&["plot", kind, "--conn", "1", t]);
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{kind}");
        assert!(
            root.attribute("class").is_some_and(|c| c.contains(kind)),
            "{kind}"
        );
    }
    let rtt = ok_stdout(&["plot", "rtt", "--conn", "1", t]);
    assert!(
        rtt.contains("RTO floor 200 ms"),
        "the RTO's floor is stated"
    );
    assert!(rtt.matches("<rect x=").count() > 100, "RTT samples drawn");
}

#[test]
fn time_wait_graph_marks_the_servers_peak() {
    let t = fixture("http10_server_close_server.pcap");
    let t = t.to_str().expect("path");
    let doc: serde_json::Value =
        serde_json::from_str(&ok_stdout(&["--format", "json", t])).expect("json");
    let server = doc["time_wait"]["by_endpoint"]
        .as_array()
        .or_else(|| doc["time_wait"]["endpoints"].as_array())
        .expect("time_wait endpoints")
        .iter()
        .find(|e| e["role"] == "server")
        .expect("a server endpoint")
        .clone();
    let svg = ok_stdout(&["plot", "time-wait", t]);
    let x = roxmltree::Document::parse(&svg).expect("xml");
    let peak = x
        .descendants()
        .find(|n| {
            n.attribute("class") == Some("peak")
                && n.attribute("data-label")
                    .is_some_and(|l| l.starts_with("server "))
        })
        .expect("server peak marked");
    assert_eq!(
        peak.attribute("data-peak")
            .and_then(|p| p.parse::<u64>().ok()),
        server["peak"].as_u64()
    );
}

#[test]
fn plot_needs_one_connection() {
    let t = fixture("client_close_client.pcap");
    let o = run(&["plot", "tsg", t.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--conn"));
    let o = run(&["plot", "ladder", "--conn", "999", t.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no connection 999"));
}

#[test]
fn the_page_fetches_nothing_and_is_deterministic() {
    let t = fixture("bulk_loss20_server.pcap.gz");
    let t = t.to_str().expect("path");
    let a = ok_stdout(&["--format", "html", t]);
    let b = ok_stdout(&["--format", "html", t]);
    assert!(a == b, "two runs differ");
    let without_ns = a.replace("http://www.w3.org/2000/svg", "");
    for bad in [
        "http://", "https://", "<link", " src=", "@import", "url(http",
    ] {
        assert!(!without_ns.contains(bad), "the page refers outside: {bad}");
    }
    assert!(a.starts_with("<!DOCTYPE html>") && a.trim_end().ends_with("</html>"));
    assert!(a.contains("<script>") && a.contains("<style>"));
    // The findings are the terminal report's.
    let table = ok_stdout(&[t]);
    let first = table.lines().next().expect("summary");
    assert!(a.contains(first.split_whitespace().next().expect("word")));
}

#[test]
fn standard_input_is_drawn_like_the_file() {
    let t = fixture("bulk_loss5_client.pcap.gz");
    let data = std::fs::read(&t).expect("read");
    let mut child = Command::new(BIN)
        .args(["--format", "html", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&data)
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0));
    let from_stdin = String::from_utf8(o.stdout).expect("utf-8");
    let from_file = ok_stdout(&["--format", "html", t.to_str().expect("path")]);
    assert_eq!(svgs(&from_stdin, "tsg"), svgs(&from_file, "tsg"));
}

#[test]
fn bad_input_is_refused_without_a_panic() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let junk = dir.join("html-junk.pcap");
    std::fs::write(&junk, b"not a capture at all").expect("write");
    for args in [
        vec!["--format", "html", junk.to_str().expect("path")],
        vec!["plot", "time-wait", junk.to_str().expect("path")],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
}
