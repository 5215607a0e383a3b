//! What every graph shares: the chart furniture drawn by `plotters` (background, grid, tick
//! labels, axis titles, caption, legend) and the small helpers that write SVG text by hand.

use std::fmt::Write;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const FONT: &str = "sans-serif";
/// Width of the legend column at the right of a chart.
pub const LEGEND_W: u32 = 250;

/// Escape text for an SVG or HTML text node or attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A pixel coordinate with one decimal, without a trailing `.0` (deterministic and short).
pub fn px(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// A linear map from data to pixels, the one plotters used for the grid.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// The plotting area in pixels.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Frame {
    pub fn x(&self, v: f64) -> f64 {
        self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
    }

    pub fn y(&self, v: f64) -> f64 {
        self.bottom - (v - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
    }

    /// The data-to-pixel map as attributes, so the page's script can label a zoomed view.
    pub fn data_attrs(&self) -> String {
        format!(
            r#"data-left="{}" data-right="{}" data-top="{}" data-bottom="{}" data-x0="{}" data-x1="{}" data-y0="{}" data-y1="{}""#,
            px(self.left),
            px(self.right),
            px(self.top),
            px(self.bottom),
            self.x0,
            self.x1,
            self.y0,
            self.y1
        )
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub enum Swatch {
    /// A line of this colour.
    Line(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A closed shape (unit polygon around 0,0, scaled by 5 px) filled with the colour.
    Shape(&'static [(f64, f64)], RGBColor),
    /// An open shape: the polygon's outline.
    Outline(&'static [(f64, f64)], RGBColor),
}

pub struct LegendItem {
    pub swatch: Swatch,
    pub label: String,
    /// The SVG class of the marks it explains, if any.
    pub class: Option<&'static str>,
}

/// What the axes say.
pub struct AxesSpec<'a> {
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub width: u32,
    pub height: u32,
    /// Tick label format for the y axis (e.g. thousands of bytes).
    pub y_fmt: fn(&f64) -> String,
}

/// Default tick label: plotters' own choice of digits for a float.
pub fn plain_label(v: &f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == a.trunc() {
        format!("{:.0}", v)
    } else if a >= 1.0 {
        format!("{:.2}", v)
    } else {
        format!("{:.3}", v)
    }
}

/// The grid and tick labels (`axes`), and the caption, axis titles and legend (`legend`), each
/// as the inside of an SVG element, with the data-to-pixel map. Never fails: a drawing error
/// leaves that part empty.
pub fn furniture(spec: &AxesSpec, legend: &[LegendItem]) -> (String, String, Frame) {
    let (mut x0, mut x1) = spec.x;
    let (mut y0, mut y1) = spec.y;
    if x1 <= x0 || !x0.is_finite() || !x1.is_finite() {
        (x0, x1) = (x0.min(0.0), x0.max(0.0) + 1.0);
    }
    if y1 <= y0 || !y0.is_finite() || !y1.is_finite() {
        (y0, y1) = (y0.min(0.0), y0.max(0.0) + 1.0);
    }
    let legend_w = if legend.is_empty() { 0 } else { LEGEND_W };
    let mut axes = String::new();
    let mut frame = Frame {
        width: spec.width,
        height: spec.height,
        left: 0.0,
        right: f64::from(spec.width),
        top: 0.0,
        bottom: f64::from(spec.height),
        x0,
        x1,
        y0,
        y1,
    };
    {
        let root =
            SVGBackend::with_string(&mut axes, (spec.width, spec.height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let (chart_area, _) = root.split_horizontally(spec.width - legend_w);
        let built = ChartBuilder::on(&chart_area)
            .margin_top(34)
            .margin_right(16)
            .margin_left(8)
            .margin_bottom(8)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(x0..x1, y0..y1);
        if let Ok(mut chart) = built {
            let _ = chart
                .configure_mesh()
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(215, 215, 215))
                .axis_desc_style((FONT, 13))
                .label_style((FONT, 12))
                .x_desc(spec.x_desc)
                .y_desc(spec.y_desc)
                .y_label_formatter(&spec.y_fmt)
                .x_label_formatter(&plain_label)
                .draw();
            let (a, b) = (
                chart.backend_coord(&(x0, y0)),
                chart.backend_coord(&(x1, y1)),
            );
            frame.left = f64::from(a.0);
            frame.bottom = f64::from(a.1);
            frame.right = f64::from(b.0);
            frame.top = f64::from(b.1);
        }
        let _ = root.present();
    }
    let mut over = String::new();
    {
        let root =
            SVGBackend::with_string(&mut over, (spec.width, spec.height)).into_drawing_area();
        let _ = root.draw(&Text::new(
            spec.caption.to_string(),
            (10, 10),
            (FONT, 15).into_font().style(FontStyle::Bold),
        ));
        let lx = (spec.width - legend_w + 8) as i32;
        let mut ly = 40i32;
        for item in legend {
            draw_swatch(&root, item.swatch, (lx + 10, ly));
            let _ = root.draw(&Text::new(
                item.label.clone(),
                (lx + 26, ly),
                TextStyle::from((FONT, 11).into_font())
                    .pos(Pos::new(HPos::Left, VPos::Center))
                    .color(&RGBColor(40, 40, 40)),
            ));
            ly += 19;
        }
        let _ = root.present();
    }
    (inner(&axes), inner(&over), frame)
}

fn draw_swatch<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    s: Swatch,
    at: (i32, i32),
) {
    let (x, y) = at;
    let poly = |pts: &[(f64, f64)]| -> Vec<(i32, i32)> {
        pts.iter()
            .map(|&(dx, dy)| (x + (dx * 5.0).round() as i32, y + (dy * 5.0).round() as i32))
            .collect()
    };
    match s {
        Swatch::Line(c) => {
            let _ = root.draw(&PathElement::new(
                vec![(x - 9, y), (x + 9, y)],
                c.stroke_width(2),
            ));
        }
        Swatch::Dashed(c) => {
            for k in 0..3 {
                let _ = root.draw(&PathElement::new(
                    vec![(x - 9 + 7 * k, y), (x - 5 + 7 * k, y)],
                    c.stroke_width(2),
                ));
            }
        }
        Swatch::Shape(pts, c) => {
            let _ = root.draw(&Polygon::new(poly(pts), c.filled()));
        }
        Swatch::Outline(pts, c) => {
            let mut p = poly(pts);
            if let Some(first) = p.first().copied() {
                p.push(first);
            }
            let _ = root.draw(&PathElement::new(p, c.stroke_width(2)));
        }
    }
}

/// The inside of the `<svg>` element plotters wrote.
fn inner(svg: &str) -> String {
    let start = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1));
    let end = svg.rfind("</svg>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => svg[s..e].trim().to_string(),
        _ => String::new(),
    }
}

/// The opening tag of a graph's `<svg>`, with its kind and size.
pub fn open_svg(out: &mut String, kind: &str, w: u32, h: u32, extra: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph {kind}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}"{sp}{extra}>"#,
        sp = if extra.is_empty() { "" } else { " " }
    );
    out.push('\n');
}

/// `#rrggbb`.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A polyline through `points` (data coordinates).
pub fn line_path(points: &[(f64, f64)], f: &Frame) -> String {
    let mut d = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{},{}",
            if i == 0 { "M" } else { "L" },
            px(f.x(x)),
            px(f.y(y))
        );
    }
    d
}

/// A step line: each value holds until the next point.
pub fn steps_path(points: &[(f64, f64)], f: &Frame) -> String {
    let mut d = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if i == 0 {
            let _ = write!(d, "M{},{}", px(f.x(x)), px(f.y(y)));
        } else {
            let _ = write!(d, "H{}V{}", px(f.x(x)), px(f.y(y)));
        }
    }
    d
}

/// Per pixel column, the first, lowest, highest and last point (in order), so a line keeps its
/// shape and every column its extremes; `points` must be in x order.
pub fn thin_columns(points: &[(f64, f64)], f: &Frame, above: usize) -> Vec<(f64, f64)> {
    if points.len() <= above {
        return points.to_vec();
    }
    let col = |x: f64| ((f.x(x) - f.left) * 2.0).floor() as i64;
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let c = col(points[i].0);
        let mut j = i;
        while j < points.len() && col(points[j].0) == c {
            j += 1;
        }
        let s = &points[i..j];
        let lo = (0..s.len())
            .min_by(|&a, &b| s[a].1.total_cmp(&s[b].1))
            .unwrap_or(0);
        let hi = (0..s.len())
            .max_by(|&a, &b| s[a].1.total_cmp(&s[b].1))
            .unwrap_or(0);
        let mut idx = [0, lo, hi, s.len() - 1];
        idx.sort_unstable();
        for (k, &n) in idx.iter().enumerate() {
            if k == 0 || idx[k - 1] != n {
                out.push(s[n]);
            }
        }
        i = j;
    }
    out
}

/// A whole chart: plotters' furniture around `body`, which returns SVG drawn in the frame's
/// pixels: what is clipped to the plotting area, and what is not (labels).
pub fn chart(
    kind: &str,
    uid: &str,
    spec: &AxesSpec,
    legend: &[LegendItem],
    extra_attrs: &str,
    body: impl FnOnce(&Frame) -> (String, String),
) -> String {
    let (axes, over, f) = furniture(spec, legend);
    let mut out = String::new();
    open_svg(&mut out, kind, spec.width, spec.height, extra_attrs);
    let _ = writeln!(
        out,
        r#"<defs><clipPath id="clip{uid}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs>"#,
        px(f.left),
        px(f.top),
        px(f.right - f.left),
        px(f.bottom - f.top)
    );
    let _ = writeln!(out, r#"<g class="axes">{axes}</g>"#);
    let (clipped, free) = body(&f);
    let _ = writeln!(out, r#"<g clip-path="url(#clip{uid})">{clipped}</g>"#);
    out.push_str(&free);
    let _ = writeln!(out, r#"<g class="legend">{over}</g>"#);
    out.push_str("</svg>\n");
    out
}
