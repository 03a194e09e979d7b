//! `node_pools:`: nodes, their GPUs and how they are shared, node autoscaling bounds,
//! balloon pods and failures.

use super::{Errs, did_you_mean, unique_names};
use crate::engine::SimTime;
use crate::hardware::{self, GpuProfile};
use crate::scenario::types::{Scenario, limits};
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
                failures,
                topology,
                cpus_per_node: None,
                memory_per_node: None,
                price_per_node_hour: 0.0,
            }
        }));
    }
    pools
}
