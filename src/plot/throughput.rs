//! Throughput over time: payload bytes each side sent per time slice (retransmissions
//! included), and the new data the peer acknowledged (goodput), in bits per second. On a long
//! connection the bytes come summed over the sketch's time slots, each counted in the slice
//! where it starts (a slot is under 1/2000 of the duration, a slice 1/120).

use std::fmt::Write;

use plotters::style::RGBColor;

use super::svg::{AxesSpec, LegendItem, Swatch, chart, hex, steps_path};
use super::{ConnGraph, Role};

pub const WIDTH: u32 = 1060;
pub const HEIGHT: u32 = 340;
const SLICES: usize = 120;

fn colour(r: Role) -> RGBColor {
    match r {
        Role::Client => RGBColor(31, 90, 180),
        Role::Server => RGBColor(220, 110, 0),
    }
}

fn rate_label(v: &f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1} Gb/s", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1} Mb/s", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0} kb/s", v / 1e3)
    } else {
        format!("{v:.0} b/s")
    }
}

pub fn render(g: &ConnGraph, uid: &str) -> String {
    let t_end = g.duration_s.max(1e-6);
    let slice = t_end / SLICES as f64;
    let idx = |t: f64| ((t / slice) as usize).min(SLICES - 1);
    let mut sent = [[0u64; SLICES]; 2];
    let mut acked = [[0u64; SLICES]; 2];
    for k in 0..2 {
        for &(t, b) in &g.lines[k].sent {
            sent[k][idx(t)] += b;
        }
        for &(t, b) in &g.lines[k].acked {
            acked[k][idx(t)] += b;
        }
    }
    let series = |v: &[u64; SLICES]| -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(i, &b)| (i as f64 * slice, b as f64 * 8.0 / slice))
            .collect();
        p.push((t_end, p.last().map_or(0.0, |l| l.1)));
        p
    };
    let roles: Vec<Role> = [Role::Client, Role::Server]
        .into_iter()
        .filter(|&r| sent[r as usize].iter().any(|&b| b > 0))
        .collect();
    let y_hi = roles
        .iter()
        .flat_map(|&r| sent[r as usize].iter().chain(acked[r as usize].iter()))
        .map(|&b| b as f64 * 8.0 / slice)
        .fold(1.0, f64::max);
    let mut legend = Vec::new();
    for &r in &roles {
        legend.push(LegendItem {
            swatch: Swatch::Line(colour(r)),
            label: format!("{} sent", r.name()),
            class: None,
        });
        legend.push(LegendItem {
            swatch: Swatch::Dashed(colour(r)),
            label: format!("{} data acked (goodput)", r.name()),
            class: None,
        });
    }
    let caption = format!("Connection {} throughput ({:.3} s slices)", g.id, slice);
    let spec = AxesSpec {
        caption: &caption,
        x_desc: "time since the connection's first segment (s)",
        y_desc: "bits per second",
        x: (0.0, t_end * 1.02),
        y: (0.0, y_hi * 1.08),
        width: WIDTH,
        height: HEIGHT,
        y_fmt: rate_label,
    };
    chart(
        "throughput",
        uid,
        &spec,
        &legend,
        &format!(r#"data-conn="{}""#, g.id),
        |f| {
            let mut body = String::new();
            for &r in &roles {
                let c = hex(colour(r));
                let _ = write!(
                    body,
                    r#"<path class="sent" data-role="{}" d="{}" stroke="{c}" fill="none" stroke-width="1.6"/><path class="goodput" data-role="{}" d="{}" stroke="{c}" stroke-dasharray="5 3" fill="none" stroke-width="1.3"/>"#,
                    r.name(),
                    steps_path(&series(&sent[r as usize]), f),
                    r.name(),
                    steps_path(&series(&acked[r as usize]), f)
                );
            }
            (body, String::new())
        },
    )
}
