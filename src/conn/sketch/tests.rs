//! Tests of the sketch: exact below the fold, bounded and faithful above it.

use super::*;
use crate::decode::segment::TcpOptions;

const T0: i64 = 1_700_000_000_000_000_000;

fn entry(
    frame: u64,
    us: i64,
    from: Side,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
) -> TimelineEntry {
    TimelineEntry {
        frame,
        ts: Timestamp(T0 + us * 1000),
        from,
        flags: TcpFlags(flags),
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        len,
        window: 65535,
        class: SegClass::Normal,
        seg_flags: SegFlags::default(),
        options: TcpOptions::default(),
    }
}

const ISN: [Option<SeqNumber>; 2] = [Some(SeqNumber(u32::MAX - 10)), Some(SeqNumber(7))];

#[test]
fn slots_keep_extremes_and_stay_few() {
    let mut s: Slots<Line> = Slots::default();
    // A saw-tooth over 100,000 points, one per microsecond.
    for i in 0..100_000i64 {
        s.add(i * 1000, Line::at((i % 10) as f64));
    }
    assert!(s.len() <= SLOTS && s.len() > SLOTS / 4, "{}", s.len());
    for (_, l) in s.iter() {
        assert_eq!((l.lo, l.hi), (0.0, 9.0));
    }
    // No slot longer than 1/2047 of the span.
    let span = 99_999_000u64;
    assert!(s.slot_ns() * 2047 <= span, "{} ns slots", s.slot_ns());
    // In time order, starting at 0.
    let starts: Vec<i64> = s.iter().map(|(t, _)| t).collect();
    assert_eq!(starts[0], 0);
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn slots_settle_a_clock_that_steps_back() {
    let mut s: Slots<Sent> = Slots::default();
    let mut total = 0;
    for i in 0..50_000i64 {
        let t = if i % 2 == 0 { i * 1000 } else { -5 };
        s.add(
            t,
            Sent {
                bars: None,
                bytes: 1,
            },
        );
        total += 1;
    }
    assert!(s.len() <= SLOTS);
    assert_eq!(s.iter().map(|(_, v)| v.bytes).sum::<u64>(), total);
}

#[test]
fn bars_keep_the_lowest_and_the_highest() {
    let mut b = Bars::bar(10.0, 20.0);
    b.merge(&Bars::bar(5.0, 6.0));
    b.merge(&Bars::bar(30.0, 40.0));
    b.merge(&Bars::bar(7.0, 35.0));
    assert_eq!(b.bars().collect::<Vec<_>>(), [(5.0, 6.0), (30.0, 40.0)]);
    assert_eq!(Bars::bar(1.0, 2.0).bars().count(), 1);
}

#[test]
fn relative_numbers_start_at_the_isn_across_the_wrap() {
    let mut k = Sketch::new(Timestamp(T0));
    k.record(&entry(1, 0, 0, 0x02, u32::MAX - 10, 0, 0), ISN, None);
    k.record(&entry(2, 10, 1, 0x12, 7, u32::MAX - 9, 0), ISN, None);
    k.record(&entry(3, 20, 0, 0x10, u32::MAX - 9, 8, 100), ISN, None);
    let rows = k.rows();
    assert_eq!(rows[0].1.seq, 0);
    assert_eq!((rows[1].1.seq, rows[1].1.ack), (0, 1));
    assert_eq!((rows[2].1.seq, rows[2].1.ack), (1, 1));
    assert_eq!(rows[2].1.t(), 20e-6);
    assert_eq!(rows[2].1.seg_len(), 100);
}

#[test]
fn a_run_of_duplicate_acks_is_one_mark() {
    let mut k = Sketch::new(Timestamp(T0));
    let mut frame = 0;
    let mut ack = |k: &mut Sketch, class, zero_window, a: u32| {
        frame += 1;
        let mut e = entry(frame, frame as i64, 1, 0x10, 8, a, 0);
        e.class = class;
        e.seg_flags.zero_window = zero_window;
        k.record(&e, ISN, None);
    };
    ack(&mut k, SegClass::Normal, false, 100);
    for n in 1..=5 {
        ack(&mut k, SegClass::DupAck(n), false, 100);
    }
    // A zero-window duplicate: its zero-window mark is its own, its dup ACK joins the run.
    ack(&mut k, SegClass::DupAck(6), true, 100);
    ack(&mut k, SegClass::DupAck(7), false, 100);
    // A new ACK, then a new run.
    ack(&mut k, SegClass::Normal, false, 300);
    ack(&mut k, SegClass::DupAck(1), false, 300);
    ack(&mut k, SegClass::DupAck(2), false, 300);
    let marks = k.marks();
    assert_eq!(marks.len(), 3, "{marks:?}");
    let run = &marks[0];
    assert_eq!((run.row.frame, run.last_frame, run.dup_acks), (2, 8, 7));
    assert_eq!(
        marks[1].kinds.iter().collect::<Vec<_>>(),
        [MarkKind::ZeroWindow]
    );
    assert_eq!(marks[1].dup_acks, 0);
    assert_eq!(
        (marks[2].row.frame, marks[2].last_frame, marks[2].dup_acks),
        (10, 11, 2)
    );
    let total: u32 = marks.iter().map(|m| m.dup_acks).sum();
    assert_eq!(total, 9);
}

#[test]
fn a_long_connection_is_folded_and_keeps_its_ladder_rows() {
    let mut k = Sketch::new(Timestamp(T0));
    let n = 3 * ROWS as u32;
    k.record(&entry(1, 0, 0, 0x02, u32::MAX - 10, 0, 0), ISN, None);
    for i in 1..n {
        let seq = (u32::MAX - 9).wrapping_add(1000 * (i - 1));
        let mut e = entry(u64::from(i) + 1, i64::from(i) * 100, 0, 0x10, seq, 8, 1000);
        if i == n - 10 {
            e.flags = TcpFlags(0x11);
        }
        if i == 500 {
            e.class = SegClass::Retransmission(RetransKind::TailLossProbe);
        }
        k.record(&e, ISN, None);
    }
    assert!(k.is_folded());
    assert_eq!(k.segments(), u64::from(n));
    let rows = k.rows();
    let pos: Vec<u64> = rows.iter().map(|(p, _)| *p).collect();
    let n = u64::from(n);
    let mut want: Vec<u64> = (0..LADDER_HEAD as u64).collect();
    want.extend(n - 11..n);
    assert_eq!(pos, want);
    assert!(rows.iter().all(|(p, r)| r.frame == p + 1));
    assert!(rows[LADDER_HEAD + 1].1.flags.fin());
    // The lines: every data segment but the marked one, thinned to at most SLOTS bars.
    let lines = k.lines();
    let sent = &lines.sides[0].sent;
    assert!(sent.len() <= SLOTS);
    let top = sent
        .iter()
        .filter_map(|(_, v)| v.bars)
        .map(|b| b.high.1)
        .fold(0.0, f64::max);
    assert_eq!(top, (1000 * (n - 1) + 1) as f64);
    let bytes: u64 = sent.iter().map(|(_, v)| v.bytes).sum();
    assert_eq!(bytes, 1000 * (n - 1));
    // The probe becomes an RTO in its mark.
    assert_eq!(k.marks().len(), 1);
    k.probes_were_timeouts(0);
    assert_eq!(
        k.marks()[0].kinds.iter().collect::<Vec<_>>(),
        [MarkKind::Rto]
    );
}

#[test]
fn rtt_samples_replay_the_estimator() {
    let mut k = Sketch::new(Timestamp(T0));
    k.record(&entry(1, 0, 0, 0x10, u32::MAX - 9, 8, 100), ISN, None);
    k.record(&entry(2, 100, 1, 0x10, 8, 90, 0), ISN, Some(100.0));
    k.record(&entry(3, 200, 1, 0x10, 8, 190, 0), ISN, Some(200.0));
    let lines = k.lines();
    let rtt: Vec<&RttSlot> = lines.sides[0].rtt.iter().map(|(_, v)| v).collect();
    assert_eq!(rtt.len(), 2);
    let mut e = RttEstimator::default();
    e.sample(100.0);
    e.sample(200.0);
    assert_eq!(rtt[1].srtt.last, e.srtt_ms);
    assert_eq!(rtt[1].rto.last, e.linux_rto_ms().unwrap());
    assert!(lines.sides[1].rtt.is_empty());
}
