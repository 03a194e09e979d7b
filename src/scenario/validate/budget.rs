//! The event estimate: how many events one replication of the scenario will process, part by
//! part, from the scenario alone. A scenario whose estimate is over its event budget
//! (`limits.max_events`) is refused before it runs, naming the part and the field behind it;
//! a loop in which no simulated time passes is refused whatever the budget. (The run enforces
//! the budget as well, by counting: this estimate is for the user's sake, to refuse early.)

use super::Errs;
use crate::apiserver::ControlPlanePlan;
use crate::control::AutoscalerPlan;
use crate::engine::SimTime;
use crate::models::llm::IterShape;
use crate::scenario::types::{Scenario, limits};
use crate::serving::plan::CallCount;
use crate::sim::plan::{Batching, Cost, Load, Plan, ServicePlan};
use crate::training::TrainingPlan;
use crate::training::plan::{JobArrivals, JobWorkloadPlan};
use crate::units::fmt_count as count;
use crate::workload::ArrivalSpec;

/// Events a request costs: its arrival (or its user's think time ending) and its completion.
/// Batches and LLM iterations change this in either direction; the run counts.
const EVENTS_PER_REQUEST: f64 = 2.0;

/// One part of the estimate.
struct Part {
    /// Where the cause is written (a dotted path; its nearest existing ancestor is shown).
    path: String,
    /// What produces the events, for the message.
    what: String,
    /// What the user can change, for the message.
    fix: &'static str,
    /// Expected events per replication.
    events: f64,
}

/// Refuses zero-time loops, and a scenario whose estimated events per replication exceed
/// `limits.max_events`, at the field of the part that contributes most.
pub(super) fn check(e: &mut Errs, sc: &Scenario, plan: &Plan) {
    let secs = plan.duration.as_secs_f64();
    let mut parts = Vec::new();
    // Per service: iterations its LLM engine may run at most, from its requests' tokens (each
    // iteration produces at least one token of each sequence it runs, after one prefill).
    let mut token_bound = vec![0.0; plan.services.len()];
    // Per service: requests its workloads send it in one replication.
    let mut offered = vec![0.0; plan.services.len()];
    for (i, (spec, w)) in sc.workloads.iter().zip(&plan.workloads).enumerate() {
        let svc = &plan.services[w.service];
        let requests = match &w.load {
            Load::Open(p) => {
                let requests = p.mean_rate(plan.duration) * secs;
                parts.push(Part {
                    path: format!("workloads[{i}].arrivals"),
                    what: format!(
                        "the arrivals of workloads[{i}] ({} requests in {})",
                        count(requests),
                        plan.duration
                    ),
                    fix: "lower the rate or shorten the duration",
                    events: EVENTS_PER_REQUEST * requests,
                });
                requests
            }
            Load::Closed { users, think } => {
                let (min_service, max_rate) = service_bounds(svc);
                let cycle = think.mean() + min_service;
                let path = format!("workloads[{i}].arrivals.closed.think_time");
                if cycle == 0.0 {
                    e.at(
                        &path,
                        format!(
                            "a closed loop with zero think time on a service whose service time \
                             is zero (model `{}`) never lets simulated time pass: each user sends \
                             its next request the instant the last one ends, without end; give \
                             the think time or the service time a positive mean",
                            svc.model
                        ),
                    );
                    continue;
                }
                // Throughput of a closed loop is at most N / (Z + S) and at most the
                // service's capacity (the asymptotic bounds of operational analysis).
                let rate = (f64::from(*users) / cycle).min(max_rate);
                parts.push(Part {
                    path,
                    what: format!(
                        "the closed loop of workloads[{i}] ({users} users, each request at \
                         least {} apart: up to {} requests in {})",
                        SimTime::from_secs_f64(cycle),
                        count(rate * secs),
                        plan.duration
                    ),
                    fix: "lengthen the think time, lower the users or shorten the duration",
                    events: EVENTS_PER_REQUEST * rate * secs,
                });
                rate * secs
            }
        };
        // A trace's token counts are not known here: no bound from tokens.
        let per_request = w
            .output_tokens
            .as_ref()
            .map_or(f64::INFINITY, |d| d.mean() + 1.0);
        if requests > 0.0 {
            token_bound[w.service] += requests * per_request;
            offered[w.service] += requests;
        }
        if let ArrivalSpec::OnOff {
            on_time, off_time, ..
        } = &spec.arrivals
        {
            // Each on and each off period ends with a switch; periods alternate.
            let cycle = on_time.0.as_secs_f64() + off_time.0.as_secs_f64();
            let field = if on_time.0 <= off_time.0 {
                "on_time"
            } else {
                "off_time"
            };
            let switches = 2.0 * secs / cycle;
            parts.push(Part {
                path: format!("workloads[{i}].arrivals.on_off.{field}"),
                what: format!(
                    "the on/off switches of workloads[{i}] (on_time {} and off_time {}: {} \
                     switches in {})",
                    on_time.0,
                    off_time.0,
                    count(switches),
                    plan.duration
                ),
                fix: "lengthen on_time and off_time or shorten the duration",
                events: switches,
            });
        }
    }
    call_parts(&mut parts, plan, offered, &mut token_bound);
    for (si, s) in plan.services.iter().enumerate() {
        let Some(a) = &s.autoscaler else { continue };
        let at = |field: &str| format!("services[{si}].autoscaler.{field}");
        // Every autoscaler samples its pods' signals once a second.
        let mut loops = vec![("autoscaler's metric samples", 1.0, at("kind"))];
        match a {
            AutoscalerPlan::Hpa { sync, .. } => {
                loops.push(("HPA syncs", sync.as_secs_f64(), at("syncPeriod")));
            }
            AutoscalerPlan::Kpa(c) => {
                loops.push(("KPA decisions", c.tick_interval_s, at("tickInterval")));
            }
            AutoscalerPlan::Keda { keda, sync, .. } => {
                loops.push(("HPA syncs", sync.as_secs_f64(), at("syncPeriod")));
                loops.push(("KEDA polls", keda.polling_interval_s, at("pollingInterval")));
            }
        }
        for (what, every, path) in loops {
            let events = secs / every;
            parts.push(Part {
                path,
                what: format!(
                    "the {what} of service `{}` (every {}: {} in {})",
                    s.name,
                    SimTime::from_secs_f64(every),
                    count(events),
                    plan.duration
                ),
                fix: "lengthen the interval or shorten the duration",
                events,
            });
        }
    }
    for (si, s) in plan.services.iter().enumerate() {
        let Cost::Llm(l) = &s.cost else { continue };
        // Iterations also run at most back to back on every replica.
        let iteration = l.cost.iteration(&IterShape::decode(1, 1)).as_secs_f64();
        let busy_bound = f64::from(max_replicas(s)) * secs / iteration;
        let iterations = token_bound[si].min(busy_bound);
        parts.push(Part {
            path: format!("services[{si}].model"),
            what: format!(
                "the LLM iterations of service `{}` (up to {} in {})",
                s.name,
                count(iterations),
                plan.duration
            ),
            fix: "lower the load or shorten the duration",
            events: iterations,
        });
    }
    let mut training_pods = 0.0;
    if let Some(t) = &plan.training {
        training_pods = training_parts(&mut parts, t, secs, plan.duration);
    }
    if let Some(cp) = &plan.control_plane {
        control_plane_parts(&mut parts, cp, plan, training_pods);
    }
    parts.push(Part {
        path: "report_interval".into(),
        what: format!(
            "the report samples (every {}: {} in {})",
            plan.report_interval,
            count(secs / plan.report_interval.as_secs_f64()),
            plan.duration
        ),
        fix: "lengthen report_interval",
        events: secs / plan.report_interval.as_secs_f64(),
    });
    let total: f64 = parts.iter().map(|p| p.events).sum();
    let budget = plan.max_events;
    if total > budget as f64
        && let Some(top) = parts.iter().max_by(|a, b| a.events.total_cmp(&b.events))
    {
        e.at(
            &top.path,
            format!(
                "about {} events per replication, over the event budget of {} \
                 (limits.max_events); most come from {}: {}, or raise limits.max_events (at \
                 most {:.0e}) if the run is meant to be this long",
                count(total),
                count(budget as f64),
                top.what,
                top.fix,
                limits::MAX_EVENTS as f64
            ),
        );
    }
}

/// The calls' part of the estimate: one part per call entry, its calls being the caller's
/// visits times the entry's mean count. A service's visits are its workloads' requests plus
/// the calls it receives, taken in topological order of the call graph (which validation
/// keeps free of cycles). Each call is a request at the callee (an arrival and a
/// completion), plus the end of the caller's `then` step where it has one. A call carries
/// its user's request's tokens, so the callee's token bound grows by the caller's times the
/// calls per request.
fn call_parts(parts: &mut Vec<Part>, plan: &Plan, mut visits: Vec<f64>, tokens: &mut [f64]) {
    let n = plan.services.len();
    let mut callers = vec![0usize; n];
    for s in &plan.services {
        for c in &s.calls {
            callers[c.service] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| callers[i] == 0).collect();
    while let Some(i) = ready.pop() {
        let s = &plan.services[i];
        for (k, c) in s.calls.iter().enumerate() {
            let (per_request, each) = match &c.count {
                CallCount::Fixed(n) => (f64::from(*n), format!("{n} per request")),
                CallCount::Probability(p) => (*p, format!("with probability {p}")),
                CallCount::Drawn(d) => (d.mean(), format!("{} per request on average", d.mean())),
            };
            let calls = visits[i] * per_request;
            visits[c.service] += calls;
            tokens[c.service] += tokens[i] * per_request;
            let then = if c.then.is_some() { 1.0 } else { 0.0 };
            parts.push(Part {
                path: format!("services[{i}].calls[{k}]"),
                what: format!(
                    "the calls of `{}` to `{}` ({each}: about {} in {})",
                    s.name,
                    plan.services[c.service].name,
                    count(calls),
                    plan.duration
                ),
                fix: "lower the load or the calls per request, or shorten the duration",
                events: (EVENTS_PER_REQUEST + then) * calls,
            });
            callers[c.service] -= 1;
            if callers[c.service] == 0 {
                ready.push(c.service);
            }
        }
    }
}

/// Events a training job costs whatever its work: its arrival, the scheduling pass it
/// causes, its completion; and a timer for a gang admitted (Kueue's waitForPodsReady) or
/// reserving (Coscheduling's Permit) that is not placed at once. Backoffs after timeouts
/// add more; the run counts.
const EVENTS_PER_JOB: f64 = 4.0;
/// Events a checkpoint costs: the end of the segment of work before it and its own end.
const EVENTS_PER_CHECKPOINT: f64 = 2.0;
/// Events an interruption costs: the job noticing it, the pass that places the gang again,
/// the end of the restart.
const EVENTS_PER_INTERRUPTION: f64 = 3.0;

/// One workload's jobs as the estimate sees them, from the trace's rows or the Poisson
/// stream's means; each job's work counts up to the run's length.
struct JobLoad {
    /// Jobs submitted.
    jobs: f64,
    /// Checkpoints: the sum of work / interval.
    checkpoints: f64,
    /// The sum of work x nodes: node failures under the gangs are this over the node MTBF.
    node_seconds: f64,
    /// Pods of the jobs (one per node of a gang).
    pods: f64,
}

/// The training workloads' parts of the estimate: per workload its jobs, its checkpoints
/// and its interruptions. Returns the pods of all jobs submitted.
fn training_parts(parts: &mut Vec<Part>, t: &TrainingPlan, secs: f64, span: SimTime) -> f64 {
    let mut pods = 0.0;
    for (i, w) in t.workloads.iter().enumerate() {
        let at = |f: &str| format!("training.workloads[{i}].{f}");
        let load = job_load(w, secs);
        pods += load.pods;
        parts.push(Part {
            path: at("arrivals"),
            what: format!(
                "the jobs of training workload `{}` ({} jobs in {span})",
                w.name,
                count(load.jobs)
            ),
            fix: "lower the rate, shorten the trace or the duration",
            events: EVENTS_PER_JOB * load.jobs,
        });
        if let Some(c) = w.checkpoint {
            let every = match c.interval {
                Some(i) => format!("every {i} of work"),
                None => "at Young/Daly's interval".to_string(),
            };
            parts.push(Part {
                path: at("checkpoint.interval"),
                what: format!(
                    "the checkpoints of training workload `{}` ({every}, cost \
                     {}: about {} in {span})",
                    w.name,
                    c.cost,
                    count(load.checkpoints)
                ),
                fix: "lengthen the checkpoint interval (or its cost, for `optimal`), lower the \
                      rate or shorten the duration",
                events: EVENTS_PER_CHECKPOINT * load.checkpoints,
            });
        }
        if let Some(m) = w.node_mtbf {
            let interruptions = load.node_seconds / m;
            parts.push(Part {
                path: at("node_pool"),
                what: format!(
                    "the interruptions of training workload `{}` by node failures (node MTBF \
                     {}: about {} in {span})",
                    w.name,
                    SimTime::from_secs_f64(m),
                    count(interruptions)
                ),
                fix: "lengthen the pool's failures.mtbf, lower the rate or shorten the duration",
                events: EVENTS_PER_INTERRUPTION * interruptions,
            });
        }
    }
    pods
}

/// Work of job streams over a run of `secs` seconds: a job works at most the run's length.
fn job_load(w: &JobWorkloadPlan, secs: f64) -> JobLoad {
    let gpn = f64::from(w.gpus_per_node.max(1));
    // Pods of a job of `gpus` GPUs: one when it fits a node, else whole nodes.
    let nodes = |gpus: f64| {
        if gpus <= gpn {
            1.0
        } else {
            (gpus / gpn).ceil()
        }
    };
    let interval = |nodes: f64| -> Option<f64> {
        let c = w.checkpoint?;
        Some(match c.interval {
            Some(i) => i.as_secs_f64(),
            // As the run computes it for the job's MTBF (the node's over its nodes).
            None => w.node_mtbf.map_or(f64::INFINITY, |m| {
                crate::stats::reliability::daly_interval(c.cost.as_secs_f64(), m / nodes).max(1e-3)
            }),
        })
    };
    let per_job = |gpus: f64, work: f64| -> (f64, f64, f64) {
        let n = nodes(gpus);
        let work = work.min(secs);
        // ceil(work / interval) - 1 checkpoints, at most work / interval.
        let checkpoints = interval(n).map_or(0.0, |i| work / i);
        (checkpoints, work * n, n)
    };
    match &w.arrivals {
        JobArrivals::Poisson { mean_gap } => {
            let jobs = secs / mean_gap;
            // The mean gang: Young/Daly's interval shrinks as 1/sqrt(nodes), so the mean
            // node count gives at least the mean number of checkpoints.
            let gpus = w.gpus.as_ref().map_or(1.0, |s| s.mean().max(1.0));
            let work = w.work.as_ref().map_or(0.0, |s| s.mean());
            let (checkpoints, node_seconds, pods) = per_job(gpus, work);
            JobLoad {
                jobs,
                checkpoints: jobs * checkpoints,
                node_seconds: jobs * node_seconds,
                pods: jobs * pods,
            }
        }
        JobArrivals::Trace(rows) => {
            let mut load = JobLoad {
                jobs: 0.0,
                checkpoints: 0.0,
                node_seconds: 0.0,
                pods: 0.0,
            };
            for r in rows.iter().filter(|r| r.submit.as_secs_f64() < secs) {
                let (c, ns, pods) = per_job(f64::from(r.gpus), r.work.as_secs_f64());
                load.jobs += 1.0;
                load.checkpoints += c;
                load.node_seconds += ns;
                load.pods += pods;
            }
            load
        }
    }
}

/// Events an API write costs: the request, and the etcd commit batch that carries it (one
/// per write at worst: under load, writes share batches). Watch events are delivered in
/// aggregate, not as events of their own.
const EVENTS_PER_WRITE: f64 = 2.0;
/// Events an API read costs: the request.
const EVENTS_PER_READ: f64 = 1.0;
/// API writes in one pod's life: its create, the scheduler's bind, the kubelet's status
/// patches (scheduled, started, Ready), the endpoints update, the graceful delete and the
/// final delete.
const WRITES_PER_POD: f64 = 8.0;
/// API writes of a node joining, before its heartbeats: the Node's create, its Lease's
/// create and its first status patch.
const WRITES_PER_JOIN: f64 = 3.0;

/// The control plane's parts of the estimate: the kubelets' lease renewals and status
/// reports over the nodes' lives (the pools' initial nodes for the whole run, each join's
/// from its mean join time), the joins' registrations, the clients' calls, and the calls of
/// the pods of services, DaemonSets and training jobs (`training_pods`).
fn control_plane_parts(
    parts: &mut Vec<Part>,
    cp: &ControlPlanePlan,
    plan: &Plan,
    training_pods: f64,
) {
    let span = plan.duration;
    let secs = span.as_secs_f64();
    let initial: f64 = plan.pools.iter().map(|p| f64::from(p.nodes)).sum();
    let mut joined = 0.0;
    let mut joined_secs = 0.0;
    for j in &cp.node_joins {
        let nodes = f64::from(j.nodes);
        let mean_join = j.time.as_secs_f64() + j.over.as_secs_f64() / 2.0;
        joined += nodes;
        joined_secs += nodes * (secs - mean_join).max(0.0);
    }
    let node_secs = initial * secs + joined_secs;
    let nodes = initial + joined;
    let k = &cp.kubelet;
    let renewals = node_secs / k.lease_renew.as_secs_f64();
    parts.push(Part {
        path: "control_plane.kubelet.node_lease_duration".into(),
        what: format!(
            "the kubelets' lease renewals ({} nodes, each every {}: {} in {span})",
            count(nodes),
            k.lease_renew,
            count(renewals)
        ),
        fix: "lengthen node_lease_duration (a lease is renewed every quarter of it), lower the \
              nodes or shorten the duration",
        events: EVENTS_PER_WRITE * renewals,
    });
    // A report is due at the first status update after the report period.
    let report = k.status_report.max(k.status_update);
    let reports = node_secs / report.as_secs_f64();
    parts.push(Part {
        path: "control_plane.kubelet.node_status_report_frequency".into(),
        what: format!(
            "the kubelets' node status reports ({} nodes, each every {report}: {} in {span})",
            count(nodes),
            count(reports)
        ),
        fix: "lengthen node_status_report_frequency, lower the nodes or shorten the duration",
        events: EVENTS_PER_WRITE * reports,
    });
    for (i, j) in cp.node_joins.iter().enumerate() {
        parts.push(Part {
            path: format!("control_plane.node_joins[{i}].nodes"),
            what: format!("the registrations of node_joins[{i}] ({} nodes)", j.nodes),
            fix: "lower the nodes",
            events: EVENTS_PER_WRITE * WRITES_PER_JOIN * f64::from(j.nodes),
        });
    }
    for (i, c) in cp.clients.iter().enumerate() {
        // A per-node client's instances follow the nodes: their mean over the run.
        let instances = if c.per_node {
            node_secs / secs
        } else {
            f64::from(c.count)
        };
        let calls = instances * secs / c.every.as_secs_f64();
        let per_call = if c.verb.mutating() {
            EVENTS_PER_WRITE
        } else {
            EVENTS_PER_READ
        };
        parts.push(Part {
            path: format!("control_plane.clients[{i}].every"),
            what: format!(
                "the calls of client `{}` ({} instances, each every {}: {} calls in {span})",
                c.name,
                count(instances),
                c.every,
                count(calls)
            ),
            fix: "lengthen `every`, lower the instances or shorten the duration",
            events: per_call * calls,
        });
    }
    let pod_parts = [
        (
            "services",
            "the API calls of the services' pods",
            plan.services
                .iter()
                .map(|s| f64::from(max_replicas(s)))
                .sum::<f64>(),
            "lower the replicas",
        ),
        (
            "control_plane.daemonsets",
            "the API calls of the DaemonSets' pods (one per node)",
            cp.daemonsets.len() as f64 * nodes,
            "drop DaemonSets or lower the nodes",
        ),
        (
            "training.workloads",
            "the API calls of the training jobs' pods",
            training_pods,
            "lower the rates or shorten the duration",
        ),
    ];
    for (path, what, pods, fix) in pod_parts {
        if pods > 0.0 {
            parts.push(Part {
                path: path.into(),
                what: format!(
                    "{what} ({} pods, {WRITES_PER_POD} writes each)",
                    count(pods)
                ),
                fix,
                events: EVENTS_PER_WRITE * WRITES_PER_POD * pods,
            });
        }
    }
}

/// A lower bound on the time one request spends in service `s` (seconds), and an upper
/// bound on the requests per second it can finish, at its largest replica count.
fn service_bounds(s: &ServicePlan) -> (f64, f64) {
    let replicas = f64::from(max_replicas(s));
    let slots = replicas * f64::from(s.concurrency);
    let per_batch = match s.batching {
        Batching::Dynamic { max_batch, .. } => f64::from(max_batch),
        Batching::None | Batching::Continuous => 1.0,
    };
    let (min_time, max_rate) = match &s.cost {
        // One draw per batch.
        Cost::Generic { sampler, scale } => {
            let mean = sampler.mean() * scale;
            (mean, slots * per_batch / mean)
        }
        Cost::Table(t) => {
            let best = t
                .iter()
                .enumerate()
                .map(|(b, a)| (b + 1) as f64 / a.as_secs_f64())
                .fold(0.0, f64::max);
            (t.first().map_or(0.0, |a| a.as_secs_f64()), slots * best)
        }
        // Every request takes at least one iteration, and an iteration serves at most
        // max_num_seqs sequences; the cheapest iteration decodes one token of one sequence.
        Cost::Llm(l) => {
            let iteration = l.cost.iteration(&IterShape::decode(1, 1)).as_secs_f64();
            let seqs = f64::from(l.engine.max_num_seqs);
            (
                iteration + l.request_overhead.as_secs_f64(),
                replicas * seqs / iteration,
            )
        }
    };
    // A zero time makes the rate infinite (x / 0), which the closed loop's own bound caps.
    (min_time, if max_rate.is_nan() { 0.0 } else { max_rate })
}

/// The most replicas service `s` can have: its autoscaler's maximum, else its replicas.
fn max_replicas(s: &ServicePlan) -> u32 {
    let most = match &s.autoscaler {
        None => 0,
        Some(AutoscalerPlan::Hpa { spec, .. }) => spec.max_replicas.max(0) as u32,
        // maxScale 0 is unbounded.
        Some(AutoscalerPlan::Kpa(c)) if c.max_scale <= 0 => limits::MAX_REPLICAS as u32,
        Some(AutoscalerPlan::Kpa(c)) => c.max_scale as u32,
        Some(AutoscalerPlan::Keda { keda, .. }) => keda.max_replica_count.max(0) as u32,
    };
    most.max(s.replicas)
}
