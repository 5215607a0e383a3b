//! Round-trip time: samples by Karn's rule and the RFC 6298 estimator (the course notes'
//! EstimatedRTT with α = 1/8 and DevRTT with β = 1/4; TimeoutInterval = SRTT + 4·RTTVAR).

use crate::seq::SeqNumber;
use crate::time::Timestamp;

/// RFC 6298 §2.4: "Whenever RTO is computed, if it is less than 1 second, then the RTO SHOULD be
/// rounded up to 1 second."
pub const RFC_RTO_FLOOR_MS: f64 = 1000.0;
/// Linux's TCP_RTO_MIN.
pub const LINUX_RTO_FLOOR_MS: f64 = 200.0;
/// Linux's TCP_TIMEOUT_MIN (2 jiffies; 2 ms at HZ=1000): what the probe timer adds to 2·SRTT
/// when more than one segment is in flight.
pub const LINUX_TIMEOUT_MIN_MS: f64 = 2.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RttEstimator {
    pub samples: u32,
    pub srtt_ms: f64,
    pub rttvar_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl RttEstimator {
    pub fn sample(&mut self, r_ms: f64) {
        if self.samples == 0 {
            self.srtt_ms = r_ms;
            self.rttvar_ms = r_ms / 2.0;
            self.min_ms = r_ms;
            self.max_ms = r_ms;
        } else {
            // RFC 6298 §2.3: RTTVAR first, with the old SRTT.
            self.rttvar_ms = 0.75 * self.rttvar_ms + 0.25 * (self.srtt_ms - r_ms).abs();
            self.srtt_ms = 0.875 * self.srtt_ms + 0.125 * r_ms;
            self.min_ms = self.min_ms.min(r_ms);
            self.max_ms = self.max_ms.max(r_ms);
        }
        self.samples += 1;
    }

    /// SRTT + 4·RTTVAR, floored (RFC 6298 §2.4); `None` before the first sample.
    pub fn rto_ms(&self, floor_ms: f64) -> Option<f64> {
        (self.samples > 0).then(|| (self.srtt_ms + 4.0 * self.rttvar_ms).max(floor_ms))
    }

    /// Linux's RTO: the floor applies to the variance term, not to the sum
    /// (`tcp_set_rto`: SRTT + max(mdev, TCP_RTO_MIN)), so SRTT 53 ms gives 253 ms, not 200 ms.
    /// `None` before the first sample.
    pub fn linux_rto_ms(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.srtt_ms + (4.0 * self.rttvar_ms).max(LINUX_RTO_FLOOR_MS))
    }
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Timed {
    end: SeqNumber,
    sent: Timestamp,
    retransmitted: bool,
}

const RING: usize = 32;

/// Segments in flight awaiting their first covering ACK. A fixed ring: when more than `RING`
/// segments are outstanding the oldest are forgotten (fewer samples, never a wrong one). The
/// ring is allocated with the first segment sent and given back when the connection is
/// finished ([`RttSampler::release`]): only the estimator is kept.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RttSampler {
    ring: Option<Box<[Timed; RING]>>,
    head: usize,
    len: usize,
    pub estimator: RttEstimator,
}

impl RttSampler {
    pub fn on_send(&mut self, end: SeqNumber, ts: Timestamp) {
        let slot = (self.head + self.len) % RING;
        let ring = self.ring.get_or_insert_with(Default::default);
        ring[slot] = Timed {
            end,
            sent: ts,
            retransmitted: false,
        };
        if self.len == RING {
            self.head = (self.head + 1) % RING;
        } else {
            self.len += 1;
        }
    }

    /// Segments sent and not yet cumulatively acknowledged (Linux's `packets_out`), as far as
    /// the ring remembers: at most [`RING`].
    pub fn outstanding(&self) -> usize {
        self.len
    }

    /// When the oldest segment not yet acknowledged was first sent (the head of Linux's
    /// retransmission queue, which its RTO timer counts from).
    pub fn oldest_sent(&self) -> Option<Timestamp> {
        let ring = self.ring.as_ref()?;
        (self.len > 0).then(|| ring[self.head].sent)
    }

    /// The connection will see no more segments: keep only the estimator.
    pub fn release(&mut self) {
        self.ring = None;
        self.len = 0;
    }

    /// Karn's rule: a segment resent is never sampled.
    pub fn on_retransmit(&mut self, seq: SeqNumber, end: SeqNumber) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        for i in 0..self.len {
            let t = &mut ring[(self.head + i) % RING];
            if t.end > seq && t.end - 1 < end {
                t.retransmitted = true;
            }
        }
        // A segment spanning the retransmitted range but ending later keeps its sample unless it
        // was the one resent; ranges are marked by their end, which is what an ACK covers.
    }

    /// An ACK that moved the left edge to `ack`; returns the sample it yields, if any.
    pub fn on_ack(&mut self, ack: SeqNumber, ts: Timestamp) -> Option<f64> {
        let ring = self.ring.as_ref()?;
        let mut newest: Option<Timed> = None;
        while self.len > 0 && ring[self.head].end <= ack {
            newest = Some(ring[self.head]);
            self.head = (self.head + 1) % RING;
            self.len -= 1;
        }
        let t = newest?;
        if t.retransmitted || ts < t.sent {
            return None;
        }
        let r = ts.millis_since(t.sent);
        self.estimator.sample(r);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimator_follows_rfc6298() {
        let mut e = RttEstimator::default();
        e.sample(100.0);
        assert_eq!((e.srtt_ms, e.rttvar_ms), (100.0, 50.0));
        assert_eq!(e.rto_ms(0.0), Some(300.0));
        assert_eq!(e.rto_ms(RFC_RTO_FLOOR_MS), Some(1000.0));
        e.sample(200.0);
        assert_eq!(e.rttvar_ms, 0.75 * 50.0 + 0.25 * 100.0);
        assert_eq!(e.srtt_ms, 0.875 * 100.0 + 0.125 * 200.0);
        assert_eq!((e.min_ms, e.max_ms, e.samples), (100.0, 200.0, 2));
    }

    #[test]
    fn linux_rto_floors_the_variance_not_the_sum() {
        let mut e = RttEstimator::default();
        assert_eq!(e.linux_rto_ms(), None);
        e.sample(53.0);
        e.rttvar_ms = 5.0;
        assert_eq!(e.rto_ms(LINUX_RTO_FLOOR_MS), Some(200.0));
        assert_eq!(e.linux_rto_ms(), Some(253.0));
        e.rttvar_ms = 60.0;
        assert_eq!(e.linux_rto_ms(), Some(293.0));
    }

    #[test]
    fn karn_skips_retransmitted_segments() {
        let base = SeqNumber(u32::MAX - 100);
        let t0 = Timestamp::from_secs_nanos(1, 0);
        let mut s = RttSampler::default();
        s.on_send(base + 100, t0);
        s.on_retransmit(base, base + 100);
        assert_eq!(s.on_ack(base + 100, t0.plus_secs(0.5)), None);
        s.on_send(base + 200, t0.plus_secs(1.0));
        assert_eq!(
            s.on_ack(base + 200, t0.plus_secs(1.05)).map(|r| r.round()),
            Some(50.0)
        );
    }

    #[test]
    fn cumulative_ack_samples_the_newest_covered_segment() {
        let base = SeqNumber(10);
        let t0 = Timestamp::from_secs_nanos(1, 0);
        let mut s = RttSampler::default();
        s.on_send(base + 10, t0);
        s.on_send(base + 20, t0.plus_secs(0.010));
        let r = s.on_ack(base + 20, t0.plus_secs(0.030)).unwrap();
        assert!((r - 20.0).abs() < 1e-6);
        assert_eq!(s.estimator.samples, 1);
    }
}
