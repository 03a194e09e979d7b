//! What a replication leaves behind, and how replications combine into a report.

use super::plan::{Load, Plan};
use super::timeseries;
use crate::cluster::PoolSummary;
use crate::control::AutoscalerPlan;
use crate::engine::SimTime;
use crate::serving::ServiceStats;
use crate::stats::{Estimate, LatencyHist, TimeIntegral};

/// Timeseries metric codes and their names in timeseries.csv.
pub mod ts_metric {
    /// Pods scheduled on a node.
    pub const REPLICAS: u8 = 0;
    /// Pods Ready.
    pub const READY: u8 = 1;
    /// Pods that fit no node.
    pub const PENDING_PODS: u8 = 2;
    /// Requests waiting; APF level: calls waiting in its queues at the sample, summed over
    /// the API servers.
    pub const QUEUE_LENGTH: u8 = 3;
    /// Requests executing.
    pub const IN_FLIGHT: u8 = 4;
    /// Arrivals per second over the interval.
    pub const ARRIVALS_RPS: u8 = 5;
    /// Completions per second over the interval.
    pub const THROUGHPUT_RPS: u8 = 6;
    /// p95 latency of the requests completed in the interval.
    pub const LATENCY_P95_MS: u8 = 7;
    /// Busy fraction of the execution slots over the interval.
    pub const GPU_UTILIZATION: u8 = 8;
    /// p95 time to first token of the first tokens of the interval (LLM services).
    pub const TTFT_P95_MS: u8 = 9;
    /// KV cache blocks in use over all blocks, at the sample (LLM services).
    pub const KV_CACHE_UTILIZATION: u8 = 10;
    /// The replica count the autoscaler (or the scenario) asks for.
    pub const DESIRED_REPLICAS: u8 = 11;
    /// Cluster: nodes in all pools.
    pub const NODES: u8 = 12;
    /// Cluster: nodes asked for and not Ready yet.
    pub const NODES_PROVISIONING: u8 = 13;
    /// Cluster: GPUs held by pods (balloons included), whole-GPU equivalents; training: GPUs
    /// held by gangs placed whole.
    pub const GPUS_ALLOCATED: u8 = 14;
    /// Cluster: nodes whose Ready condition is true (a failed node until it is marked
    /// NotReady).
    pub const NODES_READY: u8 = 15;
    /// Training: jobs whose gang is placed whole.
    pub const JOBS_RUNNING: u8 = 16;
    /// Training: jobs waiting for admission or room (their gang not whole).
    pub const JOBS_WAITING: u8 = 17;
    /// Training: free GPUs of the training pools over their GPUs while a job waits, else 0.
    pub const FRAGMENTATION: u8 = 18;
    /// APF level: calls dispatched (started) per second over the interval, summed over the
    /// API servers.
    pub const DISPATCHED_RPS: u8 = 19;
    /// APF level: calls answered 429 per second over the interval (each try counts).
    pub const REJECTED_RPS: u8 = 20;
    /// APF level: seats held by executing calls and final seats, at the sample.
    pub const SEATS_IN_USE: u8 = 21;
    /// API servers: calls answered per second over the interval.
    pub const REQUESTS_RPS: u8 = 22;
    /// API servers: p99 latency (from the first try) of the mutating calls answered in the
    /// interval.
    pub const MUTATING_LATENCY_P99_MS: u8 = 23;
    /// API servers: watch event bytes sent per second over the interval.
    pub const WATCH_BYTES_PER_S: u8 = 24;
    /// API servers: memory of one server at the sample, GiB.
    pub const MEMORY_GIB: u8 = 25;
    /// etcd: writes committed per second over the interval.
    pub const WRITES_PER_S: u8 = 26;
    /// etcd: database size at the sample, GiB.
    pub const DB_SIZE_GIB: u8 = 27;
    /// Names, indexed by code.
    pub const NAMES: [&str; 28] = [
        "replicas",
        "ready",
        "pending_pods",
        "queue_length",
        "in_flight",
        "arrivals_rps",
        "throughput_rps",
        "latency_p95_ms",
        "gpu_utilization",
        "ttft_p95_ms",
        "kv_cache_utilization",
        "desired_replicas",
        "nodes",
        "nodes_provisioning",
        "gpus_allocated",
        "nodes_ready",
        "jobs_running",
        "jobs_waiting",
        "fragmentation",
        "dispatched_rps",
        "rejected_rps",
        "seats_in_use",
        "requests_rps",
        "mutating_latency_p99_ms",
        "watch_bytes_per_s",
        "memory_gib",
        "writes_per_s",
        "db_size_gib",
    ];
}

/// Every metric a service can report, in the order summary.csv lists them.
pub const SERVICE_METRICS: &[&str] = &[
    "requests",
    "completed",
    "dropped",
    "failed",
    "throughput_rps",
    "arrival_rate_rps",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "wait_mean_ms",
    "wait_p99_ms",
    "wait_probability",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "tpot_mean_ms",
    "tpot_p50_ms",
    "tpot_p95_ms",
    "tpot_p99_ms",
    "service_time_mean_ms",
    "batch_size_mean",
    "prompt_tokens_mean",
    "output_tokens_mean",
    "output_tokens_per_s",
    "output_tokens_per_s_per_gpu",
    "kv_cache_utilization",
    "preemptions",
    "gpu_utilization",
    "cpu_utilization",
    "slot_utilization",
    "primary_utilization",
    "own_latency_mean_ms",
    "bottleneck",
    "in_system_mean",
    "littles_law_error",
    "replicas_mean",
    "replicas_max",
    "pods_pending",
    "pods_pending_end",
    "gpus",
    "gpu_hours",
    "cost_per_1k_requests",
    "slo_attainment",
    "slo_met",
    "minutes_out_of_slo",
    "users",
    "users_per_gpu",
    "saturated",
    "queue_growth_rps",
    "transient_end_s",
];

/// Metrics of the `cluster` component.
pub const CLUSTER_METRICS: &[&str] = &[
    "nodes",
    "nodes_max",
    "nodes_ready",
    "node_failures",
    "gpus",
    "gpus_allocated",
    "gpu_allocation",
    "pods_pending",
    "gpu_hours",
    "cost",
    "cpus",
    "cpus_allocated",
    "cpu_allocation",
];

/// Metrics of the `engine` component.
pub const ENGINE_METRICS: &[&str] = &["events"];

/// What one service left at the end of a replication.
pub(super) struct SvcParts {
    pub stats: ServiceStats,
    pub pending: TimeIntegral,
    pub pending_end: u32,
    pub closed_users: u32,
}

/// The world's state at the end of a replication.
pub(super) struct Parts {
    pub svcs: Vec<SvcParts>,
    pub pools: Vec<PoolSummary>,
    pub node_failures: u64,
    pub nodes_ready: TimeIntegral,
    pub training: Option<crate::training::TrainingResult>,
    pub api: Option<crate::apiserver::ApiResult>,
    pub events: u64,
    pub over_budget: Option<super::budget::EventBudgetExceeded>,
}

/// The figures of one replication: (component, metric, value) in a fixed order, so that
/// replications line up row by row.
#[derive(Debug, Clone)]
pub struct RepResult {
    /// Summary figures.
    pub metrics: Vec<(String, &'static str, f64)>,
    /// Timeseries rows, one per report interval (see [`super::timeseries`]), when kept in
    /// memory; empty when dropped or spooled to a file.
    pub timeseries: Vec<f64>,
    /// Services that saturated: name, whether the replication stopped early at the queue
    /// bound, and the queue growth rate.
    pub saturated: Vec<(String, bool, f64)>,
    /// Events processed.
    pub events: u64,
    /// Set when the replication was stopped at its event budget: its figures are then
    /// incomplete, and the run fails with this error.
    pub over_budget: Option<super::budget::EventBudgetExceeded>,
    /// Latency of each service at [`CDF_PROBABILITIES`], in ms (NaN when nothing completed).
    pub latency_quantiles: Vec<Vec<f64>>,
    /// Time to first token of each service at [`CDF_PROBABILITIES`], in ms (NaN for services
    /// without an LLM engine).
    pub ttft_quantiles: Vec<Vec<f64>>,
    /// Each service's mean number in the system per report interval while its load is as it
    /// started.
    pub in_system_means: Vec<Vec<f64>>,
    /// Training jobs, one row each (jobs.csv).
    pub jobs: Vec<crate::training::JobRow>,
}

/// Where the latency CDF is sampled: every percent, with the tail resolved finer because
/// planners read p99 and beyond from it.
pub const CDF_PROBABILITIES: [f64; 104] = {
    let mut p = [0.0; 104];
    let mut i = 0;
    while i < 99 {
        p[i] = (i + 1) as f64 / 100.0;
        i += 1;
    }
    p[99] = 0.995;
    p[100] = 0.998;
    p[101] = 0.999;
    p[102] = 0.9995;
    p[103] = 0.9999;
    p
};

/// Batches of the second half of the window in the saturation test.
const BACKLOG_BATCHES: usize = 20;

/// The one-sided 99.9% quantile of Student's t with `BACKLOG_BATCHES - 2` = 18 degrees of
/// freedom (NIST/SEMATECH e-Handbook, table 1.3.6.7.2): with independent batch means, a
/// stable queue shows a rising trend this strong once in a thousand replications. The
/// statistic compared with it is widened for correlated batch means
/// ([`crate::stats::trend::Trend::t_adjusted`]), which a queue near capacity has in a short
/// run.
const BACKLOG_T_CRITICAL: f64 = 3.610;

/// When the backlog of every service is measured for the saturation test: the midpoint of
/// the window, then every 1/`BACKLOG_BATCHES` of the second half, up to the end. Mark `j`
/// (from 0) is at the returned time; None past the last.
pub(super) fn backlog_mark(plan: &Plan, j: u32) -> Option<SimTime> {
    let half = plan.duration.since(plan.warmup).0 / 2;
    let start = plan.duration.0 - half;
    let n = BACKLOG_BATCHES as u64;
    (u64::from(j) <= n).then(|| SimTime(start + half * u64::from(j) / n))
}

/// Until when each service's load stays as it starts: the earliest of its workloads' (None
/// when one of them moves from the start; forever for a service without load).
/// A scheduled node failure of its pool ends the stretch too: what follows is the failure's
/// effect, not the start's.
pub(super) fn steady_until(plan: &Plan) -> Vec<Option<SimTime>> {
    plan.services
        .iter()
        .enumerate()
        .map(|(si, sp)| {
            let failure = plan.pools[sp.pool]
                .failures
                .as_ref()
                .and_then(|f| f.at.first())
                .map_or(SimTime::MAX, |&(_, t)| t);
            plan.workloads
                .iter()
                .filter(|w| w.service == si)
                .try_fold(failure, |acc, w| w.steady_until().map(|t| acc.min(t)))
        })
        .collect()
}

/// How fast the backlog grew over the second half of the window (requests per second), if
/// it grew beyond what chance explains: the batch means of the number in system between the
/// marks rise with a t statistic above [`BACKLOG_T_CRITICAL`] (see [`crate::stats::trend`]).
pub(super) fn backlog_growth(plan: &Plan, marks: &[f64]) -> Option<f64> {
    if marks.len() != BACKLOG_BATCHES + 1 {
        return None;
    }
    let dt = plan.duration.since(plan.warmup).as_secs_f64() / 2.0 / BACKLOG_BATCHES as f64;
    let means: Vec<f64> = marks.windows(2).map(|w| (w[1] - w[0]) / dt).collect();
    let t = crate::stats::trend::trend(&means)?;
    (t.slope > 0.0 && t.t_adjusted() > BACKLOG_T_CRITICAL).then(|| t.slope / dt)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// How full a tier of an application is, from its figures (`metric` reads one, NaN when
/// absent): its working utilization, or its primary's where that works harder (a
/// StatefulSet); for an LLM service the share of its KV cache in use, since its engine is
/// busy whenever any sequence runs (its busy share is near 1 at any load) and it is the cache
/// filling that makes it queue and preempt.
pub fn tier_utilization(metric: impl Fn(&str) -> f64) -> f64 {
    let kv = metric("kv_cache_utilization");
    if !kv.is_nan() {
        return kv;
    }
    metric("gpu_utilization").max(metric("primary_utilization"))
}

/// Services that call others or are called: `bottleneck` is 1 for the service of highest
/// [utilization](tier_utilization) among those an entry service reaches through its calls
/// (the one the utilization law saturates first as the load grows: U = X D), else 0. A
/// thread pool held by blocking calls (`slot_utilization`) is a limit of its own, reported
/// beside it.
fn mark_bottlenecks(plan: &Plan, m: &mut Vec<(String, &'static str, f64)>) {
    let n = plan.services.len();
    let mut called = vec![false; n];
    for sp in &plan.services {
        for c in &sp.calls {
            called[c.service] = true;
        }
    }
    let metric = |si: usize, key: &str| {
        let name = &plan.services[si].name;
        m.iter()
            .find(|(c, k, _)| c == name && *k == key)
            .map_or(f64::NAN, |x| x.2)
    };
    // The load over what the tier could serve at its most replicas: an autoscaled tier below
    // its ceiling grows with the load (its working utilization stays near its target), so it
    // is its utilization at the ceiling that reaches 1, not today's.
    let utilization = |si: usize| {
        let u = tier_utilization(|key| metric(si, key));
        let ceiling = match &plan.services[si].autoscaler {
            Some(AutoscalerPlan::Hpa { spec, .. } | AutoscalerPlan::Keda { spec, .. }) => {
                f64::from(spec.max_replicas)
            }
            Some(AutoscalerPlan::Kpa(k)) if k.max_scale > 0 => f64::from(k.max_scale),
            Some(AutoscalerPlan::Kpa(_)) => f64::INFINITY,
            None => return u,
        };
        u * metric(si, "replicas_mean") / ceiling
    };
    let mut mark: Vec<Option<bool>> = vec![None; n];
    for entry in (0..n).filter(|&si| !called[si] && !plan.services[si].calls.is_empty()) {
        let reach = crate::serving::plan::call_reach(&plan.services, entry);
        // The first of the highest, in the order the calls reach them.
        let top = reach
            .iter()
            .copied()
            .filter(|&si| !utilization(si).is_nan())
            .fold(None::<(usize, f64)>, |best, si| {
                let u = utilization(si);
                match best {
                    Some((_, b)) if b >= u => best,
                    _ => Some((si, u)),
                }
            });
        for &si in &reach {
            let is_top = top.is_some_and(|(t, _)| t == si);
            mark[si] = Some(mark[si].unwrap_or(false) || is_top);
        }
    }
    for (si, v) in mark.into_iter().enumerate() {
        if let Some(b) = v {
            m.push((
                plan.services[si].name.clone(),
                "bottleneck",
                f64::from(u8::from(b)),
            ));
        }
    }
}

pub(super) fn collect(plan: &Plan, end: SimTime, parts: Parts) -> RepResult {
    let window = end.since(plan.warmup).as_secs_f64();
    let mut m: Vec<(String, &'static str, f64)> = Vec::new();
    let mut saturated = Vec::new();
    let mut latency_quantiles = Vec::with_capacity(plan.services.len());
    let mut ttft_quantiles = Vec::with_capacity(plan.services.len());
    let mut in_system_means = Vec::with_capacity(plan.services.len());
    for (sp, parts_s) in plan.services.iter().zip(parts.svcs) {
        let closed_users = parts_s.closed_users;
        let mut pending = parts_s.pending;
        let mut s = parts_s.stats;
        let at = |h: &LatencyHist| -> Vec<f64> { h.quantiles_ms(&CDF_PROBABILITIES) };
        latency_quantiles.push(at(&s.latency));
        ttft_quantiles.push(at(&s.ttft));
        let pool = &plan.pools[sp.pool];
        let c = sp.name.clone();
        let mut put = |k: &'static str, v: f64| m.push((c.clone(), k, v));
        let completed = s.completed_count() as f64;
        put("requests", s.arrivals as f64);
        put("completed", completed);
        put("dropped", s.dropped as f64);
        put("failed", s.failed as f64);
        put(
            "throughput_rps",
            ratio(s.completions_in_window as f64, window),
        );
        let arrival_rate = ratio(s.arrivals as f64, window);
        put("arrival_rate_rps", arrival_rate);
        put("latency_mean_ms", s.latency.mean_ms());
        put("latency_p50_ms", s.latency.quantile_ms(0.50));
        put("latency_p90_ms", s.latency.quantile_ms(0.90));
        put("latency_p95_ms", s.latency.quantile_ms(0.95));
        put("latency_p99_ms", s.latency.quantile_ms(0.99));
        put("wait_mean_ms", s.wait.mean_ms());
        put("wait_p99_ms", s.wait.quantile_ms(0.99));
        put(
            "wait_probability",
            ratio(s.waited_count() as f64, s.started_count() as f64),
        );
        // LLM services: empty for others (their histograms stay empty).
        put("ttft_mean_ms", s.ttft.mean_ms());
        put("ttft_p50_ms", s.ttft.quantile_ms(0.50));
        put("ttft_p95_ms", s.ttft.quantile_ms(0.95));
        put("ttft_p99_ms", s.ttft.quantile_ms(0.99));
        put("tpot_mean_ms", s.tpot.mean_ms());
        put("tpot_p50_ms", s.tpot.quantile_ms(0.50));
        put("tpot_p95_ms", s.tpot.quantile_ms(0.95));
        put("tpot_p99_ms", s.tpot.quantile_ms(0.99));
        put(
            "service_time_mean_ms",
            ratio(s.service_ns as f64 * 1e-6, s.batches as f64),
        );
        put(
            "batch_size_mean",
            ratio(s.batch_items as f64, s.batches as f64),
        );
        // Token counts from the workload (a trace's columns or the distributions): empty
        // when it gives none.
        let per_request = |sum: u64| {
            if sum == 0 {
                f64::NAN
            } else {
                ratio(sum as f64, completed)
            }
        };
        put("prompt_tokens_mean", per_request(s.prompt_tokens));
        put("output_tokens_mean", per_request(s.output_tokens));
        // Pods come and go with autoscaling: GPUs and slots are time averages over the window.
        let replicas_mean = ratio(s.replicas.area_secs(end), window);
        let gpus = replicas_mean * sp.gpus_per_replica;
        let llm = matches!(sp.cost, super::plan::Cost::Llm(_));
        let llm_only = |v: f64| if llm { v } else { f64::NAN };
        let tokens_per_s = llm_only(ratio(s.generated_tokens as f64, window));
        put("output_tokens_per_s", tokens_per_s);
        put("output_tokens_per_s_per_gpu", ratio(tokens_per_s, gpus));
        put(
            "kv_cache_utilization",
            llm_only(ratio(
                s.kv_used.area_secs(end),
                s.kv_capacity.area_secs(end),
            )),
        );
        put("preemptions", llm_only(s.preemptions as f64));
        let slots = replicas_mean * sp.concurrency as f64;
        let utilization = ratio(s.busy.area_secs(end), slots * window);
        put("gpu_utilization", utilization);
        if sp.cpus_per_replica > 0.0 {
            // The CPU the replicas use over what they request (their slots' working share).
            put("cpu_utilization", utilization);
        }
        if sp
            .calls
            .iter()
            .any(|c| c.mode == crate::serving::plan::CallMode::Blocking)
        {
            // Slots held, working or waiting on a blocking call: what a thread pool runs
            // out of.
            put(
                "slot_utilization",
                ratio(
                    s.busy.area_secs(end) + s.blocked.area_secs(end),
                    slots * window,
                ),
            );
        }
        if sp.statefulset {
            // Its ordinal 0, which takes what is routed to the primary besides its share.
            put(
                "primary_utilization",
                ratio(
                    s.primary_busy.area_secs(end),
                    sp.concurrency as f64 * window,
                ),
            );
        }
        if !sp.calls.is_empty() {
            // Its own share of the latency: queueing and work here, not in its calls.
            put(
                "own_latency_mean_ms",
                ratio(s.own_ns as f64 * 1e-6, completed),
            );
        }
        // Time in the API server outside the engine counts as in the system.
        let in_system = ratio(
            s.in_system.area_secs(end) + s.overhead_ns as f64 * 1e-9,
            window,
        );
        put("in_system_mean", in_system);
        // Little's law L = lambda W on the requests that arrived in the window and entered
        // the system (those dropped at the door never did): L their time-average number in
        // the system, lambda their rate, W the mean time they spent there, completed or not
        // (killed, lost to a failure, refused by an engine). Requests already there when the
        // window opened are left out: they have no arrival in it. What remains is the
        // requests still in the system at the end, whose time is in L and not yet in W: in a
        // run that has settled they are few.
        let l = ratio(
            s.in_system.area_secs(end) - s.before_window_in_system.area_secs(end)
                + s.overhead_ns as f64 * 1e-9,
            window,
        );
        let left = s.completed_count() + s.window_unfinished;
        let sojourn_s = s.latency.mean_ms() * 1e-3 * s.completed_count() as f64
            + s.window_unfinished_ns as f64 * 1e-9;
        let w = ratio(sojourn_s, left as f64);
        let lambda = ratio(s.window_admitted as f64, window);
        put("littles_law_error", ratio((l - lambda * w).abs(), l));
        put("replicas_mean", replicas_mean);
        put("replicas_max", s.replicas_max as f64);
        put("pods_pending", ratio(pending.area_secs(end), window));
        put("pods_pending_end", parts_s.pending_end as f64);
        put("gpus", gpus);
        let gpu_hours = replicas_mean * sp.gpus_per_replica * window / 3600.0;
        put("gpu_hours", gpu_hours);
        // Each replica pays for its GPUs and for its share of a node (see
        // `PoolPlan::replica_price_per_hour`), over the replica hours of the window.
        let price = pool.replica_price_per_hour(sp.gpus_per_replica, sp.cpus_per_replica);
        let replica_hours = replicas_mean * window / 3600.0;
        // (Without a node price, the GPU hours times their price, in the order that has
        // always been computed, so that those results stay bit for bit.)
        let cost = if pool.price_per_node_hour > 0.0 {
            replica_hours * price
        } else {
            gpu_hours * pool.price_per_gpu_hour
        };
        put("cost_per_1k_requests", ratio(cost * 1000.0, completed));
        if let Some(slo) = &sp.slo {
            // A dropped request missed its objective.
            put(
                "slo_attainment",
                ratio(s.slo_ok as f64, completed + s.dropped as f64),
            );
            let met = slo.terms.iter().all(|(metric, bound)| {
                let v = match *metric {
                    "latency_mean_ms" => s.latency.mean_ms(),
                    "latency_p50_ms" => s.latency.quantile_ms(0.50),
                    "latency_p90_ms" => s.latency.quantile_ms(0.90),
                    "latency_p95_ms" => s.latency.quantile_ms(0.95),
                    "latency_p99_ms" => s.latency.quantile_ms(0.99),
                    "wait_p99_ms" => s.wait.quantile_ms(0.99),
                    "ttft_p95_ms" => s.ttft.quantile_ms(0.95),
                    "tpot_p95_ms" => s.tpot.quantile_ms(0.95),
                    _ => f64::NAN,
                };
                v <= *bound
            });
            put("slo_met", if met { 1.0 } else { 0.0 });
            put("minutes_out_of_slo", s.out_of_slo_secs / 60.0);
        }
        if closed_users > 0 {
            put("users", closed_users as f64);
            put("users_per_gpu", ratio(closed_users as f64, gpus));
        }
        let open_loop = plan
            .workloads
            .iter()
            .any(|w| plan.services[w.service].name == sp.name && matches!(w.load, Load::Open(_)));
        let growth = match s.saturated_at {
            Some(t) => {
                let (from, base) = if t > plan.warmup {
                    (plan.warmup, s.in_system_at_window)
                } else {
                    (SimTime::ZERO, 0)
                };
                let g = ratio(
                    (s.in_system.value() - base) as f64,
                    t.since(from).as_secs_f64(),
                );
                saturated.push((sp.name.clone(), true, g));
                g
            }
            // A backlog that grows over the second half of the window beyond what chance
            // explains: the service cannot keep up, although its queue stayed under the bound
            // that stops a run early. (Closed loops are bounded by their users and never
            // qualify; a replication stopped early by another service has no second half to
            // judge.)
            None if open_loop => match backlog_growth(plan, &s.backlog_marks) {
                Some(g) => {
                    saturated.push((sp.name.clone(), false, g));
                    g
                }
                None => 0.0,
            },
            None => 0.0,
        };
        let is_saturated = s.saturated_at.is_some() || growth > 0.0;
        put("saturated", if is_saturated { 1.0 } else { 0.0 });
        put("queue_growth_rps", growth);
        // Found on the replications' average series, in `aggregate`.
        put("transient_end_s", f64::NAN);
        in_system_means.push(std::mem::take(&mut s.in_system_means));
    }
    mark_bottlenecks(plan, &mut m);
    // Nodes come and go with the cluster autoscaler: time averages over the window, and the
    // GPU hours and cost of every node (idle ones and balloons' included).
    let mut nodes = 0.0;
    let mut nodes_max = 0.0;
    let mut gpus = 0.0;
    let mut allocated = 0.0;
    let mut gpu_hours = 0.0;
    let mut cost = 0.0;
    // CPU pools: their CPUs, and the CPUs pods hold (their unit is a milli-CPU).
    let mut cpus = 0.0;
    let mut cpus_allocated = 0.0;
    for (p, summary) in plan.pools.iter().zip(parts.pools) {
        let (mut held, mut integral, max) = (summary.allocated, summary.nodes, summary.nodes_max);
        let a = ratio(held.area_secs(end), window);
        let mean = ratio(integral.area_secs(end), window);
        nodes += mean;
        nodes_max += max as f64;
        if let Some(c) = p.cpus_per_node {
            cpus += mean * c;
            cpus_allocated += a / f64::from(crate::cluster::plan::CPU_UNITS_PER_CPU);
        } else {
            gpus += mean * p.gpus_per_node as f64;
            allocated += a / p.share.units_per_gpu as f64;
            let hours = integral.area_secs(end) * p.gpus_per_node as f64 / 3600.0;
            gpu_hours += hours;
            cost += hours * p.price_per_gpu_hour;
        }
        if p.price_per_node_hour > 0.0 {
            cost += integral.area_secs(end) / 3600.0 * p.price_per_node_hour;
        }
    }
    let pending: f64 = m
        .iter()
        .filter(|(_, k, _)| *k == "pods_pending")
        .map(|(_, _, v)| *v)
        .sum();
    let c = "cluster".to_string();
    m.push((c.clone(), "nodes", nodes));
    m.push((c.clone(), "nodes_max", nodes_max));
    let mut nodes_ready = parts.nodes_ready;
    m.push((
        c.clone(),
        "nodes_ready",
        ratio(nodes_ready.area_secs(end), window),
    ));
    m.push((c.clone(), "node_failures", parts.node_failures as f64));
    m.push((c.clone(), "gpus", gpus));
    m.push((c.clone(), "gpus_allocated", allocated));
    m.push((c.clone(), "gpu_allocation", ratio(allocated, gpus)));
    m.push((c.clone(), "pods_pending", pending));
    m.push((c.clone(), "gpu_hours", gpu_hours));
    m.push((c.clone(), "cost", cost));
    if plan.pools.iter().any(|p| p.cpus_per_node.is_some()) {
        m.push((c.clone(), "cpus", cpus));
        m.push((c.clone(), "cpus_allocated", cpus_allocated));
        m.push((c.clone(), "cpu_allocation", ratio(cpus_allocated, cpus)));
    }
    let mut jobs = Vec::new();
    if let Some(t) = parts.training {
        m.extend(t.metrics);
        jobs = t.jobs;
    }
    if let Some(a) = parts.api {
        m.extend(a.metrics);
    }
    m.push(("engine".to_string(), "events", parts.events as f64));
    debug_assert!(m.iter().all(|(c, k, _)| match c.as_str() {
        "cluster" => CLUSTER_METRICS.contains(k),
        "engine" => ENGINE_METRICS.contains(k),
        c if c == "training" || c.starts_with("training/") || c.starts_with("queue/") =>
            crate::training::TRAINING_METRICS.contains(k),
        c if crate::apiserver::is_component(c) => crate::apiserver::APISERVER_METRICS.contains(k),
        _ => SERVICE_METRICS.contains(k),
    }));
    RepResult {
        metrics: m,
        timeseries: Vec::new(),
        saturated,
        events: parts.events,
        over_budget: parts.over_budget,
        latency_quantiles,
        ttft_quantiles,
        in_system_means,
        jobs,
    }
}

/// One row of the summary: a figure with its confidence interval over replications.
#[derive(Debug, Clone)]
pub struct Row {
    /// Service name, `cluster` or `engine`.
    pub component: String,
    /// Metric name (SPEC.md).
    pub metric: &'static str,
    /// Mean and 95% interval.
    pub estimate: Estimate,
}

/// A service that could not keep up in some replications.
#[derive(Debug, Clone, PartialEq)]
pub struct Saturation {
    /// Service name.
    pub service: String,
    /// Replications in which it saturated.
    pub replications: u32,
    /// Of those, replications stopped early at the queue bound (`limits.max_queue`).
    pub stopped_early: u32,
    /// Mean growth rate of its queue, requests per second.
    pub growth_rps: f64,
}

/// The combined result of all replications.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Summary rows, in a fixed order.
    pub rows: Vec<Row>,
    /// Timeseries: (time in seconds, component, metric, mean over replications).
    pub timeseries: Vec<(f64, String, &'static str, f64)>,
    /// Saturation notices, one per service that saturated in some replication.
    pub saturated: Vec<Saturation>,
    /// Replications run.
    pub replications: u32,
    /// The warm-up, seconds.
    pub warmup_s: f64,
    /// Latency distribution of each service that completed requests, then the TTFT
    /// distribution of each LLM service.
    pub latency_cdf: Vec<LatencyCdf>,
    /// Training jobs of every replication: (replication from 0, row), in replication order.
    pub jobs: Vec<(u32, crate::training::JobRow)>,
}

/// A service's latency distribution: at each probability of [`CDF_PROBABILITIES`], the
/// latency in ms averaged over replications with its 95% interval.
#[derive(Debug, Clone)]
pub struct LatencyCdf {
    /// Service name.
    pub component: String,
    /// `latency` (end to end) or `ttft` (time to first token).
    pub metric: &'static str,
    /// (probability, latency estimate in ms), probabilities increasing.
    pub points: Vec<(f64, Estimate)>,
}

impl Report {
    /// The estimate of `metric` for `component`.
    pub fn get(&self, component: &str, metric: &str) -> Option<&Estimate> {
        self.rows
            .iter()
            .find(|r| r.component == component && r.metric == metric)
            .map(|r| &r.estimate)
    }

    /// The mean of `metric` for `component` (NaN when absent).
    pub fn mean(&self, component: &str, metric: &str) -> f64 {
        self.get(component, metric).map_or(f64::NAN, |e| e.mean)
    }

    /// How full `component`, a tier of an application, is: [`tier_utilization`] of its means.
    pub fn tier_utilization(&self, component: &str) -> f64 {
        tier_utilization(|m| self.mean(component, m))
    }
}

/// Combines replications, in replication order (so sums are the same at any thread count),
/// with the timeseries they kept in memory.
pub fn aggregate(plan: &Plan, reps: &[RepResult]) -> Report {
    let mut report = aggregate_summary(plan, reps);
    let row_len = timeseries::Layout::of(plan).row_len();
    let mut rows = Vec::new();
    // Reading from memory cannot fail, nor can pushing rows.
    let _ = timeseries::merge(
        row_len,
        reps.len() as u32,
        &mut |rep, first, count, buf| {
            timeseries::read_kept(&reps[rep as usize].timeseries, row_len, first, count, buf);
            Ok(())
        },
        &mut |sample, means| {
            timeseries::for_each_row(plan, sample, means, &mut |r| {
                rows.push((r.time_s, r.component.to_string(), r.metric, r.value));
                Ok(())
            })
        },
    );
    report.timeseries = rows;
    report
}

/// Combines replications, in replication order, leaving the timeseries out (empty).
pub fn aggregate_summary(plan: &Plan, reps: &[RepResult]) -> Report {
    let mut rows = Vec::new();
    if let Some(first) = reps.first() {
        for (i, (comp, metric, _)) in first.metrics.iter().enumerate() {
            let values: Vec<f64> = reps
                .iter()
                .filter_map(|r| r.metrics.get(i).map(|x| x.2))
                .collect();
            rows.push(Row {
                component: comp.clone(),
                metric,
                estimate: Estimate::from_values(&values),
            });
        }
    }
    // The end of each service's initial transient: MSER-5 on the mean number in the system
    // per report interval, averaged over the replications (averaging first takes the noise
    // out that misleads the heuristic on a single replication).
    for (si, sp) in plan.services.iter().enumerate() {
        let series: Vec<&Vec<f64>> = reps
            .iter()
            .filter_map(|r| r.in_system_means.get(si))
            .collect();
        let len = series.iter().map(|s| s.len()).max().unwrap_or(0);
        let mean: Vec<f64> = (0..len)
            .map(|k| {
                let v: Vec<f64> = series.iter().filter_map(|s| s.get(k)).copied().collect();
                v.iter().sum::<f64>() / v.len() as f64
            })
            .collect();
        let end = crate::stats::mser::mser5(&mean)
            .map_or(f64::NAN, |n| n as f64 * plan.report_interval.as_secs_f64());
        if let Some(row) = rows
            .iter_mut()
            .find(|r| r.component == sp.name && r.metric == "transient_end_s")
        {
            // One figure for all replications: no spread, no interval.
            row.estimate = Estimate {
                mean: end,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
                sd: f64::NAN,
                n: u32::from(end.is_finite()),
            };
        }
    }
    let mut saturated = Vec::new();
    for sp in &plan.services {
        let hits: Vec<(bool, f64)> = reps
            .iter()
            .flat_map(|r| r.saturated.iter())
            .filter(|(n, _, _)| *n == sp.name)
            .map(|x| (x.1, x.2))
            .collect();
        if !hits.is_empty() {
            saturated.push(Saturation {
                service: sp.name.clone(),
                replications: hits.len() as u32,
                stopped_early: hits.iter().filter(|h| h.0).count() as u32,
                growth_rps: hits.iter().map(|h| h.1).sum::<f64>() / hits.len() as f64,
            });
        }
    }
    // Quantiles averaged across replications at equal probability (a Vincentized CDF), so
    // the CI of each point is the usual one over independent replications.
    let mut latency_cdf = Vec::new();
    type Quantiles = fn(&RepResult) -> &Vec<Vec<f64>>;
    let kinds: [(&'static str, Quantiles); 2] = [
        ("latency", |r| &r.latency_quantiles),
        ("ttft", |r| &r.ttft_quantiles),
    ];
    for (metric, quantiles) in kinds {
        for (si, sp) in plan.services.iter().enumerate() {
            let points: Vec<(f64, Estimate)> = CDF_PROBABILITIES
                .iter()
                .enumerate()
                .map(|(k, &p)| {
                    let values: Vec<f64> = reps
                        .iter()
                        .filter_map(|r| quantiles(r).get(si).and_then(|q| q.get(k)))
                        .copied()
                        .filter(|v| v.is_finite())
                        .collect();
                    (p, Estimate::from_values(&values))
                })
                .collect();
            if points.iter().all(|(_, e)| e.mean.is_finite()) {
                latency_cdf.push(LatencyCdf {
                    component: sp.name.clone(),
                    metric,
                    points,
                });
            }
        }
    }
    Report {
        scenario: plan.name.clone(),
        rows,
        timeseries: Vec::new(),
        saturated,
        replications: reps.len() as u32,
        warmup_s: plan.warmup.as_secs_f64(),
        latency_cdf,
        jobs: reps
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.jobs.iter().map(move |j| (i as u32, j.clone())))
            .collect(),
    }
}
