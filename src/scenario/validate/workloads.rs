//! `workloads:`: the service each one loads, its arrival process and request sizes, and the
//! expected number of arrivals.

use super::models::names_llm;
use super::{Errs, did_you_mean};
use crate::scenario::types::{Scenario, limits};
use crate::sim::plan::{Load, WorkloadPlan};
use crate::workload::ArrivalSpec;
use crate::workload::arrivals::{self, Arrivals};

/// `workloads:`, the valid ones (those naming a known service).
pub(super) fn resolve(e: &mut Errs, sc: &Scenario, service_names: &[&str]) -> Vec<WorkloadPlan> {
    let l = e.l;
    let mut workloads = Vec::new();
    let horizon = sc.duration.0;
    let mut expected_arrivals = 0.0;
    let reaches_llm = llm_reached(sc);
    for (i, w) in sc.workloads.iter().enumerate() {
        let at = |f: &str| format!("workloads[{i}].{f}");
        let svc = sc.services.iter().position(|s| s.name == w.service);
        if svc.is_none() {
            e.at(
                &at("service"),
                format!(
                    "unknown service `{}`{}",
                    w.service,
                    did_you_mean(&w.service, service_names)
                ),
            );
        }
        if let Err(err) = w.arrivals.check() {
            e.at_field(&at("arrivals"), err);
            continue;
        }
        let mut sizes = Vec::new();
        for (field, d) in [
            ("prompt_tokens", &w.prompt_tokens),
            ("output_tokens", &w.output_tokens),
        ] {
            sizes.push(match d {
                None => None,
                Some(d) => match d.check().and_then(|_| d.compile(&l.base_dir)) {
                    Ok(s) => Some(s),
                    Err(err) => {
                        e.at_field(&at(field), err);
                        None
                    }
                },
            });
        }
        let load = match arrivals::compile(&w.arrivals, &w.service, &l.base_dir) {
            Ok(Arrivals::Open(p)) => {
                expected_arrivals += p.mean_rate(horizon) * horizon.as_secs_f64();
                Load::Open(p)
            }
            Ok(Arrivals::Closed(c)) => Load::Closed {
                users: c.users,
                think: c.think_time,
            },
            Err(msg) => {
                e.at(&at("arrivals"), msg);
                continue;
            }
        };
        if let Some(si) = svc {
            let trace = matches!(w.arrivals, ArrivalSpec::Trace { .. });
            if let Some(llm) = &reaches_llm[si]
                && !trace
            {
                // A call carries its user's request's tokens to the LLM it reaches.
                let runs = if *llm == w.service {
                    format!("service `{}` runs an LLM", w.service)
                } else {
                    format!(
                        "service `{}` calls `{llm}` (directly or through other services), \
                         which runs an LLM on the tokens of the user's request",
                        w.service
                    )
                };
                for (field, d) in [
                    ("prompt_tokens", &w.prompt_tokens),
                    ("output_tokens", &w.output_tokens),
                ] {
                    if d.is_none() {
                        e.at(
                            &format!("workloads[{i}]"),
                            format!(
                                "{runs}: give `{field}` (a distribution, e.g. `{{lognormal: {{mean: 512, sd: 256}}}}`) or a trace with that column"
                            ),
                        );
                    }
                }
            }
        }
        if let Some(svc) = svc {
            workloads.push(WorkloadPlan {
                service: svc,
                load,
                prompt_tokens: sizes[0].clone(),
                output_tokens: sizes[1].clone(),
            });
        }
    }
    if expected_arrivals > limits::MAX_EXPECTED_ARRIVALS {
        e.at(
            "workloads",
            format!(
                "about {expected_arrivals:.3e} arrivals per replication: the limit is {:.0e}; shorten the duration or lower the rates",
                limits::MAX_EXPECTED_ARRIVALS
            ),
        );
    }
    workloads
}

/// Per service, the LLM service its requests reach (itself, or one it calls directly or
/// through others), if any: those requests need token counts. Found by relaxing over the call
/// graph at most once per service, so a cycle (refused elsewhere) cannot loop.
fn llm_reached(sc: &Scenario) -> Vec<Option<String>> {
    let n = sc.services.len();
    let mut reached: Vec<Option<String>> = sc
        .services
        .iter()
        .map(|s| names_llm(sc, &s.model).then(|| s.name.clone()))
        .collect();
    for _ in 0..n {
        let mut changed = false;
        for (i, s) in sc.services.iter().enumerate() {
            if reached[i].is_some() {
                continue;
            }
            let found = s.calls.iter().find_map(|c| {
                let j = sc.services.iter().position(|t| t.name == c.service)?;
                reached[j].clone()
            });
            if found.is_some() {
                reached[i] = found;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    reached
}
