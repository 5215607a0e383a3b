//! Connections are finished, and handed over, while the capture is still being read: the rule
//! of `tracker.rs` (closed and quiet for the linger time, or replaced by a new incarnation), the
//! library hook that receives them, and `--format jsonl` writing each line as it happens, down a
//! pipe that is still open.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{ACK, Endian, FIN, Link, Pcap, PcapNg, RST, SYN, Tcp, TempPath, TsResol};
use serde_json::Value;
use tcpflow_audit::audit::{Audit, Config, Hooks, audit, audit_with};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::Connection;
use tcpflow_audit::conn::fsm::State;
use tcpflow_audit::report::json;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Three connections to one server, as (time, segment):
/// 1. 10.0.0.1:40000 → :80, closed by the server within 8 ms (the server holds TIME_WAIT);
/// 2. 10.0.0.1:40001 → :80, open from 0.5 s to the end, one byte every 10 s up to 200.5 s;
/// 3. 10.0.0.3:40002 → :81 at 5 s, refused with a RST.
fn three_connections() -> Vec<(u64, Tcp)> {
    let (c1, c2, c3) = (
        addr("10.0.0.1:40000"),
        addr("10.0.0.1:40001"),
        addr("10.0.0.3:40002"),
    );
    let (s80, s81) = (addr("10.0.0.2:80"), addr("10.0.0.2:81"));
    let mut v = vec![
        (0, Tcp::new(c1, s80, SYN).seq(100)),
        (MS, Tcp::new(s80, c1, SYN | ACK).seq(500).ack(101)),
        (2 * MS, Tcp::new(c1, s80, ACK).seq(101).ack(501)),
        (3 * MS, Tcp::new(c1, s80, ACK).seq(101).ack(501).payload(10)),
        (4 * MS, Tcp::new(s80, c1, ACK).seq(501).ack(111)),
        (5 * MS, Tcp::new(s80, c1, FIN | ACK).seq(501).ack(111)),
        (6 * MS, Tcp::new(c1, s80, ACK).seq(111).ack(502)),
        (7 * MS, Tcp::new(c1, s80, FIN | ACK).seq(111).ack(502)),
        (8 * MS, Tcp::new(s80, c1, ACK).seq(502).ack(112)),
        (500 * MS, Tcp::new(c2, s80, SYN).seq(1000)),
        (501 * MS, Tcp::new(s80, c2, SYN | ACK).seq(9000).ack(1001)),
        (502 * MS, Tcp::new(c2, s80, ACK).seq(1001).ack(9001)),
        (5 * SEC, Tcp::new(c3, s81, SYN).seq(7)),
        (5 * SEC + MS, Tcp::new(s81, c3, RST | ACK).seq(0).ack(8)),
    ];
    for i in 1..=20u32 {
        let t = u64::from(i) * 10 * SEC + 500 * MS;
        let seq = 1000 + i;
        v.push((t, Tcp::new(c2, s80, ACK).seq(seq).ack(9001).payload(1)));
        v.push((t + MS, Tcp::new(s80, c2, ACK).seq(9001).ack(seq + 1)));
    }
    v.sort_by_key(|(t, _)| *t);
    v
}

fn pcap(segments: &[(u64, Tcp)]) -> Vec<u8> {
    let mut p = Pcap::new(Endian::Little, false, 1);
    for (t, seg) in segments {
        p.packet(*t, &seg.frame(Link::Ethernet));
    }
    p.into_bytes()
}

/// Audit `bytes`, handing connections to a hook; returns the ids in the order handed over, the
/// connections themselves, and the audit.
fn streamed(bytes: &[u8], name: &str) -> (Vec<u32>, Vec<Connection>, Audit) {
    let file = TempPath::with_bytes(name, bytes);
    let mut got: Vec<Connection> = Vec::new();
    let mut hook = |c: &Connection, _digits: u8| {
        got.push(c.clone());
        ControlFlow::Continue(())
    };
    let hooks = Hooks {
        finished: Some(&mut hook),
        ..Hooks::default()
    };
    let a = audit_with(
        &Input::Path(file.path().to_path_buf()),
        &Config::default(),
        hooks,
    )
    .expect("capture read");
    (got.iter().map(|c| c.id).collect(), got, a)
}

fn batch(bytes: &[u8], name: &str) -> Audit {
    let file = TempPath::with_bytes(name, bytes);
    audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read")
}

#[test]
fn closed_connections_are_handed_over_before_the_capture_ends() {
    let bytes = pcap(&three_connections());
    let (order, got, a) = streamed(&bytes, "stream-order.pcap");
    // Connection 2 is open until the end, so it can only come after the end of the capture;
    // 3 before it proves 3 was handed over while reading (at the end they go by id).
    assert_eq!(order, vec![1, 3, 2]);
    assert!(a.connections.is_empty(), "the hook took every connection");

    // The server entered TIME_WAIT at the client FIN (7 ms); it expired 60 s later, before
    // the connection was retired.
    let c1 = &got[0];
    let server = c1.server();
    let last = c1.ends[server].transitions.last().unwrap();
    assert_eq!((last.from, last.to), (State::TimeWait, State::Closed));
    assert_eq!(last.ts.nanos(), (60 * SEC + 7 * MS) as i64);

    // The capture-wide reports do not depend on who kept the connections.
    let b = batch(&bytes, "stream-batch.pcap");
    assert_eq!(b.connections.len(), 3);
    let (sa, sb) = (&a.time_wait.by_endpoint, &b.time_wait.by_endpoint);
    assert_eq!(sa.len(), sb.len());
    assert_eq!(sa[0].endpoint, addr("10.0.0.2:80"));
    for (x, y) in sa.iter().zip(sb) {
        assert_eq!(
            (x.endpoint, x.entered, x.peak, x.held_at_end, &x.series),
            (y.endpoint, y.entered, y.peak, y.held_at_end, &y.series)
        );
    }
    assert_eq!(sa[0].entered, 1);
    assert_eq!(sa[0].held_at_end, 0);
    // Nor does each connection.
    for c in &got {
        let same = b.connections.iter().find(|d| d.id == c.id).unwrap();
        assert_eq!(json::connection(c, 6), json::connection(same, 6));
    }
}

#[test]
fn a_segment_within_the_linger_time_still_belongs_to_the_closed_connection() {
    let c1 = addr("10.0.0.1:40000");
    let s80 = addr("10.0.0.2:80");
    // A retransmitted FIN 30 s after the close (inside 60 s), then a stray ACK at 100 s.
    let mut segs = three_connections();
    segs.push((30 * SEC, Tcp::new(c1, s80, FIN | ACK).seq(111).ack(502)));
    segs.push((100 * SEC, Tcp::new(c1, s80, ACK).seq(112).ack(502)));
    segs.sort_by_key(|(t, _)| *t);
    let a = batch(&pcap(&segs), "stream-linger.pcap");
    assert_eq!(a.connections.len(), 4);
    let first = &a.connections[0];
    assert_eq!(first.addrs.iter().filter(|&&x| x == c1).count(), 1);
    assert_eq!(
        first.last_ts.nanos(),
        (30 * SEC) as i64,
        "the FIN at 30 s is connection 1's"
    );
    // 70 s after connection 1 was last heard of, its 4-tuple is free: the stray ACK is new.
    let stray = &a.connections[3];
    assert!(stray.addrs.contains(&c1));
    assert_eq!(stray.first_ts.nanos(), (100 * SEC) as i64);
    assert_eq!(stray.dirs[0].stats.packets + stray.dirs[1].stats.packets, 1);
}

#[test]
fn a_new_incarnation_hands_over_the_old_one_at_once() {
    let c1 = addr("10.0.0.1:40000");
    let s80 = addr("10.0.0.2:80");
    let mut segs = three_connections();
    // The client reuses connection 1's 4-tuple at 2 s, while the server holds it in TIME_WAIT.
    segs.push((2 * SEC, Tcp::new(c1, s80, SYN).seq(5000)));
    segs.push((
        2 * SEC + MS,
        Tcp::new(s80, c1, SYN | ACK).seq(800).ack(5001),
    ));
    segs.sort_by_key(|(t, _)| *t);
    let (order, got, _) = streamed(&pcap(&segs), "stream-reuse.pcap");
    // 1 goes at the reuse (2 s); the refused 3 (id 4 now) 60 s after it; the rest at the end.
    assert_eq!(order, vec![1, 4, 2, 3]);
    assert_eq!(got[0].reused_by.map(|(id, _, _)| id), Some(3));
    let reuse = got[3].reuse.as_ref().expect("connection 3 reuses 1");
    assert_eq!(reuse.previous, 1);
    assert!(reuse.acceptable);
}

/// `--format jsonl -` writes connection 1's line as soon as the segments at 60.5 s arrive, while
/// standard input is still open; the rest follow when it closes.
#[test]
fn jsonl_writes_a_line_while_the_pipe_is_still_open() {
    let segs = three_connections();
    // The retiring clock is the earlier of two consecutive segments' times: the second segment
    // after 60.007 s (connection 1's TIME_WAIT end + nothing seen for 60 s) moves it past.
    let cut = segs
        .iter()
        .position(|(t, _)| *t >= 60 * SEC)
        .expect("a segment after 60 s")
        + 1;
    let whole = pcap(&segs);
    let head = pcap(&segs[..=cut]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpflow-audit");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.expect("utf-8 line")).is_err() {
                break;
            }
        }
    });
    stdin.write_all(&head).unwrap();
    stdin.flush().unwrap();
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a line before standard input closed");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["id"], 1);
    assert_eq!(v["close"]["initiator"], "server");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing else is finished yet"
    );
    stdin.write_all(&whole[head.len()..]).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let rest: Vec<u64> = rx
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(rest, vec![3, 2]);
    assert!(status.success());
}

/// The binary on a file: (exit code, stdout lines' ids, stderr).
fn run_jsonl(file: &std::path::Path, extra: &[&str]) -> (Option<i32>, Vec<u64>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "jsonl"])
        .arg(file)
        .args(extra)
        .output()
        .expect("run tcpflow-audit");
    let ids = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    (o.status.code(), ids, String::from_utf8(o.stderr).unwrap())
}

/// Filters and `--fail-on` rules see each connection as it is written; `--top` waits for all.
#[test]
fn jsonl_filters_and_rules_while_streaming() {
    let file = TempPath::with_bytes("stream-cli.pcap", &pcap(&three_connections()));
    let (code, ids, _) = run_jsonl(file.path(), &[]);
    assert_eq!((code, ids), (Some(0), vec![1, 3, 2]));
    let (_, ids, _) = run_jsonl(file.path(), &["--port", "80"]);
    assert_eq!(ids, vec![1, 2]);
    let (code, ids, err) = run_jsonl(
        file.path(),
        &["--fail-on", "outcome=REJ", "--fail-on", "packets>1000"],
    );
    assert_eq!((code, ids), (Some(1), vec![1, 3, 2]));
    assert!(
        err.contains("rule 'outcome=REJ' matched 1 connection(s): 3"),
        "{err}"
    );
    assert!(!err.contains("packets>1000"), "{err}");
    let (code, _, err) = run_jsonl(file.path(), &["--fail-on", "server_time_wait_peak>=1"]);
    assert_eq!(code, Some(1), "{err}");
    // Capture-wide counts include the connections already written and dropped.
    let (code, _, err) = run_jsonl(file.path(), &["--fail-on", "connections>=3"]);
    assert_eq!(code, Some(1), "{err}");
    let (code, _, err) = run_jsonl(file.path(), &["--fail-on", "connections>3"]);
    assert_eq!(code, Some(0), "{err}");
    // Ranked, so written at the end: connection 2 has the most packets.
    let (_, ids, _) = run_jsonl(file.path(), &["--top", "2", "--top-by", "packets"]);
    assert_eq!(ids, vec![2, 1]);
}

/// A SYN refused with a RST closes the connection (client CLOSED, server LISTEN); the same SYN
/// retried and answered opens it again. Idle for 100 s after that, it is still one connection,
/// though another connection's segments move the clock past the linger time meanwhile.
#[test]
fn a_connection_opened_again_after_closing_is_not_retired() {
    let (c1, s80) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
    let (c2, s81) = (addr("10.0.0.5:50000"), addr("10.0.0.2:81"));
    let segs = vec![
        (0, Tcp::new(c1, s80, SYN).seq(100)),
        (MS, Tcp::new(s80, c1, RST | ACK).seq(0).ack(101)),
        (SEC, Tcp::new(c1, s80, SYN).seq(100)),
        (SEC + MS, Tcp::new(s80, c1, SYN | ACK).seq(500).ack(101)),
        (SEC + 2 * MS, Tcp::new(c1, s80, ACK).seq(101).ack(501)),
        (70 * SEC, Tcp::new(c2, s81, SYN).seq(9)),
        (71 * SEC, Tcp::new(c2, s81, SYN).seq(9)),
        (72 * SEC, Tcp::new(c2, s81, SYN).seq(9)),
        (
            101 * SEC,
            Tcp::new(c1, s80, ACK).seq(101).ack(501).payload(5),
        ),
        (101 * SEC + MS, Tcp::new(s80, c1, ACK).seq(501).ack(106)),
    ];
    let a = batch(&pcap(&segs), "stream-reopen.pcap");
    assert_eq!(a.connections.len(), 2);
    let first = &a.connections[0];
    assert_eq!(first.last_ts.nanos(), (101 * SEC + MS) as i64);
    assert_eq!(first.dirs[first.client].stats.payload_bytes, 5);
}

/// One frame stamped far in the future (a bad clock) does not retire the closed connections:
/// connection 1's FIN retransmitted at 20 s still belongs to it.
#[test]
fn one_frame_from_the_future_does_not_retire_connections() {
    let (c1, s80) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
    let mut segs: Vec<(u64, Tcp)> = three_connections()
        .into_iter()
        .filter(|(t, _)| *t < 11 * SEC)
        .collect();
    segs.push((
        10_000 * SEC,
        Tcp::new(addr("10.0.0.9:1234"), addr("10.0.0.2:99"), SYN).seq(1),
    ));
    segs.push((20 * SEC, Tcp::new(c1, s80, FIN | ACK).seq(111).ack(502)));
    let a = batch(&pcap(&segs), "stream-future.pcap");
    assert_eq!(a.connections.len(), 4);
    assert_eq!(a.connections[0].last_ts.nanos(), (20 * SEC) as i64);
}

/// Timestamps in a line written while reading have the digits the document has: here an
/// interface with millisecond resolution (3 digits).
#[test]
fn streamed_lines_show_the_precision_of_the_document() {
    let mut ng = PcapNg::new(Endian::Little);
    let ifc = ng.interface(1, Some(TsResol::Decimal(3)), None);
    for (t, seg) in three_connections() {
        ng.epb_packet(ifc, 1_700_000_000_000 + t / MS, &seg.frame(Link::Ethernet));
    }
    let file = TempPath::with_bytes("stream-ms.pcapng", ng.bytes());
    let doc: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
            .args(["--format", "json"])
            .arg(file.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "jsonl"])
        .arg(file.path())
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let id = line["id"].as_u64().unwrap() as usize;
        assert_eq!(line, &doc["connections"][id - 1]);
        let start = serde_json::to_string(&line["start_ts"]).unwrap();
        assert_eq!(start.split('.').nth(1).map(str::len), Some(3), "{start}");
    }
}
