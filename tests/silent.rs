//! No silent wrong answers: a service that saturated, served nothing or never got a pod is
//! marked in the terminal table, the charts and index.html, warned about on stderr, and
//! fails `capsim check` unless a check of the scenario says it is expected.

use std::path::{Path, PathBuf};

mod common;

/// A fresh folder for `test`, holding `files` (name, text).
fn scratch(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-silent-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// Runs `capsim ARGS` in `dir`: exit code, stdout, stderr.
fn capsim(dir: &Path, args: &[&str]) -> (i32, String, String) {
    common::capsim_in(Some(dir), &[], args)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Llama-2-7B (4,096 tokens of context) on one A100, asked prompts of 8,000 tokens: the
/// engine can run none of them.
const LONG_PROMPTS: &str = r#"
name: long-prompts
seed: 3
duration: 2m
warmup: 10s
replications: 2
node_pools:
  - {name: a100, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
services:
  - {name: chat, model: llama2-7b, node_pool: a100, replicas: 1}
workloads:
  - service: chat
    arrivals: {poisson: {rate: 2/s}}
    prompt_tokens: {fixed: 8000}
    output_tokens: {fixed: 64}
"#;

#[test]
fn a_prompt_longer_than_the_context_warns_and_fails_check() {
    let dir = scratch("long", &[("long.yaml", LONG_PROMPTS)]);
    let (code, out, err) = capsim(&dir, &["run", "long.yaml", "--out", "out"]);
    // Not a failed gate (the scenario has no checks), but never silent.
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: long-prompts: chat SERVED NOTHING: every request was dropped"),
        "{err}"
    );
    assert!(err.contains("longer than the model's context"), "{err}");
    assert!(out.contains("  chat  [SERVED NOTHING]"), "{out}");
    let html = read(&dir.join("out/index.html"));
    assert!(
        html.contains("SERVED NOTHING"),
        "index.html does not say so"
    );
    // The same with --json: stdout is the document, the warning is on stderr.
    let (code, out, err) = capsim(&dir, &["run", "long.yaml", "--out", "out", "--json"]);
    assert_eq!(code, 0);
    assert!(out.trim_start().starts_with('{'), "{out}");
    assert!(err.contains("SERVED NOTHING"), "{err}");

    // capsim check fails it, even against a baseline of the same figures.
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "long.yaml",
            "--baseline",
            "b.csv",
            "--update-baseline",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(dir.join("b.csv").exists());
    let (code, out, err) = capsim(&dir, &["check", "long.yaml", "--baseline", "b.csv"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("FAIL    long-prompts (long.yaml): no checks; chat SERVED NOTHING, which no check expects; "),
        "{out}"
    );
    assert!(
        out.contains("add `chat.completed == 0` to its checks:"),
        "{out}"
    );
    assert!(err.contains("SERVED NOTHING"), "{err}");
    // A scenario that means it says so, and passes.
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            "long.yaml",
            "--baseline",
            "b.csv",
            "--set",
            "checks=[chat.completed == 0]",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("expected by a check: chat SERVED NOTHING"),
        "{out}"
    );
    assert!(out.contains("PASS    long-prompts"), "{out}");
}

#[test]
fn a_saturated_t4_is_marked_everywhere_and_fails_check_unless_expected() {
    let dir = scratch("t4", &[]);
    let scenario = std::env::current_dir()
        .unwrap()
        .join("scenarios/llm-gpu-comparison.yaml");
    let sc = scenario.to_str().unwrap();
    let (code, out, err) = capsim(&dir, &["run", sc, "--out", "out"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  on-t4  [SATURATED in 3 of 3 replications]"),
        "{out}"
    );
    assert!(
        err.contains("warning: llm-gpu-comparison: on-t4 SATURATED in 3 of 3 replications"),
        "{err}"
    );
    let html = read(&dir.join("out/index.html"));
    assert!(
        html.contains("on-t4 SATURATED in 3 of 3 replications"),
        "index.html"
    );

    // The per-gpu chart: the T4 has the lowest cost per 1,000 requests, but its bars are
    // grey and labelled, and the cheapest (orange) is the A100.
    let svg = read(&dir.join("out/per-gpu.svg"));
    assert!(svg.contains("\non-t4 SATURATED\n"), "label missing");
    let fills: Vec<&str> = svg
        .split("<rect ")
        .skip(1)
        .filter_map(|r| r.split("fill=\"").nth(1)?.split('"').next())
        .filter(|f| *f != "#FFFFFF")
        .collect();
    // Three panels of three bars: T4, A100, H100.
    assert_eq!(fills.len(), 9, "{fills:?}");
    for panel in fills.chunks(3) {
        assert_eq!(panel, ["#AFAFAF", "#D55E00", "#0072B2"], "{fills:?}");
    }
    let summary = read(&dir.join("out/summary.csv"));
    let cost = |svc: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.contains(&format!(",{svc},cost_per_1k_requests,")))
            .unwrap();
        line.split(',').nth(3).unwrap().parse().unwrap()
    };
    assert!(
        cost("on-t4") < cost("on-a100"),
        "the T4 looks cheapest by cost alone"
    );

    // check: the scenario says `on-t4.saturated == 1`, so it passes and says why.
    let (code, out, err) = capsim(
        &dir,
        &["check", sc, "--baseline", "b.csv", "--update-baseline"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("expected by a check: on-t4 SATURATED"),
        "{out}"
    );
    // Without that check it fails, and says what to add.
    let (code, out, err) = capsim(
        &dir,
        &[
            "check",
            sc,
            "--baseline",
            "b.csv",
            "--set",
            "checks=[on-a100.tpot_p95_ms <= 100]",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("on-t4 SATURATED in 3 of 3 replications, which no check expects"),
        "{out}"
    );
    assert!(
        out.contains("add `on-t4.saturated == 1` to its checks:"),
        "{out}"
    );
    assert!(out.contains("FAIL    llm-gpu-comparison"), "{out}");
}

#[test]
fn a_service_whose_pods_fit_nowhere_warns() {
    // The pool has no node: both replicas stay pending and the queue fills during warm-up.
    let yaml = common::queue_yaml(2, "round_robin", "{fixed: 5ms}", 50.0, 20.0, 2, 1)
        .replace("nodes: 1}", "nodes: 0}");
    assert!(yaml.contains("nodes: 0}"), "{yaml}");
    let dir = scratch("nofit", &[("nofit.yaml", &yaml)]);
    let (code, out, err) = capsim(&dir, &["run", "nofit.yaml", "--out", "out"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: q: s: NO POD SCHEDULED: 2 pending at the end, they fit on no node"),
        "{err}"
    );
    assert!(err.contains("s SATURATED in 2 of 2 replications"), "{err}");
    assert!(out.contains("[NO POD SCHEDULED]"), "{out}");
    // Check fails on both, naming the checks that would say they are expected.
    let (code, out, _) = capsim(
        &dir,
        &[
            "check",
            "nofit.yaml",
            "--baseline",
            "b.csv",
            "--update-baseline",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("add `s.pods_pending == 2`"), "{out}");
    assert!(out.contains("add `s.saturated == 1`"), "{out}");
}
