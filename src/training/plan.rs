//! The training part of a plan: the scheduler, Kueue's ClusterQueues and the job streams.

use crate::cluster::Placement;
use crate::engine::SimTime;
use crate::workload::Sampler;
use std::sync::Arc;

/// Which scheduler places gangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// Kueue: quota admission per ClusterQueue, then the gang is placed all or nothing.
    Kueue,
    /// The Coscheduling plugin: members reserve room one by one and wait in Permit until
    /// all are placed, or the permit timeout releases them all.
    Coscheduling,
    /// The default scheduler: each pod on its own; a half-placed gang holds its room.
    Greedy,
}

impl Scheduler {
    /// The name a scenario writes.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Kueue => "kueue",
            Scheduler::Coscheduling => "coscheduling",
            Scheduler::Greedy => "greedy",
        }
    }
}

/// A Kueue ClusterQueue.
#[derive(Debug, Clone)]
pub struct QueuePlan {
    /// Name (`queue/<name>` in the results).
    pub name: String,
    /// Index of its cohort in [`TrainingPlan::cohorts`].
    pub cohort: Option<usize>,
    /// GPUs it is guaranteed.
    pub nominal: u64,
    /// Most GPUs it may use beyond `nominal`, borrowed from its cohort (None: no limit).
    pub borrowing_limit: Option<u64>,
    /// StrictFIFO: the head blocks the queue.
    pub strict: bool,
}

/// One job of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceJob {
    /// When it is submitted.
    pub submit: SimTime,
    /// GPUs it needs.
    pub gpus: u32,
    /// Its failure-free run time.
    pub work: SimTime,
    /// Its ClusterQueue, when the row names one.
    pub queue: Option<usize>,
    /// Its priority, when the row gives one.
    pub priority: Option<i32>,
}

/// How a workload's jobs arrive.
#[derive(Debug, Clone)]
pub enum JobArrivals {
    /// Poisson, with this mean gap in seconds.
    Poisson {
        /// Mean seconds between submissions.
        mean_gap: f64,
    },
    /// The rows of a trace, in submission order.
    Trace(Arc<[TraceJob]>),
}

/// Checkpoints of a workload's jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckpointPlan {
    /// Work between checkpoints; None: Young/Daly's optimum for each job's failure rate.
    pub interval: Option<SimTime>,
    /// Pause of progress while one is written.
    pub cost: SimTime,
}

/// One stream of jobs.
#[derive(Debug, Clone)]
pub struct JobWorkloadPlan {
    /// Name.
    pub name: String,
    /// Its ClusterQueue (Kueue).
    pub queue: Option<usize>,
    /// Its node pool.
    pub pool: usize,
    /// GPUs per node of the pool (a job of more is whole nodes, one pod per node).
    pub gpus_per_node: u32,
    /// The pool's mean time between failures of one node, seconds (None: no random
    /// failures), for `interval: optimal`.
    pub node_mtbf: Option<f64>,
    /// Arrivals.
    pub arrivals: JobArrivals,
    /// GPUs per job (Poisson streams).
    pub gpus: Option<Sampler>,
    /// Work per job (Poisson streams).
    pub work: Option<Sampler>,
    /// Priority of its pods.
    pub priority: i32,
    /// Checkpoints (None: an interruption loses all work).
    pub checkpoint: Option<CheckpointPlan>,
    /// From the gang placed again after an interruption to work resuming.
    pub restart: SimTime,
    /// From a node failure to the job noticing.
    pub detection: SimTime,
    /// Objectives for `capsim search`: (metric of `training/<name>`, bound in seconds).
    pub slo: Vec<(&'static str, f64)>,
}

/// Everything about training in a plan.
#[derive(Debug, Clone)]
pub struct TrainingPlan {
    /// The scheduler.
    pub scheduler: Scheduler,
    /// Coscheduling's permit timeout.
    pub permit_timeout: SimTime,
    /// Kueue's waitForPodsReady timeout (None: off).
    pub pods_ready_timeout: Option<SimTime>,
    /// Where pods go.
    pub placement: Placement,
    /// Whether whole gangs of lower priority are preempted.
    pub preemption: bool,
    /// ClusterQueues.
    pub queues: Vec<QueuePlan>,
    /// Cohort names.
    pub cohorts: Vec<String>,
    /// Job streams.
    pub workloads: Vec<JobWorkloadPlan>,
}

/// Jobs are grouped by GPUs in these classes for the wait figures: 1, 2-8, 9-64, 65-512,
/// more than 512.
pub const SIZE_CLASSES: [(u32, u32, &str); 5] = [
    (1, 1, "1"),
    (2, 8, "2-8"),
    (9, 64, "9-64"),
    (65, 512, "65-512"),
    (513, u32::MAX, "513+"),
];

/// The size class of a job of `gpus` GPUs.
pub fn size_class(gpus: u32) -> usize {
    SIZE_CLASSES
        .iter()
        .position(|&(lo, hi, _)| (lo..=hi).contains(&gpus))
        .unwrap_or(0)
}
