//! A connection's story in one sequence: its events and both endpoints' state transitions,
//! merged back by their places (`crate::events`), the first [`MAX_EVENTS`] of them. Transitions
//! are kept once, with their endpoint, and written as an event only when told.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::conn::Connection;
use crate::conn::fsm::{State, Transition};
use crate::events::{Event, EventKind, EventLog, MAX_EVENTS, Side};
use crate::time::Timestamp;

/// What an entry says.
#[derive(Clone, Copy, Debug)]
pub enum Detail<'a> {
    Text(&'a str),
    /// `FROM -> TO`, with " (inferred)" when no frame proves it.
    Transition {
        from: State,
        to: State,
        inferred: bool,
    },
}

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Detail::Text(t) => f.write_str(t),
            Detail::Transition { from, to, inferred } => {
                write!(f, "{from} -> {to}")?;
                if *inferred {
                    f.write_str(" (inferred)")?;
                }
                Ok(())
            }
        }
    }
}

impl Serialize for Detail<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One entry of the story.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub frame: Option<u64>,
    pub ts: Timestamp,
    /// The side whose segment or state it is about.
    pub side: Option<Side>,
    pub kind: EventKind,
    pub detail: Detail<'a>,
}

impl<'a> Entry<'a> {
    fn event(e: &'a Event) -> Entry<'a> {
        Entry {
            frame: e.frame,
            ts: e.ts,
            side: e.side,
            kind: e.kind,
            detail: Detail::Text(&e.detail),
        }
    }

    fn transition(side: Side, t: &Transition) -> Entry<'a> {
        Entry {
            frame: t.frame,
            ts: t.ts,
            side: Some(side),
            kind: EventKind::State,
            detail: Detail::Transition {
                from: t.from,
                to: t.to,
                inferred: t.inferred,
            },
        }
    }
}

impl Connection {
    /// Every entry told, in the order it happened.
    pub fn story(&self) -> Vec<Entry<'_>> {
        let mut places: Vec<(u32, Entry<'_>)> = Vec::with_capacity(self.events.len());
        places.extend(self.events.iter().map(|e| (e.order, Entry::event(e))));
        for side in 0..2 {
            places.extend(
                self.ends[side]
                    .transitions
                    .iter()
                    .filter(|t| EventLog::is_told(t.order))
                    .map(|t| (t.order, Entry::transition(side, t))),
            );
        }
        places.sort_unstable_by_key(|&(order, _)| order);
        debug_assert!(places.len() <= MAX_EVENTS);
        places.into_iter().map(|(_, e)| e).collect()
    }
}
