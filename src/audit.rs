//! The whole analysis in one streaming pass: read → decode → track → analyse, then the
//! capture-wide reports (TIME_WAIT, patterns).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use indexmap::IndexMap;

use crate::capture::{CaptureError, CaptureInfo, Frame, Input, read_captures_counting};
use crate::conn::Connection;
use crate::conn::sketch::{DrawRank, draw_rank};
use crate::decode::segment::Segment;
use crate::decode::{SkipReason, decode_ip_of};
use crate::dedup::Dedup;
use crate::patterns::{Pattern, PatternAccumulator};
use crate::time::{ClockWatch, Timestamp};
use crate::time_wait::{TimeWaitAccumulator, TimeWaitReport};
use crate::track::{Drawable, SketchSelect, TimelineSelect, TrackOptions, Tracker};

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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_wait_s: 60.0,
            timeline: TimelineSelect::None,
            sketches: SketchSelect::None,
            label: None,
            track: TrackOptions::default(),
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
    /// Every connection, by id; empty when a [`Hooks::finished`] hook took them. Boxed as the
    /// tracker made them, so none is copied.
    pub connections: Vec<Box<Connection>>,
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
pub fn audit_files(inputs: &[Input], config: &Config, hooks: Hooks) -> Result<Audit, CaptureError> {
    let Hooks {
        mut progress,
        finished,
        bytes_read,
        frame: mut frame_hook,
        drawable,
    } = hooks;
    let mut frames = 0u64;
    let mut tracker = Tracker::new(config.timeline.clone(), config.time_wait_s)
        .with_options(config.track)
        .with_sketches(config.sketches.clone(), drawable.clone());
    let mut done = Finished {
        drawn: Drawn {
            n: match config.sketches {
                SketchSelect::MostAnomalous(n) => Some(n),
                _ => None,
            },
            drawable,
            best: Vec::new(),
        },
        kept: Vec::new(),
        count: 0,
        time_wait: TimeWaitAccumulator::default(),
        patterns: PatternAccumulator::default(),
        hook: finished,
        stopped: false,
    };
    let mut skipped: IndexMap<SkipReason, u64> = IndexMap::new();
    let mut tcp_segments = 0u64;
    let mut first_ts: Option<Timestamp> = None;
    let mut last_ts: Option<Timestamp> = None;
    let mut clock = ClockWatch::default();
    let mut dedup = Dedup::default();
    let mut hook_stopped = false;
    let mut seg = Segment::EMPTY;
    let mut capture = read_captures_counting(inputs, bytes_read, &mut |frame| {
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
            clock.frame(frame.ts, frame.number);
            dedup.note_time(frame.number, frame.ts);
        }
        match decode_ip_of(frame, &mut seg) {
            Ok(ip) if dedup.is_duplicate(frame.number, frame.ts, ip) => {
                *skipped.entry(SkipReason::Duplicate).or_default() += 1;
            }
            Ok(_) => {
                tcp_segments += 1;
                tracker.on_segment(&seg, frame.ts, frame.number);
                if let Some(hook) = frame_hook.as_mut() {
                    hook_stopped |= hook(frame, tracker.connection_of(&seg)).is_break();
                }
                for c in tracker.drain_finished() {
                    done.add(c, frame.ts_digits);
                }
            }
            Err(reason) => {
                *skipped.entry(reason).or_default() += 1;
                if let Some(hook) = frame_hook.as_mut() {
                    hook_stopped |= hook(frame, None).is_break();
                }
            }
        }
        if done.stopped || hook_stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    capture.warnings.extend(clock.warnings());
    capture.duplicate_frames = dedup.duplicates;
    capture.warnings.extend(dedup.warnings());
    for (reason, n) in &skipped {
        if let SkipReason::UnsupportedLinkType(_) = reason {
            capture.warnings.push(format!(
                "{n} frames on {reason} were not analysed: the link types read are EN10MB (with VLAN tags), LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL and LOOP"
            ));
        }
    }
    let end = last_ts.unwrap_or_default();
    for c in tracker.finish_boxed(end) {
        done.add(c, capture.ts_digits);
    }
    let Finished {
        mut kept,
        count,
        time_wait,
        patterns,
        ..
    } = done;
    kept.sort_by_key(|c| c.id);
    Ok(Audit {
        time_wait: time_wait.report(config.time_wait_s, first_ts.unwrap_or_default(), end),
        patterns: patterns.finish(),
        capture,
        tcp_segments,
        skipped,
        first_ts,
        last_ts,
        connection_count: count,
        connections: kept,
        label: config.label.clone(),
        track: config.track,
    })
}

/// Where finished connections go: into the capture-wide reports, then to the caller's hook or
/// into the list kept for the reports.
struct Finished<'h> {
    #[allow(
        clippy::vec_box,
        reason = "each connection stays in the allocation the tracker made for it; no copies"
    )]
    kept: Vec<Box<Connection>>,
    count: u64,
    time_wait: TimeWaitAccumulator,
    patterns: PatternAccumulator,
    hook: Option<FinishedHook<'h>>,
    stopped: bool,
    drawn: Drawn,
}

/// The finished connections that keep their sketch under [`SketchSelect::MostAnomalous`]: a
/// finished connection's anomalies are final, so one that is not among the `n` first of those
/// finished so far (drawable ones, in the order the report draws them, with a sketch or
/// without) never will be drawn.
struct Drawn {
    n: Option<usize>,
    drawable: Option<Drawable>,
    /// The first `n` so far, best first: their rank and their index in `Finished::kept`.
    best: Vec<(DrawRank, usize)>,
}

impl Drawn {
    /// Keep the sketch of `c` (to be `kept[at]`) if it ranks among the first `n`, dropping the
    /// sketch of the one it pushes out.
    fn rank(&mut self, c: &mut Connection, at: usize, kept: &mut [Box<Connection>]) {
        let Some(n) = self.n else {
            return;
        };
        if !self.drawable.as_ref().is_none_or(|d| d(c)) {
            c.sketch = None;
            return;
        }
        let key = draw_rank(c);
        let pos = self.best.partition_point(|(k, _)| *k < key);
        if pos >= n {
            c.sketch = None;
            return;
        }
        self.best.insert(pos, (key, at));
        if self.best.len() > n
            && let Some((_, out)) = self.best.pop()
        {
            kept[out].sketch = None;
        }
    }
}

impl Finished<'_> {
    fn add(&mut self, mut c: Box<Connection>, ts_digits: u8) {
        self.count += 1;
        self.time_wait.add(&c);
        self.patterns.add(&c);
        match self.hook.as_mut() {
            Some(hook) => {
                if !self.stopped {
                    self.stopped = hook(&c, ts_digits).is_break();
                }
            }
            None => {
                self.drawn.rank(&mut c, self.kept.len(), &mut self.kept);
                self.kept.push(c);
            }
        }
    }
}
