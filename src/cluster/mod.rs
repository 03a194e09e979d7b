//! The cluster every workload runs on: nodes, pods, the scheduler, image pulls, balloons,
//! the ReplicaSets of services, the cluster autoscaler, and node failures as Kubernetes
//! handles them.
//!
//! The cluster owns pods and nodes and nothing that runs inside them. What happens to a pod
//! (created, bound, Ready, being deleted, lost with its node, NotReady, gone) is told to the
//! rest of the world as a [`Notice`]; the world passes each to the subsystem that owns the
//! pod (a service's replicas, a training job), which answers by calling back
//! ([`Cluster::terminating_answer`], [`Cluster::finalize`]). Cluster code never touches
//! another subsystem's state.
//!
//! Its own timers are [`ClusterEv`] events, scheduled through an [`engine::Sink`](Sink), so
//! the cluster does not know the world's event type.

mod autoscaler;
mod failures;
mod jobs;
pub mod plan;
pub mod pod;
pub mod pool;
mod replicaset;
mod statefulset;

pub use plan::{ClusterPlan, FailurePlan, PodTemplate, PoolPlan};
pub use pod::{NO_NODE, NO_ORDINAL, Owner, Pod, PodId, PodPhase, PodStatus};
pub use pool::{Health, NodeId, Placement, Pool, Topology};
pub use replicaset::{Controller, MAX_REPLICAS, ReplicaSet};

use crate::engine::{SimRng, SimTime, Sink, stream};
use crate::stats::TimeIntegral;
use std::collections::{BTreeMap, VecDeque};

/// The cluster's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterEv {
    /// A bound pod's image is there, its containers started and its readiness probe passed.
    PodStarted(PodId),
    /// A deleted pod's grace period ended.
    GraceEnd(PodId),
    /// The cluster autoscaler's periodic scan.
    CaScan,
    /// A node the cluster autoscaler asked for is Ready in this pool.
    NodeProvisioned(u16),
    /// A random failure of a node (drawn when it joined).
    NodeFails(NodeId),
    /// A scheduled failure of node `.1` of pool `.0`, whatever its generation.
    ScheduledFailure(u16, u32),
    /// The node lifecycle controller marks a silent node NotReady.
    NodeNotReady(NodeId),
    /// The not-ready taint's toleration ran out: the node's pods are evicted.
    NodeEviction(NodeId),
    /// A failed node is repaired and rejoins empty.
    NodeRepaired(NodeId),
}

/// What happened to a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodChange {
    /// Created, Pending.
    Created,
    /// Bound to a node: it holds the node's room from now.
    Bound,
    /// Its Ready condition turned true: it may receive work.
    Ready,
    /// Deletion began for a Ready pod: it leaves the endpoints and may finish what it holds.
    /// The owner answers with [`Cluster::terminating_answer`].
    Terminating,
    /// Its grace period ended: the owner kills what it still holds, then calls
    /// [`Cluster::finalize`].
    GraceOver,
    /// Its node failed: it does no work from now, but the API does not know yet (it stays
    /// Ready and in the endpoints).
    Lost,
    /// Preempted by a pod of higher priority: it is gone (a [`PodChange::Gone`] follows).
    Preempted,
    /// Its node was marked NotReady: its Ready condition is false and it leaves the
    /// endpoints.
    NotReady,
    /// Gone; `bound` when it held room on a node until now.
    Gone {
        /// Whether it was bound to a node.
        bound: bool,
    },
}

/// What happened to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    /// Joined (added by the cluster autoscaler, or repaired).
    Joined,
    /// Stopped working (its heartbeats stop).
    Failed,
    /// Marked NotReady and tainted.
    NotReady,
    /// Removed by the cluster autoscaler.
    Removed,
}

/// A change the cluster tells the rest of the world about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A pod changed.
    Pod {
        /// The pod.
        pod: PodId,
        /// Who owns it.
        owner: Owner,
        /// What happened.
        change: PodChange,
    },
    /// A node changed.
    Node {
        /// The node.
        node: NodeId,
        /// What happened.
        change: NodeChange,
    },
}

/// Per-pool state of the scheduler and the cluster autoscaler.
#[derive(Debug, Default)]
struct PoolState {
    /// Pods waiting for room, oldest first.
    pending: VecDeque<PodId>,
    /// Nodes asked for and not Ready yet.
    provisioning: u32,
    /// Since when each node has been empty (None: in use, or removed).
    unneeded_since: Vec<Option<SimTime>>,
    /// Nodes in the pool over time.
    nodes: TimeIntegral,
    nodes_max: i64,
    /// Units held by pods over time (kept in step by [`Cluster::sync_allocation`]).
    allocated: TimeIntegral,
    /// Random streams of failures and repairs (pools with failures only).
    failure_rng: Option<(SimRng, SimRng)>,
}

/// The cluster of one replication.
#[derive(Debug)]
pub struct Cluster {
    plans: Vec<PoolPlan>,
    cfg: ClusterPlan,
    warmup: SimTime,
    pools: Vec<Pool>,
    state: Vec<PoolState>,
    pods: pod::PodTable,
    sets: Vec<ReplicaSet>,
    /// Balloon pods, in creation order (the order preemption looks at them).
    balloons: Vec<PodId>,
    notices: VecDeque<Notice>,
    /// Node failures after the warm-up.
    failures: u64,
    /// Nodes whose Ready condition is true (failed nodes count until marked NotReady).
    nodes_ready: TimeIntegral,
    /// Pools in which room was freed since [`Cluster::take_room_freed`] last looked (a bit
    /// per pool, the last for pools 63 and up): training gangs may fit now.
    room_freed: u64,
}

/// What one pool held over a replication.
#[derive(Debug, Clone)]
pub struct PoolSummary {
    /// Units held by pods over time.
    pub allocated: TimeIntegral,
    /// Nodes over time.
    pub nodes: TimeIntegral,
    /// Most nodes at once (after the warm-up).
    pub nodes_max: i64,
}

impl Cluster {
    /// The cluster of replication `rep`: the pools' nodes, empty, and one set of pods per
    /// entry of `sets` (a template, its initial replica count and its controller), indexed as
    /// given.
    pub fn new(
        pools: &[PoolPlan],
        cfg: ClusterPlan,
        sets: Vec<(PodTemplate, u32, Controller)>,
        warmup: SimTime,
        seed: u64,
        rep: u32,
    ) -> Cluster {
        let initial: u32 = pools.iter().map(|p| p.nodes).sum();
        let mut nodes_ready = TimeIntegral::default();
        nodes_ready.add(SimTime::ZERO, i64::from(initial));
        Cluster {
            plans: pools.to_vec(),
            cfg,
            warmup,
            pools: pools
                .iter()
                .map(|p| Pool::new(p.nodes, p.units_per_node()).with_memory(p.memory_per_node))
                .collect(),
            state: pools
                .iter()
                .map(|p| {
                    let mut nodes = TimeIntegral::default();
                    nodes.add(SimTime::ZERO, i64::from(p.nodes));
                    PoolState {
                        unneeded_since: vec![None; p.nodes as usize],
                        nodes,
                        nodes_max: i64::from(p.nodes),
                        failure_rng: p.failures.as_ref().map(|_| {
                            (
                                stream(seed, rep, &format!("pool/{}/failures", p.name)),
                                stream(seed, rep, &format!("pool/{}/repairs", p.name)),
                            )
                        }),
                        ..Default::default()
                    }
                })
                .collect(),
            pods: pod::PodTable::default(),
            sets: sets
                .into_iter()
                .map(|(template, desired, c)| ReplicaSet::new(template, desired, c))
                .collect(),
            balloons: Vec::new(),
            notices: VecDeque::new(),
            failures: 0,
            nodes_ready,
            room_freed: 0,
        }
    }

    /// Creates every ReplicaSet's initial pods and the balloons, and starts the cluster
    /// autoscaler and the failure clocks.
    pub fn start(&mut self, q: &mut impl Sink<ClusterEv>) {
        let now = SimTime::ZERO;
        for rs in 0..self.sets.len() {
            if self.sets[rs].controller == Controller::StatefulSet {
                self.reconcile_stateful(now, rs, q);
                continue;
            }
            for _ in 0..self.sets[rs].desired {
                self.create_pod(now, rs, NO_ORDINAL, q);
            }
        }
        for pi in 0..self.plans.len() {
            let (count, units) = self.plans[pi].balloons;
            for _ in 0..count {
                let b = self
                    .pods
                    .create(Owner::Balloon(pi as u16), pi as u16, units, now);
                self.balloons.push(b);
                if !self.place_balloon(b) {
                    self.state[pi].pending.push_back(b);
                }
            }
        }
        if self.plans.iter().any(|p| p.autoscaled()) {
            q.at(autoscaler::SCAN_INTERVAL, ClusterEv::CaScan);
        }
        self.start_failures(q);
        self.sync_allocation(now);
    }

    /// Handles one of the cluster's own events.
    pub fn handle(&mut self, now: SimTime, ev: ClusterEv, q: &mut impl Sink<ClusterEv>) {
        match ev {
            ClusterEv::PodStarted(pod) => self.on_pod_started(now, pod, q),
            ClusterEv::GraceEnd(pod) => {
                if let Some(p) = self.pods.get(pod)
                    && p.phase == PodPhase::Terminating
                    && !p.lost
                {
                    self.notify(pod, PodChange::GraceOver);
                }
            }
            ClusterEv::CaScan => self.on_ca_scan(now, q),
            ClusterEv::NodeProvisioned(pool) => self.on_node_provisioned(now, pool as usize, q),
            ClusterEv::NodeFails(id) => {
                if self.pools[id.pool as usize].is_current(id) {
                    self.fail_node(now, id.pool as usize, id.node, q);
                }
            }
            ClusterEv::ScheduledFailure(pool, node) => {
                if node < self.pools[pool as usize].node_slots() {
                    self.fail_node(now, pool as usize, node, q);
                }
            }
            ClusterEv::NodeNotReady(id) => self.on_node_not_ready(now, id, q),
            ClusterEv::NodeEviction(id) => self.on_node_eviction(now, id, q),
            ClusterEv::NodeRepaired(id) => self.on_node_repaired(now, id, q),
        }
        self.sync_allocation(now);
    }

    /// The next notice, oldest first.
    #[inline]
    pub fn next_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    fn notify(&mut self, pod: PodId, change: PodChange) {
        let owner = self.pods.pod(pod).owner;
        self.notices.push_back(Notice::Pod { pod, owner, change });
    }

    fn notify_node(&mut self, pool: usize, node: u32, change: NodeChange) {
        if change == NodeChange::Joined {
            self.room_freed |= 1 << pool.min(63);
        }
        let node = self.pools[pool].id(pool as u16, node);
        self.notices.push_back(Notice::Node { node, change });
    }

    /// The pod `id` names, if it is still there.
    #[inline]
    pub fn pod(&self, id: PodId) -> Option<&Pod> {
        self.pods.get(id)
    }

    /// ReplicaSet `rs` (a service's, by service index).
    pub fn replica_set(&self, rs: usize) -> &ReplicaSet {
        &self.sets[rs]
    }

    /// Pods waiting for a node in pool `pool` (balloons included).
    pub fn pending(&self, pool: usize) -> usize {
        self.state[pool].pending.len()
    }

    /// Nodes on their way in pool `pool`.
    pub fn provisioning(&self, pool: usize) -> u32 {
        self.state[pool].provisioning
    }

    /// The nodes of pool `pool`.
    pub fn pool(&self, pool: usize) -> &Pool {
        &self.pools[pool]
    }

    /// Nodes whose Ready condition is true now, over all pools.
    pub fn nodes_ready(&self) -> i64 {
        self.nodes_ready.value()
    }

    /// Restarts the time averages at the end of the warm-up.
    pub fn warmup_end(&mut self, now: SimTime) {
        for c in &mut self.state {
            c.nodes.restart(now);
            c.nodes_max = c.nodes.value();
            c.allocated.restart(now);
        }
        for rs in &mut self.sets {
            rs.pending_time.restart(now);
        }
        self.nodes_ready.restart(now);
    }

    /// Brings the pools' allocation integrals up to date at `now`, after a change (every
    /// public method that may bind or release pods ends with it).
    fn sync_allocation(&mut self, now: SimTime) {
        for (i, (p, s)) in self.pools.iter().zip(&mut self.state).enumerate() {
            let delta = p.allocated() as i64 - s.allocated.value();
            if delta != 0 {
                s.allocated.add(now, delta);
            }
            if delta < 0 {
                self.room_freed |= 1 << i.min(63);
            }
        }
    }

    /// Each pool's figures at the end of a replication.
    pub fn pool_summaries(&self) -> Vec<PoolSummary> {
        self.pools
            .iter()
            .zip(&self.state)
            .map(|(_, s)| PoolSummary {
                allocated: s.allocated,
                nodes: s.nodes,
                nodes_max: s.nodes_max,
            })
            .collect()
    }

    /// Node failures after the warm-up, and the Ready-node integral.
    pub fn failure_summary(&self) -> (u64, TimeIntegral) {
        (self.failures, self.nodes_ready)
    }

    /// Creates one pod of set `rs` (with `ordinal`, a StatefulSet's; [`NO_ORDINAL`] for a
    /// Deployment's) and tries to schedule it.
    fn create_pod(&mut self, now: SimTime, rs: usize, ordinal: u32, q: &mut impl Sink<ClusterEv>) {
        let t = self.sets[rs].template;
        let id = self
            .pods
            .create(Owner::Service(rs as u32), t.pool as u16, t.units, now);
        let p = self.pods.pod_mut(id);
        p.priority = t.priority;
        p.ordinal = ordinal;
        let set = &mut self.sets[rs];
        set.active += 1;
        set.pods.push(id);
        self.notify(id, PodChange::Created);
        if !self.try_schedule(now, id, q) {
            self.sets[rs].pending_change(now, 1);
            self.state[t.pool].pending.push_back(id);
        }
    }

    /// Binds `pod` to a node if one has room, preempting balloons if that makes room.
    fn try_schedule(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ClusterEv>) -> bool {
        let p = self.pods.pod(pod);
        let (pool, units, priority) = (p.pool as usize, p.units, p.priority);
        let memory = self.memory_of(pod);
        let node = match self.pools[pool].place_needing(units, memory) {
            Some(n) => n,
            None => match self.preempt_balloons_for(pool, units, memory) {
                Some(n) => {
                    self.pools[pool].place_on(n, units, memory);
                    n
                }
                None => match self.preempt_job_pods_for(pool, units, memory, priority) {
                    Some(n) => {
                        self.pools[pool].place_on(n, units, memory);
                        n
                    }
                    None => return false,
                },
            },
        };
        self.bind(now, pod, node, q);
        true
    }

    /// Memory `pod` asks of its node, bytes (service pods only).
    pub(super) fn memory_of(&self, pod: PodId) -> u64 {
        match self.pods.pod(pod).owner {
            Owner::Service(rs) => self.sets[rs as usize].template.memory,
            _ => 0,
        }
    }

    /// Finds a schedulable node where evicting balloons frees `units` (and that has `memory`
    /// free: balloons hold none), evicts just enough of them (they go back to Pending, which
    /// makes the cluster autoscaler add room for them) and returns it.
    fn preempt_balloons_for(&mut self, pool: usize, units: u32, memory: u64) -> Option<u32> {
        let bu = self.plans[pool].balloons.1;
        if bu == 0 {
            return None;
        }
        // Balloons per node, in node order (deterministic).
        let mut on_node: BTreeMap<u32, Vec<PodId>> = BTreeMap::new();
        for &b in &self.balloons {
            let p = self.pods.pod(b);
            if p.pool as usize == pool
                && p.node != NO_NODE
                && matches!(self.pools[pool].health(p.node), Health::Up | Health::Failed)
            {
                on_node.entry(p.node).or_default().push(b);
            }
        }
        let p = &self.pools[pool];
        let (&node, list) = on_node.iter().find(|(n, l)| {
            p.free_units(**n) + bu * l.len() as u32 >= units && p.has_memory(**n, memory)
        })?;
        let mut free = p.free_units(node);
        for &b in list.iter().rev() {
            if free >= units {
                break;
            }
            self.unbind_balloon(b);
            free += bu;
        }
        Some(node)
    }

    /// A balloon gives up its room and waits again.
    fn unbind_balloon(&mut self, b: PodId) {
        let p = self.pods.pod_mut(b);
        let (pool, node, units) = (p.pool as usize, p.node, p.units);
        p.node = NO_NODE;
        p.phase = PodPhase::Pending;
        p.lost = false;
        self.pools[pool].release(node, units);
        self.pools[pool].remove_pod(node, b);
        self.state[pool].pending.push_back(b);
    }

    fn place_balloon(&mut self, b: PodId) -> bool {
        let p = self.pods.pod(b);
        let (pool, units) = (p.pool as usize, p.units);
        match self.pools[pool].place(units) {
            Some(n) => {
                let p = self.pods.pod_mut(b);
                p.node = n;
                p.phase = PodPhase::Running;
                p.lost = self.pools[pool].health(n) != Health::Up;
                self.pools[pool].add_pod(n, b);
                self.state[pool].unneeded_since[n as usize] = None;
                true
            }
            None => false,
        }
    }

    /// `pod` is bound to `node`: it pulls its image (unless the node has it), starts, waits
    /// for readiness, then is Ready. On a node that has failed it never starts.
    fn bind(&mut self, now: SimTime, pod: PodId, node: u32, q: &mut impl Sink<ClusterEv>) {
        let Owner::Service(rs) = self.pods.pod(pod).owner else {
            unreachable!("only service pods are bound through the ReplicaSet path")
        };
        let t = self.sets[rs as usize].template;
        let pool = &mut self.pools[t.pool];
        let image_at = pool.image_ready(node, t.image, now, t.pull);
        let lost = pool.health(node) != Health::Up;
        pool.add_pod(node, pod);
        self.state[t.pool].unneeded_since[node as usize] = None;
        let p = self.pods.pod_mut(pod);
        p.phase = PodPhase::Starting;
        p.node = node;
        p.image_at = image_at.max(now);
        p.lost = lost;
        if !lost {
            q.at(image_at.max(now) + t.start, ClusterEv::PodStarted(pod));
        }
        self.notify(pod, PodChange::Bound);
    }

    fn on_pod_started(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ClusterEv>) {
        // A pod deleted while it was starting never becomes Ready.
        let Some(p) = self.pods.get_mut(pod) else {
            return;
        };
        if p.phase != PodPhase::Starting || p.lost {
            return;
        }
        p.phase = PodPhase::Running;
        p.ready = true;
        p.ready_since = now;
        p.ready_changed = now;
        let owner = p.owner;
        self.notify(pod, PodChange::Ready);
        // A StatefulSet's next ordinal waits for this one to be Ready.
        if let Owner::Service(rs) = owner
            && self.sets[rs as usize].controller == Controller::StatefulSet
        {
            self.reconcile_stateful(now, rs as usize, q);
        }
    }

    /// The owner's answer to [`PodChange::Terminating`]: `drained` when the pod holds no work.
    /// A drained pod goes now; otherwise its grace period starts. (A pod on a failed node
    /// waits for its node's eviction: nothing there can answer.)
    pub fn terminating_answer(
        &mut self,
        now: SimTime,
        pod: PodId,
        drained: bool,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let Some(p) = self.pods.get(pod) else {
            return;
        };
        if p.lost {
            return;
        }
        if drained {
            self.finalize(now, pod, q);
        } else {
            let Owner::Service(rs) = p.owner else {
                return;
            };
            let grace = self.sets[rs as usize].template.grace;
            q.at(now + grace, ClusterEv::GraceEnd(pod));
        }
    }

    /// `pod` is gone: its node's room goes back to the pool, and pending pods get a chance.
    pub fn finalize(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ClusterEv>) {
        let Some(pool) = self.remove_pod(pod) else {
            return;
        };
        if let Some(pool) = pool {
            self.retry_pending(now, pool, q);
        }
        self.sync_allocation(now);
    }

    /// Removes `pod` from its ReplicaSet, its node and the table; returns its pool when it
    /// held room there (None when it was Pending), or None when it was already gone.
    fn remove_pod(&mut self, pod: PodId) -> Option<Option<usize>> {
        let p = self.pods.get(pod)?;
        let (pool, node, units, owner) = (p.pool as usize, p.node, p.units, p.owner);
        let memory = self.memory_of(pod);
        if let Owner::Service(rs) = owner {
            self.sets[rs as usize].forget(pod);
        }
        let bound = node != NO_NODE;
        if bound {
            self.pools[pool].remove_pod(node, pod);
            self.pools[pool].release(node, units);
            self.pools[pool].release_memory(node, memory);
        }
        self.notify(pod, PodChange::Gone { bound });
        self.pods.remove(pod);
        Some(bound.then_some(pool))
    }

    /// Schedules pending pods of `pool` in order while they fit (real pods may preempt
    /// balloons; a balloon never preempts anything).
    fn retry_pending(&mut self, now: SimTime, pool: usize, q: &mut impl Sink<ClusterEv>) {
        let mut still = VecDeque::new();
        while let Some(p) = self.state[pool].pending.pop_front() {
            let placed = match self.pods.pod(p).owner {
                Owner::Service(rs) => {
                    let ok = self.try_schedule(now, p, q);
                    if ok {
                        self.sets[rs as usize].pending_change(now, -1);
                    }
                    ok
                }
                Owner::Balloon(_) => self.place_balloon(p),
                Owner::Job(_) => false,
            };
            if !placed {
                still.push_back(p);
            }
        }
        // (Balloons preempted on the way were appended and tried in the same loop.)
        still.extend(self.state[pool].pending.drain(..));
        self.state[pool].pending = still;
    }
}
