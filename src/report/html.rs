//! index.html: the summary table and every chart of a results folder, on one page that
//! needs nothing but the folder (no scripts, no network).

use super::figures::Chart;
use super::{fmt_num, intervals};
use crate::sim::Report;
use std::fmt::Write as _;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:DejaVu Sans,Verdana,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f0f0f0}td.l,th.l{text-align:left}\
.warn{color:#a33}figure{margin:18px 0}img{max-width:100%;border:1px solid #ddd}\
figcaption{font-size:13px;color:#555}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

fn figures(out: &mut String, charts: &[Chart]) {
    if charts.is_empty() {
        return;
    }
    out.push_str("<h2>Charts</h2>\n");
    for c in charts {
        let _ = writeln!(
            out,
            "<figure><a href=\"{s}.png\"><img src=\"{s}.svg\" alt=\"{a}\"></a>\
             <figcaption>{a} (<a href=\"{s}.png\">PNG</a>, <a href=\"{s}.svg\">SVG</a>)</figcaption></figure>",
            s = esc(&c.stem),
            a = esc(&c.caption)
        );
    }
}

/// The page of one run: its summary (every figure with its interval), saturation notices,
/// check results and charts.
pub fn run_index(report: &Report, charts: &[Chart], checks: &[String]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>{}</h1>\n<p>{}. \
         Data: <a href=\"summary.csv\">summary.csv</a>, <a href=\"summary.json\">summary.json</a>, \
         <a href=\"timeseries.csv\">timeseries.csv</a>.</p>",
        esc(&report.scenario),
        esc(&super::replications_phrase(report.replications)),
    );
    for (svc, p) in super::health::problems(report) {
        let _ = writeln!(b, "<p class=\"warn\">{}.</p>", esc(&p.explain(&svc)));
    }
    if !checks.is_empty() {
        b.push_str("<h2>Checks</h2>\n<ul>\n");
        for c in checks {
            let cls = if c.contains("FAILED") {
                " class=\"warn\""
            } else {
                ""
            };
            let _ = writeln!(b, "<li{cls}>{}</li>", esc(c));
        }
        b.push_str("</ul>\n");
    }
    // As on the terminal, training groups that saw no job are left out.
    let comps = super::distinct(report.rows.iter().map(|r| r.component.as_str()))
        .into_iter()
        .filter(|c| !super::empty_training_group(report, c));
    let mut any_cut = false;
    b.push_str("<h2>Summary</h2>\n");
    for c in comps {
        let marks: String = super::health::service_problems(report, c)
            .iter()
            .map(|p| format!(" <span class=\"warn\">{}</span>", esc(&p.short())))
            .collect();
        let _ = writeln!(
            b,
            "<table>\n<tr><th class=\"l\" colspan=\"3\">{}{marks}</th></tr>\n\
             <tr><th class=\"l\">metric</th><th>mean</th><th>95% CI</th></tr>",
            esc(c)
        );
        for r in report
            .rows
            .iter()
            .filter(|r| r.component == c && r.estimate.mean.is_finite())
        {
            let e = &r.estimate;
            let iv = intervals::interval(r.metric, e);
            any_cut |= iv.cut();
            let _ = writeln!(
                b,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(r.metric),
                fmt_num(e.mean),
                esc(&intervals::fmt_interval(&iv))
            );
        }
        b.push_str("</table>\n");
    }
    if any_cut {
        let _ = writeln!(b, "<p>{}</p>", esc(intervals::CUT_NOTE));
    }
    figures(&mut b, charts);
    page(&report.scenario, &b)
}

/// The figures a sweep's table shows per service, where measured.
const SWEEP_COLUMNS: [&str; 9] = [
    "throughput_rps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "ttft_p95_ms",
    "tpot_p95_ms",
    "gpu_utilization",
    "slo_attainment",
    "cost_per_1k_requests",
];

/// Rows of a sweep's table at most: a page of 100,000 rows would not open.
const MAX_TABLE_POINTS: usize = 1000;

/// The page of a sweep: one table row per point (its values, then each service's main
/// figures), and the charts.
pub fn sweep_index(
    scenario: &str,
    columns: &[String],
    points: &[Vec<Vec<String>>],
    charts: &[Chart],
) -> String {
    let k = columns.len();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>{} (sweep)</h1>\n<p>{} points over {}. Every figure is the mean over replications \
         with its 95% confidence interval (with two or more replications) in \
         <a href=\"sweep.csv\">sweep.csv</a>; the table shows the mean.</p>",
        esc(scenario),
        points.len(),
        esc(&columns.join(", "))
    );
    let num = |s: &str| s.parse::<f64>().ok();
    let comps = points
        .first()
        .map_or_else(Vec::new, |first| super::figures::point_services(k, first));
    for c in comps {
        // Only the figures some point measured.
        let shown: Vec<&str> = SWEEP_COLUMNS
            .iter()
            .copied()
            .filter(|m| {
                points.iter().flatten().any(|r| {
                    r[k] == c && r[k + 1] == *m && num(&r[k + 2]).is_some_and(f64::is_finite)
                })
            })
            .collect();
        let _ = write!(b, "<h2>{}</h2>\n<table>\n<tr><th>point</th>", esc(c));
        for col in columns {
            let _ = write!(b, "<th class=\"l\">{}</th>", esc(col));
        }
        for m in &shown {
            let _ = write!(b, "<th>{}</th>", esc(m));
        }
        b.push_str("<th class=\"l\">saturated</th></tr>\n");
        for (i, rows) in points.iter().enumerate().take(MAX_TABLE_POINTS) {
            let Some(first) = rows.first() else { continue };
            let _ = write!(b, "<tr><td>{i}</td>");
            for v in &first[..k] {
                let _ = write!(b, "<td class=\"l\">{}</td>", esc(v));
            }
            let get = |m: &str| {
                rows.iter()
                    .find(|r| r[k] == c && r[k + 1] == m)
                    .map(|r| r[k + 2].clone())
                    .unwrap_or_default()
            };
            for m in &shown {
                let _ = write!(b, "<td>{}</td>", esc(&get(m)));
            }
            let sat = num(&get("saturated")).is_some_and(|s| s > 0.0);
            let _ = writeln!(
                b,
                "<td class=\"l{}\">{}</td></tr>",
                if sat { " warn" } else { "" },
                if sat { "yes" } else { "" }
            );
        }
        b.push_str("</table>\n");
        if points.len() > MAX_TABLE_POINTS {
            let _ = writeln!(
                b,
                "<p>The first {MAX_TABLE_POINTS} of {} points; sweep.csv has them all.</p>",
                points.len()
            );
        }
    }
    figures(&mut b, charts);
    page(&format!("{scenario} (sweep)"), &b)
}

/// The page of a capacity search: its printed result (`text`, as on the terminal) and the
/// charts.
pub fn search_index(title: &str, text: &str, charts: &[Chart]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>{}</h1>\n<p>Data: <a href=\"search.json\">search.json</a>.</p>\n<pre>{}</pre>",
        esc(title),
        esc(text)
    );
    figures(&mut b, charts);
    page(title, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
