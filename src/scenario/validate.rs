//! Checks a parsed scenario (names that must exist, limits, combinations that make no sense)
//! and resolves it into a [`Plan`]. Every error names its place in the file.

use super::Loaded;
use super::types::{BatchingSpec, ContinuousBatching, Scenario, SloSpec, limits};
use super::yaml::{LoadError, error_at, locate, suggest};
use crate::engine::SimTime;
use crate::hardware::{self, GpuProfile};
use crate::models::batch::{self as batch_models, BatchCurve};
use crate::models::llm::{self, LlmArch, LlmCalibration, LlmCost};
use crate::serving::llm::EngineConfig;
use crate::sim::plan::{
    AutoscalerPlan, Batching, Cost, LlmPlan, Load, Pipelines, Plan, PoolPlan, ServicePlan, SloPlan,
    WorkloadPlan,
};
use crate::sim::result;
use crate::workload::ArrivalSpec;
use crate::workload::arrivals::{self, Arrivals};

struct Errs<'a> {
    l: &'a Loaded,
    out: Vec<LoadError>,
}

impl Errs<'_> {
    fn at(&mut self, path: &str, msg: impl Into<String>) {
        self.out
            .push(error_at(&self.l.file, &self.l.tree, path, msg.into()));
    }

    /// Like [`Errs::at`] for a message of the form `kind: field ...` about the tagged value
    /// at `path` (`{poisson: {rate: ...}}`): points at `path.kind.field` when the file has it.
    fn at_param(&mut self, path: &str, msg: String) {
        let tree = &self.l.tree;
        let refined = msg.split_once(": ").and_then(|(kind, rest)| {
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let parent = format!("{path}.{kind}");
            let child = format!("{parent}.{field}");
            let found = locate(tree, &child);
            (!field.is_empty() && found.is_some() && found != locate(tree, &parent))
                .then_some(child)
        });
        self.at(refined.as_deref().unwrap_or(path), msg);
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

/// A CI gate of `checks:`: `component.metric OP value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Service name, `cluster`, ...
    pub component: String,
    /// Metric name.
    pub metric: String,
    /// Comparison.
    pub op: CheckOp,
    /// Bound.
    pub value: f64,
}

/// Comparison of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOp {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `==`
    Eq,
}

impl CheckOp {
    /// Whether `a OP b` holds.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CheckOp::Le => a <= b,
            CheckOp::Lt => a < b,
            CheckOp::Ge => a >= b,
            CheckOp::Gt => a > b,
            CheckOp::Eq => a == b,
        }
    }
}

/// Parses `chat.latency_p99_ms <= 500`.
pub fn parse_check(s: &str) -> Result<Check, String> {
    let ops = [
        ("<=", CheckOp::Le),
        (">=", CheckOp::Ge),
        ("==", CheckOp::Eq),
        ("<", CheckOp::Lt),
        (">", CheckOp::Gt),
    ];
    let bad = || format!("expected a check such as `chat.latency_p99_ms <= 500`, found `{s}`");
    let (lhs, op, rhs) = ops
        .iter()
        .find_map(|(tok, op)| s.split_once(tok).map(|(l, r)| (l, *op, r)))
        .ok_or_else(bad)?;
    let (component, metric) = lhs.trim().rsplit_once('.').ok_or_else(bad)?;
    let value: f64 = rhs.trim().parse().map_err(|_| bad())?;
    if component.is_empty() || metric.is_empty() || !value.is_finite() {
        return Err(bad());
    }
    Ok(Check {
        component: component.to_string(),
        metric: metric.to_string(),
        op,
        value,
    })
}

/// Names of the built-in models, for suggestions.
fn builtin_model_names() -> Vec<String> {
    batch_models::builtin_batch_models()
        .into_iter()
        .map(|m| m.name)
        .chain(llm::builtin_llms().into_iter().map(|m| m.name))
        .collect()
}

/// vLLM's default `max_num_seqs` (vllm/engine/arg_utils.py, v0.5.4).
const DEFAULT_MAX_NUM_SEQS: u64 = 256;
/// vLLM's token budget with chunked prefill (vllm/config.py SchedulerConfig, v0.5.4).
const DEFAULT_CHUNKED_BATCH_TOKENS: u64 = 512;
/// vLLM's smallest default token budget without chunked prefill: max(max_model_len, 2048).
const MIN_DEFAULT_BATCH_TOKENS: u64 = 2048;
/// vLLM's default `gpu_memory_utilization`.
const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
/// vLLM's default KV cache `block_size`.
const DEFAULT_BLOCK_SIZE: u64 = 16;

/// Checks the scenario and resolves it. Collects every error rather than stopping at the first.
pub fn build_plan(l: &Loaded) -> Result<Plan, Vec<LoadError>> {
    let sc: &Scenario = &l.scenario;
    let mut e = Errs { l, out: Vec::new() };

    // Top level.
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
    }
    if sc.limits.max_queue == 0 || sc.limits.max_queue > limits::MAX_QUEUE {
        e.at(
            "limits.max_queue",
            format!("max_queue must be from 1 to {}", limits::MAX_QUEUE),
        );
    }

    // GPUs.
    unique_names(&mut e, "gpus", sc.gpus.iter().map(|g| g.name.as_str()));
    let mut gpus: Vec<GpuProfile> = hardware::builtin_gpus();
    let builtin_gpu_count = gpus.len();
    for (i, g) in sc.gpus.iter().enumerate() {
        if gpus[..builtin_gpu_count].iter().any(|b| b.name == g.name) {
            e.at(
                &format!("gpus[{i}].name"),
                format!(
                    "`{}` is a built-in GPU profile; give yours another name (it may use `based_on: {}`)",
                    g.name, g.name
                ),
            );
            continue;
        }
        match g.resolve() {
            Ok(p) => gpus.push(p),
            Err(msg) => e.at(&format!("gpus[{i}]"), msg),
        }
    }
    let gpu_names: Vec<&str> = gpus.iter().map(|g| g.name.as_str()).collect();

    // Models.
    unique_names(&mut e, "models", sc.models.iter().map(|m| m.name.as_str()));
    let builtin_models = builtin_model_names();
    for (i, m) in sc.models.iter().enumerate() {
        if builtin_models.contains(&m.name) {
            e.at(
                &format!("models[{i}].name"),
                format!("`{}` is a built-in model; give yours another name", m.name),
            );
        }
        let kinds = [
            m.service_time.is_some(),
            m.batch_latency.is_some(),
            m.llm.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => e.at(
                &format!("models[{i}]"),
                "a model needs `service_time` (a distribution), `batch_latency` or `llm`",
            ),
            1 => {}
            _ => e.at(
                &format!("models[{i}]"),
                "a model has one of `service_time`, `batch_latency` or `llm`, not several",
            ),
        }
        if let Some(d) = &m.service_time
            && let Err(msg) = d.check()
        {
            e.at_param(&format!("models[{i}].service_time"), msg);
        }
        if let Some(b) = &m.batch_latency
            && let Err(msg) = b.check()
        {
            e.at(&format!("models[{i}].batch_latency"), msg);
        }
        if let Some(spec) = &m.llm
            && let Err(msg) = spec.resolve(&m.name)
        {
            e.at_param(&format!("models[{i}].llm"), msg);
        }
    }
    let mut model_names: Vec<&str> = builtin_models.iter().map(|s| s.as_str()).collect();
    model_names.extend(sc.models.iter().map(|m| m.name.as_str()));

    // Node pools.
    unique_names(
        &mut e,
        "node_pools",
        sc.node_pools.iter().map(|p| p.name.as_str()),
    );
    let mut pools: Vec<Option<PoolPlan>> = Vec::new();
    for (i, p) in sc.node_pools.iter().enumerate() {
        let at = |f: &str| format!("node_pools[{i}].{f}");
        let mut ok = true;
        if p.nodes > limits::MAX_NODES {
            e.at(
                &at("nodes"),
                format!(
                    "{} nodes is above the limit of {} per pool",
                    p.nodes,
                    limits::MAX_NODES
                ),
            );
            ok = false;
        }
        if p.gpus_per_node == 0 || p.gpus_per_node > limits::MAX_GPUS_PER_NODE {
            e.at(
                &at("gpus_per_node"),
                format!(
                    "gpus_per_node must be from 1 to {} (found {})",
                    limits::MAX_GPUS_PER_NODE,
                    p.gpus_per_node
                ),
            );
            ok = false;
        }
        let min_nodes = p
            .min_nodes
            .unwrap_or(p.nodes.min(p.max_nodes.unwrap_or(p.nodes)));
        let max_nodes = p.max_nodes.unwrap_or(p.nodes.max(min_nodes));
        if max_nodes > limits::MAX_NODES {
            e.at(
                &at("max_nodes"),
                format!(
                    "{max_nodes} nodes is above the limit of {} per pool",
                    limits::MAX_NODES
                ),
            );
            ok = false;
        } else if min_nodes > max_nodes {
            e.at(
                &at("min_nodes"),
                format!("min_nodes ({min_nodes}) is above max_nodes ({max_nodes})"),
            );
            ok = false;
        } else if p.nodes < min_nodes || p.nodes > max_nodes {
            e.at(
                &at("nodes"),
                format!(
                    "the initial {} nodes must be from min_nodes ({min_nodes}) to max_nodes ({max_nodes})",
                    p.nodes
                ),
            );
            ok = false;
        }
        if let Some(b) = &p.balloons
            && (b.pods > limits::MAX_REPLICAS
                || b.gpus_per_pod == 0
                || b.gpus_per_pod > p.gpus_per_node)
        {
            e.at(
                &at("balloons"),
                format!(
                    "balloons: from 0 to {} pods of 1 to gpus_per_node ({}) units each (found {} pods of {})",
                    limits::MAX_REPLICAS,
                    p.gpus_per_node,
                    b.pods,
                    b.gpus_per_pod
                ),
            );
            ok = false;
        }
        if !(0.0..=limits::MAX_PRICE).contains(&p.price_per_gpu_hour) {
            e.at(
                &at("price_per_gpu_hour"),
                format!(
                    "price_per_gpu_hour must be from 0 to {} (found {})",
                    limits::MAX_PRICE,
                    p.price_per_gpu_hour
                ),
            );
            ok = false;
        }
        let Some(gpu) = gpus.iter().find(|g| g.name == p.gpu) else {
            e.at(
                &at("gpu"),
                format!(
                    "unknown GPU profile `{}`{}",
                    p.gpu,
                    did_you_mean(&p.gpu, &gpu_names)
                ),
            );
            pools.push(None);
            continue;
        };
        let share = match hardware::share(gpu, &p.gpu_sharing) {
            Ok(s) => s,
            Err(msg) => {
                e.at(&at("gpu_sharing"), msg);
                pools.push(None);
                continue;
            }
        };
        pools.push(ok.then(|| {
            PoolPlan {
                name: p.name.clone(),
                gpu: gpu.clone(),
                // In range: checked against the limits above (ok is false otherwise).
                gpus_per_node: p.gpus_per_node as u32,
                nodes: p.nodes as u32,
                share,
                price_per_gpu_hour: p.price_per_gpu_hour,
                min_nodes: min_nodes as u32,
                max_nodes: max_nodes as u32,
                provision_time: p.provision_time.0,
                // Cluster autoscaler's --scale-down-unneeded-time default.
                unneeded_time: p
                    .scale_down_unneeded_time
                    .map_or(SimTime::from_secs(600), |d| d.0),
                pull_bandwidth: p.image_pull_bandwidth.map(|b| b.0),
                balloons: p
                    .balloons
                    .as_ref()
                    .map_or((0, 0), |b| (b.pods as u32, b.gpus_per_pod as u32)),
            }
        }));
    }
    let pool_names: Vec<&str> = sc.node_pools.iter().map(|p| p.name.as_str()).collect();

    // Services.
    if sc.services.is_empty() {
        e.at("services", "a scenario needs at least one service");
    }
    unique_names(
        &mut e,
        "services",
        sc.services.iter().map(|s| s.name.as_str()),
    );
    let mut services: Vec<Option<ServicePlan>> = Vec::new();
    for (i, s) in sc.services.iter().enumerate() {
        let at = |f: &str| format!("services[{i}].{f}");
        let mut ok = true;
        let pool_index = sc.node_pools.iter().position(|p| p.name == s.node_pool);
        if pool_index.is_none() {
            e.at(
                &at("node_pool"),
                format!(
                    "unknown node pool `{}`{}",
                    s.node_pool,
                    did_you_mean(&s.node_pool, &pool_names)
                ),
            );
        }
        let pool = pool_index.and_then(|p| pools[p].as_ref());
        if s.replicas > limits::MAX_REPLICAS {
            e.at(
                &at("replicas"),
                format!(
                    "{} replicas is above the limit of {}",
                    s.replicas,
                    limits::MAX_REPLICAS
                ),
            );
            ok = false;
        }
        if s.concurrency == 0 || s.concurrency > limits::MAX_CONCURRENCY {
            e.at(
                &at("concurrency"),
                format!(
                    "concurrency must be from 1 to {} (found {})",
                    limits::MAX_CONCURRENCY,
                    s.concurrency
                ),
            );
            ok = false;
        }
        if ok && s.replicas * s.concurrency > limits::MAX_SLOTS {
            e.at(
                &at("concurrency"),
                format!(
                    "{} replicas x {} slots is {} execution slots, above the limit of {} per service",
                    s.replicas,
                    s.concurrency,
                    s.replicas * s.concurrency,
                    limits::MAX_SLOTS
                ),
            );
            ok = false;
        }
        if let Some(c) = s.queue_capacity
            && (c == 0 || c > limits::MAX_QUEUE)
        {
            e.at(
                &at("queue_capacity"),
                format!(
                    "queue_capacity must be from 1 to {} (found {c})",
                    limits::MAX_QUEUE
                ),
            );
            ok = false;
        }
        if s.image_size.is_some() && s.image_pull_time.is_some() {
            e.at(
                &at("image_pull_time"),
                "give either image_size (pulled at the pool's image_pull_bandwidth) or image_pull_time, not both",
            );
            ok = false;
        }
        if let Some(pool) = pool
            && s.image_size.is_some()
            && pool.pull_bandwidth.is_none()
        {
            e.at(
                &at("image_size"),
                format!(
                    "node pool `{}` has no image_pull_bandwidth (e.g. `image_pull_bandwidth: 200MB/s`) to pull the image with; give it, or image_pull_time instead",
                    pool.name
                ),
            );
            ok = false;
        }
        if let Some(pool) = pool {
            let per_node = pool.units_per_node();
            if s.gpus_per_replica == 0 || s.gpus_per_replica > per_node as u64 {
                e.at(
                    &at("gpus_per_replica"),
                    format!(
                        "a replica needs {} {} on one node, but a node of pool `{}` has {}",
                        s.gpus_per_replica, pool.share.label, pool.name, per_node
                    ),
                );
                ok = false;
            }
        }
        // An LLM: a user-defined architecture or a built-in one.
        let llm_arch: Option<LlmArch> = match sc.models.iter().find(|m| m.name == s.model) {
            Some(m) => m.llm.as_ref().and_then(|spec| spec.resolve(&m.name).ok()),
            None => llm::builtin_llm(&s.model),
        };
        let is_llm = names_llm(sc, &s.model);
        let default_batching = if is_llm {
            BatchingSpec::Continuous(Default::default())
        } else {
            BatchingSpec::None
        };
        let batching_spec = s.batching.as_ref().unwrap_or(&default_batching);
        let batching = match batching_spec {
            BatchingSpec::None if is_llm => Batching::Continuous,
            BatchingSpec::None => Batching::None,
            BatchingSpec::Dynamic(_) if is_llm => {
                e.at(
                    &at("batching"),
                    format!(
                        "`{}` is an LLM: it is served with continuous batching (iteration-level scheduling), e.g. `{{continuous: {{max_num_seqs: 256}}}}`",
                        s.model
                    ),
                );
                ok = false;
                Batching::None
            }
            BatchingSpec::Dynamic(d) => {
                if d.max_batch == 0 || d.max_batch > limits::MAX_BATCH {
                    e.at(
                        &at("batching.dynamic.max_batch"),
                        format!(
                            "max_batch must be from 1 to {} (found {})",
                            limits::MAX_BATCH,
                            d.max_batch
                        ),
                    );
                    ok = false;
                }
                Batching::Dynamic {
                    max_batch: d.max_batch.clamp(1, limits::MAX_BATCH) as u32,
                    max_delay: d.max_delay.0,
                }
            }
            BatchingSpec::Continuous(_) if is_llm => Batching::Continuous,
            BatchingSpec::Continuous(_) => {
                e.at(
                    &at("batching"),
                    format!(
                        "continuous batching is iteration-level scheduling for LLM models; `{}` is not an LLM: use `none` or `{{dynamic: {{max_batch: 32, max_delay: 5ms}}}}`",
                        s.model
                    ),
                );
                ok = false;
                Batching::None
            }
        };
        if is_llm && s.concurrency > 1 {
            e.at(
                &at("concurrency"),
                format!(
                    "model `{}` is an LLM: a replica runs one engine whose batch is set by batching.continuous.max_num_seqs, so concurrency must be 1",
                    s.model
                ),
            );
            ok = false;
        }
        let slo = s.slo.as_ref().map(|slo| slo_plan(slo, &mut e, i, is_llm));
        let autoscaler = if s.autoscaler.is_some() {
            let a = autoscaler_plan(&mut e, i, s.replicas);
            ok &= a.is_some();
            a
        } else {
            None
        };
        let is_batch_model = batch_models::builtin_batch_model(&s.model).is_some()
            || sc
                .models
                .iter()
                .any(|m| m.name == s.model && m.batch_latency.is_some());
        if is_batch_model && s.concurrency > 1 {
            // a(b) is the latency of a batch with the whole GPU (or share) to itself; two
            // batches at once would each get it, doubling the GPU.
            e.at(
                &at("concurrency"),
                format!(
                    "model `{}` is a batch-latency model: each batch already uses the whole GPU share, so concurrency must be 1; raise batching.dynamic.max_batch instead",
                    s.model
                ),
            );
            ok = false;
        }
        // The model decides what an execution costs.
        let user_model = sc.models.iter().find(|m| m.name == s.model);
        let builtin = batch_models::builtin_batch_model(&s.model);
        let cost = match (user_model, builtin, pool) {
            _ if is_llm => match (&llm_arch, pool) {
                (Some(arch), Some(pool)) => {
                    let spec = match batching_spec {
                        BatchingSpec::Continuous(c) => c.clone(),
                        // `batching: none` on an LLM: one request at a time.
                        _ => ContinuousBatching {
                            max_num_seqs: Some(1),
                            ..Default::default()
                        },
                    };
                    llm_plan(&mut e, i, s.gpus_per_replica, arch, pool, &spec)
                }
                _ => None,
            },
            (None, None, _) => {
                e.at(
                    &at("model"),
                    format!(
                        "unknown model `{}`{}",
                        s.model,
                        did_you_mean(&s.model, &model_names)
                    ),
                );
                None
            }
            (_, _, None) => None,
            (Some(m), _, Some(pool)) => match (&m.service_time, &m.batch_latency) {
                (Some(d), None) => {
                    if matches!(batching, Batching::Dynamic { .. }) {
                        e.at(
                            &at("batching"),
                            format!(
                                "model `{}` has a per-request service_time, which says nothing about batches; dynamic batching needs a `batch_latency` model",
                                m.name
                            ),
                        );
                        None
                    } else {
                        d.compile(&l.base_dir)
                            .map_err(|msg| {
                                e.at(
                                    &format!("models[{}].service_time", model_index(sc, &m.name)),
                                    msg,
                                )
                            })
                            .ok()
                            .map(|sampler| Cost::Generic {
                                sampler,
                                scale: 1.0 / pool.share.compute_fraction,
                            })
                    }
                }
                (None, Some(b)) => match b.curve(&gpus) {
                    Ok(curve) => Some(table_cost(&curve, pool, batching, &gpus)),
                    Err(msg) => {
                        e.at(
                            &format!("models[{}].batch_latency", model_index(sc, &m.name)),
                            msg,
                        );
                        None
                    }
                },
                _ => None,
            },
            (None, Some(b), Some(pool)) => {
                Some(table_cost(&BatchCurve::Roofline(b), pool, batching, &gpus))
            }
        };
        if !ok {
            services.push(None);
            continue;
        }
        services.push(match (pool_index, pool, cost) {
            (Some(pi), Some(pool), Some(cost)) => Some(ServicePlan {
                name: s.name.clone(),
                model: s.model.clone(),
                pool: pi,
                // In range: checked against the limits above (ok is false otherwise).
                units_per_replica: s.gpus_per_replica as u32,
                gpus_per_replica: s.gpus_per_replica as f64 / pool.share.units_per_gpu as f64,
                replicas: s.replicas as u32,
                startup: s.startup_time.0,
                image_bytes: s.image_size.map_or(0.0, |b| b.0),
                image_pull_time: s.image_pull_time.map(|d| d.0),
                model_load: s.model_load_time.0,
                readiness_delay: s.readiness_delay.0,
                // Kubernetes' default terminationGracePeriodSeconds.
                grace: s
                    .termination_grace_period
                    .map_or(SimTime::from_secs(30), |d| d.0),
                cpu_request_milli: s.cpu_request.map_or(1000, |q| q.0),
                autoscaler,
                routing: s.routing,
                batching,
                concurrency: s.concurrency as u32,
                queue_capacity: s.queue_capacity.map(|c| c as u32),
                cost,
                slo,
            }),
            _ => None,
        });
    }
    let service_names: Vec<&str> = sc.services.iter().map(|s| s.name.as_str()).collect();

    // Workloads.
    let mut workloads = Vec::new();
    let horizon = duration;
    let mut expected_arrivals = 0.0;
    for (i, w) in sc.workloads.iter().enumerate() {
        let at = |f: &str| format!("workloads[{i}].{f}");
        let svc = sc.services.iter().position(|s| s.name == w.service);
        if svc.is_none() {
            e.at(
                &at("service"),
                format!(
                    "unknown service `{}`{}",
                    w.service,
                    did_you_mean(&w.service, &service_names)
                ),
            );
        }
        if let Err(msg) = w.arrivals.check() {
            e.at_param(&at("arrivals"), msg);
            continue;
        }
        let mut sizes = Vec::new();
        for (field, d) in [
            ("prompt_tokens", &w.prompt_tokens),
            ("output_tokens", &w.output_tokens),
        ] {
            sizes.push(match d {
                None => None,
                Some(d) => match d.check().and_then(|_| d.compile(&l.base_dir)) {
                    Ok(s) => Some(s),
                    Err(msg) => {
                        e.at_param(&at(field), msg);
                        None
                    }
                },
            });
        }
        let load = match arrivals::compile(&w.arrivals, &w.service, &l.base_dir) {
            Ok(Arrivals::Open(p)) => {
                expected_arrivals += p.mean_rate(horizon) * horizon.as_secs_f64();
                Load::Open(p)
            }
            Ok(Arrivals::Closed(c)) => Load::Closed {
                users: c.users,
                think: c.think_time,
            },
            Err(msg) => {
                e.at(&at("arrivals"), msg);
                continue;
            }
        };
        if let Some(si) = svc {
            let model = &sc.services[si].model;
            let llm_service = names_llm(sc, model);
            let trace = matches!(w.arrivals, ArrivalSpec::Trace { .. });
            if llm_service && !trace {
                for (field, d) in [
                    ("prompt_tokens", &w.prompt_tokens),
                    ("output_tokens", &w.output_tokens),
                ] {
                    if d.is_none() {
                        e.at(
                            &format!("workloads[{i}]"),
                            format!(
                                "service `{}` runs an LLM: give `{field}` (a distribution, e.g. `{{lognormal: {{mean: 512, sd: 256}}}}`) or a trace with that column",
                                w.service
                            ),
                        );
                    }
                }
            }
        }
        if let Some(svc) = svc {
            workloads.push(WorkloadPlan {
                service: svc,
                load,
                prompt_tokens: sizes[0].clone(),
                output_tokens: sizes[1].clone(),
            });
        }
    }
    if expected_arrivals > limits::MAX_EXPECTED_ARRIVALS {
        e.at(
            "workloads",
            format!(
                "about {expected_arrivals:.3e} arrivals per replication: the limit is {:.0e}; shorten the duration or lower the rates",
                limits::MAX_EXPECTED_ARRIVALS
            ),
        );
    }

    // Checks.
    for (i, c) in sc.checks.iter().enumerate() {
        match parse_check(c) {
            Err(msg) => e.at(&format!("checks[{i}]"), msg),
            Ok(check) => {
                let metrics = match check.component.as_str() {
                    "cluster" => Some(result::CLUSTER_METRICS),
                    "engine" => Some(result::ENGINE_METRICS),
                    c if service_names.contains(&c) => Some(result::SERVICE_METRICS),
                    _ => None,
                };
                if let Some(metrics) = metrics
                    && !metrics.contains(&check.metric.as_str())
                {
                    e.at(
                        &format!("checks[{i}]"),
                        format!(
                            "`{}` has no metric `{}`{}",
                            check.component,
                            check.metric,
                            did_you_mean(&check.metric, metrics)
                        ),
                    );
                }
                if metrics.is_none() {
                    let mut comps = service_names.clone();
                    comps.push("cluster");
                    e.at(
                        &format!("checks[{i}]"),
                        format!(
                            "unknown component `{}`{}",
                            check.component,
                            did_you_mean(&check.component, &comps)
                        ),
                    );
                }
            }
        }
    }

    if !e.out.is_empty() {
        // In file order, as a reader fixes them.
        e.out.sort_by_key(|x| (x.line, x.col));
        return Err(e.out);
    }
    Ok(Plan {
        name: sc.name.clone(),
        seed: sc.seed,
        duration,
        warmup: sc.warmup.0,
        // In range: checked against the limits above.
        replications: sc.replications as u32,
        report_interval: interval,
        max_queue: sc.limits.max_queue as u32,
        pools: pools.into_iter().flatten().collect(),
        services: services.into_iter().flatten().collect(),
        workloads,
    })
}

/// Whether `model` is an LLM: a built-in one, or a user model with `llm:` (even one whose
/// architecture is invalid, so that its service is not also judged as a non-LLM).
fn names_llm(sc: &Scenario, model: &str) -> bool {
    llm::builtin_llm(model).is_some()
        || sc.models.iter().any(|m| m.name == model && m.llm.is_some())
}

fn model_index(sc: &Scenario, name: &str) -> usize {
    sc.models.iter().position(|m| m.name == name).unwrap_or(0)
}

/// a(b) for every batch size the service can form, on its GPU share.
fn table_cost(
    curve: &BatchCurve,
    pool: &PoolPlan,
    batching: Batching,
    gpus: &[GpuProfile],
) -> Cost {
    let max = match batching {
        Batching::None | Batching::Continuous => 1,
        Batching::Dynamic { max_batch, .. } => max_batch,
    };
    Cost::Table(
        (1..=max)
            .map(|b| curve.latency(&pool.gpu, &pool.share, b, gpus))
            .collect(),
    )
}

fn slo_plan(slo: &SloSpec, e: &mut Errs, i: usize, is_llm: bool) -> SloPlan {
    let at = |f: &str| format!("services[{i}].slo.{f}");
    if !is_llm && (slo.ttft_p95.is_some() || slo.tpot_p95.is_some()) {
        e.at(
            &at(if slo.ttft_p95.is_some() {
                "ttft_p95"
            } else {
                "tpot_p95"
            }),
            "TTFT and TPOT apply to LLM models; bound latency_p95 or latency_p99 instead",
        );
    }
    // Highest percentile first: its bound is the per-request target of slo_attainment.
    let latency_terms = [
        ("latency_p99_ms", slo.latency_p99),
        ("latency_p95_ms", slo.latency_p95),
        ("latency_p90_ms", slo.latency_p90),
        ("latency_p50_ms", slo.latency_p50),
        ("latency_mean_ms", slo.latency_mean),
    ];
    let mut plan = SloPlan::default();
    for (name, bound) in latency_terms {
        if let Some(b) = bound {
            if plan.latency.is_none() {
                plan.latency = Some(b.0);
            }
            plan.terms.push((name, b.0.as_millis_f64()));
        }
    }
    if let Some(w) = slo.wait_p99 {
        plan.wait = Some(w.0);
        plan.terms.push(("wait_p99_ms", w.0.as_millis_f64()));
    }
    if is_llm {
        if let Some(b) = slo.ttft_p95 {
            plan.ttft = Some(b.0);
            plan.terms.push(("ttft_p95_ms", b.0.as_millis_f64()));
        }
        if let Some(b) = slo.tpot_p95 {
            plan.tpot = Some(b.0);
            plan.terms.push(("tpot_p95_ms", b.0.as_millis_f64()));
        }
    }
    plan.allowed_miss = plan
        .terms
        .iter()
        .map(|(m, _)| match *m {
            "latency_p99_ms" | "wait_p99_ms" => 0.01,
            "latency_p95_ms" | "ttft_p95_ms" | "tpot_p95_ms" => 0.05,
            "latency_p90_ms" => 0.10,
            _ => 0.5,
        })
        .fold(1.0, f64::min);
    if plan.terms.is_empty() && slo.ttft_p95.is_none() && slo.tpot_p95.is_none() {
        e.at(
            &format!("services[{i}].slo"),
            "an SLO needs at least one bound, e.g. `latency_p99: 500ms`",
        );
    }
    plan
}

/// Resolves an LLM service: the cost of an iteration on its GPUs (tensor parallel over
/// `gpus_per_replica`) and the engine's limits and KV cache, with vLLM's defaults.
fn llm_plan(
    e: &mut Errs,
    i: usize,
    gpus_per_replica: u64,
    arch: &LlmArch,
    pool: &PoolPlan,
    spec: &ContinuousBatching,
) -> Option<Cost> {
    let at = |f: &str| format!("services[{i}].{f}");
    let bat = |f: &str| format!("services[{i}].batching.continuous.{f}");
    let mut ok = true;
    let tp = gpus_per_replica;
    if !matches!(tp, 1 | 2 | 4 | 8) {
        e.at(
            &at("gpus_per_replica"),
            format!("an LLM replica runs tensor parallel over 1, 2, 4 or 8 GPUs (found {tp})"),
        );
        return None;
    }
    if tp > 1 && pool.share.units_per_gpu > 1 {
        e.at(
            &at("gpus_per_replica"),
            format!(
                "tensor parallelism needs whole GPUs; pool `{}` shares its GPUs ({}): use gpus_per_replica: 1 or a pool without gpu_sharing",
                pool.name, pool.share.label
            ),
        );
        return None;
    }
    let mut calib = LlmCalibration {
        iteration_overhead: spec.engine.iteration_overhead(),
        per_seq_overhead: spec.engine.sequence_overhead(),
        ..LlmCalibration::default()
    };
    if let Some(d) = spec.iteration_overhead {
        calib.iteration_overhead = d.0;
    }
    if let Some(d) = spec.sequence_overhead {
        calib.per_seq_overhead = d.0;
    }
    let cost = match LlmCost::new(arch, &pool.gpu, &pool.share, tp as u32, &calib) {
        Ok(c) => c,
        Err(msg) => {
            e.at(&at("model"), msg);
            return None;
        }
    };
    let max_model_len = spec.max_model_len.unwrap_or(arch.max_context as u64);
    if max_model_len < 2 || max_model_len > arch.max_context as u64 {
        e.at(
            &bat("max_model_len"),
            format!(
                "max_model_len must be from 2 to the model's context of {} tokens (found {max_model_len})",
                arch.max_context
            ),
        );
        ok = false;
    }
    let max_num_seqs = spec.max_num_seqs.unwrap_or(DEFAULT_MAX_NUM_SEQS);
    if max_num_seqs == 0 || max_num_seqs > limits::MAX_NUM_SEQS {
        e.at(
            &bat("max_num_seqs"),
            format!(
                "max_num_seqs must be from 1 to {} (found {max_num_seqs})",
                limits::MAX_NUM_SEQS
            ),
        );
        ok = false;
    }
    let max_batch_tokens = spec.max_batch_tokens.unwrap_or(if spec.chunked_prefill {
        DEFAULT_CHUNKED_BATCH_TOKENS.max(max_num_seqs)
    } else {
        max_model_len.max(MIN_DEFAULT_BATCH_TOKENS)
    });
    if max_batch_tokens == 0 || max_batch_tokens > limits::MAX_BATCH_TOKENS {
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens must be from 1 to {} (found {max_batch_tokens})",
                limits::MAX_BATCH_TOKENS
            ),
        );
        ok = false;
    } else if ok && !spec.chunked_prefill && max_batch_tokens < max_model_len {
        // vLLM refuses this too: a prompt longer than the budget could never be prefilled.
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens ({max_batch_tokens}) is smaller than max_model_len ({max_model_len}): without chunked prefill a long prompt could never run; raise it, lower max_model_len or set `chunked_prefill: true`"
            ),
        );
        ok = false;
    } else if ok && max_batch_tokens < max_num_seqs {
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens ({max_batch_tokens}) must be at least max_num_seqs ({max_num_seqs}): every running sequence needs a token of the budget"
            ),
        );
        ok = false;
    }
    let util = spec
        .gpu_memory_utilization
        .unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION);
    if !(util > 0.0 && util <= 1.0) {
        e.at(
            &bat("gpu_memory_utilization"),
            format!("gpu_memory_utilization must be above 0 and at most 1 (found {util})"),
        );
        ok = false;
    }
    let block_size = spec.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    if !matches!(block_size, 8 | 16 | 32) {
        e.at(
            &bat("block_size"),
            format!("block_size must be 8, 16 or 32, as in vLLM (found {block_size})"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let kv_tokens = match cost.kv_capacity_tokens(util, max_batch_tokens, max_model_len) {
        Ok(t) => t,
        Err(msg) => {
            e.at(&at("model"), msg);
            return None;
        }
    };
    let kv_blocks = (kv_tokens / block_size).min(u32::MAX as u64) as u32;
    Some(Cost::Llm(Box::new(LlmPlan {
        cost,
        engine: EngineConfig {
            max_num_seqs: max_num_seqs as u32,
            max_batch_tokens: max_batch_tokens as u32,
            chunked_prefill: spec.chunked_prefill,
            block_size: block_size as u32,
            kv_blocks,
            max_context: max_model_len as u32,
        },
        request_overhead: spec
            .request_overhead
            .map_or(crate::serving::llm::DEFAULT_REQUEST_OVERHEAD, |d| d.0),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse() {
        let c = parse_check("chat.latency_p99_ms <= 500").unwrap();
        assert_eq!(c.component, "chat");
        assert_eq!(c.metric, "latency_p99_ms");
        assert_eq!(c.op, CheckOp::Le);
        assert_eq!(c.value, 500.0);
        assert!(
            parse_check("chat.users_per_gpu>=8")
                .unwrap()
                .op
                .holds(9.0, 8.0)
        );
        assert!(parse_check("latency <= 5").is_err());
        assert!(parse_check("chat.x <= fast").is_err());
    }
}

/// Metric names the simulator serves to autoscalers.
pub mod autoscaler_metrics {
    /// Pods-type (per pod, averaged) metrics.
    pub const PODS: &[&str] = &[
        "gpu_utilization",
        "inflight_requests",
        "requests_per_second",
        "queue_length",
        "kv_cache_utilization",
    ];
    /// External (service total) metrics.
    pub const EXTERNAL: &[&str] = &[
        "total_queue_length",
        "total_inflight_requests",
        "total_requests_per_second",
    ];
    /// Resource metrics.
    pub const RESOURCES: &[&str] = &["cpu"];
}

/// Reads `services[i].autoscaler` in two steps: the common fields (kind, controller flags,
/// pipelines), then the kind's own spec, with errors placed in the file.
fn autoscaler_plan(e: &mut Errs, i: usize, replicas: u64) -> Option<AutoscalerPlan> {
    use crate::control::{hpa, keda, kpa};
    use crate::scenario::types::{AUTOSCALER_COMMON_KEYS, AutoscalerCommon, AutoscalerKind};
    use crate::scenario::yaml::{Located, Node, from_tree};
    let path = format!("services[{i}].autoscaler");
    let node =
        e.l.tree
            .get("services")
            .and_then(|s| match &s.node {
                Node::Seq(items) => items.get(i),
                _ => None,
            })
            .and_then(|s| s.get("autoscaler"))?
            .clone();
    let Node::Map(entries) = &node.node else {
        e.at(
            &path,
            "expected a mapping with `kind: hpa`, `kpa` or `keda`",
        );
        return None;
    };
    let (common, own): (Vec<_>, Vec<_>) = entries
        .iter()
        .cloned()
        .partition(|(k, _)| AUTOSCALER_COMMON_KEYS.contains(&k.name.as_str()));
    let sub = |entries: Vec<_>| Located {
        node: Node::Map(entries),
        ..node.clone()
    };
    let file = e.l.file.clone();
    let place = |mut err: crate::scenario::yaml::LoadError| {
        err.field = if err.field.is_empty() {
            path.clone()
        } else {
            format!("{path}.{}", err.field)
        };
        err
    };
    let common: AutoscalerCommon = match from_tree(&file, &sub(common)) {
        Ok(c) => c,
        Err(err) => {
            e.out.push(place(err));
            return None;
        }
    };
    let secs =
        |d: Option<crate::units::Duration>, def: u64| d.map_or(SimTime::from_secs(def), |d| d.0);
    let cfg = hpa::ControllerConfig {
        tolerance: common.tolerance.unwrap_or(0.1),
        cpu_initialization_period: secs(common.cpu_initialization_period, 300).as_secs_f64(),
        initial_readiness_delay: secs(common.initial_readiness_delay, 30).as_secs_f64(),
        downscale_stabilization: secs(common.downscale_stabilization, 300).as_secs_f64(),
        metric_window: secs(common.metrics_server_resolution, 15).as_secs_f64(),
    };
    let pipelines = Pipelines {
        // metrics-server --metric-resolution default.
        resource_interval: secs(common.metrics_server_resolution, 15),
        // kube-prometheus-stack's scrape interval and a 1-minute rate window: common
        // settings, not upstream defaults (Prometheus itself defaults to 1m).
        custom_interval: secs(common.prometheus_scrape_interval, 30),
        custom_window: secs(common.prometheus_window, 60),
    };
    let sync = secs(common.sync_period, 15);
    if !(0.0..1.0).contains(&cfg.tolerance) {
        e.at(
            &format!("{path}.tolerance"),
            format!("tolerance must be from 0 to 1 (found {})", cfg.tolerance),
        );
        return None;
    }
    for (name, t) in [
        ("syncPeriod", sync),
        ("metricsServerResolution", pipelines.resource_interval),
        ("prometheusScrapeInterval", pipelines.custom_interval),
        ("prometheusWindow", pipelines.custom_window),
    ] {
        if t < SimTime::from_secs(1) || t > SimTime::from_secs(3600) {
            e.at(
                &format!("{path}.{name}"),
                format!("{name} must be from 1s to 1h (found {t})"),
            );
            return None;
        }
    }
    let check_names = |e: &mut Errs, spec: &hpa::HpaSpec| -> bool {
        let mut ok = true;
        for (m, metric) in spec.metrics.iter().enumerate() {
            let (field, name, known) = match metric.type_.as_str() {
                "Resource" => (
                    "resource.name",
                    metric.resource.as_ref().map(|r| r.name.clone()),
                    autoscaler_metrics::RESOURCES,
                ),
                "Pods" => (
                    "pods.metric.name",
                    metric
                        .pods
                        .as_ref()
                        .and_then(|p| p.metric.as_ref())
                        .map(|m| m.name.clone()),
                    autoscaler_metrics::PODS,
                ),
                "External" => (
                    "external.metric.name",
                    metric
                        .external
                        .as_ref()
                        .and_then(|p| p.metric.as_ref())
                        .map(|m| m.name.clone()),
                    autoscaler_metrics::EXTERNAL,
                ),
                other => {
                    e.at(
                        &format!("{path}.metrics[{m}].type"),
                        format!(
                            "the simulator serves Resource (cpu), Pods and External metrics, not `{other}`"
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if let Some(name) = name
                && !known.contains(&name.as_str())
            {
                e.at(
                    &format!("{path}.metrics[{m}].{field}"),
                    format!(
                        "the simulator serves no {} metric `{name}`{}",
                        metric.type_,
                        did_you_mean(&name, known),
                    ),
                );
                ok = false;
            }
        }
        ok
    };
    let hpa_errors = |e: &mut Errs, spec: &hpa::HpaSpec| -> bool {
        let errs = hpa::validate(spec);
        for fe in &errs {
            let at = format!("{path}.{}", fe.path);
            let err = error_at(&file, &e.l.tree, &at, fe.message.clone());
            e.out.push(err);
        }
        errs.is_empty()
    };
    match common.kind {
        AutoscalerKind::Hpa => {
            let spec: hpa::HpaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            if !hpa_errors(e, &spec) || !check_names(e, &spec) {
                return None;
            }
            if replicas < spec.min_replicas as u64 || replicas > spec.max_replicas as u64 {
                e.at(
                    &format!("services[{i}].replicas"),
                    format!(
                        "the initial {replicas} replicas must be from minReplicas ({}) to maxReplicas ({})",
                        spec.min_replicas, spec.max_replicas
                    ),
                );
                return None;
            }
            Some(AutoscalerPlan::Hpa {
                spec,
                cfg,
                sync,
                pipelines,
            })
        }
        AutoscalerKind::Kpa => {
            let spec: kpa::KpaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            match spec.resolve() {
                Ok(c) => Some(AutoscalerPlan::Kpa(c)),
                Err(msg) => {
                    e.at(&path, msg);
                    None
                }
            }
        }
        AutoscalerKind::Keda => {
            let spec: keda::KedaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            let keda = match spec.resolve() {
                Ok(c) => c,
                Err(msg) => {
                    e.at(&path, msg);
                    return None;
                }
            };
            for (t, trig) in keda.triggers.iter().enumerate() {
                if !autoscaler_metrics::EXTERNAL.contains(&trig.metric.as_str()) {
                    e.at(
                        &format!("{path}.triggers[{t}].metric"),
                        format!(
                            "the simulator serves no external metric `{}`{}",
                            trig.metric,
                            did_you_mean(&trig.metric, autoscaler_metrics::EXTERNAL),
                        ),
                    );
                    return None;
                }
            }
            // The HPA KEDA creates: one External AverageValue metric per trigger.
            let metrics = keda
                .hpa_targets()
                .into_iter()
                .map(|t| hpa::MetricSpec {
                    type_: "External".into(),
                    external: Some(hpa::ExternalMetricSource {
                        metric: Some(hpa::MetricIdentifier {
                            name: t.metric_name,
                            selector: None,
                        }),
                        target: Some(hpa::MetricTarget {
                            type_: "AverageValue".into(),
                            value: None,
                            average_value: Some(hpa::Quantity(
                                (t.average_value * 1000.0).round() as i64
                            )),
                            average_utilization: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            let spec = hpa::HpaSpec {
                min_replicas: keda.hpa_min_replicas(),
                max_replicas: keda.hpa_max_replicas(),
                metrics,
                ..Default::default()
            };
            Some(AutoscalerPlan::Keda {
                keda,
                spec,
                cfg,
                sync,
                pipelines,
            })
        }
    }
}
