//! The whole analysis in one streaming pass: read → decode → track → analyse, then the
//! capture-wide reports (TIME_WAIT, patterns).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use indexmap::IndexMap;

use crate::capture::{CaptureError, CaptureInfo, Frame, Input, read_captures_counting};
use crate::conn::Connection;
use crate::decode::SkipReason;
use crate::decode::segment::Segment;
use crate::patterns::Pattern;
use crate::time::Timestamp;
use crate::time_wait::TimeWaitReport;
use crate::track::budget::Budget;
use crate::track::{Drawable, SketchSelect, TimelineSelect, TrackOptions};

mod analysis;
pub mod kept;
mod pipeline;
mod reading;

use analysis::Analysis;
pub use kept::{ConnRef, Connections};
use reading::{Reading, Verdict};

/// What the core needs to know; built from the command line by the binary.
#[derive(Clone, Debug)]
pub struct Config {
    pub time_wait_s: f64,
    pub timeline: TimelineSelect,
    /// Which connections keep the pictures' sketch.
    pub sketches: SketchSelect,
    /// `--label`: stamped on every connection and TIME_WAIT record of the reports.
    pub label: Option<String>,
    /// RFC 1337 in TIME_WAIT, VLAN IDs in the flow key (`--rfc1337`, `--ignore-vlan`).
    pub track: TrackOptions,
    /// The bound on connection state (`--memory-limit`, `--max-connections`).
    pub budget: Budget,
    /// `--threads`: above one, the capture is read and decoded on a thread of its own.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_wait_s: 60.0,
            timeline: TimelineSelect::None,
            sketches: SketchSelect::None,
            label: None,
            track: TrackOptions::default(),
            budget: Budget::default(),
            threads: 1,
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
    /// How many connections the capture held, whether kept here or handed to a hook.
    pub connection_count: u64,
    /// Every connection, by id, frozen ([`kept`]); empty when a [`Hooks::finished`] hook took
    /// them.
    pub connections: Connections,
    pub time_wait: TimeWaitReport,
    pub patterns: Vec<Pattern>,
    /// `--label` ([`Config::label`]).
    pub label: Option<String>,
    /// The options the connections were tracked with (a second pass must use the same).
    pub track: TrackOptions,
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

/// The progress hook of [`Hooks`] is called once every this many frames.
pub const PROGRESS_EVERY_FRAMES: u64 = 1 << 16;

/// Receives each finished connection with the timestamp digits known by then.
pub type FinishedHook<'a> = &'a mut dyn FnMut(&Connection, u8) -> ControlFlow<()>;

/// Receives every frame as read, with the connection its segment went to (`None` for a frame
/// that is not a TCP segment). The connection is still open: only what its first segment
/// decided (id, addresses) is final.
pub type FrameHook<'a> = &'a mut dyn FnMut(&Frame, Option<&Connection>) -> ControlFlow<()>;

/// What a caller may watch while the capture is read.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called with the number of frames read so far after every [`PROGRESS_EVERY_FRAMES`]
    /// frames (never for a smaller capture), for a progress bar; with [`Hooks::bytes_read`]
    /// the bar can also show the share of the file read.
    pub progress: Option<&'a mut dyn FnMut(u64)>,
    /// Called with each connection as soon as it is finished (see [`crate::track`]) and the
    /// timestamp digits known by then. The connection is then dropped instead of kept in
    /// [`Audit::connections`], so memory follows the connections still open. Returning
    /// `Break` stops the reading (a reader that went away).
    pub finished: Option<FinishedHook<'a>>,
    /// Counts the bytes read from the capture file as the reading goes (one file).
    pub bytes_read: Option<Arc<AtomicU64>>,
    /// Called with every frame (for `--write-pcap`); returning `Break` stops the reading.
    pub frame: Option<FrameHook<'a>>,
    /// With [`SketchSelect::MostAnomalous`]: the connections the report may draw (its
    /// selection); the others' sketches are dropped as they close. Without it, any.
    pub drawable: Option<Drawable>,
}

pub fn audit(input: &Input, config: &Config) -> Result<Audit, CaptureError> {
    audit_with(input, config, Hooks::default())
}

/// [`audit`] with the caller's [`Hooks`].
pub fn audit_with(input: &Input, config: &Config, hooks: Hooks) -> Result<Audit, CaptureError> {
    audit_files(std::slice::from_ref(input), config, hooks)
}

/// Several capture files analysed as one capture, their frames merged in timestamp order
/// ([`read_captures`]), so connections and TIME_WAIT continue from one file into the next.
///
/// With [`Config::threads`] above one, the reading and decoding run on a thread of their own
/// beside the analysis ([`pipeline`]); the result is the same. Not with a frame hook, which must
/// see each frame's connection as it is read, nor from a pipe, whose segments must reach the
/// analysis (and a finished connection the output) as they arrive, not a batch at a time.
///
/// [`read_captures`]: crate::capture::read_captures
pub fn audit_files(inputs: &[Input], config: &Config, hooks: Hooks) -> Result<Audit, CaptureError> {
    if config.threads > 1 && hooks.frame.is_none() && inputs.iter().all(Input::never_waits) {
        return pipeline::audit_files(inputs, config, hooks);
    }
    let Hooks {
        mut progress,
        finished,
        bytes_read,
        frame: mut frame_hook,
        drawable,
    } = hooks;
    let mut analysis = Analysis::new(config, finished, frame_hook.is_none(), drawable);
    let mut reading = Reading::default();
    let mut hook_stopped = false;
    let mut seg = Segment::EMPTY;
    let capture = read_captures_counting(inputs, bytes_read, &mut |frame| {
        let verdict = reading.frame(frame, &mut seg);
        if reading.frames.is_multiple_of(PROGRESS_EVERY_FRAMES)
            && let Some(p) = progress.as_mut()
        {
            p(reading.frames);
        }
        match verdict {
            Verdict::Segment => {
                analysis.tracker.on_segment(&seg, frame.ts, frame.number);
                if let Some(hook) = frame_hook.as_mut() {
                    hook_stopped |= hook(frame, analysis.tracker.connection_of(&seg)).is_break();
                }
                analysis.settle(frame.ts_digits);
            }
            Verdict::Skipped => {
                if let Some(hook) = frame_hook.as_mut() {
                    hook_stopped |= hook(frame, None).is_break();
                }
            }
            Verdict::Duplicate => {}
        }
        if analysis.stopped() || hook_stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(conclude(capture, reading, analysis, config))
}

/// The capture has been read: settle what is still tracked and build the [`Audit`].
fn conclude(
    mut capture: CaptureInfo,
    reading: Reading,
    analysis: Analysis,
    config: &Config,
) -> Audit {
    reading.describe(&mut capture);
    // What the reading kept to tell repeated frames (4 MiB of history) is given back before
    // every connection still tracked is settled: destructured from a temporary (`{ reading }`),
    // the fields not taken are dropped at the end of this statement, not (as they would be
    // from the variable itself) at the end of the function.
    let Reading {
        tcp_segments,
        skipped,
        first_ts,
        last_ts,
        ..
    } = { reading };
    let end = last_ts.unwrap_or_default();
    let settled = analysis.finish(end, config, &mut capture);
    Audit {
        time_wait: settled
            .time_wait
            .report(config.time_wait_s, first_ts.unwrap_or_default(), end),
        patterns: settled.patterns.finish(),
        capture,
        tcp_segments,
        skipped,
        first_ts,
        last_ts,
        connection_count: settled.count,
        connections: settled.kept,
        label: config.label.clone(),
        track: config.track,
    }
}
