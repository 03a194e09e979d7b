//! `services:`: pool, replicas and limits, batching, SLO, autoscaler, and the cost of an
//! execution from the service's model.

use super::autoscaler::autoscaler_plan;
use super::llm::llm_plan;
use super::models::names_llm;
use super::{Errs, did_you_mean, unique_names};
use crate::engine::SimTime;
use crate::hardware::GpuProfile;
use crate::models::batch::{self as batch_models, BatchCurve};
use crate::models::llm::{self, LlmArch};
use crate::scenario::types::{
    BatchingSpec, ContinuousBatching, Scenario, ServiceKind, ServiceSpec, SloSpec, limits,
};
use crate::sim::plan::{Batching, Cost, PoolPlan, Routing, ServicePlan, SloPlan};

/// `services:`, one entry per service (`None` where the service has errors).
pub(super) fn resolve(
    e: &mut Errs,
    sc: &Scenario,
    gpus: &[GpuProfile],
    pools: &[Option<PoolPlan>],
    builtin_models: &[String],
) -> Vec<Option<ServicePlan>> {
    let l = e.l;
    let mut model_names: Vec<&str> = builtin_models.iter().map(|s| s.as_str()).collect();
    model_names.extend(sc.models.iter().map(|m| m.name.as_str()));
    let pool_names: Vec<&str> = sc.node_pools.iter().map(|p| p.name.as_str()).collect();
    if sc.services.is_empty() && sc.training.is_none() {
        e.at(
            "services",
            "a scenario needs at least one service or a `training:` section",
        );
    }
    unique_names(e, "services", sc.services.iter().map(|s| s.name.as_str()));
    let mut services: Vec<Option<ServicePlan>> = Vec::new();
    for (i, s) in sc.services.iter().enumerate() {
        let at = |f: &str| format!("services[{i}].{f}");
        let mut ok = true;
        if matches!(
            s.name.as_str(),
            "cluster" | "engine" | "training" | "apiserver" | "etcd"
        ) || ["training/", "queue/", "apf/", "api/"]
            .iter()
            .any(|p| s.name.starts_with(p))
        {
            e.at(
                &at("name"),
                format!(
                    "`{}` would name a component of the results that is not a service: \
                     `cluster`, `engine`, `training`, `apiserver`, `etcd` and names starting \
                     with `training/`, `queue/`, `apf/` or `api/` are taken",
                    s.name
                ),
            );
        }
        if i32::try_from(s.priority).is_err() {
            e.at(
                &at("priority"),
                "priority must fit a 32-bit integer, as a PriorityClass value does",
            );
        }
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
        // As its pool's spec says (a pool giving both `gpu` and `cpus_per_node` is refused
        // there, and counts as a GPU pool here).
        let cpu_pool = pool_index.is_some_and(|p| {
            sc.node_pools[p].cpus_per_node.is_some() && sc.node_pools[p].gpu.is_none()
        });
        let resources = super::resources::resolve(e, i, s, pool, cpu_pool);
        ok &= resources.is_some();
        let gpus_per_replica = resources.as_ref().map_or(0, |r| r.gpus);
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
        let slo = s.slo.as_ref().map(|slo| slo_plan(slo, e, i, is_llm));
        ok &= kind_checks(e, i, s);
        let autoscaler = if s.autoscaler.is_some() && s.kind == ServiceKind::Deployment {
            let a = autoscaler_plan(e, i, s.replicas);
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
        let generic = user_model.is_some_and(|m| m.service_time.is_some());
        let cost_pool =
            if cpu_pool && !generic && (user_model.is_some() || builtin.is_some() || is_llm) {
                e.at(
                    &at("model"),
                    format!(
                        "model `{}` needs a GPU, and pool `{}` is a CPU pool (it gives \
                     cpus_per_node): a service on a CPU pool runs a model with a \
                     `service_time` distribution (`models: [{{name: ..., service_time: ...}}]`)",
                        s.model, s.node_pool
                    ),
                );
                ok = false;
                None
            } else {
                pool
            };
        let cost = match (user_model, builtin, cost_pool) {
            _ if is_llm => match (&llm_arch, cost_pool) {
                (Some(arch), Some(pool)) => {
                    let spec = match batching_spec {
                        BatchingSpec::Continuous(c) => c.clone(),
                        // `batching: none` on an LLM: one request at a time.
                        _ => ContinuousBatching {
                            max_num_seqs: Some(1),
                            ..Default::default()
                        },
                    };
                    // Below 1 it was refused above.
                    let gpus = Some(u64::from(gpus_per_replica)).filter(|&g| g >= 1);
                    gpus.and_then(|g| llm_plan(e, i, g, arch, pool, &spec))
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
                    } else if d.check().is_err() {
                        // Reported once, with `models:`.
                        None
                    } else {
                        d.compile(&l.base_dir)
                            .map_err(|err| {
                                e.at(
                                    &format!("models[{}].service_time", model_index(sc, &m.name)),
                                    err.message,
                                )
                            })
                            .ok()
                            .map(|sampler| Cost::Generic {
                                sampler,
                                scale: 1.0 / pool.share.compute_fraction,
                            })
                    }
                }
                // An invalid curve was reported with `models:`.
                (None, Some(b)) if b.check().is_err() => None,
                (None, Some(b)) => match b.curve(gpus) {
                    Ok(curve) => Some(table_cost(&curve, pool, batching, gpus)),
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
                Some(table_cost(&BatchCurve::Roofline(b), pool, batching, gpus))
            }
        };
        if !ok {
            services.push(None);
            continue;
        }
        services.push(match (pool_index, pool, cost, resources) {
            (Some(pi), Some(pool), Some(cost), Some(r)) => Some(ServicePlan {
                name: s.name.clone(),
                model: s.model.clone(),
                pool: pi,
                // In range: checked against the limits above (ok is false otherwise).
                units_per_replica: r.units,
                priority: s.priority.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                gpus_per_replica: f64::from(r.gpus) / pool.share.units_per_gpu as f64,
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
                cpu_request_milli: r.cpu_request_milli,
                autoscaler,
                routing: s.routing,
                batching,
                concurrency: s.concurrency as u32,
                queue_capacity: s.queue_capacity.map(|c| c as u32),
                cost,
                slo,
                // Filled by `calls::resolve` once every service is known.
                calls: Vec::new(),
                statefulset: s.kind == ServiceKind::Statefulset,
                cpus_per_replica: r.cpus_per_replica,
                memory_per_replica: r.memory,
            }),
            _ => None,
        });
    }
    services
}

/// A StatefulSet keeps its replicas (no autoscaler, at least one); `routing: primary` needs
/// one. Returns whether all is well.
fn kind_checks(e: &mut Errs, i: usize, s: &ServiceSpec) -> bool {
    let at = |f: &str| format!("services[{i}].{f}");
    let mut ok = true;
    match s.kind {
        ServiceKind::Statefulset => {
            if s.autoscaler.is_some() {
                e.at(
                    &at("autoscaler"),
                    format!(
                        "service `{}` is a StatefulSet (kind: statefulset), whose replicas stay \
                         fixed here (each keeps its ordinal identity, as a database's primary \
                         and replicas do); remove `autoscaler`, or use kind: deployment",
                        s.name
                    ),
                );
                ok = false;
            }
            if s.replicas == 0 {
                e.at(
                    &at("replicas"),
                    format!(
                        "service `{}` is a StatefulSet, whose replicas stay fixed: with 0 it \
                         would never serve; give replicas: 1 or more",
                        s.name
                    ),
                );
                ok = false;
            }
        }
        ServiceKind::Deployment => {
            if s.routing == Routing::Primary {
                e.at(
                    &at("routing"),
                    format!(
                        "routing: primary sends every request to ordinal 0 of a StatefulSet, \
                         and service `{}` is a Deployment, whose replicas have no ordinals; \
                         use kind: statefulset, or another routing",
                        s.name
                    ),
                );
                ok = false;
            }
        }
    }
    ok
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
