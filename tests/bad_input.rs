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

/// A small M/M/1-like scenario for the cases below: a generic model, one replica, Poisson
/// arrivals. Line 16 holds the arrivals, line 8 the pool, line 6 the service time.
const QUEUE: &str = r#"name: q
duration: 30s
replications: 2
models:
  - name: m
    service_time: {exponential: {mean: 10ms}}
node_pools:
  - {name: pool, gpu: t4, gpus_per_node: 4, nodes: 1, price_per_gpu_hour: 1.5}
services:
  - name: s
    model: m
    node_pool: pool
    replicas: 1
workloads:
  - service: s
    arrivals: {poisson: {rate: 10/s}}
"#;

/// The queue scenario with each `(from, to)` replaced once (each `from` must be there).
fn queue(edits: &[(&str, &str)]) -> Vec<u8> {
    let mut text = QUEUE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in the queue scenario");
        text = text.replacen(from, to, 1);
    }
    text.into_bytes()
}

#[test]
fn a_closed_loop_with_zero_think_time_and_zero_service_time_is_refused() {
    // Each user's next request would arrive the instant the last one ends: no simulated
    // time ever passes, so the run could not end.
    refused(
        "zero_time_loop",
        &queue(&[
            ("{exponential: {mean: 10ms}}", "{fixed: 0s}"),
            (
                "{poisson: {rate: 10/s}}",
                "{closed: {users: 1, think_time: 0s}}",
            ),
        ]),
        Some((16, 47)),
        &[
            "workloads[0].arrivals.closed.think_time",
            "zero think time",
            "never lets simulated time pass",
        ],
    );
}

#[test]
fn an_on_off_process_switching_every_nanosecond_is_refused() {
    // 1 h / (1 ns + 1 ns) cycles, two switches each: 3.6e12 switches against the default
    // budget of 1e9 events.
    refused(
        "on_off_1ns",
        &queue(&[
            ("duration: 30s", "duration: 1h"),
            (
                "{poisson: {rate: 10/s}}",
                "{on_off: {on_rate: 1/s, on_time: 1ns, off_time: 1ns}}",
            ),
        ]),
        Some((16, 48)),
        &[
            "workloads[0].arrivals.on_off.on_time",
            "about 3.6e12 events per replication",
            "event budget of 1e9 (limits.max_events)",
            "on/off switches",
        ],
    );
}

#[test]
fn a_kpa_ticking_every_nanosecond_is_refused() {
    // 30 s / 1 ns = 3e10 decisions.
    refused(
        "kpa_1ns",
        &queue(&[(
            "    replicas: 1",
            "    replicas: 1\n    autoscaler: {kind: kpa, target: 10, tickInterval: 1ns}",
        )]),
        Some((14, 55)),
        &[
            "services[0].autoscaler.tickInterval",
            "about 3e10 events per replication",
            "limits.max_events",
            "KPA decisions",
        ],
    );
}

#[test]
fn an_estimate_over_a_lowered_budget_names_the_budget() {
    // 10/s for 30 s is about 600 events (an arrival and a completion each): over 100.
    refused(
        "estimate_over_budget",
        &queue(&[(
            "replications: 2",
            "replications: 2\nlimits: {max_events: 100}",
        )]),
        Some((17, 15)),
        &[
            "workloads[0].arrivals",
            "about 603 events per replication, over the event budget of 100",
        ],
    );
}

#[test]
fn an_event_budget_out_of_range_is_refused() {
    for (value, words) in [
        ("0", "max_events must be from 1 to 1e12"),
        ("1e13", "max_events must be from 1 to 1e12"),
        ("-1", "max_events must be a non-negative whole number"),
    ] {
        refused(
            "max_events_range",
            &queue(&[(
                "replications: 2",
                &format!("replications: 2\nlimits: {{max_events: {value}}}"),
            )]),
            Some((4, 22)),
            &["limits.max_events", words],
        );
    }
}

#[test]
fn nan_as_a_rate_or_a_price_names_the_field_without_a_bracket_hint() {
    refused(
        "nan_rate",
        &queue(&[("rate: 10/s", "rate: .nan")]),
        Some((16, 32)),
        &[
            "workloads[0].arrivals.poisson.rate",
            "`.nan` is not a number",
        ],
    );
    refused(
        "nan_price",
        &queue(&[("price_per_gpu_hour: 1.5", "price_per_gpu_hour: .nan")]),
        Some((8, 75)),
        &[
            "node_pools[0].price_per_gpu_hour",
            "must be a finite number, found `.nan`",
        ],
    );
    let (_, _, stderr) = capsim(&[
        "validate",
        tmp("nan_rate.yaml", &queue(&[("rate: 10/s", "rate: .nan")]))
            .to_str()
            .unwrap(),
    ]);
    assert!(!stderr.contains("missing its closing"), "{stderr}");
}

#[test]
fn an_alias_bomb_is_refused_without_a_bracket_hint() {
    let mut text = String::from(
        "name: q\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, prev) in [
        ("b", "a"),
        ("c", "b"),
        ("d", "c"),
        ("e", "d"),
        ("f", "e"),
        ("g", "f"),
    ] {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let path = tmp("alias_bomb.yaml", text.as_bytes());
    let (code, _, stderr) = capsim(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("expand to more than the limit of 50000 values"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing its closing"), "{stderr}");
}

#[test]
fn gpus_per_replica_zero_or_negative_says_the_range_of_the_pool() {
    for value in ["0", "-1"] {
        refused(
            "gpus_per_replica",
            &queue(&[(
                "    replicas: 1",
                &format!("    replicas: 1\n    gpus_per_replica: {value}"),
            )]),
            Some((14, 23)),
            &[
                "services[0].gpus_per_replica",
                "gpus_per_replica must be a whole number from 1 to 4",
                &format!("found {value}"),
            ],
        );
    }
}

#[test]
fn a_negative_seed_says_it_must_be_non_negative() {
    refused(
        "negative_seed",
        &queue(&[("replications: 2", "replications: 2\nseed: -5")]),
        Some((4, 7)),
        &["seed", "seed must be a non-negative whole number, found -5"],
    );
}

#[test]
fn a_tiny_bandwidth_is_out_of_range_not_malformed() {
    refused(
        "tiny_bandwidth",
        &queue(&[(
            "price_per_gpu_hour: 1.5",
            "image_pull_bandwidth: 1e-300GB/s",
        )]),
        Some((8, 77)),
        &[
            "node_pools[0].image_pull_bandwidth",
            "the bandwidth `1e-300GB/s` is out of range: the least is 1kB/s",
        ],
    );
}

#[test]
fn an_invalid_gamma_is_reported_once() {
    let text = queue(&[(
        "{exponential: {mean: 10ms}}",
        "{gamma: {mean: 10ms, shape: 0}}",
    )]);
    refused(
        "gamma_once",
        &text,
        Some((6, 19)),
        &[
            "models[0].service_time",
            "gamma: give either `shape` and `scale`",
        ],
    );
    let (_, _, stderr) = capsim(&["validate", tmp("gamma_once.yaml", &text).to_str().unwrap()]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_unknown_yaml_tag_is_refused_at_the_tag() {
    refused(
        "python_tag",
        &queue(&[("name: q", "name: !!python/object q")]),
        Some((1, 7)),
        &["the YAML tag `!!python/object` is not supported"],
    );
    refused(
        "local_tag",
        &queue(&[("    replicas: 1", "    replicas: !include 1")]),
        Some((13, 15)),
        &["the YAML tag `!include` is not supported"],
    );
}

/// Asserts that `capsim validate` and `capsim sweep` refuse `text` with exit 2 at `line:col`
/// with every one of `needles` (the sweep block is `run`'s to ignore).
fn sweep_refused(case: &str, text: &[u8], (line, col): (u32, u32), needles: &[&str]) {
    let path = tmp(&format!("{case}.yaml"), text);
    let p = path.to_str().expect("utf-8 path");
    let out = std::env::temp_dir().join(format!("capsim-bad-sweep-{}-{case}", std::process::id()));
    for args in [
        vec!["validate", p],
        vec!["sweep", p, "--out", out.to_str().unwrap()],
    ] {
        let (code, _, stderr) = capsim(&args);
        assert_eq!(code, 2, "{case} ({args:?}): {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("{p}:{line}:{col}")),
            "{case}: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{case}: expected `{n}` in\n{stderr}");
        }
        // No number of a hundred digits.
        assert!(
            !stderr
                .split(|c: char| !c.is_ascii_digit())
                .any(|d| d.len() > 12),
            "{stderr}"
        );
    }
}

#[test]
fn a_sweep_step_below_the_float_resolution_is_refused_with_readable_numbers() {
    let grid = "name: q\nsweep:\n  grid:\n    services.s.replicas: {from: 1, to: 8, step: 1e-300}";
    sweep_refused(
        "step_resolution",
        &queue(&[("name: q", grid)]),
        (4, 49),
        &[
            "sweep.grid.services.s.replicas",
            "`step` (1e-300) is below what numbers near 8 can resolve (about 1.776e-15)",
        ],
    );
}

#[test]
fn a_sweep_step_giving_too_many_points_is_refused_with_readable_numbers() {
    let grid = "name: q\nsweep:\n  grid:\n    services.s.replicas: {from: 1, to: 1e6, step: 1}";
    sweep_refused(
        "step_points",
        &queue(&[("name: q", grid)]),
        (4, 51),
        &[
            "sweep.grid.services.s.replicas",
            "the range from 1 to 1000000 by 1 has 1e6 values, over the limit of 100000 points",
        ],
    );
}

/// A closed loop whose think time has an infinite mean (Pareto, shape 0.5) and whose service
/// takes no time: the estimate sees no load at all, yet the draws are mostly microseconds,
/// so the run would go on for billions of events. A small budget stops it.
const FOOLED: &str = r#"name: fooled
duration: 30s
replications: 3
limits: {max_events: 10000}
models:
  - name: zero
    service_time: {fixed: 0s}
node_pools:
  - {name: pool, gpu: t4, gpus_per_node: 4, nodes: 1}
services:
  - {name: s, model: zero, node_pool: pool, replicas: 1}
workloads:
  - service: s
    arrivals: {closed: {users: 1, think_time: {pareto: {scale: 1ns, shape: 0.5}}}}
"#;

#[test]
fn a_run_past_its_event_budget_stops_with_exit_2_naming_the_component() {
    let path = tmp("fooled.yaml", FOOLED.as_bytes());
    let p = path.to_str().unwrap();
    let (code, stdout, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 0, "the estimate passes: {stdout}{stderr}");
    let out = std::env::temp_dir().join(format!("capsim-fooled-{}", std::process::id()));
    let (code, stdout, stderr) = capsim(&["run", p, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in [
        &format!("{p}:14:47: workloads[0].arrivals.closed.think_time: ") as &str,
        "replication 0 was stopped at its event budget: it passed 10000 events (limits.max_events)",
        "came from the requests of the closed-loop users of workloads[0] (service `s`)",
    ] {
        assert!(stderr.contains(n), "expected `{n}` in\n{stderr}");
    }
    // Nothing was written: the figures of a stopped run are incomplete.
    assert!(!out.join("summary.csv").exists());
    // The same stop in a sweep point.
    let sweep = FOOLED.replace(
        "name: fooled\n",
        "name: fooled\nsweep:\n  grid:\n    services.s.replicas: [1, 2]\n",
    );
    let path = tmp("fooled_sweep.yaml", sweep.as_bytes());
    let (code, _, stderr) = capsim(&[
        "sweep",
        path.to_str().unwrap(),
        "--out",
        out.join("sweep").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("workloads[0].arrivals.closed.think_time: sweep point"),
        "{stderr}"
    );
    assert!(
        stderr.contains("was stopped at its event budget"),
        "{stderr}"
    );
}
