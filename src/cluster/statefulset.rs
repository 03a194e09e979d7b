//! A service's pods as a StatefulSet keeps them, with Kubernetes' defaults: ordinals
//! `0..replicas` (the pods' names), `podManagementPolicy: OrderedReady`, no scaling.
//!
//! The controller's pass (`pkg/controller/statefulset/stateful_set_control.go`, the loop over
//! the replicas in monotonic mode) walks the ordinals upward: the first missing one is
//! created and the pass stops; it also stops at the first pod that is being deleted (a new pod
//! cannot take its name until the old object is gone) or is not Running and Ready. So pod k+1
//! is created only once pod k is Ready, and a pod that is gone comes back with its ordinal.
//!
//! On a node that stops responding, taint-based eviction deletes the pod as it does a
//! Deployment's, but nothing confirms the deletion: the kubelet that would is down, and
//! Kubernetes does not force-delete pods of unreachable nodes (since 1.5, to keep "at most
//! one pod per identity"; kubernetes.io, "Force Delete StatefulSet Pods": such a pod is
//! removed only when the Node object is deleted, when the kubelet responds again, or when a
//! user force-deletes it). A Deployment's ReplicaSet ignores a terminating pod and replaces it
//! at once; a StatefulSet waits for the name. Here the pod stays Terminating on its node
//! until the node is repaired (its kubelet then removes it) and only then is recreated, on
//! whichever node the scheduler picks; the ordinals above it are not held back unless they too
//! are missing.

use super::pod::PodId;
use super::{Cluster, ClusterEv, PodChange, PodPhase};
use crate::engine::{SimTime, Sink};

impl Cluster {
    /// The StatefulSet controller's pass over set `rs`: creates the lowest missing ordinal if
    /// every ordinal below it is Running and Ready and none is being deleted.
    pub(super) fn reconcile_stateful(
        &mut self,
        now: SimTime,
        rs: usize,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let n = self.sets[rs].desired;
        let mut by_ordinal: Vec<Option<PodId>> = vec![None; n as usize];
        for &id in &self.sets[rs].pods {
            let o = self.pods.pod(id).ordinal;
            if o < n {
                by_ordinal[o as usize] = Some(id);
            }
        }
        for (k, pod) in by_ordinal.into_iter().enumerate() {
            let Some(id) = pod else {
                self.create_pod(now, rs, k as u32, q);
                return;
            };
            let p = self.pods.pod(id);
            if p.phase != PodPhase::Running || !p.ready {
                return;
            }
        }
    }

    /// Taint-based eviction of a StatefulSet's `pod` on a node that stopped responding: its
    /// deletion starts (it is Terminating, no longer a replica) but never completes while the
    /// node is down, so it keeps its ordinal and its room on the node.
    pub(super) fn evict_stateful_pod(&mut self, pod: PodId, rs: usize) {
        let p = self.pods.pod_mut(pod);
        if p.phase == PodPhase::Terminating {
            return;
        }
        p.phase = PodPhase::Terminating;
        p.ready = false;
        self.sets[rs].active -= 1;
        self.notify(pod, PodChange::Terminating);
    }
}
