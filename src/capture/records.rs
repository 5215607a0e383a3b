//! The record loop: pcap and pcapng records read one at a time through pcap-parser's streaming
//! readers, each handed on as a [`Frame`]; interfaces, time resolutions and offsets of pcapng.

use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, Linktype, PcapBlockOwned, PcapError, PcapNGReader};

use crate::capture::{CaptureError, CaptureInfo, FillingReader, Frame, INITIAL_BUFFER, MAX_BUFFER};
use crate::time::Timestamp;

#[derive(Clone, Copy)]
struct Interface {
    link_type: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

/// What to do after a reader error, decided while the error still borrows the buffer.
enum Step {
    Refill,
    Grow,
    Stop(Option<String>),
}

/// One capture file being read: pcap-parser's streaming reader and what the file has described
/// so far (interfaces, resolutions, offsets). [`Records::next`] hands out one frame at a time,
/// borrowed from the reader's buffer, so several files can be read side by side.
pub(crate) struct Records {
    reader: Box<dyn PcapReaderIterator + Send>,
    pub(crate) info: CaptureInfo,
    read_error: Arc<std::sync::Mutex<Option<String>>>,
    interfaces: Vec<Interface>,
    legacy: Option<Interface>,
    last_ts: Timestamp,
    capacity: usize,
    warned_bad_interface: bool,
    big_fraction: FirstOf,
    out_of_range: FirstOf,
    done: bool,
}

impl Records {
    /// Read the file header. The readers' constructors read once, and that read must hold the
    /// whole file header (`FillingReader` sees to it); `create_reader` would read a second
    /// time, which on a pipe blocks until more records come.
    pub(super) fn open(
        filling: FillingReader,
        pcapng: bool,
        info: CaptureInfo,
    ) -> Result<Records, CaptureError> {
        let file = info.file.clone();
        let read_error = Arc::clone(&filling.error);
        let created = if pcapng {
            PcapNGReader::new(INITIAL_BUFFER, filling)
                .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>)
        } else {
            LegacyPcapReader::new(INITIAL_BUFFER, filling)
                .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>)
        };
        let reader = match created {
            Ok(r) => r,
            Err(PcapError::Eof) => return Err(CaptureError::Empty { file }),
            Err(e) => {
                return Err(CaptureError::Unreadable {
                    file,
                    reason: describe(&e),
                });
            }
        };
        Ok(Records {
            reader,
            info,
            read_error,
            interfaces: Vec::new(),
            legacy: None,
            last_ts: Timestamp::ZERO,
            capacity: INITIAL_BUFFER,
            warned_bad_interface: false,
            big_fraction: FirstOf::default(),
            out_of_range: FirstOf::default(),
            done: false,
        })
    }

    /// Hand the next frame to `on_frame` and return what it returned; `None` at the end of the
    /// file (or of what could be read of it: the reason is in the warnings).
    pub(crate) fn next<R>(
        &mut self,
        on_frame: impl FnOnce(&Frame) -> R,
    ) -> Result<Option<R>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let info = &mut self.info;
        loop {
            let step = match self.reader.next() {
                Ok((offset, block)) => {
                    let frame = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            if h.version_major != 2 {
                                return Err(CaptureError::Unreadable {
                                    file: info.file.clone(),
                                    reason: format!(
                                        "pcap version {}.{} is not supported (only 2.x exists)",
                                        h.version_major, h.version_minor
                                    ),
                                });
                            }
                            info.format = "pcap";
                            info.big_endian = h.is_bigendian();
                            let nanos = h.is_nanosecond_precision();
                            info.ts_digits = if nanos { 9 } else { 6 };
                            info.interfaces = 1;
                            info.sections = 1;
                            self.legacy = Some(Interface {
                                link_type: h.network,
                                resolution: if nanos { 1_000_000_000 } else { 1_000_000 },
                                offset_secs: 0,
                            });
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let iface = self.legacy.unwrap_or(Interface {
                                link_type: Linktype::ETHERNET,
                                resolution: 1_000_000,
                                offset_secs: 0,
                            });
                            info.frames += 1;
                            // The fraction field should stay below one second; libpcap and
                            // Wireshark carry a larger one into the seconds, and so do we, aloud.
                            if u64::from(b.ts_usec) >= iface.resolution {
                                self.big_fraction.note(info.frames, u64::from(b.ts_usec));
                            }
                            let frac =
                                i64::from(b.ts_usec) * (1_000_000_000 / iface.resolution as i64);
                            self.last_ts = Timestamp::from_secs_nanos(i64::from(b.ts_sec), frac);
                            Some(Frame {
                                number: info.frames,
                                ts: self.last_ts,
                                link_type: Some(iface.link_type),
                                data: b.data,
                                orig_len: b.origlen,
                                ts_digits: info.shown_digits(),
                            })
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) if shb.major_version != 1 => {
                            let reason = format!(
                                "pcapng section header version {}.{} is not supported",
                                shb.major_version, shb.minor_version
                            );
                            if info.frames == 0 {
                                return Err(CaptureError::Unreadable {
                                    file: info.file.clone(),
                                    reason,
                                });
                            }
                            info.warnings.push(format!(
                                "{reason} (section {}); analysed up to there",
                                info.sections + 1
                            ));
                            self.end();
                            return Ok(None);
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            info.format = "pcapng";
                            info.sections += 1;
                            info.big_endian = shb.big_endian();
                            self.interfaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            info.interfaces += 1;
                            let resolution = match ts_resolution(idb.if_tsresol) {
                                Some(r) if r > 0 => r,
                                _ => {
                                    info.warnings.push(format!(
                                        "interface {} of section {} has an if_tsresol of {} s per unit, finer than a 64-bit count of units per second holds; microseconds assumed",
                                        self.interfaces.len(),
                                        info.sections,
                                        tsresol_text(idb.if_tsresol)
                                    ));
                                    1_000_000
                                }
                            };
                            info.ts_digits = info.ts_digits.max(digits_for(resolution));
                            self.interfaces.push(Interface {
                                link_type: idb.linktype,
                                resolution,
                                offset_secs: ts_offset(&idb.options, info.big_endian),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            info.frames += 1;
                            let iface = self.interfaces.get(epb.if_id as usize).copied();
                            if iface.is_none() && !self.warned_bad_interface {
                                self.warned_bad_interface = true;
                                info.warnings.push(format!(
                                    "frame {} names interface {} but the section {}; such frames are skipped",
                                    info.frames,
                                    epb.if_id,
                                    described(self.interfaces.len())
                                ));
                            }
                            if let Some(i) = iface {
                                self.last_ts = match ng_timestamp(epb.ts_high, epb.ts_low, i) {
                                    Ok(ts) => ts,
                                    Err(held) => {
                                        self.out_of_range.note(info.frames, 0);
                                        held
                                    }
                                };
                            }
                            let caplen = (epb.caplen as usize).min(epb.data.len());
                            Some(Frame {
                                number: info.frames,
                                ts: self.last_ts,
                                link_type: iface.map(|i| i.link_type),
                                data: &epb.data[..caplen],
                                orig_len: epb.origlen,
                                ts_digits: info.shown_digits(),
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // A simple packet block has no timestamp and belongs to interface 0.
                            info.frames += 1;
                            let iface = self.interfaces.first().copied();
                            if iface.is_none() && !self.warned_bad_interface {
                                self.warned_bad_interface = true;
                                info.warnings.push(format!(
                                    "frame {} is a simple packet block, which belongs to interface 0, but the section {}; such frames are skipped",
                                    info.frames,
                                    described(0)
                                ));
                            }
                            let caplen = (spb.origlen as usize).min(spb.data.len());
                            Some(Frame {
                                number: info.frames,
                                ts: self.last_ts,
                                link_type: iface.map(|i| i.link_type),
                                data: &spb.data[..caplen],
                                orig_len: spb.origlen,
                                ts_digits: info.shown_digits(),
                            })
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    if let Some(f) = frame {
                        let out = on_frame(&f);
                        self.reader.consume(offset);
                        return Ok(Some(out));
                    }
                    self.reader.consume(offset);
                    continue;
                }
                Err(PcapError::Eof) => Step::Stop(None),
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Stop(Some(cut_short(info.frames))),
                Err(e) => Step::Stop(Some(format!(
                    "unreadable data after frame {} ({}); analysed up to there",
                    info.frames,
                    describe(&e)
                ))),
            };
            match step {
                Step::Refill => {
                    if self.reader.refill().is_err() {
                        info.warnings
                            .push(format!("read error after frame {}", info.frames));
                        break;
                    }
                }
                Step::Grow => {
                    if self.capacity >= MAX_BUFFER {
                        info.warnings.push(claims_too_much(info.frames));
                        break;
                    }
                    self.capacity *= 2;
                    self.reader.grow(self.capacity);
                    if self.reader.refill().is_err() {
                        info.warnings
                            .push(format!("read error after frame {}", info.frames));
                        break;
                    }
                }
                Step::Stop(warning) => {
                    info.warnings.extend(warning);
                    break;
                }
            }
        }
        self.end();
        Ok(None)
    }

    /// No more frames will be read: note a read error that ended the input early.
    fn end(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some((frame, value)) = self.big_fraction.first {
            let (unit, limit) = match self.legacy.map(|i| i.resolution) {
                Some(1_000_000_000) => ("ns", "10⁹"),
                _ => ("µs", "10⁶"),
            };
            self.info.warnings.push(format!(
                "time out of range: frame {frame} has a fraction-of-second field of {value} {unit} ({limit} or more){}; \
                 it is carried into the seconds, as libpcap does",
                self.big_fraction.more_text()
            ));
        }
        if let Some((frame, _)) = self.out_of_range.first {
            self.info.warnings.push(format!(
                "time out of range: frame {frame} is stamped outside 1677-09-21 to 2262-04-11, the \
                 instants nanoseconds since 1970 hold in 64 bits{}; its time is held at the nearer end",
                self.out_of_range.more_text()
            ));
        }
        if let Some(e) = self.read_error.lock().ok().and_then(|mut slot| slot.take()) {
            self.info.warnings.push(format!(
                "reading stopped after frame {} ({e}); analysed up to there",
                self.info.frames
            ));
        }
    }

    /// What the file said, once reading has ended; an error if it held no frame and something
    /// went wrong.
    pub(crate) fn finish(mut self) -> Result<CaptureInfo, CaptureError> {
        self.end();
        let mut info = self.info;
        settle(&mut info)?;
        Ok(info)
    }
}

/// The warning for a file that ends inside a record.
pub(super) fn cut_short(frames: u64) -> String {
    format!(
        "the capture is cut short in the middle of a record after frame {frames}; analysed up to the cut"
    )
}

/// The warning for a record longer than [`MAX_BUFFER`].
pub(super) fn claims_too_much(frames: u64) -> String {
    format!(
        "record after frame {frames} claims more than {} MiB; the rest of the file is skipped",
        MAX_BUFFER >> 20
    )
}

/// The end of any reading: a file that gave no frame, only warnings, is unreadable.
pub(super) fn settle(info: &mut CaptureInfo) -> Result<(), CaptureError> {
    if info.frames == 0 && !info.warnings.is_empty() {
        let reason = info
            .warnings
            .join("; ")
            .replace("; analysed up to there", "")
            .replace("; analysed up to the cut", "");
        return Err(CaptureError::Unreadable {
            file: info.file.clone(),
            reason,
        });
    }
    info.ts_digits = info.shown_digits();
    Ok(())
}

/// The `if_tsoffset` option (code 14, 8 bytes) in the section's byte order. pcap-parser's own
/// field reads it little-endian even in big-endian sections.
fn ts_offset(options: &[pcap_parser::PcapNGOption], big_endian: bool) -> i64 {
    options
        .iter()
        .find(|o| o.code.0 == 14 && o.len == 8)
        .and_then(|o| o.value().get(..8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, |b| {
            if big_endian {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        })
}

/// Units per second of a pcapng `if_tsresol`: 10^-n, or 2^-n when the top bit is set.
/// (pcap-parser's own helper rejects every base-2 value: it range-checks the byte with the flag.)
fn ts_resolution(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        (exp <= 63).then(|| 1u64 << exp)
    } else {
        (exp <= 19).then(|| 10u64.pow(exp))
    }
}

/// The instant of a pcapng timestamp, or, when it lies outside what a [`Timestamp`] holds
/// (1677–2262), `Err` with the nearer end.
fn ng_timestamp(high: u32, low: u32, iface: Interface) -> Result<Timestamp, Timestamp> {
    let units = (u128::from(high) << 32) | u128::from(low);
    let res = u128::from(iface.resolution);
    // Below 2^64 / 1: always fits an i128.
    let secs = (units / res) as i128 + i128::from(iface.offset_secs);
    let nanos = ((units % res) * 1_000_000_000 / res) as i64;
    let held = if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    };
    i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::checked_from_secs_nanos(s, nanos))
        .ok_or(held)
}

/// An `if_tsresol` byte as the unit it names: `10^-25`, `2^-70`.
fn tsresol_text(tsresol: u8) -> String {
    let exp = tsresol & 0x7f;
    if tsresol & 0x80 != 0 {
        format!("2^-{exp}")
    } else {
        format!("10^-{exp}")
    }
}

/// "describes no interface", "describes only interface 0", "describes interfaces 0–9999".
fn described(interfaces: usize) -> String {
    match interfaces {
        0 => "describes no interface".into(),
        1 => "describes only interface 0".into(),
        n => format!("describes interfaces 0–{}", n - 1),
    }
}

/// The first frame with some problem (and a value to show), and how many more had it.
#[derive(Default)]
struct FirstOf {
    first: Option<(u64, u64)>,
    more: u64,
}

impl FirstOf {
    fn note(&mut self, frame: u64, value: u64) {
        if self.first.is_some() {
            self.more += 1;
        } else {
            self.first = Some((frame, value));
        }
    }

    fn more_text(&self) -> String {
        match self.more {
            0 => String::new(),
            1 => " (and 1 more frame)".into(),
            n => format!(" (and {n} more frames)"),
        }
    }
}

/// Decimal digits needed to show a timestamp of `resolution` units per second.
fn digits_for(resolution: u64) -> u8 {
    let mut digits = 0u8;
    let mut r = 1u64;
    while r < resolution && digits < 9 {
        r = r.saturating_mul(10);
        digits += 1;
    }
    digits
}

fn describe<I: AsRef<[u8]>>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "end of file".into(),
        PcapError::BufferTooSmall => "record larger than the buffer".into(),
        PcapError::UnexpectedEof => "unexpected end of file".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::Incomplete(n) => format!("incomplete record ({n} more bytes needed)"),
        PcapError::HeaderNotRecognized => "file header not recognised".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("malformed block ({kind:?})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::check_magic;

    #[test]
    fn base_2_and_base_10_resolutions() {
        assert_eq!(ts_resolution(6), Some(1_000_000));
        assert_eq!(ts_resolution(9), Some(1_000_000_000));
        assert_eq!(ts_resolution(0x88), Some(256));
        assert_eq!(ts_resolution(0x94), Some(1 << 20));
        assert_eq!(ts_resolution(20), None);
    }

    #[test]
    fn digits_for_resolutions() {
        assert_eq!(digits_for(1_000_000), 6);
        assert_eq!(digits_for(1_000_000_000), 9);
        assert_eq!(digits_for(256), 3);
        assert_eq!(digits_for(1), 0);
    }

    #[test]
    fn ng_timestamps_apply_resolution_and_offset() {
        let iface = Interface {
            link_type: Linktype::ETHERNET,
            resolution: 1_000_000_000,
            offset_secs: 100,
        };
        let units: u64 = 1_500_000_000; // 1.5 s in ns
        let ts = ng_timestamp((units >> 32) as u32, units as u32, iface);
        assert_eq!(ts, Ok(Timestamp::from_secs_nanos(101, 500_000_000)));
        let base2 = Interface {
            link_type: Linktype::ETHERNET,
            resolution: 256,
            offset_secs: 0,
        };
        assert_eq!(
            ng_timestamp(0, 384, base2),
            Ok(Timestamp::from_secs_nanos(1, 500_000_000))
        );
    }

    #[test]
    fn ng_timestamps_outside_1677_to_2262_are_held_at_the_nearer_end() {
        let iface = |resolution, offset_secs| Interface {
            link_type: Linktype::ETHERNET,
            resolution,
            offset_secs,
        };
        // 2^64 - 1 whole seconds: it used to wrap to -1 s.
        assert_eq!(
            ng_timestamp(u32::MAX, u32::MAX, iface(1, 0)),
            Err(Timestamp::MAX)
        );
        // 10^10 s (year 2286) in microseconds.
        let units: u64 = 10_000_000_000 * 1_000_000;
        assert_eq!(
            ng_timestamp((units >> 32) as u32, units as u32, iface(1_000_000, 0)),
            Err(Timestamp::MAX)
        );
        assert_eq!(
            ng_timestamp(0, 0, iface(1_000_000, i64::MIN)),
            Err(Timestamp::MIN)
        );
        assert_eq!(
            ng_timestamp(0, 5, iface(1, -10)),
            Ok(Timestamp::from_secs_nanos(-5, 0))
        );
    }

    #[test]
    fn invalid_resolutions_are_named_as_units() {
        assert_eq!(ts_resolution(25), None);
        assert_eq!(tsresol_text(25), "10^-25");
        assert_eq!(ts_resolution(0x80 | 70), None);
        assert_eq!(tsresol_text(0x80 | 70), "2^-70");
    }

    #[test]
    fn interface_ranges_are_worded() {
        assert_eq!(described(0), "describes no interface");
        assert_eq!(described(1), "describes only interface 0");
        assert_eq!(described(10_000), "describes interfaces 0–9999");
    }

    #[test]
    fn rejects_text_with_its_first_bytes() {
        let err = check_magic(b"HTTP/1.1 200", "x").unwrap_err();
        assert!(err.to_string().contains("48 54 54 50"), "{err}");
    }
}
