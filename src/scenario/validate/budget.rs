//! The event estimate: how many events one replication of the scenario will process, part by
//! part, from the scenario alone. A scenario whose estimate is over its event budget
//! (`limits.max_events`) is refused before it runs, naming the part and the field behind it;
//! a loop in which no simulated time passes is refused whatever the budget. (The run enforces
//! the budget as well, by counting: this estimate is for the user's sake, to refuse early.)

use super::Errs;
use crate::control::AutoscalerPlan;
use crate::models::llm::IterShape;
use crate::scenario::types::{Scenario, limits};
use crate::sim::plan::{Batching, Cost, Load, Plan, ServicePlan};
use crate::units::fmt_count as count;
use crate::workload::ArrivalSpec;

/// Events a request costs: its arrival (or its user's think time ending) and its completion.
/// Batches and LLM iterations change this in either direction; the run counts.
const EVENTS_PER_REQUEST: f64 = 2.0;

/// One part of the estimate.
struct Part {
    /// Where the cause is written (a dotted path; its nearest existing ancestor is shown).
    path: String,
    /// What produces the events, for the message.
    what: String,
    /// What the user can change, for the message.
    fix: &'static str,
    /// Expected events per replication.
    events: f64,
}

/// Refuses zero-time loops, and a scenario whose estimated events per replication exceed
/// `limits.max_events`, at the field of the part that contributes most.
pub(super) fn check(e: &mut Errs, sc: &Scenario, plan: &Plan) {
    let secs = plan.duration.as_secs_f64();
    let mut parts = Vec::new();
    // Per service: iterations its LLM engine may run at most, from its requests' tokens (each
    // iteration produces at least one token of each sequence it runs, after one prefill).
    let mut token_bound = vec![0.0; plan.services.len()];
    for (i, (spec, w)) in sc.workloads.iter().zip(&plan.workloads).enumerate() {
        let svc = &plan.services[w.service];
        let requests = match &w.load {
            Load::Open(p) => {
                let requests = p.mean_rate(plan.duration) * secs;
                parts.push(Part {
                    path: format!("workloads[{i}].arrivals"),
                    what: format!(
                        "the arrivals of workloads[{i}] ({} requests in {})",
                        count(requests),
                        plan.duration
                    ),
                    fix: "lower the rate or shorten the duration",
                    events: EVENTS_PER_REQUEST * requests,
                });
                requests
            }
            Load::Closed { users, think } => {
                let (min_service, max_rate) = service_bounds(svc);
                let cycle = think.mean() + min_service;
                let path = format!("workloads[{i}].arrivals.closed.think_time");
                if cycle == 0.0 {
                    e.at(
                        &path,
                        format!(
                            "a closed loop with zero think time on a service whose service time \
                             is zero (model `{}`) never lets simulated time pass: each user sends \
                             its next request the instant the last one ends, without end; give \
                             the think time or the service time a positive mean",
                            svc.model
                        ),
                    );
                    continue;
                }
                // Throughput of a closed loop is at most N / (Z + S) and at most the
                // service's capacity (the asymptotic bounds of operational analysis).
                let rate = (f64::from(*users) / cycle).min(max_rate);
                parts.push(Part {
                    path,
                    what: format!(
                        "the closed loop of workloads[{i}] ({users} users, each request at \
                         least {} apart: up to {} requests in {})",
                        crate::engine::SimTime::from_secs_f64(cycle),
                        count(rate * secs),
                        plan.duration
                    ),
                    fix: "lengthen the think time, lower the users or shorten the duration",
                    events: EVENTS_PER_REQUEST * rate * secs,
                });
                rate * secs
            }
        };
        // A trace's token counts are not known here: no bound from tokens.
        let per_request = w
            .output_tokens
            .as_ref()
            .map_or(f64::INFINITY, |d| d.mean() + 1.0);
        if requests > 0.0 {
            token_bound[w.service] += requests * per_request;
        }
        if let ArrivalSpec::OnOff {
            on_time, off_time, ..
        } = &spec.arrivals
        {
            // Each on and each off period ends with a switch; periods alternate.
            let cycle = on_time.0.as_secs_f64() + off_time.0.as_secs_f64();
            let field = if on_time.0 <= off_time.0 {
                "on_time"
            } else {
                "off_time"
            };
            let switches = 2.0 * secs / cycle;
            parts.push(Part {
                path: format!("workloads[{i}].arrivals.on_off.{field}"),
                what: format!(
                    "the on/off switches of workloads[{i}] (on_time {} and off_time {}: {} \
                     switches in {})",
                    on_time.0,
                    off_time.0,
                    count(switches),
                    plan.duration
                ),
                fix: "lengthen on_time and off_time or shorten the duration",
                events: switches,
            });
        }
    }
    for (si, s) in plan.services.iter().enumerate() {
        let Some(a) = &s.autoscaler else { continue };
        let at = |field: &str| format!("services[{si}].autoscaler.{field}");
        // Every autoscaler samples its pods' signals once a second.
        let mut loops = vec![("autoscaler's metric samples", 1.0, at("kind"))];
        match a {
            AutoscalerPlan::Hpa { sync, .. } => {
                loops.push(("HPA syncs", sync.as_secs_f64(), at("syncPeriod")));
            }
            AutoscalerPlan::Kpa(c) => {
                loops.push(("KPA decisions", c.tick_interval_s, at("tickInterval")));
            }
            AutoscalerPlan::Keda { keda, sync, .. } => {
                loops.push(("HPA syncs", sync.as_secs_f64(), at("syncPeriod")));
                loops.push(("KEDA polls", keda.polling_interval_s, at("pollingInterval")));
            }
        }
        for (what, every, path) in loops {
            let events = secs / every;
            parts.push(Part {
                path,
                what: format!(
                    "the {what} of service `{}` (every {}: {} in {})",
                    s.name,
                    crate::engine::SimTime::from_secs_f64(every),
                    count(events),
                    plan.duration
                ),
                fix: "lengthen the interval or shorten the duration",
                events,
            });
        }
    }
    for (si, s) in plan.services.iter().enumerate() {
        let Cost::Llm(l) = &s.cost else { continue };
        // Iterations also run at most back to back on every replica.
        let iteration = l.cost.iteration(&IterShape::decode(1, 1)).as_secs_f64();
        let busy_bound = f64::from(max_replicas(s)) * secs / iteration;
        let iterations = token_bound[si].min(busy_bound);
        parts.push(Part {
            path: format!("services[{si}].model"),
            what: format!(
                "the LLM iterations of service `{}` (up to {} in {})",
                s.name,
                count(iterations),
                plan.duration
            ),
            fix: "lower the load or shorten the duration",
            events: iterations,
        });
    }
    parts.push(Part {
        path: "report_interval".into(),
        what: format!(
            "the report samples (every {}: {} in {})",
            plan.report_interval,
            count(secs / plan.report_interval.as_secs_f64()),
            plan.duration
        ),
        fix: "lengthen report_interval",
        events: secs / plan.report_interval.as_secs_f64(),
    });
    let total: f64 = parts.iter().map(|p| p.events).sum();
    let budget = plan.max_events;
    if total > budget as f64
        && let Some(top) = parts.iter().max_by(|a, b| a.events.total_cmp(&b.events))
    {
        e.at(
            &top.path,
            format!(
                "about {} events per replication, over the event budget of {} \
                 (limits.max_events); most come from {}: {}, or raise limits.max_events (at \
                 most {:.0e}) if the run is meant to be this long",
                count(total),
                count(budget as f64),
                top.what,
                top.fix,
                limits::MAX_EVENTS as f64
            ),
        );
    }
}

/// A lower bound on the time one request spends in service `s` (seconds), and an upper
/// bound on the requests per second it can finish, at its largest replica count.
fn service_bounds(s: &ServicePlan) -> (f64, f64) {
    let replicas = f64::from(max_replicas(s));
    let slots = replicas * f64::from(s.concurrency);
    let per_batch = match s.batching {
        Batching::Dynamic { max_batch, .. } => f64::from(max_batch),
        Batching::None | Batching::Continuous => 1.0,
    };
    let (min_time, max_rate) = match &s.cost {
        // One draw per batch.
        Cost::Generic { sampler, scale } => {
            let mean = sampler.mean() * scale;
            (mean, slots * per_batch / mean)
        }
        Cost::Table(t) => {
            let best = t
                .iter()
                .enumerate()
                .map(|(b, a)| (b + 1) as f64 / a.as_secs_f64())
                .fold(0.0, f64::max);
            (t.first().map_or(0.0, |a| a.as_secs_f64()), slots * best)
        }
        // Every request takes at least one iteration, and an iteration serves at most
        // max_num_seqs sequences; the cheapest iteration decodes one token of one sequence.
        Cost::Llm(l) => {
            let iteration = l.cost.iteration(&IterShape::decode(1, 1)).as_secs_f64();
            let seqs = f64::from(l.engine.max_num_seqs);
            (
                iteration + l.request_overhead.as_secs_f64(),
                replicas * seqs / iteration,
            )
        }
    };
    // A zero time makes the rate infinite (x / 0), which the closed loop's own bound caps.
    (min_time, if max_rate.is_nan() { 0.0 } else { max_rate })
}

/// The most replicas service `s` can have: its autoscaler's maximum, else its replicas.
fn max_replicas(s: &ServicePlan) -> u32 {
    let most = match &s.autoscaler {
        None => 0,
        Some(AutoscalerPlan::Hpa { spec, .. }) => spec.max_replicas.max(0) as u32,
        // maxScale 0 is unbounded.
        Some(AutoscalerPlan::Kpa(c)) if c.max_scale <= 0 => limits::MAX_REPLICAS as u32,
        Some(AutoscalerPlan::Kpa(c)) => c.max_scale as u32,
        Some(AutoscalerPlan::Keda { keda, .. }) => keda.max_replica_count.max(0) as u32,
    };
    most.max(s.replicas)
}
