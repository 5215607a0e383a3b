//! Capture-wide patterns the course notes warn about, reported once with the connections
//! involved: half-open connections piling up on a server port (SYN flood) and one host trying
//! many ports (scan).

use std::collections::BTreeSet;

use crate::fastmap::{FastMap, Listed};
use std::net::{IpAddr, SocketAddr};

use crate::conn::Connection;
use crate::conn::fsm::State;
use crate::conn::summary::Outcome;

/// Half-open connections on one server endpoint before we call it a flood.
pub const FLOOD_MIN_HALF_OPEN: usize = 20;
/// Distinct ports one host must try, mostly refused or unanswered, before we call it a scan.
pub const SCAN_MIN_PORTS: usize = 10;

#[derive(Clone, Debug)]
pub struct Pattern {
    /// "syn_flood" or "port_scan".
    pub kind: &'static str,
    pub summary: String,
    pub connections: Vec<u32>,
}

/// The connections one server endpoint left half-open, and their client addresses.
#[derive(Default)]
struct HalfOpen {
    ids: Vec<u32>,
    clients: BTreeSet<IpAddr>,
}

/// What one client address tried against one target address. Most clients (a flood's sources,
/// a browser's one server) try one port once: that port and id are kept in place, and only a
/// client that tries again allocates, once, for the rest. 24 bytes in place: a flood from a
/// million sources holds a million of these.
struct Tries {
    port: u16,
    refused: u32,
    unanswered: u32,
    first_id: u32,
    more: Option<Box<More>>,
}

/// A client's tries after its first: the distinct ports besides the first one's, and the ids.
#[derive(Default)]
struct More {
    ports: BTreeSet<u16>,
    ids: Vec<u32>,
}

impl Tries {
    fn new(port: u16, id: u32) -> Tries {
        Tries {
            port,
            refused: 0,
            unanswered: 0,
            first_id: id,
            more: None,
        }
    }

    fn add(&mut self, port: u16, id: u32) {
        let more = self.more.get_or_insert_with(Box::default);
        if port != self.port {
            more.ports.insert(port);
        }
        more.ids.push(id);
    }

    /// Distinct ports tried.
    fn ports(&self) -> usize {
        1 + self.more.as_ref().map_or(0, |m| m.ports.len())
    }

    fn connections(&self) -> usize {
        1 + self.more.as_ref().map_or(0, |m| m.ids.len())
    }

    /// Every id, in order.
    fn ids(&self) -> Vec<u32> {
        let mut ids = self
            .more
            .as_ref()
            .map(|m| m.ids.clone())
            .unwrap_or_default();
        ids.push(self.first_id);
        ids.sort_unstable();
        ids
    }
}

/// The patterns built up as connections finish, so the connections need not be kept. Only what
/// a pattern may report is stored: ids, ports and addresses.
#[derive(Default)]
pub struct PatternAccumulator {
    half_open: FastMap<SocketAddr, HalfOpen>,
    /// By client and target address (34 bytes): a flood's million sources are a million entries.
    tries: Listed<(IpAddr, IpAddr), Tries>,
}

impl PatternAccumulator {
    pub fn add(&mut self, c: &Connection) {
        let (client, server) = (c.addrs[c.client], c.addrs[c.server()]);
        // SYN flood: the server answered (SYN_RECEIVED) but the handshake never completed.
        let end = &c.ends[c.server()];
        let stuck =
            end.passed_through(State::SynReceived) && !end.passed_through(State::Established);
        let outcome = c.summary().outcome;
        if stuck || outcome == Outcome::S0 {
            let h = self.half_open.entry(server).or_default();
            h.ids.push(c.id);
            h.clients.insert(client.ip());
        }
        // Scan: one client address, many destination ports, refused or unanswered.
        if matches!(
            outcome,
            Outcome::Rej
                | Outcome::S0
                | Outcome::Rstos0
                | Outcome::Rstr
                | Outcome::Rsto
                | Outcome::SF
                | Outcome::S1
        ) {
            let (t, new) = self
                .tries
                .get_or_insert_with((client.ip(), server.ip()), || {
                    Tries::new(server.port(), c.id)
                });
            if !new {
                t.add(server.port(), c.id);
            }
            match outcome {
                Outcome::Rej => t.refused += 1,
                Outcome::S0 => t.unanswered += 1,
                _ => {}
            }
        }
    }

    /// The patterns found: floods, then scans, each in order of its first connection.
    pub fn finish(self) -> Vec<Pattern> {
        let mut floods: Vec<Pattern> = self
            .half_open
            .into_iter()
            .filter(|(_, h)| h.ids.len() >= FLOOD_MIN_HALF_OPEN)
            .map(|(endpoint, mut h)| {
                h.ids.sort_unstable();
                Pattern {
                    kind: "syn_flood",
                    summary: format!(
                        "{} half-open connections to {endpoint} from {} source address(es): SYNs never completed (a SYN flood, or a listen queue that overflowed)",
                        h.ids.len(),
                        h.clients.len()
                    ),
                    connections: h.ids,
                }
            })
            .collect();
        let mut scans: Vec<Pattern> = self
            .tries
            .iter()
            .filter(|(_, t)| {
                let failed = (t.refused + t.unanswered) as usize;
                t.ports() >= SCAN_MIN_PORTS && failed * 2 >= t.connections()
            })
            .map(|(&(client, target), t)| {
                let answered = t.connections() as u32 - t.refused - t.unanswered;
                Pattern {
                    kind: "port_scan",
                    summary: format!(
                        "{client} tried {} ports on {target}: {} refused (RST), {} unanswered, {answered} answered",
                        t.ports(),
                        t.refused,
                        t.unanswered
                    ),
                    connections: t.ids(),
                }
            })
            .collect();
        floods.sort_by_key(|p| p.connections.first().copied());
        scans.sort_by_key(|p| p.connections.first().copied());
        floods.extend(scans);
        floods
    }
}

/// The patterns over a whole list of connections at once.
pub fn find(connections: &[Connection]) -> Vec<Pattern> {
    let mut acc = PatternAccumulator::default();
    for c in connections {
        acc.add(c);
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood from a million sources holds a million of these: they stay small.
    #[test]
    fn a_client_that_tried_once_takes_24_bytes() {
        assert!(std::mem::size_of::<Tries>() <= 24);
    }

    #[test]
    fn tries_count_distinct_ports_and_every_connection() {
        let mut t = Tries::new(22, 7);
        assert_eq!((t.ports(), t.connections()), (1, 1));
        t.add(22, 3);
        t.add(23, 9);
        t.add(23, 11);
        assert_eq!((t.ports(), t.connections()), (2, 4));
        assert_eq!(t.ids(), [3, 7, 9, 11]);
    }
}
