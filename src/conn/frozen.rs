//! A connection frozen into a compact record while nothing happens to it: closed, it waits out
//! its linger for late segments (`crate::track`), which rarely come. In its working form a
//! connection is about 1.7 KB whatever it holds (every counter, every sequence number and time
//! it may need, each in a fixed place); frozen, it is encoded with variable-length integers and
//! one byte for each field it never filled, a few hundred bytes for a short connection. It is
//! thawed, exactly as it was, when a segment arrives or when it is retired.
//!
//! The encoding is postcard's (serde): exact for every field, floats by their bits, times as
//! their distance from the connection's last segment ([`time::relative_to`]).

use crate::conn::Connection;
use crate::time::{self, Timestamp};

/// The encoding buffer's first size: a short connection takes a few hundred bytes.
const MIN_SCRATCH: usize = 4096;

/// A frozen connection, with what the flow table needs of it without thawing it.
pub struct Frozen {
    pub id: u32,
    /// When its last segment was seen.
    pub last_ts: Timestamp,
    bytes: Box<[u8]>,
}

impl Frozen {
    /// `c` frozen, encoded through `scratch` (a buffer kept between calls, so the record is
    /// allocated once at its exact size). `None` for a connection that keeps a ladder or a
    /// sketch for the pictures: those stay in their working form.
    pub fn of(c: &Connection, scratch: &mut Vec<u8>) -> Option<Frozen> {
        if c.timeline.is_some() || c.sketch.is_some() {
            return None;
        }
        if scratch.len() < MIN_SCRATCH {
            scratch.resize(MIN_SCRATCH, 0);
        }
        // Into a slice, a byte at a time without a bounds-checked push; a connection that does
        // not fit (hundreds of events with their words) is tried again with twice the room.
        let len = loop {
            match time::relative_to(c.last_ts, || postcard::to_slice(c, scratch)) {
                Ok(bytes) => break bytes.len(),
                Err(postcard::Error::SerializeBufferFull) => {
                    let grown = scratch.len() * 2;
                    scratch.resize(grown, 0);
                }
                Err(_) => return None,
            }
        };
        Some(Frozen {
            id: c.id,
            last_ts: c.last_ts,
            bytes: Box::from(&scratch[..len]),
        })
    }

    /// The connection again, field for field.
    pub fn thaw(&self) -> Box<Connection> {
        // The bytes were written by `Frozen::of` from a connection of this very build; they
        // never come from outside.
        let c = time::relative_to(self.last_ts, || postcard::from_bytes(&self.bytes));
        Box::new(c.expect("a frozen connection thaws"))
    }

    /// The size of the frozen record in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
