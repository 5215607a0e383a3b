//! The finished connections kept for a report (`table`, `json`, `csv`, `html`), frozen
//! (`crate::conn::frozen`): about 640 bytes for a short connection instead of 1.9 KB working.
//! A report reads them one at a time ([`Connections::each`], [`Connections::each_of`]), each
//! thawed for the moment it is read and given back, so a report over many connections needs
//! the memory of the frozen records and of one connection.
//!
//! A connection that keeps a ladder or a sketch for the pictures is kept working. Reading by
//! reference ([`Connections::iter`], indexing) thaws a connection once and keeps it thawed:
//! that is for a library caller or a test that looks at a few; the reports never do.

use std::cell::OnceCell;
use std::ops::{Deref, Index};

use crate::conn::Connection;
use crate::conn::frozen::Frozen;
use crate::report::findings::{Findings, Tally};
use crate::time::Timestamp;
use crate::track::FlowKey;
use crate::track::budget::{Candidate, Held};

/// Finished connections, in the order they were added (by id once [`Connections::sort_by_id`]
/// ran).
#[derive(Default)]
pub struct Connections {
    items: Vec<Kept>,
    /// The findings over every connection pushed, as they were pushed.
    tally: Tally,
    /// Some were let go since ([`Connections::retain_ids`]): the tally is not theirs.
    dropped: bool,
    /// What they are reckoned to cost together (the memory bound).
    held: Held,
    /// Where frozen connections are encoded.
    scratch: Vec<u8>,
}

struct Kept {
    id: u32,
    last_ts: Timestamp,
    /// What reports rank and pick by, known without reading the connection.
    anomalies: usize,
    reused: bool,
    form: Form,
}

enum Form {
    Working(Box<Connection>),
    /// Frozen, and the connection once read by reference.
    Frozen(Frozen, OnceCell<Box<Connection>>),
}

impl Kept {
    /// What it is reckoned to cost (the memory bound).
    fn held(&self) -> Held {
        match &self.form {
            Form::Working(_) => Held::CONNECTION,
            Form::Frozen(f, _) => Held::frozen(f.len()),
        }
    }

    fn get(&self) -> &Connection {
        match &self.form {
            Form::Working(c) => c,
            Form::Frozen(f, thawed) => thawed.get_or_init(|| f.thaw()),
        }
    }

    fn read(&self) -> ConnRef<'_> {
        match &self.form {
            Form::Working(c) => ConnRef::Kept(c),
            Form::Frozen(_, thawed) if thawed.get().is_some() => ConnRef::Kept(self.get()),
            Form::Frozen(f, _) => ConnRef::Thawed(f.thaw()),
        }
    }
}

/// A kept connection being read: the one kept working, or a thawed copy given back when dropped.
pub enum ConnRef<'a> {
    Kept(&'a Connection),
    Thawed(Box<Connection>),
}

impl Deref for ConnRef<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            ConnRef::Kept(c) => c,
            ConnRef::Thawed(c) => c,
        }
    }
}

impl Connections {
    /// Keep `c`, frozen unless it holds a ladder or a sketch.
    pub fn push(&mut self, c: Box<Connection>) {
        let (id, last_ts) = (c.id, c.last_ts);
        let (anomalies, reused) = (c.events.anomaly_count(), c.reuse.is_some());
        self.tally.add(&c);
        let form = match Frozen::of(&c, &mut self.scratch) {
            Some(f) => Form::Frozen(f, OnceCell::new()),
            None => Form::Working(c),
        };
        let kept = Kept {
            id,
            last_ts,
            anomalies,
            reused,
            form,
        };
        self.held = self.held.plus(kept.held());
        self.items.push(kept);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The id of the connection at `i`, without reading it.
    pub fn id(&self, i: usize) -> u32 {
        self.items[i].id
    }

    /// The anomalies of the connection at `i` (`EventLog::anomaly_count`), without reading it.
    pub fn anomalies(&self, i: usize) -> usize {
        self.items[i].anomalies
    }

    /// The places of the connections that reused a 4-tuple held in TIME_WAIT, without reading
    /// any.
    pub fn reused(&self) -> impl Iterator<Item = usize> + '_ {
        (self.items.iter().enumerate())
            .filter(|(_, k)| k.reused)
            .map(|(i, _)| i)
    }

    /// The ids and last times of every connection, in order, without reading them.
    pub fn ids(&self) -> impl Iterator<Item = (u32, Timestamp)> + '_ {
        self.items.iter().map(|k| (k.id, k.last_ts))
    }

    /// Every connection as a candidate for eviction (closed, so in the first rank), without
    /// reading any.
    pub fn candidates(&self) -> impl Iterator<Item = Candidate<Option<FlowKey>>> + '_ {
        self.items.iter().map(|k| Candidate {
            rank: 0,
            last_seen: k.last_ts,
            id: k.id,
            at: None,
            frees: k.held(),
        })
    }

    /// What the connections are reckoned to cost together (the memory bound).
    pub fn held(&self) -> Held {
        self.held
    }

    /// Every connection in order, each thawed while it is read.
    pub fn each(&self) -> impl Iterator<Item = ConnRef<'_>> + '_ {
        self.items.iter().map(Kept::read)
    }

    /// The connections at `indices`, in that order, each thawed while it is read.
    pub fn each_of<'a: 'i, 'i>(
        &'a self,
        indices: &'i [usize],
    ) -> impl Iterator<Item = ConnRef<'a>> + 'i {
        indices.iter().map(|&i| self.items[i].read())
    }

    /// The connection at `i`, thawed while it is read.
    pub fn read(&self, i: usize) -> ConnRef<'_> {
        self.items[i].read()
    }

    /// The connection with id `id`, thawed while it is read.
    pub fn find(&self, id: u32) -> Option<ConnRef<'_>> {
        self.items.iter().find(|k| k.id == id).map(Kept::read)
    }

    /// Every connection by reference, each thawed once and kept thawed (see the module's
    /// documentation: not for a report over many).
    pub fn iter(&self) -> impl Iterator<Item = &Connection> + '_ {
        self.items.iter().map(Kept::get)
    }

    pub fn first(&self) -> Option<&Connection> {
        self.items.first().map(Kept::get)
    }

    /// The working connection at `i`, if it is kept working (a connection with a sketch is).
    pub fn working_mut(&mut self, i: usize) -> Option<&mut Connection> {
        match &mut self.items[i].form {
            Form::Working(c) => Some(c),
            Form::Frozen(..) => None,
        }
    }

    /// Keep only the connections whose id `keep` accepts.
    pub fn retain_ids(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let before = self.items.len();
        let mut gone = Held::default();
        self.items.retain(|k| {
            let stays = keep(k.id);
            if !stays {
                gone = gone.plus(k.held());
            }
            stays
        });
        self.held = self.held.minus(gone);
        self.dropped |= self.items.len() < before;
    }

    /// The findings over every connection here: added up as they came, or, when some were
    /// let go since, read again.
    pub fn findings(&self) -> Findings {
        if self.dropped {
            Findings::of(self.each())
        } else {
            self.tally.clone().finish()
        }
    }

    pub fn sort_by_id(&mut self) {
        self.items.sort_by_key(|k| k.id);
    }
}

impl Index<usize> for Connections {
    type Output = Connection;

    /// The connection at `i`, thawed once and kept thawed.
    fn index(&self, i: usize) -> &Connection {
        self.items[i].get()
    }
}

impl<'a> IntoIterator for &'a Connections {
    type Item = &'a Connection;
    type IntoIter = Box<dyn Iterator<Item = &'a Connection> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl FromIterator<Box<Connection>> for Connections {
    fn from_iter<I: IntoIterator<Item = Box<Connection>>>(iter: I) -> Connections {
        let mut out = Connections::default();
        for c in iter {
            out.push(c);
        }
        out
    }
}
