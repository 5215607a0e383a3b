//! Zeek's connection history: one letter per kind of segment, the first time each side sends
//! it (upper case for the client, lower case for the server).

use crate::decode::segment::Segment;
use crate::events::Side;

const MAX_LETTERS: usize = 20;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// (side, letter) in order of first appearance.
    letters: [(u8, u8); MAX_LETTERS],
    len: u8,
}

impl Default for History {
    fn default() -> History {
        History {
            letters: [(0, 0); MAX_LETTERS],
            len: 0,
        }
    }
}

impl History {
    /// Note the letters `seg`, sent by `side`, shows.
    pub fn note(&mut self, side: Side, seg: &Segment) {
        let f = seg.flags;
        if f.syn() {
            self.push(side, if f.ack() { b'h' } else { b's' });
        } else if f.ack() && seg.payload_len == 0 && !f.fin() && !f.rst() {
            self.push(side, b'a');
        }
        if seg.payload_len > 0 {
            self.push(side, b'd');
        }
        if f.fin() {
            self.push(side, b'f');
        }
        if f.rst() {
            self.push(side, b'r');
        }
        if seg.window == 0 && !f.syn() && !f.rst() {
            self.push(side, b'w');
        }
    }

    fn push(&mut self, side: Side, letter: u8) {
        let len = usize::from(self.len);
        let seen = self.letters[..len].contains(&(side as u8, letter));
        if !seen && len < MAX_LETTERS {
            self.letters[len] = (side as u8, letter);
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
