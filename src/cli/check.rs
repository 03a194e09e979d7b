//! `capsim check`: run scenarios, evaluate their `checks:` and compare every summary figure
//! with a baseline file (the regression gate CI runs). The rule for "moved" lives in
//! [`crate::report::gate`], the file in [`crate::report::baseline`].

use super::Outcome;
use super::run::evaluate_checks;
use crate::report::baseline::{Baseline, BaselineRow, Change, Comparison};
use crate::report::gate::{self, Sample};
use crate::report::{self, baseline, fmt_num};
use crate::scenario::{self, InputErrors, LoadError};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `capsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// The baseline file (summary.csv's columns, all scenarios in one file).
    #[arg(long, default_value = "results/baseline.csv")]
    pub baseline: PathBuf,
    /// Rewrite the baseline rows of the given scenarios from this run (other scenarios'
    /// rows are kept) instead of comparing.
    #[arg(long)]
    pub update_baseline: bool,
    /// Relative change a figure may make before it counts as moved: a fraction (0.05) or a
    /// percentage (5%).
    #[arg(long, default_value = "5%", value_parser = parse_tolerance)]
    pub tolerance: f64,
    /// Also write each scenario's result files to DIR/<scenario name>/.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// List every figure too noisy for the gate to catch a change of the tolerance's size,
    /// with the replications it would need.
    #[arg(long)]
    pub noisy: bool,
    /// Overrides of scenario fields.
    #[command(flatten)]
    pub overrides: super::Overrides,
}

/// `5%` or `0.05`; finite and not negative.
fn parse_tolerance(s: &str) -> Result<f64, String> {
    // Divided, not multiplied by 0.01, so that `5%` is exactly the same f64 as `0.05`.
    let (num, divisor) = match s.trim().strip_suffix('%') {
        Some(p) => (p, 100.0),
        None => (s.trim(), 1.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .map(|x| x / divisor)
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("expected a fraction (0.05) or a percentage (5%), found `{s}`"))
}

/// One scenario's outcome, for the verdicts printed at the end.
struct ScenarioOutcome {
    name: String,
    file: String,
    checks: usize,
    checks_failed: usize,
    /// `None` when the baseline has no row of the scenario at all (or with
    /// `--update-baseline`, where nothing is compared).
    compared: Option<Vec<Comparison>>,
    rows_written: Option<usize>,
    /// How precise the baseline in effect (the one compared with, or the one written) is
    /// for the gate.
    precision: Precision,
    /// Services that saturated, served nothing or ran no pod, when no check of the
    /// scenario says that is expected: each fails the scenario.
    unexpected: Vec<String>,
}

/// Prints each problem of the report's services (see [`report::health`]) and returns the
/// names of those no entry of `checks` expects: a check on the metric that describes the
/// problem (`t4.saturated == 1`) says the scenario means it, and its own verdict decides.
fn unexpected_problems(checks: &[String], report: &crate::sim::Report) -> Vec<String> {
    let checked: Vec<(String, String)> = checks
        .iter()
        .filter_map(|c| scenario::parse_check(c).ok())
        .map(|c| (c.component, c.metric))
        .collect();
    let mut unexpected = Vec::new();
    for (svc, p) in report::health::problems(report) {
        let expected = checked
            .iter()
            .any(|(c, m)| *c == svc && p.acknowledged_by().contains(&m.as_str()));
        if expected {
            super::emitln(&format!("  expected by a check: {}", p.explain(&svc)));
        } else {
            super::emitln(&format!(
                "  {}. This fails `capsim check`; if the scenario means it, add `{}` to its checks:",
                p.explain(&svc),
                p.suggested_check(&svc)
            ));
            // Served nothing and never ran are warned on stderr too, as `run` does.
            if !matches!(p, report::health::Problem::Saturated { .. }) {
                eprintln!("capsim: warning: {}: {}", report.scenario, p.explain(&svc));
            }
            unexpected.push(format!("{svc} {}", p.short()));
        }
    }
    unexpected
}

/// The figures of a baseline that the gate cannot judge well: those too noisy for a change
/// of the tolerance's size to fail with probability [`gate::POWER`] at their replications,
/// and those of one replication, whose noise nothing estimates.
#[derive(Default)]
struct Precision {
    /// (component, metric, sample, replications needed) of each noisy figure.
    noisy: Vec<(String, String, Sample, Option<u32>)>,
    /// Figures with one replication.
    single: usize,
}

impl Precision {
    fn of<'a>(rows: impl Iterator<Item = &'a BaselineRow>, tolerance: f64) -> Precision {
        let mut p = Precision::default();
        for r in rows.filter(|r| baseline::gates(&r.component, &r.metric)) {
            let s = r.sample;
            if !s.mean.is_finite() {
                continue;
            }
            if s.n < 2 {
                p.single += 1;
            } else if gate::detection(s.mean, s.sd, s.n, tolerance) < gate::POWER {
                let needed = gate::replications_needed(s.mean, s.sd, tolerance);
                p.noisy
                    .push((r.component.clone(), r.metric.clone(), s, needed));
            }
        }
        p
    }
}

pub(super) fn check(args: CheckArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_list();
    // Every scenario and the baseline are read before anything is simulated, so bad input
    // is exit 2 at once, not after minutes of simulation.
    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    for f in &args.scenarios {
        match scenario::load_file(f, &overrides).and_then(|l| {
            scenario::build_plan(&l)
                .map(|p| (l, p))
                .map_err(InputErrors)
        }) {
            Ok((l, p)) => {
                // Baseline rows are keyed by scenario name: two files of one name would
                // overwrite each other's rows.
                if let Some((other, _, _)) = loaded
                    .iter()
                    .find(|(_, _, q): &&(PathBuf, _, crate::sim::Plan)| q.name == p.name)
                {
                    errors.push(LoadError {
                        file: f.display().to_string(),
                        line: 0,
                        col: 0,
                        field: "name".into(),
                        message: if other == f {
                            "the file is given twice".to_string()
                        } else {
                            format!(
                                "scenario name `{}` is also the name of {}; baseline rows are \
                                 kept by scenario name, so names must differ",
                                p.name,
                                other.display()
                            )
                        },
                    });
                }
                loaded.push((f.clone(), l, p));
            }
            Err(InputErrors(es)) => errors.extend(es),
        }
    }
    let mut base = match Baseline::read(&args.baseline) {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(InputErrors(errors).into());
    }
    if base.is_none() && !args.update_baseline {
        // A missing baseline fails (exit 1) rather than passing as "all new": a CI job whose
        // baseline went missing must not turn green.
        eprintln!(
            "capsim: no baseline at {}: create it with `capsim check SCENARIO.yaml ... \
             --baseline {} --update-baseline` and commit it",
            args.baseline.display(),
            args.baseline.display()
        );
        return Ok(Outcome::ChecksFailed);
    }

    // Every results folder is made sure of before the first run.
    let mut staged = Vec::new();
    for (_, _, plan) in &loaded {
        staged.push(match &args.out {
            Some(out) => {
                let dir = out.join(&plan.name);
                let s = super::stage(&dir, report::folder::Kind::Run)?;
                Some((s, dir))
            }
            None => None,
        });
    }
    let mut outcomes = Vec::new();
    for ((file, l, plan), staged) in loaded.iter().zip(staged) {
        super::emitln(&format!("== {} ({})", plan.name, file.display()));
        let (report, results) = match staged {
            Some((staged, dir)) => {
                let (report, chart_lines) = super::simulate_into(plan, l, &staged, &dir)?;
                let results = evaluate_checks(&l.scenario.checks, &report);
                let lines: Vec<String> = results.iter().map(|r| r.line.clone()).collect();
                super::finish_folder(staged, &dir, &report, &chart_lines, &lines)?;
                (report, results)
            }
            None => {
                let report = crate::sim::simulate_summary(plan, true)
                    .map_err(|e| crate::scenario::budget_error(l, &e))?;
                let results = evaluate_checks(&l.scenario.checks, &report);
                (report, results)
            }
        };
        for r in &results {
            super::emitln(&format!("  {}", r.line));
        }
        let unexpected = unexpected_problems(&l.scenario.checks, &report);
        let rows = baseline::report_rows(&report);
        let mut outcome = ScenarioOutcome {
            name: report.scenario.clone(),
            file: file.display().to_string(),
            checks: results.len(),
            checks_failed: results.iter().filter(|r| !r.passed).count(),
            compared: None,
            rows_written: None,
            precision: Precision::default(),
            unexpected,
        };
        if args.update_baseline {
            outcome.rows_written = Some(rows.len());
            outcome.precision = Precision::of(rows.iter(), args.tolerance);
            base.get_or_insert_with(Baseline::default)
                .replace_scenario(&report.scenario, rows);
        } else if let Some(b) = &base {
            let old: Vec<_> = b.scenario_rows(&report.scenario).collect();
            if !old.is_empty() {
                outcome.precision = Precision::of(old.iter().copied(), args.tolerance);
                outcome.compared = Some(baseline::compare(&old, &rows, args.tolerance));
            }
        }
        outcomes.push(outcome);
    }

    if args.update_baseline
        && let Some(b) = &base
    {
        write_baseline(&args.baseline, b)?;
    }

    super::emit(&moved_table(&outcomes, args.tolerance));
    super::emit(&unproven_table(&outcomes, args.tolerance));
    if args.noisy {
        super::emit(&noisy_table(&outcomes, args.tolerance));
    }
    let mut failed = false;
    super::emitln("");
    for o in &outcomes {
        let (line, ok) = verdict(o, &args);
        failed |= !ok;
        super::emitln(&line);
    }
    if args.update_baseline {
        super::emitln(&format!(
            "baseline {} updated for {} scenario{}",
            args.baseline.display(),
            outcomes.len(),
            if outcomes.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(if failed {
        Outcome::ChecksFailed
    } else {
        Outcome::Ok
    })
}

/// Writes the baseline through a temporary file and a rename, so that an interrupted
/// update never leaves half a baseline behind.
fn write_baseline(path: &Path, b: &Baseline) -> Result<(), InputErrors> {
    let fail = |e: std::io::Error| {
        InputErrors(vec![LoadError::unplaced(
            path.display().to_string(),
            "--baseline",
            format!("cannot write the baseline: {e}"),
        )])
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, b.to_csv()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// A table with a title line, a header and rows, columns padded to their widths and the
/// last one right-aligned (a change or a count); empty when there are no rows.
fn table(title: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(&width).enumerate() {
            if i + 1 == cells.len() {
                let _ = write!(s, " {cell:>w$}");
            } else {
                let _ = write!(s, " {cell:<w$}");
            }
        }
        s
    };
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(out, "{}", line(header));
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    out
}

/// The relative change of a comparison: `+12.5%`, or `from 0`, `now measured`,
/// `not measured`, `new`, `removed`.
fn change_text(c: &Comparison) -> String {
    match (c.change, c.change_percent()) {
        (Change::New, _) => "new".to_string(),
        (Change::Removed, _) => "removed".to_string(),
        (_, Some(p)) => format!("{p:+.1}%"),
        // No percentage from 0, or to or from "not measured".
        (_, None) => match c.old.map(|e| e.mean) {
            Some(0.0) => "from 0".to_string(),
            Some(m) if m.is_nan() => "now measured".to_string(),
            _ => "not measured".to_string(),
        },
    }
}

/// A p-value for a table: `<0.0001`, else two significant digits (`0.00095`, so that a
/// value just below the gate's 0.001 does not print as 0.001); `-` without a test.
fn p_text(c: &Comparison) -> String {
    match c.test.map(|t| t.p) {
        Some(p) if p < 1e-4 => "<0.0001".to_string(),
        Some(p) if p.is_finite() => {
            let decimals = (1.0 - p.log10().floor()).max(2.0) as usize;
            format!("{p:.decimals$}")
        }
        _ => "-".to_string(),
    }
}

fn side(s: &Option<Sample>) -> String {
    s.as_ref().map_or("-".to_string(), baseline::fmt_sample)
}

/// A table of compared figures over all scenarios: those for which `pick` gives cells
/// (put between the p-value and the change, under `extra` headers).
fn comparison_table(
    outcomes: &[ScenarioOutcome],
    title: &str,
    extra: &[&str],
    pick: impl Fn(&Comparison) -> Option<Vec<String>>,
) -> String {
    let mut rows = Vec::new();
    for o in outcomes {
        for c in o.compared.iter().flatten() {
            let Some(cells) = pick(c) else { continue };
            let mut row = vec![
                o.name.clone(),
                c.component.clone(),
                c.metric.clone(),
                side(&c.old),
                side(&c.new),
                p_text(c),
            ];
            row.extend(cells);
            row.push(change_text(c));
            rows.push(row);
        }
    }
    let mut header = vec![
        "scenario",
        "component",
        "metric",
        "baseline mean (sd, n)",
        "new mean (sd, n)",
        "p",
    ];
    header.extend_from_slice(extra);
    header.push("change");
    table(title, &header, &rows)
}

/// The table of the figures that failed the comparison, over all scenarios; empty when
/// none did.
fn moved_table(outcomes: &[ScenarioOutcome], tolerance: f64) -> String {
    let title = format!(
        "moved (beyond what the replications' noise explains, p < {}, and about the {}% \
         tolerance or more), new or removed:",
        gate::ALPHA,
        fmt_num(tolerance * 100.0)
    );
    comparison_table(outcomes, &title, &[], |c| c.change.fails().then(Vec::new))
}

/// The figures that changed by more than the tolerance but not beyond their noise: they
/// pass, and the table says how many replications would tell.
fn unproven_table(outcomes: &[ScenarioOutcome], tolerance: f64) -> String {
    let title = format!(
        "changed by more than {t}% but within the replications' noise (p >= {}): passed, \
         not shown to have moved; replications to tell a {t}% move from noise:",
        gate::ALPHA,
        t = fmt_num(tolerance * 100.0),
    );
    comparison_table(outcomes, &title, &["replications"], |c| {
        if !c.test.is_some_and(|t| !t.moved && t.beyond_tolerance) {
            return None;
        }
        let needed = c
            .old
            .filter(|s| s.n >= 2)
            .and_then(|s| gate::replications_needed(s.mean, s.sd, tolerance));
        Some(vec![needed.map_or("-".to_string(), |n| n.to_string())])
    })
}

/// With `--noisy`: every figure of the baselines in effect that is too noisy for the gate.
fn noisy_table(outcomes: &[ScenarioOutcome], tolerance: f64) -> String {
    let mut rows = Vec::new();
    for o in outcomes {
        for (component, metric, s, needed) in &o.precision.noisy {
            let detection = gate::detection(s.mean, s.sd, s.n, tolerance);
            rows.push(vec![
                o.name.clone(),
                component.clone(),
                metric.clone(),
                baseline::fmt_sample(s),
                format!("{:.0}%", detection * 100.0),
                needed.map_or("never".to_string(), |n| n.to_string()),
            ]);
        }
    }
    table(
        &format!(
            "too noisy to gate: a true {}% move fails with less than {:.0}% probability at \
             these replications (baseline figures):",
            fmt_num(tolerance * 100.0),
            gate::POWER * 100.0
        ),
        &[
            "scenario",
            "component",
            "metric",
            "mean (sd, n)",
            "caught",
            "replications needed",
        ],
        &rows,
    )
}

/// The one-line verdict of a scenario, and whether it passed.
fn verdict(o: &ScenarioOutcome, args: &CheckArgs) -> (String, bool) {
    let checks = if o.checks == 0 {
        "no checks".to_string()
    } else if o.checks_failed == 0 {
        format!("{} of {} checks passed", o.checks, o.checks)
    } else {
        format!("{} of {} checks FAILED", o.checks_failed, o.checks)
    };
    let mut ok = o.checks_failed == 0 && o.unexpected.is_empty();
    let checks = if o.unexpected.is_empty() {
        checks
    } else {
        format!(
            "{checks}; {}, which no check expects",
            o.unexpected.join(", ")
        )
    };
    let baseline = if let Some(n) = o.rows_written {
        format!(
            "{n} baseline rows written{}",
            precision_text(&o.precision, args)
        )
    } else if let Some(compared) = &o.compared {
        let moved = compared.iter().filter(|c| c.change.fails()).count();
        let noise = compared
            .iter()
            .filter(|c| c.change == Change::WithinNoise)
            .count();
        ok &= moved == 0;
        let mut s = if moved == 0 {
            format!("{} metrics compared, none moved", compared.len())
        } else {
            format!("{moved} of {} metrics MOVED", compared.len())
        };
        if noise > 0 {
            let _ = write!(s, " ({noise} changed within tolerance or noise)");
        }
        s.push_str(&precision_text(&o.precision, args));
        s
    } else {
        ok = false;
        format!(
            "NOT IN THE BASELINE {}: add it with --update-baseline",
            args.baseline.display()
        )
    };
    let tag = match (ok, o.rows_written.is_some()) {
        (false, _) => "FAIL",
        (true, true) => "UPDATED",
        (true, false) => "PASS",
    };
    (
        format!("{tag:<7} {} ({}): {checks}; {baseline}", o.name, o.file),
        ok,
    )
}

/// `; 12 too noisy to gate a 5% move (--noisy lists them); 40 of one replication, judged
/// by the tolerance alone`, or nothing when every figure is precise enough.
fn precision_text(p: &Precision, args: &CheckArgs) -> String {
    let mut s = String::new();
    if !p.noisy.is_empty() {
        let _ = write!(
            s,
            "; {} too noisy to gate a {}% move{}",
            p.noisy.len(),
            fmt_num(args.tolerance * 100.0),
            if args.noisy {
                ""
            } else {
                " (--noisy lists them)"
            }
        );
    }
    if p.single > 0 {
        let _ = write!(
            s,
            "; {} of one replication, judged by the tolerance alone",
            p.single
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::parse_tolerance;

    #[test]
    fn tolerance_as_fraction_or_percent() {
        assert_eq!(parse_tolerance("5%"), Ok(0.05));
        assert_eq!(parse_tolerance("0.1"), Ok(0.1));
        assert_eq!(parse_tolerance("0"), Ok(0.0));
        assert!(parse_tolerance("-1").is_err());
        assert!(parse_tolerance("fast").is_err());
        assert!(parse_tolerance("inf").is_err());
    }
}
