//! TIME_WAIT sockets held over the capture, per server endpoint and per host, each with its
//! peak marked.

use std::fmt::Write;

use plotters::style::RGBColor;

use super::TimeWaitData;
use super::svg::{AxesSpec, LegendItem, Swatch, chart, esc, hex, px, steps_path, thin_columns};

pub const WIDTH: u32 = 1060;
pub const HEIGHT: u32 = 380;

const PALETTE: [RGBColor; 8] = [
    RGBColor(200, 30, 30),
    RGBColor(31, 90, 180),
    RGBColor(40, 150, 60),
    RGBColor(220, 110, 0),
    RGBColor(120, 70, 190),
    RGBColor(23, 150, 170),
    RGBColor(140, 86, 75),
    RGBColor(100, 100, 100),
];

pub fn render(d: &TimeWaitData, uid: &str) -> String {
    let t_end = d.span_s.max(1e-6);
    let y_hi = d.series.iter().map(|s| s.peak).max().unwrap_or(0).max(1);
    let legend: Vec<LegendItem> = d
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendItem {
            swatch: if s.label.starts_with("host") {
                Swatch::Dashed(PALETTE[i % PALETTE.len()])
            } else {
                Swatch::Line(PALETTE[i % PALETTE.len()])
            },
            label: format!("{} (peak {})", s.label, s.peak),
            class: None,
        })
        .collect();
    let caption = if d.series.is_empty() {
        "TIME_WAIT sockets held: no endpoint entered TIME_WAIT".to_string()
    } else {
        format!(
            "TIME_WAIT sockets held over the capture ({:.0} s TIME_WAIT)",
            d.duration_s
        )
    };
    let spec = AxesSpec {
        caption: &caption,
        x_desc: "time since the capture began (s)",
        y_desc: "sockets in TIME_WAIT",
        x: (0.0, t_end * 1.02),
        y: (0.0, f64::from(y_hi) * 1.15),
        width: WIDTH,
        height: HEIGHT,
        y_fmt: count_label,
    };
    chart("time-wait", uid, &spec, &legend, "", |f| {
        let mut body = String::new();
        let mut labels = String::new();
        for (i, s) in d.series.iter().enumerate() {
            let c = hex(PALETTE[i % PALETTE.len()]);
            let mut pts: Vec<(f64, f64)> =
                s.steps.iter().map(|&(t, v)| (t, f64::from(v))).collect();
            pts.push((t_end * 1.02, pts.last().map_or(0.0, |l| l.1)));
            let dash = if s.label.starts_with("host") {
                r#" stroke-dasharray="6 3""#
            } else {
                ""
            };
            let _ = write!(
                body,
                r#"<path class="held" data-label="{}" d="{}" stroke="{c}"{dash} fill="none" stroke-width="1.6"/>"#,
                esc(&s.label),
                steps_path(&thin_columns(&pts, f, 4000), f)
            );
            if s.peak > 0 {
                let (x, y) = (f.x(s.peak_t), f.y(f64::from(s.peak)));
                let _ = write!(
                    labels,
                    r#"<g class="peak" data-label="{}" data-peak="{}"><circle cx="{}" cy="{}" r="4" fill="{c}"/><text x="{}" y="{}" font-size="11" fill="{c}" text-anchor="{}">peak {} at {:.1} s</text></g>"#,
                    esc(&s.label),
                    s.peak,
                    px(x),
                    px(y),
                    px(if x > f.right - 120.0 {
                        x - 8.0
                    } else {
                        x + 6.0
                    }),
                    px(y + 14.0 + 13.0 * i as f64),
                    if x > f.right - 120.0 { "end" } else { "start" },
                    s.peak,
                    s.peak_t
                );
            }
        }
        (body, labels)
    })
}

/// Sockets are whole: ticks between whole numbers stay unlabelled.
fn count_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}
