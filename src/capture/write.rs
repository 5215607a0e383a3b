//! `--write-pcap`: frames copied unchanged into a pcap file (nanosecond timestamps, so no
//! precision is lost), for attaching the packets of a connection to a CI report.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use pcap_parser::Linktype;

use crate::capture::Frame;

/// A pcap file being written. Its header names one link type, that of the first frame written
/// (Ethernet if none is); a frame of another link type cannot be held and is counted instead.
pub struct PcapWriter {
    path: PathBuf,
    out: BufWriter<File>,
    link_type: Option<Linktype>,
    pub written: u64,
    /// Frames left out because their link type differs from the file's.
    pub other_link_type: u64,
    /// Frames left out because their time does not fit a pcap record (before 1970 or after 2106).
    pub out_of_range: u64,
}

impl PcapWriter {
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(PcapWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            link_type: None,
            written: 0,
            other_link_type: 0,
            out_of_range: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn header(&mut self, link_type: Linktype) -> io::Result<()> {
        self.link_type = Some(link_type);
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond pcap
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
        h.extend_from_slice(&(link_type.0 as u32).to_le_bytes());
        self.out.write_all(&h)
    }

    /// Append `frame` as it was captured: its bytes, original length and time.
    pub fn write(&mut self, frame: &Frame) -> io::Result<()> {
        let Some(link_type) = frame.link_type else {
            self.other_link_type += 1;
            return Ok(());
        };
        match self.link_type {
            None => self.header(link_type)?,
            Some(l) if l != link_type => {
                self.other_link_type += 1;
                return Ok(());
            }
            Some(_) => {}
        }
        let nanos = frame.ts.nanos();
        let (Ok(secs), Ok(caplen)) = (
            u32::try_from(nanos.div_euclid(1_000_000_000)),
            u32::try_from(frame.data.len()),
        ) else {
            self.out_of_range += 1;
            return Ok(());
        };
        let frac = nanos.rem_euclid(1_000_000_000) as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&frame.orig_len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame.data)?;
        self.written += 1;
        Ok(())
    }

    /// Finish the file (a header alone if no frame was written) and flush it.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.link_type.is_none() {
            self.header(Linktype::ETHERNET)?;
        }
        self.out.flush()
    }
}
