//! `ip:port` written straight into the output. An IPv4 endpoint (nearly every one) is
//! formatted on the stack, as `SocketAddrV4`'s `Display` writes it, and handed to the serializer
//! as one string; `core::fmt` would write it in seven pieces, each escaped on its own. IPv6
//! endpoints (zero compression, an embedded IPv4 address, a scope id) keep `Display`.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

pub struct Addr(pub SocketAddr);

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            SocketAddr::V4(a) => {
                // "255.255.255.255:65535" is 21 bytes.
                let (mut buf, mut len) = ([0u8; 21], 0);
                for (i, o) in a.ip().octets().into_iter().enumerate() {
                    push_decimal(&mut buf, &mut len, u16::from(o));
                    buf[len] = if i < 3 { b'.' } else { b':' };
                    len += 1;
                }
                push_decimal(&mut buf, &mut len, a.port());
                s.serialize_str(std::str::from_utf8(&buf[..len]).expect("ASCII digits"))
            }
            SocketAddr::V6(_) => s.collect_str(&self.0),
        }
    }
}

/// `n` in decimal at `buf[*len..]`.
fn push_decimal(buf: &mut [u8; 21], len: &mut usize, n: u16) {
    let (mut digits, mut d, mut n) = ([0u8; 5], 0, n);
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in digits[..d].iter().rev() {
        buf[*len] = b;
        *len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_display_writes_it() {
        for a in [
            "0.0.0.0:0",
            "10.0.0.1:80",
            "255.255.255.255:65535",
            "192.168.100.9:8080",
            "[::1]:443",
            "[::ffff:10.1.2.3]:5",
            "[fe80::1%2]:22",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let want = serde_json::to_string(&a.to_string()).unwrap();
            assert_eq!(serde_json::to_string(&Addr(a)).unwrap(), want);
        }
        for o in [0u8, 1, 9, 10, 99, 100, 199, 255] {
            for port in [0u16, 7, 10, 999, 1000, 65535] {
                let a = SocketAddr::from(([o, 255 - o, o / 2, 3], port));
                assert_eq!(
                    serde_json::to_string(&Addr(a)).unwrap(),
                    serde_json::to_string(&a.to_string()).unwrap()
                );
            }
        }
    }
}
