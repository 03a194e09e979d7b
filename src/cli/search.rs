//! `capsim search`: the largest load per GPU that meets a service's SLO.

use super::Outcome;
use crate::report::fmt_num;
use crate::scenario::{InputErrors, LoadError};
use crate::search::{Candidate, LoadKind, Search, SearchResult, Target};
use clap::Args;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `capsim search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The service whose SLO must hold; the load of its first workload is searched.
    #[arg(long)]
    pub service: String,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Size for this arrival rate (requests per second, open loop): GPUs and replicas.
    #[arg(long, value_name = "R", conflicts_with = "target_users")]
    pub target_rate: Option<f64>,
    /// Size for this many users (closed loop): GPUs and replicas.
    #[arg(long, value_name = "U")]
    pub target_users: Option<u64>,
    /// Override the number of replications of each candidate.
    #[arg(long)]
    pub replications: Option<u32>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override any field by dotted path, e.g. `services.chat.replicas=4`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

fn flag_error(file: &str, flag: &str, message: String) -> InputErrors {
    InputErrors(vec![LoadError {
        file: file.to_string(),
        line: 0,
        col: 0,
        field: flag.into(),
        message,
    }])
}

pub(super) fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    let file = args.scenario.display().to_string();
    let mut overrides = args.set.clone();
    if let Some(r) = args.replications {
        overrides.push(format!("replications={r}"));
    }
    if let Some(s) = args.seed {
        overrides.push(format!("seed={s}"));
    }
    let search = Search::from_file(&args.scenario, &overrides, &args.service)?;
    let target = match (args.target_rate, args.target_users, search.kind()) {
        (Some(r), _, LoadKind::Open { .. }) if r.is_finite() && r > 0.0 => Some(Target::RateRps(r)),
        (Some(r), _, LoadKind::Open { .. }) => {
            return Err(flag_error(
                &file,
                "--target-rate",
                format!("must be a positive number of requests per second, found {r}"),
            )
            .into());
        }
        (Some(_), _, LoadKind::Closed { .. }) => {
            return Err(flag_error(
                &file,
                "--target-rate",
                "the service's first workload is a closed loop: size it with --target-users".into(),
            )
            .into());
        }
        (None, Some(u), LoadKind::Closed { .. }) if u > 0 => Some(Target::Users(u)),
        (None, Some(_), LoadKind::Closed { .. }) => {
            return Err(flag_error(&file, "--target-users", "must be at least 1".into()).into());
        }
        (None, Some(_), LoadKind::Open { .. }) => {
            return Err(flag_error(
                &file,
                "--target-users",
                "the service's first workload is an open loop: size it with --target-rate".into(),
            )
            .into());
        }
        (None, None, _) => None,
    };
    // Progress, one line per candidate, only for a person watching a terminal.
    let show = std::io::stderr().is_terminal();
    let closed = search.kind().is_closed();
    let result = search.run(|c: &Candidate| {
        if show {
            eprintln!(
                "  tried {}: {}",
                load_text(closed, c),
                if c.pass {
                    "meets the SLO"
                } else {
                    "misses the SLO"
                }
            );
        }
    })?;
    if result.replications < 2 {
        eprintln!(
            "capsim: warning: one replication gives no confidence interval; the SLO was judged on single values (use --replications 5 or more)"
        );
    }
    let sizing = target.and_then(|t| result.size_for(t));
    if args.json {
        super::emitln(&serde_json::to_string_pretty(&to_json(&result, sizing))?);
    } else {
        super::emit(&to_text(&result, sizing));
    }
    // No load met the SLO: the answer is "none", a failed gate (exit 1).
    Ok(if result.best.is_some() {
        Outcome::Ok
    } else {
        Outcome::ChecksFailed
    })
}

fn load_text(closed: bool, c: &Candidate) -> String {
    if closed {
        format!("{} users", c.load as u64)
    } else {
        format!("{}/s", fmt_num(c.rate_rps))
    }
}

/// NaN and infinities become JSON null.
fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn to_json(r: &SearchResult, sizing: Option<crate::search::Sizing>) -> Value {
    let closed = r.kind.is_closed();
    let mut out = serde_json::Map::new();
    out.insert("scenario".into(), json!(r.scenario));
    out.insert("service".into(), json!(r.service));
    out.insert("workload".into(), json!(r.workload));
    out.insert(
        "load".into(),
        json!(if closed { "users" } else { "arrival_rate" }),
    );
    if closed {
        out.insert("max_users".into(), json!(r.max_users()));
    } else {
        out.insert("max_rate_rps".into(), num(r.max_rate_rps()));
    }
    out.insert("gpus".into(), num(r.gpus()));
    out.insert("throughput_rps".into(), num(r.throughput_rps()));
    out.insert("rps_per_gpu".into(), num(r.rps_per_gpu()));
    out.insert("users_per_gpu".into(), num(r.users_per_gpu()));
    out.insert("cost_per_1k_requests".into(), num(r.cost_per_1k_requests()));
    out.insert(
        "binding_slo_term".into(),
        match r.binding() {
            Some(b) => json!({
                "metric": b.metric,
                "value": num(b.value),
                "bound": num(b.bound),
                "at": num(r.binding_load()),
            }),
            None => Value::Null,
        },
    );
    let best = r.best.map(|i| &r.candidates[i]);
    out.insert(
        "slo".into(),
        Value::Array(
            r.slo
                .iter()
                .map(|(m, bound)| {
                    let at_max = best
                        .and_then(|c| c.terms.iter().find(|t| t.metric == *m))
                        .map_or(f64::NAN, |t| t.value);
                    json!({"metric": m, "bound": num(*bound), "value_at_max": num(at_max)})
                })
                .collect(),
        ),
    );
    out.insert("replications".into(), json!(r.replications));
    out.insert(
        "candidates".into(),
        Value::Array(
            r.candidates
                .iter()
                .map(|c| {
                    let load = if closed { c.load } else { c.rate_rps };
                    json!({"load": num(load), "pass": c.pass})
                })
                .collect(),
        ),
    );
    if let Some(s) = sizing {
        let key = if closed { "users" } else { "rate_rps" };
        out.insert(
            "target".into(),
            json!({
                key: num(s.target),
                "replicas": s.replicas,
                "gpus": num(s.gpus),
                "assumes": "capacity linear in replicas (exact for per-replica routing)",
            }),
        );
    }
    Value::Object(out)
}

fn to_text(r: &SearchResult, sizing: Option<crate::search::Sizing>) -> String {
    let closed = r.kind.is_closed();
    let mut t = String::new();
    let what = match &r.kind {
        LoadKind::Closed { .. } => "users of a closed loop".to_string(),
        LoadKind::Open { process, .. } => format!("arrival rate ({process})"),
    };
    t.push_str(&format!(
        "search: service {} of scenario {}, load: {what} of workloads[{}]\n",
        r.service, r.scenario, r.workload
    ));
    let slo: Vec<String> = r
        .slo
        .iter()
        .map(|(m, b)| format!("{m} <= {}", fmt_num(*b)))
        .collect();
    t.push_str(&format!(
        "SLO: {} (each at the upper end of its 95% CI over {} replications; no saturation)\n\n",
        slo.join(", "),
        r.replications
    ));
    t.push_str(&format!(
        "{:>16}  {:<6}  {}\n",
        if closed { "users" } else { "rate_rps" },
        "SLO",
        "worst term (value / bound)"
    ));
    for c in &r.candidates {
        let load = if closed {
            (c.load as u64).to_string()
        } else {
            fmt_num(c.rate_rps)
        };
        let worst = match c.binding() {
            Some(b) if b.metric == "saturated" => {
                format!("saturated in {} replications", b.value as u64)
            }
            Some(b) => format!("{} {} / {}", b.metric, fmt_num(b.value), fmt_num(b.bound)),
            None => String::new(),
        };
        t.push_str(&format!(
            "{load:>16}  {:<6}  {worst}\n",
            if c.pass { "met" } else { "missed" }
        ));
    }
    t.push('\n');
    let Some(_) = r.best else {
        t.push_str("no load tried meets the SLO\n");
        return t;
    };
    let row = |t: &mut String, k: &str, v: String| t.push_str(&format!("{k:<22} {v}\n"));
    if closed {
        row(
            &mut t,
            "max_users",
            r.max_users().map_or(String::new(), |u| u.to_string()),
        );
    } else {
        row(&mut t, "max_rate_rps", fmt_num(r.max_rate_rps()));
    }
    row(&mut t, "gpus", fmt_num(r.gpus()));
    row(&mut t, "throughput_rps", fmt_num(r.throughput_rps()));
    row(&mut t, "rps_per_gpu", fmt_num(r.rps_per_gpu()));
    if closed {
        row(&mut t, "users_per_gpu", fmt_num(r.users_per_gpu()));
    }
    row(
        &mut t,
        "cost_per_1k_requests",
        fmt_num(r.cost_per_1k_requests()),
    );
    let at = if closed {
        format!("{} users", fmt_num(r.binding_load()))
    } else {
        format!("{}/s", fmt_num(r.binding_load()))
    };
    let binding = match r.binding() {
        Some(b) if b.metric == "saturated" => format!("saturation (at {at})"),
        Some(b) => format!(
            "{} {} > {} (at {at})",
            b.metric,
            fmt_num(b.value),
            fmt_num(b.bound)
        ),
        None => "none failed up to the search limit: the maximum is a lower bound".into(),
    };
    row(&mut t, "binding SLO term", binding);
    if let Some(s) = sizing {
        let target = if closed {
            format!("{} users", fmt_num(s.target))
        } else {
            format!("{}/s", fmt_num(s.target))
        };
        t.push_str(&format!(
            "\nfor {target}: {} replicas, {} GPUs (assumes capacity grows linearly with replicas, which holds for per-replica routing; a shared queue does slightly better)\n",
            s.replicas,
            fmt_num(s.gpus)
        ));
    }
    t
}
