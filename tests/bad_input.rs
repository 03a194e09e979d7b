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

/// A valid training scenario: Kueue with two queues in a cohort, topology placement, failures,
/// a Poisson stream checkpointed at Young/Daly's interval and a trace (`{case}.csv`, written
/// next to the scenario by [`train_refused`]).
const TRAIN: &str = r#"name: train
duration: 1d
replications: 1
node_pools:
  - name: h100
    gpu: h100-80gb
    gpus_per_node: 8
    nodes: 64
    topology: {rack: 8, island: 32}
    failures: {mtbf: 100d}
queues:
  - {name: research, cohort: all, nominal_quota: 256}
  - {name: product, cohort: all, nominal_quota: 256, borrowing_limit: 128}
training:
  scheduler: kueue
  placement: topology
  workloads:
    - name: small
      queue: research
      node_pool: h100
      arrivals: {poisson: {rate: 10/h}}
      gpus: {choice: {1: 0.5, 8: 0.5}}
      duration: {exponential: {mean: 2h}}
      checkpoint: {interval: optimal, cost: 1m}
    - name: replay
      queue: product
      node_pool: h100
      arrivals: {trace: {file: jobs.csv}}
"#;

/// A trace every line of which is good.
const GOOD_TRACE: &str = "submit_time_s,gpus,duration_s\n0,8,3600\n60,16,7200\n";

/// The training scenario with `from` replaced by `to` (which must be there).
fn train(from: &str, to: &str) -> String {
    assert!(TRAIN.contains(from), "{from} not in the training scenario");
    TRAIN.replacen(from, to, 1)
}

/// [`refused`] for a training scenario whose trace is `trace`.
fn train_refused(
    case: &str,
    text: &str,
    trace: &str,
    line_col: Option<(u32, u32)>,
    needles: &[&str],
) {
    let csv = format!("{case}.csv");
    tmp(&csv, trace.as_bytes());
    refused(
        case,
        text.replace("jobs.csv", &csv).as_bytes(),
        line_col,
        needles,
    );
}

/// Asserts that the training scenario `text`, with the good trace, validates.
fn train_accepted(case: &str, text: &str) {
    let csv = format!("{case}.csv");
    tmp(&csv, GOOD_TRACE.as_bytes());
    let p = tmp(
        &format!("{case}.yaml"),
        text.replace("jobs.csv", &csv).as_bytes(),
    );
    let (code, stdout, stderr) = capsim(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{case}: {stdout}{stderr}");
}

#[test]
fn the_good_training_scenario_is_accepted() {
    train_accepted("train_good", TRAIN);
}

#[test]
fn malformed_training_is_refused_with_its_place() {
    // (case, scenario, trace, line and column, words of the message)
    type TrainCase = (
        &'static str,
        String,
        &'static str,
        (u32, u32),
        Vec<&'static str>,
    );
    let t = GOOD_TRACE;
    let cases: Vec<TrainCase> = vec![
        (
            "unknown_queue",
            train("queue: research", "queue: reserch"),
            t,
            (19, 14),
            vec![
                "training.workloads[0].queue",
                "unknown queue `reserch`",
                "did you mean `research`",
            ],
        ),
        (
            "unknown_pool",
            train(
                "node_pool: h100\n      arrivals: {poisson",
                "node_pool: h200\n      arrivals: {poisson",
            ),
            t,
            (20, 18),
            vec![
                "training.workloads[0].node_pool",
                "unknown node pool `h200`",
            ],
        ),
        (
            "kueue_without_queue",
            train("      queue: research\n", ""),
            t,
            (18, 7),
            vec![
                "training.workloads[0].queue",
                "Kueue admits only jobs in a ClusterQueue",
            ],
        ),
        (
            "optimal_without_mtbf",
            train("    failures: {mtbf: 100d}\n", ""),
            t,
            (23, 30),
            vec![
                "training.workloads[0].checkpoint.interval",
                "pool `h100` needs `failures: {mtbf: ...}`",
            ],
        ),
        (
            "optimal_without_cost",
            train("cost: 1m", "cost: 0s"),
            t,
            (24, 45),
            vec![
                "training.workloads[0].checkpoint.cost",
                "checkpoint without end",
            ],
        ),
        (
            "topology_without_pool_topology",
            train("    topology: {rack: 8, island: 32}\n", ""),
            t,
            (15, 14),
            vec![
                "training.placement",
                "`topology` placement needs `topology: {rack: N}` on pool `h100`",
            ],
        ),
        (
            "island_not_whole_racks",
            train("island: 32", "island: 12"),
            t,
            (9, 33),
            vec![
                "node_pools[0].topology.island",
                "must be a whole number of racks of 8 nodes",
            ],
        ),
        (
            "permit_timeout_above_15m",
            train(
                "  placement: topology",
                "  placement: topology\n  permit_timeout: 16m",
            ),
            t,
            (17, 19),
            vec!["training.permit_timeout", "at most 15m"],
        ),
        (
            "trace_missing_column",
            TRAIN.to_string(),
            "submit_time_s,gpus\n0,8\n",
            (28, 32),
            vec![
                "training.workloads[1].arrivals.trace.file",
                "has no column `duration_s`",
            ],
        ),
        (
            "trace_unsorted",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s\n10,8,3600\n5,8,3600\n",
            (28, 32),
            vec![
                "trace_unsorted.csv: line 3",
                "submit_time_s 5 is earlier than the row before (10)",
            ],
        ),
        (
            "trace_negative_duration",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s\n0,8,-3600\n",
            (28, 32),
            vec![
                "line 2",
                "`-3600` in column `duration_s` is not a number of seconds",
            ],
        ),
        (
            "trace_non_numeric_gpus",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s\n0,eight,3600\n",
            (28, 32),
            vec![
                "line 2",
                "`eight` in column `gpus` is not a whole number of GPUs",
            ],
        ),
        (
            "trace_zero_gpus",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s\n0,0,3600\n",
            (28, 32),
            vec![
                "line 2",
                "`0` in column `gpus` is not a whole number of GPUs from 1",
            ],
        ),
        (
            "trace_job_larger_than_the_pool",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s\n0,8,3600\n5,1024,3600\n",
            (28, 32),
            vec![
                "trace_job_larger_than_the_pool.csv: line 3",
                "a job of 1024 GPUs can never fit pool `h100` (512 GPUs at most)",
            ],
        ),
        (
            "trace_unknown_queue",
            TRAIN.to_string(),
            "submit_time_s,gpus,duration_s,queue\n0,8,3600,nope\n",
            (28, 32),
            vec!["trace_unknown_queue.csv: line 2", "unknown queue `nope`"],
        ),
        (
            "negative_job_rate",
            train("rate: 10/h", "rate: -10/h"),
            t,
            (21, 34),
            vec![
                "training.workloads[0].arrivals.poisson.rate",
                "found `-10/h`",
            ],
        ),
        (
            "absurd_job_rate",
            train("rate: 10/h", "rate: 1e6/s"),
            t,
            (21, 34),
            vec![
                "training.workloads[0].arrivals.poisson.rate",
                "about 8.6e10 training jobs",
                "over the limit of 1e7 jobs",
            ],
        ),
        (
            "choice_not_summing_to_one",
            train("{1: 0.5, 8: 0.5}", "{1: 0.5, 8: 0.6}"),
            t,
            (22, 13),
            vec![
                "training.workloads[0].gpus",
                "the probabilities must sum to 1, they sum to 1.1",
            ],
        ),
        (
            "choice_non_numeric_key",
            train("{1: 0.5, 8: 0.5}", "{one: 0.5, 8: 0.5}"),
            t,
            (22, 28),
            vec![
                "training.workloads[0].gpus.choice.one",
                "expected a plain number",
            ],
        ),
        (
            "choice_fractional_gpus",
            train("{1: 0.5, 8: 0.5}", "{1.5: 0.5, 8: 0.5}"),
            t,
            (22, 13),
            vec![
                "training.workloads[0].gpus",
                "a whole number of GPUs, at least 1: found 1.5",
            ],
        ),
        (
            "fixed_zero_gpus",
            train("{choice: {1: 0.5, 8: 0.5}}", "{fixed: 0}"),
            t,
            (22, 13),
            vec!["training.workloads[0].gpus", "at least 1: found 0"],
        ),
        (
            "gpu_sharing_on_a_training_pool",
            train(
                "    nodes: 64\n",
                "    nodes: 64\n    gpu_sharing: {mig: 1g.10gb}\n",
            ),
            t,
            (21, 18),
            vec![
                "training.workloads[0].node_pool",
                "shares its GPUs (gpu_sharing)",
            ],
        ),
        (
            "nominal_quota_above_the_limit",
            train("nominal_quota: 256}", "nominal_quota: 1e12}"),
            t,
            (12, 50),
            vec!["queues[0].nominal_quota", "above the limit of 10000000"],
        ),
        (
            "borrowing_limit_without_cohort",
            train("{name: product, cohort: all,", "{name: product,"),
            t,
            (13, 58),
            vec!["queues[1].borrowing_limit", "give `cohort` too"],
        ),
        (
            "queues_without_training",
            TRAIN.split("training:").next().unwrap().to_string(),
            t,
            (12, 3),
            vec!["queues", "add a `training:` section"],
        ),
        (
            "a_service_named_training",
            format!(
                "{TRAIN}models: [{{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}]\n\
                 services: [{{name: training, model: m, node_pool: h100, replicas: 1}}]\n"
            ),
            t,
            (30, 19),
            vec![
                "services[0].name",
                "`training` would name a component of the results",
            ],
        ),
    ];
    assert!(cases.len() >= 25);
    for (case, text, trace, lc, needles) in cases {
        train_refused(case, &text, trace, Some(lc), &needles);
    }
}

/// Training's share of the event estimate: each interval of work is two events (the segment
/// and the checkpoint), so 100 jobs an hour of 2 hours' work checkpointed every millisecond
/// for 30 days are 100 x 720 x 2 x 7.2e6 / 1 = 1.04e12 events (plus 4 per job): refused at the
/// interval, with the budget named; the same scenario with a 10-minute interval runs under it
/// (4.8e6 events), and at a budget of 1e6 it is refused at the same field.
#[test]
fn training_past_the_event_budget_is_refused_at_its_field() {
    let absurd = train(
        "checkpoint: {interval: optimal, cost: 1m}",
        "checkpoint: {interval: 1ms, cost: 1ms}",
    )
    .replace("rate: 10/h", "rate: 100/h")
    .replace("duration: 1d", "duration: 30d");
    train_refused(
        "checkpoint_budget",
        &absurd,
        GOOD_TRACE,
        Some((24, 30)),
        &[
            "training.workloads[0].checkpoint.interval",
            "about 1e12 events per replication, over the event budget of 1e9 (limits.max_events)",
            "the checkpoints of training workload `small` (every 1ms of work, cost 1ms: about \
             5.2e11 in 720h)",
        ],
    );
    let sane = absurd.replace("interval: 1ms", "interval: 10m");
    train_accepted("checkpoint_sane", &sane);
    let lowered = sane.replace(
        "replications: 1",
        "replications: 1\nlimits: {max_events: 1e6}",
    );
    train_refused(
        "checkpoint_lowered_budget",
        &lowered,
        GOOD_TRACE,
        Some((25, 30)),
        &[
            "training.workloads[0].checkpoint.interval",
            "over the event budget of 1e6",
            "every 10m of work",
        ],
    );
}

/// scenarios/training-7500.yaml is under the default budget.
#[test]
fn the_7500_node_training_example_is_under_the_budget() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/training-7500.yaml");
    let (code, stdout, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// The good scenario with every field of `control_plane:` given (SPEC's example and ours).
const CONTROL_PLANE: &str = r#"control_plane:
  apiservers: 3
  max_requests_inflight: 400
  max_mutating_requests_inflight: 200
  apf: default
  apiserver_cpus: 16
  etcd: {members: 5, disk: local_ssd, quota_backend_bytes: 2GiB}
  endpoints: slices
  kubelet: {node_status_update_frequency: 10s, node_status_report_frequency: 5m, node_lease_duration: 40s}
  clients:
    - {name: log-agent, per_node: true, verb: list, resource: events, every: 60s}
    - {name: ci, count: 10, verb: get, resource: pods, every: 5s, read_from: cache, priority_level: workload-high}
  node_joins:
    - {pool: a100, time: 5s, nodes: 500, over: 0s}
  daemonsets:
    - {name: exporter, service: true}
"#;

/// The good scenario with the control plane, `from` replaced by `to` (which must be there).
fn control_plane(from: &str, to: &str) -> String {
    let text = format!("{GOOD}{CONTROL_PLANE}");
    assert!(
        text.contains(from),
        "{from} not in the control-plane scenario"
    );
    text.replacen(from, to, 1)
}

#[test]
fn the_good_control_plane_scenario_is_accepted() {
    for (case, text) in [
        ("cp_good", control_plane("", "")),
        ("cp_empty", format!("{GOOD}control_plane: {{}}\n")),
        ("cp_null", format!("{GOOD}control_plane:\n")),
    ] {
        let p = tmp(&format!("{case}.yaml"), text.as_bytes());
        let (code, stdout, stderr) = capsim(&["validate", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{case}: {stdout}{stderr}");
    }
}

/// Each bad field of `control_plane:` is refused at its value (line and column counted in
/// the text above: the section starts at line 17), with the field and the limit named.
#[test]
fn malformed_control_planes_are_refused_with_their_place() {
    // (case, scenario, line and column, words of the message)
    type CpCase = (&'static str, String, (u32, u32), Vec<&'static str>);
    let cases: Vec<CpCase> = vec![
        (
            "cp_apiservers_zero",
            control_plane("apiservers: 3", "apiservers: 0"),
            (18, 15),
            vec![
                "control_plane.apiservers",
                "apiservers must be from 1 to 100 (found 0)",
            ],
        ),
        (
            "cp_apiservers_typo",
            control_plane("apiservers: 3", "apiserver: 3"),
            (18, 3),
            vec!["unknown field `apiserver`: did you mean `apiservers`?"],
        ),
        (
            "cp_inflight_huge",
            control_plane(
                "max_requests_inflight: 400",
                "max_requests_inflight: 1000000",
            ),
            (19, 26),
            vec![
                "control_plane.max_requests_inflight",
                "max_requests_inflight must be from 1 to 100000 (found 1000000)",
            ],
        ),
        (
            "cp_mutating_zero",
            control_plane(
                "max_mutating_requests_inflight: 200",
                "max_mutating_requests_inflight: 0",
            ),
            (20, 35),
            vec!["max_mutating_requests_inflight must be from 1 to 100000 (found 0)"],
        ),
        (
            "cp_apf_unknown",
            control_plane("apf: default", "apf: off"),
            (21, 8),
            vec![
                "control_plane.apf",
                "unknown variant `off`",
                "`default`, `disabled`",
            ],
        ),
        (
            "cp_cpus_zero",
            control_plane("apiserver_cpus: 16", "apiserver_cpus: 0"),
            (22, 19),
            vec!["apiserver_cpus must be from 1 to 1024 (found 0)"],
        ),
        (
            "cp_members_even",
            control_plane("members: 5", "members: 4"),
            (23, 19),
            vec![
                "control_plane.etcd.members",
                "members must be odd and from 1 to 7 (found 4)",
            ],
        ),
        (
            "cp_write_latency",
            control_plane("disk: local_ssd", "disk: {write_latency: 20s}"),
            (23, 44),
            vec![
                "control_plane.etcd.disk.write_latency",
                "write_latency must be longer than 0s and at most 10s (found 20s)",
            ],
        ),
        (
            "cp_disk_unknown",
            control_plane("disk: local_ssd", "disk: hdd"),
            (23, 28),
            vec![
                "control_plane.etcd.disk",
                "unknown variant `hdd`",
                "`local_ssd`, `network_ssd`, `write_latency`",
            ],
        ),
        (
            "cp_quota_huge",
            control_plane("quota_backend_bytes: 2GiB", "quota_backend_bytes: 200GiB"),
            (23, 60),
            vec![
                "control_plane.etcd.quota_backend_bytes",
                "quota_backend_bytes must be from 1MiB to 100GiB (found 2.1e11 bytes); etcd \
                 suggests at most 8GiB and warns above it",
            ],
        ),
        (
            "cp_quota_no_unit",
            control_plane(
                "quota_backend_bytes: 2GiB",
                "quota_backend_bytes: 2147483648",
            ),
            (23, 60),
            vec!["the size `2147483648` has no unit"],
        ),
        (
            "cp_endpoints",
            control_plane("endpoints: slices", "endpoints: slice"),
            (24, 14),
            vec!["control_plane.endpoints", "did you mean `slices`?"],
        ),
        (
            "cp_update_zero",
            control_plane(
                "node_status_update_frequency: 10s",
                "node_status_update_frequency: 0s",
            ),
            (25, 43),
            vec![
                "control_plane.kubelet.node_status_update_frequency",
                "node_status_update_frequency must be longer than 0s",
            ],
        ),
        (
            "cp_lease_fraction",
            control_plane("node_lease_duration: 40s", "node_lease_duration: 1500ms"),
            (25, 103),
            vec![
                "node_lease_duration is whole seconds, as the kubelet's nodeLeaseDurationSeconds (found 1500ms)",
            ],
        ),
        (
            "cp_lease_grace",
            control_plane("node_lease_duration: 40s", "node_lease_duration: 240s"),
            (25, 103),
            vec![
                "control_plane.kubelet.node_lease_duration",
                "the kubelet renews its lease every quarter of node_lease_duration (1m), but \
                 the node lifecycle controller marks a node NotReady after \
                 cluster.node_monitor_grace_period (50s) without a renewal",
            ],
        ),
        (
            "cp_verb",
            control_plane("verb: list", "verb: lsit"),
            (27, 47),
            vec![
                "control_plane.clients[0].verb",
                "unknown verb `lsit`; did you mean `list`?",
            ],
        ),
        (
            "cp_resource",
            control_plane("resource: events", "resource: event"),
            (27, 63),
            vec![
                "control_plane.clients[0].resource",
                "unknown resource `event` (resources are named by their plural lower-case REST \
                 name); did you mean `events`?",
            ],
        ),
        (
            "cp_every",
            control_plane("every: 60s", "every: 100ms"),
            (27, 78),
            vec![
                "control_plane.clients[0].every",
                "every must be at least 1s (found 100ms)",
            ],
        ),
        (
            "cp_per_node_count",
            control_plane("per_node: true,", "per_node: true, count: 3,"),
            (27, 48),
            vec![
                "control_plane.clients[0].count",
                "give `per_node: true` or `count`, not both",
            ],
        ),
        (
            "cp_count_zero",
            control_plane("count: 10", "count: 0"),
            (28, 25),
            vec!["count must be from 1 to 1000000 (found 0)"],
        ),
        (
            "cp_read_from_write",
            control_plane("verb: get", "verb: create"),
            (28, 81),
            vec![
                "control_plane.clients[1].read_from",
                "read_from applies to reads (get, list): a `create` is a write",
            ],
        ),
        (
            "cp_priority_level",
            control_plane(
                "priority_level: workload-high",
                "priority_level: workload-hi",
            ),
            (28, 101),
            vec![
                "control_plane.clients[1].priority_level",
                "unknown priority level `workload-hi`; did you mean `workload-high`?",
            ],
        ),
        (
            "cp_client_twice",
            control_plane("name: ci,", "name: log-agent,"),
            (28, 14),
            vec!["the name `log-agent` is used twice in `control_plane.clients`"],
        ),
        (
            "cp_join_pool",
            control_plane("{pool: a100", "{pool: a10"),
            (30, 14),
            vec![
                "control_plane.node_joins[0].pool",
                "unknown node pool `a10`; did you mean `a100`?",
            ],
        ),
        (
            "cp_join_zero",
            control_plane("nodes: 500", "nodes: 0"),
            (30, 37),
            vec!["nodes must be from 1 to 100000 (found 0)"],
        ),
        (
            "cp_join_over_limit",
            control_plane("nodes: 500", "nodes: 100000"),
            (30, 37),
            vec![
                "control_plane.node_joins[0].nodes",
                "pool `a100` would have 100001 nodes with this join",
                "the limit is 100000 per pool",
            ],
        ),
        (
            "cp_daemonset_twice",
            control_plane(
                "{name: exporter, service: true}",
                "{name: exporter, service: true}\n    - {name: exporter}",
            ),
            (33, 14),
            vec!["the name `exporter` is used twice in `control_plane.daemonsets`"],
        ),
        (
            "cp_daemonset_service",
            control_plane("name: exporter", "name: web"),
            (32, 14),
            vec![
                "control_plane.daemonsets[0].name",
                "a service named `web` is in `services` already",
            ],
        ),
        (
            "cp_service_apiserver",
            control_plane("  - name: web\n", "  - name: apiserver\n")
                .replace("service: web", "service: apiserver"),
            (10, 11),
            vec![
                "services[0].name",
                "`apiserver` would name a component of the results",
            ],
        ),
    ];
    assert!(cases.len() >= 29);
    for (case, text, lc, needles) in cases {
        refused(case, text.as_bytes(), Some(lc), &needles);
    }
}

/// The control plane's share of the estimate: 7,500 nodes for 30 days renew their leases
/// every 10 s (a quarter of 40 s): 7,500 x 2,592,000 / 10 = 1.9e9 renewals, two events each
/// (the request and its etcd commit), over the default budget of 1e9: refused at the lease
/// duration. A client on each node listing every second for a day is 7,500 x 86,400 = 6.5e8
/// calls, the largest part under a budget of 1e8.
#[test]
fn a_control_plane_past_the_event_budget_is_refused_at_its_field() {
    let big = format!("{GOOD}control_plane: {{}}\n")
        .replace("nodes: 1", "nodes: 7500")
        .replace("duration: 10s", "duration: 30d");
    refused(
        "cp_budget_leases",
        big.as_bytes(),
        Some((17, 16)),
        &[
            "control_plane",
            "over the event budget of 1e9 (limits.max_events)",
            "the kubelets' lease renewals (7500 nodes, each every 10s: 1.9e9 in 720h)",
            "lengthen node_lease_duration",
        ],
    );
    let agents = format!(
        "{GOOD}limits: {{max_events: 1e8}}\ncontrol_plane:\n  clients:\n    - {{name: agent, \
         per_node: true, verb: list, resource: events, every: 1s}}\n"
    )
    .replace("nodes: 1", "nodes: 7500")
    .replace("duration: 10s", "duration: 1d");
    refused(
        "cp_budget_client",
        agents.as_bytes(),
        Some((20, 74)),
        &[
            "control_plane.clients[0].every",
            "over the event budget of 1e8",
            "the calls of client `agent` (7500 instances, each every 1s: 6.5e8 calls in 24h)",
        ],
    );
}
