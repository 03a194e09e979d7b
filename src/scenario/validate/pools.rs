//! `node_pools:`: nodes, their GPUs and how they are shared (or their CPUs, on a CPU pool),
//! memory and prices, node autoscaling bounds, balloon pods and failures.

use super::{Errs, did_you_mean, unique_names};
use crate::cluster::plan::CPU_UNITS_PER_CPU;
use crate::engine::SimTime;
use crate::hardware::{self, GpuProfile, GpuSharing, Share, fmt_num};
use crate::scenario::types::{DEFAULT_GPUS_PER_NODE, NodePoolSpec, Scenario, limits};
use crate::sim::plan::PoolPlan;

/// `node_pools:`, one entry per pool (`None` where the pool has errors).
pub(super) fn resolve(e: &mut Errs, sc: &Scenario, gpus: &[GpuProfile]) -> Vec<Option<PoolPlan>> {
    let gpu_names: Vec<&str> = gpus.iter().map(|g| g.name.as_str()).collect();
    unique_names(
        e,
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
        let cpu_units = match p.cpus_per_node {
            Some(q) => {
                ok &= cpu_pool_fields(e, i, p);
                Some(q.0)
            }
            None => None,
        };
        let gpus_per_node = p.gpus_per_node.unwrap_or(DEFAULT_GPUS_PER_NODE);
        if cpu_units.is_none() && (gpus_per_node == 0 || gpus_per_node > limits::MAX_GPUS_PER_NODE)
        {
            e.at(
                &at("gpus_per_node"),
                format!(
                    "gpus_per_node must be from 1 to {} (found {gpus_per_node})",
                    limits::MAX_GPUS_PER_NODE,
                ),
            );
            ok = false;
        }
        let memory_per_node = p.memory_per_node.map(|b| {
            ok &= memory_in_range(e, &at("memory_per_node"), "memory_per_node", b.0);
            b.0 as u64
        });
        if !(0.0..=limits::MAX_PRICE).contains(&p.price_per_node_hour) {
            e.at(
                &at("price_per_node_hour"),
                format!(
                    "price_per_node_hour must be from 0 to {} (found {})",
                    limits::MAX_PRICE,
                    p.price_per_node_hour
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
            && cpu_units.is_none()
            && (b.pods > limits::MAX_REPLICAS
                || b.gpus_per_pod == 0
                || b.gpus_per_pod > gpus_per_node)
        {
            e.at(
                &at("balloons"),
                format!(
                    "balloons: from 0 to {} pods of 1 to gpus_per_node ({}) units each (found {} pods of {})",
                    limits::MAX_REPLICAS,
                    gpus_per_node,
                    b.pods,
                    b.gpus_per_pod
                ),
            );
            ok = false;
        }
        if p.image_pull_bandwidth.is_some_and(|b| b.0 == 0.0) {
            e.at(
                &at("image_pull_bandwidth"),
                "image_pull_bandwidth must be positive: no image would ever arrive",
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
        let failures = p.failures.as_ref().and_then(|f| {
            let plan = super::failures::failure_plan(e, i, f, max_nodes, sc.duration.0);
            ok &= plan.is_some();
            plan
        });
        let placeholder;
        let gpu = match (&p.gpu, cpu_units) {
            (_, Some(_)) => {
                placeholder = no_gpu();
                &placeholder
            }
            (None, None) => {
                e.at(
                    &format!("node_pools[{i}]"),
                    "a node pool needs `gpu` (a GPU pool, e.g. `gpu: a100-80gb`) or \
                     `cpus_per_node` (a CPU pool, e.g. `cpus_per_node: 32`)",
                );
                pools.push(None);
                continue;
            }
            (Some(name), None) => match gpus.iter().find(|g| &g.name == name) {
                Some(g) => g,
                None => {
                    e.at(
                        &at("gpu"),
                        format!(
                            "unknown GPU profile `{name}`{}",
                            did_you_mean(name, &gpu_names)
                        ),
                    );
                    pools.push(None);
                    continue;
                }
            },
        };
        let topology = p.topology.as_ref().and_then(|t| {
            let island = t.island.unwrap_or(u64::from(u32::MAX));
            if t.rack == 0 || t.rack > limits::MAX_NODES {
                e.at(
                    &at("topology.rack"),
                    format!("rack must be from 1 to {} nodes", limits::MAX_NODES),
                );
                None
            } else if t.island.is_some() && (island < t.rack || island % t.rack != 0) {
                e.at(
                    &at("topology.island"),
                    format!(
                        "an island ({island} nodes) must be a whole number of racks of {} nodes",
                        t.rack
                    ),
                );
                None
            } else {
                Some(crate::cluster::Topology {
                    rack: t.rack as u32,
                    island: island.min(u64::from(u32::MAX)) as u32,
                })
            }
        });
        let share = match hardware::share(gpu, &p.gpu_sharing) {
            // The unit of a CPU pool is a milli-CPU, set by `cpus_per_node`; a service-time
            // model's time is not stretched (compute fraction 1).
            Ok(s) if cpu_units.is_some() => Share {
                label: "milli-CPU".to_string(),
                ..s
            },
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
                gpus_per_node: if cpu_units.is_some() {
                    0
                } else {
                    gpus_per_node as u32
                },
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
                failures,
                topology,
                cpus_per_node: cpu_units.map(|m| m as f64 / f64::from(CPU_UNITS_PER_CPU)),
                memory_per_node,
                price_per_node_hour: p.price_per_node_hour,
            }
        }));
    }
    pools
}

/// The GPU profile of a CPU pool, which has none. Nothing reads its figures: services on a
/// CPU pool may only run `service_time` models, whose cost does not depend on the GPU, and
/// the pool has 0 GPUs per node, so GPU hours and prices stay 0. Its name is what reports
/// show for the pool's GPU.
fn no_gpu() -> GpuProfile {
    GpuProfile {
        name: "none".to_string(),
        source: "a CPU pool: no GPU".to_string(),
        ..GpuProfile::default()
    }
}

/// The fields of a CPU pool (one with `cpus_per_node`): its CPUs in range, and none of the
/// GPU pool's fields. Returns whether all is well.
fn cpu_pool_fields(e: &mut Errs, i: usize, p: &NodePoolSpec) -> bool {
    let at = |f: &str| format!("node_pools[{i}].{f}");
    let mut ok = true;
    let cpu_pool = format!("pool `{}` is a CPU pool (it gives cpus_per_node)", p.name);
    if p.gpu.is_some() {
        e.at(
            &at("cpus_per_node"),
            "a node pool is either a GPU pool (`gpu`, `gpus_per_node`) or a CPU pool \
             (`cpus_per_node`), not both: pods on a GPU pool are placed by their GPUs; \
             remove `cpus_per_node` (a service's `cpus_per_replica` on a GPU pool is \
             informational), or `gpu` for a CPU pool",
        );
        return false;
    }
    let milli = p.cpus_per_node.map_or(0, |q| q.0);
    let most = limits::MAX_CPUS_PER_NODE as i64 * i64::from(CPU_UNITS_PER_CPU);
    if milli <= 0 || milli > most {
        e.at(
            &at("cpus_per_node"),
            format!(
                "cpus_per_node must be more than 0 and at most {} CPUs (found {})",
                limits::MAX_CPUS_PER_NODE,
                super::resources::cpus(milli)
            ),
        );
        ok = false;
    }
    let refuse = |e: &mut Errs, field: &str, why: &str| {
        e.at(&at(field), format!("{cpu_pool}: {why}"));
    };
    if p.gpus_per_node.is_some() {
        refuse(e, "gpus_per_node", "it has no GPUs; remove gpus_per_node");
        ok = false;
    }
    if p.gpu_sharing != GpuSharing::None {
        refuse(
            e,
            "gpu_sharing",
            "it has no GPUs to share; remove gpu_sharing",
        );
        ok = false;
    }
    if p.price_per_gpu_hour != 0.0 {
        refuse(
            e,
            "price_per_gpu_hour",
            "it has no GPUs; price its nodes with price_per_node_hour",
        );
        ok = false;
    }
    if p.balloons.is_some() {
        refuse(
            e,
            "balloons",
            "balloon pods (whose size is in GPUs) are not supported on CPU pools; remove balloons",
        );
        ok = false;
    }
    ok
}

/// Checks a memory size (node or replica) against 0 and [`limits::MAX_MEMORY_BYTES`].
pub(super) fn memory_in_range(e: &mut Errs, path: &str, field: &str, bytes: f64) -> bool {
    if bytes > 0.0 && bytes <= limits::MAX_MEMORY_BYTES {
        return true;
    }
    e.at(
        path,
        format!(
            "{field} must be more than 0 and at most {}GiB (64TiB) (found {}GiB)",
            fmt_num(limits::MAX_MEMORY_BYTES / GIB),
            fmt_num(bytes / GIB)
        ),
    );
    false
}

/// Bytes in a GiB, for messages.
pub(super) const GIB: f64 = (1u64 << 30) as f64;
