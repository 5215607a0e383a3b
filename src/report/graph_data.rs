//! The one place the pictures read the analysis: a connection's recorded timeline, its
//! endpoints' transitions, its RTT, the TIME_WAIT intervals, turned into the plain values of
//! [`crate::plot`]. Also the second pass that records the timelines of connections chosen only
//! once the capture has been read (the ten with the most anomalies).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;

use crate::analysis::SegClass;
use crate::analysis::rtt::{LINUX_RTO_FLOOR_MS, RFC_RTO_FLOOR_MS, RttEstimator, RttSampler};
use crate::audit::Audit;
use crate::capture::{CaptureError, Input, read_captures};
use crate::conn::fsm::State;
use crate::conn::{Connection, Side, other};
use crate::decode::decode;
use crate::plot::{
    ConnGraph, HeldSeries, Marks, Role, RttPoint, SegPoint, StateMark, TimeWaitData,
};
use crate::seq::SeqNumber;
use crate::time::Timestamp;
use crate::track::{TimelineSelect, Tracker};

/// Relative, unwrapped positions in one side's sequence space.
#[derive(Clone, Copy, Default)]
struct Space {
    last_raw: Option<SeqNumber>,
    last_abs: i64,
}

impl Space {
    fn based(isn: Option<SeqNumber>) -> Space {
        Space {
            last_raw: isn,
            last_abs: 0,
        }
    }

    /// The position of `v`, moving the reference forward when `v` is ahead of it.
    fn rel(&mut self, v: SeqNumber) -> i64 {
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

fn role(c: &Connection, side: Side) -> Role {
    if side == c.client {
        Role::Client
    } else {
        Role::Server
    }
}

/// The pictures' view of a connection whose timeline was recorded; `None` without one.
pub fn conn_graph(c: &Connection, digits: u8) -> Option<ConnGraph> {
    let timeline = c.timeline.as_ref()?;
    let mut spaces = [Space::based(c.dirs[0].isn), Space::based(c.dirs[1].isn)];
    let mut segments = Vec::with_capacity(timeline.len());
    let mut samplers = [RttSampler::default(), RttSampler::default()];
    let mut estimators = [RttEstimator::default(), RttEstimator::default()];
    let mut next_seq: [Option<SeqNumber>; 2] = [None, None];
    let mut highest_ack: [Option<SeqNumber>; 2] = [None, None];
    let mut rtt = Vec::new();
    for e in timeline {
        let s = e.from;
        let t = e.ts.secs_since(c.first_ts);
        let seq = spaces[s].rel(e.seq);
        let ack = e.flags.ack().then(|| spaces[other(s)].rel(e.ack));
        let mut sack = [(0i64, 0i64); 4];
        let blocks = e.options.sack_blocks();
        for (slot, b) in sack.iter_mut().zip(blocks) {
            *slot = (
                spaces[other(s)].peek(b.left),
                spaces[other(s)].peek(b.right),
            );
        }
        let seg_len = e.len + u32::from(e.flags.syn()) + u32::from(e.flags.fin());
        segments.push(SegPoint {
            frame: e.frame,
            t,
            from: role(c, s),
            seq,
            seg_len,
            len: e.len,
            ack,
            window: e.window,
            flags: e.flags.0,
            marks: Marks::of(e.class, e.seg_flags),
            class_label: e.class.label(),
            sack,
            sack_count: blocks.len().min(4) as u8,
        });

        // RTT samples as the analysis takes them (Karn's rule, rtt.rs), replayed per segment.
        let end = e.seq + seg_len;
        if matches!(e.class, SegClass::Retransmission(_)) {
            samplers[s].on_retransmit(e.seq, end);
        } else if seg_len > 0 && next_seq[s].is_none_or(|n| end > n) {
            samplers[s].on_send(end, e.ts);
        }
        if !e.flags.rst() && next_seq[s].is_none_or(|n| end > n) {
            next_seq[s] = Some(end);
        }
        if e.flags.ack() && highest_ack[s].is_none_or(|h| e.ack > h) {
            highest_ack[s] = Some(e.ack);
            let peer = other(s);
            if let Some(r) = samplers[peer].on_ack(e.ack, e.ts) {
                estimators[peer].sample(r);
                let est = estimators[peer];
                rtt.push(RttPoint {
                    t,
                    data_from: role(c, peer),
                    rtt_ms: r,
                    srtt_ms: est.srtt_ms,
                    rto_ms: est.linux_rto_ms().unwrap_or(LINUX_RTO_FLOOR_MS),
                });
            }
        }
    }
    let mut states = Vec::new();
    for side in [c.client, c.server()] {
        for tr in &c.ends[side].transitions {
            states.push(StateMark {
                role: role(c, side),
                state: tr.to.name(),
                frame: tr.frame,
                t: tr.ts.secs_since(c.first_ts),
                inferred: tr.inferred,
            });
        }
    }
    let bytes = |s: Side| c.dirs[s].stats.payload_bytes;
    let data_side = if bytes(c.server()) > bytes(c.client) {
        c.server()
    } else {
        c.client
    };
    Some(ConnGraph {
        id: c.id,
        client: c.addrs[c.client].to_string(),
        server: c.addrs[c.server()].to_string(),
        start: c.first_ts.display(digits).to_string(),
        duration_s: c.last_ts.secs_since(c.first_ts),
        segments,
        data_from: role(c, data_side),
        initial_states: [
            (Role::Client, c.ends[c.client].initial.name()),
            (Role::Server, c.ends[c.server()].initial.name()),
        ],
        states,
        rtt,
        rto_floor_ms: LINUX_RTO_FLOOR_MS,
        rfc_rto_floor_ms: RFC_RTO_FLOOR_MS,
    })
}

/// The `n` connections with the most anomalies (ties: the lower id), in that order.
pub fn most_anomalous(conns: &[&Connection], n: usize) -> Vec<u32> {
    let mut ranked: Vec<(usize, u32)> = conns
        .iter()
        .map(|c| (c.events.anomaly_count(), c.id))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().take(n).map(|(_, id)| id).collect()
}

/// Read the capture again and record the timelines of connections `ids` of `a`, which was read
/// without them. Only segments of those connections' 4-tuples reach a tracker, so the pass costs
/// little more than reading and decoding; incarnations are matched by their first frame, and
/// take the id and roles the first pass gave them.
pub fn record_timelines(
    inputs: &[Input],
    time_wait_s: f64,
    a: &Audit,
    ids: &[u32],
) -> Result<Vec<Box<Connection>>, CaptureError> {
    let wanted: Vec<&Connection> = a
        .connections
        .iter()
        .map(|c| &**c)
        .filter(|c| ids.contains(&c.id))
        .collect();
    // A few 4-tuples: compared in place, cheaper per segment than hashing two addresses.
    let mut keys: Vec<[SocketAddr; 2]> = wanted.iter().map(|c| c.addrs).collect();
    keys.sort_unstable();
    keys.dedup();
    // Most segments are turned away by their ports alone: one bit per port in use.
    let mut ports = vec![0u64; 1024];
    for k in &keys {
        for a in k {
            ports[usize::from(a.port() >> 6)] |= 1 << (a.port() & 63);
        }
    }
    let port_wanted = |p: u16| ports[usize::from(p >> 6)] & (1 << (p & 63)) != 0;
    let wanted_segment = |src: SocketAddr, dst: SocketAddr| {
        port_wanted(src.port())
            && port_wanted(dst.port())
            && keys
                .iter()
                .any(|&[a, b]| (src == a && dst == b) || (src == b && dst == a))
    };
    let mut tracker = Tracker::new(TimelineSelect::All, time_wait_s).with_options(a.track);
    let mut found: Vec<Box<Connection>> = Vec::new();
    let take = |c: Box<Connection>, found: &mut Vec<Box<Connection>>| {
        if let Some(first) = wanted
            .iter()
            .find(|w| w.first_frame == c.first_frame && w.addrs == c.addrs && w.vlan == c.vlan)
        {
            let mut c = c;
            c.id = first.id;
            c.client = first.client;
            c.role_rule = first.role_rule;
            found.push(c);
        }
    };
    if !keys.is_empty() {
        read_captures(inputs, &mut |frame| {
            if let Ok(seg) = decode(frame)
                && wanted_segment(seg.src, seg.dst)
            {
                tracker.on_segment(&seg, frame.ts, frame.number);
                for c in tracker.drain_finished() {
                    take(c, &mut found);
                }
            }
            ControlFlow::Continue(())
        })?;
    }
    for c in tracker.finish_boxed(a.last_ts.unwrap_or_default()) {
        take(c, &mut found);
    }
    found.sort_by_key(|c| ids.iter().position(|&i| i == c.id));
    Ok(found)
}

/// TIME_WAIT sockets held over the capture: per server endpoint (as the TIME_WAIT report names
/// them) and per host, at most `limit` of each, with the exact peak.
pub fn time_wait_data(a: &Audit, limit: usize) -> TimeWaitData {
    let start = a.first_ts.unwrap_or_default();
    let end = a.last_ts.unwrap_or_default();
    let mut by_endpoint: BTreeMap<SocketAddr, Vec<(Timestamp, Option<Timestamp>)>> =
        BTreeMap::new();
    for c in &a.connections {
        for side in 0..2 {
            let tr = &c.ends[side].transitions;
            if let Some(entry) = tr.iter().find(|t| t.to == State::TimeWait) {
                // Still held at the end of the capture: no exit.
                let exit = tr
                    .iter()
                    .find(|t| t.from == State::TimeWait)
                    .map(|t| t.ts.max(entry.ts));
                by_endpoint
                    .entry(c.addrs[side])
                    .or_default()
                    .push((entry.ts, exit));
            }
        }
    }
    let mut series = Vec::new();
    let servers = a
        .time_wait
        .by_endpoint
        .iter()
        .filter(|e| e.role == "server" && e.entered > 0)
        .take(limit);
    for e in servers {
        if let Some(iv) = by_endpoint.get(&e.endpoint) {
            series.push(held(format!("server {}", e.endpoint), iv, start));
        }
    }
    let mut by_host: BTreeMap<IpAddr, Vec<(Timestamp, Option<Timestamp>)>> = BTreeMap::new();
    for (ep, iv) in &by_endpoint {
        by_host.entry(ep.ip()).or_default().extend(iv);
    }
    let mut hosts: Vec<HeldSeries> = by_host
        .iter()
        .map(|(ip, iv)| held(format!("host {ip}"), iv, start))
        .collect();
    hosts.sort_by(|x, y| y.peak.cmp(&x.peak).then(x.label.cmp(&y.label)));
    series.extend(hosts.into_iter().take(limit));
    TimeWaitData {
        duration_s: a.time_wait.duration_s,
        span_s: end.secs_since(start),
        series,
    }
}

/// Sockets held as a step function; a socket leaving and one entering at the same instant do
/// not count twice (as the TIME_WAIT report's peak).
fn held(
    label: String,
    intervals: &[(Timestamp, Option<Timestamp>)],
    start: Timestamp,
) -> HeldSeries {
    let mut points: Vec<(Timestamp, i32)> = Vec::with_capacity(intervals.len() * 2);
    for &(s, e) in intervals {
        points.push((s, 1));
        if let Some(e) = e {
            points.push((e, -1));
        }
    }
    points.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    let mut steps: Vec<(f64, u32)> = vec![(0.0, 0)];
    let (mut n, mut peak, mut peak_t) = (0i32, 0u32, 0.0f64);
    for (ts, d) in points {
        n += d;
        let t = ts.secs_since(start);
        let v = n.max(0) as u32;
        match steps.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => steps.push((t, v)),
        }
        if v > peak {
            peak = v;
            peak_t = t;
        }
    }
    HeldSeries {
        label,
        steps,
        peak,
        peak_t,
    }
}
