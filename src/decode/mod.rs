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
    /// The same bytes as an earlier frame (see [`crate::dedup`]): not a new segment.
    Duplicate,
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
            SkipReason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            SkipReason::UnsupportedLinkType(lt) => match link_type_name(lt) {
                Some(name) => write!(f, "link type {lt} ({name})"),
                None => write!(f, "link type {lt}"),
            },
            SkipReason::BadInterface => write!(f, "undescribed pcapng interface"),
            SkipReason::NonIp(et) => write!(f, "{}", ether_type_name(et)),
            SkipReason::NonTcp(p) => write!(f, "{}", ip_protocol_name(p)),
            SkipReason::IpFragment => write!(f, "IP fragment"),
            SkipReason::Truncated => write!(f, "TCP header cut by the snaplen"),
            SkipReason::Malformed(what) => write!(f, "{what}"),
            SkipReason::Duplicate => write!(f, "repeats an earlier frame"),
        }
    }
}

/// The name libpcap gives a link type (`pcap_datalink_val_to_name`, the LINKTYPE_ list of
/// tcpdump.org without its prefix), for the types a capture is likely to hold.
pub fn link_type_name(lt: i32) -> Option<&'static str> {
    Some(match lt {
        0 => "NULL",
        1 => "EN10MB",
        6 => "IEEE802",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        50 => "PPP_SERIAL",
        51 => "PPP_ETHER",
        100 => "ATM_RFC1483",
        101 => "RAW",
        104 => "C_HDLC",
        105 => "IEEE802_11",
        107 => "FRELAY",
        108 => "LOOP",
        113 => "LINUX_SLL",
        114 => "LTALK",
        117 => "PFLOG",
        119 => "PRISM_HEADER",
        122 => "IP_OVER_FC",
        123 => "SUNATM",
        127 => "IEEE802_11_RADIO",
        129 => "ARCNET_LINUX",
        138 => "APPLE_IP_OVER_IEEE1394",
        139 => "MTP2_WITH_PHDR",
        140 => "MTP2",
        141 => "MTP3",
        142 => "SCCP",
        143 => "DOCSIS",
        144 => "LINUX_IRDA",
        147..=162 => "USER0..USER15",
        163 => "IEEE802_11_RADIO_AVS",
        166 => "PPP_PPPD",
        169 => "GPRS_LLC",
        177 => "LINUX_LAPD",
        187 => "BLUETOOTH_HCI_H4",
        189 => "USB_LINUX",
        192 => "PPI",
        195 => "IEEE802_15_4_WITHFCS",
        197 => "ERF",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        204 => "PPP_WITH_DIR",
        215 => "IEEE802_15_4_NONASK_PHY",
        220 => "USB_LINUX_MMAPPED",
        226 => "IPNET",
        227 => "CAN_SOCKETCAN",
        228 => "IPV4",
        229 => "IPV6",
        230 => "IEEE802_15_4_NOFCS",
        231 => "DBUS",
        239 => "NFLOG",
        240 => "NETANALYZER",
        241 => "NETANALYZER_TRANSPARENT",
        242 => "IPOIB",
        243 => "MPEG_2_TS",
        247 => "INFINIBAND",
        248 => "SCTP",
        249 => "USBPCAP",
        251 => "BLUETOOTH_LE_LL",
        252 => "WIRESHARK_UPPER_PDU",
        253 => "NETLINK",
        254 => "BLUETOOTH_LINUX_MONITOR",
        255 => "BLUETOOTH_BREDR_BB",
        256 => "BLUETOOTH_LE_LL_WITH_PHDR",
        258 => "PKTAP",
        259 => "EPON",
        266 => "USB_DARWIN",
        270 => "LORATAP",
        271 => "VSOCK",
        272 => "NORDIC_BLE",
        274 => "ETHERNET_MPACKET",
        276 => "LINUX_SLL2",
        279 => "EBHSCR",
        280 => "VPP_DISPATCH",
        281 => "DSA_TAG_BRCM",
        283 => "IEEE802_15_4_TAP",
        290 => "ETW",
        _ => return None,
    })
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
    decode_ip_of(frame, seg).map(|_| ())
}

/// [`decode_into`], also giving the frame's IP packet (what [`ip_packet`] gives), so the hot
/// path strips the link layer once. Inlined with the layers below it into the reader's loop:
/// their results then stay in registers, not written to the stack and read back (a read of
/// two halves stored apart, which the store buffer cannot forward).
#[inline]
pub fn decode_ip_of<'a>(frame: &Frame<'a>, seg: &mut Segment) -> Result<&'a [u8], SkipReason> {
    let Some(link) = frame.link_type else {
        return Err(SkipReason::BadInterface);
    };
    let (ip, vlan) = link::link_payload(link, frame.data)?;
    ip::decode_ip_into(frame, ip, seg)?;
    // After the IP layer, which may have replaced the whole segment (the etherparse path).
    seg.vlan = vlan;
    Ok(ip)
}

/// The TCP ports (source, destination) of a frame carrying TCP in a plain IPv4 or IPv6 header,
/// read without decoding the segment: a pass that wants a few connections turns the others
/// away with it. `None` for anything else (decode it to know).
pub fn tcp_ports(frame: &Frame) -> Option<(u16, u16)> {
    let (ip, _) = link::link_payload(frame.link_type?, frame.data).ok()?;
    let tcp = match *ip.first()? {
        0x45 if ip.len() >= 24 => {
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            (ip[9] == 6 && frag == 0).then(|| &ip[20..24])?
        }
        b if b >> 4 == 6 && ip.len() >= 44 => (ip[6] == 6).then(|| &ip[40..44])?,
        _ => return None,
    };
    Some((be16(tcp, 0)?, be16(tcp, 2)?))
}

/// The frame's IP packet (its link layer stripped), for comparing frames.
pub fn ip_packet<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    link::link_payload(frame.link_type?, frame.data)
        .ok()
        .map(|(ip, _vlan)| ip)
}

pub(crate) fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::segment::SackBlock;
    use crate::seq::SeqNumber;
    use pcap_parser::Linktype;

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
    fn tcp_ports_agree_with_decode_or_say_nothing() {
        let pkt = ipv4_tcp(40, &tcp_header(5, 0x10));
        let f = frame(&pkt, 228, 40);
        let seg = decode(&f).unwrap();
        assert_eq!(tcp_ports(&f), Some((seg.src.port(), seg.dst.port())));
        // Behind a VLAN tag, as decode sees it.
        let mut e = vec![0u8; 12];
        e.extend_from_slice(&[0x81, 0x00, 0, 7, 0x08, 0x00]);
        e.extend_from_slice(&pkt);
        let len = e.len() as u32;
        assert_eq!(tcp_ports(&frame(&e, 1, len)), Some((8080, 80)));
        // A fragment, UDP, IPv4 with options: left to decode.
        let mut frag = pkt.clone();
        frag[7] = 1;
        let mut udp = pkt.clone();
        udp[9] = 17;
        let mut opts = pkt.clone();
        opts[0] = 0x46;
        for p in [frag, udp, opts] {
            assert_eq!(tcp_ports(&frame(&p, 228, 40)), None);
        }
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
