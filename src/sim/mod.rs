//! Simulation of a resolved scenario: replications in parallel on rayon, each a
//! single-threaded event loop (the private `world` module).

mod budget;
pub mod plan;
pub mod result;
pub mod timeseries;
mod world;

pub use budget::EventBudgetExceeded;
pub use plan::Plan;
pub use result::{
    CDF_PROBABILITIES, LatencyCdf, RepResult, Report, Row, aggregate, aggregate_summary,
};
pub use timeseries::TsRow;

use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use timeseries::Sink;

/// Runs replication `rep` of `plan` alone, its timeseries kept in memory (tests and benches
/// use it directly). A replication stopped at its event budget says so in
/// [`RepResult::over_budget`].
pub fn run_replication(plan: &Plan, rep: u32) -> RepResult {
    let (mut r, ts) = world::World::new(plan, rep, Sink::Keep(Vec::new())).run(None, None);
    r.timeseries = ts.into_rows();
    r
}

/// Runs replication `rep` of `plan` alone for its summary: the timeseries is not kept.
pub fn run_replication_summary(plan: &Plan, rep: u32) -> RepResult {
    world::World::new(plan, rep, Sink::Drop).run(None, None).0
}

/// Runs every replication of `plan` in parallel and combines them, with the timeseries in
/// memory ([`Report::timeseries`]).
///
/// Results are collected in replication order, so the report is byte-identical at any
/// thread count. With `progress` and a terminal on stderr, a progress bar shows simulated
/// time done.
///
/// Errors: a replication passed the event budget (`limits.max_events`); the error is that of
/// the lowest such replication, the same at any thread count.
pub fn simulate(plan: &Plan, progress: bool) -> Result<Report, EventBudgetExceeded> {
    let reps = run_all(plan, progress, |_| Ok(Sink::Keep(Vec::new())));
    let reps: Vec<RepResult> = reps
        .unwrap_or_default()
        .into_iter()
        .map(|(mut r, ts)| {
            r.timeseries = ts.into_rows();
            r
        })
        .collect();
    over_budget(&reps)?;
    Ok(aggregate(plan, &reps))
}

/// The error of the lowest replication stopped at its event budget, if any.
fn over_budget(reps: &[RepResult]) -> Result<(), EventBudgetExceeded> {
    match reps.iter().find_map(|r| r.over_budget.clone()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Like [`simulate`], for the summary only: no timeseries is kept (its memory is never
/// spent), and [`Report::timeseries`] is empty.
pub fn simulate_summary(plan: &Plan, progress: bool) -> Result<Report, EventBudgetExceeded> {
    let reps = run_all(plan, progress, |_| Ok(Sink::Drop)).unwrap_or_default();
    let reps: Vec<RepResult> = reps.into_iter().map(|r| r.0).collect();
    over_budget(&reps)?;
    Ok(aggregate_summary(plan, &reps))
}

/// Like [`simulate`], with each replication's timeseries spooled to a file of its own in
/// `spool` (a folder that exists) rather than kept in memory; then the mean over the
/// replications is handed to `on_row` one value at a time, in the order of timeseries.csv,
/// and the files are removed. [`Report::timeseries`] is empty. Memory stays flat however
/// long the run (see [`timeseries`]); an error writing or reading a spool file, or one that
/// `on_row` returns, ends it. The inner error: a replication passed its event budget
/// (nothing is handed to `on_row` then).
pub fn simulate_spooled(
    plan: &Plan,
    progress: bool,
    spool: &Path,
    on_row: &mut dyn FnMut(&TsRow) -> std::io::Result<()>,
) -> std::io::Result<Result<Report, EventBudgetExceeded>> {
    let runs = run_all(plan, progress, |r| {
        Ok(Sink::Spool(timeseries::Spool::create(
            &timeseries::spool_path(spool, r),
        )?))
    });
    let remove = || {
        for r in 0..plan.replications {
            let _ = std::fs::remove_file(timeseries::spool_path(spool, r));
        }
    };
    let result = runs.and_then(|runs| {
        let reps: Vec<RepResult> = runs.into_iter().map(|r| r.0).collect();
        if let Err(e) = over_budget(&reps) {
            return Ok(Err(e));
        }
        let report = aggregate_summary(plan, &reps);
        drop(reps);
        let row_len = timeseries::Layout::of(plan).row_len();
        timeseries::merge(
            row_len,
            plan.replications,
            &mut |rep, first, count, buf| {
                let path = timeseries::spool_path(spool, rep);
                timeseries::read_spooled(&path, row_len, first, count, buf)
            },
            &mut |sample, means| timeseries::for_each_row(plan, sample, means, on_row),
        )?;
        Ok(Ok(report))
    });
    remove();
    result
}

/// Runs every replication of `plan` in parallel, each with the sink `sink(rep)` gives, in
/// replication order.
fn run_all<S>(plan: &Plan, progress: bool, sink: S) -> std::io::Result<Vec<(RepResult, Sink)>>
where
    S: Fn(u32) -> std::io::Result<Sink> + Sync,
{
    let done = AtomicU64::new(0);
    let stopped = AtomicU32::new(u32::MAX);
    let finished = AtomicBool::new(false);
    let show = progress && std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        if show {
            let total = plan.duration.0 / 1000 * plan.replications as u64;
            progress_bar(
                scope,
                total,
                "{spinner} simulating [{bar:40}] {percent}% ({elapsed} elapsed, ~{eta} left)",
                &done,
                &finished,
            );
        }
        let reps = (0..plan.replications)
            .into_par_iter()
            .map(|r| {
                let (rep, ts) =
                    world::World::new(plan, r, sink(r)?).run(Some(&done), Some(&stopped));
                if rep.over_budget.is_some() {
                    stopped.fetch_min(r, Ordering::Relaxed);
                }
                // A spool file is closed as soon as its replication ends: open ones would
                // hold a buffer and a file descriptor each until the last is done.
                let ts = match ts {
                    Sink::Spool(s) => {
                        s.finish()?;
                        Sink::Drop
                    }
                    other => other,
                };
                Ok((rep, ts))
            })
            .collect();
        finished.store(true, Ordering::Relaxed);
        reps
    })
}

/// Draws a progress bar on stderr from a scoped thread: `done` out of `total`, until
/// `finished` is set. (Callers show it only when stderr is a terminal.)
pub(crate) fn progress_bar<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    total: u64,
    template: &'static str,
    done: &'scope AtomicU64,
    finished: &'scope AtomicBool,
) {
    scope.spawn(move || {
        let bar = indicatif::ProgressBar::new(total.max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while !finished.load(Ordering::Relaxed) {
            bar.set_position(done.load(Ordering::Relaxed));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bar.finish_and_clear();
    });
}
