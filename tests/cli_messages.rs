//! Command-line messages that used to mislead (issue 12): each test is named after the case,
//! runs the real binary and asserts the exit code and the exact message.

use std::path::{Path, PathBuf};

mod common;
use common::capsim;

/// A fresh folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `text` as `name` under `dir` and returns its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8 path").to_string()
}

// ---------------------------------------------------------------------------------------
// capsim hpa explain
// ---------------------------------------------------------------------------------------

/// A snapshot with two pods; `pods` replaces the pod list.
fn snapshot(pods: &str) -> String {
    format!(
        "hpa:
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
currentReplicas: 2
pods:
{pods}"
    )
}

#[test]
fn hpa_explain_refuses_a_negative_cpu_request() {
    let dir = scratch("hpa-negative");
    let file = write(
        &dir,
        "negative.yaml",
        &snapshot(
            "  - name: web-0
    requests: {cpu: -500m}
    usage: {cpu: 140m}
",
        ),
    );
    let (code, out, err) = capsim(&["hpa", "explain", &file]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim_end(),
        format!("{file}:10:21: pods[0].requests.cpu: a request cannot be negative, found -500m")
    );
    // Nothing like "-28% of request" reaches stdout.
    assert_eq!(out, "");
}

#[test]
fn hpa_explain_refuses_negative_usage() {
    let dir = scratch("hpa-negative-usage");
    let file = write(
        &dir,
        "usage.yaml",
        &snapshot(
            "  - name: web-0
    requests: {cpu: 500m}
    usage: {cpu: -1}
",
        ),
    );
    let (code, _, err) = capsim(&["hpa", "explain", &file]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!("{file}:11:18: pods[0].usage.cpu: resource usage cannot be negative, found -1")
    );
}

#[test]
fn hpa_explain_refuses_duplicate_pod_names() {
    let dir = scratch("hpa-duplicate");
    let pod = "  - name: web-0\n    requests: {cpu: 500m}\n    usage: {cpu: 140m}\n";
    let file = write(
        &dir,
        "duplicate.yaml",
        &snapshot(&format!("{pod}  - name: web-1\n{pod}{pod}")),
    );
    let (code, out, err) = capsim(&["hpa", "explain", &file]);
    assert_eq!(code, 2, "{out}{err}");
    // Each repeat points at its own name and at the first occurrence.
    let msg =
        "the pod `web-0` is listed twice (first as pods[0]); pod names are unique in a namespace";
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!("{file}:13:11: pods[2].name: {msg}"),
            format!("{file}:16:11: pods[3].name: {msg}"),
        ]
    );
}

#[test]
fn hpa_explain_calls_an_empty_snapshot_a_snapshot() {
    let dir = scratch("hpa-empty");
    let file = write(&dir, "empty.yaml", "# nothing yet\n");
    let (code, _, err) = capsim(&["hpa", "explain", &file]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!("{file}:1:1: the snapshot file is empty")
    );
    let list = write(&dir, "list.yaml", "- a\n- b\n");
    let (code, _, err) = capsim(&["hpa", "explain", &list]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!(
            "{list}:1:1: the top level of a snapshot must be a mapping of `key: value` settings, found a list of 2 items"
        )
    );
}

#[cfg(unix)]
#[test]
fn hpa_explain_refuses_an_endless_snapshot() {
    let (code, _, err) = capsim(&["hpa", "explain", "/dev/zero"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "/dev/zero: the snapshot is larger than the 16 MiB limit (16777216 bytes) for snapshot files"
    );
}

// ---------------------------------------------------------------------------------------
// capsim search
// ---------------------------------------------------------------------------------------

/// One replica of a single-slot queue with exponential 10 ms service (about 100/s at most).
fn queue(slo: &str) -> String {
    format!(
        "name: q
seed: 3
duration: 20s
warmup: 1s
replications: 2
report_interval: 20s
models:
  - name: exp10
    service_time: {{exponential: {{mean: 10ms}}}}
node_pools:
  - {{name: p, gpu: t4, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 0.35}}
services:
  - {{name: s, model: exp10, node_pool: p, replicas: 1, slo: {slo}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 50/s}}}}
"
    )
}

#[test]
fn search_refuses_an_absurd_target_rate() {
    let dir = scratch("search-target");
    let file = write(&dir, "q.yaml", &queue("{latency_mean: 100ms}"));
    let (code, out, err) = capsim(&["search", &file, "--service", "s", "--target-rate", "1e300"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "{file}: --target-rate: must be at most 1000000000 requests per second (the largest target capsim sizes for), found 1e300"
        )
    );
    assert!(!out.contains("18446744073709551615"), "{out}");
}

#[test]
fn search_reports_no_feasible_count_above_the_replica_limit() {
    // About 90/s per replica meets a 100 ms mean: 1e8/s would need over a million replicas,
    // more than the 100,000 one service may have.
    let dir = scratch("search-infeasible");
    let file = write(&dir, "q.yaml", &queue("{latency_mean: 100ms}"));
    let (code, out, err) = capsim(&["search", &file, "--service", "s", "--target-rate", "1e8"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "\nfor 100000000/s: no feasible count: more than 100000 replicas (the most one service may have) would be needed at the load one replica meets the SLO with\n"
        ),
        "{out}"
    );
    let (code, out, _) = capsim(&[
        "search",
        &file,
        "--service",
        "s",
        "--target-rate",
        "1e8",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["target"]["replicas"], serde_json::Value::Null);
    assert_eq!(v["target"]["feasible"], false);
    assert_eq!(v["target"]["gpus"], serde_json::Value::Null);
    // A target within reach is sized: about 1000/s at about 90/s per replica.
    let (code, out, _) = capsim(&[
        "search",
        &file,
        "--service",
        "s",
        "--target-rate",
        "1000",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["target"]["feasible"], true);
    let replicas = v["target"]["replicas"].as_u64().expect("a count");
    assert!((10..=13).contains(&replicas), "{replicas}");
}

#[test]
fn search_with_an_slo_of_1ns_prints_every_value() {
    let dir = scratch("search-1ns");
    let file = write(&dir, "q.yaml", &queue("{latency_p99: 1ns}"));
    let (code, out, err) = capsim(&["search", &file, "--service", "s"]);
    // No load meets 1 ns: a failed gate, not bad input.
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("SLO: latency_p99_ms <= 0.000001 "), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("missed")).collect();
    assert!(rows.len() > 10, "{out}");
    for row in &rows {
        // `latency_p99_ms VALUE / 0.000001`, VALUE never blank.
        let value = row
            .split("latency_p99_ms ")
            .nth(1)
            .and_then(|r| r.strip_suffix(" / 0.000001"))
            .unwrap_or_else(|| panic!("{row}"));
        assert!(
            value == "not measured (no request completed)" || value.parse::<f64>().is_ok(),
            "{row}"
        );
    }
    // The lowest loads complete nothing in 20 s: they say so.
    assert!(
        rows.last()
            .is_some_and(|r| r.ends_with("not measured (no request completed) / 0.000001")),
        "{out}"
    );
    assert!(out.ends_with("no load tried meets the SLO\n"), "{out}");
}

// ---------------------------------------------------------------------------------------
// capsim sweep and capsim validate: the overrides `run` takes, and 0-based point names
// ---------------------------------------------------------------------------------------

/// A 3-point sweep of a small queue: fast, and point 2 saturates (150/s against one server
/// of 100/s).
const SWEEP: &str = "name: tiny
seed: 3
replications: 2
duration: 20s
warmup: 2s
models: [{name: exp, service_time: {exponential: {mean: 10ms}}}]
node_pools:
  - {name: pool, gpu: t4, gpus_per_node: 4, nodes: 1}
services:
  - {name: web, model: exp, node_pool: pool, replicas: 1, routing: shared_queue}
workloads:
  - service: web
    arrivals: {poisson: {rate: 50/s}}
sweep:
  grid:
    workloads.0.arrivals.poisson.rate: [20/s, 50/s, 150/s]
";

/// Every file under `dir/points`, by name, with its bytes.
fn point_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("points"))
        .expect("points/")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn sweep_accepts_set_seed_and_replications_as_run_does() {
    let dir = scratch("sweep-overrides");
    let file = write(&dir, "tiny.yaml", SWEEP);
    // The same scenario with the overridden values written into the file.
    let edited = write(
        &dir,
        "edited.yaml",
        &SWEEP
            .replace("seed: 3", "seed: 11")
            .replace("replications: 2", "replications: 3")
            .replace("nodes: 1}", "nodes: 2}"),
    );
    let flagged = dir.join("flagged");
    let (code, _, err) = capsim(&[
        "sweep",
        &file,
        "--seed",
        "11",
        "--replications",
        "3",
        "--set",
        "node_pools.pool.nodes=2",
        "--out",
        s(&flagged),
    ]);
    assert_eq!(code, 0, "{err}");
    let written = dir.join("written");
    let (code, _, err) = capsim(&["sweep", &edited, "--out", s(&written)]);
    assert_eq!(code, 0, "{err}");
    // Same meaning as in `run`: the points are the same bytes as with the values in the file.
    let (a, b) = (point_files(&flagged), point_files(&written));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
    // And they differ from the sweep without the flags (the seed changed every figure).
    let plain = dir.join("plain");
    assert_eq!(capsim(&["sweep", &file, "--out", s(&plain)]).0, 0);
    assert_ne!(point_files(&plain), a);
    // The manifest records the flags, in the order `run` applies them: --set, then
    // --replications, then --seed.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(flagged.join("sweep.json")).expect("sweep.json"))
            .expect("JSON");
    assert_eq!(
        manifest["overrides"],
        serde_json::json!(["node_pools.pool.nodes=2", "replications=3", "seed=11"])
    );
}

#[test]
fn sweep_shards_with_the_same_overrides_merge_and_with_others_are_refused() {
    let dir = scratch("sweep-shard-overrides");
    let file = write(&dir, "tiny.yaml", SWEEP);
    let whole = dir.join("whole");
    let shard = |i: usize, seed: &str| {
        let out = dir.join(format!("shard-{i}-seed-{seed}"));
        let (code, _, err) = capsim(&[
            "sweep",
            &file,
            "--shard",
            &format!("{i}/2"),
            "--seed",
            seed,
            "--out",
            s(&out),
        ]);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(
        capsim(&["sweep", &file, "--seed", "7", "--out", s(&whole)]).0,
        0
    );
    let (a, b) = (shard(0, "7"), shard(1, "7"));
    let merged = dir.join("merged");
    let (code, _, err) = capsim(&["merge", s(&a), s(&b), "--out", s(&merged)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(point_files(&merged), point_files(&whole));
    assert_eq!(
        std::fs::read(merged.join("sweep.csv")).expect("merged sweep.csv"),
        std::fs::read(whole.join("sweep.csv")).expect("whole sweep.csv")
    );
    // A shard run with another seed is another sweep.
    let other = shard(1, "8");
    let refused = dir.join("refused");
    let (code, _, err) = capsim(&["merge", s(&a), s(&other), "--out", s(&refused)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(", --set seed=8) against `tiny` (")
            && err.contains(", --set seed=7); merge only shards of one scenario run with the same --set, --seed and --replications"),
        "{err}"
    );
    // Resuming into a folder of another seed is refused too, naming both.
    let (code, _, err) = capsim(&["sweep", &file, "--seed", "8", "--out", s(&whole)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("3 points, --set seed=7); its points cannot be reused for this one")
            && err.contains("3 points, --set seed=8): choose another folder"),
        "{err}"
    );
}

#[test]
fn validate_accepts_set_seed_and_replications() {
    let dir = scratch("validate-set");
    let file = write(&dir, "tiny.yaml", SWEEP);
    let (code, out, err) = capsim(&["validate", &file, "--set", "services.web.replicas=2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("ok {file} (sweep: 3 points, all valid)\n"));
    let (code, _, err) = capsim(&["validate", &file, "--seed", "5", "--replications", "0"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!(
            "{file} (--set replications=0): replications: replications must be from 1 to 10000 (found 0)"
        )
    );
    // Applied before the grid: every point is checked with it.
    let (code, _, err) = capsim(&["validate", &file, "--set", "services.web.replicas=100001"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "{file} (--set services.web.replicas=100001): services[0].replicas:"
        )),
        "{err}"
    );
}

#[test]
fn sweep_point_indices_say_they_are_0_based() {
    let dir = scratch("sweep-0-based");
    let file = write(&dir, "tiny.yaml", SWEEP);
    // An invalid point is named by its index from 0, with the grid's size.
    let bad = write(&dir, "bad.yaml", &SWEEP.replace("150/s]", "-1/s]"));
    let (code, _, err) = capsim(&["validate", &bad]);
    assert_eq!(code, 2);
    assert!(
        err.contains("sweep point 2 of 3 (0-based) with workloads.0.arrivals.poisson.rate=-1/s: "),
        "{err}"
    );
    // The saturated point is the third: index 2.
    let out = dir.join("out");
    let (code, _, err) = capsim(&["sweep", &file, "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "note: in 1 point a service could not keep up with its load (point 2 of 3 (0-based)); \
         its latencies describe a growing queue\n"
    );
    // Its file is points/000002.csv: the same index.
    let rows = std::fs::read_to_string(out.join("points/000002.csv")).expect("point 2");
    assert!(rows.contains("\n150/s,"), "{rows}");
}

/// `validate` draws a progress bar on a terminal (a pseudo-terminal from `script`, where
/// util-linux has it) for a grid of more than one slice, and nothing when stderr is a pipe.
#[test]
fn validate_of_a_large_grid_shows_progress_on_a_terminal() {
    let dir = scratch("validate-progress");
    let file = write(
        &dir,
        "grid.yaml",
        &SWEEP.replace(
            "[20/s, 50/s, 150/s]",
            "{from: 1/s, to: 3000/s, points: 3000}",
        ),
    );
    let (code, out, err) = capsim(&["validate", &file]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("ok {file} (sweep: 3000 points, all valid)\n"));
    assert_eq!(err, "", "no progress into a pipe");
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped the terminal half: no `script` (util-linux) on this machine");
        return;
    }
    let command = format!("{} validate {file}", env!("CARGO_BIN_EXE_capsim"));
    let shown = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("validating sweep points"), "{text}");
    assert!(text.contains("/3000"), "{text}");
}
