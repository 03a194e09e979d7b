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

#[test]
fn hpa_explain_help_points_to_a_docs_section_that_exists() {
    let (code, out, _) = capsim(&["hpa", "explain", "--help"]);
    assert_eq!(code, 0);
    let link = out
        .split_whitespace()
        .find(|w| w.contains(".md#"))
        .expect("a docs link in --help")
        .trim_end_matches([')', '.', ',']);
    let (page, anchor) = link.split_once('#').expect("page#anchor");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(page))
        .unwrap_or_else(|e| panic!("{page}: {e}"));
    // The heading whose GitHub anchor is `anchor`: lower case, spaces to dashes, punctuation
    // other than `-` and `_` dropped.
    let found = text.lines().filter_map(|l| l.strip_prefix('#')).any(|h| {
        let h = h.trim_start_matches('#').trim();
        let slug: String = h
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        slug == anchor
    });
    assert!(found, "no heading for #{anchor} in {page}");
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
