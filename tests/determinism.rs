//! The same scenario and seed give byte-identical result files at any thread count and on
//! rerun.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A short quickstart run with `threads` rayon threads and any `extra` arguments.
fn run(threads: &str, out: &Path, extra: &[&str]) {
    run_scenario("scenarios/quickstart.yaml", threads, out, extra)
}

/// A short run of `scenario` with `threads` rayon threads and any `extra` arguments.
fn run_scenario(scenario: &str, threads: &str, out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(["run", scenario, "--replications", "4"])
        .args(["--set", "duration=20s", "--set", "warmup=2s"])
        .args(["--set", "report_interval=1s"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("capsim runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("capsim-determinism-{}-{name}", std::process::id()))
}

#[test]
fn results_are_byte_identical_at_any_thread_count() {
    identical_at_any_thread_count("scenarios/quickstart.yaml", "qs");
}

#[test]
fn llm_results_are_byte_identical_at_any_thread_count() {
    identical_at_any_thread_count("scenarios/llm-chat-a100.yaml", "llm");
}

#[test]
fn autoscaled_results_are_byte_identical_at_any_thread_count() {
    // Long enough for the HPAs to scale up and down across the spike.
    identical_with(
        "scenarios/llm-spike-hpa.yaml",
        "hpa",
        &[
            "--set",
            "duration=14m",
            "--set",
            "warmup=2m",
            "--set",
            "report_interval=15s",
            // The spike at 8 minutes instead of 20.
            "--set",
            "workloads.0.arrivals.step.at=8m",
            "--set",
            "workloads.1.arrivals.step.at=8m",
            "--set",
            "workloads.2.arrivals.step.at=8m",
        ],
    );
}

#[test]
fn control_plane_results_are_byte_identical_at_any_thread_count() {
    // The 7,500-node example cut to 1,000 nodes and 4 minutes, 300 joining at 2 minutes:
    // APF's queues and 429s, the watch burst and the control-plane charts (about 0.6 s).
    identical_with(
        "scenarios/control-plane-7500.yaml",
        "cp",
        &[
            "--set",
            "duration=4m",
            "--set",
            "warmup=1m",
            "--set",
            "report_interval=10s",
            "--set",
            "node_pools[0].nodes=1000",
            "--set",
            "control_plane.node_joins[0].time=2m",
            "--set",
            "control_plane.node_joins[0].nodes=300",
            "--set",
            "workloads[0].arrivals.ramp.start=1m",
            "--set",
            "workloads[0].arrivals.ramp.end=3m",
            // The example's checks judge the whole run, not this cut (a failed check would
            // end the run with exit code 1).
            "--set",
            "checks=[]",
        ],
    );
}

#[test]
fn calls_between_services_are_byte_identical_at_any_thread_count() {
    // The app over its shared database, at a load that holds threads and connections,
    // cut to 6 minutes (about a second).
    identical_with(
        "scenarios/app-with-database.yaml",
        "calls",
        &[
            "--set",
            "duration=6m",
            "--set",
            "warmup=1m",
            "--set",
            "workloads.0.arrivals.poisson.rate=700/s",
            "--set",
            "checks=[]",
        ],
    );
}

fn identical_at_any_thread_count(scenario: &str, tag: &str) {
    identical_with(scenario, tag, &[]);
}

fn identical_with(scenario: &str, tag: &str, extra: &[&str]) {
    let a = out_dir(&format!("{tag}-t1"));
    let b = out_dir(&format!("{tag}-t2"));
    let c = out_dir(&format!("{tag}-t2-again"));
    run_scenario(scenario, "1", &a, extra);
    run_scenario(scenario, "2", &b, extra);
    run_scenario(scenario, "2", &c, extra);
    // Every file written (charts included), and at least the three result files.
    let mut files: Vec<String> = std::fs::read_dir(&a)
        .expect("results folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for f in ["summary.csv", "summary.json", "timeseries.csv"] {
        assert!(files.iter().any(|x| x == f), "{f} missing");
    }
    for f in &files {
        let x = std::fs::read(a.join(f)).expect("result file");
        assert!(!x.is_empty());
        assert_eq!(
            x,
            std::fs::read(b.join(f)).expect("result file"),
            "{f}: 1 vs 2 threads"
        );
        assert_eq!(
            x,
            std::fs::read(c.join(f)).expect("result file"),
            "{f}: rerun"
        );
    }
}

#[test]
fn a_different_seed_gives_different_numbers() {
    let a = out_dir("seed-a");
    let b = out_dir("seed-b");
    run("2", &a, &[]);
    run("2", &b, &["--seed", "99"]);
    assert_ne!(
        std::fs::read(a.join("summary.csv")).unwrap(),
        std::fs::read(b.join("summary.csv")).unwrap()
    );
}

#[test]
fn an_app_calling_an_llm_is_byte_identical_at_any_thread_count() {
    // The RAG example cut to 4 minutes: calls carrying tokens into an LLM engine and back.
    identical_with(
        "scenarios/rag-app.yaml",
        "rag",
        &[
            "--set",
            "duration=4m",
            "--set",
            "warmup=1m",
            "--set",
            "checks=[]",
        ],
    );
}
