//! Which connections to report: filters by host, port, network and id (combinable: every kind
//! given must match, any value within a kind may), anomalies only, and the top N by a count.

use std::net::IpAddr;

use crate::audit::Connections;
use crate::conn::Connection;
use crate::report::columns::{self, Field, Row, Scope};

#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub hosts: Vec<IpAddr>,
    pub ports: Vec<u16>,
    pub nets: Vec<(IpAddr, u8)>,
    pub ids: Vec<u32>,
    pub anomalies_only: bool,
    pub top: Option<(usize, TopKey)>,
}

/// What `--top` ranks by: a numeric field of the registry (a per-side count summed).
#[derive(Clone, Copy, Debug)]
pub struct TopKey(&'static Field);

impl PartialEq for TopKey {
    fn eq(&self, other: &TopKey) -> bool {
        self.0.name == other.0.name
    }
}

impl TopKey {
    pub fn parse(s: &str) -> Option<TopKey> {
        columns::field(s).filter(|f| !f.is_text()).map(TopKey)
    }

    fn value(self, c: &Connection) -> f64 {
        self.0
            .value(&Row::new(c), Scope::Both)
            .number()
            .unwrap_or(0.0)
    }
}

/// Parse `10.0.0.0/8` or `fd00::/64`.
pub fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn in_net(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Selection {
    pub fn matches(&self, c: &Connection) -> bool {
        let ips = [c.addrs[0].ip(), c.addrs[1].ip()];
        (self.hosts.is_empty() || ips.iter().any(|ip| self.hosts.contains(ip)))
            && (self.ports.is_empty() || c.addrs.iter().any(|a| self.ports.contains(&a.port())))
            && (self.nets.is_empty()
                || ips
                    .iter()
                    .any(|&ip| self.nets.iter().any(|&n| in_net(ip, n))))
            && (self.ids.is_empty() || self.ids.contains(&c.id))
            && (!self.anomalies_only || c.events.anomaly_count() > 0)
    }

    /// The connections of `conns` to report, as their places in it: those that match, in id
    /// order, or the top N by the key, most first (ties in id order). Each connection is read
    /// once, thawed only while it is read.
    pub fn apply(&self, conns: &Connections) -> Vec<usize> {
        let by_address = !(self.hosts.is_empty() && self.ports.is_empty() && self.nets.is_empty());
        if !by_address && self.ids.is_empty() && self.top.is_none() {
            // Known without reading any connection.
            return (0..conns.len())
                .filter(|&i| !self.anomalies_only || conns.anomalies(i) > 0)
                .collect();
        }
        let matching = conns.each().enumerate().filter(|(_, c)| self.matches(c));
        let Some((n, key)) = self.top else {
            return matching.map(|(i, _)| i).collect();
        };
        // Stable: ties keep the order of first appearance.
        let mut keyed: Vec<(f64, usize)> = matching.map(|(i, c)| (key.value(&c), i)).collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        keyed.truncate(n);
        keyed.into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = parse_net("10.200.0.0/16").unwrap();
        assert!(in_net("10.200.3.4".parse().unwrap(), n));
        assert!(!in_net("10.201.0.1".parse().unwrap(), n));
        assert!(in_net(
            "fd00::1".parse().unwrap(),
            parse_net("fd00::/64").unwrap()
        ));
        assert!(parse_net("10.0.0.0/33").is_none());
        assert!(in_net(
            "1.2.3.4".parse().unwrap(),
            parse_net("0.0.0.0/0").unwrap()
        ));
    }
}
