//! What training leaves behind: per group of jobs (all of them, each workload, each
//! ClusterQueue, each size class) the counts, waits, completion times, GPU time held and
//! used, fragmentation and backlog; and one row of jobs.csv per job.

use super::plan::{SIZE_CLASSES, TrainingPlan, size_class};
use super::{Job, Phase};
use crate::cluster::{Cluster, PoolPlan};
use crate::engine::SimTime;
use crate::stats::TimeIntegral;

/// Metrics of the `training`, `training/<workload>`, `training/gpus_<class>` and
/// `queue/<name>` components.
pub const TRAINING_METRICS: &[&str] = &[
    "jobs_submitted",
    "jobs_completed",
    "jobs_running",
    "jobs_waiting",
    "wait_mean_s",
    "wait_p50_s",
    "wait_p95_s",
    "wait_p99_s",
    "jct_mean_s",
    "interruptions",
    "restarts",
    "goodput",
    "lost_gpu_hours",
    "gpu_allocation",
    "fragmentation",
    "saturated",
];

/// One row of jobs.csv (the replication is added when it is written).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// Workload name.
    pub workload: String,
    /// Job number within its replication, in submission order.
    pub job: u32,
    /// Its ClusterQueue (empty without one).
    pub queue: String,
    /// GPUs it asked for.
    pub gpus: u32,
    /// Submission, seconds.
    pub submit_s: f64,
    /// First placement of the whole gang (NaN: never).
    pub start_s: f64,
    /// Completion (NaN: not completed).
    pub end_s: f64,
    /// From submission to the first placement of the whole gang (NaN: still waiting).
    pub wait_s: f64,
    /// From the first placement to the completion, or to the end of the run.
    pub run_s: f64,
    /// Times its gang was recreated after an interruption.
    pub restarts: u32,
    /// Work lost to interruptions, seconds.
    pub lost_work_s: f64,
    /// `completed`, `running` or `waiting` at the end.
    pub state: &'static str,
}

/// Training's part of a replication's result.
#[derive(Debug, Clone, Default)]
pub struct TrainingResult {
    /// (component, metric, value), components in a fixed order.
    pub metrics: Vec<(String, &'static str, f64)>,
    /// Components whose backlog grew (saturated), with the growth in jobs per second.
    pub saturated: Vec<(String, f64)>,
    /// jobs.csv rows.
    pub jobs: Vec<JobRow>,
}

#[derive(Debug, Default)]
struct Group {
    name: String,
    submitted: u64,
    completed: u64,
    waits: Vec<f64>,
    jct_sum: f64,
    jct_n: u64,
    interruptions: u64,
    restarts: u64,
    /// GPUs held by the group's gangs.
    held: TimeIntegral,
    running: TimeIntegral,
    waiting: TimeIntegral,
    useful_gpu_s: f64,
    lost_gpu_s: f64,
    frag_free: f64,
    frag_cap: f64,
    cap_area: f64,
    marks: Vec<f64>,
}

/// The groups a job counts in, and the pools training uses.
#[derive(Debug)]
pub(super) struct Groups {
    groups: Vec<Group>,
    workloads: usize,
    queues: usize,
    /// Units per GPU of each pool (training pools are whole GPUs: 1).
    units_per_gpu: Vec<u32>,
    /// Pools some training workload uses.
    pools: Vec<usize>,
    last: SimTime,
    warm: bool,
}

impl Groups {
    pub(super) fn new(plan: &TrainingPlan, pools: &[PoolPlan]) -> Groups {
        let mut groups = vec![Group {
            name: "training".into(),
            ..Group::default()
        }];
        for w in &plan.workloads {
            groups.push(Group {
                name: format!("training/{}", w.name),
                ..Group::default()
            });
        }
        for q in &plan.queues {
            groups.push(Group {
                name: format!("queue/{}", q.name),
                ..Group::default()
            });
        }
        for (_, _, c) in SIZE_CLASSES {
            groups.push(Group {
                name: format!("training/gpus_{c}"),
                ..Group::default()
            });
        }
        let mut used: Vec<usize> = plan.workloads.iter().map(|w| w.pool).collect();
        used.sort_unstable();
        used.dedup();
        Groups {
            groups,
            workloads: plan.workloads.len(),
            queues: plan.queues.len(),
            units_per_gpu: pools.iter().map(|p| p.share.units_per_gpu).collect(),
            pools: used,
            last: SimTime::ZERO,
            warm: false,
        }
    }

    pub(super) fn units_per_gpu(&self, pool: usize) -> u32 {
        self.units_per_gpu[pool]
    }

    /// The groups of `job`: all, its workload, its queue, its size class.
    fn of(&self, job: &Job) -> [Option<usize>; 4] {
        [
            Some(0),
            Some(1 + job.workload as usize),
            job.queue.map(|q| 1 + self.workloads + q as usize),
            Some(1 + self.workloads + self.queues + size_class(job.gpus)),
        ]
    }

    fn each(&mut self, job: &Job, mut f: impl FnMut(&mut Group)) {
        for g in self.of(job).into_iter().flatten() {
            f(&mut self.groups[g]);
        }
    }

    /// Brings the fragmentation and capacity areas up to `now`.
    pub(super) fn account(&mut self, now: SimTime, cluster: &Cluster) {
        let dt = now.since(self.last).as_secs_f64();
        self.last = now;
        if !self.warm || dt == 0.0 {
            return;
        }
        let (free, cap) = self.free_and_capacity(cluster);
        for g in &mut self.groups {
            g.cap_area += cap * dt;
            if g.waiting.value() > 0 {
                g.frag_free += free * dt;
                g.frag_cap += cap * dt;
            }
        }
    }

    /// Free GPUs of the pools training uses, and all their GPUs, now.
    pub(super) fn free_and_capacity(&self, cluster: &Cluster) -> (f64, f64) {
        let (mut free, mut cap) = (0.0, 0.0);
        for &p in &self.pools {
            let pool = cluster.pool(p);
            let upg = f64::from(self.units_per_gpu[p]);
            free += pool.free_units_total() as f64 / upg;
            cap += pool.capacity() as f64 / upg;
        }
        (free, cap)
    }

    pub(super) fn warmup_end(&mut self, now: SimTime) {
        self.warm = true;
        self.last = now;
        for g in &mut self.groups {
            g.held.restart(now);
            g.running.restart(now);
            g.waiting.restart(now);
        }
    }

    pub(super) fn submitted(&mut self, now: SimTime, job: &Job, warmup: SimTime) {
        if now >= warmup {
            self.each(job, |g| g.submitted += 1);
        }
    }

    pub(super) fn started(&mut self, now: SimTime, job: &Job, warmup: SimTime) {
        if job.submit >= warmup {
            let w = now.since(job.submit).as_secs_f64();
            self.each(job, |g| g.waits.push(w));
        }
    }

    pub(super) fn completed(&mut self, now: SimTime, job: &Job, warmup: SimTime) {
        let jct = (job.submit >= warmup).then(|| now.since(job.submit).as_secs_f64());
        if now >= warmup {
            self.each(job, |g| {
                g.completed += 1;
                if let Some(x) = jct {
                    g.jct_sum += x;
                    g.jct_n += 1;
                }
            });
        }
    }

    /// The gang of `job` starts (`on`) or stops holding its GPUs.
    pub(super) fn allocate(&mut self, now: SimTime, job: &Job, on: bool) {
        let gpus = job.gang_gpus() as i64;
        let sign = if on { 1 } else { -1 };
        self.each(job, |g| {
            g.held.add(now, sign * gpus);
            g.running.add(now, sign);
        });
    }

    /// `job` worked from `from` to `to`.
    pub(super) fn worked(&mut self, job: &Job, from: SimTime, to: SimTime, warmup: SimTime) {
        let secs = to.since(from.max(warmup)).as_secs_f64();
        if secs > 0.0 {
            let gpu_s = secs * f64::from(job.gpus);
            self.each(job, |g| g.useful_gpu_s += gpu_s);
        }
    }

    /// `job` was interrupted at `now`, losing `lost` of work.
    pub(super) fn interrupted(&mut self, now: SimTime, job: &Job, lost: SimTime, warmup: SimTime) {
        if now >= warmup {
            let gpu_s = lost.as_secs_f64() * f64::from(job.gpus);
            self.each(job, |g| {
                g.interruptions += 1;
                g.lost_gpu_s += gpu_s;
                g.useful_gpu_s -= gpu_s;
            });
        }
    }

    pub(super) fn requeued(&mut self, now: SimTime, job: &Job, warmup: SimTime) {
        if now >= warmup {
            self.each(job, |g| g.restarts += 1);
        }
    }

    /// `job` starts (+1) or stops (-1) waiting for its gang to be placed.
    pub(super) fn waiting(&mut self, now: SimTime, job: &Job, delta: i64) {
        self.each(job, |g| g.waiting.add(now, delta));
    }

    /// Jobs waiting for their gang to be placed now.
    pub(super) fn waiting_now(&self) -> i64 {
        self.groups[0].waiting.value()
    }

    /// GPUs held by training gangs now.
    pub(super) fn gpus_held(&self) -> i64 {
        self.groups[0].held.value()
    }

    pub(super) fn mark_backlog(&mut self, now: SimTime) {
        for g in &mut self.groups {
            let area = g.waiting.area_secs(now);
            g.marks.push(area);
        }
    }

    pub(super) fn result(
        mut self,
        plan: &TrainingPlan,
        jobs: &[Job],
        end: SimTime,
        warmup: SimTime,
        backlog: &dyn Fn(&[f64]) -> Option<f64>,
    ) -> TrainingResult {
        let window = end.since(warmup).as_secs_f64();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let mut out = TrainingResult::default();
        for g in &mut self.groups {
            g.waits.sort_by(f64::total_cmp);
            let q = |p: f64| quantile(&g.waits, p);
            let mean = |v: &[f64]| {
                if v.is_empty() {
                    f64::NAN
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            let held = g.held.area_secs(end);
            let growth = backlog(&g.marks);
            if let Some(r) = growth {
                out.saturated.push((g.name.clone(), r));
            }
            let values = [
                g.submitted as f64,
                g.completed as f64,
                ratio(g.running.area_secs(end), window),
                ratio(g.waiting.area_secs(end), window),
                mean(&g.waits),
                q(0.50),
                q(0.95),
                q(0.99),
                ratio(g.jct_sum, g.jct_n as f64),
                g.interruptions as f64,
                g.restarts as f64,
                ratio(g.useful_gpu_s, held),
                g.lost_gpu_s / 3600.0,
                ratio(held, g.cap_area),
                ratio(g.frag_free, g.frag_cap),
                if growth.is_some() { 1.0 } else { 0.0 },
            ];
            for (&m, v) in TRAINING_METRICS.iter().zip(values) {
                out.metrics.push((g.name.clone(), m, v));
            }
        }
        let secs = |t: Option<SimTime>| t.map_or(f64::NAN, SimTime::as_secs_f64);
        out.jobs = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let w = &plan.workloads[j.workload as usize];
                JobRow {
                    workload: w.name.clone(),
                    job: i as u32,
                    queue: j
                        .queue
                        .map_or(String::new(), |q| plan.queues[q as usize].name.clone()),
                    gpus: j.gpus,
                    submit_s: j.submit.as_secs_f64(),
                    start_s: secs(j.first_start),
                    end_s: secs(j.end),
                    wait_s: j
                        .first_start
                        .map_or(f64::NAN, |s| s.since(j.submit).as_secs_f64()),
                    run_s: j
                        .first_start
                        .map_or(0.0, |s| j.end.unwrap_or(end).since(s).as_secs_f64()),
                    restarts: j.restarts,
                    lost_work_s: j.lost_work.as_secs_f64(),
                    state: match j.phase {
                        Phase::Done => "completed",
                        p if p.waiting() && j.first_start.is_none() => "waiting",
                        _ => "running",
                    },
                }
            })
            .collect();
        out
    }
}

/// The `p` quantile of sorted values (the smallest value with at least p of them at or
/// below it); NaN when empty.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}
