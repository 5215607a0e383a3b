//! The whole analysis in one streaming pass: read → decode → track → analyse, then the
//! capture-wide reports (TIME_WAIT, patterns).

use indexmap::IndexMap;

use crate::capture::{CaptureError, CaptureInfo, Input, read_capture};
use crate::connection::Connection;
use crate::decode::{SkipReason, decode};
use crate::patterns::{self, Pattern};
use crate::time::Timestamp;
use crate::time_wait::{self, TimeWaitReport};
use crate::tracker::{TimelineSelect, Tracker};

/// What the core needs to know; built from the command line by the binary.
#[derive(Clone, Debug)]
pub struct Config {
    pub time_wait_s: f64,
    pub timeline: TimelineSelect,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_wait_s: 60.0,
            timeline: TimelineSelect::None,
        }
    }
}

pub struct Audit {
    pub capture: CaptureInfo,
    pub tcp_segments: u64,
    /// Every frame that is not a TCP segment, by reason, in order of first appearance.
    pub skipped: IndexMap<SkipReason, u64>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub connections: Vec<Connection>,
    pub time_wait: TimeWaitReport,
    pub patterns: Vec<Pattern>,
}

impl Audit {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// `skipped` grouped by its JSON key.
    pub fn skipped_by_key(&self) -> IndexMap<&'static str, u64> {
        let mut out = IndexMap::new();
        for (reason, n) in &self.skipped {
            *out.entry(reason.key()).or_default() += n;
        }
        out
    }
}

/// The progress hook of [`audit_with_progress`] is called once every this many frames.
pub const PROGRESS_EVERY_FRAMES: u64 = 1 << 16;

pub fn audit(input: &Input, config: &Config) -> Result<Audit, CaptureError> {
    audit_with_progress(input, config, None)
}

/// [`audit`], calling `progress` with the number of frames read so far after every
/// [`PROGRESS_EVERY_FRAMES`] frames (never for a smaller capture), for a progress bar. The
/// capture reader does not tell its byte position, so frames are all a caller can show.
pub fn audit_with_progress(
    input: &Input,
    config: &Config,
    mut progress: Option<&mut dyn FnMut(u64)>,
) -> Result<Audit, CaptureError> {
    let mut frames = 0u64;
    let mut tracker = Tracker::new(config.timeline.clone(), config.time_wait_s);
    let mut skipped: IndexMap<SkipReason, u64> = IndexMap::new();
    let mut tcp_segments = 0u64;
    let mut first_ts: Option<Timestamp> = None;
    let mut last_ts: Option<Timestamp> = None;
    let capture = read_capture(input, &mut |frame| {
        frames += 1;
        if frames.is_multiple_of(PROGRESS_EVERY_FRAMES)
            && let Some(p) = progress.as_mut()
        {
            p(frames);
        }
        // A frame on an undescribed interface has no timestamp of its own.
        if frame.link_type.is_some() {
            first_ts.get_or_insert(frame.ts);
            last_ts = Some(last_ts.map_or(frame.ts, |l| l.max(frame.ts)));
        }
        match decode(frame) {
            Ok(seg) => {
                tcp_segments += 1;
                tracker.on_segment(&seg, frame.ts, frame.number);
            }
            Err(reason) => *skipped.entry(reason).or_default() += 1,
        }
    })?;
    let end = last_ts.unwrap_or_default();
    let connections = tracker.finish(end);
    let time_wait = time_wait::analyse(
        &connections,
        config.time_wait_s,
        first_ts.unwrap_or_default(),
        end,
    );
    let patterns = patterns::find(&connections);
    Ok(Audit {
        capture,
        tcp_segments,
        skipped,
        first_ts,
        last_ts,
        connections,
        time_wait,
        patterns,
    })
}
