//! The per-connection ladder: one line per segment, with each endpoint's state transitions
//! where they happen, to be read beside the course notes' 3-way and 4-way handshake diagrams.

use std::fmt::Write as _;

use crate::conn::{Connection, EventKind, TimelineEntry};
use crate::report::endpoint;
use crate::seq::SeqNumber;

pub fn render(c: &Connection) -> String {
    let mut s = String::new();
    let (cl, sv) = (c.client, c.server());
    let _ = writeln!(
        s,
        "Connection {}: client {} -> server {}   outcome {} history {}   (client: {})",
        c.id,
        endpoint(c.addrs[cl]),
        endpoint(c.addrs[sv]),
        c.summary().outcome,
        c.history(),
        c.role_rule.describe()
    );
    handshake_lines(&mut s, c);
    for side in [cl, sv] {
        let e = &c.ends[side];
        let mut path = vec![format!(
            "{}{}",
            e.initial,
            if e.initial_inferred { "?" } else { "" }
        )];
        path.extend(e.transitions.iter().map(|t| t.to.name().to_string()));
        let _ = writeln!(s, "  {:<6} {}", c.role_name(side), path.join(" -> "));
    }
    let Some(entries) = &c.timeline else {
        return s;
    };
    let _ = writeln!(
        s,
        "  {:>10}  {:>7}  {:<3} {:<6} {:>12} {:>12} {:>6} {:>8}  notes",
        "t (ms)", "frame", "dir", "flags", "seq", "ack", "len", "win"
    );
    let story = c.story();
    let mut events = story.iter().peekable();
    for e in entries {
        let _ = writeln!(s, "{}", line(c, e));
        while let Some(ev) = events.peek() {
            match ev.frame {
                Some(f) if f < e.frame => {
                    events.next();
                }
                Some(f) if f == e.frame => {
                    let who = ev.side.map_or("", |side| c.role_name(side));
                    if ev.kind == EventKind::State {
                        let _ = writeln!(s, "  {:>10}  {:>7}      {who} {}", "", "", ev.detail);
                    } else {
                        let _ = writeln!(
                            s,
                            "  {:>10}  {:>7}      ! {who}: {} ({})",
                            "",
                            "",
                            ev.detail,
                            ev.kind.name()
                        );
                    }
                    events.next();
                }
                _ => break,
            }
        }
    }
    // Transitions with no frame (TIME_WAIT expiry) come after the last segment.
    for ev in story.iter().filter(|e| e.frame.is_none()) {
        let who = ev.side.map_or("", |side| c.role_name(side));
        let _ = writeln!(
            s,
            "  {:>10.3}  {:>7}      {who} {}",
            ev.ts.millis_since(c.first_ts),
            "-",
            ev.detail
        );
    }
    s
}

fn handshake_lines(s: &mut String, c: &Connection) {
    let (cl, sv) = (c.client, c.server());
    let (Some(cisn), Some(sisn)) = (c.dirs[cl].isn, c.dirs[sv].isn) else {
        return;
    };
    let check = |ok: Option<bool>| match ok {
        Some(true) => "ok",
        Some(false) => "WRONG",
        None => "not seen",
    };
    let _ = writeln!(
        s,
        "  handshake: client ISN {} ; server ISN {} ; SYN-ACK acks client ISN+1: {} ; ACK acks server ISN+1: {}",
        cisn,
        sisn,
        check(c.handshake.synack_ack_ok),
        check(c.handshake.ack.map(|a| a.acks_isn_plus_1))
    );
    let h = &c.handshake;
    if let (Some(a), Some(b), Some(rtt)) = (h.syn_to_synack_ms(), h.synack_to_ack_ms(), h.rtt_ms())
    {
        let _ = writeln!(
            s,
            "  SYN->SYN-ACK {a:.3} ms + SYN-ACK->ACK {b:.3} ms = RTT {rtt:.3} ms; capture point: near {}",
            c.handshake.capture_point.name()
        );
    }
}

fn line(c: &Connection, e: &TimelineEntry) -> String {
    let arrow = if e.from == c.client { "->" } else { "<-" };
    let base = c.dirs[e.from].isn.unwrap_or(SeqNumber(0));
    let peer_base = c.dirs[1 - e.from].isn.unwrap_or(SeqNumber(0));
    let seq = e.seq.relative_to(base);
    let ack = if e.flags.ack() {
        e.ack.relative_to(peer_base).to_string()
    } else {
        String::new()
    };
    let mut notes = String::new();
    if e.flags.syn() {
        let o = e.options;
        let mut parts = Vec::new();
        if let Some(m) = o.mss {
            parts.push(format!("mss={m}"));
        }
        if let Some(w) = o.window_scale {
            parts.push(format!("ws={w}"));
        }
        if o.sack_permitted {
            parts.push("sackOK".into());
        }
        if o.timestamps.is_some() {
            parts.push("TS".into());
        }
        notes.push_str(&parts.join(" "));
    }
    let label = e.class.label();
    if !label.is_empty() {
        if !notes.is_empty() {
            notes.push_str("; ");
        }
        notes.push_str(label);
        if let crate::analysis::SegClass::DupAck(n) = e.class {
            let _ = write!(notes, " #{n}");
        }
    }
    for (on, what) in [
        (
            e.seg_flags.prev_not_captured,
            "previous segment not captured",
        ),
        (e.seg_flags.acked_unseen, "ACKed unseen segment"),
        (e.seg_flags.window_full, "window full"),
        (e.seg_flags.zero_window, "zero window"),
    ] {
        if on {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            notes.push_str(what);
        }
    }
    for b in e.options.sack_blocks() {
        let _ = write!(
            notes,
            " SACK {}-{}",
            b.left.relative_to(peer_base),
            b.right.relative_to(peer_base)
        );
    }
    format!(
        "  {:>10.3}  {:>7}  {arrow:<3} {:<6} {:>12} {:>12} {:>6} {:>8}  {notes}",
        e.ts.millis_since(c.first_ts),
        e.frame,
        e.flags.to_string(),
        seq,
        ack,
        e.len,
        e.window
    )
}
