//! RTT samples over time (Karn's rule) with the RFC 6298 estimator: SRTT and the RTO it gives,
//! floored as Linux floors it (the floor is written in the legend).

use std::fmt::Write;

use plotters::style::RGBColor;

use super::svg::{
    AxesSpec, LegendItem, Swatch, chart, hex, line_path, plain_label, px, thin_columns,
};
use super::{ConnGraph, Role};

pub const WIDTH: u32 = 1060;
pub const HEIGHT: u32 = 380;

fn colour(r: Role) -> RGBColor {
    match r {
        Role::Client => RGBColor(31, 90, 180),
        Role::Server => RGBColor(220, 110, 0),
    }
}

pub fn render(g: &ConnGraph, uid: &str) -> String {
    let t_end = g.duration_s.max(1e-6);
    let y_hi = g
        .lines
        .iter()
        .flat_map(|l| l.rtt.iter().chain(&l.rto))
        .map(|p| p.1)
        .fold(1.0f64, f64::max);
    let mut legend = Vec::new();
    let roles: Vec<Role> = [Role::Client, Role::Server]
        .into_iter()
        .filter(|&r| g.side(r).rtt_samples > 0)
        .collect();
    for &r in &roles {
        let n = g.side(r).rtt_samples;
        legend.push(LegendItem {
            swatch: Swatch::Shape(
                &[(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)],
                colour(r),
            ),
            label: format!("{} data: RTT sample ({n})", r.name()),
            class: None,
        });
        legend.push(LegendItem {
            swatch: Swatch::Line(colour(r)),
            label: format!("{}: SRTT", r.name()),
            class: None,
        });
        legend.push(LegendItem {
            swatch: Swatch::Dashed(colour(r)),
            label: format!("{}: RTO (SRTT + 4·RTTVAR)", r.name()),
            class: None,
        });
    }
    legend.push(LegendItem {
        swatch: Swatch::Dashed(RGBColor(150, 150, 150)),
        label: format!("RTO floor {:.0} ms (Linux)", g.rto_floor_ms),
        class: None,
    });
    legend.push(LegendItem {
        swatch: Swatch::Line(RGBColor(255, 255, 255)),
        label: format!("RFC 6298 floor: {:.0} ms", g.rfc_rto_floor_ms),
        class: None,
    });
    let caption = format!(
        "Connection {} RTT: samples by Karn's rule, SRTT and RTO{}",
        g.id,
        if roles.is_empty() {
            " (no samples)"
        } else {
            ""
        }
    );
    let spec = AxesSpec {
        caption: &caption,
        x_desc: "time since the connection's first segment (s)",
        y_desc: "milliseconds",
        x: (0.0, t_end * 1.02),
        y: (0.0, y_hi * 1.08),
        width: WIDTH,
        height: HEIGHT,
        y_fmt: plain_label,
    };
    chart(
        "rtt",
        uid,
        &spec,
        &legend,
        &format!(r#"data-conn="{}""#, g.id),
        |f| {
            let mut body = String::new();
            let floor_y = f.y(g.rto_floor_ms);
            let _ = write!(
                body,
                r##"<path d="M{},{}H{}" stroke="#969696" stroke-dasharray="2 4" fill="none"/>"##,
                px(f.left),
                px(floor_y),
                px(f.right)
            );
            for &r in &roles {
                let l = g.side(r);
                let c = hex(colour(r));
                let _ = write!(
                    body,
                    r#"<path class="rto-line" d="{}" stroke="{c}" stroke-dasharray="6 4" fill="none" stroke-width="1.4"/><path class="srtt" d="{}" stroke="{c}" fill="none" stroke-width="1.6"/>"#,
                    line_path(&thin_columns(&l.rto, f, 3000), f),
                    line_path(&thin_columns(&l.srtt, f, 3000), f)
                );
                // Each sample a 3-pixel square, all in one path: a long connection has
                // thousands of them (a third of the bytes of one element each).
                let mut squares = String::new();
                for (t, v) in thin_columns(&l.rtt, f, 3000) {
                    let _ = write!(
                        squares,
                        "M{},{}h3v3h-3z",
                        px(f.x(t) - 1.5),
                        px(f.y(v) - 1.5)
                    );
                }
                let _ = write!(
                    body,
                    r#"<path class="samples" data-role="{}" d="{squares}" fill="{c}" fill-opacity=".55"/>"#,
                    r.name()
                );
            }
            (body, String::new())
        },
    )
}
