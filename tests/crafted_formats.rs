//! Capture formats and link layers the public corpus covers poorly, built in memory
//! (`tests/common`): every link type, both pcap byte orders and resolutions, pcapng interfaces,
//! sections, `if_tsresol` / `if_tsoffset`, simple packet blocks, gzip, damaged and unusable files.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use tcpflow_audit::audit::{Audit, Config, audit};
use tcpflow_audit::capture::{CaptureError, Input};
use tcpflow_audit::report::json as report_json;
use tcpflow_audit::seq::SeqNumber;
use tcpflow_audit::time::Timestamp;
use tcpflow_audit::track::TimelineSelect;

use common::{
    ACK, Endian, FIN, Link, PSH, Pcap, PcapNg, SYN, Tcp, TempPath, TsResol, arp_frame, ethernet,
    gzip, ipv4_fragment, syn_options, udp_packet,
};

const BIN: &str = env!("CARGO_BIN_EXE_tcpflow-audit");

// ---------------------------------------------------------------------------------------------
// The conversation every format test carries
// ---------------------------------------------------------------------------------------------

/// Near the 2^32 wrap, so the client's data crosses it.
const CLIENT_ISN: u32 = 0xffff_fff0;
const SERVER_ISN: u32 = 0x0000_1000;
const CLIENT_BYTES: u32 = 100;
const SERVER_BYTES: u32 = 1000;

const V4_CLIENT: &str = "192.0.2.10:51000";
const V4_SERVER: &str = "198.51.100.20:80";
const V6_CLIENT: &str = "[2001:db8::10]:51000";
const V6_SERVER: &str = "[2001:db8:1::20]:443";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Handshake, 100 bytes client→server, 1000 bytes server→client, the client closes first:
/// ten segments, six from the client, four from the server.
fn conversation(client: SocketAddr, server: SocketAddr) -> Vec<Tcp> {
    let c = |n: u32| CLIENT_ISN.wrapping_add(n);
    let s = |n: u32| SERVER_ISN.wrapping_add(n);
    let (cb, sb) = (CLIENT_BYTES, SERVER_BYTES);
    vec![
        Tcp::new(client, server, SYN)
            .seq(c(0))
            .window(64_240)
            .options(syn_options(1460, 7)),
        Tcp::new(server, client, SYN | ACK)
            .seq(s(0))
            .ack(c(1))
            .window(65_160)
            .options(syn_options(1460, 7)),
        Tcp::new(client, server, ACK)
            .seq(c(1))
            .ack(s(1))
            .window(502),
        Tcp::new(client, server, PSH | ACK)
            .seq(c(1))
            .ack(s(1))
            .window(502)
            .payload(cb as usize),
        Tcp::new(server, client, ACK)
            .seq(s(1))
            .ack(c(1 + cb))
            .window(509),
        Tcp::new(server, client, PSH | ACK)
            .seq(s(1))
            .ack(c(1 + cb))
            .window(509)
            .payload(sb as usize),
        Tcp::new(client, server, ACK)
            .seq(c(1 + cb))
            .ack(s(1 + sb))
            .window(501),
        Tcp::new(client, server, FIN | ACK)
            .seq(c(1 + cb))
            .ack(s(1 + sb))
            .window(501),
        Tcp::new(server, client, FIN | ACK)
            .seq(s(1 + sb))
            .ack(c(2 + cb))
            .window(509),
        Tcp::new(client, server, ACK)
            .seq(c(2 + cb))
            .ack(s(2 + sb))
            .window(501),
    ]
}

fn v4_conversation() -> Vec<Tcp> {
    conversation(addr(V4_CLIENT), addr(V4_SERVER))
}

fn v6_conversation() -> Vec<Tcp> {
    conversation(addr(V6_CLIENT), addr(V6_SERVER))
}

/// 2023-11-14T22:13:20.123456 UTC, in nanoseconds.
const T0_US: u64 = 1_700_000_000_123_456_000;
/// The same second with a nanosecond fraction.
const T0_NS: u64 = 1_700_000_000_123_456_789;

/// `n` timestamps from `t0`, `gap` apart (nanoseconds).
fn times(t0: u64, gap: u64, n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| t0 + i * gap).collect()
}

fn ts(ns: u64) -> Timestamp {
    Timestamp(ns as i64)
}

/// A legacy pcap of `segs` on `link`, one every `gap` ns from `t0`.
fn pcap_of(link: Link, endian: Endian, nanos: bool, segs: &[Tcp], t0: u64, gap: u64) -> Vec<u8> {
    let v6 = segs[0].is_ipv6();
    let mut p = Pcap::new(endian, nanos, link.dlt(v6));
    for (seg, t) in segs.iter().zip(times(t0, gap, segs.len())) {
        p.packet(t, &seg.frame(link));
    }
    p.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Running the library and the binary
// ---------------------------------------------------------------------------------------------

fn timeline_config() -> Config {
    Config {
        timeline: TimelineSelect::All,
        ..Config::default()
    }
}

fn try_audit_bytes(name: &str, bytes: &[u8], config: &Config) -> Result<Audit, CaptureError> {
    let file = TempPath::with_bytes(name, bytes);
    audit(&Input::Path(file.path().to_path_buf()), config)
}

fn audit_bytes(name: &str, bytes: &[u8]) -> Audit {
    try_audit_bytes(name, bytes, &Config::default())
        .unwrap_or_else(|e| panic!("{name}: capture rejected: {e}"))
}

/// With per-segment timelines, so frame timestamps can be checked.
fn audit_bytes_timed(name: &str, bytes: &[u8]) -> Audit {
    try_audit_bytes(name, bytes, &timeline_config())
        .unwrap_or_else(|e| panic!("{name}: capture rejected: {e}"))
}

fn document(a: &Audit) -> Value {
    let all: Vec<usize> = (0..a.connections.len()).collect();
    report_json::document(a, &all)
}

/// Timestamp of every frame that reached a connection, by frame number.
fn frame_times(a: &Audit) -> BTreeMap<u64, Timestamp> {
    a.connections
        .iter()
        .flat_map(|c| c.timeline.as_ref().expect("timeline kept").iter())
        .map(|e| (e.frame, e.ts))
        .collect()
}

fn skipped(a: &Audit) -> Vec<(&'static str, u64)> {
    a.skipped_by_key().into_iter().collect()
}

fn run(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpflow-audit");
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            // The binary may stop reading early; a broken pipe is its business.
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("wait for tcpflow-audit");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    out
}

fn run_json_path(path: &Path) -> (Value, Output) {
    let out = run(
        &[path.to_str().expect("utf-8 path"), "--format", "json"],
        None,
    );
    let doc = parse_stdout(&out);
    (doc, out)
}

fn parse_stdout(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); exit {:?}; stderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A JSON number exactly as printed.
fn num_text(v: &Value) -> String {
    assert!(v.is_number(), "not a number: {v}");
    v.to_string()
}

// ---------------------------------------------------------------------------------------------
// The shape of the conversation after analysis
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Summary {
    packets: u64,
    tcp_segments: u64,
    skipped: Vec<(&'static str, u64)>,
    connections: usize,
    client: String,
    server: String,
    outcome: String,
    history: String,
    client_isn: Option<u32>,
    server_isn: Option<u32>,
    handshake_valid: bool,
    client_packets: u64,
    server_packets: u64,
    client_payload_bytes: u64,
    server_payload_bytes: u64,
    close_initiator: Option<&'static str>,
}

fn summary(a: &Audit) -> Summary {
    let (client, server, outcome, history, cisn, sisn, valid, cp, sp, cb, sb, init) =
        match a.connections.first() {
            Some(c) => {
                let (cl, sv) = (c.client, c.server());
                (
                    c.addrs[cl].to_string(),
                    c.addrs[sv].to_string(),
                    c.summary().outcome.name().to_string(),
                    c.history(),
                    c.dirs[cl].isn.map(|s| s.0),
                    c.dirs[sv].isn.map(|s| s.0),
                    c.handshake.valid(),
                    c.dirs[cl].stats.packets,
                    c.dirs[sv].stats.packets,
                    c.dirs[cl].stats.payload_bytes,
                    c.dirs[sv].stats.payload_bytes,
                    c.summary().close_initiator.map(|p| p.name()),
                )
            }
            None => Default::default(),
        };
    Summary {
        packets: a.capture.frames,
        tcp_segments: a.tcp_segments,
        skipped: skipped(a),
        connections: a.connections.len(),
        client,
        server,
        outcome,
        history,
        client_isn: cisn,
        server_isn: sisn,
        handshake_valid: valid,
        client_packets: cp,
        server_packets: sp,
        client_payload_bytes: cb,
        server_payload_bytes: sb,
        close_initiator: init,
    }
}

/// What the ten-segment conversation must come out as, with `extra_skipped` frames around it.
fn expected_summary(client: &str, server: &str, skipped: Vec<(&'static str, u64)>) -> Summary {
    let extra: u64 = skipped.iter().map(|(_, n)| n).sum();
    Summary {
        packets: 10 + extra,
        tcp_segments: 10,
        skipped,
        connections: 1,
        client: client.to_string(),
        server: server.to_string(),
        outcome: "SF".to_string(),
        history: "ShADadFf".to_string(),
        client_isn: Some(CLIENT_ISN),
        server_isn: Some(SERVER_ISN),
        handshake_valid: true,
        client_packets: 6,
        server_packets: 4,
        client_payload_bytes: u64::from(CLIENT_BYTES),
        server_payload_bytes: u64::from(SERVER_BYTES),
        close_initiator: Some("client"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Every link type decodes the same conversation identically
// ---------------------------------------------------------------------------------------------

fn links(v6: bool) -> Vec<Link> {
    let mut l = vec![
        Link::Ethernet,
        Link::Dot1Q(100),
        Link::QinQ(10, 20),
        Link::Sll,
        Link::Sll2,
    ];
    if v6 {
        for af6 in [24, 28, 30] {
            l.push(Link::Null {
                af6,
                host: Endian::Little,
            });
        }
    } else {
        l.push(Link::Null {
            af6: 30,
            host: Endian::Little,
        });
    }
    // A big-endian host writes a big-endian pcap and a big-endian address family.
    l.push(Link::Null {
        af6: 30,
        host: Endian::Big,
    });
    l.extend([Link::Loop, Link::Raw, Link::IpVersioned]);
    l
}

fn check_every_link(v6: bool, client: &str, server: &str) {
    let segs = if v6 {
        v6_conversation()
    } else {
        v4_conversation()
    };
    let mut got = Vec::new();
    let mut want = Vec::new();
    let mut json_differs = Vec::new();
    let mut baseline: Option<Value> = None;
    for link in links(v6) {
        let endian = match link {
            Link::Null { host, .. } => host,
            _ => Endian::Little,
        };
        let bytes = pcap_of(link, endian, false, &segs, T0_US, 20_000_000);
        let a = audit_bytes("link.pcap", &bytes);
        let name = format!("{link:?} (DLT {})", link.dlt(v6));
        got.push((name.clone(), summary(&a)));
        want.push((name.clone(), expected_summary(client, server, vec![])));
        let doc = document(&a);
        let conns = doc["connections"].clone();
        match &baseline {
            None => {
                assert_eq!(conns[0]["client"]["address"], json!(client), "{name}");
                assert_eq!(conns[0]["server"]["address"], json!(server), "{name}");
                assert_eq!(conns[0]["outcome"], json!("SF"), "{name}");
                assert_eq!(conns[0]["client"]["payload_bytes"], json!(100), "{name}");
                assert_eq!(conns[0]["server"]["payload_bytes"], json!(1000), "{name}");
                baseline = Some(conns);
            }
            Some(b) if *b != conns => json_differs.push(name),
            Some(_) => {}
        }
    }
    assert_eq!(got, want);
    assert_eq!(
        json_differs,
        Vec::<String>::new(),
        "connection JSON differs from the Ethernet capture's"
    );
}

#[test]
fn ipv4_conversation_decodes_identically_over_every_link_type() {
    check_every_link(false, V4_CLIENT, V4_SERVER);
}

#[test]
fn ipv6_conversation_decodes_identically_over_every_link_type_with_bracketed_addresses() {
    check_every_link(true, V6_CLIENT, V6_SERVER);
}

#[test]
fn pcapng_enhanced_packets_decode_like_pcap_records_on_every_link_type() {
    for (v6, client, server) in [(false, V4_CLIENT, V4_SERVER), (true, V6_CLIENT, V6_SERVER)] {
        let segs = if v6 {
            v6_conversation()
        } else {
            v4_conversation()
        };
        for link in links(v6) {
            let mut ng = PcapNg::new(Endian::Little);
            let ifc = ng.interface(link.dlt(v6) as u16, None, None);
            for (seg, t) in segs.iter().zip(times(T0_US / 1000, 20_000, 10)) {
                ng.epb_packet(ifc, t, &seg.frame(link));
            }
            let a = audit_bytes("link.pcapng", ng.bytes());
            assert_eq!(
                summary(&a),
                expected_summary(client, server, vec![]),
                "{link:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Legacy pcap: byte order and resolution
// ---------------------------------------------------------------------------------------------

/// The binary's JSON prints the capture's precision; the library's frame times are exact.
fn check_legacy_timestamps(
    endian: Endian,
    nanos: bool,
    t0: u64,
    gap: u64,
    first: &str,
    last: &str,
) {
    let bytes = pcap_of(Link::Ethernet, endian, nanos, &v4_conversation(), t0, gap);
    let file = TempPath::with_bytes("times.pcap", &bytes);

    let a = try_audit_bytes("times.pcap", &bytes, &timeline_config()).expect("capture read");
    let want: BTreeMap<u64, Timestamp> = (1..=10u64)
        .zip(times(t0, gap, 10))
        .map(|(f, t)| (f, ts(t)))
        .collect();
    assert_eq!(frame_times(&a), want);
    assert_eq!(a.first_ts, Some(ts(t0)));
    assert_eq!(a.last_ts, Some(ts(t0 + 9 * gap)));
    assert_eq!(a.capture.big_endian, endian == Endian::Big);
    assert_eq!(a.capture.ts_digits, if nanos { 9 } else { 6 });

    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["capture"]["format"], json!("pcap"));
    assert_eq!(doc["capture"]["big_endian"], json!(endian == Endian::Big));
    assert_eq!(doc["capture"]["packets"], json!(10));
    assert_eq!(doc["capture"]["tcp_segments"], json!(10));
    assert_eq!(num_text(&doc["capture"]["first_ts"]), first);
    assert_eq!(num_text(&doc["capture"]["last_ts"]), last);
    assert_eq!(num_text(&doc["connections"][0]["start_ts"]), first);
    assert_eq!(num_text(&doc["connections"][0]["end_ts"]), last);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("\"first_ts\":{first},")),
        "first_ts not printed as {first}:\n{stdout}"
    );
}

#[test]
fn little_endian_microsecond_pcap_prints_six_decimals() {
    check_legacy_timestamps(
        Endian::Little,
        false,
        T0_US,
        20_001_000,
        "1700000000.123456",
        "1700000000.303465",
    );
}

#[test]
fn big_endian_microsecond_pcap_timestamps_are_exact() {
    check_legacy_timestamps(
        Endian::Big,
        false,
        T0_US,
        20_001_000,
        "1700000000.123456",
        "1700000000.303465",
    );
}

#[test]
fn little_endian_nanosecond_pcap_prints_nine_decimals() {
    check_legacy_timestamps(
        Endian::Little,
        true,
        T0_NS,
        1_000_001,
        "1700000000.123456789",
        "1700000000.132456798",
    );
}

#[test]
fn big_endian_nanosecond_pcap_timestamps_are_exact() {
    check_legacy_timestamps(
        Endian::Big,
        true,
        T0_NS,
        1_000_001,
        "1700000000.123456789",
        "1700000000.132456798",
    );
}

#[test]
fn pcap_spanning_decades_from_an_unset_clock_is_analysed_without_overflow() {
    // A device that booted with its clock at the epoch, then synchronised: the first frame is
    // stamped 1970-01-01, the conversation 2023-11-14.
    let segs = v4_conversation();
    let mut p = Pcap::new(Endian::Little, false, 1);
    let (cip, sip) = (
        "192.0.2.10".parse().unwrap(),
        "198.51.100.20".parse().unwrap(),
    );
    p.packet(0, &arp_frame(cip, sip));
    for (seg, t) in segs.iter().zip(times(T0_US, 20_000_000, 10)) {
        p.packet(t, &seg.frame(Link::Ethernet));
    }
    let file = TempPath::with_bytes("epoch-then-now.pcap", p.bytes());

    let a =
        audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read");
    assert_eq!(
        summary(&a),
        expected_summary(V4_CLIENT, V4_SERVER, vec![("non_ip", 1)])
    );
    assert_eq!(a.first_ts, Some(Timestamp::ZERO));
    assert_eq!(a.last_ts, Some(ts(T0_US + 9 * 20_000_000)));
    // The client holds TIME_WAIT only in the last of the 40 slices of these 53 years.
    let client = a
        .time_wait
        .by_endpoint
        .iter()
        .find(|e| e.endpoint.to_string() == V4_CLIENT)
        .expect("client endpoint in the TIME_WAIT report");
    let mut series = vec![0u32; 39];
    series.push(1);
    assert_eq!(client.series, series);

    let (doc, out) = run_json_path(file.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(num_text(&doc["capture"]["first_ts"]), "0.000000");
    assert_eq!(doc["connections"][0]["outcome"], json!("SF"));
}

#[test]
fn pcap_with_only_a_file_header_has_no_frames_and_exit_0() {
    let p = Pcap::new(Endian::Little, false, 1);
    let file = TempPath::with_bytes("header-only.pcap", p.bytes());
    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["capture"]["packets"], json!(0));
    assert_eq!(doc["capture"]["tcp_segments"], json!(0));
    assert_eq!(doc["capture"]["skipped"], json!({}));
    assert_eq!(doc["capture"]["first_ts"], Value::Null);
    assert_eq!(doc["capture"]["warnings"], json!([]));
    assert_eq!(doc["connections"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// 3. pcapng: interfaces, resolutions, offsets, sections
// ---------------------------------------------------------------------------------------------

#[test]
fn pcapng_interfaces_keep_their_own_link_type_resolution_and_offset() {
    let mut ng = PcapNg::new(Endian::Little);
    // Interface 0: Ethernet, nanoseconds, absolute timestamps.
    let eth = ng.interface(1, Some(TsResol::Decimal(9)), None);
    // Interface 1: Linux cooked, microseconds, timestamps relative to 1700000000 s.
    let sll = ng.interface(113, Some(TsResol::Decimal(6)), Some(1_700_000_000));
    // Interface 2: described but unused (raw IP, default resolution).
    ng.interface(101, None, None);

    let a_times = times(T0_NS, 1_000_001, 10);
    // On `sll`: 5.000000 s after the offset, 1.234 ms apart, in µs units.
    let b_units: Vec<u64> = (0..10).map(|i| 5_000_000 + i * 1_234).collect();
    let b_times: Vec<u64> = (0..10)
        .map(|i| 1_700_000_005_000_000_000 + i * 1_234_000)
        .collect();

    let mut want = BTreeMap::new();
    let mut frame = 0;
    for (i, (a, b)) in v4_conversation()
        .iter()
        .zip(v6_conversation().iter())
        .enumerate()
    {
        ng.epb_packet(eth, a_times[i], &a.frame(Link::Ethernet));
        frame += 1;
        want.insert(frame, ts(a_times[i]));
        ng.epb_packet(sll, b_units[i], &b.frame(Link::Sll));
        frame += 1;
        want.insert(frame, ts(b_times[i]));
    }
    let a = audit_bytes_timed("ifaces.pcapng", ng.bytes());

    assert_eq!(a.capture.format, "pcapng");
    assert_eq!(a.capture.sections, 1);
    assert_eq!(a.capture.interfaces, 3);
    // The two interfaces' frames alternate, 5 s apart: time goes back at frame 3, once warned.
    assert_eq!(a.capture.warnings.len(), 1, "{:?}", a.capture.warnings);
    assert!(
        a.capture.warnings[0].starts_with("frame 3 is 4.875543 s earlier"),
        "{:?}",
        a.capture.warnings
    );
    assert!(a.connections.iter().all(|c| c.events.anomaly_count() == 0));
    assert_eq!(a.capture.frames, 20);
    assert_eq!(a.tcp_segments, 20);
    assert_eq!(skipped(&a), vec![]);
    assert_eq!(frame_times(&a), want);
    assert_eq!(a.first_ts, Some(ts(T0_NS)));
    assert_eq!(a.last_ts, Some(ts(1_700_000_005_011_106_000)));

    let conns: Vec<(String, String, &str)> = a
        .connections
        .iter()
        .map(|c| {
            (
                c.addrs[c.client].to_string(),
                c.addrs[c.server()].to_string(),
                c.summary().outcome.name(),
            )
        })
        .collect();
    assert_eq!(
        conns,
        vec![
            (V4_CLIENT.to_string(), V4_SERVER.to_string(), "SF"),
            (V6_CLIENT.to_string(), V6_SERVER.to_string(), "SF"),
        ]
    );

    // The finest interface (ns) sets the printed precision for the whole capture.
    let doc = document(&a);
    assert_eq!(
        num_text(&doc["capture"]["first_ts"]),
        "1700000000.123456789"
    );
    assert_eq!(num_text(&doc["capture"]["last_ts"]), "1700000005.011106000");
    assert_eq!(
        num_text(&doc["connections"][1]["start_ts"]),
        "1700000005.000000000"
    );
    assert_eq!(
        num_text(&doc["connections"][1]["end_ts"]),
        "1700000005.011106000"
    );
}

#[test]
fn pcapng_second_section_resets_interfaces() {
    // Section 1, little-endian: interface 0 Ethernet (µs, by default), interface 1 raw IP in ms.
    let mut ng = PcapNg::new(Endian::Little);
    let eth = ng.interface(1, None, None);
    let raw = ng.interface(101, Some(TsResol::Decimal(3)), None);
    let a_times = times(T0_US, 20_000_000, 10);
    for (seg, t) in v4_conversation().iter().zip(&a_times) {
        ng.epb_packet(eth, t / 1000, &seg.frame(Link::Ethernet));
    }
    let dns = udp_packet(addr("192.0.2.10:5353"), addr("192.0.2.53:53"), 30);
    ng.epb_packet(raw, 1_700_000_001_000, &dns);

    // Section 2, big-endian: interface 0 is now SLL2 in ns; interface 1 no longer exists.
    ng.section(Endian::Big);
    let sll2 = ng.interface(276, Some(TsResol::Decimal(9)), None);
    let b_times = times(1_700_000_002_000_000_001, 3_000_007, 10);
    for (seg, t) in v6_conversation().iter().zip(&b_times) {
        ng.epb_packet(sll2, *t, &seg.frame(Link::Sll2));
    }
    // A raw IPv4 TCP packet naming interface 1: were section 1's interfaces kept, it would be a
    // third connection.
    let stray = Tcp::new(addr("203.0.113.1:40000"), addr("203.0.113.2:22"), SYN).seq(7);
    ng.epb_packet(1, 1_700_000_003_000_000_000, &stray.ip());

    let a = audit_bytes_timed("sections.pcapng", ng.bytes());
    assert_eq!(a.capture.format, "pcapng");
    assert_eq!(a.capture.sections, 2);
    assert_eq!(a.capture.interfaces, 3);
    assert_eq!(a.capture.frames, 22);
    assert_eq!(a.tcp_segments, 20);
    assert_eq!(skipped(&a), vec![("non_tcp", 1), ("bad_interface", 1)]);
    assert_eq!(a.capture.warnings.len(), 1, "{:?}", a.capture.warnings);
    assert!(
        a.capture.warnings[0].contains("frame 22 names interface 1"),
        "{:?}",
        a.capture.warnings
    );

    let mut want: BTreeMap<u64, Timestamp> = BTreeMap::new();
    for (i, t) in a_times.iter().enumerate() {
        want.insert(i as u64 + 1, ts(*t));
    }
    for (i, t) in b_times.iter().enumerate() {
        want.insert(i as u64 + 12, ts(*t));
    }
    assert_eq!(frame_times(&a), want);

    let conns: Vec<(String, &str, u64, u64)> = a
        .connections
        .iter()
        .map(|c| {
            (
                c.addrs[c.client].to_string(),
                c.summary().outcome.name(),
                c.dirs[c.client].stats.payload_bytes,
                c.dirs[c.server()].stats.payload_bytes,
            )
        })
        .collect();
    assert_eq!(
        conns,
        vec![
            (V4_CLIENT.to_string(), "SF", 100, 1000),
            (V6_CLIENT.to_string(), "SF", 100, 1000),
        ]
    );
}

#[test]
fn pcapng_binary_fraction_tsresol_timestamps_are_exact() {
    // if_tsresol = 0x94: units of 2^-20 s. Fractions of i/16 s are exact in nanoseconds.
    let mut ng = PcapNg::new(Endian::Little);
    let eth = ng.interface(1, Some(TsResol::Binary(20)), None);
    let mut want = BTreeMap::new();
    for (i, seg) in v4_conversation().iter().enumerate() {
        let i = i as u64;
        let units = (1_700_000_000u64 << 20) + i * (1 << 16);
        ng.epb_packet(eth, units, &seg.frame(Link::Ethernet));
        want.insert(i + 1, ts(1_700_000_000_000_000_000 + i * 62_500_000));
    }
    let a = audit_bytes_timed("binary-resol.pcapng", ng.bytes());
    assert_eq!(a.capture.warnings, Vec::<String>::new());
    assert_eq!(frame_times(&a), want);
    assert_eq!(summary(&a), expected_summary(V4_CLIENT, V4_SERVER, vec![]));
}

#[test]
fn big_endian_pcapng_if_tsoffset_is_read_in_section_byte_order() {
    let mut ng = PcapNg::new(Endian::Big);
    let eth = ng.interface(1, Some(TsResol::Decimal(6)), Some(1_700_000_000));
    let mut want = BTreeMap::new();
    for (i, seg) in v4_conversation().iter().enumerate() {
        let i = i as u64;
        ng.epb_packet(eth, 123_456 + i * 1000, &seg.frame(Link::Ethernet));
        want.insert(i + 1, ts(T0_US + i * 1_000_000));
    }
    let a = audit_bytes_timed("be-offset.pcapng", ng.bytes());
    assert!(a.capture.big_endian);
    assert_eq!(a.capture.warnings, Vec::<String>::new());
    assert_eq!(frame_times(&a), want);
    assert_eq!(
        num_text(&document(&a)["capture"]["first_ts"]),
        "1700000000.123456"
    );
}

#[test]
fn pcapng_simple_packet_blocks_carry_frames_of_interface_zero() {
    let mut ng = PcapNg::new(Endian::Little);
    let sll = ng.interface(113, None, None);
    ng.interface(1, None, None); // Ethernet on interface 1 must not be used for SPBs.
    let segs = v4_conversation();
    ng.epb_packet(sll, T0_US / 1000, &segs[0].frame(Link::Sll));
    for seg in &segs[1..] {
        ng.spb(&seg.frame(Link::Sll));
    }
    let a = audit_bytes("spb.pcapng", ng.bytes());
    assert_eq!(a.capture.warnings, Vec::<String>::new());
    assert_eq!(a.first_ts, Some(ts(T0_US)));
    assert_eq!(summary(&a), expected_summary(V4_CLIENT, V4_SERVER, vec![]));
}

#[test]
fn pcapng_packet_naming_undescribed_interface_is_skipped_as_bad_interface() {
    let mut ng = PcapNg::new(Endian::Little);
    let eth = ng.interface(1, None, None);
    for (i, (seg, t)) in v4_conversation()
        .iter()
        .zip(times(T0_US / 1000, 20_000, 10))
        .enumerate()
    {
        if i == 3 {
            ng.epb_packet(5, t, &seg.frame(Link::Ethernet));
        }
        ng.epb_packet(eth, t, &seg.frame(Link::Ethernet));
    }
    let file = TempPath::with_bytes("bad-iface.pcapng", ng.bytes());

    let a =
        audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read");
    assert_eq!(
        summary(&a),
        expected_summary(V4_CLIENT, V4_SERVER, vec![("bad_interface", 1)])
    );

    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    let cap = &doc["capture"];
    assert_eq!(cap["packets"], json!(11));
    assert_eq!(cap["tcp_segments"], json!(10));
    assert_eq!(cap["skipped"], json!({ "bad_interface": 1 }));
    assert_eq!(
        cap["skipped_detail"],
        json!([{ "reason": "bad_interface", "what": "undescribed pcapng interface", "count": 1 }])
    );
    let warnings = cap["warnings"].as_array().expect("warnings array");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = warnings[0].as_str().expect("warning text");
    assert!(w.contains("frame 4 names interface 5"), "{w}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("tcpflow-audit: warning: {w}")]
    );
    assert_eq!(doc["connections"][0]["outcome"], json!("SF"));
}

#[test]
fn pcapng_first_frame_on_undescribed_interface_does_not_set_first_ts() {
    // The undescribed interface's frame comes first; its timestamp units are unknown, so the
    // capture's first timestamp is the first described frame's, not the epoch.
    let mut ng = PcapNg::new(Endian::Little);
    let eth = ng.interface(1, None, None);
    let segs = v4_conversation();
    let t = times(T0_US / 1000, 20_000, 7);
    ng.epb_packet(2, t[0], &segs[0].frame(Link::Ethernet));
    for (seg, t) in segs[..7].iter().zip(&t) {
        ng.epb_packet(eth, *t, &seg.frame(Link::Ethernet));
    }
    let file = TempPath::with_bytes("bad-iface-first.pcapng", ng.bytes());
    let a =
        audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read");
    assert_eq!(a.capture.frames, 8);
    assert_eq!(a.tcp_segments, 7);
    assert_eq!(skipped(&a), vec![("bad_interface", 1)]);
    assert_eq!(a.first_ts, Some(ts(T0_US)));
    assert_eq!(a.last_ts, Some(ts(T0_US + 6 * 20_000_000)));

    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(num_text(&doc["capture"]["first_ts"]), "1700000000.123456");
    assert_eq!(num_text(&doc["capture"]["last_ts"]), "1700000000.243456");
}

// ---------------------------------------------------------------------------------------------
// 4. Frame accounting
// ---------------------------------------------------------------------------------------------

#[test]
fn every_frame_is_a_tcp_segment_or_skipped_for_exactly_one_reason() {
    let mut ng = PcapNg::new(Endian::Little);
    let eth = ng.interface(1, None, None);
    let wifi = ng.interface(105, None, None); // IEEE 802.11: not decoded
    let segs = v4_conversation();
    let client = addr(V4_CLIENT);
    let server = addr(V4_SERVER);
    let (cip, sip) = match (client.ip(), server.ip()) {
        (std::net::IpAddr::V4(c), std::net::IpAddr::V4(s)) => (c, s),
        _ => unreachable!(),
    };
    let mut t = T0_US / 1000;
    let mut next = || {
        t += 1000;
        t
    };

    ng.epb_packet(eth, next(), &segs[0].frame(Link::Ethernet));
    ng.epb_packet(eth, next(), &arp_frame(cip, sip)); // non_ip
    ng.epb_packet(eth, next(), &segs[1].frame(Link::Ethernet));
    let dns = udp_packet(addr("192.0.2.10:5353"), addr("192.0.2.53:53"), 30);
    ng.epb_packet(eth, next(), &Link::Ethernet.wrap(&dns)); // non_tcp
    ng.epb_packet(eth, next(), &segs[2].frame(Link::Ethernet));
    // A 1048-byte TCP payload of another flow split in two fragments; the first holds the
    // whole TCP header, and still is no segment.
    let big = Tcp::new(addr("192.0.2.10:51001"), server, ACK | PSH)
        .seq(1)
        .ack(1)
        .payload(1028)
        .segment();
    let first = ipv4_fragment(cip, sip, 0, true, &big[..520]);
    let last = ipv4_fragment(cip, sip, 520, false, &big[520..]);
    ng.epb_packet(eth, next(), &Link::Ethernet.wrap(&first)); // ip_fragment
    ng.epb_packet(eth, next(), &Link::Ethernet.wrap(&last)); // ip_fragment
    ng.epb_packet(wifi, next(), &[0x08, 0x02, 0, 0, 0xff, 0xff, 0xff, 0xff]); // unsupported
    ng.epb_packet(eth, next(), &segs[3].frame(Link::Ethernet));
    // Cut 10 bytes into the TCP header by the snaplen.
    let cut = Tcp::new(addr("192.0.2.10:51002"), server, ACK)
        .seq(1)
        .ack(1)
        .payload(500)
        .frame(Link::Ethernet);
    ng.epb_cut(eth, next(), &cut, 14 + 20 + 10); // truncated
    ng.epb_packet(9, next(), &segs[3].frame(Link::Ethernet)); // bad_interface
    for seg in &segs[4..] {
        ng.epb_packet(eth, next(), &seg.frame(Link::Ethernet));
    }
    let file = TempPath::with_bytes("mixed.pcapng", ng.bytes());

    let want_skipped = vec![
        ("non_ip", 1),
        ("non_tcp", 1),
        ("ip_fragment", 2),
        ("unsupported_link_type", 1),
        ("truncated", 1),
        ("bad_interface", 1),
    ];
    let a =
        audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read");
    assert_eq!(
        summary(&a),
        expected_summary(V4_CLIENT, V4_SERVER, want_skipped)
    );
    assert_eq!(a.tcp_segments + a.skipped_total(), a.capture.frames);

    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    let cap = &doc["capture"];
    assert_eq!(cap["packets"], json!(17));
    assert_eq!(cap["tcp_segments"], json!(10));
    assert_eq!(
        cap["skipped"],
        json!({
            "non_ip": 1,
            "non_tcp": 1,
            "ip_fragment": 2,
            "unsupported_link_type": 1,
            "truncated": 1,
            "bad_interface": 1,
        })
    );
    let sum: u64 = cap["skipped"]
        .as_object()
        .expect("skipped object")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(cap["tcp_segments"].as_u64().expect("count") + sum, 17);
    let detail: Vec<(String, String, u64)> = cap["skipped_detail"]
        .as_array()
        .expect("skipped_detail array")
        .iter()
        .map(|d| {
            (
                d["reason"].as_str().expect("reason").to_string(),
                d["what"].as_str().expect("what").to_string(),
                d["count"].as_u64().expect("count"),
            )
        })
        .collect();
    let reasons: Vec<(&str, u64)> = detail.iter().map(|(r, _, n)| (r.as_str(), *n)).collect();
    assert_eq!(
        reasons,
        vec![
            ("non_ip", 1),
            ("non_tcp", 1),
            ("ip_fragment", 2),
            ("unsupported_link_type", 1),
            ("truncated", 1),
            ("bad_interface", 1),
        ]
    );
    let whats: Vec<&str> = detail.iter().map(|(_, w, _)| w.as_str()).collect();
    assert_eq!(whats[0], "ARP");
    assert_eq!(whats[1], "UDP");
    assert_eq!(whats[2], "IP fragment");
    assert!(whats[3].starts_with("link type 105"), "{}", whats[3]);
    assert_eq!(whats[4], "TCP header cut by the snaplen");
    assert_eq!(whats[5], "undescribed pcapng interface");
}

// ---------------------------------------------------------------------------------------------
// 5. Snaplen
// ---------------------------------------------------------------------------------------------

/// A request, three full-sized segments of response and a close, every frame cut to 96 bytes.
fn check_snaplen_96(client: SocketAddr, server: SocketAddr) {
    const MSS: u32 = 1448;
    let c = |n: u32| CLIENT_ISN.wrapping_add(n);
    let s = |n: u32| SERVER_ISN.wrapping_add(n);
    let segs = vec![
        Tcp::new(client, server, SYN)
            .seq(c(0))
            .options(syn_options(1460, 7)),
        Tcp::new(server, client, SYN | ACK)
            .seq(s(0))
            .ack(c(1))
            .options(syn_options(1460, 7)),
        Tcp::new(client, server, ACK).seq(c(1)).ack(s(1)),
        Tcp::new(client, server, PSH | ACK)
            .seq(c(1))
            .ack(s(1))
            .payload(100),
        Tcp::new(server, client, ACK)
            .seq(s(1))
            .ack(c(101))
            .payload(MSS as usize),
        Tcp::new(server, client, ACK)
            .seq(s(1 + MSS))
            .ack(c(101))
            .payload(MSS as usize),
        Tcp::new(client, server, ACK)
            .seq(c(101))
            .ack(s(1 + 2 * MSS)),
        Tcp::new(server, client, PSH | ACK)
            .seq(s(1 + 2 * MSS))
            .ack(c(101))
            .payload(MSS as usize),
        Tcp::new(client, server, ACK)
            .seq(c(101))
            .ack(s(1 + 3 * MSS)),
        Tcp::new(client, server, FIN | ACK)
            .seq(c(101))
            .ack(s(1 + 3 * MSS)),
        Tcp::new(server, client, FIN | ACK)
            .seq(s(1 + 3 * MSS))
            .ack(c(102)),
        Tcp::new(client, server, ACK)
            .seq(c(102))
            .ack(s(2 + 3 * MSS)),
    ];
    let mut p = Pcap::new(Endian::Little, false, 1);
    for (seg, t) in segs.iter().zip(times(T0_US, 10_000_000, segs.len())) {
        p.packet_cut(t, &seg.frame(Link::Ethernet), 96);
    }
    let a = audit_bytes("snaplen.pcap", p.bytes());
    assert_eq!(a.capture.frames, 12);
    assert_eq!(a.tcp_segments, 12);
    assert_eq!(skipped(&a), vec![]);
    assert_eq!(a.connections.len(), 1);
    let conn = &a.connections[0];
    let (cl, sv) = (conn.client, conn.server());
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(conn.dirs[cl].stats.payload_bytes, 100);
    assert_eq!(conn.dirs[sv].stats.payload_bytes, 3 * u64::from(MSS));
    assert_eq!(conn.dirs[sv].next_seq, Some(SeqNumber(s(2 + 3 * MSS))));
    for side in [cl, sv] {
        let st = conn.dirs[side].stats;
        assert_eq!(st.retransmissions, 0);
        assert_eq!(st.prev_segment_not_captured, 0);
        assert_eq!(st.acked_unseen, 0);
        assert_eq!(st.out_of_order, 0);
    }
    let doc = document(&a);
    assert_eq!(
        doc["connections"][0]["server"]["payload_bytes"],
        json!(3 * MSS)
    );
}

#[test]
fn snaplen_96_ipv4_segments_count_full_payload_from_ip_total_length() {
    check_snaplen_96(addr(V4_CLIENT), addr(V4_SERVER));
}

#[test]
fn snaplen_96_ipv6_segments_count_full_payload_from_ip_payload_length() {
    check_snaplen_96(addr(V6_CLIENT), addr(V6_SERVER));
}

// ---------------------------------------------------------------------------------------------
// 6. gzip and standard input
// ---------------------------------------------------------------------------------------------

#[test]
fn gzip_compressed_pcap_is_recognised_by_magic_without_gz_extension() {
    let plain = pcap_of(
        Link::Ethernet,
        Endian::Little,
        false,
        &v4_conversation(),
        T0_US,
        20_000_000,
    );
    let a_plain = audit_bytes("plain.pcap", &plain);
    let a_gz = audit_bytes("compressed.pcap", &gzip(&plain));
    assert!(!a_plain.capture.gzip);
    assert!(a_gz.capture.gzip);
    assert_eq!(a_gz.capture.format, "pcap");
    assert_eq!(a_gz.capture.warnings, Vec::<String>::new());
    assert_eq!(
        summary(&a_gz),
        expected_summary(V4_CLIENT, V4_SERVER, vec![])
    );
    assert_eq!(
        document(&a_gz)["connections"],
        document(&a_plain)["connections"]
    );
}

#[test]
fn gzip_with_two_concatenated_members_is_read_whole() {
    let plain = pcap_of(
        Link::Ethernet,
        Endian::Little,
        false,
        &v4_conversation(),
        T0_US,
        20_000_000,
    );
    // As `cat a.gz b.gz` makes, split inside the fourth record.
    let mut two = gzip(&plain[..300]);
    two.extend_from_slice(&gzip(&plain[300..]));
    let a = audit_bytes("two-members.pcap", &two);
    assert!(a.capture.gzip);
    assert_eq!(a.capture.warnings, Vec::<String>::new());
    assert_eq!(summary(&a), expected_summary(V4_CLIENT, V4_SERVER, vec![]));
}

#[test]
fn gzip_compressed_pcapng_is_read_from_stdin_with_dash() {
    let mut ng = PcapNg::new(Endian::Little);
    let ifc = ng.interface(1, Some(TsResol::Decimal(9)), None);
    for (seg, t) in v6_conversation().iter().zip(times(T0_NS, 1_000_001, 10)) {
        ng.epb_packet(ifc, t, &seg.frame(Link::Ethernet));
    }
    let out = run(&["-", "--format", "json"], Some(gzip(ng.bytes())));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = parse_stdout(&out);
    let cap = &doc["capture"];
    assert_eq!(cap["file"], json!("-"));
    assert_eq!(cap["format"], json!("pcapng"));
    assert_eq!(cap["gzip"], json!(true));
    assert_eq!(cap["packets"], json!(10));
    assert_eq!(cap["tcp_segments"], json!(10));
    assert_eq!(num_text(&cap["first_ts"]), "1700000000.123456789");
    let conn = &doc["connections"][0];
    assert_eq!(conn["client"]["address"], json!(V6_CLIENT));
    assert_eq!(conn["server"]["address"], json!(V6_SERVER));
    assert_eq!(conn["outcome"], json!("SF"));
    assert_eq!(stderr_lines(&out), Vec::<String>::new());
}

#[test]
fn gzip_compressed_pcap_is_read_from_stdin_with_dash() {
    let plain = pcap_of(
        Link::Ethernet,
        Endian::Big,
        true,
        &v4_conversation(),
        T0_NS,
        1_000_001,
    );
    let out = run(&["-", "--format", "json"], Some(gzip(&plain)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = parse_stdout(&out);
    let cap = &doc["capture"];
    assert_eq!(cap["file"], json!("-"));
    assert_eq!(cap["format"], json!("pcap"));
    assert_eq!(cap["gzip"], json!(true));
    assert_eq!(cap["big_endian"], json!(true));
    assert_eq!(cap["packets"], json!(10));
    assert_eq!(cap["tcp_segments"], json!(10));
    assert_eq!(num_text(&cap["first_ts"]), "1700000000.123456789");
    assert_eq!(num_text(&cap["last_ts"]), "1700000000.132456798");
    let conn = &doc["connections"][0];
    assert_eq!(conn["client"]["address"], json!(V4_CLIENT));
    assert_eq!(conn["outcome"], json!("SF"));
    assert_eq!(conn["client"]["payload_bytes"], json!(100));
    assert_eq!(conn["server"]["payload_bytes"], json!(1000));
}

#[test]
fn uncompressed_pcap_is_read_from_stdin_with_dash() {
    let plain = pcap_of(
        Link::Sll2,
        Endian::Little,
        false,
        &v4_conversation(),
        T0_US,
        20_000_000,
    );
    let out = run(&["-", "--format", "json"], Some(plain));
    assert_eq!(out.status.code(), Some(0));
    let doc = parse_stdout(&out);
    assert_eq!(doc["capture"]["file"], json!("-"));
    assert_eq!(doc["capture"]["gzip"], json!(false));
    assert_eq!(doc["capture"]["packets"], json!(10));
    assert_eq!(doc["capture"]["tcp_segments"], json!(10));
    assert_eq!(doc["connections"][0]["outcome"], json!("SF"));
}

// ---------------------------------------------------------------------------------------------
// 7. Damaged files: analyse up to the damage, warn, exit 0
// ---------------------------------------------------------------------------------------------

/// Byte offset where the last of ten records of `pcap_of(Ethernet, ...)` starts.
fn last_record_start(bytes: &[u8], frames: &[Vec<u8>]) -> usize {
    bytes.len() - 16 - frames.last().expect("frames").len()
}

#[test]
fn pcap_cut_inside_last_record_keeps_earlier_frames_and_warns() {
    let segs = v4_conversation();
    let frames: Vec<Vec<u8>> = segs.iter().map(|s| s.frame(Link::Ethernet)).collect();
    let whole = pcap_of(
        Link::Ethernet,
        Endian::Little,
        false,
        &segs,
        T0_US,
        20_000_000,
    );
    let last = last_record_start(&whole, &frames);
    // Inside the last record's data, then inside its 16-byte header.
    for (what, cut) in [("data", last + 16 + 30), ("header", last + 7)] {
        let bytes = &whole[..cut];
        let a = audit_bytes("cut.pcap", bytes);
        assert_eq!(a.capture.frames, 9, "cut in {what}");
        assert_eq!(a.tcp_segments, 9, "cut in {what}");
        assert_eq!(a.capture.warnings.len(), 1, "cut in {what}");
        assert!(
            a.capture.warnings[0].contains("after frame 9"),
            "cut in {what}: {:?}",
            a.capture.warnings
        );
        assert_eq!(a.connections.len(), 1);
        assert_eq!(
            a.connections[0].summary().outcome.name(),
            "SF",
            "cut in {what}"
        );

        let file = TempPath::with_bytes("cut.pcap", bytes);
        let (doc, out) = run_json_path(file.path());
        assert_eq!(out.status.code(), Some(0), "cut in {what}");
        assert_eq!(doc["capture"]["packets"], json!(9), "cut in {what}");
        assert_eq!(doc["capture"]["tcp_segments"], json!(9), "cut in {what}");
        assert_eq!(
            doc["capture"]["warnings"],
            json!(a.capture.warnings),
            "cut in {what}"
        );
        assert_eq!(
            stderr_lines(&out),
            vec![format!("tcpflow-audit: warning: {}", a.capture.warnings[0])],
            "cut in {what}"
        );
    }
}

#[test]
fn pcapng_cut_inside_last_block_keeps_earlier_frames_and_warns() {
    let mut ng = PcapNg::new(Endian::Little);
    let ifc = ng.interface(1, None, None);
    let mut last_start = 0;
    for (seg, t) in v4_conversation()
        .iter()
        .zip(times(T0_US / 1000, 20_000, 10))
    {
        last_start = ng.bytes().len();
        ng.epb_packet(ifc, t, &seg.frame(Link::Ethernet));
    }
    let bytes = &ng.bytes()[..last_start + 40];
    let a = audit_bytes("cut.pcapng", bytes);
    assert_eq!(a.capture.frames, 9);
    assert_eq!(a.tcp_segments, 9);
    assert_eq!(a.capture.warnings.len(), 1, "{:?}", a.capture.warnings);
    assert!(
        a.capture.warnings[0].contains("after frame 9"),
        "{:?}",
        a.capture.warnings
    );
}

#[test]
fn gzip_cut_short_within_first_256_kib_keeps_earlier_frames_and_warns() {
    let segs = v4_conversation();
    let frames: Vec<Vec<u8>> = segs.iter().map(|s| s.frame(Link::Ethernet)).collect();
    let whole = pcap_of(
        Link::Ethernet,
        Endian::Little,
        false,
        &segs,
        T0_US,
        20_000_000,
    );
    // Records 1–5 in a first member, 6–10 in a second one (as `cat a.gz b.gz` makes).
    let split = 24 + frames[..5].iter().map(|f| 16 + f.len()).sum::<usize>();
    let first = gzip(&whole[..split]);
    let second = gzip(&whole[split..]);
    // The second member cut after its 10-byte gzip header, then missing only its 8-byte trailer.
    for (what, kept, frames) in [
        ("deflate data", 10, 5u64),
        ("trailer", second.len() - 8, 10u64),
    ] {
        let mut bytes = first.clone();
        bytes.extend_from_slice(&second[..kept]);
        let a = audit_bytes("cut-gzip.pcap", &bytes);
        assert!(a.capture.gzip);
        assert_eq!(a.capture.frames, frames, "cut in the {what}");
        assert_eq!(a.tcp_segments, frames, "cut in the {what}");
        assert_eq!(
            a.capture.warnings.len(),
            1,
            "cut in the {what}: {:?}",
            a.capture.warnings
        );
        assert!(
            a.capture.warnings[0].contains(&format!("after frame {frames}")),
            "cut in the {what}: {:?}",
            a.capture.warnings
        );
        let file = TempPath::with_bytes("cut-gzip.pcap", &bytes);
        let (doc, out) = run_json_path(file.path());
        assert_eq!(out.status.code(), Some(0), "cut in the {what}");
        assert_eq!(
            doc["capture"]["packets"],
            json!(frames),
            "cut in the {what}"
        );
    }
}

#[test]
fn gzip_cut_short_after_more_than_256_kib_keeps_earlier_frames_and_warns() {
    // 203 records (about 300 KiB decompressed) in a complete first member, then a second
    // member cut after its gzip header.
    let (client, server) = (addr(V4_CLIENT), addr(V4_SERVER));
    let c = |n: u32| CLIENT_ISN.wrapping_add(n);
    let s = |n: u32| SERVER_ISN.wrapping_add(n);
    let mut segs = vec![
        Tcp::new(client, server, SYN).seq(c(0)),
        Tcp::new(server, client, SYN | ACK).seq(s(0)).ack(c(1)),
        Tcp::new(client, server, ACK).seq(c(1)).ack(s(1)),
    ];
    for i in 0..200 {
        segs.push(
            Tcp::new(server, client, ACK)
                .seq(s(1 + i * 1448))
                .ack(c(1))
                .payload(1448),
        );
    }
    let mut first = Pcap::new(Endian::Little, false, 1);
    for (seg, t) in segs.iter().zip(times(T0_US, 1_000, segs.len())) {
        first.packet(t, &seg.frame(Link::Ethernet));
    }
    assert!(first.bytes().len() > 1 << 18);
    let mut rest = Pcap::new(Endian::Little, false, 1);
    let fin = Tcp::new(client, server, FIN | ACK)
        .seq(c(1))
        .ack(s(1 + 200 * 1448))
        .frame(Link::Ethernet);
    rest.packet(T0_US + 1_000_000, &fin);
    let second = gzip(&rest.bytes()[24..]);
    let mut bytes = gzip(first.bytes());
    bytes.extend_from_slice(&second[..10]);

    let a = audit_bytes("big-cut.pcap.gz", &bytes);
    assert!(a.capture.gzip);
    assert_eq!(a.capture.frames, 203);
    assert_eq!(a.tcp_segments, 203);
    assert_eq!(a.capture.warnings.len(), 1, "{:?}", a.capture.warnings);
    assert!(
        a.capture.warnings[0].contains("after frame 203"),
        "{:?}",
        a.capture.warnings
    );
    assert_eq!(a.connections.len(), 1);
    let conn = &a.connections[0];
    assert_eq!(conn.dirs[conn.server()].stats.payload_bytes, 200 * 1448);
}

#[test]
fn record_claiming_3gb_after_two_frames_stops_with_a_warning() {
    let segs = v4_conversation();
    let mut p = Pcap::new(Endian::Little, false, 1);
    p.packet(T0_US, &segs[0].frame(Link::Ethernet));
    p.packet(T0_US + 20_000_000, &segs[1].frame(Link::Ethernet));
    p.record_header(T0_US + 40_000_000, 3_000_000_000, 3_000_000_000);
    let mut bytes = p.into_bytes();
    bytes.extend_from_slice(&segs[2].frame(Link::Ethernet));
    let file = TempPath::with_bytes("huge-record.pcap", &bytes);

    let a =
        audit(&Input::Path(file.path().to_path_buf()), &Config::default()).expect("capture read");
    assert_eq!(a.capture.frames, 2);
    assert_eq!(a.tcp_segments, 2);
    assert_eq!(a.capture.warnings.len(), 1, "{:?}", a.capture.warnings);
    assert!(
        a.capture.warnings[0].contains("after frame 2"),
        "{:?}",
        a.capture.warnings
    );
    assert_eq!(a.connections.len(), 1);
    assert_eq!(a.connections[0].summary().outcome.name(), "S1");

    let (doc, out) = run_json_path(file.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["capture"]["packets"], json!(2));
    assert_eq!(doc["capture"]["tcp_segments"], json!(2));
    assert_eq!(doc["capture"]["warnings"], json!(a.capture.warnings));
    assert_eq!(stderr_lines(&out).len(), 1, "{:?}", stderr_lines(&out));
}

// ---------------------------------------------------------------------------------------------
// 8. Unusable input: exit 2, one line on stderr, nothing on stdout
// ---------------------------------------------------------------------------------------------

fn run_unusable(path: &Path) -> String {
    let out = run(
        &[path.to_str().expect("utf-8 path"), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{path:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{path:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{path:?}: {lines:?}");
    assert!(
        lines[0].contains(&path.display().to_string()),
        "the error names the file: {}",
        lines[0]
    );
    lines[0].clone()
}

/// The library's error for a capture it must refuse.
fn rejected(path: &std::path::Path) -> CaptureError {
    match audit(&Input::Path(path.to_path_buf()), &Config::default()) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    }
}

#[test]
fn text_file_is_not_a_capture_exit_2_naming_its_first_bytes() {
    let file = TempPath::with_bytes("request.pcap", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let err = rejected(file.path());
    match &err {
        CaptureError::NotACapture { first_bytes, .. } => {
            assert_eq!(first_bytes, "47 45 54 20 2f 20 48 54 \"GET / HT\"")
        }
        other => panic!("expected NotACapture, got {other:?}"),
    }
    let line = run_unusable(file.path());
    assert!(line.contains("47 45 54 20 2f 20 48 54"), "{line}");
}

#[test]
fn gzip_of_text_is_not_a_capture_exit_2_naming_decompressed_first_bytes() {
    let file = TempPath::with_bytes("notes.pcap.gz", &gzip(b"hello, world\n"));
    let err = rejected(file.path());
    match &err {
        CaptureError::NotACapture { first_bytes, .. } => {
            assert_eq!(first_bytes, "68 65 6c 6c 6f 2c 20 77 \"hello, w\"")
        }
        other => panic!("expected NotACapture, got {other:?}"),
    }
    let line = run_unusable(file.path());
    assert!(line.contains("68 65 6c 6c 6f 2c 20 77"), "{line}");
}

#[test]
fn empty_file_is_rejected_with_exit_2() {
    let file = TempPath::with_bytes("empty.pcap", b"");
    let err = rejected(file.path());
    assert!(matches!(err, CaptureError::Empty { .. }), "{err:?}");
    let line = run_unusable(file.path());
    assert!(line.contains("empty"), "{line}");
}

#[test]
fn empty_stdin_is_rejected_with_exit_2() {
    let out = run(&["-", "--format", "json"], Some(Vec::new()));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("empty"), "{}", lines[0]);
}

#[test]
fn gzip_of_nothing_is_rejected_with_exit_2() {
    let file = TempPath::with_bytes("nothing.pcap.gz", &gzip(b""));
    let err = rejected(file.path());
    assert!(matches!(err, CaptureError::Empty { .. }), "{err:?}");
    run_unusable(file.path());
}

#[test]
fn directory_is_rejected_with_exit_2() {
    let dir = TempPath::dir("captures.pcap");
    let err = rejected(dir.path());
    assert!(matches!(err, CaptureError::IsDirectory { .. }), "{err:?}");
    let line = run_unusable(dir.path());
    assert!(line.contains("directory"), "{line}");
}

#[test]
fn missing_file_is_rejected_with_exit_2() {
    let missing = TempPath::new("does-not-exist.pcap");
    let err = rejected(missing.path());
    match &err {
        CaptureError::Open { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected Open, got {other:?}"),
    }
    run_unusable(missing.path());
}

#[test]
fn pcap_shorter_than_its_file_header_is_rejected_with_exit_2() {
    let header = Pcap::new(Endian::Little, false, 1).into_bytes();
    let file = TempPath::with_bytes("short-header.pcap", &header[..12]);
    let err = rejected(file.path());
    assert!(matches!(err, CaptureError::Unreadable { .. }), "{err:?}");
    run_unusable(file.path());
}

#[test]
fn ethernet_helper_pads_short_frames_to_60_bytes() {
    // The padding must not be read as payload: covered by every conversation test, whose pure
    // ACKs are 54-byte frames padded to 60.
    assert_eq!(ethernet(&[0xff; 6], &[], 0x0806, &[0; 28]).len(), 60);
    assert_eq!(
        v4_conversation()[2].frame(Link::Ethernet).len(),
        60,
        "pure ACK on Ethernet"
    );
}
