//! The event budget of a replication (`limits.max_events`): the run counts the events it
//! processes and stops a replication that passes the budget, so that every run ends even
//! where the scenario's estimate was fooled (service times drawn near zero, a trace). The
//! count is of events, never of wall time, so the same scenario stops at the same event on
//! any machine.
//!
//! The event loop counts all events, and apart the cluster's, the run's own and the
//! autoscalers' (by service), which are rare; serving's, the hot path, are what remains.
//! Only when a replication is stopped are the counts attributed to a component of the
//! scenario: serving's events split into requests (one arrival or think-time end each) and
//! the services' work (batches and iterations done, batch timers).

use super::plan::{Load, Plan};
use crate::engine::SimTime;
use crate::units::fmt_count;

/// A replication stopped because it passed its event budget (exit code 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EventBudgetExceeded {
    /// The replication that was stopped (the lowest such, when several were).
    pub replication: u32,
    /// The scenario field behind most of the events, as a dotted path
    /// (`workloads[0].arrivals`), to place the message in the file.
    pub field: String,
    /// What happened, which component produced the most events, and what to do.
    pub message: String,
}

/// What the world knows when it stops replication `rep` at `now`.
pub(super) struct Counts<'a> {
    pub rep: u32,
    pub now: SimTime,
    /// All events processed.
    pub events: u64,
    /// Of them, the cluster's and the run's own timers'.
    pub cluster: u64,
    pub run: u64,
    /// Of them, training's (job arrivals, scheduling passes, checkpoints, timers).
    pub training: u64,
    /// Of them, the control plane's (API requests, etcd commits, heartbeats, clients).
    pub apiserver: u64,
    /// Of them, each service's autoscaler's.
    pub by_scaler: &'a [u64],
    /// Each service's requests so far (each the work of one arrival or think-time event).
    pub requests: &'a [u64],
}

/// Index of the largest value (the first of equal ones).
fn largest(values: impl Iterator<Item = u64>) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, v) in values.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// The error for a replication stopped at its budget, naming the component that produced
/// the most events.
pub(super) fn exceeded(plan: &Plan, c: &Counts) -> EventBudgetExceeded {
    let scaler: u64 = c.by_scaler.iter().sum();
    let requests: u64 = c.requests.iter().sum();
    let serving = c
        .events
        .saturating_sub(c.cluster + c.run + scaler + c.training + c.apiserver);
    let work = serving.saturating_sub(requests);
    // Requests, work, cluster, autoscalers, the run's timers, training, the control plane:
    // the largest names the culprit.
    let groups = [
        requests,
        work,
        c.cluster,
        scaler,
        c.run,
        c.training,
        c.apiserver,
    ];
    let group = largest(groups.iter().copied()).unwrap_or(4);
    let busiest = largest(c.requests.iter().copied()).unwrap_or(0);
    let service = |i: usize| plan.services.get(i).map_or("", |s| s.name.as_str());
    let (field, what) = match group {
        0 => {
            // The busiest service's workload: a closed loop if it has one (a loop is where
            // time stands still), else its first.
            let mine = |w: &&super::plan::WorkloadPlan| w.service == busiest;
            let closed = plan
                .workloads
                .iter()
                .position(|w| mine(&w) && matches!(w.load, Load::Closed { .. }));
            match closed {
                Some(w) => (
                    format!("workloads[{w}].arrivals.closed.think_time"),
                    format!(
                        "the requests of the closed-loop users of workloads[{w}] (service `{}`)",
                        service(busiest)
                    ),
                ),
                None => {
                    let w = plan.workloads.iter().position(|w| mine(&w)).unwrap_or(0);
                    (
                        format!("workloads[{w}].arrivals"),
                        format!(
                            "the arrivals of workloads[{w}] (service `{}`)",
                            service(busiest)
                        ),
                    )
                }
            }
        }
        1 => (
            format!("services[{busiest}].model"),
            format!(
                "the work of service `{}` (batches and LLM iterations done, batch timers)",
                service(busiest)
            ),
        ),
        2 => (
            "node_pools".to_string(),
            "the cluster (pods, nodes, failures, the cluster autoscaler)".to_string(),
        ),
        3 => {
            let si = largest(c.by_scaler.iter().copied()).unwrap_or(0);
            (
                format!("services[{si}].autoscaler"),
                format!("the autoscaler of service `{}`", service(si)),
            )
        }
        4 => (
            "report_interval".to_string(),
            "the run's report samples".to_string(),
        ),
        5 => (
            "training.workloads".to_string(),
            "the training jobs (submissions, scheduling passes, checkpoints, restarts, \
             timers)"
                .to_string(),
        ),
        _ => (
            "control_plane".to_string(),
            "the control plane (API requests: lease renewals, node status, the pods' and the \
             clients' calls; etcd commits)"
                .to_string(),
        ),
    };
    let n = groups[group];
    // Whole milliseconds as durations are written; else seconds to the microsecond.
    let at = if c.now.nanos().is_multiple_of(1_000_000) {
        c.now.to_string()
    } else {
        format!("{:.6}s", c.now.as_secs_f64())
    };
    EventBudgetExceeded {
        replication: c.rep,
        field,
        message: format!(
            "replication {} was stopped at its event budget: it passed {} events \
             (limits.max_events) at {at} of {} simulated; most of them ({} of {}) came from \
             {what}. A run this long usually has a time near zero somewhere (a service time, a \
             think time, an interval); if it is meant, raise limits.max_events (at most 1e12)",
            c.rep,
            fmt_count(plan.max_events as f64),
            plan.duration,
            fmt_count(n as f64),
            fmt_count(c.events as f64),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            name: "t".into(),
            seed: 1,
            duration: SimTime::from_secs(3600),
            warmup: SimTime::ZERO,
            replications: 1,
            report_interval: SimTime::from_secs(10),
            max_queue: 10,
            max_events: 1000,
            pools: Vec::new(),
            cluster: crate::cluster::ClusterPlan::default(),
            services: Vec::new(),
            workloads: Vec::new(),
            training: None,
            control_plane: None,
        }
    }

    fn counts(training: u64, apiserver: u64) -> Counts<'static> {
        Counts {
            rep: 0,
            now: SimTime::from_secs(60),
            events: 1001,
            cluster: 1,
            run: 0,
            training,
            apiserver,
            by_scaler: &[],
            requests: &[],
        }
    }

    /// The control plane's events, when they are the most, name `control_plane`; they are
    /// not counted as serving's work.
    #[test]
    fn the_control_plane_is_named_when_it_has_the_most_events() {
        let e = exceeded(&plan(), &counts(300, 700));
        assert_eq!(e.field, "control_plane");
        assert!(
            e.message
                .contains("most of them (700 of 1001) came from the control plane (API requests"),
            "{}",
            e.message
        );
        let e = exceeded(&plan(), &counts(700, 300));
        assert_eq!(e.field, "training.workloads");
        assert!(e.message.contains("(700 of 1001)"), "{}", e.message);
    }
}
