//! Bad input never panics: each malformed scenario exits 2 with a message that names the
//! file, the line and column, and the field.

use std::path::PathBuf;

mod common;
use common::capsim;

const GOOD: &str = r#"name: ok
duration: 10s
replications: 1
node_pools:
  - name: a100
    gpu: a100-80gb
    gpus_per_node: 8
    nodes: 1
services:
  - name: web
    model: resnet50
    node_pool: a100
    replicas: 2
workloads:
  - service: web
    arrivals: {poisson: {rate: 100/s}}
"#;

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

/// Replaces `from` by `to` in the good scenario (which must contain it).
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from} not in the good scenario");
    GOOD.replacen(from, to, 1)
}

/// Asserts that validating `text` fails with exit 2 and a message that contains
/// `file:line:col` and every one of `needles`.
fn refused(case: &str, text: &[u8], line_col: Option<(u32, u32)>, needles: &[&str]) {
    let path = tmp(&format!("{case}.yaml"), text);
    let p = path.to_str().expect("utf-8 path");
    for cmd in ["validate", "run"] {
        let (code, stdout, stderr) =
            capsim(&[cmd, p, "--out", "/dev/null/none"][..if cmd == "run" { 4 } else { 2 }]);
        assert_eq!(
            code, 2,
            "{case} ({cmd}): exit {code}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{case}: panic\n{stderr}");
        if let Some((l, c)) = line_col {
            let place = format!("{p}:{l}:{c}");
            assert!(
                stderr.contains(&place),
                "{case}: expected `{place}` in\n{stderr}"
            );
        } else {
            assert!(
                stderr.contains(p),
                "{case}: expected the file name in\n{stderr}"
            );
        }
        for n in needles {
            assert!(stderr.contains(n), "{case}: expected `{n}` in\n{stderr}");
        }
    }
}

#[test]
fn the_good_scenario_is_accepted() {
    let p = tmp("good.yaml", GOOD.as_bytes());
    let (code, stdout, stderr) = capsim(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ok "));
}

/// (name, file bytes, expected line and column, words the message must contain)
type Case = (&'static str, Vec<u8>, Option<(u32, u32)>, Vec<&'static str>);

#[test]
fn malformed_scenarios_are_refused_with_their_place() {
    let cases: Vec<Case> = vec![
        ("empty", b"".to_vec(), None, vec!["empty"]),
        (
            "comments_only",
            b"# nothing\n".to_vec(),
            None,
            vec!["empty"],
        ),
        (
            "binary",
            vec![0u8, 159, 146, 150, 0xff, 10, 1, 2],
            None,
            vec![],
        ),
        ("top_level_list", b"- a\n- b\n".to_vec(), None, vec![]),
        (
            "unknown_top_field",
            edit("duration: 10s", "duraton: 10s").into_bytes(),
            Some((2, 1)),
            vec!["duraton", "did you mean `duration`"],
        ),
        (
            "unknown_nested_field",
            edit("    nodes: 1", "    node: 1").into_bytes(),
            Some((8, 5)),
            vec!["node_pools[0]", "did you mean `nodes`"],
        ),
        (
            "wrong_type_nodes",
            edit("    nodes: 1", "    nodes: many").into_bytes(),
            Some((8, 12)),
            vec!["node_pools[0].nodes"],
        ),
        (
            "negative_nodes",
            edit("    nodes: 1", "    nodes: -3").into_bytes(),
            Some((8, 12)),
            vec!["node_pools[0].nodes"],
        ),
        (
            "absurd_nodes",
            edit("    nodes: 1", "    nodes: 1e12").into_bytes(),
            Some((8, 12)),
            vec!["node_pools[0].nodes", "limit of 100000"],
        ),
        (
            "too_many_nodes",
            edit("    nodes: 1", "    nodes: 2000000").into_bytes(),
            Some((8, 12)),
            vec!["node_pools[0].nodes", "100000"],
        ),
        (
            "negative_rate",
            edit("rate: 100/s", "rate: -5/s").into_bytes(),
            Some((16, 32)),
            vec!["workloads[0].arrivals.poisson.rate", "positive"],
        ),
        (
            "rate_without_unit",
            edit("rate: 100/s", "rate: 100").into_bytes(),
            Some((16, 32)),
            vec!["rate"],
        ),
        (
            "absurd_rate",
            edit("rate: 100/s", "rate: 1e15/s").into_bytes(),
            Some((16, 32)),
            vec!["rate"],
        ),
        (
            "duration_without_unit",
            edit("duration: 10s", "duration: 10").into_bytes(),
            Some((2, 11)),
            vec!["duration", "unit"],
        ),
        (
            "negative_duration",
            edit("duration: 10s", "duration: -10s").into_bytes(),
            Some((2, 11)),
            vec!["duration"],
        ),
        (
            "zero_duration",
            edit("duration: 10s", "duration: 0s").into_bytes(),
            Some((2, 11)),
            vec!["duration"],
        ),
        (
            "unknown_pool",
            edit("    node_pool: a100", "    node_pool: a10").into_bytes(),
            Some((12, 16)),
            vec!["services[0].node_pool", "did you mean `a100`"],
        ),
        (
            "unknown_model",
            edit("    model: resnet50", "    model: resnet5O").into_bytes(),
            Some((11, 12)),
            vec!["services[0].model", "did you mean `resnet50`"],
        ),
        (
            "unknown_gpu",
            edit("    gpu: a100-80gb", "    gpu: a100-80g").into_bytes(),
            Some((6, 10)),
            vec!["node_pools[0].gpu", "did you mean `a100-80gb`"],
        ),
        (
            "unknown_service",
            edit("  - service: web", "  - service: wbe").into_bytes(),
            Some((15, 14)),
            vec!["workloads[0].service", "did you mean `web`"],
        ),
        (
            "unknown_arrival_kind",
            edit("{poisson: {rate: 100/s}}", "{poison: {rate: 100/s}}").into_bytes(),
            Some((16, 15)),
            vec!["poison", "did you mean `poisson`"],
        ),
        (
            "unknown_routing",
            edit("    replicas: 2", "    replicas: 2\n    routing: fastest").into_bytes(),
            Some((14, 14)),
            vec!["services[0].routing", "fastest"],
        ),
        (
            "too_big_for_node",
            edit(
                "    replicas: 2",
                "    replicas: 2\n    gpus_per_replica: 16",
            )
            .into_bytes(),
            Some((14, 23)),
            vec!["services[0].gpus_per_replica", "16"],
        ),
        (
            "mig_on_t4",
            edit(
                "    gpu: a100-80gb",
                "    gpu: t4\n    gpu_sharing: {mig: 1g.10gb}",
            )
            .into_bytes(),
            Some((7, 18)),
            vec!["node_pools[0].gpu_sharing"],
        ),
        (
            "duplicate_service",
            GOOD.to_string()
                .replace(
                    "services:\n",
                    "services:\n  - {name: web, model: resnet50, node_pool: a100}\n",
                )
                .into_bytes(),
            None,
            vec!["used twice"],
        ),
        (
            "missing_services",
            GOOD.split("services:").next().unwrap().as_bytes().to_vec(),
            None,
            vec!["services"],
        ),
        (
            "unterminated_flow",
            edit("{poisson: {rate: 100/s}}", "{poisson: {rate: 100/s}").into_bytes(),
            None,
            vec![],
        ),
        (
            "tab_indent",
            edit("    nodes: 1", "\tnodes: 1").into_bytes(),
            None,
            vec![],
        ),
        (
            "warmup_too_long",
            edit("duration: 10s", "duration: 10s\nwarmup: 1h").into_bytes(),
            Some((3, 9)),
            vec!["warmup"],
        ),
        (
            "bad_check",
            format!("{GOOD}checks:\n  - web.latency_p99_ms is small\n").into_bytes(),
            Some((18, 5)),
            vec!["checks[0]"],
        ),
        (
            "too_many_replications",
            edit("replications: 1", "replications: 1000000").into_bytes(),
            Some((3, 15)),
            vec!["replications", "10000"],
        ),
        (
            "unknown_check_metric",
            format!("{GOOD}checks:\n  - web.latency_p99 <= 15\n").into_bytes(),
            Some((18, 5)),
            vec!["checks[0]", "did you mean `latency_p99_ms`"],
        ),
        (
            "batch_model_with_concurrency",
            edit("    replicas: 2", "    replicas: 2\n    concurrency: 4").into_bytes(),
            Some((14, 18)),
            vec!["services[0].concurrency", "max_batch"],
        ),
        (
            "absurd_replicas",
            edit("    replicas: 2", "    replicas: 5000000000").into_bytes(),
            Some((13, 15)),
            vec!["services[0].replicas", "limit of 100000"],
        ),
        (
            "absurd_arrivals",
            edit("duration: 10s", "duration: 3650d")
                .replace("100/s", "1e8/s")
                .into_bytes(),
            None,
            vec!["arrivals per replication"],
        ),
    ];
    assert!(cases.len() >= 20);
    for (case, text, lc, needles) in cases {
        refused(case, &text, lc, &needles);
    }
}

#[test]
fn bad_overrides_are_refused() {
    let p = tmp("override.yaml", GOOD.as_bytes());
    let p = p.to_str().unwrap();
    for (set, needle) in [
        ("services.nope.replicas=3", "nope"),
        (
            "services.web.replicas=lots",
            "--set services.web.replicas=lots",
        ),
        ("services.web.replicas", "="),
    ] {
        let (code, _, stderr) = capsim(&["run", p, "--set", set, "--out", "/dev/null/x"]);
        assert_eq!(code, 2, "{set}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{set}: expected `{needle}` in {stderr}"
        );
    }
}

#[test]
fn a_missing_file_is_bad_input() {
    let (code, _, stderr) = capsim(&["validate", "/nonexistent/scenario.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/scenario.yaml"));
}
