//! IPv4 (with options) and IPv6 (with extension headers): the TCP segment inside, its payload
//! length always from the IP length fields; fragments and other protocols are skipped.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, LaxIpSlice, LenSource};

use crate::capture::Frame;
use crate::decode::link::gtp_u_payload;
use crate::decode::segment::Segment;
use crate::decode::tcp::{decode_tcp, decode_tcp_into};
use crate::decode::{Decoded, SkipReason};

/// Decode the TCP segment inside `ip` into `seg`.
#[inline]
pub(super) fn decode_ip_into<'a>(
    frame: &Frame<'a>,
    ip: &'a [u8],
    seg: &mut Segment,
) -> Result<(), SkipReason> {
    if let Some(done) = plain_tcp(ip, seg) {
        return done;
    }
    *seg = via_etherparse(frame, ip, true)?;
    Ok(())
}

fn decode_ip<'a>(frame: &Frame<'a>, ip: &'a [u8], open_tunnels: bool) -> Decoded {
    let mut seg = Segment::EMPTY;
    if let Some(done) = plain_tcp(ip, &mut seg) {
        return done.map(|()| seg);
    }
    via_etherparse(frame, ip, open_tunnels)
}

/// Every IP packet etherparse can read, with options, extension headers and tunnels.
fn via_etherparse<'a>(frame: &Frame<'a>, ip: &'a [u8], open_tunnels: bool) -> Decoded {
    let (slice, _ext_err) =
        LaxIpSlice::from_slice(ip).map_err(|_| SkipReason::Malformed("bad IP header"))?;
    let payload = slice.payload();
    if payload.fragmented {
        return Err(SkipReason::IpFragment);
    }
    let (src_ip, dst_ip) = (slice.source_addr(), slice.destination_addr());
    if payload.ip_number == IpNumber::UDP {
        if open_tunnels && let Some(inner) = gtp_u_payload(payload.payload) {
            return decode_ip(frame, inner, false);
        }
        return Err(SkipReason::NonTcp(17));
    }
    if payload.ip_number != IpNumber::TCP {
        return Err(SkipReason::NonTcp(payload.ip_number.0));
    }

    // Length of the IP payload on the wire.
    let declared = if payload.incomplete {
        match &slice {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
                usize::from(h.total_len()).saturating_sub(h.slice().len() + auth)
            }
            LaxIpSlice::Ipv6(v6) => usize::from(v6.header().payload_length())
                .saturating_sub(v6.extensions().slice().len()),
        }
    } else if payload.len_source == LenSource::Slice {
        // The IP header gives no length (IPv4 total length 0, IPv6 jumbogram): use the frame's
        // original length.
        let offset = payload.payload.as_ptr() as usize - frame.data.as_ptr() as usize;
        (frame.orig_len as usize)
            .saturating_sub(offset)
            .max(payload.payload.len())
    } else {
        payload.payload.len()
    };
    decode_tcp(payload.payload, declared, src_ip, dst_ip)
}

/// The common case decoded directly: TCP right behind an IPv4 header without options or an IPv6
/// header without extensions, whose length field is set, not a fragment. Anything else (`None`)
/// goes through etherparse. Both read the payload length the same way: from the IP length
/// field, whether or not the snaplen cut the bytes.
#[inline]
fn plain_tcp(ip: &[u8], seg: &mut Segment) -> Option<Result<(), SkipReason>> {
    match *ip.first()? {
        0x45 if ip.len() >= 20 => {
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if ip[9] != 6 || total < 20 || frag != 0 {
                return None;
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            let t = &ip[20..total.min(ip.len())];
            Some(decode_tcp_into(t, total - 20, src.into(), dst.into(), seg))
        }
        b if b >> 4 == 6 && ip.len() >= 40 => {
            let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if ip[6] != 6 || payload == 0 {
                return None;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
            let t = &ip[40..(40 + payload).min(ip.len())];
            Some(decode_tcp_into(t, payload, src.into(), dst.into(), seg))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic bytes without a dependency.
    fn bytes(seed: &mut u64, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *seed ^= *seed >> 12;
                *seed ^= *seed << 25;
                *seed ^= *seed >> 27;
                (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn the_direct_path_agrees_with_etherparse() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut direct = 0;
        for i in 0..200_000 {
            let len = 20 + (i % 90);
            let mut ip = bytes(&mut seed, len);
            // Shapes the direct path takes, and near misses it must leave alone.
            match i % 4 {
                0 | 1 => {
                    ip[0] = 0x45;
                    ip[9] = if i % 7 == 0 { 17 } else { 6 };
                    let total = (len as u16).wrapping_add((i % 5) as u16 * 37) % 300;
                    ip[2..4].copy_from_slice(&total.to_be_bytes());
                    if i % 3 == 0 {
                        ip[6] &= 0x80;
                        ip[7] = 0;
                    }
                }
                2 if len >= 40 => {
                    ip[0] = 0x60 | (ip[0] & 0x0f);
                    ip[6] = if i % 5 == 0 { 0 } else { 6 };
                    let payload = ((len - 40) as u16).wrapping_add((i % 3) as u16 * 50);
                    ip[4..6].copy_from_slice(&payload.to_be_bytes());
                }
                _ => {}
            }
            let frame = Frame {
                number: 1,
                ts: crate::time::Timestamp::ZERO,
                link_type: None,
                data: &ip,
                orig_len: ip.len() as u32 + 40,
                ts_digits: 6,
            };
            let mut seg = Segment::EMPTY;
            if let Some(fast) = plain_tcp(&ip, &mut seg) {
                direct += 1;
                let fast = fast.map(|()| seg);
                assert_eq!(fast, via_etherparse(&frame, &ip, true), "{ip:02x?}");
            }
        }
        assert!(direct > 50_000, "the direct path was taken {direct} times");
    }
}
