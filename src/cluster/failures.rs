//! Node failures, and what Kubernetes' node lifecycle controller does about them.
//!
//! A node that fails stops working at once: its pods do no more work ([`PodChange::Lost`]).
//! Nothing in the API knows yet. The kubelet renewed its Lease every
//! `node_status_update_frequency` since the node joined; the node lifecycle controller
//! (kube-controller-manager's `nodelifecycle` controller) looks every `node_monitor_period`
//! and marks the node NotReady at its first look that is more than
//! `node_monitor_grace_period` after the last renewal (`tryUpdateNodeHealth`:
//! `now.After(probeTimestamp + gracePeriod)`). Until then the node and its pods stay Ready:
//! the scheduler may still bind pods there (they never start) and the endpoints still list
//! the pods. At NotReady the node is tainted (no more scheduling there) and its pods' Ready
//! condition turns false (`MarkPodsNotReady`), so they leave the endpoints. The taints'
//! `tolerationSeconds` (`pod_eviction_timeout`, 300s) later, taint-based eviction deletes
//! the pods; their ReplicaSets create replacements, which are scheduled like any new pod. A
//! lost pod's room stays allocated on the failed node until its eviction. (A StatefulSet's pod
//! is not replaced then: its deletion cannot complete while the node is down, see
//! [`super::statefulset`].)
//!
//! A failed node is repaired after `repair_time` and rejoins empty, as a new generation of
//! its node slot (what was scheduled for the old one is then stale); pods still bound to it
//! (a repair faster than the eviction) are deleted and replaced at that moment.

use super::{
    Cluster, ClusterEv, Controller, Health, NodeChange, NodeId, Owner, PodChange, PodPhase,
};
use crate::engine::{SimTime, Sink};

impl Cluster {
    /// Schedules the scheduled failures and every node's first random failure.
    pub(super) fn start_failures(&mut self, q: &mut impl Sink<ClusterEv>) {
        for pi in 0..self.plans.len() {
            let Some(f) = &self.plans[pi].failures else {
                continue;
            };
            for &(node, at) in &f.at {
                q.at(at, ClusterEv::ScheduledFailure(pi as u16, node));
            }
            for n in 0..self.pools[pi].node_slots() {
                self.schedule_failure(SimTime::ZERO, pi, n, q);
            }
        }
    }

    /// Draws when `node`, which joined at `now`, fails next (up times are exponential with
    /// mean `mtbf`, drawn anew at each join).
    pub(super) fn schedule_failure(
        &mut self,
        now: SimTime,
        pool: usize,
        node: u32,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let Some(up) = self.plans[pool]
            .failures
            .as_ref()
            .and_then(|f| f.up_time.as_ref())
        else {
            return;
        };
        let Some((rng, _)) = self.state[pool].failure_rng.as_mut() else {
            return;
        };
        let at = now + up.sample_time(rng);
        let id = self.pools[pool].id(pool as u16, node);
        q.at(at, ClusterEv::NodeFails(id));
    }

    /// `node` stops working now. A node that is already down, or removed, is left alone.
    pub(super) fn fail_node(
        &mut self,
        now: SimTime,
        pool: usize,
        node: u32,
        q: &mut impl Sink<ClusterEv>,
    ) {
        if self.pools[pool].health(node) != Health::Up {
            return;
        }
        self.pools[pool].fail(node);
        if now >= self.warmup {
            self.failures += 1;
        }
        self.notify_node(pool, node, NodeChange::Failed);
        for pod in self.pools[pool].pods(node).to_vec() {
            let p = self.pods.pod_mut(pod);
            p.lost = true;
            if matches!(p.phase, PodPhase::Running | PodPhase::Terminating) {
                self.notify(pod, PodChange::Lost);
            }
        }
        let id = self.pools[pool].id(pool as u16, node);
        q.at(
            self.not_ready_time(pool, node, now),
            ClusterEv::NodeNotReady(id),
        );
        if let Some(f) = &self.plans[pool].failures
            && let Some((_, rng)) = self.state[pool].failure_rng.as_mut()
        {
            let repair = f.repair.sample_time(rng);
            q.at(now + repair, ClusterEv::NodeRepaired(id));
        }
    }

    /// When the node lifecycle controller marks `node`, failed at `failed`, NotReady: at its
    /// first look (looks are whole multiples of the monitor period) more than the grace period
    /// after the last heartbeat (heartbeats are whole renew intervals after the node joined; one
    /// due at the very instant of the failure was sent).
    fn not_ready_time(&self, pool: usize, node: u32, failed: SimTime) -> SimTime {
        let c = &self.cfg;
        let joined = self.pools[pool].joined(node);
        let every = c.node_status_update_frequency.0.max(1);
        let last_beat = joined.0 + failed.since(joined).0 / every * every;
        let period = c.node_monitor_period.0.max(1);
        let deadline = last_beat.saturating_add(c.node_monitor_grace_period.0);
        SimTime((deadline / period).saturating_add(1).saturating_mul(period))
    }

    pub(super) fn on_node_not_ready(
        &mut self,
        now: SimTime,
        id: NodeId,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let (pool, node) = (id.pool as usize, id.node);
        if !self.pools[pool].is_current(id) || self.pools[pool].health(node) != Health::Failed {
            return;
        }
        self.pools[pool].mark_not_ready(node);
        self.nodes_ready.add(now, -1);
        self.notify_node(pool, node, NodeChange::NotReady);
        for pod in self.pools[pool].pods(node).to_vec() {
            let p = self.pods.pod_mut(pod);
            if p.ready {
                p.ready = false;
                p.ready_changed = now;
                self.notify(pod, PodChange::NotReady);
            }
        }
        q.at(
            now + self.cfg.pod_eviction_timeout,
            ClusterEv::NodeEviction(id),
        );
    }

    pub(super) fn on_node_eviction(
        &mut self,
        now: SimTime,
        id: NodeId,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let (pool, node) = (id.pool as usize, id.node);
        if !self.pools[pool].is_current(id) || self.pools[pool].health(node) != Health::NotReady {
            return;
        }
        self.evict_pods(now, pool, node, false, q);
        self.retry_pending(now, pool, q);
    }

    /// Deletes every pod bound to `node` (which the scheduler no longer uses) now; their
    /// ReplicaSets replace them, balloons wait again. A StatefulSet's pod is only marked
    /// deleted unless `confirmed` (the node is back, and its kubelet removes the pod): see
    /// [`super::statefulset`].
    fn evict_pods(
        &mut self,
        now: SimTime,
        pool: usize,
        node: u32,
        confirmed: bool,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let mut sets: Vec<usize> = Vec::new();
        for pod in self.pools[pool].pods(node).to_vec() {
            let p = self.pods.pod(pod);
            match p.owner {
                Owner::Balloon(_) => self.unbind_balloon(pod),
                Owner::Service(rs)
                    if !confirmed
                        && self.sets[rs as usize].controller == Controller::StatefulSet =>
                {
                    self.evict_stateful_pod(pod, rs as usize);
                }
                Owner::Service(rs) => {
                    let rs = rs as usize;
                    if p.phase != PodPhase::Terminating {
                        self.sets[rs].active -= 1;
                    }
                    self.remove_pod(pod);
                    if !sets.contains(&rs) {
                        sets.push(rs);
                    }
                }
                // Training gangs are deleted and recreated by their job controller.
                Owner::Job(_) => {
                    self.remove_pod(pod);
                }
            }
        }
        for rs in sets {
            self.reconcile(now, rs, q);
        }
    }

    pub(super) fn on_node_repaired(
        &mut self,
        now: SimTime,
        id: NodeId,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let (pool, node) = (id.pool as usize, id.node);
        if !self.pools[pool].is_current(id) {
            return;
        }
        let health = self.pools[pool].health(node);
        if !matches!(health, Health::Failed | Health::NotReady) {
            return;
        }
        if health == Health::Failed {
            // Out of the scheduler's reach while its pods go (faster than their eviction).
            self.pools[pool].mark_not_ready(node);
        }
        self.evict_pods(now, pool, node, true, q);
        self.pools[pool].rejoin(node, now);
        if health == Health::NotReady {
            self.nodes_ready.add(now, 1);
        }
        self.state[pool].unneeded_since[node as usize] = None;
        self.notify_node(pool, node, NodeChange::Joined);
        self.schedule_failure(now, pool, node, q);
        self.retry_pending(now, pool, q);
    }
}
