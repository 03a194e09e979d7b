//! Pods: typed ids with generations, owners, phases, and the table that holds them.

use crate::engine::SimTime;

/// A pod, named with its generation: the slot of a pod that is gone is reused by a later pod
/// with the next generation, so that an event for the old one is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodId {
    /// Slot in the pod table.
    pub slot: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// What created a pod and answers for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A replica of a service (its Deployment's ReplicaSet), by service index.
    Service(u32),
    /// A balloon (placeholder) pod of a pool, by pool index.
    Balloon(u16),
    /// A member of a training job's gang, by job index.
    Job(u32),
}

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Not bound to a node.
    Pending,
    /// Bound: pulling its image, starting, waiting for readiness.
    Starting,
    /// Running (its Ready condition may still be false, see [`Pod::ready`]).
    Running,
    /// Being deleted: finishing what it holds within its grace period.
    Terminating,
    /// Gone.
    Gone,
}

/// A pod's node while it has none.
pub const NO_NODE: u32 = u32::MAX;

/// The ordinal of a pod that has none (not a StatefulSet's).
pub const NO_ORDINAL: u32 = u32::MAX;

/// One pod.
#[derive(Clone, Debug)]
pub struct Pod {
    /// Generation of its slot.
    pub generation: u32,
    /// Creation number, unique in a run: the order of creation (the ReplicaSet's tie-break
    /// and the pod's name).
    pub uid: u64,
    /// What created it.
    pub owner: Owner,
    /// Its node pool.
    pub pool: u16,
    /// Units it holds on its node.
    pub units: u32,
    /// Phase.
    pub phase: PodPhase,
    /// Its Ready condition, as the API sees it.
    pub ready: bool,
    /// Its node (NO_NODE while Pending).
    pub node: u32,
    /// When it was created.
    pub created: SimTime,
    /// When its Ready condition last turned true (zero before).
    pub ready_since: SimTime,
    /// When its Ready condition last changed (turned true, or false with its node).
    pub ready_changed: SimTime,
    /// When its image is on the node and its containers start (MAX before binding).
    pub image_at: SimTime,
    /// Its node failed: it does no work, whatever the API says.
    pub lost: bool,
    /// Its priority (PriorityClass value).
    pub priority: i32,
    /// Its ordinal in its StatefulSet (its name's index), [`NO_ORDINAL`] for other pods.
    pub ordinal: u32,
}

impl Pod {
    /// Whether it holds room on a node.
    pub fn bound(&self) -> bool {
        self.node != NO_NODE
    }

    /// The pod as the API shows it at `now` (what an autoscaler reads).
    pub fn status(&self, now: SimTime) -> PodStatus {
        let up = matches!(self.phase, PodPhase::Running | PodPhase::Terminating);
        // Its containers run once its image is on the node.
        let running = up || (self.phase == PodPhase::Starting && now >= self.image_at);
        let started_ago = if running {
            now.since(self.image_at)
        } else {
            SimTime::ZERO
        };
        PodStatus {
            running,
            ready: self.phase == PodPhase::Running && self.ready,
            deleting: self.phase == PodPhase::Terminating,
            started_ago,
            ready_changed_ago: if up {
                now.since(self.ready_changed)
            } else {
                started_ago
            },
        }
    }
}

/// A pod as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodStatus {
    /// Phase Running (its containers started), else Pending.
    pub running: bool,
    /// Its Ready condition.
    pub ready: bool,
    /// It has a deletion timestamp.
    pub deleting: bool,
    /// Since its containers started (zero when not running).
    pub started_ago: SimTime,
    /// Since its Ready condition last changed.
    pub ready_changed_ago: SimTime,
}

/// The pods of a run, in reusable slots.
#[derive(Debug, Default)]
pub struct PodTable {
    pods: Vec<Pod>,
    free: Vec<u32>,
    created: u64,
}

impl PodTable {
    /// A new Pending pod.
    pub fn create(&mut self, owner: Owner, pool: u16, units: u32, now: SimTime) -> PodId {
        let uid = self.created;
        self.created += 1;
        let fresh = |generation| Pod {
            generation,
            uid,
            owner,
            pool,
            units,
            phase: PodPhase::Pending,
            ready: false,
            node: NO_NODE,
            created: now,
            ready_since: SimTime::ZERO,
            ready_changed: SimTime::ZERO,
            image_at: SimTime::MAX,
            lost: false,
            priority: 0,
            ordinal: NO_ORDINAL,
        };
        match self.free.pop() {
            Some(slot) => {
                let p = &mut self.pods[slot as usize];
                *p = fresh(p.generation.wrapping_add(1));
                PodId {
                    slot,
                    generation: p.generation,
                }
            }
            None => {
                let slot = self.pods.len() as u32;
                self.pods.push(fresh(0));
                PodId {
                    slot,
                    generation: 0,
                }
            }
        }
    }

    /// The pod `id` names, if it is still that pod and not gone.
    #[inline]
    pub fn get(&self, id: PodId) -> Option<&Pod> {
        self.pods
            .get(id.slot as usize)
            .filter(|p| p.generation == id.generation && p.phase != PodPhase::Gone)
    }

    /// The pod `id` names, mutably (see [`PodTable::get`]).
    #[inline]
    pub fn get_mut(&mut self, id: PodId) -> Option<&mut Pod> {
        self.pods
            .get_mut(id.slot as usize)
            .filter(|p| p.generation == id.generation && p.phase != PodPhase::Gone)
    }

    /// The pod `id` names; it must exist.
    #[inline]
    pub fn pod(&self, id: PodId) -> &Pod {
        let p = &self.pods[id.slot as usize];
        debug_assert_eq!(p.generation, id.generation);
        p
    }

    /// The pod `id` names, mutably; it must exist.
    #[inline]
    pub fn pod_mut(&mut self, id: PodId) -> &mut Pod {
        let p = &mut self.pods[id.slot as usize];
        debug_assert_eq!(p.generation, id.generation);
        p
    }

    /// Marks `id` gone and frees its slot for reuse.
    pub fn remove(&mut self, id: PodId) {
        let p = self.pod_mut(id);
        p.phase = PodPhase::Gone;
        p.ready = false;
        p.node = NO_NODE;
        self.free.push(id.slot);
    }

    /// Slots in the table (the largest slot number plus one).
    pub fn slots(&self) -> usize {
        self.pods.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_is_a_new_generation() {
        let mut t = PodTable::default();
        let a = t.create(Owner::Service(0), 0, 1, SimTime::ZERO);
        let b = t.create(Owner::Service(0), 0, 1, SimTime::ZERO);
        t.remove(a);
        assert!(t.get(a).is_none());
        let c = t.create(Owner::Balloon(0), 0, 1, SimTime::ZERO);
        assert_eq!(c.slot, a.slot);
        assert_ne!(c, a);
        assert!(t.get(a).is_none());
        assert_eq!(t.get(c).map(|p| p.uid), Some(2));
        assert_eq!(t.get(b).map(|p| p.owner), Some(Owner::Service(0)));
    }
}
