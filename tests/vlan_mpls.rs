//! Issue #14, cause 8: VLAN IDs are part of a connection's key (the same 4-tuple untagged, on
//! VLAN 42 and on QinQ 10/20 is three connections, as in Suricata's default), `ignore_vlan`
//! merges them again, and a 4-tuple tagged in one direction only is paired automatically; MPLS label stacks are decoded down to the IP packet below them.

mod common;

use std::net::SocketAddr;

use tcpflow_audit::audit::{Audit, Config, audit};
use tcpflow_audit::capture::Input;
use tcpflow_audit::track::TrackOptions;

use common::{DST_MAC, Endian, Link, Pcap, Tcp, TempPath, ethernet};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const SYN_ACK: u8 = 0x12;

fn client() -> SocketAddr {
    "192.0.2.1:40000".parse().unwrap()
}

fn server() -> SocketAddr {
    "198.51.100.2:80".parse().unwrap()
}

/// A complete conversation: handshake, 100 bytes each way, the client closes first.
fn conversation(c: SocketAddr, s: SocketAddr, isn: u32) -> Vec<Tcp> {
    let (ci, si) = (isn, isn.wrapping_add(5000));
    vec![
        Tcp::new(c, s, SYN).seq(ci),
        Tcp::new(s, c, SYN_ACK).seq(si).ack(ci + 1),
        Tcp::new(c, s, ACK).seq(ci + 1).ack(si + 1),
        Tcp::new(c, s, PSH_ACK).seq(ci + 1).ack(si + 1).payload(100),
        Tcp::new(s, c, PSH_ACK)
            .seq(si + 1)
            .ack(ci + 101)
            .payload(100),
        Tcp::new(c, s, FIN_ACK).seq(ci + 101).ack(si + 101),
        Tcp::new(s, c, FIN_ACK).seq(si + 101).ack(ci + 102),
        Tcp::new(c, s, ACK).seq(ci + 102).ack(si + 102),
    ]
}

/// Frames (already wrapped) one millisecond apart, from 1.7e9 s.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Pcap::new(Endian::Little, false, 1);
    for (i, f) in frames.iter().enumerate() {
        p.packet(1_700_000_000_000_000_000 + i as u64 * 1_000_000, f);
    }
    p.into_bytes()
}

fn run(name: &str, bytes: &[u8], track: TrackOptions) -> Audit {
    let file = TempPath::with_bytes(name, bytes);
    let config = Config {
        track,
        ..Config::default()
    };
    audit(&Input::Path(file.path().to_path_buf()), &config).expect("capture read")
}

fn valid_handshakes(a: &Audit) -> usize {
    a.connections.iter().filter(|c| c.handshake.valid()).count()
}

#[test]
fn the_same_four_tuple_on_three_vlan_contexts_is_three_connections() {
    // Interleaved as in the recorded trunk: untagged first, then VLAN 42 and QinQ 10/20 at once.
    let mut frames = Vec::new();
    for seg in conversation(client(), server(), 1000) {
        frames.push(seg.frame(Link::Ethernet));
    }
    let tagged = conversation(client(), server(), 7_000_000);
    let qinq = conversation(client(), server(), 90_000_000);
    for (a, b) in tagged.iter().zip(&qinq) {
        frames.push(a.frame(Link::Dot1Q(42)));
        frames.push(b.frame(Link::QinQ(10, 20)));
    }
    let a = run("vlans.pcap", &pcap(&frames), TrackOptions::default());
    assert_eq!(a.skipped_total(), 0);
    assert_eq!(a.connections.len(), 3);
    assert_eq!(valid_handshakes(&a), 3);
    let mut vlans: Vec<[u16; 2]> = a.connections.iter().map(|c| c.vlan).collect();
    vlans.sort();
    assert_eq!(vlans, [[0, 0], [10, 20], [42, 0]]);
    for c in &a.connections {
        assert_eq!(
            c.dirs[0].stats.retransmissions + c.dirs[1].stats.retransmissions,
            0
        );
        assert_eq!(c.time_wait_holders().count(), 1, "connection {}", c.id);
    }
    assert_eq!(
        a.time_wait
            .by_endpoint
            .iter()
            .map(|e| e.held_at_end)
            .sum::<u32>(),
        3
    );
}

#[test]
fn a_conversation_tagged_in_one_direction_only_is_one_connection() {
    // The client's frames carry VLAN 42, the server's come back untagged: the answer to a
    // connection that has seen only the other endpoint joins it (and --ignore-vlan too).
    let frames: Vec<Vec<u8>> = conversation(client(), server(), 1000)
        .iter()
        .map(|s| {
            if s.src == client() {
                s.frame(Link::Dot1Q(42))
            } else {
                s.frame(Link::Ethernet)
            }
        })
        .collect();
    let bytes = pcap(&frames);
    let paired = run("oneway.pcap", &bytes, TrackOptions::default());
    assert_eq!(paired.connections.len(), 1);
    assert_eq!(valid_handshakes(&paired), 1);
    assert_eq!(paired.connections[0].vlan, [42, 0]);
    assert_eq!(paired.connections[0].vlan_reply, Some([0, 0]));
    let joined = run(
        "oneway.pcap",
        &bytes,
        TrackOptions {
            ignore_vlan: true,
            ..TrackOptions::default()
        },
    );
    assert_eq!(joined.connections.len(), 1);
    assert_eq!(valid_handshakes(&joined), 1);
}

/// An MPLS label stack of `labels` (the last gets the bottom-of-stack bit) around `inner`.
fn mpls(labels: &[u32], inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        let bos = u32::from(i + 1 == labels.len());
        out.extend_from_slice(&((label << 12) | (bos << 8) | 64).to_be_bytes());
    }
    out.extend_from_slice(inner);
    out
}

#[test]
fn mpls_label_stacks_are_decoded_to_the_ip_packet_below() {
    let v6c: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
    let v6s: SocketAddr = "[2001:db8::2]:443".parse().unwrap();
    let mut frames = Vec::new();
    for seg in conversation(client(), server(), 1000) {
        frames.push(ethernet(&DST_MAC, &[], 0x8847, &mpls(&[16, 17], &seg.ip())));
    }
    for seg in conversation(v6c, v6s, 5000) {
        frames.push(ethernet(
            &DST_MAC,
            &[(0x8100, 7)],
            0x8847,
            &mpls(&[100], &seg.ip()),
        ));
    }
    let a = run("mpls.pcap", &pcap(&frames), TrackOptions::default());
    assert_eq!(a.skipped_total(), 0, "{:?}", a.skipped);
    assert_eq!(a.tcp_segments, 16);
    assert_eq!(a.connections.len(), 2);
    assert_eq!(valid_handshakes(&a), 2);
}

#[test]
fn mpls_without_ip_below_or_cut_short_is_skipped_not_a_panic() {
    let seg = Tcp::new(client(), server(), SYN).seq(1);
    // Ethernet over MPLS (a pseudowire control word of zeros below the label), a stack with no
    // bottom-of-stack bit, and a stack cut in the middle of an entry.
    let mut pw = mpls(&[16], &[0, 0, 0, 0]);
    pw.extend_from_slice(&seg.ip());
    let no_bottom: Vec<u8> = (0..4)
        .flat_map(|_| (16u32 << 12 | 64).to_be_bytes())
        .collect();
    let frames = [
        ethernet(&DST_MAC, &[], 0x8847, &pw),
        ethernet(&DST_MAC, &[], 0x8848, &no_bottom),
        {
            let mut f = ethernet(&DST_MAC, &[], 0x8847, &[0, 1]);
            f.truncate(16);
            f
        },
    ];
    let a = run("mpls-bad.pcap", &pcap(&frames), TrackOptions::default());
    assert_eq!(a.tcp_segments, 0);
    assert_eq!(a.skipped_total(), 3);
    let keys = a.skipped_by_key();
    assert_eq!(keys.get("non_ip"), Some(&1), "{keys:?}");
    assert_eq!(keys.get("malformed"), Some(&2), "{keys:?}");
}

/// The same frame with four NOP option bytes in its IPv4 header (so etherparse decodes it, not
/// the direct path); `at` is where the IP header starts.
fn with_ip_options(frame: &[u8], at: usize) -> Vec<u8> {
    let mut f = frame[..at + 20].to_vec();
    f[at] = 0x46;
    let total = u16::from_be_bytes([f[at + 2], f[at + 3]]) + 4;
    f[at + 2..at + 4].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[1, 1, 1, 1]);
    f.extend_from_slice(&frame[at + 20..]);
    f
}

#[test]
fn vlan_ids_are_kept_when_the_ip_header_has_options() {
    // 14 bytes of Ethernet and 4 of the 802.1Q tag before the IP header.
    let frames: Vec<Vec<u8>> = conversation(client(), server(), 1000)
        .iter()
        .map(|s| with_ip_options(&s.frame(Link::Dot1Q(42)), 18))
        .collect();
    let a = run("ipopts.pcap", &pcap(&frames), TrackOptions::default());
    assert_eq!(a.skipped_total(), 0);
    assert_eq!(a.connections.len(), 1);
    assert_eq!(a.connections[0].vlan, [42, 0]);
    assert_eq!(valid_handshakes(&a), 1);
}
