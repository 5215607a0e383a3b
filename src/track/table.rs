//! The flow table: what is live of each flow, by [`FlowKey`], with the places of a few recently
//! used keys in front. Segments of a few busy flows (a bulk transfer, a handful of interleaved
//! ones) find their entry there with one comparison, without hashing the key and probing.
//!
//! The entries are an [`IndexMap`]: each has a place that stays put until an entry is removed
//! (which moves the last entry into the hole). A remembered place is only a guess, checked
//! against the key found there, so a place made stale by a removal is a miss, never a wrong
//! entry. Nothing reads the table in its own order: whatever goes through every entry sorts by
//! a key that ends in the unique connection id, so the order entries are kept in does not reach
//! any output.

use indexmap::IndexMap;

use super::key::FlowKey;
use super::slot::Slot;

/// How many places are remembered: a slot each, picked by bits of the key
/// ([`FlowKey::recent_slot`]), remembering where the last key that fell in it is. Two busy flows
/// may share a slot; they then miss, and are found by their hash.
const RECENT: usize = 16;

#[derive(Default)]
pub(super) struct FlowTable {
    /// Keyed by a seeded hash, as every table of what a capture says (`crate::fastmap`).
    map: IndexMap<FlowKey, Slot, foldhash::fast::RandomState>,
    /// The place in `map` of the key last looked up in each of [`RECENT`] slots.
    recent: [u32; RECENT],
}

impl FlowTable {
    /// The place of `key` if the slot of recent keys remembers it.
    #[inline(always)]
    fn recent_place(&self, key: &FlowKey) -> Option<usize> {
        let at = self.recent[key.recent_slot(RECENT)] as usize;
        match self.map.get_index(at) {
            Some((k, _)) if k == key => Some(at),
            _ => None,
        }
    }

    pub(super) fn get(&self, key: &FlowKey) -> Option<&Slot> {
        match self.recent_place(key) {
            Some(at) => self.map.get_index(at).map(|(_, slot)| slot),
            None => self.map.get(key),
        }
    }

    /// Inlined into the segment's path, so the key just built is read from registers (called,
    /// it went through memory, and reading it back stalled on the stores that wrote it); only
    /// the hash lookup is a call.
    #[inline(always)]
    pub(super) fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Slot> {
        let at = match self.recent_place(key) {
            Some(at) => at,
            None => self.look_up(key)?,
        };
        self.map.get_index_mut(at).map(|(_, slot)| slot)
    }

    /// The place of `key` by its hash, remembered for next time.
    #[inline(never)]
    fn look_up(&mut self, key: &FlowKey) -> Option<usize> {
        let at = self.map.get_index_of(key)?;
        self.recent[key.recent_slot(RECENT)] = at as u32;
        Some(at)
    }

    pub(super) fn contains_key(&self, key: &FlowKey) -> bool {
        self.recent_place(key).is_some() || self.map.contains_key(key)
    }

    /// Put `slot` in as `key`'s entry, giving back the entry it replaces.
    pub(super) fn insert(&mut self, key: FlowKey, slot: Slot) -> Option<Slot> {
        let (at, old) = self.map.insert_full(key, slot);
        self.recent[key.recent_slot(RECENT)] = at as u32;
        old
    }

    pub(super) fn remove(&mut self, key: &FlowKey) -> Option<Slot> {
        self.map.swap_remove(key)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Slot)> {
        self.map.iter()
    }

    /// Every entry in order of id, the table emptied. The entries are sorted where they lie
    /// and the hash index given back first, so nothing the size of the table is allocated:
    /// a copy of a million lone SYNs' entries would be 200 MB at the end of a flood.
    pub(super) fn take_in_order_of_id(&mut self) -> impl Iterator<Item = (FlowKey, Slot)> + use<> {
        std::mem::take(&mut self.map).sorted_unstable_by(|_, a, _, b| a.id().cmp(&b.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::segment::{Segment, TcpFlags};
    use crate::time::Timestamp;

    /// The key of client port `port` to 10.0.0.1:80, and an entry with id `id`.
    fn entry(port: u16, id: u32) -> (FlowKey, Slot) {
        let seg = Segment {
            src: format!("10.0.0.2:{port}").parse().unwrap(),
            dst: "10.0.0.1:80".parse().unwrap(),
            flags: TcpFlags(TcpFlags::SYN),
            ..Segment::EMPTY
        };
        let key = FlowKey::new(seg.src, seg.dst, [0, 0]);
        let (lower, _) = key.pair.addrs();
        let first = crate::track::FirstSyn::of(&seg, lower, id, Timestamp(0), 1).unwrap();
        (key, Slot::First(first))
    }

    fn id_of(t: &mut FlowTable, key: &FlowKey) -> Option<u32> {
        let by_ref = t.get(key).map(Slot::id);
        let by_mut = t.get_mut(key).map(|s| s.id());
        assert_eq!(by_ref, by_mut);
        assert_eq!(t.contains_key(key), by_ref.is_some());
        by_ref
    }

    #[test]
    fn remembered_places_made_stale_by_removals_are_misses_not_wrong_entries() {
        let mut t = FlowTable::default();
        // More flows than remembered places, so slots are shared and overwritten.
        for i in 0..100 {
            let (key, slot) = entry(40000 + i, 1 + u32::from(i));
            assert!(t.insert(key, slot).is_none());
        }
        let keys: Vec<FlowKey> = (0..100).map(|i| entry(40000 + i, 0).0).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(id_of(&mut t, k), Some(1 + i as u32));
        }
        // A key just looked up is found at its remembered place.
        assert!(t.recent_place(&keys[99]).is_some());
        // Each removal moves the last entry into the hole its key leaves. Each removed key's
        // place is still remembered (it was the last looked up in its slot), and misses.
        for i in (0..100).step_by(3) {
            assert_eq!(id_of(&mut t, &keys[i]), Some(1 + i as u32));
            let slot = keys[i].recent_slot(RECENT);
            let remembered = t.recent[slot];
            assert_eq!(t.remove(&keys[i]).map(|s| s.id()), Some(1 + i as u32));
            assert_eq!(t.recent[slot], remembered);
            assert_eq!(t.recent_place(&keys[i]), None);
            assert_eq!(id_of(&mut t, &keys[i]), None);
        }
        for (i, k) in keys.iter().enumerate() {
            let want = (i % 3 != 0).then_some(1 + i as u32);
            assert_eq!(id_of(&mut t, k), want, "port {}", 40000 + i);
        }
        // An entry put in again under its key replaces the old one.
        let (k, s) = entry(40001, 500);
        assert_eq!(t.insert(k, s).map(|s| s.id()), Some(2));
        assert_eq!(id_of(&mut t, &k), Some(500));
        assert_eq!(t.len(), 100 - 34);
        // Removals moved entries out of the order they came in; they are taken in order of id.
        let all: Vec<u32> = t.take_in_order_of_id().map(|(_, s)| s.id()).collect();
        assert!(all.is_sorted(), "{all:?}");
        assert_eq!(all.len(), 66);
        assert_eq!(t.len(), 0);
        assert_eq!(id_of(&mut t, &keys[1]), None);
    }
}
