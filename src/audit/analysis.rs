//! The analysing side of the pass: segments go to the tracker, finished connections to the
//! capture-wide reports and then to the caller's hook or the list kept for the report, and the
//! memory bound is kept ([`crate::track::budget`]).

use crate::capture::CaptureInfo;
use crate::conn::Connection;
use crate::conn::sketch::{DrawRank, draw_rank};
use crate::decode::segment::Segment;
use crate::patterns::PatternAccumulator;
use crate::time::Timestamp;
use crate::time_wait::TimeWaitAccumulator;
use crate::track::budget::{self, Budget, Candidate, Held};
use crate::track::{Drawable, FlowKey, MIN_LINGER_S, SketchSelect, Tracker};

use super::kept::Connections;
use super::{Config, FinishedHook};

/// The tracker and where its finished connections go.
pub(super) struct Analysis<'h> {
    pub tracker: Tracker,
    done: Finished<'h>,
    candidates: Vec<Candidate<Option<FlowKey>>>,
    budget: Budget,
}

/// What is left when the capture has been read and every connection settled.
pub(super) struct Settled {
    pub kept: Connections,
    pub count: u64,
    pub time_wait: TimeWaitAccumulator,
    pub patterns: PatternAccumulator,
}

impl<'h> Analysis<'h> {
    /// `compact`: connections that have sent only a SYN may be held as that SYN (not when the
    /// caller needs every segment's connection at hand).
    ///
    /// `drawable`: the connections the report may draw, for [`SketchSelect::MostAnomalous`].
    pub fn new(
        config: &Config,
        hook: Option<FinishedHook<'h>>,
        compact: bool,
        drawable: Option<Drawable>,
    ) -> Analysis<'h> {
        let mut tracker = Tracker::new(config.timeline.clone(), config.time_wait_s)
            .with_options(config.track)
            .with_sketches(config.sketches.clone(), drawable.clone());
        if !compact {
            tracker = tracker.without_compact_syns();
        }
        Analysis {
            tracker,
            done: Finished {
                kept: Connections::default(),
                count: 0,
                time_wait: TimeWaitAccumulator::default(),
                patterns: PatternAccumulator::default(),
                hook,
                stopped: false,
                evicted: 0,
                handed_early: 0,
                drawn: Drawn {
                    n: match config.sketches {
                        SketchSelect::MostAnomalous(n) => Some(n),
                        _ => None,
                    },
                    drawable,
                    best: Vec::new(),
                },
            },
            candidates: Vec::new(),
            budget: config.budget,
        }
    }

    /// Hand over what finished with the last segment, and keep within the memory bound.
    #[inline(always)]
    pub fn settle(&mut self, ts_digits: u8) {
        if self.tracker.has_finished() {
            for c in self.tracker.drain_finished() {
                self.done.add(c, ts_digits);
            }
        }
        if self.budget.exceeded_by(self.done.held(&self.tracker)) {
            evict(
                &mut self.tracker,
                &mut self.done,
                &self.budget,
                &mut self.candidates,
                ts_digits,
            );
        }
    }

    /// One segment: tracked, then what it finished handed over.
    pub fn segment(&mut self, seg: &Segment, ts: Timestamp, number: u64, ts_digits: u8) {
        self.tracker.on_segment(seg, ts, number);
        self.settle(ts_digits);
    }

    /// The caller's hook asked to stop reading.
    pub fn stopped(&self) -> bool {
        self.done.stopped
    }

    /// The end of the capture: every connection still tracked is settled and handed over, and
    /// what the memory bound did is said in `capture`'s warnings.
    pub fn finish(self, end: Timestamp, config: &Config, capture: &mut CaptureInfo) -> Settled {
        let Analysis {
            tracker,
            mut done,
            candidates,
            budget,
        } = self;
        // Sized for every connection held at the last eviction (67 MB after a million short
        // connections), and kept till now; from here on only the finished ones kept for the
        // report are candidates, and the list is built again only if the bound is passed.
        drop(candidates);
        let mut candidates = Vec::new();
        let ts_digits = capture.ts_digits;
        tracker.finish_each(end, |c, still_tracked| {
            done.add(c, ts_digits);
            if budget.exceeded_by(still_tracked.plus(done.kept.held())) {
                evict_kept(&mut done, still_tracked, &budget, &mut candidates);
            }
        });
        capture.evicted_connections = done.evicted;
        if done.evicted > 0 {
            capture.warnings.push(format!(
                "{} connections evicted to stay within the memory bound ({}; {} bytes reckoned a working connection, {} one that sent only a SYN, a frozen one its size plus {}): counted in the totals, TIME_WAIT and patterns, not reported one by one; raise the bound with --memory-limit or --max-connections",
                done.evicted,
                budget.describe(),
                budget::CONNECTION_BYTES,
                budget::FIRST_SYN_BYTES,
                budget::FROZEN_OVERHEAD_BYTES,
            ));
        }
        if done.handed_early > 0 {
            capture.warnings.push(format!(
                "{} closed connections were reported before their {:.0} s linger for late segments ended, to stay within the memory bound ({}): a later segment of one of them opens a new connection; raise the bound with --memory-limit or --max-connections",
                done.handed_early,
                config.time_wait_s.max(MIN_LINGER_S),
                budget.describe(),
            ));
        }
        let mut kept = done.kept;
        kept.sort_by_id();
        Settled {
            kept,
            count: done.count,
            time_wait: done.time_wait,
            patterns: done.patterns,
        }
    }
}

/// Where finished connections go: into the capture-wide reports, then to the caller's hook or
/// into the list kept for the reports.
struct Finished<'h> {
    /// Frozen, but for connections that keep a sketch.
    kept: Connections,
    count: u64,
    time_wait: TimeWaitAccumulator,
    patterns: PatternAccumulator,
    hook: Option<FinishedHook<'h>>,
    stopped: bool,
    /// Connections evicted to keep within the memory bound.
    evicted: u64,
    /// Closed connections handed over before their linger ended, to keep within the bound.
    handed_early: u64,
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
    fn rank(&mut self, c: &mut Connection, at: usize, kept: &mut Connections) {
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
            && let Some(c) = kept.working_mut(out)
        {
            c.sketch = None;
        }
    }

    /// `kept` lost some connections (evicted): find the first `n` again where they are now;
    /// one that is gone is no longer drawn, and the next finished take its place.
    fn reindex(&mut self, kept: &Connections) {
        if self.best.is_empty() {
            return;
        }
        let at: Vec<(u32, usize)> = kept
            .ids()
            .enumerate()
            .filter(|(_, (id, _))| self.best.iter().any(|(r, _)| r.1 == *id))
            .map(|(i, (id, _))| (id, i))
            .collect();
        self.best
            .retain_mut(|(r, i)| match at.iter().find(|(id, _)| *id == r.1) {
                Some(&(_, now)) => {
                    *i = now;
                    true
                }
                None => false,
            });
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

    /// A connection evicted to keep within the memory bound: counted, and seen by the
    /// capture-wide reports, but not reported itself.
    fn add_evicted(&mut self, c: Box<Connection>) {
        self.count += 1;
        self.evicted += 1;
        self.time_wait.add(&c);
        self.patterns.add(&c);
    }

    /// The finished connections kept for the report, as candidates for eviction: closed, so
    /// in the first rank.
    fn kept_candidates(&self, out: &mut Vec<Candidate<Option<FlowKey>>>) {
        out.extend(self.kept.candidates());
    }

    /// The connections held in memory: tracked, and finished but kept for the report.
    fn held(&self, tracker: &Tracker) -> Held {
        tracker.held().plus(self.kept.held())
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
    done.kept_candidates(candidates);
    candidates.sort_unstable();
    let mut gone_kept: Vec<u32> = Vec::new();
    // What the kept connections chosen so far give back (they go together at the end).
    let mut gone_kept_held = Held::default();
    for cand in candidates.drain(..) {
        let held = done.held(tracker).minus(gone_kept_held);
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
            None => {
                gone_kept.push(cand.id);
                gone_kept_held = gone_kept_held.plus(cand.frees);
            }
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
        done.kept.retain_ids(|id| gone.binary_search(&id).is_err());
        done.drawn.reindex(&done.kept);
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
    done.kept_candidates(candidates);
    candidates.sort_unstable();
    let mut held = still_tracked.plus(done.kept.held());
    let mut gone = Vec::new();
    for cand in candidates.drain(..) {
        if budget.relieved(held) {
            break;
        }
        held = held.minus(cand.frees);
        gone.push(cand.id);
    }
    drop_kept(done, gone);
}
