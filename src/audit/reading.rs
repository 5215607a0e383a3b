//! The reading side of the pass: every frame is counted, its time watched, and it is decoded
//! into a TCP segment or skipped with its reason; a frame that repeats an earlier one is
//! dropped ([`Dedup`]).

use indexmap::IndexMap;

use crate::capture::{CaptureInfo, Frame};
use crate::decode::segment::Segment;
use crate::decode::{SkipReason, decode_ip_of};
use crate::dedup::Dedup;
use crate::time::{ClockWatch, Timestamp};

/// What became of one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Verdict {
    /// A TCP segment, decoded into the caller's [`Segment`].
    Segment,
    /// Not a TCP segment (counted under its reason).
    Skipped,
    /// A repeat of an earlier frame (counted).
    Duplicate,
}

#[derive(Default)]
pub(super) struct Reading {
    pub frames: u64,
    pub tcp_segments: u64,
    /// Every frame that is not a TCP segment, by reason, in order of first appearance.
    pub skipped: IndexMap<SkipReason, u64>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    clock: ClockWatch,
    dedup: Dedup,
}

impl Reading {
    /// Count `frame` and decode it into `seg`.
    pub fn frame(&mut self, frame: &Frame, seg: &mut Segment) -> Verdict {
        self.frames += 1;
        // A frame on an undescribed interface has no timestamp of its own.
        if frame.link_type.is_some() {
            self.first_ts.get_or_insert(frame.ts);
            self.last_ts = Some(self.last_ts.map_or(frame.ts, |l| l.max(frame.ts)));
            self.clock.frame(frame.ts, frame.number);
            self.dedup.note_time(frame.number, frame.ts);
        }
        match decode_ip_of(frame, seg) {
            Ok(ip) if self.dedup.is_duplicate(frame.number, frame.ts, ip) => {
                *self.skipped.entry(SkipReason::Duplicate).or_default() += 1;
                Verdict::Duplicate
            }
            Ok(_) => {
                self.tcp_segments += 1;
                Verdict::Segment
            }
            Err(reason) => {
                *self.skipped.entry(reason).or_default() += 1;
                Verdict::Skipped
            }
        }
    }

    /// What the reading learnt about the capture as a whole, into its warnings.
    pub fn describe(&self, capture: &mut CaptureInfo) {
        capture.warnings.extend(self.clock.warnings());
        capture.duplicate_frames = self.dedup.duplicates;
        capture.warnings.extend(self.dedup.warnings());
        for (reason, n) in &self.skipped {
            if let SkipReason::UnsupportedLinkType(_) = reason {
                capture.warnings.push(format!(
                    "{n} frames on {reason} were not analysed: the link types read are EN10MB (with VLAN tags), LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL and LOOP"
                ));
            }
        }
    }
}
