//! The cluster autoscaler: adds nodes for pods that stay Pending, removes nodes that stay
//! unneeded.

use super::{Cluster, ClusterEv, Health, NodeChange};
use crate::engine::{SimTime, Sink};

/// The cluster autoscaler's scan period (`--scan-interval` default 10s).
pub(super) const SCAN_INTERVAL: SimTime = SimTime::from_secs(10);

/// How long a NotReady node must be unneeded before the cluster autoscaler removes it
/// (`--scale-down-unready-time` default 20m).
const SCALE_DOWN_UNREADY_TIME: SimTime = SimTime::from_secs(1200);

impl Cluster {
    /// The cluster autoscaler's scan: adds nodes for pods that stay Pending, removes nodes
    /// unneeded for `scale_down_unneeded_time` (NotReady ones after 20 minutes).
    pub(super) fn on_ca_scan(&mut self, now: SimTime, q: &mut impl Sink<ClusterEv>) {
        for pi in 0..self.plans.len() {
            let pp = &self.plans[pi];
            if pp.min_nodes == pp.max_nodes {
                continue;
            }
            // Scale-up: how many new empty nodes the pending pods need (first fit in order, by
            // units and memory), less those already on their way. A pod that an empty node
            // cannot hold triggers nothing (the autoscaler's "would not fit if a new node is
            // added").
            let per_node = self.pools[pi].units_per_node();
            let mem_per_node = pp.memory_per_node.unwrap_or(u64::MAX);
            let mut bins: Vec<(u32, u64)> = Vec::new();
            for &p in &self.state[pi].pending {
                let units = self.pods.pod(p).units;
                let memory = if pp.memory_per_node.is_some() {
                    self.memory_of(p)
                } else {
                    0
                };
                if units > per_node || memory > mem_per_node {
                    continue;
                }
                match bins.iter_mut().find(|(f, m)| *f >= units && *m >= memory) {
                    Some((f, m)) => {
                        *f -= units;
                        *m -= memory;
                    }
                    None => bins.push((per_node - units, mem_per_node - memory)),
                }
            }
            let cs = &mut self.state[pi];
            let have = self.pools[pi].nodes() + cs.provisioning;
            let need = (bins.len() as u32).saturating_sub(cs.provisioning);
            let add = need.min(pp.max_nodes.saturating_sub(have));
            for _ in 0..add {
                cs.provisioning += 1;
                q.at(
                    now + pp.provision_time,
                    ClusterEv::NodeProvisioned(pi as u16),
                );
            }
            // Scale-down: empty nodes, unneeded long enough, down to min_nodes.
            let (min_nodes, unneeded_time) = (pp.min_nodes, pp.unneeded_time);
            let mut nodes = self.pools[pi].nodes();
            for n in 0..self.pools[pi].node_slots() {
                let health = self.pools[pi].health(n);
                if health == Health::Removed {
                    continue;
                }
                let cs = &mut self.state[pi];
                // A NotReady node cannot help pending pods, so they do not keep it.
                let unready = health == Health::NotReady;
                if !self.pools[pi].is_empty_node(n) || (!cs.pending.is_empty() && !unready) {
                    cs.unneeded_since[n as usize] = None;
                    continue;
                }
                let since = *cs.unneeded_since[n as usize].get_or_insert(now);
                let wait = if unready {
                    SCALE_DOWN_UNREADY_TIME
                } else {
                    unneeded_time
                };
                if now.since(since) >= wait && nodes > min_nodes {
                    self.notify_node(pi, n, NodeChange::Removed);
                    if matches!(health, Health::Up | Health::Failed) {
                        self.nodes_ready.add(now, -1);
                    }
                    self.pools[pi].remove_node(n);
                    let cs = &mut self.state[pi];
                    cs.unneeded_since[n as usize] = None;
                    cs.nodes.add(now, -1);
                    nodes -= 1;
                }
            }
        }
        q.at(now + SCAN_INTERVAL, ClusterEv::CaScan);
    }

    /// A node asked for by the cluster autoscaler is Ready.
    pub(super) fn on_node_provisioned(
        &mut self,
        now: SimTime,
        pool: usize,
        q: &mut impl Sink<ClusterEv>,
    ) {
        self.state[pool].provisioning -= 1;
        self.add_ready_node(now, pool, q);
    }

    /// Nodes added to `pool` from outside the cluster autoscaler (a node-join burst): each
    /// joins Ready and empty.
    pub fn join_nodes(
        &mut self,
        now: SimTime,
        pool: usize,
        count: u32,
        q: &mut impl Sink<ClusterEv>,
    ) {
        for _ in 0..count {
            self.add_ready_node(now, pool, q);
        }
    }

    fn add_ready_node(&mut self, now: SimTime, pool: usize, q: &mut impl Sink<ClusterEv>) {
        let n = self.pools[pool].add_node(now);
        let cs = &mut self.state[pool];
        cs.unneeded_since.resize(n as usize + 1, None);
        cs.nodes.add(now, 1);
        cs.nodes_max = cs.nodes_max.max(cs.nodes.value());
        self.nodes_ready.add(now, 1);
        self.notify_node(pool, n, NodeChange::Joined);
        self.schedule_failure(now, pool, n, q);
        self.retry_pending(now, pool, q);
    }
}
