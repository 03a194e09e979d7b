//! `capsim check`: the regression gate against a baseline file, end to end through the
//! binary. Each test works in its own temporary folder with small, fast scenarios.

use std::path::{Path, PathBuf};

mod common;

/// Runs `capsim ARGS` in `dir`: exit code, stdout, stderr.
fn capsim(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::capsim_in(Some(dir), &[], args)
}

/// A generic queue with a fixed service time: its service-time figures are deterministic
/// (zero-width intervals), so the tolerance alone decides for them.
const GENERIC: &str = r#"
name: check-generic
seed: 7
duration: 60s
warmup: 5s
replications: 4
models:
  - name: echo
    service_time: {fixed: 10ms}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
services:
  - {name: echo, model: echo, node_pool: p, replicas: 2}
workloads:
  - service: echo
    arrivals: {poisson: {rate: 50/s}}
checks:
  - echo.latency_p99_ms <= 1000
"#;

/// ResNet-50 with dynamic batching on an A100 (the GPU arithmetic of the roofline model).
const GPU: &str = r#"
name: check-gpu
seed: 7
duration: 30s
warmup: 3s
replications: 4
node_pools:
  - {name: pool, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
services:
  - name: img
    model: resnet50
    node_pool: pool
    replicas: 1
    batching: {dynamic: {max_batch: 32, max_delay: 2ms}}
workloads:
  - service: img
    arrivals: {poisson: {rate: 2000/s}}
"#;

/// A fresh folder holding the two scenarios (`generic.yaml`, `gpu.yaml`).
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("generic.yaml"), GENERIC).unwrap();
    std::fs::write(dir.join("gpu.yaml"), GPU).unwrap();
    dir
}

/// Writes `baseline.csv` in `dir` from both scenarios.
fn make_baseline(dir: &Path) {
    let (code, out, err) = capsim(
        dir,
        &[
            "check",
            "generic.yaml",
            "gpu.yaml",
            "--baseline",
            "baseline.csv",
            "--update-baseline",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("UPDATED check-generic"), "{out}");
}

#[test]
fn unchanged_scenarios_pass_exactly() {
    let dir = workdir("unchanged");
    make_baseline(&dir);
    let text = std::fs::read_to_string(dir.join("baseline.csv")).unwrap();
    assert!(text.starts_with("scenario,component,metric,mean,sd,replications\ncheck-generic,"));
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "generic.yaml",
            "gpu.yaml",
            "--baseline",
            "baseline.csv",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    // Same seed, same bytes: not even a change within the tolerance.
    assert!(out.contains("PASS    check-generic"), "{out}");
    assert!(out.contains("PASS    check-gpu"), "{out}");
    assert!(!out.contains("within tolerance"), "{out}");
    assert!(!out.contains("moved ("), "{out}");
}

#[test]
fn a_slower_gpu_profile_moves_the_latencies() {
    let dir = workdir("gpu");
    make_baseline(&dir);
    // The same scenario on a user-defined A100 with a fifth of its compute.
    let slow = GPU.replace("gpu: a100-80gb", "gpu: slow-a100")
        + "gpus:\n  - {name: slow-a100, based_on: a100-80gb, fp16_tflops: 60, int8_tops: 120}\n";
    std::fs::write(dir.join("slow.yaml"), slow).unwrap();
    let (code, out, err) = capsim(&dir, &["check", "slow.yaml", "--baseline", "baseline.csv"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let moved_line = out
        .lines()
        .find(|l| l.contains("check-gpu") && l.contains(" service_time_mean_ms "))
        .unwrap_or_else(|| panic!("service time not reported as moved:\n{out}"));
    assert!(moved_line.trim_end().ends_with('%'), "{moved_line}");
    assert!(out.contains(" latency_p99_ms "), "{out}");
    assert!(out.contains("FAIL    check-gpu (slow.yaml)"), "{out}");
}

#[test]
fn a_changed_service_time_fails_and_a_small_one_passes() {
    let dir = workdir("service-time");
    make_baseline(&dir);
    let with = |time: &str, extra: &[&str]| {
        let set = format!("models.echo.service_time.fixed={time}");
        let mut args = vec![
            "check",
            "generic.yaml",
            "--baseline",
            "baseline.csv",
            "--set",
            &set,
        ];
        args.extend_from_slice(extra);
        capsim(&dir, &args)
    };
    // Twice as slow: moved.
    let (code, out, err) = with("20ms", &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains(" service_time_mean_ms "), "{out}");
    assert!(out.contains("+100.0%"), "{out}");
    assert!(out.contains(" latency_mean_ms "), "{out}");
    // 2% slower: outside the (zero-width) intervals, but within the 5% tolerance.
    let (code, out, err) = with("10.2ms", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("none moved"), "{out}");
    assert!(out.contains("changed within tolerance or noise"), "{out}");
    // The same change under a 1% tolerance moves.
    let (code, out, err) = with("10.2ms", &["--tolerance", "1%"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains(" service_time_mean_ms "), "{out}");
    assert!(out.contains("+2.0%"), "{out}");
}

#[test]
fn a_failed_check_exits_1_even_when_updating() {
    let dir = workdir("failed-check");
    make_baseline(&dir);
    let strict = GENERIC.replace("latency_p99_ms <= 1000", "latency_p99_ms <= 1");
    std::fs::write(dir.join("strict.yaml"), strict).unwrap();
    let (code, out, err) = capsim(
        &dir,
        &["check", "strict.yaml", "--baseline", "baseline.csv"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("check FAILED: echo.latency_p99_ms <= 1 (measured"),
        "{out}"
    );
    assert!(
        out.contains("1 of 1 checks FAILED; 52 metrics compared, none moved"),
        "{out}"
    );
    let before = std::fs::read_to_string(dir.join("baseline.csv")).unwrap();
    let (code, out, _) = capsim(
        &dir,
        &[
            "check",
            "strict.yaml",
            "--baseline",
            "baseline.csv",
            "--update-baseline",
        ],
    );
    assert_eq!(code, 1, "{out}");
    // The figures are unchanged, so the rewritten baseline is too.
    assert_eq!(
        std::fs::read_to_string(dir.join("baseline.csv")).unwrap(),
        before
    );
}

#[test]
fn update_keeps_other_scenarios_rows() {
    let dir = workdir("update");
    make_baseline(&dir);
    let read = || std::fs::read_to_string(dir.join("baseline.csv")).unwrap();
    let rows_of = |text: &str, s: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{s},")))
            .map(String::from)
            .collect()
    };
    let before = read();
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "generic.yaml",
            "--baseline",
            "baseline.csv",
            "--update-baseline",
            "--seed",
            "8",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let after = read();
    assert_eq!(rows_of(&after, "check-gpu"), rows_of(&before, "check-gpu"));
    assert_ne!(
        rows_of(&after, "check-generic"),
        rows_of(&before, "check-generic")
    );
    // Still grouped by scenario in name order.
    assert!(after.find("\ncheck-generic,").unwrap() < after.find("\ncheck-gpu,").unwrap());
}

#[test]
fn bad_baselines_and_missing_ones() {
    let dir = workdir("bad-baseline");
    let header = "scenario,component,metric,mean,sd,replications\n";
    std::fs::write(
        dir.join("bad.csv"),
        format!(
            "{header}check-generic,echo,requests,10,1,4\ncheck-generic,echo,completed,ten,1,4\n"
        ),
    )
    .unwrap();
    let (code, out, err) = capsim(&dir, &["check", "generic.yaml", "--baseline", "bad.csv"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("bad.csv:3:"), "{err}");
    assert!(err.contains("mean: expected a number"), "{err}");
    // Checked before anything is simulated: nothing on stdout.
    assert!(out.is_empty(), "{out}");

    std::fs::write(
        dir.join("short.csv"),
        format!("{header}check-generic,echo,1\n"),
    )
    .unwrap();
    let (code, _, err) = capsim(&dir, &["check", "generic.yaml", "--baseline", "short.csv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("short.csv:2:1: expected 6 columns"), "{err}");

    // A missing baseline fails and says how to make one.
    let (code, _, err) = capsim(&dir, &["check", "generic.yaml", "--baseline", "none.csv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--update-baseline"), "{err}");

    // A scenario the baseline does not have fails.
    std::fs::write(
        dir.join("other.csv"),
        format!("{header}x,s,requests,1,0,4\n"),
    )
    .unwrap();
    let (code, out, _) = capsim(&dir, &["check", "generic.yaml", "--baseline", "other.csv"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT IN THE BASELINE"), "{out}");

    // A bad scenario is bad input too.
    std::fs::write(dir.join("broken.yaml"), "name: [\n").unwrap();
    let (code, _, err) = capsim(&dir, &["check", "broken.yaml", "--baseline", "other.csv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.yaml"), "{err}");
}

/// An M/M/1 queue at ρ = 0.5 (50/s, exponential 10 ms): its mean wait ρ·S/(1 − ρ) = 10 ms
/// is noisy, its standard deviation over 4-minute replications about 7% of the mean.
const MM1: &str = r#"
name: check-mm1
seed: 11
duration: 240s
warmup: 5s
replications: 5
models:
  - name: exp
    service_time: {exponential: {mean: 10ms}}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
services:
  - {name: q, model: exp, node_pool: p, replicas: 1}
workloads:
  - service: q
    arrivals: {poisson: {rate: 50/s}}
"#;

/// A folder with `mm1.yaml` and its baseline `mm1.csv` (seed 11).
fn mm1_dir(name: &str) -> PathBuf {
    let dir = workdir(name);
    std::fs::write(dir.join("mm1.yaml"), MM1).unwrap();
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "mm1.yaml",
            "--baseline",
            "mm1.csv",
            "--update-baseline",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    dir
}

#[test]
fn a_deliberate_50_percent_change_on_a_noisy_figure_fails() {
    let dir = mm1_dir("fifty");
    // The mean wait is too noisy for the gate to catch a 5% move at 5 replications.
    let (code, out, _) = capsim(
        &dir,
        &["check", "mm1.yaml", "--baseline", "mm1.csv", "--noisy"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("too noisy to gate"), "{out}");
    let noisy = out
        .lines()
        .find(|l| l.contains("check-mm1 q") && l.contains(" wait_mean_ms "))
        .unwrap_or_else(|| panic!("wait_mean_ms not listed as noisy:\n{out}"));
    let needed: u32 = noisy.split_whitespace().last().unwrap().parse().unwrap();
    assert!(needed > 20, "{noisy}");
    // 60/s instead of 50/s: ρ = 0.6, a true mean wait of 15 ms, +50%. It fails.
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "mm1.yaml",
            "--baseline",
            "mm1.csv",
            "--set",
            "workloads.0.arrivals.poisson.rate=60/s",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let moved = out
        .lines()
        .skip_while(|l| !l.starts_with("moved ("))
        .find(|l| l.contains(" wait_mean_ms "))
        .unwrap_or_else(|| panic!("wait_mean_ms did not move:\n{out}"));
    let change: f64 = moved
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!((30.0..70.0).contains(&change), "{moved}");
    assert!(out.contains("FAIL    check-mm1"), "{out}");
}

#[test]
fn an_unchanged_model_passes_across_seeds() {
    // The baseline is seed 11; twenty other seeds draw every figure anew from the same
    // distributions. The gate is designed to fail such a figure with probability at most
    // 0.001 (tests/gate.rs): 15 of the 50 figures vary with the seed, 300 comparisons in
    // all, about 0.3 false alarms expected; allow 2 (none at the time of writing).
    let dir = mm1_dir("seeds");
    let mut moved = 0;
    let mut changed = 0;
    for seed in 12..32 {
        let s = seed.to_string();
        let (code, out, err) = capsim(
            &dir,
            &["check", "mm1.yaml", "--baseline", "mm1.csv", "--seed", &s],
        );
        assert!(code == 0 || code == 1, "{err}");
        let verdict = out
            .lines()
            .find(|l| l.starts_with("PASS") || l.starts_with("FAIL"))
            .unwrap();
        // The number just before `words` in the verdict, 0 if absent.
        let count = |words: &str| -> u32 {
            verdict
                .split(words)
                .next()
                .filter(|_| verdict.contains(words))
                .map_or(0, |s| {
                    s.rsplit(|c: char| !c.is_ascii_digit())
                        .find(|w| !w.is_empty())
                        .map_or(0, |w| w.parse().unwrap())
                })
        };
        // "K of 50 metrics MOVED" or "none moved"; "(15 changed within tolerance or noise)".
        moved += count(" of 50 metrics MOVED");
        changed += count(" changed within tolerance or noise");
    }
    assert!(moved <= 2, "{moved} false alarms over 20 seeds");
    // The seeds did change the figures.
    assert!(changed >= 200, "{changed}");
}
