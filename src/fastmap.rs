//! Hash maps keyed by what a capture says (addresses, ports): foldhash, several times faster than
//! std's SipHash on these small keys. The input is untrusted, so the hasher is keyed: every map
//! gets a random seed, and a capture crafted to collide in one run does not collide in another.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub fn new<K, V>() -> FastMap<K, V> {
    FastMap::default()
}

/// A map whose values lie in a list, found through a table of each key and its place: for the
/// tallies that grow with a capture's sources (a flood's million sources are a million
/// entries). A table holding the values themselves has buckets of key and value, at most 7/8 of
/// them used, fewer than half just after it grows, and both tables at once while it grows; here
/// only the small buckets of key and place are, and the list grows in place. Nothing reads it in
/// its own order.
pub struct Listed<K, V> {
    place: FastMap<K, u32>,
    values: Vec<V>,
}

impl<K, V> Default for Listed<K, V> {
    fn default() -> Self {
        Listed {
            place: FastMap::default(),
            values: Vec::new(),
        }
    }
}

impl<K: Hash + Eq, V> Listed<K, V> {
    /// The value of `key`, put in by `new` if there was none; and whether it was.
    pub fn get_or_insert_with(&mut self, key: K, new: impl FnOnce() -> V) -> (&mut V, bool) {
        match self.place.entry(key) {
            Entry::Occupied(e) => (&mut self.values[*e.get() as usize], false),
            Entry::Vacant(e) => {
                let at = u32::try_from(self.values.len()).expect("fewer than 2^32 entries");
                e.insert(at);
                self.values.push(new());
                (self.values.last_mut().expect("just pushed"), true)
            }
        }
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = *self.place.get(key)?;
        Some(&mut self.values[at as usize])
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.place
            .iter()
            .map(|(k, &at)| (k, &self.values[at as usize]))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.values.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_finds_each_value_by_its_key() {
        let mut m: Listed<u16, Vec<u32>> = Listed::default();
        for (i, k) in [7u16, 3, 7, 9, 3, 7].into_iter().enumerate() {
            let (v, new) = m.get_or_insert_with(k, Vec::new);
            assert_eq!(new, v.is_empty(), "key {k}");
            v.push(i as u32);
        }
        assert_eq!(m.len(), 3);
        let mut all: Vec<(u16, Vec<u32>)> = m.iter().map(|(&k, v)| (k, v.clone())).collect();
        all.sort();
        assert_eq!(all, [(3, vec![1, 4]), (7, vec![0, 2, 5]), (9, vec![3])]);
        m.get_mut(&9).expect("present").push(10);
        assert_eq!(m.get_mut(&9).map(|v| v.len()), Some(2));
        assert!(m.get_mut(&8).is_none());
        m.values_mut().for_each(Vec::clear);
        assert!(m.iter().all(|(_, v)| v.is_empty()));
    }
}
