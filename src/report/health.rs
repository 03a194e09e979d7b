//! Services whose figures are not capacity: those that saturated (the queue grew without
//! bound, so latencies and costs depend on the run length), served nothing, or never got a
//! pod scheduled. Every output marks them, so that no silent wrong answer (a saturated GPU
//! drawn as the cheapest, a scenario that dropped every request passing with exit 0) goes
//! unnoticed. The saturation rule itself is the simulator's ([`Report::saturated`]).

use super::fmt_num;
use crate::sim::Report;

/// What is wrong with a service's figures.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// It could not keep up in some replications.
    Saturated {
        /// Replications in which it saturated.
        replications: u32,
        /// Replications run.
        of: u32,
        /// Of those, replications stopped early at the queue bound.
        stopped_early: u32,
        /// Mean growth of its queue, requests per second.
        growth_rps: f64,
    },
    /// Requests arrived in the window and none completed, in every replication.
    ServedNothing {
        /// Mean requests per replication.
        requests: f64,
        /// Mean dropped per replication (all of them when equal to `requests`).
        dropped: f64,
    },
    /// No pod of it ran in the window: its replicas fit on no node.
    NeverScheduled {
        /// Mean pods pending at the end.
        pending: f64,
    },
}

impl Problem {
    /// A few words for a table heading or a chart label: `SATURATED in 3 of 3
    /// replications`, `SERVED NOTHING`, `NO POD SCHEDULED`.
    pub fn short(&self) -> String {
        match self {
            Problem::Saturated {
                replications, of, ..
            } => format!("SATURATED in {replications} of {of} replications"),
            Problem::ServedNothing { .. } => "SERVED NOTHING".into(),
            Problem::NeverScheduled { .. } => "NO POD SCHEDULED".into(),
        }
    }

    /// One sentence for stderr and index.html, about `service`.
    pub fn explain(&self, service: &str) -> String {
        match self {
            Problem::Saturated {
                replications,
                of,
                stopped_early,
                growth_rps,
            } => {
                let stop = match *stopped_early {
                    0 => String::new(),
                    k if k == *replications => {
                        ", and the runs stopped early at the queue bound".into()
                    }
                    k => format!(", and {k} of them stopped early at the queue bound"),
                };
                format!(
                    "{service} SATURATED in {replications} of {of} replications: its queue grew \
                     by about {} requests/s{stop}; its latencies, throughput and cost per \
                     request describe an overload, not a capacity",
                    fmt_num(*growth_rps)
                )
            }
            Problem::ServedNothing { requests, dropped } => {
                if dropped >= requests {
                    format!(
                        "{service} SERVED NOTHING: every request was dropped ({} per \
                         replication): an LLM engine refuses a request it can never run (a \
                         prompt longer than the model's context, or than its KV cache holds), a \
                         full queue_capacity refuses, pods killed or lost drop theirs",
                        fmt_num(*requests)
                    )
                } else {
                    format!(
                        "{service} SERVED NOTHING: none of its {} requests per replication \
                         completed in the window",
                        fmt_num(*requests)
                    )
                }
            }
            Problem::NeverScheduled { pending } => format!(
                "{service}: NO POD SCHEDULED: {} pending at the end, they fit on no node \
                 (see the pool's nodes and GPUs per node, and the replica's GPUs)",
                fmt_num(*pending)
            ),
        }
    }

    /// The metrics of the service whose check in a scenario's `checks:` says the problem is
    /// expected (`t4.saturated == 1`), so that `capsim check` does not fail on it.
    pub fn acknowledged_by(&self) -> &'static [&'static str] {
        match self {
            Problem::Saturated { .. } => &["saturated"],
            Problem::ServedNothing { .. } => &["completed", "dropped"],
            Problem::NeverScheduled { .. } => &["pods_pending", "replicas_mean"],
        }
    }

    /// The check that would say so, for the message that suggests it.
    pub fn suggested_check(&self, service: &str) -> String {
        match self {
            Problem::Saturated { .. } => format!("{service}.saturated == 1"),
            Problem::ServedNothing { .. } => format!("{service}.completed == 0"),
            Problem::NeverScheduled { pending } => {
                format!("{service}.pods_pending == {}", fmt_num(*pending))
            }
        }
    }
}

/// Every problem of every service, in summary order.
pub fn problems(report: &Report) -> Vec<(String, Problem)> {
    let mut out = Vec::new();
    for svc in super::services(report) {
        for p in service_problems(report, svc) {
            out.push((svc.to_string(), p));
        }
    }
    out
}

/// The problems of one service.
pub fn service_problems(report: &Report, service: &str) -> Vec<Problem> {
    let mean = |m: &str| report.mean(service, m);
    let mut out = Vec::new();
    if let Some(s) = report.saturated.iter().find(|s| s.service == service) {
        out.push(Problem::Saturated {
            replications: s.replications,
            of: report.replications,
            stopped_early: s.stopped_early,
            growth_rps: s.growth_rps,
        });
    }
    // Means of non-negative counts: 0 only when 0 in every replication.
    let (requests, completed) = (mean("requests"), mean("completed"));
    if requests > 0.0 && completed == 0.0 {
        out.push(Problem::ServedNothing {
            requests,
            dropped: mean("dropped"),
        });
    }
    let pending = mean("pods_pending");
    // No replica ran: none on average, or no window to measure one in.
    let ran = mean("replicas_mean");
    if pending > 0.0 && (ran.is_nan() || ran <= 0.0) {
        out.push(Problem::NeverScheduled { pending });
    }
    out
}

/// Whether a service's figures are not capacity: saturated, served nothing or never ran. A
/// chart never calls such a service the cheapest.
pub fn is_broken(report: &Report, service: &str) -> bool {
    !service_problems(report, service).is_empty()
}
