//! Which charts a run and a sweep get, built from their results: the choice of metrics,
//! axes and labels lives here; drawing lives in [`super::plot`].

use super::names::{file_safe, unique_stems};
use super::plot::{Band, BarPanel, Bars, Figure, Legend, Lines, Panel, Series};
use super::series::ChartLines;
use super::{distinct, is_service, services};
use crate::sim::Report;
use crate::units;

/// A chart to write: file stem, what it is (for index.html), and the figure.
pub struct Chart {
    /// File name without extension.
    pub stem: String,
    /// One line saying what the chart shows.
    pub caption: String,
    /// The figure.
    pub figure: Figure,
}

/// A service's name for a legend or title, with its problem when its figures are not
/// capacity (`on-t4 (SATURATED in 3 of 3 replications)`).
fn marked(report: &Report, service: &str) -> String {
    match super::health::service_problems(report, service).first() {
        Some(p) => format!("{service} ({})", p.short()),
        None => service.to_string(),
    }
}

/// Services of a sweep point's rows (`k` swept columns first), in summary order.
pub fn point_services(k: usize, rows: &[Vec<String>]) -> Vec<&str> {
    distinct(rows.iter().map(|r| r[k].as_str()).filter(|c| is_service(c)))
}

/// The charts of one run: the latency CDF of every service, the timeseries of every service
/// (and of the cluster when its size moved), and, with several services, their per-GPU
/// figures side by side.
pub fn run_charts(report: &Report, lines: &ChartLines) -> Vec<Chart> {
    let mut charts = Vec::new();
    charts.extend(cdf_chart(report, "latency"));
    charts.extend(cdf_chart(report, "ttft"));
    let end = lines.end_s;
    let (scale, unit) = if end >= 600.0 {
        (1.0 / 60.0, "min")
    } else {
        (1.0, "s")
    };
    let x_label = format!("simulated time ({unit})");
    let series_of = |comp: &str, metric: &str| scaled_line(lines, scale, comp, metric);
    let panel = |comp: &str, y_label: &str, metrics: &[&str]| {
        timeseries_panel(lines, scale, comp, y_label, metrics, None)
    };
    for svc in services(report) {
        let panels: Vec<Panel> = [
            panel(svc, "pods", &["desired_replicas", "ready", "pending_pods"]),
            panel(svc, "requests/s", &["arrivals_rps", "throughput_rps"]),
            panel(svc, "requests", &["queue_length", "in_flight"]),
            panel(svc, "latency (ms)", &["latency_p95_ms", "ttft_p95_ms"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        if panels.is_empty() {
            continue;
        }
        charts.push(Chart {
            stem: format!("{}-timeseries", file_safe(svc)),
            caption: format!(
                "{svc}: replicas, load, queue and p95 latency over time (mean over replications, \
                 one point per report interval)"
            ),
            figure: Figure::Lines(Lines {
                title: format!("{}: replicas, load, queue and latency", marked(report, svc)),
                x_label: x_label.clone(),
                x_log: false,
                panels,
            }),
        });
    }
    let nodes = series_of("cluster", "nodes");
    // Nodes that failed are in the pool but not Ready: a line of their own then.
    let failed = lines.nodes_not_ready;
    if failed || nodes.windows(2).any(|w| w[0].1 != w[1].1) {
        let node_lines: &[&str] = if failed {
            &["nodes", "nodes_ready", "nodes_provisioning"]
        } else {
            &["nodes", "nodes_provisioning"]
        };
        let panels: Vec<Panel> = [
            panel("cluster", "nodes", node_lines),
            panel("cluster", "GPUs", &["gpus_allocated"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        charts.push(Chart {
            stem: "cluster-timeseries".into(),
            caption: "cluster: nodes (Ready and provisioning) and GPUs held by pods over time"
                .into(),
            figure: Figure::Lines(Lines {
                title: "cluster: nodes and GPUs".into(),
                x_label: x_label.clone(),
                x_log: false,
                panels,
            }),
        });
    }
    if let Some(c) = per_gpu(report) {
        charts.push(c);
    }
    charts.extend(training_wait_cdf(report));
    charts.extend(training_timeseries(lines));
    charts.extend(control_plane_apf(lines, scale, &x_label));
    charts.extend(control_plane_watch(lines, scale, &x_label));
    // Services are named freely: their charts' names must not meet.
    unique_stems(charts.iter_mut().map(|c| &mut c.stem));
    charts
}

/// The points of `metric` of `comp`, their times multiplied by `scale`.
fn scaled_line(lines: &ChartLines, scale: f64, comp: &str, metric: &str) -> Vec<(f64, f64)> {
    let mut points = lines.line(comp, metric);
    for p in &mut points {
        p.0 *= scale;
    }
    points
}

/// A panel of the timeseries `metrics` of `comp` that were measured (None if none was), times
/// multiplied by `scale`, within `range` if given.
fn timeseries_panel(
    lines: &ChartLines,
    scale: f64,
    comp: &str,
    y_label: &str,
    metrics: &[&str],
    range: Option<(f64, f64)>,
) -> Option<Panel> {
    let series: Vec<Series> = metrics
        .iter()
        .map(|m| Series {
            label: m.to_string(),
            points: scaled_line(lines, scale, comp, m),
            band: Band::None,
        })
        .filter(|s| s.points.iter().any(|p| p.1.is_finite()))
        .collect();
    if series.is_empty() {
        return None;
    }
    // Latency spans orders of magnitude when a queue builds (a cold start, a spike): on a
    // linear axis the rest of the day would be a flat line at zero.
    Some(fitted_panel(
        y_label,
        series,
        range,
        y_label.contains("(ms)"),
    ))
}

/// Points of one line of the training wait CDF at most: a class of 100,000 jobs still makes a
/// small chart, its steps exact at every point drawn.
const MAX_CDF_STEPS: usize = 1000;

/// The empirical CDF of `sorted` values (ascending) as a staircase: at most about
/// [`MAX_CDF_STEPS`] steps, each at a value where the CDF is exact (the fraction of values
/// at or below it), the smallest and the largest value always among them.
pub fn ecdf_steps(sorted: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted.len();
    let every = n.div_ceil(MAX_CDF_STEPS).max(1);
    let mut out = Vec::new();
    let (mut last, mut below) = (0usize, 0.0);
    for i in 1..=n {
        let x = sorted[i - 1];
        // Only at the last of equal values: the CDF there counts them all.
        let end_of_run = i == n || sorted[i] != x;
        if end_of_run && (i - last >= every || last == 0 || i == n) {
            let y = i as f64 / n as f64;
            out.extend([(x, below), (x, y)]);
            below = y;
            last = i;
        }
    }
    out
}

/// The wait of each training job that started, from submission to the whole gang's first
/// placement, as an empirical CDF per size class (jobs submitted after the warm-up, as the
/// summary's `wait_*` figures count them, pooled over the replications).
fn training_wait_cdf(report: &Report) -> Option<Chart> {
    use crate::training::plan::{SIZE_CLASSES, size_class};
    let mut waits: Vec<Vec<f64>> = vec![Vec::new(); SIZE_CLASSES.len()];
    for (_, j) in &report.jobs {
        if j.wait_s.is_finite() && j.submit_s >= report.warmup_s {
            waits[size_class(j.gpus)].push(j.wait_s / 3600.0);
        }
    }
    for w in &mut waits {
        w.sort_by(f64::total_cmp);
    }
    // A log axis when the waits that were not zero span more than a decade: small jobs wait
    // seconds, the largest gangs hours.
    let x_log = spread_of(waits.iter().flatten().copied()) > 10.0;
    let series: Vec<Series> = SIZE_CLASSES
        .iter()
        .zip(&waits)
        .filter(|(_, w)| !w.is_empty())
        .map(|((lo, hi, class), w)| {
            let at_once = w.iter().filter(|&&x| x == 0.0).count() as f64 / w.len() as f64;
            let mut points = ecdf_steps(w);
            if x_log {
                points.retain(|p| p.0 > 0.0);
            }
            Series {
                label: format!(
                    "{class} GPU{}: {} job{}, {}% at once",
                    if lo == hi { "" } else { "s" },
                    w.len(),
                    if w.len() == 1 { "" } else { "s" },
                    super::plot::tick(100.0 * at_once)
                ),
                points,
                band: Band::None,
            }
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(Chart {
        stem: super::names::TRAINING_WAIT_CDF.into(),
        caption: format!(
            "Training jobs' wait from submission to the first placement of the whole gang: \
             the fraction of the jobs of each size class that started within x (jobs submitted \
             after the warm-up that started, {}; the legend gives the share that started at \
             once{})",
            if report.replications >= 2 {
                "pooled over the replications"
            } else {
                "one replication"
            },
            if x_log {
                ", which a log axis cannot show: each line starts at that height"
            } else {
                ""
            }
        ),
        // Bottom right: the lines of the many jobs that start at once fill the top left.
        figure: cdf_figure(
            "Training: wait CDF per job size".into(),
            format!("wait (hours{})", if x_log { ", log scale" } else { "" }),
            x_log,
            "fraction of jobs",
            series,
            Legend::LowerRight,
        ),
    })
}

/// GPUs held by training gangs, jobs running and waiting, and fragmentation over time, from
/// the `training` component of the timeseries.
fn training_timeseries(lines: &ChartLines) -> Option<Chart> {
    let end = lines.end_s;
    // Training runs span days: hours read better than minutes there.
    let (scale, unit) = if end >= 2.0 * 86400.0 {
        (1.0 / 3600.0, "h")
    } else if end >= 600.0 {
        (1.0 / 60.0, "min")
    } else {
        (1.0, "s")
    };
    let panel = |y_label: &str, metrics: &[&str], range: Option<(f64, f64)>| {
        timeseries_panel(lines, scale, "training", y_label, metrics, range)
    };
    let panels: Vec<Panel> = [
        panel("GPUs", &["gpus_allocated"], None),
        // Apart: hundreds running beside a few waiting would flatten the waiting line.
        panel("jobs running", &["jobs_running"], None),
        panel("jobs waiting", &["jobs_waiting"], None),
        panel("free share", &["fragmentation"], None),
    ]
    .into_iter()
    .flatten()
    .collect();
    if panels.is_empty() {
        return None;
    }
    Some(Chart {
        stem: super::names::TRAINING_TIMESERIES.into(),
        caption: "Training over time: GPUs held by gangs placed whole, jobs running and \
                  waiting, and the share of the training pools' GPUs free while a job waits \
                  (fragmentation; 0 when none waits), at each report interval (mean over \
                  replications)"
            .into(),
        figure: Figure::Lines(Lines {
            title: "Training: GPUs allocated and jobs over time".into(),
            x_label: format!("simulated time ({unit})"),
            x_log: false,
            panels,
        }),
    })
}

/// Each priority level's calls dispatched, queued and rejected per report interval, summed
/// over the API servers (levels that saw no call are left out), from the `apf/<level>`
/// components of the timeseries.
fn control_plane_apf(lines: &ChartLines, scale: f64, x_label: &str) -> Option<Chart> {
    use crate::sim::timeseries::APF_COMPONENTS;
    let busy: Vec<&str> = APF_COMPONENTS
        .iter()
        .copied()
        .filter(|c| {
            ["dispatched_rps", "rejected_rps", "queue_length"]
                .iter()
                .any(|m| lines.line(c, m).iter().any(|p| p.1 > 0.0))
        })
        .collect();
    if busy.is_empty() {
        return None;
    }
    // Linear axes: a level idle for a while has zeros, which a log axis would drop and join
    // its line across.
    let panel = |y_label: &str, metric: &str| {
        let series = busy
            .iter()
            .map(|c| Series {
                label: c.trim_start_matches("apf/").to_string(),
                points: scaled_line(lines, scale, c, metric),
                band: Band::None,
            })
            .collect();
        fitted_panel(y_label, series, None, false)
    };
    Some(control_plane_chart(
        super::names::CONTROL_PLANE_APF,
        "API Priority and Fairness: each priority level's calls dispatched per second, calls \
         waiting in its queues at each sample, and 429s per second, summed over the API \
         servers (levels that saw no call left out; mean over replications)",
        "Control plane: priority levels over time",
        x_label,
        vec![
            panel("dispatched/s", "dispatched_rps"),
            panel("queued", "queue_length"),
            panel("rejected (429)/s", "rejected_rps"),
        ],
    ))
}

/// A control-plane chart of timeseries panels.
fn control_plane_chart(
    stem: &str,
    caption: &str,
    title: &str,
    x_label: &str,
    panels: Vec<Panel>,
) -> Chart {
    Chart {
        stem: stem.into(),
        caption: caption.into(),
        figure: Figure::Lines(Lines {
            title: title.into(),
            x_label: x_label.into(),
            x_log: false,
            panels,
        }),
    }
}

/// The watch events' bytes the API servers send per second, and the calls they answer per
/// second, from the `apiserver` component of the timeseries.
fn control_plane_watch(lines: &ChartLines, scale: f64, x_label: &str) -> Option<Chart> {
    let mut watch = scaled_line(lines, scale, "apiserver", "watch_bytes_per_s");
    let requests = scaled_line(lines, scale, "apiserver", "requests_rps");
    if watch.is_empty() && requests.is_empty() {
        return None;
    }
    for p in &mut watch {
        p.1 *= 1e-6;
    }
    let one = |y_label: &str, label: &str, points| {
        let series = vec![Series {
            label: label.into(),
            points,
            band: Band::None,
        }];
        fitted_panel(y_label, series, None, false)
    };
    Some(control_plane_chart(
        super::names::CONTROL_PLANE_WATCH,
        "Control plane: bytes of watch events sent to watchers per second (MB/s, over all API \
         servers) and API calls answered per second, per report interval (mean over \
         replications)",
        "Control plane: watch traffic and API requests",
        x_label,
        vec![
            one("watch traffic (MB/s)", "watch_bytes_per_s / 1e6", watch),
            one("API requests/s", "requests_rps", requests),
        ],
    ))
}

/// The CDF of `metric` (`latency` or `ttft`) of every service that measured it.
fn cdf_chart(report: &Report, metric: &str) -> Option<Chart> {
    let series: Vec<Series> = report
        .latency_cdf
        .iter()
        .filter(|c| c.metric == metric)
        .map(|c| Series {
            label: marked(report, &c.component),
            points: c.points.iter().map(|(p, e)| (e.mean, *p)).collect(),
            band: Band::X(
                c.points
                    .iter()
                    .map(|(p, e)| {
                        let iv = e.interval(crate::stats::Range::NonNegative);
                        (*p, iv.low, iv.high)
                    })
                    .collect(),
            ),
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let (name, what, done) = if metric == "ttft" {
        (
            "time to first token",
            "Time to first token of each LLM service",
            "received their first token",
        )
    } else {
        (
            "latency",
            "Latency distribution of each service",
            "completed",
        )
    };
    // A log axis when latencies span more than a decade, as they do in any queue near its
    // capacity; the tail is what planners read.
    let x_log = spread_of(series.iter().flat_map(|s| s.points.iter().map(|p| p.0))) > 10.0;
    Some(Chart {
        stem: format!("{metric}-cdf"),
        caption: if report.replications >= 2 {
            format!(
                "{what}: the fraction of requests that {done} within x (shaded: 95% confidence \
                 interval over {} replications)",
                report.replications
            )
        } else {
            format!(
                "{what}: the fraction of requests that {done} within x (one replication: no \
                 confidence interval)"
            )
        },
        figure: cdf_figure(
            if metric == "ttft" {
                "Time to first token CDF".into()
            } else {
                "Latency CDF".into()
            },
            format!("{name} (ms{})", if x_log { ", log scale" } else { "" }),
            x_log,
            "fraction of requests",
            series,
            Legend::UpperLeft,
        ),
    })
}

/// One panel of CDF lines, the fraction from 0 to 1 up the y axis.
fn cdf_figure(
    title: String,
    x_label: String,
    x_log: bool,
    y_label: &str,
    series: Vec<Series>,
    legend: Legend,
) -> Figure {
    Figure::Lines(Lines {
        title,
        x_label,
        x_log,
        panels: vec![Panel {
            y_label: y_label.into(),
            y_log: false,
            y_range: Some((0.0, 1.0)),
            series,
            legend,
        }],
    })
}

/// Several services (e.g. one per GPU type): throughput and users per GPU and the cost of
/// 1,000 requests, side by side, the cheapest highlighted.
fn per_gpu(report: &Report) -> Option<Chart> {
    let svcs = services(report);
    if svcs.len() < 2 {
        return None;
    }
    let broken: Vec<Vec<super::health::Problem>> = svcs
        .iter()
        .map(|s| super::health::service_problems(report, s))
        .collect();
    let (panels, highlight, muted) = bar_panels(
        svcs.len(),
        |i, m| {
            report.get(svcs[i], m).map(|e| {
                let iv = super::intervals::interval(m, e);
                (e.mean, iv.low, iv.high)
            })
        },
        |i| broken[i].is_empty(),
        &[
            ("rps_per_gpu", "requests/s per GPU"),
            ("users_per_gpu", "users per GPU"),
            ("output_tokens_per_s_per_gpu", "output tokens/s per GPU"),
            ("cost_per_1k_requests", "$ per 1k requests"),
        ],
    );
    if panels.is_empty() {
        return None;
    }
    Some(Chart {
        stem: "per-gpu".into(),
        caption: format!(
            "Each service per GPU: throughput, users (closed loops), output tokens (LLMs) \
             and cost per 1,000 requests; the cheapest service that keeps up in orange{}{}",
            if muted.iter().any(|m| *m) {
                "; in grey and marked, services that saturated or served nothing: their \
                 figures describe an overload, not a capacity, and they are never the cheapest"
            } else {
                ""
            },
            if report.replications >= 2 {
                "; 95% intervals as whiskers"
            } else {
                ""
            }
        ),
        figure: Figure::Bars(Bars {
            title: "Services per GPU".into(),
            categories: svcs
                .iter()
                .zip(&broken)
                .map(|(s, b)| match b.first() {
                    Some(super::health::Problem::Saturated { .. }) => format!("{s} SATURATED"),
                    Some(p) => format!("{s} {}", p.short()),
                    None => s.to_string(),
                })
                .collect(),
            panels,
            highlight,
            muted,
        }),
    })
}

/// A panel of `series`, on a log y axis (zeros left out, the label saying so) when `may_log`,
/// no fixed `range` is given and the values span more than 30x.
fn fitted_panel(
    y_label: &str,
    mut series: Vec<Series>,
    range: Option<(f64, f64)>,
    may_log: bool,
) -> Panel {
    let y_log = may_log && range.is_none() && spread(&series) > 30.0;
    if y_log {
        for s in &mut series {
            s.points.retain(|p| p.1 > 0.0);
        }
    }
    Panel {
        y_label: if y_log {
            format!("{y_label}, log")
        } else {
            y_label.to_string()
        },
        y_log,
        y_range: range,
        series,
        legend: Legend::UpperLeft,
    }
}

/// Largest over smallest positive y of some series (1 when there is none).
fn spread(series: &[Series]) -> f64 {
    spread_of(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)))
}

/// Largest over smallest positive value (1 when there is none): how many times a log axis
/// would have to stretch.
fn spread_of(values: impl Iterator<Item = f64>) -> f64 {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if lo.is_finite() { hi / lo } else { 1.0 }
}

/// Lines in one sweep chart: as many as the palette has distinct colours.
const LINES_PER_CHART: usize = 7;
/// Charts of one kind per service at most; a grid with more lines is read from sweep.csv.
const MAX_PARTS: usize = 6;

/// Bar panels of `metrics` (summary name, axis label) over `n` categories, whose figures
/// (mean, ci95_low, ci95_high) `get(i, metric)` gives; `rps_per_gpu` is throughput over
/// GPUs. A panel where nothing was measured, or all is zero (no price, no closed loop), is
/// left out. Also the category to highlight: the lowest positive cost per 1,000 requests
/// among those that `kept_up` (a saturated one is cheap only because it fails); and which
/// did not keep up, to be drawn muted.
fn bar_panels(
    n: usize,
    get: impl Fn(usize, &str) -> Option<(f64, f64, f64)>,
    kept_up: impl Fn(usize) -> bool,
    metrics: &[(&str, &str)],
) -> (Vec<BarPanel>, Option<usize>, Vec<bool>) {
    let values = |metric: &str| -> Vec<(f64, Option<(f64, f64)>)> {
        (0..n)
            .map(|i| {
                let fig = if metric == "rps_per_gpu" {
                    let g = get(i, "gpus").map_or(f64::NAN, |g| g.0);
                    get(i, "throughput_rps")
                        .filter(|_| g > 0.0)
                        .map(|(m, lo, hi)| (m / g, lo / g, hi / g))
                } else {
                    get(i, metric)
                };
                fig.map_or((f64::NAN, None), |(m, lo, hi)| (m, Some((lo, hi))))
            })
            .collect()
    };
    let panels = metrics
        .iter()
        .map(|(metric, label)| BarPanel {
            y_label: label.to_string(),
            values: values(metric),
        })
        .filter(|p| p.values.iter().any(|v| v.0.is_finite() && v.0 != 0.0))
        .collect();
    let highlight = values("cost_per_1k_requests")
        .iter()
        .enumerate()
        .filter(|(i, c)| c.0.is_finite() && c.0 > 0.0 && kept_up(*i))
        .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
        .map(|x| x.0);
    let muted = (0..n).map(|i| !kept_up(i)).collect();
    (panels, highlight, muted)
}

/// A swept value as a number: plain, a rate (per second) or a duration (seconds).
fn numeric(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .or_else(|| units::parse_rate(v).ok())
        .or_else(|| units::parse_duration(v).ok().map(|t| t.as_secs_f64()))
        .filter(|x| x.is_finite())
}

/// The unit a swept value was written in, for the axis label.
fn unit_of(v: &str) -> &'static str {
    let v = v.trim();
    if v.parse::<f64>().is_ok() {
        ""
    } else if units::parse_rate(v).is_ok() {
        " (requests/s)"
    } else if units::parse_duration(v).is_ok() {
        " (s)"
    } else {
        ""
    }
}

/// One sweep point read back from sweep.csv rows: its values and its figures.
struct Point<'a> {
    values: &'a [String],
    rows: &'a [Vec<String>],
}

impl Point<'_> {
    fn get(&self, k: usize, comp: &str, metric: &str) -> Option<(f64, f64, f64)> {
        let r = self
            .rows
            .iter()
            .find(|r| r[k] == comp && r[k + 1] == metric)?;
        let f = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        let mean = f(&r[k + 2]);
        mean.is_finite().then(|| (mean, f(&r[k + 3]), f(&r[k + 4])))
    }
}

/// One line of a sweep chart: `metric` of `comp` at each of `members` against the swept
/// axis `x_axis` (of `k`), in x order, with its 95% interval as the band.
fn swept_line(
    label: String,
    members: &[&Point],
    x_axis: usize,
    k: usize,
    comp: &str,
    metric: &str,
) -> Series {
    let mut line: Vec<(f64, f64, f64, f64)> = members
        .iter()
        .filter_map(|p| {
            let x = numeric(&p.values[x_axis])?;
            let (m, lo, hi) = p.get(k, comp, metric)?;
            Some((x, m, lo, hi))
        })
        .collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    Series {
        label,
        points: line.iter().map(|t| (t.0, t.1)).collect(),
        band: Band::Y(line.iter().map(|t| (t.0, t.2, t.3)).collect()),
    }
}

/// A short name for a swept path: its last segment, or the whole path when two axes end
/// alike.
fn short_names(columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .map(|c| {
            let last = c.rsplit('.').next().unwrap_or(c);
            let clash = columns
                .iter()
                .filter(|o| o.rsplit('.').next() == Some(last))
                .count()
                > 1;
            if clash { c.clone() } else { last.to_string() }
        })
        .collect()
}

/// The charts of a sweep, from its sweep.csv rows (`columns` swept paths, then component,
/// metric, mean, ci95_low, ci95_high, replications), one point per entry of `points`.
///
/// With a numeric axis (the load when one is swept), each service gets latency percentiles,
/// throughput and utilization (and TTFT/TPOT, SLO attainment where measured) against it,
/// one line per combination of the other axes, 95% bands shaded. Without one, and for a
/// sweep over GPU types, bars compare the points.
pub fn sweep_charts(columns: &[String], points: &[Vec<Vec<String>>]) -> Vec<Chart> {
    let k = columns.len();
    let pts: Vec<Point> = points
        .iter()
        .filter_map(|rows| {
            rows.first().map(|r| Point {
                values: &r[..k],
                rows,
            })
        })
        .collect();
    if pts.is_empty() {
        return Vec::new();
    }
    let svcs = point_services(k, pts[0].rows);
    let short = short_names(columns);
    // Numeric axes; the load (arrivals or users) first, else the one with most values.
    // Sorted, not `distinct`: a grid may have 100,000 points on one axis.
    let value_count = |a: usize| {
        let mut v: Vec<&str> = pts.iter().map(|p| p.values[a].as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let mut numeric_axes: Vec<usize> = (0..k)
        .filter(|&a| value_count(a) > 1 && pts.iter().all(|p| numeric(&p.values[a]).is_some()))
        .collect();
    numeric_axes.sort_by_key(|&a| {
        let is_load = columns[a].contains("arrivals") || columns[a].ends_with(".users");
        (!is_load, usize::MAX - value_count(a), a)
    });
    let mut charts = Vec::new();
    if let Some(&x_axis) = numeric_axes.first() {
        let x_label = format!("{}{}", columns[x_axis], unit_of(&pts[0].values[x_axis]));
        let x_log = {
            let xs: Vec<f64> = pts
                .iter()
                .filter_map(|p| numeric(&p.values[x_axis]))
                .collect();
            xs.iter().all(|x| *x > 0.0) && spread_of(xs.iter().copied()) >= 8.0
        };
        // Lines: one per combination of the other axes, in the order the points come.
        let mut groups: Vec<(String, Vec<&Point>)> = Vec::new();
        let mut group_of: std::collections::HashMap<String, usize> = Default::default();
        for p in &pts {
            let label: Vec<String> = (0..k)
                .filter(|&a| a != x_axis)
                .map(|a| format!("{}={}", short[a], p.values[a]))
                .collect();
            let label = label.join(", ");
            match group_of.get(&label) {
                Some(&g) => groups[g].1.push(p),
                None => {
                    group_of.insert(label.clone(), groups.len());
                    groups.push((label, vec![p]));
                }
            }
        }
        // A chart holds as many lines as the palette has colours; more go to further charts
        // (`-2`, `-3`, ...), up to MAX_PARTS of them: sweep.csv has the rest.
        let parts: Vec<&[(String, Vec<&Point>)]> = groups.chunks(LINES_PER_CHART).collect();
        let shown = parts.len().min(MAX_PARTS);
        for (part, chunk) in parts.iter().take(shown).enumerate() {
            let suffix = if part == 0 {
                String::new()
            } else {
                format!("-{}", part + 1)
            };
            let which = if parts.len() == 1 {
                String::new()
            } else {
                format!(
                    " (lines {} to {} of {}{})",
                    part * LINES_PER_CHART + 1,
                    part * LINES_PER_CHART + chunk.len(),
                    groups.len(),
                    if shown < parts.len() {
                        format!(
                            "; the first {} are drawn, sweep.csv has all",
                            shown * LINES_PER_CHART
                        )
                    } else {
                        String::new()
                    }
                )
            };
            for svc in &svcs {
                let panel =
                    |metric: &str, y_label: &str, range: Option<(f64, f64)>| -> Option<Panel> {
                        let series: Vec<Series> = chunk
                            .iter()
                            .map(|(label, members)| {
                                swept_line(label.clone(), members, x_axis, k, svc, metric)
                            })
                            .collect();
                        if series.iter().all(|s| s.points.is_empty()) {
                            return None;
                        }
                        // Latencies near saturation grow by orders of magnitude.
                        Some(fitted_panel(y_label, series, range, true))
                    };
                let mut add = |stem: &str, what: &str, panels: Vec<Option<Panel>>| {
                    let panels: Vec<Panel> = panels.into_iter().flatten().collect();
                    if panels.is_empty() {
                        return;
                    }
                    charts.push(Chart {
                        stem: format!("sweep-{}-{stem}{suffix}", file_safe(svc)),
                        caption: format!(
                            "{svc}: {what} against {}, one line per {}; shaded: 95% confidence \
                         interval over replications{which}",
                            columns[x_axis],
                            if k > 1 {
                                "combination of the other swept values"
                            } else {
                                "service"
                            }
                        ),
                        figure: Figure::Lines(Lines {
                            title: format!("{svc}: {what}"),
                            x_label: x_label.clone(),
                            x_log,
                            panels,
                        }),
                    });
                };
                add(
                    "latency",
                    "latency percentiles",
                    vec![
                        panel("latency_p50_ms", "p50 latency (ms)", None),
                        panel("latency_p95_ms", "p95 latency (ms)", None),
                        panel("latency_p99_ms", "p99 latency (ms)", None),
                    ],
                );
                add(
                    "throughput",
                    "throughput and utilization",
                    vec![
                        panel("throughput_rps", "throughput (requests/s)", None),
                        panel("gpu_utilization", "GPU utilization (0-1)", Some((0.0, 1.0))),
                    ],
                );
                add(
                    "llm",
                    "time to first token, time per output token, tokens per GPU",
                    vec![
                        panel("ttft_p95_ms", "p95 TTFT (ms)", None),
                        panel("tpot_p95_ms", "p95 TPOT (ms)", None),
                        panel(
                            "output_tokens_per_s_per_gpu",
                            "output tokens/s per GPU",
                            None,
                        ),
                    ],
                );
                add(
                    "slo",
                    "SLO attainment and users per GPU",
                    vec![
                        panel("slo_attainment", "SLO attainment (0-1)", Some((0.0, 1.05))),
                        panel("users_per_gpu", "users per GPU", None),
                    ],
                );
            }
            // An application's tiers (services that call or are called): latency and each
            // tier's working utilization against the load, on one chart, where the sweep
            // draws one line per service (no other axis varies).
            let tiers: Vec<&str> = svcs
                .iter()
                .copied()
                .filter(|svc| pts[0].get(k, svc, "bottleneck").is_some())
                .collect();
            if tiers.len() >= 2 && groups.len() == 1 {
                let members = &chunk[0].1;
                // (line label, service, metric): each tier's figure, plus for the utilization
                // a StatefulSet's primary and a blocking caller's threads held. The tiers come
                // first in both panels, so that a service has the same colour in each (a
                // line's colour is its place in the panel).
                let lines_of = |metric: &'static str| -> Vec<(String, &str, &'static str)> {
                    let mut v: Vec<(String, &str, &'static str)> = tiers
                        .iter()
                        .map(|svc| (svc.to_string(), *svc, metric))
                        .collect();
                    if metric != "gpu_utilization" {
                        return v;
                    }
                    for svc in &tiers {
                        for (extra, what) in [
                            ("primary_utilization", "primary"),
                            ("slot_utilization", "threads held"),
                        ] {
                            if pts[0].get(k, svc, extra).is_some() {
                                v.push((format!("{svc} {what}"), *svc, extra));
                            }
                        }
                    }
                    v
                };
                let tier_panel = |metric: &'static str, y_label: &str, range, log| {
                    let series: Vec<Series> = lines_of(metric)
                        .into_iter()
                        .map(|(label, svc, metric)| {
                            swept_line(label, members, x_axis, k, svc, metric)
                        })
                        .collect();
                    fitted_panel(y_label, series, range, log)
                };
                charts.push(Chart {
                    stem: "sweep-tiers".to_string(),
                    caption: format!(
                        "The application's tiers against {}: each service's mean latency (the \
                         entry service's is end to end, what users see; a called service's is \
                         its own sojourn per call) and its working utilization (busy share of \
                         its slots; a StatefulSet's primary apart; a blocking caller's worker \
                         threads held, working or waiting): the tier whose working \
                         utilization reaches 1 first binds; shaded: 95% confidence interval \
                         over replications",
                        columns[x_axis]
                    ),
                    figure: Figure::Lines(Lines {
                        title: "tiers: latency and utilization".to_string(),
                        x_label: x_label.clone(),
                        x_log,
                        panels: vec![
                            tier_panel("latency_mean_ms", "mean latency (ms)", None, true),
                            tier_panel(
                                "gpu_utilization",
                                "utilization (0-1)",
                                Some((0.0, 1.0)),
                                false,
                            ),
                        ],
                    }),
                });
            }
        }
    }
    // Bars when points are categories (e.g. GPU types), or a GPU type is swept.
    let gpu_axis = (0..k).find(|&a| columns[a].ends_with(".gpu"));
    // More bars than about eight would not leave room to name them.
    if (numeric_axes.is_empty() || gpu_axis.is_some()) && pts.len() <= 8 {
        let categories: Vec<String> = pts
            .iter()
            .map(|p| {
                (0..k)
                    .map(|a| p.values[a].clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        for svc in &svcs {
            let (panels, highlight, muted) = bar_panels(
                pts.len(),
                |i, m| pts[i].get(k, svc, m),
                |i| pts[i].get(k, svc, "saturated").is_none_or(|s| s.0 == 0.0),
                &[
                    ("users_per_gpu", "users per GPU"),
                    ("rps_per_gpu", "requests/s per GPU"),
                    ("latency_p95_ms", "p95 latency (ms)"),
                    ("cost_per_1k_requests", "$ per 1k requests"),
                ],
            );
            if panels.is_empty() {
                continue;
            }
            charts.push(Chart {
                stem: format!("sweep-{}-per-gpu", file_safe(svc)),
                caption: format!(
                    "{svc} at each point ({}): users and requests per GPU, p95 latency and cost \
                     per 1,000 requests; the cheapest point that keeps up in orange, points \
                     where it saturated in grey and marked",
                    columns.join(", ")
                ),
                figure: Figure::Bars(Bars {
                    title: format!("{svc}: per GPU at each point"),
                    categories: categories
                        .iter()
                        .zip(&muted)
                        .map(|(c, m)| {
                            if *m {
                                format!("{c} SATURATED")
                            } else {
                                c.clone()
                            }
                        })
                        .collect(),
                    panels,
                    highlight,
                    muted,
                }),
            });
        }
    }
    // Services are named freely: their charts' names must not meet.
    unique_stems(charts.iter_mut().map(|c| &mut c.stem));
    charts
}

/// The charts of a capacity search, `searches` being (label, result) pairs: one for a plain
/// search, one per point over a sweep.
///
/// `search-slo`: each SLO term's measured mean (95% band) against the load tried, one line
/// per search, with the bound; `search-per-gpu` (with two or more searches): the capacity
/// per GPU and its cost, the cheapest (`highlight`) in orange.
pub fn search_charts(
    searches: &[(String, &super::search::SearchResult)],
    highlight: Option<usize>,
) -> Vec<Chart> {
    let Some((_, first)) = searches.first() else {
        return Vec::new();
    };
    let closed = first.kind.is_closed();
    let load = |c: &super::search::Candidate| if closed { c.load } else { c.rate_rps };
    let x_label = if closed {
        "users (closed loop)".to_string()
    } else {
        "arrival rate (requests/s)".to_string()
    };
    let mut charts = Vec::new();
    let mut panels = Vec::new();
    for (metric, bound) in &first.slo {
        let mut series: Vec<Series> = searches
            .iter()
            .map(|(label, r)| {
                let mut pts: Vec<(f64, f64, f64, f64)> = r
                    .candidates
                    .iter()
                    .filter_map(|c| {
                        let e = c.report.get(&r.service, metric)?;
                        let iv = super::intervals::interval(metric, e);
                        e.mean
                            .is_finite()
                            .then_some((load(c), e.mean, iv.low, iv.high))
                    })
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    label: if searches.len() == 1 {
                        r.service.clone()
                    } else {
                        label.clone()
                    },
                    points: pts.iter().map(|t| (t.0, t.1)).collect(),
                    band: Band::Y(pts.iter().map(|t| (t.0, t.2, t.3)).collect()),
                }
            })
            .collect();
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let (x0, x1) = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        series.push(Series {
            label: format!("SLO: {metric} <= {}", super::fmt_num(*bound)),
            points: vec![(x0, *bound), (x1, *bound)],
            band: Band::None,
        });
        panels.push(fitted_panel(metric, series, None, true));
    }
    if !panels.is_empty() {
        let x_log = searches.len() > 1;
        charts.push(Chart {
            stem: "search-slo".into(),
            caption: format!(
                "Each SLO term against the load tried by the bisection (mean over replications, \
                 95% interval shaded), with its bound: the search keeps the largest load whose \
                 interval stays under the bound{}",
                if searches.len() > 1 {
                    "; one line per sweep point"
                } else {
                    ""
                }
            ),
            figure: Figure::Lines(Lines {
                title: format!("{}: SLO against load", first.service),
                x_label: format!("{x_label}{}", if x_log { ", log scale" } else { "" }),
                x_log,
                panels,
            }),
        });
    }
    if searches.len() >= 2 {
        let value = |f: &dyn Fn(&super::search::SearchResult) -> f64| {
            searches
                .iter()
                .map(|(_, r)| (f(r), None))
                .collect::<Vec<_>>()
        };
        let mut panels = vec![if closed {
            BarPanel {
                y_label: "users per GPU at the SLO".into(),
                values: value(&|r| r.users_per_gpu()),
            }
        } else {
            BarPanel {
                y_label: "requests/s per GPU at the SLO".into(),
                values: value(&|r| r.rps_per_gpu()),
            }
        }];
        let cost = if closed {
            BarPanel {
                y_label: "$ per user-hour".into(),
                values: value(&|r| r.cost_per_user_hour()),
            }
        } else {
            BarPanel {
                y_label: "$ per 1k requests".into(),
                values: value(&|r| r.cost_per_1k_requests()),
            }
        };
        if cost.values.iter().any(|v| v.0.is_finite() && v.0 > 0.0) {
            panels.push(cost);
        }
        charts.push(Chart {
            stem: "search-per-gpu".into(),
            caption: format!(
                "The largest load per GPU that meets the SLO at each sweep point, and what it \
                 costs{}",
                if highlight.is_some() {
                    "; the cheapest in orange"
                } else {
                    ""
                }
            ),
            figure: Figure::Bars(Bars {
                title: format!(
                    "{}: {} per GPU at the SLO",
                    first.service,
                    if closed { "users" } else { "requests/s" }
                ),
                categories: searches.iter().map(|(l, _)| l.clone()).collect(),
                panels,
                highlight,
                muted: vec![false; searches.len()],
            }),
        });
    }
    charts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sweep rows of a grid `a` (categories) x `rate`, each point with one latency figure.
    fn grid(a: usize, rates: &[&str]) -> (Vec<String>, Vec<Vec<Vec<String>>>) {
        let columns = vec![
            "services.s.replicas".to_string(),
            "workloads.0.arrivals.poisson.rate".to_string(),
        ];
        let mut points = Vec::new();
        for i in 0..a {
            for (j, r) in rates.iter().enumerate() {
                let row = |m: &str, v: f64| -> Vec<String> {
                    [&(i + 1).to_string(), *r, "s", m]
                        .iter()
                        .map(|x| x.to_string())
                        .chain([v, v * 0.9, v * 1.1].iter().map(|x| x.to_string()))
                        .chain(["2".to_string()])
                        .collect()
                };
                points.push(vec![
                    row("latency_p99_ms", 10.0 + j as f64),
                    row("throughput_rps", 5.0),
                ]);
            }
        }
        (columns, points)
    }

    #[test]
    fn the_load_is_the_x_axis_and_lines_split_over_charts_of_seven() {
        let (columns, points) = grid(10, &["10/s", "20/s", "40/s"]);
        let charts = sweep_charts(&columns, &points);
        let stems: Vec<&str> = charts.iter().map(|c| c.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "sweep-s-latency",
                "sweep-s-throughput",
                "sweep-s-latency-2",
                "sweep-s-throughput-2"
            ]
        );
        let Figure::Lines(l) = &charts[0].figure else {
            panic!("lines")
        };
        assert_eq!(l.x_label, "workloads.0.arrivals.poisson.rate (requests/s)");
        let labels: Vec<&str> = l.panels[0]
            .series
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(labels.len(), 7);
        assert_eq!(labels[0], "replicas=1");
        // Points of a line in x order, with their interval as the band.
        assert_eq!(
            l.panels[0].series[0].points,
            [(10.0, 10.0), (20.0, 11.0), (40.0, 12.0)]
        );
        let Figure::Lines(l2) = &charts[2].figure else {
            panic!("lines")
        };
        assert_eq!(l2.panels[0].series.len(), 3);
        assert!(charts[2].caption.contains("lines 8 to 10 of 10"));
    }

    #[test]
    fn a_tier_has_the_same_colour_in_both_panels_of_the_tiers_chart() {
        // An app (blocking caller: threads held) over a database StatefulSet (primary), swept
        // over the load; a line's colour is its place in its panel.
        let columns = vec!["workloads.0.arrivals.poisson.rate".to_string()];
        let row = |r: &str, svc: &str, m: &str, v: f64| -> Vec<String> {
            [r, svc, m]
                .iter()
                .map(|x| x.to_string())
                .chain([v, v, v].iter().map(|x| x.to_string()))
                .chain(["2".to_string()])
                .collect()
        };
        let points: Vec<Vec<Vec<String>>> = ["100/s", "200/s"]
            .iter()
            .map(|r| {
                let mut rows = Vec::new();
                for (svc, extra) in [("app", "slot_utilization"), ("db", "primary_utilization")] {
                    for m in ["bottleneck", "latency_mean_ms", "gpu_utilization", extra] {
                        rows.push(row(r, svc, m, 0.5));
                    }
                }
                rows
            })
            .collect();
        let charts = sweep_charts(&columns, &points);
        let tiers = charts
            .iter()
            .find(|c| c.stem == "sweep-tiers")
            .expect("a tiers chart");
        let Figure::Lines(l) = &tiers.figure else {
            panic!("lines")
        };
        let labels = |p: usize| -> Vec<&str> {
            l.panels[p]
                .series
                .iter()
                .map(|s| s.label.as_str())
                .collect()
        };
        assert_eq!(labels(0), ["app", "db"]);
        assert_eq!(labels(1), ["app", "db", "app threads held", "db primary"]);
    }
}
