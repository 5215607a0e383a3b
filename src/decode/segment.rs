//! The decoded TCP segment: a plain value, separate from any connection (smoltcp's `TcpRepr`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::seq::SeqNumber;

#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// tcpdump's notation: `S`, `S.`, `P.`, `F.`, `R`, `.` for a bare ACK.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut any = false;
        for (bit, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::PSH, 'P'),
            (Self::RST, 'R'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if self.ack() {
            write!(f, ".")?;
        } else if !any {
            write!(f, "none")?;
        }
        Ok(())
    }
}

/// A SACK block `[left, right)` (RFC 2018).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SackBlock {
    pub left: SeqNumber,
    pub right: SeqNumber,
}

/// The TCP options this tool reads. Fixed size: decoding allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
    pub sack: [SackBlock; 4],
    pub sack_count: u8,
    /// The option bytes were cut by the snaplen or ended in a malformed option.
    pub incomplete: bool,
}

impl TcpOptions {
    pub const NONE: TcpOptions = TcpOptions {
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        sack: [SackBlock {
            left: SeqNumber(0),
            right: SeqNumber(0),
        }; 4],
        sack_count: 0,
        incomplete: false,
    };

    pub fn sack_blocks(&self) -> &[SackBlock] {
        &self.sack[..usize::from(self.sack_count)]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    /// The raw window field; scaling is applied by the connection, which knows the handshake.
    pub window: u16,
    /// Payload length from the IP length fields, not from the captured bytes.
    pub payload_len: u32,
    pub options: TcpOptions,
    /// 802.1Q / 802.1ad VLAN IDs, outer then inner; 0 where there is no tag.
    pub vlan: [u16; 2],
}

impl Segment {
    /// A segment to decode into (see `decode::decode_into`).
    pub const EMPTY: Segment = Segment {
        src: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        dst: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        seq: SeqNumber(0),
        ack: SeqNumber(0),
        flags: TcpFlags(0),
        window: 0,
        payload_len: 0,
        options: TcpOptions::NONE,
        vlan: [0, 0],
    };

    /// Sequence space the segment occupies: SYN and FIN count one each (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload_len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// First sequence number after this segment.
    pub fn end(&self) -> SeqNumber {
        self.seq + self.seg_len()
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "[{self}]")
    }
}
