//! Decoding: link layer → IP → TCP, into a [`Segment`] or a counted reason for skipping the frame.
//!
//! IP headers are sliced laxly with etherparse so that frames cut by a snaplen still decode; the
//! TCP payload length always comes from the IP length fields (SPEC.md §1), with the frame's
//! original length as the fallback where the IP header leaves it out (BIG TCP, TSO captures).

pub mod ip;
pub mod link;
pub mod segment;
pub mod tcp;

pub use tcp::parse_options;

use std::fmt;

use pcap_parser::Linktype;

use crate::capture::Frame;
use crate::decode::segment::Segment;

/// Why a frame is not a TCP segment. Each frame gets exactly one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SkipReason {
    UnsupportedLinkType(i32),
    /// A pcapng packet naming an interface that was never described.
    BadInterface,
    NonIp(u16),
    NonTcp(u8),
    /// IP fragments are counted, not reassembled.
    IpFragment,
    /// Cut by the snaplen before the end of the 20-byte TCP header.
    Truncated,
    Malformed(&'static str),
}

impl SkipReason {
    /// The key used in the JSON `skipped` object.
    pub fn key(self) -> &'static str {
        match self {
            SkipReason::UnsupportedLinkType(_) => "unsupported_link_type",
            SkipReason::BadInterface => "bad_interface",
            SkipReason::NonIp(_) => "non_ip",
            SkipReason::NonTcp(_) => "non_tcp",
            SkipReason::IpFragment => "ip_fragment",
            SkipReason::Truncated => "truncated",
            SkipReason::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            SkipReason::UnsupportedLinkType(lt) => match Linktype(lt).to_string() {
                name if name != lt.to_string() => write!(f, "link type {lt} ({name})"),
                _ => write!(f, "link type {lt}"),
            },
            SkipReason::BadInterface => write!(f, "undescribed pcapng interface"),
            SkipReason::NonIp(et) => write!(f, "{}", ether_type_name(et)),
            SkipReason::NonTcp(p) => write!(f, "{}", ip_protocol_name(p)),
            SkipReason::IpFragment => write!(f, "IP fragment"),
            SkipReason::Truncated => write!(f, "TCP header cut by the snaplen"),
            SkipReason::Malformed(what) => write!(f, "{what}"),
        }
    }
}

pub(crate) fn ether_type_name(et: u16) -> String {
    match et {
        0x0806 => "ARP".into(),
        0x8035 => "RARP".into(),
        0x88cc => "LLDP".into(),
        0x8847 | 0x8848 => "MPLS".into(),
        0x8863 | 0x8864 => "PPPoE".into(),
        0x0000..=0x05ff => "802.3 LLC".into(),
        _ => format!("ethertype 0x{et:04x}"),
    }
}

pub(crate) fn ip_protocol_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        17 => "UDP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        _ => format!("IP protocol {p}"),
    }
}

pub type Decoded = Result<Segment, SkipReason>;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// GTP-U carries user IP packets over UDP (3GPP TS 29.281); one level is opened.
pub(crate) const GTP_U_PORT: u16 = 2152;

pub fn decode(frame: &Frame) -> Decoded {
    let mut seg = Segment::EMPTY;
    decode_into(frame, &mut seg)?;
    Ok(seg)
}

/// [`decode`] into the caller's segment, which the hot path reuses frame after frame.
pub fn decode_into(frame: &Frame, seg: &mut Segment) -> Result<(), SkipReason> {
    let Some(link) = frame.link_type else {
        return Err(SkipReason::BadInterface);
    };
    let (ip, vlan) = link::link_payload(link, frame.data)?;
    seg.vlan = vlan;
    ip::decode_ip_into(frame, ip, seg)
}

pub(crate) fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::segment::SackBlock;
    use crate::seq::SeqNumber;

    #[test]
    fn parse_options_never_panics_past_40_bytes() {
        // Two SACK options of four blocks each (68 bytes): more than a TCP header can hold.
        let mut b = Vec::new();
        for _ in 0..2 {
            b.extend([5u8, 34]);
            for i in 0..8u32 {
                b.extend((i * 100).to_be_bytes());
            }
        }
        let o = parse_options(&b);
        assert_eq!(o.sack_blocks().len(), 4);
        assert_eq!(o.sack_blocks()[3].right, SeqNumber(700));
        // And any bytes at all: no panic.
        for len in 0..=255u8 {
            let bytes: Vec<u8> = (0..300u16).map(|i| (i as u8).wrapping_mul(len)).collect();
            let _ = parse_options(&bytes);
        }
    }
    use crate::time::Timestamp;

    fn ipv4_tcp(total_len: u16, tcp_header: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p.extend_from_slice(tcp_header);
        p
    }

    fn tcp_header(data_offset_words: u8, flags: u8) -> Vec<u8> {
        let mut h = vec![
            0x1f,
            0x90,
            0x00,
            0x50,
            0xff,
            0xff,
            0xff,
            0xf0,
            0,
            0,
            0,
            1,
            data_offset_words << 4,
            flags,
            0xff,
            0xff,
            0,
            0,
            0,
            0,
        ];
        h.resize(usize::from(data_offset_words) * 4, 1); // NOP padding
        h
    }

    fn frame(data: &[u8], link: i32, orig_len: u32) -> Frame<'_> {
        Frame {
            number: 1,
            ts: Timestamp::ZERO,
            link_type: Some(Linktype(link)),
            data,
            orig_len,
            ts_digits: 6,
        }
    }

    #[test]
    fn payload_length_comes_from_ip_header_when_cut_by_snaplen() {
        let pkt = ipv4_tcp(20 + 20 + 1448, &tcp_header(5, 0x10));
        let f = frame(&pkt, 228, 1488);
        let seg = decode(&f).unwrap();
        assert_eq!(seg.payload_len, 1448);
        assert_eq!(seg.seq, SeqNumber(0xffff_fff0));
        assert_eq!(seg.src.port(), 8080);
    }

    #[test]
    fn ipv4_total_length_zero_uses_frame_length() {
        let pkt = ipv4_tcp(0, &tcp_header(5, 0x18));
        let f = frame(&pkt, 228, 80_040);
        assert_eq!(decode(&f).unwrap().payload_len, 80_000);
    }

    #[test]
    fn tcp_header_cut_is_truncated() {
        let pkt = ipv4_tcp(60, &tcp_header(5, 0x10)[..10]);
        assert_eq!(decode(&frame(&pkt, 228, 60)), Err(SkipReason::Truncated));
    }

    #[test]
    fn options_cut_by_snaplen_still_decode() {
        let mut h = tcp_header(8, 0x02);
        h[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        h[24..27].copy_from_slice(&[3, 3, 7]); // wscale 7
        let pkt = ipv4_tcp(20 + 32, &h[..28]);
        let seg = decode(&frame(&pkt, 228, 52)).unwrap();
        assert_eq!(seg.options.mss, Some(1460));
        assert_eq!(seg.options.window_scale, Some(7));
        assert!(seg.options.incomplete);
        assert_eq!(seg.payload_len, 0);
    }

    #[test]
    fn vlan_qinq_ethernet() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_tcp(40, &tcp_header(5, 0x10)));
        let len = f.len() as u32;
        assert!(decode(&frame(&f, 1, len)).is_ok());
    }

    #[test]
    fn non_ip_and_unknown_links_are_named() {
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 0]);
        assert_eq!(decode(&frame(&arp, 1, 16)), Err(SkipReason::NonIp(0x0806)));
        assert_eq!(
            decode(&frame(&arp, 105, 16)),
            Err(SkipReason::UnsupportedLinkType(105))
        );
        assert_eq!(SkipReason::NonIp(0x0806).to_string(), "ARP");
    }

    #[test]
    fn sack_and_timestamps() {
        let opts = [
            1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 9, 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20,
        ];
        let o = parse_options(&opts);
        assert_eq!(o.timestamps, Some((5, 9)));
        assert_eq!(
            o.sack_blocks(),
            &[SackBlock {
                left: SeqNumber(10),
                right: SeqNumber(20)
            }]
        );
        assert!(!o.incomplete);
        let bad = parse_options(&[2, 9, 0]);
        assert!(bad.incomplete);
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..80 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for link in [0, 1, 12, 101, 108, 113, 228, 229, 276] {
                let _ = decode(&frame(&data, link, len as u32));
            }
        }
    }
}
