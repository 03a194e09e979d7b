//! The serde types of a scenario file, field for field as SPEC.md names them.

use crate::engine::SimTime;
use crate::hardware::Bandwidth;
use crate::hardware::{GpuSharing, GpuSpec};
use crate::models::batch::BatchLatencySpec;
use crate::models::llm::{EnginePreset, LlmSpec};
use crate::units::{Bytes, Duration};
use crate::workload::{ArrivalSpec, Count, Dist, Secs};
use serde::Deserialize;

/// A whole scenario: what to simulate, for how long, and what to report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Names the results folder and the first column of summary.csv.
    pub name: String,
    /// Master seed; every random stream derives from it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time of one replication.
    pub duration: Duration,
    /// Initial period excluded from the statistics.
    #[serde(default)]
    pub warmup: Duration,
    /// Independent replications; results carry Student-t 95% confidence intervals.
    #[serde(default = "default_replications")]
    pub replications: u64,
    /// Sampling period of timeseries.csv.
    #[serde(default = "default_report_interval")]
    pub report_interval: Duration,
    /// User-defined GPU profiles.
    #[serde(default)]
    pub gpus: Vec<GpuSpec>,
    /// User-defined models.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// Node pools: N nodes of G GPUs each.
    #[serde(default)]
    pub node_pools: Vec<NodePoolSpec>,
    /// Cluster-wide settings: the node lifecycle controller's timing.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Inference services.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// Kueue ClusterQueues: GPU quota that training workloads name.
    #[serde(default)]
    pub queues: Vec<QueueSpec>,
    /// Training jobs, gang-scheduled.
    #[serde(default)]
    pub training: Option<TrainingSpec>,
    /// The control plane (API servers, etcd, heartbeats, other clients); absent, it is not
    /// modelled.
    #[serde(default, deserialize_with = "super::control_plane::present")]
    pub control_plane: Option<super::control_plane::ControlPlaneSpec>,
    /// Load offered to the services.
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    /// CI gates on the summary, e.g. `chat.latency_p99_ms <= 500`.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Guards against runaway runs.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// The grid `capsim sweep` runs; `capsim run` ignores it.
    #[serde(default)]
    pub sweep: Option<super::sweep::SweepSpec>,
}

fn default_seed() -> u64 {
    1
}
fn default_replications() -> u64 {
    5
}
fn default_report_interval() -> Duration {
    Duration(SimTime::from_secs(10))
}

/// Bounds that keep a run finite when the system cannot keep up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// A service whose waiting requests exceed this is declared saturated and its
    /// replication stops early (memory stays bounded).
    #[serde(default = "default_max_queue")]
    pub max_queue: u64,
    /// Events one replication may process: a scenario whose estimate is larger is refused,
    /// and a replication that processes more is stopped (exit 2), so that every run ends.
    #[serde(default = "default_max_events")]
    pub max_events: u64,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            max_queue: default_max_queue(),
            max_events: default_max_events(),
        }
    }
}

fn default_max_events() -> u64 {
    limits::DEFAULT_MAX_EVENTS
}

fn default_max_queue() -> u64 {
    100_000
}

/// A model a service runs: a generic service-time distribution, a batch-latency curve
/// (ResNet-style networks) or an LLM architecture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Referenced by `services[].model`.
    pub name: String,
    /// Generic model: the time one request occupies one execution slot, on a whole GPU.
    #[serde(default)]
    pub service_time: Option<Dist<Secs>>,
    /// Batch-latency model: a(b), the latency of a batch of b.
    #[serde(default)]
    pub batch_latency: Option<BatchLatencySpec>,
    /// LLM: its architecture, from a built-in (`based_on`) or in full.
    #[serde(default)]
    pub llm: Option<LlmSpec>,
}

/// A pool of identical nodes: GPU nodes (`gpu`) or CPU-only nodes (`cpus_per_node`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolSpec {
    /// Referenced by `services[].node_pool`.
    pub name: String,
    /// A built-in GPU profile or one from `gpus:`; absent on a CPU pool.
    #[serde(default)]
    pub gpu: Option<String>,
    /// GPUs in each node (default 8 on a GPU pool; a CPU pool has none).
    #[serde(default)]
    pub gpus_per_node: Option<u64>,
    /// CPUs in each node of a CPU pool: a number (`32`, `0.5`) or a Kubernetes quantity
    /// (`"500m"`).
    #[serde(default)]
    pub cpus_per_node: Option<crate::control::hpa::Quantity>,
    /// Memory of each node (`128GiB`); pods' `memory_per_replica` must fit it.
    #[serde(default)]
    pub memory_per_node: Option<Bytes>,
    /// Price of one node for one hour, for cost figures (besides `price_per_gpu_hour`).
    #[serde(default)]
    pub price_per_node_hour: f64,
    /// Nodes in the pool.
    pub nodes: u64,
    /// How a GPU is split between pods.
    #[serde(default)]
    pub gpu_sharing: GpuSharing,
    /// Price of one whole GPU for one hour, for cost figures.
    #[serde(default)]
    pub price_per_gpu_hour: f64,
    /// Cluster autoscaler: fewest nodes (default `nodes`).
    #[serde(default)]
    pub min_nodes: Option<u64>,
    /// Cluster autoscaler: most nodes (default `nodes`: no autoscaling).
    #[serde(default)]
    pub max_nodes: Option<u64>,
    /// Cluster autoscaler: from the scale-up decision to a Ready node.
    #[serde(default)]
    pub provision_time: Duration,
    /// Cluster autoscaler: how long a node must be unneeded before it is removed
    /// (`--scale-down-unneeded-time`, default 10m).
    #[serde(default)]
    pub scale_down_unneeded_time: Option<Duration>,
    /// How fast a node pulls container images, for services that give `image_size`.
    #[serde(default)]
    pub image_pull_bandwidth: Option<Bandwidth>,
    /// Low-priority placeholder pods that hold warm headroom for the cluster autoscaler.
    #[serde(default)]
    pub balloons: Option<BalloonSpec>,
    /// How the pool's nodes fail.
    #[serde(default)]
    pub failures: Option<FailureSpec>,
    /// Nodes per rack and per network island, for topology-aware placement.
    #[serde(default)]
    pub topology: Option<TopologySpec>,
}

/// The network's shape: consecutive nodes form racks, consecutive racks islands.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Nodes per rack.
    pub rack: u64,
    /// Nodes per island (a multiple of `rack`; default: the whole pool is one island).
    #[serde(default)]
    pub island: Option<u64>,
}

/// A Kueue ClusterQueue with a GPU quota.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Referenced by `training.workloads[].queue`.
    pub name: String,
    /// Queues of one cohort lend each other unused quota.
    #[serde(default)]
    pub cohort: Option<String>,
    /// GPUs the queue is guaranteed.
    pub nominal_quota: u64,
    /// Most GPUs it may borrow from its cohort beyond its nominal quota (default: no limit).
    #[serde(default)]
    pub borrowing_limit: Option<u64>,
    /// `best_effort_fifo` (default: a head that does not fit is passed over) or
    /// `strict_fifo` (the head blocks the queue).
    #[serde(default)]
    pub queueing_strategy: QueueingStrategy,
}

/// How a ClusterQueue treats a head that does not fit (Kueue's `queueingStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueingStrategy {
    /// Kueue's BestEffortFIFO (its default): a head that does not fit is set aside and the
    /// next is tried.
    #[default]
    BestEffortFifo,
    /// Kueue's StrictFIFO: the head blocks everything behind it.
    StrictFifo,
}

/// Which scheduler places training gangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// Kueue: quota admission per ClusterQueue, then all-or-nothing placement.
    Kueue,
    /// The Coscheduling plugin: PodGroups, Permit with a timeout, no quota.
    Coscheduling,
    /// The default kube-scheduler: each pod on its own (gangs may deadlock).
    Greedy,
}

/// Where a gang's pods go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementSpec {
    /// The fullest node that fits (NodeResourcesFit MostAllocated).
    #[default]
    Pack,
    /// The emptiest node that fits (LeastAllocated).
    Spread,
    /// Multi-node gangs on the fewest racks, within the fewest islands.
    Topology,
}

/// Whether higher-priority gangs preempt lower-priority ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreemptionSpec {
    /// Whole gangs of lower priority are preempted for a higher-priority one.
    #[default]
    LowerPriority,
    /// Nothing is preempted.
    Never,
}

/// Gang-scheduled training jobs: the scheduler and the workloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// The scheduler (default `kueue` when the scenario has `queues:`, else
    /// `coscheduling`).
    #[serde(default)]
    pub scheduler: Option<SchedulerKind>,
    /// Coscheduling's `permitWaitingTimeSeconds` (default 60s).
    #[serde(default)]
    pub permit_timeout: Option<Duration>,
    /// Kueue's `waitForPodsReady.timeout`: an admitted gang not placed whole within it is
    /// evicted and requeued with backoff (default 30m, Kueue's config v1beta2 default;
    /// `0s` turns it off).
    #[serde(default)]
    pub wait_for_pods_ready: Option<Duration>,
    /// Where pods go.
    #[serde(default)]
    pub placement: PlacementSpec,
    /// Whether gangs are preempted for higher-priority ones.
    #[serde(default)]
    pub preemption: PreemptionSpec,
    /// The job streams.
    pub workloads: Vec<TrainingWorkloadSpec>,
}

/// One stream of training jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingWorkloadSpec {
    /// Names the workload's component (`training/<name>`) and its rows of jobs.csv.
    pub name: String,
    /// The ClusterQueue its jobs are submitted to (Kueue).
    #[serde(default)]
    pub queue: Option<String>,
    /// The node pool its gangs run on.
    pub node_pool: String,
    /// `{poisson: {rate: 3/h}}` or `{trace: {file: jobs.csv}}`.
    pub arrivals: JobArrivalSpec,
    /// GPUs per job (default 1; a trace gives its own).
    #[serde(default)]
    pub gpus: Option<Dist<Count>>,
    /// Failure-free run time, the work (a trace gives its own).
    #[serde(default)]
    pub duration: Option<Dist<Secs>>,
    /// Priority of its pods (a trace row may give its own).
    #[serde(default)]
    pub priority: i64,
    /// Checkpoints: none by default (an interruption loses all work).
    #[serde(default)]
    pub checkpoint: Option<CheckpointSpec>,
    /// From a gang placed again after an interruption to work resuming (default 0s).
    #[serde(default)]
    pub restart_time: Duration,
    /// From a node failure to the job noticing it (default 0s).
    #[serde(default)]
    pub failure_detection: Duration,
    /// Objectives on the workload's waits, for `capsim search`.
    #[serde(default)]
    pub slo: Option<TrainingSloSpec>,
}

/// Objectives on a training workload's waits and completion times.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSloSpec {
    /// Mean wait.
    #[serde(default)]
    pub wait_mean: Option<Duration>,
    /// Median wait.
    #[serde(default)]
    pub wait_p50: Option<Duration>,
    /// 95th percentile of the wait.
    #[serde(default)]
    pub wait_p95: Option<Duration>,
    /// 99th percentile of the wait.
    #[serde(default)]
    pub wait_p99: Option<Duration>,
    /// Mean job completion time.
    #[serde(default)]
    pub jct_mean: Option<Duration>,
}

/// How training jobs arrive.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JobArrivalSpec {
    /// A Poisson stream.
    Poisson {
        /// Jobs per unit time.
        rate: crate::units::Rate,
    },
    /// Replay of a CSV with columns `submit_time_s, gpus, duration_s` and optional `queue`,
    /// `priority`.
    Trace {
        /// The CSV file, relative to the scenario's folder.
        file: String,
    },
}

/// Periodic checkpoints of a job's progress.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Work between checkpoints, or `optimal` for Young/Daly's interval at the job's
    /// failure rate.
    pub interval: CheckpointInterval,
    /// Pause of progress while a checkpoint is written.
    pub cost: Duration,
}

/// A checkpoint interval: a duration or `optimal`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckpointInterval {
    /// Every this much work.
    Every(SimTime),
    /// Daly's (2006) optimum for the job's failure rate.
    Optimal,
}

impl<'de> Deserialize<'de> for CheckpointInterval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() == "optimal" {
            return Ok(CheckpointInterval::Optimal);
        }
        crate::units::parse_duration(&text)
            .map(CheckpointInterval::Every)
            .map_err(|e| {
                serde::de::Error::custom(format!("{e}; or `optimal` for Young/Daly's interval"))
            })
    }
}

/// Node failures of a pool: random (`mtbf`) and scheduled (`at`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureSpec {
    /// Mean up time of one node: exponential, drawn anew each time it (re)joins; omit for
    /// no random failures.
    #[serde(default)]
    pub mtbf: Option<Duration>,
    /// From a failure to the node rejoining empty (default 4h): a duration, or a
    /// distribution drawn at each failure.
    #[serde(default)]
    pub repair_time: Option<crate::workload::Delay>,
    /// Scheduled failures, for what-if runs.
    #[serde(default)]
    pub at: Vec<ScheduledFailureSpec>,
}

/// One scheduled failure: node `node` of the pool (0 is the first) fails at `time`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFailureSpec {
    /// Index of the node in its pool (nodes the cluster autoscaler adds come after the
    /// initial ones).
    pub node: u64,
    /// When it fails.
    pub time: Duration,
}

/// The node lifecycle controller of kube-controller-manager, with its flags' defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// A node silent for longer than this is marked NotReady (default 50s).
    #[serde(default)]
    pub node_monitor_grace_period: Option<Duration>,
    /// How often the controller looks at the nodes (default 5s).
    #[serde(default)]
    pub node_monitor_period: Option<Duration>,
    /// From NotReady to the eviction of the node's pods (default 300s).
    #[serde(default)]
    pub pod_eviction_timeout: Option<Duration>,
}

/// Balloon (placeholder) pods: low-priority pods that reserve capacity, are preempted by any
/// real pod that needs their room, and then wait Pending, which makes the cluster autoscaler
/// add a node for them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalloonSpec {
    /// Number of balloon pods.
    pub pods: u64,
    /// Units (GPUs or shares) each balloon pod requests.
    #[serde(default = "one")]
    pub gpus_per_pod: u64,
}

/// GPUs per node of a GPU pool that does not give `gpus_per_node`.
pub const DEFAULT_GPUS_PER_NODE: u64 = 8;

pub use crate::serving::Routing;

/// Batching policy of a replica.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BatchingSpec {
    /// One request at a time per execution slot.
    #[default]
    None,
    /// Triton-style dynamic batching.
    Dynamic(DynamicBatching),
    /// Iteration-level (vLLM-style) batching for LLMs.
    Continuous(ContinuousBatching),
}

/// Triton-style dynamic batching: a batch starts when it is full or when its oldest request
/// has waited `max_delay`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicBatching {
    /// Largest batch.
    pub max_batch: u64,
    /// Longest time the oldest queued request waits for the batch to fill.
    #[serde(default)]
    pub max_delay: Duration,
}

/// Continuous batching parameters (LLM serving), named after vLLM's engine arguments.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuousBatching {
    /// Token budget of one iteration (vLLM `max_num_batched_tokens`; the default depends on the
    /// engine and the GPU, see [`EnginePreset::batch_defaults`]).
    #[serde(default)]
    pub max_batch_tokens: Option<u64>,
    /// Largest number of running sequences (default from the engine and the GPU).
    #[serde(default)]
    pub max_num_seqs: Option<u64>,
    /// The scheduler and host costs (`vllm-v1`, the default, `vllm-v0` or `vllm-v0-0.5`).
    #[serde(default)]
    pub engine: EnginePreset,
    /// Split prompts over iterations and mix them with decodes (always with `vllm-v1`; default
    /// false with the V0 engines).
    #[serde(default)]
    pub chunked_prefill: Option<bool>,
    /// Share of GPU memory for weights, activations and KV cache (default 0.9).
    #[serde(default)]
    pub gpu_memory_utilization: Option<f64>,
    /// Tokens per KV cache block (default 16).
    #[serde(default)]
    pub block_size: Option<u64>,
    /// Type of the KV cache (vLLM `--kv-cache-dtype`): `auto` (the model's 16-bit activation
    /// type, the default) or `fp8`.
    #[serde(default)]
    pub kv_cache_dtype: KvCacheDtype,
    /// Longest sequence, prompt plus output (vLLM `max_model_len`; default the model's).
    #[serde(default)]
    pub max_model_len: Option<u64>,
    /// Fixed host cost of one iteration (scheduling, launches, sampling).
    #[serde(default)]
    pub iteration_overhead: Option<Duration>,
    /// Host cost per sequence in an iteration (input preparation, detokenization).
    #[serde(default)]
    pub sequence_overhead: Option<Duration>,
    /// Latency the API server adds to every request (HTTP, tokenization), outside the GPU.
    #[serde(default)]
    pub request_overhead: Option<Duration>,
}

/// The KV cache's element type, as vLLM's `--kv-cache-dtype` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvCacheDtype {
    /// The model's 16-bit activation type: 2 bytes an element.
    #[default]
    Auto,
    /// FP8 (E4M3): 1 byte an element.
    Fp8,
}

impl KvCacheDtype {
    /// Bytes per cached element.
    pub fn bytes(self) -> f64 {
        match self {
            KvCacheDtype::Auto => 2.0,
            KvCacheDtype::Fp8 => 1.0,
        }
    }
}

/// Service-level objective: per-request latency bounds named after the metric they bound.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Bound on mean latency.
    #[serde(default)]
    pub latency_mean: Option<Duration>,
    /// Bound on p50 latency.
    #[serde(default)]
    pub latency_p50: Option<Duration>,
    /// Bound on p90 latency.
    #[serde(default)]
    pub latency_p90: Option<Duration>,
    /// Bound on p95 latency.
    #[serde(default)]
    pub latency_p95: Option<Duration>,
    /// Bound on p99 latency.
    #[serde(default)]
    pub latency_p99: Option<Duration>,
    /// Bound on p99 queueing wait.
    #[serde(default)]
    pub wait_p99: Option<Duration>,
    /// Bound on p95 time to first token (LLM services).
    #[serde(default)]
    pub ttft_p95: Option<Duration>,
    /// Bound on p95 time per output token (LLM services).
    #[serde(default)]
    pub tpot_p95: Option<Duration>,
}

/// An inference service: replicas of one model on one node pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Referenced by `workloads[].service` and in results.
    pub name: String,
    /// A built-in model profile or one from `models:`.
    pub model: String,
    /// The pool its pods run on.
    pub node_pool: String,
    /// Priority of its pods (a PriorityClass value, default 0): a pod that fits nowhere
    /// preempts training gangs of lower priority, whole.
    #[serde(default)]
    pub priority: i64,
    /// GPUs (or GPU shares, with MIG / time slicing) each replica needs on one node (default
    /// 1 on a GPU pool, 0 on a CPU pool). Signed, so that `-1` is refused with the range the
    /// pool allows rather than a machine type's.
    #[serde(default)]
    pub gpus_per_replica: Option<i64>,
    /// CPUs each replica requests (`2`, `0.5`, `"500m"`): on a CPU pool what the pod needs of
    /// a node (default: `cpu_request`, else 1); the pod's CPU use is its busy share of slots
    /// times this.
    #[serde(default)]
    pub cpus_per_replica: Option<crate::control::hpa::Quantity>,
    /// Memory each replica requests (`4GiB`); it must fit the pool's `memory_per_node`.
    #[serde(default)]
    pub memory_per_replica: Option<Bytes>,
    /// `deployment` (default) or `statefulset` (fixed replicas with ordinals, no autoscaler).
    #[serde(default)]
    pub kind: ServiceKind,
    /// What one request does downstream after its own work, in order.
    #[serde(default)]
    pub calls: Vec<CallSpec>,
    /// Replicas (pods).
    #[serde(default = "one")]
    pub replicas: u64,
    /// Fixed start-up time after scheduling (image pull plus model load, when they are not
    /// given apart), added to the times below.
    #[serde(default)]
    pub startup_time: Duration,
    /// Size of the container image: pulled at the pool's `image_pull_bandwidth` the first time
    /// a node runs the service; cached on the node after.
    #[serde(default)]
    pub image_size: Option<Bytes>,
    /// Time to pull the image on a node that does not have it (instead of `image_size`).
    #[serde(default)]
    pub image_pull_time: Option<Duration>,
    /// Time to load the model after the image is there.
    #[serde(default)]
    pub model_load_time: Duration,
    /// Readiness-probe delay after the model is loaded, before the pod is Ready.
    #[serde(default)]
    pub readiness_delay: Duration,
    /// How long a pod being removed may finish its in-flight requests
    /// (`terminationGracePeriodSeconds`, default 30s).
    #[serde(default)]
    pub termination_grace_period: Option<Duration>,
    /// CPU request of a pod, in Kubernetes quantity form (`1000m`, `2`; default `1`), for
    /// the HPA's CPU metric.
    #[serde(default)]
    pub cpu_request: Option<crate::control::hpa::Quantity>,
    /// An autoscaler of the replica count: `kind: hpa` (an autoscaling/v2 HPA spec with its
    /// upstream field names), `kind: kpa` (Knative) or `kind: keda`. Read in two steps (the
    /// kind first, then the kind's own fields) by `scenario::validate`.
    #[serde(default)]
    pub autoscaler: Option<serde::de::IgnoredAny>,

    /// Request routing over replicas.
    #[serde(default)]
    pub routing: Routing,
    /// Batching policy (default: continuous for LLMs, none for other models).
    #[serde(default)]
    pub batching: Option<BatchingSpec>,
    /// Requests (or batches) a replica runs at once: Triton's instance count, a web
    /// server's worker count.
    #[serde(default = "one")]
    pub concurrency: u64,
    /// Longest queue a replica (or the shared queue) holds; arrivals beyond are dropped.
    #[serde(default)]
    pub queue_capacity: Option<u64>,
    /// Latency objective, for `slo_attainment`.
    #[serde(default)]
    pub slo: Option<SloSpec>,
}

fn one() -> u64 {
    1
}

/// The Kubernetes workload object behind a service's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A Deployment: interchangeable replicas, scaled by an autoscaler if it has one.
    #[default]
    Deployment,
    /// A StatefulSet: fixed replicas with ordinals 0..n (e.g. a database and its read
    /// replicas).
    Statefulset,
}

pub use crate::serving::plan::CallMode;

/// Where the calls of one entry go, instead of the callee's own routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallRouting {
    /// To the callee's ordinal 0 (a StatefulSet's primary, e.g. for writes).
    Primary,
}

/// One entry of a service's `calls:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// The called service.
    pub service: String,
    /// Calls per request: `{fixed: 3}` or a distribution (rounded to a whole number per
    /// request). Default: one, unless `probability` is given.
    #[serde(default)]
    pub count: Option<Dist<Count>>,
    /// One call with this probability, else none (instead of `count`).
    #[serde(default)]
    pub probability: Option<f64>,
    /// `blocking` (default: the caller's slot waits for the answer) or `async`.
    #[serde(default)]
    pub mode: CallMode,
    /// Work the caller does after each answer.
    #[serde(default)]
    pub then: Option<ThenSpec>,
    /// Connections each caller replica has to the callee; calls wait for a free one
    /// (default: unlimited).
    #[serde(default)]
    pub max_connections: Option<u64>,
    /// `primary`: every call of this entry goes to the callee's ordinal 0.
    #[serde(default)]
    pub routing: Option<CallRouting>,
}

/// The caller's work after a call's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThenSpec {
    /// Time on one slot of the caller, per answer.
    pub service_time: Dist<Secs>,
}

/// Which autoscaler a service has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoscalerKind {
    /// Kubernetes' HorizontalPodAutoscaler.
    Hpa,
    /// Knative's Pod Autoscaler.
    Kpa,
    /// KEDA (an HPA on external metrics, plus scale to and from zero).
    Keda,
}

/// The fields of an `autoscaler:` block besides the kind's own: the kind, the
/// kube-controller-manager flags of the HPA, and the metrics pipelines.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoscalerCommon {
    /// `hpa`, `kpa` or `keda`.
    pub kind: AutoscalerKind,
    /// `--horizontal-pod-autoscaler-sync-period` (default 15s).
    #[serde(default)]
    pub sync_period: Option<Duration>,
    /// `--horizontal-pod-autoscaler-tolerance` (default 0.1).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (default 5m).
    #[serde(default)]
    pub cpu_initialization_period: Option<Duration>,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (default 30s).
    #[serde(default)]
    pub initial_readiness_delay: Option<Duration>,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (default 5m), used without
    /// `behavior`.
    #[serde(default)]
    pub downscale_stabilization: Option<Duration>,
    /// metrics-server's `--metric-resolution` (default 15s): how often resource metrics
    /// (CPU) are scraped, and the window they average over.
    #[serde(default)]
    pub metrics_server_resolution: Option<Duration>,
    /// Prometheus' scrape interval for the custom and external metrics (default 30s).
    #[serde(default)]
    pub prometheus_scrape_interval: Option<Duration>,
    /// The Prometheus adapter's averaging window (`rate(...[1m])`, default 1m).
    #[serde(default)]
    pub prometheus_window: Option<Duration>,
}

/// The keys of [`AutoscalerCommon`], to split an `autoscaler:` block.
pub const AUTOSCALER_COMMON_KEYS: &[&str] = &[
    "kind",
    "syncPeriod",
    "tolerance",
    "cpuInitializationPeriod",
    "initialReadinessDelay",
    "downscaleStabilization",
    "metricsServerResolution",
    "prometheusScrapeInterval",
    "prometheusWindow",
];

/// Load offered to one service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The service that receives it.
    pub service: String,
    /// The arrival process.
    pub arrivals: ArrivalSpec,
    /// Prompt length in tokens (LLM services).
    #[serde(default)]
    pub prompt_tokens: Option<Dist<Count>>,
    /// Output length in tokens (LLM services).
    #[serde(default)]
    pub output_tokens: Option<Dist<Count>>,
}

/// Limits on sizes, named in error messages: beyond them a scenario is surely a typo.
/// (Counts are read as u64 so that a value like `1e12` meets these limits, with their names,
/// rather than the range of a machine integer.)
pub mod limits {
    /// Nodes in one pool.
    pub const MAX_NODES: u64 = 100_000;
    /// GPUs in one node.
    pub const MAX_GPUS_PER_NODE: u64 = 64;
    /// Replicas of one service.
    pub const MAX_REPLICAS: u64 = crate::cluster::MAX_REPLICAS as u64;
    /// Execution slots of one replica.
    pub const MAX_CONCURRENCY: u64 = 4096;
    /// Execution slots (replicas x concurrency) of one service: each holds memory.
    pub const MAX_SLOTS: u64 = 1_000_000;
    /// Largest dynamic batch.
    pub const MAX_BATCH: u64 = 65_536;
    /// Largest `max_num_seqs` of continuous batching.
    pub const MAX_NUM_SEQS: u64 = 65_536;
    /// Largest token budget of one LLM iteration.
    pub const MAX_BATCH_TOKENS: u64 = 1 << 20;
    /// Longest LLM sequence.
    pub const MAX_MODEL_LEN: u64 = 1 << 21;
    /// Replications of one run.
    pub const MAX_REPLICATIONS: u64 = 10_000;
    /// Expected arrivals in one replication: beyond this a run would take hours.
    pub const MAX_EXPECTED_ARRIVALS: f64 = 1e10;
    /// Timeseries samples in one replication.
    pub const MAX_SAMPLES: u64 = 1_000_000;
    /// Timeseries values of one run, over its replications: samples x values per sample
    /// (12 per service, 5 for the cluster, 4 for training, 38 for the control plane) x
    /// replications. Each is 8 bytes of temporary disk
    /// while the run writes its folder, and the replications' values for the start-up
    /// transient (one per service and sample) stay in memory.
    pub const MAX_TIMESERIES_VALUES: u64 = 50_000_000;
    /// Largest saturation queue bound.
    pub const MAX_QUEUE: u64 = 10_000_000;
    /// Largest price of one GPU hour or one node hour.
    pub const MAX_PRICE: f64 = 10_000.0;
    /// CPUs in one node of a CPU pool (in milli-CPUs, 1,024,000 units, far inside u32).
    pub const MAX_CPUS_PER_NODE: u64 = 1024;
    /// Memory of one node or one replica: 64 TiB.
    pub const MAX_MEMORY_BYTES: f64 = (1u64 << 46) as f64;
    /// Entries in one service's `calls:`.
    pub const MAX_CALL_ENTRIES: usize = 64;
    /// Calls of one entry per request: a fixed count, or the mean of a drawn one.
    pub const MAX_CALL_COUNT: u64 = 10_000;
    /// Connections of one caller replica to one callee.
    pub const MAX_CONNECTIONS: u64 = 100_000;
    /// Scheduled failures of one pool.
    pub const MAX_SCHEDULED_FAILURES: usize = 10_000;
    /// Expected random node failures in one replication: each costs a few events and the
    /// pods it replaces, so beyond this a run would take hours.
    pub const MAX_EXPECTED_FAILURES: f64 = 1e6;
    /// Longest node monitor period and grace period.
    pub const MAX_MONITOR_TIME_SECS: u64 = 3600;
    /// Default event budget of one replication (`limits.max_events`). The largest example,
    /// diurnal-autoscaling (24 h of a diurnal load up to 1200/s), processes 88 million
    /// events per replication and the benches about 55 million (27 million M/M/4 requests),
    /// so 1e9 leaves them more than ten times room, while 1e9 events already take minutes
    /// (the kernel runs 5 to 10 million a second): beyond it a scenario is more likely a
    /// slip (a time of `1ns`, a zero think time) than a plan.
    pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000_000;
    /// Largest `limits.max_events`: 1e12 events would take a day or more per replication.
    pub const MAX_EVENTS: u64 = 1_000_000_000_000;
}
