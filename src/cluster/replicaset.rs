//! A service's pods as its Deployment's ReplicaSet keeps them: created up to the desired
//! count, deleted in the order the ReplicaSet controller deletes them, replaced when evicted.

use super::pod::NO_ORDINAL;
use super::{Cluster, ClusterEv, PodChange, PodId, PodPhase, PodTemplate};
use crate::engine::{SimTime, Sink};
use crate::stats::TimeIntegral;

/// The most replicas one service may have: an unbounded autoscaler (a KPA without
/// `maxScale`) stops here.
pub const MAX_REPLICAS: u32 = 100_000;

/// The controller that owns a service's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Controller {
    /// A Deployment's ReplicaSet: interchangeable pods, scaled by its autoscaler.
    #[default]
    Deployment,
    /// A StatefulSet: pods with ordinals, created in order, never scaled (see
    /// [`super::statefulset`]).
    StatefulSet,
}

/// The pods of one service.
#[derive(Debug, Clone)]
pub struct ReplicaSet {
    /// What each pod asks of the cluster.
    pub template: PodTemplate,
    /// Who keeps its pods.
    pub controller: Controller,
    /// The replica count asked for.
    pub desired: u32,
    /// Pods not being deleted (the replica count).
    pub active: u32,
    /// Of those, pods waiting for a node.
    pub pending: u32,
    /// Pods waiting for a node, over time.
    pub pending_time: TimeIntegral,
    /// Pods not gone, in creation order.
    pub pods: Vec<PodId>,
}

impl ReplicaSet {
    pub(super) fn new(template: PodTemplate, desired: u32, controller: Controller) -> ReplicaSet {
        ReplicaSet {
            template,
            controller,
            desired,
            active: 0,
            pending: 0,
            pending_time: TimeIntegral::default(),
            pods: Vec::new(),
        }
    }

    /// One more (`delta` 1) or one fewer (-1) pod waits for a node, from `now`.
    pub(super) fn pending_change(&mut self, now: SimTime, delta: i32) {
        self.pending = self.pending.saturating_add_signed(delta);
        self.pending_time.add(now, i64::from(delta));
    }

    pub(super) fn forget(&mut self, pod: PodId) {
        self.pods.retain(|&x| x != pod);
    }
}

impl Cluster {
    /// Scales ReplicaSet `rs` to `desired` pods: creates pods, or deletes the ones the
    /// ReplicaSet controller would delete first.
    pub fn scale(&mut self, now: SimTime, rs: usize, desired: u32, q: &mut impl Sink<ClusterEv>) {
        // A StatefulSet has no autoscaler (validation refuses one): its count is fixed.
        if self.sets[rs].controller == Controller::StatefulSet {
            return;
        }
        let desired = desired.min(MAX_REPLICAS);
        self.sets[rs].desired = desired;
        let active = self.sets[rs].active;
        if desired > active {
            for _ in active..desired {
                self.create_pod(now, rs, NO_ORDINAL, q);
            }
            self.sync_allocation(now);
            return;
        }
        if desired == active {
            return;
        }
        // ReplicaSet `getPodsToDelete` ranking (controller.ActivePodsWithRanks): unscheduled
        // before scheduled, not running or not ready before ready, ready for a shorter time
        // first, then the newest first.
        let mut live: Vec<PodId> = self.sets[rs]
            .pods
            .iter()
            .copied()
            .filter(|&p| {
                matches!(
                    self.pods.pod(p).phase,
                    PodPhase::Pending | PodPhase::Starting | PodPhase::Running
                )
            })
            .collect();
        live.sort_by_key(|&id| {
            let p = self.pods.pod(id);
            let rank = match p.phase {
                PodPhase::Pending => 0,
                PodPhase::Running if p.ready => 2,
                _ => 1,
            };
            (
                rank,
                std::cmp::Reverse(p.ready_since),
                std::cmp::Reverse(p.created),
                std::cmp::Reverse(p.uid),
            )
        });
        for &pod in live.iter().take((active - desired) as usize) {
            self.delete_pod(now, pod, q);
        }
        self.sync_allocation(now);
    }

    /// Creates pods of set `rs` until it has as many as it wants (after evictions); a
    /// StatefulSet creates its missing ordinals in order.
    pub(super) fn reconcile(&mut self, now: SimTime, rs: usize, q: &mut impl Sink<ClusterEv>) {
        if self.sets[rs].controller == Controller::StatefulSet {
            self.reconcile_stateful(now, rs, q);
            return;
        }
        while self.sets[rs].active < self.sets[rs].desired {
            self.create_pod(now, rs, NO_ORDINAL, q);
        }
    }

    /// Starts deleting `pod`: a Pending pod just goes; a starting one releases its node; a
    /// running one is told to finish what it holds ([`PodChange::Terminating`]).
    fn delete_pod(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ClusterEv>) {
        let p = self.pods.pod(pod);
        let super::Owner::Service(rs) = p.owner else {
            return;
        };
        let rs = rs as usize;
        self.sets[rs].active -= 1;
        match p.phase {
            PodPhase::Pending => {
                let pool = p.pool as usize;
                self.state[pool].pending.retain(|&x| x != pod);
                self.sets[rs].pending_change(now, -1);
                self.remove_pod(pod);
            }
            // Nothing runs on a failed node to terminate: the pod waits for its eviction.
            PodPhase::Starting if p.lost => self.pods.pod_mut(pod).phase = PodPhase::Terminating,
            PodPhase::Starting => self.finalize(now, pod, q),
            PodPhase::Running => {
                let p = self.pods.pod_mut(pod);
                p.phase = PodPhase::Terminating;
                p.ready = false;
                self.notify(pod, PodChange::Terminating);
            }
            PodPhase::Terminating | PodPhase::Gone => {}
        }
    }
}
