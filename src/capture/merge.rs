//! Several capture files read as one capture, merged in timestamp order as mergecap does:
//! one open reader per file, each holding its next frame, and the earliest frame goes next.
//!
//! Each file's next frame is copied once into a buffer of its own that is reused, so memory
//! holds one frame and one reader buffer per file, whatever the files' length. Every file is
//! opened and its first frame read before any frame is handed on, so a file that cannot be read
//! at all is an error before any output.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use pcap_parser::Linktype;

use crate::capture::records::Records;
use crate::capture::{
    CaptureError, CaptureInfo, Frame, Input, open_streamed, read_capture_counting,
};
use crate::time::Timestamp;

/// A file's next frame, copied out of its reader's buffer.
struct Pending {
    ts: Timestamp,
    link_type: Option<Linktype>,
    data: Vec<u8>,
    orig_len: u32,
    ts_digits: u8,
}

impl Pending {
    fn copy(&mut self, f: &Frame) {
        self.ts = f.ts;
        self.link_type = f.link_type;
        self.data.clear();
        self.data.extend_from_slice(f.data);
        self.orig_len = f.orig_len;
        self.ts_digits = f.ts_digits;
    }
}

/// One file of the merge: its reader while frames remain, then what it said.
enum Source {
    Reading(Box<Records>, Pending),
    Done(CaptureInfo),
}

/// Read the frames of every input as one capture, in timestamp order (a tie goes to the file
/// given first; within a file the order is the file's own), numbering them from 1 in that
/// order. With one input this is [`read_capture`].
pub fn read_captures(
    inputs: &[Input],
    on_frame: &mut dyn FnMut(&Frame) -> ControlFlow<()>,
) -> Result<CaptureInfo, CaptureError> {
    read_captures_counting(inputs, None, on_frame)
}

/// [`read_captures`]; with one input, `bytes_read` counts the bytes read from it (for the
/// progress line; several files show frames only).
pub fn read_captures_counting(
    inputs: &[Input],
    bytes_read: Option<Arc<AtomicU64>>,
    on_frame: &mut dyn FnMut(&Frame) -> ControlFlow<()>,
) -> Result<CaptureInfo, CaptureError> {
    if let [one] = inputs {
        return read_capture_counting(one, bytes_read, on_frame);
    }
    let mut sources = Vec::with_capacity(inputs.len());
    for input in inputs {
        sources.push(Source::Reading(
            open_streamed(input)?,
            Pending {
                ts: Timestamp::ZERO,
                link_type: None,
                data: Vec::new(),
                orig_len: 0,
                ts_digits: 0,
            },
        ));
    }
    let mut next: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(ts) = advance(source)? {
            next.push(Reverse((ts, i)));
        }
    }
    let mut number = 0u64;
    let mut digits = 0u8;
    while let Some(Reverse((_, i))) = next.pop() {
        let Source::Reading(_, p) = &sources[i] else {
            continue;
        };
        number += 1;
        digits = digits.max(p.ts_digits);
        let flow = on_frame(&Frame {
            number,
            ts: p.ts,
            link_type: p.link_type,
            data: &p.data,
            orig_len: p.orig_len,
            ts_digits: digits,
        });
        if flow.is_break() {
            break;
        }
        if let Some(ts) = advance(&mut sources[i])? {
            next.push(Reverse((ts, i)));
        }
    }
    let mut files = Vec::with_capacity(sources.len());
    for s in sources {
        files.push(match s {
            Source::Reading(r, _) => r.finish()?,
            Source::Done(info) => info,
        });
    }
    Ok(combine(files))
}

/// Read the next frame of `s` into its pending slot; at the end, settle the file.
fn advance(s: &mut Source) -> Result<Option<Timestamp>, CaptureError> {
    let Source::Reading(records, pending) = s else {
        return Ok(None);
    };
    if let Some(ts) = records.next(|f| {
        pending.copy(f);
        f.ts
    })? {
        return Ok(Some(ts));
    }
    let done = std::mem::replace(s, Source::Done(CaptureInfo::default()));
    if let Source::Reading(records, _) = done {
        *s = Source::Done(records.finish()?);
    }
    Ok(None)
}

/// The capture the files make together: counts added up, the finest resolution, warnings
/// prefixed with their file's name.
fn combine(files: Vec<CaptureInfo>) -> CaptureInfo {
    let mut all = CaptureInfo {
        file: files
            .iter()
            .map(|f| f.file.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        format: match files.first().map(|f| f.format) {
            Some(first) if files.iter().all(|f| f.format == first) => first,
            _ => "mixed",
        },
        ..CaptureInfo::default()
    };
    for f in &files {
        all.big_endian |= f.big_endian;
        all.gzip |= f.gzip;
        all.ts_digits = all.ts_digits.max(f.ts_digits);
        all.sections += f.sections;
        all.interfaces += f.interfaces;
        all.frames += f.frames;
        all.warnings
            .extend(f.warnings.iter().map(|w| format!("{}: {w}", f.file)));
    }
    all.files = files;
    all
}
