//! One replication: the subsystems, the event loop that routes each event to its owner, and
//! the notices that the cluster sends to the owners of its pods.

use super::budget::Counts;
use super::plan::Plan;
use super::result::{RepResult, ts_metric};
use super::timeseries::{self, Sink};
use crate::apiserver::{Answer, ApiEv, ControlPlane};
use crate::cluster::plan::CPU_UNITS_PER_CPU;
use crate::cluster::{
    Cluster, ClusterEv, Controller, NO_NODE, NO_ORDINAL, Notice, Owner, PodChange,
};
use crate::control::{Control, ControlEv, CpuUse, PodInput, PodSignal, SvcSignal, SyncInput};
use crate::engine::{EventQueue, SimTime};
use crate::serving::{MAX_ARRIVAL_LANES, Serving, ServingEv};
use crate::training::{Training, TrainingEv};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The run's own timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunEv {
    WarmupEnd,
    /// Mark `.0` of the second half of the window, at which each service's backlog is
    /// measured for the saturation test. (Each schedules the next: a pending event more in
    /// the heap costs every push and pop of the run.)
    BacklogMark(u32),
    Sample,
    End,
}

/// Every event of a replication, by the subsystem that owns it. (Plain enums: the kernel
/// stores them inline, no allocation per event.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ev {
    Serving(ServingEv),
    Cluster(ClusterEv),
    Control(ControlEv),
    Training(TrainingEv),
    Api(ApiEv),
    Run(RunEv),
}

impl From<ApiEv> for Ev {
    #[inline]
    fn from(e: ApiEv) -> Ev {
        Ev::Api(e)
    }
}

impl From<TrainingEv> for Ev {
    #[inline]
    fn from(e: TrainingEv) -> Ev {
        Ev::Training(e)
    }
}

impl From<ServingEv> for Ev {
    #[inline]
    fn from(e: ServingEv) -> Ev {
        Ev::Serving(e)
    }
}

impl From<ClusterEv> for Ev {
    #[inline]
    fn from(e: ClusterEv) -> Ev {
        Ev::Cluster(e)
    }
}

impl From<ControlEv> for Ev {
    #[inline]
    fn from(e: ControlEv) -> Ev {
        Ev::Control(e)
    }
}

impl From<RunEv> for Ev {
    #[inline]
    fn from(e: RunEv) -> Ev {
        Ev::Run(e)
    }
}

/// Events between two looks at the progress bar and at the other replications.
const CHECK_EVERY: u64 = 0x10000;

/// The event count at which the loop next looks up from its work: the next multiple of
/// [`CHECK_EVERY`], or the first event past the budget if that comes sooner.
fn next_check(events: u64, budget: u64) -> u64 {
    (events / CHECK_EVERY + 1)
        .saturating_mul(CHECK_EVERY)
        .min(budget.saturating_add(1))
}

/// The state of one replication.
pub struct World<'p> {
    plan: &'p Plan,
    q: EventQueue<Ev>,
    cluster: Cluster,
    serving: Serving<'p>,
    control: Control,
    training: Option<Training<'p>>,
    /// The control plane, when the scenario models it.
    api: Option<ControlPlane>,
    /// Where the timeseries rows go, and the row being filled.
    ts: Sink,
    row: Vec<f64>,
    sample_index: u32,
    /// The next backlog mark due.
    next_mark: u32,
    /// Until when each service's load stays as it starts (None: it moves from the start).
    steady_until: Vec<Option<SimTime>>,
    /// Which replication this is.
    rep: u32,
    events: u64,
    /// Of the events, the cluster's, the run's own, training's and the autoscalers' (by service): the
    /// rest are serving's, whose count would cost its hot path an add.
    cluster_events: u64,
    run_events: u64,
    training_events: u64,
    api_events: u64,
    by_scaler: Vec<u64>,
    /// At this event count the loop looks at the budget, the progress bar and the others.
    next_check: u64,
    /// Set when the replication passed its event budget.
    over_budget: Option<super::budget::EventBudgetExceeded>,
}

impl<'p> World<'p> {
    /// Builds replication `rep` of `plan`, its timeseries going to `ts`: places the pods and
    /// schedules the first events.
    pub fn new(plan: &'p Plan, rep: u32, ts: Sink) -> World<'p> {
        let seed = plan.seed;
        // Each open workload's next arrival waits in a lane of its own (few workloads only:
        // pop scans the lanes).
        let arrival_lanes = if plan.workloads.len() <= MAX_ARRIVAL_LANES {
            plan.workloads.len()
        } else {
            0
        };
        // And the control plane's lease ring and etcd commit, one event each at most times.
        let lanes = arrival_lanes
            + if plan.control_plane.is_some() {
                ControlPlane::LANES
            } else {
                0
            };
        let sets = plan
            .services
            .iter()
            .enumerate()
            .map(|(si, sp)| {
                let controller = if sp.statefulset {
                    Controller::StatefulSet
                } else {
                    Controller::Deployment
                };
                (
                    sp.pod_template(&plan.pools, si as u32),
                    sp.replicas,
                    controller,
                )
            })
            .collect();
        let mut world = World {
            plan,
            q: EventQueue::with_capacity(1024).with_lanes(lanes),
            cluster: Cluster::new(&plan.pools, plan.cluster, sets, plan.warmup, seed, rep),
            serving: Serving::new(
                &plan.services,
                &plan.workloads,
                plan.warmup,
                u64::from(plan.max_queue),
                seed,
                rep,
            ),
            control: Control::new(plan.services.iter().map(|s| s.autoscaler.as_ref())),
            training: plan
                .training
                .as_ref()
                .map(|t| Training::new(t, &plan.pools, plan.warmup, seed, rep)),
            api: plan.control_plane.as_ref().map(|c| {
                let nodes: Vec<u32> = plan.pools.iter().map(|p| p.nodes).collect();
                let mut cp = ControlPlane::new(c, &nodes, plan.services.len(), seed, rep);
                cp.use_lanes(arrival_lanes);
                cp
            }),
            ts,
            row: vec![f64::NAN; timeseries::Layout::of(plan).row_len()],
            sample_index: 0,
            next_mark: 0,
            steady_until: super::result::steady_until(plan),
            rep,
            events: 0,
            cluster_events: 0,
            run_events: 0,
            training_events: 0,
            api_events: 0,
            by_scaler: vec![0; plan.services.len()],
            next_check: next_check(0, plan.max_events),
            over_budget: None,
        };
        // The control plane first: the nodes exist before their pods.
        if let Some(a) = &mut world.api {
            a.start(&mut world.q);
        }
        // Pods first: created in order and bound by the scheduler at time zero.
        world.cluster.start(&mut world.q);
        world.deliver();
        world.control.start(&mut world.q);
        world.serving.start_workloads(seed, rep, &mut world.q);
        if let Some(t) = &mut world.training {
            t.start(&mut world.q);
        }
        let q = &mut world.q;
        if plan.warmup > SimTime::ZERO {
            q.schedule(plan.warmup, RunEv::WarmupEnd.into());
        }
        if let Some(at) = super::result::backlog_mark(plan, 0) {
            q.schedule(at, RunEv::BacklogMark(0).into());
        }
        if plan.report_interval > SimTime::ZERO && plan.report_interval <= plan.duration {
            q.schedule(plan.report_interval, RunEv::Sample.into());
        }
        q.schedule(plan.duration, RunEv::End.into());
        world
    }

    /// Runs to the end (or to saturation, or to its event budget) and returns the
    /// replication's figures and its timeseries sink. `progress` receives simulated
    /// microseconds as they pass, for a progress bar. `stopped` holds the lowest replication
    /// stopped at its budget so far: a higher one then gives up, since the run fails with that
    /// one's error anyway (and the lowest is always run to its end, so the error is the same
    /// at any thread count).
    pub fn run(
        mut self,
        progress: Option<&AtomicU64>,
        stopped: Option<&AtomicU32>,
    ) -> (RepResult, Sink) {
        let mut reported = SimTime::ZERO;
        while let Some((now, ev)) = self.q.pop() {
            self.events += 1;
            match ev {
                Ev::Serving(e) => {
                    self.serving.handle(now, e, &mut self.q);
                    while let Some(pod) = self.serving.take_drained() {
                        self.cluster.finalize(now, pod, &mut self.q);
                        self.deliver();
                    }
                }
                Ev::Cluster(e) => {
                    self.cluster_events += 1;
                    self.cluster.handle(now, e, &mut self.q);
                    self.deliver();
                }
                Ev::Control(e) => self.on_control(now, e),
                Ev::Api(e) => {
                    self.api_events += 1;
                    if let Some(a) = &mut self.api {
                        a.handle(now, e, &mut self.q);
                    }
                    if self.api.as_ref().is_some_and(ControlPlane::has_answer) {
                        self.answer(now);
                    }
                }
                Ev::Training(e) => {
                    self.training_events += 1;
                    if let Some(t) = &mut self.training {
                        t.handle(now, e, &mut self.cluster, &mut self.q);
                    }
                    self.deliver();
                }
                Ev::Run(e) => {
                    self.run_events += 1;
                    match e {
                        RunEv::WarmupEnd => {
                            self.serving.warmup_end(now);
                            self.cluster.warmup_end(now);
                            if let Some(a) = &mut self.api {
                                a.warmup_end(now);
                            }
                            if let Some(t) = &mut self.training {
                                t.warmup_end(now, &self.cluster);
                            }
                        }
                        RunEv::BacklogMark(j) => self.on_backlog_mark(now, j),
                        RunEv::Sample => self.on_sample(now),
                        RunEv::End => {
                            // A sample due at the very end ties with End: take it, so the
                            // timeseries covers the whole run.
                            let dt = self.plan.report_interval.0;
                            if dt > 0
                                && now.0.is_multiple_of(dt)
                                && (self.sample_index as u64 + 1) * dt == now.0
                            {
                                self.on_sample(now);
                            }
                            // So does the last backlog mark, scheduled after End.
                            if super::result::backlog_mark(self.plan, self.next_mark) == Some(now) {
                                self.on_backlog_mark(now, self.next_mark);
                            }
                            break;
                        }
                    }
                }
            }
            if self.cluster.room_freed_any()
                && let Some(t) = &mut self.training
            {
                t.request_pass(now, &mut self.cluster, &mut self.q);
            }
            if self.serving.stop {
                break;
            }
            if self.events == self.next_check {
                if self.events > self.plan.max_events {
                    self.stop_at_budget(now);
                    break;
                }
                if stopped.is_some_and(|s| s.load(Ordering::Relaxed) < self.rep) {
                    break;
                }
                if let Some(p) = progress {
                    p.fetch_add(now.since(reported).0 / 1000, Ordering::Relaxed);
                    reported = now;
                }
                self.next_check = next_check(self.events, self.plan.max_events);
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
        let parts = self.take_parts();
        let ts = std::mem::replace(&mut self.ts, Sink::Drop);
        (super::result::collect(self.plan, end, parts), ts)
    }

    /// Records why the replication stops: it passed its event budget.
    #[cold]
    fn stop_at_budget(&mut self, now: SimTime) {
        let requests: Vec<u64> = self
            .serving
            .svcs
            .iter()
            .map(|s| s.stats.admitted_total)
            .collect();
        self.over_budget = Some(super::budget::exceeded(
            self.plan,
            &Counts {
                rep: self.rep,
                now,
                events: self.events,
                cluster: self.cluster_events,
                run: self.run_events,
                training: self.training_events,
                // The coordinator counts the control plane's events when it runs one.
                apiserver: self.api_events,
                by_scaler: &self.by_scaler,
                requests: &requests,
            },
        ));
    }

    /// Passes the cluster's notices to the owners of the pods, oldest first, until there
    /// are none (an owner's answer may cause more).
    fn deliver(&mut self) {
        let now = self.q.now();
        while let Some(n) = self.cluster.next_notice() {
            let mut held = false;
            if let Some(a) = &mut self.api {
                match n {
                    Notice::Pod { pod, owner, change } => {
                        let p = self.cluster.pod(pod);
                        let node = p
                            .filter(|p| p.node != NO_NODE)
                            .map(|p| self.cluster.pool(p.pool as usize).id(p.pool, p.node));
                        let (image_at, created) = p.map_or((now, now), |p| (p.image_at, p.created));
                        held = a.pod_notice(
                            now,
                            pod,
                            owner,
                            change,
                            node,
                            image_at,
                            created,
                            &mut self.q,
                        );
                    }
                    Notice::Node { node, change } => a.node_notice(now, node, change, &mut self.q),
                }
            }
            // Balloons and nodes concern no other subsystem yet.
            let (pod, si, change) = match n {
                Notice::Pod {
                    pod,
                    owner: Owner::Service(si),
                    change,
                } => (pod, si, change),
                Notice::Pod {
                    pod,
                    owner: Owner::Job(j),
                    change,
                } => {
                    if let Some(t) = &mut self.training {
                        t.pod_notice(now, j, pod, change, &mut self.cluster, &mut self.q);
                    }
                    continue;
                }
                _ => continue,
            };
            let q = &mut self.q;
            match change {
                PodChange::Created => {
                    let ordinal = self
                        .cluster
                        .pod(pod)
                        .map(|p| p.ordinal)
                        .filter(|&o| o != NO_ORDINAL);
                    self.serving.attach(pod, si as usize, ordinal)
                }
                PodChange::Bound => self.serving.bound(now, pod),
                // With a control plane, a Ready reaches routing through the endpoints.
                PodChange::Ready if held => {}
                PodChange::Ready => self.serving.ready(now, pod, q),
                PodChange::Terminating => {
                    let drained = self.serving.terminating(pod);
                    self.cluster.terminating_answer(now, pod, drained, q);
                }
                PodChange::GraceOver => {
                    self.serving.grace_over(now, pod, q);
                    self.cluster.finalize(now, pod, q);
                }
                PodChange::Lost => self.serving.lost(now, pod, q),
                // Only training pods are preempted (by pods of higher priority).
                PodChange::Preempted => {}
                PodChange::NotReady => self.serving.not_ready(pod),
                PodChange::Gone { bound } => self.serving.gone(now, pod, bound),
            }
        }
    }

    /// Carries out what the control plane answered, oldest first.
    fn answer(&mut self, now: SimTime) {
        if self.api.as_ref().is_none_or(|a| !a.has_answer()) {
            return;
        }
        while let Some(a) = self.api.as_mut().and_then(|a| a.next_answer()) {
            match a {
                Answer::PodReady(pod) => {
                    // Unless it stopped being Ready meanwhile.
                    if self.cluster.pod(pod).is_some_and(|p| p.ready) {
                        self.serving.ready(now, pod, &mut self.q);
                    }
                }
                Answer::Scale(si, d) => self.scale(now, si as usize, d),
                Answer::JoinNodes(pool, k) => {
                    self.cluster.join_nodes(now, pool as usize, k, &mut self.q);
                    self.deliver();
                }
            }
        }
    }

    /// Scales service `si` to `desired` replicas.
    fn scale(&mut self, now: SimTime, si: usize, desired: u32) {
        self.cluster.scale(now, si, desired, &mut self.q);
        self.deliver();
    }

    fn on_control(&mut self, now: SimTime, e: ControlEv) {
        let (ControlEv::MetricTick(si)
        | ControlEv::Sync(si)
        | ControlEv::KedaPoll(si)
        | ControlEv::KpaPoke(si)) = e;
        if let Some(n) = self.by_scaler.get_mut(si as usize) {
            *n += 1;
        }
        let World {
            cluster,
            serving,
            control,
            q,
            plan,
            ..
        } = self;
        let desired = match e {
            ControlEv::MetricTick(si) => {
                let si = si as usize;
                let pods = cluster.replica_set(si).pods.iter().filter_map(|&p| {
                    let l = serving.load(p)?;
                    let uid = cluster.pod(p)?.uid;
                    Some((
                        uid,
                        PodSignal {
                            busy: l.busy,
                            inflight: l.inflight,
                            queue: l.queue,
                            kv: l.kv,
                            started: l.started,
                        },
                    ))
                });
                let s = &serving.svcs[si];
                let total = SvcSignal {
                    queue: s.waiting as f64,
                    inflight: (s.waiting + s.running) as f64,
                    arrived: s.stats.admitted_total,
                };
                control.tick(now, si, pods, total, q);
                return;
            }
            ControlEv::Sync(si) | ControlEv::KpaPoke(si) => {
                let si = si as usize;
                let rs = cluster.replica_set(si);
                let pods: Vec<PodInput> = if control.is_kpa(si) {
                    Vec::new()
                } else {
                    rs.pods
                        .iter()
                        .filter_map(|&p| cluster.pod(p))
                        .map(|p| PodInput {
                            uid: p.uid,
                            status: p.status(now),
                        })
                        .collect()
                };
                let sp = &plan.services[si];
                // A service that requests CPUs uses them as its slots are busy; a GPU service's
                // host process is modelled from its `cpu_request`.
                let (cpu_request_milli, cpu_use) = if sp.cpus_per_replica > 0.0 {
                    let milli = sp.cpus_per_replica * f64::from(CPU_UNITS_PER_CPU);
                    (milli.round() as i64, CpuUse::BusySlots)
                } else {
                    (sp.cpu_request_milli, CpuUse::GpuHost)
                };
                let input = SyncInput {
                    name: &sp.name,
                    cpu_request_milli,
                    cpu_use,
                    active: rs.active,
                    ready: serving.svcs[si].ready.len() as u32,
                    pods: &pods,
                };
                let periodic = matches!(e, ControlEv::Sync(_));
                control.sync(now, si, periodic, &input, q).map(|d| (si, d))
            }
            ControlEv::KedaPoll(si) => {
                let si = si as usize;
                let active = cluster.replica_set(si).active;
                control.keda_poll(now, si, active, q).map(|d| (si, d))
            }
        };
        if let Some((si, d)) = desired {
            match &mut self.api {
                // The scale write waits in APF like any call.
                Some(a) => {
                    a.scale(now, si, d, &mut self.q);
                    self.answer(now);
                }
                None => self.scale(now, si, d),
            }
        }
    }

    fn on_backlog_mark(&mut self, now: SimTime, j: u32) {
        self.serving.mark_backlog(now);
        if let Some(t) = &mut self.training {
            t.mark_backlog(now);
        }
        self.next_mark = j + 1;
        if let Some(at) = super::result::backlog_mark(self.plan, j + 1) {
            self.q.schedule(at, RunEv::BacklogMark(j + 1).into());
        }
    }

    fn take_parts(&mut self) -> super::result::Parts {
        let svcs = std::mem::take(&mut self.serving.svcs);
        let (node_failures, nodes_ready) = self.cluster.failure_summary();
        super::result::Parts {
            svcs: svcs
                .into_iter()
                .enumerate()
                .map(|(si, s)| super::result::SvcParts {
                    pending: self.cluster.replica_set(si).pending_time,
                    pending_end: self.cluster.replica_set(si).pending,
                    closed_users: s.closed_users,
                    stats: s.stats,
                })
                .collect(),
            pools: self.cluster.pool_summaries(),
            training: self.training.take().map(|t| {
                let plan = self.plan;
                let end = self.q.now();
                t.finish_run(end, &self.cluster, &|marks| {
                    super::result::backlog_growth(plan, marks)
                })
            }),
            node_failures,
            nodes_ready,
            api: self
                .api
                .take()
                .map(|a| a.finish_run(self.q.now(), self.plan.warmup)),
            events: self.events,
            over_budget: self.over_budget.take(),
        }
    }

    fn on_sample(&mut self, now: SimTime) {
        let interval = self.plan.report_interval.as_secs_f64();
        self.sample_index += 1;
        let row = &mut self.row;
        row.fill(f64::NAN);
        for (si, s) in self.serving.svcs.iter_mut().enumerate() {
            let rs = self.cluster.replica_set(si);
            let st = &mut s.stats;
            let busy_area = st.busy.area_secs(now);
            let iv_busy = busy_area - st.iv_busy_area;
            st.iv_busy_area = busy_area;
            // Slot-seconds of the pods bound during the interval (they come and go).
            let rep_area = st.replicas.area_secs(now);
            let slots =
                (rep_area - st.iv_rep_area) * self.plan.services[si].concurrency as f64 / interval;
            st.iv_rep_area = rep_area;
            let mut put = |m: u8, v: f64| row[timeseries::service_slot(si, m)] = v;
            put(ts_metric::DESIRED_REPLICAS, rs.desired as f64);
            put(ts_metric::REPLICAS, rs.active as f64);
            put(ts_metric::READY, s.ready.len() as f64);
            put(ts_metric::PENDING_PODS, rs.pending as f64);
            put(ts_metric::QUEUE_LENGTH, s.waiting as f64);
            put(ts_metric::IN_FLIGHT, s.running as f64);
            put(ts_metric::ARRIVALS_RPS, st.iv_arrivals as f64 / interval);
            put(
                ts_metric::THROUGHPUT_RPS,
                st.iv_completions as f64 / interval,
            );
            put(ts_metric::LATENCY_P95_MS, st.iv_latency.quantile_ms(0.95));
            put(
                ts_metric::GPU_UTILIZATION,
                if slots > 0.0 {
                    iv_busy / (slots * interval)
                } else {
                    f64::NAN
                },
            );
            if st.kv_capacity.value() > 0 {
                put(ts_metric::TTFT_P95_MS, st.iv_ttft.quantile_ms(0.95));
                put(
                    ts_metric::KV_CACHE_UTILIZATION,
                    st.kv_used.value() as f64 / st.kv_capacity.value() as f64,
                );
                st.iv_ttft.reset();
            }
            let allowed_miss = self.plan.services[si].slo.as_ref().map(|x| x.allowed_miss);
            let steady = self.steady_until[si].is_some_and(|t| now <= t);
            st.end_interval(now, interval, allowed_miss, s.waiting, steady);
        }
        // The cluster, after the services.
        let services = self.serving.svcs.len();
        let mut put = |m: u8, v: f64| row[timeseries::cluster_slot(services, m)] = v;
        let c = &self.cluster;
        let pools = 0..self.plan.pools.len();
        let nodes: u32 = pools.clone().map(|i| c.pool(i).nodes()).sum();
        let provisioning: u32 = pools.clone().map(|i| c.provisioning(i)).sum();
        let pending: usize = pools.clone().map(|i| c.pending(i)).sum();
        // GPUs: CPU pools hold none (their units are milli-CPUs).
        let allocated: f64 = pools
            .filter(|&i| self.plan.pools[i].cpus_per_node.is_none())
            .map(|i| c.pool(i).allocated() as f64 / self.plan.pools[i].share.units_per_gpu as f64)
            .sum();
        put(ts_metric::NODES, nodes as f64);
        put(ts_metric::NODES_PROVISIONING, provisioning as f64);
        put(ts_metric::PENDING_PODS, pending as f64);
        put(ts_metric::GPUS_ALLOCATED, allocated);
        put(ts_metric::NODES_READY, c.nodes_ready() as f64);
        if let Some(t) = &self.training {
            let (held, running, waiting) = t.sample();
            let mut put = |m: u8, v: f64| row[timeseries::training_slot(services, m)] = v;
            put(ts_metric::GPUS_ALLOCATED, held);
            put(ts_metric::JOBS_RUNNING, running);
            put(ts_metric::JOBS_WAITING, waiting);
            put(ts_metric::FRAGMENTATION, t.fragmentation_now(c));
        }
        if let Some(a) = &mut self.api {
            let x = a.sample(now, interval);
            let layout = timeseries::Layout::of(self.plan);
            let mut put = |slot: usize, v: f64| row[slot] = v;
            put(
                layout.apiserver_slot(ts_metric::REQUESTS_RPS),
                x.requests_rps,
            );
            put(
                layout.apiserver_slot(ts_metric::MUTATING_LATENCY_P99_MS),
                x.mutating_latency_p99_ms,
            );
            put(
                layout.apiserver_slot(ts_metric::WATCH_BYTES_PER_S),
                x.watch_bytes_per_s,
            );
            put(layout.apiserver_slot(ts_metric::MEMORY_GIB), x.memory_gib);
            for (l, lv) in x.levels.iter().flatten().enumerate() {
                put(layout.apf_slot(l, ts_metric::QUEUE_LENGTH), lv.queue_length);
                put(
                    layout.apf_slot(l, ts_metric::DISPATCHED_RPS),
                    lv.dispatched_rps,
                );
                put(layout.apf_slot(l, ts_metric::REJECTED_RPS), lv.rejected_rps);
                put(layout.apf_slot(l, ts_metric::SEATS_IN_USE), lv.seats_in_use);
            }
            put(
                layout.etcd_slot(ts_metric::WRITES_PER_S),
                x.etcd_writes_per_s,
            );
            put(layout.etcd_slot(ts_metric::DB_SIZE_GIB), x.db_size_gib);
        }
        self.ts.push(&self.row);
        let next = now + self.plan.report_interval;
        if next <= self.plan.duration {
            self.q.schedule(next, RunEv::Sample.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_fits_in_sixteen_bytes() {
        // The queue stores (time, sequence, event): 16 bytes of event keep an entry at 32.
        assert!(
            std::mem::size_of::<Ev>() <= 16,
            "{}",
            std::mem::size_of::<Ev>()
        );
    }
}
