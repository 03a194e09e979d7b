//! The end of the start-up transient, found by MSER-5 (issue fault 4: "warm-up is a guess").
//!
//! A single server (exponential, 10 ms) at 90 requests/s whose pod takes 60 s to start: the
//! requests of the first minute wait, 5,400 of them, and the backlog drains at mu - lambda =
//! 10/s, so by the fluid limit it is gone at 60 + 540 = 600 s; after that the queue wanders
//! about its stationary mean of 9 (M/M/1 at rho 0.9).

mod common;
use common::{capsim, run};

fn start_up(warmup: &str) -> String {
    format!(
        r#"
name: start-up
seed: 21
duration: 3000s
warmup: {warmup}
replications: 4
report_interval: 10s
models:
  - {{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1}}
services:
  - {{name: s, model: m, node_pool: p, replicas: 1, startup_time: 60s}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 90/s}}}}
"#
    )
}

#[test]
fn the_transient_of_a_backlog_at_start_up_ends_where_the_fluid_limit_says() {
    let r = run(&start_up("0s"));
    let end = r.mean("s", "transient_end_s");
    // Batches of five 10 s intervals: the answer is a multiple of 50 s; the fluid limit
    // (600 s) and the queue's own noise around it put it within a couple of batches.
    assert!((500.0..=750.0).contains(&end), "{end}");
}

#[test]
fn a_queue_that_starts_in_steady_state_has_next_to_no_transient() {
    // The same queue with its pod Ready at once and a lighter load: nothing to cut beyond a
    // batch or two of the queue filling from empty.
    let yaml = start_up("0s")
        .replace(", startup_time: 60s", "")
        .replace("rate: 90/s", "rate: 50/s");
    let end = run(&yaml).mean("s", "transient_end_s");
    assert!(end <= 100.0, "{end}");
}

#[test]
fn a_load_that_moves_from_the_start_has_no_answer() {
    // A diurnal load has no steady stretch at the start to tell a transient in.
    let yaml = start_up("0s").replace(
        "{poisson: {rate: 90/s}}",
        "{diurnal: {min_rate: 10/s, peak_rate: 80/s, period: 3000s, peak_at: 1500s}}",
    );
    assert!(run(&yaml).mean("s", "transient_end_s").is_nan());
}

#[test]
fn a_warm_up_shorter_than_the_transient_is_warned_about() {
    let dir = std::env::temp_dir().join(format!("capsim-warmup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (warmup, warned) in [("60s", true), ("15m", false)] {
        let f = dir.join(format!("w{warmup}.yaml"));
        std::fs::write(&f, start_up(warmup)).unwrap();
        let out = dir.join(format!("out{warmup}"));
        let (code, stdout, stderr) =
            capsim(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            stdout.contains("the start-up transient lasts about"),
            warned,
            "warmup {warmup}: {stdout}"
        );
    }
}
