//! The serving part of a plan: services, their cost and batching, routing, SLOs, and the
//! workloads that load them.

use crate::cluster::{PodTemplate, PoolPlan};
use crate::engine::SimTime;
use crate::models::llm::LlmCost;
use crate::serving::llm::EngineConfig;
use crate::workload::{ArrivalProcess, Sampler};
use serde::Deserialize;

/// How requests are spread over a service's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// One queue per service; any free replica takes the oldest request.
    SharedQueue,
    /// A uniformly random ready replica (kube-proxy's iptables mode).
    #[default]
    Random,
    /// Ready replicas in turn.
    RoundRobin,
    /// The ready replica with the fewest queued plus running requests.
    LeastOutstanding,
    /// The fewer outstanding of two ready replicas drawn at random (with replacement; the
    /// first on a tie): Envoy's `LEAST_REQUEST` with its default choice count of 2.
    PowerOfTwo,
    /// Every request to the Ready replica of ordinal 0 (a StatefulSet's primary, e.g. the
    /// database that takes the writes); held while it is not Ready.
    Primary,
}

/// How a caller waits for one of its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// The caller's slot (worker thread) is held while the callee works.
    #[default]
    Blocking,
    /// The caller's slot is freed; the request continues at the callee.
    Async,
}

/// How many calls of one entry a request makes.
#[derive(Debug, Clone)]
pub enum CallCount {
    /// Exactly this many.
    Fixed(u32),
    /// One with this probability, else none.
    Probability(f64),
    /// A count drawn per request (rounded to the nearest whole number, at least 0).
    Drawn(Sampler),
}

/// One entry of a service's `calls:`: what a request does downstream after its own work.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// Index of the called service in the plan.
    pub service: usize,
    /// How many calls, made one after the other.
    pub count: CallCount,
    /// Whether the caller's slot waits.
    pub mode: CallMode,
    /// Work the caller does after each answer, in seconds per request on one slot: in the
    /// held slot (blocking) or back in the caller's queue (async).
    pub then: Option<Sampler>,
    /// Connections each caller replica has to the callee (a pool: a call waits for a free
    /// one); None: unlimited. Equal on every entry to the same callee.
    pub max_connections: Option<u32>,
    /// Calls of this entry go to the callee's ordinal 0 (its primary), whatever its routing.
    pub primary: bool,
}

/// What one execution of a batch costs.
#[derive(Debug, Clone)]
pub enum Cost {
    /// A service time drawn per request, in seconds on a whole GPU, stretched by `scale`
    /// (1 / compute fraction of the replica's share).
    Generic {
        /// Service time on a whole GPU.
        sampler: Sampler,
        /// Stretch for a partial GPU.
        scale: f64,
    },
    /// a(b) for b = 1..=len, precomputed from the batch-latency model on this GPU share.
    Table(Vec<SimTime>),
    /// An LLM served with continuous batching: each iteration costs what its shape costs.
    Llm(Box<LlmPlan>),
}

/// An LLM deployment: the model's cost on the replica's GPUs and the engine's settings.
#[derive(Debug, Clone)]
pub struct LlmPlan {
    /// Iteration cost on the replica's GPUs.
    pub cost: LlmCost,
    /// Scheduler limits and KV cache size.
    pub engine: EngineConfig,
    /// Latency the API server adds to every request, outside the GPU.
    pub request_overhead: SimTime,
}

/// Batching policy, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Batching {
    /// One request per execution.
    None,
    /// Triton-style: full batch, or the oldest waited `max_delay`.
    Dynamic {
        /// Largest batch.
        max_batch: u32,
        /// Longest wait of the oldest request.
        max_delay: SimTime,
    },
    /// Iteration-level scheduling of an LLM engine (see [`crate::serving::llm`]).
    Continuous,
}

/// Per-request latency bounds of a service's SLO.
#[derive(Debug, Clone, Default)]
pub struct SloPlan {
    /// Per-request latency bound: that of the highest-percentile latency term, if any.
    pub latency: Option<SimTime>,
    /// Bound on queueing wait, if any.
    pub wait: Option<SimTime>,
    /// Bound on time to first token, if any.
    pub ttft: Option<SimTime>,
    /// Bound on time per output token, if any.
    pub tpot: Option<SimTime>,
    /// Each term, as (metric name in the summary, bound in ms), for `slo_met`.
    pub terms: Vec<(&'static str, f64)>,
    /// Share of requests that may miss their per-request bounds in a report interval before
    /// the interval counts as out of SLO: 1 - q of the strictest percentile term.
    pub allowed_miss: f64,
}

impl SloPlan {
    /// Whether one request met every per-request bound. A figure it does not have (no TTFT
    /// outside an LLM engine, no TPOT for a single output token) meets its bound.
    pub fn met(
        &self,
        latency: SimTime,
        wait: SimTime,
        ttft: Option<SimTime>,
        tpot: Option<SimTime>,
    ) -> bool {
        let within = |v: Option<SimTime>, b: Option<SimTime>| match (v, b) {
            (Some(v), Some(b)) => v <= b,
            _ => true,
        };
        within(Some(latency), self.latency)
            && within(Some(wait), self.wait)
            && within(ttft, self.ttft)
            && within(tpot, self.tpot)
    }
}

/// A service, resolved.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Service name.
    pub name: String,
    /// Model name (for reports).
    pub model: String,
    /// Index of its node pool in the plan.
    pub pool: usize,
    /// Schedulable units each replica needs on one node.
    pub units_per_replica: u32,
    /// Priority of its pods.
    pub priority: i32,
    /// Whole-GPU equivalents of one replica (for cost and users per GPU).
    pub gpus_per_replica: f64,
    /// Replicas.
    pub replicas: u32,
    /// Fixed time from scheduling to Ready, besides the parts below.
    pub startup: SimTime,
    /// Image size, bytes (0: no pull modelled), pulled at the pool's bandwidth.
    pub image_bytes: f64,
    /// Image pull time on a node without the image, when given directly.
    pub image_pull_time: Option<SimTime>,
    /// Model load after the image is there.
    pub model_load: SimTime,
    /// Readiness-probe delay after the model is loaded.
    pub readiness_delay: SimTime,
    /// Termination grace period of a pod being removed.
    pub grace: SimTime,
    /// CPU request of a pod, milli-cores (for the HPA's CPU metric).
    pub cpu_request_milli: i64,
    /// The autoscaler, if any.
    pub autoscaler: Option<crate::control::AutoscalerPlan>,
    /// Routing policy.
    pub routing: Routing,
    /// Batching policy.
    pub batching: Batching,
    /// Execution slots per replica.
    pub concurrency: u32,
    /// Queue bound, arrivals beyond are dropped.
    pub queue_capacity: Option<u32>,
    /// Cost of an execution.
    pub cost: Cost,
    /// SLO, if any.
    pub slo: Option<SloPlan>,
    /// What one request does downstream after its own work, in order.
    pub calls: Vec<CallPlan>,
    /// A StatefulSet (fixed replicas with ordinals 0..n, created in order, no autoscaler)
    /// rather than a Deployment.
    pub statefulset: bool,
    /// CPUs each replica requests (0: none given; on a CPU pool it is what the pod needs of
    /// a node). The pod's CPU use is its busy share of slots times this.
    pub cpus_per_replica: f64,
    /// Memory each replica requests, bytes (0: none given).
    pub memory_per_replica: u64,
}

/// How a workload generates requests.
#[derive(Debug, Clone)]
pub enum Load {
    /// Open loop: arrivals regardless of responses.
    Open(ArrivalProcess),
    /// Closed loop: `users` each wait for the response, think, send again.
    Closed {
        /// Number of users.
        users: u32,
        /// Think time in seconds.
        think: Sampler,
    },
}

/// A workload, resolved.
#[derive(Debug, Clone)]
pub struct WorkloadPlan {
    /// Index of the service it loads, in the plan.
    pub service: usize,
    /// Arrival process.
    pub load: Load,
    /// Prompt tokens per request.
    pub prompt_tokens: Option<Sampler>,
    /// Output tokens per request.
    pub output_tokens: Option<Sampler>,
}

impl WorkloadPlan {
    /// Until when its load stays as it starts (see [`ArrivalProcess::steady_until`]; closed
    /// loops keep their users throughout).
    pub fn steady_until(&self) -> Option<SimTime> {
        match &self.load {
            Load::Open(p) => p.steady_until(),
            Load::Closed { .. } => Some(SimTime::MAX),
        }
    }
}

impl ServicePlan {
    /// What each of its pods asks of the cluster; `image` names its container image.
    pub fn pod_template(&self, pools: &[PoolPlan], image: u32) -> PodTemplate {
        let pull = match (self.image_pull_time, pools[self.pool].pull_bandwidth) {
            (Some(t), _) => t,
            (None, Some(bw)) if self.image_bytes > 0.0 => {
                SimTime::from_secs_f64(self.image_bytes / bw)
            }
            _ => SimTime::ZERO,
        };
        PodTemplate {
            pool: self.pool,
            units: self.units_per_replica,
            priority: self.priority,
            image,
            pull,
            start: self.startup + self.model_load + self.readiness_delay,
            grace: self.grace,
            memory: self.memory_per_replica,
        }
    }

    /// Whether it serves an LLM with continuous batching.
    pub fn is_llm(&self) -> bool {
        matches!(self.cost, Cost::Llm(_))
    }
}

/// Service `from` and every service its requests reach through calls, directly or through
/// others, in the order the calls reach them (breadth first).
pub fn call_reach(services: &[ServicePlan], from: usize) -> Vec<usize> {
    let mut reach = vec![from];
    let mut i = 0;
    while i < reach.len() {
        for c in &services[reach[i]].calls {
            if !reach.contains(&c.service) {
                reach.push(c.service);
            }
        }
        i += 1;
    }
    reach
}
