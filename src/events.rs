//! The story a connection tells: what happened at which frame, in a log whose length is capped
//! so that memory never grows with segments (the counters stay exact).
//!
//! Every entry of the story takes a place in one order: events are kept here, state transitions
//! are kept with their endpoint (`conn::fsm::Endpoint`) and take their place with
//! [`EventLog::take_order`]. The first [`MAX_EVENTS`] places are told; `conn::story` merges the
//! two back into one sequence.

use std::fmt;

use crate::time::Timestamp;

/// An endpoint of a connection: 0 or 1, in the order the capture first saw the addresses.
pub type Side = usize;

pub fn other(side: Side) -> Side {
    1 - side
}

/// Entries of the story told per connection; beyond this only [`EventLog::dropped`] grows.
pub const MAX_EVENTS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    State,
    SynRetransmission,
    SynAckRetransmission,
    FinRetransmission,
    Retransmission,
    OutOfOrder,
    TripleDupAck,
    ZeroWindow,
    ZeroWindowProbe,
    KeepAlive,
    WindowFull,
    Reset,
    PrevSegmentNotCaptured,
    AckedUnseen,
    BadHandshakeAck,
    DataAfterFin,
    SegmentAfterReset,
    DataOnSyn,
    DataBeforeHandshake,
    NewAttempt,
    TimeWaitSegment,
    Dsack,
    /// New data sent by the tail loss probe timer (not a retransmission).
    NewDataProbe,
    Reuse,
    Unexpected,
    /// The segment is stamped before an earlier one of the connection, or more than a year
    /// after it: durations across it are a clock problem, not the network's.
    Clock,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::SynRetransmission => "syn_retransmission",
            EventKind::SynAckRetransmission => "synack_retransmission",
            EventKind::FinRetransmission => "fin_retransmission",
            EventKind::Retransmission => "retransmission",
            EventKind::OutOfOrder => "out_of_order",
            EventKind::TripleDupAck => "triple_dup_ack",
            EventKind::ZeroWindow => "zero_window",
            EventKind::ZeroWindowProbe => "zero_window_probe",
            EventKind::KeepAlive => "keep_alive",
            EventKind::WindowFull => "window_full",
            EventKind::Reset => "reset",
            EventKind::PrevSegmentNotCaptured => "previous_segment_not_captured",
            EventKind::AckedUnseen => "acked_unseen_segment",
            EventKind::BadHandshakeAck => "bad_handshake_ack",
            EventKind::DataAfterFin => "data_after_fin",
            EventKind::SegmentAfterReset => "segment_after_reset",
            EventKind::DataOnSyn => "data_on_syn",
            EventKind::DataBeforeHandshake => "data_before_handshake",
            EventKind::NewAttempt => "new_attempt",
            EventKind::TimeWaitSegment => "time_wait_segment",
            EventKind::Dsack => "dsack",
            EventKind::NewDataProbe => "new_data_probe",
            EventKind::Reuse => "port_reuse",
            EventKind::Unexpected => "unexpected",
            EventKind::Clock => "clock",
        }
    }

    /// Anomalies are what `--anomalies-only` and the table's anomaly column count.
    pub fn is_anomaly(self) -> bool {
        !matches!(
            self,
            EventKind::State | EventKind::KeepAlive | EventKind::Reuse
        )
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub frame: Option<u64>,
    pub ts: Timestamp,
    /// The side whose segment or state it is about.
    pub side: Option<Side>,
    pub kind: EventKind,
    /// Its place in the connection's story (state transitions take places too).
    pub order: u32,
    pub detail: String,
}

/// A connection's events in order, those among the first [`MAX_EVENTS`] places of its story.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EventLog {
    kept: Vec<Event>,
    /// Places taken so far, by events and by state transitions.
    places: u32,
}

impl EventLog {
    /// Record an event; `detail` is only called while there is room, so a connection whose
    /// events are full allocates nothing more for them.
    pub fn push(
        &mut self,
        frame: Option<u64>,
        ts: Timestamp,
        side: Option<Side>,
        kind: EventKind,
        detail: impl FnOnce() -> String,
    ) {
        let order = self.take_order();
        if (order as usize) < MAX_EVENTS {
            self.kept.push(Event {
                frame,
                ts,
                side,
                kind,
                order,
                detail: detail(),
            });
        }
    }

    /// The next place in the story, for an entry kept elsewhere (a state transition).
    pub fn take_order(&mut self) -> u32 {
        let order = self.places;
        self.places = self.places.saturating_add(1);
        order
    }

    /// Is the entry at `order` told, or dropped past the cap?
    pub fn is_told(order: u32) -> bool {
        (order as usize) < MAX_EVENTS
    }

    /// The events kept (state transitions are with their endpoints; `Connection::story` has
    /// both).
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.kept.iter()
    }

    /// For rewording events decided later (a resend first read as a probe).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Event> {
        self.kept.iter_mut()
    }

    /// Take back the events found `wrong` later. Their places in the story stay taken:
    /// nothing else moves.
    pub fn forget(&mut self, wrong: impl Fn(&Event) -> bool) {
        self.kept.retain(|e| !wrong(e));
    }

    /// Entries of the story told: events and state transitions, at most [`MAX_EVENTS`].
    pub fn len(&self) -> usize {
        (self.places as usize).min(MAX_EVENTS)
    }

    pub fn is_empty(&self) -> bool {
        self.places == 0
    }

    /// Entries that came after the story was full.
    pub fn dropped(&self) -> u32 {
        self.places.saturating_sub(MAX_EVENTS as u32)
    }

    /// Anomalies told plus every entry dropped (only anomalies can fill a story).
    pub fn anomaly_count(&self) -> usize {
        self.kept.iter().filter(|e| e.kind.is_anomaly()).count() + self.dropped() as usize
    }

    /// Kept until the report is written: no spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.kept.shrink_to_fit();
    }
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(&self.kept).finish()?;
        if self.dropped() > 0 {
            write!(f, " (+{} dropped)", self.dropped())?;
        }
        Ok(())
    }
}

/// The events of one segment: its frame, time and sender are fixed.
pub struct SegmentLog<'a> {
    pub log: &'a mut EventLog,
    pub frame: u64,
    pub ts: Timestamp,
    pub side: Side,
}

impl SegmentLog<'_> {
    pub fn push(&mut self, kind: EventKind, detail: impl FnOnce() -> String) {
        self.log
            .push(Some(self.frame), self.ts, Some(self.side), kind, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_counts_instead_of_keeping() {
        let mut log = EventLog::default();
        let t = Timestamp::from_secs_nanos(1, 0);
        let mut details = 0;
        for i in 0..MAX_EVENTS + 10 {
            log.push(
                Some(i as u64),
                t,
                Some(0),
                EventKind::Retransmission,
                || {
                    details += 1;
                    String::new()
                },
            );
        }
        assert_eq!(log.len(), MAX_EVENTS);
        assert_eq!(log.dropped(), 10);
        assert_eq!(details, MAX_EVENTS, "no detail is written past the cap");
        assert_eq!(log.anomaly_count(), MAX_EVENTS + 10);
    }
}
