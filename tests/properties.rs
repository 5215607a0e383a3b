//! Property tests (proptest): laws that hold for every input, not just the recorded ones.
//!
//! - `decode` agrees field by field with etherparse's own `PacketBuilder` on any TCP packet.
//! - `SeqNumber` ordering laws across the 2^32 wrap.
//! - Any sequence of segments moves each endpoint only along edges of the state table
//!   (SPEC.md §2, as `conn::fsm::step` defines it), and never panics.
//! - Any generated capture (TCP segments among ARP, UDP, fragments and cut frames) has every frame
//!   accounted for, and its JSON document is valid against the committed schema.

mod common;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use common::*;
use etherparse::{PacketBuilder, TcpOptionElement};
use pcap_parser::Linktype;
use proptest::prelude::*;
use tcpflow_audit::audit::{Audit, Config, audit};
use tcpflow_audit::capture::{Frame, Input};
use tcpflow_audit::conn::fsm::{Event, State, Step, step};
use tcpflow_audit::decode::decode;
use tcpflow_audit::report::{self, Kind};
use tcpflow_audit::select::Selection;
use tcpflow_audit::seq::SeqNumber;
use tcpflow_audit::time::Timestamp;
use tcpflow_audit::track::TimelineSelect;

// ---------------------------------------------------------------------------------------------
// decode against etherparse
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Built {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    window: u16,
    /// FIN SYN RST PSH URG ECE CWR (ACK comes with `ack`).
    flags: [bool; 7],
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
    sack: Vec<(u32, u32)>,
    payload: Vec<u8>,
}

fn built() -> impl Strategy<Value = Built> {
    (
        (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<Option<u32>>(),
            any::<u16>(),
        ),
        (
            any::<[bool; 7]>(),
            any::<Option<u16>>(),
            any::<Option<u8>>(),
            any::<bool>(),
            any::<Option<(u32, u32)>>(),
            prop::collection::vec(any::<(u32, u32)>(), 0..=2),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
    )
        .prop_map(
            |(
                (v6, src, dst, sport, dport, seq, ack, window),
                (flags, mss, wscale, sack_permitted, timestamps, sack, payload),
            )| Built {
                v6,
                src,
                dst,
                sport,
                dport,
                seq,
                ack,
                window,
                flags,
                mss,
                wscale,
                sack_permitted,
                timestamps,
                sack,
                payload,
            },
        )
}

impl Built {
    fn addrs(&self) -> (IpAddr, IpAddr) {
        if self.v6 {
            (
                IpAddr::V6(Ipv6Addr::from(self.src)),
                IpAddr::V6(Ipv6Addr::from(self.dst)),
            )
        } else {
            let v4 = |b: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            (v4(&self.src), v4(&self.dst))
        }
    }

    fn options(&self) -> Vec<TcpOptionElement> {
        let mut o = Vec::new();
        if let Some(m) = self.mss {
            o.push(TcpOptionElement::MaximumSegmentSize(m));
        }
        if let Some(w) = self.wscale {
            o.push(TcpOptionElement::WindowScale(w));
        }
        if self.sack_permitted {
            o.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
        }
        if let Some((v, e)) = self.timestamps {
            o.push(TcpOptionElement::Timestamp(v, e));
        }
        if let Some((&first, rest)) = self.sack.split_first() {
            let mut more = [None; 3];
            for (slot, &b) in more.iter_mut().zip(rest) {
                *slot = Some(b);
            }
            o.push(TcpOptionElement::SelectiveAcknowledgement(first, more));
        }
        o
    }

    /// The Ethernet frame etherparse builds.
    fn frame(&self) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ip = if self.v6 {
            eth.ipv6(self.src, self.dst, 64)
        } else {
            let four = |b: &[u8; 16]| [b[0], b[1], b[2], b[3]];
            eth.ipv4(four(&self.src), four(&self.dst), 64)
        };
        let mut tcp = ip.tcp(self.sport, self.dport, self.seq, self.window);
        let [fin, syn, rst, psh, urg, ece, cwr] = self.flags;
        if fin {
            tcp = tcp.fin();
        }
        if syn {
            tcp = tcp.syn();
        }
        if rst {
            tcp = tcp.rst();
        }
        if psh {
            tcp = tcp.psh();
        }
        if urg {
            tcp = tcp.urg(7);
        }
        if ece {
            tcp = tcp.ece();
        }
        if cwr {
            tcp = tcp.cwr();
        }
        if let Some(a) = self.ack {
            tcp = tcp.ack(a);
        }
        let tcp = tcp
            .options(&self.options())
            .expect("at most 40 option bytes");
        let mut out = Vec::new();
        tcp.write(&mut out, &self.payload).expect("write to memory");
        out
    }

    fn flag_byte(&self) -> u8 {
        let [fin, syn, rst, psh, urg, ece, cwr] = self.flags;
        u8::from(fin)
            | u8::from(syn) << 1
            | u8::from(rst) << 2
            | u8::from(psh) << 3
            | u8::from(self.ack.is_some()) << 4
            | u8::from(urg) << 5
            | u8::from(ece) << 6
            | u8::from(cwr) << 7
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_agrees_with_etherparse_field_by_field(b in built()) {
        let data = b.frame();
        let frame = Frame {
            number: 1,
            ts: Timestamp::ZERO,
            link_type: Some(Linktype::ETHERNET),
            data: &data,
            orig_len: data.len() as u32,
            ts_digits: 6,
        };
        let seg = decode(&frame).expect("a whole TCP segment decodes");
        let (src, dst) = b.addrs();
        prop_assert_eq!(seg.src, SocketAddr::new(src, b.sport));
        prop_assert_eq!(seg.dst, SocketAddr::new(dst, b.dport));
        prop_assert_eq!(seg.seq, SeqNumber(b.seq));
        prop_assert_eq!(seg.ack, SeqNumber(b.ack.unwrap_or(0)));
        prop_assert_eq!(seg.flags.0, b.flag_byte());
        prop_assert_eq!(seg.window, b.window);
        prop_assert_eq!(seg.payload_len as usize, b.payload.len());
        let o = seg.options;
        prop_assert_eq!(o.mss, b.mss);
        prop_assert_eq!(o.window_scale, b.wscale);
        prop_assert_eq!(o.sack_permitted, b.sack_permitted);
        prop_assert_eq!(o.timestamps, b.timestamps);
        let sack: Vec<(u32, u32)> = o.sack_blocks().iter().map(|s| (s.left.0, s.right.0)).collect();
        prop_assert_eq!(sack, b.sack.clone());
        prop_assert!(!o.incomplete);
    }

    // -----------------------------------------------------------------------------------------
    // SeqNumber across the wrap
    // -----------------------------------------------------------------------------------------

    #[test]
    fn seq_numbers_less_than_half_the_circle_ahead_are_after(a in any::<u32>(), d in 1u32..0x8000_0000) {
        let (a, b) = (SeqNumber(a), SeqNumber(a) + d);
        prop_assert!(b > a);
        prop_assert!(a < b);
        prop_assert!(a - d < a);
        prop_assert_eq!(b.diff(a), i64::from(d));
        prop_assert_eq!(a.diff(b), -i64::from(d));
        prop_assert_eq!(b.relative_to(a), d);
        prop_assert_eq!(a.max(b), b);
        prop_assert_eq!(b.max(a), b);
        prop_assert_eq!(a.min(b), a);
        prop_assert_eq!((a + d) - d, a);
    }

    #[test]
    fn seq_order_is_antisymmetric_and_unordered_only_half_a_circle_apart(a in any::<u32>(), b in any::<u32>()) {
        let (x, y) = (SeqNumber(a), SeqNumber(b));
        prop_assert_eq!(x.partial_cmp(&y), y.partial_cmp(&x).map(Ordering::reverse));
        prop_assert_eq!(x.partial_cmp(&y).is_none(), a.wrapping_sub(b) == 0x8000_0000);
        prop_assert_eq!(x.partial_cmp(&y) == Some(Ordering::Equal), a == b);
        // Shifting both by the same amount keeps their order: the wrap is nowhere special.
        for k in [1u32, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            prop_assert_eq!((x + k).partial_cmp(&(y + k)), x.partial_cmp(&y));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated captures: the state machine's edges, frame accounting, the schema
// ---------------------------------------------------------------------------------------------

/// Every (from, to) pair the table allows: `step` of some event goes there.
fn edges() -> &'static HashSet<(State, State)> {
    static EDGES: OnceLock<HashSet<(State, State)>> = OnceLock::new();
    EDGES.get_or_init(|| {
        let mut edges = HashSet::new();
        for from in State::ALL {
            for e in Event::ALL {
                match step(from, e) {
                    Step::Go(to) | Step::Unexpected { then: Some(to) } => {
                        edges.insert((from, to));
                    }
                    Step::Stay | Step::Unexpected { then: None } => {}
                }
            }
        }
        edges
    })
}

#[derive(Debug, Clone)]
enum Item {
    Tcp {
        flow: u8,
        from_server: bool,
        flags: u8,
        /// Offset from where the sender is (its ISN plus what it sent), or `None`: there.
        seq: Option<i16>,
        ack: Option<i16>,
        len: u8,
        step_us: u32,
    },
    Arp,
    Udp,
    Fragment,
    /// A TCP frame cut inside its header.
    Cut(u8),
}

fn flags() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(vec![
            SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, FIN | PSH | ACK, RST, RST | ACK, FIN,
        ]),
        1 => any::<u8>(),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        20 => (
            0u8..3,
            any::<bool>(),
            flags(),
            prop_oneof![3 => Just(None), 1 => any::<i16>().prop_map(Some)],
            prop_oneof![3 => Just(None), 1 => any::<i16>().prop_map(Some)],
            prop_oneof![2 => Just(0u8), 1 => any::<u8>()],
            prop_oneof![3 => 0u32..200_000, 1 => 0u32..100_000_000],
        )
            .prop_map(|(flow, from_server, flags, seq, ack, len, step_us)| Item::Tcp {
                flow,
                from_server,
                flags,
                seq,
                ack,
                len,
                step_us,
            }),
        1 => Just(Item::Arp),
        1 => Just(Item::Udp),
        1 => Just(Item::Fragment),
        1 => (1u8..40).prop_map(Item::Cut),
    ]
}

fn capture() -> impl Strategy<Value = (bool, u32, Vec<Item>)> {
    (
        any::<bool>(),
        prop_oneof![Just(0xffff_ff00u32), any::<u32>()],
        prop::collection::vec(item(), 0..60),
    )
}

fn build((nanos, isn, items): &(bool, u32, Vec<Item>)) -> Vec<u8> {
    let addr = |n: u8, port: u16| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), port);
    let mut p = Pcap::new(Endian::Little, *nanos, 1);
    let mut sent = [[0u32; 2]; 3];
    let mut t: u64 = 1_700_000_000 * NANOS_PER_SEC;
    for item in items {
        match *item {
            Item::Tcp {
                flow,
                from_server,
                flags,
                seq,
                ack,
                len,
                step_us,
            } => {
                let f = usize::from(flow);
                let side = usize::from(from_server);
                let (c, s) = (addr(1, 40_000 + u16::from(flow)), addr(2, 80));
                let (src, dst) = if from_server { (s, c) } else { (c, s) };
                let base = |side: usize| isn.wrapping_add(side as u32 * 0x4000_0000);
                let at = |side: usize, off: Option<i16>| {
                    base(side)
                        .wrapping_add(sent[f][side])
                        .wrapping_add(off.unwrap_or(0) as i32 as u32)
                };
                let seq_n = at(side, seq);
                let ack_n = at(1 - side, ack);
                let used =
                    u32::from(len) + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0);
                if seq.is_none() {
                    sent[f][side] = sent[f][side].wrapping_add(used);
                }
                t += u64::from(step_us) * 1_000;
                let frame = Tcp::new(src, dst, flags)
                    .seq(seq_n)
                    .ack(ack_n)
                    .payload(usize::from(len))
                    .frame(Link::Ethernet);
                p.packet(t, &frame);
            }
            Item::Arp => p.packet(
                t,
                &arp_frame(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)),
            ),
            Item::Udp => p.packet(
                t,
                &Link::Ethernet.wrap(&udp_packet(addr(1, 53), addr(2, 53), 20)),
            ),
            Item::Fragment => p.packet(
                t,
                &Link::Ethernet.wrap(&ipv4_fragment(
                    Ipv4Addr::new(192, 0, 2, 1),
                    Ipv4Addr::new(192, 0, 2, 2),
                    8,
                    false,
                    &[0; 16],
                )),
            ),
            Item::Cut(n) => {
                let frame = Tcp::new(addr(1, 1), addr(2, 2), ACK).frame(Link::Ethernet);
                // Ethernet 14 + IPv4 20 + `n` bytes of a 20-byte TCP header.
                p.packet_cut(t, &frame, 34 + usize::from(n.min(19)));
            }
        }
    }
    p.into_bytes()
}

fn document_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema/tcpflow-audit-1.schema.json");
        let text = std::fs::read_to_string(&path).expect("the committed schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::draft202012::options()
            .build(&schema)
            .expect("schema compiles")
    })
}

fn run(bytes: Vec<u8>) -> Audit {
    let config = Config {
        time_wait_s: 60.0,
        timeline: TimelineSelect::All,
        ..Config::default()
    };
    audit(&Input::Bytes(Arc::from(bytes)), &config).expect("a generated capture is readable")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn endpoints_move_only_along_edges_of_the_state_table(c in capture()) {
        let a = run(build(&c));
        for conn in &a.connections {
            for end in &conn.ends {
                let mut at = end.initial;
                for t in &end.transitions {
                    prop_assert_eq!(t.from, at, "transitions chain");
                    prop_assert!(
                        edges().contains(&(t.from, t.to)),
                        "{} -> {} is not an edge of the table (connection {})",
                        t.from, t.to, conn.id
                    );
                    at = t.to;
                }
                prop_assert_eq!(at, end.state);
            }
        }
    }

    #[test]
    fn every_frame_is_accounted_for_and_the_json_matches_the_schema(c in capture()) {
        let a = run(build(&c));
        prop_assert_eq!(a.capture.frames as usize, c.2.len());
        prop_assert_eq!(a.tcp_segments + a.skipped_total(), a.capture.frames);
        let selected = Selection::default().apply(&a.connections);
        let mut out = Vec::new();
        report::writer(Kind::Json { pretty: true }).write(&mut out, &a, &selected).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let errors: Vec<String> = document_schema()
            .iter_errors(&doc)
            .take(5)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let tcp = c.2.iter().filter(|i| matches!(i, Item::Tcp { .. })).count();
        prop_assert_eq!(a.tcp_segments as usize, tcp);
    }
}

/// The generator is not vacuous: its plainest capture (handshake, data, both FINs) takes the
/// client through every state to TIME_WAIT, and the edge set forbids what the table forbids.
#[test]
fn the_generated_captures_reach_time_wait_and_the_edges_are_the_tables() {
    let tcp = |from_server, flags, len| Item::Tcp {
        flow: 0,
        from_server,
        flags,
        seq: None,
        ack: None,
        len,
        step_us: 1_000,
    };
    let items = vec![
        tcp(false, SYN, 0),
        tcp(true, SYN | ACK, 0),
        tcp(false, ACK, 0),
        tcp(false, PSH | ACK, 10),
        tcp(true, ACK, 0),
        tcp(false, FIN | ACK, 0),
        tcp(true, FIN | ACK, 0),
        tcp(false, ACK, 0),
    ];
    let a = run(build(&(false, 0xffff_ff00, items)));
    assert_eq!(a.connections.len(), 1);
    let c = &a.connections[0];
    let path: Vec<State> = c.ends[c.client].transitions.iter().map(|t| t.to).collect();
    assert_eq!(
        path,
        vec![
            State::SynSent,
            State::Established,
            State::FinWait1,
            State::FinWait2,
            // Held at the end: the capture ends within the TIME_WAIT duration.
            State::TimeWait,
        ]
    );
    assert!(edges().contains(&(State::FinWait2, State::TimeWait)));
    assert!(!edges().contains(&(State::Closed, State::TimeWait)));
    assert!(!edges().contains(&(State::Listen, State::Established)));
}
