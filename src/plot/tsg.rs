//! The time-sequence graph (Stevens, tcptrace): the data sender's segments by sequence number
//! over time, the receiver's ACK line, its receive-window limit (ACK + window) and SACK blocks,
//! and every classified segment as a mark of its own shape and colour.
//!
//! Every segment of the connection has a place in the data sender's sequence space: its own
//! segments at their sequence number, the receiver's at the ACK they carry. So every mark of the
//! connection is drawn, once, in one graph, and the counts match the JSON report's: a run of
//! duplicate ACKs (one place on the graph) is one mark that says how many it stands for
//! (`data-count`, `data-last-frame`).
//!
//! Plain segments, the ACK and window lines and SACK blocks come thinned to time slots (the
//! sketch's, each narrower than a column here) and are thinned again to what one pixel column
//! can show (its extremes); marks are never thinned.

use std::collections::BTreeMap;
use std::fmt::Write;

use plotters::style::RGBColor;

use super::svg::{AxesSpec, Frame, LegendItem, Swatch, esc, furniture, hex, open_svg, px};
use super::{ConnGraph, MarkKind, MarkPoint, Role, SegPoint};

pub const WIDTH: u32 = 1060;
pub const HEIGHT: u32 = 560;
/// Columns per pixel when thinning: zooming in 2x still shows every kept extreme sharply.
const COLUMNS_PER_PX: f64 = 2.0;
/// Below this many plain segments nothing is thinned.
const THIN_ABOVE: usize = 4000;

const DATA: RGBColor = RGBColor(31, 90, 180);
const ACK: RGBColor = RGBColor(30, 150, 60);
const WINDOW: RGBColor = RGBColor(200, 160, 0);
const SACK: RGBColor = RGBColor(170, 60, 200);

const TRI_UP: &[(f64, f64)] = &[(0.0, -1.1), (1.0, 0.8), (-1.0, 0.8)];
const TRI_DOWN: &[(f64, f64)] = &[(0.0, 1.1), (1.0, -0.8), (-1.0, -0.8)];
const SQUARE: &[(f64, f64)] = &[(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)];
const DIAMOND: &[(f64, f64)] = &[(0.0, -1.2), (1.0, 0.0), (0.0, 1.2), (-1.0, 0.0)];
const ROUND: &[(f64, f64)] = &[
    (1.0, 0.0),
    (0.71, 0.71),
    (0.0, 1.0),
    (-0.71, 0.71),
    (-1.0, 0.0),
    (-0.71, -0.71),
    (0.0, -1.0),
    (0.71, -0.71),
];
const BAR: &[(f64, f64)] = &[(-1.2, -0.45), (1.2, -0.45), (1.2, 0.45), (-1.2, 0.45)];
const PLUS: &[(f64, f64)] = &[
    (-0.3, -1.0),
    (0.3, -1.0),
    (0.3, -0.3),
    (1.0, -0.3),
    (1.0, 0.3),
    (0.3, 0.3),
    (0.3, 1.0),
    (-0.3, 1.0),
    (-0.3, 0.3),
    (-1.0, 0.3),
    (-1.0, -0.3),
    (-0.3, -0.3),
];

/// Shape, colour and whether it is filled, per kind.
pub fn style(kind: MarkKind) -> (&'static [(f64, f64)], RGBColor, bool) {
    match kind {
        MarkKind::Fast => (TRI_UP, RGBColor(214, 39, 40), true),
        MarkKind::Rto => (SQUARE, RGBColor(230, 110, 0), true),
        MarkKind::AfterRto => (SQUARE, RGBColor(230, 110, 0), false),
        MarkKind::Tlp => (DIAMOND, RGBColor(120, 70, 190), true),
        MarkKind::Spurious => (TRI_DOWN, RGBColor(140, 86, 75), true),
        MarkKind::Ooo => (ROUND, RGBColor(23, 170, 190), true),
        MarkKind::DupAck => (PLUS, RGBColor(120, 150, 0), true),
        MarkKind::ZeroWindow => (BAR, RGBColor(0, 0, 0), true),
        MarkKind::Zwp => (DIAMOND, RGBColor(120, 70, 190), false),
        MarkKind::KeepAlive => (ROUND, RGBColor(110, 110, 110), false),
        MarkKind::WindowFull => (TRI_DOWN, RGBColor(31, 119, 180), false),
    }
}

/// Mark size in pixels (the unit shapes are scaled by it).
const MARK_PX: f64 = 5.0;

fn shape_path(pts: &[(f64, f64)]) -> String {
    let mut d = String::new();
    for (i, &(x, y)) in pts.iter().enumerate() {
        let _ = write!(
            d,
            "{}{},{}",
            if i == 0 { "M" } else { "L" },
            px(x * MARK_PX),
            px(y * MARK_PX)
        );
    }
    d.push('Z');
    d
}

/// The CSS that colours the marks (inside every graph, so a standalone SVG looks the same).
pub fn mark_css() -> String {
    let mut css = String::new();
    for k in MarkKind::ALL {
        let (_, c, filled) = style(k);
        if filled {
            let _ = write!(css, ".tsg .{}{{fill:{}}}", k.class(), hex(c));
        } else {
            let _ = write!(
                css,
                ".tsg .{}{{fill:#fff;fill-opacity:.6;stroke:{};stroke-width:1.6}}",
                k.class(),
                hex(c)
            );
        }
    }
    css
}

fn bytes_label(v: &f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Where a segment sits in the data sender's sequence space.
fn position(s: &SegPoint, data_from: Role, kind: Option<MarkKind>) -> f64 {
    if s.from == data_from {
        match kind {
            Some(k) if k.about_ack() => s.seq as f64,
            _ => s.seq as f64 + f64::from(s.seg_len) / 2.0,
        }
    } else {
        s.ack.unwrap_or(0) as f64
    }
}

/// A tooltip: what the timeline says of the segment.
pub fn describe(s: &SegPoint, what: &str) -> String {
    let mut t = format!(
        "frame {} · {} → {} · t {:.6} s · seq {}",
        s.frame,
        s.from.name(),
        s.from.other().name(),
        s.t,
        s.seq
    );
    if let Some(a) = s.ack {
        let _ = write!(t, " ack {a}");
    }
    let _ = write!(t, " len {} win {}", s.len, s.window);
    if !what.is_empty() {
        let _ = write!(t, " · {what}");
    }
    t
}

/// Keep, per pixel column, the points with the lowest and highest value and the first and last
/// (in time order), so a step line keeps its shape and every column its extremes.
fn thin_line(points: &[(f64, f64)], f: &Frame) -> Vec<(f64, f64)> {
    if points.len() <= THIN_ABOVE {
        return points.to_vec();
    }
    let mut keep = vec![false; points.len()];
    let mut col_start = 0usize;
    while col_start < points.len() {
        let col = column(f.x(points[col_start].0), f);
        let mut end = col_start;
        while end < points.len() && column(f.x(points[end].0), f) == col {
            end += 1;
        }
        let slice = &points[col_start..end];
        let lo = (0..slice.len()).min_by(|&a, &b| slice[a].1.total_cmp(&slice[b].1));
        let hi = (0..slice.len()).max_by(|&a, &b| slice[a].1.total_cmp(&slice[b].1));
        for i in [Some(0), lo, hi, Some(slice.len() - 1)]
            .into_iter()
            .flatten()
        {
            keep[col_start + i] = true;
        }
        col_start = end;
    }
    points
        .iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

fn column(xpx: f64, f: &Frame) -> i64 {
    ((xpx - f.left) * COLUMNS_PER_PX).floor() as i64
}

/// Vertical bars `(t, lo, hi)`: per column, the one reaching lowest and the one reaching highest.
fn thin_bars(bars: &[(f64, f64, f64)], f: &Frame) -> Vec<(f64, f64, f64)> {
    if bars.len() <= THIN_ABOVE {
        return bars.to_vec();
    }
    let mut cols: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for (i, b) in bars.iter().enumerate() {
        let c = column(f.x(b.0), f);
        let e = cols.entry(c).or_insert((i, i));
        if b.1 < bars[e.0].1 {
            e.0 = i;
        }
        if b.2 > bars[e.1].2 {
            e.1 = i;
        }
    }
    let mut idx: Vec<usize> = cols.values().flat_map(|&(a, b)| [a, b]).collect();
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter().map(|i| bars[i]).collect()
}

fn step_path(points: &[(f64, f64)], f: &Frame) -> String {
    let mut d = String::new();
    for (i, &(t, v)) in points.iter().enumerate() {
        if i == 0 {
            let _ = write!(d, "M{},{}", px(f.x(t)), px(f.y(v)));
        } else {
            let _ = write!(d, "H{}V{}", px(f.x(t)), px(f.y(v)));
        }
    }
    d
}

fn bars_path(bars: &[(f64, f64, f64)], f: &Frame) -> String {
    let mut d = String::new();
    for &(t, lo, hi) in bars {
        let _ = write!(d, "M{},{}V{}", px(f.x(t)), px(f.y(lo)), px(f.y(hi)));
    }
    d
}

/// The graph as one `<svg>` element. `uid` makes its ids unique within a page.
pub fn render(g: &ConnGraph, uid: &str) -> String {
    let d_side = g.data_from;
    let (data, recv) = (g.side(d_side), g.side(d_side.other()));
    // A marked segment of data is still a segment: its bar is drawn, never thinned.
    let marked_bars: Vec<(f64, f64, f64)> = g
        .marks
        .iter()
        .map(|m| &m.seg)
        .filter(|s| s.from == d_side && s.seg_len > 0)
        .map(|s| (s.t, s.seq as f64, s.seq as f64 + f64::from(s.seg_len)))
        .collect();
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for &(_, a, b) in data.bars.iter().chain(&marked_bars) {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    for &(_, a) in &recv.acks {
        lo = lo.min(a);
        hi = hi.max(a);
    }
    for m in g.marks.iter().filter(|m| m.seg.from != d_side) {
        if let Some(a) = m.seg.ack {
            lo = lo.min(a as f64);
            hi = hi.max(a as f64);
        }
    }
    let win_hi = recv.windows.iter().map(|w| w.1).fold(1.0f64, f64::max);
    // The window may reach far above the data; show a little of it, clip the rest.
    let top = hi.max(win_hi.min(hi + 0.25 * (hi - lo).max(1.0)));
    let span = (top - lo).max(1.0);
    let t_end = g.duration_s.max(1e-6);
    let counts: Vec<(MarkKind, u64, usize)> = MarkKind::ALL
        .iter()
        .map(|&k| (k, g.mark_count(k), g.marks_drawn(k)))
        .collect();
    let mut legend = vec![
        LegendItem {
            swatch: Swatch::Line(DATA),
            label: format!(
                "data segments ({} → {})",
                d_side.name(),
                d_side.other().name()
            ),
            class: None,
        },
        LegendItem {
            swatch: Swatch::Line(ACK),
            label: "ACK".into(),
            class: None,
        },
        LegendItem {
            swatch: Swatch::Line(WINDOW),
            label: "receive window (ACK + win)".into(),
            class: None,
        },
        LegendItem {
            swatch: Swatch::Line(SACK),
            label: "SACK blocks".into(),
            class: None,
        },
    ];
    for &(k, n, drawn) in &counts {
        let (shape, c, filled) = style(k);
        legend.push(LegendItem {
            swatch: if filled {
                Swatch::Shape(shape, c)
            } else {
                Swatch::Outline(shape, c)
            },
            label: if drawn as u64 == n {
                format!("{} ({n})", k.label())
            } else {
                format!("{} ({n}, in {drawn} runs)", k.label())
            },
            class: Some(k.class()),
        });
    }
    let caption = format!(
        "Connection {} time-sequence graph: {} → {}",
        g.id,
        if d_side == Role::Client {
            &g.client
        } else {
            &g.server
        },
        if d_side == Role::Client {
            &g.server
        } else {
            &g.client
        }
    );
    let spec = AxesSpec {
        caption: &caption,
        x_desc: "time since the connection's first segment (s)",
        y_desc: "relative sequence number (bytes)",
        x: (0.0, t_end * 1.02),
        y: (lo - 0.02 * span, top + 0.03 * span),
        width: WIDTH,
        height: HEIGHT,
        y_fmt: bytes_label,
    };
    let (axes, over, f) = furniture(&spec, &legend);

    let mut plain = thin_bars(&data.bars, &f);
    plain.extend(marked_bars);
    let acks = thin_line(&recv.acks, &f);
    let wins = thin_line(&recv.windows, &f);
    let sacks = thin_bars(&recv.sacks, &f);

    let mut out = String::new();
    open_svg(
        &mut out,
        "tsg",
        WIDTH,
        HEIGHT,
        &format!(r#"data-conn="{}" {}"#, g.id, f.data_attrs()),
    );
    let _ = writeln!(
        out,
        "<style>{}.tsg .seg{{stroke:{};stroke-width:1.6;fill:none}}.tsg .ackl{{stroke:{};stroke-width:1.2;fill:none}}.tsg .winl{{stroke:{};stroke-width:1.2;fill:none}}.tsg .sack{{stroke:{};stroke-width:2;fill:none;opacity:.7}}.tsg .lines path{{vector-effect:non-scaling-stroke}}</style>",
        mark_css(),
        hex(DATA),
        hex(ACK),
        hex(WINDOW),
        hex(SACK)
    );
    out.push_str("<defs>");
    for k in MarkKind::ALL {
        let (shape, _, _) = style(k);
        let _ = write!(
            out,
            r#"<path id="m{uid}-{}" d="{}"/>"#,
            k.class(),
            shape_path(shape)
        );
    }
    let _ = write!(
        out,
        r#"<clipPath id="clip{uid}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs>"#,
        px(f.left),
        px(f.top),
        px(f.right - f.left),
        px(f.bottom - f.top)
    );
    out.push('\n');
    let _ = writeln!(out, r#"<g class="axes">{axes}</g>"#);
    out.push_str("<g class=\"zaxes\"></g>\n");
    let _ = writeln!(out, r#"<g clip-path="url(#clip{uid})"><g class="view">"#);
    out.push_str("<g class=\"lines\">");
    let _ = write!(
        out,
        r#"<path class="winl" d="{}"/><path class="sack" d="{}"/><path class="ackl" d="{}"/><path class="seg" d="{}"/>"#,
        step_path(&wins, &f),
        bars_path(&sacks, &f),
        step_path(&acks, &f),
        bars_path(&plain, &f)
    );
    out.push_str("</g>\n<g class=\"marks\">\n");
    for m in &g.marks {
        write_mark(&mut out, m, d_side, uid, &f);
    }
    out.push_str("</g></g></g>\n");
    let _ = writeln!(out, r#"<g class="legend">{over}</g>"#);
    out.push_str("</svg>\n");
    out
}

/// One `<use>` per kind of the mark, side by side; a run of duplicate ACKs says how many.
fn write_mark(out: &mut String, m: &MarkPoint, d_side: Role, uid: &str, f: &Frame) {
    let s = &m.seg;
    for (i, k) in m.kinds.iter().enumerate() {
        let x = f.x(s.t) + 7.0 * i as f64;
        let y = f.y(position(s, d_side, Some(k)));
        let run = k == MarkKind::DupAck && m.dup_acks > 1;
        let title = if run {
            format!(
                "{} duplicate ACKs, frames {}–{} · {}",
                m.dup_acks,
                s.frame,
                m.last_frame,
                describe(s, "")
            )
        } else {
            describe(s, k.label())
        };
        let count = if k == MarkKind::DupAck {
            format!(
                r#" data-count="{}" data-last-frame="{}""#,
                m.dup_acks, m.last_frame
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            r##"<use href="#m{uid}-{c}" class="{c}" data-frame="{fr}"{count} x="{x}" y="{y}"><title>{t}</title></use>"##,
            c = k.class(),
            fr = s.frame,
            x = px(x),
            y = px(y),
            t = esc(&title)
        );
    }
}
