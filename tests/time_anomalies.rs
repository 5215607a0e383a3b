//! Time that runs backwards, jumps by years, or lies outside what a timestamp holds is said,
//! not hidden: a capture warning with the frame, a `clock` anomaly on each connection it falls
//! in, and a handshake shown as `CLOCK` rather than `ok`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use tcpflow_audit::audit::{Audit, Config, audit};
use tcpflow_audit::capture::Input;
use tcpflow_audit::report::{self, Kind};
use tcpflow_audit::select::Selection;

const T0: u64 = 1_700_000_000 * NANOS_PER_SEC;
const MS: u64 = 1_000_000;
const YEAR_S: u64 = 31_557_600;

fn client() -> SocketAddr {
    "192.0.2.1:40000".parse().unwrap()
}

fn server() -> SocketAddr {
    "198.51.100.2:80".parse().unwrap()
}

/// SYN, SYN-ACK, ACK.
fn handshake() -> [Vec<u8>; 3] {
    let (c, s) = (client(), server());
    [
        Tcp::new(c, s, SYN).seq(100).frame(Link::Ethernet),
        Tcp::new(s, c, SYN | ACK)
            .seq(500)
            .ack(101)
            .frame(Link::Ethernet),
        Tcp::new(c, s, ACK).seq(101).ack(501).frame(Link::Ethernet),
    ]
}

fn run(bytes: Vec<u8>) -> Audit {
    audit(&Input::Bytes(Arc::from(bytes)), &Config::default()).expect("a readable capture")
}

fn table(a: &Audit) -> String {
    let selected = Selection::default().apply(&a.connections);
    let mut out = Vec::new();
    report::writer(Kind::Table {
        timelines: true,
        layout: report::Layout {
            width: 400,
            all: true,
        },
    })
    .write(&mut out, a, &selected)
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn json(a: &Audit) -> serde_json::Value {
    let selected = Selection::default().apply(&a.connections);
    let mut out = Vec::new();
    report::writer(Kind::Json { pretty: true })
        .write(&mut out, a, &selected)
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn clock_events(a: &Audit) -> Vec<(Option<u64>, String)> {
    a.connections
        .iter()
        .flat_map(|c| c.events.iter())
        .filter(|e| e.kind.name() == "clock")
        .map(|e| (e.frame, e.detail.clone()))
        .collect()
}

#[test]
fn a_syn_ack_stamped_before_its_syn_is_a_clock_problem_not_an_ok_handshake() {
    let [syn, synack, ack] = handshake();
    let mut p = Pcap::new(Endian::Little, false, 1);
    p.packet(T0 + 5_000 * MS, &syn);
    p.packet(T0, &synack);
    p.packet(T0 + MS, &ack);
    let a = run(p.into_bytes());
    let w = &a.capture.warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("frame 2 is 5.000000 s earlier than a frame before it"),
        "{w:?}"
    );
    assert_eq!(
        clock_events(&a),
        vec![(
            Some(2),
            "clock problem: stamped 5.000 s before frame 1".to_string()
        )]
    );
    let t = table(&a);
    // SYN→SYN-ACK -5000 ms + SYN-ACK→ACK 1 ms.
    assert!(t.contains("CLOCK -4999.000 ms"), "{t}");
    assert!(!t.contains("ok -4999"), "{t}");
    let doc = json(&a);
    assert_eq!(doc["capture"]["warnings"].as_array().unwrap().len(), 1);
    let events = doc["connections"][0]["events"].as_array().unwrap();
    let clock: Vec<_> = events.iter().filter(|e| e["kind"] == "clock").collect();
    assert_eq!(clock.len(), 1, "{events:?}");
    assert_eq!(clock[0]["frame"], 2);
}

#[test]
fn a_hundred_year_jump_is_a_clock_problem() {
    let [syn, synack, ack] = handshake();
    let mut ng = PcapNg::new(Endian::Little);
    let i = ng.interface(1, Some(TsResol::Decimal(9)), None);
    let jump = 100 * YEAR_S * NANOS_PER_SEC;
    ng.epb_packet(i, T0, &syn);
    ng.epb_packet(i, T0 + jump, &synack);
    ng.epb_packet(i, T0 + jump + MS, &ack);
    let a = run(ng.into_bytes());
    let w = &a.capture.warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(
            "clock jumps forward at frame 2, stamped 3155760000.000 s (100.0 years) after frame 1"
        ),
        "{w:?}"
    );
    assert_eq!(clock_events(&a).len(), 1);
    let t = table(&a);
    assert!(t.contains("CLOCK 3155760000001.000 ms"), "{t}");
}

#[test]
fn a_time_wait_peak_before_the_capture_began_comes_with_a_warning() {
    let (c, s) = (client(), server());
    let [syn, synack, ack] = handshake();
    let mut p = Pcap::new(Endian::Little, false, 1);
    p.packet(T0 + 3_600 * NANOS_PER_SEC, &syn);
    p.packet(T0 + 3_600 * NANOS_PER_SEC + MS, &synack);
    p.packet(T0 + 3_600 * NANOS_PER_SEC + 2 * MS, &ack);
    // The client closes an hour "earlier": the clock stepped back.
    let fin = |src, dst, seq, ack| {
        Tcp::new(src, dst, FIN | ACK)
            .seq(seq)
            .ack(ack)
            .frame(Link::Ethernet)
    };
    p.packet(T0, &fin(c, s, 101, 501));
    p.packet(T0 + MS, &fin(s, c, 501, 102));
    p.packet(
        T0 + 2 * MS,
        &Tcp::new(c, s, ACK).seq(102).ack(502).frame(Link::Ethernet),
    );
    let a = run(p.into_bytes());
    assert!(
        a.capture.warnings[0]
            .starts_with("frame 4 is 3600.002000 s earlier than a frame before it"),
        "{:?}",
        a.capture.warnings
    );
    let t = table(&a);
    assert!(t.contains("earlier than a frame before it"), "{t}");
    assert_eq!(
        clock_events(&a),
        vec![(
            Some(4),
            "clock problem: stamped 3600.002 s before frame 3".into()
        )]
    );
}

#[test]
fn timestamps_past_2262_are_warned_and_held() {
    let [syn, synack, _] = handshake();
    let mut ng = PcapNg::new(Endian::Big);
    // Whole seconds: 10^10 s is in the year 2286.
    let i = ng.interface(1, Some(TsResol::Decimal(0)), None);
    ng.epb_packet(i, 1_700_000_000, &syn);
    ng.epb_packet(i, 10_000_000_000, &synack);
    ng.epb_packet(i, u64::MAX, &synack);
    let a = run(ng.into_bytes());
    let w = a.capture.warnings.join("\n");
    assert!(
        w.contains("time out of range: frame 2 is stamped outside 1677-09-21 to 2262-04-11")
            && w.contains("(and 1 more frame)"),
        "{w}"
    );
    assert_eq!(a.last_ts, Some(tcpflow_audit::time::Timestamp::MAX));
    // The jump from 2023 to 2262 is a clock problem too.
    assert!(w.contains("clock jumps forward at frame 2"), "{w}");
}

#[test]
fn a_pcap_fraction_of_a_second_or_more_is_warned() {
    let [syn, synack, ack] = handshake();
    let mut p = Pcap::new(Endian::Little, false, 1);
    p.packet(T0, &syn);
    // A record whose microseconds field says 1,500,000.
    p.record_header(
        T0 + 1_000 * 1_500_000,
        synack.len() as u32,
        synack.len() as u32,
    );
    let mut bytes = p.into_bytes();
    let at = bytes.len() - 16 + 4;
    bytes[at..at + 4].copy_from_slice(&1_500_000u32.to_le_bytes());
    bytes[at - 4..at].copy_from_slice(&1_700_000_000u32.to_le_bytes());
    bytes.extend_from_slice(&synack);
    let mut rest = Pcap::new(Endian::Little, false, 1);
    rest.packet(T0 + 1_600 * MS, &ack);
    bytes.extend_from_slice(&rest.bytes()[24..]);
    let a = run(bytes);
    let w = a.capture.warnings.join("\n");
    assert!(
        w.contains(
            "time out of range: frame 2 has a fraction-of-second field of 1500000 µs (10⁶ or more)"
        ),
        "{w}"
    );
    // Carried into the seconds: 1.5 s after the SYN.
    let hs = a.connections[0].handshake.rtt_ms();
    assert_eq!(hs, Some(1_600.0));
}

#[test]
fn a_nanosecond_pcap_fraction_of_a_second_or_more_is_warned_in_ns() {
    let [syn, ..] = handshake();
    let mut p = Pcap::new(Endian::Big, true, 1);
    p.record_header(T0, syn.len() as u32, syn.len() as u32);
    let mut bytes = p.into_bytes();
    let at = bytes.len() - 12;
    bytes[at..at + 4].copy_from_slice(&2_000_000_000u32.to_be_bytes());
    bytes.extend_from_slice(&syn);
    let a = run(bytes);
    let w = a.capture.warnings.join("\n");
    assert!(
        w.contains("frame 1 has a fraction-of-second field of 2000000000 ns (10⁹ or more)"),
        "{w}"
    );
}

#[test]
fn an_undescribed_interface_is_named_against_the_range_described() {
    let [syn, ..] = handshake();
    let mut ng = PcapNg::new(Endian::Little);
    let i = ng.interface(1, None, None);
    ng.epb_packet(i, 0, &syn);
    ng.epb_packet(1, 0, &syn);
    let a = run(ng.into_bytes());
    assert_eq!(
        a.capture.warnings,
        vec![
            "frame 2 names interface 1 but the section describes only interface 0; such frames are skipped"
        ]
    );

    let mut ng = PcapNg::new(Endian::Little);
    for _ in 0..10_000 {
        ng.interface(1, None, None);
    }
    ng.epb_packet(0, 0, &syn);
    ng.epb_packet(9_999, 0, &syn);
    ng.epb_packet(10_000, 0, &syn);
    let a = run(ng.into_bytes());
    // (The same SYN twice on two interfaces is also a duplicate, warned after.)
    assert_eq!(
        a.capture.warnings[..1],
        vec![
            "frame 3 names interface 10000 but the section describes interfaces 0–9999; such frames are skipped"
        ]
    );

    let mut ng = PcapNg::new(Endian::Little);
    ng.spb(&syn);
    let a = run(ng.into_bytes());
    assert_eq!(
        a.capture.warnings,
        vec![
            "frame 1 is a simple packet block, which belongs to interface 0, but the section describes no interface; such frames are skipped"
        ]
    );
    assert_eq!(a.skipped_by_key()["bad_interface"], 1);
}

#[test]
fn an_ordinary_capture_has_no_clock_warning() {
    let [syn, synack, ack] = handshake();
    let mut p = Pcap::new(Endian::Little, false, 1);
    p.packet(T0, &syn);
    p.packet(T0 + MS, &synack);
    p.packet(T0 + MS, &ack);
    // A month of silence is not a clock problem.
    let data = Tcp::new(client(), server(), PSH | ACK)
        .seq(101)
        .ack(501)
        .payload(10);
    p.packet(
        T0 + 30 * 24 * 3_600 * NANOS_PER_SEC,
        &data.frame(Link::Ethernet),
    );
    let a = run(p.into_bytes());
    assert!(a.capture.warnings.is_empty(), "{:?}", a.capture.warnings);
    assert!(clock_events(&a).is_empty());
    assert!(table(&a).contains("ok 1.000 ms"));
}
