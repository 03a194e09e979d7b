//! Routing policies at scale against their mean-field limits.
//!
//! `power_of_two` sends each request to the less loaded of two replicas drawn at random. For
//! N exponential servers at load rho with N large, the share of servers holding at least i
//! requests tends to rho^(2^i - 1) (Vvedenskaya, Dobrushin and Karpelevich 1996;
//! Mitzenmacher 2001, the supermarket model with d = 2), so a server holds
//! sum_{i>=1} rho^(2^i - 1) on average, and by Little's law a request spends
//! (1/mu) sum_{i>=1} rho^(2^i - 2) in the system. With random routing (d = 1) the same sum
//! is the M/M/1 queue's 1 / (mu (1 - rho)). At 1,000 servers the finite-N correction is of
//! order 1/N, well inside the tolerance.

mod common;

use common::{queue_yaml, rel, run};

const MU: f64 = 100.0; // 10 ms mean service

/// Mean time in system of the supermarket model with two choices, in ms.
fn supermarket_mean_ms(rho: f64) -> f64 {
    let mut sum = 0.0;
    let mut i = 1;
    loop {
        let term = rho.powi((1 << i) - 2);
        sum += term;
        if term < 1e-12 {
            break;
        }
        i += 1;
    }
    sum / MU * 1e3
}

fn p2c_case(rho: f64, seed: u64) {
    let servers = 1000;
    let lambda = rho * servers as f64 * MU;
    // About 2 million requests in 4 replications.
    let duration = (2e6 / lambda / 4.0).round();
    let y = queue_yaml(
        servers,
        "power_of_two",
        "{exponential: {mean: 10ms}}",
        lambda,
        duration,
        4,
        seed,
    );
    let r = run(&y);
    let sim = r.mean("s", "latency_mean_ms");
    let exact = supermarket_mean_ms(rho);
    eprintln!("power_of_two, 1,000 servers, rho {rho}: {sim:.3} ms (mean-field {exact:.3} ms)");
    assert!(
        rel(sim, exact) < 0.03,
        "rho {rho}: mean time in system {sim} ms, supermarket model {exact} ms"
    );
    let e = r.mean("s", "littles_law_error");
    assert!(e < 0.01, "Little's law off by {e}");
}

#[test]
fn power_of_two_matches_the_supermarket_model_at_1000_replicas() {
    p2c_case(0.5, 1);
    p2c_case(0.8, 2);
    p2c_case(0.9, 3);
}

#[test]
fn the_supermarket_sum_is_right() {
    // rho 0.9: 1 + 0.81 + 0.9^6 + 0.9^14 + 0.9^30 + 0.9^62 + ... (hand sum: 2.6142)
    assert!((supermarket_mean_ms(0.9) / 10.0 - 2.6142).abs() < 1e-3);
    // rho 0.5: 1 + 1/4 + 1/64 + 1/16384 + ...
    assert!((supermarket_mean_ms(0.5) / 10.0 - 1.265686).abs() < 1e-5);
}

/// Two choices beat one by far at high load: at rho 0.9 random routing gives the M/M/1
/// queue's 100 ms, two choices about 26 ms.
#[test]
fn power_of_two_beats_random_routing() {
    let lambda = 0.9 * 100.0 * MU;
    let yaml = |routing: &str| {
        queue_yaml(
            100,
            routing,
            "{exponential: {mean: 10ms}}",
            lambda,
            200.0,
            2,
            7,
        )
    };
    let random = run(&yaml("random")).mean("s", "latency_mean_ms");
    let p2c = run(&yaml("power_of_two")).mean("s", "latency_mean_ms");
    assert!(
        rel(random, 100.0) < 0.1,
        "random: {random} ms, M/M/1 100 ms"
    );
    assert!(
        p2c < 0.35 * random,
        "power_of_two {p2c} ms vs random {random} ms"
    );
}
