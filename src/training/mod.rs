//! Training jobs on the cluster: gangs, Kueue's ClusterQueues and cohorts, Coscheduling's
//! PodGroups, the default scheduler's pod-by-pod placement, checkpoints, interruptions and
//! goodput.
//!
//! A job of G GPUs is one pod when G fits a node, else ceil(G / GPUs per node) pods of whole
//! nodes. No pod works until the whole gang is placed, and work advances only while all run.
//! The job's state is a phase and its work: `done` (work at the start of the current
//! segment) and `saved` (work in the last completed checkpoint). A node failure under one of
//! its pods is an interruption: progress stops at the failure, the work since the last
//! checkpoint is lost, and `failure_detection` later the job controller deletes the gang and
//! creates it again (as JobSet's failure policy does); the new gang keeps its admission, is
//! placed ahead of waiting jobs, and after `restart_time` resumes from `saved`.
//!
//! Scheduling ([`sched`]) runs whenever something may have changed what fits: a job
//! arrives or ends, a gang is deleted, a timer (permit timeout, backoff, waitForPodsReady)
//! fires, or the cluster frees room (service pods gone, nodes joined).

pub mod plan;
mod sched;
mod stats;

pub use plan::{Scheduler, TrainingPlan};
pub use stats::{JobRow, TRAINING_METRICS, TrainingResult};

use crate::cluster::{Cluster, ClusterEv, PodId};
use crate::engine::{SimRng, SimTime, Sink, stream};
use plan::{JobArrivals, JobWorkloadPlan};
use rand_distr::{Distribution, Exp1};
use stats::Groups;

/// The training subsystem's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainingEv {
    /// The next job of workload `.0` arrives.
    Arrival(u16),
    /// Job `.0` reaches its next milestone (end of a restart, a work segment or a
    /// checkpoint), if its epoch is still `.1`.
    Step(u32, u32),
    /// Job `.0` notices the failure that interrupted it.
    Detected(u32, u32),
    /// Coscheduling: job `.0`'s members waited in Permit for `permit_timeout`.
    PermitTimeout(u32, u32),
    /// Job `.0`'s backoff ended: it queues again.
    BackoffEnd(u32, u32),
    /// Kueue: job `.0` was admitted `waitForPodsReady.timeout` ago and is still not placed.
    PodsReadyTimeout(u32, u32),
    /// A scheduling pass, after everything else that happens at this instant (jobs
    /// submitted together reach the scheduler together).
    Schedule,
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for admission (Kueue) or for room.
    Queued,
    /// Kueue admitted it (its quota is held) and its gang is not placed yet.
    Admitted,
    /// Some of its pods hold room, not all (Coscheduling's Permit, or the default
    /// scheduler's partial placement).
    Reserving,
    /// Waiting out a backoff before it queues again.
    Backoff,
    /// Placed after an interruption: loading its checkpoint.
    Restarting,
    /// Working.
    Working,
    /// Writing a checkpoint.
    Checkpointing,
    /// A node under it failed; the job has not noticed yet.
    Interrupted,
    /// Its gang was deleted after an interruption and waits to be placed again (it keeps its
    /// admission).
    Replacing,
    /// Its work is done.
    Done,
}

impl Phase {
    /// Whether the job waits for room (its gang is not whole).
    fn waiting(self) -> bool {
        matches!(
            self,
            Phase::Queued | Phase::Admitted | Phase::Reserving | Phase::Backoff | Phase::Replacing
        )
    }

    /// Whether its gang is whole and running (restarting, working or checkpointing).
    fn running(self) -> bool {
        matches!(
            self,
            Phase::Restarting | Phase::Working | Phase::Checkpointing
        )
    }
}

/// One job.
#[derive(Debug, Clone)]
struct Job {
    workload: u16,
    queue: Option<u16>,
    /// GPUs it asked for.
    gpus: u32,
    /// Pods in its gang and units each.
    n_pods: u32,
    pod_units: u32,
    pod_gpus: u32,
    priority: i32,
    submit: SimTime,
    /// Its place in queues: the submission, or the last eviction when requeued.
    key: SimTime,
    /// Failure-free run time.
    work: SimTime,
    /// Work done at `seg_start`.
    done: SimTime,
    /// Work in the last completed checkpoint.
    saved: SimTime,
    /// Work between checkpoints (None: no checkpoints) and the cost of one.
    interval: Option<SimTime>,
    cost: SimTime,
    phase: Phase,
    /// Grows at each change that makes pending timers stale.
    epoch: u32,
    /// Its pods (Pending or bound).
    pods: Vec<PodId>,
    /// Of `pods`, those bound.
    bound: u32,
    /// When the current phase began.
    seg_start: SimTime,
    first_start: Option<SimTime>,
    end: Option<SimTime>,
    interruptions: u32,
    restarts: u32,
    lost_work: SimTime,
    /// Backoffs so far (requeues after a timeout).
    attempts: u32,
    /// Kueue: its quota is held, since `admitted_at`.
    admitted: bool,
    admitted_at: SimTime,
    /// A Permit (Coscheduling) or waitForPodsReady (Kueue) timer runs for its epoch.
    timer: bool,
    /// Its next placement follows an interruption: it pays `restart_time`.
    restart_pending: bool,
}

impl Job {
    /// GPUs its gang holds when placed.
    fn gang_gpus(&self) -> u64 {
        u64::from(self.n_pods) * u64::from(self.pod_gpus)
    }
}

/// The training jobs of one replication.
#[derive(Debug)]
pub struct Training<'p> {
    plan: &'p TrainingPlan,
    warmup: SimTime,
    /// Units per GPU of each workload's pool (1: training pools are not shared).
    jobs: Vec<Job>,
    rngs: Vec<WorkloadRng>,
    trace_next: Vec<usize>,
    /// Jobs not placed whole, in the order they were queued (sorted when scheduling).
    waiting: Vec<u32>,
    /// Kueue: GPUs admitted per ClusterQueue and per cohort.
    usage: Vec<u64>,
    cohort_usage: Vec<u64>,
    cohort_nominal: Vec<u64>,
    groups: Groups,
    /// Jobs running and waiting now.
    running: u32,
    /// Jobs whose gang is whole (running, or interrupted and not yet recreated): the
    /// candidates of priority preemption.
    holding: std::collections::BTreeSet<u32>,
    /// Jobs holding Kueue quota: the candidates of quota preemption.
    admitted: std::collections::BTreeSet<u32>,
    /// Set when scheduling should run.
    dirty: bool,
    /// A [`TrainingEv::Schedule`] is pending.
    pass_pending: bool,
}

#[derive(Debug)]
struct WorkloadRng {
    arrivals: SimRng,
    gpus: SimRng,
    work: SimRng,
}

impl<'p> Training<'p> {
    /// The training of replication `rep`, nothing submitted yet.
    pub fn new(
        plan: &'p TrainingPlan,
        pools: &[crate::cluster::PoolPlan],
        warmup: SimTime,
        seed: u64,
        rep: u32,
    ) -> Training<'p> {
        let rngs = plan
            .workloads
            .iter()
            .map(|w| WorkloadRng {
                arrivals: stream(seed, rep, &format!("training/{}/arrivals", w.name)),
                gpus: stream(seed, rep, &format!("training/{}/gpus", w.name)),
                work: stream(seed, rep, &format!("training/{}/work", w.name)),
            })
            .collect();
        let mut cohort_nominal = vec![0; plan.cohorts.len()];
        for q in &plan.queues {
            if let Some(c) = q.cohort {
                cohort_nominal[c] += q.nominal;
            }
        }
        Training {
            plan,
            warmup,
            jobs: Vec::new(),
            rngs,
            trace_next: vec![0; plan.workloads.len()],
            waiting: Vec::new(),
            usage: vec![0; plan.queues.len()],
            cohort_usage: vec![0; plan.cohorts.len()],
            cohort_nominal,
            groups: Groups::new(plan, pools),
            running: 0,
            holding: std::collections::BTreeSet::new(),
            admitted: std::collections::BTreeSet::new(),
            dirty: false,
            pass_pending: false,
        }
    }

    /// Schedules each workload's first arrival.
    pub fn start(&mut self, q: &mut impl Sink<TrainingEv>) {
        for w in 0..self.plan.workloads.len() {
            self.schedule_arrival(SimTime::ZERO, w, q);
        }
    }

    fn schedule_arrival(&mut self, now: SimTime, w: usize, q: &mut impl Sink<TrainingEv>) {
        let wp = &self.plan.workloads[w];
        let at = match &wp.arrivals {
            JobArrivals::Poisson { mean_gap } => {
                let e: f64 = Exp1.sample(&mut self.rngs[w].arrivals);
                now + SimTime::from_secs_f64(e * mean_gap)
            }
            JobArrivals::Trace(rows) => match rows.get(self.trace_next[w]) {
                Some(r) => r.submit.max(now),
                None => return,
            },
        };
        q.at(at, TrainingEv::Arrival(w as u16));
    }

    /// Handles one of the training subsystem's events.
    pub fn handle(
        &mut self,
        now: SimTime,
        ev: TrainingEv,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        self.groups.account(now, cluster);
        match ev {
            TrainingEv::Arrival(w) => {
                let w = w as usize;
                self.arrive(now, w, cluster);
                self.schedule_arrival(now, w, q);
            }
            TrainingEv::Step(j, e) => {
                if self.jobs[j as usize].epoch == e {
                    self.step(now, j, cluster, q);
                }
            }
            TrainingEv::Detected(j, e) => {
                if self.jobs[j as usize].epoch == e {
                    self.recreate_gang(now, j, cluster, q);
                }
            }
            TrainingEv::PermitTimeout(j, e) | TrainingEv::PodsReadyTimeout(j, e) => {
                let job = &self.jobs[j as usize];
                if job.epoch == e
                    && job.timer
                    && matches!(job.phase, Phase::Reserving | Phase::Admitted)
                {
                    self.back_off(now, j, cluster, q);
                }
            }
            TrainingEv::BackoffEnd(j, e) => {
                let job = &mut self.jobs[j as usize];
                if job.epoch == e && job.phase == Phase::Backoff {
                    job.phase = Phase::Queued;
                    self.dirty = true;
                }
            }
            TrainingEv::Schedule => {
                self.pass_pending = false;
                self.schedule(now, cluster, q);
                return;
            }
        }
        self.request_pass(now, cluster, q);
    }

    /// Asks for a scheduling pass at this instant, after the events already due now, if
    /// anything changed or the cluster freed room in a pool training uses.
    pub fn request_pass(
        &mut self,
        now: SimTime,
        cluster: &mut Cluster,
        q: &mut impl Sink<TrainingEv>,
    ) {
        self.note_room_freed(cluster);
        if self.dirty && !self.pass_pending {
            self.pass_pending = true;
            q.at(now, TrainingEv::Schedule);
        }
    }

    /// A new job of workload `w` is submitted.
    fn arrive(&mut self, now: SimTime, w: usize, cluster: &mut Cluster) {
        let wp: &JobWorkloadPlan = &self.plan.workloads[w];
        let (gpus, work, queue, priority) = match &wp.arrivals {
            JobArrivals::Poisson { .. } => {
                let r = &mut self.rngs[w];
                let gpus = wp
                    .gpus
                    .as_ref()
                    .map_or(1, |s| s.sample_count(&mut r.gpus))
                    .max(1);
                let work = wp
                    .work
                    .as_ref()
                    .map_or(SimTime::ZERO, |s| s.sample_time(&mut r.work));
                (gpus, work, wp.queue, wp.priority)
            }
            JobArrivals::Trace(rows) => {
                let r = rows[self.trace_next[w]];
                self.trace_next[w] += 1;
                (
                    r.gpus,
                    r.work,
                    r.queue.or(wp.queue),
                    r.priority.unwrap_or(wp.priority),
                )
            }
        };
        let gpn = wp.gpus_per_node;
        let (n_pods, pod_gpus) = if gpus <= gpn {
            (1, gpus)
        } else {
            (gpus.div_ceil(gpn), gpn)
        };
        let units_per_gpu = self.groups.units_per_gpu(wp.pool);
        let (interval, cost) = match wp.checkpoint {
            None => (None, SimTime::ZERO),
            Some(c) => {
                let interval = c.interval.or_else(|| {
                    wp.node_mtbf.map(|m| {
                        let job_mtbf = m / f64::from(n_pods);
                        SimTime::from_secs_f64(
                            crate::stats::reliability::daly_interval(
                                c.cost.as_secs_f64(),
                                job_mtbf,
                            )
                            .max(1e-3),
                        )
                    })
                });
                (interval, c.cost)
            }
        };
        let id = self.jobs.len() as u32;
        let mut job = Job {
            workload: w as u16,
            queue: queue.map(|q| q as u16),
            gpus,
            n_pods,
            pod_units: pod_gpus * units_per_gpu,
            pod_gpus,
            priority,
            submit: now,
            key: now,
            work,
            done: SimTime::ZERO,
            saved: SimTime::ZERO,
            interval,
            cost,
            phase: Phase::Queued,
            epoch: 0,
            pods: Vec::with_capacity(n_pods as usize),
            bound: 0,
            seg_start: now,
            first_start: None,
            end: None,
            interruptions: 0,
            restarts: 0,
            lost_work: SimTime::ZERO,
            attempts: 0,
            admitted: false,
            admitted_at: SimTime::ZERO,
            timer: false,
            restart_pending: false,
        };
        for _ in 0..n_pods {
            job.pods
                .push(cluster.create_job_pod(now, id, wp.pool, job.pod_units, job.priority));
        }
        self.groups.submitted(now, &job, self.warmup);
        self.groups.waiting(now, &job, 1);
        self.jobs.push(job);
        self.waiting.push(id);
        self.dirty = true;
    }

    /// The gang of job `j` is whole: it starts (or restarts) working.
    fn gang_placed(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &Cluster,
        q: &mut impl Sink<TrainingEv>,
    ) {
        self.holding.insert(j);
        let job = &mut self.jobs[j as usize];
        job.epoch += 1;
        job.timer = false;
        job.bound = job.n_pods;
        if job.first_start.is_none() {
            job.first_start = Some(now);
            self.groups.started(now, job, self.warmup);
        }
        self.running += 1;
        self.groups.allocate(now, job, true);
        self.groups.waiting(now, job, -1);
        let restart = job.restart_pending;
        job.restart_pending = false;
        job.seg_start = now;
        if restart {
            job.phase = Phase::Restarting;
            let r = self.plan.workloads[job.workload as usize].restart;
            q.at(now + r, TrainingEv::Step(j, job.epoch));
        } else {
            self.work_from(now, j, q);
        }
        // A node that failed before the API noticed may have been chosen: the gang starts
        // and is interrupted at once.
        let lost = self.jobs[j as usize]
            .pods
            .iter()
            .any(|&p| cluster.pod(p).is_some_and(|p| p.lost));
        if lost {
            self.interrupt(now, j, q);
        }
    }

    /// Job `j` works from `now`: schedules its next milestone (a checkpoint or the end).
    fn work_from(&mut self, now: SimTime, j: u32, q: &mut impl Sink<TrainingEv>) {
        let job = &mut self.jobs[j as usize];
        job.phase = Phase::Working;
        job.seg_start = now;
        let target = match job.interval {
            Some(i) if job.saved + i < job.work => job.saved + i,
            _ => job.work,
        };
        q.at(now + target.since(job.done), TrainingEv::Step(j, job.epoch));
    }

    /// Job `j` reached the milestone its phase waits for.
    fn step(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        let job = &mut self.jobs[j as usize];
        match job.phase {
            Phase::Restarting => {
                job.done = job.saved;
                self.work_from(now, j, q);
            }
            Phase::Working => {
                job.done = job.done + now.since(job.seg_start);
                self.groups.worked(job, job.seg_start, now, self.warmup);
                if job.done >= job.work {
                    self.finish(now, j, cluster, q);
                } else {
                    job.phase = Phase::Checkpointing;
                    job.seg_start = now;
                    q.at(now + job.cost, TrainingEv::Step(j, job.epoch));
                }
            }
            Phase::Checkpointing => {
                job.saved = job.done;
                self.work_from(now, j, q);
            }
            _ => {}
        }
    }

    /// Job `j`'s work is done: its pods go and its quota is released.
    fn finish(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &mut Cluster,
        q: &mut impl Sink<ClusterEv>,
    ) {
        self.holding.remove(&j);
        let job = &mut self.jobs[j as usize];
        job.phase = Phase::Done;
        job.end = Some(now);
        job.epoch += 1;
        self.running -= 1;
        self.groups.allocate(now, job, false);
        self.groups.completed(now, job, self.warmup);
        for p in std::mem::take(&mut job.pods) {
            cluster.delete_job_pod(now, p, q);
        }
        job.bound = 0;
        self.release_quota(j);
        self.dirty = true;
    }

    /// Job `j` stops working now (a node under it failed, or it is preempted): the work
    /// since its last checkpoint is lost.
    fn interrupt(&mut self, now: SimTime, j: u32, q: &mut impl Sink<TrainingEv>) {
        if !self.jobs[j as usize].phase.running() {
            return;
        }
        self.stop_work(now, j);
        let job = &mut self.jobs[j as usize];
        job.phase = Phase::Interrupted;
        job.epoch += 1;
        let d = self.plan.workloads[job.workload as usize].detection;
        q.at(now + d, TrainingEv::Detected(j, job.epoch));
    }

    /// Running job `j` stops now: the work since its last checkpoint is lost, and it counts
    /// an interruption.
    fn stop_work(&mut self, now: SimTime, j: u32) {
        let job = &mut self.jobs[j as usize];
        if job.phase == Phase::Working {
            job.done = job.done + now.since(job.seg_start);
            self.groups.worked(job, job.seg_start, now, self.warmup);
        }
        let lost = job.done.since(job.saved);
        job.lost_work = job.lost_work + lost;
        job.done = job.saved;
        job.interruptions += 1;
        self.groups.interrupted(now, job, lost, self.warmup);
    }

    /// Job `j` is preempted whole, at once (for a gang or a pod of higher priority, by the
    /// scheduler's preemption): a running gang loses the work since its last checkpoint and
    /// is recreated, keeping its admission (as a job controller recreates it); a gang
    /// holding reservations releases them. Under Kueue's quota preemption (`requeue`) the
    /// job also loses its admission and queues again with its creation timestamp.
    fn preempt(
        &mut self,
        now: SimTime,
        j: u32,
        requeue: bool,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        let phase = self.jobs[j as usize].phase;
        if phase.running() {
            self.stop_work(now, j);
            self.jobs[j as usize].phase = Phase::Interrupted;
            self.recreate_gang(now, j, cluster, q);
        } else if phase == Phase::Interrupted {
            self.recreate_gang(now, j, cluster, q);
        } else if phase == Phase::Reserving || phase == Phase::Admitted {
            self.unbind_partial(now, j, cluster, q);
            let job = &mut self.jobs[j as usize];
            job.timer = false;
            job.epoch += 1;
            job.phase = if job.restart_pending {
                Phase::Replacing
            } else {
                Phase::Queued
            };
        }
        if requeue {
            self.release_quota(j);
            let job = &mut self.jobs[j as usize];
            job.phase = Phase::Queued;
            job.key = job.submit;
            job.timer = false;
            job.epoch += 1;
            if !self.waiting.contains(&j) {
                self.waiting.push(j);
            }
        }
        self.dirty = true;
    }

    /// A pod of job `j` was preempted by a pod of higher priority (the pod is gone).
    fn pod_preempted(
        &mut self,
        now: SimTime,
        j: u32,
        pod: PodId,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        if !self.replace_member(now, j, pod, cluster, q) {
            self.preempt(now, j, false, cluster, q);
        }
    }

    /// A member of job `j`'s gang that still reserves (the gang is not whole) lost its room
    /// (its node failed, or it was preempted): it is deleted and created again, Pending, and
    /// the rest keep theirs. False when the job is not reserving.
    fn replace_member(
        &mut self,
        now: SimTime,
        j: u32,
        pod: PodId,
        cluster: &mut Cluster,
        q: &mut impl Sink<ClusterEv>,
    ) -> bool {
        let job = &self.jobs[j as usize];
        if job.phase != Phase::Reserving {
            return false;
        }
        let pool = self.plan.workloads[job.workload as usize].pool;
        let job = &mut self.jobs[j as usize];
        if let Some(i) = job.pods.iter().position(|&p| p == pod) {
            cluster.delete_job_pod(now, pod, q);
            job.pods[i] = cluster.create_job_pod(now, j, pool, job.pod_units, job.priority);
            job.bound -= 1;
            if job.bound == 0 {
                job.phase = if job.restart_pending {
                    Phase::Replacing
                } else {
                    Phase::Queued
                };
            }
            self.dirty = true;
        }
        true
    }

    /// The job controller deletes job `j`'s gang and creates it again; the new gang keeps
    /// the job's admission and is placed ahead of waiting jobs.
    fn recreate_gang(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &mut Cluster,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let pool = self.plan.workloads[self.jobs[j as usize].workload as usize].pool;
        self.holding.remove(&j);
        let job = &mut self.jobs[j as usize];
        self.running -= 1;
        self.groups.allocate(now, job, false);
        for p in std::mem::take(&mut job.pods) {
            cluster.delete_job_pod(now, p, q);
        }
        job.bound = 0;
        job.restarts += 1;
        job.restart_pending = true;
        job.phase = Phase::Replacing;
        job.epoch += 1;
        for _ in 0..job.n_pods {
            job.pods
                .push(cluster.create_job_pod(now, j, pool, job.pod_units, job.priority));
        }
        self.groups.requeued(now, job, self.warmup);
        self.groups.waiting(now, job, 1);
        self.waiting.push(j);
        self.dirty = true;
    }

    /// A pod of job `j` lost its node.
    fn pod_lost(
        &mut self,
        now: SimTime,
        j: u32,
        pod: PodId,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        let job = &self.jobs[j as usize];
        if job.phase.running() {
            self.interrupt(now, j, q);
        } else {
            self.replace_member(now, j, pod, cluster, q);
        }
    }

    /// Job `j` waited too long for its gang (permit timeout or waitForPodsReady): its
    /// reservations are released, Kueue releases its quota, and it queues again after a
    /// backoff.
    fn back_off(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        let kueue = self.plan.scheduler == Scheduler::Kueue;
        self.unbind_partial(now, j, cluster, q);
        if kueue && !self.jobs[j as usize].restart_pending {
            self.release_quota(j);
        }
        let job = &mut self.jobs[j as usize];
        job.attempts += 1;
        job.timer = false;
        job.epoch += 1;
        job.phase = Phase::Backoff;
        job.key = if kueue { now } else { job.key };
        let delay = sched::backoff(self.plan.scheduler, job.attempts);
        q.at(now + delay, TrainingEv::BackoffEnd(j, job.epoch));
        self.dirty = true;
    }

    /// Releases the pods of job `j` that hold room, making them Pending again.
    fn unbind_partial(
        &mut self,
        now: SimTime,
        j: u32,
        cluster: &mut Cluster,
        q: &mut impl Sink<ClusterEv>,
    ) {
        let pool = self.plan.workloads[self.jobs[j as usize].workload as usize].pool;
        let job = &mut self.jobs[j as usize];
        if job.bound == 0 {
            return;
        }
        for p in job.pods.iter_mut() {
            if cluster.pod(*p).is_some_and(|x| x.bound()) {
                cluster.delete_job_pod(now, *p, q);
                *p = cluster.create_job_pod(now, j, pool, job.pod_units, job.priority);
            }
        }
        job.bound = 0;
    }

    fn release_quota(&mut self, j: u32) {
        self.admitted.remove(&j);
        let job = &mut self.jobs[j as usize];
        if !job.admitted {
            return;
        }
        job.admitted = false;
        let g = job.gang_gpus();
        if let Some(qi) = job.queue {
            let qi = qi as usize;
            self.usage[qi] -= g;
            if let Some(c) = self.plan.queues[qi].cohort {
                self.cohort_usage[c] -= g;
            }
        }
    }

    /// A pod of a training job changed (the world passes the cluster's notices).
    pub fn pod_notice(
        &mut self,
        now: SimTime,
        job: u32,
        pod: PodId,
        change: crate::cluster::PodChange,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        use crate::cluster::PodChange;
        match change {
            PodChange::Lost => {
                self.groups.account(now, cluster);
                self.pod_lost(now, job, pod, cluster, q);
                self.request_pass(now, cluster, q);
            }
            PodChange::Preempted => {
                self.groups.account(now, cluster);
                self.pod_preempted(now, job, pod, cluster, q);
                self.request_pass(now, cluster, q);
            }
            _ => {}
        }
    }

    /// Runs the scheduler if anything changed since it last ran, or if the cluster freed
    /// room.
    fn schedule(
        &mut self,
        now: SimTime,
        cluster: &mut Cluster,
        q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    ) {
        self.note_room_freed(cluster);
        if !self.dirty {
            return;
        }
        self.dirty = false;
        sched::run(self, now, cluster, q);
    }

    /// Takes the cluster's record of pools with room freed: a pool training uses makes a
    /// scheduling pass worth running.
    fn note_room_freed(&mut self, cluster: &mut Cluster) {
        let mask = cluster.take_room_freed_all();
        self.dirty |= self
            .plan
            .workloads
            .iter()
            .any(|w| mask & (1 << w.pool.min(63)) != 0);
    }

    /// Restarts the time averages at the end of the warm-up.
    pub fn warmup_end(&mut self, now: SimTime, cluster: &Cluster) {
        self.groups.account(now, cluster);
        self.groups.warmup_end(now);
    }

    /// Records the backlog at a saturation-test mark.
    pub fn mark_backlog(&mut self, now: SimTime) {
        self.groups.mark_backlog(now);
    }

    /// Figures for the timeseries: GPUs held by training pods, jobs running, jobs waiting.
    pub fn sample(&self) -> (f64, f64, f64) {
        (
            self.groups.gpus_held() as f64,
            f64::from(self.running),
            self.groups.waiting_now() as f64,
        )
    }

    /// Free GPUs of the training pools over their GPUs now if a job waits, else 0: the
    /// timeseries' `fragmentation`, the instant form of the groups' figure.
    pub fn fragmentation_now(&self, cluster: &Cluster) -> f64 {
        let (free, cap) = self.groups.free_and_capacity(cluster);
        // Pools of no nodes have no GPUs free either.
        if self.groups.waiting_now() == 0 || cap <= 0.0 {
            0.0
        } else {
            free / cap
        }
    }

    /// The replication's figures and its rows of jobs.csv.
    pub fn finish_run(
        mut self,
        end: SimTime,
        cluster: &Cluster,
        backlog: &dyn Fn(&[f64]) -> Option<f64>,
    ) -> TrainingResult {
        self.groups.account(end, cluster);
        for job in &self.jobs {
            if job.phase == Phase::Working {
                self.groups.worked(job, job.seg_start, end, self.warmup);
            }
        }
        self.groups
            .result(self.plan, &self.jobs, end, self.warmup, backlog)
    }
}
