//! The request path: workloads send requests to services, services route them to replicas,
//! replicas batch and run them (or an LLM engine iterates over them), and every request
//! leaves counters and histogram entries behind.
//!
//! A replica is a server attached to a pod, not the pod: the cluster owns the pod and tells
//! the world what happens to it; the world passes that on here ([`Serving::attach`],
//! [`Serving::ready`], [`Serving::terminating`], [`Serving::lost`], ...). Serving's own
//! timers are [`ServingEv`] events.

pub mod batch;
mod calls;
pub mod llm;
pub mod plan;
pub mod replica;
mod route;
pub mod stats;
mod traffic;

pub use batch::{Take, take};
pub use calls::Answer;
pub use plan::{Batching, Cost, LlmPlan, Load, Routing, ServicePlan, SloPlan, WorkloadPlan};
pub use replica::{NO_LINK, RepId, RepState, Replica, ReplicaLoad, Req};
pub use stats::ServiceStats;

use crate::cluster::PodId;
use crate::engine::{SimRng, SimTime, Sink, stream};
use crate::workload::Sampler;
use llm::{Engine, Outcome};
use rand::RngExt;
use replica::Slot;
use route::LoadTree;
use std::collections::VecDeque;
pub use traffic::MAX_ARRIVAL_LANES;
use traffic::Wl;

/// Serving's timers and arrivals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingEv {
    /// The next arrival of open workload `.0`.
    Arrival(u32),
    /// A user of closed workload `.0` finished thinking.
    Think(u32),
    /// Execution slot `slot` of replica `rep` finished its batch (an LLM: its iteration).
    Done {
        /// The replica.
        rep: RepId,
        /// The slot.
        slot: u16,
    },
    /// The batch timer of service `.0`'s shared queue.
    ServiceTimer(u32),
    /// The batch timer of a replica's own queue.
    ReplicaTimer(RepId),
    /// Routes requests held while no replica was Ready; runs after every Ready of the same
    /// instant, so that pods starting together share the backlog.
    Release(u32),
    /// A call answers its caller's frame `frame` (after an LLM server's overhead): `ans` is
    /// an [`Answer`]'s code.
    Answer {
        /// The caller's frame.
        frame: u32,
        /// How the call ended.
        ans: u8,
    },
}

/// One service's request path.
pub struct Svc {
    /// Shared queue, or the holding queue while no replica is Ready.
    pub queue: VecDeque<Req>,
    /// Idle (replica slot, execution slot) pairs of a shared-queue service.
    idle: Vec<(u32, u32)>,
    /// Replicas in the endpoints, in the order they became Ready.
    pub ready: Vec<u32>,
    /// The outstanding requests of `ready`, position by position (least-outstanding and
    /// power-of-two routing).
    load: LoadTree,
    rr: usize,
    timer: bool,
    release_pending: bool,
    route_rng: SimRng,
    service_rng: SimRng,
    /// The service time of the next batch (generic costs), drawn a batch ahead from the same
    /// stream in the same order: a batch's end is then known as soon as it starts, and the
    /// event queue's comparisons on it (unpredictable branches) need not wait for the draw's
    /// arithmetic to resolve.
    next_dur: SimTime,
    /// Requests waiting.
    pub waiting: u64,
    /// Requests running.
    pub running: u64,
    /// Users of its closed workloads.
    pub closed_users: u32,
    /// Its Ready replica of ordinal 0, if any (a StatefulSet's primary).
    pub primary: Option<u32>,
    /// Its statistics.
    pub stats: ServiceStats,
}

/// The request path of one replication.
pub struct Serving<'p> {
    services: &'p [ServicePlan],
    workloads: &'p [WorkloadPlan],
    max_queue: u64,
    /// Services, in plan order.
    pub svcs: Vec<Svc>,
    /// Replicas, by the slot of their pod.
    pub reps: Vec<Replica>,
    wls: Vec<Wl>,
    llm_out: Outcome<Req>,
    /// A service reached the queue bound: the replication stops.
    pub stop: bool,
    /// Terminating pods that finished their last request, for the world to let go.
    drained: Vec<PodId>,
    /// Requests' calls to other services.
    calls: calls::Calls,
}

/// One draw of a generic cost's service time.
#[inline(always)]
fn service_time(sampler: &Sampler, scale: f64, rng: &mut SimRng) -> SimTime {
    SimTime::from_secs_f64(sampler.sample(rng) * scale)
}

/// Moves the first `n` requests of `queue` into `batch` (a plain loop: faster than
/// `extend(drain(..n))` for the common batch of one).
#[inline]
fn take_front(queue: &mut VecDeque<Req>, n: usize, batch: &mut Slot) {
    for _ in 0..n {
        if let Some(r) = queue.pop_front() {
            batch.push(r);
        }
    }
}

impl<'p> Serving<'p> {
    /// The services of replication `rep`, with no replicas yet.
    pub fn new(
        services: &'p [ServicePlan],
        workloads: &'p [WorkloadPlan],
        warmup: SimTime,
        max_queue: u64,
        seed: u64,
        rep: u32,
    ) -> Serving<'p> {
        let svcs = services
            .iter()
            .map(|sp| {
                let mut service_rng =
                    stream(seed, rep, &format!("service/{}/service_time", sp.name));
                let next_dur = match &sp.cost {
                    Cost::Generic { sampler, scale } => {
                        service_time(sampler, *scale, &mut service_rng)
                    }
                    _ => SimTime::ZERO,
                };
                Svc {
                    queue: VecDeque::new(),
                    idle: Vec::new(),
                    ready: Vec::new(),
                    load: if sp.routing == Routing::PowerOfTwo {
                        LoadTree::leaves_only()
                    } else {
                        LoadTree::default()
                    },
                    rr: 0,
                    timer: false,
                    release_pending: false,
                    route_rng: stream(seed, rep, &format!("service/{}/routing", sp.name)),
                    service_rng,
                    next_dur,
                    waiting: 0,
                    running: 0,
                    closed_users: 0,
                    primary: None,
                    stats: ServiceStats::new(warmup),
                }
            })
            .collect();
        Serving {
            services,
            workloads,
            max_queue,
            svcs,
            reps: Vec::new(),
            wls: Vec::new(),
            llm_out: Outcome::default(),
            stop: false,
            drained: Vec::new(),
            calls: calls::Calls::new(services, seed, rep),
        }
    }

    /// Handles one of serving's events.
    #[inline]
    pub fn handle(&mut self, now: SimTime, ev: ServingEv, q: &mut impl Sink<ServingEv>) {
        match ev {
            ServingEv::Arrival(w) => self.on_arrival(now, w, q),
            ServingEv::Think(w) => self.on_think(now, w, q),
            ServingEv::Done { rep, slot } => self.on_done(now, rep, slot as u32, q),
            ServingEv::ServiceTimer(si) => {
                self.svcs[si as usize].timer = false;
                self.pump_shared(now, si as usize, q);
            }
            ServingEv::ReplicaTimer(id) => {
                if self.current(id) {
                    self.reps[id.slot as usize].timer = false;
                    self.pump_replica(now, id.slot, q);
                }
            }
            ServingEv::Release(si) => self.on_release(now, si as usize, q),
            ServingEv::Answer { frame, ans } => {
                self.on_answer(now, frame, Answer::from_code(ans), q)
            }
        }
    }

    /// Terminating pods that finished their last request since the last call.
    #[inline]
    pub fn take_drained(&mut self) -> Option<PodId> {
        self.drained.pop()
    }

    #[inline]
    fn current(&self, id: RepId) -> bool {
        self.reps[id.slot as usize].generation == id.generation
    }

    /// The replica of `pod`, if it is that pod's.
    fn replica_of(&self, pod: PodId) -> Option<u32> {
        self.reps
            .get(pod.slot as usize)
            .filter(|r| r.pod == pod && r.state != RepState::Gone)
            .map(|_| pod.slot)
    }

    /// The load replica `pod` exposes to metric scrapers (None unless serving or draining).
    pub fn load(&self, pod: PodId) -> Option<ReplicaLoad> {
        self.replica_of(pod)
            .and_then(|r| self.reps[r as usize].load())
    }

    // ---- Pods, as the cluster tells of them.

    /// A pod of service `si` was created: a replica is attached to it. `ordinal`: its index
    /// in its StatefulSet (None for a Deployment's pod).
    pub fn attach(&mut self, pod: PodId, si: usize, ordinal: Option<u32>) {
        let slot = pod.slot as usize;
        if self.reps.len() <= slot {
            self.reps.resize_with(slot + 1, Replica::vacant);
        }
        let sp = &self.services[si];
        let rep = &mut self.reps[slot];
        rep.pod = pod;
        rep.svc = si as u32;
        rep.ordinal = ordinal.unwrap_or(u32::MAX);
        rep.state = RepState::Starting;
        rep.bound = false;
        rep.caller = !sp.calls.is_empty();
        rep.queue.clear();
        rep.slots.reset(sp.concurrency as usize);
        rep.clear_free();
        rep.outstanding = 0;
        rep.ready_at = u32::MAX;
        rep.timer = false;
        rep.llm = match &sp.cost {
            Cost::Llm(lp) => Some(Box::new(Engine::new(lp.engine))),
            _ => None,
        };
        rep.iter_tokens = 0;
        rep.started_total = 0;
        rep.calls_out = 0;
        rep.blocked = 0;
        self.calls.attach(pod.slot, si);
    }

    /// The pod of a replica was bound to a node: it holds GPUs (and KV cache) from now.
    pub fn bound(&mut self, now: SimTime, pod: PodId) {
        let Some(r) = self.replica_of(pod) else {
            return;
        };
        let rep = &mut self.reps[r as usize];
        rep.bound = true;
        let si = rep.svc as usize;
        let s = &mut self.svcs[si].stats;
        s.bound_pods(now, 1);
        if let Cost::Llm(lp) = &self.services[si].cost {
            s.kv_capacity.add(now, i64::from(lp.engine.kv_blocks));
        }
    }

    /// The pod of a replica is Ready: it joins the endpoints and takes work.
    pub fn ready(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ServingEv>) {
        let Some(r) = self.replica_of(pod) else {
            return;
        };
        let rep = &mut self.reps[r as usize];
        if rep.state != RepState::Starting {
            return;
        }
        rep.state = RepState::Ready;
        let si = rep.svc as usize;
        let slots = rep.slots.len() as u32;
        let s = &mut self.svcs[si];
        s.ready.push(r);
        if rep.ordinal == 0 {
            s.primary = Some(r);
        }
        if matches!(
            self.services[si].routing,
            Routing::LeastOutstanding | Routing::PowerOfTwo
        ) {
            rep.ready_at = (s.ready.len() - 1) as u32;
            if !s.load.push(rep.outstanding) {
                Self::rebuild_load(&mut self.reps, s);
            }
        }
        let rep = &mut self.reps[r as usize];
        if self.services[si].routing == Routing::SharedQueue {
            // Reversed so that pop() hands out slot 0 first (an LLM engine has one).
            let slots = if rep.llm.is_some() { 1 } else { slots };
            for slot in (0..slots).rev() {
                self.svcs[si].idle.push((r, slot));
            }
            self.pump_shared(now, si, q);
        } else {
            for slot in (0..slots).rev() {
                rep.free_slot(slot);
            }
            let s = &mut self.svcs[si];
            if !s.queue.is_empty() && !s.release_pending {
                s.release_pending = true;
                q.at(now, ServingEv::Release(si as u32));
            }
        }
    }

    /// Takes replica `r` out of its service's endpoints.
    fn leave_endpoints(&mut self, r: u32) {
        let s = &mut self.svcs[self.reps[r as usize].svc as usize];
        s.ready.retain(|&x| x != r);
        s.idle.retain(|&(x, _)| x != r);
        if s.primary == Some(r) {
            s.primary = None;
        }
        if self.reps[r as usize].ready_at != u32::MAX {
            self.reps[r as usize].ready_at = u32::MAX;
            Self::rebuild_load(&mut self.reps, s);
        }
    }

    /// The load tree of `s` over its ready list as it is now, and each replica's position.
    fn rebuild_load(reps: &mut [Replica], s: &mut Svc) {
        for (i, &x) in s.ready.iter().enumerate() {
            reps[x as usize].ready_at = i as u32;
        }
        s.load
            .rebuild(s.ready.iter().map(|&x| reps[x as usize].outstanding));
    }

    /// Replica `r`'s outstanding count changed: its leaf follows (least-outstanding routing).
    #[inline]
    fn sync_load(&mut self, r: u32) {
        let rep = &self.reps[r as usize];
        if rep.ready_at != u32::MAX {
            self.svcs[rep.svc as usize]
                .load
                .set(rep.ready_at as usize, rep.outstanding);
        }
    }

    /// The pod of a replica is being deleted: it leaves the endpoints and drains. Returns
    /// whether it holds nothing (it can go at once).
    pub fn terminating(&mut self, pod: PodId) -> bool {
        let Some(r) = self.replica_of(pod) else {
            return true;
        };
        if self.reps[r as usize].state == RepState::Ready {
            self.reps[r as usize].state = RepState::Terminating;
        }
        self.leave_endpoints(r);
        self.reps[r as usize].holds_nothing()
    }

    /// The grace period of a replica's pod ran out: whatever it still holds is killed and
    /// counted as dropped.
    pub fn grace_over(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ServingEv>) {
        if let Some(r) = self.replica_of(pod) {
            self.kill(now, r, false, q);
        }
    }

    /// The node of a replica's pod failed: what it holds is lost (counted as failed and
    /// dropped), and so is whatever is routed to it until its pod leaves the endpoints.
    pub fn lost(&mut self, now: SimTime, pod: PodId, q: &mut impl Sink<ServingEv>) {
        let Some(r) = self.replica_of(pod) else {
            return;
        };
        let rep = &self.reps[r as usize];
        if matches!(rep.state, RepState::Dead | RepState::Gone) {
            return;
        }
        // Its requests never answer: its load balancer keeps counting them.
        let outstanding = rep.outstanding;
        self.kill(now, r, true, q);
        let rep = &mut self.reps[r as usize];
        rep.outstanding = outstanding;
        rep.state = RepState::Dead;
        self.sync_load(r);
        let rep = &mut self.reps[r as usize];
        // Its completions and timers are stale from now.
        rep.generation = rep.generation.wrapping_add(1);
        let s = &mut self.svcs[rep.svc as usize];
        s.idle.retain(|&(x, _)| x != r);
    }

    /// The node of a replica's pod was marked NotReady: the pod leaves the endpoints.
    pub fn not_ready(&mut self, pod: PodId) {
        if let Some(r) = self.replica_of(pod) {
            self.leave_endpoints(r);
            let rep = &mut self.reps[r as usize];
            if rep.state == RepState::Ready {
                rep.state = RepState::Starting;
            }
        }
    }

    /// A replica's pod is gone (`bound`: it held a node until now).
    pub fn gone(&mut self, now: SimTime, pod: PodId, bound: bool) {
        let Some(r) = self.replica_of(pod) else {
            return;
        };
        let si = self.reps[r as usize].svc as usize;
        if bound {
            let s = &mut self.svcs[si].stats;
            s.bound_pods(now, -1);
            if let Cost::Llm(lp) = &self.services[si].cost {
                s.kv_capacity.add(now, -i64::from(lp.engine.kv_blocks));
            }
        }
        self.leave_endpoints(r);
        let rep = &mut self.reps[r as usize];
        rep.state = RepState::Gone;
        rep.generation = rep.generation.wrapping_add(1);
        rep.queue.clear();
        rep.llm = None;
    }

    /// Kills whatever replica `r` holds (queued, in its slots, in its engine), counting it as
    /// dropped (and, with `failed`, as lost to a failure).
    fn kill(&mut self, now: SimTime, r: u32, failed: bool, q: &mut impl Sink<ServingEv>) {
        let waiters = self.drop_conn_waiters(now, r);
        let rep = &mut self.reps[r as usize];
        let si = rep.svc as usize;
        let mut killed: Vec<Req> = rep.queue.drain(..).collect();
        let queued = killed.len() as u64;
        let mut busy_slots = 0;
        for slot in rep.slots.iter_mut() {
            if !slot.is_empty() {
                busy_slots += 1;
            }
            slot.drain_into(&mut killed);
        }
        // Slots waiting on blocking calls were held, not working.
        busy_slots -= i64::from(rep.blocked);
        let primary = rep.ordinal == 0;
        let mut kv_freed = 0;
        if let Some(e) = rep.llm.as_mut() {
            kv_freed = i64::from(e.used_blocks());
            if e.busy() {
                busy_slots += 1;
            }
            killed.extend(e.drain());
        }
        rep.outstanding = 0;
        self.sync_load(r);
        let has_slo = self.services[si].slo.is_some();
        let s = &mut self.svcs[si];
        s.waiting -= queued;
        s.running -= killed.len() as u64 - queued;
        let st = &mut s.stats;
        st.work(now, -busy_slots, primary);
        st.kv_used.add(now, -kv_freed);
        for req in &killed {
            st.unfinished_left(now, req.arrival);
            st.killed(req.arrival, failed);
            if failed && has_slo {
                st.count_slo(false);
            }
        }
        let ans = if failed {
            Answer::Failed
        } else {
            Answer::Dropped
        };
        for req in killed {
            self.answered(now, si, req, ans, q);
        }
        self.fail_waiters(now, waiters, q);
    }

    // ---- The request path.

    /// A request arrives at service `si` (from a user, or a call).
    fn admit(&mut self, now: SimTime, si: usize, req: Req, q: &mut impl Sink<ServingEv>) {
        let shared = self.holds(si, &req);
        let sp = &self.services[si];
        let s = &mut self.svcs[si];
        s.stats.arrived(now);
        if shared {
            if let Some(cap) = sp.queue_capacity
                && s.queue.len() >= cap as usize
            {
                self.drop_req(now, si, req, q);
                return;
            }
            s.stats.entered(now);
            // An idle slot and nothing queued: the request goes straight to the slot, as the
            // queue would pass it on (a batch of one that starts now), without the queue.
            if sp.routing == Routing::SharedQueue
                && s.queue.is_empty()
                && s.waiting < self.max_queue
                && sp.batching != Batching::Continuous
                && take(sp.batching, 1, req.arrival, now) == Take::Now(1)
                && let Some((r, slot)) = s.idle.pop()
            {
                s.waiting += 1;
                self.reps[r as usize].slots[slot as usize].push(req);
                self.start(now, r, slot, q);
                return;
            }
            s.queue.push_back(req);
            s.waiting += 1;
            if s.waiting > self.max_queue {
                self.saturate(now, si);
                return;
            }
            if sp.routing == Routing::SharedQueue {
                self.pump_shared(now, si, q);
            }
            return;
        }
        let r = self.route(si, &req);
        let rep = &mut self.reps[r as usize];
        if rep.state == RepState::Dead {
            rep.outstanding += 1;
            self.sync_load(r);
            self.fail_req(now, si, req, q);
            return;
        }
        if let Some(cap) = sp.queue_capacity
            && rep.queue.len() >= cap as usize
        {
            self.drop_req(now, si, req, q);
            return;
        }
        let s = &mut self.svcs[si];
        s.stats.entered(now);
        s.waiting += 1;
        rep.outstanding += 1;
        // An idle replica with nothing queued starts a batch of one at once: the request goes
        // straight to a slot, as the queue would pass it on, without touching the queue's
        // memory (with thousands of replicas, one cache miss less).
        if rep.llm.is_none()
            && rep.queue.is_empty()
            && rep.has_free()
            && s.waiting <= self.max_queue
            && take(sp.batching, 1, req.arrival, now) == Take::Now(1)
            && let Some(slot) = rep.take_free()
        {
            rep.slots[slot as usize].push(req);
            self.sync_load(r);
            self.start(now, r, slot, q);
            return;
        }
        rep.queue.push_back(req);
        self.sync_load(r);
        if self.svcs[si].waiting > self.max_queue {
            self.saturate(now, si);
            return;
        }
        self.pump_replica(now, r, q);
    }

    fn route(&mut self, si: usize, req: &Req) -> u32 {
        if let Some(p) = self.svcs[si].primary
            && self.wants_primary(si, req)
        {
            return p;
        }
        let s = &mut self.svcs[si];
        let n = s.ready.len();
        match self.services[si].routing {
            Routing::Random => s.ready[s.route_rng.random_range(0..n)],
            Routing::RoundRobin => {
                s.rr = (s.rr + 1) % n;
                s.ready[s.rr]
            }
            Routing::LeastOutstanding => {
                // The first with the fewest from the one after the last choice: ties go
                // round-robin, so equal replicas share the load evenly.
                debug_assert_eq!(s.load.len(), n);
                let best_i = s.load.pick((s.rr + 1) % n).unwrap_or(0);
                s.rr = best_i;
                s.ready[best_i]
            }
            Routing::PowerOfTwo => {
                // Two positions at random; the leaves hold their replicas' outstanding
                // requests, so the replicas themselves are not read.
                debug_assert_eq!(s.load.len(), n);
                let a = s.route_rng.random_range(0..n);
                let b = s.route_rng.random_range(0..n);
                debug_assert_eq!(s.load.leaf(a), self.reps[s.ready[a] as usize].outstanding);
                debug_assert_eq!(s.load.leaf(b), self.reps[s.ready[b] as usize].outstanding);
                if s.load.leaf(b) < s.load.leaf(a) {
                    s.ready[b]
                } else {
                    s.ready[a]
                }
            }
            Routing::SharedQueue => s.ready[0],
            // Admission holds requests while the primary is not Ready.
            Routing::Primary => s.ready[0],
        }
    }

    fn drop_req(&mut self, now: SimTime, si: usize, req: Req, q: &mut impl Sink<ServingEv>) {
        let s = &mut self.svcs[si].stats;
        s.refused(now);
        if self.services[si].slo.is_some() {
            s.count_slo(false);
        }
        self.answered(now, si, req, Answer::Dropped, q);
    }

    /// A request sent to a replica whose node has failed: lost.
    fn fail_req(&mut self, now: SimTime, si: usize, req: Req, q: &mut impl Sink<ServingEv>) {
        let s = &mut self.svcs[si].stats;
        s.killed(req.arrival, true);
        if self.services[si].slo.is_some() {
            s.count_slo(false);
        }
        self.answered(now, si, req, Answer::Failed, q);
    }

    fn saturate(&mut self, now: SimTime, si: usize) {
        self.svcs[si].stats.saturated_at = Some(now);
        self.stop = true;
    }

    /// How many queued requests to start now, or None to wait (arming the batch timer).
    #[inline(always)]
    fn batch_size(
        batching: Batching,
        queue: &VecDeque<Req>,
        now: SimTime,
        timer: &mut bool,
        q: &mut impl Sink<ServingEv>,
        owner: ServingEv,
    ) -> Option<usize> {
        let oldest = queue.front().map_or(SimTime::ZERO, |r| r.arrival);
        match take(batching, queue.len(), oldest, now) {
            Take::Now(n) => Some(n),
            Take::WaitUntil(due) => {
                if !*timer {
                    *timer = true;
                    q.at(due, owner);
                }
                None
            }
            Take::Idle => None,
        }
    }

    /// Starts what service `si`'s shared queue can start on its idle slots.
    #[inline(always)]
    fn pump_shared(&mut self, now: SimTime, si: usize, q: &mut impl Sink<ServingEv>) {
        // Nothing queued or no idle slot (every request of a busy M/M/c, every completion
        // of an idle one): nothing to do, checked here without a call.
        let s = &self.svcs[si];
        if s.queue.is_empty() || s.idle.is_empty() {
            return;
        }
        self.pump_shared_work(now, si, q);
    }

    #[inline(always)]
    fn pump_shared_work(&mut self, now: SimTime, si: usize, q: &mut impl Sink<ServingEv>) {
        let batching = self.services[si].batching;
        if batching == Batching::Continuous {
            // Idle engines take from the shared queue; busy ones take at their next iteration.
            while !self.svcs[si].queue.is_empty() {
                let Some((r, _)) = self.svcs[si].idle.pop() else {
                    return;
                };
                if !self.llm_step(now, r, q) {
                    self.svcs[si].idle.push((r, 0));
                    return;
                }
            }
            return;
        }
        loop {
            let s = &mut self.svcs[si];
            if s.queue.is_empty() || s.idle.is_empty() {
                return;
            }
            let Some(n) = Self::batch_size(
                batching,
                &s.queue,
                now,
                &mut s.timer,
                q,
                ServingEv::ServiceTimer(si as u32),
            ) else {
                return;
            };
            let Some((r, slot)) = s.idle.pop() else {
                return;
            };
            take_front(
                &mut s.queue,
                n,
                &mut self.reps[r as usize].slots[slot as usize],
            );
            self.start(now, r, slot, q);
        }
    }

    fn pump_replica(&mut self, now: SimTime, r: u32, q: &mut impl Sink<ServingEv>) {
        let si = self.reps[r as usize].svc as usize;
        let batching = self.services[si].batching;
        if let Some(e) = &self.reps[r as usize].llm {
            if !e.busy() {
                self.llm_step(now, r, q);
            }
            return;
        }
        loop {
            let rep = &mut self.reps[r as usize];
            if rep.queue.is_empty() || !rep.has_free() {
                return;
            }
            let owner = ServingEv::ReplicaTimer(rep.id(r));
            let Some(n) = Self::batch_size(batching, &rep.queue, now, &mut rep.timer, q, owner)
            else {
                return;
            };
            let Some(slot) = rep.take_free() else {
                return;
            };
            take_front(&mut rep.queue, n, &mut rep.slots[slot as usize]);
            self.start(now, r, slot, q);
        }
    }

    /// Starts the batch already placed in slot `slot` of replica `r`.
    #[inline(always)]
    fn start(&mut self, now: SimTime, r: u32, slot: u32, q: &mut impl Sink<ServingEv>) {
        let si = self.reps[r as usize].svc as usize;
        if self.reps[r as usize].caller {
            let req = *self.reps[r as usize].slots[slot as usize].get(0);
            if let Some(dur) = self.then_time(si, &req) {
                // A caller's step after an answer: the same request, started before.
                let rep = &mut self.reps[r as usize];
                let id = rep.id(r);
                let s = &mut self.svcs[si];
                s.stats.execution(now, 1, dur);
                s.waiting -= 1;
                s.running += 1;
                s.stats.work(now, 1, rep.ordinal == 0);
                q.at(
                    now + dur,
                    ServingEv::Done {
                        rep: id,
                        slot: slot as u16,
                    },
                );
                return;
            }
        }
        let rep = &mut self.reps[r as usize];
        let id = rep.id(r);
        let batch = &mut rep.slots[slot as usize];
        let s = &mut self.svcs[si];
        let n = batch.len();
        let dur = match &self.services[si].cost {
            Cost::Generic { sampler, scale } => {
                let next = service_time(sampler, *scale, &mut s.service_rng);
                std::mem::replace(&mut s.next_dur, next)
            }
            Cost::Table(t) => t[(n - 1).min(t.len() - 1)],
            Cost::Llm(_) => unreachable!("LLM replicas run iterations, not batches"),
        };
        rep.started_total += n as u64;
        for i in 0..n {
            let req = batch.get_mut(i);
            req.started = now;
            s.stats.started(req.arrival, now);
        }
        s.stats.execution(now, n as u64, dur);
        s.waiting -= n as u64;
        s.running += n as u64;
        s.stats.work(now, 1, rep.ordinal == 0);
        q.at(
            now + dur,
            ServingEv::Done {
                rep: id,
                slot: slot as u16,
            },
        );
    }

    #[inline]
    fn on_done(&mut self, now: SimTime, id: RepId, slot: u32, q: &mut impl Sink<ServingEv>) {
        // Killed at the end of its grace period, or lost with its node: its requests were
        // counted then.
        if !self.current(id) {
            return;
        }
        let r = id.slot;
        let rep = &self.reps[r as usize];
        let draining = rep.state == RepState::Terminating;
        if rep.llm.is_some() {
            self.llm_done(now, r, q);
        } else if rep.caller {
            self.caller_done(now, r, slot, q);
        } else {
            self.batch_done(now, r, slot, q);
        }
        if draining {
            self.note_drained(r);
        }
    }

    #[inline]
    fn batch_done(&mut self, now: SimTime, r: u32, slot: u32, q: &mut impl Sink<ServingEv>) {
        // A batch of one (every batch of an unbatched service) gets a copy of the code with
        // its size known: no loop, and the integrals change by a constant.
        let n = self.reps[r as usize].slots[slot as usize].len();
        if n == 1 {
            self.batch_of_done(now, r, slot, 1, q);
        } else {
            self.batch_of_done(now, r, slot, n, q);
        }
    }

    /// [`Serving::batch_done`] of a batch of `n` requests.
    #[inline(always)]
    fn batch_of_done(
        &mut self,
        now: SimTime,
        r: u32,
        slot: u32,
        n: usize,
        q: &mut impl Sink<ServingEv>,
    ) {
        let si = self.reps[r as usize].svc as usize;
        let sp = &self.services[si];
        let slo = sp.slo.as_ref();
        // Split borrows: the batch stays in its slot while the service's statistics, the
        // event queue and the workloads are updated (no Vec moved in the hot path).
        let Serving {
            reps,
            svcs,
            wls,
            workloads,
            calls,
            ..
        } = self;
        let rep = &mut reps[r as usize];
        let batch = &mut rep.slots[slot as usize];
        debug_assert_eq!(n, batch.len());
        let s = &mut svcs[si];
        s.stats.work(now, -1, rep.ordinal == 0);
        s.running -= n as u64;
        s.stats.completions(now, n as u64);
        let mut in_window = 0;
        for i in 0..n {
            let req = batch.get(i);
            let latency = now.since(req.arrival);
            if s.stats
                .completed(req.arrival, latency, req.prompt as u64, req.output as u64)
            {
                in_window += 1;
                if let Some(slo) = slo {
                    let wait = req.started.since(req.arrival);
                    s.stats.count_slo(slo.met(latency, wait, None, None));
                }
            }
            if req.link == NO_LINK {
                traffic::think_again(workloads, &mut wls[req.wl as usize], q, now, req.wl);
            } else {
                calls.answers.push(req.link);
            }
        }
        s.stats.completed_left(now, n as u64, in_window);
        batch.clear();
        if sp.routing == Routing::SharedQueue {
            if rep.state == RepState::Ready {
                if sp.batching == Batching::None
                    && let Some(next) = s.queue.pop_front()
                {
                    // The pump would hand this slot, the last idle one, the next request:
                    // it takes it at once. (Unbatched, a request waits only while no slot
                    // is idle.)
                    debug_assert!(s.idle.is_empty());
                    batch.push(next);
                    self.start(now, r, slot, q);
                } else {
                    s.idle.push((r, slot));
                }
            }
            self.pump_shared(now, si, q);
        } else {
            rep.outstanding -= n as u32;
            rep.free_slot(slot);
            self.sync_load(r);
            self.pump_replica(now, r, q);
        }
        if !self.calls.answers.is_empty() {
            // Calls answered: their callers go on, now that this replica is in order.
            let answers = std::mem::take(&mut self.calls.answers);
            for &f in &answers {
                self.on_answer(now, f, Answer::Ok, q);
            }
            self.calls.answers = answers;
            self.calls.answers.clear();
        }
    }

    /// Plans and starts the next iteration of LLM replica `r`, admitting requests from its
    /// queue (or the service's shared queue). Returns whether an iteration started.
    fn llm_step(&mut self, now: SimTime, r: u32, q: &mut impl Sink<ServingEv>) -> bool {
        let started = self.llm_schedule(now, r, q);
        // Requests too long to run left it.
        self.sync_load(r);
        started
    }

    fn llm_schedule(&mut self, now: SimTime, r: u32, q: &mut impl Sink<ServingEv>) -> bool {
        let Serving {
            reps,
            svcs,
            wls,
            workloads,
            services,
            llm_out: out,
            ..
        } = self;
        let rep = &mut reps[r as usize];
        let id = rep.id(r);
        let Replica {
            svc,
            queue: own_queue,
            outstanding,
            llm,
            iter_tokens,
            started_total,
            ..
        } = rep;
        let si = *svc as usize;
        let sp = &services[si];
        let Cost::Llm(lp) = &sp.cost else {
            unreachable!("llm_step on a replica without an LLM")
        };
        let Some(engine) = llm.as_mut() else {
            return false;
        };
        let s = &mut svcs[si];
        let shared = sp.routing == Routing::SharedQueue;
        let used_before = engine.used_blocks();
        let queue = if shared { &mut s.queue } else { own_queue };
        let shape = engine.schedule(now, queue, out);
        for req in &out.admitted {
            s.stats.started(req.arrival, now);
        }
        let admitted = out.admitted.len() as u64;
        *started_total += admitted;
        s.waiting -= admitted;
        s.running += admitted;
        if s.stats.counts(now) {
            s.stats.preemptions += u64::from(out.preempted);
        }
        for req in &out.rejected {
            // Too long to ever run: refused, as vLLM refuses it.
            s.waiting -= 1;
            s.stats.unfinished_left(now, req.arrival);
            if !shared {
                *outstanding -= 1;
            }
            s.stats.refused(now);
            if req.link == NO_LINK {
                traffic::think_again(
                    workloads,
                    &mut wls[req.wl as usize],
                    q,
                    now + lp.request_overhead,
                    req.wl,
                );
            } else {
                // A call: its caller learns of it after the server's overhead, by an event
                // (not from inside the engine's step).
                q.at(
                    now + lp.request_overhead,
                    ServingEv::Answer {
                        frame: req.link,
                        ans: Answer::Dropped.code(),
                    },
                );
            }
        }
        s.stats.kv_used.add(
            now,
            i64::from(engine.used_blocks()) - i64::from(used_before),
        );
        let running = engine.running() as u64;
        out.clear();
        let Some(shape) = shape else {
            return false;
        };
        let dur = lp.cost.iteration(&shape);
        *iter_tokens = (shape.prefill_seqs + shape.decode_seqs) as u32;
        s.stats.busy.add(now, 1);
        s.stats.execution(now, running, dur);
        q.at(now + dur, ServingEv::Done { rep: id, slot: 0 });
        true
    }

    /// The iteration of LLM replica `r` ended: first tokens and finished requests are
    /// recorded, and the next iteration starts.
    fn llm_done(&mut self, now: SimTime, r: u32, q: &mut impl Sink<ServingEv>) {
        let Serving {
            reps,
            svcs,
            wls,
            workloads,
            services,
            llm_out: out,
            ..
        } = self;
        let rep = &mut reps[r as usize];
        let si = rep.svc as usize;
        let sp = &services[si];
        let Cost::Llm(lp) = &sp.cost else {
            unreachable!("llm_done on a replica without an LLM")
        };
        let Some(engine) = rep.llm.as_mut() else {
            return;
        };
        let s = &mut svcs[si];
        let st = &mut s.stats;
        let slo = sp.slo.as_ref();
        let overhead = lp.request_overhead;
        st.busy.add(now, -1);
        let used_before = engine.used_blocks();
        engine.complete(now, out);
        st.kv_used.add(
            now,
            i64::from(engine.used_blocks()) - i64::from(used_before),
        );
        if st.counts(now) {
            st.generated_tokens += u64::from(rep.iter_tokens);
        }
        for req in &out.first_tokens {
            let ttft = (now + overhead).since(req.arrival);
            st.iv_ttft.record(ttft);
            if st.counts(req.arrival) {
                st.ttft.record(ttft);
            }
        }
        let n = out.finished.len() as u64;
        s.running -= n;
        st.completions(now, n);
        let mut in_window = 0;
        if sp.routing != Routing::SharedQueue {
            // Its load-tree leaf follows in the llm_step below, before anything is routed.
            rep.outstanding -= n as u32;
        }
        for f in &out.finished {
            let req = f.req;
            let end = now + overhead;
            let latency = end.since(req.arrival);
            if st.completed(req.arrival, latency, req.prompt as u64, f.generated as u64) {
                in_window += 1;
                st.overhead_ns += overhead.0 as u128;
                let ttft = (f.first_token + overhead).since(req.arrival);
                // Time per output token after the first, as vLLM's benchmark computes it.
                let tpot = (f.generated > 1)
                    .then(|| SimTime(now.since(f.first_token).0 / u64::from(f.generated - 1)));
                if let Some(t) = tpot {
                    st.tpot.record(t);
                }
                if let Some(slo) = slo {
                    let wait = req.started.since(req.arrival);
                    st.count_slo(slo.met(latency, wait, Some(ttft), tpot));
                }
            }
            if req.link == NO_LINK {
                traffic::think_again(workloads, &mut wls[req.wl as usize], q, end, req.wl);
            } else {
                q.at(
                    end,
                    ServingEv::Answer {
                        frame: req.link,
                        ans: Answer::Ok.code(),
                    },
                );
            }
        }
        st.completed_left(now, n, in_window);
        out.clear();
        if !self.llm_step(now, r, q)
            && sp.routing == Routing::SharedQueue
            && self.reps[r as usize].state == RepState::Ready
        {
            self.svcs[si].idle.push((r, 0));
        }
    }

    fn on_release(&mut self, now: SimTime, si: usize, q: &mut impl Sink<ServingEv>) {
        self.svcs[si].release_pending = false;
        if self.svcs[si].ready.is_empty() {
            // Removed again at the same instant: the requests keep waiting.
            return;
        }
        let held: Vec<Req> = self.svcs[si].queue.drain(..).collect();
        for req in held {
            if self.holds(si, &req) {
                // For the primary, which is not Ready yet.
                self.svcs[si].queue.push_back(req);
                continue;
            }
            let target = self.route(si, &req);
            let rep = &mut self.reps[target as usize];
            if rep.state == RepState::Dead {
                rep.outstanding += 1;
                self.sync_load(target);
                let s = &mut self.svcs[si];
                s.waiting -= 1;
                s.stats.unfinished_left(now, req.arrival);
                self.fail_req(now, si, req, q);
                continue;
            }
            rep.queue.push_back(req);
            rep.outstanding += 1;
            self.sync_load(target);
        }
        let ready = self.svcs[si].ready.clone();
        for t in ready {
            if self.reps[t as usize].state != RepState::Dead {
                self.pump_replica(now, t, q);
            }
        }
    }

    /// One of the equally spaced marks of the second half of the window (for saturation
    /// detection).
    pub fn mark_backlog(&mut self, now: SimTime) {
        for s in &mut self.svcs {
            s.stats.mark_backlog(now);
        }
    }

    /// The warm-up ends.
    pub fn warmup_end(&mut self, now: SimTime) {
        for s in &mut self.svcs {
            s.stats.warmup_end(now, s.waiting);
        }
    }
}
