//! Hash maps keyed by what a capture says (addresses, ports): foldhash, several times faster than
//! std's SipHash on these small keys. The input is untrusted, so the hasher is keyed: every map
//! gets a random seed, and a capture crafted to collide in one run does not collide in another.

use std::collections::HashMap;

pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub fn new<K, V>() -> FastMap<K, V> {
    FastMap::default()
}
