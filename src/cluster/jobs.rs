//! Pods of training gangs. The training subsystem decides which gang goes when (Kueue,
//! Coscheduling or the default scheduler's order); the cluster binds its pods to nodes,
//! releases their room and tells the job's owner what happens to them, as for any pod.

use super::pod::{NO_NODE, Owner, PodId, PodPhase};
use super::{Cluster, ClusterEv, Health, Placement, PodChange};
use crate::engine::{SimTime, Sink};

impl Cluster {
    /// Creates a Pending pod of training job `job` needing `units` of pool `pool`. It waits
    /// for the training scheduler, not in the pool's queue of pending pods.
    pub fn create_job_pod(&mut self, now: SimTime, job: u32, pool: usize, units: u32) -> PodId {
        let id = self.pods.create(Owner::Job(job), pool as u16, units, now);
        self.notify(id, PodChange::Created);
        id
    }

    /// Binds every pod of `pods` (Pending pods of one pool) where `placement` puts them, all
    /// or nothing; false changes nothing. Training pods run at once (their start-up is the
    /// job's `restart_time`). A pod bound to a node that has failed without the API knowing
    /// yet is bound lost ([`super::Pod::lost`]), as any pod would be.
    pub fn bind_job_gang(&mut self, now: SimTime, pods: &[PodId], placement: Placement) -> bool {
        let Some(&first) = pods.first() else {
            return true;
        };
        let pool = self.pods.pod(first).pool as usize;
        let units: Vec<u32> = pods.iter().map(|&p| self.pods.pod(p).units).collect();
        let topology = self.plans[pool].topology;
        let Some(nodes) = self.pools[pool].place_gang_with(&units, placement, topology) else {
            return false;
        };
        for (&pod, &node) in pods.iter().zip(&nodes) {
            self.attach_job_pod(pod, pool, node);
        }
        self.sync_allocation(now);
        true
    }

    /// Binds one Pending pod where `placement` puts it; false when no node has room.
    pub fn bind_job_pod(&mut self, now: SimTime, pod: PodId, placement: Placement) -> bool {
        let p = self.pods.pod(pod);
        let (pool, units) = (p.pool as usize, p.units);
        let Some(node) = self.pools[pool].place_with(units, placement) else {
            return false;
        };
        self.attach_job_pod(pod, pool, node);
        self.sync_allocation(now);
        true
    }

    fn attach_job_pod(&mut self, pod: PodId, pool: usize, node: u32) {
        let lost = self.pools[pool].health(node) != Health::Up;
        self.pools[pool].add_pod(node, pod);
        self.state[pool].unneeded_since[node as usize] = None;
        let p = self.pods.pod_mut(pod);
        p.node = node;
        p.phase = PodPhase::Running;
        p.ready = !lost;
        p.lost = lost;
        self.notify(pod, PodChange::Bound);
    }

    /// Deletes a training pod (its job ended, was interrupted or preempted). Its room goes
    /// back at once, except on a failed node: nothing there can confirm the deletion, so the
    /// pod keeps its GPUs until the node's pods are evicted.
    pub fn delete_job_pod(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ClusterEv>) {
        let Some(p) = self.pods.get_mut(pod) else {
            return;
        };
        if p.lost && p.node != NO_NODE {
            p.phase = PodPhase::Terminating;
            p.ready = false;
            return;
        }
        self.finalize(now, pod, q);
    }

    /// Whether room was freed in pool `pool` (pods gone, nodes joined) since the last call,
    /// which clears it.
    pub fn take_room_freed(&mut self, pool: usize) -> bool {
        let bit = 1 << pool.min(63);
        let was = self.room_freed & bit != 0;
        self.room_freed &= !bit;
        was
    }

    /// Whether room was freed in any pool since it was last cleared.
    #[inline]
    pub fn room_freed_any(&self) -> bool {
        self.room_freed != 0
    }

    /// The pools in which room was freed (bit `p`, the last bit for pools 63 and up), which
    /// clears them all.
    pub fn take_room_freed_all(&mut self) -> u64 {
        std::mem::take(&mut self.room_freed)
    }
}
