//! Test support: captures built in memory, so every odd format the product must read is covered
//! without binary fixtures.
//!
//! - [`Pcap`]: legacy pcap in either byte order, with the microsecond or nanosecond magic.
//! - [`PcapNg`]: pcapng sections (either byte order), interfaces with `if_tsresol` (10^-k or
//!   2^-k) and `if_tsoffset`, enhanced packet blocks naming an interface, simple packet blocks.
//! - [`gzip`]: a gzip member of a byte buffer.
//! - [`Tcp`] and friends: TCP over IPv4/IPv6 with correct IP length fields, wrapped in one of the
//!   [`Link`] layers; ARP, UDP and IPv4-fragment frames for the frames that are not TCP segments.
//! - [`TempPath`]: a uniquely named file (or directory) under `std::env::temp_dir()`, removed on drop.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

// ---------------------------------------------------------------------------------------------
// Byte order
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    pub fn u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    pub fn i64(self, v: i64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy pcap
// ---------------------------------------------------------------------------------------------

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A legacy pcap file: the 24-byte header, then records.
pub struct Pcap {
    endian: Endian,
    nanos: bool,
    bytes: Vec<u8>,
}

impl Pcap {
    /// `nanos` selects the nanosecond magic (0xa1b23c4d) instead of the microsecond one (0xa1b2c3d4).
    pub fn new(endian: Endian, nanos: bool, linktype: u32) -> Pcap {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&endian.u32(magic));
        bytes.extend_from_slice(&endian.u16(2)); // version 2.4
        bytes.extend_from_slice(&endian.u16(4));
        bytes.extend_from_slice(&endian.u32(0)); // thiszone
        bytes.extend_from_slice(&endian.u32(0)); // sigfigs
        bytes.extend_from_slice(&endian.u32(262_144)); // snaplen
        bytes.extend_from_slice(&endian.u32(linktype));
        Pcap {
            endian,
            nanos,
            bytes,
        }
    }

    /// A record header alone (for damaged files): `ts_ns` is nanoseconds since the epoch and must
    /// be a whole number of microseconds in a microsecond file.
    pub fn record_header(&mut self, ts_ns: u64, caplen: u32, orig_len: u32) {
        let secs = ts_ns / NANOS_PER_SEC;
        let mut frac = ts_ns % NANOS_PER_SEC;
        if !self.nanos {
            assert_eq!(frac % 1000, 0, "a µs pcap cannot hold {ts_ns} ns");
            frac /= 1000;
        }
        let e = self.endian;
        self.bytes.extend_from_slice(&e.u32(secs as u32));
        self.bytes.extend_from_slice(&e.u32(frac as u32));
        self.bytes.extend_from_slice(&e.u32(caplen));
        self.bytes.extend_from_slice(&e.u32(orig_len));
    }

    /// One record holding `data` of a frame that was `orig_len` bytes on the wire.
    pub fn record(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) {
        self.record_header(ts_ns, data.len() as u32, orig_len);
        self.bytes.extend_from_slice(data);
    }

    /// A whole frame.
    pub fn packet(&mut self, ts_ns: u64, frame: &[u8]) {
        self.record(ts_ns, frame, frame.len() as u32);
    }

    /// A frame cut by a snaplen: at most `snaplen` bytes kept, the wire length recorded.
    pub fn packet_cut(&mut self, ts_ns: u64, frame: &[u8], snaplen: usize) {
        let kept = &frame[..frame.len().min(snaplen)];
        self.record(ts_ns, kept, frame.len() as u32);
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

// ---------------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------------

/// `if_tsresol`: units of 10^-k or 2^-k seconds.
#[derive(Clone, Copy, Debug)]
pub enum TsResol {
    Decimal(u8),
    Binary(u8),
}

impl TsResol {
    pub fn byte(self) -> u8 {
        match self {
            TsResol::Decimal(k) => k,
            TsResol::Binary(k) => 0x80 | k,
        }
    }
}

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
const OPT_ENDOFOPT: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

/// A pcapng file. Blocks are written in the byte order of the current section.
pub struct PcapNg {
    endian: Endian,
    bytes: Vec<u8>,
    interfaces: u32,
}

impl PcapNg {
    /// A file whose first section has the given byte order.
    pub fn new(endian: Endian) -> PcapNg {
        let mut ng = PcapNg {
            endian,
            bytes: Vec::new(),
            interfaces: 0,
        };
        ng.section(endian);
        ng
    }

    /// Start a new section: its interfaces are numbered from 0 again.
    pub fn section(&mut self, endian: Endian) {
        self.endian = endian;
        self.interfaces = 0;
        let mut body = Vec::new();
        body.extend_from_slice(&endian.u32(0x1a2b_3c4d)); // byte-order magic
        body.extend_from_slice(&endian.u16(1)); // version 1.0
        body.extend_from_slice(&endian.u16(0));
        body.extend_from_slice(&endian.i64(-1)); // section length not given
        self.block(SHB, &body);
    }

    /// Describe an interface; returns its id within the section.
    pub fn interface(
        &mut self,
        linktype: u16,
        tsresol: Option<TsResol>,
        tsoffset: Option<i64>,
    ) -> u32 {
        let e = self.endian;
        let mut body = Vec::new();
        body.extend_from_slice(&e.u16(linktype));
        body.extend_from_slice(&e.u16(0)); // reserved
        body.extend_from_slice(&e.u32(262_144)); // snaplen
        let mut options = Vec::new();
        if let Some(r) = tsresol {
            push_option(&mut options, e, IF_TSRESOL, &[r.byte()]);
        }
        if let Some(offset) = tsoffset {
            push_option(&mut options, e, IF_TSOFFSET, &e.i64(offset));
        }
        if !options.is_empty() {
            push_option(&mut options, e, OPT_ENDOFOPT, &[]);
            body.extend_from_slice(&options);
        }
        self.block(IDB, &body);
        self.interfaces += 1;
        self.interfaces - 1
    }

    /// An enhanced packet block on `if_id`; `units` is the timestamp in the interface's
    /// resolution (before its `if_tsoffset`).
    pub fn epb(&mut self, if_id: u32, units: u64, data: &[u8], orig_len: u32) {
        let e = self.endian;
        let mut body = Vec::new();
        body.extend_from_slice(&e.u32(if_id));
        body.extend_from_slice(&e.u32((units >> 32) as u32));
        body.extend_from_slice(&e.u32(units as u32));
        body.extend_from_slice(&e.u32(data.len() as u32));
        body.extend_from_slice(&e.u32(orig_len));
        body.extend_from_slice(data);
        pad4(&mut body);
        self.block(EPB, &body);
    }

    /// A whole frame in an enhanced packet block.
    pub fn epb_packet(&mut self, if_id: u32, units: u64, frame: &[u8]) {
        self.epb(if_id, units, frame, frame.len() as u32);
    }

    /// A frame cut by a snaplen, in an enhanced packet block.
    pub fn epb_cut(&mut self, if_id: u32, units: u64, frame: &[u8], snaplen: usize) {
        let kept = &frame[..frame.len().min(snaplen)];
        self.epb(if_id, units, kept, frame.len() as u32);
    }

    /// A simple packet block (interface 0, no timestamp) holding a whole frame.
    pub fn spb(&mut self, frame: &[u8]) {
        let e = self.endian;
        let mut body = Vec::new();
        body.extend_from_slice(&e.u32(frame.len() as u32));
        body.extend_from_slice(frame);
        pad4(&mut body);
        self.block(SPB, &body);
    }

    fn block(&mut self, block_type: u32, body: &[u8]) {
        assert_eq!(body.len() % 4, 0, "pcapng block bodies are 32-bit aligned");
        let e = self.endian;
        let total = (body.len() + 12) as u32;
        self.bytes.extend_from_slice(&e.u32(block_type));
        self.bytes.extend_from_slice(&e.u32(total));
        self.bytes.extend_from_slice(body);
        self.bytes.extend_from_slice(&e.u32(total));
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn push_option(out: &mut Vec<u8>, e: Endian, code: u16, value: &[u8]) {
    out.extend_from_slice(&e.u16(code));
    out.extend_from_slice(&e.u16(value.len() as u16));
    out.extend_from_slice(value);
    pad4(out);
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

// ---------------------------------------------------------------------------------------------
// gzip
// ---------------------------------------------------------------------------------------------

/// One gzip member holding `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

// ---------------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------------

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// One TCP segment. The payload is `payload_len` bytes of a counting pattern.
#[derive(Clone, Debug)]
pub struct Tcp {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Raw option bytes; padded with EOL to a multiple of 4 when the header is built.
    pub options: Vec<u8>,
    pub payload_len: usize,
}

impl Tcp {
    pub fn new(src: SocketAddr, dst: SocketAddr, flags: u8) -> Tcp {
        Tcp {
            src,
            dst,
            seq: 0,
            ack: 0,
            flags,
            window: 65_535,
            options: Vec::new(),
            payload_len: 0,
        }
    }

    pub fn seq(mut self, seq: u32) -> Tcp {
        self.seq = seq;
        self
    }

    pub fn ack(mut self, ack: u32) -> Tcp {
        self.ack = ack;
        self
    }

    pub fn window(mut self, window: u16) -> Tcp {
        self.window = window;
        self
    }

    pub fn options(mut self, options: Vec<u8>) -> Tcp {
        self.options = options;
        self
    }

    pub fn payload(mut self, len: usize) -> Tcp {
        self.payload_len = len;
        self
    }

    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The TCP header with its options, then the payload.
    pub fn segment(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        pad4(&mut options);
        let header_len = 20 + options.len();
        assert!(header_len <= 60, "TCP options too long");
        let mut t = Vec::with_capacity(header_len + self.payload_len);
        t.extend_from_slice(&self.src.port().to_be_bytes());
        t.extend_from_slice(&self.dst.port().to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push(((header_len / 4) as u8) << 4);
        t.push(self.flags);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]); // checksum (not checked), urgent pointer
        t.extend_from_slice(&options);
        t.extend((0..self.payload_len).map(|i| i as u8));
        t
    }

    /// The IP packet (IPv4 or IPv6, after the addresses) carrying the segment.
    pub fn ip(&self) -> Vec<u8> {
        ip_packet(self.src.ip(), self.dst.ip(), IPPROTO_TCP, &self.segment())
    }

    /// The whole frame on `link`.
    pub fn frame(&self, link: Link) -> Vec<u8> {
        link.wrap(&self.ip())
    }
}

/// SYN options as Linux sends them without timestamps: MSS, NOP, window scale, NOP, NOP, SACK-permitted.
pub fn syn_options(mss: u16, wscale: u8) -> Vec<u8> {
    let [hi, lo] = mss.to_be_bytes();
    vec![2, 4, hi, lo, 1, 3, 3, wscale, 1, 1, 4, 2]
}

/// An IPv4 header (checksum computed) followed by `payload`.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    id: u16,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    assert!(total <= 65_535);
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, protocol, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 header (no extension headers) followed by `payload`.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 65_535);
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next_header, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// An IP packet of either family (both addresses must be of the same family).
pub fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, protocol, 0x1234, 0x4000, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, protocol, payload),
        _ => panic!("mixed address families: {src} -> {dst}"),
    }
}

/// A UDP datagram in an IP packet (UDP checksum 0).
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload_len: usize) -> Vec<u8> {
    let len = 8 + payload_len;
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&src.port().to_be_bytes());
    u.extend_from_slice(&dst.port().to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..payload_len).map(|i| i as u8));
    ip_packet(src.ip(), dst.ip(), IPPROTO_UDP, &u)
}

/// An IPv4 fragment of a TCP packet: `offset` in bytes (a multiple of 8), `more` the MF flag;
/// `payload` is this fragment's share of the original IP payload.
pub fn ipv4_fragment(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "fragment offsets are in units of 8 bytes");
    let frag = (offset / 8) | if more { 0x2000 } else { 0 };
    ipv4(src, dst, IPPROTO_TCP, 0x4242, frag, payload)
}

/// An Ethernet ARP request (who-has `target` tell `sender`), padded to 60 bytes.
pub fn arp_frame(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut a = Vec::with_capacity(28);
    a.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet/IPv4, request
    a.extend_from_slice(&SRC_MAC);
    a.extend_from_slice(&sender.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target.octets());
    ethernet(&[0xff; 6], &[], ETHERTYPE_ARP, &a)
}

pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// An Ethernet II frame: MACs, `tags` (each a TPID and TCI), EtherType, payload; padded to the
/// 60-byte minimum as NICs do (the FCS is not captured).
pub fn ethernet(dst: &[u8; 6], tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + 4 * tags.len() + payload.len());
    f.extend_from_slice(dst);
    f.extend_from_slice(&SRC_MAC);
    for &(tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// A link layer around an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// DLT_EN10MB.
    Ethernet,
    /// Ethernet with one 802.1Q tag (VLAN id).
    Dot1Q(u16),
    /// Ethernet with an 802.1ad service tag (0x88a8) and an 802.1Q customer tag (0x8100).
    QinQ(u16, u16),
    /// DLT_LINUX_SLL (113): 16-byte cooked header, protocol last.
    Sll,
    /// DLT_LINUX_SLL2 (276): 20-byte cooked header, protocol first.
    Sll2,
    /// DLT_NULL (0): a 4-byte address family in the capturing host's byte order; `af6` is the
    /// value used for IPv6 (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
    Null { af6: u32, host: Endian },
    /// DLT_LOOP (108): the address family in network byte order (OpenBSD: IPv6 is 24).
    Loop,
    /// DLT_RAW (101): the IP packet alone.
    Raw,
    /// DLT_IPV4 (228) or DLT_IPV6 (229), chosen by the packet's version.
    IpVersioned,
}

impl Link {
    /// The link type number of a capture holding `ipv6` (or IPv4) packets on this link.
    pub fn dlt(self, ipv6: bool) -> u32 {
        match self {
            Link::Ethernet | Link::Dot1Q(_) | Link::QinQ(..) => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Null { .. } => 0,
            Link::Loop => 108,
            Link::Raw => 101,
            Link::IpVersioned if ipv6 => 229,
            Link::IpVersioned => 228,
        }
    }

    /// The frame carrying `ip` (an IPv4 or IPv6 packet, told apart by its version nibble).
    pub fn wrap(self, ip: &[u8]) -> Vec<u8> {
        let v6 = ip[0] >> 4 == 6;
        let ether_type = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
        match self {
            Link::Ethernet => ethernet(&DST_MAC, &[], ether_type, ip),
            Link::Dot1Q(vid) => ethernet(&DST_MAC, &[(0x8100, vid)], ether_type, ip),
            Link::QinQ(outer, inner) => ethernet(
                &DST_MAC,
                &[(0x88a8, outer), (0x8100, inner)],
                ether_type,
                ip,
            ),
            Link::Sll => {
                let mut f = Vec::with_capacity(16 + ip.len());
                f.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend_from_slice(&6u16.to_be_bytes()); // address length
                f.extend_from_slice(&SRC_MAC);
                f.extend_from_slice(&[0, 0]); // address padding to 8 bytes
                f.extend_from_slice(&ether_type.to_be_bytes());
                f.extend_from_slice(ip);
                f
            }
            Link::Sll2 => {
                let mut f = Vec::with_capacity(20 + ip.len());
                f.extend_from_slice(&ether_type.to_be_bytes());
                f.extend_from_slice(&0u16.to_be_bytes()); // reserved
                f.extend_from_slice(&3u32.to_be_bytes()); // interface index
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.push(4); // packet type: outgoing
                f.push(6); // address length
                f.extend_from_slice(&SRC_MAC);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(ip);
                f
            }
            Link::Null { af6, host } => {
                let af = if v6 { af6 } else { 2 };
                let mut f = host.u32(af).to_vec();
                f.extend_from_slice(ip);
                f
            }
            Link::Loop => {
                let af: u32 = if v6 { 24 } else { 2 };
                let mut f = af.to_be_bytes().to_vec();
                f.extend_from_slice(ip);
                f
            }
            Link::Raw | Link::IpVersioned => ip.to_vec(),
        }
    }
}

fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------------------------
// Temporary files
// ---------------------------------------------------------------------------------------------

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique path under the system temp directory; whatever is there is removed on drop.
pub struct TempPath(PathBuf);

impl TempPath {
    /// A path that does not exist yet; `name` ends the file name (keep the extension you want).
    pub fn new(name: &str) -> TempPath {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file = format!("tcpflow-audit-test-{}-{n}-{name}", std::process::id());
        TempPath(std::env::temp_dir().join(file))
    }

    /// A file holding `bytes`.
    pub fn with_bytes(name: &str, bytes: &[u8]) -> TempPath {
        let t = TempPath::new(name);
        std::fs::write(&t.0, bytes).expect("write temp file");
        t
    }

    /// An empty directory.
    pub fn dir(name: &str) -> TempPath {
        let t = TempPath::new(name);
        std::fs::create_dir(&t.0).expect("create temp dir");
        t
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The binary and the kernel fixtures
// ---------------------------------------------------------------------------------------------

/// A kernel-recorded trace in `fixtures/kernel`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kernel")
        .join(name)
}

/// Run the binary with `args`; what it printed and how it exited.
#[allow(
    clippy::option_env_unwrap,
    reason = "only integration tests call it, and they have the binary; the fuzz crate shares this module without one"
)]
pub fn run(args: &[&str]) -> Output {
    let bin = option_env!("CARGO_BIN_EXE_tcpflow-audit").expect("run from an integration test");
    Command::new(bin).args(args).output().expect("run binary")
}

/// Every capture file (a name with `.pcap` in it) under `root`, sorted.
pub fn captures_under(root: PathBuf) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().contains(".pcap") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Every capture the byte-for-byte comparisons run over: the kernel fixtures and the shared
/// captures beside the repository (`../shared/captures`, which must be there), sorted.
pub fn all_captures() -> Vec<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = here.join("../shared/captures");
    assert!(shared.is_dir(), "{} is missing", shared.display());
    let mut files = captures_under(here.join("fixtures/kernel"));
    files.extend(captures_under(shared));
    files.sort();
    files
}

/// Run the binary with `args` and then `capture`: stdout, stderr and the exit code.
pub fn outcome(args: &[&str], capture: &Path) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let capture = capture.to_str().expect("a UTF-8 path");
    let o = run(&[args, &[capture]].concat());
    (o.stdout, o.stderr, o.status.code())
}
