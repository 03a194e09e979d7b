//! Checks a parsed scenario (names that must exist, limits, combinations that make no sense)
//! and resolves it into a [`Plan`]. Every error names its place in the file.

mod autoscaler;
mod budget;
mod calls;
mod checks;
mod control_plane;
mod failures;
mod gpus;
mod llm;
mod models;
mod pools;
mod resources;
mod services;
pub mod training;
mod workloads;

pub use checks::{Check, CheckOp, parse_check};

use super::Loaded;
use super::types::{Scenario, limits};
use super::yaml::{LoadError, error_at, locate, suggest};
use crate::engine::SimTime;
use crate::error::FieldError;
use crate::sim::plan::Plan;

struct Errs<'a> {
    l: &'a Loaded,
    out: Vec<LoadError>,
}

impl Errs<'_> {
    fn at(&mut self, path: &str, msg: impl Into<String>) {
        self.out
            .push(error_at(&self.l.file, &self.l.tree, path, msg.into()));
    }

    /// Places an error about a field of the value at `path`: at `path.field` where the file
    /// writes that field apart from the value holding it, else at `path`. (A field that a
    /// `--set` wrote together with its parent is not told apart from it: both are the
    /// override.)
    fn at_field(&mut self, path: &str, err: FieldError) {
        let tree = &self.l.tree;
        let child = format!("{path}.{}", err.field);
        let parent = child.rsplit_once('.').map_or(path, |(p, _)| p);
        let found = locate(tree, &child);
        let apart = !err.field.is_empty() && found.is_some() && found != locate(tree, parent);
        self.at(if apart { &child } else { path }, err.message);
    }
}

fn did_you_mean(word: &str, known: &[&str]) -> String {
    match suggest(word, known) {
        Some(s) => format!("; did you mean `{s}`?"),
        None if known.len() <= 12 => format!("; known: {}", known.join(", ")),
        None => String::new(),
    }
}

fn unique_names<'n>(e: &mut Errs, list: &str, names: impl Iterator<Item = &'n str>) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, n) in names.enumerate() {
        if n.trim().is_empty() {
            e.at(&format!("{list}[{i}].name"), "a name must not be empty");
        } else if seen.contains(&n) {
            e.at(
                &format!("{list}[{i}].name"),
                format!("the name `{n}` is used twice in `{list}`"),
            );
        }
        seen.push(n);
    }
}

/// Checks the scenario and resolves it. Collects every error rather than stopping at the first.
pub fn build_plan(l: &Loaded) -> Result<Plan, Vec<LoadError>> {
    let sc: &Scenario = &l.scenario;
    let mut e = Errs { l, out: Vec::new() };
    // One section of the file after another: later sections look up what earlier ones resolved.
    top_level(&mut e, sc);
    let gpus = gpus::resolve(&mut e, sc);
    let builtin_models = models::builtin_model_names();
    models::check(&mut e, sc, &builtin_models);
    let pools = pools::resolve(&mut e, sc, &gpus);
    let mut cluster = failures::cluster_plan(&mut e, &sc.cluster);
    let mut services = services::resolve(&mut e, sc, &gpus, &pools, &builtin_models);
    calls::resolve(&mut e, sc, &mut services);
    let service_names: Vec<&str> = sc.services.iter().map(|s| s.name.as_str()).collect();
    let workloads = workloads::resolve(&mut e, sc, &service_names);
    let training = training::resolve(&mut e, sc, &pools);
    let control_plane = control_plane::resolve(&mut e, sc, &pools, &mut cluster);
    checks::check(&mut e, sc, &service_names);

    if !e.out.is_empty() {
        // In file order, as a reader fixes them; an error found twice (a model checked for
        // each service that runs it) is shown once.
        e.out.sort_by_key(|x| (x.line, x.col));
        let mut shown: Vec<LoadError> = Vec::with_capacity(e.out.len());
        for x in e.out {
            if !shown.contains(&x) {
                shown.push(x);
            }
        }
        return Err(shown);
    }
    let plan = Plan {
        name: sc.name.clone(),
        seed: sc.seed,
        duration: sc.duration.0,
        warmup: sc.warmup.0,
        // In range: checked against the limits above.
        replications: sc.replications as u32,
        report_interval: sc.report_interval.0,
        max_queue: sc.limits.max_queue as u32,
        max_events: sc.limits.max_events,
        pools: pools.into_iter().flatten().collect(),
        cluster,
        services: services.into_iter().flatten().collect(),
        workloads,
        training,
        control_plane,
    };
    // The estimate needs the whole plan (every workload and service resolved).
    budget::check(&mut e, sc, &plan);
    if !e.out.is_empty() {
        return Err(e.out);
    }
    Ok(plan)
}

/// The top level: name, duration, warm-up, replications, report interval, limits.
fn top_level(e: &mut Errs, sc: &Scenario) {
    if sc.name.is_empty()
        || !sc
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || sc.name.starts_with('.')
    {
        e.at(
            "name",
            format!(
                "`{}` cannot name a results folder: use letters, digits, `-`, `_` and `.`",
                sc.name
            ),
        );
    }
    let duration = sc.duration.0;
    if duration == SimTime::ZERO {
        e.at("duration", "the duration must be longer than zero");
    }
    if sc.warmup.0 >= duration && duration > SimTime::ZERO {
        e.at(
            "warmup",
            format!(
                "the warm-up ({}) must be shorter than the duration ({})",
                sc.warmup.0, duration
            ),
        );
    }
    if sc.replications == 0 || sc.replications > limits::MAX_REPLICATIONS {
        e.at(
            "replications",
            format!(
                "replications must be from 1 to {} (found {})",
                limits::MAX_REPLICATIONS,
                sc.replications
            ),
        );
    }
    let interval = sc.report_interval.0;
    if interval == SimTime::ZERO {
        e.at(
            "report_interval",
            "the report interval must be longer than zero",
        );
    } else if duration.0 / interval.0 > limits::MAX_SAMPLES {
        e.at(
            "report_interval",
            format!(
                "{} samples of {} in {}: the limit is {} samples; lengthen report_interval",
                duration.0 / interval.0,
                interval,
                duration,
                limits::MAX_SAMPLES
            ),
        );
    } else if (1..=limits::MAX_REPLICATIONS).contains(&sc.replications) {
        // Counted over components and replications: what the run writes and holds.
        let samples = duration.0 / interval.0;
        let training = sc.training.is_some();
        let control_plane = sc.control_plane.is_some();
        let per_sample = crate::sim::timeseries::Layout {
            services: sc.services.len(),
            training,
            control_plane,
        }
        .row_len() as u64;
        let values = samples
            .saturating_mul(per_sample)
            .saturating_mul(sc.replications);
        if values > limits::MAX_TIMESERIES_VALUES {
            e.at(
                "report_interval",
                format!(
                    "{samples} samples of {interval} in {duration} x {per_sample} values (12 per \
                     service, 5 for the cluster{}{}) x {} replications = {values} timeseries \
                     values: the limit is {} per run; lengthen report_interval or run fewer \
                     replications",
                    if training { ", 4 for training" } else { "" },
                    if control_plane {
                        format!(
                            ", {} for the control plane",
                            crate::sim::timeseries::CONTROL_PLANE_SLOTS
                        )
                    } else {
                        String::new()
                    },
                    sc.replications,
                    limits::MAX_TIMESERIES_VALUES
                ),
            );
        }
    }
    if sc.limits.max_queue == 0 || sc.limits.max_queue > limits::MAX_QUEUE {
        e.at(
            "limits.max_queue",
            format!("max_queue must be from 1 to {}", limits::MAX_QUEUE),
        );
    }
    if sc.limits.max_events == 0 || sc.limits.max_events > limits::MAX_EVENTS {
        e.at(
            "limits.max_events",
            format!(
                "max_events must be from 1 to {:.0e} events per replication (found {})",
                limits::MAX_EVENTS as f64,
                sc.limits.max_events
            ),
        );
    }
}
