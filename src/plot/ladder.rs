//! The ladder of the course notes: one vertical line per endpoint (client left, server right),
//! one slanted arrow per segment with its flags and relative seq/ack, and the state each
//! endpoint enters written beside its own line at the segment that proves it (SYN_SENT …
//! TIME_WAIT). A short connection is drawn whole; a longer one shows its handshake and its
//! close with the segments between them left out (and counted).
//!
//! Rows are evenly spaced, as in the notes: the time of each segment is written at the left.

use std::fmt::Write;

use super::svg::{esc, open_svg, px};
use super::tsg::describe;
use super::{ConnGraph, Role, SegPoint};
use crate::conn::sketch;

pub const WIDTH: u32 = 820;
/// A connection with at most this many segments is drawn whole.
pub const WHOLE_UP_TO: usize = sketch::LADDER_HEAD;
const HANDSHAKE_ROWS: usize = 10;
/// The close: from the segment before the first FIN or RST on (the sketch keeps these).
const CLOSE_ROWS: usize = sketch::LADDER_CLOSE;
/// Without FIN or RST, the last segments.
const LAST_ROWS: usize = sketch::LADDER_TAIL;
const ROW: f64 = 38.0;
const SLANT: f64 = 20.0;
const TOP: f64 = 92.0;
const CLIENT_X: f64 = 300.0;
const SERVER_X: f64 = 620.0;

/// One line of the ladder: a segment (an index into `ConnGraph::rows`), or how many segments
/// are left out.
enum Row {
    Seg(usize),
    Gap(u64),
}

/// The rows to draw. `g.rows` holds every segment of a connection of a few thousand, else the
/// first [`WHOLE_UP_TO`], those from the one before the first FIN or RST on, and the last few:
/// every row chosen here is among them.
fn rows(g: &ConnGraph) -> Vec<Row> {
    let n = g.segment_count;
    let at = |pos: u64| g.rows.iter().position(|(p, _)| *p == pos);
    let span = |from: u64, to: u64| (from..to).filter_map(at).map(Row::Seg);
    if n <= WHOLE_UP_TO as u64 {
        return span(0, n).collect();
    }
    // The handshake: up to both ends established (the frame proving the later of the two), and
    // the segment after it. Frames grow along the connection: one proved beyond the rows kept
    // at the start is beyond the handshake's rows.
    let est_frame = g
        .states
        .iter()
        .filter(|s| s.state == "ESTABLISHED")
        .filter_map(|s| s.frame)
        .max();
    let first_rows_end = g
        .rows
        .iter()
        .take_while(|(p, _)| *p < WHOLE_UP_TO as u64)
        .map(|(_, s)| s.frame)
        .max();
    let est_pos = est_frame.and_then(|f| match g.rows.iter().find(|(_, s)| s.frame == f) {
        Some(&(p, _)) => Some(p),
        None if first_rows_end.is_some_and(|last| f > last) => Some(HANDSHAKE_ROWS as u64),
        None => None,
    });
    let hs_end = est_pos.map_or(3, |p| p + 2).clamp(1, HANDSHAKE_ROWS as u64);
    // The close: from just before the first FIN or RST to the end.
    let close_start = g
        .rows
        .iter()
        .find(|(_, s)| s.fin() || s.rst())
        .map_or(n.saturating_sub(LAST_ROWS as u64), |&(p, _)| {
            p.saturating_sub(1)
        })
        .max(hs_end);
    let close_end = (close_start + CLOSE_ROWS as u64).min(n);
    let mut out: Vec<Row> = span(0, hs_end).collect();
    if close_start > hs_end {
        out.push(Row::Gap(close_start - hs_end));
    }
    out.extend(span(close_start, close_end));
    if close_end < n {
        out.push(Row::Gap(n - close_end));
    }
    out
}

fn line_x(r: Role) -> f64 {
    match r {
        Role::Client => CLIENT_X,
        Role::Server => SERVER_X,
    }
}

fn seg_label(s: &SegPoint) -> String {
    let mut t = format!("{} seq={}", s.flags_text(), s.seq);
    if s.len > 0 {
        let _ = write!(t, ":{}", s.seq + i64::from(s.len));
    }
    if let Some(a) = s.ack {
        let _ = write!(t, " ack={a}");
    }
    if s.len > 0 {
        let _ = write!(t, " len={}", s.len);
    }
    let _ = write!(t, " win={}", s.window);
    if !s.class_label.is_empty() {
        let _ = write!(t, " [{}]", s.class_label);
    }
    t
}

/// The ladder as one `<svg>` element.
pub fn render(g: &ConnGraph) -> String {
    let rows = rows(g);
    let height = TOP + rows.len() as f64 * ROW + 70.0;
    let mut out = String::new();
    open_svg(
        &mut out,
        "ladder",
        WIDTH,
        height as u32,
        &format!(r#"data-conn="{}""#, g.id),
    );
    out.push_str("<style>.lad line{stroke:#333;stroke-width:1.3}.lad .end{stroke:#555;stroke-width:2}.lad text{font-size:11px;fill:#222}.lad .lbl{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}.lad .state{font-size:12px;font-weight:bold;fill:#b0006a}.lad .inferred{font-style:italic;fill:#9a5080}.lad .t{fill:#777}.lad .gap{fill:#777;font-style:italic}.lad .who{font-size:13px;font-weight:bold}.lad .anom line{stroke:#c62828}</style>\n");
    out.push_str(r##"<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#333"/></marker><marker id="ahr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#c62828"/></marker></defs>"##);
    out.push_str("\n<g class=\"lad\">\n");
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" style="font-size:15px;font-weight:bold">Connection {} ladder{}</text>"#,
        g.id,
        if rows.iter().any(|r| matches!(r, Row::Gap(_))) {
            ": handshake and close"
        } else {
            ""
        }
    );
    let bottom = TOP + rows.len() as f64 * ROW + 24.0;
    for (r, addr) in [(Role::Client, &g.client), (Role::Server, &g.server)] {
        let x = line_x(r);
        let _ = writeln!(
            out,
            r#"<text class="who" x="{}" y="46" text-anchor="middle">{} {}</text><line class="end" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
            px(x),
            r.name(),
            esc(addr),
            px(x),
            px(TOP - 30.0),
            px(x),
            px(bottom)
        );
    }
    // Where each state goes: (role, y) → texts stacked downward.
    let mut placed: Vec<(Role, f64, String, Option<u64>, bool)> = Vec::new();
    for &(r, st) in &g.initial_states {
        placed.push((r, TOP - 16.0, st.to_string(), None, false));
    }
    let mut y_of_frame: Vec<(u64, f64, Role)> = Vec::new();
    let mut gap_y: Option<f64> = None;
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        match *row {
            Row::Seg(k) => {
                let s = &g.rows[k].1;
                y_of_frame.push((s.frame, y, s.from));
                let (x1, x2) = (line_x(s.from), line_x(s.from.other()));
                let anomalous = !s.marks.is_empty();
                let _ = writeln!(
                    out,
                    r##"<g class="lseg{}" data-frame="{}"><title>{}</title><text class="t" x="10" y="{}">+{:.3} ms</text><text class="t" x="10" y="{}">frame {}</text><line x1="{}" y1="{}" x2="{}" y2="{}" marker-end="url(#{})"/><text class="lbl" x="{}" y="{}" text-anchor="middle">{}</text></g>"##,
                    if anomalous { " anom" } else { "" },
                    s.frame,
                    esc(&describe(s, s.class_label)),
                    px(y + 4.0),
                    s.t * 1000.0,
                    px(y + 17.0),
                    s.frame,
                    px(x1),
                    px(y),
                    px(x2 + if x2 > x1 { -2.0 } else { 2.0 }),
                    px(y + SLANT),
                    if anomalous { "ahr" } else { "ah" },
                    px((x1 + x2) / 2.0),
                    px(y + SLANT / 2.0 - 6.0),
                    esc(&seg_label(s))
                );
            }
            Row::Gap(n) => {
                gap_y.get_or_insert(y);
                let _ = writeln!(
                    out,
                    r#"<text class="gap" x="{}" y="{}" text-anchor="middle">… {n} segments not drawn (see the time-sequence graph) …</text>"#,
                    px((CLIENT_X + SERVER_X) / 2.0),
                    px(y + 12.0)
                );
            }
        }
    }
    let last_y = TOP + rows.len() as f64 * ROW;
    for st in &g.states {
        let y = match st
            .frame
            .and_then(|f| y_of_frame.iter().find(|(fr, _, _)| *fr == f))
        {
            // The sender enters the state as it sends; the receiver when the segment arrives.
            Some(&(_, y, from)) if from == st.role => y,
            Some(&(_, y, _)) => y + SLANT,
            None if st.frame.is_none() => last_y,
            None => {
                // Proved by a segment that is not drawn: beside the gap it fell in.
                let before = st
                    .frame
                    .map(|f| y_of_frame.iter().filter(|(fr, _, _)| *fr < f).count());
                match (before, gap_y) {
                    (Some(b), _) if b == y_of_frame.len() => last_y,
                    (_, Some(gy)) => gy + 6.0,
                    _ => last_y,
                }
            }
        };
        let name = if st.inferred {
            format!("{} (inferred)", st.state)
        } else {
            st.state.to_string()
        };
        placed.push((st.role, y, name, st.frame, st.inferred));
    }
    // Stack texts that would overlap beside one line.
    let mut taken: Vec<(Role, f64)> = Vec::new();
    for (r, y, name, frame, inferred) in placed {
        let mut y = y + 4.0;
        while taken
            .iter()
            .any(|&(tr, ty)| tr == r && (ty - y).abs() < 13.0)
        {
            y += 13.0;
        }
        taken.push((r, y));
        let (x, anchor) = match r {
            Role::Client => (CLIENT_X - 8.0, "end"),
            Role::Server => (SERVER_X + 8.0, "start"),
        };
        let frame_attr = frame.map_or(String::new(), |f| format!(r#" data-frame="{f}""#));
        let _ = writeln!(
            out,
            r#"<text class="state{}" data-role="{}"{frame_attr} x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            if inferred { " inferred" } else { "" },
            r.name(),
            px(x),
            px(y),
            esc(&name)
        );
    }
    out.push_str("</g>\n</svg>\n");
    out
}
