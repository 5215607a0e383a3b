//! The pictures, checked as documents: every mark of a segment class in the time-sequence graph
//! against the JSON count of its connection on every kernel trace and on a crafted connection
//! long enough to be thinned, the ladder's states beside the right endpoint, the standalone SVGs
//! of `plot`, the second drawing pass of `--top` against the first, and a page that fetches
//! nothing.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{ACK, FIN, Link, Pcap, SYN, Tcp, TempPath, fixture, run, syn_options};

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

/// One mark: its first frame, the last frame it stands for, and how many segments (a run of
/// duplicate ACKs is one mark with `data-count`; every other mark is one segment).
#[derive(Clone, Copy, Debug)]
struct Mark {
    frame: u64,
    last_frame: u64,
    count: u64,
}

/// Marks of each class in one time-sequence graph.
fn marks(svg: &str) -> (u32, BTreeMap<String, Vec<Mark>>) {
    let doc = roxmltree::Document::parse(svg).expect("the graph is well-formed XML");
    let root = doc.root_element();
    let id: u32 = root
        .attribute("data-conn")
        .and_then(|v| v.parse().ok())
        .expect("data-conn");
    let mut by_class: BTreeMap<String, Vec<Mark>> = BTreeMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("use")) {
        let class = n
            .attribute("class")
            .expect("a mark has a class")
            .to_string();
        let number = |name: &str| n.attribute(name).map(|v| v.parse::<u64>().expect(name));
        let frame = number("data-frame").expect("a mark has its frame");
        let mark = if class == "dupack" {
            let m = Mark {
                frame,
                last_frame: number("data-last-frame").expect("a dupack mark has its last frame"),
                count: number("data-count").expect("a dupack mark has its count"),
            };
            assert!(m.count >= 1 && m.last_frame >= m.frame, "{m:?}");
            assert_eq!(m.count == 1, m.last_frame == m.frame, "{m:?}");
            m
        } else {
            assert!(
                n.attribute("data-count").is_none(),
                "{class}: one segment a mark"
            );
            Mark {
                frame,
                last_frame: frame,
                count: 1,
            }
        };
        by_class.entry(class).or_default().push(mark);
    }
    (id, by_class)
}

/// Segments the marks of a class stand for.
fn marked(by_class: &BTreeMap<String, Vec<Mark>>, class: &str) -> u64 {
    by_class
        .get(class)
        .map_or(0, |v| v.iter().map(|m| m.count).sum())
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
        let drawn = marked(&by_class, class);
        assert_eq!(drawn, json, "{trace} conn {id}: {class} marks vs {counter}");
        let (first, last) = (
            c["first_frame"].as_u64().expect("first_frame"),
            c["last_frame"].as_u64().expect("last_frame"),
        );
        for m in by_class.get(class).into_iter().flatten() {
            assert!(
                (first..=last).contains(&m.frame) && (first..=last).contains(&m.last_frame),
                "{trace} conn {id}: {m:?} outside the connection"
            );
        }
    }
}

#[test]
fn every_mark_matches_the_json_count_on_the_kernel_traces() {
    let mut drawn_marks = 0usize;
    let (mut dup_acks, mut dup_ack_marks) = (0u64, 0u64);
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
            let (_, by_class) = marks(svg);
            drawn_marks += by_class.values().map(Vec::len).sum::<usize>();
            dup_acks += marked(&by_class, "dupack");
            dup_ack_marks += by_class.get("dupack").map_or(0, Vec::len) as u64;
        }
    }
    // The traces hold fast and RTO retransmissions, dup ACKs, zero windows, probes, keep-alives.
    assert!(drawn_marks > 100, "only {drawn_marks} marks drawn");
    // Their losses bring runs of duplicate ACKs, each drawn once.
    assert!(
        dup_ack_marks > 0 && dup_ack_marks < dup_acks,
        "{dup_ack_marks} dupack marks for {dup_acks} duplicate ACKs"
    );
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
    let doc = roxmltree::Document::parse(&rtt).expect("xml");
    let samples: usize = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("samples"))
        .filter_map(|n| n.attribute("d"))
        .map(|d| d.matches('M').count())
        .sum();
    assert!(samples > 100, "RTT samples drawn: {samples}");
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
    let from_stdin = html_from_stdin(&["--format", "html", "-"], &data);
    let from_file = ok_stdout(&["--format", "html", t.to_str().expect("path")]);
    assert_eq!(svgs(&from_stdin, "tsg"), svgs(&from_file, "tsg"));
}

/// The page of `data` given on standard input with `args` (which end with `-`).
fn html_from_stdin(args: &[&str], data: &[u8]) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{args:?}");
    String::from_utf8(o.stdout).expect("utf-8")
}

#[test]
fn standard_input_is_kept_for_the_second_pass() {
    // --top chooses the connections at the end; with 60 open at once, most kept no sketch.
    let t = fixture("bulk_loss5_client.pcap.gz");
    let data = std::fs::read(&t).expect("read");
    let from_stdin = html_from_stdin(&["--format", "html", "--top", "5", "-"], &data);
    let from_file = ok_stdout(&["--format", "html", t.to_str().expect("path")]);
    let graphs = svgs(&from_stdin, "tsg");
    assert_eq!(graphs.len(), 1);
    assert_eq!(graphs, svgs(&from_file, "tsg"));

    let resends: Vec<u32> = (0..60u32).map(|i| (i * 7) % 11).collect();
    let data = resending_connections(&resends, 1);
    let file = TempPath::with_bytes("together-stdin.pcap", &data);
    let from_stdin = html_from_stdin(&["--format", "html", "-"], &data);
    let from_file = ok_stdout(&["--format", "html", file.path().to_str().expect("path")]);
    let graphs = svgs(&from_stdin, "tsg");
    assert_eq!(graphs.len(), 10);
    assert_eq!(graphs, svgs(&from_file, "tsg"));
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

/// A bulk transfer of `segments` data segments of 1000 bytes every 100 µs over a 1 ms round
/// trip, seen beside the sender, losing one segment in every `loss_every`: each later segment
/// sent before the loss is repaired brings a duplicate ACK, and the third brings a fast
/// retransmission. Then the client closes. Returns the capture and how many segments were lost.
fn long_lossy_capture(segments: u32, loss_every: u32) -> (Vec<u8>, u32) {
    let client: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
    let server: SocketAddr = "10.0.0.2:80".parse().expect("addr");
    let (c0, s0) = (1_000_000u32, 5_000u32);
    const RTT_US: u64 = 1000;
    const GAP_US: u64 = 100;
    const MSS: u32 = 1000;
    let mut pkts: Vec<(u64, Tcp)> = vec![
        (
            0,
            Tcp::new(client, server, SYN)
                .seq(c0)
                .options(syn_options(1460, 7)),
        ),
        (
            RTT_US,
            Tcp::new(server, client, SYN | ACK)
                .seq(s0)
                .ack(c0 + 1)
                .options(syn_options(1460, 7)),
        ),
        (
            RTT_US + 10,
            Tcp::new(client, server, ACK).seq(c0 + 1).ack(s0 + 1),
        ),
    ];
    let start = RTT_US + 100;
    let sent_at = |i: u32| start + u64::from(i) * GAP_US;
    let seq_of = |i: u32| c0 + 1 + i * MSS;
    // When each segment reaches the receiver (as the ACK it brings shows, an RTT after the
    // capture point): a lost one when its fast retransmission does.
    let mut arrives: Vec<u64> = (0..segments).map(|i| sent_at(i) + RTT_US).collect();
    let mut lost = 0;
    for i in 0..segments {
        let data = Tcp::new(client, server, ACK)
            .seq(seq_of(i))
            .ack(s0 + 1)
            .payload(MSS as usize);
        pkts.push((sent_at(i), data.clone()));
        if i % loss_every == loss_every / 2 && i + 4 < segments {
            lost += 1;
            // The third duplicate ACK comes back an RTT after the third segment behind it.
            let resent = sent_at(i + 3) + RTT_US + 10;
            pkts.push((resent, data));
            arrives[i as usize] = resent + RTT_US;
        }
    }
    // The receiver acknowledges each arrival: up to the first segment not yet arrived.
    let mut order: Vec<u32> = (0..segments).collect();
    order.sort_by_key(|&i| (arrives[i as usize], i));
    let mut have = vec![false; segments as usize];
    let mut next = 0u32;
    for i in order {
        have[i as usize] = true;
        while next < segments && have[next as usize] {
            next += 1;
        }
        let ack = Tcp::new(server, client, ACK).seq(s0 + 1).ack(seq_of(next));
        pkts.push((arrives[i as usize], ack));
    }
    let end = arrives.iter().max().copied().unwrap_or(start) + 1000;
    let fin = seq_of(segments);
    pkts.push((
        end,
        Tcp::new(client, server, FIN | ACK).seq(fin).ack(s0 + 1),
    ));
    pkts.push((
        end + RTT_US,
        Tcp::new(server, client, ACK).seq(s0 + 1).ack(fin + 1),
    ));
    pkts.push((
        end + RTT_US + 5,
        Tcp::new(server, client, FIN | ACK).seq(s0 + 1).ack(fin + 1),
    ));
    pkts.push((
        end + 2 * RTT_US + 5,
        Tcp::new(client, server, ACK).seq(fin + 1).ack(s0 + 2),
    ));
    pkts.sort_by_key(|(t, _)| *t);
    let mut pcap = Pcap::new(common::Endian::Little, false, 1);
    for (t, p) in &mut pkts {
        // Timestamps (TSval: the microsecond) make each duplicate ACK its own packet, not a
        // copy of the one before.
        let mut ts = vec![1, 1, 8, 10];
        ts.extend_from_slice(&(*t as u32).to_be_bytes());
        ts.extend_from_slice(&[0; 4]);
        p.options.extend(ts);
        pcap.packet(
            1_700_000_000_000_000_000 + *t * 1000,
            &p.frame(Link::Ethernet),
        );
    }
    (pcap.into_bytes(), lost)
}

/// Numbers in a path's `d` that start a bar (`M`).
fn moves(svg: &str, class: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("xml");
    doc.descendants()
        .find(|n| n.has_tag_name("path") && n.attribute("class") == Some(class))
        .and_then(|n| n.attribute("d"))
        .map_or(0, |d| d.matches('M').count())
}

#[test]
fn a_connection_too_long_to_keep_is_thinned_but_keeps_every_mark() {
    const SEGMENTS: u32 = 8000;
    let (bytes, lost) = long_lossy_capture(SEGMENTS, 700);
    let file = TempPath::with_bytes("long-lossy.pcap", &bytes);
    let t = file.path().to_str().expect("path");
    let conns = json_counts(t);
    assert_eq!(conns.len(), 1);
    let c = &conns[&1];
    // The capture is what it means to be: one fast retransmission per loss, more duplicate
    // ACKs than losses, and more segments than a sketch keeps one by one.
    assert_eq!(c["client"]["fast_retransmissions"], u64::from(lost));
    let dup_acks = c["server"]["dup_acks"].as_u64().expect("dup_acks");
    assert!(dup_acks > 3 * u64::from(lost), "{dup_acks} dup ACKs");
    let packets = c["client"]["packets"].as_u64().expect("packets")
        + c["server"]["packets"].as_u64().expect("packets");
    assert!(packets > 2 * 4096);

    let html = ok_stdout(&["--format", "html", t]);
    let tsg = svgs(&html, "tsg");
    assert_eq!(tsg.len(), 1);
    check_marks_against_json(t, tsg[0], &conns);
    // One mark per run of duplicate ACKs: one run per loss.
    let (_, by_class) = marks(tsg[0]);
    assert_eq!(by_class["dupack"].len() as u32, lost);
    assert_eq!(by_class["fast"].len() as u32, lost);
    // Plain segments thinned to what the columns show: at most two bars a half-pixel column
    // (plus the retransmitted ones), fewer than the segments sent.
    let bars = moves(tsg[0], "seg");
    assert!(bars > 1000 && bars < SEGMENTS as usize, "{bars} bars");
    assert!(bars <= 2 * 2 * 1060 + lost as usize, "{bars} bars");
    // The ladder still shows the handshake and the close, with the states beside them.
    let ladder = svgs(&html, "ladder");
    assert!(ladder[0].contains("segments not drawn"));
    let (names, _) = states_beside(ladder[0]);
    for s in [
        "SYN_SENT",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "FIN_WAIT_2",
        "TIME_WAIT",
    ] {
        assert!(
            names["client"].iter().any(|n| n == s),
            "client lacks {s}: {names:?}"
        );
    }
    for s in ["SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK"] {
        assert!(
            names["server"].iter().any(|n| n == s),
            "server lacks {s}: {names:?}"
        );
    }
    // The page does not grow with the segments: twice as long with as many losses, it is
    // about the same size.
    let (longer, lost_too) = long_lossy_capture(2 * SEGMENTS, 2 * 700);
    assert_eq!(lost_too, lost);
    let file = TempPath::with_bytes("longer-lossy.pcap", &longer);
    let longer = ok_stdout(&["--format", "html", file.path().to_str().expect("path")]);
    assert!(
        longer.len() < html.len() + html.len() / 10,
        "{} bytes for {SEGMENTS} segments, {} for twice as many",
        html.len(),
        longer.len()
    );
}

#[test]
fn connections_chosen_by_top_are_drawn_by_a_second_pass_as_by_the_first() {
    for name in ["bulk_loss20_client.pcap.gz", "tw_reuse_client.pcap.gz"] {
        let t = fixture(name);
        let t = t.to_str().expect("path");
        let first = ok_stdout(&["--format", "html", t]);
        // Every connection is among the top 100000 by packets: the same ones are drawn, from
        // sketches a second reading of the capture recorded.
        let second = ok_stdout(&[
            "--format", "html", "--top", "100000", "--top-by", "packets", t,
        ]);
        for kind in ["tsg", "ladder", "rtt", "throughput"] {
            let (a, b) = (svgs(&first, kind), svgs(&second, kind));
            assert!(!a.is_empty(), "{name}: {kind}");
            assert_eq!(a, b, "{name}: {kind}");
        }
    }
}

/// Connection `i` starting `i * start_gap_ms` in and resending its data `resends[i]` times,
/// 300 ms apart: with a gap of 100 s each is retired before the next starts, with 1 ms they are
/// all open at once.
fn resending_connections(resends: &[u32], start_gap_ms: u64) -> Vec<u8> {
    resending_connections_twice(resends, start_gap_ms, false)
}

/// [`resending_connections`], with every frame captured `twice` (as on two interfaces).
fn resending_connections_twice(resends: &[u32], start_gap_ms: u64, twice: bool) -> Vec<u8> {
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    let server: SocketAddr = "10.0.0.2:80".parse().expect("addr");
    for (i, &k) in resends.iter().enumerate() {
        let client = SocketAddr::new("10.0.0.1".parse().expect("ip"), 40000 + i as u16);
        let t0 = 1_700_000_000_000_000_000 + i as u64 * start_gap_ms * 1_000_000;
        let mut us = 0u64;
        let mut send = |gap_us: u64, mut p: Tcp| {
            us += gap_us;
            p.options.extend([1, 1, 8, 10]);
            p.options.extend((us as u32).to_be_bytes());
            p.options.extend([0; 4]);
            frames.push((t0 + us * 1000, p.frame(Link::Ethernet)));
        };
        let (c, s) = (1000u32, 9000u32);
        send(0, Tcp::new(client, server, SYN).seq(c));
        send(1000, Tcp::new(server, client, SYN | ACK).seq(s).ack(c + 1));
        send(1000, Tcp::new(client, server, ACK).seq(c + 1).ack(s + 1));
        let data = Tcp::new(client, server, ACK)
            .seq(c + 1)
            .ack(s + 1)
            .payload(100);
        send(100, data.clone());
        for _ in 0..k {
            send(300_000, data.clone());
        }
        send(1000, Tcp::new(server, client, ACK).seq(s + 1).ack(c + 101));
        send(
            1000,
            Tcp::new(client, server, FIN | ACK).seq(c + 101).ack(s + 1),
        );
        send(
            1000,
            Tcp::new(server, client, FIN | ACK).seq(s + 1).ack(c + 102),
        );
        send(1000, Tcp::new(client, server, ACK).seq(c + 102).ack(s + 2));
    }
    frames.sort_by_key(|f| f.0);
    let mut pcap = Pcap::new(common::Endian::Little, false, 1);
    for (t, f) in &frames {
        pcap.packet(*t, f);
        if twice {
            pcap.packet(*t, f);
        }
    }
    pcap.into_bytes()
}

#[test]
fn the_reading_keeps_the_sketches_of_the_connections_drawn_by_default() {
    use std::rc::Rc;
    use tcpflow_audit::audit::{Config, Hooks, audit_with};
    use tcpflow_audit::capture::Input;
    use tcpflow_audit::report::graph_data::most_anomalous;
    use tcpflow_audit::track::{Drawable, SketchSelect};

    let resends = [3, 0, 5, 1, 4, 2, 6, 0, 2, 5, 1, 3, 4];
    let input = Input::Bytes(std::sync::Arc::from(resending_connections(
        &resends, 100_000,
    )));
    let config = Config {
        sketches: SketchSelect::MostAnomalous(4),
        ..Config::default()
    };
    let even: Drawable = Rc::new(|c| c.id.is_multiple_of(2));
    for drawable in [None, Some(even)] {
        let hooks = Hooks {
            drawable: drawable.clone(),
            ..Hooks::default()
        };
        let a = audit_with(&input, &config, hooks).expect("audit");
        assert_eq!(a.connections.len(), resends.len());
        let counts: Vec<usize> = a
            .connections
            .iter()
            .map(|c| c.events.anomaly_count())
            .collect();
        assert!(counts.windows(2).any(|w| w[0] != w[1]), "{counts:?}");
        let candidates = a
            .connections
            .iter()
            .filter(|c| drawable.as_ref().is_none_or(|d| d(c)));
        let mut want = most_anomalous(candidates, 4);
        want.sort_unstable();
        let kept: Vec<u32> = a
            .connections
            .iter()
            .filter(|c| c.sketch.is_some())
            .map(|c| c.id)
            .collect();
        assert_eq!(kept, want, "anomalies {counts:?}");
    }
}

#[test]
fn connections_open_together_beyond_the_sketches_held_are_drawn_by_a_second_pass() {
    use tcpflow_audit::audit::{Config, audit};
    use tcpflow_audit::capture::Input;
    use tcpflow_audit::conn::Connection;
    use tcpflow_audit::report::graph_data::most_anomalous;
    use tcpflow_audit::track::{SKETCHED_PER_DRAWN, SketchSelect};

    // 60 connections open at once, the most anomalous late among them.
    let resends: Vec<u32> = (0..60u32).map(|i| (i * 7) % 11).collect();
    let bytes = resending_connections(&resends, 1);
    let input = Input::Bytes(std::sync::Arc::from(bytes.clone()));
    let n = 3;
    let config = Config {
        sketches: SketchSelect::MostAnomalous(n),
        ..Config::default()
    };
    let a = audit(&input, &config).expect("audit");
    let all: Vec<&Connection> = a.connections.iter().collect();
    let drawn = most_anomalous(all.iter().copied(), n);
    let kept: Vec<u32> = all
        .iter()
        .filter(|c| c.sketch.is_some())
        .map(|c| c.id)
        .collect();
    // Only the first connections found room for a sketch; those kept are drawn.
    assert!(
        kept.iter().all(|id| drawn.contains(id)),
        "{kept:?} not in {drawn:?}"
    );
    assert!(kept.iter().all(|&id| id as usize <= SKETCHED_PER_DRAWN * n));
    assert!(
        drawn.iter().any(|id| !kept.contains(id)),
        "{drawn:?} all sketched"
    );

    // The page draws them all the same, some from a second reading of the capture.
    let file = TempPath::with_bytes("together.pcap", &bytes);
    let t = file.path().to_str().expect("path");
    let first = ok_stdout(&["--format", "html", t]);
    let second = ok_stdout(&["--format", "html", "--top", "1000", t]);
    for kind in ["tsg", "ladder", "rtt", "throughput"] {
        let (a, b) = (svgs(&first, kind), svgs(&second, kind));
        assert_eq!(a.len(), 10, "{kind}");
        assert_eq!(a, b, "{kind}");
    }
}

#[test]
fn the_second_reading_leaves_out_repeated_frames_as_the_first() {
    let resends: Vec<u32> = (0..60u32).map(|i| (i * 7) % 11).collect();
    let file = TempPath::with_bytes(
        "together-twice.pcap",
        &resending_connections_twice(&resends, 1, true),
    );
    let t = file.path().to_str().expect("path");
    let conns = json_counts(t);
    // Drawn from the second reading (--top), each graph still matches the JSON counts, and
    // the most anomalous is drawn as from its own sketch (--conn: kept while first read).
    let page = ok_stdout(&["--format", "html", "--top", "1000", t]);
    let graphs = svgs(&page, "tsg");
    assert_eq!(graphs.len(), 10);
    for svg in &graphs {
        check_marks_against_json(t, svg, &conns);
    }
    let (first, _) = marks(graphs[0]);
    let chosen = ok_stdout(&["--format", "html", "--conn", &first.to_string(), t]);
    assert_eq!(svgs(&chosen, "tsg"), [graphs[0]]);
}
