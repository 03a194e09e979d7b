//! `capsim run`.

use super::Outcome;
use crate::report;
use crate::scenario::{self, parse_check};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `capsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Output folder (default: results/<scenario name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Overrides of scenario fields.
    #[command(flatten)]
    pub overrides: super::Overrides,
}

pub(super) fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_list();
    let loaded = scenario::load_file(&args.scenario, &overrides)?;
    let plan = scenario::build_plan(&loaded).map_err(scenario::InputErrors)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&plan.name));
    // An unwritable --out is the user's to fix (exit 2), and is found before the run.
    let staged = super::stage(&dir, report::folder::Kind::Run)?;
    let (report, chart_lines) = super::simulate_into(&plan, &loaded, &staged, &dir)?;
    // Checks are gates: print each, fail the run (exit 1) if one does not hold.
    let results = evaluate_checks(&loaded.scenario.checks, &report);
    let lines: Vec<String> = results.iter().map(|r| r.line.clone()).collect();
    super::finish_folder(staged, &dir, &report, &chart_lines, &lines)?;
    if args.json {
        super::emitln(&serde_json::to_string_pretty(&report::summary_json(
            &report,
        ))?);
    } else {
        super::emit(&report::text_table(&report));
        super::emitln(&format!(
            "\nresults written to {}/ (open index.html)",
            dir.display()
        ));
    }
    for r in &results {
        if args.json {
            eprintln!("{}", r.line);
        } else {
            super::emitln(&r.line);
        }
    }
    super::warn_problems(&report);
    let failed = results.iter().any(|r| !r.passed);
    Ok(if failed {
        Outcome::ChecksFailed
    } else {
        Outcome::Ok
    })
}

/// One evaluated `checks:` entry.
pub(super) struct CheckResult {
    /// Whether it holds.
    pub passed: bool,
    /// `check passed: ENTRY (measured VALUE)` or `check FAILED: ...`.
    pub line: String,
}

/// Evaluates a scenario's `checks:` on its report; `run` and `check` share it so that a gate
/// means the same in both. Entries that do not parse were rejected as bad input before the
/// simulation, so they are skipped here.
pub(super) fn evaluate_checks(checks: &[String], report: &crate::sim::Report) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for c in checks {
        let Ok(check) = parse_check(c) else { continue };
        let value = report.mean(&check.component, &check.metric);
        let passed = check.op.holds(value, check.value);
        let line = format!(
            "check {}: {c} (measured {})",
            if passed { "passed" } else { "FAILED" },
            if value.is_finite() {
                report::fmt_num(value)
            } else {
                "nothing".into()
            }
        );
        out.push(CheckResult { passed, line });
    }
    out
}
