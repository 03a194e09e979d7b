//! `queues:` and `training:`: Kueue's ClusterQueues, the scheduler, and the job streams.

use super::{Errs, did_you_mean, unique_names};
use crate::cluster::Placement;
use crate::engine::SimTime;
use crate::scenario::types::{
    CheckpointInterval, JobArrivalSpec, PlacementSpec, PreemptionSpec, QueueingStrategy, Scenario,
    SchedulerKind,
};
use crate::sim::plan::PoolPlan;
use crate::training::plan::{
    CheckpointPlan, JobArrivals, JobWorkloadPlan, QueuePlan, Scheduler, TraceJob, TrainingPlan,
};
use crate::units::fmt_count;

/// Most GPUs a ClusterQueue's quota or borrowing limit may name.
pub const MAX_QUOTA_GPUS: u64 = 10_000_000;
/// Expected jobs of all training workloads in one replication: each job is a record in
/// memory and a row of jobs.csv.
pub const MAX_EXPECTED_JOBS: f64 = 10_000_000.0;
/// Longest permit timeout: kube-scheduler caps a plugin's Permit wait at 15 minutes.
pub const MAX_PERMIT_TIMEOUT: SimTime = SimTime::from_secs(15 * 60);

/// `queues:` and `training:`, resolved (None when absent or with errors).
pub(super) fn resolve(
    e: &mut Errs,
    sc: &Scenario,
    pools: &[Option<PoolPlan>],
) -> Option<TrainingPlan> {
    let queue_names: Vec<&str> = sc.queues.iter().map(|q| q.name.as_str()).collect();
    unique_names(e, "queues", queue_names.iter().copied());
    let mut cohorts: Vec<String> = Vec::new();
    let mut queues = Vec::new();
    for (i, q) in sc.queues.iter().enumerate() {
        let at = |f: &str| format!("queues[{i}].{f}");
        if q.nominal_quota > MAX_QUOTA_GPUS {
            e.at(
                &at("nominal_quota"),
                format!(
                    "{} GPUs is above the limit of {MAX_QUOTA_GPUS}",
                    q.nominal_quota
                ),
            );
        }
        if let Some(b) = q.borrowing_limit {
            if b > MAX_QUOTA_GPUS {
                e.at(
                    &at("borrowing_limit"),
                    format!("{b} GPUs is above the limit of {MAX_QUOTA_GPUS}"),
                );
            }
            if q.cohort.is_none() {
                e.at(
                    &at("borrowing_limit"),
                    "a queue borrows only from its cohort: give `cohort` too",
                );
            }
        }
        let cohort = q.cohort.as_ref().map(|c| {
            cohorts.iter().position(|x| x == c).unwrap_or_else(|| {
                cohorts.push(c.clone());
                cohorts.len() - 1
            })
        });
        queues.push(QueuePlan {
            name: q.name.clone(),
            cohort,
            nominal: q.nominal_quota,
            borrowing_limit: q.borrowing_limit,
            strict: q.queueing_strategy == QueueingStrategy::StrictFifo,
        });
    }
    let Some(t) = &sc.training else {
        if !sc.queues.is_empty() {
            e.at(
                "queues",
                "queues hold training jobs: add a `training:` section",
            );
        }
        return None;
    };
    let scheduler = match t.scheduler {
        Some(SchedulerKind::Kueue) => Scheduler::Kueue,
        Some(SchedulerKind::Coscheduling) => Scheduler::Coscheduling,
        Some(SchedulerKind::Greedy) => Scheduler::Greedy,
        None if sc.queues.is_empty() => Scheduler::Coscheduling,
        None => Scheduler::Kueue,
    };
    if scheduler != Scheduler::Kueue && !sc.queues.is_empty() {
        e.at(
            "queues",
            format!(
                "queues are Kueue's quota; the `{}` scheduler has none: remove `queues` or use \
                 `scheduler: kueue`",
                scheduler.name()
            ),
        );
    }
    let permit_timeout = t.permit_timeout.map_or(SimTime::from_secs(60), |d| d.0);
    if permit_timeout == SimTime::ZERO || permit_timeout > MAX_PERMIT_TIMEOUT {
        e.at(
            "training.permit_timeout",
            format!("permit_timeout must be longer than 0s and at most {MAX_PERMIT_TIMEOUT} (kube-scheduler's cap on a Permit wait)"),
        );
    }
    let pods_ready_timeout = match t.wait_for_pods_ready {
        None => Some(SimTime::from_secs(30 * 60)),
        Some(d) if d.0 == SimTime::ZERO => None,
        Some(d) => Some(d.0),
    };
    if t.workloads.is_empty() {
        e.at("training.workloads", "list at least one training workload");
    }
    let names = t.workloads.iter().map(|w| w.name.as_str());
    unique_names(e, "training.workloads", names);
    let pool_names: Vec<&str> = sc.node_pools.iter().map(|p| p.name.as_str()).collect();
    let mut workloads = Vec::new();
    // Expected jobs of each workload, and the field behind them.
    let mut expected_jobs: Vec<(f64, String)> = Vec::new();
    let horizon = sc.duration.0.as_secs_f64();
    for (i, w) in t.workloads.iter().enumerate() {
        let at = |f: &str| format!("training.workloads[{i}].{f}");
        if w.name.starts_with("gpus_") {
            e.at(
                &at("name"),
                "names starting with `gpus_` are the size classes' (training/gpus_1, ...)",
            );
        }
        let Some(pool_index) = sc.node_pools.iter().position(|p| p.name == w.node_pool) else {
            e.at(
                &at("node_pool"),
                format!(
                    "unknown node pool `{}`{}",
                    w.node_pool,
                    did_you_mean(&w.node_pool, &pool_names)
                ),
            );
            continue;
        };
        let Some(pool) = pools.get(pool_index).and_then(|p| p.as_ref()) else {
            continue;
        };
        if pool.cpus_per_node.is_some() {
            e.at(
                &at("node_pool"),
                format!(
                    "training gangs use whole GPUs; pool `{}` is a CPU pool (it gives \
                     cpus_per_node)",
                    pool.name
                ),
            );
            continue;
        }
        if pool.share.units_per_gpu != 1 {
            e.at(
                &at("node_pool"),
                format!(
                    "training gangs use whole GPUs; pool `{}` shares its GPUs (gpu_sharing)",
                    pool.name
                ),
            );
            continue;
        }
        let queue = match &w.queue {
            None => None,
            Some(qn) => match sc.queues.iter().position(|q| &q.name == qn) {
                Some(qi) => Some(qi),
                None => {
                    e.at(
                        &at("queue"),
                        format!("unknown queue `{qn}`{}", did_you_mean(qn, &queue_names)),
                    );
                    continue;
                }
            },
        };
        let capacity = u64::from(pool.max_nodes.max(pool.nodes)) * u64::from(pool.gpus_per_node);
        let too_big = |g: u64| {
            format!(
                "a job of {g} GPUs can never fit pool `{}` ({capacity} GPUs at most)",
                pool.name
            )
        };
        let node_mtbf = pool
            .failures
            .as_ref()
            .and_then(|f| f.up_time.as_ref())
            .map(|s| s.mean());
        let priority = match i32::try_from(w.priority) {
            Ok(p) => p,
            Err(_) => {
                e.at(
                    &at("priority"),
                    "priority must fit a 32-bit integer, as a PriorityClass value does",
                );
                0
            }
        };
        let (arrivals, gpus, work) = match &w.arrivals {
            JobArrivalSpec::Poisson { rate } => {
                if !rate.0.is_finite() || rate.0 <= 0.0 {
                    e.at(&at("arrivals.poisson.rate"), "the rate must be positive");
                    continue;
                }
                expected_jobs.push((rate.0 * horizon, at("arrivals.poisson.rate")));
                let gpus = match &w.gpus {
                    None => None,
                    Some(d) => match d.compile(&e.l.base_dir) {
                        Ok(s) => Some(s),
                        Err(err) => {
                            e.at_field(&at("gpus"), err);
                            continue;
                        }
                    },
                };
                if let Some(g) = fractional_gpus(w.gpus.as_ref()) {
                    e.at(
                        &at("gpus"),
                        format!("a job asks for a whole number of GPUs, at least 1: found {g}"),
                    );
                    continue;
                }
                if let Some(crate::workload::Dist::Fixed(v)) = &w.gpus
                    && v.0 > capacity as f64
                {
                    e.at(&at("gpus"), too_big(v.0 as u64));
                }
                if let Some(crate::workload::Dist::Choice(m)) = &w.gpus
                    && let Some(big) = m
                        .iter()
                        .filter(|(_, p)| **p > 0.0)
                        .filter_map(|(k, _)| k.trim().parse::<f64>().ok())
                        .find(|&g| g > capacity as f64)
                {
                    e.at(&at("gpus"), too_big(big as u64));
                }
                let Some(d) = &w.duration else {
                    e.at(
                        &at("duration"),
                        "a Poisson stream of jobs needs `duration` (the failure-free run time)",
                    );
                    continue;
                };
                let work = match d.compile(&e.l.base_dir) {
                    Ok(s) => s,
                    Err(err) => {
                        e.at_field(&at("duration"), err);
                        continue;
                    }
                };
                (
                    JobArrivals::Poisson {
                        mean_gap: 1.0 / rate.0,
                    },
                    gpus,
                    Some(work),
                )
            }
            JobArrivalSpec::Trace { file } => {
                let shown = file;
                let rows = match crate::workload::jobtrace::load(&e.l.base_dir.join(file)) {
                    Ok(r) => r,
                    Err(msg) => {
                        e.at(&at("arrivals.trace.file"), msg);
                        continue;
                    }
                };
                expected_jobs.push((rows.len() as f64, at("arrivals.trace.file")));
                let mut jobs = Vec::with_capacity(rows.len());
                let mut ok = true;
                for r in &rows {
                    let q = match &r.queue {
                        None => queue,
                        Some(qn) => match sc.queues.iter().position(|q| &q.name == qn) {
                            Some(qi) => Some(qi),
                            None => {
                                e.at(
                                    &at("arrivals.trace.file"),
                                    format!(
                                        "trace: {shown}: line {}: unknown queue `{qn}`{}",
                                        r.line,
                                        did_you_mean(qn, &queue_names)
                                    ),
                                );
                                ok = false;
                                break;
                            }
                        },
                    };
                    if u64::from(r.gpus) > capacity {
                        e.at(
                            &at("arrivals.trace.file"),
                            format!(
                                "trace: {shown}: line {}: {}",
                                r.line,
                                too_big(u64::from(r.gpus))
                            ),
                        );
                        ok = false;
                        break;
                    }
                    if scheduler == Scheduler::Kueue && q.is_none() {
                        e.at(
                            &at("queue"),
                            format!("trace: {shown}: line {}: Kueue admits only jobs in a ClusterQueue: name one here or in the trace's `queue` column", r.line),
                        );
                        ok = false;
                        break;
                    }
                    jobs.push(TraceJob {
                        submit: SimTime::from_secs_f64(r.submit_s),
                        gpus: r.gpus,
                        work: SimTime::from_secs_f64(r.duration_s),
                        queue: q,
                        priority: r.priority,
                    });
                }
                if !ok {
                    continue;
                }
                (JobArrivals::Trace(jobs.into()), None, None)
            }
        };
        if scheduler == Scheduler::Kueue
            && queue.is_none()
            && matches!(arrivals, JobArrivals::Poisson { .. })
        {
            e.at(
                &at("queue"),
                format!(
                    "Kueue admits only jobs in a ClusterQueue: name one of `queues`{}",
                    if queue_names.is_empty() {
                        " (there are none yet)".to_string()
                    } else {
                        format!(" ({})", queue_names.join(", "))
                    }
                ),
            );
            continue;
        }
        let checkpoint = match &w.checkpoint {
            None => None,
            Some(c) => {
                let interval = match c.interval {
                    CheckpointInterval::Every(t) if t == SimTime::ZERO => {
                        e.at(
                            &at("checkpoint.interval"),
                            "the interval must be longer than 0s",
                        );
                        continue;
                    }
                    CheckpointInterval::Every(t) => Some(t),
                    CheckpointInterval::Optimal if c.cost.0 == SimTime::ZERO => {
                        e.at(
                            &at("checkpoint.cost"),
                            "`optimal` is Young/Daly's interval, about sqrt(2 x cost x MTBF): \
                             with a cost of 0s the job would checkpoint without end; give the \
                             time a checkpoint takes",
                        );
                        continue;
                    }
                    CheckpointInterval::Optimal => {
                        if node_mtbf.is_none() {
                            e.at(
                                &at("checkpoint.interval"),
                                format!(
                                    "`optimal` is Young/Daly's interval for the job's failure rate: pool `{}` needs `failures: {{mtbf: ...}}`",
                                    pool.name
                                ),
                            );
                            continue;
                        }
                        None
                    }
                };
                Some(CheckpointPlan {
                    interval,
                    cost: c.cost.0,
                })
            }
        };
        workloads.push(JobWorkloadPlan {
            name: w.name.clone(),
            queue,
            pool: pool_index,
            gpus_per_node: pool.gpus_per_node,
            node_mtbf,
            arrivals,
            gpus,
            work,
            priority,
            checkpoint,
            restart: w.restart_time.0,
            detection: w.failure_detection.0,
            slo: match &w.slo {
                None => Vec::new(),
                Some(s) => {
                    let terms: Vec<(&'static str, f64)> = [
                        ("wait_mean_s", s.wait_mean),
                        ("wait_p50_s", s.wait_p50),
                        ("wait_p95_s", s.wait_p95),
                        ("wait_p99_s", s.wait_p99),
                        ("jct_mean_s", s.jct_mean),
                    ]
                    .into_iter()
                    .filter_map(|(m, d)| d.map(|d| (m, d.0.as_secs_f64())))
                    .collect();
                    if terms.is_empty() {
                        e.at(
                            &at("slo"),
                            "give at least one objective: wait_mean, wait_p50, wait_p95, wait_p99 or jct_mean",
                        );
                    }
                    terms
                }
            },
        });
    }
    let total: f64 = expected_jobs.iter().map(|x| x.0).sum();
    if total > MAX_EXPECTED_JOBS
        && let Some((most, path)) = expected_jobs.iter().max_by(|a, b| a.0.total_cmp(&b.0))
    {
        e.at(
            path,
            format!(
                "about {} training jobs expected in one replication ({} from this workload in \
                 {}), over the limit of {} jobs (each is a record in memory and a row of \
                 jobs.csv); lower the rates or the duration",
                fmt_count(total),
                fmt_count(*most),
                sc.duration.0,
                fmt_count(MAX_EXPECTED_JOBS)
            ),
        );
    }
    let placement = match t.placement {
        PlacementSpec::Pack => Placement::Pack,
        PlacementSpec::Spread => Placement::Spread,
        PlacementSpec::Topology => Placement::Topology,
    };
    if placement == Placement::Topology {
        for w in &workloads {
            // A pool whose `topology` is there but wrong has its own message.
            if sc.node_pools[w.pool].topology.is_none() {
                e.at(
                    "training.placement",
                    format!(
                        "`topology` placement needs `topology: {{rack: N}}` on pool `{}`",
                        sc.node_pools[w.pool].name
                    ),
                );
                break;
            }
        }
    }
    Some(TrainingPlan {
        scheduler,
        permit_timeout,
        pods_ready_timeout,
        placement,
        preemption: t.preemption == PreemptionSpec::LowerPriority,
        queues,
        cohorts,
        workloads,
    })
}

/// A value of a `fixed` or `choice` GPU count (with a positive probability) that is not a
/// whole number from 1: a job asks for whole GPUs (a fraction would be rounded silently).
fn fractional_gpus(d: Option<&crate::workload::Dist<crate::workload::Count>>) -> Option<f64> {
    let bad = |g: f64| g < 1.0 || g.fract() != 0.0;
    match d? {
        crate::workload::Dist::Fixed(v) => bad(v.0).then_some(v.0),
        crate::workload::Dist::Choice(m) => m
            .iter()
            .filter(|(_, p)| **p > 0.0)
            .filter_map(|(k, _)| k.trim().parse::<f64>().ok())
            .find(|&g| bad(g)),
        _ => None,
    }
}
