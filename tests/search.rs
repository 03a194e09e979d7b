//! `capsim search` against closed forms: the largest arrival rate of an M/M/c queue under a
//! mean-latency bound (Erlang C), of an M/M/1 queue under a p99 bound (exponential sojourn
//! time), and the largest user count of a closed loop under a mean-latency bound (the
//! machine-repairman model); plus the command line's JSON and its bad-input exits.
//!
//! The search judges each SLO term at the pessimistic end of its 95% interval, so it should
//! land at or slightly below the closed form, never much above it.

use capsim::stats::analytic::{machine_repairman, mmc_mean_wait};
use capsim::sweep::search::{LoadKind, Search};
use std::path::{Path, PathBuf};

mod common;
use common::capsim;

/// A generic queue of `servers` single-slot replicas with exponential 10 ms service.
fn queue(
    servers: u32,
    routing: &str,
    arrivals: &str,
    slo: &str,
    duration_s: u32,
    reps: u32,
) -> String {
    format!(
        r#"
name: search-test
seed: 3
duration: {duration_s}s
warmup: {warm}s
replications: {reps}
report_interval: {duration_s}s
models:
  - name: exp10
    service_time: {{exponential: {{mean: 10ms}}}}
node_pools:
  - {{name: p, gpu: t4, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 0.35}}
services:
  - {{name: s, model: exp10, node_pool: p, replicas: {servers}, routing: {routing}, slo: {slo}}}
workloads:
  - service: s
    arrivals: {arrivals}
"#,
        warm = duration_s / 20,
    )
}

fn search(yaml: &str) -> capsim::sweep::search::SearchResult {
    Search::from_bytes("t.yaml", yaml.as_bytes().to_vec(), Path::new("."), &[], "s")
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Largest x in (lo, hi) with ok(x), for an ok that holds below some point only.
fn solve(mut lo: f64, mut hi: f64, ok: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if ok(mid) { lo = mid } else { hi = mid }
    }
    lo
}

#[test]
fn mmc_mean_latency_bound_matches_erlang_c() {
    // M/M/4, mu = 100/s, SLO latency_mean <= 15 ms, i.e. Wq <= 5 ms.
    let exact = solve(1.0, 399.999, |l| {
        mmc_mean_wait(4, l, 100.0) + 0.010 <= 0.015
    });
    let r = search(&queue(
        4,
        "shared_queue",
        "{poisson: {rate: 200/s}}",
        "{latency_mean: 15ms}",
        300,
        8,
    ));
    let found = r.max_rate_rps();
    let err = found / exact - 1.0;
    eprintln!(
        "M/M/4: closed form {exact:.2}/s, search {found:.2}/s ({:+.2}%)",
        err * 100.0
    );
    assert!((-0.05..=0.01).contains(&err), "{found} vs {exact}");
    assert_eq!(
        r.binding().expect("a failing load above").metric,
        "latency_mean_ms"
    );
    assert!((r.gpus() - 4.0).abs() < 1e-9);
    assert!((r.rps_per_gpu() / (found / 4.0) - 1.0).abs() < 0.02);
    // The sizing scales per replica: 10x the load needs about 10x the replicas.
    let s = r
        .size_for(capsim::sweep::search::Target::RateRps(10.0 * found))
        .expect("sizing");
    assert_eq!(s.replicas, Some(40));
}

#[test]
fn mm1_p99_bound_matches_exponential_sojourn() {
    // M/M/1, mu = 100/s: the sojourn time is exponential with rate mu - lambda, so
    // p99 = ln(100) / (mu - lambda) <= 100 ms gives lambda_max = mu - ln(100) / 0.1.
    let exact = 100.0 - 100f64.ln() / 0.1;
    let r = search(&queue(
        1,
        "shared_queue",
        "{poisson: {rate: 20/s}}",
        "{latency_p99: 100ms}",
        600,
        10,
    ));
    let found = r.max_rate_rps();
    let err = found / exact - 1.0;
    eprintln!(
        "M/M/1: closed form {exact:.2}/s, search {found:.2}/s ({:+.2}%)",
        err * 100.0
    );
    assert!((-0.06..=0.01).contains(&err), "{found} vs {exact}");
    assert_eq!(
        r.binding().expect("a failing load above").metric,
        "latency_p99_ms"
    );
}

#[test]
fn closed_loop_users_match_machine_repairman() {
    // 2 servers, exponential 10 ms service, exponential 1 s think, latency_mean <= 20 ms.
    let exact = (1..400u32)
        .take_while(|&n| machine_repairman(n, 2, 1.0, 0.010).1 <= 0.020)
        .last()
        .expect("one user meets the bound") as f64;
    let r = search(&queue(
        2,
        "shared_queue",
        "{closed: {users: 50, think_time: 1s}}",
        "{latency_mean: 20ms}",
        300,
        8,
    ));
    assert!(matches!(r.kind, LoadKind::Closed { base_users: 50 }));
    let found = r.max_users().expect("some users meet the SLO") as f64;
    let err = found / exact - 1.0;
    eprintln!(
        "M/M/2//N: closed form {exact} users, search {found} ({:+.2}%)",
        err * 100.0
    );
    assert!((-0.06..=0.02).contains(&err), "{found} vs {exact}");
    assert!((r.users_per_gpu() - found / 2.0).abs() < 1e-9);
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn cli_json_has_the_spec_fields() {
    let closed = tmp(
        "closed.yaml",
        &queue(
            2,
            "least_outstanding",
            "{closed: {users: 20, think_time: 1s}}",
            "{latency_p99: 50ms}",
            60,
            5,
        ),
    );
    let (code, out, err) = capsim(&[
        "search",
        closed.to_str().unwrap(),
        "--service",
        "s",
        "--json",
        "--target-users",
        "1000",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for k in [
        "max_users",
        "gpus",
        "rps_per_gpu",
        "users_per_gpu",
        "cost_per_1k_requests",
        "binding_slo_term",
        "target",
    ] {
        assert!(
            v.get(k).is_some_and(|x| !x.is_null()),
            "{k} missing in {out}"
        );
    }
    let upg = v["users_per_gpu"].as_f64().unwrap();
    // Alone, a request's p99 is already ln(100) x 10 ms = 46 ms, so the 50 ms bound leaves
    // little room for queueing: about ten users per server (the search measured 11.5).
    assert!((5.0..50.0).contains(&upg), "users_per_gpu {upg}");
    assert_eq!(v["binding_slo_term"]["metric"], "latency_p99_ms");
    assert!(v["target"]["replicas"].as_u64().unwrap() >= 10);

    let open = tmp(
        "open.yaml",
        &queue(
            1,
            "random",
            "{poisson: {rate: 50/s}}",
            "{latency_p99: 100ms}",
            60,
            5,
        ),
    );
    let (code, out, err) = capsim(&["search", open.to_str().unwrap(), "--service", "s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for k in [
        "max_rate_rps",
        "gpus",
        "rps_per_gpu",
        "cost_per_1k_requests",
        "binding_slo_term",
    ] {
        assert!(
            v.get(k).is_some_and(|x| !x.is_null()),
            "{k} missing in {out}"
        );
    }
    // The text table names the same figures.
    let (code, out, _) = capsim(&["search", open.to_str().unwrap(), "--service", "s"]);
    assert_eq!(code, 0);
    for k in [
        "max_rate_rps",
        "rps_per_gpu",
        "cost_per_1k_requests",
        "binding SLO term",
    ] {
        assert!(out.contains(k), "{k} not in {out}");
    }
}

#[test]
fn bad_inputs_exit_2() {
    let good = queue(
        1,
        "random",
        "{poisson: {rate: 50/s}}",
        "{latency_p99: 100ms}",
        10,
        2,
    );
    let p = tmp("good.yaml", &good);
    let f = p.to_str().unwrap();
    // Unknown service: the flag is named, with a suggestion.
    let (code, _, err) = capsim(&["search", f, "--service", "t"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--service") && err.contains("`s`"), "{err}");
    // No slo: the field is named.
    let no_slo = tmp(
        "no-slo.yaml",
        &good.replace(", slo: {latency_p99: 100ms}", ""),
    );
    let (code, _, err) = capsim(&["search", no_slo.to_str().unwrap(), "--service", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services[0].slo"), "{err}");
    // A trace cannot be scaled; a zero rate gives nowhere to start.
    let zero = tmp("zero.yaml", &good.replace("rate: 50/s", "rate: 0"));
    let (code, _, err) = capsim(&["search", zero.to_str().unwrap(), "--service", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("workloads[0].arrivals"), "{err}");
    // A sizing target of the wrong kind.
    let (code, _, err) = capsim(&["search", f, "--service", "s", "--target-users", "5"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--target-users"), "{err}");
    // Missing file.
    let (code, _, _) = capsim(&["search", "/nonexistent/x.yaml", "--service", "s"]);
    assert_eq!(code, 2);
}

/// BERT-large on one replica, closed loop, one user's request alone takes 3.02 ms on a T4,
/// 1.47 ms on an A100 and 1.34 ms on an H100: under a 3 ms p99 the T4 meets the SLO at no
/// load, although its price is the lowest. `sweep` is the scenario's `sweep:` block.
fn gpu_types(sweep: &str) -> String {
    format!(
        r#"
name: sweep-search-test
seed: 3
duration: 60s
warmup: 3s
replications: 2
node_pools:
  - {{name: p, gpu: t4, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 0.01}}
services:
  - {{name: s, model: bert-large, node_pool: p, replicas: 1, slo: {{latency_p99: 3ms}}}}
workloads:
  - service: s
    arrivals: {{closed: {{users: 20, think_time: 1s}}}}
{sweep}"#
    )
}

const GPUS: [(&str, f64); 3] = [("t4", 0.01), ("a100-80gb", 2.10), ("h100-80gb", 4.00)];

const GPU_SWEEP: &str = "sweep:
  mode: zip
  grid:
    node_pools.p.gpu: [t4, a100-80gb, h100-80gb]
    node_pools.p.price_per_gpu_hour: [0.01, 2.10, 4.00]
";

#[test]
fn sweep_points_equal_single_searches_with_the_values_set() {
    let swept = tmp("gpus.yaml", &gpu_types(GPU_SWEEP));
    let points =
        capsim::sweep::search::run_sweep(&swept, &[], "s").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(points.len(), GPUS.len());
    // The same scenario without a sweep, each GPU and its price set by hand.
    let plain = tmp("gpus-plain.yaml", &gpu_types(""));
    for (p, (gpu, price)) in points.iter().zip(GPUS) {
        let single = Search::from_file(
            &plain,
            &[
                format!("node_pools.p.gpu={gpu}"),
                format!("node_pools.p.price_per_gpu_hour={price}"),
            ],
            "s",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .unwrap_or_else(|e| panic!("{e}"));
        let r = &p.result;
        assert_eq!(
            p.values,
            vec![
                ("node_pools.p.gpu".to_string(), gpu.to_string()),
                (
                    "node_pools.p.price_per_gpu_hour".to_string(),
                    format!("{price:?}")
                ),
            ]
        );
        assert_eq!(r.gpu, gpu);
        assert_eq!(r.price_per_gpu_hour, price);
        let loads = |r: &capsim::sweep::search::SearchResult| -> Vec<(f64, bool)> {
            r.candidates.iter().map(|c| (c.load, c.pass)).collect()
        };
        assert_eq!(loads(r), loads(&single), "{gpu}");
        assert_eq!(r.max_users(), single.max_users(), "{gpu}");
        // Bit-equal figures (NaN where no load passed).
        for (a, b) in [
            (r.gpus(), single.gpus()),
            (r.rps_per_gpu(), single.rps_per_gpu()),
            (r.users_per_gpu(), single.users_per_gpu()),
            (r.cost_per_1k_requests(), single.cost_per_1k_requests()),
            (r.cost_per_user_hour(), single.cost_per_user_hour()),
        ] {
            assert_eq!(a.to_bits(), b.to_bits(), "{gpu}: {a} vs {b}");
        }
    }
    assert!(points[0].result.best.is_none(), "the T4 cannot meet 3 ms");
    assert!(points[1].result.max_users().is_some_and(|u| u >= 2));
}

#[test]
fn sweep_table_marks_the_cheapest_feasible_point() {
    let swept = tmp("gpus-cli.yaml", &gpu_types(GPU_SWEEP));
    let f = swept.to_str().unwrap();
    let args = [
        "search",
        f,
        "--service",
        "s",
        "--json",
        "--target-users",
        "100",
    ];
    let (code, out, err) = capsim(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), 3);
    // By hand: the price of the GPUs at the maximum over the users, among points that met
    // the SLO at some load.
    let mut by_hand: Option<(usize, f64)> = None;
    let mut for_target: Option<(usize, f64)> = None;
    for (i, (p, (gpu, price))) in points.iter().zip(GPUS).enumerate() {
        assert_eq!(p["values"]["node_pools.p.gpu"], gpu);
        assert_eq!(p["price_per_gpu_hour"].as_f64(), Some(price));
        let Some(users) = p["max_users"].as_f64() else {
            assert!(p["cost_per_user_hour"].is_null());
            continue;
        };
        let gpus = p["gpus"].as_f64().unwrap();
        let cost = price * gpus / users;
        let reported = p["cost_per_user_hour"].as_f64().unwrap();
        assert!(
            (reported / cost - 1.0).abs() < 1e-12,
            "{reported} vs {cost}"
        );
        // The target's GPUs at the pool's price.
        let t = &p["target"];
        let expect = t["gpus"].as_f64().unwrap() * price;
        assert!((t["cost_per_hour"].as_f64().unwrap() - expect).abs() < 1e-9);
        if by_hand.is_none_or(|(_, c)| cost < c) {
            by_hand = Some((i, cost));
        }
        if for_target.is_none_or(|(_, c)| expect < c) {
            for_target = Some((i, expect));
        }
    }
    assert_eq!(
        v["cheapest_for_target"].as_u64(),
        for_target.map(|(i, _)| i as u64)
    );
    // The T4 is the cheapest GPU per hour but met the SLO at no load: never the cheapest.
    assert!(points[0]["max_users"].is_null());
    let (want, cost) = by_hand.expect("a point meets the SLO");
    assert_ne!(want, 0);
    assert_eq!(v["cheapest"].as_u64(), Some(want as u64), "{out}");
    // The same at one thread: points run in parallel, the answer may not depend on it.
    let (_, one, _) = common::capsim_in(None, &[("RAYON_NUM_THREADS", "1")], &args);
    assert_eq!(one, out);
    // The text table: "none" on the T4's row, the verdict names the cheapest point.
    let (code, out, err) = capsim(&["search", f, "--service", "s"]);
    assert_eq!(code, 0, "{err}");
    let t4 = out.lines().find(|l| l.contains(" t4 ")).expect("a t4 row");
    assert!(t4.contains("none") && !t4.starts_with('*'), "{out}");
    let gpu = GPUS[want].0;
    let row = out.lines().find(|l| l.contains(gpu)).expect("a row");
    assert!(row.starts_with('*'), "{out}");
    assert!(
        out.contains(&format!(
            "cheapest at the SLO: node_pools.p.gpu={gpu}, node_pools.p.price_per_gpu_hour="
        )) && out.contains(&format!("${} per user-hour", capsim::report::fmt_num(cost))),
        "{out}"
    );
}

#[test]
fn sweep_of_an_open_loop_compares_cost_per_1k_requests() {
    // Exponential 10 ms service whatever the GPU: only the price differs, so the cheaper
    // pool wins; with no load meeting the SLO anywhere the exit is 1 and nothing is cheapest.
    let scenario = queue(
        1,
        "random",
        "{poisson: {rate: 20/s}}",
        "{latency_p99: 100ms}",
        60,
        3,
    ) + "sweep:\n  grid:\n    node_pools.p.price_per_gpu_hour: [0.9, 0.3, 0.6]\n";
    let p = tmp("open-sweep.yaml", &scenario);
    let (code, out, err) = capsim(&["search", p.to_str().unwrap(), "--service", "s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["compared_by"], "cost_per_1k_requests");
    let costs: Vec<f64> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cost_per_1k_requests"].as_f64().unwrap())
        .collect();
    let min = (0..3)
        .min_by(|&a, &b| costs[a].total_cmp(&costs[b]))
        .unwrap();
    assert_eq!(min, 1, "{costs:?}");
    assert_eq!(v["cheapest"].as_u64(), Some(1));
    // 1 ms is below the service time's own p99 (46 ms): no load passes at any point.
    let (code, out, err) = capsim(&[
        "search",
        p.to_str().unwrap(),
        "--service",
        "s",
        "--json",
        "--set",
        "services.s.slo={latency_p99: 1ms}",
    ]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(v["cheapest"].is_null(), "{out}");
}

#[test]
fn sweep_bad_inputs_exit_2_at_the_grid_entry() {
    let text = gpu_types("sweep:\n  grid:\n    node_pools.q.gpu: [t4, a100-80gb]\n");
    let line = text
        .lines()
        .position(|l| l.contains("node_pools.q.gpu"))
        .unwrap()
        + 1;
    let p = tmp("bad-sweep.yaml", &text);
    let f = p.to_str().unwrap();
    let (code, out, err) = capsim(&["search", f, "--service", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("{f}:{line}:5: sweep.grid.node_pools.q.gpu:"))
            && err.contains("no item named `q`"),
        "{err}"
    );
    // A value that names no GPU: the grid entry's place, and the point.
    let p = tmp(
        "bad-gpu.yaml",
        &text.replace(
            "node_pools.q.gpu: [t4, a100-80gb]",
            "node_pools.p.gpu: [t4, a100-90gb]",
        ),
    );
    let f = p.to_str().unwrap();
    let (code, _, err) = capsim(&["search", f, "--service", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{f}:{line}:5:"))
            && err.contains("sweep point 1 of 2 (0-based) with node_pools.p.gpu=a100-90gb:")
            && err.contains("a100-90gb"),
        "{err}"
    );
}

#[test]
fn out_writes_the_json_the_charts_and_a_page() {
    let swept = tmp("gpus-out.yaml", &gpu_types(GPU_SWEEP));
    let dir = swept.with_file_name("gpus-out");
    let _ = std::fs::remove_dir_all(&dir);
    let f = swept.to_str().unwrap();
    let d = dir.to_str().unwrap();
    let (code, json, err) = capsim(&["search", f, "--service", "s", "--json", "--out", d]);
    assert_eq!(code, 0, "{err}");
    // search.json is what --json prints.
    let written = std::fs::read_to_string(dir.join("search.json")).expect("search.json");
    assert_eq!(written.trim_end(), json.trim_end());
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    for stem in ["search-slo", "search-per-gpu"] {
        let png = std::fs::read(dir.join(format!("{stem}.png"))).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(html.contains(&format!("<img src=\"{stem}.svg\"")), "{stem}");
    }
    // The SLO chart has a line per point and the bound; the bars name each GPU, and the
    // cheapest point (in orange) is the one the JSON names.
    let slo = std::fs::read_to_string(dir.join("search-slo.svg")).expect("svg");
    assert!(
        slo.contains("SLO: latency_p99_ms &lt;= 3") || slo.contains("SLO: latency_p99_ms <= 3")
    );
    let bars = std::fs::read_to_string(dir.join("search-per-gpu.svg")).expect("svg");
    for (gpu, _) in GPUS {
        assert!(slo.contains(gpu) && bars.contains(gpu), "{gpu}");
    }
    assert!(v["cheapest"].as_u64().is_some(), "a cheapest point");
    // Orange is #D55E00 (213, 94, 0): one bar in each of the two panels (users per GPU,
    // $ per user-hour).
    assert_eq!(bars.matches("fill=\"#D55E00\"").count(), 2);
    assert!(html.contains("cheapest at the SLO"));
    // The printed table is on the page.
    let (_, text, _) = capsim(&["search", f, "--service", "s"]);
    let first_row = text.lines().find(|l| l.contains("a100-80gb")).expect("row");
    assert!(html.contains(first_row.trim()), "{first_row}");
}

/// Two applications on a CPU pool priced per node, each an app over its own database.
/// app1's database (4 ms, one slot) passes a 20 ms mean at about 200/s, at a utilization near
/// 0.8; app2's (9 ms) carries a fixed 100/s, a utilization of 0.9.
const TWO_APPS: &str = r#"
name: two-apps
seed: 3
duration: 300s
warmup: 30s
replications: 2
report_interval: 300s
models:
  - {name: app-m, service_time: {exponential: {mean: 2ms}}}
  - {name: db1-m, service_time: {exponential: {mean: 4ms}}}
  - {name: db2-m, service_time: {exponential: {mean: 9ms}}}
node_pools:
  - {name: cpu, cpus_per_node: 64, nodes: 4, price_per_node_hour: 3.2}
services:
  - {name: app1, model: app-m, node_pool: cpu, cpus_per_replica: 4, replicas: 2, concurrency: 64,
     routing: round_robin, slo: {latency_mean: 20ms}, calls: [{service: db1}]}
  - {name: db1, model: db1-m, node_pool: cpu, replicas: 1, routing: shared_queue}
  - {name: app2, model: app-m, node_pool: cpu, replicas: 1, concurrency: 64, routing: shared_queue,
     calls: [{service: db2}]}
  - {name: db2, model: db2-m, node_pool: cpu, replicas: 1, routing: shared_queue}
workloads:
  - service: app1
    arrivals: {poisson: {rate: 100/s}}
  - service: app2
    arrivals: {poisson: {rate: 100/s}}
"#;

/// The binding tier of a search on one application names that application's database, even
/// when the other application's works harder.
#[test]
fn the_binding_tier_is_in_the_searched_applications_call_graph() {
    let r = Search::from_bytes(
        "t.yaml",
        TWO_APPS.as_bytes().to_vec(),
        Path::new("."),
        &[],
        "app1",
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .run(|_| {})
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.tiers, ["app1", "db1"]);
    let (tier, u) = r.binding_tier().expect("app1 calls db1");
    let above = &r.candidates[r.above.expect("a failing load")].report;
    let db2 = above.mean("db2", "gpu_utilization");
    eprintln!("binding tier {tier} at {u:.3}; db2 at {db2:.3}");
    assert!(
        db2 > u,
        "the other application's database works harder ({db2} vs {u})"
    );
    assert_eq!(tier, "db1");
}

/// A service on a CPU pool is sized in replicas and CPUs and priced by its share of a node
/// (4 of 64 CPUs at $3.20 a node-hour: $0.20 a replica-hour); sizing it past its database's
/// bound says that the database binds.
#[test]
fn a_cpu_service_is_sized_in_cpus_and_priced_by_its_share_of_a_node() {
    let f = tmp("two-apps.yaml", TWO_APPS);
    let f = f.to_str().expect("utf-8");
    let (code, out, err) = capsim(&[
        "search",
        f,
        "--service",
        "app1",
        "--json",
        "--target-rate",
        "1000",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let get = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {out}"));
    assert_eq!(get("replicas"), 2.0);
    assert_eq!(get("cpus"), 8.0);
    assert!((get("cost_per_hour") - 0.4).abs() < 1e-12, "{out}");
    let t = &v["target"];
    let replicas = t["replicas"].as_u64().expect("feasible");
    assert_eq!(t["cpus"].as_f64(), Some(4.0 * replicas as f64));
    let cost = t["cost_per_hour"].as_f64().expect("priced");
    assert!((cost - 0.2 * replicas as f64).abs() < 1e-12, "{out}");
    assert_eq!(t["limited_by"], "db1", "1000/s is past db1's 250/s");
    let (code, text, _) = capsim(&["search", f, "--service", "app1", "--target-rate", "1000"]);
    assert_eq!(code, 0);
    for needle in [
        "cpus ",
        "cost_per_hour ",
        "CPUs, $",
        "the binding tier is `db1`, not `app1`",
    ] {
        assert!(text.contains(needle), "`{needle}` in\n{text}");
    }
    assert!(!text.contains("rps_per_gpu"), "no per-GPU figure:\n{text}");
}
