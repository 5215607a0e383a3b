//! The whole analysis in one streaming pass: read → decode → track → analyse, then the
//! capture-wide reports (TIME_WAIT, patterns).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use indexmap::IndexMap;

use crate::capture::{CaptureError, CaptureInfo, Frame, Input, read_captures_counting};
use crate::conn::Connection;
use crate::decode::segment::Segment;
use crate::decode::{SkipReason, decode_ip_of};
use crate::dedup::Dedup;
use crate::patterns::{Pattern, PatternAccumulator};
use crate::time::{ClockWatch, Timestamp};
use crate::time_wait::{TimeWaitAccumulator, TimeWaitReport};
use crate::track::budget::{self, Budget, Candidate, Held};
use crate::track::{FlowKey, TimelineSelect, TrackOptions, Tracker};

/// What the core needs to know; built from the command line by the binary.
#[derive(Clone, Debug)]
pub struct Config {
    pub time_wait_s: f64,
    pub timeline: TimelineSelect,
    /// `--label`: stamped on every connection and TIME_WAIT record of the reports.
    pub label: Option<String>,
    /// RFC 1337 in TIME_WAIT, VLAN IDs in the flow key (`--rfc1337`, `--ignore-vlan`).
    pub track: TrackOptions,
    /// The bound on connection state (`--memory-limit`, `--max-connections`).
    pub budget: Budget,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_wait_s: 60.0,
            timeline: TimelineSelect::None,
            label: None,
            track: TrackOptions::default(),
            budget: Budget::default(),
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
    } = hooks;
    let mut frames = 0u64;
    let mut tracker =
        Tracker::new(config.timeline.clone(), config.time_wait_s).with_options(config.track);
    if frame_hook.is_some() {
        tracker = tracker.without_compact_syns();
    }
    let mut done = Finished {
        kept: Vec::new(),
        count: 0,
        time_wait: TimeWaitAccumulator::default(),
        patterns: PatternAccumulator::default(),
        hook: finished,
        stopped: false,
        evicted: 0,
        handed_early: 0,
    };
    let mut candidates = Vec::new();
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
                if config.budget.exceeded_by(done.held(&tracker)) {
                    evict(
                        &mut tracker,
                        &mut done,
                        &config.budget,
                        &mut candidates,
                        frame.ts_digits,
                    );
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
    let ts_digits = capture.ts_digits;
    tracker.finish_each(end, |c, still_tracked| {
        done.add(c, ts_digits);
        let mut held = still_tracked;
        held.connections += done.kept.len() as u64;
        if config.budget.exceeded_by(held) {
            evict_kept(&mut done, still_tracked, &config.budget, &mut candidates);
        }
    });
    capture.evicted_connections = done.evicted;
    if done.evicted > 0 {
        capture.warnings.push(format!(
            "{} connections evicted to stay within the memory bound ({}; {} bytes reckoned a connection, {} one that sent only a SYN): counted in the totals, TIME_WAIT and patterns, not reported one by one; raise the bound with --memory-limit or --max-connections",
            done.evicted,
            config.budget.describe(),
            budget::CONNECTION_BYTES,
            budget::FIRST_SYN_BYTES,
        ));
    }
    if done.handed_early > 0 {
        capture.warnings.push(format!(
            "{} closed connections were reported before their {:.0} s linger for late segments ended, to stay within the memory bound ({}): a later segment of one of them opens a new connection; raise the bound with --memory-limit or --max-connections",
            done.handed_early,
            config.time_wait_s.max(crate::track::MIN_LINGER_S),
            config.budget.describe(),
        ));
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
    /// Connections evicted to keep within the memory bound.
    evicted: u64,
    /// Closed connections handed over before their linger ended, to keep within the bound.
    handed_early: u64,
}

impl Finished<'_> {
    fn add(&mut self, c: Box<Connection>, ts_digits: u8) {
        self.count += 1;
        self.time_wait.add(&c);
        self.patterns.add(&c);
        match self.hook.as_mut() {
            Some(hook) => {
                if !self.stopped {
                    self.stopped = hook(&c, ts_digits).is_break();
                }
            }
            None => self.kept.push(c),
        }
    }

    /// A connection evicted to keep within the memory bound: counted, and seen by the
    /// capture-wide reports, but not reported itself.
    fn add_evicted(&mut self, c: Box<Connection>) {
        self.count += 1;
        self.evicted += 1;
        self.time_wait.add(&c);
        self.patterns.add(&c);
    }

    /// The connections held in memory: tracked, and finished but kept for the report.
    fn held(&self, tracker: &Tracker) -> Held {
        let mut held = tracker.held();
        held.connections += self.kept.len() as u64;
        held
    }
}

/// Evict connections until the memory bound is relieved, in [`budget::eviction_rank`]
/// order: half-open and closed connections first (finished ones waiting for the report are
/// closed), the least recently seen first; then open ones. When connections are streamed to a
/// hook, a closed connection lingering for late segments is handed over early instead, to be
/// reported as usual.
fn evict(
    tracker: &mut Tracker,
    done: &mut Finished,
    budget: &Budget,
    candidates: &mut Vec<Candidate<Option<FlowKey>>>,
    ts_digits: u8,
) {
    let streamed = done.hook.is_some();
    candidates.clear();
    tracker.eviction_candidates(candidates);
    candidates.extend(done.kept.iter().map(|c| Candidate {
        rank: 0,
        last_seen: c.last_ts,
        id: c.id,
        at: None,
    }));
    candidates.sort_unstable();
    let mut gone_kept: Vec<u32> = Vec::new();
    for cand in candidates.drain(..) {
        let mut held = done.held(tracker);
        held.connections -= gone_kept.len() as u64;
        if budget.relieved(held) {
            break;
        }
        match cand.at {
            Some(key) => match tracker.evict(key, streamed) {
                Some(c) => done.add_evicted(c),
                None => {
                    done.handed_early += 1;
                    for c in tracker.drain_finished() {
                        done.add(c, ts_digits);
                    }
                }
            },
            None => gone_kept.push(cand.id),
        }
    }
    drop_kept(done, gone_kept);
}

/// Finished connections leave the list kept for the report; they were counted and seen by the
/// capture-wide reports already.
fn drop_kept(done: &mut Finished, mut gone: Vec<u32>) {
    if !gone.is_empty() {
        gone.sort_unstable();
        done.evicted += gone.len() as u64;
        done.kept.retain(|c| gone.binary_search(&c.id).is_err());
    }
}

/// [`evict`] at the end of the capture, while the tracker hands over what it still holds
/// (`still_tracked`): only finished connections can go, in the same order.
fn evict_kept(
    done: &mut Finished,
    still_tracked: Held,
    budget: &Budget,
    candidates: &mut Vec<Candidate<Option<FlowKey>>>,
) {
    candidates.clear();
    candidates.extend(done.kept.iter().map(|c| Candidate {
        rank: 0,
        last_seen: c.last_ts,
        id: c.id,
        at: None,
    }));
    candidates.sort_unstable();
    let mut held = still_tracked;
    held.connections += done.kept.len() as u64;
    let mut gone = Vec::new();
    for cand in candidates.drain(..) {
        if budget.relieved(held) {
            break;
        }
        held.connections -= 1;
        gone.push(cand.id);
    }
    drop_kept(done, gone);
}
