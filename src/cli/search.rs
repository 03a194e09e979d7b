//! `capsim search`: the largest load per GPU that meets a service's SLO.

use super::Outcome;
use crate::report::fmt_num;
use crate::report::folder::Staged;
use crate::scenario::{InputErrors, LoadError};
use crate::sweep::search::{
    Candidate, LoadKind, MAX_TARGET, PointSearch, Search, SearchResult, Sizing, SweepSearch,
    Target, cheapest, cheapest_for,
};
use clap::Args;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `capsim search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The scenario file; with a `sweep:` block, one search per point and a table of which
    /// point is cheapest at the SLO.
    pub scenario: PathBuf,
    /// The service whose SLO must hold; the load of its first workload is searched.
    #[arg(long)]
    pub service: String,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write search.json, charts (PNG and SVG) and index.html into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Size for this arrival rate (requests per second, open loop): GPUs and replicas.
    #[arg(long, value_name = "R", conflicts_with = "target_users")]
    pub target_rate: Option<f64>,
    /// Size for this many users (closed loop): GPUs and replicas.
    #[arg(long, value_name = "U")]
    pub target_users: Option<u64>,
    /// Overrides of scenario fields.
    #[command(flatten)]
    pub overrides: super::Overrides,
}

fn flag_error(file: &str, flag: &str, message: String) -> InputErrors {
    InputErrors(vec![LoadError::unplaced(file, flag, message)])
}

pub(super) fn run(args: SearchArgs) -> anyhow::Result<Outcome> {
    let file = args.scenario.display().to_string();
    let overrides = args.overrides.to_list();
    // As InputErrors, so that an unreadable file is bad input (exit 2).
    let bytes = crate::scenario::read_file(&args.scenario).map_err(InputErrors::from)?;
    let base_dir = args.scenario.parent().unwrap_or(Path::new("."));
    if let Some(sweep) =
        SweepSearch::from_bytes(&file, bytes.clone(), base_dir, &overrides, &args.service)?
    {
        return run_sweep(&args, &file, &sweep);
    }
    let search = Search::from_bytes(&file, bytes, base_dir, &overrides, &args.service)?;
    let target = target(&args, &file, search.kind())?;
    let staged = stage_out(&args)?;
    // Progress, one line per candidate, only for a person watching a terminal.
    let show = std::io::stderr().is_terminal();
    let closed = search.kind().is_closed();
    let result = search.run(|c: &Candidate| {
        if show {
            eprintln!("  {}", tried_text(closed, c));
        }
    })?;
    warn_one_replication(&result);
    let sizing = target.and_then(|t| result.size_for(t));
    let (json, text) = (to_json(&result, sizing), to_text(&result, sizing));
    if let (Some(dir), Some(staged)) = (&args.out, staged) {
        let title = format!("{}: capacity search on {}", result.scenario, result.service);
        let searches = [(result.service.clone(), &result)];
        write_out(dir, staged, &title, &json, &text, &searches, None)?;
    }
    if args.json {
        super::emitln(&serde_json::to_string_pretty(&json)?);
    } else {
        super::emit(&text);
    }
    // No load met the SLO: the answer is "none", a failed gate (exit 1).
    Ok(if result.best.is_some() {
        Outcome::Ok
    } else {
        Outcome::ChecksFailed
    })
}

/// The `--target-*` flag, checked against the kind of load searched.
fn target(args: &SearchArgs, file: &str, kind: &LoadKind) -> Result<Option<Target>, InputErrors> {
    let too_large = |flag: &str, unit: &str, found: String| {
        flag_error(
            file,
            flag,
            format!(
                "must be at most {} {unit} (the largest target capsim sizes for), found {found}",
                fmt_num(MAX_TARGET),
            ),
        )
    };
    Ok(match (args.target_rate, args.target_users, kind) {
        (Some(r), _, LoadKind::Open { .. }) if r.is_finite() && r > 0.0 && r <= MAX_TARGET => {
            Some(Target::RateRps(r))
        }
        (Some(r), _, LoadKind::Open { .. }) if r > MAX_TARGET => {
            return Err(too_large(
                "--target-rate",
                "requests per second",
                fmt_num(r),
            ));
        }
        (Some(r), _, LoadKind::Open { .. }) => {
            return Err(flag_error(
                file,
                "--target-rate",
                format!("must be a positive number of requests per second, found {r}"),
            ));
        }
        (Some(_), _, LoadKind::Closed { .. }) => {
            return Err(flag_error(
                file,
                "--target-rate",
                "the service's first workload is a closed loop: size it with --target-users".into(),
            ));
        }
        (None, Some(u), LoadKind::Closed { .. }) if u as f64 > MAX_TARGET => {
            return Err(too_large("--target-users", "users", u.to_string()));
        }
        (None, Some(u), LoadKind::Closed { .. }) if u > 0 => Some(Target::Users(u)),
        (None, Some(_), LoadKind::Closed { .. }) => {
            return Err(flag_error(
                file,
                "--target-users",
                "must be at least 1".into(),
            ));
        }
        (None, Some(_), LoadKind::Open { .. }) => {
            return Err(flag_error(
                file,
                "--target-users",
                "the service's first workload is an open loop: size it with --target-rate".into(),
            ));
        }
        (None, None, _) => None,
    })
}

fn warn_one_replication(r: &SearchResult) {
    if r.replications < 2 {
        eprintln!(
            "capsim: warning: one replication gives no confidence interval; the SLO was judged on single values (use --replications 5 or more)"
        );
    }
}

fn tried_text(closed: bool, c: &Candidate) -> String {
    format!(
        "tried {}: {}",
        load_text(closed, c),
        if c.pass {
            "meets the SLO"
        } else {
            "misses the SLO"
        }
    )
}

/// A search at every point of the scenario's `sweep:` grid, and the comparison table.
fn run_sweep(args: &SearchArgs, file: &str, sweep: &SweepSearch) -> anyhow::Result<Outcome> {
    let target = target(args, file, sweep.kind())?;
    let staged = stage_out(args)?;
    let show = std::io::stderr().is_terminal();
    let closed = sweep.kind().is_closed();
    let labels: Vec<String> = (0..sweep.len()).map(|i| sweep.label(i)).collect();
    let points = sweep.run(|i, c| {
        if show {
            eprintln!(
                "  {} with {}: {}",
                crate::sweep::point_name(i, labels.len()),
                labels[i],
                tried_text(closed, c)
            );
        }
    })?;
    warn_one_replication(&points[0].result);
    warn_prices(&points);
    let best = cheapest(&points);
    let json = sweep_json(&sweep.axes, &points, best, target);
    let text = sweep_text(&sweep.axes, &points, best, target);
    if let (Some(dir), Some(staged), Some(first)) = (&args.out, staged, points.first()) {
        let title = format!(
            "{}: capacity search on {} at each sweep point",
            first.result.scenario, first.result.service
        );
        // Bars are named by the point's values alone; the paths are in the table.
        let searches: Vec<(String, &SearchResult)> = points
            .iter()
            .map(|p| {
                let values: Vec<&str> = p.values.iter().map(|v| v.1.as_str()).collect();
                (values.join(" "), &p.result)
            })
            .collect();
        write_out(dir, staged, &title, &json, &text, &searches, best)?;
    }
    if args.json {
        super::emitln(&serde_json::to_string_pretty(&json)?);
    } else {
        super::emit(&text);
    }
    Ok(if points.iter().any(|p| p.result.best.is_some()) {
        Outcome::Ok
    } else {
        Outcome::ChecksFailed
    })
}

/// The `--out` folder made sure of, before the search: an unwritable one would lose it.
fn stage_out(args: &SearchArgs) -> Result<Option<Staged>, InputErrors> {
    args.out
        .as_ref()
        .map(|dir| super::stage(dir, crate::report::folder::Kind::Run))
        .transpose()
}

/// Writes `--out` (through its temporary folder `staged`); a folder that cannot be written is
/// the user's to fix (exit 2).
fn write_out(
    dir: &Path,
    staged: Staged,
    title: &str,
    json: &Value,
    text: &str,
    searches: &[(String, &SearchResult)],
    highlight: Option<usize>,
) -> Result<(), InputErrors> {
    crate::report::write_search(staged.path(), title, json, text, searches, highlight)
        .map_err(|e| super::out_error(dir, e))?;
    staged.commit().map_err(|m| super::out_refused(dir, m))
}

/// Costs compare only between points with real prices: say when they are not.
fn warn_prices(points: &[PointSearch]) {
    let unpriced: Vec<usize> = points
        .iter()
        .filter(|p| p.result.best.is_some() && !p.result.priced())
        .map(|p| p.index)
        .collect();
    if !unpriced.is_empty() {
        eprintln!(
            "capsim: note: no price_per_gpu_hour or price_per_node_hour at {}: its costs read 0 and it is not compared",
            crate::sweep::points_name(&unpriced, points.len())
        );
    }
    // capsim has no built-in prices: a sweep over GPU types that leaves the pool's one price
    // in place makes every GPU cost the same per hour, and the largest GPU look cheapest.
    for (i, a) in points.iter().enumerate() {
        if let Some(b) = points[i + 1..].iter().find(|b| {
            b.result.gpu != a.result.gpu
                && b.result.price_per_gpu_hour > 0.0
                && b.result.price_per_gpu_hour == a.result.price_per_gpu_hour
        }) {
            eprintln!(
                "capsim: note: points {} ({}) and {} ({}) of {} (0-based) have the same price_per_gpu_hour ({}); \
                 sweep node_pools.{}.price_per_gpu_hour alongside the GPU (mode: zip) to compare real prices",
                a.index,
                a.result.gpu,
                b.index,
                b.result.gpu,
                points.len(),
                fmt_num(a.result.price_per_gpu_hour),
                a.result.pool
            );
            return;
        }
    }
}

/// A figure, or `-` when there is none (NaN, or infinite from a division by zero GPUs):
/// never a blank.
fn cell(x: f64) -> String {
    if x.is_finite() {
        fmt_num(x)
    } else {
        "-".to_string()
    }
}

/// An SLO term's judged value; NaN means the metric was never measured.
fn measured_text(x: f64) -> String {
    if x.is_finite() {
        fmt_num(x)
    } else {
        "not measured (no request completed)".to_string()
    }
}

/// What a sizing says when the target needs more replicas than one service may have.
fn infeasible_text() -> String {
    format!(
        "no feasible count: more than {} replicas (the most one service may have) would be needed at the load one replica meets the SLO with",
        crate::report::search::MAX_REPLICAS
    )
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

fn to_json(r: &SearchResult, sizing: Option<Sizing>) -> Value {
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
    if r.cpu_only() {
        out.insert("replicas".into(), num(r.replicas()));
        out.insert("cpus".into(), num(r.cpus()));
    }
    if r.priced() {
        out.insert("cost_per_hour".into(), num(r.cost_per_hour()));
    }
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
    if let Some((tier, u)) = r.binding_tier() {
        out.insert(
            "binding_tier".into(),
            json!({"service": tier, "utilization": num(u)}),
        );
    }
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
        let mut target = json!({
            key: num(s.target),
            "replicas": s.replicas,
            "feasible": s.replicas.is_some(),
            "gpus": num(s.gpus),
            "assumes": "capacity linear in replicas (exact for per-replica routing)",
        });
        if let Value::Object(o) = &mut target {
            if let Some(tier) = other_binding_tier(r, s.target) {
                o.insert("limited_by".into(), json!(tier));
            }
            if r.cpu_only() {
                o.insert("cpus".into(), num(s.cpus));
            }
            if r.priced() {
                o.insert("cost_per_hour".into(), num(s.cost_per_hour));
            }
        }
        out.insert("target".into(), target);
    }
    Value::Object(out)
}

/// What was searched and the rule: the first lines of the text output. `at` says where
/// (empty, or which sweep points).
fn heading(r: &SearchResult, at: &str) -> String {
    let what = match &r.kind {
        LoadKind::Closed { .. } => "users of a closed loop".to_string(),
        LoadKind::Open { process, .. } => format!("arrival rate ({process})"),
    };
    let slo: Vec<String> = r
        .slo
        .iter()
        .map(|(m, b)| format!("{m} <= {}", fmt_num(*b)))
        .collect();
    // One replication has no interval: the search judges the mean then.
    let judged = if r.replications >= 2 {
        format!(
            "each at the upper end of its 95% CI over {} replications",
            r.replications
        )
    } else {
        "each at its mean: one replication, no confidence interval".to_string()
    };
    format!(
        "search: service {} of scenario {}{at}, load: {what} of workloads[{}]\n\
         SLO: {} ({judged}; no saturation)\n",
        r.service,
        r.scenario,
        r.workload,
        slo.join(", "),
    )
}

fn to_text(r: &SearchResult, sizing: Option<Sizing>) -> String {
    let closed = r.kind.is_closed();
    let mut t = heading(r, "");
    t.push('\n');
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
            Some(b) => format!(
                "{} {} / {}",
                b.metric,
                measured_text(b.value),
                fmt_num(b.bound)
            ),
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
        row(&mut t, "max_rate_rps", cell(r.max_rate_rps()));
    }
    if r.service.starts_with("training/") {
        // Jobs, not requests: the rate per hour reads better, and per-GPU request figures
        // do not apply.
        row(&mut t, "max_jobs_per_hour", cell(r.max_rate_rps() * 3600.0));
        for m in ["wait_mean_s", "wait_p95_s", "gpu_allocation"] {
            let v = r
                .best
                .map_or(f64::NAN, |i| r.candidates[i].report.mean(&r.service, m));
            row(&mut t, m, cell(v));
        }
        if let Some(b) = r.binding() {
            row(&mut t, "binding_slo_term", b.metric.to_string());
        }
        return t;
    }
    if r.cpu_only() {
        // No GPU: per-GPU figures say nothing; the size is replicas and their CPUs.
        row(&mut t, "replicas", cell(r.replicas()));
        row(&mut t, "cpus", cell(r.cpus()));
        row(&mut t, "throughput_rps", cell(r.throughput_rps()));
    } else {
        row(&mut t, "gpus", cell(r.gpus()));
        row(&mut t, "throughput_rps", cell(r.throughput_rps()));
        row(&mut t, "rps_per_gpu", cell(r.rps_per_gpu()));
        if closed {
            row(&mut t, "users_per_gpu", cell(r.users_per_gpu()));
        }
    }
    if r.priced() {
        row(&mut t, "cost_per_hour", cell(r.cost_per_hour()));
    }
    row(
        &mut t,
        "cost_per_1k_requests",
        cell(r.cost_per_1k_requests()),
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
            measured_text(b.value),
            fmt_num(b.bound)
        ),
        None => "none failed up to the search limit: the maximum is a lower bound".into(),
    };
    row(&mut t, "binding SLO term", binding);
    if let Some((tier, u)) = r.binding_tier() {
        row(
            &mut t,
            "binding tier",
            format!("{tier} (utilization {})", fmt_num(u)),
        );
    }
    if let Some(s) = sizing {
        let target = if closed {
            format!("{} users", fmt_num(s.target))
        } else {
            format!("{}/s", fmt_num(s.target))
        };
        match s.replicas {
            Some(replicas) => {
                let size = if r.cpu_only() {
                    format!("{} CPUs", fmt_num(s.cpus))
                } else {
                    format!("{} GPUs", fmt_num(s.gpus))
                };
                let cost = if r.priced() {
                    format!(", ${} per hour", fmt_num(s.cost_per_hour))
                } else {
                    String::new()
                };
                t.push_str(&format!(
                    "\nfor {target}: {replicas} replicas, {size}{cost} (assumes capacity grows linearly with replicas, which holds for per-replica routing; a shared queue does slightly better)\n"
                ));
                if let Some(tier) = other_binding_tier(r, s.target) {
                    t.push_str(&format!(
                        "but the binding tier is `{tier}`, not `{}`: more replicas of `{}` do not carry more than `{tier}` does (its utilization reaches 1 first); give `{tier}` more capacity (replicas, slots) and search again\n",
                        r.service, r.service
                    ));
                }
            }
            None => t.push_str(&format!("\nfor {target}: {}\n", infeasible_text())),
        }
    }
    t
}

/// Per point: the single search's JSON, plus the point's values and its prices.
fn sweep_json(
    axes: &[String],
    points: &[PointSearch],
    best: Option<usize>,
    target: Option<Target>,
) -> Value {
    let first = &points[0].result;
    let closed = first.kind.is_closed();
    let rows: Vec<Value> = points
        .iter()
        .map(|p| {
            let r = &p.result;
            let sizing = target.and_then(|t| r.size_for(t));
            let mut v = to_json(r, sizing);
            let values: serde_json::Map<String, Value> = p
                .values
                .iter()
                .map(|(k, x)| (k.clone(), json!(x)))
                .collect();
            if let Value::Object(o) = &mut v {
                o.insert("index".into(), json!(p.index));
                o.insert("values".into(), Value::Object(values));
                o.insert("pool".into(), json!(r.pool));
                o.insert("gpu".into(), json!(r.gpu));
                o.insert("price_per_gpu_hour".into(), num(r.price_per_gpu_hour));
                if r.price_per_node_hour > 0.0 {
                    o.insert("price_per_node_hour".into(), num(r.price_per_node_hour));
                }
                o.insert("cost_per_hour".into(), num(r.cost_per_hour()));
                o.insert("cost_per_user_hour".into(), num(r.cost_per_user_hour()));
                if let (Some(s), Some(Value::Object(t))) = (sizing, o.get_mut("target")) {
                    t.insert("cost_per_hour".into(), num(s.cost_per_hour));
                }
            }
            v
        })
        .collect();
    json!({
        "scenario": first.scenario,
        "service": first.service,
        "load": if closed { "users" } else { "arrival_rate" },
        "axes": axes,
        "price_source": "price_per_gpu_hour (and price_per_node_hour, a replica paying its share of a node) of the service's node pool at each point (no built-in prices)",
        "compared_by": comparison_name(closed),
        "points": rows,
        "cheapest": best,
        "cheapest_for_target": target.map(|t| cheapest_for(points, t)),
    })
}

fn comparison_name(closed: bool) -> &'static str {
    if closed {
        "cost_per_user_hour"
    } else {
        "cost_per_1k_requests"
    }
}

/// One row per point, the cheapest marked `*`, and a verdict line.
fn sweep_text(
    axes: &[String],
    points: &[PointSearch],
    best: Option<usize>,
    target: Option<Target>,
) -> String {
    let first = &points[0].result;
    let closed = first.kind.is_closed();
    let mut t = heading(first, &format!(" at each of {} sweep points", points.len()));
    let pools: Vec<&str> = {
        let mut v: Vec<&str> = points.iter().map(|p| p.result.pool.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    t.push_str(&format!(
        "prices: price_per_gpu_hour of node pool {} at each point (capsim has no built-in GPU prices)\n",
        pools
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let target_text = target.map(|t| match t {
        Target::Users(u) => format!("{u} users"),
        Target::RateRps(r) => format!("{}/s", fmt_num(r)),
    });
    if let Some(tt) = &target_text {
        t.push_str(&format!(
            "target: {tt} (replicas = ceil(target / max load per replica), assuming capacity grows linearly with replicas)\n",
        ));
    }
    t.push('\n');
    let mut headers: Vec<&str> = vec![""];
    headers.extend(axes.iter().map(String::as_str));
    headers.push(if closed { "max_users" } else { "max_rate_rps" });
    headers.extend(["gpus", "rps_per_gpu"]);
    if closed {
        headers.push("users_per_gpu");
    }
    headers.extend(["cost_per_hour", "cost_per_1k_requests"]);
    if closed {
        headers.push("cost_per_user_hour");
    }
    if target.is_some() {
        headers.extend(["target_replicas", "target_gpus", "target_cost_per_hour"]);
    }
    headers.push("binding SLO term");
    let rows: Vec<Vec<String>> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let r = &p.result;
            let mut row = vec![if best == Some(i) { "*" } else { "" }.to_string()];
            row.extend(p.values.iter().map(|(_, v)| v.clone()));
            row.push(match (r.best, closed) {
                (None, _) => "none".to_string(),
                (Some(_), true) => cell(r.max_users().map_or(f64::NAN, |u| u as f64)),
                (Some(_), false) => cell(r.max_rate_rps()),
            });
            row.extend([cell(r.gpus()), cell(r.rps_per_gpu())]);
            if closed {
                row.push(cell(r.users_per_gpu()));
            }
            row.extend([cell(r.cost_per_hour()), cell(r.cost_per_1k_requests())]);
            if closed {
                row.push(cell(r.cost_per_user_hour()));
            }
            if let Some(target) = target {
                match r.size_for(target) {
                    Some(s) => row.extend([
                        s.replicas.map_or_else(
                            || format!("> {}", crate::report::search::MAX_REPLICAS),
                            |n| n.to_string(),
                        ),
                        cell(s.gpus),
                        cell(s.cost_per_hour),
                    ]),
                    None => row.extend(["-".to_string(), "-".to_string(), "-".to_string()]),
                }
            }
            row.push(match r.binding() {
                Some(b) => b.metric,
                None if r.best.is_some() => "none up to the search limit".into(),
                None => "-".into(),
            });
            row
        })
        .collect();
    t.push_str(&crate::hardware::render_table(&headers, &rows));
    t.push('\n');
    let compared = comparison_name(closed);
    match best {
        Some(i) => {
            let p = &points[i];
            let (cost, unit) = if closed {
                (p.result.cost_per_user_hour(), "per user-hour")
            } else {
                (p.result.cost_per_1k_requests(), "per 1,000 requests")
            };
            t.push_str(&format!(
                "* cheapest at the SLO: {}, ${} {unit}\n",
                p.label(),
                fmt_num(cost)
            ));
        }
        None if points.iter().all(|p| p.result.best.is_none()) => {
            t.push_str("no point meets the SLO at any load tried\n");
        }
        None => t.push_str(&format!(
            "no point that meets the SLO has a price_per_gpu_hour or price_per_node_hour: {compared} cannot be compared\n"
        )),
    }
    if let (Some(target), Some(tt)) = (target, target_text) {
        let sized = cheapest_for(points, target).and_then(|i| {
            let s = points[i].result.size_for(target)?;
            Some((&points[i], s.replicas?, s))
        });
        match sized {
            Some((p, replicas, s)) => t.push_str(&format!(
                "  cheapest for {tt}: {}, {replicas} replicas, ${} per hour (whole replicas)\n",
                p.label(),
                fmt_num(s.cost_per_hour)
            )),
            None if {
                let sizings: Vec<Sizing> = points
                    .iter()
                    .filter_map(|p| p.result.size_for(target))
                    .collect();
                !sizings.is_empty() && sizings.iter().all(|s| s.replicas.is_none())
            } =>
            {
                t.push_str(&format!("  for {tt}: {}\n", infeasible_text()));
            }
            None => {}
        }
    }
    t
}

/// The binding tier when it is another service than the searched one and `target` is above
/// the maximum load found: more replicas of the searched service alone do not reach it.
fn other_binding_tier(r: &SearchResult, target: f64) -> Option<String> {
    let max = if r.kind.is_closed() {
        r.max_users().map_or(f64::NAN, |u| u as f64)
    } else {
        r.max_rate_rps()
    };
    let (tier, _) = r.binding_tier()?;
    (tier != r.service && target > max).then_some(tier)
}
