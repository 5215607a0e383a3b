//! Capture reading: pcap (either byte order, µs or ns) and pcapng (sections, interfaces,
//! `if_tsresol`, `if_tsoffset`), optionally gzip-compressed, from a file or standard input.
//!
//! One streaming pass with a bounded buffer (pcap-parser's readers); each record is handed
//! to a callback as a borrowed [`Frame`], so nothing is copied per frame. Damage in the middle of a
//! file ends the reading with a warning; only a file that cannot be read at all is an error.

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flate2::read::MultiGzDecoder;
use pcap_parser::Linktype;

pub mod mapped;
mod merge;
pub mod records;
pub mod write;

use crate::time::Timestamp;

pub use merge::{read_captures, read_captures_counting};
use records::Records;

/// Initial reader buffer; grown (up to [`MAX_BUFFER`]) for records that do not fit.
pub(crate) const INITIAL_BUFFER: usize = 1 << 18;
/// The block type of a pcapng section header, the first four bytes of a pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// The largest record we are willing to hold. A record claiming more is damage, not data.
pub(crate) const MAX_BUFFER: usize = 1 << 28;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Path(PathBuf),
    Stdin,
    /// A capture already in memory (tests, fuzzing, a caller that built the bytes); named
    /// `<memory>` in messages.
    Bytes(Arc<[u8]>),
}

impl Input {
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    /// A file that is all there, a regular file or bytes in memory: not a pipe whose next
    /// frame may wait for its writer.
    pub fn never_waits(&self) -> bool {
        match self {
            Input::Path(p) => std::fs::metadata(p).is_ok_and(|m| m.is_file()),
            Input::Bytes(_) => true,
            Input::Stdin => false,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
            Input::Bytes(_) => "<memory>".to_string(),
        }
    }
}

/// One capture record, borrowed from the reader's buffer.
pub struct Frame<'a> {
    /// 1-based record number in file order, as Wireshark numbers frames.
    pub number: u64,
    pub ts: Timestamp,
    /// `None` when a pcapng packet names an interface the file never described.
    pub link_type: Option<Linktype>,
    pub data: &'a [u8],
    /// Length of the frame on the wire (before the snaplen cut).
    pub orig_len: u32,
    /// Fraction digits that show the finest timestamp resolution described so far.
    pub ts_digits: u8,
}

/// What the file itself says, gathered while reading.
#[derive(Debug, Default, Clone)]
pub struct CaptureInfo {
    pub file: String,
    /// "pcap" or "pcapng".
    pub format: &'static str,
    pub big_endian: bool,
    pub gzip: bool,
    /// Decimal digits of the finest timestamp resolution in the file (6 for µs, 9 for ns).
    pub ts_digits: u8,
    pub sections: u32,
    pub interfaces: u32,
    pub frames: u64,
    /// Frames that repeat an earlier one (see [`crate::dedup`]); set by the audit.
    pub duplicate_frames: u64,
    /// Connections evicted to keep within the memory bound (set by the analysis).
    pub evicted_connections: u64,
    pub warnings: Vec<String>,
    /// Each file read, in the order given: one entry for a single file; when several files are
    /// read as one capture ([`read_captures`]), the fields above add them up.
    pub files: Vec<CaptureInfo>,
}

impl CaptureInfo {
    /// The digits timestamps are shown with: those of the finest resolution described so far,
    /// microseconds before any interface is.
    pub(crate) fn shown_digits(&self) -> u8 {
        if self.ts_digits == 0 {
            6
        } else {
            self.ts_digits
        }
    }
}

/// The file cannot be analysed at all.
#[derive(Debug)]
pub enum CaptureError {
    Open { file: String, source: io::Error },
    IsDirectory { file: String },
    Empty { file: String },
    NotACapture { file: String, first_bytes: String },
    Unreadable { file: String, reason: String },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CaptureError::Open { file, source } => write!(f, "{file}: cannot open: {source}"),
            CaptureError::IsDirectory { file } => {
                write!(f, "{file}: is a directory, not a capture file")
            }
            CaptureError::Empty { file } => write!(f, "{file}: empty file, not a capture"),
            CaptureError::NotACapture { file, first_bytes } => write!(
                f,
                "{file}: not a pcap or pcapng capture (first bytes: {first_bytes})"
            ),
            CaptureError::Unreadable { file, reason } => {
                write!(f, "{file}: unreadable capture: {reason}")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

/// Read every frame of `input`, calling `on_frame` for each in file order, until the input ends
/// or `on_frame` breaks.
pub fn read_capture(
    input: &Input,
    on_frame: &mut dyn FnMut(&Frame) -> ControlFlow<()>,
) -> Result<CaptureInfo, CaptureError> {
    read_capture_counting(input, None, on_frame)
}

/// [`read_capture`], adding to `bytes_read` every byte taken from the file (compressed bytes
/// for a gzip file), for a progress display that can tell the share of the file read.
pub fn read_capture_counting(
    input: &Input,
    bytes_read: Option<Arc<AtomicU64>>,
    on_frame: &mut dyn FnMut(&Frame) -> ControlFlow<()>,
) -> Result<CaptureInfo, CaptureError> {
    let mut info = match open(input, true, bytes_read.clone())? {
        Opened::Mapped(map, header, mut info) => {
            // The position in the mapped file is where the frame's bytes end.
            let base = map.as_ptr() as usize;
            let mut counted = |frame: &Frame| {
                if let Some(c) = &bytes_read {
                    let end =
                        (frame.data.as_ptr() as usize).saturating_sub(base) + frame.data.len();
                    c.store(end as u64, Ordering::Relaxed);
                }
                on_frame(frame)
            };
            mapped::read_mapped(&map, header, &mut info, &mut counted);
            records::settle(&mut info)?;
            info
        }
        Opened::Streamed(mut records) => {
            while let Some(flow) = records.next(&mut *on_frame)? {
                if flow.is_break() {
                    break;
                }
            }
            records.finish()?
        }
    };
    info.files = vec![CaptureInfo {
        files: Vec::new(),
        ..info.clone()
    }];
    Ok(info)
}

/// A capture file ready to be read: a regular pcap file mapped in memory and walked in place
/// (the fast path), or anything else through the streaming reader.
enum Opened {
    Mapped(memmap2::Mmap, mapped::PcapHeader, CaptureInfo),
    Streamed(Box<Records>),
}

/// Open `input` and read its file header; `map` allows the mapped path; `bytes_read`, when
/// given, counts the bytes the streaming reader takes from the file.
fn open(
    input: &Input,
    map: bool,
    bytes_read: Option<Arc<AtomicU64>>,
) -> Result<Opened, CaptureError> {
    let file = input.name();
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::Bytes(bytes) => Box::new(Cursor::new(Arc::clone(bytes))),
        Input::Path(path) => {
            if path.is_dir() {
                return Err(CaptureError::IsDirectory { file });
            }
            let f = File::open(path).map_err(|source| CaptureError::Open {
                file: file.clone(),
                source,
            })?;
            if map && let Some((map, header)) = mapped::map_pcap(&f) {
                let info = CaptureInfo {
                    file: file.clone(),
                    ..CaptureInfo::default()
                };
                return Ok(Opened::Mapped(map, header, info));
            }
            Box::new(f)
        }
    };
    let raw: Box<dyn Read + Send> = match bytes_read {
        Some(count) => Box::new(Counting { inner: raw, count }),
        None => raw,
    };
    let (prefix, raw) = peek(raw, &file)?;
    let mut info = CaptureInfo {
        file: file.clone(),
        ..CaptureInfo::default()
    };
    let (reader, magic) = if prefix.starts_with(&[0x1f, 0x8b]) {
        info.gzip = true;
        let (inner, rest) = peek(Box::new(MultiGzDecoder::new(raw)), &file)?;
        check_magic(&inner, &file)?;
        (rest, inner)
    } else {
        check_magic(&prefix, &file)?;
        (raw, prefix)
    };
    let pcapng = magic.starts_with(&PCAPNG_MAGIC);
    let filling = FillingReader {
        inner: reader,
        fill_first: header_len(&magic),
        error: Arc::new(Mutex::new(None)),
    };
    Ok(Opened::Streamed(Box::new(Records::open(
        filling, pcapng, info,
    )?)))
}

/// Open `input` for the streaming reader only (files read side by side).
fn open_streamed(input: &Input) -> Result<Box<Records>, CaptureError> {
    match open(input, false, None)? {
        Opened::Streamed(records) => Ok(records),
        // `open` maps only when asked to.
        Opened::Mapped(_, _, info) => Err(CaptureError::Unreadable {
            file: info.file,
            reason: "cannot be read as a stream".into(),
        }),
    }
}

/// Counts the bytes read through it.
struct Counting {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Read the first bytes (to recognise the format) and give back a reader that still yields them.
fn peek(
    mut r: Box<dyn Read + Send>,
    file: &str,
) -> Result<(Vec<u8>, Box<dyn Read + Send>), CaptureError> {
    let mut prefix = vec![0u8; 16];
    let mut got = 0;
    while got < prefix.len() {
        match r.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CaptureError::Unreadable {
                    file: file.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    prefix.truncate(got);
    if got == 0 {
        return Err(CaptureError::Empty {
            file: file.to_string(),
        });
    }
    let chained = Box::new(Cursor::new(prefix.clone()).chain(r));
    Ok((prefix, chained))
}

pub(crate) fn check_magic(prefix: &[u8], file: &str) -> Result<(), CaptureError> {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1], // pcap, little-endian, µs
        [0xa1, 0xb2, 0xc3, 0xd4], // pcap, big-endian, µs
        [0x4d, 0x3c, 0xb2, 0xa1], // pcap, little-endian, ns
        [0xa1, 0xb2, 0x3c, 0x4d], // pcap, big-endian, ns
        PCAPNG_MAGIC,
    ];
    if prefix.len() >= 4 && MAGICS.iter().any(|m| prefix[..4] == m[..]) {
        return Ok(());
    }
    let first_bytes = prefix
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    let shown = match std::str::from_utf8(&prefix[..prefix.len().min(8)]) {
        Ok(text) if text.chars().all(|c| !c.is_control()) => format!("{first_bytes} \"{text}\""),
        _ => first_bytes,
    };
    Err(CaptureError::NotACapture {
        file: file.to_string(),
        first_bytes: shown,
    })
}

/// The length of the file header that starts `prefix` (a recognised magic): 24 bytes for pcap,
/// the first block's own length for pcapng (capped, since damage may claim anything).
fn header_len(prefix: &[u8]) -> usize {
    if prefix.starts_with(&PCAPNG_MAGIC) && prefix.len() >= 12 {
        let field: [u8; 4] = prefix[4..8].try_into().unwrap_or_default();
        let len = if prefix[8..12] == [0x1a, 0x2b, 0x3c, 0x4d] {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        };
        (len as usize).clamp(28, INITIAL_BUFFER)
    } else {
        24
    }
}

/// pcap-parser reads the file header with one `read` call; this adapter makes reads fill the
/// buffer until the header has been delivered, so a header split across short reads (pipes,
/// the peeked prefix) is still seen whole. After that it passes reads through, so records that
/// come down a pipe are analysed as they arrive rather than when a buffer is full.
/// A read error (a gzip stream cut short, an I/O error) ends the input like an end of file;
/// the error is kept so the reader can warn that the capture was analysed up to there.
pub(crate) struct FillingReader {
    inner: Box<dyn Read + Send>,
    /// Bytes still to deliver by filling.
    fill_first: usize,
    error: Arc<Mutex<Option<String>>>,
}

impl Read for FillingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        slot.get_or_insert_with(|| e.to_string());
                    }
                    // Nothing more comes from a failed stream.
                    self.inner = Box::new(io::empty());
                    break;
                }
            }
            if filled >= self.fill_first {
                break;
            }
        }
        self.fill_first = self.fill_first.saturating_sub(filled);
        Ok(filled)
    }
}
