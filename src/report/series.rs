//! timeseries.csv, written row by row as the averaged samples come (a long run's rows never
//! sit in memory), and the lines its charts draw, decimated so that a chart's size is bounded
//! whatever the run's length.
//!
//! Decimation keeps every sample of a line of up to [`MAX_POINTS_PER_LINE`] samples, so the
//! charts of ordinary runs draw exactly what timeseries.csv holds. A longer line is cut into
//! equal buckets of consecutive samples, and each bucket draws its lowest and its highest
//! value at their own times: a spike or a dip of one sample still shows, as it would on a
//! chart a pixel per bucket wide.

use super::fmt_num;
use crate::sim::timeseries::{APF_COMPONENTS, Layout};
use crate::sim::{Report, TsRow};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Points one line of a timeseries chart draws at most.
pub const MAX_POINTS_PER_LINE: usize = 2000;

/// Points all the lines of a run's charts hold at most together (beyond some hundreds of
/// lines, each line gets fewer than [`MAX_POINTS_PER_LINE`]), so that a run of many services
/// keeps its chart data to tens of MB.
pub const MAX_POINTS: usize = 1_000_000;

/// The metrics the timeseries charts draw (others are in timeseries.csv only).
pub const CHARTED: [&str; 20] = [
    "desired_replicas",
    "ready",
    "pending_pods",
    "arrivals_rps",
    "throughput_rps",
    "queue_length",
    "in_flight",
    "latency_p95_ms",
    "ttft_p95_ms",
    "nodes",
    "nodes_ready",
    "nodes_provisioning",
    "gpus_allocated",
    "jobs_running",
    "jobs_waiting",
    "fragmentation",
    "dispatched_rps",
    "rejected_rps",
    "requests_rps",
    "watch_bytes_per_s",
];

/// Lines the charts draw of a priority level: calls queued, dispatched and rejected.
const LINES_PER_LEVEL: usize = 3;

/// Consecutive samples of a line that a chart draws as at most two points.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Sample number divided by the line's bucket width.
    key: u32,
    /// Samples in it.
    n: u32,
    /// (time, value) of the lowest and the highest value, the first of equal ones.
    min: (f64, f64),
    max: (f64, f64),
}

/// One line, decimated as its samples come.
#[derive(Debug, Clone)]
struct Line {
    /// Samples per bucket: 1 until the line has more samples than it may draw, then doubled
    /// as often as needed.
    width: u32,
    /// Points the line may draw.
    budget: usize,
    buckets: Vec<Bucket>,
}

impl Line {
    fn new(budget: usize) -> Line {
        Line {
            width: 1,
            budget: budget.max(2),
            buckets: Vec::new(),
        }
    }

    fn add(&mut self, sample: u32, t: f64, v: f64) {
        let key = sample / self.width;
        match self.buckets.last_mut() {
            Some(b) if b.key == key => {
                b.n += 1;
                if v < b.min.1 {
                    b.min = (t, v);
                }
                if v > b.max.1 {
                    b.max = (t, v);
                }
            }
            _ => self.buckets.push(Bucket {
                key,
                n: 1,
                min: (t, v),
                max: (t, v),
            }),
        }
        // A bucket of one sample draws one point, any other two.
        while self.buckets.len()
            > if self.width == 1 {
                self.budget
            } else {
                self.budget / 2
            }
        {
            self.coarsen();
        }
    }

    /// Doubles the bucket width, joining neighbouring buckets.
    fn coarsen(&mut self) {
        self.width = self.width.saturating_mul(2);
        let mut out: Vec<Bucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for b in self.buckets.drain(..) {
            let key = b.key / 2;
            match out.last_mut() {
                Some(a) if a.key == key => {
                    a.n += b.n;
                    if b.min.1 < a.min.1 {
                        a.min = b.min;
                    }
                    if b.max.1 > a.max.1 {
                        a.max = b.max;
                    }
                }
                _ => out.push(Bucket { key, ..b }),
            }
        }
        self.buckets = out;
    }

    fn points(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::with_capacity(self.buckets.len() * 2);
        for b in &self.buckets {
            if b.n == 1 || b.min.0 == b.max.0 {
                out.push(b.min);
            } else if b.min.0 < b.max.0 {
                out.extend([b.min, b.max]);
            } else {
                out.extend([b.max, b.min]);
            }
        }
        out
    }
}

/// The lines the timeseries charts draw, collected from the rows of timeseries.csv.
#[derive(Debug, Clone)]
pub struct ChartLines {
    /// Component, then metric.
    lines: BTreeMap<String, BTreeMap<&'static str, Line>>,
    budget: usize,
    /// The last sample's time, seconds.
    pub end_s: f64,
    /// Whether at some sample the cluster had nodes that were not Ready.
    pub nodes_not_ready: bool,
    /// The cluster's `nodes` at the latest sample, to compare with its `nodes_ready`.
    nodes_now: (f64, f64),
}

impl ChartLines {
    /// Empty lines for a run whose rows are laid out as `layout`.
    pub fn new(layout: Layout) -> ChartLines {
        let lines = layout.services * 9
            + 4
            + if layout.training { 4 } else { 0 }
            // The API servers' requests and watch bytes, and each level's.
            + if layout.control_plane {
                2 + APF_COMPONENTS.len() * LINES_PER_LEVEL
            } else {
                0
            };
        ChartLines {
            lines: BTreeMap::new(),
            budget: (MAX_POINTS / lines.max(1)).clamp(2, MAX_POINTS_PER_LINE),
            end_s: 0.0,
            nodes_not_ready: false,
            nodes_now: (f64::NAN, f64::NAN),
        }
    }

    /// Takes one row of timeseries.csv.
    pub fn add(&mut self, row: &TsRow) {
        self.end_s = self.end_s.max(row.time_s);
        if row.component == "cluster" {
            match row.metric {
                "nodes" => self.nodes_now = (row.time_s, row.value),
                "nodes_ready" if self.nodes_now.0 == row.time_s => {
                    self.nodes_not_ready |= self.nodes_now.1 != row.value;
                }
                _ => {}
            }
        }
        if !CHARTED.contains(&row.metric) {
            return;
        }
        let budget = self.budget;
        let metrics = match self.lines.get_mut(row.component) {
            Some(m) => m,
            None => self.lines.entry(row.component.to_string()).or_default(),
        };
        metrics
            .entry(row.metric)
            .or_insert_with(|| Line::new(budget))
            .add(row.sample, row.time_s, row.value);
    }

    /// The points of `metric` of `component` in time order: every sample, or for a long line
    /// the lowest and highest of each bucket.
    pub fn line(&self, component: &str, metric: &str) -> Vec<(f64, f64)> {
        self.lines
            .get(component)
            .and_then(|m| m.get(metric))
            .map_or_else(Vec::new, Line::points)
    }
}

/// timeseries.csv being written: `time_s,component,metric,value`, and the chart lines of the
/// rows written so far.
pub struct TimeseriesFile {
    csv: csv::Writer<BufWriter<std::fs::File>>,
    lines: ChartLines,
}

impl TimeseriesFile {
    /// Creates `path` with its header, for a run whose rows are laid out as `layout`.
    pub fn create(path: &Path, layout: Layout) -> std::io::Result<TimeseriesFile> {
        let file = BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
        let mut csv = csv::Writer::from_writer(file);
        csv.write_record(["time_s", "component", "metric", "value"])?;
        Ok(TimeseriesFile {
            csv,
            lines: ChartLines::new(layout),
        })
    }

    /// Writes one row.
    pub fn push(&mut self, row: &TsRow) -> std::io::Result<()> {
        self.lines.add(row);
        self.csv.write_record([
            fmt_num(row.time_s).as_str(),
            row.component,
            row.metric,
            fmt_num(row.value).as_str(),
        ])?;
        Ok(())
    }

    /// Flushes the file; the lines for the charts.
    pub fn finish(self) -> std::io::Result<ChartLines> {
        let mut file = self.csv.into_inner().map_err(|e| e.into_error())?;
        file.flush()?;
        Ok(self.lines)
    }

    /// Writes the timeseries a report holds in memory ([`Report::timeseries`]).
    pub fn write_report(path: &Path, report: &Report) -> std::io::Result<ChartLines> {
        let has = |c: &str| report.rows.iter().any(|r| r.component == c);
        let layout = Layout {
            services: super::services(report).len(),
            training: has("training"),
            control_plane: has("apiserver"),
        };
        let mut f = TimeseriesFile::create(path, layout)?;
        // Samples are numbered by their place among the distinct times.
        let mut sample = 0;
        let mut last = f64::NAN;
        for (t, component, metric, value) in &report.timeseries {
            if *t != last {
                sample += 1;
                last = *t;
            }
            f.push(&TsRow {
                sample,
                time_s: *t,
                component,
                metric,
                value: *value,
            })?;
        }
        f.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(values: &[f64], budget: usize) -> Vec<(f64, f64)> {
        let mut l = Line::new(budget);
        for (i, &v) in values.iter().enumerate() {
            l.add(i as u32 + 1, (i + 1) as f64, v);
        }
        l.points()
    }

    #[test]
    fn a_line_within_its_budget_keeps_every_sample() {
        let v: Vec<f64> = (0..2000).map(|i| (i % 37) as f64).collect();
        let p = line_of(&v, 2000);
        assert_eq!(p.len(), 2000);
        assert!(p.iter().zip(&v).all(|(p, v)| p.1 == *v));
    }

    #[test]
    fn a_long_line_keeps_its_extremes_within_the_budget() {
        // A million samples of a slow wave, with one spike and one dip of a single sample.
        let n = 1_000_000;
        let mut v: Vec<f64> = (0..n).map(|i| (i as f64 / 5e4).sin()).collect();
        v[123_457] = 50.0;
        v[876_543] = -40.0;
        let p = line_of(&v, 2000);
        assert!(p.len() <= 2000, "{}", p.len());
        assert!(p.len() >= 1000, "{}", p.len());
        assert!(p.contains(&(123_458.0, 50.0)));
        assert!(p.contains(&(876_544.0, -40.0)));
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "time order");
        // Every point is a sample as it was.
        assert!(p.iter().all(|&(t, x)| v[t as usize - 1] == x));
    }

    #[test]
    fn many_lines_share_the_point_budget() {
        let layout = |services| Layout {
            services,
            training: true,
            control_plane: true,
        };
        assert_eq!(ChartLines::new(layout(1)).budget, MAX_POINTS_PER_LINE);
        let many = ChartLines::new(layout(10_000));
        assert!(many.budget * (10_000 * 9 + 4 + 4 + 26) <= MAX_POINTS);
    }
}
