//! Serving behaviour through the whole simulator: dynamic batching on a measured latency
//! table, routing policies, start-up delay, saturation, SLO attainment and cost.
//!
//! Every expected number is derived by hand from the scenario (exact where the arrivals are
//! deterministic) or from a closed-form queueing result; tolerances are a few standard errors
//! of the simulated estimate.

mod common;

use common::{queue_yaml, rel, run};
use std::path::PathBuf;

/// A fresh folder for files a test writes (trace CSVs).
fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-serving-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes a trace with one `timestamp` column and returns its absolute path.
fn write_trace(test: &str, times: &[f64]) -> String {
    let path = temp_dir(test).join("trace.csv");
    let mut text = String::from("timestamp\n");
    for t in times {
        text.push_str(&format!("{t}\n"));
    }
    std::fs::write(&path, text).expect("write trace");
    path.display().to_string()
}

// ---------------------------------------------------------------------------------------
// Dynamic batching on a measured table a(1) = 2 ms, a(8) = 4 ms, a(32) = 10 ms, measured on
// the same GPU the pool has (so no scaling applies), linear in between.
// ---------------------------------------------------------------------------------------

/// a(b) in ms by linear interpolation of the measured points (the table's documented rule).
fn a_ms(b: f64) -> f64 {
    if b <= 8.0 {
        2.0 + (b - 1.0) * (4.0 - 2.0) / 7.0
    } else {
        4.0 + (b - 8.0) * (10.0 - 4.0) / 24.0
    }
}

fn table_yaml(batching: &str, arrivals: &str, duration: &str, warmup: &str) -> String {
    format!(
        r#"
name: tbl
seed: 5
duration: {duration}
warmup: {warmup}
replications: 1
report_interval: {duration}
models:
  - name: tbl
    batch_latency: {{gpu: a100-80gb, points: [[1, 2ms], [8, 4ms], [32, 10ms]]}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: tbl, node_pool: p, replicas: 1, batching: {batching}}}
workloads:
  - service: s
    arrivals: {arrivals}
"#
    )
}

#[test]
fn lone_requests_wait_max_delay_then_run_alone() {
    // Truth (Triton's dynamic batcher, hand-derived): requests 1 s apart never meet, so
    // each waits the full max_delay for company, then runs as a batch of one:
    // latency = max_delay + a(1) = 5 + 2 = 7 ms exactly, for every request.
    let times: Vec<f64> = (1..=20).map(f64::from).collect();
    let trace = write_trace("lone", &times);
    let r = run(&table_yaml(
        "{dynamic: {max_batch: 8, max_delay: 5ms}}",
        &format!("{{trace: {{file: {trace}}}}}"),
        "30s",
        "0s",
    ));
    assert_eq!(r.mean("s", "completed"), 20.0);
    assert_eq!(r.mean("s", "batch_size_mean"), 1.0);
    assert!((r.mean("s", "latency_mean_ms") - 7.0).abs() < 1e-6);
    assert!((r.mean("s", "wait_mean_ms") - 5.0).abs() < 1e-6);
    assert!((r.mean("s", "service_time_mean_ms") - 2.0).abs() < 1e-6);
    // Percentiles carry the histogram's 0.1% resolution.
    assert!(rel(r.mean("s", "latency_p99_ms"), 7.0) < 2e-3);
}

#[test]
fn bursts_form_the_batches_the_rules_predict() {
    // Three requests at the same instant: the batch is not full (max 8), so it waits
    // max_delay and runs as one batch of 3: latency = 5 + a(3) ms for each.
    let trace = write_trace("burst3", &[1.0, 1.0, 1.0]);
    let r = run(&table_yaml(
        "{dynamic: {max_batch: 8, max_delay: 5ms}}",
        &format!("{{trace: {{file: {trace}}}}}"),
        "5s",
        "0s",
    ));
    assert_eq!(r.mean("s", "batch_size_mean"), 3.0);
    let want = 5.0 + a_ms(3.0);
    assert!(
        (r.mean("s", "latency_mean_ms") - want).abs() < 1e-5,
        "{} vs {want}",
        r.mean("s", "latency_mean_ms")
    );

    // Ten at once with max_batch 8: a full batch of 8 starts at once (latency a(8) = 4 ms);
    // the other 2 have waited only 4 ms when the slot frees, so they wait out max_delay and
    // run as a batch of 2: latency 5 + a(2). Mean (8 x 4 + 2 x (5 + a(2))) / 10; 2 batches.
    let trace = write_trace("burst10", &[1.0; 10]);
    let r = run(&table_yaml(
        "{dynamic: {max_batch: 8, max_delay: 5ms}}",
        &format!("{{trace: {{file: {trace}}}}}"),
        "5s",
        "0s",
    ));
    assert_eq!(r.mean("s", "batch_size_mean"), 5.0);
    let want = (8.0 * a_ms(8.0) + 2.0 * (5.0 + a_ms(2.0))) / 10.0;
    assert!(
        (r.mean("s", "latency_mean_ms") - want).abs() < 1e-5,
        "{} vs {want}",
        r.mean("s", "latency_mean_ms")
    );
    // Mean service time per batch: (a(8) + a(2)) / 2.
    let want = (a_ms(8.0) + a_ms(2.0)) / 2.0;
    assert!((r.mean("s", "service_time_mean_ms") - want).abs() < 1e-5);
}

#[test]
fn full_batches_run_back_to_back_under_a_deep_queue() {
    // Closed loop, users >> max_batch, no think time: every batch is full, and the replica
    // runs them back to back, so throughput = max_batch / a(max_batch) (hand-derived).
    // The window holds thousands of batches, so the edge cut is below 0.1%.
    for (max_batch, users) in [(8u32, 64u32), (16, 200), (32, 256)] {
        let r = run(&table_yaml(
            &format!("{{dynamic: {{max_batch: {max_batch}, max_delay: 5ms}}}}"),
            &format!("{{closed: {{users: {users}, think_time: 0s}}}}"),
            "11s",
            "1s",
        ));
        let b = f64::from(max_batch);
        assert_eq!(r.mean("s", "batch_size_mean"), b, "max_batch {max_batch}");
        let want = b / (a_ms(b) * 1e-3);
        let got = r.mean("s", "throughput_rps");
        assert!(
            rel(got, want) < 0.005,
            "max_batch {max_batch}: {got}/s vs {want}/s"
        );
    }
    // Without batching every request runs alone: throughput = 1 / a(1) = 500/s.
    let r = run(&table_yaml(
        "none",
        "{closed: {users: 10, think_time: 0s}}",
        "11s",
        "1s",
    ));
    assert_eq!(r.mean("s", "batch_size_mean"), 1.0);
    let got = r.mean("s", "throughput_rps");
    assert!(rel(got, 500.0) < 0.005, "no batching: {got}/s vs 500/s");
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

/// M/M/c mean wait by Erlang C (FACTS.md formula), written out here independently of
/// capsim's own implementation.
fn erlang_c_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let mut sum = 0.0;
    let mut term = 1.0; // a^k / k!
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho); // a^c / (c! (1 - rho))
    let p_wait = last / (sum + last);
    p_wait / (f64::from(c) * mu * (1.0 - rho))
}

/// GI/M/1 mean wait (Kleinrock, Queueing Systems Vol. 1, sec. 6.4): Wq = s / (mu (1 - s)),
/// with s the root in (0, 1) of s = A*(mu (1 - s)), A* the Laplace-Stieltjes transform of
/// the inter-arrival time. Round robin over c replicas turns a Poisson stream of rate
/// `lambda` into Erlang-c inter-arrivals at each replica: A*(x) = (lambda / (lambda + x))^c.
fn erlang_k_m1_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    let mut s = 0.5;
    for _ in 0..10_000 {
        s = (lambda / (lambda + mu * (1.0 - s))).powi(c as i32);
    }
    s / (mu * (1.0 - s))
}

#[test]
fn routing_policies_rank_by_queueing_theory() {
    // 4 replicas, exponential 10 ms service (mu = 100/s), Poisson at 280/s: rho = 0.7.
    let (c, mu, lambda) = (4u32, 100.0, 280.0);
    let wait = |routing: &str, seed: u64| {
        let r = run(&queue_yaml(
            c,
            routing,
            "{exponential: {mean: 10ms}}",
            lambda,
            2000.0,
            4,
            seed,
        ));
        let e = *r.get("s", "wait_mean_ms").expect("wait_mean_ms");
        (e.mean, e.ci95_low, e.ci95_high)
    };
    let random = wait("random", 21);
    let rr = wait("round_robin", 22);
    let lo = wait("least_outstanding", 23);
    let shared = wait("shared_queue", 24);
    eprintln!(
        "waits (mean, ci low, ci high) ms: random {random:?}, round robin {rr:?}, least outstanding {lo:?}, shared {shared:?}"
    );

    // Random split: c independent M/M/1 queues at lambda / c (FACTS.md):
    // Wq = rho / (mu - lambda / c) = 0.7 / 30 s = 23.3 ms.
    let mm1 = (lambda / f64::from(c) / mu) / (mu - lambda / f64::from(c)) * 1e3;
    assert!(
        rel(random.0, mm1) < 0.05,
        "random: {random:?} vs M/M/1 {mm1}"
    );
    // Round robin: E_4/M/1 at each replica.
    let ek = erlang_k_m1_wait(c, lambda, mu) * 1e3;
    assert!(rel(rr.0, ek) < 0.05, "round robin: {rr:?} vs E4/M/1 {ek}");
    // Shared queue: M/M/4.
    let mmc = erlang_c_wait(c, lambda, mu) * 1e3;
    eprintln!("theory ms: M/M/1 {mm1}, E4/M/1 {ek}, M/M/4 {mmc}");
    assert!(
        rel(shared.0, mmc) < 0.05,
        "shared queue: {shared:?} vs M/M/4 {mmc}"
    );
    // Orderings, each with the confidence intervals apart: less variable inter-arrival times
    // lower the wait (RR < random); joining the shortest queue beats both (Winston 1977:
    // JSQ is optimal for identical exponential servers among policies that route at
    // arrival); a shared queue never leaves a server idle while a request waits (M/M/c is
    // the lower bound for c servers).
    assert!(rr.2 < random.1, "round robin {rr:?} vs random {random:?}");
    assert!(
        lo.2 < rr.1,
        "least outstanding {lo:?} vs round robin {rr:?}"
    );
    assert!(
        shared.2 < lo.1,
        "shared queue {shared:?} vs least outstanding {lo:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Start-up delay
// ---------------------------------------------------------------------------------------

#[test]
fn nothing_completes_before_the_pod_is_ready() {
    // One replica Ready only at 30 s. Truth: no request can complete before the pod is
    // Ready, so throughput is 0 in every sample up to 30 s; the requests that arrived in the
    // meantime are held and served afterwards (10/s, 10 ms each: the 300-request backlog
    // clears in about 3.3 s), so by the end of a 60 s run all but the few in flight have
    // completed, and the earliest of them waited about 30 s.
    let y = r#"
name: startup
seed: 9
duration: 60s
replications: 2
report_interval: 5s
models:
  - {name: m, service_time: {fixed: 10ms}}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}
services:
  - {name: s, model: m, node_pool: p, replicas: 1, startup_time: 30s}
workloads:
  - service: s
    arrivals: {poisson: {rate: 10/s}}
"#;
    let r = run(y);
    let series = |metric: &str| -> Vec<(f64, f64)> {
        r.timeseries
            .iter()
            .filter(|(_, c, m, _)| c == "s" && *m == metric)
            .map(|(t, _, _, v)| (*t, *v))
            .collect()
    };
    let tput = series("throughput_rps");
    assert!(tput.len() >= 11, "{tput:?}");
    for (t, v) in &tput {
        if *t <= 30.0 {
            assert_eq!(*v, 0.0, "throughput {v} at {t} s, before the pod is Ready");
        } else {
            assert!(*v > 0.0, "no throughput at {t} s, after the pod is Ready");
        }
    }
    for (t, v) in series("ready") {
        if t < 30.0 {
            assert_eq!(v, 0.0, "ready at {t} s");
        } else if t > 30.0 {
            assert_eq!(v, 1.0, "not ready at {t} s");
        }
    }
    let requests = r.mean("s", "requests");
    let completed = r.mean("s", "completed");
    assert!(requests > 500.0, "{requests}");
    assert!(
        completed <= requests && completed >= requests - 3.0,
        "completed {completed} of {requests}"
    );
    // The first arrivals (in the first second) waited until 30 s.
    assert!(r.mean("s", "latency_p99_ms") > 28_000.0);
}

#[test]
fn a_backlog_held_during_start_up_is_spread_over_the_replicas_that_become_ready() {
    // Four replicas, all Ready at 30 s; Poisson 100/s, 10 ms each (25% busy per replica once
    // running). About 3,000 requests arrive before any pod is Ready and are held. Truth:
    // random routing sends each request to a uniformly random Ready replica, and all four are
    // Ready from 30 s on, so each gets Binomial(3000, 1/4) ~ 750 +- 24 of the backlog, which
    // it drains at 100 - 25 = 75/s: in about 10 s. By the 45 s sample the backlog is gone
    // (even the work-conserving bound, all 4 replicas on the whole backlog, needs 7.5 s).
    // Had it all gone to one replica, it would drain at 75/s for 40 s: 1,900 still queued
    // at 45 s.
    for routing in ["random", "round_robin", "least_outstanding", "shared_queue"] {
        let y = format!(
            r#"
name: backlog
seed: 9
duration: 60s
replications: 2
report_interval: 5s
models:
  - {{name: m, service_time: {{fixed: 10ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 4, startup_time: 30s, routing: {routing}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 100/s}}}}
"#
        );
        let r = run(&y);
        let q45 = r
            .timeseries
            .iter()
            .find(|(t, c, m, _)| *t == 45.0 && c == "s" && *m == "queue_length")
            .map(|x| x.3)
            .expect("queue_length at 45 s");
        assert!(
            q45 < 50.0,
            "{routing}: {q45} requests still queued at 45 s, 15 s after all four replicas \
             became Ready"
        );
    }
}

#[test]
fn the_timeseries_covers_every_interval_of_the_run() {
    // Truth: a 60 s run sampled every 5 s has 60 / 5 = 12 intervals, the last one ending at
    // 60 s (SPEC.md: timeseries.csv is "sampled every report_interval"); each interval's
    // arrivals_rps times 5 s, summed, is every arrival of the run, which with no warm-up is
    // `requests`.
    let y = r#"
name: ts
seed: 9
duration: 60s
replications: 1
report_interval: 5s
models:
  - {name: m, service_time: {fixed: 10ms}}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}
services:
  - {name: s, model: m, node_pool: p, replicas: 1}
workloads:
  - service: s
    arrivals: {poisson: {rate: 10/s}}
"#;
    let r = run(y);
    let arrivals: Vec<(f64, f64)> = r
        .timeseries
        .iter()
        .filter(|(_, c, m, _)| c == "s" && *m == "arrivals_rps")
        .map(|(t, _, _, v)| (*t, *v))
        .collect();
    let times: Vec<f64> = arrivals.iter().map(|p| p.0).collect();
    let want: Vec<f64> = (1..=12).map(|k| 5.0 * f64::from(k)).collect();
    assert_eq!(times, want, "sample times");
    let total: f64 = arrivals.iter().map(|p| p.1 * 5.0).sum();
    assert!((total - r.mean("s", "requests")).abs() < 1e-6, "{total}");
}

// ---------------------------------------------------------------------------------------
// Saturation
// ---------------------------------------------------------------------------------------

fn mm1_yaml(rate: f64, duration: &str, max_queue: u32) -> String {
    format!(
        r#"
name: sat
seed: 13
duration: {duration}
warmup: 10s
replications: 2
report_interval: 60s
limits: {{max_queue: {max_queue}}}
models:
  - {{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {rate}/s}}}}
"#
    )
}

#[test]
fn an_overloaded_queue_is_reported_and_stopped() {
    // M/M/1 at lambda = 200/s, mu = 100/s (rho = 2). Truth: the number in system grows at
    // lambda - mu = 100/s, so the queue passes 20,000 after about 20,000 / 100 = 200 s; the
    // run stops there instead of simulating the whole hour (which would take about
    // 200 x 3600 arrivals plus their departures, over 1.4 million events).
    let r = run(&mm1_yaml(200.0, "1h", 20_000));
    assert_eq!(r.mean("s", "saturated"), 1.0);
    let growth = r.mean("s", "queue_growth_rps");
    assert!(rel(growth, 100.0) < 0.10, "growth {growth}/s vs 100/s");
    let events = r.mean("engine", "events");
    assert!(
        events < 100_000.0,
        "{events} events: the run did not stop early"
    );
    // Arrivals counted from the end of warm-up (10 s) to the stop (~200 s): ~200 x 190.
    let requests = r.mean("s", "requests");
    assert!(rel(requests, 200.0 * 190.0) < 0.15, "{requests} requests");
    assert_eq!(r.saturated.len(), 1, "{:?}", r.saturated);
    assert_eq!(r.saturated[0].service, "s");
    assert_eq!(r.saturated[0].replications, 2, "both replications saturate");
    assert_eq!(
        r.saturated[0].stopped_early, 2,
        "both stop at the queue bound"
    );
}

#[test]
fn a_stable_queue_is_not_saturated() {
    // rho = 0.5: the queue is positive recurrent; the run goes to its end.
    let r = run(&mm1_yaml(50.0, "200s", 20_000));
    assert_eq!(r.mean("s", "saturated"), 0.0);
    assert_eq!(r.mean("s", "queue_growth_rps"), 0.0);
    assert!(r.saturated.is_empty());
    // The whole run was simulated: about 50 x 190 arrivals counted.
    let requests = r.mean("s", "requests");
    assert!(rel(requests, 50.0 * 190.0) < 0.05, "{requests}");
}

// ---------------------------------------------------------------------------------------
// SLO attainment
// ---------------------------------------------------------------------------------------

fn slo_yaml(slo: &str) -> String {
    format!(
        r#"
name: slo
seed: 17
duration: 1010s
warmup: 10s
replications: 4
report_interval: 1010s
models:
  - {{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1, slo: {slo}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 50/s}}}}
"#
    )
}

#[test]
fn slo_attainment_follows_the_mm1_sojourn_distribution() {
    // Truth: in M/M/1 (FCFS) the sojourn time is exponential with rate mu - lambda
    // (Kleinrock Vol. 1, eq. 3.28); lambda 50/s, mu 100/s: P(T <= t) = 1 - exp(-50 t).
    // Bound 50 ms: attainment 1 - e^-2.5 = 0.918. The p99 sojourn is ln(100) / 50 = 92.1 ms,
    // above the bound, so the SLO is not met.
    let r = run(&slo_yaml("{latency_p99: 50ms}"));
    let att = r.mean("s", "slo_attainment");
    let want = 1.0 - (-50.0f64 * 0.05).exp();
    assert!(rel(att, want) < 0.01, "attainment {att} vs {want}");
    assert_eq!(r.mean("s", "slo_met"), 0.0);
    // The same distribution's quantiles: the q quantile of Exp(50/s) is -ln(1 - q) / 50.
    for (metric, q) in [
        ("latency_p50_ms", 0.50f64),
        ("latency_p90_ms", 0.90),
        ("latency_p95_ms", 0.95),
        ("latency_p99_ms", 0.99),
    ] {
        let want = -(1.0 - q).ln() / 50.0 * 1e3;
        let got = r.mean("s", metric);
        assert!(rel(got, want) < 0.03, "{metric} {got} vs {want}");
    }
    // The wait: P(Wq > t) = rho e^(-(mu - lambda) t), so P(wait) = rho = 0.5 and the p99 wait
    // solves 0.5 e^(-50 t) = 0.01: t = ln(50) / 50 = 78.2 ms.
    let pw = r.mean("s", "wait_probability");
    assert!(rel(pw, 0.5) < 0.02, "P(wait) {pw}");
    let w99 = r.mean("s", "wait_p99_ms");
    let want = 50.0f64.ln() / 50.0 * 1e3;
    assert!(rel(w99, want) < 0.03, "wait p99 {w99} vs {want}");

    // Bound 100 ms: attainment 1 - e^-5 = 0.9933, and the 92.1 ms p99 meets it.
    let r = run(&slo_yaml("{latency_p99: 100ms}"));
    let att = r.mean("s", "slo_attainment");
    let want = 1.0 - (-50.0f64 * 0.1).exp();
    assert!(rel(att, want) < 0.005, "attainment {att} vs {want}");
    assert_eq!(r.mean("s", "slo_met"), 1.0);
}

// ---------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------

fn cost_yaml(sharing: &str, replicas: u32) -> String {
    format!(
        r#"
name: cost
seed: 19
duration: 3610s
warmup: 10s
replications: 1
report_interval: 3610s
models:
  - {{name: m, service_time: {{fixed: 70ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 2, nodes: 1, gpu_sharing: {sharing}, price_per_gpu_hour: 2.0}}
services:
  - {{name: s, model: m, node_pool: p, replicas: {replicas}, routing: shared_queue}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 5/s}}}}
"#
    )
}

#[test]
fn cost_per_request_is_gpu_hours_times_price() {
    // Truth (hand formula): 2 whole GPUs for exactly one measured hour (3,610 s less 10 s of
    // warm-up) at $2.00 per GPU hour cost $4.00; per 1,000 completed requests that is
    // 4.00 x 1000 / N.
    let r = run(&cost_yaml("none", 2));
    let n = r.mean("s", "completed");
    assert!(n > 10_000.0, "{n}");
    assert!(rel(r.mean("s", "gpu_hours"), 2.0) < 1e-9);
    let cost = r.mean("s", "cost_per_1k_requests");
    assert!(rel(cost, 2.0 * 2.0 * 1000.0 / n) < 1e-6, "{cost} for {n}");

    // MIG 1g.10gb: 7 replicas fill one GPU of the node (7 slices per GPU), each billed
    // 1/7 of a GPU: 1 GPU hour in all, $2.00 per hour.
    let r = run(&cost_yaml("{mig: 1g.10gb}", 7));
    let n = r.mean("s", "completed");
    assert!(rel(r.mean("s", "gpu_hours"), 1.0) < 1e-9);
    let cost = r.mean("s", "cost_per_1k_requests");
    assert!(rel(cost, 2.0 * 1000.0 / n) < 1e-6, "{cost} for {n}");
}

// ---------------------------------------------------------------------------------------
// Finite queues and execution slots
// ---------------------------------------------------------------------------------------

#[test]
fn a_full_queue_drops_arrivals_as_mm1k_predicts() {
    // queue_capacity 4 on one replica of one slot: at most 4 waiting plus 1 in service,
    // an M/M/1/K queue with K = 5. Truth (Kleinrock Vol. 1, sec. 3.6): by PASTA an arrival
    // is dropped with the probability that the system is full,
    //   P_K = (1 - rho) rho^K / (1 - rho^(K+1)),
    // 0.126 at rho = 0.9; and at rho = 1.5 the queue stays bounded (no saturation),
    // P_K = 0.5 x 1.5^5 / (1.5^6 - 1) = 0.355.
    for (lambda, seed) in [(90.0, 51u64), (150.0, 52)] {
        let y = format!(
            r#"
name: mm1k
seed: {seed}
duration: 1010s
warmup: 10s
replications: 4
report_interval: 1010s
models:
  - {{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1, queue_capacity: 4}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {lambda}/s}}}}
"#
        );
        let r = run(&y);
        let rho: f64 = lambda / 100.0;
        let k = 5;
        let p_block = (1.0 - rho) * rho.powi(k) / (1.0 - rho.powi(k + 1));
        let dropped = r.mean("s", "dropped") / r.mean("s", "requests");
        assert!(
            rel(dropped, p_block) < 0.03,
            "rho {rho}: dropped {dropped} vs M/M/1/K {p_block}"
        );
        assert_eq!(r.mean("s", "saturated"), 0.0, "rho {rho}");
        // Throughput is the carried load lambda (1 - P_K).
        let x = r.mean("s", "throughput_rps");
        assert!(rel(x, lambda * (1.0 - p_block)) < 0.01, "rho {rho}: {x}/s");
    }
}

#[test]
fn execution_slots_of_one_replica_are_servers_of_one_queue() {
    // One replica with concurrency 4 (Triton's instance count) and its own queue is an M/M/4
    // queue: mean wait by Erlang C, written out above.
    let (lambda, mu) = (320.0, 100.0);
    let y = format!(
        r#"
name: slots
seed: 53
duration: 1010s
warmup: 10s
replications: 4
report_interval: 1010s
models:
  - {{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1, concurrency: 4}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {lambda}/s}}}}
"#
    );
    let r = run(&y);
    let want = erlang_c_wait(4, lambda, mu) * 1e3;
    let got = r.mean("s", "wait_mean_ms");
    assert!(rel(got, want) < 0.05, "wait {got} ms vs M/M/4 {want} ms");
    let util = r.mean("s", "gpu_utilization");
    assert!(rel(util, 0.8) < 0.01, "utilization {util} vs rho 0.8");
}

#[test]
fn an_empirical_service_time_obeys_pollaczek_khinchine() {
    // Service times drawn uniformly from a CSV column of 5 ms and 15 ms: mean 10 ms,
    // variance 25 ms^2, SCV 0.25. M/G/1 at rho = 0.7 (Pollaczek-Khinchine, FACTS.md):
    // Wq = rho (1 + SCV) / (2 (1 - rho)) E[S] = 0.7 x 1.25 / 0.6 x 10 ms = 14.58 ms.
    let dir = temp_dir("empirical");
    let csv = dir.join("service.csv");
    std::fs::write(&csv, "st,other\n5,1\n15,2\n5,3\n15,4\n").expect("write csv");
    let y = format!(
        r#"
name: emp
seed: 57
duration: 1010s
warmup: 10s
replications: 4
report_interval: 1010s
models:
  - {{name: m, service_time: {{empirical: {{file: {}, column: st, unit: ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 70/s}}}}
"#,
        csv.display()
    );
    let r = run(&y);
    assert!(rel(r.mean("s", "service_time_mean_ms"), 10.0) < 0.01);
    let want = 0.7 * 1.25 / (2.0 * 0.3) * 10.0;
    let got = r.mean("s", "wait_mean_ms");
    assert!(rel(got, want) < 0.04, "wait {got} ms vs P-K {want} ms");
}

#[test]
fn an_overload_below_the_queue_bound_is_still_saturated() {
    // rho = 1.2 for 200 s: the queue grows at lambda - mu = 20/s, to about 3,800, far below
    // the 20,000 bound that stops a run. The server is never idle and the queue ends longer
    // than it started: saturated, with the growth rate lambda - mu (truth: the fluid limit).
    let r = run(&mm1_yaml(120.0, "200s", 20_000));
    assert_eq!(r.mean("s", "saturated"), 1.0);
    let growth = r.mean("s", "queue_growth_rps");
    assert!(rel(growth, 20.0) < 0.25, "growth {growth}/s vs 20/s");
    assert_eq!(r.saturated[0].stopped_early, 0, "the run went to its end");
}

#[test]
fn a_service_stopped_before_its_midpoint_is_not_judged_on_it() {
    // Two services; `hot` (rho 2) hits the queue bound within seconds, which stops the
    // replication before the midpoint. `calm` (rho 0.5) must not be flagged: a stable
    // M/M/1 is never saturated, whatever else happens in the run.
    let y = mm1_yaml(200.0, "1h", 500)
        .replace(
            "  - {name: s, model: m, node_pool: p, replicas: 1}",
            "  - {name: s, model: m, node_pool: p, replicas: 1}\n  - {name: calm, model: m, node_pool: p, replicas: 1}",
        )
        .replace("gpus_per_node: 1, nodes: 1", "gpus_per_node: 2, nodes: 1")
        + "  - service: calm\n    arrivals: {poisson: {rate: 50/s}}\n";
    let r = run(&y);
    assert_eq!(r.mean("s", "saturated"), 1.0);
    assert_eq!(r.mean("calm", "saturated"), 0.0);
}

#[test]
fn interval_utilization_stays_within_zero_and_one() {
    // Utilization is a fraction of time: every timeseries sample lies in [0, 1], including
    // the one that straddles the end of warm-up (10 s here, not a multiple of 3 s).
    let y = mm1_yaml(80.0, "60s", 20_000).replace("report_interval: 60s", "report_interval: 3s");
    let r = run(&y);
    let mut seen = 0;
    for (t, _, m, v) in &r.timeseries {
        if *m == "gpu_utilization" {
            seen += 1;
            assert!((0.0..=1.0).contains(v), "utilization {v} at {t} s");
        }
    }
    assert_eq!(seen, 20, "one sample every 3 s of 60 s");
}
