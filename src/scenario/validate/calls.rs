//! `services[].calls`: what one request of a service does downstream. Each entry names a
//! callee, how many calls (a fixed count, a drawn count or a probability), whether the
//! caller's slot waits (`blocking`) or not (`async`), the caller's work after each answer,
//! the connection pool to the callee and `routing: primary`. The call graph must have no
//! cycle.

use super::models::names_llm;
use super::{Errs, did_you_mean};
use crate::scenario::types::{BatchingSpec, CallRouting, CallSpec, Scenario, ServiceKind, limits};
use crate::serving::plan::{CallCount, CallMode, CallPlan};
use crate::sim::plan::ServicePlan;
use crate::workload::{Count, Dist};

/// Resolves every service's `calls:` into its plan (where the service resolved), and refuses
/// a cycle in the call graph.
pub(super) fn resolve(e: &mut Errs, sc: &Scenario, services: &mut [Option<ServicePlan>]) {
    let names: Vec<&str> = sc.services.iter().map(|s| s.name.as_str()).collect();
    // Per service: (entry, callee) for every entry whose callee exists.
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); sc.services.len()];
    for (i, s) in sc.services.iter().enumerate() {
        if s.calls.is_empty() {
            continue;
        }
        let at = format!("services[{i}].calls");
        if s.calls.len() > limits::MAX_CALL_ENTRIES {
            e.at(
                &at,
                format!(
                    "{} call entries is above the limit of {} per service",
                    s.calls.len(),
                    limits::MAX_CALL_ENTRIES
                ),
            );
            continue;
        }
        let mut ok = caller_can_call(e, sc, i);
        let mut plans = Vec::with_capacity(s.calls.len());
        let mut first_async: Option<usize> = None;
        for (k, c) in s.calls.iter().enumerate() {
            let callee = names.iter().position(|n| *n == c.service);
            match callee {
                Some(j) => edges[i].push((k, j)),
                None => {
                    e.at(
                        &format!("{at}[{k}].service"),
                        format!(
                            "unknown service `{}`{}",
                            c.service,
                            did_you_mean(&c.service, &names)
                        ),
                    );
                    ok = false;
                }
            }
            // An async entry with a `then` brings the request back to a slot of the caller
            // after each answer (and holds it if it made no call), so a blocking entry after
            // it has a slot to hold; after one without `then` it has none.
            if c.mode == CallMode::Async {
                if c.then.is_none() {
                    first_async.get_or_insert(k);
                }
            } else if let Some(a) = first_async {
                e.at(
                    &format!("{at}[{k}].mode"),
                    format!(
                        "calls[{k}] is blocking after the async calls[{a}], which has no \
                         `then`: an async call frees the caller's slot and, without a step \
                         after its answer, the request does not come back to one, so no slot \
                         is left to hold while calls[{k}] waits; put blocking calls first, or \
                         give calls[{a}] a `then`"
                    ),
                );
                ok = false;
            }
            match (callee, entry(e, sc, &format!("{at}[{k}]"), c, callee)) {
                (Some(j), Some((count, then))) => plans.push(CallPlan {
                    service: j,
                    count,
                    mode: c.mode,
                    then,
                    // Set below, once all entries to the callee are seen.
                    max_connections: None,
                    primary: c.routing == Some(CallRouting::Primary),
                }),
                _ => ok = false,
            }
        }
        ok &= connection_pools(e, &at, &s.calls, &mut plans);
        if ok && let Some(plan) = services[i].as_mut() {
            plan.calls = plans;
        }
    }
    refuse_cycles(e, &names, &edges);
}

/// Whether service `i` may make calls: a caller's request holds one execution slot of its
/// own while it calls (blocking), which an LLM engine's or a dynamic batch's requests do not.
fn caller_can_call(e: &mut Errs, sc: &Scenario, i: usize) -> bool {
    let s = &sc.services[i];
    let at = format!("services[{i}].calls");
    if names_llm(sc, &s.model) {
        e.at(
            &at,
            format!(
                "service `{}` serves an LLM (model `{}`) with continuous batching: its requests \
                 share the engine's iterations instead of each holding a slot of its own, \
                 which a request that makes calls needs; calls from an LLM service are not \
                 supported",
                s.name, s.model
            ),
        );
        return false;
    }
    if matches!(s.batching, Some(BatchingSpec::Dynamic(_))) {
        e.at(
            &at,
            format!(
                "service `{}` batches its requests (batching: dynamic): a batch holds its slot \
                 for many requests at once, and a request that makes calls must hold a slot of \
                 its own; use batching: none on a service that makes calls",
                s.name
            ),
        );
        return false;
    }
    true
}

/// One entry's count and `then`, checked against its callee (index `callee`, if it exists);
/// `at` is the entry's path. None on an error, which it reports.
fn entry(
    e: &mut Errs,
    sc: &Scenario,
    at: &str,
    c: &CallSpec,
    callee: Option<usize>,
) -> Option<(CallCount, Option<crate::workload::Sampler>)> {
    let mut ok = true;
    if let Some(j) = callee {
        let target = &sc.services[j];
        if c.routing == Some(CallRouting::Primary) && target.kind != ServiceKind::Statefulset {
            e.at(
                &format!("{at}.routing"),
                format!(
                    "routing: primary sends the calls to ordinal 0 of a StatefulSet, and `{}` \
                     is a Deployment, whose replicas have no ordinals; make it kind: \
                     statefulset, or remove routing",
                    target.name
                ),
            );
            ok = false;
        }
    }
    if let Some(m) = c.max_connections
        && (m == 0 || m > limits::MAX_CONNECTIONS)
    {
        e.at(
            &format!("{at}.max_connections"),
            format!(
                "max_connections must be from 1 to {} (found {m})",
                limits::MAX_CONNECTIONS
            ),
        );
        ok = false;
    }
    let count = match (&c.count, c.probability) {
        (Some(_), Some(_)) => {
            e.at(
                &format!("{at}.probability"),
                "give `count` (calls per request) or `probability` (one call or none), not both",
            );
            None
        }
        (None, Some(p)) if (0.0..=1.0).contains(&p) => Some(CallCount::Probability(p)),
        (None, Some(p)) => {
            e.at(
                &format!("{at}.probability"),
                format!("probability must be from 0 to 1 (found {p})"),
            );
            None
        }
        (None, None) => Some(CallCount::Fixed(1)),
        (Some(d), None) => call_count(e, &format!("{at}.count"), d),
    };
    let then = match &c.then {
        None => Some(None),
        Some(t) => {
            let path = format!("{at}.then.service_time");
            match t
                .service_time
                .check()
                .and_then(|_| t.service_time.compile(&e.l.base_dir))
            {
                Ok(sampler) => Some(Some(sampler)),
                Err(err) => {
                    e.at_field(&path, err);
                    None
                }
            }
        }
    };
    match (ok, count, then) {
        (true, Some(count), Some(then)) => Some((count, then)),
        _ => None,
    }
}

/// A `count:` distribution: a fixed whole number, or a drawn count with a finite mean, each
/// at most [`limits::MAX_CALL_COUNT`].
fn call_count(e: &mut Errs, path: &str, d: &Dist<Count>) -> Option<CallCount> {
    if let Err(err) = d.check() {
        e.at_field(path, err);
        return None;
    }
    let most = limits::MAX_CALL_COUNT;
    if let Dist::Fixed(v) = d {
        if v.0.fract() != 0.0 || v.0 > most as f64 {
            e.at(
                path,
                format!(
                    "a fixed call count must be a whole number from 0 to {most} (found {})",
                    v.0
                ),
            );
            return None;
        }
        // Whole and in range: checked above.
        return Some(CallCount::Fixed(v.0 as u32));
    }
    match d.compile(&e.l.base_dir) {
        Err(err) => {
            e.at_field(path, err);
            None
        }
        Ok(s) if s.mean().is_finite() && s.mean() <= most as f64 => Some(CallCount::Drawn(s)),
        Ok(s) => {
            e.at(
                path,
                format!(
                    "the mean of a drawn call count must be at most {most} calls per request \
                     (found {})",
                    s.mean()
                ),
            );
            None
        }
    }
}

/// Connections from a caller replica to a callee form one pool, whichever entry calls: the
/// entries to one callee that give `max_connections` must agree, and every entry to it gets
/// that size. Returns whether they agree.
fn connection_pools(e: &mut Errs, at: &str, calls: &[CallSpec], plans: &mut [CallPlan]) -> bool {
    let mut ok = true;
    for (k, c) in calls.iter().enumerate() {
        let Some(m) = c.max_connections else { continue };
        let earlier = calls[..k]
            .iter()
            .enumerate()
            .find(|(_, d)| d.service == c.service && d.max_connections.is_some());
        if let Some((k0, d)) = earlier
            && d.max_connections != Some(m)
        {
            e.at(
                &format!("{at}[{k}].max_connections"),
                format!(
                    "calls[{k0}] and calls[{k}] both call `{}` with different max_connections \
                     ({} and {m}): a caller replica has one connection pool to a callee; give \
                     it once, or equal on both",
                    c.service,
                    d.max_connections.unwrap_or(0)
                ),
            );
            ok = false;
        }
    }
    if ok {
        let sizes: Vec<(usize, u32)> = plans
            .iter()
            .zip(calls)
            .filter_map(|(p, c)| c.max_connections.map(|m| (p.service, m as u32)))
            .collect();
        for p in plans.iter_mut() {
            p.max_connections = sizes.iter().find(|(j, _)| *j == p.service).map(|&(_, m)| m);
        }
    }
    ok
}

/// Refuses a cycle in the call graph, at the entry that closes it, naming the cycle
/// (`web -> db -> web`). Each service is entered once, so a graph with several cycles may
/// show one of them per strongly connected part.
fn refuse_cycles(e: &mut Errs, names: &[&str], edges: &[Vec<(usize, usize)>]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for root in 0..edges.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (service, next edge to follow).
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(top) = path.last_mut() {
            let (s, next) = *top;
            top.1 += 1;
            let Some(&(k, t)) = edges[s].get(next) else {
                mark[s] = Mark::Done;
                path.pop();
                continue;
            };
            match mark[t] {
                Mark::New => {
                    mark[t] = Mark::OnPath;
                    path.push((t, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|&(p, _)| p == t).unwrap_or(0);
                    let cycle: Vec<&str> = path[from..]
                        .iter()
                        .map(|&(p, _)| names[p])
                        .chain([names[t]])
                        .collect();
                    e.at(
                        &format!("services[{s}].calls[{k}].service"),
                        format!(
                            "the calls form a cycle ({}): a request would wait on itself; \
                             the call graph must have no cycle",
                            cycle.join(" -> ")
                        ),
                    );
                }
                Mark::Done => {}
            }
        }
    }
}
