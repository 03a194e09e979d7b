//! The simulator against closed-form queueing results (Erlang C, Pollaczek-Khinchine,
//! independent M/M/1 queues, the machine-repairman model) and Little's law.
//!
//! Each case simulates millions of customers over several replications, so a real bug (an
//! off-by-one in the queue, a biased sampler, a wrong warm-up cut) moves the result well
//! beyond the tolerance. Run optimized: `cargo test --release`.

mod common;

use capsim::stats::analytic::{erlang_c, machine_repairman, mg1_mean_wait, mmc_mean_wait};
use common::{queue_yaml, rel, run};

const MU: f64 = 100.0; // service rate per server: 10 ms mean service

fn check_littles_law(r: &capsim::sim::Report, svc: &str) {
    let e = r.mean(svc, "littles_law_error");
    assert!(e < 0.01, "Little's law off by {e}");
}

/// M/M/c with a shared queue: mean wait and P(wait) within 3% of Erlang C.
fn mmc_case(c: u32, rho: f64, customers: f64, seed: u64) {
    let lambda = rho * c as f64 * MU;
    let reps = 8;
    let duration = customers / lambda / reps as f64;
    let y = queue_yaml(
        c,
        "shared_queue",
        "{exponential: {mean: 10ms}}",
        lambda,
        duration.round(),
        reps,
        seed,
    );
    let r = run(&y);
    let wq = mmc_mean_wait(c, lambda, MU) * 1e3;
    let pw = erlang_c(c, lambda / MU);
    let sim_wq = r.mean("s", "wait_mean_ms");
    let sim_pw = r.mean("s", "wait_probability");
    eprintln!(
        "M/M/{c} rho {rho}: Wq {sim_wq:.4} ms (Erlang C {wq:.4}), P(wait) {sim_pw:.4} ({pw:.4})"
    );
    assert!(
        rel(sim_wq, wq) < 0.03,
        "M/M/{c} rho {rho}: mean wait {sim_wq} ms, Erlang C {wq} ms"
    );
    assert!(
        rel(sim_pw, pw) < 0.03,
        "M/M/{c} rho {rho}: P(wait) {sim_pw}, Erlang C {pw}"
    );
    let util = r.mean("s", "gpu_utilization");
    assert!(rel(util, rho) < 0.01, "utilization {util} vs rho {rho}");
    check_littles_law(&r, "s");
}

#[test]
fn mm1_matches_erlang_c() {
    mmc_case(1, 0.5, 2e6, 1);
    mmc_case(1, 0.8, 8e6, 2);
}

#[test]
fn mm2_matches_erlang_c() {
    mmc_case(2, 0.7, 4e6, 3);
    mmc_case(2, 0.9, 16e6, 4);
}

#[test]
fn mm4_matches_erlang_c() {
    mmc_case(4, 0.5, 2e6, 5);
    mmc_case(4, 0.8, 6e6, 6);
}

#[test]
fn mm16_matches_erlang_c() {
    mmc_case(16, 0.6, 4e6, 7);
    mmc_case(16, 0.9, 12e6, 8);
}

/// M/G/1 against Pollaczek-Khinchine: deterministic, uniform and gamma service.
fn mg1_case(service: &str, es: f64, scv: f64, rho: f64, customers: f64, seed: u64) {
    let lambda = rho / es;
    let reps = 8;
    let duration = customers / lambda / reps as f64;
    let y = queue_yaml(
        1,
        "shared_queue",
        service,
        lambda,
        duration.round(),
        reps,
        seed,
    );
    let r = run(&y);
    let wq = mg1_mean_wait(lambda, es, scv) * 1e3;
    let sim = r.mean("s", "wait_mean_ms");
    eprintln!("M/G/1 {service} rho {rho}: Wq {sim:.4} ms (P-K {wq:.4})");
    assert!(
        rel(sim, wq) < 0.03,
        "M/G/1 {service} rho {rho}: mean wait {sim} ms, P-K {wq} ms"
    );
    check_littles_law(&r, "s");
}

#[test]
fn md1_matches_pollaczek_khinchine() {
    mg1_case("{fixed: 10ms}", 0.010, 0.0, 0.8, 4e6, 11);
    mg1_case("{fixed: 10ms}", 0.010, 0.0, 0.5, 2e6, 12);
}

#[test]
fn mg1_matches_pollaczek_khinchine() {
    // Uniform on [0, 20 ms]: variance 20^2/12, SCV 1/3.
    mg1_case(
        "{uniform: {min: 0ms, max: 20ms}}",
        0.010,
        1.0 / 3.0,
        0.7,
        4e6,
        13,
    );
    // Gamma with mean 10 ms and sd 15 ms: SCV 2.25.
    mg1_case("{gamma: {mean: 10ms, sd: 15ms}}", 0.010, 2.25, 0.6, 8e6, 14);
}

/// Random routing splits Poisson arrivals into c independent M/M/1 queues.
#[test]
fn random_routing_is_c_independent_mm1() {
    let c = 4;
    let rho = 0.7;
    let lambda = rho * MU * c as f64;
    let y = queue_yaml(
        c,
        "random",
        "{exponential: {mean: 10ms}}",
        lambda,
        1500.0,
        8,
        21,
    );
    let r = run(&y);
    let wq = mmc_mean_wait(1, lambda / c as f64, MU) * 1e3;
    let sim = r.mean("s", "wait_mean_ms");
    assert!(
        rel(sim, wq) < 0.03,
        "random routing: mean wait {sim} ms, M/M/1 {wq} ms"
    );
    let pw = r.mean("s", "wait_probability");
    assert!(
        rel(pw, rho) < 0.03,
        "random routing: P(wait) {pw}, M/M/1 {rho}"
    );
    check_littles_law(&r, "s");
}

/// Closed loop: N users with exponential think time over c exponential servers is the
/// machine-repairman model M/M/c//N, solved exactly.
#[test]
fn closed_loop_matches_machine_repairman() {
    for (users, c, think_s) in [(50u32, 4u32, 1.0f64), (200, 16, 2.0), (10, 1, 0.05)] {
        let y = format!(
            r#"
name: closed
seed: 31
duration: 2000s
warmup: 100s
replications: 6
report_interval: 100s
models: [{{name: m, service_time: {{exponential: {{mean: 50ms}}}}}}]
node_pools: [{{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 2}}]
services: [{{name: s, model: m, node_pool: p, replicas: {c}, routing: shared_queue}}]
workloads:
  - service: s
    arrivals: {{closed: {{users: {users}, think_time: {think_s}s}}}}
"#
        );
        let r = run(&y);
        let (x, resp) = machine_repairman(users, c, think_s, 0.050);
        let sim_x = r.mean("s", "throughput_rps");
        let sim_r = r.mean("s", "latency_mean_ms") * 1e-3;
        eprintln!(
            "M/M/{c}//{users}: X {sim_x:.4}/s (exact {x:.4}), R {sim_r:.5} s (exact {resp:.5})"
        );
        assert!(
            rel(sim_x, x) < 0.02,
            "N={users} c={c}: throughput {sim_x}, exact {x}"
        );
        assert!(
            rel(sim_r, resp) < 0.03,
            "N={users} c={c}: response {sim_r}, exact {resp}"
        );
        let upg = r.mean("s", "users_per_gpu");
        assert!(rel(upg, users as f64 / c as f64) < 1e-9);
        check_littles_law(&r, "s");
    }
}

/// The 95% confidence interval covers the true mean wait in about 95% of independent seeds.
#[test]
fn confidence_intervals_cover_the_truth() {
    let lambda = 50.0;
    let truth = mmc_mean_wait(1, lambda, MU) * 1e3;
    let seeds = 200;
    let mut covered = 0;
    for seed in 0..seeds {
        let y = queue_yaml(
            1,
            "shared_queue",
            "{exponential: {mean: 10ms}}",
            lambda,
            400.0,
            10,
            1000 + seed,
        );
        let r = run(&y);
        let e = r.get("s", "wait_mean_ms").expect("wait_mean_ms");
        if e.ci95_low <= truth && truth <= e.ci95_high {
            covered += 1;
        }
    }
    let coverage = covered as f64 / seeds as f64;
    eprintln!("CI coverage over {seeds} seeds: {coverage}");
    // Binomial(200, 0.95) has sd 1.5%: 0.90..0.99 is more than 3 sd either side.
    assert!((0.90..=0.99).contains(&coverage), "coverage {coverage}");
}
