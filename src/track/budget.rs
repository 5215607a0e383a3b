//! The memory bound on connection state: connections held in memory, whether still
//! tracked or finished and waiting for the report, are reckoned at a cost each, and past the
//! bound the least valuable are evicted. A connection held as its first SYN alone
//! ([`super::Slot::First`]) is reckoned at [`FIRST_SYN_BYTES`], a frozen one
//! (`crate::conn::frozen`: closed and lingering, or finished and kept for the report) at its
//! record's size plus [`FROZEN_OVERHEAD_BYTES`], any other at [`CONNECTION_BYTES`].

use crate::conn::Connection;
use crate::conn::fsm::State;
use crate::time::Timestamp;

/// What a connection held as its first SYN is reckoned to cost: the SYN's 48 bytes and its
/// flow-table entry with the table's spare room.
pub const FIRST_SYN_BYTES: u64 = 256;
/// What any other connection is reckoned to cost: the connection (about 1.7 KiB), its events and
/// state changes, its flow-table entry (measured: 2.5–2.9 KiB a connection on short connections).
pub const CONNECTION_BYTES: u64 = 3 * 1024;
/// What a frozen connection is reckoned to cost beyond its record: its table or list entry and
/// the allocator's share (measured: a short connection's record is about 640 bytes, and it
/// takes about 750 in all).
pub const FROZEN_OVERHEAD_BYTES: u64 = 160;

/// What a frozen connection whose record is `len` bytes is reckoned to cost.
pub fn frozen_bytes(len: usize) -> u64 {
    len as u64 + FROZEN_OVERHEAD_BYTES
}

/// The default bound, 512 MiB of connection state: with the capture-wide tallies (200–400 bytes
/// per connection, which are not bounded) a flood of a million sources or a million short
/// connections stays under 1 GiB in all (measured: 0.50–0.84 GiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 512 << 20;

/// The bound: `--memory-limit` and `--max-connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub memory_bytes: u64,
    pub max_connections: Option<u64>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_connections: None,
        }
    }
}

/// Connections held, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    pub first_syns: u64,
    /// Connections in their working form.
    pub connections: u64,
    /// Frozen connections, and what they are reckoned to cost together ([`frozen_bytes`]).
    pub frozen: u64,
    pub frozen_bytes: u64,
}

impl Held {
    pub fn bytes(self) -> u64 {
        self.first_syns * FIRST_SYN_BYTES + self.connections * CONNECTION_BYTES + self.frozen_bytes
    }

    pub fn count(self) -> u64 {
        self.first_syns + self.connections + self.frozen
    }

    /// One working connection.
    pub const CONNECTION: Held = Held {
        first_syns: 0,
        connections: 1,
        frozen: 0,
        frozen_bytes: 0,
    };

    /// One connection held as its first SYN.
    pub const FIRST_SYN: Held = Held {
        first_syns: 1,
        connections: 0,
        frozen: 0,
        frozen_bytes: 0,
    };

    /// One frozen connection whose record is `len` bytes.
    pub fn frozen(len: usize) -> Held {
        Held {
            frozen: 1,
            frozen_bytes: frozen_bytes(len),
            ..Held::default()
        }
    }

    pub fn plus(self, o: Held) -> Held {
        Held {
            first_syns: self.first_syns + o.first_syns,
            connections: self.connections + o.connections,
            frozen: self.frozen + o.frozen,
            frozen_bytes: self.frozen_bytes + o.frozen_bytes,
        }
    }

    pub fn minus(self, o: Held) -> Held {
        Held {
            first_syns: self.first_syns - o.first_syns,
            connections: self.connections - o.connections,
            frozen: self.frozen - o.frozen,
            frozen_bytes: self.frozen_bytes - o.frozen_bytes,
        }
    }
}

impl Budget {
    pub fn exceeded_by(&self, held: Held) -> bool {
        held.bytes() > self.memory_bytes || self.max_connections.is_some_and(|m| held.count() > m)
    }

    /// Evicting stops once this is true again: a sixteenth below the bound, so that the
    /// next eviction waits for many more connections.
    pub fn relieved(&self, held: Held) -> bool {
        let low = |bound: u64| bound - bound / 16;
        held.bytes() <= low(self.memory_bytes)
            && self.max_connections.is_none_or(|m| held.count() <= low(m))
    }

    /// One line for the warning: the bound in the words of its options.
    pub fn describe(&self) -> String {
        let mib = self.memory_bytes as f64 / (1u64 << 20) as f64;
        match self.max_connections {
            Some(m) => format!("--memory-limit {mib:.0}M, --max-connections {m}"),
            None => format!("--memory-limit {mib:.0}M"),
        }
    }
}

/// Which connections go first when the bound is reached: half-open and closed ones
/// (`0`), then open ones (`1`); within each, the least recently seen first (then the oldest).
pub fn eviction_rank(c: &Connection) -> u8 {
    let closed = c
        .ends
        .iter()
        .all(|e| matches!(e.state, State::Closed | State::Listen | State::TimeWait));
    let half_open = !c.ends.iter().any(|e| e.passed_through(State::Established));
    u8::from(!(closed || half_open))
}

/// A held connection as a candidate for eviction; sorts in eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate<K> {
    pub rank: u8,
    pub last_seen: Timestamp,
    pub id: u32,
    pub at: K,
    /// What evicting it gives back (ids are unique, so it never decides the order).
    pub frees: Held,
}

/// `SIZE` for `--memory-limit`: bytes, or with a K, M, G or T suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 512M, 2G)"))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("`{s}`: the unit must be K, M, G or T")),
    };
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("0").is_err());
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn the_bound_is_exceeded_by_bytes_or_by_count_and_relieved_a_sixteenth_below() {
        let b = Budget {
            memory_bytes: 16 * CONNECTION_BYTES,
            max_connections: Some(1000),
        };
        let conns = |n| Held {
            connections: n,
            ..Held::default()
        };
        assert!(!b.exceeded_by(conns(16)));
        assert!(b.exceeded_by(conns(17)));
        assert!(!b.relieved(conns(16)));
        assert!(b.relieved(conns(15)));
        let syns = |n| Held {
            first_syns: n,
            ..Held::default()
        };
        assert!(!b.exceeded_by(syns(192)));
        // A frozen connection is reckoned at its record's size.
        let frozen = |n: u64, len: usize| Held {
            frozen: n,
            frozen_bytes: n * frozen_bytes(len),
            ..Held::default()
        };
        assert!(!b.exceeded_by(frozen(60, 640)));
        assert!(b.exceeded_by(frozen(6, 8192)));
        assert_eq!(
            conns(2).plus(syns(3)).minus(conns(1)),
            conns(1).plus(syns(3))
        );
        let by_count = Budget {
            memory_bytes: u64::MAX / 2,
            max_connections: Some(32),
        };
        assert!(by_count.exceeded_by(syns(33)));
        assert!(by_count.relieved(syns(30)));
        assert!(!by_count.relieved(syns(31)));
    }
}
