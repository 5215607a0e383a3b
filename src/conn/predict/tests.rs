//! Prediction changes nothing: random exchanges (handshake or not, in-order data, ACKs that
//! advance, repeat or run ahead, resends, gaps, keep-alives, zero windows, SACK blocks, FINs and
//! RSTs, with pauses from microseconds to seconds) are fed to two copies of a connection, one
//! with prediction and one without, and after every segment the two must be equal in every
//! field, the ladder included.

use std::net::SocketAddr;

use proptest::prelude::*;

use crate::conn::Connection;
use crate::decode::segment::{SackBlock, Segment, TcpFlags, TcpOptions};
use crate::seq::SeqNumber;
use crate::time::Timestamp;

const ACK: u8 = TcpFlags::ACK;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// New data at SND.NXT, of this many bytes.
    Data(u32),
    /// A plain ACK this far behind (or, negative, ahead of) everything the peer sent.
    Ack(i32),
    /// The last `n` bytes sent, sent again.
    Resend(u32),
    /// Data beyond a gap of `n` bytes.
    AfterGap(u32),
    /// New data up to the right edge of the window the peer last advertised.
    FillWindow,
    /// A SYN (from the first side) or a SYN-ACK (from the second), at SND.NXT.
    Syn,
    /// A keep-alive at SND.NXT-1, with a byte or without.
    KeepAlive(u32),
    Fin,
    Rst,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    side: usize,
    kind: Kind,
    /// Microseconds since the previous segment.
    gap_us: i64,
    /// Its ACK this far behind (or, negative, ahead of) everything the peer sent.
    ack_behind: i32,
    window: u16,
    psh: bool,
    /// A SACK block this far above the ACK (below it, a D-SACK).
    sack: Option<i32>,
    timestamps: bool,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => prop_oneof![Just(1u32), Just(2), Just(100), Just(1448)].prop_map(Kind::Data),
        4 => prop_oneof![Just(0i32), Just(0), Just(1448), Just(-100)].prop_map(Kind::Ack),
        1 => prop_oneof![Just(1u32), Just(1448)].prop_map(Kind::Resend),
        1 => Just(500u32).prop_map(Kind::AfterGap),
        1 => Just(Kind::FillWindow),
        1 => Just(Kind::Syn),
        1 => prop_oneof![Just(0u32), Just(1)].prop_map(Kind::KeepAlive),
        1 => Just(Kind::Fin),
        1 => Just(Kind::Rst),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..2usize,
        kind(),
        (
            prop_oneof![
                Just(50i64),
                1..2_000i64,
                2_000..60_000i64,
                60_000..400_000i64,
                Just(1_500_000)
            ],
            prop_oneof![8 => Just(0i32), 1 => Just(1), 1 => Just(1448), 1 => Just(-100)],
        ),
        prop_oneof![Just(0u16), Just(1000), Just(65_535)],
        any::<bool>(),
        prop_oneof![6 => Just(None), 1 => Just(Some(1448i32)), 1 => Just(Some(-2896))],
        prop_oneof![3 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(side, kind, (gap_us, ack_behind), window, psh, sack, timestamps)| Step {
                side,
                kind,
                gap_us,
                ack_behind,
                window,
                psh,
                sack,
                timestamps,
            },
        )
}

/// Two hosts' segments from a script of steps; what each has sent so far.
struct Script {
    addrs: [SocketAddr; 2],
    next: [u32; 2],
    /// The ACK and raw window each side last sent, and the window scale both agreed on.
    acked: [u32; 2],
    window: [u16; 2],
    shift: u8,
    ts: Timestamp,
    tsval: u32,
}

impl Script {
    fn segment(&mut self, side: usize, flags: u8, seq: u32, len: u32, window: u16) -> Segment {
        let mut options = TcpOptions::NONE;
        options.timestamps = Some((self.tsval, self.tsval.wrapping_sub(7)));
        self.tsval = self.tsval.wrapping_add(1);
        Segment {
            src: self.addrs[side],
            dst: self.addrs[1 - side],
            seq: SeqNumber(seq),
            ack: SeqNumber(self.next[1 - side]),
            flags: TcpFlags(flags),
            window,
            payload_len: len,
            options,
            ..Segment::EMPTY
        }
    }

    /// SYN, SYN-ACK and ACK, `gaps` (µs) apart: the ratio places the capture point.
    fn handshake(&mut self, gaps: (i64, i64)) -> Vec<(Segment, Timestamp)> {
        let mut syn = self.segment(0, TcpFlags::SYN, self.next[0], 0, 64_240);
        syn.options.sack_permitted = true;
        syn.options.window_scale = Some(7);
        let mut synack = syn;
        synack.src = self.addrs[1];
        synack.dst = self.addrs[0];
        synack.flags = TcpFlags(TcpFlags::SYN | ACK);
        synack.seq = SeqNumber(self.next[1]);
        synack.ack = SeqNumber(self.next[0].wrapping_add(1));
        self.next = self.next.map(|n| n.wrapping_add(1));
        let ack = self.segment(0, ACK, self.next[0], 0, 502);
        self.shift = 7;
        let t0 = self.ts;
        self.ts = Timestamp(t0.0 + (gaps.0 + gaps.1) * 1000);
        vec![
            (syn, t0),
            (synack, Timestamp(t0.0 + gaps.0 * 1000)),
            (ack, self.ts),
        ]
    }

    fn apply(&mut self, st: Step) -> Segment {
        let s = st.side;
        let next = self.next[s];
        let mut flags = ACK | if st.psh { TcpFlags::PSH } else { 0 };
        let (seq, len) = match st.kind {
            Kind::Data(n) => {
                self.next[s] = next.wrapping_add(n);
                (next, n)
            }
            Kind::Ack(_) => (next, 0),
            Kind::Resend(n) => (next.wrapping_sub(n), n),
            Kind::AfterGap(n) => {
                self.next[s] = next.wrapping_add(n + 100);
                (next.wrapping_add(n), 100)
            }
            Kind::FillWindow => {
                let r = 1 - s;
                let edge = self.acked[r].wrapping_add(u32::from(self.window[r]) << self.shift);
                let n = match edge.wrapping_sub(next) {
                    n @ 1..=200_000 => n,
                    _ => 1448,
                };
                self.next[s] = next.wrapping_add(n);
                (next, n)
            }
            Kind::Syn => {
                flags = if s == 0 {
                    TcpFlags::SYN
                } else {
                    TcpFlags::SYN | ACK
                };
                (next, 0)
            }
            Kind::KeepAlive(n) => (next.wrapping_sub(1), n),
            Kind::Fin => {
                flags |= TcpFlags::FIN;
                self.next[s] = next.wrapping_add(1);
                (next, 0)
            }
            Kind::Rst => {
                flags = TcpFlags::RST | ACK;
                (next, 0)
            }
        };
        let mut seg = self.segment(s, flags, seq, len, st.window);
        let behind = match st.kind {
            Kind::Ack(behind) => behind,
            _ => st.ack_behind,
        };
        seg.ack = SeqNumber(self.next[1 - s].wrapping_sub(behind as u32));
        self.acked[s] = seg.ack.0;
        self.window[s] = st.window;
        if !st.timestamps {
            seg.options.timestamps = None;
        }
        if let Some(above) = st.sack {
            let left = SeqNumber(seg.ack.0.wrapping_add(above as u32));
            seg.options.sack[0] = SackBlock {
                left,
                right: left + 1448,
            };
            seg.options.sack_count = 1;
        }
        self.ts = Timestamp(self.ts.0 + st.gap_us * 1000);
        seg
    }
}

/// Feeds the two copies; returns how many segments took the predicted path.
fn run(handshake: Option<(i64, i64)>, steps: &[Step]) -> Result<usize, TestCaseError> {
    let mut script = Script {
        addrs: [
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        ],
        next: [1_000, u32::MAX - 5_000],
        acked: [0; 2],
        window: [0; 2],
        shift: 0,
        ts: Timestamp::from_secs_nanos(100, 0),
        tsval: 1,
    };
    let mut segments: Vec<(Segment, Timestamp)> = Vec::new();
    if let Some(gaps) = handshake {
        segments = script.handshake(gaps);
    }
    for &st in steps {
        let seg = script.apply(st);
        segments.push((seg, script.ts));
    }
    let (first, ts0) = segments[0];
    let mut predicted = Connection::new(1, &first, ts0, 1, true);
    let mut full = predicted.clone();
    let mut taken = 0;
    for (i, (seg, ts)) in segments.iter().enumerate() {
        let frame = i as u64 + 1;
        let s = predicted.side_of(seg.src);
        taken += usize::from(predicted.clone().predicted(s, seg, *ts).is_some());
        predicted.on_segment(seg, *ts, frame, true);
        full.on_segment(seg, *ts, frame, false);
        prop_assert_eq!(
            format!("{predicted:?}"),
            format!("{full:?}"),
            "after segment {} ({:?})",
            frame,
            seg
        );
    }
    Ok(taken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn prediction_changes_nothing(
        handshake in prop::option::of((prop_oneof![Just(1_000i64), Just(40_000)], prop_oneof![Just(1_000i64), Just(40_000)])),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        run(handshake, &steps)?;
    }
}

/// The property above would hold if nothing were ever predicted: a plain exchange must take
/// the short path for every segment after the handshake.
#[test]
fn in_order_data_and_its_acks_are_predicted() {
    let data = |side| Step {
        side,
        kind: Kind::Data(1448),
        gap_us: 1_000,
        ack_behind: 0,
        window: 1000,
        psh: false,
        sack: None,
        timestamps: true,
    };
    let ack = Step {
        kind: Kind::Ack(0),
        ..data(1)
    };
    let steps: Vec<Step> = (0..20).flat_map(|_| [data(0), data(0), ack]).collect();
    let taken = run(Some((1_000, 40_000)), &steps).expect("the same with prediction and without");
    assert_eq!(taken, steps.len());
}
