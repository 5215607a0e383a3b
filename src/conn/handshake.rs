//! The three-way handshake as the capture saw it (SPEC.md §3): when the SYN-ACK answered which
//! SYN, whether each ACK acknowledged ISN+1, the handshake's round trip, and where the capture
//! point sits on the path.

use crate::time::Timestamp;

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum CapturePoint {
    NearClient,
    NearServer,
    Between,
    Unknown,
}

impl CapturePoint {
    pub fn name(self) -> &'static str {
        match self {
            CapturePoint::NearClient => "client",
            CapturePoint::NearServer => "server",
            CapturePoint::Between => "between",
            CapturePoint::Unknown => "unknown",
        }
    }
}

/// A segment the capture saw: when and which frame.
#[derive(Clone, Copy, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub ts: Timestamp,
    pub frame: u64,
}

/// The client's ACK of the server's SYN-ACK, which completes the handshake.
#[derive(Clone, Copy, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct HandshakeAck {
    pub at: Seen,
    /// It acknowledges the server's ISN+1.
    pub acks_isn_plus_1: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Handshake {
    /// The SYN that the first SYN-ACK answered (its last transmission before it).
    pub answered_syn_ts: Option<Timestamp>,
    pub first_synack: Option<Seen>,
    /// The first SYN-ACK acknowledges the client's ISN+1.
    pub synack_ack_ok: Option<bool>,
    pub ack: Option<HandshakeAck>,
    pub capture_point: CapturePoint,
}

impl Default for Handshake {
    fn default() -> Handshake {
        Handshake {
            answered_syn_ts: None,
            first_synack: None,
            synack_ack_ok: None,
            ack: None,
            capture_point: CapturePoint::Unknown,
        }
    }
}

impl Handshake {
    pub fn syn_to_synack_ms(&self) -> Option<f64> {
        Some(self.first_synack?.ts.millis_since(self.answered_syn_ts?))
    }

    pub fn synack_to_ack_ms(&self) -> Option<f64> {
        Some(self.ack?.at.ts.millis_since(self.first_synack?.ts))
    }

    /// SYN → SYN-ACK → ACK as seen at the capture point: one full round trip wherever the
    /// capture point is.
    pub fn rtt_ms(&self) -> Option<f64> {
        Some(self.syn_to_synack_ms()? + self.synack_to_ack_ms()?)
    }

    /// Both ACKs of the handshake acknowledged ISN+1.
    pub fn valid(&self) -> bool {
        self.synack_ack_ok == Some(true) && self.ack.is_some_and(|a| a.acks_isn_plus_1)
    }

    /// The capture point (SPEC.md §1): near the client the SYN→SYN-ACK gap holds almost the
    /// whole RTT, near the server the SYN-ACK→ACK gap does.
    pub fn infer_capture_point(&mut self) {
        let (Some(a), Some(b)) = (self.syn_to_synack_ms(), self.synack_to_ack_ms()) else {
            return;
        };
        self.capture_point = if a >= 4.0 * b {
            CapturePoint::NearClient
        } else if b >= 4.0 * a {
            CapturePoint::NearServer
        } else {
            CapturePoint::Between
        };
    }
}
