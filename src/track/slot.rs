//! What the flow table holds for one 4-tuple: a whole [`Connection`], or, until a second segment
//! arrives, only the bare SYN that opened it. A SYN flood, a scan or a client whose SYNs are never
//! answered opens a connection per SYN; kept as the SYN's few fields (48 bytes) instead of a
//! connection of a few KiB, a million of them fit in a few hundred MB. The connection is built
//! from the SYN ([`Slot::conn`]) the moment anything else is needed of it, exactly as it would
//! have been built at once, so no output depends on the difference.

use std::net::SocketAddr;

use crate::conn::Connection;
use crate::conn::frozen::Frozen;
use crate::decode::segment::{Segment, TcpFlags, TcpOptions};
use crate::seq::SeqNumber;
use crate::time::Timestamp;
use crate::track::budget::Held;

/// A connection's first segment, a SYN without ACK, RST, FIN or SACK blocks: all it needs to
/// become the connection later.
#[derive(Clone, Copy, Debug)]
pub struct FirstSyn {
    pub id: u32,
    pub ts: Timestamp,
    pub frame: u64,
    seq: u32,
    ack: u32,
    payload_len: u32,
    tsval: u32,
    tsecr: u32,
    window: u16,
    mss: u16,
    flags: u8,
    window_scale: u8,
    bits: u8,
}

const FROM_LOWER: u8 = 1;
const HAS_MSS: u8 = 2;
const HAS_WS: u8 = 4;
const HAS_TS: u8 = 8;
const SACK_PERM: u8 = 16;
const INCOMPLETE: u8 = 32;

impl FirstSyn {
    /// `seg` as a [`FirstSyn`] of the flow whose lower endpoint is `lower`, when it is a SYN
    /// the compact form holds exactly.
    pub fn of(
        seg: &Segment,
        lower: SocketAddr,
        id: u32,
        ts: Timestamp,
        frame: u64,
    ) -> Option<Self> {
        let f = seg.flags;
        let bare = f.syn() && !f.ack() && !f.rst() && !f.fin();
        if !bare || seg.options.sack_count != 0 {
            return None;
        }
        let o = &seg.options;
        let mut bits = 0;
        let mut set = |on: bool, bit: u8| {
            if on {
                bits |= bit;
            }
        };
        set(seg.src == lower, FROM_LOWER);
        set(o.mss.is_some(), HAS_MSS);
        set(o.window_scale.is_some(), HAS_WS);
        set(o.timestamps.is_some(), HAS_TS);
        set(o.sack_permitted, SACK_PERM);
        set(o.incomplete, INCOMPLETE);
        let (tsval, tsecr) = o.timestamps.unwrap_or((0, 0));
        Some(FirstSyn {
            id,
            ts,
            frame,
            seq: seg.seq.0,
            ack: seg.ack.0,
            payload_len: seg.payload_len,
            tsval,
            tsecr,
            window: seg.window,
            mss: o.mss.unwrap_or(0),
            flags: f.0,
            window_scale: o.window_scale.unwrap_or(0),
            bits,
        })
    }

    /// The segment again, between the endpoints `lower` and `upper` of its flow key.
    pub fn segment(&self, lower: SocketAddr, upper: SocketAddr, vlan: [u16; 2]) -> Segment {
        let has = |bit: u8| self.bits & bit != 0;
        let (src, dst) = if has(FROM_LOWER) {
            (lower, upper)
        } else {
            (upper, lower)
        };
        Segment {
            src,
            dst,
            seq: SeqNumber(self.seq),
            ack: SeqNumber(self.ack),
            flags: TcpFlags(self.flags),
            window: self.window,
            payload_len: self.payload_len,
            options: TcpOptions {
                mss: has(HAS_MSS).then_some(self.mss),
                window_scale: has(HAS_WS).then_some(self.window_scale),
                sack_permitted: has(SACK_PERM),
                timestamps: has(HAS_TS).then_some((self.tsval, self.tsecr)),
                incomplete: has(INCOMPLETE),
                ..TcpOptions::NONE
            },
            vlan,
        }
    }
}

/// One entry of the flow table.
pub enum Slot {
    First(FirstSyn),
    Conn(Box<Connection>),
    /// A closed connection waiting out its linger, frozen (`crate::conn::frozen`).
    Frozen(Frozen),
}

impl Slot {
    pub fn id(&self) -> u32 {
        match self {
            Slot::First(f) => f.id,
            Slot::Conn(c) => c.id,
            Slot::Frozen(f) => f.id,
        }
    }

    /// When its last segment was seen.
    pub fn last_ts(&self) -> Timestamp {
        match self {
            Slot::First(f) => f.ts,
            Slot::Conn(c) => c.last_ts,
            Slot::Frozen(f) => f.last_ts,
        }
    }

    /// What it is reckoned to cost (the memory bound, [`super::budget`]).
    pub fn held(&self) -> Held {
        match self {
            Slot::First(_) => Held::FIRST_SYN,
            Slot::Conn(_) => Held::CONNECTION,
            Slot::Frozen(f) => Held::frozen(f.len()),
        }
    }

    /// The connection in its working form, if it is held so.
    pub fn as_conn(&self) -> Option<&Connection> {
        match self {
            Slot::First(_) | Slot::Frozen(_) => None,
            Slot::Conn(c) => Some(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::segment::SackBlock;

    fn syn() -> Segment {
        Segment {
            src: "10.0.0.2:40000".parse().unwrap(),
            dst: "10.0.0.1:80".parse().unwrap(),
            seq: SeqNumber(0xdead_beef),
            ack: SeqNumber(7),
            flags: TcpFlags(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR),
            window: 64240,
            payload_len: 3,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((1, 0)),
                ..TcpOptions::NONE
            },
            vlan: [42, 7],
        }
    }

    #[test]
    fn a_bare_syn_comes_back_field_for_field_from_either_end_of_the_key() {
        let s = syn();
        for (lower, upper) in [(s.src, s.dst), (s.dst, s.src)] {
            let f = FirstSyn::of(&s, lower, 9, Timestamp(5), 3).expect("a bare SYN");
            assert_eq!(f.segment(lower, upper, s.vlan), s);
        }
        let mut bare = syn();
        bare.options = TcpOptions {
            incomplete: true,
            ..TcpOptions::NONE
        };
        let f = FirstSyn::of(&bare, bare.src, 1, Timestamp(0), 1).unwrap();
        assert_eq!(f.segment(bare.src, bare.dst, bare.vlan), bare);
    }

    #[test]
    fn anything_but_a_bare_syn_without_sack_blocks_is_not_held_compact() {
        for extra in [TcpFlags::ACK, TcpFlags::RST, TcpFlags::FIN] {
            let mut s = syn();
            s.flags.0 |= extra;
            assert!(FirstSyn::of(&s, s.src, 1, Timestamp(0), 1).is_none());
        }
        let mut s = syn();
        s.flags = TcpFlags(TcpFlags::ACK);
        assert!(FirstSyn::of(&s, s.src, 1, Timestamp(0), 1).is_none());
        let mut s = syn();
        s.options.sack[0] = SackBlock {
            left: SeqNumber(1),
            right: SeqNumber(2),
        };
        s.options.sack_count = 1;
        assert!(FirstSyn::of(&s, s.src, 1, Timestamp(0), 1).is_none());
    }
}
