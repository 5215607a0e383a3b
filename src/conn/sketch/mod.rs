//! What the pictures need of one connection, kept while its segments are read, in memory that
//! stops growing with the connection: its lines thinned to time slots that keep their extremes,
//! every anomaly mark (a run of duplicate ACKs is one mark), the segments the ladder shows, and
//! the RTT samples the analysis took.
//!
//! A connection of up to [`ROWS`] segments keeps one row per segment, so its pictures are exact.
//! Past that its rows are folded into [`Slots`] and from then on each segment only updates its
//! slot; the rows the ladder needs (the first [`LADDER_HEAD`], the close, the last few) stay.
//!
//! A slot is a span of the time since the connection's first segment: the nanoseconds shifted
//! right by `shift`. A series holds at most [`SLOTS`] slots; when one more is needed `shift`
//! grows by one and neighbouring slots merge, so (for a clock that runs forward) a slot is never
//! longer than 1/2047 of the connection's duration: narrower than a column of the time-sequence
//! graph (`plot::tsg` checks it), so thinning per column later loses nothing that slots kept.

use std::cmp::Reverse;

use crate::analysis::rtt::{LINUX_RTO_FLOOR_MS, RttEstimator};
use crate::analysis::{RetransKind, SegClass, SegFlags};
use crate::conn::{Connection, Side, TimelineEntry, other};
use crate::decode::segment::TcpFlags;
use crate::seq::SeqNumber;
use crate::time::Timestamp;

mod slots;

pub use slots::{Acked, Bars, Line, Merge, RttSlot, Sent, SideSlots, Slots};

/// Segments kept one row each before a connection's rows are folded into slots.
pub const ROWS: usize = 4096;
/// Up to this many rows, their vector grows four at a time.
const SMALL_ROWS: usize = 64;
/// Slots per series at most.
pub const SLOTS: usize = 4096;
/// Rows of the ladder's start kept once folded: a ladder draws a connection of up to this many
/// segments whole, else its first rows (the handshake) and its close.
pub const LADDER_HEAD: usize = 30;
/// Rows kept from the segment before the first FIN or RST on.
pub const LADDER_CLOSE: usize = 16;
/// The last rows kept, for a connection that never closes.
pub const LADDER_TAIL: usize = 4;

/// A segment class or flag the time-sequence graph marks; each mark is drawn on its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MarkKind {
    Fast,
    Rto,
    AfterRto,
    Tlp,
    Spurious,
    Ooo,
    DupAck,
    ZeroWindow,
    Zwp,
    KeepAlive,
    WindowFull,
}

impl MarkKind {
    pub const ALL: [MarkKind; 11] = [
        MarkKind::Fast,
        MarkKind::Rto,
        MarkKind::AfterRto,
        MarkKind::Tlp,
        MarkKind::Spurious,
        MarkKind::Ooo,
        MarkKind::DupAck,
        MarkKind::ZeroWindow,
        MarkKind::Zwp,
        MarkKind::KeepAlive,
        MarkKind::WindowFull,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`MarkKind`]s, one bit each (no allocation per segment).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Marks(pub u16);

impl Marks {
    /// The marks of a segment of class `class` with `flags`.
    pub fn of(class: SegClass, flags: SegFlags) -> Marks {
        let mut m = Marks::default();
        match class {
            SegClass::Retransmission(k) => m.insert(match k {
                RetransKind::Fast => MarkKind::Fast,
                RetransKind::Rto => MarkKind::Rto,
                RetransKind::AfterRto => MarkKind::AfterRto,
                RetransKind::TailLossProbe => MarkKind::Tlp,
                RetransKind::Spurious => MarkKind::Spurious,
            }),
            SegClass::OutOfOrder => m.insert(MarkKind::Ooo),
            SegClass::DupAck(_) => m.insert(MarkKind::DupAck),
            SegClass::ZeroWindowProbe => m.insert(MarkKind::Zwp),
            SegClass::KeepAlive => m.insert(MarkKind::KeepAlive),
            SegClass::Normal
            | SegClass::WindowUpdate
            | SegClass::KeepAliveAck
            | SegClass::ZeroWindowProbeAck => {}
        }
        if flags.zero_window {
            m.insert(MarkKind::ZeroWindow);
        }
        if flags.window_full {
            m.insert(MarkKind::WindowFull);
        }
        m
    }

    pub fn insert(&mut self, k: MarkKind) {
        self.0 |= k.bit();
    }

    pub fn remove(&mut self, k: MarkKind) {
        self.0 &= !k.bit();
    }

    pub fn contains(self, k: MarkKind) -> bool {
        self.0 & k.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = MarkKind> {
        MarkKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

/// Relative, unwrapped positions in one side's sequence space: 0 at the ISN (or at the first
/// number seen, mid-stream), growing past 2^32.
#[derive(Clone, Copy, Debug, Default)]
struct Space {
    last_raw: Option<SeqNumber>,
    last_abs: i64,
}

impl Space {
    /// The position of `v`, moving the reference forward when `v` is ahead of it. The ISN
    /// becomes the reference as soon as it is known.
    fn rel(&mut self, v: SeqNumber, isn: Option<SeqNumber>) -> i64 {
        if self.last_raw.is_none() {
            self.last_raw = isn;
        }
        let abs = self.peek(v);
        if self.last_raw.is_none() || abs > self.last_abs {
            self.last_raw = Some(v);
            self.last_abs = abs;
        }
        abs
    }

    /// The position of `v` without moving the reference (for SACK blocks, which may be wrong).
    fn peek(&self, v: SeqNumber) -> i64 {
        match self.last_raw {
            Some(raw) => self.last_abs + v.diff(raw),
            None => 0,
        }
    }
}

/// One segment as the pictures need it. Sequence numbers are relative (0 at the ISN,
/// unwrapped): `seq` in the sender's space, `ack` in the receiver's.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub frame: u64,
    /// Nanoseconds since the connection's first segment (negative after a clock stepped back).
    pub t_ns: i64,
    pub seq: i64,
    /// Meaningful when the ACK flag is set.
    pub ack: i64,
    /// The advertised window in bytes, scaled.
    pub window: u64,
    /// The RTT sample (ms) of the receiver's data that this segment's ACK gave; NaN for none.
    pub rtt_ms: f64,
    pub len: u32,
    pub class: SegClass,
    pub marks: Marks,
    pub flags: TcpFlags,
    from: u8,
}

impl Row {
    pub fn side(&self) -> Side {
        Side::from(self.from)
    }

    pub fn t(&self) -> f64 {
        self.t_ns as f64 / 1e9
    }

    /// Sequence space it occupies (payload, plus one for SYN and one for FIN).
    pub fn seg_len(&self) -> u32 {
        self.len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    pub fn ack(&self) -> Option<i64> {
        self.flags.ack().then_some(self.ack)
    }

    fn rtt(&self) -> Option<f64> {
        (!self.rtt_ms.is_nan()).then_some(self.rtt_ms)
    }

    /// The sender sends no tail loss probes after all: this one was its first RTO.
    fn probe_was_timeout(&mut self) {
        if self.class == SegClass::Retransmission(RetransKind::TailLossProbe) {
            self.class = SegClass::Retransmission(RetransKind::Rto);
        }
        if self.marks.contains(MarkKind::Tlp) {
            self.marks.remove(MarkKind::Tlp);
            self.marks.insert(MarkKind::Rto);
        }
    }
}

/// An anomaly to draw: a segment and the kinds it is drawn as here. A run of duplicate ACKs
/// (the same ACK again and again from one side: one place on the graph) is one mark that counts
/// them; every other kind is one mark per segment.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pub row: Row,
    pub kinds: Marks,
    /// The duplicate ACKs this mark stands for (0 without [`MarkKind::DupAck`]).
    pub dup_acks: u32,
    /// The frame of the last of them (the row's own frame otherwise).
    pub last_frame: u64,
}

/// Every line of the connection, thinned, by side.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    pub sides: [SideSlots; 2],
    high_ack: [Option<i64>; 2],
    estimators: [RttEstimator; 2],
}

impl Lines {
    fn add(&mut self, r: &Row) {
        let s = r.side();
        let o = other(s);
        let t = r.t_ns;
        let seg_len = r.seg_len();
        if seg_len > 0 {
            let lo = r.seq as f64;
            let sent = Sent {
                bars: r
                    .marks
                    .is_empty()
                    .then(|| Bars::bar(lo, lo + f64::from(seg_len))),
                bytes: u64::from(r.len),
            };
            self.sides[s].sent.add(t, sent);
        }
        if let Some(a) = r.ack() {
            // New data of the peer's acknowledged.
            let bytes = match self.high_ack[o] {
                Some(h) if a > h => (a - h) as u64,
                _ => 0,
            };
            if self.high_ack[o].is_none_or(|h| a > h) {
                self.high_ack[o] = Some(a);
            }
            let acked = Acked {
                ack: Line::at(a as f64),
                window: (!r.flags.rst()).then(|| Line::at(a as f64 + r.window as f64)),
                bytes,
            };
            self.sides[s].acks.add(t, acked);
        }
        if let Some(ms) = r.rtt() {
            // The estimator replays the analysis's samples: the SRTT and RTO it had after each.
            let est = &mut self.estimators[o];
            est.sample(ms);
            let slot = RttSlot {
                rtt: Line::at(ms),
                srtt: Line::at(est.srtt_ms),
                rto: Line::at(est.linux_rto_ms().unwrap_or(LINUX_RTO_FLOOR_MS)),
                samples: 1,
            };
            self.sides[o].rtt.add(t, slot);
        }
    }

    fn shrink(&mut self) {
        for side in &mut self.sides {
            side.sent.shrink();
            side.acks.shrink();
            side.sack.shrink();
            side.rtt.shrink();
        }
    }
}

/// What is kept once the rows are folded: the lines, and the ladder's close and last rows.
#[derive(Clone, Debug, Default)]
struct Folded {
    lines: Lines,
    /// From the segment before the first FIN or RST on, with the position of the first.
    close: Vec<Row>,
    close_pos: Option<u64>,
    /// The last [`LADDER_TAIL`] rows with their positions, row `p` at `p % LADDER_TAIL` (a
    /// ring: each segment writes one row, none is moved).
    tail: [Option<(u64, Row)>; LADDER_TAIL],
}

impl Folded {
    fn add(&mut self, r: &Row, pos: u64) {
        self.lines.add(r);
        let slot = |p: u64| (p % LADDER_TAIL as u64) as usize;
        if self.close_pos.is_none() && (r.flags.fin() || r.flags.rst()) {
            self.close.clear();
            if let Some(p) = pos.checked_sub(1)
                && let Some((_, prev)) = self.tail[slot(p)]
            {
                self.close.push(prev);
            }
            self.close_pos = Some(pos - self.close.len() as u64);
            self.close.push(*r);
        } else if self.close_pos.is_some() && self.close.len() < LADDER_CLOSE {
            self.close.push(*r);
        }
        self.tail[slot(pos)] = Some((pos, *r));
    }
}

/// The pictures' record of one connection (see the module's notes).
#[derive(Clone, Debug)]
pub struct Sketch {
    first_ts: Timestamp,
    spaces: [Space; 2],
    segments: u64,
    /// Every segment while there are at most [`ROWS`]; once folded, the first [`LADDER_HEAD`].
    rows: Vec<Row>,
    /// SACK blocks arrive only on lossy connections: always kept in slots, allocated with the
    /// first.
    sacks: Option<Box<[Slots<Bars>; 2]>>,
    marks: Vec<Mark>,
    /// Per side, the mark of its duplicate ACK run still open.
    open_run: [Option<u32>; 2],
    folded: Option<Box<Folded>>,
}

impl Sketch {
    pub fn new(first_ts: Timestamp) -> Sketch {
        Sketch {
            first_ts,
            spaces: [Space::default(); 2],
            segments: 0,
            rows: Vec::new(),
            sacks: None,
            marks: Vec::new(),
            open_run: [None, None],
            folded: None,
        }
    }

    /// Record one segment as the analysis saw it: `isn` are the sides' ISNs as known now,
    /// `rtt_ms` the sample of the receiver's data its ACK gave.
    pub fn record(&mut self, e: &TimelineEntry, isn: [Option<SeqNumber>; 2], rtt_ms: Option<f64>) {
        let s = e.from;
        let o = other(s);
        let t_ns = e.ts.nanos().saturating_sub(self.first_ts.nanos());
        let seq = self.spaces[s].rel(e.seq, isn[s]);
        let ack = if e.flags.ack() {
            self.spaces[o].rel(e.ack, isn[o])
        } else {
            0
        };
        for b in e.options.sack_blocks() {
            let (l, r) = (self.spaces[o].peek(b.left), self.spaces[o].peek(b.right));
            let sacks = self.sacks.get_or_insert_with(Default::default);
            sacks[s].add(t_ns, Bars::bar(l as f64, r as f64));
        }
        let row = Row {
            frame: e.frame,
            t_ns,
            seq,
            ack,
            window: e.window,
            rtt_ms: rtt_ms.unwrap_or(f64::NAN),
            len: e.len,
            class: e.class,
            marks: Marks::of(e.class, e.seg_flags),
            flags: e.flags,
            from: s as u8,
        };
        if !row.marks.is_empty() {
            self.mark(row);
        }
        let pos = self.segments;
        self.segments += 1;
        match self.folded.as_mut() {
            Some(f) => f.add(&row, pos),
            None => {
                // Most connections are short and many may be open at once: their rows grow a
                // few at a time, not by doubling.
                if self.rows.len() == self.rows.capacity() && self.rows.len() < SMALL_ROWS {
                    self.rows.reserve_exact(4);
                }
                self.rows.push(row);
                if self.rows.len() > ROWS {
                    self.fold();
                }
            }
        }
    }

    fn mark(&mut self, row: Row) {
        let s = row.side();
        let mut kinds = row.marks;
        // The analysis numbers a run's duplicate ACKs 1, 2, 3…: a later one joins the mark of
        // the run if it is still that side's open run (same ACK).
        if let SegClass::DupAck(n) = row.class
            && n > 1
            && let Some(i) = self.open_run[s]
            && let Some(m) = self.marks.get_mut(i as usize)
            && m.row.ack == row.ack
        {
            m.dup_acks += 1;
            m.last_frame = row.frame;
            kinds.remove(MarkKind::DupAck);
            if kinds.is_empty() {
                return;
            }
        }
        let dup = kinds.contains(MarkKind::DupAck);
        if dup {
            self.open_run[s] = u32::try_from(self.marks.len()).ok();
        }
        self.marks.push(Mark {
            row,
            kinds,
            dup_acks: u32::from(dup),
            last_frame: row.frame,
        });
    }

    /// From rows to slots: every row so far into the lines, then only the ladder's rows kept.
    fn fold(&mut self) {
        let mut f = Folded::default();
        for (pos, r) in self.rows.iter().enumerate() {
            f.add(r, pos as u64);
        }
        self.rows.truncate(LADDER_HEAD);
        self.rows.shrink_to_fit();
        self.folded = Some(Box::new(f));
    }

    /// The sender on side `s` sends no tail loss probes: each it was said to send was its first
    /// RTO (see `Connection::probes_were_timeouts`).
    pub fn probes_were_timeouts(&mut self, s: Side) {
        let mine = |r: &Row| r.side() == s;
        for r in self.rows.iter_mut().filter(|r| mine(r)) {
            r.probe_was_timeout();
        }
        if let Some(f) = self.folded.as_mut() {
            let tail = f.tail.iter_mut().flatten().map(|(_, r)| r);
            for r in f.close.iter_mut().chain(tail) {
                if mine(r) {
                    r.probe_was_timeout();
                }
            }
        }
        for m in self.marks.iter_mut().filter(|m| mine(&m.row)) {
            m.row.probe_was_timeout();
            if m.kinds.contains(MarkKind::Tlp) {
                m.kinds.remove(MarkKind::Tlp);
                m.kinds.insert(MarkKind::Rto);
            }
        }
    }

    /// The connection will see no more segments: no spare capacity.
    pub fn shrink(&mut self) {
        self.rows.shrink_to_fit();
        self.marks.shrink_to_fit();
        for s in self.sacks.iter_mut().flat_map(|s| s.iter_mut()) {
            s.shrink();
        }
        if let Some(f) = self.folded.as_mut() {
            f.lines.shrink();
        }
    }

    /// Segments recorded.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// True once the rows were folded into slots.
    pub fn is_folded(&self) -> bool {
        self.folded.is_some()
    }

    /// The rows kept, with their position among the connection's segments, in order: every
    /// segment while not folded; else the first [`LADDER_HEAD`], those from the segment before
    /// the first FIN or RST on ([`LADDER_CLOSE`] of them) and the last [`LADDER_TAIL`].
    pub fn rows(&self) -> Vec<(u64, Row)> {
        let mut out: Vec<(u64, Row)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, *r))
            .collect();
        if let Some(f) = &self.folded {
            if let Some(p) = f.close_pos {
                out.extend(f.close.iter().enumerate().map(|(i, r)| (p + i as u64, *r)));
            }
            out.extend(f.tail.iter().flatten().copied());
            out.sort_by_key(|(p, _)| *p);
            out.dedup_by_key(|(p, _)| *p);
        }
        out
    }

    /// Every line of the connection, thinned to slots (made from the rows when not folded: one
    /// nanosecond each, so nothing is thinned but segments at the same instant).
    pub fn lines(&self) -> Lines {
        let mut lines = match &self.folded {
            Some(f) => f.lines.clone(),
            None => {
                let mut l = Lines::default();
                for r in &self.rows {
                    l.add(r);
                }
                l
            }
        };
        for s in 0..2 {
            if let Some(sacks) = &self.sacks {
                lines.sides[s].sack = sacks[s].clone();
            }
        }
        lines
    }
}

/// Where a connection comes in the order connections are drawn when none was chosen: most
/// anomalies first, then the lower id.
pub type DrawRank = (Reverse<usize>, u32);

pub fn draw_rank(c: &Connection) -> DrawRank {
    (Reverse(c.events.anomaly_count()), c.id)
}

#[cfg(test)]
mod tests;
