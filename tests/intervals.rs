//! Confidence intervals that stay inside a figure's range, checked against figures whose
//! distribution is known in closed form, over many seeds: the count of Poisson arrivals in
//! the window (`requests`, Poisson with mean rate × window exactly) and the share of
//! requests that waited in an M/M/1 queue (`wait_probability`, whose mean is ρ by PASTA),
//! both near 0 where a symmetric interval would reach below it.

use capsim::report::intervals::interval;
use capsim::stats::Estimate;

mod common;

/// P(X = k) for X ~ Poisson(mean), by the recurrence (no factorials to overflow).
fn poisson_pmf(mean: f64, kmax: usize) -> Vec<f64> {
    let mut p = vec![(-mean).exp()];
    for k in 1..kmax {
        p.push(p[k - 1] * mean / k as f64);
    }
    p
}

/// The exact coverage of the interval `interval("requests", ..)` for `n` replications of
/// a Poisson(mean) count: the probability, summed over every outcome (k_1, ..., k_n) up to
/// counts far in the tail, that the interval of the outcome holds `mean`.
fn exact_poisson_coverage(mean: f64, n: usize) -> f64 {
    let kmax = (mean + 12.0 * mean.sqrt() + 12.0) as usize;
    let pmf = poisson_pmf(mean, kmax);
    let mut covered = 0.0;
    let mut ks = vec![0usize; n];
    loop {
        let p: f64 = ks.iter().map(|&k| pmf[k]).product();
        if p > 1e-15 {
            let values: Vec<f64> = ks.iter().map(|&k| k as f64).collect();
            let iv = interval("requests", &Estimate::from_values(&values));
            if iv.low <= mean && mean <= iv.high {
                covered += p;
            }
        }
        // Next outcome, in odometer order.
        let mut i = 0;
        while i < n {
            ks[i] += 1;
            if ks[i] < kmax {
                break;
            }
            ks[i] = 0;
            i += 1;
        }
        if i == n {
            return covered;
        }
    }
}

/// Runs the M/M/1 queue of `rate`/s (service 10 ms) over `seeds` seeds of `n` replications
/// and returns, per seed, the estimates of `metric`.
fn estimates(metric: &str, rate: f64, duration_s: f64, n: u32, seeds: u64) -> Vec<Estimate> {
    (1..=seeds)
        .map(|seed| {
            let yaml = common::queue_yaml(
                1,
                "round_robin",
                "{exponential: {mean: 10ms}}",
                rate,
                duration_s,
                n,
                seed,
            );
            *common::run(&yaml)
                .get("s", metric)
                .unwrap_or_else(|| panic!("no {metric}"))
        })
        .collect()
}

#[test]
fn a_poisson_count_near_zero_covers_as_the_exact_calculation_says() {
    // 0.03/s over a 19 s window: a Poisson count of mean 0.57 per replication, 2.85 over
    // five. Most samples hold a 0 and a symmetric interval reaches below it.
    let (rate, duration, n, seeds) = (0.03, 20.0, 5u32, 1000u64);
    let mean = rate * duration * 0.95;
    let ests = estimates("requests", rate, duration, n, seeds);
    let mut covered = 0;
    let mut below_zero = 0;
    for e in &ests {
        let iv = interval("requests", e);
        assert!(iv.low >= 0.0, "{iv:?}");
        below_zero += usize::from(e.ci95_low < 0.0 && iv.cut_low);
        if e.n >= 2 && iv.low <= mean && mean <= iv.high {
            covered += 1;
        }
    }
    let coverage = covered as f64 / seeds as f64;
    let exact = exact_poisson_coverage(mean, n as usize);
    // The simulator's counts are Poisson, so the coverage over seeds is a binomial draw
    // around the exact coverage: within 4 standard deviations.
    let sd = (exact * (1.0 - exact) / seeds as f64).sqrt();
    assert!(
        (coverage - exact).abs() < 4.0 * sd,
        "coverage {coverage} over {seeds} seeds, exact {exact}"
    );
    // The cut mattered: most t-intervals reached below 0.
    assert!(below_zero > seeds as usize / 2, "{below_zero}");
    // Near the bound the t-interval loses some coverage (an all-zero sample gives
    // [0 .. 0]); docs/metrics.md states at least 90% from an expected total of 2.5 over 5
    // replications, and 93% from 3 over 3 or more.
    assert!(exact > 0.90, "{exact}");
}

#[test]
fn exact_poisson_coverage_where_the_readme_promises_it() {
    // With 3 to 5 replications: at least 89% once they expect 3 or more events in all,
    // 92% to 97% from 10 (the coverage of a discrete count wobbles with the mean). Below
    // 3 events it falls (about 1 - e^-total: an all-zero sample gives [0 .. 0]).
    for n in [3usize, 4, 5] {
        for total in [3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0] {
            let c = exact_poisson_coverage(total / n as f64, n);
            assert!(c >= 0.89, "n {n}, expected total {total}: coverage {c}");
            if total >= 10.0 {
                assert!((0.92..=0.97).contains(&c), "n {n}, total {total}: {c}");
            }
        }
        let c = exact_poisson_coverage(1.0 / n as f64, n);
        assert!((c - (1.0 - (-1.0f64).exp())).abs() < 0.03, "n {n}: {c}");
    }
}

#[test]
fn the_share_of_waiting_requests_near_zero_covers_rho() {
    // M/M/1 at ρ = 0.03 (3/s, 10 ms): P(wait > 0) = ρ for Poisson arrivals. 100 s windows
    // hold about 9 waiting requests each.
    let (rate, duration, n, seeds) = (3.0, 100.0, 5u32, 400u64);
    let rho = rate * 0.010;
    let ests = estimates("wait_probability", rate, duration, n, seeds);
    let mut covered = 0;
    for e in &ests {
        let iv = interval("wait_probability", e);
        assert!(iv.low >= 0.0 && iv.high <= 1.0, "{iv:?}");
        covered += usize::from(iv.low <= rho && rho <= iv.high);
    }
    let coverage = covered as f64 / seeds as f64;
    // 95% nominal; within 4 standard deviations of a binomial draw over the seeds.
    let sd = (0.95f64 * 0.05 / seeds as f64).sqrt();
    assert!(coverage > 0.95 - 4.0 * sd, "coverage {coverage}");
}

#[test]
fn one_replication_has_no_interval_anywhere() {
    let dir = std::env::temp_dir().join(format!("capsim-intervals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = common::queue_yaml(1, "round_robin", "{fixed: 5ms}", 20.0, 10.0, 1, 3);
    let sc = dir.join("one.yaml");
    std::fs::write(&sc, yaml).unwrap();
    let out = dir.join("out");
    let (code, stdout, err) =
        common::capsim(&["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.starts_with("q (1 replication: no confidence intervals"),
        "{stdout}"
    );
    assert!(!stdout.contains("95%"), "{stdout}");
    assert!(!stdout.contains(" .. "), "{stdout}");
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        // 1, or 0 for a figure this service does not measure (TTFT of a non-LLM).
        assert!(f[6] == "1" || f[6] == "0", "{line}");
        assert_eq!((f[4], f[5]), ("", ""), "{line}");
    }
    let json = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["s"]["latency_mean_ms"]["ci95_low"].is_null(), "{json}");
    assert!(v["s"]["latency_mean_ms"]["ci95_high"].is_null(), "{json}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("no confidence intervals"));
    assert!(!html.contains("95% confidence intervals"));
}
