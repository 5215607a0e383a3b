//! The per-endpoint TCP state machine (SPEC.md §2, §3, §6, §7), driven through the public
//! `Tracker` with crafted segments, in the style of smoltcp's `socket/tcp.rs` tests: one const
//! segment template per direction changed with struct-update syntax, fixtures that bring a
//! connection to a state, and sequence numbers that sit just below the 2^32 wrap so that every
//! comparison the code makes is exercised across it.
//!
//! A capture sees segments, not sockets, so every transition is asserted together with the frame
//! that proves it. Frames are numbered from 1 in the order segments are fed.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tcpflow_audit::analysis::{RetransKind, SegClass};
use tcpflow_audit::conn::fsm::Endpoint;
use tcpflow_audit::conn::fsm::State::{self, *};
use tcpflow_audit::conn::{Connection, EventKind, RoleRule, Side};
use tcpflow_audit::decode::segment::{SackBlock, Segment, TcpFlags, TcpOptions};
use tcpflow_audit::seq::SeqNumber;
use tcpflow_audit::time::Timestamp;
use tcpflow_audit::track::{TimelineSelect, Tracker};

// ---------------------------------------------------------------------------------------------
// Constants and segment templates
// ---------------------------------------------------------------------------------------------

const CLIENT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000));
const SERVER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 2), 80));

/// The client sent the first SYN, so it is side 0 of every connection below.
const C: Side = 0;
const S: Side = 1;

/// 256 bytes below the wrap: any data the client sends soon crosses it.
const CLIENT_ISN: u32 = 0xFFFF_FF00;
/// 16 bytes below the wrap: the server's FIN or its first data crosses it.
const SERVER_ISN: u32 = 0xFFFF_FFF0;

/// Client sequence number relative to its ISN, as Wireshark shows it.
const fn c(rel: u32) -> SeqNumber {
    SeqNumber(CLIENT_ISN.wrapping_add(rel))
}

/// Server sequence number relative to its ISN.
const fn s(rel: u32) -> SeqNumber {
    SeqNumber(SERVER_ISN.wrapping_add(rel))
}

const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);
const PSH_ACK: TcpFlags = TcpFlags(TcpFlags::PSH | TcpFlags::ACK);
const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
const FIN_PSH_ACK: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK);
const RST: TcpFlags = TcpFlags(TcpFlags::RST);
const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST | TcpFlags::ACK);

const NO_SACK: SackBlock = SackBlock {
    left: SeqNumber(0),
    right: SeqNumber(0),
};

const NO_OPTIONS: TcpOptions = TcpOptions {
    mss: None,
    window_scale: None,
    sack_permitted: false,
    timestamps: None,
    sack: [NO_SACK; 4],
    sack_count: 0,
    incomplete: false,
};

const SYN_OPTIONS: TcpOptions = TcpOptions {
    mss: Some(1460),
    sack_permitted: true,
    ..NO_OPTIONS
};

const WINDOW: u16 = 64240;

/// A bare ACK from the client at its first sequence number; every client segment starts here.
const CLIENT_SEG: Segment = Segment {
    src: CLIENT,
    dst: SERVER,
    seq: c(1),
    ack: s(1),
    flags: ACK,
    window: WINDOW,
    payload_len: 0,
    options: NO_OPTIONS,
};

/// A bare ACK from the server at its first sequence number.
const SERVER_SEG: Segment = Segment {
    src: SERVER,
    dst: CLIENT,
    seq: s(1),
    ack: c(1),
    ..CLIENT_SEG
};

const C_SYN: Segment = Segment {
    flags: SYN,
    seq: c(0),
    ack: SeqNumber(0),
    options: SYN_OPTIONS,
    ..CLIENT_SEG
};

const S_SYN_ACK: Segment = Segment {
    flags: SYN_ACK,
    seq: s(0),
    ack: c(1),
    options: SYN_OPTIONS,
    ..SERVER_SEG
};

/// The client's handshake ACK.
const C_ACK: Segment = CLIENT_SEG;

/// The client's FIN with nothing sent before it.
const C_FIN: Segment = Segment {
    flags: FIN_ACK,
    ..CLIENT_SEG
};

/// The server's FIN with nothing sent before it, not acknowledging the client's FIN.
const S_FIN: Segment = Segment {
    flags: FIN_ACK,
    ..SERVER_SEG
};

const TIME_WAIT_S: f64 = 60.0;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_secs_nanos(1_700_000_000, 0).plus_secs(ms as f64 / 1000.0)
}

fn with_tsval(seg: Segment, tsval: u32) -> Segment {
    Segment {
        options: TcpOptions {
            timestamps: Some((tsval, 0)),
            ..seg.options
        },
        ..seg
    }
}

// ---------------------------------------------------------------------------------------------
// The capture harness and fixtures
// ---------------------------------------------------------------------------------------------

/// A capture being replayed into a `Tracker`: frames are numbered from 1 in feeding order.
struct Capture {
    tracker: Tracker,
    frame: u64,
}

impl Capture {
    fn new() -> Capture {
        Capture {
            tracker: Tracker::new(TimelineSelect::None, TIME_WAIT_S),
            frame: 0,
        }
    }

    /// Keep the per-segment ladder, to read the class each segment got.
    fn with_timeline() -> Capture {
        Capture {
            tracker: Tracker::new(TimelineSelect::All, TIME_WAIT_S),
            frame: 0,
        }
    }

    /// Feed `seg`, captured `ms` milliseconds into the capture; returns its frame number.
    fn at(&mut self, ms: u64, seg: Segment) -> u64 {
        self.frame += 1;
        self.tracker.on_segment(&seg, ts(ms), self.frame);
        self.frame
    }

    fn finish(self, end_ms: u64) -> Vec<Connection> {
        self.tracker.finish(ts(end_ms))
    }

    fn finish_one(self, end_ms: u64) -> Connection {
        let mut conns = self.finish(end_ms);
        assert_eq!(
            conns.len(),
            1,
            "expected one connection, got {}",
            conns.len()
        );
        conns.pop().unwrap()
    }
}

/// Frame 1 (0 ms): the client's SYN.
fn syn_sent() -> Capture {
    let mut cap = Capture::new();
    cap.at(0, C_SYN);
    cap
}

/// + frame 2 (50 ms): the server's SYN-ACK.
fn syn_received() -> Capture {
    let mut cap = syn_sent();
    cap.at(50, S_SYN_ACK);
    cap
}

/// + frame 3 (51 ms): the client's ACK. The capture is near the client (50 ms vs 1 ms).
fn established() -> Capture {
    let mut cap = syn_received();
    cap.at(51, C_ACK);
    cap
}

/// + frame 4 (100 ms): the client's FIN.
fn fin_wait_1() -> Capture {
    let mut cap = established();
    cap.at(100, C_FIN);
    cap
}

/// + frame 5 (150 ms): the server acknowledges the FIN.
fn fin_wait_2() -> Capture {
    let mut cap = fin_wait_1();
    cap.at(
        150,
        Segment {
            ack: c(2),
            ..SERVER_SEG
        },
    );
    cap
}

/// The client closes first. + frame 6 (160 ms): the server's FIN (client enters TIME_WAIT);
/// frame 7 (161 ms): the client's last ACK.
fn time_wait() -> Capture {
    let mut cap = fin_wait_2();
    cap.at(160, Segment { ack: c(2), ..S_FIN });
    cap.at(161, Segment { ack: s(2), ..C_ACK });
    cap
}

/// The server closes first and holds TIME_WAIT from frame 6 (151 ms):
/// 1 SYN, 2 SYN-ACK, 3 ACK, 4 server FIN (100 ms), 5 client ACK of it (150 ms),
/// 6 client FIN (151 ms), 7 server's last ACK (200 ms).
/// With `client_tsval`, every client segment carries timestamps from that TSval up.
fn server_time_wait(client_tsval: Option<u32>) -> Capture {
    let client = |seg: Segment, n: u32| match client_tsval {
        Some(base) => with_tsval(seg, base + n),
        None => seg,
    };
    let mut cap = Capture::new();
    cap.at(0, client(C_SYN, 0));
    cap.at(50, S_SYN_ACK);
    cap.at(51, client(C_ACK, 1));
    cap.at(100, S_FIN);
    cap.at(150, client(Segment { ack: s(2), ..C_ACK }, 2));
    cap.at(151, client(Segment { ack: s(2), ..C_FIN }, 3));
    cap.at(
        200,
        Segment {
            seq: s(2),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    cap
}

// ---------------------------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------------------------

/// The states an endpoint went through after its initial one, each with the frame that proved
/// it. Checks that the recorded transitions chain (`from` is the previous `to`).
fn steps(end: &Endpoint) -> Vec<(State, Option<u64>)> {
    let mut at = end.initial;
    end.transitions
        .iter()
        .map(|t| {
            assert_eq!(t.from, at, "transitions must chain: {:?}", end.transitions);
            at = t.to;
            (t.to, t.frame)
        })
        .collect()
}

/// Just the states, for scenarios where SPEC.md fixes the path but not each stamp.
fn states(end: &Endpoint) -> Vec<State> {
    steps(end).into_iter().map(|(st, _)| st).collect()
}

/// Frames and sides of the events of one kind.
fn events(conn: &Connection, kind: EventKind) -> Vec<(Option<u64>, Option<Side>)> {
    conn.events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.frame, e.side))
        .collect()
}

/// Every anomaly (SPEC.md §2: "an anomaly, not a crash"), as (kind, frame).
fn anomalies(conn: &Connection) -> Vec<(EventKind, Option<u64>)> {
    conn.events
        .iter()
        .filter(|e| e.kind.is_anomaly())
        .map(|e| (e.kind, e.frame))
        .collect()
}

/// The class a segment got (needs `Capture::with_timeline`).
fn class_of(conn: &Connection, frame: u64) -> SegClass {
    conn.timeline
        .as_ref()
        .expect("timeline was recorded")
        .iter()
        .find(|e| e.frame == frame)
        .unwrap_or_else(|| panic!("frame {frame} is not in connection {}", conn.id))
        .class
}

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSED and LISTEN states
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_syn_goes_to_syn_sent() {
    let conn = syn_sent().finish_one(10);
    assert_eq!(conn.client, C);
    assert_eq!(conn.role_rule, RoleRule::Syn);
    assert_eq!(conn.ends[C].initial, Closed);
    assert!(!conn.ends[C].initial_inferred);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    // The server is implied to be listening; nothing it sent proves any change.
    assert_eq!(conn.ends[S].initial, Listen);
    assert!(conn.ends[S].initial_inferred);
    assert_eq!(steps(&conn.ends[S]), []);
}

#[test]
fn listen_syn_ack_goes_to_syn_received() {
    let conn = syn_received().finish_one(60);
    assert_eq!(steps(&conn.ends[S]), [(SynReceived, Some(2))]);
    // SPEC.md §2: SYN_SENT → ESTABLISHED is proved by the client's ACK, not by the SYN-ACK.
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.history(), "Sh");
    assert!(conn.handshake.ack.is_none());
}

// ---------------------------------------------------------------------------------------------
// Tests for the SYN-SENT state
// ---------------------------------------------------------------------------------------------

#[test]
fn syn_sent_syn_ack_then_ack_goes_to_established() {
    let conn = established().finish_one(100);
    // The client becomes ESTABLISHED at its own ACK (frame 3), the proof that the SYN-ACK
    // arrived; the server at the same ACK, which acknowledges its SYN.
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Established, Some(3))]
    );
    assert_eq!(conn.ends[S].initial, Listen);
    assert_eq!(
        steps(&conn.ends[S]),
        [(SynReceived, Some(2)), (Established, Some(3))]
    );
    assert!(conn.ends[C].transitions.iter().all(|t| !t.inferred));
    assert!(conn.ends[S].transitions.iter().all(|t| !t.inferred));
    assert_eq!(conn.dirs[C].isn, Some(c(0)));
    assert_eq!(conn.dirs[S].isn, Some(s(0)));
    assert!(conn.handshake.valid());
    assert_eq!(conn.handshake.synack_ack_ok, Some(true));
    assert_eq!(conn.summary().outcome.name(), "S1");
    assert_eq!(conn.history(), "ShA");
    assert_eq!(conn.summary().close_initiator.map(|p| p.name()), None);
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), None);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn syn_sent_syn_retransmitted_same_isn() {
    let mut cap = syn_sent();
    cap.at(1000, C_SYN);
    cap.at(1050, S_SYN_ACK);
    cap.at(1051, C_ACK);
    let conn = cap.finish_one(2000);
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Established, Some(4))]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [(SynReceived, Some(3)), (Established, Some(4))]
    );
    let st = conn.dirs[C].stats;
    assert_eq!(st.packets, 3);
    assert_eq!(st.retransmissions, 1);
    assert_eq!(st.syn_retransmissions, 1);
    assert_eq!(st.rto_retransmissions, 1);
    assert_eq!(conn.dirs[C].syn_count, 2);
    assert_eq!(
        events(&conn, EventKind::SynRetransmission),
        [(Some(2), Some(C))]
    );
    assert!(events(&conn, EventKind::NewAttempt).is_empty());
    assert!(conn.handshake.valid());
}

#[test]
fn syn_sent_no_answer_is_s0() {
    let mut cap = syn_sent();
    cap.at(1000, C_SYN);
    cap.at(3000, C_SYN);
    let conn = cap.finish_one(10_000);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.ends[S].state, Listen);
    assert_eq!(conn.dirs[C].stats.syn_retransmissions, 2);
    assert_eq!(conn.dirs[S].stats.packets, 0);
    assert_eq!(conn.summary().outcome.name(), "S0");
    assert_eq!(conn.history(), "S");
    assert!(!conn.handshake.valid());
}

#[test]
fn syn_sent_rst_ack_refused() {
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: RST_ACK,
            seq: SeqNumber(0),
            ack: c(1),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(10);
    assert_eq!(
        steps(&conn.ends[C]),
        [(SynSent, Some(1)), (Closed, Some(2))]
    );
    assert_eq!(steps(&conn.ends[S]), [(Closed, Some(2))]);
    assert_eq!(conn.summary().outcome.name(), "REJ");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.history(), "Sr");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(2), Some(S))]);
    assert_eq!(conn.dirs[S].stats.resets, 1);
    assert!(!conn.handshake.valid());
}

#[test]
fn syn_sent_rst_with_wrong_ack_is_ignored() {
    // RFC 9293 §3.10.7.3: in SYN_SENT a RST is acceptable only if it acknowledges the SYN.
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: RST_ACK,
            seq: SeqNumber(0),
            ack: c(1000),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(10);
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), None);
}

#[test]
fn syn_sent_syn_ack_with_wrong_ack() {
    let mut cap = syn_sent();
    // The SYN-ACK acknowledges ISN+5 instead of ISN+1 (across the wrap from the client's view
    // it is still "ahead"); the client answers with a RST at SEG.ACK as RFC 9293 §3.10.7.3 says.
    cap.at(
        50,
        Segment {
            ack: c(5),
            ..S_SYN_ACK
        },
    );
    cap.at(
        51,
        Segment {
            flags: RST,
            seq: c(5),
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(100);
    assert_eq!(conn.handshake.synack_ack_ok, Some(false));
    assert!(!conn.handshake.valid());
    assert_eq!(
        events(&conn, EventKind::BadHandshakeAck),
        [(Some(2), Some(S))]
    );
    assert!(!conn.ends[C].passed_through(Established));
    // RFC 9293 §3.10.7.3 (SYN-SENT, "If the ACK bit is set"): send <SEQ=SEG.ACK><CTL=RST>,
    // discard the segment and return: the client stays in SYN_SENT and will resend its SYN.
    assert_eq!(steps(&conn.ends[C]), [(SynSent, Some(1))]);
    assert_eq!(events(&conn, EventKind::Reset), [(Some(3), Some(C))]);
    assert_eq!(
        conn.summary().reset_by.map(|p| p.name()),
        None,
        "a RST answering a bad ACK does not abort the attempt"
    );
}

#[test]
fn syn_sent_bare_syn_simultaneous_open() {
    // RFC 9293 §3.5 figure 8: both ends send a bare SYN (frames 1, 2), then each a SYN-ACK
    // (client frame 3, server frame 4).
    let mut cap = syn_sent();
    cap.at(
        1,
        Segment {
            flags: SYN,
            seq: s(0),
            ack: SeqNumber(0),
            options: SYN_OPTIONS,
            ..SERVER_SEG
        },
    );
    cap.at(
        2,
        Segment {
            flags: SYN_ACK,
            ack: s(1),
            ..C_SYN
        },
    );
    cap.at(3, S_SYN_ACK);
    let conns = cap.finish(10);
    // SPEC.md §1: a bare SYN from the other side is not a new incarnation; it is one connection.
    assert_eq!(conns.len(), 1, "the two crossing SYNs are one connection");
    let conn = &conns[0];
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (SynReceived, Some(2)),
            (Established, Some(4))
        ]
    );
    assert_eq!(
        states(&conn.ends[S]),
        [SynSent, SynReceived, Established],
        "the server side also opens actively"
    );
    assert_eq!(conn.ends[S].transitions[0].frame, Some(2));
    assert_eq!(anomalies(conn), [], "{:?}", conn.events);
}

// ---------------------------------------------------------------------------------------------
// Tests for the ESTABLISHED state
// ---------------------------------------------------------------------------------------------

#[test]
fn established_mid_stream_is_inferred() {
    // The capture starts with data: no handshake was seen. The client's data crosses the wrap.
    let data = Segment {
        flags: PSH_ACK,
        seq: SeqNumber(0xFFFF_FFC0),
        ack: SeqNumber(0x8000_0000),
        payload_len: 100,
        ..CLIENT_SEG
    };
    let mut cap = Capture::new();
    cap.at(0, data);
    cap.at(
        40,
        Segment {
            seq: SeqNumber(0x8000_0000),
            ack: data.end(),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(100);
    for side in [C, S] {
        assert_eq!(conn.ends[side].initial, Established);
        assert!(conn.ends[side].initial_inferred);
        assert_eq!(steps(&conn.ends[side]), []);
    }
    assert_eq!(conn.client, C);
    assert_eq!(conn.role_rule, RoleRule::WellKnownPort);
    assert_eq!(conn.summary().outcome.name(), "OTH");
    assert_eq!(conn.history(), "Da");
    assert!(!conn.handshake.valid());
    assert_eq!(conn.dirs[S].stats.acked_unseen, 0);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_mid_stream_close_runs_the_machine() {
    // The capture begins with the client's FIN, which sits on the very last sequence number:
    // the ACK of it is 0.
    const MID_C: SeqNumber = SeqNumber(0xFFFF_FFFF);
    const MID_S: SeqNumber = SeqNumber(0x0000_1000);
    let mut cap = Capture::new();
    cap.at(
        0,
        Segment {
            seq: MID_C,
            ack: MID_S,
            ..C_FIN
        },
    );
    cap.at(
        40,
        Segment {
            seq: MID_S,
            ack: SeqNumber(0),
            ..SERVER_SEG
        },
    );
    cap.at(
        41,
        Segment {
            seq: MID_S,
            ack: SeqNumber(0),
            ..S_FIN
        },
    );
    cap.at(
        42,
        Segment {
            seq: SeqNumber(0),
            ack: MID_S + 1,
            ..C_ACK
        },
    );
    let conn = cap.finish_one(100);
    assert!(conn.ends[C].initial_inferred && conn.ends[S].initial_inferred);
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (FinWait1, Some(1)),
            (FinWait2, Some(2)),
            (TimeWait, Some(3))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [(CloseWait, Some(2)), (LastAck, Some(3)), (Closed, Some(4))]
    );
    assert_eq!(conn.summary().outcome.name(), "OTH");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_client_closes_first() {
    let conn = time_wait().finish_one(1000);
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (Established, Some(3)),
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (CloseWait, Some(5)),
            (LastAck, Some(6)),
            (Closed, Some(7)),
        ]
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(conn.history(), "ShAFaf");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.ends[C].time_wait_entered, Some(ts(160)));
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_server_closes_first() {
    let conn = server_time_wait(None).finish_one(1000);
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[C]),
        [
            (SynSent, Some(1)),
            (Established, Some(3)),
            (CloseWait, Some(5)),
            (LastAck, Some(6)),
            (Closed, Some(7)),
        ]
    );
    // SPEC.md §6: a server that closes first holds TIME_WAIT on its own port.
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("server")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("server")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(conn.history(), "ShAfFa");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_fin_close_wait_stamped_at_ack_of_fin() {
    // SPEC.md §2: ESTABLISHED → CLOSE_WAIT is proved by the receiver's ACK of the FIN, not by
    // the FIN itself nor by a segment that does not acknowledge it yet.
    let mut cap = fin_wait_1();
    cap.at(
        101,
        Segment {
            flags: PSH_ACK,
            payload_len: 10,
            ..SERVER_SEG
        },
    );
    cap.at(
        150,
        Segment {
            seq: s(11),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(
        steps(&conn.ends[S]),
        [
            (SynReceived, Some(2)),
            (Established, Some(3)),
            (CloseWait, Some(6)),
        ]
    );
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(6))]
    );
}

#[test]
fn established_fin_piggybacked_on_data() {
    // 300 bytes from the client's relative seq 1 cross the wrap; the FIN takes seq 301.
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: FIN_PSH_ACK,
            payload_len: 300,
            ..CLIENT_SEG
        },
    );
    cap.at(
        150,
        Segment {
            ack: c(302),
            ..SERVER_SEG
        },
    );
    cap.at(
        160,
        Segment {
            ack: c(302),
            ..S_FIN
        },
    );
    cap.at(
        161,
        Segment {
            seq: c(302),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[C].fin_seq, Some(c(301)));
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(6))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (LastAck, Some(6)), (Closed, Some(7))]
    );
    assert_eq!(conn.dirs[C].stats.payload_bytes, 300);
    assert_eq!(conn.history(), "ShADFaf");
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_rst_from_client_is_rsto() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST,
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTO");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("client"));
    assert_eq!(conn.history(), "ShAR");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(4), Some(C))]);
    assert_eq!(conn.dirs[C].stats.resets, 1);
    assert_eq!(conn.summary().close_initiator.map(|p| p.name()), None);
}

#[test]
fn established_rst_from_server_is_rstr() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST_ACK,
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTR");
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.history(), "ShAr");
    assert_eq!(events(&conn, EventKind::Reset), [(Some(4), Some(S))]);
    assert_eq!(conn.dirs[S].stats.resets, 1);
}

#[test]
fn established_ack_of_unseen_data() {
    // The server acknowledges 1000 bytes the client never sent in the capture.
    let mut cap = established();
    cap.at(
        100,
        Segment {
            ack: c(1001),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(conn.dirs[S].stats.acked_unseen, 1);
    assert_eq!(events(&conn, EventKind::AckedUnseen), [(Some(4), Some(S))]);
    // An anomaly, not a state change.
    assert_eq!(conn.ends[C].state, Established);
    assert_eq!(conn.ends[S].state, Established);
}

#[test]
fn established_dsack_marks_a_retransmission_spurious() {
    let mut cap = established();
    // Frame 4: 100 bytes; frame 5: the same 100 bytes again (the ACK was only delayed).
    let data = Segment {
        flags: PSH_ACK,
        seq: c(1),
        payload_len: 100,
        ..CLIENT_SEG
    };
    cap.at(100, data);
    cap.at(400, data);
    // Frame 6: the server acks 101 and reports [1, 101) as received twice (RFC 2883: a first SACK
    // block below the cumulative ACK), across the 2^32 wrap.
    let mut options = NO_OPTIONS;
    options.sack[0] = SackBlock {
        left: c(1),
        right: c(101),
    };
    options.sack_count = 1;
    cap.at(
        401,
        Segment {
            ack: c(101),
            options,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(conn.dirs[S].stats.dsacks_sent, 1);
    assert_eq!(conn.dirs[C].stats.dsacked_retransmissions, 1);
    assert_eq!(conn.dirs[C].stats.retransmissions, 1);
    assert_eq!(events(&conn, EventKind::Dsack), [(Some(6), Some(S))]);
    // An ordinary SACK block above the ACK is not a D-SACK.
    let mut cap = established();
    cap.at(100, data);
    let mut options = NO_OPTIONS;
    options.sack[0] = SackBlock {
        left: c(201),
        right: c(301),
    };
    options.sack_count = 1;
    cap.at(
        150,
        Segment {
            ack: c(101),
            options,
            ..SERVER_SEG
        },
    );
    assert_eq!(cap.finish_one(1000).dirs[S].stats.dsacks_sent, 0);
}

#[test]
fn established_triple_dup_ack_then_fast_retransmission() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    // Four 100-byte segments (frames 4-7) from relative seq 1: they cross the wrap at 256.
    for i in 0..4 {
        cap.at(
            100 + u64::from(i),
            Segment {
                flags: PSH_ACK,
                seq: c(1 + 100 * i),
                payload_len: 100,
                ..CLIENT_SEG
            },
        );
    }
    // Frame 8 acks the first; 9-11 repeat that ACK: the second segment was lost downstream.
    let ack_101 = Segment {
        ack: c(101),
        ..SERVER_SEG
    };
    for i in 0..4 {
        cap.at(151 + i, ack_101);
    }
    // Frame 12: the client resends the second segment at once.
    cap.at(
        155,
        Segment {
            flags: PSH_ACK,
            seq: c(101),
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    cap.at(
        205,
        Segment {
            ack: c(401),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);

    assert_eq!(class_of(&conn, 8), SegClass::Normal);
    assert_eq!(class_of(&conn, 9), SegClass::DupAck(1));
    assert_eq!(class_of(&conn, 10), SegClass::DupAck(2));
    assert_eq!(class_of(&conn, 11), SegClass::DupAck(3));
    assert_eq!(
        class_of(&conn, 12),
        SegClass::Retransmission(RetransKind::Fast)
    );
    let srv = conn.dirs[S].stats;
    assert_eq!(srv.dup_acks, 3);
    assert_eq!(srv.triple_dup_acks, 1);
    let cli = conn.dirs[C].stats;
    assert_eq!(cli.retransmissions, 1);
    assert_eq!(cli.fast_retransmissions, 1);
    assert_eq!(cli.retransmitted_bytes, 100);
    assert_eq!(cli.payload_bytes, 500);
    assert_eq!(
        events(&conn, EventKind::TripleDupAck),
        [(Some(11), Some(S))]
    );
    assert_eq!(
        events(&conn, EventKind::Retransmission),
        [(Some(12), Some(C))]
    );
    assert_eq!(conn.ends[C].state, Established);
}

#[test]
fn established_keep_alive_with_open_window() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(
        100,
        Segment {
            flags: PSH_ACK,
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    cap.at(
        150,
        Segment {
            ack: c(101),
            ..SERVER_SEG
        },
    );
    // 75 s idle, then 1 byte at SND.NXT-1 while the server's window is open.
    let probe = Segment {
        seq: c(100),
        payload_len: 1,
        ..CLIENT_SEG
    };
    cap.at(75_150, probe);
    cap.at(
        75_200,
        Segment {
            ack: c(101),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(76_000);
    assert_eq!(class_of(&conn, 6), SegClass::KeepAlive);
    assert_eq!(class_of(&conn, 7), SegClass::KeepAliveAck);
    assert_eq!(conn.dirs[C].stats.keep_alives, 1);
    assert_eq!(conn.dirs[C].stats.zero_window_probes, 0);
    assert_eq!(conn.dirs[C].stats.retransmissions, 0);
    assert_eq!(conn.dirs[S].stats.keep_alive_acks, 1);
    assert_eq!(events(&conn, EventKind::KeepAlive), [(Some(6), Some(C))]);
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn established_zero_window_probe() {
    let mut cap = Capture::with_timeline();
    cap.at(0, C_SYN);
    cap.at(50, S_SYN_ACK);
    cap.at(51, C_ACK);
    cap.at(
        100,
        Segment {
            flags: PSH_ACK,
            payload_len: 100,
            ..CLIENT_SEG
        },
    );
    // The server's buffer is full: it acknowledges with a zero window.
    let zero = Segment {
        ack: c(101),
        window: 0,
        ..SERVER_SEG
    };
    cap.at(150, zero);
    // Linux form: 1 byte at SND.NXT-1, the same shape as a keep-alive.
    cap.at(
        350,
        Segment {
            seq: c(100),
            payload_len: 1,
            ..CLIENT_SEG
        },
    );
    cap.at(400, zero);
    // BSD/Windows form: 1 byte at SND.NXT.
    cap.at(
        800,
        Segment {
            seq: c(101),
            payload_len: 1,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(class_of(&conn, 6), SegClass::ZeroWindowProbe);
    assert_eq!(class_of(&conn, 7), SegClass::ZeroWindowProbeAck);
    assert_eq!(class_of(&conn, 8), SegClass::ZeroWindowProbe);
    assert_eq!(conn.dirs[C].stats.zero_window_probes, 2);
    assert_eq!(conn.dirs[C].stats.keep_alives, 0);
    assert_eq!(conn.dirs[C].stats.retransmissions, 0);
    assert_eq!(conn.dirs[S].stats.zero_window, 2);
    assert_eq!(conn.dirs[S].stats.zero_window_episodes, 1);
    assert_eq!(
        events(&conn, EventKind::ZeroWindowProbe),
        [(Some(6), Some(C)), (Some(8), Some(C))]
    );
    assert!(events(&conn, EventKind::KeepAlive).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tests for the FIN-WAIT-1 state
// ---------------------------------------------------------------------------------------------

#[test]
fn fin_wait_1_ack_goes_to_fin_wait_2() {
    let conn = fin_wait_2().finish_one(155);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(5))]
    );
    assert_eq!(steps(&conn.ends[S])[2..], [(CloseWait, Some(5))]);
    assert_eq!(conn.summary().outcome.name(), "S2");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
}

#[test]
fn fin_wait_1_fin_ack_goes_to_time_wait() {
    // The server's FIN also acknowledges the client's FIN. SPEC.md §2's table folds this into
    // FIN_WAIT_1 → TIME_WAIT; issue 3 expects FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT, which is how
    // RFC 9293 §3.10.7.4 and Linux process it (the ACK, then the FIN), so both steps are
    // recorded at the same frame.
    let mut cap = fin_wait_1();
    cap.at(150, Segment { ack: c(2), ..S_FIN });
    cap.at(
        151,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(5))
        ]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (LastAck, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
    assert_eq!(anomalies(&conn), []);
}

#[test]
fn fin_wait_1_fin_simultaneous_close() {
    // The FINs cross: the server's FIN (frame 5) does not acknowledge the client's (frame 4).
    let mut cap = fin_wait_1();
    cap.at(101, S_FIN);
    cap.at(
        150,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    cap.at(
        151,
        Segment {
            seq: s(2),
            ack: c(2),
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(1000);
    // The client gets the FIN that does not ack its own (CLOSING), then the ACK of its FIN.
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (Closing, Some(5)), (TimeWait, Some(7))]
    );
    // The server sent its FIN before the client's arrived (its FIN acks only c(1)), and TCP
    // delivers the client's FIN before the client's later ACK: it passes CLOSING too.
    assert_eq!(
        states(&conn.ends[S])[2..],
        [FinWait1, Closing, TimeWait],
        "{:?}",
        conn.ends[S].transitions
    );
    assert_eq!(conn.ends[S].transitions[2].frame, Some(5));
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("both")
    );
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("both")
    );
    assert_eq!(conn.summary().outcome.name(), "SF");
}

#[test]
fn fin_wait_1_data_after_fin() {
    let mut cap = fin_wait_1();
    cap.at(
        110,
        Segment {
            flags: PSH_ACK,
            seq: c(2),
            payload_len: 10,
            ..CLIENT_SEG
        },
    );
    let conn = cap.finish_one(200);
    assert_eq!(events(&conn, EventKind::DataAfterFin), [(Some(5), Some(C))]);
    assert_eq!(conn.ends[C].state, FinWait1);
}

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSE-WAIT state
// ---------------------------------------------------------------------------------------------

#[test]
fn close_wait_data_is_a_half_close() {
    // The client closed its half; the server keeps sending (across its wrap at 16 bytes).
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            flags: PSH_ACK,
            ack: c(2),
            payload_len: 100,
            ..SERVER_SEG
        },
    );
    cap.at(
        201,
        Segment {
            seq: c(2),
            ack: s(101),
            ..C_ACK
        },
    );
    cap.at(
        250,
        Segment {
            flags: PSH_ACK,
            seq: s(101),
            ack: c(2),
            payload_len: 100,
            ..SERVER_SEG
        },
    );
    cap.at(
        251,
        Segment {
            seq: c(2),
            ack: s(201),
            ..C_ACK
        },
    );
    cap.at(
        300,
        Segment {
            seq: s(201),
            ack: c(2),
            ..S_FIN
        },
    );
    cap.at(
        301,
        Segment {
            seq: c(2),
            ack: s(202),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(anomalies(&conn), [], "{:#?}", conn.events);
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [
            (CloseWait, Some(5)),
            (LastAck, Some(10)),
            (Closed, Some(11))
        ]
    );
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [
            (FinWait1, Some(4)),
            (FinWait2, Some(5)),
            (TimeWait, Some(10))
        ]
    );
    assert_eq!(conn.dirs[S].stats.payload_bytes, 200);
    assert_eq!(conn.dirs[S].stats.retransmissions, 0);
    assert_eq!(conn.summary().outcome.name(), "SF");
}

// ---------------------------------------------------------------------------------------------
// Tests for the FIN-WAIT-2 state
// ---------------------------------------------------------------------------------------------

#[test]
fn fin_wait_2_rst_after_fin() {
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            flags: RST_ACK,
            ack: c(2),
            window: 0,
            ..SERVER_SEG
        },
    );
    let conn = cap.finish_one(300);
    assert_eq!(
        steps(&conn.ends[C])[2..],
        [(FinWait1, Some(4)), (FinWait2, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(
        steps(&conn.ends[S])[2..],
        [(CloseWait, Some(5)), (Closed, Some(6))]
    );
    assert_eq!(conn.summary().reset_by.map(|p| p.name()), Some("server"));
    assert_eq!(conn.summary().outcome.name(), "RSTR");
    assert_eq!(
        conn.summary().close_initiator.map(|p| p.name()),
        Some("client")
    );
    assert_eq!(conn.summary().time_wait_holder.map(|p| p.name()), None);
}

#[test]
fn fin_wait_2_new_isn_syn_is_new_connection() {
    // SPEC.md §1: after the old incarnation sent FIN, a SYN with a different ISN is a new one.
    let mut cap = fin_wait_2();
    cap.at(
        200,
        Segment {
            seq: SeqNumber(0x1234_5678),
            ..C_SYN
        },
    );
    let conns = cap.finish(300);
    assert_eq!(conns.len(), 2);
    let (old, new) = (&conns[0], &conns[1]);
    assert_eq!(old.dirs[C].stats.packets, 3);
    assert_eq!(new.dirs[C].isn, Some(SeqNumber(0x1234_5678)));
    assert_eq!(steps(&new.ends[C]), [(SynSent, Some(6))]);
    assert!(new.reuse.is_none());
    assert!(old.reused_by.is_none());
}

// ---------------------------------------------------------------------------------------------
// Tests for the CLOSED state (after a reset)
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_fin_after_rst_is_anomaly() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST,
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    cap.at(101, S_FIN);
    let conn = cap.finish_one(200);
    assert_eq!(
        events(&conn, EventKind::SegmentAfterReset),
        [(Some(5), Some(S))]
    );
    assert_eq!(steps(&conn.ends[S])[2..], [(Closed, Some(4))]);
    assert_eq!(steps(&conn.ends[C])[2..], [(Closed, Some(4))]);
    assert_eq!(conn.summary().outcome.name(), "RSTO");
}

#[test]
fn closed_after_rst_new_isn_syn_is_new_connection() {
    let mut cap = established();
    cap.at(
        100,
        Segment {
            flags: RST,
            ack: SeqNumber(0),
            window: 0,
            ..CLIENT_SEG
        },
    );
    cap.at(
        200,
        Segment {
            seq: SeqNumber(0x0000_0100),
            ..C_SYN
        },
    );
    let conns = cap.finish(300);
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].summary().outcome.name(), "RSTO");
    assert_eq!(steps(&conns[1].ends[C]), [(SynSent, Some(5))]);
    assert!(conns[1].reuse.is_none());
}

// ---------------------------------------------------------------------------------------------
// Tests for the TIME-WAIT state
// ---------------------------------------------------------------------------------------------

#[test]
fn time_wait_retransmitted_fin() {
    // The client's last ACK (frame 7) was lost beyond the capture point: the server resends
    // its FIN, which reaches the client in TIME_WAIT; the client acknowledges it again.
    let mut cap = time_wait();
    cap.at(360, Segment { ack: c(2), ..S_FIN });
    cap.at(
        361,
        Segment {
            seq: c(2),
            ack: s(2),
            ..C_ACK
        },
    );
    let conn = cap.finish_one(1000);
    assert_eq!(
        events(&conn, EventKind::TimeWaitSegment).first(),
        Some(&(Some(8), Some(S)))
    );
    assert_eq!(conn.dirs[S].stats.fin_retransmissions, 1);
    assert_eq!(conn.dirs[S].stats.retransmissions, 1);
    assert_eq!(
        events(&conn, EventKind::FinRetransmission),
        [(Some(8), Some(S))]
    );
    // TIME_WAIT is not restarted as a new state and nothing else changes.
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(conn.ends[C].transitions.len(), 5);
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_expires_after_duration() {
    // TIME_WAIT entered at 160 ms (frame 6); the capture ends 61 s later.
    let conn = time_wait().finish_one(61_160);
    let last = *conn.ends[C].transitions.last().unwrap();
    assert_eq!((last.from, last.to), (TimeWait, Closed));
    assert_eq!(last.frame, None);
    assert!(last.inferred);
    assert_eq!(last.ts, ts(60_160));
    assert_eq!(conn.ends[C].state, Closed);
    // It was held, even though it is over.
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_still_held_at_capture_end() {
    let conn = time_wait().finish_one(59_160);
    assert_eq!(conn.ends[C].state, TimeWait);
    assert_eq!(steps(&conn.ends[C]).last(), Some(&(TimeWait, Some(6))));
    assert_eq!(
        conn.summary().time_wait_holder.map(|p| p.name()),
        Some("client")
    );
}

#[test]
fn time_wait_expired_new_syn_is_new_connection() {
    // 70 s after TIME_WAIT began, the client reuses its port with a fresh ISN.
    let mut cap = time_wait();
    cap.at(
        70_160,
        Segment {
            seq: SeqNumber(0x0000_2000),
            ..C_SYN
        },
    );
    let conns = cap.finish(71_000);
    assert_eq!(conns.len(), 2);
    let (old, new) = (&conns[0], &conns[1]);
    let last = *old.ends[C].transitions.last().unwrap();
    assert_eq!((last.from, last.to, last.frame), (TimeWait, Closed, None));
    assert!(last.inferred);
    assert_eq!(last.ts, ts(60_160));
    assert!(old.reused_by.is_none());
    assert!(new.reuse.is_none());
    assert_eq!(steps(&new.ends[C]), [(SynSent, Some(8))]);
}

/// The server holds TIME_WAIT (frame 6, 151 ms); 1 s later the client sends `syn` (frame 8),
/// and the server answers with a SYN-ACK (frame 9) and the client ACKs (frame 10) if `accept`.
fn reuse_of_server_time_wait(
    client_tsval: Option<u32>,
    syn: Segment,
    accept: bool,
) -> (Connection, Connection) {
    let mut cap = server_time_wait(client_tsval);
    let f8 = cap.at(1151, syn);
    assert_eq!(f8, 8);
    if accept {
        const NEW_SERVER_ISN: SeqNumber = SeqNumber(0x5000_0000);
        cap.at(
            1200,
            Segment {
                seq: NEW_SERVER_ISN,
                ack: syn.seq + 1,
                ..S_SYN_ACK
            },
        );
        cap.at(
            1201,
            Segment {
                seq: syn.seq + 1,
                ack: NEW_SERVER_ISN + 1,
                ..C_ACK
            },
        );
    }
    let mut conns = cap.finish(2000);
    assert_eq!(conns.len(), 2, "the SYN starts a second incarnation");
    let new = conns.pop().unwrap();
    let old = conns.pop().unwrap();
    // The old incarnation's holder left TIME_WAIT at the new SYN's frame.
    assert_eq!(old.reused_by, Some((new.id, ts(1151), 8)));
    let last = *old.ends[S].transitions.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.frame, last.inferred),
        (TimeWait, Closed, Some(8), false)
    );
    assert_eq!(last.ts, ts(1151));
    assert_eq!(events(&old, EventKind::Reuse).len(), 1);
    let reuse = new.reuse.as_ref().expect("the reuse is recorded");
    assert_eq!(reuse.previous, old.id);
    assert_eq!(reuse.holder, S);
    assert_eq!(reuse.holder_addr, SERVER);
    assert!(
        (reuse.held_for_s - 1.0).abs() < 1e-6,
        "{}",
        reuse.held_for_s
    );
    assert_eq!(events(&new, EventKind::Reuse), [(Some(8), Some(C))]);
    (old, new)
}

#[test]
fn time_wait_syn_reuse_isn_above_is_acceptable() {
    // The old client's last sequence number is c(2) = 0xFFFF_FF02; 0x0000_2000 is above it
    // on the circle although below it as a raw u32.
    let syn = Segment {
        seq: SeqNumber(0x0000_2000),
        ..C_SYN
    };
    let (_, new) = reuse_of_server_time_wait(None, syn, true);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(reuse.acceptable, "{}", reuse.reason);
    assert_eq!(reuse.outcome, "accepted (SYN-ACK)");
    assert_eq!(
        steps(&new.ends[C]),
        [(SynSent, Some(8)), (Established, Some(10))]
    );
    assert_eq!(
        steps(&new.ends[S]),
        [(SynReceived, Some(9)), (Established, Some(10))]
    );
    assert!(new.handshake.valid());
}

#[test]
fn time_wait_syn_reuse_isn_below_is_not_acceptable() {
    let syn = Segment {
        seq: SeqNumber(0xFFFF_0000),
        ..C_SYN
    };
    let (_, new) = reuse_of_server_time_wait(None, syn, false);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(!reuse.acceptable, "{}", reuse.reason);
    assert_eq!(reuse.outcome, "no answer in the capture");
}

#[test]
fn time_wait_syn_reuse_tsval_greater_is_acceptable() {
    // RFC 6191: with timestamps the TSval decides, even for an ISN below the old sequence.
    let syn = with_tsval(
        Segment {
            seq: SeqNumber(0xFFFF_0000),
            ..C_SYN
        },
        2000,
    );
    let (_, new) = reuse_of_server_time_wait(Some(1000), syn, true);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(reuse.acceptable, "{}", reuse.reason);
}

#[test]
fn time_wait_syn_reuse_tsval_not_greater_is_not_acceptable() {
    let syn = with_tsval(
        Segment {
            seq: SeqNumber(0x0000_2000),
            ..C_SYN
        },
        900,
    );
    let (_, new) = reuse_of_server_time_wait(Some(1000), syn, false);
    let reuse = new.reuse.as_ref().unwrap();
    assert!(!reuse.acceptable, "{}", reuse.reason);
}

/// Events stop at `MAX_EVENTS` a connection; the rest are counted, never lost: here one data
/// segment resent 400 times, each resend a retransmission event.
#[test]
fn events_beyond_the_cap_are_counted_not_kept() {
    use tcpflow_audit::conn::MAX_EVENTS;
    let data = Segment {
        flags: PSH_ACK,
        payload_len: 100,
        ..CLIENT_SEG
    };
    let uncapped = {
        let mut cap = established();
        cap.at(100, data);
        cap.finish_one(1000).events.len()
    };
    let mut cap = established();
    cap.at(100, data);
    for i in 0..400 {
        cap.at(1000 + i * 1000, data);
    }
    let conn = cap.finish_one(500_000);
    assert_eq!(conn.dirs[C].stats.retransmissions, 400);
    assert_eq!(conn.events.len(), MAX_EVENTS);
    assert_eq!(
        conn.events.len() + conn.events.dropped() as usize,
        uncapped + 400
    );
    assert!(conn.events.anomaly_count() >= 400);
}
