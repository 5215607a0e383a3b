//! `--threads`: the capture is read, decoded and cleared of duplicate frames on a thread of
//! its own, which hands the segments in batches to the analysis on the caller's thread (where
//! the caller's hooks run). Both sides do exactly what the single-threaded pass does, in the
//! same order, so the result is the same.
//!
//! The analysis itself is not split further: tracking, connection ids in first-seen order and
//! the capture-wide state (port popularity, hosts that send no probes, TIME_WAIT) are one
//! sequence.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::capture::{CaptureError, Input, read_captures_counting};
use crate::decode::segment::Segment;
use crate::time::Timestamp;

use super::analysis::Analysis;
use super::reading::{Reading, Verdict};
use super::{Audit, Config, Hooks, PROGRESS_EVERY_FRAMES, conclude};

/// Segments a batch holds (about 640 KiB): each handing over may put one thread to sleep and
/// wake the other, so batches are large. Measured on the bulk capture, two threads: 1024 a
/// batch took 0.37-0.39 s, 4096 0.31 s, 256 0.49 s; past 4096 no faster, and more memory.
const BATCH: usize = 4096;
/// Batches in flight between the two threads.
const DEPTH: usize = 4;

/// One decoded segment and what the analysis needs of its frame.
#[derive(Clone, Copy)]
struct Item {
    seg: Segment,
    ts: Timestamp,
    number: u64,
    ts_digits: u8,
}

/// A batch, with the number of frames read when it was sent (for the progress hook).
struct Batch {
    items: Vec<Item>,
    frames: u64,
}

pub(super) fn audit_files(
    inputs: &[Input],
    config: &Config,
    hooks: Hooks,
) -> Result<Audit, CaptureError> {
    let Hooks {
        mut progress,
        finished,
        bytes_read,
        frame: _,
        drawable,
    } = hooks;
    let mut analysis = Analysis::new(config, finished, true, drawable);
    let stop = AtomicBool::new(false);
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<Item>>();
    let (read, reading) = std::thread::scope(|s| {
        let stop = &stop;
        let reader = s.spawn(move || {
            let mut reading = Reading::default();
            let mut seg = Segment::EMPTY;
            let mut items = Vec::with_capacity(BATCH);
            let read = read_captures_counting(inputs, bytes_read, &mut |frame| {
                let verdict = reading.frame(frame, &mut seg);
                if verdict == Verdict::Segment {
                    items.push(Item {
                        seg,
                        ts: frame.ts,
                        number: frame.number,
                        ts_digits: frame.ts_digits,
                    });
                }
                // A full batch goes, and so does whatever there is at each progress step, so
                // the progress hook hears of frames that are not segments too.
                if items.len() == BATCH || reading.frames.is_multiple_of(PROGRESS_EVERY_FRAMES) {
                    let next = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    let items = std::mem::replace(&mut items, next);
                    let batch = Batch {
                        items,
                        frames: reading.frames,
                    };
                    if full_tx.send(batch).is_err() {
                        return ControlFlow::Break(());
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if !items.is_empty() {
                let frames = reading.frames;
                let _ = full_tx.send(Batch { items, frames });
            }
            drop(full_tx);
            (read, reading)
        });
        let mut reported = 0u64;
        for mut batch in full_rx.iter() {
            for item in &batch.items {
                analysis.segment(&item.seg, item.ts, item.number, item.ts_digits);
                if analysis.stopped() {
                    break;
                }
            }
            batch.items.clear();
            if let Some(p) = progress.as_mut() {
                while reported + PROGRESS_EVERY_FRAMES <= batch.frames {
                    reported += PROGRESS_EVERY_FRAMES;
                    p(reported);
                }
            }
            if analysis.stopped() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            let _ = empty_tx.send(batch.items);
        }
        // A stopped analysis leaves the reader to see the flag or a closed channel.
        drop(full_rx);
        reader.join().expect("the reading thread does not panic")
    });
    Ok(conclude(read?, reading, analysis, config))
}
