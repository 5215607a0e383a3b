//! Time slots: a series of values thinned to at most [`SLOTS`] spans of time, each keeping
//! what the pictures need of the values that fell in it (extremes, sums, samples).

use super::SLOTS;

/// What a slot keeps of the values that fell in it.
pub trait Merge: Copy {
    fn merge(&mut self, other: &Self);
}

/// Values in time order over a slot: the first, lowest, highest and last (a step line keeps its
/// shape and its extremes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub first: f64,
    pub lo: f64,
    pub hi: f64,
    pub last: f64,
}

impl Line {
    pub fn at(v: f64) -> Line {
        Line {
            first: v,
            lo: v,
            hi: v,
            last: v,
        }
    }

    /// The distinct values in drawing order.
    pub fn points(&self) -> impl Iterator<Item = f64> {
        let v = [self.first, self.lo, self.hi, self.last];
        (0..4).filter_map(move |i| (i == 0 || v[i] != v[i - 1]).then_some(v[i]))
    }
}

impl Merge for Line {
    fn merge(&mut self, o: &Line) {
        self.lo = self.lo.min(o.lo);
        self.hi = self.hi.max(o.hi);
        self.last = o.last;
    }
}

/// Vertical bars `[lo, hi]` over a slot: the one reaching lowest and the one reaching highest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bars {
    pub low: (f64, f64),
    pub high: (f64, f64),
}

impl Bars {
    pub fn bar(lo: f64, hi: f64) -> Bars {
        Bars {
            low: (lo, hi),
            high: (lo, hi),
        }
    }

    /// The distinct bars.
    pub fn bars(&self) -> impl Iterator<Item = (f64, f64)> {
        let second = (self.high != self.low).then_some(self.high);
        std::iter::once(self.low).chain(second)
    }
}

impl Merge for Bars {
    fn merge(&mut self, o: &Bars) {
        if o.low.0 < self.low.0 {
            self.low = o.low;
        }
        if o.high.1 > self.high.1 {
            self.high = o.high;
        }
    }
}

fn merge_option<T: Merge>(a: &mut Option<T>, b: &Option<T>) {
    match (a.as_mut(), b) {
        (Some(x), Some(y)) => x.merge(y),
        (None, Some(_)) => *a = *b,
        (_, None) => {}
    }
}

/// What a slot keeps of one side's segments that occupy sequence space: the bars of those
/// without a mark (a marked one is drawn from its mark), and the payload bytes of all.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sent {
    pub bars: Option<Bars>,
    pub bytes: u64,
}

impl Merge for Sent {
    fn merge(&mut self, o: &Sent) {
        merge_option(&mut self.bars, &o.bars);
        self.bytes += o.bytes;
    }
}

/// What a slot keeps of one side's ACKs: the ACK line, the receive-window limit (ACK +
/// window; a RST advertises none), and the bytes of the peer's data newly acknowledged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acked {
    pub ack: Line,
    pub window: Option<Line>,
    pub bytes: u64,
}

impl Merge for Acked {
    fn merge(&mut self, o: &Acked) {
        self.ack.merge(&o.ack);
        merge_option(&mut self.window, &o.window);
        self.bytes += o.bytes;
    }
}

/// RTT samples over a slot with the RFC 6298 estimator after each (SRTT, Linux's RTO).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttSlot {
    pub rtt: Line,
    pub srtt: Line,
    pub rto: Line,
    pub samples: u32,
}

impl Merge for RttSlot {
    fn merge(&mut self, o: &RttSlot) {
        self.rtt.merge(&o.rtt);
        self.srtt.merge(&o.srtt);
        self.rto.merge(&o.rto);
        self.samples += o.samples;
    }
}

/// A series thinned to time slots (see the module's notes), in the order the values came.
#[derive(Clone, Debug)]
pub struct Slots<T> {
    shift: u32,
    slots: Vec<(u64, T)>,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            shift: 0,
            slots: Vec::new(),
        }
    }
}

impl<T: Merge> Slots<T> {
    pub(super) fn index(&self, t_ns: i64) -> u64 {
        // A time before the first segment (a clock stepped back) counts as the first slot's.
        (t_ns.max(0) as u64) >> self.shift
    }

    #[inline]
    pub fn add(&mut self, t_ns: i64, v: T) {
        let mut idx = self.index(t_ns);
        if let Some((i, last)) = self.slots.last_mut()
            && *i == idx
        {
            last.merge(&v);
            return;
        }
        if self.slots.len() == SLOTS {
            self.coarsen();
            idx = self.index(t_ns);
            if let Some((i, last)) = self.slots.last_mut()
                && *i == idx
            {
                last.merge(&v);
                return;
            }
        }
        self.slots.push((idx, v));
    }

    /// Double the slots' length, merging neighbours, until one more fits. Slots are merged only
    /// with the one before them in arrival order, so a clock that steps back may need more than
    /// one doubling; at the last shift every slot is the first.
    #[cold]
    pub(super) fn coarsen(&mut self) {
        while self.slots.len() >= SLOTS && self.shift < 63 {
            self.shift += 1;
            let mut kept = 0;
            for i in 0..self.slots.len() {
                let (idx, v) = self.slots[i];
                let idx = idx >> 1;
                if kept > 0 && self.slots[kept - 1].0 == idx {
                    self.slots[kept - 1].1.merge(&v);
                } else {
                    self.slots[kept] = (idx, v);
                    kept += 1;
                }
            }
            self.slots.truncate(kept);
        }
    }

    /// Each slot's start (ns since the connection's first segment) and what it kept.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &T)> {
        let shift = self.shift;
        self.slots
            .iter()
            .map(move |(i, v)| ((i << shift) as i64, v))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The length of a slot in nanoseconds.
    pub fn slot_ns(&self) -> u64 {
        1u64 << self.shift
    }

    pub(super) fn shrink(&mut self) {
        self.slots.shrink_to_fit();
    }
}

/// One side's lines, thinned: what it sent, what its ACKs said (in the peer's space), its SACK
/// blocks, and the RTT samples of its data. Two slot series for most segments (one for the
/// data, one for the ACK), so a segment costs one or two slot updates.
#[derive(Clone, Debug, Default)]
pub struct SideSlots {
    pub sent: Slots<Sent>,
    pub acks: Slots<Acked>,
    pub sack: Slots<Bars>,
    pub rtt: Slots<RttSlot>,
}
