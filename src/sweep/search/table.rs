//! A capacity search at every point of a scenario's `sweep:` grid: with the GPU type swept
//! (`node_pools.<pool>.gpu`), which one serves the load at the SLO for the least money.
//!
//! Each point is the scenario with `--set` overrides first, then the point's values, then the
//! searched load, and is searched exactly as a scenario without a sweep is (see [`Search`]):
//! so a point's result is the single search of the scenario with the point's values set.
//! Points are searched in parallel; each search depends only on its own point, so the
//! results are the same at any thread count.

use super::{Candidate, LoadKind, Search, SearchResult, Target};
use crate::scenario::{self, InputErrors, LoadError};
use rayon::prelude::*;
use std::path::Path;

/// The search at one point of a sweep.
#[derive(Debug, Clone)]
pub struct PointSearch {
    /// The point's index in grid order.
    pub index: usize,
    /// Each swept path with the point's value, as `capsim sweep` writes them in sweep.csv.
    pub values: Vec<(String, String)>,
    /// What the search found at this point.
    pub result: SearchResult,
}

impl PointSearch {
    /// The figure points are compared by: the cost per user-hour for a closed loop, the cost
    /// per 1,000 requests for an open one. NaN when no load met the SLO or the pool has no
    /// price per GPU or per node (a price of 0 is the default, "not given", so it says nothing
    /// about cost).
    pub fn comparison_cost(&self) -> f64 {
        let r = &self.result;
        if r.best.is_none() || !r.priced() {
            return f64::NAN;
        }
        if r.kind.is_closed() {
            r.cost_per_user_hour()
        } else {
            r.cost_per_1k_requests()
        }
    }

    /// The point's values as `path=value`, comma-separated.
    pub fn label(&self) -> String {
        values_label(&self.values)
    }
}

/// Index into `points` of the cheapest at the SLO: the lowest [`PointSearch::comparison_cost`],
/// the first in grid order on a tie. A point where no load met the SLO, or without a price,
/// is never the cheapest; `None` when no point qualifies.
pub fn cheapest(points: &[PointSearch]) -> Option<usize> {
    lowest(points, PointSearch::comparison_cost)
}

/// Index into `points` of the lowest price per hour for `target` ([`SearchResult::size_for`]:
/// whole replicas, so at a small target a GPU that is dearer per user can still cost less),
/// under the same rules as [`cheapest`].
pub fn cheapest_for(points: &[PointSearch], target: Target) -> Option<usize> {
    lowest(points, |p| {
        let priced = p.result.priced();
        match p.result.size_for(target) {
            Some(s) if priced => s.cost_per_hour,
            _ => f64::NAN,
        }
    })
}

/// The first index with the lowest finite `cost`.
fn lowest(points: &[PointSearch], cost: impl Fn(&PointSearch) -> f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| (i, cost(p)))
        .filter(|(_, c)| c.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// A prepared sweep search: every point read, checked and prepared before anything runs.
pub struct SweepSearch {
    /// The swept paths, in grid order.
    pub axes: Vec<String>,
    points: Vec<(Vec<(String, String)>, Search)>,
}

impl SweepSearch {
    /// Prepares a search on `service` at every point of the `sweep:` grid of scenario text
    /// `bytes` (named `file` in messages; relative paths in it start at `base_dir`), with
    /// `overrides` (`--set`, seed, replications) applied before each point's values; `None`
    /// when the scenario has no `sweep:` block. A swept path that leads nowhere, or a value
    /// that makes a point invalid, is an error at its grid entry (`file:line:col`), as for
    /// `capsim sweep`; other bad input is reported as [`Search::from_bytes`] reports it.
    pub fn from_bytes(
        file: &str,
        bytes: Vec<u8>,
        base_dir: &Path,
        overrides: &[String],
        service: &str,
    ) -> Result<Option<Self>, InputErrors> {
        let loaded = scenario::load_bytes(file, &bytes, overrides, base_dir)?;
        if loaded.scenario.sweep.is_none() {
            return Ok(None);
        }
        let sw = crate::sweep::load_bytes_with(file, &bytes, overrides, base_dir)?;
        let axes: Vec<String> = sw.axes.iter().map(|a| a.path.clone()).collect();
        let mut points = Vec::with_capacity(sw.points);
        for i in 0..sw.points {
            // Checks the point with its errors placed at the grid entries.
            sw.plan(i)?;
            let mut with_point = overrides.to_vec();
            with_point.extend(sw.assignments(i));
            let search = Search::from_bytes(file, bytes.clone(), base_dir, &with_point, service)?;
            let values = axes.iter().cloned().zip(sw.values(i)).collect();
            points.push((values, search));
        }
        // One table compares one kind of load: users, or requests per second.
        let closed = points[0].1.kind().is_closed();
        if let Some(i) = points.iter().position(|p| p.1.kind().is_closed() != closed) {
            let loop_name = |k: &LoadKind| {
                if k.is_closed() { "a closed" } else { "an open" }
            };
            let a = &sw.axes[0];
            return Err(LoadError {
                file: file.to_string(),
                line: a.loc.line,
                col: a.loc.col,
                field: "sweep.grid".into(),
                message: format!(
                    "the searched workload is {} loop at {} but {} loop at {}; \
                     one search table compares one kind of load (users or requests per second)",
                    loop_name(points[0].1.kind()),
                    crate::sweep::point_name(0, sw.points),
                    loop_name(points[i].1.kind()),
                    crate::sweep::point_name(i, sw.points),
                ),
            }
            .into());
        }
        Ok(Some(SweepSearch { axes, points }))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the grid has no points (a grid always has at least one).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Point `i`'s values as `path=value`, comma-separated.
    pub fn label(&self, i: usize) -> String {
        values_label(&self.points[i].0)
    }

    /// What the first point's search varies (every point varies the same kind of load).
    pub fn kind(&self) -> &LoadKind {
        self.points[0].1.kind()
    }

    /// Searches every point, in parallel. `on_candidate(point, candidate)` sees each candidate
    /// as it is judged, from whichever thread ran it (progress). The result is in grid order;
    /// on errors, the first point's in grid order is returned, labelled with the point.
    pub fn run(
        &self,
        on_candidate: impl Fn(usize, &Candidate) + Sync,
    ) -> Result<Vec<PointSearch>, InputErrors> {
        let results: Vec<Result<PointSearch, InputErrors>> = self
            .points
            .par_iter()
            .enumerate()
            .map(|(index, (values, search))| {
                let point = |result| PointSearch {
                    index,
                    values: values.clone(),
                    result,
                };
                search
                    .run(|c| on_candidate(index, c))
                    .map(point)
                    .map_err(|InputErrors(es)| {
                        let label = format!(
                            "sweep {} with {}",
                            crate::sweep::point_name(index, self.points.len()),
                            values_label(values)
                        );
                        InputErrors(
                            es.into_iter()
                                .map(|mut e| {
                                    e.message = format!("{label}: {}", e.message);
                                    e
                                })
                                .collect(),
                        )
                    })
            })
            .collect();
        results.into_iter().collect()
    }
}

fn values_label(values: &[(String, String)]) -> String {
    let shown: Vec<String> = values.iter().map(|(p, v)| format!("{p}={v}")).collect();
    shown.join(", ")
}

/// Reads `path` and searches `service` at every point of its `sweep:` grid (see
/// [`SweepSearch`]), without progress. A scenario without a `sweep:` block is bad input.
pub fn run_sweep(
    path: &Path,
    overrides: &[String],
    service: &str,
) -> Result<Vec<PointSearch>, InputErrors> {
    let bytes = scenario::read_file(path)?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let file = path.display().to_string();
    match SweepSearch::from_bytes(&file, bytes, base_dir, overrides, service)? {
        Some(s) => s.run(|_, _| {}),
        None => Err(LoadError {
            file: path.display().to_string(),
            line: 1,
            col: 1,
            field: "sweep".into(),
            message: "the scenario has no `sweep:` block to search over".into(),
        }
        .into()),
    }
}
