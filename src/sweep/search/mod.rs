//! Capacity search (`capsim search`): the largest load of a service's first workload at which
//! the service's SLO still holds, and what that means per GPU.
//!
//! The searched load is the arrival rate of an open-loop workload (every rate of its arrival
//! process scaled by one factor) or the number of users of a closed-loop one. Each candidate
//! load is a full simulation of the scenario with that load set by a `--set`-style override,
//! with the scenario's seed and replications: the same random streams for every candidate
//! (common random numbers), so that pass/fail is as monotone in the load as the model is and
//! the search is deterministic.
//!
//! A candidate passes only if every SLO term holds at the pessimistic end of its 95%
//! confidence interval (`ci95_high` of the bounded metric at most the bound) and the service
//! saturated in no replication. The search brackets the largest passing load by doubling (or
//! halving) from the scenario's own load, then bisects to 1% of the load (or one user).
//!
//! A scenario with a `sweep:` block is searched once per point of its grid ([`table`]), for
//! a table of which GPU type (or any other swept value) serves the load cheapest.

pub mod table;

// What a search finds is drawn and written by report, which must not name sweep: the result
// types live there.
pub use crate::report::search::{
    Binding, Candidate, LoadKind, SearchResult, Sizing, Target, TermCheck,
};
pub use table::{PointSearch, SweepSearch, cheapest, cheapest_for, run_sweep};

use crate::scenario::{self, InputErrors, LoadError, yaml};
use crate::workload::ArrivalSpec;
use std::path::{Path, PathBuf};

/// Relative resolution of the search: on an arrival rate, and on users (never finer than
/// one user).
pub const RATE_RESOLUTION: f64 = 0.01;
/// Doublings (or halvings) tried from the scenario's load before giving up on a bracket.
pub const MAX_BRACKET_STEPS: u32 = 24;
/// Most users a closed loop may have (the scenario's own limit on `closed.users`).
pub const MAX_USERS: u64 = 10_000_000;
/// Largest `--target-rate` (requests per second) or `--target-users` a search sizes for:
/// 10,000 per replica at the most replicas one service may have; a typo beyond it is refused
/// before the search runs rather than sized after it.
pub const MAX_TARGET: f64 = 1e9;

/// A prepared search: the scenario read and checked, the service and workload found.
pub struct Search {
    file: String,
    bytes: Vec<u8>,
    base_dir: PathBuf,
    overrides: Vec<String>,
    /// The service searched, or `training/<name>` for a training workload.
    service: String,
    workload: usize,
    kind: LoadKind,
    /// The training workload searched (its jobs' arrival rate), if not a service.
    training: Option<usize>,
}

impl Search {
    /// Reads `path` with `overrides` (`--set`, seed, replications) and prepares a search on
    /// `service`. Bad input (unreadable or invalid scenario, unknown service, no `slo:`, a
    /// load that cannot be scaled) is an [`InputErrors`] naming the file and field.
    pub fn from_file(
        path: &Path,
        overrides: &[String],
        service: &str,
    ) -> Result<Self, InputErrors> {
        let file = path.display().to_string();
        let bytes = scenario::read_file(path)?;
        Self::from_bytes(
            &file,
            bytes,
            path.parent().unwrap_or(Path::new(".")),
            overrides,
            service,
        )
    }

    /// Like [`Search::from_file`], on scenario text named `file` in messages.
    pub fn from_bytes(
        file: &str,
        bytes: Vec<u8>,
        base_dir: &Path,
        overrides: &[String],
        service: &str,
    ) -> Result<Self, InputErrors> {
        let loaded = scenario::load_bytes(file, &bytes, overrides, base_dir)?;
        // The whole scenario must be valid before anything is searched.
        let plan = scenario::build_plan(&loaded).map_err(InputErrors)?;
        let flag_error =
            |message: String| LoadError::unplaced(file.to_string(), "--service", message);
        let training_w = plan
            .training
            .as_ref()
            .and_then(|t| t.workloads.iter().position(|w| w.name == service));
        if plan.services.iter().all(|s| s.name != service)
            && let (Some(wi), Some(t)) = (training_w, &plan.training)
        {
            let at =
                |path: &str, message: String| yaml::error_at(file, &loaded.tree, path, message);
            if t.workloads[wi].slo.is_empty() {
                return Err(at(
                    &format!("training.workloads[{wi}].slo"),
                    format!(
                        "training workload `{service}` has no `slo:`; the search needs a bound to meet, e.g. `slo: {{wait_p95: 1h}}`"
                    ),
                )
                .into());
            }
            let rate = match &loaded
                .scenario
                .training
                .as_ref()
                .map(|t| &t.workloads[wi].arrivals)
            {
                Some(crate::scenario::types::JobArrivalSpec::Poisson { rate }) => rate.0,
                _ => {
                    return Err(at(
                        &format!("training.workloads[{wi}].arrivals"),
                        "the search scales a Poisson rate of jobs; a trace replays recorded submissions".into(),
                    )
                    .into());
                }
            };
            return Ok(Search {
                file: file.to_string(),
                bytes,
                base_dir: base_dir.to_path_buf(),
                overrides: overrides.to_vec(),
                service: format!("training/{service}"),
                workload: wi,
                kind: LoadKind::Open {
                    process: "poisson",
                    fields: vec![("rate", rate)],
                    base_rps: rate,
                },
                training: Some(wi),
            });
        }
        let Some(si) = plan.services.iter().position(|s| s.name == service) else {
            let mut names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
            if let Some(t) = &plan.training {
                names.extend(t.workloads.iter().map(|w| w.name.as_str()));
            }
            let hint = yaml::suggest(service, &names)
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(flag_error(format!(
                "the scenario has no service `{service}`; {hint}its services are {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        };
        let at = |path: &str, message: String| yaml::error_at(file, &loaded.tree, path, message);
        if plan.services[si]
            .slo
            .as_ref()
            .is_none_or(|s| s.terms.is_empty())
        {
            return Err(at(
                &format!("services[{si}].slo"),
                format!(
                    "service `{service}` has no `slo:`; the search needs a bound to meet, e.g. `slo: {{latency_p99: 500ms}}`"
                ),
            )
            .into());
        }
        let Some(wi) = loaded
            .scenario
            .workloads
            .iter()
            .position(|w| w.service == service)
        else {
            return Err(at(
                "workloads",
                format!(
                    "no workload sends requests to service `{service}`: there is no load to search"
                ),
            )
            .into());
        };
        let arrivals = &loaded.scenario.workloads[wi].arrivals;
        let kind = load_kind(arrivals).map_err(|m| at(&format!("workloads[{wi}].arrivals"), m))?;
        Ok(Search {
            file: file.to_string(),
            bytes,
            base_dir: base_dir.to_path_buf(),
            overrides: overrides.to_vec(),
            service: service.to_string(),
            workload: wi,
            kind,
            training: None,
        })
    }

    /// What the search varies.
    pub fn kind(&self) -> &LoadKind {
        &self.kind
    }

    /// The overrides that set the load of a candidate.
    fn load_overrides(&self, load: f64) -> Vec<String> {
        let w = self.workload;
        match &self.kind {
            LoadKind::Open {
                process, fields, ..
            } => {
                let prefix = if self.training.is_some() {
                    "training."
                } else {
                    ""
                };
                fields
                    .iter()
                    .map(|(f, base)| {
                        format!(
                            "{prefix}workloads.{w}.arrivals.{process}.{f}={}/s",
                            base * load
                        )
                    })
                    .collect()
            }
            LoadKind::Closed { .. } => {
                vec![format!(
                    "workloads.{w}.arrivals.closed.users={}",
                    load as u64
                )]
            }
        }
    }

    /// Simulates one candidate load and judges it.
    pub fn evaluate(&self, load: f64) -> Result<Candidate, InputErrors> {
        let mut overrides = self.overrides.clone();
        overrides.extend(self.load_overrides(load));
        let shown = match &self.kind {
            LoadKind::Open { base_rps, .. } => format!("an arrival rate of {}/s", base_rps * load),
            LoadKind::Closed { .. } => format!("{} users", load as u64),
        };
        // A candidate can break a limit the scenario itself met (expected arrivals): say at
        // which load, since the user never wrote that value.
        let with_load = |InputErrors(es): InputErrors| {
            InputErrors(
                es.into_iter()
                    .map(|mut e| {
                        e.message = format!("{} (while trying {shown})", e.message);
                        e
                    })
                    .collect(),
            )
        };
        let loaded = scenario::load_bytes(&self.file, &self.bytes, &overrides, &self.base_dir)
            .map_err(with_load)?;
        let plan = scenario::build_plan(&loaded)
            .map_err(InputErrors)
            .map_err(with_load)?;
        let report = crate::sim::simulate_summary(&plan, false)
            .map_err(|e| with_load(scenario::budget_error(&loaded, &e)))?;
        if let Some(wi) = self.training {
            return Ok(self.judge_training(load, &plan, wi, report));
        }
        let svc = plan.services.iter().find(|s| s.name == self.service);
        let slo = svc.and_then(|s| s.slo.clone()).unwrap_or_default();
        let mut terms: Vec<TermCheck> = slo
            .terms
            .iter()
            .map(|(metric, bound)| term_check(&report, &self.service, metric, *bound))
            .collect();
        // A bounded queue never saturates: it drops instead, and a dropped request missed its
        // objective. Allow the share of requests the strictest percentile term lets miss.
        if svc.is_some_and(|s| s.queue_capacity.is_some()) {
            let requests = report.mean(&self.service, "requests");
            let dropped = report.mean(&self.service, "dropped");
            let share = if requests > 0.0 {
                dropped / requests
            } else {
                0.0
            };
            terms.push(TermCheck {
                metric: "dropped_fraction".into(),
                bound: slo.allowed_miss,
                mean: share,
                value: share,
                holds: share <= slo.allowed_miss,
            });
        }
        let saturated_replications = report
            .saturated
            .iter()
            .find(|s| s.service == self.service)
            .map_or(0, |s| s.replications);
        let pass = saturated_replications == 0 && terms.iter().all(|t| t.holds);
        let rate_rps = match &self.kind {
            LoadKind::Open {
                process: "poisson",
                base_rps,
                ..
            } => base_rps * load,
            _ => report.mean(&self.service, "arrival_rate_rps"),
        };
        Ok(Candidate {
            load,
            rate_rps,
            pass,
            saturated_replications,
            terms,
            report,
        })
    }

    /// Judges a candidate load of a training workload: each objective at the pessimistic
    /// end of its interval, and no replication with a growing backlog of the workload's jobs.
    fn judge_training(
        &self,
        load: f64,
        plan: &crate::sim::Plan,
        wi: usize,
        report: crate::sim::Report,
    ) -> Candidate {
        let slo = plan
            .training
            .as_ref()
            .map(|t| t.workloads[wi].slo.clone())
            .unwrap_or_default();
        // No job started (NaN) misses the objective.
        let terms: Vec<TermCheck> = slo
            .iter()
            .map(|&(metric, bound)| term_check(&report, &self.service, metric, bound))
            .collect();
        let saturated_replications = (report.mean(&self.service, "saturated")
            * f64::from(report.replications))
        .round() as u32;
        let pass = saturated_replications == 0 && terms.iter().all(|t| t.holds);
        let rate_rps = match &self.kind {
            LoadKind::Open { base_rps, .. } => base_rps * load,
            LoadKind::Closed { .. } => f64::NAN,
        };
        Candidate {
            load,
            rate_rps,
            pass,
            saturated_replications,
            terms,
            report,
        }
    }

    /// Runs the search. `on_candidate` sees each candidate as it is judged (progress).
    pub fn run(
        &self,
        mut on_candidate: impl FnMut(&Candidate),
    ) -> Result<SearchResult, InputErrors> {
        let closed = self.kind.is_closed();
        let start = match self.kind {
            LoadKind::Open { .. } => 1.0,
            LoadKind::Closed { base_users } => base_users as f64,
        };
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut eval = |load: f64, cands: &mut Vec<Candidate>| -> Result<usize, InputErrors> {
            let c = self.evaluate(load)?;
            on_candidate(&c);
            cands.push(c);
            Ok(cands.len() - 1)
        };
        let first = eval(start, &mut candidates)?;
        // Bracket: lo passes, hi fails (either may stay unknown at the limits).
        let (mut lo, mut hi): (Option<usize>, Option<usize>) = if candidates[first].pass {
            (Some(first), None)
        } else {
            (None, Some(first))
        };
        let load_of = |i: usize, c: &[Candidate]| c[i].load;
        if lo.is_some() {
            for _ in 0..MAX_BRACKET_STEPS {
                let prev = load_of(lo.unwrap_or(first), &candidates);
                let next = if closed {
                    (prev * 2.0).min(MAX_USERS as f64)
                } else {
                    prev * 2.0
                };
                if next <= prev {
                    break;
                }
                let i = eval(next, &mut candidates)?;
                if candidates[i].pass {
                    lo = Some(i);
                } else {
                    hi = Some(i);
                    break;
                }
            }
        } else {
            for _ in 0..MAX_BRACKET_STEPS {
                let prev = load_of(hi.unwrap_or(first), &candidates);
                let next = if closed {
                    (prev / 2.0).floor().max(1.0)
                } else {
                    prev / 2.0
                };
                if next >= prev {
                    break;
                }
                let i = eval(next, &mut candidates)?;
                if candidates[i].pass {
                    lo = Some(i);
                    break;
                }
                hi = Some(i);
            }
        }
        // Bisect between a passing and a failing load.
        if let (Some(mut l), Some(mut h)) = (lo, hi) {
            loop {
                let (a, b) = (load_of(l, &candidates), load_of(h, &candidates));
                let mid = if closed {
                    // 1% of the users, but never finer than one user.
                    if b - a <= (RATE_RESOLUTION * a).max(1.0) {
                        break;
                    }
                    ((a + b) / 2.0).floor()
                } else {
                    if b - a <= RATE_RESOLUTION * a {
                        break;
                    }
                    (a + b) / 2.0
                };
                let i = eval(mid, &mut candidates)?;
                if candidates[i].pass {
                    l = i;
                } else {
                    h = i;
                }
            }
            lo = Some(l);
            hi = Some(h);
        }
        let replications = candidates[first].report.replications;
        let slo = candidates[first]
            .terms
            .iter()
            .map(|t| (t.metric.clone(), t.bound))
            .collect();
        let loaded =
            scenario::load_bytes(&self.file, &self.bytes, &self.overrides, &self.base_dir)?;
        let plan = scenario::build_plan(&loaded).map_err(InputErrors)?;
        let tiers = plan
            .services
            .iter()
            .position(|s| s.name == self.service)
            .map_or_else(Vec::new, |si| {
                crate::serving::plan::call_reach(&plan.services, si)
                    .into_iter()
                    .map(|t| plan.services[t].name.clone())
                    .collect()
            });
        let (pool, gpus_per_replica, cpus_per_replica) = match (self.training, &plan.training) {
            (Some(wi), Some(t)) => (t.workloads[wi].pool, f64::NAN, f64::NAN),
            _ => {
                let svc = plan
                    .services
                    .iter()
                    .find(|s| s.name == self.service)
                    .expect("the service was found when the search was prepared");
                (svc.pool, svc.gpus_per_replica, svc.cpus_per_replica)
            }
        };
        let pool = &plan.pools[pool];
        Ok(SearchResult {
            scenario: candidates[first].report.scenario.clone(),
            service: self.service.clone(),
            workload: self.workload,
            kind: self.kind.clone(),
            replications,
            slo,
            candidates,
            best: lo,
            above: hi,
            gpus_per_replica,
            cpus_per_replica,
            pool: pool.name.clone(),
            gpu: pool.gpu.name.clone(),
            price_per_gpu_hour: pool.price_per_gpu_hour,
            price_per_node_hour: pool.price_per_node_hour,
            price_per_replica_hour: pool.replica_price_per_hour(gpus_per_replica, cpus_per_replica),
            tiers,
        })
    }
}

/// One SLO term judged at the pessimistic end of the figure's 95% interval (one replication
/// has no interval: its value is judged).
fn term_check(report: &crate::sim::Report, component: &str, metric: &str, bound: f64) -> TermCheck {
    let est = report.get(component, metric);
    let mean = est.map_or(f64::NAN, |e| e.mean);
    let high = est.map_or(f64::NAN, |e| e.ci95_high);
    let value = if high.is_finite() { high } else { mean };
    TermCheck {
        metric: metric.to_string(),
        bound,
        mean,
        value,
        holds: value <= bound,
    }
}

/// How the load of an arrival process is varied, or why it cannot be.
fn load_kind(arrivals: &ArrivalSpec) -> Result<LoadKind, String> {
    let (fields, base_rps): (Vec<(&'static str, f64)>, f64) = match arrivals {
        ArrivalSpec::Closed { users, .. } => {
            return Ok(LoadKind::Closed {
                base_users: (*users).max(1),
            });
        }
        ArrivalSpec::Poisson { rate } => (vec![("rate", rate.0)], rate.0),
        ArrivalSpec::OnOff {
            on_rate,
            off_rate,
            on_time,
            off_time,
        } => {
            let (on, off) = (on_time.0.as_secs_f64(), off_time.0.as_secs_f64());
            let mean = (on_rate.0 * on + off_rate.0 * off) / (on + off);
            (vec![("on_rate", on_rate.0), ("off_rate", off_rate.0)], mean)
        }
        ArrivalSpec::Diurnal {
            min_rate,
            peak_rate,
            ..
        } => (
            vec![("min_rate", min_rate.0), ("peak_rate", peak_rate.0)],
            (min_rate.0 + peak_rate.0) / 2.0,
        ),
        ArrivalSpec::Step { from, to, .. } | ArrivalSpec::Ramp { from, to, .. } => {
            (vec![("from", from.0), ("to", to.0)], from.0.max(to.0))
        }
        ArrivalSpec::Trace { .. } => {
            return Err(
                "a trace replays recorded arrival times, which the search cannot scale; \
                 replace it by `poisson: {rate: ...}` at the trace's mean rate, or vary \
                 `time_scale` with `capsim run --set`"
                    .into(),
            );
        }
    };
    // Zero rates stay zero under scaling: only the positive ones are overridden.
    let fields: Vec<(&'static str, f64)> = fields.into_iter().filter(|(_, r)| *r > 0.0).collect();
    if fields.is_empty() || !base_rps.is_finite() || base_rps <= 0.0 {
        return Err(
            "the arrival rate is zero: give a positive starting rate, from which the search doubles or halves"
                .into(),
        );
    }
    Ok(LoadKind::Open {
        process: arrivals.name(),
        fields,
        base_rps,
    })
}
