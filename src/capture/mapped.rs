//! The fast path for the common large input: an uncompressed legacy pcap in a regular file,
//! memory-mapped and walked record by record in place. Nothing is copied: each [`Frame`] borrows
//! the mapping. It decides exactly as the streaming reader does (the same warnings for a record
//! cut short or claiming more than [`MAX_BUFFER`]), so output does not depend on the path taken;
//! any file it is not sure of (short, another version) goes to the streaming reader instead.
//!
//! A mapped file that another process truncates while it is read would fault: captures are
//! appended to, not truncated, and a file still being written is read up to what it held when
//! it was opened.

use std::fs::File;
use std::ops::ControlFlow;

use memmap2::Mmap;
use pcap_parser::Linktype;

use crate::capture::records::{claims_too_much, cut_short};
use crate::capture::{CaptureInfo, Frame, MAX_BUFFER};
use crate::time::Timestamp;

const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// A legacy pcap file header this path can take: byte order and nanosecond resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapHeader {
    big_endian: bool,
    nanos: bool,
    link_type: Linktype,
}

impl PcapHeader {
    /// `None` unless `b` starts with a complete pcap 2.x header.
    pub fn parse(b: &[u8]) -> Option<PcapHeader> {
        let magic: [u8; 4] = b.get(..4)?.try_into().ok()?;
        let (big_endian, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        if b.len() < FILE_HEADER {
            return None;
        }
        let h = PcapHeader {
            big_endian,
            nanos,
            link_type: Linktype(0),
        };
        if h.u16_at(b, 4) != 2 {
            return None;
        }
        Some(PcapHeader {
            link_type: Linktype(h.u32_at(b, 20) as i32),
            ..h
        })
    }

    fn u16_at(self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }

    fn u32_at(self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }
}

/// Map `file` if it is a regular file holding a pcap this path can take.
pub fn map_pcap(file: &File) -> Option<(Mmap, PcapHeader)> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || (meta.len() as usize) < FILE_HEADER {
        return None;
    }
    // SAFETY: the mapping is read-only and private; see the module comment about truncation.
    let map = unsafe { Mmap::map(file) }.ok()?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let header = PcapHeader::parse(&map)?;
    Some((map, header))
}

/// Walk every record of a mapped pcap, calling `on_frame` for each, until the data ends or
/// `on_frame` breaks.
pub fn read_mapped(
    data: &[u8],
    h: PcapHeader,
    info: &mut CaptureInfo,
    on_frame: &mut dyn FnMut(&Frame) -> ControlFlow<()>,
) {
    info.format = "pcap";
    info.big_endian = h.big_endian;
    info.ts_digits = if h.nanos { 9 } else { 6 };
    info.interfaces = 1;
    info.sections = 1;
    let frac_scale: i64 = if h.nanos { 1 } else { 1000 };
    let mut off = FILE_HEADER;
    while off < data.len() {
        let rest = &data[off..];
        if rest.len() < RECORD_HEADER {
            info.warnings.push(cut_short(info.frames));
            break;
        }
        let caplen = h.u32_at(rest, 8) as usize;
        let need = RECORD_HEADER + caplen;
        // As the streaming reader: a record the file ends inside is cut short, however long it
        // claims to be; one that is there but longer than MAX_BUFFER is not read.
        if need > rest.len() {
            info.warnings.push(cut_short(info.frames));
            break;
        }
        if need >= MAX_BUFFER {
            info.warnings.push(claims_too_much(info.frames));
            break;
        }
        let ts_sec = h.u32_at(rest, 0);
        let ts_frac = h.u32_at(rest, 4);
        info.frames += 1;
        let frame = Frame {
            number: info.frames,
            ts: Timestamp::from_secs_nanos(i64::from(ts_sec), i64::from(ts_frac) * frac_scale),
            link_type: Some(h.link_type),
            data: &rest[RECORD_HEADER..need],
            orig_len: h.u32_at(rest, 12),
            ts_digits: info.ts_digits,
        };
        off += need;
        if on_frame(&frame).is_break() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_this_path_takes() {
        let mut le = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        le.extend([0; 12]);
        le.extend(1u32.to_le_bytes());
        let h = PcapHeader::parse(&le).unwrap();
        assert!(!h.big_endian && !h.nanos);
        assert_eq!(h.link_type, Linktype(1));
        assert_eq!(PcapHeader::parse(&le[..23]), None, "short");
        let mut v1 = le.clone();
        v1[4] = 1;
        assert_eq!(
            PcapHeader::parse(&v1),
            None,
            "version 1 goes to the other reader"
        );
        let mut be = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        be.extend([0; 12]);
        be.extend(101u32.to_be_bytes());
        let h = PcapHeader::parse(&be).unwrap();
        assert!(h.big_endian && h.nanos);
        assert_eq!(h.link_type, Linktype(101));
    }
}
