//! The flow table's key: both endpoints of a 4-tuple, lower first, and the VLAN IDs, as plain
//! integers in 48 bytes. A `SocketAddr` pair is 64 bytes and hashes field by field through its
//! enum; this is built, compared and hashed in a few instructions, and a table of a million lone
//! SYNs is a quarter smaller.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One endpoint: the address in 16 bytes (an IPv4 address in the first four) and the port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct End {
    ip: [u8; 16],
    port: [u8; 2],
}

impl End {
    fn of(a: SocketAddr) -> End {
        let mut ip = [0u8; 16];
        match a.ip() {
            IpAddr::V4(v4) => ip[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => ip = v6.octets(),
        }
        End {
            ip,
            port: a.port().to_be_bytes(),
        }
    }

    fn addr(self, v6: bool) -> SocketAddr {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.ip))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                self.ip[0], self.ip[1], self.ip[2], self.ip[3],
            ))
        };
        SocketAddr::new(ip, u16::from_be_bytes(self.port))
    }
}

/// One endpoint as 19 bytes of plain data (a `SocketAddr` is 32): for the tables keyed by
/// endpoint that grow with a capture's sources (`crate::time_wait`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Endpoint {
    end: End,
    v6: bool,
}

impl Endpoint {
    pub fn of(a: SocketAddr) -> Endpoint {
        Endpoint {
            end: End::of(a),
            v6: a.is_ipv6(),
        }
    }

    pub fn addr(self) -> SocketAddr {
        self.end.addr(self.v6)
    }

    pub fn ip(self) -> IpAddr {
        self.addr().ip()
    }
}

/// An endpoint as integers: the address as a big-endian 128-bit number in two halves (an IPv4
/// address in the top 32 bits) and the port, ordered as [`End`]'s bytes are.
type Wide = ((u64, u64), u16);

fn wide(a: SocketAddr) -> Wide {
    let ip = match a.ip() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    (((ip >> 64) as u64, ip as u64), a.port())
}

fn addr_of(ip: (u64, u64), port: u16, v6: bool) -> SocketAddr {
    let ip = (u128::from(ip.0) << 64) | u128::from(ip.1);
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(ip))
    } else {
        IpAddr::V4(Ipv4Addr::from((ip >> 96) as u32))
    };
    SocketAddr::new(ip, port)
}

/// A 4-tuple, its endpoints in a fixed order whichever way a segment goes: plain integers,
/// built, compared and hashed in a few instructions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Pair {
    lo_ip: (u64, u64),
    hi_ip: (u64, u64),
    lo_port: u16,
    hi_port: u16,
    v6: bool,
}

impl Pair {
    pub fn new(a: SocketAddr, b: SocketAddr) -> Pair {
        let (wa, wb) = (wide(a), wide(b));
        let (lo, hi) = if wa <= wb { (wa, wb) } else { (wb, wa) };
        Pair {
            lo_ip: lo.0,
            hi_ip: hi.0,
            lo_port: lo.1,
            hi_port: hi.1,
            v6: a.is_ipv6(),
        }
    }

    /// The key's words for a hasher, with `extra` (16 bits each) beside the ports: an IPv4
    /// pair and its ports fill two words, so a keyed hasher mixes it once, where hashing field
    /// by field would take seven writes and a slice; an IPv6 pair takes five. Nothing is folded
    /// away, so keys that differ hash apart under every seed, and a crafted capture cannot
    /// collide them for all runs (`crate::fastmap`).
    fn hash_with<H: Hasher>(&self, extra: [u16; 2], h: &mut H) {
        let ports = (u64::from(self.lo_port) << 48)
            | (u64::from(self.hi_port) << 32)
            | (u64::from(extra[0]) << 16)
            | u64::from(extra[1]);
        if self.v6 {
            h.write_u64(self.lo_ip.0);
            h.write_u64(self.lo_ip.1);
            h.write_u64(self.hi_ip.0);
            h.write_u64(self.hi_ip.1);
        } else {
            // An IPv4 address is the top 32 bits of the first half; the rest is zero.
            h.write_u64(self.lo_ip.0 | (self.hi_ip.0 >> 32));
        }
        h.write_u64(ports);
    }

    /// The two endpoints, in the key's order.
    pub fn addrs(&self) -> (SocketAddr, SocketAddr) {
        (
            addr_of(self.lo_ip, self.lo_port, self.v6),
            addr_of(self.hi_ip, self.hi_port, self.v6),
        )
    }
}

impl Hash for Pair {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.hash_with([0, 0], h);
    }
}

/// A flow: the 4-tuple and the VLAN IDs (outer, inner; 0 when untagged).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct FlowKey {
    pub pair: Pair,
    pub vlan: [u16; 2],
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.pair.hash_with(self.vlan, h);
    }
}

impl FlowKey {
    pub fn new(a: SocketAddr, b: SocketAddr, vlan: [u16; 2]) -> FlowKey {
        FlowKey {
            pair: Pair::new(a, b),
            vlan,
        }
    }

    /// One of `n` slots for the flow table's recent places (`super::table`): the ports and
    /// the low bits of the addresses, so interleaved flows between two hosts, or from one
    /// client port to many servers, mostly fall in different slots.
    pub fn recent_slot(&self, n: usize) -> usize {
        let p = &self.pair;
        let ips = (p.lo_ip.0 >> 32) ^ (p.hi_ip.0 >> 32) ^ p.lo_ip.1 ^ p.hi_ip.1;
        let mix = u64::from(p.lo_port ^ p.hi_port) ^ ips;
        (mix as usize) % n
    }

    /// The same 4-tuple with other VLAN IDs.
    pub fn with_vlan(self, vlan: [u16; 2]) -> FlowKey {
        FlowKey { vlan, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_direction_is_one_key_and_the_addresses_come_back() {
        let pairs = [
            ("10.0.0.1:80", "10.0.0.2:40000"),
            ("[2001:db8::1]:443", "[2001:db8::2]:50000"),
            ("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:40000"),
            ("0.0.0.0:0", "255.255.255.255:65535"),
        ];
        for (a, b) in pairs {
            let (a, b): (SocketAddr, SocketAddr) = (a.parse().unwrap(), b.parse().unwrap());
            let k = FlowKey::new(a, b, [42, 7]);
            assert_eq!(k, FlowKey::new(b, a, [42, 7]));
            let (lo, hi) = k.pair.addrs();
            assert!((lo, hi) == (a, b) || (lo, hi) == (b, a), "{a} {b}");
            assert_ne!(k, k.with_vlan([0, 0]));
        }
        // An IPv4 address and the IPv6 address that maps it are not one endpoint.
        let v4 = FlowKey::new(
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:1".parse().unwrap(),
            [0, 0],
        );
        let v6 = FlowKey::new(
            "[::ffff:10.0.0.1]:80".parse().unwrap(),
            "[::ffff:10.0.0.2]:1".parse().unwrap(),
            [0, 0],
        );
        assert_ne!(v4, v6);
        assert_eq!(std::mem::size_of::<FlowKey>(), 48);
        assert_eq!(std::mem::size_of::<Endpoint>(), 19);
        for a in [
            "10.0.0.1:80",
            "[2001:db8::1]:443",
            "[::ffff:10.0.0.1]:80",
            "0.0.0.0:0",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(Endpoint::of(a).addr(), a);
            assert_eq!(Endpoint::of(a).ip(), a.ip());
        }
        let (v4, v6): (SocketAddr, SocketAddr) = (
            "10.0.0.1:80".parse().unwrap(),
            "[::ffff:10.0.0.1]:80".parse().unwrap(),
        );
        assert_ne!(Endpoint::of(v4), Endpoint::of(v6));
    }

    /// What a key gives a hasher, word by word.
    #[derive(Default)]
    struct Words(Vec<u64>);

    impl Hasher for Words {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _: &[u8]) {
            panic!("a key is hashed as whole words");
        }
        fn write_u64(&mut self, w: u64) {
            self.0.push(w);
        }
    }

    fn words(k: FlowKey) -> Vec<u64> {
        let mut h = Words::default();
        k.hash(&mut h);
        h.0
    }

    #[test]
    fn keys_that_differ_anywhere_give_the_hasher_different_words() {
        let base = ("10.0.0.1:80", "10.0.0.2:40000", [0, 0]);
        let variants = [
            base,
            ("10.0.0.3:80", "10.0.0.2:40000", [0, 0]),
            ("10.0.0.1:80", "10.0.0.4:40000", [0, 0]),
            ("10.0.0.1:81", "10.0.0.2:40000", [0, 0]),
            ("10.0.0.1:80", "10.0.0.2:40001", [0, 0]),
            ("10.0.0.1:80", "10.0.0.2:40000", [1, 0]),
            ("10.0.0.1:80", "10.0.0.2:40000", [0, 1]),
            ("255.255.255.255:65535", "0.0.0.0:0", [4095, 4095]),
            ("[2001:db8::1]:80", "[2001:db8::2]:40000", [0, 0]),
            ("[2001:db8::1]:80", "[2001:db8::3]:40000", [0, 0]),
            ("[2001:db8::1:1]:80", "[2001:db8::2]:40000", [0, 0]),
            ("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:40000", [0, 0]),
        ];
        let keys: Vec<FlowKey> = variants
            .iter()
            .map(|(a, b, v)| FlowKey::new(a.parse().unwrap(), b.parse().unwrap(), *v))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            // Either direction gives the same words.
            let (lo, hi) = a.pair.addrs();
            assert_eq!(words(*a), words(FlowKey::new(hi, lo, a.vlan)));
            for b in &keys[i + 1..] {
                assert_ne!(words(*a), words(*b), "{a:?} and {b:?}");
            }
        }
        assert_eq!(words(keys[0]).len(), 2, "an IPv4 key is two words");
    }
}
