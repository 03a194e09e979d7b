//! A service's timeseries as an SVG chart: replicas (desired, ready, pending), load
//! (arrivals and completions per second) and latency (p95, TTFT p95 for LLMs) over time,
//! stacked on one time axis. Plain SVG text: the viewer renders the labels, so no font is
//! embedded.

use super::fmt_num;
use crate::sim::Report;
use std::fmt::Write;

const W: f64 = 900.0;
const PANEL_H: f64 = 170.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const GAP: f64 = 45.0;
const COLORS: [&str; 4] = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd"];

/// One panel: a y-axis label and the series drawn in it (metric names of the service).
struct Panel {
    label: &'static str,
    metrics: &'static [&'static str],
}

const PANELS: [Panel; 3] = [
    Panel {
        label: "pods",
        metrics: &["desired_replicas", "ready", "pending_pods"],
    },
    Panel {
        label: "requests/s",
        metrics: &["arrivals_rps", "throughput_rps"],
    },
    Panel {
        label: "ms",
        metrics: &["latency_p95_ms", "ttft_p95_ms"],
    },
];

/// A "nice" round step for about `n` ticks over [0, max].
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart of `service`, or None when its timeseries has fewer than two samples.
pub fn service_chart(report: &Report, service: &str) -> Option<String> {
    let points = |m: &str| -> Vec<(f64, f64)> {
        report
            .timeseries
            .iter()
            .filter(|(_, c, k, v)| c == service && *k == m && v.is_finite())
            .map(|(t, _, _, v)| (*t, *v))
            .collect()
    };
    let all: Vec<f64> = report
        .timeseries
        .iter()
        .filter(|(_, c, ..)| c == service)
        .map(|x| x.0)
        .collect();
    let t_max = all.iter().cloned().fold(0.0, f64::max);
    if all.len() < 2 || t_max <= 0.0 {
        return None;
    }
    // Minutes on the axis for runs up to a few hours, hours beyond.
    let (unit, scale) = if t_max > 4.0 * 3600.0 {
        ("h", 3600.0)
    } else {
        ("min", 60.0)
    };
    let plot_w = W - LEFT - RIGHT;
    let h = TOP + 3.0 * PANEL_H + 2.0 * GAP + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{} — {} (mean of {} replication{})</text>"#,
        escape(&report.scenario),
        escape(service),
        report.replications,
        if report.replications == 1 { "" } else { "s" }
    );
    let x = |t: f64| LEFT + t / t_max * plot_w;
    for (pi, panel) in PANELS.iter().enumerate() {
        let top = TOP + pi as f64 * (PANEL_H + GAP);
        let series: Vec<(&str, Vec<(f64, f64)>)> = panel
            .metrics
            .iter()
            .map(|m| (*m, points(m)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let y_max = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|x| x.1))
            .fold(0.0, f64::max);
        let step = nice_step(if y_max > 0.0 { y_max } else { 1.0 }, 4.0);
        let y_top = (y_max / step).ceil().max(1.0) * step;
        let y = |v: f64| top + PANEL_H - v / y_top * PANEL_H;
        // Frame, grid and y ticks.
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="none" stroke="#444"/>"##
        );
        let mut v = 0.0;
        while v <= y_top + step / 2.0 {
            let yy = y(v);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                yy + 4.0,
                fmt_num(v)
            );
            v += step;
        }
        let _ = writeln!(
            out,
            r#"<text x="18" y="{:.1}" transform="rotate(-90 18 {:.1})" text-anchor="middle">{}</text>"#,
            top + PANEL_H / 2.0,
            top + PANEL_H / 2.0,
            panel.label
        );
        for (si, (name, pts)) in series.iter().enumerate() {
            let color = COLORS[si % COLORS.len()];
            let path: Vec<String> = pts
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{}"/>"#,
                path.join(" ")
            );
            let ly = top + 14.0 + si as f64 * 18.0;
            let _ = writeln!(
                out,
                r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
                LEFT + plot_w + 12.0,
                LEFT + plot_w + 32.0,
                LEFT + plot_w + 38.0,
                ly + 4.0
            );
        }
    }
    // Time axis under the last panel.
    let bottom = TOP + 3.0 * PANEL_H + 2.0 * GAP;
    let step = nice_step(t_max / scale, 8.0);
    let mut t = 0.0;
    while t <= t_max / scale + 1e-9 {
        let xx = x(t * scale);
        let _ = writeln!(
            out,
            r##"<line x1="{xx:.1}" y1="{bottom}" x2="{xx:.1}" y2="{:.1}" stroke="#444"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 19.0,
            fmt_num(t)
        );
        t += step;
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">simulated time ({unit})</text>"#,
        LEFT + plot_w / 2.0,
        bottom + 40.0
    );
    out.push_str("</svg>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 4.0), 50.0);
        assert_eq!(nice_step(16.0, 4.0), 5.0);
        assert_eq!(nice_step(0.9, 4.0), 0.5);
    }
}
