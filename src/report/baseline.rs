//! Baselines for `capsim check`: reading and writing the baseline file, and comparing a new
//! run's figures with it (the rule is in [`super::gate`]).
//!
//! The baseline file has the columns `scenario,component,metric,mean,sd,replications`: each
//! figure's mean, the sample standard deviation of its per-replication values and their
//! number, which is what the gate's t-test needs. It holds the rows of every scenario:
//! grouped by scenario in name order, and within a scenario in the order summary.csv lists
//! them, so that a rerun on an unchanged tree writes the same bytes and a `git diff` of the
//! file reads like a diff of one summary per scenario.
//!
//! A baseline written by an older capsim, with summary.csv's columns
//! (`...,mean,ci95_low,ci95_high,replications`), is still read: the standard deviation
//! comes back from the interval's half width h as `s = h · √n / t(0.975, n − 1)`.
//!
//! A figure measured on one side and not the other (empty in the CSV) moved; unmeasured on
//! both sides is unchanged. A row on one side only is `new` or `removed`, and fails too.

use super::fmt_num;
use super::gate::{self, Sample};
use crate::scenario::LoadError;
use crate::sim::Report;
use std::collections::HashMap;
use std::path::Path;

pub use super::gate::{DEFAULT_TOLERANCE, TINY};

/// The columns of the baseline file.
pub const COLUMNS: [&str; 6] = [
    "scenario",
    "component",
    "metric",
    "mean",
    "sd",
    "replications",
];

/// The columns of baselines written before the file held standard deviations: summary.csv's.
pub const OLD_COLUMNS: [&str; 7] = super::SUMMARY_COLUMNS;

/// Figures that are bookkeeping, not capacity results, and never gate:
///
/// - `engine.events` counts the simulator's internal events; a refactoring that schedules
///   one more timer changes it while every result stays the same.
/// - `littles_law_error` (any service) is a self-check of run length whose value is noise
///   around zero, where a relative tolerance means nothing; the figures it relates
///   (`in_system_mean`, `throughput_rps`, `latency_mean_ms`) gate on their own.
///
/// Each entry is (component, metric); component `*` means any component.
pub const NOT_GATED: &[(&str, &str)] = &[("engine", "events"), ("*", "littles_law_error")];

/// Whether a change of `component.metric` can fail `capsim check` (see [`NOT_GATED`]).
pub fn gates(component: &str, metric: &str) -> bool {
    !NOT_GATED
        .iter()
        .any(|(c, m)| (*c == "*" || *c == component) && *m == metric)
}

/// One row of a baseline (or of a new summary, put in the same form).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRow {
    /// Scenario name (the scenario's `name:`, not its file name).
    pub scenario: String,
    /// Service name, `cluster` or `engine`.
    pub component: String,
    /// Metric name.
    pub metric: String,
    /// Mean, standard deviation and replications, as read back from the six-digit text.
    pub sample: Sample,
    /// The row's fields as the file writes them, kept so that rows of other scenarios are
    /// rewritten byte for byte by `--update-baseline`.
    fields: [String; 6],
}

/// A baseline file: the rows of all scenarios.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// The rows, in file order.
    pub rows: Vec<BaselineRow>,
}

impl Baseline {
    /// Parses baseline text (current or old columns); `file` names it in errors
    /// (`FILE:LINE:COL: COLUMN: MESSAGE`).
    pub fn parse(file: &str, text: &str) -> Result<Baseline, LoadError> {
        let err = |line: u64, col: usize, field: &str, message: String| LoadError {
            file: file.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            field: field.to_string(),
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        let mut seen: HashMap<(String, String, String), u64> = HashMap::new();
        // The header's columns: the current ones or the old ones.
        let mut columns: Option<&[&str]> = None;
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, 1, "", format!("not a valid CSV row: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let Some(cols) = columns else {
                if record.iter().eq(COLUMNS.iter().copied()) {
                    columns = Some(&COLUMNS);
                } else if record.iter().eq(OLD_COLUMNS.iter().copied()) {
                    columns = Some(&OLD_COLUMNS);
                } else {
                    return Err(err(
                        line,
                        1,
                        "",
                        format!(
                            "expected the header `{}`, found `{}`",
                            COLUMNS.join(","),
                            record.iter().collect::<Vec<_>>().join(",")
                        ),
                    ));
                }
                continue;
            };
            if record.len() != cols.len() {
                return Err(err(
                    line,
                    1,
                    "",
                    format!(
                        "expected {} columns ({}), found {}",
                        cols.len(),
                        cols.join(","),
                        record.len()
                    ),
                ));
            }
            // Column of field i, for unquoted fields (the only kind capsim writes).
            let col = |i: usize| 1 + record.iter().take(i).map(|f| f.len() + 1).sum::<usize>();
            for i in 0..3 {
                if record[i].is_empty() {
                    return Err(err(line, col(i), cols[i], "must not be empty".into()));
                }
            }
            // Every figure column (mean, then sd or the interval's two ends).
            let last = cols.len() - 1;
            let mut figures = Vec::with_capacity(3);
            for i in 3..last {
                let fig = parse_figure(&record[i]).ok_or_else(|| {
                    err(
                        line,
                        col(i),
                        cols[i],
                        format!(
                            "expected a number, or nothing for a figure not measured; found `{}`",
                            &record[i]
                        ),
                    )
                })?;
                figures.push(fig);
            }
            let n: u32 = record[last].parse().map_err(|_| {
                err(
                    line,
                    col(last),
                    cols[last],
                    format!("expected a whole number, found `{}`", &record[last]),
                )
            })?;
            let sd = if cols.len() == COLUMNS.len() {
                if figures[1] < 0.0 {
                    return Err(err(
                        line,
                        col(4),
                        cols[4],
                        format!(
                            "a standard deviation is not negative; found `{}`",
                            &record[4]
                        ),
                    ));
                }
                figures[1]
            } else {
                sd_from_interval(figures[0], figures[1], figures[2], n)
            };
            let key = (
                record[0].to_string(),
                record[1].to_string(),
                record[2].to_string(),
            );
            if let Some(first) = seen.insert(key, line) {
                return Err(err(
                    line,
                    1,
                    "",
                    format!(
                        "`{}` `{}.{}` appears twice (first on line {first})",
                        &record[0], &record[1], &record[2]
                    ),
                ));
            }
            let sample = Sample {
                mean: figures[0],
                sd,
                n,
            };
            rows.push(BaselineRow {
                scenario: record[0].to_string(),
                component: record[1].to_string(),
                metric: record[2].to_string(),
                sample,
                fields: row_text(&record[0], &record[1], &record[2], &sample),
            });
        }
        if columns.is_none() {
            return Err(err(
                1,
                1,
                "",
                format!("empty file; expected the header `{}`", COLUMNS.join(",")),
            ));
        }
        Ok(Baseline { rows })
    }

    /// Reads a baseline file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Baseline>, LoadError> {
        let file = path.display().to_string();
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LoadError::unplaced(
                file,
                "",
                format!("cannot read the baseline: {e}"),
            )),
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    LoadError::unplaced(file.clone(), "", "the baseline is not UTF-8 text")
                })?;
                Baseline::parse(&file, &text).map(Some)
            }
        }
    }

    /// The rows of `scenario`, in file order.
    pub fn scenario_rows<'a>(&'a self, scenario: &'a str) -> impl Iterator<Item = &'a BaselineRow> {
        self.rows.iter().filter(move |r| r.scenario == scenario)
    }

    /// Replaces the rows of `scenario` (all of them) with `rows`.
    pub fn replace_scenario(&mut self, scenario: &str, rows: Vec<BaselineRow>) {
        self.rows.retain(|r| r.scenario != scenario);
        self.rows.extend(rows);
    }

    /// The file text: the header, then the rows grouped by scenario in name order, each
    /// scenario's rows in the order they were added (summary.csv's order).
    pub fn to_csv(&self) -> String {
        let mut rows: Vec<&BaselineRow> = self.rows.iter().collect();
        // Stable: rows of one scenario keep their order.
        rows.sort_by(|a, b| a.scenario.cmp(&b.scenario));
        super::csv_text(COLUMNS, rows.iter().map(|r| r.fields.clone()))
    }
}

/// A figure as the file writes it: empty for not measured, else a finite number.
fn parse_figure(s: &str) -> Option<f64> {
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The standard deviation behind an old baseline's t-interval: its half width times
/// √n / t(0.975, n − 1). The wider side is the half width, in case an end was cut at the
/// figure's range.
fn sd_from_interval(mean: f64, low: f64, high: f64, n: u32) -> f64 {
    if n < 2 || !low.is_finite() || !high.is_finite() {
        return f64::NAN;
    }
    let half = (mean - low).max(high - mean).max(0.0);
    half * f64::from(n).sqrt() / crate::stats::t_975(n - 1)
}

/// The fields of a row as the file writes them.
fn row_text(scenario: &str, component: &str, metric: &str, s: &Sample) -> [String; 6] {
    [
        scenario.to_string(),
        component.to_string(),
        metric.to_string(),
        fmt_num(s.mean),
        fmt_num(s.sd),
        s.n.to_string(),
    ]
}

/// The rows of a new report in baseline form. The figures go through the same six-digit
/// text as the file, so a rerun of an unchanged scenario compares exactly equal to the
/// baseline it wrote.
pub fn report_rows(report: &Report) -> Vec<BaselineRow> {
    report
        .rows
        .iter()
        .map(|r| {
            let e = &r.estimate;
            let exact = Sample {
                mean: e.mean,
                sd: e.sd,
                n: e.n,
            };
            let fields = row_text(&report.scenario, &r.component, r.metric, &exact);
            let fig = |s: &str| parse_figure(s).unwrap_or(f64::NAN);
            BaselineRow {
                scenario: report.scenario.clone(),
                component: r.component.clone(),
                metric: r.metric.to_string(),
                sample: Sample {
                    mean: fig(&fields[3]),
                    sd: fig(&fields[4]),
                    n: e.n,
                },
                fields,
            }
        })
        .collect()
}

/// How one figure compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Exactly the same mean (or not measured on either side).
    Unchanged,
    /// Different, but not shown to have moved: within the tolerance, or explained by the
    /// replications' noise.
    WithinNoise,
    /// Moved (see [`gate`]), or measured on one side only.
    Moved,
    /// In the new run only.
    New,
    /// In the baseline only.
    Removed,
}

impl Change {
    /// Whether this change fails `capsim check`.
    pub fn fails(self) -> bool {
        matches!(self, Change::Moved | Change::New | Change::Removed)
    }
}

/// One compared figure.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Service name, `cluster` or `engine`.
    pub component: String,
    /// Metric name.
    pub metric: String,
    /// The baseline's figure, if it has the row.
    pub old: Option<Sample>,
    /// The new figure, if the run has the row.
    pub new: Option<Sample>,
    /// The gate's statistics, when both sides measured the figure and differ.
    pub test: Option<gate::Test>,
    /// The verdict.
    pub change: Change,
}

impl Comparison {
    /// Relative change of the mean in percent; `None` when either side was not measured or
    /// the baseline is 0.
    pub fn change_percent(&self) -> Option<f64> {
        let (old, new) = (self.old?.mean, self.new?.mean);
        (old.is_finite() && new.is_finite() && old != 0.0).then(|| (new - old) / old.abs() * 100.0)
    }
}

/// Classifies the change from `old` to `new` under `tolerance` (a fraction, 0.05 = 5%),
/// with the gate's statistics when both sides were measured and differ.
pub fn classify(old: &Sample, new: &Sample, tolerance: f64) -> (Change, Option<gate::Test>) {
    match (old.mean.is_nan(), new.mean.is_nan()) {
        (true, true) => return (Change::Unchanged, None),
        (true, false) | (false, true) => return (Change::Moved, None),
        (false, false) => {}
    }
    if old.mean == new.mean {
        return (Change::Unchanged, None);
    }
    let t = gate::test(old, new, tolerance);
    let change = if t.moved {
        Change::Moved
    } else {
        Change::WithinNoise
    };
    (change, Some(t))
}

/// Compares the rows of one scenario: every gated row of `new` (in its order) against the
/// row of `old` with the same component and metric, then the gated rows of `old` that `new`
/// lacks. Figures in [`NOT_GATED`] are left out.
pub fn compare(old: &[&BaselineRow], new: &[BaselineRow], tolerance: f64) -> Vec<Comparison> {
    let old_by_key: HashMap<(&str, &str), &BaselineRow> = old
        .iter()
        .map(|r| ((r.component.as_str(), r.metric.as_str()), *r))
        .collect();
    let mut out = Vec::new();
    for n in new.iter().filter(|r| gates(&r.component, &r.metric)) {
        let o = old_by_key.get(&(n.component.as_str(), n.metric.as_str()));
        let (change, test) = o.map_or((Change::New, None), |o| {
            classify(&o.sample, &n.sample, tolerance)
        });
        out.push(Comparison {
            component: n.component.clone(),
            metric: n.metric.clone(),
            old: o.map(|o| o.sample),
            new: Some(n.sample),
            test,
            change,
        });
    }
    for o in old.iter().filter(|r| gates(&r.component, &r.metric)) {
        if !new
            .iter()
            .any(|n| n.component == o.component && n.metric == o.metric)
        {
            out.push(Comparison {
                component: o.component.clone(),
                metric: o.metric.clone(),
                old: Some(o.sample),
                new: None,
                test: None,
                change: Change::Removed,
            });
        }
    }
    out
}

/// `mean (sd S, n N)`, `mean (n 1)` without a standard deviation, `nothing` when not
/// measured.
pub fn fmt_sample(s: &Sample) -> String {
    if !s.mean.is_finite() {
        return "nothing".into();
    }
    if s.sd.is_finite() {
        format!("{} (sd {}, n {})", fmt_num(s.mean), fmt_num(s.sd), s.n)
    } else {
        format!("{} (n {})", fmt_num(s.mean), s.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(mean: f64, sd: f64) -> Sample {
        Sample { mean, sd, n: 5 }
    }

    #[test]
    fn equal_unmeasured_and_one_sided_figures() {
        let nan = f64::NAN;
        let old = sample(100.0, 1.0);
        assert_eq!(classify(&old, &old, 0.05).0, Change::Unchanged);
        assert_eq!(
            classify(&sample(nan, nan), &sample(nan, nan), 0.05).0,
            Change::Unchanged
        );
        assert_eq!(
            classify(&sample(nan, nan), &sample(1.0, nan), 0.05).0,
            Change::Moved
        );
        // 10% up with little noise: moved; with much noise: not shown.
        assert_eq!(classify(&old, &sample(110.0, 1.0), 0.05).0, Change::Moved);
        assert_eq!(
            classify(&old, &sample(110.0, 20.0), 0.05).0,
            Change::WithinNoise
        );
    }

    #[test]
    fn parse_round_trip_and_errors() {
        let text = "scenario,component,metric,mean,sd,replications\n\
                    b,s,requests,10,0.5,5\n\
                    a,s,requests,2,,1\n";
        let b = Baseline::parse("base.csv", text).unwrap();
        assert_eq!(b.rows.len(), 2);
        assert_eq!(
            b.rows[0].sample,
            Sample {
                mean: 10.0,
                sd: 0.5,
                n: 5
            }
        );
        assert!(b.rows[1].sample.sd.is_nan());
        // Sorted by scenario on output, byte for byte.
        assert_eq!(
            b.to_csv(),
            "scenario,component,metric,mean,sd,replications\n\
             a,s,requests,2,,1\nb,s,requests,10,0.5,5\n"
        );
        let e = Baseline::parse("base.csv", "scenario,component\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        let bad = "scenario,component,metric,mean,sd,replications\n\
                   a,s,requests,fast,1,5\n";
        let e = Baseline::parse("base.csv", bad).unwrap_err();
        assert_eq!((e.line, e.col, e.field.as_str()), (2, 14, "mean"));
        let neg = "scenario,component,metric,mean,sd,replications\na,s,requests,1,-1,5\n";
        let e = Baseline::parse("base.csv", neg).unwrap_err();
        assert_eq!((e.line, e.col, e.field.as_str()), (2, 16, "sd"));
        let dup = "scenario,component,metric,mean,sd,replications\n\
                   a,s,requests,1,0,5\na,s,requests,1,0,5\n";
        assert_eq!(Baseline::parse("base.csv", dup).unwrap_err().line, 3);
        assert!(Baseline::parse("base.csv", "").is_err());
    }

    #[test]
    fn an_old_baseline_is_read_and_rewritten_in_the_new_columns() {
        // Values 1..=5: mean 3, sd √2.5, interval 3 ± 2.776 · √(2.5/5).
        let half = 2.776 * 0.5f64.sqrt();
        let text = format!(
            "scenario,component,metric,mean,ci95_low,ci95_high,replications\n\
             a,s,requests,3,{},{},5\na,s,dropped,2,,,1\n",
            3.0 - half,
            3.0 + half
        );
        let b = Baseline::parse("old.csv", &text).unwrap();
        assert!((b.rows[0].sample.sd - 2.5f64.sqrt()).abs() < 1e-12);
        assert!(b.rows[1].sample.sd.is_nan());
        assert_eq!(
            b.to_csv(),
            "scenario,component,metric,mean,sd,replications\n\
             a,s,requests,3,1.58114,5\na,s,dropped,2,,1\n"
        );
    }

    #[test]
    fn bookkeeping_does_not_gate() {
        assert!(!gates("engine", "events"));
        assert!(!gates("chat", "littles_law_error"));
        assert!(gates("chat", "latency_p99_ms"));
    }

    #[test]
    fn new_and_removed_rows() {
        let row = |m: &str, v: f64| BaselineRow {
            scenario: "a".into(),
            component: "s".into(),
            metric: m.into(),
            sample: sample(v, 0.0),
            fields: Default::default(),
        };
        let old = [row("x", 1.0), row("gone", 1.0)];
        let new = [row("x", 1.0), row("added", 2.0)];
        let old_refs: Vec<&BaselineRow> = old.iter().collect();
        let c = compare(&old_refs, &new, 0.05);
        let changes: Vec<(&str, Change)> =
            c.iter().map(|c| (c.metric.as_str(), c.change)).collect();
        assert_eq!(
            changes,
            [
                ("x", Change::Unchanged),
                ("added", Change::New),
                ("gone", Change::Removed)
            ]
        );
    }
}
