//! Which waiting gang goes next: Kueue's admission cycle over ClusterQueues and cohorts,
//! Coscheduling's PodGroups with Permit, and the default scheduler's pod-by-pod placement.
//!
//! Every scheduler first places the gangs recreated after an interruption (they keep their
//! admission, as JobSet's restart keeps the Workload admitted), all or nothing, in queue
//! order. Queue order is Kueue's and the scheduler's: higher priority first, then the older
//! timestamp (the submission, or for Kueue the last eviction: `requeuingStrategy.timestamp:
//! Eviction`, its default), then the job number.

use super::{Phase, Training, TrainingEv};
use crate::cluster::{Cluster, ClusterEv};
use crate::engine::{SimTime, Sink};
use crate::training::Scheduler;
use std::cmp::Reverse;

/// The delay before a job queues again after its `attempts`-th timeout.
///
/// - Kueue (waitForPodsReady's `requeuingStrategy`): `backoffBaseSeconds` 60 doubled per
///   requeue, capped at `backoffMaxSeconds` 3,600 (kueue `pkg/controller/core/workload_controller`,
///   config v1beta1 defaults); Kueue adds no jitter we model.
/// - Coscheduling and the default scheduler: the scheduling queue's pod backoff,
///   `podInitialBackoffSeconds` 1 doubled per attempt up to `podMaxBackoffSeconds` 10
///   (kube-scheduler's KubeSchedulerConfiguration defaults).
pub(super) fn backoff(s: Scheduler, attempts: u32) -> SimTime {
    let (base, cap) = match s {
        Scheduler::Kueue => (60, 3600),
        Scheduler::Coscheduling | Scheduler::Greedy => (1, 10),
    };
    let doublings = attempts.saturating_sub(1).min(20);
    SimTime::from_secs((base << doublings).min(cap))
}

/// One scheduling pass.
pub(super) fn run(
    t: &mut Training,
    now: SimTime,
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
) {
    // The waiting list stays sorted from pass to pass, so that sorting it again (new jobs
    // come last, with the latest timestamps) costs about one look at each.
    let jobs = &t.jobs;
    t.waiting.retain(|&j| jobs[j as usize].phase.waiting());
    t.waiting.sort_by_key(|&j| {
        let job = &jobs[j as usize];
        (
            Reverse(job.priority),
            job.phase != Phase::Replacing,
            job.key,
            j,
        )
    });
    t.waiting.dedup();
    let order: Vec<u32> = t
        .waiting
        .iter()
        .copied()
        .filter(|&j| t.jobs[j as usize].phase != Phase::Backoff)
        .collect();
    // Gangs recreated after an interruption (and, under Kueue, admitted gangs) first, whole.
    for &j in &order {
        let phase = t.jobs[j as usize].phase;
        let kueue_admitted = t.plan.scheduler == Scheduler::Kueue && phase == Phase::Admitted;
        if phase == Phase::Replacing || kueue_admitted {
            try_place_whole(t, now, j, cluster, q);
        }
    }
    match t.plan.scheduler {
        Scheduler::Kueue => admit(t, now, &order, cluster, q),
        Scheduler::Coscheduling => reserve(t, now, &order, cluster, q, true),
        Scheduler::Greedy => reserve(t, now, &order, cluster, q, false),
    }
}

/// Places job `j`'s gang all or nothing, preempting whole gangs of lower priority if that
/// makes room (with `preemption: lower_priority`); true when placed.
fn try_place_whole(
    t: &mut Training,
    now: SimTime,
    j: u32,
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
) -> bool {
    let placement = t.plan.placement;
    let pods = t.jobs[j as usize].pods.clone();
    if cluster.bind_job_gang(now, &pods, placement)
        || (t.plan.preemption
            && preempt_for_room(t, now, j, cluster, q)
            && cluster.bind_job_gang(now, &pods, placement))
    {
        t.gang_placed(now, j, cluster, q);
        true
    } else {
        false
    }
}

/// kube-scheduler's priority preemption, by whole gangs: the gangs of lower priority on job
/// `j`'s pool that hold room (running, or reserving members) are candidates, lowest
/// priority first, then the most recently started; they are taken until `j`'s gang would
/// fit, then each is spared again, last taken first, if the gang still fits without it.
/// The victims are preempted whole ([`Training::preempt`]); true when room was made.
fn preempt_for_room(
    t: &mut Training,
    now: SimTime,
    j: u32,
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
) -> bool {
    let job = &t.jobs[j as usize];
    let pool = t.plan.workloads[job.workload as usize].pool;
    let priority = job.priority;
    let mut candidates: Vec<u32> = t
        .holding
        .iter()
        .copied()
        .filter(|&v| {
            let x = &t.jobs[v as usize];
            x.priority < priority && t.plan.workloads[x.workload as usize].pool == pool
        })
        .collect();
    if candidates.is_empty() {
        return false;
    }
    candidates.sort_by_key(|&v| {
        let x = &t.jobs[v as usize];
        (x.priority, Reverse(x.first_start), Reverse(v))
    });
    let pods = t.jobs[j as usize].pods.clone();
    let placement = t.plan.placement;
    let held = |vs: &[u32]| -> Vec<crate::cluster::PodId> {
        vs.iter()
            .flat_map(|&v| t.jobs[v as usize].pods.iter().copied())
            .collect()
    };
    // Units the victims would free per node, to tell cheaply when the gang may fit before
    // trying it: enough whole nodes for a gang of whole nodes, one node with room for a
    // single pod.
    let (need_nodes, pod_units) = {
        let job = &t.jobs[j as usize];
        (job.n_pods, job.pod_units)
    };
    let p = cluster.pool(pool);
    let upn = p.units_per_node();
    let mut freed: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    let mut whole = p.free_nodes();
    let mut single = false;
    let mut victims: Vec<u32> = Vec::new();
    let mut fits = false;
    for v in candidates {
        victims.push(v);
        for &pod in &t.jobs[v as usize].pods {
            let Some(x) = cluster.pod(pod) else { continue };
            if !x.bound() || x.lost {
                continue;
            }
            let f = freed.entry(x.node).or_insert(0);
            let before = cluster.pool(pool).free_units(x.node) + *f;
            *f += x.units;
            let after = before + x.units;
            if before < upn && after >= upn {
                whole += 1;
            }
            single |= after >= pod_units;
        }
        let maybe = if need_nodes > 1 || pod_units == upn {
            whole >= need_nodes
        } else {
            single
        };
        if maybe && cluster.gang_fits_if_freed(&pods, &held(&victims), placement) {
            fits = true;
            break;
        }
    }
    if !fits {
        return false;
    }
    // Spare victims again, last taken first (bounded: a large gang's many small victims are
    // kept as taken).
    let upto = victims.len().saturating_sub(1).min(32);
    spare(&mut victims, upto, |vs| {
        cluster.gang_fits_if_freed(&pods, &held(vs), placement)
    });
    for v in victims {
        t.preempt(now, v, false, cluster, q);
    }
    true
}

/// Drops from `victims` each of its first `upto` entries, from the last of them down, whose
/// removal leaves `fits` true: the minimal-set pass of both preemptions.
fn spare(victims: &mut Vec<u32>, upto: usize, mut fits: impl FnMut(&[u32]) -> bool) {
    for i in (0..upto).rev() {
        let mut without = victims.clone();
        without.remove(i);
        if fits(&without) {
            *victims = without;
        }
    }
}

/// Whether `gpus` more fit queue `qi`'s quota now, and whether they borrow from the cohort
/// (Kueue: usage up to `nominalQuota` needs the cohort to have that much unused; beyond it,
/// up to `borrowingLimit`, needs unused quota of the cohort's other queues).
fn fits_quota(t: &Training, qi: usize, gpus: u64) -> Option<bool> {
    fits_quota_with(t, qi, gpus, &t.usage, &t.cohort_usage)
}

/// [`fits_quota`] with the given usage per queue and per cohort.
fn fits_quota_with(
    t: &Training,
    qi: usize,
    gpus: u64,
    usage: &[u64],
    cohort_usage: &[u64],
) -> Option<bool> {
    let qp = &t.plan.queues[qi];
    let after = usage[qi] + gpus;
    let cohort_room = |c: usize| cohort_usage[c] + gpus <= t.cohort_nominal[c];
    if after <= qp.nominal {
        return match qp.cohort {
            None => Some(false),
            Some(c) => cohort_room(c).then_some(false),
        };
    }
    let c = qp.cohort?;
    if qp.borrowing_limit.is_some_and(|b| after > qp.nominal + b) {
        return None;
    }
    cohort_room(c).then_some(true)
}

/// Kueue's admission: cycles in which each ClusterQueue offers its head (StrictFIFO: the
/// first queued workload, which blocks the queue if it does not fit; BestEffortFIFO: the
/// first that fits), the heads are admitted in the order Kueue's scheduler takes them (those
/// that need not borrow first, then priority, then timestamp), and each admitted gang is
/// placed all or nothing; one that does not fit waits admitted until it does or
/// waitForPodsReady's timeout evicts it.
fn admit(
    t: &mut Training,
    now: SimTime,
    order: &[u32],
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
) {
    let nq = t.plan.queues.len();
    let mut per_queue: Vec<Vec<u32>> = vec![Vec::new(); nq];
    for &j in order {
        let job = &t.jobs[j as usize];
        if job.phase == Phase::Queued
            && let Some(qi) = job.queue
        {
            per_queue[qi as usize].push(j);
        }
    }
    // Usage only grows within a pass, so a workload that did not fit stays unfit: each
    // queue's cursor moves forward only.
    let mut cursor = vec![0usize; nq];
    let mut blocked = vec![false; nq];
    // Each queue's head may preempt once per pass.
    let mut preempted_for = vec![false; nq];
    loop {
        let mut heads: Vec<(bool, Reverse<i32>, SimTime, u32, usize)> = Vec::new();
        for qi in 0..nq {
            while !blocked[qi] && cursor[qi] < per_queue[qi].len() {
                let j = per_queue[qi][cursor[qi]];
                let job = &t.jobs[j as usize];
                let g = job.gang_gpus();
                match fits_quota(t, qi, g) {
                    Some(borrows) => {
                        heads.push((borrows, Reverse(job.priority), job.key, j, qi));
                        break;
                    }
                    None if t.plan.queues[qi].strict => blocked[qi] = true,
                    None => cursor[qi] += 1,
                }
            }
        }
        // A queue whose head does not fit may preempt for it (Kueue's preemption: within
        // the ClusterQueue, lower priority; within the cohort, reclaiming quota that others
        // borrow, from lower priority).
        if t.plan.preemption {
            for qi in 0..nq {
                let stuck = blocked[qi]
                    || (cursor[qi] >= per_queue[qi].len() && !heads.iter().any(|h| h.4 == qi));
                if !stuck || preempted_for[qi] {
                    continue;
                }
                preempted_for[qi] = true;
                // The queue's head in order: the first still queued.
                let Some(&j) = per_queue[qi]
                    .iter()
                    .find(|&&j| t.jobs[j as usize].phase == Phase::Queued)
                else {
                    continue;
                };
                if reclaim_quota(t, now, qi, j, cluster, q) {
                    blocked[qi] = false;
                    cursor[qi] = per_queue[qi].iter().position(|&x| x == j).unwrap_or(0);
                    let job = &t.jobs[j as usize];
                    heads.push((false, Reverse(job.priority), job.key, j, qi));
                }
            }
        }
        if heads.is_empty() {
            break;
        }
        heads.sort();
        let mut admitted = false;
        for (_, _, _, j, qi) in heads {
            let job = &t.jobs[j as usize];
            let g = job.gang_gpus();
            if fits_quota(t, qi, g).is_none() {
                continue;
            }
            cursor[qi] += 1;
            t.usage[qi] += g;
            if let Some(c) = t.plan.queues[qi].cohort {
                t.cohort_usage[c] += g;
            }
            admitted = true;
            t.admitted.insert(j);
            let job = &mut t.jobs[j as usize];
            job.admitted = true;
            job.admitted_at = now;
            job.phase = Phase::Admitted;
            if !try_place_whole(t, now, j, cluster, q)
                && let Some(timeout) = t.plan.pods_ready_timeout
            {
                let job = &mut t.jobs[j as usize];
                job.timer = true;
                q.at(now + timeout, TrainingEv::PodsReadyTimeout(j, job.epoch));
            }
        }
        if !admitted {
            break;
        }
    }
}

/// Kueue's preemption for job `j`, the head of queue `qi`, which does not fit its quota:
/// candidates are admitted workloads of lower priority, in `qi` itself
/// (`withinClusterQueue: LowerPriority`) or in other queues of the cohort that use more
/// than their nominal quota while `qi` would stay within its own (`reclaimWithinCohort:
/// LowerPriority`); other queues' first, then lower priority, then the most recently
/// admitted. They are taken until `j` fits, then spared again, last first, where it still
/// fits. Victims are evicted and requeued ([`Training::preempt`]); true when `j` now fits.
fn reclaim_quota(
    t: &mut Training,
    now: SimTime,
    qi: usize,
    j: u32,
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
) -> bool {
    let job = &t.jobs[j as usize];
    let (g, priority) = (job.gang_gpus(), job.priority);
    let qp = &t.plan.queues[qi];
    let within_nominal = t.usage[qi] + g <= qp.nominal;
    let mut candidates: Vec<u32> = t
        .admitted
        .iter()
        .copied()
        .filter(|&v| {
            let x = &t.jobs[v as usize];
            let Some(vq) = x.queue.map(usize::from) else {
                return false;
            };
            x.admitted
                && x.priority < priority
                && (vq == qi
                    || (within_nominal
                        && qp.cohort.is_some()
                        && t.plan.queues[vq].cohort == qp.cohort
                        && t.usage[vq] > t.plan.queues[vq].nominal))
        })
        .collect();
    if candidates.is_empty() {
        return false;
    }
    candidates.sort_by_key(|&v| {
        let x = &t.jobs[v as usize];
        (
            x.queue == Some(qi as u16),
            x.priority,
            Reverse(x.admitted_at),
            Reverse(v),
        )
    });
    let fits_without = |t: &Training, vs: &[u32]| {
        let mut usage = t.usage.clone();
        let mut cohort = t.cohort_usage.clone();
        for &v in vs {
            let x = &t.jobs[v as usize];
            let vq = x.queue.map_or(0, usize::from);
            usage[vq] -= x.gang_gpus();
            if let Some(c) = t.plan.queues[vq].cohort {
                cohort[c] -= x.gang_gpus();
            }
        }
        fits_quota_with(t, qi, g, &usage, &cohort).is_some()
    };
    let mut victims = Vec::new();
    let mut fits = false;
    for v in candidates {
        victims.push(v);
        if fits_without(t, &victims) {
            fits = true;
            break;
        }
    }
    if !fits {
        return false;
    }
    let upto = victims.len().saturating_sub(1);
    spare(&mut victims, upto, |vs| fits_without(t, vs));
    for v in victims {
        t.preempt(now, v, true, cluster, q);
    }
    fits_quota(t, qi, g).is_some()
}

/// Coscheduling (`permit`) and the default scheduler: pods are placed one by one in queue
/// order, each holding its room. Under Coscheduling the first member to hold room starts the
/// permit timer, and the gang works only when all members are placed; at the timeout all
/// are released together ([`Training::back_off`]). The default scheduler has no timer: a
/// half-placed gang holds its room until it completes, so two gangs can hold each other's
/// room forever. For the default scheduler, pods of jobs with the same priority and
/// timestamp are created at the same moment by their controllers and reach the scheduler
/// interleaved, one of each in turn; Coscheduling's QueueSort orders by PodGroup (priority,
/// then the group's creation), so a group's pods come together.
fn reserve(
    t: &mut Training,
    now: SimTime,
    order: &[u32],
    cluster: &mut Cluster,
    q: &mut (impl Sink<TrainingEv> + Sink<ClusterEv>),
    permit: bool,
) {
    let placement = t.plan.placement;
    let mut i = 0;
    while i < order.len() {
        // The run of jobs with the same priority and timestamp.
        let head = &t.jobs[order[i] as usize];
        let key = (head.priority, head.key);
        let mut end = i + 1;
        // Coscheduling's QueueSort keeps a PodGroup's pods together: one job at a time.
        while !permit && end < order.len() {
            let job = &t.jobs[order[end] as usize];
            if (job.priority, job.key) != key {
                break;
            }
            end += 1;
        }
        let group: Vec<u32> = order[i..end]
            .iter()
            .copied()
            .filter(|&j| matches!(t.jobs[j as usize].phase, Phase::Queued | Phase::Reserving))
            .collect();
        i = end;
        // Coscheduling places a gang that fits whole at once (with its topology), preempting
        // lower-priority gangs if that makes room; else its members reserve one by one.
        if permit {
            for &j in &group {
                let job = &t.jobs[j as usize];
                if job.phase == Phase::Queued && job.bound == 0 {
                    try_place_whole(t, now, j, cluster, q);
                }
            }
        }
        // One pod of each job in turn, while any can still be placed.
        let mut progress = true;
        while progress {
            progress = false;
            for &j in &group {
                let job = &t.jobs[j as usize];
                if !matches!(job.phase, Phase::Queued | Phase::Reserving) {
                    continue;
                }
                let pool = t.plan.workloads[job.workload as usize].pool;
                if !cluster.pool(pool).fits(job.pod_units) {
                    continue;
                }
                let next = job
                    .pods
                    .iter()
                    .copied()
                    .find(|&p| cluster.pod(p).is_some_and(|x| !x.bound()));
                let Some(pod) = next else { continue };
                if cluster.bind_job_pod(now, pod, placement) {
                    progress = true;
                    let job = &mut t.jobs[j as usize];
                    job.bound += 1;
                    if job.bound == job.n_pods {
                        t.gang_placed(now, j, cluster, q);
                    } else {
                        job.phase = Phase::Reserving;
                        if permit && !job.timer {
                            job.timer = true;
                            q.at(
                                now + t.plan.permit_timeout,
                                TrainingEv::PermitTimeout(j, job.epoch),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoffs_double_up_to_their_caps() {
        let secs = |s, n| backoff(s, n).0 as f64 / 1e9;
        assert_eq!(secs(Scheduler::Kueue, 1), 60.0);
        assert_eq!(secs(Scheduler::Kueue, 2), 120.0);
        assert_eq!(secs(Scheduler::Kueue, 6), 1920.0);
        assert_eq!(secs(Scheduler::Kueue, 7), 3600.0);
        assert_eq!(secs(Scheduler::Kueue, 100), 3600.0);
        assert_eq!(secs(Scheduler::Coscheduling, 1), 1.0);
        assert_eq!(secs(Scheduler::Coscheduling, 4), 8.0);
        assert_eq!(secs(Scheduler::Coscheduling, 5), 10.0);
    }
}
