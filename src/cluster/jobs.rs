//! Pods of training gangs. The training subsystem decides which gang goes when (Kueue,
//! Coscheduling or the default scheduler's order); the cluster binds its pods to nodes,
//! releases their room and tells the job's owner what happens to them, as for any pod.

use super::pod::{NO_NODE, Owner, PodId, PodPhase};
use super::{Cluster, ClusterEv, Health, Placement, PodChange};
use crate::engine::{SimTime, Sink};

impl Cluster {
    /// Creates a Pending pod of training job `job` needing `units` of pool `pool`. It waits
    /// for the training scheduler, not in the pool's queue of pending pods.
    pub fn create_job_pod(
        &mut self,
        now: SimTime,
        job: u32,
        pool: usize,
        units: u32,
        priority: i32,
    ) -> PodId {
        let id = self.pods.create(Owner::Job(job), pool as u16, units, now);
        self.pods.pod_mut(id).priority = priority;
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

    /// Finds a node where deleting training pods of priority below `priority` frees `units`,
    /// as kube-scheduler's DefaultPreemption does: on each node all lower-priority pods are
    /// candidates and as many as possible are reprieved, highest priority first; the node
    /// whose victims have the lowest highest priority wins, then the smallest sum of
    /// priorities, then the fewest victims, then the lowest index. The victims are deleted
    /// now (their owners hear [`PodChange::Preempted`] and delete the rest of their gangs) and
    /// the node is returned with the room free. (Training pods ask no memory: a node without
    /// `memory` free is no candidate.)
    pub(super) fn preempt_job_pods_for(
        &mut self,
        pool: usize,
        units: u32,
        memory: u64,
        priority: i32,
    ) -> Option<u32> {
        type Score = (i32, i64, usize, u32);
        let mut best: Option<(Score, Vec<PodId>)> = None;
        let p = &self.pools[pool];
        for node in 0..p.node_slots() {
            if !matches!(p.health(node), Health::Up) || !p.has_memory(node, memory) {
                continue;
            }
            let mut lower: Vec<(i32, PodId, u32)> = p
                .pods(node)
                .iter()
                .filter_map(|&id| {
                    let x = self.pods.pod(id);
                    (matches!(x.owner, Owner::Job(_)) && x.priority < priority && !x.lost)
                        .then_some((x.priority, id, x.units))
                })
                .collect();
            let mut free = p.free_units(node) + lower.iter().map(|v| v.2).sum::<u32>();
            if lower.is_empty() || free < units {
                continue;
            }
            // Reprieve the most important first while the room still suffices.
            lower.sort_by_key(|v| std::cmp::Reverse(v.0));
            let mut victims = Vec::new();
            for v in lower {
                if free - v.2 >= units {
                    free -= v.2;
                } else {
                    victims.push(v);
                }
            }
            let score: Score = (
                victims.iter().map(|v| v.0).max().unwrap_or(i32::MIN),
                victims.iter().map(|v| i64::from(v.0)).sum(),
                victims.len(),
                node,
            );
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, victims.iter().map(|v| v.1).collect()));
            }
        }
        let ((_, _, _, node), victims) = best?;
        for v in victims {
            self.notify(v, PodChange::Preempted);
            self.remove_pod(v);
        }
        Some(node)
    }

    /// Whether the Pending pods `pods` would fit, all or nothing, if the pods `freed` were
    /// gone. Nothing changes.
    pub fn gang_fits_if_freed(
        &mut self,
        pods: &[PodId],
        freed: &[PodId],
        placement: Placement,
    ) -> bool {
        let Some(&first) = pods.first() else {
            return true;
        };
        let pool = self.pods.pod(first).pool as usize;
        let held: Vec<(u32, u32)> = freed
            .iter()
            .filter_map(|&id| self.pods.get(id))
            .filter(|x| x.node != NO_NODE && x.pool as usize == pool && !x.lost)
            .map(|x| (x.node, x.units))
            .collect();
        for &(n, u) in &held {
            self.pools[pool].release(n, u);
        }
        let units: Vec<u32> = pods.iter().map(|&p| self.pods.pod(p).units).collect();
        let topology = self.plans[pool].topology;
        let fits = match self.pools[pool].place_gang_with(&units, placement, topology) {
            Some(nodes) => {
                for (&n, &u) in nodes.iter().zip(&units) {
                    self.pools[pool].release(n, u);
                }
                true
            }
            None => false,
        };
        for &(n, u) in &held {
            self.pools[pool].place_on(n, u, 0);
        }
        fits
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
