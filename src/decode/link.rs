//! The link layer: Ethernet (802.1Q, 802.1ad and QinQ tags), MPLS label stacks, Linux cooked SLL
//! and SLL2, raw IP, BSD loopback; and one level of GTP-U tunnel inside UDP.

use pcap_parser::Linktype;

use crate::decode::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, GTP_U_PORT, SkipReason, be16};

const TOO_SHORT: SkipReason = SkipReason::Malformed("frame shorter than its link header");

/// Strip the link layer, returning the IP packet and the VLAN IDs (outer, inner; 0 where
/// untagged). With more than two tags the outermost two are kept.
#[inline]
pub(super) fn link_payload(link: Linktype, data: &[u8]) -> Result<(&[u8], [u16; 2]), SkipReason> {
    // Untagged Ethernet carrying IP, nearly every frame of most captures, inline.
    if link.0 == 1
        && let Some(&[a, b]) = data.get(12..14)
        && matches!(u16::from_be_bytes([a, b]), ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
    {
        return Ok((&data[14..], [0, 0]));
    }
    other_link_payload(link, data)
}

/// [`link_payload`] for every other frame.
fn other_link_payload(link: Linktype, data: &[u8]) -> Result<(&[u8], [u16; 2]), SkipReason> {
    match link.0 {
        // EN10MB, with 802.1Q / 802.1ad / QinQ tags
        1 => {
            let mut ether_type = be16(data, 12).ok_or(TOO_SHORT)?;
            let mut offset = 14;
            let mut vlan = [0u16; 2];
            let mut tags = 0;
            while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
                let tci = be16(data, offset).ok_or(TOO_SHORT)?;
                if tags < 2 {
                    vlan[tags] = tci & 0x0fff;
                }
                tags += 1;
                ether_type = be16(data, offset + 2).ok_or(TOO_SHORT)?;
                offset += 4;
            }
            Ok((by_ether_type(ether_type, &data[offset..])?, vlan))
        }
        // LINUX_SLL: the protocol is the last field of the 16-byte header.
        113 => untagged(by_ether_type(
            be16(data, 14).ok_or(TOO_SHORT)?,
            data.get(16..).ok_or(TOO_SHORT)?,
        )),
        // LINUX_SLL2: the protocol is the first field of the 20-byte header.
        276 => untagged(by_ether_type(
            be16(data, 0).ok_or(TOO_SHORT)?,
            data.get(20..).ok_or(TOO_SHORT)?,
        )),
        // NULL (host byte order) and LOOP (network byte order): a 4-byte address family.
        0 | 108 => {
            let family = data.get(..4).ok_or(TOO_SHORT)?;
            let af = if family[0] == 0 && family[1] == 0 {
                family[3]
            } else {
                family[0]
            };
            match af {
                2 | 10 | 24 | 28 | 30 => Ok((&data[4..], [0, 0])),
                _ => Err(SkipReason::NonIp(u16::from(af))),
            }
        }
        // RAW (101, and 12/14 on some BSDs), IPV4 (228), IPV6 (229)
        12 | 14 | 101 | 228 | 229 => Ok((data, [0, 0])),
        other => Err(SkipReason::UnsupportedLinkType(other)),
    }
}

fn untagged(r: Result<&[u8], SkipReason>) -> Result<(&[u8], [u16; 2]), SkipReason> {
    r.map(|ip| (ip, [0, 0]))
}

#[inline]
fn by_ether_type(ether_type: u16, payload: &[u8]) -> Result<&[u8], SkipReason> {
    match ether_type {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(payload),
        ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST => mpls_payload(ether_type, payload),
        other => Err(SkipReason::NonIp(other)),
    }
}

const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;

/// Below an MPLS label stack (RFC 3032): 4-byte entries up to the one with the bottom-of-stack
/// bit, then IPv4 or IPv6 by the first nibble. Anything else there (a pseudowire control word,
/// Ethernet over MPLS) is not IP.
fn mpls_payload(ether_type: u16, payload: &[u8]) -> Result<&[u8], SkipReason> {
    let mut offset = 0;
    loop {
        let entry = payload.get(offset..offset + 4).ok_or(TOO_SHORT)?;
        offset += 4;
        if entry[2] & 0x01 != 0 {
            break;
        }
    }
    let inner = &payload[offset..];
    match inner.first().map(|b| b >> 4) {
        Some(4 | 6) => Ok(inner),
        Some(_) => Err(SkipReason::NonIp(ether_type)),
        None => Err(TOO_SHORT),
    }
}
/// The IP packet inside a GTP-U G-PDU, if `udp` is one.
pub(super) fn gtp_u_payload(udp: &[u8]) -> Option<&[u8]> {
    let (sport, dport) = (be16(udp, 0)?, be16(udp, 2)?);
    if sport != GTP_U_PORT && dport != GTP_U_PORT {
        return None;
    }
    let gtp = udp.get(8..)?;
    let flags = *gtp.first()?;
    // Version 1, protocol type GTP, message type 255 (G-PDU).
    if flags >> 5 != 1 || flags & 0x10 == 0 || *gtp.get(1)? != 0xff {
        return None;
    }
    let mut offset = 8;
    if flags & 0x07 != 0 {
        let mut next_ext = *gtp.get(11)?;
        offset = 12;
        while next_ext != 0 {
            let units = usize::from(*gtp.get(offset)?);
            if units == 0 {
                return None;
            }
            offset += units * 4;
            next_ext = *gtp.get(offset - 1)?;
        }
    }
    let inner = gtp.get(offset..)?;
    matches!(inner.first()? >> 4, 4 | 6).then_some(inner)
}
