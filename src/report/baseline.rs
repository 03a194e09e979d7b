//! Baselines for `capsim check`: reading and writing the baseline file, and deciding which
//! summary figures moved.
//!
//! The baseline file has summary.csv's columns
//! (`scenario,component,metric,mean,ci95_low,ci95_high,replications`) and holds the rows of
//! every scenario: grouped by scenario in name order, and within a scenario in the order
//! summary.csv lists them, so that a rerun on an unchanged tree writes the same bytes and a
//! `git diff` of the file reads like a diff of one summary.csv per scenario.
//!
//! A figure *moved* when both hold:
//!
//! - `|new - old| > tolerance × max(|old|, TINY)`: the change is larger than the tolerance;
//! - the 95% intervals of old and new do not overlap: the change is larger than the
//!   replication noise explains. A figure without an interval (one replication, or a
//!   deterministic figure whose interval has zero width) counts as the point `[mean, mean]`,
//!   so for it the tolerance alone decides.
//!
//! A figure measured on one side and not the other (empty in the CSV) moved; unmeasured on
//! both sides is unchanged. A row on one side only is `new` or `removed`, and fails too.

use super::fmt_num;
use crate::scenario::LoadError;
use crate::sim::Report;
use crate::stats::Estimate;
use std::collections::HashMap;
use std::path::Path;

/// The columns of the baseline file: summary.csv's.
pub const COLUMNS: [&str; 7] = super::SUMMARY_COLUMNS;

/// The scale below which a baseline figure counts as zero for the relative tolerance, so
/// that a figure that was exactly 0 (drops, pending pods) moves on any change the intervals
/// do not explain, instead of dividing by zero.
pub const TINY: f64 = 1e-9;

/// The default relative tolerance, 5%.
pub const DEFAULT_TOLERANCE: f64 = 0.05;

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
    /// Mean, interval and number of replications, as read back from the six-digit text.
    pub estimate: Estimate,
    /// The row's fields as written, kept so that rows of other scenarios are rewritten
    /// byte for byte by `--update-baseline`.
    fields: [String; 7],
}

/// A baseline file: the rows of all scenarios.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// The rows, in file order.
    pub rows: Vec<BaselineRow>,
}

impl Baseline {
    /// Parses baseline text; `file` names it in errors (`FILE:LINE:COL: COLUMN: MESSAGE`).
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
        let mut header_seen = false;
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, 1, "", format!("not a valid CSV row: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if !header_seen {
                header_seen = true;
                if !record.iter().eq(COLUMNS.iter().copied()) {
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
            }
            if record.len() != COLUMNS.len() {
                return Err(err(
                    line,
                    1,
                    "",
                    format!(
                        "expected {} columns ({}), found {}",
                        COLUMNS.len(),
                        COLUMNS.join(","),
                        record.len()
                    ),
                ));
            }
            // Column of field i, for unquoted fields (the only kind capsim writes).
            let col = |i: usize| 1 + record.iter().take(i).map(|f| f.len() + 1).sum::<usize>();
            for i in 0..3 {
                if record[i].is_empty() {
                    return Err(err(line, col(i), COLUMNS[i], "must not be empty".into()));
                }
            }
            let mut figures = [0.0; 3];
            for (k, fig) in figures.iter_mut().enumerate() {
                let i = 3 + k;
                *fig = parse_figure(&record[i]).ok_or_else(|| {
                    err(
                        line,
                        col(i),
                        COLUMNS[i],
                        format!(
                            "expected a number, or nothing for a figure not measured; found `{}`",
                            &record[i]
                        ),
                    )
                })?;
            }
            let n: u32 = record[6].parse().map_err(|_| {
                err(
                    line,
                    col(6),
                    COLUMNS[6],
                    format!("expected a whole number, found `{}`", &record[6]),
                )
            })?;
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
            rows.push(BaselineRow {
                scenario: record[0].to_string(),
                component: record[1].to_string(),
                metric: record[2].to_string(),
                estimate: Estimate {
                    mean: figures[0],
                    ci95_low: figures[1],
                    ci95_high: figures[2],
                    sd: f64::NAN,
                    n,
                },
                fields: std::array::from_fn(|i| record[i].to_string()),
            });
        }
        if !header_seen {
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
        super::csv_text(
            COLUMNS.map(String::from),
            rows.iter().map(|r| r.fields.clone()),
        )
    }
}

/// A figure as summary.csv writes it: empty for not measured, else a finite number.
fn parse_figure(s: &str) -> Option<f64> {
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The rows of a new report in baseline form. The figures go through the same six-digit
/// text as summary.csv, so a rerun of an unchanged scenario compares exactly equal to the
/// baseline it wrote.
pub fn report_rows(report: &Report) -> Vec<BaselineRow> {
    report
        .rows
        .iter()
        .map(|r| {
            let [component, metric, mean, low, high, n] = super::row_fields(r);
            let fields = [
                report.scenario.clone(),
                component,
                metric,
                mean,
                low,
                high,
                n,
            ];
            let fig = |s: &str| parse_figure(s).unwrap_or(f64::NAN);
            BaselineRow {
                scenario: report.scenario.clone(),
                component: r.component.clone(),
                metric: r.metric.to_string(),
                estimate: Estimate {
                    mean: fig(&fields[3]),
                    ci95_low: fig(&fields[4]),
                    ci95_high: fig(&fields[5]),
                    sd: r.estimate.sd,
                    n: r.estimate.n,
                },
                fields,
            }
        })
        .collect()
}

/// How one figure compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Exactly the same figure (or not measured on either side).
    Unchanged,
    /// Different, but within the tolerance or explained by the confidence intervals.
    WithinNoise,
    /// Moved: beyond the tolerance and outside both intervals, or measured on one side only.
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
    pub old: Option<Estimate>,
    /// The new figure, if the run has the row.
    pub new: Option<Estimate>,
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

/// The 95% interval of `e`, or the point `[mean, mean]` when it has none.
fn interval(e: &Estimate) -> (f64, f64) {
    if e.ci95_low.is_finite() && e.ci95_high.is_finite() {
        (e.ci95_low.min(e.ci95_high), e.ci95_low.max(e.ci95_high))
    } else {
        (e.mean, e.mean)
    }
}

/// Classifies the change from `old` to `new` under `tolerance` (a fraction, 0.05 = 5%).
pub fn classify(old: &Estimate, new: &Estimate, tolerance: f64) -> Change {
    match (old.mean.is_nan(), new.mean.is_nan()) {
        (true, true) => return Change::Unchanged,
        (true, false) | (false, true) => return Change::Moved,
        (false, false) => {}
    }
    if old.mean == new.mean {
        return Change::Unchanged;
    }
    let beyond_tolerance = (new.mean - old.mean).abs() > tolerance * old.mean.abs().max(TINY);
    let (ol, oh) = interval(old);
    let (nl, nh) = interval(new);
    let overlap = ol <= nh && nl <= oh;
    if beyond_tolerance && !overlap {
        Change::Moved
    } else {
        Change::WithinNoise
    }
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
        out.push(Comparison {
            component: n.component.clone(),
            metric: n.metric.clone(),
            old: o.map(|o| o.estimate),
            new: Some(n.estimate),
            change: o.map_or(Change::New, |o| {
                classify(&o.estimate, &n.estimate, tolerance)
            }),
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
                old: Some(o.estimate),
                new: None,
                change: Change::Removed,
            });
        }
    }
    out
}

/// `mean [low .. high]`, `mean` without an interval, `nothing` when not measured.
pub fn fmt_estimate(e: &Estimate) -> String {
    if !e.mean.is_finite() {
        return "nothing".into();
    }
    if e.ci95_low.is_finite() && e.ci95_high.is_finite() {
        format!(
            "{} [{} .. {}]",
            fmt_num(e.mean),
            fmt_num(e.ci95_low),
            fmt_num(e.ci95_high)
        )
    } else {
        fmt_num(e.mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(mean: f64, low: f64, high: f64) -> Estimate {
        Estimate {
            mean,
            ci95_low: low,
            ci95_high: high,
            sd: f64::NAN,
            n: 5,
        }
    }

    #[test]
    fn moved_needs_both_tolerance_and_disjoint_intervals() {
        let old = est(100.0, 99.0, 101.0);
        // 10% up, intervals apart: moved.
        assert_eq!(
            classify(&old, &est(110.0, 109.0, 111.0), 0.05),
            Change::Moved
        );
        // 10% up, but wide intervals overlap: noise.
        assert_eq!(
            classify(&old, &est(110.0, 95.0, 125.0), 0.05),
            Change::WithinNoise
        );
        // 3% up, intervals apart: within tolerance.
        assert_eq!(
            classify(&old, &est(103.0, 102.5, 103.5), 0.05),
            Change::WithinNoise
        );
        assert_eq!(classify(&old, &old, 0.05), Change::Unchanged);
    }

    #[test]
    fn points_and_unmeasured_figures() {
        let nan = f64::NAN;
        // Zero-width or missing intervals: the tolerance alone decides.
        assert_eq!(
            classify(&est(2.0, 2.0, 2.0), &est(2.2, 2.2, 2.2), 0.05),
            Change::Moved
        );
        assert_eq!(
            classify(&est(2.0, nan, nan), &est(2.05, nan, nan), 0.05),
            Change::WithinNoise
        );
        // From exactly 0, any change outside the intervals moves.
        assert_eq!(
            classify(&est(0.0, 0.0, 0.0), &est(1.0, 1.0, 1.0), 0.05),
            Change::Moved
        );
        assert_eq!(
            classify(&est(nan, nan, nan), &est(nan, nan, nan), 0.05),
            Change::Unchanged
        );
        assert_eq!(
            classify(&est(nan, nan, nan), &est(1.0, nan, nan), 0.05),
            Change::Moved
        );
    }

    #[test]
    fn parse_round_trip_and_errors() {
        let text = "scenario,component,metric,mean,ci95_low,ci95_high,replications\n\
                    b,s,requests,10,9,11,5\n\
                    a,s,requests,2,,,1\n";
        let b = Baseline::parse("base.csv", text).unwrap();
        assert_eq!(b.rows.len(), 2);
        assert!(b.rows[1].estimate.ci95_low.is_nan());
        // Sorted by scenario on output.
        assert!(
            b.to_csv()
                .ends_with("a,s,requests,2,,,1\nb,s,requests,10,9,11,5\n")
        );
        let e = Baseline::parse("base.csv", "scenario,component\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        let bad = "scenario,component,metric,mean,ci95_low,ci95_high,replications\n\
                   a,s,requests,fast,1,2,5\n";
        let e = Baseline::parse("base.csv", bad).unwrap_err();
        assert_eq!((e.line, e.col, e.field.as_str()), (2, 14, "mean"));
        let dup = "scenario,component,metric,mean,ci95_low,ci95_high,replications\n\
                   a,s,requests,1,1,1,5\na,s,requests,1,1,1,5\n";
        assert_eq!(Baseline::parse("base.csv", dup).unwrap_err().line, 3);
        assert!(Baseline::parse("base.csv", "").is_err());
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
            estimate: est(v, v, v),
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
