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
    /// SACK blocks `[left, right)` in the peer's relative sequence space.
    pub sack: [(i64, i64); 4],
    pub sack_count: u8,
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

/// One RTT sample (Karn's rule) with the RFC 6298 estimator after it.
#[derive(Clone, Copy, Debug)]
pub struct RttPoint {
    pub t: f64,
    /// The side whose data the sample measures.
    pub data_from: Role,
    pub rtt_ms: f64,
    pub srtt_ms: f64,
    pub rto_ms: f64,
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
    pub segments: Vec<SegPoint>,
    /// The side that sent more payload: the time-sequence graph shows its sequence space.
    pub data_from: Role,
    pub initial_states: [(Role, &'static str); 2],
    pub states: Vec<StateMark>,
    pub rtt: Vec<RttPoint>,
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
    /// How many marks of `kind` the connection has (what the time-sequence graph draws).
    pub fn mark_count(&self, kind: MarkKind) -> usize {
        self.segments
            .iter()
            .filter(|s| s.marks.contains(kind))
            .count()
    }

    pub fn anomaly_marks(&self) -> usize {
        self.segments.iter().map(|s| s.marks.iter().count()).sum()
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
