//! Structure-aware input: the fuzzer's bytes are read (with `arbitrary`) as a [`Scenario`], a
//! list of TCP segments on a few flows, which is written as a valid pcap or pcapng file. A
//! mutation then changes a flag, a sequence offset, a length or a time step, never the file
//! header, so it reaches the state machine and the classifier.
//!
//! Sequence and acknowledgment numbers are chosen relative to each side's ISN (set near the
//! 2^32 wrap) or as "the next one", so ordinary progress is one choice away and odd numbers
//! (old, far ahead, 2^31 away) are a few mutations away.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Arbitrary, Unstructured};

use crate::common::{Endian, Link, Pcap, PcapNg, Tcp, TsResol};

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Format {
    Pcap {
        endian: bool,
        nanos: bool,
    },
    PcapNg {
        endian: bool,
        tsresol: u8,
        tsoffset: i16,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum LinkChoice {
    Ethernet,
    Dot1Q,
    QinQ,
    Sll,
    Sll2,
    Null,
    Loop,
    Raw,
    IpVersioned,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SeqChoice {
    /// Where the sender is: its ISN plus everything it sent so far.
    Next,
    /// ISN + offset.
    Rel(i16),
    /// Anywhere on the circle.
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AckChoice {
    /// What the peer has sent so far (the usual ACK).
    Next,
    Rel(i16),
    Raw(u32),
}

/// The time from the previous segment.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Step {
    /// Microseconds forward.
    Micros(u16),
    /// Milliseconds forward.
    Millis(u16),
    /// Seconds forward (TIME_WAIT expiry, RTOs).
    Secs(u8),
    /// Milliseconds backward: a clock that steps back.
    Back(u16),
    /// Years forward: a clock that jumps.
    Years(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Seg {
    /// Which of the flows (modulo their number).
    pub flow: u8,
    pub from_server: bool,
    /// The raw TCP flag byte (all eight bits).
    pub flags: u8,
    pub seq: SeqChoice,
    pub ack: AckChoice,
    pub len: u8,
    pub window: u16,
    /// Bits: 0 MSS, 1 window scale, 2 SACK-permitted, 3 timestamps, 4-6 SACK blocks.
    pub options: u8,
    pub wscale: u8,
    pub step: Step,
}

#[derive(Arbitrary, Debug)]
pub struct Scenario {
    pub format: Format,
    pub link: LinkChoice,
    pub ipv6: bool,
    /// 1 to 4 flows; flows 2 and 3 reuse flow 0's 4-tuple and flow 1's server, so
    /// incarnations and port patterns are reachable.
    pub flows: u8,
    pub isn: [u32; 2],
    pub segs: Vec<Seg>,
}

const START_SECS: u64 = 1_700_000_000;

impl Scenario {
    pub fn from_bytes(data: &[u8]) -> Option<Scenario> {
        Scenario::arbitrary_take_rest(Unstructured::new(data)).ok()
    }

    fn link(&self) -> Link {
        match self.link {
            LinkChoice::Ethernet => Link::Ethernet,
            LinkChoice::Dot1Q => Link::Dot1Q(7),
            LinkChoice::QinQ => Link::QinQ(100, 7),
            LinkChoice::Sll => Link::Sll,
            LinkChoice::Sll2 => Link::Sll2,
            LinkChoice::Null => Link::Null {
                af6: 30,
                host: Endian::Little,
            },
            LinkChoice::Loop => Link::Loop,
            LinkChoice::Raw => Link::Raw,
            LinkChoice::IpVersioned => Link::IpVersioned,
        }
    }

    fn addrs(&self, flow: usize) -> (SocketAddr, SocketAddr) {
        let host = |n: u8| -> IpAddr {
            if self.ipv6 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
            } else {
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
            }
        };
        // Flow 2 is flow 0 again (a new incarnation if it starts with a SYN); flow 3 is a
        // second client port towards flow 1's server.
        let (client, port, server, sport) = match flow {
            0 | 2 => (1, 40_000, 10, 80),
            1 => (2, 50_000, 11, 443),
            _ => (2, 50_001, 11, 443),
        };
        (
            SocketAddr::new(host(client), port),
            SocketAddr::new(host(server), sport),
        )
    }

    /// The capture file this scenario describes.
    pub fn to_capture(&self) -> Vec<u8> {
        let flows = usize::from(self.flows % 4) + 1;
        let link = self.link();
        // Sent so far, per flow and side (sequence space, SYN and FIN included).
        let mut sent = vec![[0u32; 2]; flows];
        let isn = |flow: usize, side: usize| {
            self.isn[side].wrapping_add((flow as u32).wrapping_mul(0x1000_0000))
        };
        let mut t_ns: i64 = (START_SECS * 1_000_000_000) as i64;
        let mut frames: Vec<(i64, Vec<u8>)> = Vec::with_capacity(self.segs.len());
        for seg in self.segs.iter().take(512) {
            let flow = usize::from(seg.flow) % flows;
            let side = usize::from(seg.from_server);
            let (client, server) = self.addrs(flow);
            let (src, dst) = if seg.from_server {
                (server, client)
            } else {
                (client, server)
            };
            let base = isn(flow, side);
            let seq = match seg.seq {
                SeqChoice::Next => base.wrapping_add(sent[flow][side]),
                SeqChoice::Rel(d) => base.wrapping_add(d as i32 as u32),
                SeqChoice::Raw(n) => n,
            };
            let peer = isn(flow, 1 - side);
            let ack = match seg.ack {
                AckChoice::Next => peer.wrapping_add(sent[flow][1 - side]),
                AckChoice::Rel(d) => peer.wrapping_add(d as i32 as u32),
                AckChoice::Raw(n) => n,
            };
            let len = u32::from(seg.len);
            let syn_fin = u32::from(seg.flags & 0x02 != 0) + u32::from(seg.flags & 0x01 != 0);
            let end = seq.wrapping_add(len + syn_fin).wrapping_sub(base);
            if end < 0x8000_0000 && end > sent[flow][side] {
                sent[flow][side] = end;
            }
            let tcp = Tcp::new(src, dst, seg.flags)
                .seq(seq)
                .ack(ack)
                .window(seg.window)
                .options(options(seg, sent[flow][1 - side], peer))
                .payload(seg.len as usize);
            t_ns = match seg.step {
                Step::Micros(us) => t_ns + i64::from(us) * 1_000,
                Step::Millis(ms) => t_ns + i64::from(ms) * 1_000_000,
                Step::Secs(s) => t_ns + i64::from(s) * 1_000_000_000,
                Step::Back(ms) => t_ns - i64::from(ms) * 1_000_000,
                Step::Years(y) => t_ns + i64::from(y % 64) * 31_557_600 * 1_000_000_000,
            };
            frames.push((t_ns, tcp.frame(link)));
        }
        self.write(link, frames)
    }

    fn write(&self, link: Link, frames: Vec<(i64, Vec<u8>)>) -> Vec<u8> {
        let dlt = link.dlt(self.ipv6);
        match self.format {
            Format::Pcap { endian, nanos } => {
                let mut p = Pcap::new(endian_of(endian), nanos, dlt);
                for (t, frame) in frames {
                    // A legacy pcap holds 32-bit unsigned seconds.
                    let t = t.clamp(0, i64::from(u32::MAX) * 1_000_000_000) as u64;
                    let t = if nanos { t } else { t - t % 1_000 };
                    p.packet(t, &frame);
                }
                p.into_bytes()
            }
            Format::PcapNg {
                endian,
                tsresol,
                tsoffset,
            } => {
                let mut ng = PcapNg::new(endian_of(endian));
                // Decimal 10^-0..10^-9 or binary 2^-0..2^-31.
                let resol = if tsresol & 0x80 != 0 {
                    TsResol::Binary(tsresol & 0x1f)
                } else {
                    TsResol::Decimal(tsresol % 10)
                };
                let units_per_sec: u128 = match resol {
                    TsResol::Binary(k) => 1u128 << k,
                    TsResol::Decimal(k) => 10u128.pow(u32::from(k)),
                };
                let offset = i64::from(tsoffset);
                let iface = ng.interface(dlt as u16, Some(resol), Some(offset));
                for (t, frame) in frames {
                    let t = (t - offset * 1_000_000_000).max(0) as u128;
                    let units = (t * units_per_sec / 1_000_000_000).min(u128::from(u64::MAX));
                    ng.epb_packet(iface, units as u64, &frame);
                }
                ng.into_bytes()
            }
        }
    }
}

fn endian_of(big: bool) -> Endian {
    if big { Endian::Big } else { Endian::Little }
}

/// The option bytes `seg` asks for, at most 40: SACK blocks are dropped first when they do not
/// fit. SACK blocks lie in what the peer sent (`peer_sent` bytes after `peer_isn`).
fn options(seg: &Seg, peer_sent: u32, peer_isn: u32) -> Vec<u8> {
    let o = seg.options;
    let mut b = Vec::new();
    if o & 1 != 0 {
        b.extend_from_slice(&[2, 4, 0x05, 0xb4]);
    }
    if o & 2 != 0 {
        b.extend_from_slice(&[1, 3, 3, seg.wscale]);
    }
    if o & 4 != 0 {
        b.extend_from_slice(&[4, 2]);
    }
    if o & 8 != 0 {
        b.extend_from_slice(&[8, 10]);
        b.extend_from_slice(&u32::from(seg.window).to_be_bytes());
        b.extend_from_slice(&u32::from(seg.len).to_be_bytes());
    }
    let blocks = usize::from((o >> 4) & 7).min(4);
    let room = 40usize.saturating_sub(b.len() + 2) / 8;
    let blocks = blocks.min(room);
    if blocks > 0 {
        b.extend_from_slice(&[5, 2 + 8 * blocks as u8]);
        for i in 0..blocks as u32 {
            let left = peer_isn
                .wrapping_add(peer_sent / (i + 2))
                .wrapping_add(u32::from(seg.window) % 1000);
            let right = left.wrapping_add(u32::from(seg.len).max(1) * (i + 1));
            b.extend_from_slice(&left.to_be_bytes());
            b.extend_from_slice(&right.to_be_bytes());
        }
    }
    b
}
