//! The one place the pictures read the analysis: a connection's sketch (what it kept while read,
//! [`crate::conn::sketch`]), its endpoints' transitions, the TIME_WAIT intervals, turned into the
//! plain values of [`crate::plot`]. Also the second pass that records the sketches of
//! connections chosen only once the capture has been read (by `--top`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::{ControlFlow, Deref};

use crate::analysis::rtt::{LINUX_RTO_FLOOR_MS, RFC_RTO_FLOOR_MS};
use crate::audit::{Audit, ConnRef};
use crate::capture::{CaptureError, Input, read_captures};
use crate::conn::fsm::State;
use crate::conn::sketch::{Lines, Row, draw_rank};
use crate::conn::{Connection, Side, other};
use crate::decode::segment::Segment;
use crate::decode::{decode_into, decode_ip_of, tcp_ports};
use crate::dedup::Dedup;
use crate::plot::{
    ConnGraph, HeldSeries, MarkPoint, Role, SegPoint, SideLines, StateMark, TimeWaitData,
};
use crate::time::Timestamp;
use crate::track::{SketchSelect, TimelineSelect, Tracker};

fn role(c: &Connection, side: Side) -> Role {
    if side == c.client {
        Role::Client
    } else {
        Role::Server
    }
}

fn seg_point(c: &Connection, r: &Row) -> SegPoint {
    SegPoint {
        frame: r.frame,
        t: r.t(),
        from: role(c, r.side()),
        seq: r.seq,
        seg_len: r.seg_len(),
        len: r.len,
        ack: r.ack(),
        window: r.window,
        flags: r.flags.0,
        marks: r.marks,
        class_label: r.class.label(),
    }
}

/// Side `s`'s slots as the plain series the pictures draw, each slot at its start.
fn side_lines(lines: &Lines, s: Side) -> SideLines {
    let (mine, peer) = (&lines.sides[s], &lines.sides[other(s)]);
    let secs = |t_ns: i64| t_ns as f64 / 1e9;
    let mut out = SideLines::default();
    for (t, v) in mine.sent.iter() {
        for (lo, hi) in v.bars.iter().flat_map(|b| b.bars()) {
            out.bars.push((secs(t), lo, hi));
        }
        if v.bytes > 0 {
            out.sent.push((secs(t), v.bytes));
        }
    }
    for (t, b) in mine.sack.iter() {
        out.sacks.extend(b.bars().map(|(lo, hi)| (secs(t), lo, hi)));
    }
    for (t, a) in mine.acks.iter() {
        out.acks.extend(a.ack.points().map(|v| (secs(t), v)));
        if let Some(w) = &a.window {
            out.windows.extend(w.points().map(|v| (secs(t), v)));
        }
    }
    // Its data acknowledged: by the peer's ACKs.
    for (t, a) in peer.acks.iter() {
        if a.bytes > 0 {
            out.acked.push((secs(t), a.bytes));
        }
    }
    for (t, r) in mine.rtt.iter() {
        out.rtt.extend(r.rtt.points().map(|v| (secs(t), v)));
        out.srtt.extend(r.srtt.points().map(|v| (secs(t), v)));
        out.rto.extend(r.rto.points().map(|v| (secs(t), v)));
        out.rtt_samples += u64::from(r.samples);
    }
    out
}

/// The pictures' view of a connection that kept a sketch; `None` without one.
pub fn conn_graph(c: &Connection, digits: u8) -> Option<ConnGraph> {
    let sketch = c.sketch.as_deref()?;
    let lines = sketch.lines();
    let (client, server) = (c.client, c.server());
    let marks = sketch
        .marks()
        .iter()
        .map(|m| MarkPoint {
            seg: seg_point(c, &m.row),
            kinds: m.kinds,
            dup_acks: m.dup_acks,
            last_frame: m.last_frame,
        })
        .collect();
    let rows = sketch
        .rows()
        .iter()
        .map(|(pos, r)| (*pos, seg_point(c, r)))
        .collect();
    let mut states = Vec::new();
    for side in [client, server] {
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
    let data_side = if bytes(server) > bytes(client) {
        server
    } else {
        client
    };
    Some(ConnGraph {
        id: c.id,
        client: c.addrs[client].to_string(),
        server: c.addrs[server].to_string(),
        start: c.first_ts.display(digits).to_string(),
        duration_s: c.last_ts.secs_since(c.first_ts),
        segment_count: sketch.segments(),
        lines: [side_lines(&lines, client), side_lines(&lines, server)],
        marks,
        rows,
        data_from: role(c, data_side),
        initial_states: [
            (Role::Client, c.ends[client].initial.name()),
            (Role::Server, c.ends[server].initial.name()),
        ],
        states,
        rto_floor_ms: LINUX_RTO_FLOOR_MS,
        rfc_rto_floor_ms: RFC_RTO_FLOOR_MS,
    })
}

/// The `n` connections with the most anomalies (ties: the lower id), in that order.
pub fn most_anomalous<C: Deref<Target = Connection>>(
    conns: impl Iterator<Item = C>,
    n: usize,
) -> Vec<u32> {
    let mut ranked: Vec<_> = conns.map(|c| draw_rank(&c)).collect();
    ranked.sort_unstable();
    ranked.into_iter().take(n).map(|(_, id)| id).collect()
}

/// Read the capture again and record the sketches of connections `ids` of `a`, which was read
/// without them. Only segments of those connections' 4-tuples reach a tracker, so the pass costs
/// little more than reading and decoding when they are a small part of the capture;
/// incarnations are matched by their first frame, and take the id and roles the first pass gave
/// them. (A host's tail loss probes found to be timeouts by another of its connections are
/// known only to the first pass: drawn from here, such a probe stays a probe.)
pub fn record_sketches(
    inputs: &[Input],
    time_wait_s: f64,
    a: &Audit,
    ids: &[u32],
) -> Result<Vec<Box<Connection>>, CaptureError> {
    let wanted: Vec<ConnRef> = (0..a.connections.len())
        .filter(|&i| ids.contains(&a.connections.id(i)))
        .map(|i| a.connections.read(i))
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
    let mut tracker = Tracker::new(TimelineSelect::None, time_wait_s)
        .with_options(a.track)
        .with_sketches(SketchSelect::All, None);
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
    // The frames the first reading left out as repeats are left out again: a capture that
    // holds none (the first reading counted them) is read without looking for them; one that
    // does is checked frame by frame as the first reading did, every frame decoded.
    let mut dedup = (a.capture.duplicate_frames > 0).then(Dedup::default);
    if !keys.is_empty() {
        let mut seg = Segment::EMPTY;
        read_captures(inputs, &mut |frame| {
            if let Some(dedup) = dedup.as_mut() {
                if frame.link_type.is_some() {
                    dedup.note_time(frame.number, frame.ts);
                }
                match decode_ip_of(frame, &mut seg) {
                    Ok(ip) if !dedup.is_duplicate(frame.number, frame.ts, ip) => {}
                    _ => return ControlFlow::Continue(()),
                }
            } else if tcp_ports(frame).is_some_and(|(a, b)| !port_wanted(a) || !port_wanted(b))
                || decode_into(frame, &mut seg).is_err()
            {
                // Turned away by their ports before the segment is decoded, most frames cost
                // little.
                return ControlFlow::Continue(());
            }
            if wanted_segment(seg.src, seg.dst) {
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
    for c in a.connections.each() {
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
