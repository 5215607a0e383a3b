//! Zeek's connection history: one letter per kind of segment, the first time each side sends
//! it (upper case for the client, lower case for the server).

use crate::decode::segment::Segment;
use crate::events::Side;

const MAX_LETTERS: usize = 20;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct History {
    /// (side, letter) in order of first appearance.
    letters: [(u8, u8); MAX_LETTERS],
    len: u8,
    /// The (side, letter) pairs in `letters`, a bit each ([`bit`]): every segment asks whether
    /// its letters are new, and nearly always they are not.
    seen: u16,
}

impl Default for History {
    fn default() -> History {
        History {
            letters: [(0, 0); MAX_LETTERS],
            len: 0,
            seen: 0,
        }
    }
}

/// A [`History`] as a frozen connection keeps it (`crate::conn::frozen`): the letters alone,
/// `seen` rebuilt from them, so a frozen connection is no larger for it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    letters: [(u8, u8); MAX_LETTERS],
    len: u8,
}

impl From<History> for Stored {
    fn from(h: History) -> Stored {
        Stored {
            letters: h.letters,
            len: h.len,
        }
    }
}

impl From<Stored> for History {
    fn from(s: Stored) -> History {
        let len = usize::from(s.len).min(MAX_LETTERS);
        let seen = s.letters[..len]
            .iter()
            .filter_map(|&(side, ch)| Some(bit(usize::from(side & 1), letter_of(ch)?)))
            .fold(0, |seen, b| seen | b);
        History {
            letters: s.letters,
            len: len as u8,
            seen,
        }
    }
}

/// The letters [`History::note`] writes, in the order of their bits in [`History::seen`].
const LETTERS: &[u8; 7] = b"shadfrw";
const SYN: usize = 0;
const SYN_ACK: usize = 1;
const ACK: usize = 2;
const DATA: usize = 3;
const FIN: usize = 4;
const RST: usize = 5;
const ZERO_WINDOW: usize = 6;

/// The bit of letter number `letter` (in [`LETTERS`]) from `side` in [`History::seen`].
fn bit(side: Side, letter: usize) -> u16 {
    1 << (letter * 2 + side)
}

/// The number of the letter `ch`, if it is one.
fn letter_of(ch: u8) -> Option<usize> {
    LETTERS.iter().position(|&l| l == ch)
}

impl History {
    /// Note the letters `seg`, sent by `side`, shows.
    pub fn note(&mut self, side: Side, seg: &Segment) {
        let f = seg.flags;
        if f.syn() {
            self.push(side, if f.ack() { SYN_ACK } else { SYN });
        } else if f.ack() && seg.payload_len == 0 && !f.fin() && !f.rst() {
            self.push(side, ACK);
        }
        if seg.payload_len > 0 {
            self.push(side, DATA);
        }
        if f.fin() {
            self.push(side, FIN);
        }
        if f.rst() {
            self.push(side, RST);
        }
        if seg.window == 0 && !f.syn() && !f.rst() {
            self.push(side, ZERO_WINDOW);
        }
    }

    /// Add letter number `letter` (in [`LETTERS`]) from `side`, the first time it comes.
    fn push(&mut self, side: Side, letter: usize) {
        let b = bit(side, letter);
        let len = usize::from(self.len);
        if self.seen & b == 0 && len < MAX_LETTERS {
            self.seen |= b;
            self.letters[len] = (side as u8, LETTERS[letter]);
            self.len += 1;
        }
    }

    /// The history string, with `client`'s letters in upper case.
    pub fn render(&self, client: Side) -> String {
        self.letters[..usize::from(self.len)]
            .iter()
            .map(|&(side, letter)| {
                let c = letter as char;
                if usize::from(side) == client {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::segment::TcpFlags;

    fn seg(flags: u8, len: u32, window: u16) -> Segment {
        Segment {
            flags: TcpFlags(flags),
            payload_len: len,
            window,
            ..Segment::EMPTY
        }
    }

    #[test]
    fn each_letter_once_per_side_in_order_of_first_appearance() {
        use TcpFlags as F;
        let mut h = History::default();
        let exchange = [
            (0, seg(F::SYN, 0, 100)),
            (1, seg(F::SYN | F::ACK, 0, 100)),
            (0, seg(F::ACK, 0, 100)),
            (0, seg(F::ACK, 10, 100)),
            (1, seg(F::ACK, 0, 100)),
            (0, seg(F::ACK, 10, 100)),
            (1, seg(F::ACK, 0, 0)),
            (1, seg(F::ACK, 0, 0)),
            (0, seg(F::ACK | F::FIN, 0, 100)),
            (1, seg(F::ACK | F::FIN, 0, 100)),
            (0, seg(F::ACK, 0, 100)),
            (1, seg(F::RST, 0, 0)),
            (1, seg(F::RST, 0, 0)),
        ];
        for (side, s) in &exchange {
            h.note(*side, s);
        }
        assert_eq!(h.render(0), "ShADawFfr");
        assert_eq!(h.render(1), "sHadAWfFR");
        // The same exchange twice with the sides swapped adds only the letters each side had
        // not sent yet.
        for (side, s) in exchange.iter().chain(&exchange) {
            h.note(1 - side, s);
        }
        assert_eq!(h.render(0), "ShADawFfrsHdWR");

        // Frozen and thawed, it still knows which letters it has.
        let bytes = postcard::to_stdvec(&h).unwrap();
        let mut thawed: History = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(thawed.seen, h.seen);
        for (side, s) in &exchange {
            thawed.note(*side, s);
        }
        assert_eq!(thawed.render(0), "ShADawFfrsHdWR");
        let stored = Stored {
            letters: h.letters,
            len: h.len,
        };
        assert_eq!(bytes, postcard::to_stdvec(&stored).unwrap());
    }
}
