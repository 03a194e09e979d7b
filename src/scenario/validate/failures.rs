//! `node_pools[].failures` and `cluster:`: node failures and the node lifecycle controller's
//! timing.

use super::Errs;
use crate::engine::SimTime;
use crate::scenario::types::limits;

/// Resolves `node_pools[i].failures` of a pool of at most `max_nodes` nodes, over a run of
/// `duration`.
pub(super) fn failure_plan(
    e: &mut Errs,
    i: usize,
    f: &crate::scenario::types::FailureSpec,
    max_nodes: u64,
    duration: SimTime,
) -> Option<crate::cluster::FailurePlan> {
    use crate::workload::{Delay, Dist, Q, Secs};
    let at = |field: &str| format!("node_pools[{i}].failures.{field}");
    let mut ok = true;
    let up_time = match f.mtbf {
        None => None,
        Some(m) if m.0 == SimTime::ZERO => {
            e.at(&at("mtbf"), "mtbf must be longer than zero");
            ok = false;
            None
        }
        Some(m) => {
            let expected = max_nodes as f64 * duration.as_secs_f64() / m.0.as_secs_f64();
            if expected > limits::MAX_EXPECTED_FAILURES {
                e.at(
                    &at("mtbf"),
                    format!(
                        "{max_nodes} nodes with an mtbf of {} fail about {expected:.3e} times in {duration}: the limit is {:e} failures in one replication; lengthen mtbf",
                        m.0,
                        limits::MAX_EXPECTED_FAILURES
                    ),
                );
                ok = false;
            }
            let d: Dist<Secs> = Dist::Exponential {
                mean: Q::new(m.0.as_secs_f64()),
            };
            d.compile(std::path::Path::new(".")).ok()
        }
    };
    // Four hours when not given (SPEC.md, "Node failures").
    let repair = f
        .repair_time
        .clone()
        .unwrap_or_else(|| Delay::fixed(SimTime::from_secs(4 * 3600)));
    let repair = match repair.0.compile(&e.l.base_dir) {
        Ok(s) => Some(s),
        Err(msg) => {
            e.at_field(&at("repair_time"), msg);
            None
        }
    };
    if f.at.len() > limits::MAX_SCHEDULED_FAILURES {
        e.at(
            &at("at"),
            format!(
                "{} scheduled failures: the limit is {} per pool",
                f.at.len(),
                limits::MAX_SCHEDULED_FAILURES
            ),
        );
        ok = false;
    }
    let mut scheduled = Vec::new();
    for (k, s) in f.at.iter().enumerate() {
        if s.node >= max_nodes {
            e.at(
                &at(&format!("at[{k}].node")),
                format!(
                    "node {} does not exist: the pool has at most {max_nodes} nodes (0 to {})",
                    s.node,
                    max_nodes.saturating_sub(1)
                ),
            );
            ok = false;
        } else {
            // A failure after the end of the run (say, under a shortened `--set duration`)
            // simply does not happen.
            scheduled.push((s.node as u32, s.time.0));
        }
    }
    // Stable: failures at one instant keep the file's order.
    scheduled.sort_by_key(|&(_, t)| t);
    let repair = repair?;
    ok.then_some(crate::cluster::FailurePlan {
        up_time,
        repair,
        at: scheduled,
    })
}

/// Resolves `cluster:`, the node lifecycle controller's timing.
pub(super) fn cluster_plan(
    e: &mut Errs,
    c: &crate::scenario::types::ClusterSpec,
) -> crate::cluster::ClusterPlan {
    let mut plan = crate::cluster::ClusterPlan::default();
    let max = SimTime::from_secs(limits::MAX_MONITOR_TIME_SECS);
    if let Some(d) = c.node_monitor_period {
        if d.0 == SimTime::ZERO || d.0 > max {
            e.at(
                "cluster.node_monitor_period",
                format!(
                    "node_monitor_period must be longer than zero and at most {max} (found {})",
                    d.0
                ),
            );
        } else {
            plan.node_monitor_period = d.0;
        }
    }
    if let Some(d) = c.node_monitor_grace_period {
        if d.0 > max {
            e.at(
                "cluster.node_monitor_grace_period",
                format!(
                    "node_monitor_grace_period must be at most {max} (found {})",
                    d.0
                ),
            );
        } else {
            plan.node_monitor_grace_period = d.0;
        }
    }
    if let Some(d) = c.pod_eviction_timeout {
        plan.pod_eviction_timeout = d.0;
    }
    plan
}
