//! Segment templates, the capture harness, fixtures that bring a connection to a state, and
//! assertion helpers shared by every state's tests.
#![allow(dead_code)]

pub use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

pub use tcpflow_audit::analysis::{RetransKind, SegClass};
pub use tcpflow_audit::conn::fsm::Endpoint;
pub use tcpflow_audit::conn::fsm::State::{self, *};
pub use tcpflow_audit::conn::{Connection, EventKind, RoleRule, Side};
pub use tcpflow_audit::decode::segment::{SackBlock, Segment, TcpFlags, TcpOptions};
pub use tcpflow_audit::seq::SeqNumber;
pub use tcpflow_audit::time::Timestamp;
pub use tcpflow_audit::track::{TimelineSelect, TrackOptions, Tracker};

// ---------------------------------------------------------------------------------------------
// Constants and segment templates
// ---------------------------------------------------------------------------------------------

pub const CLIENT: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000));
pub const SERVER: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 2), 80));

/// The client sent the first SYN, so it is side 0 of every connection below.
pub const C: Side = 0;
pub const S: Side = 1;

/// 256 bytes below the wrap: any data the client sends soon crosses it.
pub const CLIENT_ISN: u32 = 0xFFFF_FF00;
/// 16 bytes below the wrap: the server's FIN or its first data crosses it.
pub const SERVER_ISN: u32 = 0xFFFF_FFF0;

/// Client sequence number relative to its ISN, as Wireshark shows it.
pub const fn c(rel: u32) -> SeqNumber {
    SeqNumber(CLIENT_ISN.wrapping_add(rel))
}

/// Server sequence number relative to its ISN.
pub const fn s(rel: u32) -> SeqNumber {
    SeqNumber(SERVER_ISN.wrapping_add(rel))
}

pub const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
pub const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
pub const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);
pub const PSH_ACK: TcpFlags = TcpFlags(TcpFlags::PSH | TcpFlags::ACK);
pub const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
pub const FIN_PSH_ACK: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK);
pub const RST: TcpFlags = TcpFlags(TcpFlags::RST);
pub const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST | TcpFlags::ACK);

pub const NO_SACK: SackBlock = SackBlock {
    left: SeqNumber(0),
    right: SeqNumber(0),
};

pub const NO_OPTIONS: TcpOptions = TcpOptions {
    mss: None,
    window_scale: None,
    sack_permitted: false,
    timestamps: None,
    sack: [NO_SACK; 4],
    sack_count: 0,
    incomplete: false,
};

pub const SYN_OPTIONS: TcpOptions = TcpOptions {
    mss: Some(1460),
    sack_permitted: true,
    ..NO_OPTIONS
};

pub const WINDOW: u16 = 64240;

/// A bare ACK from the client at its first sequence number; every client segment starts here.
pub const CLIENT_SEG: Segment = Segment {
    src: CLIENT,
    dst: SERVER,
    seq: c(1),
    ack: s(1),
    flags: ACK,
    window: WINDOW,
    payload_len: 0,
    options: NO_OPTIONS,
    vlan: [0, 0],
};

/// A bare ACK from the server at its first sequence number.
pub const SERVER_SEG: Segment = Segment {
    src: SERVER,
    dst: CLIENT,
    seq: s(1),
    ack: c(1),
    ..CLIENT_SEG
};

pub const C_SYN: Segment = Segment {
    flags: SYN,
    seq: c(0),
    ack: SeqNumber(0),
    options: SYN_OPTIONS,
    ..CLIENT_SEG
};

pub const S_SYN_ACK: Segment = Segment {
    flags: SYN_ACK,
    seq: s(0),
    ack: c(1),
    options: SYN_OPTIONS,
    ..SERVER_SEG
};

/// The client's handshake ACK.
pub const C_ACK: Segment = CLIENT_SEG;

/// The client's FIN with nothing sent before it.
pub const C_FIN: Segment = Segment {
    flags: FIN_ACK,
    ..CLIENT_SEG
};

/// The server's FIN with nothing sent before it, not acknowledging the client's FIN.
pub const S_FIN: Segment = Segment {
    flags: FIN_ACK,
    ..SERVER_SEG
};

pub const TIME_WAIT_S: f64 = 60.0;

pub fn ts(ms: u64) -> Timestamp {
    Timestamp::from_secs_nanos(1_700_000_000, 0).plus_secs(ms as f64 / 1000.0)
}

pub fn with_tsval(seg: Segment, tsval: u32) -> Segment {
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
pub struct Capture {
    pub tracker: Tracker,
    pub frame: u64,
}

impl Capture {
    pub fn new() -> Capture {
        Capture {
            tracker: Tracker::new(TimelineSelect::None, TIME_WAIT_S),
            frame: 0,
        }
    }

    /// Keep the per-segment ladder, to read the class each segment got.
    pub fn with_timeline() -> Capture {
        Capture {
            tracker: Tracker::new(TimelineSelect::All, TIME_WAIT_S),
            frame: 0,
        }
    }

    /// Feed `seg`, captured `ms` milliseconds into the capture; returns its frame number.
    pub fn at(&mut self, ms: u64, seg: Segment) -> u64 {
        self.frame += 1;
        self.tracker.on_segment(&seg, ts(ms), self.frame);
        self.frame
    }

    pub fn finish(self, end_ms: u64) -> Vec<Connection> {
        self.tracker.finish(ts(end_ms))
    }

    pub fn finish_one(self, end_ms: u64) -> Connection {
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
pub fn syn_sent() -> Capture {
    let mut cap = Capture::new();
    cap.at(0, C_SYN);
    cap
}

/// + frame 2 (50 ms): the server's SYN-ACK.
pub fn syn_received() -> Capture {
    let mut cap = syn_sent();
    cap.at(50, S_SYN_ACK);
    cap
}

/// + frame 3 (51 ms): the client's ACK. The capture is near the client (50 ms vs 1 ms).
pub fn established() -> Capture {
    let mut cap = syn_received();
    cap.at(51, C_ACK);
    cap
}

/// + frame 4 (100 ms): the client's FIN.
pub fn fin_wait_1() -> Capture {
    let mut cap = established();
    cap.at(100, C_FIN);
    cap
}

/// + frame 5 (150 ms): the server acknowledges the FIN.
pub fn fin_wait_2() -> Capture {
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
pub fn time_wait() -> Capture {
    let mut cap = fin_wait_2();
    cap.at(160, Segment { ack: c(2), ..S_FIN });
    cap.at(161, Segment { ack: s(2), ..C_ACK });
    cap
}

/// The server closes first and holds TIME_WAIT from frame 6 (151 ms):
/// 1 SYN, 2 SYN-ACK, 3 ACK, 4 server FIN (100 ms), 5 client ACK of it (150 ms),
/// 6 client FIN (151 ms), 7 server's last ACK (200 ms).
/// With `client_tsval`, every client segment carries timestamps from that TSval up.
pub fn server_time_wait(client_tsval: Option<u32>) -> Capture {
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
pub fn steps(end: &Endpoint) -> Vec<(State, Option<u64>)> {
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
pub fn states(end: &Endpoint) -> Vec<State> {
    steps(end).into_iter().map(|(st, _)| st).collect()
}

/// Frames and sides of the events of one kind.
pub fn events(conn: &Connection, kind: EventKind) -> Vec<(Option<u64>, Option<Side>)> {
    conn.events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.frame, e.side))
        .collect()
}

/// Every anomaly (SPEC.md §2: "an anomaly, not a crash"), as (kind, frame).
pub fn anomalies(conn: &Connection) -> Vec<(EventKind, Option<u64>)> {
    conn.events
        .iter()
        .filter(|e| e.kind.is_anomaly())
        .map(|e| (e.kind, e.frame))
        .collect()
}

/// The class a segment got (needs `Capture::with_timeline`).
pub fn class_of(conn: &Connection, frame: u64) -> SegClass {
    conn.timeline
        .as_ref()
        .expect("timeline was recorded")
        .iter()
        .find(|e| e.frame == frame)
        .unwrap_or_else(|| panic!("frame {frame} is not in connection {}", conn.id))
        .class
}
