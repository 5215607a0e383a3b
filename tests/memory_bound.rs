//! Bounded memory under floods: a connection that has sent only a SYN is held as that SYN and
//! reports exactly as one built at once; past the memory bound connections are evicted in the
//! stated order, counted, warned about once, and the capture-wide counts stay exact; a client
//! whose SYNs are never answered gives up after 127 s and its connection is handed over then.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use common::{ACK, Endian, FIN, Link, Pcap, SYN, Tcp, TempPath, syn_options};
use serde_json::Value;
use tcpflow_audit::audit::{Audit, Config, Hooks, audit_with};
use tcpflow_audit::capture::{Frame, Input};
use tcpflow_audit::conn::Connection;
use tcpflow_audit::report::json;
use tcpflow_audit::track::budget::{Budget, CONNECTION_BYTES};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pcap(segments: &[(u64, Tcp)]) -> Vec<u8> {
    let mut p = Pcap::new(Endian::Little, false, 1);
    for (t, seg) in segments {
        p.packet(*t, &seg.frame(Link::Ethernet));
    }
    p.into_bytes()
}

/// A complete connection from `client` to 10.9.0.1:80 starting at `t`, closed by the server.
fn complete(client: SocketAddr, t: u64, v: &mut Vec<(u64, Tcp)>) {
    let s = addr("10.9.0.1:80");
    v.extend([
        (t, Tcp::new(client, s, SYN).seq(100)),
        (t + MS, Tcp::new(s, client, SYN | ACK).seq(500).ack(101)),
        (t + 2 * MS, Tcp::new(client, s, ACK).seq(101).ack(501)),
        (t + 3 * MS, Tcp::new(s, client, FIN | ACK).seq(501).ack(101)),
        (t + 4 * MS, Tcp::new(client, s, ACK).seq(101).ack(502)),
        (t + 5 * MS, Tcp::new(client, s, FIN | ACK).seq(101).ack(502)),
        (t + 6 * MS, Tcp::new(s, client, ACK).seq(502).ack(102)),
    ]);
}

/// An established connection at `t` (handshake and one data exchange), left open.
fn established(client: SocketAddr, t: u64, v: &mut Vec<(u64, Tcp)>) {
    let s = addr("10.9.0.1:80");
    v.extend([
        (t, Tcp::new(client, s, SYN).seq(100)),
        (t + MS, Tcp::new(s, client, SYN | ACK).seq(500).ack(101)),
        (
            t + 2 * MS,
            Tcp::new(client, s, ACK).seq(101).ack(501).payload(10),
        ),
        (t + 3 * MS, Tcp::new(s, client, ACK).seq(501).ack(111)),
    ]);
}

/// `n` SYNs, 100 µs apart from `t`, each from its own source (11.0.x.y:1024+i), to
/// 10.9.0.1:80, never answered; with MSS and window scale, as Linux sends them.
fn flood(n: u32, t: u64, v: &mut Vec<(u64, Tcp)>) {
    let s = addr("10.9.0.1:80");
    for i in 0..n {
        let src = SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(0x0b00_0000 + i),
            1024 + (i % 60000) as u16,
        ));
        let seg = Tcp::new(src, s, SYN)
            .seq(i.wrapping_mul(2_654_435_761))
            .options(syn_options(1460, 7));
        v.push((t + u64::from(i) * 100_000, seg));
    }
}

/// One established connection (1), a flood of 2,000 SYNs, then five complete connections.
fn flood_capture() -> Vec<u8> {
    let mut v = Vec::new();
    established(addr("10.0.0.1:40000"), 0, &mut v);
    flood(2000, SEC, &mut v);
    for i in 0..5 {
        complete(
            addr(&format!("10.0.0.2:{}", 41000 + i)),
            2 * SEC + i * 10 * MS,
            &mut v,
        );
    }
    v.sort_by_key(|(t, _)| *t);
    pcap(&v)
}

fn run(bytes: &[u8], name: &str, budget: Budget) -> Audit {
    let file = TempPath::with_bytes(name, bytes);
    let config = Config {
        budget,
        ..Config::default()
    };
    audit_with(
        &Input::Path(file.path().to_path_buf()),
        &config,
        Hooks::default(),
    )
    .expect("capture read")
}

fn bounded(max: u64) -> Budget {
    Budget {
        max_connections: Some(max),
        ..Budget::default()
    }
}

#[test]
fn past_the_bound_half_open_connections_are_evicted_counted_and_still_a_flood() {
    let bytes = flood_capture();
    let a = run(&bytes, "flood-bounded.pcap", bounded(500));
    assert_eq!(a.connection_count, 2006, "every connection is counted");
    assert!(a.connections.len() <= 500, "{}", a.connections.len());
    assert_eq!(
        a.capture.evicted_connections,
        2006 - a.connections.len() as u64
    );
    // Open connections go last: the oldest connection, open but quiet since the first
    // millisecond, is still reported; so are the five complete ones, the most recently seen.
    let ids: Vec<u32> = a.connections.iter().map(|c| c.id).collect();
    assert_eq!(ids[0], 1);
    assert_eq!(&ids[ids.len() - 5..], &[2002, 2003, 2004, 2005, 2006]);
    // The survivors of the flood are its most recent SYNs.
    let flood_ids: Vec<u32> = ids[1..ids.len() - 5].to_vec();
    assert!(!flood_ids.is_empty());
    assert_eq!(*flood_ids.last().unwrap(), 2001);
    assert!(
        flood_ids.windows(2).all(|w| w[1] == w[0] + 1),
        "{flood_ids:?}"
    );
    // Capture-wide: the flood pattern still counts every half-open connection.
    let flood = a.patterns.iter().find(|p| p.kind == "syn_flood").unwrap();
    assert_eq!(flood.connections.len(), 2000);
    assert!(
        flood
            .summary
            .starts_with("2000 half-open connections to 10.9.0.1:80 from 2000 source")
    );
    assert_eq!(a.tcp_segments, 4 + 2000 + 35);
    // The warning names the bound and how to raise it.
    let w: Vec<&String> = a
        .capture
        .warnings
        .iter()
        .filter(|w| w.contains("evicted"))
        .collect();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("--max-connections 500") && w[0].contains("raise"),
        "{}",
        w[0]
    );
}

#[test]
fn within_the_bound_nothing_is_evicted() {
    let a = run(&flood_capture(), "flood-unbounded.pcap", Budget::default());
    assert_eq!(a.connections.len(), 2006);
    assert_eq!(a.capture.evicted_connections, 0);
    assert!(!a.capture.warnings.iter().any(|w| w.contains("evicted")));
}

#[test]
fn the_memory_limit_reckons_a_syn_alone_and_a_frozen_connection_far_cheaper_than_a_working_one() {
    let bytes = flood_capture();
    // 2,006 connections held as working connections would need 6 MiB; as 2,000 lone SYNs and
    // six connections while reading, then frozen as they finish, they fit in 1 MiB.
    let budget = |memory_bytes| Budget {
        memory_bytes,
        max_connections: None,
    };
    let a = run(&bytes, "flood-mib.pcap", budget(1 << 20));
    assert_eq!(a.capture.evicted_connections, 0);
    assert_eq!(a.connections.len(), 2006);
    let held = a.connections.held();
    assert_eq!(
        held.frozen, 2006,
        "every finished connection is kept frozen"
    );
    assert!(held.bytes() <= 1 << 20, "{held:?}");
    const { assert!(2006 * CONNECTION_BYTES > 1 << 20) };
    // With 600 KiB the lone SYNs still fit while reading; at the end the finished connections
    // are frozen one at a time, and those past the bound go, oldest first.
    let a = run(&bytes, "flood-600k.pcap", budget(600 << 10));
    assert!(a.capture.evicted_connections > 0);
    assert!(a.connections.held().bytes() <= 600 << 10);
    let flood = a.patterns.iter().find(|p| p.kind == "syn_flood").unwrap();
    assert_eq!(flood.connections.len(), 2000);
}

/// Every connection's JSON, audited with and without a frame hook (which needs every
/// connection built at its first segment, so nothing is held as a lone SYN).
fn both_ways(path: &Path) -> (Vec<String>, Vec<String>) {
    let input = Input::Path(path.to_path_buf());
    let config = Config::default();
    let plain = audit_with(&input, &config, Hooks::default()).expect("read");
    let mut watch = |_: &Frame, _: Option<&Connection>| ControlFlow::Continue(());
    let hooks = Hooks {
        frame: Some(&mut watch),
        ..Hooks::default()
    };
    let built = audit_with(&input, &config, hooks).expect("read");
    let docs = |a: &Audit| {
        a.connections
            .iter()
            .map(|c| json::connection(c, a.capture.ts_digits).to_string())
            .collect()
    };
    (docs(&plain), docs(&built))
}

#[test]
fn a_connection_held_as_its_syn_reports_exactly_as_one_built_at_once() {
    let flood = TempPath::with_bytes("flood-same.pcap", &flood_capture());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("round2")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".pcap"))
        .collect();
    paths.sort();
    assert!(paths.len() > 30, "kernel fixtures missing: {}", paths.len());
    paths.push(flood.path().to_path_buf());
    for p in &paths {
        let (plain, built) = both_ways(p);
        assert!(!plain.is_empty(), "{}", p.display());
        assert_eq!(plain, built, "{}", p.display());
    }
}

/// Audit with a hook, returning the ids in the order they were handed over.
fn handed_over(bytes: &[u8], name: &str) -> (Vec<u32>, Vec<Connection>) {
    let file = TempPath::with_bytes(name, bytes);
    let mut got: Vec<Connection> = Vec::new();
    let mut hook = |c: &Connection, _: u8| {
        got.push(c.clone());
        ControlFlow::Continue(())
    };
    let hooks = Hooks {
        finished: Some(&mut hook),
        ..Hooks::default()
    };
    audit_with(
        &Input::Path(file.path().to_path_buf()),
        &Config::default(),
        hooks,
    )
    .expect("read");
    (got.iter().map(|c| c.id).collect(), got)
}

/// Connection 1 stays open to 400 s (a byte every 10 s); connection 2 is a client whose SYNs
/// (at 1 s, then `retries` more with Linux's doubling back-off) are never answered.
fn unanswered(retries: u32) -> Vec<u8> {
    let mut v = Vec::new();
    let c1 = addr("10.0.0.1:40000");
    established(c1, 0, &mut v);
    let s = addr("10.9.0.1:80");
    for i in 1..=40u32 {
        let t = u64::from(i) * 10 * SEC;
        v.push((t, Tcp::new(c1, s, ACK).seq(110 + i).ack(501).payload(1)));
        v.push((t + MS, Tcp::new(s, c1, ACK).seq(501).ack(111 + i)));
    }
    let c2 = addr("10.0.0.2:50000");
    let mut t = SEC;
    for k in 0..=retries {
        v.push((t, Tcp::new(c2, s, SYN).seq(7777)));
        t += (1u64 << k) * SEC;
    }
    v.sort_by_key(|(t, _)| *t);
    pcap(&v)
}

#[test]
fn a_client_gives_up_on_unanswered_syns_after_127_seconds() {
    let (order, got) = handed_over(&unanswered(6), "syn-give-up.pcap");
    // Connection 2 is handed over while the capture is read, before the open connection 1.
    assert_eq!(order, vec![2, 1]);
    let c2 = &got[0];
    assert_eq!(c2.dirs[c2.client].syn_count, 7);
}

#[test]
fn a_client_that_keeps_resending_is_one_connection_until_it_stops() {
    // Eight resends, the last 255 s after the first, past Linux's default schedule (which
    // gives up at 127 s): still one connection. Its next resend would be due 511 s after the
    // first SYN, after the end of the capture (400 s), so it is handed over at the end.
    let (order, got) = handed_over(&unanswered(8), "syn-long-schedule.pcap");
    assert_eq!(order, vec![1, 2]);
    assert_eq!(got[1].dirs[got[1].client].syn_count, 9);
    // Seven resends (the last at 127 s, just when the default schedule gives up): one
    // connection, handed over 255 s after its first SYN, while the capture is read.
    let (order, got) = handed_over(&unanswered(7), "syn-seven.pcap");
    assert_eq!(order, vec![2, 1]);
    assert_eq!(got[0].dirs[got[0].client].syn_count, 8);
}

#[test]
fn the_json_counts_evictions_and_stderr_warns_once() {
    let file = TempPath::with_bytes("flood-cli.pcap", &flood_capture());
    let path = file.path().to_str().unwrap();
    let o = common::run(&["--format", "json", "--max-connections", "300", path]);
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let evicted = doc["capture"]["evicted_connections"].as_u64().unwrap();
    let listed = doc["connections"].as_array().unwrap().len() as u64;
    assert!(listed <= 300);
    assert_eq!(evicted + listed, 2006);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.matches("evicted").count(), 1, "{stderr}");
    // jsonl: the same connections, line by line.
    let o = common::run(&["--format", "jsonl", "--max-connections", "300", path]);
    let lines = String::from_utf8_lossy(&o.stdout).lines().count() as u64;
    assert!(lines <= 300 && lines > 0, "{lines}");
    // The flood spans connections, most of them not reported: stderr names it.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("pattern syn_flood: 2000 half-open connections to 10.9.0.1:80"),
        "{stderr}"
    );
    // Without a bound: none.
    let o = common::run(&["--format", "json", path]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["capture"]["evicted_connections"], 0);
}

#[test]
fn a_bound_that_is_not_a_size_is_one_clear_error() {
    let file = TempPath::with_bytes("flood-bad-size.pcap", &flood_capture());
    let path = file.path().to_str().unwrap();
    for bad in [["--memory-limit", "lots"], ["--max-connections", "0"]] {
        let o = common::run(&[bad[0], bad[1], path]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(bad[0]),
            "{bad:?}"
        );
    }
}

#[test]
fn streamed_closed_connections_are_handed_over_early_not_dropped() {
    // 300 complete connections within a second: each lingers 60 s for late segments after it
    // closes, so all 300 would be held at once.
    let mut v = Vec::new();
    for i in 0..300u64 {
        complete(addr(&format!("10.0.1.1:{}", 20000 + i)), i * 3 * MS, &mut v);
    }
    v.sort_by_key(|(t, _)| *t);
    let file = TempPath::with_bytes("closed-early.pcap", &pcap(&v));
    let mut ids = Vec::new();
    let mut hook = |c: &Connection, _: u8| {
        ids.push(c.id);
        ControlFlow::Continue(())
    };
    let config = Config {
        budget: bounded(50),
        ..Config::default()
    };
    let hooks = Hooks {
        finished: Some(&mut hook),
        ..Hooks::default()
    };
    let a = audit_with(&Input::Path(file.path().to_path_buf()), &config, hooks).expect("read");
    assert_eq!(a.capture.evicted_connections, 0);
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=300).collect::<Vec<u32>>(),
        "every connection reported"
    );
    let w: Vec<&String> = a
        .capture
        .warnings
        .iter()
        .filter(|w| w.contains("linger"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", a.capture.warnings);
    // Kept for a report instead, the same connections past the bound are dropped and counted.
    let b = run(&pcap(&v), "closed-kept.pcap", bounded(50));
    assert!(b.connections.len() <= 50);
    assert_eq!(
        b.capture.evicted_connections + b.connections.len() as u64,
        300
    );
}
