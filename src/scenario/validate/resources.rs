//! What one replica of a service asks of a node: GPUs (or GPU shares) on a GPU pool,
//! milli-CPUs on a CPU pool, memory on either, and the CPU request the HPA's `cpu` metric
//! divides by.

use super::Errs;
use super::pools::{GIB, memory_in_range};
use crate::cluster::plan::CPU_UNITS_PER_CPU;
use crate::control::hpa::format_milli;
use crate::hardware::fmt_num;
use crate::scenario::types::{ServiceSpec, limits};
use crate::sim::plan::PoolPlan;

/// A replica's requests, resolved.
pub(super) struct Resources {
    /// GPUs (or shares) per replica: 0 on a CPU pool.
    pub gpus: u32,
    /// Schedulable units per replica on one node: `gpus` on a GPU pool, milli-CPUs on a
    /// CPU pool.
    pub units: u32,
    /// The pod's CPU request in milli-CPUs (the HPA's `cpu` metric is usage over it).
    pub cpu_request_milli: i64,
    /// CPUs per replica as the plan holds them (0: none given, on a GPU pool).
    pub cpus_per_replica: f64,
    /// Memory per replica, bytes (0: none given).
    pub memory: u64,
}

/// Milli-CPUs as a number of CPUs for messages: `2`, `0.5`, `1.25`.
pub(super) fn cpus(milli: i64) -> String {
    format!("{}", milli as f64 / f64::from(CPU_UNITS_PER_CPU))
}

/// CPUs a replica requests when neither `cpus_per_replica` nor `cpu_request` is given.
const DEFAULT_CPU_MILLI: i64 = 1000;

/// Resolves service `i`'s requests on its pool (`pool` is None where the pool is unknown or
/// has errors; `cpu_pool` says whether the pool's spec is a CPU pool). None on an error,
/// which it reports.
pub(super) fn resolve(
    e: &mut Errs,
    i: usize,
    s: &ServiceSpec,
    pool: Option<&PoolPlan>,
    cpu_pool: bool,
) -> Option<Resources> {
    let at = |f: &str| format!("services[{i}].{f}");
    let mut ok = true;
    let gpus = s.gpus_per_replica.unwrap_or(if cpu_pool { 0 } else { 1 });
    if cpu_pool && gpus != 0 {
        e.at(
            &at("gpus_per_replica"),
            format!(
                "pool `{}` is a CPU pool (it gives cpus_per_node): it has no GPUs, so \
                 gpus_per_replica must be 0 or left out; size the pod with cpus_per_replica",
                s.node_pool
            ),
        );
        ok = false;
    }
    if let Some(pool) = pool
        && !cpu_pool
    {
        let per_node = pool.units_per_node();
        if gpus < 1 || gpus > i64::from(per_node) {
            e.at(
                &at("gpus_per_replica"),
                format!(
                    "gpus_per_replica must be a whole number from 1 to {per_node} (a node of \
                     pool `{}` has {per_node}, each a {}), found {gpus}",
                    pool.name, pool.share.label
                ),
            );
            ok = false;
        }
    }
    // `cpu_request` and `cpus_per_replica` are one Kubernetes field (resources.requests.cpu)
    // under two names: the HPA's word and the scheduler's.
    let (cpu_field, milli) = match (s.cpus_per_replica, s.cpu_request) {
        (Some(c), Some(r)) if c != r => {
            e.at(
                &at("cpu_request"),
                format!(
                    "cpu_request ({}) and cpus_per_replica ({}) are the same Kubernetes request \
                     (resources.requests.cpu); give one of them, or equal values",
                    format_milli(r.0),
                    format_milli(c.0)
                ),
            );
            return None;
        }
        (Some(c), _) => ("cpus_per_replica", Some(c.0)),
        (None, Some(r)) => ("cpu_request", Some(r.0)),
        (None, None) => ("cpus_per_replica", None),
    };
    let most = limits::MAX_CPUS_PER_NODE as i64 * i64::from(CPU_UNITS_PER_CPU);
    // A CPU request that sizes a pod (always on a CPU pool; given as cpus_per_replica
    // elsewhere) must be a real one. A bare `cpu_request` on a GPU pool keeps its old
    // meaning, the HPA's divisor, whatever its value.
    let sizes_pod = cpu_pool || s.cpus_per_replica.is_some();
    if let Some(m) = milli
        && sizes_pod
        && (m <= 0 || m > most)
    {
        e.at(
            &at(cpu_field),
            format!(
                "{cpu_field} must be more than 0 and at most {} CPUs (found {})",
                limits::MAX_CPUS_PER_NODE,
                cpus(m)
            ),
        );
        return None;
    }
    let milli = milli.unwrap_or(DEFAULT_CPU_MILLI);
    if cpu_pool
        && let Some(pool) = pool
        && milli > i64::from(pool.units_per_node())
    {
        e.at(
            &at(if s.cpus_per_replica.is_some() || s.cpu_request.is_some() {
                cpu_field
            } else {
                "node_pool"
            }),
            format!(
                "a replica requests {} CPUs{}, more than a node of pool `{}` has \
                 (cpus_per_node: {}): it could never be placed",
                cpus(milli),
                if milli == DEFAULT_CPU_MILLI && s.cpus_per_replica.is_none() {
                    " (the default of cpus_per_replica)"
                } else {
                    ""
                },
                pool.name,
                cpus(i64::from(pool.units_per_node()))
            ),
        );
        ok = false;
    }
    let memory = match s.memory_per_replica {
        None => 0,
        Some(b) => {
            if !memory_in_range(e, &at("memory_per_replica"), "memory_per_replica", b.0) {
                return None;
            }
            if let Some(node) = pool.and_then(|p| p.memory_per_node)
                && b.0 > node as f64
            {
                e.at(
                    &at("memory_per_replica"),
                    format!(
                        "memory_per_replica ({}GiB) is more than a node of pool `{}` has \
                         (memory_per_node: {}GiB): the pod could never be placed",
                        fmt_num(b.0 / GIB),
                        s.node_pool,
                        fmt_num(node as f64 / GIB)
                    ),
                );
                ok = false;
            }
            b.0 as u64
        }
    };
    if !ok {
        return None;
    }
    let cpus = milli as f64 / f64::from(CPU_UNITS_PER_CPU);
    Some(Resources {
        // In range: checked above (ok is false otherwise).
        gpus: gpus.clamp(0, i64::from(u32::MAX)) as u32,
        units: if cpu_pool {
            milli as u32
        } else {
            gpus.clamp(0, i64::from(u32::MAX)) as u32
        },
        cpu_request_milli: milli,
        cpus_per_replica: if cpu_pool || s.cpus_per_replica.is_some() {
            cpus
        } else {
            0.0
        },
        memory,
    })
}
