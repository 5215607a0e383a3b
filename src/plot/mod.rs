//! Pictures of a connection: the time-sequence graph, the ladder of the handshake and close, RTT
//! and throughput over time, and TIME_WAIT sockets held over the capture, each as one SVG.
//!
//! The drawing code sees only the plain values of this module; [`crate::report::graph_data`]
//! fills them from the analysis. Axes, tick labels and legends are drawn by `plotters` (SVG
//! backend); the marks of segment classes and the ladder are written directly as SVG elements so
//! that each carries its kind (`class`) and its frame (`data-frame`).

pub mod ladder;
pub mod rtt;
pub mod svg;
pub mod throughput;
pub mod time_wait;
pub mod tsg;

/// Which end of the connection: the summary's own type.
pub use crate::conn::summary::Role;

/// The kinds of marks and their sets are the sketch's (what it records); how each is drawn and
/// named is here.
pub use crate::conn::sketch::{MarkKind, Marks};

impl MarkKind {
    /// The SVG `class` of its marks.
    pub fn class(self) -> &'static str {
        match self {
            MarkKind::Fast => "fast",
            MarkKind::Rto => "rto",
            MarkKind::AfterRto => "after-rto",
            MarkKind::Tlp => "tlp",
            MarkKind::Spurious => "spurious",
            MarkKind::Ooo => "ooo",
            MarkKind::DupAck => "dupack",
            MarkKind::ZeroWindow => "zero-window",
            MarkKind::Zwp => "zwp",
            MarkKind::KeepAlive => "keepalive",
            MarkKind::WindowFull => "window-full",
        }
    }

    /// The words of the legend and of a mark's tooltip.
    pub fn label(self) -> &'static str {
        match self {
            MarkKind::Fast => "fast retransmission",
            MarkKind::Rto => "RTO retransmission",
            MarkKind::AfterRto => "retransmission after RTO",
            MarkKind::Tlp => "tail loss probe",
            MarkKind::Spurious => "spurious retransmission",
            MarkKind::Ooo => "out-of-order",
            MarkKind::DupAck => "duplicate ACK",
            MarkKind::ZeroWindow => "zero window",
            MarkKind::Zwp => "zero-window probe",
            MarkKind::KeepAlive => "keep-alive",
            MarkKind::WindowFull => "window full",
        }
    }

    /// The JSON counter (under `client`/`server`) that counts the same segments.
    pub fn json_counter(self) -> &'static str {
        match self {
            MarkKind::Fast => "fast_retransmissions",
            MarkKind::Rto => "rto_retransmissions",
            MarkKind::AfterRto => "after_rto_retransmissions",
            MarkKind::Tlp => "tail_loss_probes",
            MarkKind::Spurious => "spurious_retransmissions",
            MarkKind::Ooo => "out_of_order",
            MarkKind::DupAck => "dup_acks",
            MarkKind::ZeroWindow => "zero_window",
            MarkKind::Zwp => "zero_window_probes",
            MarkKind::KeepAlive => "keep_alives",
            MarkKind::WindowFull => "window_full",
        }
    }

    /// Marks about the data a segment carries sit at its sequence number; marks about what the
    /// segment says of the peer's data (its ACK and window) sit on the ACK line.
    pub fn about_ack(self) -> bool {
        matches!(self, MarkKind::DupAck | MarkKind::ZeroWindow)
    }
}

/// One captured segment of a connection, in plain numbers. Sequence and ACK numbers are
/// relative to the ISN of the side whose sequence space they count (unwrapped, so they keep
/// growing past 2^32 and may be negative just below a mid-stream start).
#[derive(Clone, Copy, Debug)]
pub struct SegPoint {
    pub frame: u64,
    /// Seconds since the connection's first segment.
    pub t: f64,
    pub from: Role,
    pub seq: i64,
    /// Sequence space it occupies (payload, plus one for SYN and one for FIN).
    pub seg_len: u32,
    pub len: u32,
    /// The ACK number when the ACK flag is set.
    pub ack: Option<i64>,
    /// The advertised window in bytes, scaled.
    pub window: u64,
    /// The TCP flag bits (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, …).
    pub flags: u8,
    pub marks: Marks,
    /// The class as the timeline prints it ("" for an ordinary segment).
    pub class_label: &'static str,
}

/// An anomaly mark: a segment, the kinds drawn for it, and for a run of duplicate ACKs (drawn
/// once, at its first) how many and the last one's frame.
#[derive(Clone, Copy, Debug)]
pub struct MarkPoint {
    pub seg: SegPoint,
    pub kinds: Marks,
    /// The duplicate ACKs the `dupack` mark stands for (0 when it has none).
    pub dup_acks: u32,
    pub last_frame: u64,
}

/// A state an endpoint entered, for the ladder.
#[derive(Clone, Debug)]
pub struct StateMark {
    pub role: Role,
    pub state: &'static str,
    /// The frame that proves it; `None` for a state only time proves (TIME_WAIT expiry).
    pub frame: Option<u64>,
    pub t: f64,
    pub inferred: bool,
}

/// One side's lines over time, thinned (each time slot keeps its extremes): times in seconds
/// since the connection's first segment, sequence numbers relative.
#[derive(Clone, Debug, Default)]
pub struct SideLines {
    /// Its data segments without a mark: `(t, seq, seq + seg_len)`.
    pub bars: Vec<(f64, f64, f64)>,
    /// Its ACK numbers (in the peer's sequence space), and ACK + window (the receive-window
    /// limit): `(t, value)`, in time order.
    pub acks: Vec<(f64, f64)>,
    pub windows: Vec<(f64, f64)>,
    /// Its SACK blocks `(t, left, right)` in the peer's space.
    pub sacks: Vec<(f64, f64, f64)>,
    /// `(t, payload bytes it sent)` and `(t, bytes of its data the peer newly acknowledged)`.
    pub sent: Vec<(f64, u64)>,
    pub acked: Vec<(f64, u64)>,
    /// RTT samples of its data (Karn's rule) with the RFC 6298 SRTT and the RTO after each:
    /// `(t, ms)`, and how many samples there were.
    pub rtt: Vec<(f64, f64)>,
    pub srtt: Vec<(f64, f64)>,
    pub rto: Vec<(f64, f64)>,
    pub rtt_samples: u64,
}

/// What the pictures of one connection need.
#[derive(Clone, Debug)]
pub struct ConnGraph {
    pub id: u32,
    pub client: String,
    pub server: String,
    /// Epoch seconds of the connection's first segment, with the capture's digits.
    pub start: String,
    pub duration_s: f64,
    /// Segments of the connection.
    pub segment_count: u64,
    /// The lines of the client's segments, then the server's (index: `Role as usize`).
    pub lines: [SideLines; 2],
    /// Every anomaly, in capture order.
    pub marks: Vec<MarkPoint>,
    /// Segments the ladder may show, with their position in the connection (0 = first): all of
    /// them for a connection of a few thousand, else its start, its close and its last.
    pub rows: Vec<(u64, SegPoint)>,
    /// The side that sent more payload: the time-sequence graph shows its sequence space.
    pub data_from: Role,
    pub initial_states: [(Role, &'static str); 2],
    pub states: Vec<StateMark>,
    /// The floor the plotted RTO uses (Linux's TCP_RTO_MIN) and RFC 6298's.
    pub rto_floor_ms: f64,
    pub rfc_rto_floor_ms: f64,
}

impl SegPoint {
    pub fn syn(&self) -> bool {
        self.flags & 0x02 != 0
    }
    pub fn fin(&self) -> bool {
        self.flags & 0x01 != 0
    }
    pub fn rst(&self) -> bool {
        self.flags & 0x04 != 0
    }

    /// tcpdump's notation: `S`, `S.`, `P.`, `F.`, `R`, `.` for a bare ACK.
    pub fn flags_text(&self) -> String {
        let mut s: String = [
            (0x02, 'S'),
            (0x01, 'F'),
            (0x08, 'P'),
            (0x04, 'R'),
            (0x20, 'U'),
            (0x40, 'E'),
            (0x80, 'W'),
        ]
        .iter()
        .filter(|(bit, _)| self.flags & bit != 0)
        .map(|&(_, c)| c)
        .collect();
        if self.flags & 0x10 != 0 {
            s.push('.');
        } else if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

impl ConnGraph {
    /// The segments the marks of `kind` stand for: the JSON report's count of them.
    pub fn mark_count(&self, kind: MarkKind) -> u64 {
        self.marks
            .iter()
            .filter(|m| m.kinds.contains(kind))
            .map(|m| {
                if kind == MarkKind::DupAck {
                    u64::from(m.dup_acks)
                } else {
                    1
                }
            })
            .sum()
    }

    /// The elements drawn for `kind` (a run of duplicate ACKs is one).
    pub fn marks_drawn(&self, kind: MarkKind) -> usize {
        self.marks.iter().filter(|m| m.kinds.contains(kind)).count()
    }

    pub fn side(&self, r: Role) -> &SideLines {
        &self.lines[r as usize]
    }
}

/// TIME_WAIT sockets held over time by one server endpoint or one host.
#[derive(Clone, Debug)]
pub struct HeldSeries {
    /// "server 10.0.0.1:80" or "host 10.0.0.1".
    pub label: String,
    /// (seconds since the capture began, sockets held from then on), in time order.
    pub steps: Vec<(f64, u32)>,
    pub peak: u32,
    pub peak_t: f64,
}

#[derive(Clone, Debug, Default)]
pub struct TimeWaitData {
    pub duration_s: f64,
    pub span_s: f64,
    pub series: Vec<HeldSeries>,
}

/// The graphs `plot KIND` can draw.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlotKind {
    Tsg,
    Ladder,
    Rtt,
    Throughput,
    TimeWait,
}
