//! Result files: summary.csv, summary.json, timeseries.csv, and the table printed on stdout.
//!
//! Numbers are written with six significant digits by one function, so the same report gives
//! the same bytes on every machine; wall-clock times never appear.

use crate::sim::{Report, Row};
use std::fmt::Write as _;
use std::path::Path;

pub mod baseline;
pub mod figures;
pub mod folder;
pub mod gate;
pub mod health;
pub mod html;
pub mod intervals;
pub mod names;
pub mod plot;
pub mod search;
pub mod series;

/// Formats a figure: six significant digits, no exponent for everyday magnitudes, empty for
/// NaN (a figure that could not be measured, e.g. a confidence interval of one replication).
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    // Round to 6 significant digits through the exponent form, then print the shortest
    // decimal that reads back to that value.
    let rounded: f64 = format!("{x:.5e}").parse().unwrap_or(x);
    let s = format!("{rounded}");
    if s.len() > 24 {
        format!("{rounded:e}")
    } else {
        s
    }
}

fn json_num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        let s = fmt_num(x);
        s.parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    } else {
        serde_json::Value::Null
    }
}

/// The names of `names` once each, in the order they first come (components of summary
/// rows, which repeat per metric).
pub fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The services of a report, in summary order.
pub fn services(report: &Report) -> Vec<&str> {
    distinct(
        report
            .rows
            .iter()
            .map(|r| r.component.as_str())
            .filter(|c| is_service(c)),
    )
}

/// Whether a component is a service (not `cluster`, `engine`, training's or the control
/// plane's).
pub fn is_service(component: &str) -> bool {
    component != "cluster"
        && component != "engine"
        && !is_training(component)
        && !crate::apiserver::is_component(component)
}

/// The figures of a control-plane component that the terminal table shows (summary.csv
/// has them all).
fn control_shown(component: &str) -> &'static [&'static str] {
    match component {
        "apiserver" => &[
            "requests_rps",
            "mutating_latency_p99_ms",
            "readonly_latency_p99_ms",
            "slo_mutating_p99_worst_ms",
            "pod_startup_p99_ms",
            "rejected_429",
            "watch_bytes_per_s",
            "memory_gib",
            "slo_met",
        ],
        "etcd" => &[
            "writes_per_s",
            "write_latency_p99_ms",
            "db_size_gib",
            "writes_refused",
        ],
        c if c.starts_with("apf/") => &[
            "nominal_seats",
            "dispatched_rps",
            "wait_p99_ms",
            "rejected_429",
            "seats_in_use_mean",
        ],
        c if c.starts_with("api/") => &["writes_per_s", "reads_per_s", "watch_bytes_per_s"],
        _ => &["requests_rps", "rejected_429", "latency_p99_ms"],
    }
}

/// A priority level or resource that saw no traffic: the terminal table leaves it out.
fn idle_control_part(report: &Report, component: &str) -> bool {
    let traffic: &[&str] = if component.starts_with("apf/") {
        &["dispatched_rps", "rejected_429"]
    } else if component.starts_with("api/") {
        &["writes_per_s", "reads_per_s"]
    } else {
        return false;
    };
    traffic
        .iter()
        .all(|m| report.get(component, m).is_none_or(|e| e.mean == 0.0))
}

/// Whether a component is training's: `training`, `training/<workload>`,
/// `training/gpus_<class>` or `queue/<name>`.
pub fn is_training(component: &str) -> bool {
    component == "training" || component.starts_with("training/") || component.starts_with("queue/")
}

/// Whether `component` is a training group that saw no job (a size class no job fell in):
/// the terminal table and index.html leave it out.
pub fn empty_training_group(report: &Report, component: &str) -> bool {
    is_training(component)
        && report
            .get(component, "jobs_submitted")
            .is_some_and(|e| e.mean == 0.0)
}

/// The columns of summary.csv (and of the baseline file), in order.
pub const SUMMARY_COLUMNS: [&str; 7] = [
    "scenario",
    "component",
    "metric",
    "mean",
    "ci95_low",
    "ci95_high",
    "replications",
];

/// A summary row as summary.csv writes it after the scenario: component, metric, mean,
/// ci95_low, ci95_high (inside the metric's range, see [`intervals`]), replications.
/// summary.csv and sweep.csv share it, so that their figures compare as text.
pub fn row_fields(r: &Row) -> [String; 6] {
    let e = &r.estimate;
    let iv = intervals::interval(r.metric, e);
    [
        r.component.clone(),
        r.metric.to_string(),
        fmt_num(e.mean),
        fmt_num(iv.low),
        fmt_num(iv.high),
        e.n.to_string(),
    ]
}

/// CSV text of a header and rows, every record written by one `csv` writer (quoting
/// included), for every file capsim writes.
pub fn csv_text<H: AsRef<[u8]>, F: AsRef<[u8]>, R: IntoIterator<Item = F>>(
    header: impl IntoIterator<Item = H>,
    rows: impl IntoIterator<Item = R>,
) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    // Records of UTF-8 text stay UTF-8 text.
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// summary.csv: `scenario,component,metric,mean,ci95_low,ci95_high,replications`.
pub fn summary_csv(report: &Report) -> String {
    csv_text(
        SUMMARY_COLUMNS,
        report
            .rows
            .iter()
            .map(|r| std::iter::once(report.scenario.clone()).chain(row_fields(r))),
    )
}

/// summary.json: `{component: {metric: {mean, ci95_low, ci95_high, replications}}}`, keys
/// sorted, NaN as null.
pub fn summary_json(report: &Report) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for r in &report.rows {
        let comp = root
            .entry(r.component.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(m) = comp {
            let e = &r.estimate;
            let iv = intervals::interval(r.metric, e);
            let mut fig = serde_json::Map::new();
            fig.insert("mean".into(), json_num(e.mean));
            fig.insert("ci95_low".into(), json_num(iv.low));
            fig.insert("ci95_high".into(), json_num(iv.high));
            fig.insert("replications".into(), e.n.into());
            m.insert(r.metric.to_string(), serde_json::Value::Object(fig));
        }
    }
    serde_json::Value::Object(root)
}

/// Writes summary.csv, summary.json, timeseries.csv (from [`Report::timeseries`]) and
/// latency_cdf.csv into `dir` (created if needed), the charts as PNG and SVG, and index.html
/// showing the summary, `checks` (the evaluated `checks:` lines) and the charts.
pub fn write_all(report: &Report, dir: &Path, checks: &[String]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lines = series::TimeseriesFile::write_report(&dir.join("timeseries.csv"), report)?;
    write_run(report, &lines, dir, checks)
}

/// Writes what [`write_all`] writes but timeseries.csv, which was written as the run went
/// ([`series::TimeseriesFile`]) and left `lines` for the charts.
pub fn write_run(
    report: &Report,
    lines: &series::ChartLines,
    dir: &Path,
    checks: &[String],
) -> std::io::Result<()> {
    std::fs::write(dir.join("summary.csv"), summary_csv(report))?;
    folder::test_pause("wrote summary.csv");
    let mut json = serde_json::to_string_pretty(&summary_json(report))?;
    json.push('\n');
    std::fs::write(dir.join("summary.json"), json)?;
    folder::test_pause("wrote summary.json");
    std::fs::write(dir.join("latency_cdf.csv"), latency_cdf_csv(report))?;
    folder::test_pause("wrote latency_cdf.csv");
    if !report.jobs.is_empty() {
        std::fs::write(dir.join("jobs.csv"), jobs_csv(report))?;
    }
    let charts = figures::run_charts(report, lines);
    write_charts(dir, &charts)?;
    std::fs::write(
        dir.join("index.html"),
        html::run_index(report, &charts, checks),
    )?;
    folder::test_pause("wrote index.html");
    Ok(())
}

/// Writes each chart as PNG and SVG into `dir`.
fn write_charts(dir: &Path, charts: &[figures::Chart]) -> std::io::Result<()> {
    for c in charts {
        plot::write(&c.figure, dir, &c.stem)?;
        folder::test_pause("wrote a chart");
    }
    Ok(())
}

/// The folder in a sweep's folder where its charts and index.html are written before each
/// is renamed into place, so that a kill leaves every page whole.
pub const PAGES_TMP: &str = ".capsim-pages";

/// Writes a whole sweep's charts (PNG and SVG) and index.html into `dir`, from the rows of
/// its points as sweep.csv holds them (`columns` are the swept paths).
pub fn write_sweep_pages(
    dir: &Path,
    scenario: &str,
    columns: &[String],
    points: &[Vec<Vec<String>>],
) -> std::io::Result<()> {
    // A sweep's folder is written in place (it is resumable): each page is written aside and
    // renamed over the one it replaces.
    let tmp = dir.join(PAGES_TMP);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp)?;
    let charts = figures::sweep_charts(columns, points);
    write_charts(&tmp, &charts)?;
    std::fs::write(
        tmp.join("index.html"),
        html::sweep_index(scenario, columns, points, &charts),
    )?;
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&tmp)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    // index.html last: it shows the charts.
    names.sort_by_key(|p| (p.ends_with("index.html"), p.clone()));
    for p in names {
        if let Some(name) = p.file_name() {
            std::fs::rename(&p, dir.join(name))?;
        }
    }
    std::fs::remove_dir(&tmp)
}

/// jobs.csv: one row per training job and replication,
/// `replication,workload,job,queue,gpus,submit_s,start_s,end_s,wait_s,run_s,restarts,lost_work_s,state`
/// (times in seconds; empty where a job never started or has not ended).
pub fn jobs_csv(report: &Report) -> String {
    let header = [
        "replication",
        "workload",
        "job",
        "queue",
        "gpus",
        "submit_s",
        "start_s",
        "end_s",
        "wait_s",
        "run_s",
        "restarts",
        "lost_work_s",
        "state",
    ];
    // Seconds to the millisecond: a 30-day run needs more digits than summary.csv's six.
    let opt = |x: f64| {
        if !x.is_finite() {
            return String::new();
        }
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    };
    csv_text(
        header,
        report.jobs.iter().map(|(rep, j)| {
            [
                rep.to_string(),
                j.workload.clone(),
                j.job.to_string(),
                j.queue.clone(),
                j.gpus.to_string(),
                opt(j.submit_s),
                opt(j.start_s),
                opt(j.end_s),
                opt(j.wait_s),
                opt(j.run_s),
                j.restarts.to_string(),
                opt(j.lost_work_s),
                j.state.to_string(),
            ]
        }),
    )
}

/// latency_cdf.csv: `component,metric,probability,value_ms,ci95_low,ci95_high`: the latency
/// (`metric` = `latency`), or for LLM services also the time to first token (`ttft`), below
/// which each fraction of a service's requests fell (the data of latency-cdf and ttft-cdf).
pub fn latency_cdf_csv(report: &Report) -> String {
    let header = [
        "component",
        "metric",
        "probability",
        "value_ms",
        "ci95_low",
        "ci95_high",
    ];
    csv_text(
        header,
        report.latency_cdf.iter().flat_map(|c| {
            c.points.iter().map(|(p, e)| {
                // Latencies: never below 0.
                let iv = e.interval(crate::stats::Range::NonNegative);
                [
                    c.component.clone(),
                    c.metric.to_string(),
                    fmt_num(*p),
                    fmt_num(e.mean),
                    fmt_num(iv.low),
                    fmt_num(iv.high),
                ]
            })
        }),
    )
}

/// How many replications a report rests on and what that allows: `3 replications, 95%
/// confidence intervals`, or for one replication the statement that it has none.
pub fn replications_phrase(replications: u32) -> String {
    if replications >= 2 {
        format!("{replications} replications, 95% confidence intervals")
    } else {
        format!(
            "{replications} replication: no confidence intervals, they need 2 or more \
             replications"
        )
    }
}

/// The figures a planner reads first, one table per service, for the terminal.
pub fn text_table(report: &Report) -> String {
    // LLM-only rows are empty (and skipped) for other services.
    const SHOWN: [&str; 27] = [
        "throughput_rps",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "wait_mean_ms",
        "wait_probability",
        "ttft_mean_ms",
        "ttft_p95_ms",
        "tpot_mean_ms",
        "tpot_p95_ms",
        "output_tokens_per_s_per_gpu",
        "kv_cache_utilization",
        "preemptions",
        "gpu_utilization",
        "cpu_utilization",
        "slot_utilization",
        "primary_utilization",
        "own_latency_mean_ms",
        "bottleneck",
        "batch_size_mean",
        "slo_attainment",
        "users_per_gpu",
        "gpus",
        "cost_per_1k_requests",
        "dropped",
        "failed",
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({})",
        report.scenario,
        replications_phrase(report.replications)
    );
    let comps = distinct(
        report
            .rows
            .iter()
            .map(|r| r.component.as_str())
            .filter(|c| *c != "engine"),
    );
    // Failure figures only where something failed.
    const FAILURES: &[&str] = &["failed", "node_failures", "nodes_ready"];
    let any_failure = report
        .rows
        .iter()
        .any(|r| r.metric == "node_failures" && r.estimate.mean > 0.0);
    const TRAINING_SHOWN: [&str; 10] = [
        "jobs_submitted",
        "jobs_completed",
        "wait_mean_s",
        "wait_p95_s",
        "jct_mean_s",
        "interruptions",
        "goodput",
        "lost_gpu_hours",
        "gpu_allocation",
        "fragmentation",
    ];
    // A service without GPUs (a CPU pool's) has its CPU figure; its GPU ones read 0 or repeat
    // it (summary.csv keeps them all).
    let cpu_only = |c: &str| {
        report.get(c, "cpu_utilization").is_some()
            && report.get(c, "gpus").is_some_and(|g| g.mean == 0.0)
    };
    const GPU_ONLY: [&str; 3] = ["gpus", "gpu_utilization", "users_per_gpu"];
    let shown = |r: &&crate::sim::Row| {
        if GPU_ONLY.contains(&r.metric) && cpu_only(&r.component) {
            return false;
        }
        let listed = if FAILURES.contains(&r.metric) {
            any_failure
        } else if is_training(&r.component) {
            TRAINING_SHOWN.contains(&r.metric)
        } else if crate::apiserver::is_component(&r.component) {
            control_shown(&r.component).contains(&r.metric)
                && !idle_control_part(report, &r.component)
        } else {
            r.component == "cluster" || SHOWN.contains(&r.metric)
        };
        listed && r.estimate.mean.is_finite()
    };
    // Wide enough for the longest metric shown (the LLM ones are longer).
    let width = report
        .rows
        .iter()
        .filter(|r| r.component != "engine")
        .filter(shown)
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(0)
        .max(22);
    let mut any_cut = false;
    for c in comps
        .into_iter()
        .filter(|c| !empty_training_group(report, c))
    {
        let marks: Vec<String> = health::service_problems(report, c)
            .iter()
            .map(|p| format!("  [{}]", p.short()))
            .collect();
        if !report.rows.iter().any(|r| r.component == c && shown(&r)) {
            // Nothing of it to show (an idle priority level or resource): no empty heading.
            continue;
        }
        let _ = writeln!(out, "\n  {c}{}", marks.concat());
        for r in report
            .rows
            .iter()
            .filter(|r| r.component == c)
            .filter(shown)
        {
            let e = &r.estimate;
            let iv = intervals::interval(r.metric, e);
            any_cut |= iv.cut();
            let ci = match intervals::fmt_interval(&iv) {
                s if s.is_empty() => s,
                s => format!("  [{s}]"),
            };
            let _ = writeln!(out, "    {:<width$} {:>12}{ci}", r.metric, fmt_num(e.mean));
        }
    }
    if any_cut {
        let _ = writeln!(out, "\n  {}", intervals::CUT_NOTE);
    }
    // A warm-up shorter than the start-up transient leaves the transient in every figure.
    for r in report.rows.iter().filter(|r| r.metric == "transient_end_s") {
        let sat = report.saturated.iter().any(|s| s.service == r.component);
        let end = r.estimate.mean;
        if !sat && end.is_finite() && end > report.warmup_s {
            let secs = |s: f64| crate::engine::SimTime::from_secs_f64(s);
            let _ = writeln!(
                out,
                "\n  {}: the start-up transient lasts about {} (MSER-5 on the number in the \
                 system per report interval), longer than the warm-up ({}): the figures \
                 include it; set warmup to at least {}",
                r.component,
                secs(end),
                secs(report.warmup_s),
                secs(end)
            );
        }
    }
    // Little's law is a self-check: a large error outside saturation means too short a run.
    for r in report
        .rows
        .iter()
        .filter(|r| r.metric == "littles_law_error")
    {
        let sat = report.saturated.iter().any(|s| s.service == r.component);
        if !sat && r.estimate.mean > 0.05 {
            let _ = writeln!(
                out,
                "\n  {}: Little's law is off by {:.1}% (L vs lambda W): the run is too short for \
                 the queue to settle; lengthen duration or warmup",
                r.component,
                r.estimate.mean * 100.0
            );
        }
    }
    // The tiers marked bottleneck with how full each is, and whether some caller's threads
    // are all held: the two messages below read both.
    let bottlenecks: Vec<(&str, f64)> = report
        .rows
        .iter()
        .filter(|r| r.metric == "bottleneck" && r.estimate.mean >= 0.5)
        .map(|r| (r.component.as_str(), report.tier_utilization(&r.component)))
        .collect();
    let threads_held: Vec<&crate::sim::Row> = report
        .rows
        .iter()
        .filter(|r| r.metric == "slot_utilization" && r.estimate.mean >= 0.95)
        .collect();
    for &(component, tier_u) in &bottlenecks {
        let u = report.mean(component, "gpu_utilization");
        let kv = report
            .get(component, "kv_cache_utilization")
            .filter(|e| e.mean.is_finite());
        let how = match kv {
            // An LLM's engine is busy whenever a sequence runs: its cache is what fills.
            Some(kv) => format!("KV cache {} in use", fmt_num(kv.mean)),
            None => {
                let primary = report
                    .get(component, "primary_utilization")
                    .map(|e| e.mean)
                    .filter(|p| *p > u)
                    .map_or(String::new(), |p| format!(", its primary {}", fmt_num(p)));
                format!("working utilization {}{primary}", fmt_num(u))
            }
        };
        let then = if tier_u < 0.9 && !threads_held.is_empty() {
            " (here a caller's worker threads bind before it: see below)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\n  bottleneck: {} ({how}; the highest of its application's services, autoscaled \
             ones judged at their most replicas): of its tiers it saturates first as the load \
             grows, and more replicas of its callers do not raise the throughput past it{then}",
            component
        );
    }
    // A callee near its capacity holds the threads with its queue; with every tier well below
    // it, the threads themselves bind (each held for its request's whole chain). The first of
    // the busiest, as the bottleneck marking takes it.
    let busiest = bottlenecks
        .iter()
        .copied()
        .fold(None::<(&str, f64)>, |a, b| match a {
            Some(x) if x.1 >= b.1 => Some(x),
            _ => Some(b),
        });
    for r in threads_held {
        let why = match busiest {
            Some((tier, u)) if u < 0.9 => format!(
                "no tier it calls is near its capacity (the busiest, `{tier}`, at {}): the \
                 threads bind, each held for its request's whole chain of calls; raise \
                 `concurrency` or the replicas",
                fmt_num(u)
            ),
            _ => "where a callee is the bottleneck, the threads wait on it; otherwise raise \
                  `concurrency` or the replicas"
                .to_string(),
        };
        let _ = writeln!(
            out,
            "\n  {}: its worker threads are all held ({} of its slots, working or waiting on \
             blocking calls; {} working): requests queue for a thread while the CPU the HPA \
             sees stays low; {why}",
            r.component,
            fmt_num(r.estimate.mean),
            fmt_num(report.mean(&r.component, "gpu_utilization"))
        );
    }
    for (svc, p) in health::problems(report) {
        let _ = writeln!(out, "\n  {}", p.explain(&svc));
    }
    out
}

/// Writes a capacity search's results into `dir`: `search.json` (`json`), the charts of
/// [`figures::search_charts`] and index.html showing `text` (the table as printed).
pub fn write_search(
    dir: &Path,
    title: &str,
    json: &serde_json::Value,
    text: &str,
    searches: &[(String, &search::SearchResult)],
    highlight: Option<usize>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut j = serde_json::to_string_pretty(json)?;
    j.push('\n');
    std::fs::write(dir.join("search.json"), j)?;
    folder::test_pause("wrote search.json");
    let charts = figures::search_charts(searches, highlight);
    write_charts(dir, &charts)?;
    std::fs::write(
        dir.join("index.html"),
        html::search_index(title, text, &charts),
    )?;
    folder::test_pause("wrote index.html");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_six_significant_digits() {
        assert_eq!(fmt_num(12.3456789), "12.3457");
        assert_eq!(fmt_num(1000.0), "1000");
        assert_eq!(fmt_num(0.000123456789), "0.000123457");
        assert_eq!(fmt_num(f64::NAN), "");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(1234567890.0), "1234570000");
    }
}
