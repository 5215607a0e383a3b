//! The TCP header and the options this tool reads (MSS, window scale, SACK, timestamps).

use std::net::SocketAddr;

use crate::decode::segment::{SackBlock, Segment, TcpFlags, TcpOptions};
use crate::decode::{Decoded, SkipReason};
use crate::seq::SeqNumber;

pub(super) fn decode_tcp(
    t: &[u8],
    declared: usize,
    src_ip: std::net::IpAddr,
    dst_ip: std::net::IpAddr,
) -> Decoded {
    let mut seg = Segment::EMPTY;
    decode_tcp_into(t, declared, src_ip, dst_ip, &mut seg)?;
    Ok(seg)
}

/// [`decode_tcp`] into the caller's segment: the hot path moves no segment around.
#[inline]
pub(super) fn decode_tcp_into(
    t: &[u8],
    declared: usize,
    src_ip: std::net::IpAddr,
    dst_ip: std::net::IpAddr,
    seg: &mut Segment,
) -> Result<(), SkipReason> {
    if t.len() < 20 {
        return Err(if declared >= 20 {
            SkipReason::Truncated
        } else {
            SkipReason::Malformed("IP payload shorter than a TCP header")
        });
    }
    let header_len = usize::from(t[12] >> 4) * 4;
    if header_len < 20 {
        return Err(SkipReason::Malformed("TCP data offset below 5"));
    }
    if header_len > declared {
        return Err(SkipReason::Malformed(
            "TCP header longer than the IP payload",
        ));
    }
    let captured_options = &t[20..header_len.min(t.len())];
    options_into(captured_options, &mut seg.options);
    if header_len > t.len() {
        seg.options.incomplete = true;
    }
    seg.src = SocketAddr::new(src_ip, u16::from_be_bytes([t[0], t[1]]));
    seg.dst = SocketAddr::new(dst_ip, u16::from_be_bytes([t[2], t[3]]));
    seg.seq = SeqNumber(u32::from_be_bytes([t[4], t[5], t[6], t[7]]));
    seg.ack = SeqNumber(u32::from_be_bytes([t[8], t[9], t[10], t[11]]));
    seg.flags = TcpFlags(t[13]);
    seg.window = u16::from_be_bytes([t[14], t[15]]);
    seg.payload_len = (declared - header_len) as u32;
    Ok(())
}

/// [`parse_options`] into `o`, with the layouts nearly every segment carries read in place: no
/// options, and the timestamps alone as Linux and the BSDs send them (NOP, NOP, TS).
#[inline]
fn options_into(b: &[u8], o: &mut TcpOptions) {
    match *b {
        [] => *o = TcpOptions::NONE,
        [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] => {
            *o = TcpOptions::NONE;
            o.timestamps = Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            ));
        }
        _ => *o = parse_options(b),
    }
}

/// Parse the options this tool uses; stop quietly at the first malformed or cut option.
pub fn parse_options(mut b: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    while let Some(&kind) = b.first() {
        match kind {
            0 => break,
            1 => {
                b = &b[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(1) else {
            o.incomplete = true;
            break;
        };
        let len = usize::from(len);
        if len < 2 || len > b.len() {
            o.incomplete = true;
            break;
        }
        let body = &b[2..len];
        match (kind, body.len()) {
            (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => o.window_scale = Some(body[0]),
            (4, 0) => o.sack_permitted = true,
            (5, n) if n % 8 == 0 => {
                // At most four blocks fit in 40 option bytes, but a caller may pass more bytes,
                // and a segment may carry several SACK options: keep the first four blocks.
                let room = o.sack.len() - usize::from(o.sack_count);
                for chunk in body.chunks_exact(8).take(room) {
                    o.sack[usize::from(o.sack_count)] = SackBlock {
                        left: SeqNumber(u32::from_be_bytes([
                            chunk[0], chunk[1], chunk[2], chunk[3],
                        ])),
                        right: SeqNumber(u32::from_be_bytes([
                            chunk[4], chunk[5], chunk[6], chunk[7],
                        ])),
                    };
                    o.sack_count += 1;
                }
            }
            (8, 8) => {
                o.timestamps = Some((
                    u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                    u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                ))
            }
            _ => {}
        }
        b = &b[len..];
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layouts_read_in_place_agree_with_parse_options() {
        let ts = [1, 1, 8, 10, 0, 0, 0, 5, 0xff, 0, 0, 9];
        let mut cases: Vec<Vec<u8>> = vec![vec![], ts.to_vec(), ts[..11].to_vec()];
        // Near misses: another kind, length or order, a byte more.
        for at in 0..4 {
            let mut b = ts.to_vec();
            b[at] ^= 3;
            cases.push(b);
        }
        cases.push([&ts[..], &[0]].concat());
        for b in cases {
            let mut o = TcpOptions {
                mss: Some(1),
                sack_count: 2,
                incomplete: true,
                ..TcpOptions::NONE
            };
            options_into(&b, &mut o);
            assert_eq!(o, parse_options(&b), "{b:?}");
        }
    }
}
