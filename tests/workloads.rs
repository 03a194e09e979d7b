//! Arrival processes driven through the simulator: the rates the service sees against the
//! processes' defining formulas (Poisson superposition, the stationary on/off MMPP, the
//! diurnal sinusoid's integral, step and ramp integrals), exact counts from replayed traces,
//! and closed-loop users against the interactive response time law.
//!
//! Statistical bounds are a few standard deviations of the count, worked out from the
//! process (Poisson: variance = mean).

mod common;

use common::{rel, run};
use std::f64::consts::PI;
use std::path::PathBuf;

/// A fast service (1 ms fixed, 4 replicas behind one queue) so that every arrival is served
/// at once and the arrival counts are what is measured.
fn open_yaml(arrivals: &[&str], duration_s: f64, replications: u32, interval_s: f64) -> String {
    let mut wl = String::new();
    for a in arrivals {
        wl.push_str(&format!("  - {{service: s, arrivals: {a}}}\n"));
    }
    format!(
        r#"
name: wl
seed: 31
duration: {duration_s}s
replications: {replications}
report_interval: {interval_s}s
models:
  - {{name: m, service_time: {{fixed: 1ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 4, routing: shared_queue}}
workloads:
{wl}"#
    )
}

/// The mean arrival rate over replications, and `z` standard deviations of that mean for a
/// Poisson count with mean `rate x duration` per replication.
fn poisson_bound(rate: f64, duration_s: f64, reps: u32, z: f64) -> f64 {
    z * (rate / duration_s / f64::from(reps)).sqrt()
}

/// The mean over replications of the `arrivals_rps` sample ending at `t` seconds.
fn arrivals_at(r: &capsim::sim::Report, t: f64) -> f64 {
    r.timeseries
        .iter()
        .find(|(time, c, m, _)| (*time - t).abs() < 1e-9 && c == "s" && *m == "arrivals_rps")
        .map(|x| x.3)
        .unwrap_or_else(|| panic!("no arrivals_rps sample at {t} s"))
}

#[test]
fn two_workloads_into_one_service_add_up() {
    // Superposition of independent Poisson processes is Poisson with the summed rate:
    // 30/s + 50/s = 80/s. Bound: 3 sd of the count over 2 x 1000 s.
    let (dur, reps) = (1000.0, 2);
    let r = run(&open_yaml(
        &["{poisson: {rate: 30/s}}", "{poisson: {rate: 50/s}}"],
        dur,
        reps,
        dur,
    ));
    let rate = r.mean("s", "arrival_rate_rps");
    assert!(
        (rate - 80.0).abs() < poisson_bound(80.0, dur, reps, 3.0),
        "{rate}/s vs 80/s"
    );
}

#[test]
fn rates_in_other_units_are_per_second_rates() {
    // 1200/min is 20/s (SPEC.md writes rates as `20/s`, `1200/min`).
    let (dur, reps) = (500.0, 2);
    let r = run(&open_yaml(&["{poisson: {rate: 1200/min}}"], dur, reps, dur));
    let rate = r.mean("s", "arrival_rate_rps");
    assert!(
        (rate - 20.0).abs() < poisson_bound(20.0, dur, reps, 3.0),
        "{rate}/s vs 20/s"
    );
}

#[test]
fn on_off_mean_rate_and_burstiness() {
    // Stationary two-state MMPP (on 100/s for Exp(10 s), off 0/s for Exp(30 s)): the long-run
    // rate is 100 x 10 / (10 + 30) = 25/s. Its count over W seconds has variance (Fischer &
    // Meier-Hellstern 1993, the MMPP cookbook; for two states):
    //   Var N(W) = m W + 2 d^2 p (1 - p) tau (W - tau (1 - e^(-W/tau))),
    // with m = 25/s, d = 100/s the rate difference, p = 1/4 the on fraction and
    // tau = 1 / (1/10 + 1/30) = 7.5 s the modulating chain's correlation time.
    let (w, reps) = (20_000.0, 10u32);
    let r = run(&open_yaml(
        &["{on_off: {on_rate: 100/s, off_rate: 0/s, on_time: 10s, off_time: 30s}}"],
        w,
        reps,
        w,
    ));
    let (m, d, p, tau) = (25.0, 100.0, 0.25, 7.5);
    let var_n = m * w + 2.0 * d * d * p * (1.0 - p) * tau * (w - tau * (1.0 - (-w / tau).exp()));
    let sd_rate = var_n.sqrt() / w; // one replication's rate
    let e = *r.get("s", "arrival_rate_rps").expect("arrival_rate_rps");
    let sd_mean = sd_rate / f64::from(reps).sqrt();
    assert!(
        (e.mean - 25.0).abs() < 4.0 * sd_mean,
        "{}/s vs 25/s (sd of the mean {sd_mean})",
        e.mean
    );
    // The spread between replications is the MMPP's, not a Poisson's (which would be 30x
    // smaller): the sample sd, from the 95% interval (t = 2.262 at 9 df), lies within the
    // chi-square(9) 99.7% range of the true sd.
    let sample_sd = (e.ci95_high - e.ci95_low) / 2.0 / 2.262 * f64::from(reps).sqrt();
    let ratio = sample_sd / sd_rate;
    eprintln!(
        "on/off: mean {} (sd of mean {sd_mean}), replication sd {sample_sd} vs {sd_rate}",
        e.mean
    );
    assert!(
        (0.35..2.0).contains(&ratio),
        "replication sd {sample_sd} vs MMPP sd {sd_rate} (ratio {ratio})"
    );
}

/// Integral of the diurnal rate over [a, b]:
/// lambda(t) = min + (peak - min) (1 + cos(2 pi (t - peak_at) / period)) / 2.
fn diurnal_integral(min: f64, peak: f64, period: f64, peak_at: f64, a: f64, b: f64) -> f64 {
    let k = 2.0 * PI / period;
    let s = |t: f64| (k * (t - peak_at)).sin() / k;
    min * (b - a) + (peak - min) / 2.0 * ((b - a) + s(b) - s(a))
}

#[test]
fn diurnal_rate_over_a_period_and_its_phase() {
    // One whole period of 100 s between 10/s and 50/s, peak at 50 s (the default, half the
    // period): mean rate (10 + 50) / 2 = 30/s. Per 10 s interval, the expected count is the
    // integral of lambda(t): about 11.3/s in [0, 10] and 48.7/s in [40, 50].
    let (dur, reps) = (100.0, 10);
    let r = run(&open_yaml(
        &["{diurnal: {min_rate: 10/s, peak_rate: 50/s, period: 100s}}"],
        dur,
        reps,
        10.0,
    ));
    let rate = r.mean("s", "arrival_rate_rps");
    assert!(
        (rate - 30.0).abs() < poisson_bound(30.0, dur, reps, 3.0),
        "{rate}/s vs 30/s"
    );
    for (a, b) in [(0.0, 10.0), (40.0, 50.0), (70.0, 80.0)] {
        let want = diurnal_integral(10.0, 50.0, 100.0, 50.0, a, b) / (b - a);
        let got = arrivals_at(&r, b);
        eprintln!("diurnal [{a}, {b}]: {got} vs {want}");
        assert!(
            (got - want).abs() < poisson_bound(want, b - a, reps, 4.0),
            "[{a}, {b}] s: {got}/s vs {want}/s"
        );
    }
}

#[test]
fn step_changes_the_rate_at_its_time() {
    // 10/s for 100 s, then 50/s for 100 s: mean (10 + 50) / 2 = 30/s; each 20 s interval
    // sees the rate of its half.
    let (dur, reps) = (200.0, 5);
    let r = run(&open_yaml(
        &["{step: {from: 10/s, to: 50/s, at: 100s}}"],
        dur,
        reps,
        20.0,
    ));
    let rate = r.mean("s", "arrival_rate_rps");
    assert!(
        (rate - 30.0).abs() < poisson_bound(30.0, dur, reps, 3.0),
        "{rate}/s vs 30/s"
    );
    for (t, want) in [(20.0, 10.0), (100.0, 10.0), (120.0, 50.0), (180.0, 50.0)] {
        let got = arrivals_at(&r, t);
        assert!(
            (got - want).abs() < poisson_bound(want, 20.0, reps, 4.0),
            "interval ending {t} s: {got}/s vs {want}/s"
        );
    }
}

#[test]
fn ramp_rises_linearly_between_its_times() {
    // 10/s until 50 s, linear to 50/s at 150 s, then 50/s, over 200 s: the integral is
    // 10 x 50 + (10 + 50) / 2 x 100 + 50 x 50 = 6000, a mean of 30/s. In [90, 100] the rate
    // averages its midpoint value 10 + 40 x (95 - 50) / 100 = 28/s.
    let (dur, reps) = (200.0, 5);
    let r = run(&open_yaml(
        &["{ramp: {from: 10/s, to: 50/s, start: 50s, end: 150s}}"],
        dur,
        reps,
        10.0,
    ));
    let rate = r.mean("s", "arrival_rate_rps");
    assert!(
        (rate - 30.0).abs() < poisson_bound(30.0, dur, reps, 3.0),
        "{rate}/s vs 30/s"
    );
    for (t, want) in [(50.0, 10.0), (100.0, 28.0), (150.0, 48.0), (190.0, 50.0)] {
        let got = arrivals_at(&r, t);
        assert!(
            (got - want).abs() < poisson_bound(want, 10.0, reps, 4.0),
            "interval ending {t} s: {got}/s vs {want}/s"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------

fn temp_file(test: &str, name: &str, text: &str) -> String {
    let d: PathBuf =
        std::env::temp_dir().join(format!("capsim-workloads-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    let path = d.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn trace_yaml(file: &str, extra: &str, duration: &str, warmup: &str) -> String {
    format!(
        r#"
name: trace
seed: 37
duration: {duration}
warmup: {warmup}
replications: 2
report_interval: {duration}
models:
  - {{name: m, service_time: {{fixed: 1ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 2, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1}}
  - {{name: other, model: m, node_pool: p, replicas: 1}}
workloads:
  - {{service: s, arrivals: {{trace: {{file: {file}{extra}}}}}}}
  - {{service: other, arrivals: {{trace: {{file: {file}{extra}}}}}}}
"#
    )
}

/// Rows for `s` at 0.5, 1.5, ..., 29.5 s and for `other` at 0.2, 1.7, ..., 28.7 s (every
/// 1.5 s), merged in time order.
fn two_service_trace() -> String {
    let mut rows: Vec<(f64, &str)> = (0..30).map(|i| (f64::from(i) + 0.5, "s")).collect();
    rows.extend((0..20).map(|i| (f64::from(i) * 1.5 + 0.2, "other")));
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut text = String::from("timestamp,service,note\n");
    for (t, s) in rows {
        text.push_str(&format!("{t},{s},x\n"));
    }
    text
}

#[test]
fn a_trace_replays_exactly_its_rows_for_the_service() {
    // Exact counts, by hand: with a 10 s warm-up, the `s` rows at 10.5 ... 29.5 s are 20;
    // the `other` rows at 1.5 i + 0.2 >= 10 s are i = 7 ... 19, 13 of them. Each workload keeps
    // only its service's rows, so neither sees the other's. Every replication replays the
    // same rows.
    let file = temp_file("trace", "t.csv", &two_service_trace());
    let r = run(&trace_yaml(&file, "", "40s", "10s"));
    for (svc, n) in [("s", 20.0), ("other", 13.0)] {
        let e = r.get(svc, "requests").expect("requests");
        assert_eq!((e.mean, e.n), (n, 2), "{svc} requests");
        assert_eq!(r.mean(svc, "completed"), n, "{svc} completed");
    }
    // time_scale 2 doubles every timestamp: `s` rows at 2 i + 1 s, those at or after 10 s are
    // i = 5 ... 29 (25); `other` rows at 3 i + 0.4 >= 10 s are i = 4 ... 19 (16).
    let r = run(&trace_yaml(&file, ", time_scale: 2", "70s", "10s"));
    assert_eq!(r.mean("s", "requests"), 25.0);
    assert_eq!(r.mean("other", "requests"), 16.0);
}

#[test]
fn a_looping_trace_repeats_with_its_period() {
    // 10 rows at 0.5 ... 9.5 s; looping, the period is the last timestamp plus the mean gap
    // (1 s): 10.5 s. Over 105 s that is exactly 10 laps, 100 arrivals (the last at
    // 9 x 10.5 + 9.5 = 104 s).
    let text: String = std::iter::once("timestamp\n".to_string())
        .chain((0..10).map(|i| format!("{}\n", f64::from(i) + 0.5)))
        .collect();
    let file = temp_file("loop", "l.csv", &text);
    let y = format!(
        r#"
name: loop
seed: 41
duration: 105s
replications: 1
report_interval: 105s
models:
  - {{name: m, service_time: {{fixed: 1ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1}}
workloads:
  - {{service: s, arrivals: {{trace: {{file: {file}, loop: true}}}}}}
"#
    );
    let r = run(&y);
    assert_eq!(r.mean("s", "requests"), 100.0);
    assert_eq!(r.mean("s", "completed"), 100.0);
}

// ---------------------------------------------------------------------------------------
// Closed loop
// ---------------------------------------------------------------------------------------

fn closed_yaml(pool_extra: &str, replicas: u32, users: u32) -> String {
    format!(
        r#"
name: closed
seed: 43
duration: 610s
warmup: 10s
replications: 3
report_interval: 610s
models:
  - {{name: m, service_time: {{exponential: {{mean: 50ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 1{pool_extra}}}
services:
  - {{name: s, model: m, node_pool: p, replicas: {replicas}, routing: shared_queue}}
workloads:
  - service: s
    arrivals: {{closed: {{users: {users}, think_time: 1s}}}}
"#
    )
}

#[test]
fn users_per_gpu_is_users_over_gpus() {
    // 60 users on 3 whole GPUs: 20 per GPU.
    let r = run(&closed_yaml("", 3, 60));
    assert_eq!(r.mean("s", "users"), 60.0);
    assert_eq!(r.mean("s", "users_per_gpu"), 20.0);
    // Interactive response time law (Denning & Buzen 1978, an operational law that holds for
    // any closed system): X = N / (R + Z), with N users, mean response time R and mean think
    // time Z = 1 s.
    let x = r.mean("s", "throughput_rps");
    let resp = r.mean("s", "latency_mean_ms") * 1e-3;
    let want = 60.0 / (resp + 1.0);
    assert!(rel(x, want) < 0.02, "throughput {x}/s vs N/(R+Z) {want}/s");

    // Time slicing 4 ways: 2 replicas hold 2 quarter-GPUs, half a GPU: 60 users is 120 per
    // GPU.
    let r = run(&closed_yaml(", gpu_sharing: {time_slicing: 4}", 2, 60));
    assert!(rel(r.mean("s", "users_per_gpu"), 120.0) < 1e-9);
}

// ---------------------------------------------------------------------------------------
// Request sizes
// ---------------------------------------------------------------------------------------

#[test]
fn token_counts_come_from_the_trace_or_the_distributions() {
    // A trace's token columns are carried by each request: the mean over the rows replayed
    // after warm-up is exact (rows at 10.5 ... 29.5 s with prompt 100 + i, output 2 i).
    let text: String = std::iter::once("timestamp,prompt_tokens,output_tokens\n".to_string())
        .chain((0..30).map(|i| format!("{},{},{}\n", f64::from(i) + 0.5, 100 + i, 2 * i)))
        .collect();
    let file = temp_file("tokens", "k.csv", &text);
    let y = open_yaml(&[&format!("{{trace: {{file: {file}}}}}")], 40.0, 1, 40.0)
        .replace("report_interval: 40s", "report_interval: 40s\nwarmup: 10s");
    let r = run(&y);
    // Rows i = 10 ... 29: prompt mean 100 + 19.5, output mean 2 x 19.5.
    assert_eq!(r.mean("s", "prompt_tokens_mean"), 119.5);
    assert_eq!(r.mean("s", "output_tokens_mean"), 39.0);

    // Distributions: fixed is exact; a lognormal with mean 512 keeps its mean (within 4
    // standard errors: sd 256 over ~30,000 requests).
    let y = open_yaml(&["{poisson: {rate: 100/s}}"], 300.0, 1, 300.0).replace(
        "arrivals: {poisson: {rate: 100/s}}}",
        "arrivals: {poisson: {rate: 100/s}}, prompt_tokens: {lognormal: {mean: 512, sd: 256}}, output_tokens: {fixed: 128}}",
    );
    let r = run(&y);
    assert_eq!(r.mean("s", "output_tokens_mean"), 128.0);
    let p = r.mean("s", "prompt_tokens_mean");
    assert!(
        (p - 512.0).abs() < 4.0 * 256.0 / 30_000f64.sqrt(),
        "prompt mean {p}"
    );

    // Without sizes the figures are empty, not zero.
    let r = run(&open_yaml(&["{poisson: {rate: 10/s}}"], 20.0, 1, 20.0));
    assert!(r.mean("s", "prompt_tokens_mean").is_nan());
}
