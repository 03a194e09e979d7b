//! Simulation of a resolved scenario: replications in parallel on rayon, each a
//! single-threaded event loop (the private `world` module).

mod budget;
pub mod plan;
pub mod result;
mod world;

pub use budget::EventBudgetExceeded;
pub use plan::Plan;
pub use result::{CDF_PROBABILITIES, LatencyCdf, RepResult, Report, Row, aggregate};

use rayon::prelude::*;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Runs replication `rep` of `plan` alone (tests and benches use it directly). A replication
/// stopped at its event budget says so in [`RepResult::over_budget`].
pub fn run_replication(plan: &Plan, rep: u32) -> RepResult {
    world::World::new(plan, rep).run(None, None)
}

/// Runs every replication of `plan` in parallel and combines them.
///
/// Results are collected in replication order, so the report is byte-identical at any
/// thread count. With `progress` and a terminal on stderr, a progress bar shows simulated
/// time done.
///
/// Errors: a replication passed the event budget (`limits.max_events`); the error is that of
/// the lowest such replication, the same at any thread count.
pub fn simulate(plan: &Plan, progress: bool) -> Result<Report, EventBudgetExceeded> {
    let done = AtomicU64::new(0);
    let stopped = AtomicU32::new(u32::MAX);
    let finished = AtomicBool::new(false);
    let show = progress && std::io::stderr().is_terminal();
    let reps: Vec<RepResult> = std::thread::scope(|scope| {
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
                let rep = world::World::new(plan, r).run(Some(&done), Some(&stopped));
                if rep.over_budget.is_some() {
                    stopped.fetch_min(r, Ordering::Relaxed);
                }
                rep
            })
            .collect();
        finished.store(true, Ordering::Relaxed);
        reps
    });
    if let Some(e) = reps.iter().find_map(|r| r.over_budget.clone()) {
        return Err(e);
    }
    Ok(aggregate(plan, &reps))
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
