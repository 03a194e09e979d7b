//! Command-line interface: clap definitions, one file per command.

mod check;
mod hpa;
mod merge;
mod profiles;
mod run;
mod search;
mod sweep;
mod validate;

use crate::report::folder;
use crate::report::series::{ChartLines, TimeseriesFile};
use crate::scenario::InputErrors;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// An output folder that cannot be written: the user's to fix, so bad input (exit 2).
fn out_error(dir: &Path, e: std::io::Error) -> InputErrors {
    out_refused(dir, format!("cannot write the results: {e}"))
}

/// An output folder refused: bad input (exit 2), naming the folder and `--out`.
fn out_refused(dir: &Path, message: String) -> InputErrors {
    crate::scenario::LoadError::unplaced(dir.display().to_string(), "--out", message).into()
}

/// Makes sure the results folder `dir` can be written, before anything is simulated (a
/// refusal after the run would lose it), and opens its temporary folder.
fn stage(dir: &Path, kind: folder::Kind) -> Result<folder::Staged, InputErrors> {
    folder::Staged::begin(dir, kind).map_err(|m| out_refused(dir, m))
}

/// Simulates `plan` into the temporary folder of `staged` (the results folder `dir`), its
/// timeseries.csv written as the replications' samples are averaged: the report and the
/// lines its charts draw.
fn simulate_into(
    plan: &crate::sim::Plan,
    loaded: &crate::scenario::Loaded,
    staged: &folder::Staged,
    dir: &Path,
) -> Result<(crate::sim::Report, ChartLines), InputErrors> {
    let io = |e| out_error(dir, e);
    let work = staged.path();
    let mut ts = TimeseriesFile::create(
        &work.join("timeseries.csv"),
        crate::sim::timeseries::Layout::of(plan),
    )
    .map_err(io)?;
    // A run stopped at its event budget writes nothing: the staged folder goes with it.
    let report = crate::sim::simulate_spooled(plan, true, work, &mut |row| ts.push(row))
        .map_err(io)?
        .map_err(|e| crate::scenario::budget_error(loaded, &e))?;
    let lines = ts.finish().map_err(io)?;
    folder::test_pause("wrote timeseries.csv");
    Ok((report, lines))
}

/// Writes the rest of a run's folder (`checks`: the evaluated `checks:` lines) and puts it in
/// place of `dir`.
fn finish_folder(
    staged: folder::Staged,
    dir: &Path,
    report: &crate::sim::Report,
    lines: &ChartLines,
    checks: &[String],
) -> Result<(), InputErrors> {
    crate::report::write_run(report, lines, staged.path(), checks)
        .map_err(|e| out_error(dir, e))?;
    staged.commit().map_err(|m| out_refused(dir, m))
}

/// `--replications`, `--seed` and `--set`, shared by the commands that simulate a scenario.
#[derive(Debug, Args)]
pub struct Overrides {
    /// Override the number of replications (same as `--set replications=N`).
    #[arg(long)]
    pub replications: Option<u32>,
    /// Override the seed (same as `--set seed=S`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override any field by dotted path, e.g. `services.chat.replicas=4`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

impl Overrides {
    /// The overrides as `path=value` assignments, `--set` first.
    pub fn to_list(&self) -> Vec<String> {
        let mut list = self.set.clone();
        if let Some(r) = self.replications {
            list.push(format!("replications={r}"));
        }
        if let Some(s) = self.seed {
            list.push(format!("seed={s}"));
        }
        list
    }
}

/// capsim: a discrete-event capacity simulator for GPU clusters on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "capsim", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a scenario and write its results, charts and index.html.
    Run(run::RunArgs),
    /// Parse and check scenario files without simulating.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Overrides applied to every file before it is checked (and before its grid).
        #[command(flatten)]
        overrides: Overrides,
    },
    /// List the built-in GPU and model profiles with their figures and sources.
    Profiles,
    /// Kubernetes HPA tools: `capsim hpa explain SNAPSHOT.yaml [--json]`.
    #[command(subcommand)]
    Hpa(hpa::HpaCommand),
    /// Run scenarios, evaluate their checks and compare every figure with a baseline file.
    Check(check::CheckArgs),
    /// Find the largest load of a service's first workload that meets its SLO, per GPU (at
    /// each point of a `sweep:`, with the cheapest marked).
    Search(search::SearchArgs),
    /// Run the scenario's `sweep:` grid in parallel (optionally one shard of it).
    Sweep(sweep::SweepArgs),
    /// Join the output folders of a sharded sweep into what one unsharded sweep writes.
    Merge(merge::MergeArgs),
}

/// Outcome of a command that ran to its end: success, or a failed check (exit 1).
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a check or SLO gate failed.
    ChecksFailed,
}

static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes results to stdout. Once the reader has gone (`capsim run ... | head`), further
/// output is dropped quietly, as Unix tools do, and the command still ends with its own exit
/// code (a failed check stays exit 1).
pub fn emit(text: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("capsim: cannot write to stdout: {e}");
        }
    }
}

/// Like [`emit`], with a newline.
pub fn emitln(text: &str) {
    emit(&format!("{text}\n"));
}

/// Warns on stderr about each service whose figures are not capacity (saturated, served
/// nothing, no pod scheduled): stdout may be a JSON document or a table read in a hurry.
fn warn_problems(report: &crate::sim::Report) {
    for (svc, p) in crate::report::health::problems(report) {
        eprintln!("capsim: warning: {}: {}", report.scenario, p.explain(&svc));
    }
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { files, overrides } => validate::validate(&files, &overrides),
        Command::Profiles => {
            profiles::print();
            Ok(Outcome::Ok)
        }
        Command::Hpa(cmd) => hpa::run(cmd),
        Command::Check(args) => check::check(args),
        Command::Search(args) => search::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Merge(args) => merge::run(args),
    }
}
