//! Segment analysis: the class each segment gets (SPEC.md §4) and why.
//!
//! [`direction`] holds what the capture knows of one direction (what its sender sent and
//! acknowledged); [`classify`] is a pure function from the two directions and a segment to a
//! [`classify::Verdict`]; [`count`] applies a verdict to the counters, the direction's state and
//! the event log, in one place; [`rtt`] estimates round trips (RFC 6298).

pub mod classify;
pub mod count;
pub mod direction;
pub mod rtt;

/// Why a segment carrying already-sent sequence space was sent again.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum RetransKind {
    /// Dup ACKs or SACK blocks had shown the loss (RFC 5681 §3.2, RFC 6675).
    Fast,
    /// The retransmission timer fired: a silence of about an RTO before it.
    Rto,
    /// Resent in loss recovery after an RTO, before the pre-timeout data was acknowledged
    /// (Linux counts these as TCPSlowStartRetrans).
    AfterRto,
    /// A tail loss probe (RFC 8985 §7): the last segment resent after about two RTTs of silence.
    TailLossProbe,
    /// Everything in it had already been acknowledged.
    Spurious,
}

/// The one primary class of a segment, decided in SPEC.md §4's order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub enum SegClass {
    #[default]
    Normal,
    ZeroWindowProbe,
    KeepAlive,
    Retransmission(RetransKind),
    OutOfOrder,
    DupAck(u32),
    WindowUpdate,
    KeepAliveAck,
    ZeroWindowProbeAck,
}

impl SegClass {
    pub fn label(self) -> &'static str {
        match self {
            SegClass::Normal => "",
            SegClass::ZeroWindowProbe => "zero-window probe",
            SegClass::KeepAlive => "keep-alive",
            SegClass::Retransmission(RetransKind::Fast) => "fast retransmission",
            SegClass::Retransmission(RetransKind::Rto) => "RTO retransmission",
            SegClass::Retransmission(RetransKind::AfterRto) => "retransmission after RTO",
            SegClass::Retransmission(RetransKind::TailLossProbe) => "tail loss probe",
            SegClass::Retransmission(RetransKind::Spurious) => "spurious retransmission",
            SegClass::OutOfOrder => "out-of-order",
            SegClass::DupAck(_) => "dup ACK",
            SegClass::WindowUpdate => "window update",
            SegClass::KeepAliveAck => "keep-alive ACK",
            SegClass::ZeroWindowProbeAck => "zero-window probe ACK",
        }
    }
}

/// Flags a segment can carry besides its class.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SegFlags {
    pub prev_not_captured: bool,
    pub acked_unseen: bool,
    pub window_full: bool,
    pub zero_window: bool,
    /// Carries a D-SACK block (RFC 2883).
    pub dsack: bool,
}
