//! TIME_WAIT accounting per endpoint (SPEC.md §6): who closes first, how many sockets each
//! endpoint holds in TIME_WAIT over time, 4-tuple reuse, and a diagnosis in plain words.

use crate::fastmap::{FastMap, Listed};
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};

use crate::conn::fsm::State;
use crate::conn::summary::Party;
use crate::conn::{Connection, Side, other};
use crate::time::Timestamp;
use crate::track::Endpoint;

mod diagnosis;

pub use diagnosis::{HOST_DIAGNOSIS_MIN_ENTRIES, group};
use diagnosis::{diagnose, diagnose_host};

/// Number of points in the held-over-time series.
pub const SERIES_POINTS: usize = 40;

#[derive(Clone, Debug)]
pub struct EndpointTimeWait {
    pub endpoint: SocketAddr,
    /// "server" or "client": the role it had in most of its connections.
    pub role: &'static str,
    pub connections: u32,
    pub closed_actively: u32,
    pub closed_passively: u32,
    pub entered: u32,
    pub peak: u32,
    pub peak_ts: Option<Timestamp>,
    pub held_at_end: u32,
    /// Connections whose 4-tuple was reused by a new SYN while this endpoint held it.
    pub reused: u32,
    pub reused_acceptable: u32,
    /// TIME_WAIT sockets held at the end of each of `SERIES_POINTS` equal slices of the capture.
    pub series: Vec<u32>,
    /// Distinct peer ports seen toward this endpoint (the client's ephemeral ports).
    pub peer_ports: u32,
    /// Shortest time between two connections from the same peer address and port.
    pub fastest_port_reuse_s: Option<f64>,
    pub diagnosis: Vec<String>,
}

/// TIME_WAIT summed over every port of one IP address: a client host that closes first holds
/// its TIME_WAIT sockets on hundreds of ephemeral ports, one short line each by endpoint.
#[derive(Clone, Debug)]
pub struct HostTimeWait {
    pub host: IpAddr,
    /// "server" or "client": the role it had in most of its connections.
    pub role: &'static str,
    /// Distinct ports it used.
    pub ports: u32,
    pub connections: u32,
    pub closed_actively: u32,
    pub entered: u32,
    /// The largest number of TIME_WAIT sockets it held at once, over all its ports.
    pub peak: u32,
    pub peak_ts: Option<Timestamp>,
    pub held_at_end: u32,
    /// TIME_WAIT entries per second, from its first entry to its last (over the capture when
    /// they were all at one instant).
    pub rate_per_s: f64,
    /// For a client: the server address:port it entered TIME_WAIT toward most, and how often.
    pub busiest_peer: Option<(SocketAddr, u32)>,
    pub diagnosis: Vec<String>,
}

/// Linux's default `net.ipv4.tcp_max_tw_buckets`: TIME_WAIT sockets a host keeps before it
/// destroys new ones at once ("TCP: time wait bucket table overflow").
pub const LINUX_MAX_TW_BUCKETS: u32 = 262_144;
/// Ports in Linux's default `net.ipv4.ip_local_port_range` (32768–60999): the connections one
/// client address can have toward one server address and port, TIME_WAIT included.
pub const LINUX_EPHEMERAL_PORTS: u32 = 28_232;

#[derive(Clone, Debug)]
pub struct TimeWaitReport {
    pub duration_s: f64,
    pub by_endpoint: Vec<EndpointTimeWait>,
    /// Hosts that closed actively or entered TIME_WAIT, most entries first.
    pub by_host: Vec<HostTimeWait>,
}

/// What one endpoint's connections add up to, gathered connection by connection.
struct Acc {
    /// The first connection (lowest id) and side it appeared as, to order endpoints the same
    /// way whatever order the connections finish in.
    first_seen: (u32, u8),
    server_roles: u32,
    connections: u32,
    closed_actively: u32,
    closed_passively: u32,
    peers: Peers,
    fastest_reuse: Option<f64>,
    /// What only an endpoint that held TIME_WAIT (or saw its 4-tuple reused) has; boxed, as
    /// most endpoints (a client port closed by the server, a flood's sources) never do.
    held: Option<Box<Held>>,
}

#[derive(Default)]
struct Held {
    entered: u32,
    reused: u32,
    reused_acceptable: u32,
    intervals: Vec<(Timestamp, Option<Timestamp>)>,
}

impl Acc {
    fn entered(&self) -> u32 {
        self.held.as_ref().map_or(0, |h| h.entered)
    }

    fn intervals(&self) -> &[(Timestamp, Option<Timestamp>)] {
        self.held.as_ref().map_or(&[], |h| &h.intervals)
    }

    fn held_mut(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Default::default)
    }
}

/// What an endpoint keeps of one peer: when it last opened a connection to the endpoint, and
/// how often the endpoint entered TIME_WAIT toward it (for a host's busiest destination). The
/// time is kept as two halves, so that the whole is 12 bytes at 4-byte alignment and a table
/// bucket with the 19-byte key is 32 bytes, as for the time alone; a server holding TIME_WAIT
/// toward a million clients' ports has a million of them.
#[derive(Clone, Copy, Debug)]
struct Met {
    last: [u32; 2],
    time_waits: u32,
}

impl Met {
    fn new(at: Timestamp) -> Met {
        let t = at.0 as u64;
        Met {
            last: [t as u32, (t >> 32) as u32],
            time_waits: 0,
        }
    }

    fn last(self) -> Timestamp {
        Timestamp((u64::from(self.last[1]) << 32 | u64::from(self.last[0])) as i64)
    }

    /// The peer came again at `at`; returns when it last came before.
    fn again(&mut self, at: Timestamp) -> Timestamp {
        let before = self.last();
        self.last = Met::new(at).last;
        before
    }
}

/// The peers an endpoint met. Most endpoints are a client's ephemeral port that meets one
/// server, so one peer is kept without a table.
enum Peers {
    One(Endpoint, Met),
    Many(Box<FastMap<Endpoint, Met>>),
}

impl Peers {
    fn new(peer: Endpoint, at: Timestamp) -> Peers {
        Peers::One(peer, Met::new(at))
    }

    /// Record a connection from `peer` at `at`; returns when that peer last came before.
    fn insert(&mut self, peer: Endpoint, at: Timestamp) -> Option<Timestamp> {
        match self {
            Peers::One(p, met) if *p == peer => Some(met.again(at)),
            Peers::One(p, met) => {
                let met = *met;
                *self = Peers::Many(Box::new(FastMap::from_iter([
                    (*p, met),
                    (peer, Met::new(at)),
                ])));
                None
            }
            Peers::Many(map) => match map.entry(peer) {
                Entry::Occupied(e) => Some(e.into_mut().again(at)),
                Entry::Vacant(e) => {
                    e.insert(Met::new(at));
                    None
                }
            },
        }
    }

    /// The endpoint entered TIME_WAIT toward `peer`, met in the same connection (so recorded).
    fn entered_time_wait_toward(&mut self, peer: Endpoint) {
        match self {
            Peers::One(p, met) if *p == peer => met.time_waits += 1,
            Peers::One(..) => {}
            Peers::Many(map) => {
                if let Some(met) = map.get_mut(&peer) {
                    met.time_waits += 1;
                }
            }
        }
    }

    /// The peers the endpoint entered TIME_WAIT toward, and how often.
    fn time_waits(&self) -> Box<dyn Iterator<Item = (SocketAddr, u32)> + '_> {
        let with = |(p, m): (&Endpoint, &Met)| (m.time_waits > 0).then(|| (p.addr(), m.time_waits));
        match self {
            Peers::One(p, m) => Box::new(with((p, m)).into_iter()),
            Peers::Many(map) => Box::new(map.iter().filter_map(with)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Peers::One(..) => 1,
            Peers::Many(map) => map.len(),
        }
    }
}

/// The TIME_WAIT report built up as connections finish, so the connections themselves need not
/// be kept. Incarnations of one 4-tuple finish in order, which the port-reuse gap relies on.
#[derive(Default)]
pub struct TimeWaitAccumulator {
    /// By endpoint, kept as 19 bytes: a flood's million sources are a million entries.
    acc: Listed<Endpoint, Acc>,
}

impl TimeWaitAccumulator {
    pub fn add(&mut self, c: &Connection) {
        let initiator = c.summary().close_initiator;
        for side in 0..2 {
            let peer = c.addrs[other(side)];
            let (a, new) = self
                .acc
                .get_or_insert_with(Endpoint::of(c.addrs[side]), || Acc {
                    first_seen: (c.id, side as u8),
                    server_roles: 0,
                    connections: 0,
                    closed_actively: 0,
                    closed_passively: 0,
                    peers: Peers::new(Endpoint::of(peer), c.first_ts),
                    fastest_reuse: None,
                    held: None,
                });
            if !new && let Some(prev) = a.peers.insert(Endpoint::of(peer), c.first_ts) {
                let gap = c.first_ts.secs_since(prev);
                a.fastest_reuse = Some(a.fastest_reuse.map_or(gap, |f: f64| f.min(gap)));
            }
            a.first_seen = a.first_seen.min((c.id, side as u8));
            a.connections += 1;
            if side != c.client {
                a.server_roles += 1;
            }
            match initiator {
                Some(Party::Both) => a.closed_actively += 1,
                Some(who) if who == Party::from(c.role(side)) => a.closed_actively += 1,
                Some(_) => a.closed_passively += 1,
                None => {}
            }
            if let Some(entered) = time_wait_entry(c, side) {
                let held = a.held_mut();
                held.entered += 1;
                held.intervals.push((entered, time_wait_exit(c, side)));
                a.peers.entered_time_wait_toward(Endpoint::of(peer));
            }
        }
        if let Some(reuse) = &c.reuse
            && let Some(a) = self.acc.get_mut(&Endpoint::of(reuse.holder_addr))
        {
            let held = a.held_mut();
            held.reused += 1;
            held.reused_acceptable += u32::from(reuse.acceptable);
        }
    }

    /// The report for a capture from `start` to `end` with a `duration_s` TIME_WAIT.
    pub fn report(mut self, duration_s: f64, start: Timestamp, end: Timestamp) -> TimeWaitReport {
        // An evicted connection's TIME_WAIT was settled as running its course; one that would
        // have outlasted the capture is held at its end.
        for h in self.acc.values_mut().filter_map(|a| a.held.as_mut()) {
            for (_, exit) in &mut h.intervals {
                if exit.is_some_and(|x| x > end) {
                    *exit = None;
                }
            }
        }
        let by_host = hosts(&self.acc, duration_s, start, end);
        let mut by_endpoint: Vec<((u32, u8), EndpointTimeWait)> = self
            .acc
            .iter()
            .filter(|(_, a)| a.entered() > 0 || a.closed_actively > 0)
            .map(|(endpoint, a)| {
                let (peak, peak_ts) = peak(a.intervals());
                let held_at_end = a
                    .intervals()
                    .iter()
                    .filter(|(_, exit)| exit.is_none())
                    .count() as u32;
                let mut e = EndpointTimeWait {
                    endpoint: endpoint.addr(),
                    role: role(a),
                    connections: a.connections,
                    closed_actively: a.closed_actively,
                    closed_passively: a.closed_passively,
                    entered: a.entered(),
                    peak,
                    peak_ts,
                    held_at_end,
                    reused: a.held.as_ref().map_or(0, |h| h.reused),
                    reused_acceptable: a.held.as_ref().map_or(0, |h| h.reused_acceptable),
                    series: series(a.intervals(), start, end),
                    peer_ports: a.peers.len() as u32,
                    fastest_port_reuse_s: a.fastest_reuse,
                    diagnosis: Vec::new(),
                };
                e.diagnosis = diagnose(&e, duration_s, entry_rate(a.intervals(), start, end));
                (a.first_seen, e)
            })
            .collect();
        by_endpoint.sort_by_key(|(first, e)| report_order(e.entered, e.closed_actively, *first));
        TimeWaitReport {
            duration_s,
            by_endpoint: by_endpoint.into_iter().map(|(_, e)| e).collect(),
            by_host,
        }
    }
}

/// The order endpoints and hosts are reported in: most TIME_WAIT entries first, then most
/// active closes, then the first seen.
fn report_order(
    entered: u32,
    closed_actively: u32,
    first_seen: (u32, u8),
) -> (Reverse<u32>, Reverse<u32>, (u32, u8)) {
    (Reverse(entered), Reverse(closed_actively), first_seen)
}

fn role(a: &Acc) -> &'static str {
    if a.server_roles * 2 >= a.connections && a.server_roles > 0 {
        "server"
    } else {
        "client"
    }
}

/// TIME_WAIT entries per second from the first entry to the last; over the whole capture when
/// they all fell at one instant; 0 without entries.
fn entry_rate(
    intervals: &[(Timestamp, Option<Timestamp>)],
    start: Timestamp,
    end: Timestamp,
) -> f64 {
    let n = intervals.len();
    let first = intervals.iter().map(|i| i.0).min();
    let last = intervals.iter().map(|i| i.0).max();
    let (Some(first), Some(last)) = (first, last) else {
        return 0.0;
    };
    // n entries span n-1 gaps.
    let span = last.secs_since(first);
    if n > 1 && span > 0.0 {
        (n - 1) as f64 / span
    } else {
        let whole = end.secs_since(start);
        if whole > 0.0 { n as f64 / whole } else { 0.0 }
    }
}

/// Every IP address that closed actively or entered TIME_WAIT, summed over its ports.
fn hosts(
    acc: &Listed<Endpoint, Acc>,
    duration_s: f64,
    start: Timestamp,
    end: Timestamp,
) -> Vec<HostTimeWait> {
    struct H {
        first_seen: (u32, u8),
        ports: u32,
        server_roles: u32,
        connections: u32,
        closed_actively: u32,
        entered: u32,
        intervals: Vec<(Timestamp, Option<Timestamp>)>,
        toward: Vec<(SocketAddr, u32)>,
    }
    // Only hosts with an endpoint that closed actively or entered TIME_WAIT are reported: sum
    // over those alone (a flood's million sources are neither).
    let mut by_ip: FastMap<IpAddr, Option<H>> = crate::fastmap::new();
    for (ep, a) in acc.iter() {
        if a.entered() > 0 || a.closed_actively > 0 {
            by_ip.insert(ep.ip(), None);
        }
    }
    for (ep, a) in acc.iter() {
        let Some(slot) = by_ip.get_mut(&ep.ip()) else {
            continue;
        };
        let h = slot.get_or_insert(H {
            first_seen: a.first_seen,
            ports: 0,
            server_roles: 0,
            connections: 0,
            closed_actively: 0,
            entered: 0,
            intervals: Vec::new(),
            toward: Vec::new(),
        });
        h.first_seen = h.first_seen.min(a.first_seen);
        h.ports += 1;
        h.server_roles += a.server_roles;
        h.connections += a.connections;
        h.closed_actively += a.closed_actively;
        h.entered += a.entered();
        h.intervals.extend_from_slice(a.intervals());
        h.toward.extend(a.peers.time_waits());
    }
    let mut out: Vec<((u32, u8), HostTimeWait)> = by_ip
        .into_iter()
        .filter_map(|(ip, h)| Some((ip, h?)))
        .filter(|(_, h)| h.entered > 0 || h.closed_actively > 0)
        .map(|(host, h)| {
            let (peak, peak_ts) = peak(&h.intervals);
            let role = if h.server_roles * 2 >= h.connections && h.server_roles > 0 {
                "server"
            } else {
                "client"
            };
            let busiest_peer = if role == "client" {
                let mut sums: FastMap<SocketAddr, u32> = crate::fastmap::new();
                for (p, n) in &h.toward {
                    *sums.entry(*p).or_default() += n;
                }
                sums.into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            } else {
                None
            };
            let mut t = HostTimeWait {
                host,
                role,
                ports: h.ports,
                connections: h.connections,
                closed_actively: h.closed_actively,
                entered: h.entered,
                peak,
                peak_ts,
                held_at_end: h.intervals.iter().filter(|i| i.1.is_none()).count() as u32,
                rate_per_s: entry_rate(&h.intervals, start, end),
                busiest_peer,
                diagnosis: Vec::new(),
            };
            t.diagnosis = diagnose_host(&t, duration_s);
            (h.first_seen, t)
        })
        .collect();
    out.sort_by_key(|(first, h)| report_order(h.entered, h.closed_actively, *first));
    out.into_iter().map(|(_, h)| h).collect()
}

/// The report over a whole list of connections at once.
pub fn analyse(
    connections: &[Connection],
    duration_s: f64,
    start: Timestamp,
    end: Timestamp,
) -> TimeWaitReport {
    let mut acc = TimeWaitAccumulator::default();
    for c in connections {
        acc.add(c);
    }
    acc.report(duration_s, start, end)
}

fn time_wait_entry(c: &Connection, side: Side) -> Option<Timestamp> {
    c.ends[side]
        .transitions
        .iter()
        .find(|t| t.to == State::TimeWait)
        .map(|t| t.ts)
}

/// When the endpoint left TIME_WAIT (expiry or reuse), `None` if still held at the end.
fn time_wait_exit(c: &Connection, side: Side) -> Option<Timestamp> {
    c.ends[side]
        .transitions
        .iter()
        .find(|t| t.from == State::TimeWait)
        .map(|t| t.ts)
}

/// Largest number of intervals open at once, and when it was first reached.
fn peak(intervals: &[(Timestamp, Option<Timestamp>)]) -> (u32, Option<Timestamp>) {
    let mut points: Vec<(Timestamp, i32)> = Vec::with_capacity(intervals.len() * 2);
    for &(start, exit) in intervals {
        points.push((start, 1));
        if let Some(exit) = exit {
            points.push((exit, -1));
        }
    }
    // Exits before entries at the same instant: a reused slot is not held twice.
    points.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut held, mut best, mut best_ts) = (0i32, 0i32, None);
    for (ts, delta) in points {
        held += delta;
        if held > best {
            best = held;
            best_ts = Some(ts);
        }
    }
    (best.max(0) as u32, best_ts)
}

fn series(
    intervals: &[(Timestamp, Option<Timestamp>)],
    start: Timestamp,
    end: Timestamp,
) -> Vec<u32> {
    let span = (i128::from(end.nanos()) - i128::from(start.nanos())).max(1);
    (1..=SERIES_POINTS)
        .map(|i| {
            let t = Timestamp(
                (i128::from(start.nanos()) + span * i as i128 / SERIES_POINTS as i128) as i64,
            );
            intervals
                .iter()
                .filter(|&&(s, e)| s <= t && e.is_none_or(|e| e > t))
                .count() as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_secs_nanos(s, 0)
    }

    #[test]
    fn an_endpoints_table_entry_is_its_key_and_place() {
        assert_eq!(std::mem::size_of::<(Endpoint, u32)>(), 24);
        assert_eq!(std::mem::size_of::<Acc>(), 80);
        assert_eq!(std::mem::size_of::<(Endpoint, Met)>(), 32);
    }

    #[test]
    fn a_peer_keeps_its_time_whole_and_counts_time_waits_toward_it() {
        for ns in [0, 1, -1, i64::MIN, i64::MAX, 1_700_000_000_123_456_789] {
            assert_eq!(Met::new(Timestamp(ns)).last(), Timestamp(ns));
        }
        let e = |s: &str| Endpoint::of(s.parse().unwrap());
        let (a, b, c) = (e("10.0.0.2:80"), e("10.0.0.3:80"), e("[2001:db8::1]:443"));
        let mut p = Peers::new(a, t(1));
        p.entered_time_wait_toward(a);
        assert_eq!(p.time_waits().collect::<Vec<_>>(), [(a.addr(), 1)]);
        p.insert(b, t(2));
        p.insert(c, t(3));
        p.entered_time_wait_toward(c);
        p.entered_time_wait_toward(c);
        p.entered_time_wait_toward(a);
        let mut tw: Vec<_> = p.time_waits().collect();
        tw.sort();
        assert_eq!(tw, [(a.addr(), 2), (c.addr(), 2)]);
        assert_eq!(p.insert(c, t(4)), Some(t(3)));
    }

    #[test]
    fn peak_counts_overlap_and_reuse_frees_first() {
        let iv = [(t(0), Some(t(60))), (t(10), Some(t(70))), (t(60), None)];
        assert_eq!(peak(&iv), (2, Some(t(10))));
        let held = [(t(0), None), (t(1), None), (t(2), None)];
        assert_eq!(peak(&held).0, 3);
        assert_eq!(peak(&[]), (0, None));
    }

    #[test]
    fn peers_remember_each_peers_last_connection() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.1:40001".parse().unwrap(),
        );
        let (a, b) = (Endpoint::of(a), Endpoint::of(b));
        let mut p = Peers::new(a, t(1));
        assert_eq!(p.insert(a, t(5)), Some(t(1)));
        assert!(matches!(p, Peers::One(_, met) if met.last() == t(5)));
        assert_eq!(p.insert(b, t(6)), None);
        assert_eq!(p.len(), 2);
        assert_eq!(p.insert(a, t(9)), Some(t(5)));
        assert_eq!(p.insert(b, t(10)), Some(t(6)));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn series_samples_held_sockets() {
        let iv = [(t(0), Some(t(50))), (t(0), None)];
        let s = series(&iv, t(0), t(100));
        assert_eq!(s.len(), SERIES_POINTS);
        assert_eq!(s[0], 2);
        assert_eq!(s[SERIES_POINTS - 1], 1);
    }
}
