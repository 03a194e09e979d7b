//! Sweeps: run a scenario at every point of its `sweep:` grid, in parallel, resumably, and
//! optionally split into shards that `capsim merge` joins.
//!
//! A point is the scenario with one value per swept path applied exactly as `--set` would
//! apply it. Every (point, replication) pair is one task of a single rayon parallel iterator,
//! so that all cores are busy even with one replication per point; results are combined in
//! replication order and written in point order, so the output is byte-identical at any
//! thread count, across shards, and after an interruption and resume.
//!
//! Layout of an output folder (see [`output`]):
//!
//! - `sweep.json`: which sweep this is (scenario name, hash of its text, point count);
//! - `points/NNNNNN.csv`: the summary of point NNNNNN, written atomically when it finishes;
//!   a point whose file exists is not run again;
//! - `sweep.csv`: the point files joined in grid order, written at the end.

pub mod grid;
pub mod output;
pub mod search;

pub use grid::{Axis, AxisValue, GridKeys, MAX_POINTS, SweepMode, SweepSpec};
pub use output::Manifest;

use crate::scenario::yaml::{self, Located};
use crate::scenario::{self, InputErrors, LoadError, Scenario};
use crate::sim::{
    EventBudgetExceeded, Plan, RepResult, Report, aggregate_summary, run_replication_summary,
};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A scenario with its grid expanded: everything needed to build any point's plan.
pub struct Sweep {
    /// Scenario name.
    pub name: String,
    /// The scenario file as given, for messages.
    pub file: String,
    /// How the axes combine.
    pub mode: SweepMode,
    /// The swept paths and their values, in grid order.
    pub axes: Vec<Axis>,
    /// Number of points.
    pub points: usize,
    /// FNV-1a hash of the scenario file's bytes.
    pub hash: u64,
    /// The `--set` assignments (with `--seed` and `--replications` as `seed=S` and
    /// `replications=N`) applied to the scenario before the grid, in order.
    pub overrides: Vec<String>,
    tree: Located,
    base_dir: PathBuf,
}

/// Shard `index` of `count`: the points whose index modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 0 (a Kubernetes Indexed Job's completion index).
    pub index: usize,
    /// Number of shards, at least 1.
    pub count: usize,
}

impl Shard {
    /// Whether point `i` belongs to this shard.
    pub fn holds(self, i: usize) -> bool {
        i % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected `I/N` with 0 <= I < N, e.g. `0/4`; found `{s}`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Reads a scenario file and expands its `sweep:` grid.
pub fn load_file(path: &Path) -> Result<Sweep, InputErrors> {
    load_file_with(path, &[])
}

/// Like [`load_file`], with `--set` overrides applied to the scenario before the grid.
pub fn load_file_with(path: &Path, overrides: &[String]) -> Result<Sweep, InputErrors> {
    let file = path.display().to_string();
    let bytes = scenario::read_file(path)?;
    load_bytes_with(
        &file,
        &bytes,
        overrides,
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// How messages name point `i` of a grid of `points`: by its index from 0 (the index of its
/// file in `points/`, of its row in `--json` and of the shard arithmetic), saying so.
pub fn point_name(i: usize, points: usize) -> String {
    format!("point {i} of {points} (0-based)")
}

/// How messages name several points of a grid of `points`: the first ten indexes from 0.
pub fn points_name(list: &[usize], points: usize) -> String {
    let shown: Vec<String> = list.iter().take(10).map(|i| i.to_string()).collect();
    let more = if list.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    let noun = if list.len() == 1 { "point" } else { "points" };
    format!("{noun} {}{more} of {points} (0-based)", shown.join(", "))
}

/// Parses scenario text (named `file` in messages) and expands its `sweep:` grid.
///
/// Checks the grid's shape, the point limit ([`MAX_POINTS`]), zip lengths, and that every
/// path leads somewhere in the scenario (by applying its first value). Whether every point
/// is a valid scenario is checked by [`Sweep::plan`].
pub fn load_bytes(file: &str, bytes: &[u8], base_dir: &Path) -> Result<Sweep, InputErrors> {
    load_bytes_with(file, bytes, &[], base_dir)
}

/// Like [`load_bytes`], with `--set` overrides applied to the scenario before the grid (every
/// point starts from the overridden scenario).
pub fn load_bytes_with(
    file: &str,
    bytes: &[u8],
    overrides: &[String],
    base_dir: &Path,
) -> Result<Sweep, InputErrors> {
    let loaded = scenario::load_bytes(file, bytes, overrides, base_dir)?;
    let mode = loaded
        .scenario
        .sweep
        .as_ref()
        .map_or_else(Default::default, |s| s.mode);
    let (axes, points) = grid::read_axes(file, &loaded.tree, mode)?;
    // A path that leads nowhere is refused at its grid entry, not at every point.
    let mut errors = Vec::new();
    for axis in &axes {
        let mut tree = loaded.tree.clone();
        let checked = yaml::apply_override(&mut tree, &axis.assignment(0))
            .map_err(|m| vec![m])
            .and_then(|()| {
                yaml::from_tree::<Scenario>(file, &tree)
                    .map(drop)
                    .map_err(|e| vec![format!("{}: {}", e.field, e.message)])
            });
        if let Err(messages) = checked {
            errors.push(LoadError {
                file: file.to_string(),
                line: axis.loc.line,
                col: axis.loc.col,
                field: format!("sweep.grid.{}", axis.path),
                message: format!(
                    "this path does not lead to a scenario field that takes `{}`: {}",
                    axis.values[0].display,
                    messages.join("; ")
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    Ok(Sweep {
        name: loaded.scenario.name.clone(),
        file: file.to_string(),
        mode,
        axes,
        points,
        hash: output::fnv1a64(bytes),
        overrides: overrides.to_vec(),
        tree: loaded.tree,
        base_dir: base_dir.to_path_buf(),
    })
}

impl Sweep {
    /// The plans of points `indexes`, all checked first: if any is invalid, the errors of the
    /// first invalid one, with a count of the others.
    pub fn plans(&self, indexes: &[usize]) -> Result<Vec<Plan>, InputErrors> {
        let plans: Vec<Result<Plan, InputErrors>> =
            indexes.par_iter().map(|&i| self.plan(i)).collect();
        let bad = plans.iter().filter(|p| p.is_err()).count();
        if let Some(Err(InputErrors(mut first))) = plans.iter().find(|p| p.is_err()).cloned() {
            if bad > 1
                && let Some(last) = first.last_mut()
            {
                last.message
                    .push_str(&format!(" (and {} more invalid points)", bad - 1));
            }
            return Err(InputErrors(first));
        }
        Ok(plans.into_iter().flatten().collect())
    }

    /// For point `i`, the index of its value on each axis. In cartesian mode the first axis
    /// varies slowest (nested loops in the order written); in zip mode all are `i`.
    pub fn value_indexes(&self, i: usize) -> Vec<usize> {
        match self.mode {
            SweepMode::Zip => vec![i; self.axes.len()],
            SweepMode::Cartesian => {
                let mut rest = i;
                let mut out = vec![0; self.axes.len()];
                for (k, axis) in self.axes.iter().enumerate().rev() {
                    out[k] = rest % axis.values.len();
                    rest /= axis.values.len();
                }
                out
            }
        }
    }

    /// The values of point `i` as shown in sweep.csv, one per axis.
    pub fn values(&self, i: usize) -> Vec<String> {
        self.value_indexes(i)
            .iter()
            .zip(&self.axes)
            .map(|(&v, a)| a.values[v].display.clone())
            .collect()
    }

    /// The `--set` assignments that make point `i`.
    pub fn assignments(&self, i: usize) -> Vec<String> {
        self.value_indexes(i)
            .iter()
            .zip(&self.axes)
            .map(|(&v, a)| a.assignment(v))
            .collect()
    }

    /// Point `i` resolved for simulation. Errors name the point and its values and, when the
    /// offending value is a swept one, point at its grid entry.
    pub fn plan(&self, i: usize) -> Result<Plan, InputErrors> {
        let assignments = self.assignments(i);
        let label = self.label(i);
        let relabel = |mut e: LoadError| {
            // An error about a swept value comes back placed at a `--set`; place it at the
            // grid entry that supplied the value instead.
            if e.line == 0
                && let Some((axis, _)) = self
                    .axes
                    .iter()
                    .zip(&assignments)
                    .find(|(_, s)| e.file == format!("{} (--set {s})", self.file))
            {
                e.file = self.file.clone();
                e.line = axis.loc.line;
                e.col = axis.loc.col;
            }
            e.message = format!("{label}: {}", e.message);
            e
        };
        let mut tree = self.tree.clone();
        for (axis, s) in self.axes.iter().zip(&assignments) {
            yaml::apply_override(&mut tree, s).map_err(|m| {
                relabel(LoadError {
                    file: self.file.clone(),
                    line: axis.loc.line,
                    col: axis.loc.col,
                    field: format!("sweep.grid.{}", axis.path),
                    message: m,
                })
            })?;
        }
        let scenario: Scenario = yaml::from_tree(&self.file, &tree).map_err(relabel)?;
        let loaded = scenario::Loaded {
            scenario,
            tree,
            file: self.file.clone(),
            base_dir: self.base_dir.clone(),
        };
        scenario::build_plan(&loaded)
            .map_err(|es| InputErrors(es.into_iter().map(relabel).collect()))
    }

    /// `sweep point I (path=value, ...)`, for messages.
    fn label(&self, i: usize) -> String {
        format!(
            "sweep {} with {}",
            point_name(i, self.points),
            self.axes
                .iter()
                .zip(self.values(i))
                .map(|(a, v)| format!("{}={v}", a.path))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The error of point `i` stopped at its event budget, placed in the scenario file.
    pub fn budget_error(&self, i: usize, e: &EventBudgetExceeded) -> InputErrors {
        let message = format!("{}: {}", self.label(i), e.message);
        yaml::error_at(&self.file, &self.tree, &e.field, message).into()
    }

    /// The manifest of this sweep's output (of one shard, or of the whole sweep).
    pub fn manifest(&self, shard: Option<Shard>) -> Manifest {
        Manifest {
            scenario: self.name.clone(),
            scenario_hash: format!("fnv1a64:{:016x}", self.hash),
            capsim_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: self.mode.name().to_string(),
            points: self.points,
            columns: self.axes.iter().map(|a| a.path.clone()).collect(),
            shard: shard.filter(|s| s.count > 1).map(|s| s.to_string()),
            overrides: self.overrides.clone(),
        }
    }
}

/// Simulates every replication of every plan as one flat parallel iterator and calls
/// `on_point(j, report)` for plan `j` as soon as its last replication is done (in whatever
/// thread finished it), or as soon as one of its replications is stopped at its event budget
/// (with that error). Replications are combined in replication order, so each report is the
/// same at any thread count. Stops at the first error `on_point` returns.
///
/// With `progress` and a terminal on stderr, a progress bar counts replications done.
pub fn simulate_points<E, F>(plans: &[Plan], progress: bool, on_point: F) -> Result<(), E>
where
    E: Send,
    F: Fn(usize, Result<Report, EventBudgetExceeded>) -> Result<(), E> + Sync,
{
    let tasks: Vec<(usize, u32)> = plans
        .iter()
        .enumerate()
        .flat_map(|(j, p)| (0..p.replications).map(move |r| (j, r)))
        .collect();
    // Per plan: the replications done so far, and how many are still running.
    type Slot = Mutex<(Vec<Option<RepResult>>, u32)>;
    let slots: Vec<Slot> = plans
        .iter()
        .map(|p| {
            let reps = (0..p.replications).map(|_| None).collect();
            Mutex::new((reps, p.replications))
        })
        .collect();
    // A plan without replications has nothing to wait for.
    for (j, p) in plans.iter().enumerate() {
        if p.replications == 0 {
            on_point(j, Ok(aggregate_summary(p, &[])))?;
        }
    }
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let show = progress && std::io::stderr().is_terminal() && !tasks.is_empty();
    std::thread::scope(|scope| {
        if show {
            crate::sim::progress_bar(
                scope,
                tasks.len() as u64,
                "{spinner} sweeping [{bar:40}] {pos}/{len} runs ({elapsed} elapsed, ~{eta} left)",
                &done,
                &finished,
            );
        }
        let result = tasks.par_iter().try_for_each(|&(j, r)| {
            // Sweeps report summaries only: the samples are not kept.
            let mut rep = run_replication_summary(&plans[j], r);
            if let Some(e) = rep.over_budget.take() {
                return on_point(j, Err(e));
            }
            done.fetch_add(1, Ordering::Relaxed);
            let complete = {
                let mut slot = slots[j].lock().unwrap_or_else(|e| e.into_inner());
                slot.0[r as usize] = Some(rep);
                slot.1 -= 1;
                (slot.1 == 0).then(|| std::mem::take(&mut slot.0))
            };
            match complete {
                Some(reps) => {
                    let reps: Vec<RepResult> = reps.into_iter().flatten().collect();
                    on_point(j, Ok(aggregate_summary(&plans[j], &reps)))
                }
                None => Ok(()),
            }
        });
        finished.store(true, Ordering::Relaxed);
        result
    })
}

/// What [`run`] did.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// The points of this run (all, or the shard's), in order.
    pub points: Vec<usize>,
    /// Of those, how many were simulated now (the others were read back from points/).
    pub simulated: usize,
    /// Points (simulated now) in which some service could not keep up.
    pub saturated: Vec<usize>,
    /// The rows of each point, as in sweep.csv, in point order.
    pub rows: Vec<Vec<Vec<String>>>,
}

/// An error about the output folder: the user's to fix, so bad input (exit 2).
fn dir_error(dir: &Path, field: &str, message: impl Into<String>) -> InputErrors {
    LoadError::unplaced(dir.display().to_string(), field, message).into()
}

/// `, --set A --set B` for a manifest's overrides; nothing without any.
fn overrides_text(overrides: &[String]) -> String {
    overrides.iter().map(|o| format!(", --set {o}")).collect()
}

/// Refuses a folder that holds another sweep's points (resuming from them would mix results)
/// or a run's results.
fn check_folder(dir: &Path, field: &str, mine: &Manifest) -> Result<(), InputErrors> {
    if dir.is_dir()
        && let Some(m) = ["summary.csv", "search.json"]
            .iter()
            .find(|m| dir.join(m).is_file())
    {
        return Err(dir_error(
            dir,
            field,
            format!(
                "this folder holds the results of a run or search (`{m}`), not a sweep's: \
                 choose another folder or delete it"
            ),
        ));
    }
    match output::read_manifest(dir) {
        Ok(Some(m)) if !m.same_sweep(mine) => Err(dir_error(
            dir,
            field,
            format!(
                "this folder holds the results of another sweep (scenario `{}`, {}, {} points{}); \
                 its points cannot be reused for this one (`{}`, {}, {} points{}): \
                 choose another folder or delete it",
                m.scenario,
                m.scenario_hash,
                m.points,
                overrides_text(&m.overrides),
                mine.scenario,
                mine.scenario_hash,
                mine.points,
                overrides_text(&mine.overrides),
            ),
        )),
        Ok(_) => Ok(()),
        Err(message) => Err(dir_error(dir, field, message)),
    }
}

/// Reads the point files of `indexes` from `dir` and writes `sweep.csv` from them (`shown`:
/// the folder as the user named it, for messages).
fn assemble(
    dir: &Path,
    shown: &Path,
    manifest: &Manifest,
    indexes: &[usize],
) -> Result<Vec<Vec<Vec<String>>>, InputErrors> {
    let header = manifest.header();
    let mut all = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let path = output::point_path(dir, i);
        let rows = output::read_point_checked(&path, &header).map_err(|why| {
            dir_error(
                &output::point_path(shown, i),
                "",
                format!("not a point file of this sweep: {why}"),
            )
        })?;
        all.push(rows);
    }
    let bytes = output::csv_bytes(&header, all.iter().flatten());
    output::write_atomic(&dir.join("sweep.csv"), &bytes)
        .map_err(|e| dir_error(shown, "--out", format!("cannot write sweep.csv: {e}")))?;
    // Charts only of a whole sweep: a shard's would show a slice, and the merge draws them.
    if manifest.shard.is_none() {
        crate::report::write_sweep_pages(dir, &manifest.scenario, &manifest.columns, &all)
            .map_err(|e| dir_error(shown, "--out", format!("cannot write the charts: {e}")))?;
    }
    Ok(all)
}

/// Runs the points of `shard` (all points without one) into `dir`: points whose file exists
/// are read back, the others are validated (all of them before any runs), simulated, and
/// written as they finish; then `sweep.csv` is assembled from the point files.
pub fn run(
    sweep: &Sweep,
    dir: &Path,
    shard: Option<Shard>,
    progress: bool,
) -> Result<RunOutcome, InputErrors> {
    let manifest = sweep.manifest(shard);
    check_folder(dir, "--out", &manifest)?;
    let header = manifest.header();
    let points: Vec<usize> = (0..sweep.points)
        .filter(|&i| shard.is_none_or(|s| s.holds(i)))
        .collect();
    // A point file counts only if it is this point's: same header and values.
    let pending: Vec<usize> = points
        .par_iter()
        .copied()
        .filter(|&i| {
            let values = sweep.values(i);
            let reusable = output::read_point(&output::point_path(dir, i), &header)
                .is_some_and(|rows| rows.iter().all(|r| r[..values.len()] == values[..]));
            !reusable
        })
        .collect();
    let plans = sweep.plans(&pending)?;
    // The folder is claimed only once every point is known to be valid, so a typo in the
    // grid does not leave a manifest behind that would refuse the corrected scenario.
    let io = |e: std::io::Error| dir_error(dir, "--out", format!("cannot write the results: {e}"));
    std::fs::create_dir_all(dir.join("points")).map_err(io)?;
    output::write_atomic(&dir.join("sweep.json"), &manifest.to_bytes()).map_err(io)?;
    let saturated = Mutex::new(Vec::new());
    simulate_points(&plans, progress, |j, report| {
        let i = pending[j];
        let report = report.map_err(|e| sweep.budget_error(i, &e))?;
        if !report.saturated.is_empty() {
            saturated.lock().unwrap_or_else(|e| e.into_inner()).push(i);
        }
        let rows = output::point_rows(&sweep.values(i), &report);
        output::write_atomic(
            &output::point_path(dir, i),
            &output::csv_bytes(&header, &rows),
        )
        .map_err(io)
    })?;
    let rows = assemble(dir, dir, &manifest, &points)?;
    let mut saturated = saturated.into_inner().unwrap_or_else(|e| e.into_inner());
    saturated.sort_unstable();
    Ok(RunOutcome {
        simulated: pending.len(),
        points,
        saturated,
        rows,
    })
}

/// What [`merge`] did.
#[derive(Debug)]
pub struct MergeOutcome {
    /// The merged sweep's manifest.
    pub manifest: Manifest,
}

/// Joins the point files of shard folders `dirs` into `out`, writing exactly what one
/// unsharded sweep writes. Refuses, naming the folder or file: folders of different sweeps,
/// shards of runs with different shard counts or the same shard twice, a point file that
/// belongs to another shard or to no point of the sweep, a damaged point file, missing
/// points, and an `--out` that is one of the folders merged, inside one or holds one. The
/// merged folder is written whole (see [`crate::report::folder`]).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergeOutcome, InputErrors> {
    let mut manifests = Vec::new();
    for d in dirs {
        match output::read_manifest(d) {
            Ok(Some(m)) => manifests.push(m),
            Ok(None) => {
                return Err(dir_error(
                    d,
                    "",
                    "not the output of `capsim sweep`: it has no sweep.json",
                ));
            }
            Err(message) => return Err(dir_error(d, "sweep.json", message)),
        }
    }
    let Some(first) = manifests.first() else {
        return Err(dir_error(out, "", "no shard folders to merge"));
    };
    for (d, m) in dirs.iter().zip(&manifests).skip(1) {
        if !m.same_sweep(first) {
            return Err(dir_error(
                d,
                "sweep.json",
                format!(
                    "comes from another sweep than {}: scenario `{}` ({}, {} points, capsim {}{}) \
                     against `{}` ({}, {} points, capsim {}{}); merge only shards of one scenario \
                     run with the same --set, --seed and --replications",
                    dirs[0].display(),
                    m.scenario,
                    m.scenario_hash,
                    m.points,
                    m.capsim_version,
                    overrides_text(&m.overrides),
                    first.scenario,
                    first.scenario_hash,
                    first.points,
                    first.capsim_version,
                    overrides_text(&first.overrides),
                ),
            ));
        }
    }
    let shards = check_shards(dirs, &manifests)?;
    check_apart(dirs, out)?;
    let manifest = Manifest {
        shard: None,
        ..first.clone()
    };
    check_folder(out, "--out", &manifest)?;
    let header = manifest.header();
    // Every file of points/, each checked: a file of another shard or of no point of this
    // sweep is a stray, a damaged one is not taken for missing.
    let mut found: Vec<Option<PathBuf>> = vec![None; manifest.points];
    for (d, shard) in dirs.iter().zip(&shards) {
        let folder = d.join("points");
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(dir_error(&folder, "", format!("cannot read it: {e}"))),
        };
        let mut files: Vec<(usize, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let i = output::point_index(&e.file_name().to_string_lossy())?;
                Some((i, e.path()))
            })
            .collect();
        files.sort();
        for (i, path) in files {
            let stray = |why: String| dir_error(&path, "", why);
            if i >= manifest.points {
                return Err(stray(format!(
                    "there is no point {i} in this sweep of {} points (sweep.json): the file \
                     comes from another sweep; remove it",
                    manifest.points
                )));
            }
            if let Some(sh) = shard
                && !sh.holds(i)
            {
                return Err(stray(format!(
                    "point {i} belongs to shard {}/{}, not to this folder's shard {sh} \
                     (sweep.json): the file comes from another shard; remove it",
                    i % sh.count,
                    sh.count
                )));
            }
            output::read_point_checked(&path, &header).map_err(|why| {
                stray(format!(
                    "not a point file of this sweep: {why}; remove it and run the shard \
                     again (it resumes where it stopped)"
                ))
            })?;
            found[i] = Some(path);
        }
    }
    let missing: Vec<usize> = (0..manifest.points)
        .filter(|&i| found[i].is_none())
        .collect();
    if !missing.is_empty() {
        let hint = match shards.first().copied().flatten() {
            Some(sh) => {
                let n = sh.count;
                let mut owners: Vec<usize> = missing.iter().map(|i| i % n).collect();
                owners.sort_unstable();
                owners.dedup();
                let owners: Vec<String> = owners.iter().map(|o| format!("{o}/{n}")).collect();
                format!(
                    "; they belong to shard {} (run it again: it resumes where it stopped)",
                    owners.join(", ")
                )
            }
            None => String::new(),
        };
        return Err(dir_error(
            out,
            "",
            format!(
                "cannot merge: {} of {} points are missing from the given folders ({}){hint}",
                missing.len(),
                manifest.points,
                points_name(&missing, manifest.points),
            ),
        ));
    }
    let staged = crate::report::folder::Staged::begin(out, crate::report::folder::Kind::Sweep)
        .map_err(|m| dir_error(out, "--out", m))?;
    let work = staged.path();
    let io = |e: std::io::Error| dir_error(out, "--out", format!("cannot write the results: {e}"));
    std::fs::create_dir_all(work.join("points")).map_err(io)?;
    std::fs::write(work.join("sweep.json"), manifest.to_bytes()).map_err(io)?;
    // Copied byte for byte: the shard wrote exactly what an unsharded sweep writes.
    for (i, from) in found.iter().enumerate() {
        if let Some(from) = from {
            std::fs::copy(from, output::point_path(work, i)).map_err(io)?;
        }
    }
    crate::report::folder::test_pause("copied the points");
    let all: Vec<usize> = (0..manifest.points).collect();
    assemble(work, out, &manifest, &all)?;
    staged.commit().map_err(|m| dir_error(out, "--out", m))?;
    Ok(MergeOutcome { manifest })
}

/// The shard of each folder (`None` for a whole sweep), refusing a mix that cannot be one
/// run's shards: different shard counts, a shard given twice, a whole sweep beside others.
fn check_shards(
    dirs: &[PathBuf],
    manifests: &[Manifest],
) -> Result<Vec<Option<Shard>>, InputErrors> {
    let mut shards = Vec::with_capacity(dirs.len());
    for (d, m) in dirs.iter().zip(manifests) {
        let shard = match &m.shard {
            Some(text) => Some(text.parse::<Shard>().map_err(|e| {
                dir_error(
                    d,
                    "sweep.json",
                    format!("`shard: {text}` is not a shard: {e}"),
                )
            })?),
            None => None,
        };
        shards.push(shard);
    }
    for (k, (d, shard)) in dirs.iter().zip(&shards).enumerate() {
        let Some(sh) = shard else {
            if dirs.len() > 1 {
                return Err(dir_error(
                    d,
                    "sweep.json",
                    "holds a whole sweep, not a shard: merge joins the shards of one sharded \
                     run (`capsim sweep --shard I/N`)",
                ));
            }
            continue;
        };
        for (e, other) in dirs.iter().zip(&shards).take(k) {
            match other {
                Some(o) if o.count != sh.count => {
                    return Err(dir_error(
                        d,
                        "sweep.json",
                        format!(
                            "is shard {sh} of a run in {} shards, but {} is shard {o} of a run \
                             in {}: merge the shards of one run",
                            sh.count,
                            e.display(),
                            o.count
                        ),
                    ));
                }
                Some(o) if o.index == sh.index => {
                    return Err(dir_error(
                        d,
                        "sweep.json",
                        format!("is shard {sh}, as {} is: give each shard once", e.display()),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(shards)
}

/// `p` made absolute with symbolic links resolved, as far as it exists (the rest appended).
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            resolved(parent).join(name)
        }
        _ => p.to_path_buf(),
    }
}

/// Refuses an `--out` that is one of the merged folders, inside one, or holds one: writing it
/// whole would replace or mix with its own input.
fn check_apart(dirs: &[PathBuf], out: &Path) -> Result<(), InputErrors> {
    let o = resolved(out);
    for d in dirs {
        let r = resolved(d);
        let how = if r == o {
            "is"
        } else if o.starts_with(&r) {
            "is inside"
        } else if r.starts_with(&o) {
            "holds"
        } else {
            continue;
        };
        return Err(dir_error(
            out,
            "--out",
            format!(
                "{how} {}, one of the folders merged: merge into a folder apart from them",
                d.display()
            ),
        ));
    }
    Ok(())
}
