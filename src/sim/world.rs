//! One replication: the world's state and its event loop.

use super::plan::{Batching, Cost, Load, Plan};
use super::result::{RepResult, TsPoint, ts_metric};
use crate::cluster::Pool;
use crate::engine::{EventQueue, SimRng, SimTime, stream};
use crate::scenario::types::Routing;
use crate::serving::llm::{Engine, LlmRequest, Outcome};
use crate::serving::{self, Take};
use crate::stats::{IntervalHist, LatencyHist, TimeIntegral};
use crate::workload::ArrivalProcess;
use rand::RngExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// A request in flight. Small and `Copy`: a finished request leaves only counters and
/// histogram entries behind.
#[derive(Clone, Copy, Debug)]
pub(super) struct Req {
    pub(super) arrival: SimTime,
    pub(super) started: SimTime,
    pub(super) wl: u32,
    /// Token counts from the workload (0 when it gives none).
    pub(super) prompt: u32,
    pub(super) output: u32,
}

impl LlmRequest for Req {
    #[inline]
    fn prompt_tokens(&self) -> u32 {
        self.prompt
    }
    #[inline]
    fn output_tokens(&self) -> u32 {
        self.output
    }
    #[inline]
    fn admitted(&mut self, now: SimTime) {
        self.started = now;
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
    Arrival(u32),
    Think(u32),
    Done {
        rep: u32,
        slot: u32,
    },
    BatchTimer(u32),
    Ready(u32),
    /// Routes requests held while no replica was Ready; runs after every Ready of the same
    /// instant, so that pods starting together share the backlog.
    Release(u32),
    /// A terminating pod's grace period ended: whatever it still holds is killed.
    GraceEnd(u32),
    /// The cluster autoscaler's periodic scan.
    CaScan,
    /// A node the cluster autoscaler asked for is Ready in pool `.0`.
    NodeReady(u16),
    /// Once a second: an autoscaled service's metric signals are sampled.
    MetricTick(u32),
    /// An autoscaler's periodic decision (HPA sync, KPA tick).
    AutoscalerSync(u32),
    /// A KEDA poll.
    KedaPoll(u32),
    /// A KPA decision at once: requests arrived while at zero (cold start).
    KpaPoke(u32),
    WarmupEnd,
    /// Halfway through the measured window: a snapshot for saturation detection.
    Midpoint,
    Sample,
    End,
}

/// Moves the first `n` requests of `queue` into `batch` (a plain loop: faster than
/// `extend(drain(..n))` for the common batch of one).
#[inline]
fn take_front(queue: &mut VecDeque<Req>, n: usize, batch: &mut Vec<Req>) {
    for _ in 0..n {
        if let Some(r) = queue.pop_front() {
            batch.push(r);
        }
    }
}

/// Workloads beyond this many schedule their arrivals in the heap.
const MAX_ARRIVAL_LANES: usize = 8;

/// The next arrival of workload `w`: in its lane when it has one.
#[inline]
fn schedule_arrival(q: &mut EventQueue<Ev>, at: SimTime, w: u32) {
    if (w as usize) < q.lanes() {
        q.schedule_lane(w as usize, at, Ev::Arrival(w));
    } else {
        q.schedule(at, Ev::Arrival(w));
    }
}

/// A closed-loop user whose request finished (or was dropped) thinks, then sends again.
#[inline]
pub(super) fn think_again(plan: &Plan, wl: &mut Wl, q: &mut EventQueue<Ev>, now: SimTime, w: u32) {
    if let Load::Closed { think, .. } = &plan.workloads[w as usize].load {
        let t = think.sample_time(&mut wl.think_rng);
        q.schedule(now + t, Ev::Think(w));
    }
}

#[inline]
pub(super) fn shared_queue(r: Routing) -> bool {
    r == Routing::SharedQueue
}

/// Timer owners: a service's shared queue, or one replica's queue.
const REPLICA_OWNER: u32 = 1 << 31;

pub(super) struct Slot {
    pub(super) batch: Vec<Req>,
}

pub(super) struct Replica {
    pub(super) svc: u32,
    pub(super) ready: bool,
    pub(super) queue: VecDeque<Req>,
    pub(super) slots: Vec<Slot>,
    pub(super) free: Vec<u32>,
    pub(super) outstanding: u32,
    pub(super) timer: bool,
    /// The continuous-batching engine of an LLM replica.
    pub(super) llm: Option<Engine<Req>>,
    /// Tokens the iteration in flight generates.
    pub(super) iter_tokens: u32,
    pub(super) state: PodState,
    /// Pool node it is bound to (NO_NODE while Pending).
    pub(super) node: u32,
    pub(super) created: SimTime,
    pub(super) ready_since: SimTime,
    /// When its image is on the node and its containers start.
    pub(super) image_at: SimTime,
    /// Requests it has started, cumulative (for requests-per-second metrics).
    pub(super) started_total: u64,
}

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PodState {
    /// Not bound to a node.
    Pending,
    /// Bound: pulling its image, loading the model, waiting for readiness.
    Starting,
    /// Serving.
    Ready,
    /// Being removed: no new requests, finishing what it holds within the grace period.
    Terminating,
    /// Gone.
    Gone,
}

/// A pod's node while it has none.
pub(super) const NO_NODE: u32 = u32::MAX;

pub(super) struct Svc {
    // Shared queue, or the holding queue while no replica is Ready.
    pub(super) queue: VecDeque<Req>,
    pub(super) idle: Vec<(u32, u32)>,
    pub(super) reps: Vec<u32>,
    pub(super) ready: Vec<u32>,
    pub(super) rr: usize,
    pub(super) timer: bool,
    pub(super) release_pending: bool,
    pub(super) route_rng: SimRng,
    pub(super) service_rng: SimRng,
    pub(super) waiting: u64,
    pub(super) running: u64,
    pub(super) pending_pods: u32,
    pub(super) closed_users: u32,
    // Window statistics (requests that arrived after warm-up).
    pub(super) arrivals: u64,
    pub(super) started: u64,
    pub(super) waited: u64,
    pub(super) completed: u64,
    pub(super) completions_in_window: u64,
    pub(super) dropped: u64,
    pub(super) slo_ok: u64,
    pub(super) batches: u64,
    pub(super) batch_items: u64,
    pub(super) service_ns: u128,
    pub(super) prompt_tokens: u64,
    pub(super) output_tokens: u64,
    pub(super) latency: LatencyHist,
    pub(super) wait: LatencyHist,
    pub(super) in_system: TimeIntegral,
    pub(super) busy: TimeIntegral,
    pub(super) replicas: TimeIntegral,
    pub(super) replicas_max: i64,
    pub(super) saturated_at: Option<SimTime>,
    pub(super) in_system_at_window: i64,
    pub(super) waiting_at_window: u64,
    pub(super) busy_at_mid: Option<f64>,
    pub(super) waiting_at_mid: u64,
    // Interval statistics for the timeseries.
    pub(super) iv_latency: IntervalHist,
    pub(super) iv_arrivals: u64,
    pub(super) iv_completions: u64,
    pub(super) iv_busy_area: f64,
    // LLM services.
    pub(super) ttft: LatencyHist,
    pub(super) tpot: LatencyHist,
    pub(super) iv_ttft: IntervalHist,
    pub(super) preemptions: u64,
    pub(super) generated_tokens: u64,
    pub(super) kv_used: TimeIntegral,
    /// Request-seconds spent in the API server outside the engine (for Little's law).
    pub(super) overhead_ns: u128,
    // Pod counts: `active` is the replica count (pods not being removed).
    pub(super) active: u32,
    pub(super) desired: u32,
    pub(super) iv_rep_area: f64,
    /// Requests admitted, cumulative (for request-rate metrics).
    pub(super) admitted_total: u64,
    // Per report interval: requests judged against the SLO, and those that missed it.
    pub(super) iv_slo_done: u64,
    pub(super) iv_slo_miss: u64,
    /// Seconds of report intervals (after warm-up) in which the SLO did not hold.
    pub(super) out_of_slo_secs: f64,
    pub(super) kv_capacity: TimeIntegral,
}

impl Svc {
    /// Counts one request's verdict against the per-request SLO bounds: for the current
    /// report interval (`minutes_out_of_slo`) and, when met, for `slo_attainment`.
    fn count_slo(&mut self, ok: bool) {
        self.iv_slo_done += 1;
        if ok {
            self.slo_ok += 1;
        } else {
            self.iv_slo_miss += 1;
        }
    }
}

pub(super) struct Wl {
    pub(super) svc: u32,
    pub(super) proc: Option<ArrivalProcess>,
    pub(super) closed: bool,
    pub(super) arr_rng: SimRng,
    pub(super) size_rng: SimRng,
    pub(super) think_rng: SimRng,
    pub(super) next_prompt: u32,
    pub(super) next_output: u32,
}

/// The state of one replication.
pub struct World<'p> {
    pub(super) plan: &'p Plan,
    pub(super) rep_index: u32,
    pub(super) q: EventQueue<Ev>,
    pub(super) pools: Vec<Pool>,
    pub(super) svcs: Vec<Svc>,
    pub(super) reps: Vec<Replica>,
    pub(super) wls: Vec<Wl>,
    pub(super) ts: Vec<TsPoint>,
    pub(super) sample_index: u32,
    pub(super) stop: bool,
    pub(super) events: u64,
    pub(super) llm_out: Outcome<Req>,
    pub(super) cluster: super::lifecycle::ClusterState,
    pub(super) scalers: Vec<Option<super::autoscale::Scaler>>,
}

impl<'p> World<'p> {
    /// Builds replication `rep` of `plan`: places the pods and schedules the first events.
    pub fn new(plan: &'p Plan, rep: u32) -> World<'p> {
        let seed = plan.seed;
        let pools: Vec<Pool> = plan
            .pools
            .iter()
            .map(|p| Pool::new(p.nodes, p.units_per_node()))
            .collect();
        // Each open workload's next arrival waits in a lane of its own (few workloads only:
        // pop scans the lanes).
        let lanes = if plan.workloads.len() <= MAX_ARRIVAL_LANES {
            plan.workloads.len()
        } else {
            0
        };
        let q = EventQueue::with_capacity(1024).with_lanes(lanes);
        let mut svcs = Vec::with_capacity(plan.services.len());
        for sp in plan.services.iter() {
            let s = Svc {
                queue: VecDeque::new(),
                idle: Vec::new(),
                reps: Vec::new(),
                ready: Vec::new(),
                rr: 0,
                timer: false,
                release_pending: false,
                route_rng: stream(seed, rep, &format!("service/{}/routing", sp.name)),
                service_rng: stream(seed, rep, &format!("service/{}/service_time", sp.name)),
                waiting: 0,
                running: 0,
                pending_pods: 0,
                closed_users: 0,
                arrivals: 0,
                started: 0,
                waited: 0,
                completed: 0,
                completions_in_window: 0,
                dropped: 0,
                slo_ok: 0,
                batches: 0,
                batch_items: 0,
                service_ns: 0,
                prompt_tokens: 0,
                output_tokens: 0,
                latency: LatencyHist::new(),
                wait: LatencyHist::new(),
                in_system: TimeIntegral::default(),
                busy: TimeIntegral::default(),
                replicas: TimeIntegral::default(),
                replicas_max: 0,
                saturated_at: None,
                in_system_at_window: 0,
                waiting_at_window: 0,
                busy_at_mid: None,
                waiting_at_mid: 0,
                iv_latency: IntervalHist::new(),
                iv_arrivals: 0,
                iv_completions: 0,
                iv_busy_area: 0.0,
                ttft: LatencyHist::new(),
                tpot: LatencyHist::new(),
                iv_ttft: IntervalHist::new(),
                preemptions: 0,
                generated_tokens: 0,
                kv_used: TimeIntegral::default(),
                overhead_ns: 0,
                active: 0,
                desired: sp.replicas,
                iv_rep_area: 0.0,
                admitted_total: 0,
                iv_slo_done: 0,
                iv_slo_miss: 0,
                out_of_slo_secs: 0.0,
                kv_capacity: TimeIntegral::default(),
            };
            svcs.push(s);
        }
        let mut world = World {
            plan,
            rep_index: rep,
            q,
            pools,
            svcs,
            reps: Vec::new(),
            wls: Vec::new(),
            ts: Vec::new(),
            sample_index: 0,
            stop: false,
            events: 0,
            llm_out: Outcome::default(),
            cluster: super::lifecycle::ClusterState::new(plan),
            scalers: Vec::new(),
        };
        // Pods first: created in order and bound by the scheduler at time zero.
        world.start_cluster();
        world.start_autoscalers();
        let World { q, svcs, .. } = &mut world;
        let mut wls = Vec::with_capacity(plan.workloads.len());
        for (wi, wp) in plan.workloads.iter().enumerate() {
            let name = format!("workload/{wi}");
            let mut w = Wl {
                svc: wp.service as u32,
                proc: None,
                closed: false,
                arr_rng: stream(seed, rep, &format!("{name}/arrivals")),
                size_rng: stream(seed, rep, &format!("{name}/sizes")),
                think_rng: stream(seed, rep, &format!("{name}/think")),
                next_prompt: 0,
                next_output: 0,
            };
            match &wp.load {
                Load::Open(p) => {
                    let mut p = p.clone();
                    if let Some(a) = p.next(SimTime::ZERO, &mut w.arr_rng) {
                        w.next_prompt = a.prompt_tokens.unwrap_or(0);
                        w.next_output = a.output_tokens.unwrap_or(0);
                        schedule_arrival(q, a.at, wi as u32);
                    }
                    w.proc = Some(p);
                }
                Load::Closed { users, think } => {
                    w.closed = true;
                    svcs[wp.service].closed_users += users;
                    // Users start thinking at time zero, which staggers their first requests.
                    for _ in 0..*users {
                        let t = think.sample_time(&mut w.think_rng);
                        q.schedule(t, Ev::Think(wi as u32));
                    }
                }
            }
            wls.push(w);
        }
        if plan.warmup > SimTime::ZERO {
            q.schedule(plan.warmup, Ev::WarmupEnd);
        }
        q.schedule(
            plan.warmup + SimTime(plan.duration.since(plan.warmup).0 / 2),
            Ev::Midpoint,
        );
        if plan.report_interval > SimTime::ZERO && plan.report_interval <= plan.duration {
            q.schedule(plan.report_interval, Ev::Sample);
        }
        q.schedule(plan.duration, Ev::End);
        world.wls = wls;
        world
    }

    /// Runs to the end (or to saturation) and returns the replication's figures.
    /// `progress` receives simulated microseconds as they pass, for a progress bar.
    pub fn run(mut self, progress: Option<&AtomicU64>) -> RepResult {
        let mut reported = SimTime::ZERO;
        while let Some((now, ev)) = self.q.pop() {
            self.events += 1;
            match ev {
                Ev::Arrival(w) => self.on_arrival(now, w),
                Ev::Think(w) => self.on_think(now, w),
                Ev::Done { rep, slot } => self.on_done(now, rep, slot),
                Ev::BatchTimer(owner) => self.on_timer(now, owner),
                Ev::Ready(r) => self.on_ready(now, r),
                Ev::Release(si) => self.on_release(now, si as usize),
                Ev::GraceEnd(r) => self.on_grace_end(now, r),
                Ev::CaScan => self.on_ca_scan(now),
                Ev::NodeReady(p) => self.on_node_ready(now, p as usize),
                Ev::MetricTick(si) => self.on_metric_tick(now, si as usize),
                Ev::AutoscalerSync(si) => self.on_autoscaler_sync(now, si as usize, true),
                Ev::KpaPoke(si) => self.on_autoscaler_sync(now, si as usize, false),
                Ev::KedaPoll(si) => self.on_keda_poll(now, si as usize),
                Ev::WarmupEnd => self.on_warmup_end(now),
                Ev::Midpoint => {
                    for s in &mut self.svcs {
                        s.busy_at_mid = Some(s.busy.area_secs(now));
                        s.waiting_at_mid = s.waiting;
                    }
                }
                Ev::Sample => self.on_sample(now),
                Ev::End => {
                    // A sample due at the very end ties with End: take it, so the
                    // timeseries covers the whole run.
                    let dt = self.plan.report_interval.0;
                    if dt > 0
                        && now.0.is_multiple_of(dt)
                        && (self.sample_index as u64 + 1) * dt == now.0
                    {
                        self.on_sample(now);
                    }
                    break;
                }
            }
            if self.stop {
                break;
            }
            if self.events & 0xffff == 0
                && let Some(p) = progress
            {
                p.fetch_add(now.since(reported).0 / 1000, Ordering::Relaxed);
                reported = now;
            }
        }
        let end = self.q.now();
        if let Some(p) = progress {
            // A replication stopped early still counts as done for the progress bar.
            p.fetch_add(
                self.plan.duration.since(reported).0 / 1000,
                Ordering::Relaxed,
            );
        }
        super::result::collect(self.plan, self.rep_index, end, self.into_parts())
    }

    fn into_parts(self) -> super::result::Parts {
        super::result::Parts {
            svcs: self
                .svcs
                .into_iter()
                .map(|s| super::result::SvcParts {
                    arrivals: s.arrivals,
                    started: s.started,
                    waited: s.waited,
                    completed: s.completed,
                    completions_in_window: s.completions_in_window,
                    dropped: s.dropped,
                    slo_ok: s.slo_ok,
                    batches: s.batches,
                    batch_items: s.batch_items,
                    service_ns: s.service_ns,
                    prompt_tokens: s.prompt_tokens,
                    output_tokens: s.output_tokens,
                    latency: s.latency,
                    wait: s.wait,
                    in_system: s.in_system,
                    busy: s.busy,
                    replicas: s.replicas,
                    replicas_max: s.replicas_max,
                    saturated_at: s.saturated_at,
                    in_system_at_window: s.in_system_at_window,
                    busy_at_mid: s.busy_at_mid,
                    waiting_at_mid: s.waiting_at_mid,
                    waiting: s.waiting,
                    pending_pods: s.pending_pods,
                    closed_users: s.closed_users,
                    kv_capacity: s.kv_capacity,
                    ttft: s.ttft,
                    tpot: s.tpot,
                    preemptions: s.preemptions,
                    generated_tokens: s.generated_tokens,
                    kv_used: s.kv_used,
                    overhead_ns: s.overhead_ns,
                    out_of_slo_secs: s.out_of_slo_secs,
                })
                .collect(),
            pools_allocated: self.pools.iter().map(|p| p.allocated()).collect(),
            pools_nodes: self
                .cluster
                .pools
                .iter()
                .map(|c| (c.nodes, c.nodes_max))
                .collect(),
            ts: self.ts,
            events: self.events,
        }
    }

    #[inline]
    fn in_window(&self, t: SimTime) -> bool {
        t >= self.plan.warmup
    }

    fn on_arrival(&mut self, now: SimTime, w: u32) {
        let wl = &mut self.wls[w as usize];
        let req = Req {
            arrival: now,
            started: now,
            wl: w,
            prompt: wl.next_prompt,
            output: wl.next_output,
        };
        if let Some(p) = wl.proc.as_mut()
            && let Some(a) = p.next(now, &mut wl.arr_rng)
        {
            wl.next_prompt = a.prompt_tokens.unwrap_or(0);
            wl.next_output = a.output_tokens.unwrap_or(0);
            schedule_arrival(&mut self.q, a.at, w);
        }
        let req = self.sized(req);
        self.admit(now, req);
    }

    fn on_think(&mut self, now: SimTime, w: u32) {
        let req = self.sized(Req {
            arrival: now,
            started: now,
            wl: w,
            prompt: 0,
            output: 0,
        });
        self.admit(now, req);
    }

    /// Draws token counts from the workload's distributions where the arrival gave none.
    #[inline]
    fn sized(&mut self, mut req: Req) -> Req {
        let wp = &self.plan.workloads[req.wl as usize];
        if wp.prompt_tokens.is_none() && wp.output_tokens.is_none() {
            return req;
        }
        let wl = &mut self.wls[req.wl as usize];
        let draw = |d: &Option<crate::workload::Sampler>, rng: &mut SimRng, given: u32| match d {
            Some(d) if given == 0 => d.sample(rng).round().clamp(1.0, u32::MAX as f64) as u32,
            _ => given,
        };
        req.prompt = draw(&wp.prompt_tokens, &mut wl.size_rng, req.prompt);
        req.output = draw(&wp.output_tokens, &mut wl.size_rng, req.output);
        req
    }

    fn admit(&mut self, now: SimTime, req: Req) {
        let si = self.wls[req.wl as usize].svc as usize;
        let in_window = self.in_window(now);
        let sp = &self.plan.services[si];
        let s = &mut self.svcs[si];
        s.iv_arrivals += 1;
        s.admitted_total += 1;
        if in_window {
            s.arrivals += 1;
        }
        let shared = sp.routing == Routing::SharedQueue || s.ready.is_empty();
        if shared {
            if let Some(cap) = sp.queue_capacity
                && s.queue.len() >= cap as usize
            {
                self.drop_req(now, si, req);
                return;
            }
            s.in_system.add(now, 1);
            s.queue.push_back(req);
            s.waiting += 1;
            if s.waiting > self.plan.max_queue as u64 {
                self.saturate(now, si);
                return;
            }
            if sp.routing == Routing::SharedQueue {
                self.pump_shared(now, si);
            }
            return;
        }
        let r = self.route(si);
        let rep = &mut self.reps[r as usize];
        if let Some(cap) = sp.queue_capacity
            && rep.queue.len() >= cap as usize
        {
            self.drop_req(now, si, req);
            return;
        }
        let s = &mut self.svcs[si];
        s.in_system.add(now, 1);
        s.waiting += 1;
        rep.queue.push_back(req);
        rep.outstanding += 1;
        if s.waiting > self.plan.max_queue as u64 {
            self.saturate(now, si);
            return;
        }
        self.pump_replica(now, r);
    }

    fn route(&mut self, si: usize) -> u32 {
        let s = &mut self.svcs[si];
        let n = s.ready.len();
        match self.plan.services[si].routing {
            Routing::Random => s.ready[s.route_rng.random_range(0..n)],
            Routing::RoundRobin => {
                s.rr = (s.rr + 1) % n;
                s.ready[s.rr]
            }
            Routing::LeastOutstanding => {
                // Ties go round-robin, so equal replicas share the load evenly.
                let start = (s.rr + 1) % n;
                let mut best = s.ready[start];
                let mut best_i = start;
                for k in 1..n {
                    let i = (start + k) % n;
                    let r = s.ready[i];
                    if self.reps[r as usize].outstanding < self.reps[best as usize].outstanding {
                        best = r;
                        best_i = i;
                    }
                }
                s.rr = best_i;
                best
            }
            Routing::SharedQueue => s.ready[0],
        }
    }

    fn drop_req(&mut self, now: SimTime, si: usize, req: Req) {
        if self.in_window(now) {
            self.svcs[si].dropped += 1;
        }
        if self.plan.services[si].slo.is_some() {
            self.svcs[si].count_slo(false);
        }
        self.after_response(now, req);
    }

    /// A closed-loop user whose request was dropped thinks, then sends again.
    fn after_response(&mut self, now: SimTime, req: Req) {
        let wl = &mut self.wls[req.wl as usize];
        if wl.closed {
            think_again(self.plan, wl, &mut self.q, now, req.wl);
        }
    }

    fn saturate(&mut self, now: SimTime, si: usize) {
        let s = &mut self.svcs[si];
        s.saturated_at = Some(now);
        self.stop = true;
    }

    /// How many queued requests to start now, or None to wait (arming the batch timer).
    #[inline]
    fn batch_size(
        batching: Batching,
        queue: &VecDeque<Req>,
        now: SimTime,
        timer: &mut bool,
        q: &mut EventQueue<Ev>,
        owner: u32,
    ) -> Option<usize> {
        let oldest = queue.front().map_or(SimTime::ZERO, |r| r.arrival);
        match serving::take(batching, queue.len(), oldest, now) {
            Take::Now(n) => Some(n),
            Take::WaitUntil(due) => {
                if !*timer {
                    *timer = true;
                    q.schedule(due, Ev::BatchTimer(owner));
                }
                None
            }
            Take::Idle => None,
        }
    }

    fn pump_shared(&mut self, now: SimTime, si: usize) {
        let batching = self.plan.services[si].batching;
        if batching == Batching::Continuous {
            // Idle engines take from the shared queue; busy ones take at their next iteration.
            while !self.svcs[si].queue.is_empty() {
                let Some((r, _)) = self.svcs[si].idle.pop() else {
                    return;
                };
                if !self.llm_step(now, r) {
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
                &mut self.q,
                si as u32,
            ) else {
                return;
            };
            let Some((r, slot)) = s.idle.pop() else {
                return;
            };
            take_front(
                &mut s.queue,
                n,
                &mut self.reps[r as usize].slots[slot as usize].batch,
            );
            self.start(now, r, slot);
        }
    }

    fn pump_replica(&mut self, now: SimTime, r: u32) {
        let si = self.reps[r as usize].svc as usize;
        let batching = self.plan.services[si].batching;
        if let Some(e) = &self.reps[r as usize].llm {
            if !e.busy() {
                self.llm_step(now, r);
            }
            return;
        }
        loop {
            let rep = &mut self.reps[r as usize];
            if rep.queue.is_empty() || rep.free.is_empty() {
                return;
            }
            let Some(n) = Self::batch_size(
                batching,
                &rep.queue,
                now,
                &mut rep.timer,
                &mut self.q,
                REPLICA_OWNER | r,
            ) else {
                return;
            };
            let Some(slot) = rep.free.pop() else {
                return;
            };
            let rep = &mut *rep;
            take_front(&mut rep.queue, n, &mut rep.slots[slot as usize].batch);
            self.start(now, r, slot);
        }
    }

    /// Starts the batch already placed in slot `slot` of replica `r`.
    fn start(&mut self, now: SimTime, r: u32, slot: u32) {
        let plan = self.plan;
        let warmup = plan.warmup;
        let World { reps, svcs, q, .. } = self;
        let rep = &mut reps[r as usize];
        let si = rep.svc as usize;
        let batch = &mut rep.slots[slot as usize].batch;
        let s = &mut svcs[si];
        let n = batch.len();
        let dur = match &plan.services[si].cost {
            Cost::Generic { sampler, scale } => {
                SimTime::from_secs_f64(sampler.sample(&mut s.service_rng) * scale)
            }
            Cost::Table(t) => t[(n - 1).min(t.len() - 1)],
            Cost::Llm(_) => unreachable!("LLM replicas run iterations, not batches"),
        };
        rep.started_total += n as u64;
        for req in batch.iter_mut() {
            req.started = now;
            if req.arrival >= warmup {
                let w = now.since(req.arrival);
                s.started += 1;
                if w.0 > 0 {
                    s.waited += 1;
                }
                s.wait.record(w);
            }
        }
        if now >= warmup {
            s.batches += 1;
            s.batch_items += n as u64;
            s.service_ns += dur.0 as u128;
        }
        s.waiting -= n as u64;
        s.running += n as u64;
        s.busy.add(now, 1);
        q.schedule(now + dur, Ev::Done { rep: r, slot });
    }

    fn on_done(&mut self, now: SimTime, r: u32, slot: u32) {
        match self.reps[r as usize].state {
            // Killed at the end of its grace period: its requests were counted then.
            PodState::Gone => {}
            PodState::Terminating => {
                self.on_done_live(now, r, slot);
                self.after_drain_step(now, r);
            }
            _ => self.on_done_live(now, r, slot),
        }
    }

    fn on_done_live(&mut self, now: SimTime, r: u32, slot: u32) {
        if self.reps[r as usize].llm.is_some() {
            self.llm_done(now, r);
            return;
        }
        let si = self.reps[r as usize].svc as usize;
        let plan = self.plan;
        let warmup = plan.warmup;
        let slo = plan.services[si].slo.as_ref();
        // Split borrows: the batch stays in its slot while the service's statistics, the
        // event queue and the workloads are updated (no Vec moved in the hot path).
        let World {
            reps, svcs, wls, q, ..
        } = self;
        let rep = &mut reps[r as usize];
        let batch = &mut rep.slots[slot as usize].batch;
        let n = batch.len();
        let s = &mut svcs[si];
        s.busy.add(now, -1);
        s.running -= n as u64;
        s.in_system.add(now, -(n as i64));
        s.iv_completions += n as u64;
        if now >= warmup {
            s.completions_in_window += n as u64;
        }
        for req in batch.iter() {
            let latency = now.since(req.arrival);
            s.iv_latency.record(latency);
            if req.arrival >= warmup {
                s.completed += 1;
                s.prompt_tokens += req.prompt as u64;
                s.output_tokens += req.output as u64;
                s.latency.record(latency);
                if let Some(slo) = slo {
                    let wait = req.started.since(req.arrival);
                    s.count_slo(slo.met(latency, wait, None, None));
                }
            }
            let wl = &mut wls[req.wl as usize];
            if wl.closed {
                think_again(plan, wl, q, now, req.wl);
            }
        }
        batch.clear();
        if plan.services[si].routing == Routing::SharedQueue {
            if rep.state == PodState::Ready {
                s.idle.push((r, slot));
            }
            self.pump_shared(now, si);
        } else {
            rep.outstanding -= n as u32;
            rep.free.push(slot);
            self.pump_replica(now, r);
        }
    }

    /// Plans and starts the next iteration of LLM replica `r`, admitting requests from its
    /// queue (or the service's shared queue). Returns whether an iteration started.
    fn llm_step(&mut self, now: SimTime, r: u32) -> bool {
        let plan = self.plan;
        let warmup = plan.warmup;
        let World {
            reps,
            svcs,
            wls,
            q,
            llm_out: out,
            ..
        } = self;
        let Replica {
            svc,
            queue: own_queue,
            outstanding,
            llm,
            iter_tokens,
            started_total,
            ..
        } = &mut reps[r as usize];
        let si = *svc as usize;
        let sp = &plan.services[si];
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
            if req.arrival >= warmup {
                let w = now.since(req.arrival);
                s.started += 1;
                if w.0 > 0 {
                    s.waited += 1;
                }
                s.wait.record(w);
            }
        }
        let admitted = out.admitted.len() as u64;
        *started_total += admitted;
        s.waiting -= admitted;
        s.running += admitted;
        if now >= warmup {
            s.preemptions += u64::from(out.preempted);
        }
        for req in &out.rejected {
            // Too long to ever run: refused, as vLLM refuses it.
            s.waiting -= 1;
            s.in_system.add(now, -1);
            if !shared {
                *outstanding -= 1;
            }
            if now >= warmup {
                s.dropped += 1;
            }
            let wl = &mut wls[req.wl as usize];
            if wl.closed {
                think_again(plan, wl, q, now + lp.request_overhead, req.wl);
            }
        }
        s.kv_used.add(
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
        s.busy.add(now, 1);
        if now >= warmup {
            s.batches += 1;
            s.batch_items += running;
            s.service_ns += dur.0 as u128;
        }
        q.schedule(now + dur, Ev::Done { rep: r, slot: 0 });
        true
    }

    /// The iteration of LLM replica `r` ended: first tokens and finished requests are
    /// recorded, and the next iteration starts.
    fn llm_done(&mut self, now: SimTime, r: u32) {
        let plan = self.plan;
        let warmup = plan.warmup;
        let World {
            reps,
            svcs,
            wls,
            q,
            llm_out: out,
            ..
        } = self;
        let rep = &mut reps[r as usize];
        let si = rep.svc as usize;
        let sp = &plan.services[si];
        let Cost::Llm(lp) = &sp.cost else {
            unreachable!("llm_done on a replica without an LLM")
        };
        let Some(engine) = rep.llm.as_mut() else {
            return;
        };
        let s = &mut svcs[si];
        let slo = sp.slo.as_ref();
        let overhead = lp.request_overhead;
        s.busy.add(now, -1);
        let used_before = engine.used_blocks();
        engine.complete(now, out);
        s.kv_used.add(
            now,
            i64::from(engine.used_blocks()) - i64::from(used_before),
        );
        if now >= warmup {
            s.generated_tokens += u64::from(rep.iter_tokens);
        }
        for req in &out.first_tokens {
            let ttft = (now + overhead).since(req.arrival);
            s.iv_ttft.record(ttft);
            if req.arrival >= warmup {
                s.ttft.record(ttft);
            }
        }
        let n = out.finished.len() as u64;
        s.running -= n;
        s.in_system.add(now, -(n as i64));
        s.iv_completions += n;
        if now >= warmup {
            s.completions_in_window += n;
        }
        if !shared_queue(sp.routing) {
            rep.outstanding -= n as u32;
        }
        for f in &out.finished {
            let req = f.req;
            let end = now + overhead;
            let latency = end.since(req.arrival);
            s.iv_latency.record(latency);
            if req.arrival >= warmup {
                s.completed += 1;
                s.overhead_ns += overhead.0 as u128;
                s.prompt_tokens += req.prompt as u64;
                s.output_tokens += f.generated as u64;
                s.latency.record(latency);
                let ttft = (f.first_token + overhead).since(req.arrival);
                // Time per output token after the first, as vLLM's benchmark computes it.
                let tpot = (f.generated > 1)
                    .then(|| SimTime(now.since(f.first_token).0 / u64::from(f.generated - 1)));
                if let Some(t) = tpot {
                    s.tpot.record(t);
                }
                if let Some(slo) = slo {
                    let wait = req.started.since(req.arrival);
                    s.count_slo(slo.met(latency, wait, Some(ttft), tpot));
                }
            }
            let wl = &mut wls[req.wl as usize];
            if wl.closed {
                think_again(plan, wl, q, end, req.wl);
            }
        }
        out.clear();
        if !self.llm_step(now, r)
            && shared_queue(sp.routing)
            && self.reps[r as usize].state == PodState::Ready
        {
            self.svcs[si].idle.push((r, 0));
        }
    }

    fn on_timer(&mut self, now: SimTime, owner: u32) {
        if owner & REPLICA_OWNER != 0 {
            let r = owner & !REPLICA_OWNER;
            self.reps[r as usize].timer = false;
            self.pump_replica(now, r);
        } else {
            self.svcs[owner as usize].timer = false;
            self.pump_shared(now, owner as usize);
        }
    }

    fn on_ready(&mut self, now: SimTime, r: u32) {
        let si = self.reps[r as usize].svc as usize;
        let sp = &self.plan.services[si];
        let rep = &mut self.reps[r as usize];
        // A pod removed while it was starting never becomes Ready.
        if rep.state != PodState::Starting {
            return;
        }
        rep.state = PodState::Ready;
        rep.ready_since = now;
        rep.ready = true;
        let slots = rep.slots.len() as u32;
        self.svcs[si].ready.push(r);
        if sp.routing == Routing::SharedQueue {
            // Reversed so that pop() hands out slot 0 first (an LLM engine has one).
            let slots = if rep.llm.is_some() { 1 } else { slots };
            for slot in (0..slots).rev() {
                self.svcs[si].idle.push((r, slot));
            }
            self.pump_shared(now, si);
        } else {
            rep.free.extend((0..slots).rev());
            if !self.svcs[si].queue.is_empty() && !self.svcs[si].release_pending {
                self.svcs[si].release_pending = true;
                self.q.schedule(now, Ev::Release(si as u32));
            }
        }
    }

    fn on_release(&mut self, now: SimTime, si: usize) {
        self.svcs[si].release_pending = false;
        if self.svcs[si].ready.is_empty() {
            // Removed again at the same instant: the requests keep waiting.
            return;
        }
        let held: Vec<Req> = self.svcs[si].queue.drain(..).collect();
        for req in held {
            let target = self.route(si);
            let rep = &mut self.reps[target as usize];
            rep.queue.push_back(req);
            rep.outstanding += 1;
        }
        let ready = self.svcs[si].ready.clone();
        for t in ready {
            self.pump_replica(now, t);
        }
    }

    fn on_warmup_end(&mut self, now: SimTime) {
        for s in &mut self.svcs {
            // The busy integral restarts for the summary; carry the part of the current
            // report interval already elapsed so the next timeseries sample stays whole.
            let in_interval = s.busy.area_secs(now) - s.iv_busy_area;
            s.in_system.restart(now);
            s.busy.restart(now);
            let rep_in_interval = s.replicas.area_secs(now) - s.iv_rep_area;
            s.replicas.restart(now);
            s.iv_rep_area = -rep_in_interval;
            s.kv_used.restart(now);
            s.kv_capacity.restart(now);
            s.iv_busy_area = -in_interval;
            s.in_system_at_window = s.in_system.value();
            s.waiting_at_window = s.waiting;
        }
        for c in &mut self.cluster.pools {
            c.nodes.restart(now);
            c.nodes_max = c.nodes.value();
        }
    }

    fn on_sample(&mut self, now: SimTime) {
        let interval = self.plan.report_interval.as_secs_f64();
        self.sample_index += 1;
        let t = self.sample_index;
        for (si, s) in self.svcs.iter_mut().enumerate() {
            let comp = si as u16;
            let busy_area = s.busy.area_secs(now);
            let iv_busy = busy_area - s.iv_busy_area;
            s.iv_busy_area = busy_area;
            // Slot-seconds of the pods bound during the interval (they come and go).
            let rep_area = s.replicas.area_secs(now);
            let slots =
                (rep_area - s.iv_rep_area) * self.plan.services[si].concurrency as f64 / interval;
            s.iv_rep_area = rep_area;
            let mut put = |m: u8, v: f64| {
                self.ts.push(TsPoint {
                    sample: t,
                    component: comp,
                    metric: m,
                    value: v,
                })
            };
            put(ts_metric::DESIRED_REPLICAS, s.desired as f64);
            put(ts_metric::REPLICAS, s.active as f64);
            put(ts_metric::READY, s.ready.len() as f64);
            put(ts_metric::PENDING_PODS, s.pending_pods as f64);
            put(ts_metric::QUEUE_LENGTH, s.waiting as f64);
            put(ts_metric::IN_FLIGHT, s.running as f64);
            put(ts_metric::ARRIVALS_RPS, s.iv_arrivals as f64 / interval);
            put(
                ts_metric::THROUGHPUT_RPS,
                s.iv_completions as f64 / interval,
            );
            put(ts_metric::LATENCY_P95_MS, s.iv_latency.quantile_ms(0.95));
            put(
                ts_metric::GPU_UTILIZATION,
                if slots > 0.0 {
                    iv_busy / (slots * interval)
                } else {
                    f64::NAN
                },
            );
            if s.kv_capacity.value() > 0 {
                put(ts_metric::TTFT_P95_MS, s.iv_ttft.quantile_ms(0.95));
                put(
                    ts_metric::KV_CACHE_UTILIZATION,
                    s.kv_used.value() as f64 / s.kv_capacity.value() as f64,
                );
                s.iv_ttft.reset();
            }
            // An interval is out of SLO when more of its requests missed than the SLO's
            // percentile allows, or when requests waited and none completed (a cold start).
            if let Some(slo) = &self.plan.services[si].slo
                && now > self.plan.warmup
            {
                let out = if s.iv_slo_done > 0 {
                    s.iv_slo_miss as f64 > slo.allowed_miss * s.iv_slo_done as f64
                } else {
                    s.waiting > 0
                };
                if out {
                    s.out_of_slo_secs += interval;
                }
            }
            s.iv_slo_done = 0;
            s.iv_slo_miss = 0;
            s.iv_arrivals = 0;
            s.iv_completions = 0;
            s.iv_latency.reset();
        }
        // The cluster, after the services.
        let comp = self.svcs.len() as u16;
        let mut put = |m: u8, v: f64| {
            self.ts.push(TsPoint {
                sample: t,
                component: comp,
                metric: m,
                value: v,
            })
        };
        let nodes: u32 = self.pools.iter().map(|p| p.nodes()).sum();
        let provisioning: u32 = (0..self.pools.len())
            .map(|i| self.cluster.provisioning(i))
            .sum();
        let pending: usize = (0..self.pools.len()).map(|i| self.cluster.pending(i)).sum();
        let allocated: f64 = self
            .pools
            .iter()
            .zip(&self.plan.pools)
            .map(|(p, pp)| p.allocated() as f64 / pp.share.units_per_gpu as f64)
            .sum();
        put(ts_metric::NODES, nodes as f64);
        put(ts_metric::NODES_PROVISIONING, provisioning as f64);
        put(ts_metric::PENDING_PODS, pending as f64);
        put(ts_metric::GPUS_ALLOCATED, allocated);
        let next = now + self.plan.report_interval;
        if next <= self.plan.duration {
            self.q.schedule(next, Ev::Sample);
        }
    }
}
