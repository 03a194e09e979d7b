//! Pods and nodes over time: creation, scheduling (with balloon preemption), start-up (image
//! pull, model load, readiness), removal the way a ReplicaSet removes pods, draining within
//! the grace period, and the cluster autoscaler's node scale-up and scale-down.

use super::world::{Ev, NO_NODE, PodState, Replica, Slot, World, think_again};
use crate::engine::SimTime;
use crate::serving::llm::Engine;
use crate::sim::plan::Cost;
use crate::stats::TimeIntegral;
use std::collections::{BTreeMap, VecDeque};

/// The cluster autoscaler's scan period (`--scan-interval` default 10s).
const CA_SCAN: SimTime = SimTime::from_secs(10);

/// A pod waiting for a node: a service replica or a balloon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PodRef {
    Replica(u32),
    Balloon(u32),
}

/// A balloon pod: low priority, preempted by any real pod that needs its room.
#[derive(Clone, Copy, Debug)]
pub(super) struct Balloon {
    pool: u32,
    node: u32,
}

/// Per-pool state of the scheduler and the cluster autoscaler.
#[derive(Debug, Default)]
pub(super) struct PoolState {
    /// Pods waiting for room, oldest first.
    pending: VecDeque<PodRef>,
    /// Nodes asked for and not Ready yet.
    provisioning: u32,
    /// Since when each node has been empty (None: in use, or removed).
    unneeded_since: Vec<Option<SimTime>>,
    /// Nodes in the pool over time.
    pub(super) nodes: TimeIntegral,
    pub(super) nodes_max: i64,
}

/// The cluster's state beyond what [`crate::cluster::Pool`] holds.
#[derive(Debug, Default)]
pub(super) struct ClusterState {
    pub(super) pools: Vec<PoolState>,
    balloons: Vec<Balloon>,
    /// When each (pool, node, service) image is (or will be) on the node.
    images: BTreeMap<(u32, u32, u32), SimTime>,
    /// Whether any pool autoscales (the scan runs only then).
    autoscaled: bool,
}

impl ClusterState {
    pub(super) fn new(plan: &super::Plan) -> ClusterState {
        ClusterState {
            pools: plan
                .pools
                .iter()
                .map(|p| {
                    let mut nodes = TimeIntegral::default();
                    nodes.add(SimTime::ZERO, i64::from(p.nodes));
                    PoolState {
                        unneeded_since: vec![None; p.nodes as usize],
                        nodes,
                        nodes_max: i64::from(p.nodes),
                        ..Default::default()
                    }
                })
                .collect(),
            autoscaled: plan
                .pools
                .iter()
                .any(|p| p.min_nodes != p.max_nodes || p.balloons.0 > 0),
            ..Default::default()
        }
    }

    /// Pods waiting for a node, per pool (balloons included).
    pub(super) fn pending(&self, pool: usize) -> usize {
        self.pools[pool].pending.len()
    }

    /// Nodes on their way, per pool.
    pub(super) fn provisioning(&self, pool: usize) -> u32 {
        self.pools[pool].provisioning
    }
}

impl World<'_> {
    /// Creates every service's initial replicas and the balloons, and starts the cluster
    /// autoscaler.
    pub(super) fn start_cluster(&mut self) {
        let plan = self.plan;
        for (si, sp) in plan.services.iter().enumerate() {
            for _ in 0..sp.replicas {
                self.create_pod(SimTime::ZERO, si);
            }
        }
        for (pi, pp) in plan.pools.iter().enumerate() {
            for _ in 0..pp.balloons.0 {
                let b = self.cluster.balloons.len() as u32;
                self.cluster.balloons.push(Balloon {
                    pool: pi as u32,
                    node: NO_NODE,
                });
                if !self.place_balloon(b) {
                    self.cluster.pools[pi].pending.push_back(PodRef::Balloon(b));
                }
            }
        }
        if self.cluster.autoscaled {
            self.q.schedule(CA_SCAN, Ev::CaScan);
        }
    }

    /// Creates one pod of service `si` and tries to schedule it.
    pub(super) fn create_pod(&mut self, now: SimTime, si: usize) -> u32 {
        let sp = &self.plan.services[si];
        let engine = match &sp.cost {
            Cost::Llm(lp) => Some(lp.engine),
            _ => None,
        };
        let r = self.reps.len() as u32;
        self.reps.push(Replica {
            svc: si as u32,
            ready: false,
            queue: VecDeque::new(),
            slots: (0..sp.concurrency)
                .map(|_| Slot { batch: Vec::new() })
                .collect(),
            free: Vec::new(),
            outstanding: 0,
            timer: false,
            llm: engine.map(Engine::new),
            iter_tokens: 0,
            state: PodState::Pending,
            node: NO_NODE,
            created: now,
            ready_since: SimTime::ZERO,
            image_at: SimTime::MAX,
            started_total: 0,
        });
        let s = &mut self.svcs[si];
        s.active += 1;
        s.reps.push(r);
        if !self.try_schedule(now, r) {
            self.svcs[si].pending_pods += 1;
            self.cluster.pools[sp.pool]
                .pending
                .push_back(PodRef::Replica(r));
        }
        r
    }

    /// Binds replica `r` to a node if one has room, preempting balloons if that makes room.
    fn try_schedule(&mut self, now: SimTime, r: u32) -> bool {
        let si = self.reps[r as usize].svc as usize;
        let sp = &self.plan.services[si];
        let units = sp.units_per_replica;
        let pool = &mut self.pools[sp.pool];
        let node = match pool.place(units) {
            Some(n) => n,
            None => match self.preempt_balloons_for(sp.pool, units) {
                Some(n) => {
                    self.pools[sp.pool].place_on(n, units);
                    n
                }
                None => return false,
            },
        };
        self.bind(now, r, node);
        true
    }

    /// Finds a node where evicting balloons frees `units`, evicts just enough of them (they go
    /// back to Pending, which makes the cluster autoscaler add room for them) and returns it.
    fn preempt_balloons_for(&mut self, pool: usize, units: u32) -> Option<u32> {
        let bu = self.plan.pools[pool].balloons.1;
        if bu == 0 {
            return None;
        }
        // Balloons per node, in node order (deterministic).
        let mut on_node: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (b, bl) in self.cluster.balloons.iter().enumerate() {
            if bl.pool == pool as u32 && bl.node != NO_NODE {
                on_node.entry(bl.node).or_default().push(b as u32);
            }
        }
        let p = &self.pools[pool];
        let (&node, list) = on_node
            .iter()
            .find(|(n, l)| p.free_units(**n) + bu * l.len() as u32 >= units)?;
        let mut free = p.free_units(node);
        for &b in list.iter().rev() {
            if free >= units {
                break;
            }
            self.pools[pool].release(node, bu);
            free += bu;
            self.cluster.balloons[b as usize].node = NO_NODE;
            self.cluster.pools[pool]
                .pending
                .push_back(PodRef::Balloon(b));
        }
        Some(node)
    }

    fn place_balloon(&mut self, b: u32) -> bool {
        let pool = self.cluster.balloons[b as usize].pool as usize;
        match self.pools[pool].place(self.plan.pools[pool].balloons.1) {
            Some(n) => {
                self.cluster.balloons[b as usize].node = n;
                self.cluster.pools[pool].unneeded_since[n as usize] = None;
                true
            }
            None => false,
        }
    }

    /// Replica `r` is bound to `node`: it pulls its image (unless the node has it), loads
    /// the model, waits for readiness, then is Ready.
    fn bind(&mut self, now: SimTime, r: u32, node: u32) {
        let si = self.reps[r as usize].svc as usize;
        let sp = &self.plan.services[si];
        let pp = &self.plan.pools[sp.pool];
        let rep = &mut self.reps[r as usize];
        rep.state = PodState::Starting;
        rep.node = node;
        self.cluster.pools[sp.pool].unneeded_since[node as usize] = None;
        let pull = match (sp.image_pull_time, pp.pull_bandwidth) {
            (Some(t), _) => t,
            (None, Some(bw)) if sp.image_bytes > 0.0 => SimTime::from_secs_f64(sp.image_bytes / bw),
            _ => SimTime::ZERO,
        };
        // The kubelet pulls an image once per node; later pods there wait for that pull.
        let key = (sp.pool as u32, node, si as u32);
        let image_at = *self.cluster.images.entry(key).or_insert(now + pull);
        let ready_at = image_at.max(now) + sp.startup + sp.model_load + sp.readiness_delay;
        self.reps[r as usize].image_at = image_at.max(now);
        let s = &mut self.svcs[si];
        s.replicas.add(now, 1);
        s.replicas_max = s.replicas_max.max(s.replicas.value());
        if let Cost::Llm(lp) = &sp.cost {
            s.kv_capacity.add(now, i64::from(lp.engine.kv_blocks));
        }
        self.q.schedule(ready_at, Ev::Ready(r));
    }

    /// Scales service `si` to `desired` replicas: creates pods, or removes the ones the
    /// ReplicaSet controller would remove first.
    pub(super) fn scale_to(&mut self, now: SimTime, si: usize, desired: u32) {
        // An unbounded autoscaler (a KPA without maxScale) stops at the replica limit.
        let desired = desired.min(crate::scenario::types::limits::MAX_REPLICAS as u32);
        self.svcs[si].desired = desired;
        let active = self.svcs[si].active;
        if desired > active {
            for _ in active..desired {
                self.create_pod(now, si);
            }
            return;
        }
        if desired == active {
            return;
        }
        // ReplicaSet `getPodsToDelete` ranking (controller.ActivePodsWithRanks): unscheduled
        // before scheduled, starting before running, not ready before ready, ready for a
        // shorter time first, then the newest first.
        let mut live: Vec<u32> = self.svcs[si]
            .reps
            .iter()
            .copied()
            .filter(|&r| {
                matches!(
                    self.reps[r as usize].state,
                    PodState::Pending | PodState::Starting | PodState::Ready
                )
            })
            .collect();
        let rank = |rep: &Replica| {
            let phase = match rep.state {
                PodState::Pending => 0,
                PodState::Starting => 1,
                _ => 2,
            };
            (
                phase,
                std::cmp::Reverse(rep.ready_since),
                std::cmp::Reverse(rep.created),
            )
        };
        live.sort_by_key(|&r| (rank(&self.reps[r as usize]), std::cmp::Reverse(r)));
        for &r in live.iter().take((active - desired) as usize) {
            self.delete_pod(now, r);
        }
    }

    /// Starts removing pod `r`: a Pending pod just goes; a starting one releases its node; a
    /// Ready one stops taking requests and drains what it holds within the grace period.
    pub(super) fn delete_pod(&mut self, now: SimTime, r: u32) {
        let si = self.reps[r as usize].svc as usize;
        self.svcs[si].active -= 1;
        match self.reps[r as usize].state {
            PodState::Pending => {
                let pool = self.plan.services[si].pool;
                self.cluster.pools[pool]
                    .pending
                    .retain(|p| *p != PodRef::Replica(r));
                self.svcs[si].pending_pods -= 1;
                self.reps[r as usize].state = PodState::Gone;
                self.forget(si, r);
            }
            PodState::Starting => self.finalize_pod(now, r),
            PodState::Ready => {
                let rep = &mut self.reps[r as usize];
                rep.state = PodState::Terminating;
                rep.ready = false;
                let s = &mut self.svcs[si];
                s.ready.retain(|&x| x != r);
                s.idle.retain(|&(x, _)| x != r);
                if self.holds_nothing(r) {
                    self.finalize_pod(now, r);
                } else {
                    let grace = self.plan.services[si].grace;
                    self.q.schedule(now + grace, Ev::GraceEnd(r));
                }
            }
            PodState::Terminating | PodState::Gone => {}
        }
    }

    fn holds_nothing(&self, r: u32) -> bool {
        let rep = &self.reps[r as usize];
        rep.outstanding == 0
            && rep.queue.is_empty()
            && rep.slots.iter().all(|s| s.batch.is_empty())
            && rep.llm.as_ref().is_none_or(|e| e.held() == 0 && !e.busy())
    }

    /// A terminating pod that just finished a request: gone once it holds nothing.
    pub(super) fn after_drain_step(&mut self, now: SimTime, r: u32) {
        if self.reps[r as usize].state == PodState::Terminating && self.holds_nothing(r) {
            self.finalize_pod(now, r);
        }
    }

    /// The grace period ended: whatever pod `r` still holds is killed and counted as dropped.
    pub(super) fn on_grace_end(&mut self, now: SimTime, r: u32) {
        if self.reps[r as usize].state != PodState::Terminating {
            return;
        }
        let si = self.reps[r as usize].svc as usize;
        let plan = self.plan;
        let in_window = now >= plan.warmup;
        let rep = &mut self.reps[r as usize];
        let mut killed: Vec<super::world::Req> = rep.queue.drain(..).collect();
        let queued = killed.len() as u64;
        let mut busy_slots = 0;
        for slot in &mut rep.slots {
            if !slot.batch.is_empty() {
                busy_slots += 1;
            }
            killed.append(&mut slot.batch);
        }
        let mut kv_freed = 0;
        if let Some(e) = rep.llm.as_mut() {
            kv_freed = i64::from(e.used_blocks());
            if e.busy() {
                busy_slots += 1;
            }
            killed.extend(e.drain());
        }
        rep.outstanding = 0;
        let s = &mut self.svcs[si];
        s.waiting -= queued;
        s.running -= killed.len() as u64 - queued;
        s.in_system.add(now, -(killed.len() as i64));
        s.busy.add(now, -busy_slots);
        s.kv_used.add(now, -kv_freed);
        for req in &killed {
            if in_window && req.arrival >= plan.warmup {
                s.dropped += 1;
            }
        }
        for req in killed {
            let wl = &mut self.wls[req.wl as usize];
            if wl.closed {
                think_again(plan, wl, &mut self.q, now, req.wl);
            }
        }
        self.finalize_pod(now, r);
    }

    /// Pod `r` is gone: its node's room goes back to the pool, and pending pods get a chance.
    fn finalize_pod(&mut self, now: SimTime, r: u32) {
        let si = self.reps[r as usize].svc as usize;
        let sp = &self.plan.services[si];
        let rep = &mut self.reps[r as usize];
        let node = rep.node;
        rep.state = PodState::Gone;
        rep.ready = false;
        rep.node = NO_NODE;
        let s = &mut self.svcs[si];
        s.replicas.add(now, -1);
        if let Cost::Llm(lp) = &sp.cost {
            s.kv_capacity.add(now, -i64::from(lp.engine.kv_blocks));
        }
        self.forget(si, r);
        if node != NO_NODE {
            self.pools[sp.pool].release(node, sp.units_per_replica);
            self.retry_pending(now, sp.pool);
        }
    }

    fn forget(&mut self, si: usize, r: u32) {
        self.svcs[si].reps.retain(|&x| x != r);
    }

    /// Schedules pending pods of `pool` in order while they fit (real pods may preempt
    /// balloons; a balloon never preempts anything).
    fn retry_pending(&mut self, now: SimTime, pool: usize) {
        let mut still = VecDeque::new();
        while let Some(p) = self.cluster.pools[pool].pending.pop_front() {
            let placed = match p {
                PodRef::Replica(r) => {
                    let ok = self.try_schedule(now, r);
                    if ok {
                        let si = self.reps[r as usize].svc as usize;
                        self.svcs[si].pending_pods -= 1;
                    }
                    ok
                }
                PodRef::Balloon(b) => self.place_balloon(b),
            };
            if !placed {
                still.push_back(p);
            }
        }
        // (Balloons preempted on the way were appended and tried in the same loop.)
        still.extend(self.cluster.pools[pool].pending.drain(..));
        self.cluster.pools[pool].pending = still;
    }

    /// The cluster autoscaler's scan: adds nodes for pods that stay Pending, removes nodes
    /// unneeded for `scale_down_unneeded_time`.
    pub(super) fn on_ca_scan(&mut self, now: SimTime) {
        let plan = self.plan;
        for (pi, pp) in plan.pools.iter().enumerate() {
            if pp.min_nodes == pp.max_nodes {
                continue;
            }
            // Scale-up: how many new empty nodes the pending pods need (first fit in order),
            // less those already on their way.
            let per_node = self.pools[pi].units_per_node();
            let mut bins: Vec<u32> = Vec::new();
            for p in &self.cluster.pools[pi].pending {
                let units = match *p {
                    PodRef::Replica(r) => {
                        plan.services[self.reps[r as usize].svc as usize].units_per_replica
                    }
                    PodRef::Balloon(_) => pp.balloons.1,
                };
                match bins.iter_mut().find(|f| **f >= units) {
                    Some(f) => *f -= units,
                    None => bins.push(per_node - units),
                }
            }
            let cs = &mut self.cluster.pools[pi];
            let have = self.pools[pi].nodes() + cs.provisioning;
            let need = (bins.len() as u32).saturating_sub(cs.provisioning);
            let add = need.min(pp.max_nodes.saturating_sub(have));
            for _ in 0..add {
                cs.provisioning += 1;
                self.q
                    .schedule(now + pp.provision_time, Ev::NodeReady(pi as u16));
            }
            // Scale-down: empty nodes, unneeded long enough, down to min_nodes.
            let mut nodes = self.pools[pi].nodes();
            for n in 0..self.pools[pi].node_slots() {
                if self.pools[pi].is_removed(n) {
                    continue;
                }
                let cs = &mut self.cluster.pools[pi];
                if !self.pools[pi].is_empty_node(n) || !cs.pending.is_empty() {
                    cs.unneeded_since[n as usize] = None;
                    continue;
                }
                let since = *cs.unneeded_since[n as usize].get_or_insert(now);
                if now.since(since) >= pp.unneeded_time && nodes > pp.min_nodes {
                    self.pools[pi].remove_node(n);
                    cs.unneeded_since[n as usize] = None;
                    cs.nodes.add(now, -1);
                    nodes -= 1;
                    // A node that goes takes its image cache with it.
                    self.cluster
                        .images
                        .retain(|k, _| !(k.0 == pi as u32 && k.1 == n));
                }
            }
        }
        self.q.schedule(now + CA_SCAN, Ev::CaScan);
    }

    /// A node asked for by the cluster autoscaler is Ready.
    pub(super) fn on_node_ready(&mut self, now: SimTime, pool: usize) {
        let n = self.pools[pool].add_node();
        let cs = &mut self.cluster.pools[pool];
        cs.provisioning -= 1;
        cs.unneeded_since.resize(n as usize + 1, None);
        cs.nodes.add(now, 1);
        cs.nodes_max = cs.nodes_max.max(cs.nodes.value());
        self.retry_pending(now, pool);
    }
}
