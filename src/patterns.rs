//! Capture-wide patterns the course notes warn about, reported once with the connections
//! involved: half-open connections piling up on a server port (SYN flood) and one host trying
//! many ports (scan).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use indexmap::IndexMap;

use crate::connection::Connection;
use crate::state::State;

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

pub fn find(connections: &[Connection]) -> Vec<Pattern> {
    let mut out = Vec::new();

    // SYN flood: the server answered (SYN_RECEIVED) but the handshake never completed.
    let mut half_open: IndexMap<SocketAddr, Vec<u32>> = IndexMap::new();
    for c in connections {
        let server = c.server();
        let stuck = c.ends[server].passed_through(State::SynReceived)
            && !c.ends[server].passed_through(State::Established);
        let unanswered_syn = c.conn_state() == "S0";
        if stuck || unanswered_syn {
            half_open.entry(c.addrs[server]).or_default().push(c.id);
        }
    }
    for (endpoint, ids) in half_open {
        if ids.len() >= FLOOD_MIN_HALF_OPEN {
            let clients: BTreeSet<IpAddr> = ids
                .iter()
                .map(|&id| {
                    connections[id as usize - 1].addrs[connections[id as usize - 1].client].ip()
                })
                .collect();
            out.push(Pattern {
                kind: "syn_flood",
                summary: format!(
                    "{} half-open connections to {endpoint} from {} source address(es): SYNs never completed (a SYN flood, or a listen queue that overflowed)",
                    ids.len(),
                    clients.len()
                ),
                connections: ids,
            });
        }
    }

    // Scan: one client address, many destination ports, refused or unanswered.
    // (client, target) -> (ports tried, refused, unanswered, connections)
    type Tries = (BTreeSet<u16>, u32, u32, Vec<u32>);
    let mut tries: IndexMap<(IpAddr, IpAddr), Tries> = IndexMap::new();
    for c in connections {
        let state = c.conn_state();
        if !matches!(
            state,
            "REJ" | "S0" | "RSTOS0" | "RSTR" | "RSTO" | "SF" | "S1"
        ) {
            continue;
        }
        let (client, server) = (c.addrs[c.client], c.addrs[c.server()]);
        let e = tries.entry((client.ip(), server.ip())).or_default();
        e.0.insert(server.port());
        match state {
            "REJ" => e.1 += 1,
            "S0" => e.2 += 1,
            _ => {}
        }
        e.3.push(c.id);
    }
    for ((client, target), (ports, refused, unanswered, ids)) in tries {
        let failed = refused + unanswered;
        if ports.len() >= SCAN_MIN_PORTS && failed as usize * 2 >= ids.len() {
            out.push(Pattern {
                kind: "port_scan",
                summary: format!(
                    "{client} tried {} ports on {target}: {refused} refused (RST), {unanswered} unanswered, {} answered",
                    ports.len(),
                    ids.len() as u32 - failed
                ),
                connections: ids,
            });
        }
    }
    out
}
