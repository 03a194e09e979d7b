//! Scenario input of multi-tier applications (CPU pools, StatefulSets, service calls): a good
//! scenario resolves into the plan it says, and each bad one exits 2 with a message that
//! names the file, the line and column where the field is written, and the field.

use capsim::serving::plan::{CallCount, CallMode};
use capsim::sim::Plan;
use std::path::{Path, PathBuf};

mod common;
use common::capsim;

const GOOD: &str = r#"name: tiers
duration: 60s
replications: 1
models:
  - {name: web-handler, service_time: {exponential: {mean: 5ms}}}
  - {name: db-query, service_time: {exponential: {mean: 2ms}}}
node_pools:
  - {name: cpu, cpus_per_node: 32, memory_per_node: 128GiB, nodes: 10, price_per_node_hour: 1.50}
  - {name: gpu, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}
services:
  - name: web
    node_pool: cpu
    cpus_per_replica: 2
    memory_per_replica: 4GiB
    model: web-handler
    concurrency: 8
    replicas: 2
    calls:
      - {service: db, count: {fixed: 3}, mode: blocking, max_connections: 10}
      - {service: cache, probability: 0.2}
      - {service: db, count: {exponential: {mean: 2}}, mode: async, routing: primary, then: {service_time: {fixed: 1ms}}}
  - name: db
    kind: statefulset
    node_pool: cpu
    cpus_per_replica: 8
    model: db-query
    concurrency: 16
    replicas: 2
  - name: cache
    node_pool: cpu
    cpus_per_replica: "500m"
    model: db-query
  - name: vision
    node_pool: gpu
    model: resnet50
    cpus_per_replica: 4
workloads:
  - service: web
    arrivals: {poisson: {rate: 100/s}}
"#;

fn plan_of(text: &str, overrides: &[String]) -> Plan {
    let loaded =
        capsim::scenario::load_bytes("tiers.yaml", text.as_bytes(), overrides, Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
    capsim::scenario::build_plan(&loaded).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn a_multi_tier_scenario_resolves_into_its_plan() {
    let plan = plan_of(GOOD, &[]);
    let cpu = &plan.pools[0];
    assert_eq!(cpu.cpus_per_node, Some(32.0));
    assert_eq!(cpu.units_per_node(), 32_000, "a CPU pool counts milli-CPUs");
    assert_eq!(cpu.gpus_per_node, 0);
    assert_eq!(cpu.price_per_gpu_hour, 0.0);
    assert_eq!(cpu.price_per_node_hour, 1.5);
    assert_eq!(cpu.memory_per_node, Some(128 << 30));
    let gpu = &plan.pools[1];
    assert_eq!((gpu.cpus_per_node, gpu.gpus_per_node), (None, 8));
    assert_eq!(gpu.units_per_node(), 8);

    let [web, db, cache, vision] = &plan.services[..] else {
        panic!("four services")
    };
    assert_eq!(web.units_per_replica, 2000, "2 CPUs");
    assert_eq!(web.gpus_per_replica, 0.0);
    assert_eq!(web.cpus_per_replica, 2.0);
    assert_eq!(
        web.cpu_request_milli, 2000,
        "cpus_per_replica is the CPU request"
    );
    assert_eq!(web.memory_per_replica, 4 << 30);
    assert!(!web.statefulset);
    assert!(db.statefulset);
    assert_eq!(db.units_per_replica, 8000);
    assert_eq!(cache.units_per_replica, 500, "\"500m\" is half a CPU");
    assert_eq!(cache.cpus_per_replica, 0.5);
    // A service-time model on a CPU pool is not stretched by a GPU share.
    match &web.cost {
        capsim::sim::plan::Cost::Generic { sampler, scale } => {
            assert_eq!(*scale, 1.0);
            assert!((sampler.mean() - 0.005).abs() < 1e-12);
        }
        other => panic!("{other:?}"),
    }
    // On a GPU pool, cpus_per_replica is informational: the pod is placed by its GPU.
    assert_eq!(vision.units_per_replica, 1);
    assert_eq!(vision.gpus_per_replica, 1.0);
    assert_eq!(vision.cpus_per_replica, 4.0);
    assert_eq!(vision.cpu_request_milli, 4000);

    assert!(db.calls.is_empty() && cache.calls.is_empty());
    let [c0, c1, c2] = &web.calls[..] else {
        panic!("three call entries")
    };
    assert_eq!(c0.service, 1);
    assert!(matches!(c0.count, CallCount::Fixed(3)));
    assert_eq!(c0.mode, CallMode::Blocking);
    assert_eq!(c0.max_connections, Some(10));
    assert!(!c0.primary && c0.then.is_none());
    assert_eq!(c1.service, 2);
    assert!(matches!(c1.count, CallCount::Probability(p) if p == 0.2));
    assert_eq!(c1.mode, CallMode::Blocking, "blocking by default");
    assert_eq!(c1.max_connections, None, "unlimited by default");
    assert_eq!(c2.service, 1);
    assert!(matches!(&c2.count, CallCount::Drawn(d) if d.mean() == 2.0));
    assert_eq!(c2.mode, CallMode::Async);
    assert!(c2.primary);
    assert_eq!(c2.then.as_ref().map(|t| t.mean()), Some(0.001));
    assert_eq!(
        c2.max_connections,
        Some(10),
        "one connection pool per caller replica and callee"
    );
}

#[test]
fn defaults_of_a_cpu_pool_and_set_on_call_entries() {
    // No cpus_per_replica: 1 CPU; no count: one call; --set reaches a call entry by index
    // and a service by name.
    let text = GOOD.replace("    cpus_per_replica: \"500m\"\n", "");
    let plan = plan_of(
        &text,
        &[
            "services.web.calls.1.probability=0.5".to_string(),
            "services.web.calls.2.mode=blocking".to_string(),
            "services.web.calls.[0].count={fixed: 7}".to_string(),
        ],
    );
    let cache = &plan.services[2];
    assert_eq!(
        (cache.units_per_replica, cache.cpu_request_milli),
        (1000, 1000)
    );
    assert_eq!(cache.cpus_per_replica, 1.0);
    let calls = &plan.services[0].calls;
    assert!(matches!(calls[0].count, CallCount::Fixed(7)));
    assert!(matches!(calls[1].count, CallCount::Probability(p) if p == 0.5));
    assert_eq!(calls[2].mode, CallMode::Blocking);
    let text = GOOD.replace("probability: 0.2", "mode: async");
    let plan = plan_of(&text, &[]);
    assert!(matches!(
        plan.services[0].calls[1].count,
        CallCount::Fixed(1)
    ));
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-bad-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

/// Replaces `from` by `to` in the good scenario (which must contain it once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        GOOD.matches(from).count(),
        1,
        "`{from}` once in the good scenario"
    );
    GOOD.replacen(from, to, 1)
}

/// The place the message must name: where `marker` (which must occur once in `text`) starts,
/// or where its part after a `|` starts; 1-based line and column.
fn place(text: &str, marker: &str) -> (usize, usize) {
    let (before, after) = marker.split_once('|').unwrap_or(("", marker));
    let whole = format!("{before}{after}");
    assert_eq!(text.matches(&whole).count(), 1, "`{whole}` once in\n{text}");
    let at = text.find(&whole).unwrap_or(0) + before.len();
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, col)
}

/// One refusal: the scenario text, the text written where the error must point (its first
/// character is the place), `--set` assignments, and words the message must contain.
struct Case {
    name: &'static str,
    text: String,
    at: &'static str,
    set: Vec<&'static str>,
    needles: Vec<&'static str>,
}

fn case(name: &'static str, text: String, at: &'static str, needles: &[&'static str]) -> Case {
    Case {
        name,
        text,
        at,
        set: Vec::new(),
        needles: needles.to_vec(),
    }
}

fn refused(c: &Case) {
    let path = tmp(&format!("{}.yaml", c.name), c.text.as_bytes());
    let p = path.to_str().expect("utf-8 path");
    let mut args = vec!["validate", p];
    for s in &c.set {
        args.extend(["--set", s]);
    }
    let (code, stdout, stderr) = capsim(&args);
    let name = c.name;
    assert_eq!(
        code, 2,
        "{name}: exit {code}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: panic\n{stderr}");
    let shown = if c.set.is_empty() {
        let (l, col) = place(&c.text, c.at);
        format!("{p}:{l}:{col}: ")
    } else {
        format!("{p} (--set {}): ", c.set[0])
    };
    assert!(
        stderr.contains(&shown),
        "{name}: expected `{shown}` in\n{stderr}"
    );
    for n in &c.needles {
        assert!(stderr.contains(n), "{name}: expected `{n}` in\n{stderr}");
    }
}

const CPU_POOL: &str = "{name: cpu, cpus_per_node: 32, ";

#[test]
fn bad_cpu_pools_are_refused_with_their_place() {
    let cases = vec![
        case(
            "gpu_and_cpus",
            edit(CPU_POOL, "{name: cpu, gpu: t4, cpus_per_node: 32, "),
            "cpus_per_node: |32",
            &[
                "node_pools[0].cpus_per_node",
                "either a GPU pool",
                "not both",
            ],
        ),
        case(
            "neither_gpu_nor_cpus",
            edit(CPU_POOL, "{name: cpu, "),
            "{name: cpu,",
            &["node_pools[0]", "needs `gpu`", "`cpus_per_node`"],
        ),
        case(
            "gpus_per_node_on_cpu_pool",
            edit(
                CPU_POOL,
                "{name: cpu, cpus_per_node: 32, gpus_per_node: 2, ",
            ),
            "gpus_per_node: |2",
            &["node_pools[0].gpus_per_node", "CPU pool", "no GPUs"],
        ),
        case(
            "gpu_sharing_on_cpu_pool",
            edit(
                CPU_POOL,
                "{name: cpu, cpus_per_node: 32, gpu_sharing: {time_slicing: 2}, ",
            ),
            "{time_slicing: 2}",
            &["node_pools[0].gpu_sharing", "no GPUs to share"],
        ),
        case(
            "price_per_gpu_hour_on_cpu_pool",
            edit(
                CPU_POOL,
                "{name: cpu, cpus_per_node: 32, price_per_gpu_hour: 2, ",
            ),
            "price_per_gpu_hour: |2",
            &["node_pools[0].price_per_gpu_hour", "price_per_node_hour"],
        ),
        case(
            "balloons_on_cpu_pool",
            edit(
                CPU_POOL,
                "{name: cpu, cpus_per_node: 32, balloons: {pods: 1}, ",
            ),
            "{pods: 1}",
            &["node_pools[0].balloons", "not supported on CPU pools"],
        ),
        case(
            "too_many_cpus",
            edit("cpus_per_node: 32", "cpus_per_node: 2000"),
            "2000",
            &[
                "node_pools[0].cpus_per_node",
                "at most 1024 CPUs (found 2000)",
            ],
        ),
        case(
            "zero_cpus",
            edit("cpus_per_node: 32", "cpus_per_node: 0"),
            "cpus_per_node: |0",
            &["node_pools[0].cpus_per_node", "more than 0"],
        ),
        case(
            "cpus_not_a_quantity",
            edit("cpus_per_node: 32", "cpus_per_node: lots"),
            "lots",
            &["node_pools[0].cpus_per_node", "quantity"],
        ),
        case(
            "absurd_memory",
            edit("memory_per_node: 128GiB", "memory_per_node: 100TiB"),
            "100TiB",
            &["node_pools[0].memory_per_node", "at most 65536GiB (64TiB)"],
        ),
        case(
            "memory_without_unit",
            edit("memory_per_node: 128GiB", "memory_per_node: 128"),
            "memory_per_node: |128",
            &["node_pools[0].memory_per_node", "no unit"],
        ),
        case(
            "negative_node_price",
            edit("price_per_node_hour: 1.50", "price_per_node_hour: -1"),
            "price_per_node_hour: |-1",
            &["node_pools[0].price_per_node_hour", "from 0 to 10000"],
        ),
        case(
            "training_on_a_cpu_pool",
            edit(
                "workloads:\n",
                "training:\n  workloads:\n    - name: t\n      node_pool: cpu\n      \
                 arrivals: {poisson: {rate: 1/h}}\n      duration: {fixed: 1h}\nworkloads:\n",
            ),
            "node_pool: |cpu\n      arrivals",
            &["training.workloads[0].node_pool", "is a CPU pool"],
        ),
        case(
            "misspelt_cpus_per_node",
            edit("cpus_per_node: 32", "cpu_per_node: 32"),
            "cpu_per_node",
            &["did you mean `cpus_per_node`"],
        ),
    ];
    for c in &cases {
        refused(c);
    }
}

#[test]
fn bad_cpu_services_and_statefulsets_are_refused_with_their_place() {
    let cases = vec![
        case(
            "gpus_on_cpu_pool",
            edit(
                "    cpus_per_replica: 2\n",
                "    cpus_per_replica: 2\n    gpus_per_replica: 1\n",
            ),
            "gpus_per_replica: |1",
            &[
                "services[0].gpus_per_replica",
                "CPU pool",
                "must be 0 or left out",
            ],
        ),
        case(
            "replica_larger_than_node",
            edit("    cpus_per_replica: 8\n", "    cpus_per_replica: 64\n"),
            "cpus_per_replica: |64",
            &[
                "services[1].cpus_per_replica",
                "a replica requests 64 CPUs",
                "(cpus_per_node: 32)",
                "never be placed",
            ],
        ),
        case(
            "zero_cpus_per_replica",
            edit("    cpus_per_replica: 8\n", "    cpus_per_replica: 0\n"),
            "cpus_per_replica: |0",
            &["services[1].cpus_per_replica", "more than 0"],
        ),
        case(
            "cpu_request_disagrees",
            edit(
                "    cpus_per_replica: 8\n",
                "    cpus_per_replica: 8\n    cpu_request: 500m\n",
            ),
            "cpu_request: |500m",
            &[
                "services[1].cpu_request",
                "cpu_request (500m) and cpus_per_replica (8)",
            ],
        ),
        case(
            "replica_memory_larger_than_node",
            edit("memory_per_replica: 4GiB", "memory_per_replica: 200GiB"),
            "200GiB",
            &[
                "services[0].memory_per_replica",
                "(200GiB) is more than a node of pool `cpu` has (memory_per_node: 128GiB)",
            ],
        ),
        case(
            "gpu_model_on_cpu_pool",
            edit("    model: web-handler\n", "    model: resnet50\n"),
            "model: |resnet50\n    concurrency: 8",
            &[
                "services[0].model",
                "needs a GPU",
                "CPU pool",
                "service_time",
            ],
        ),
        case(
            "autoscaled_statefulset",
            edit(
                "    replicas: 2\n  - name: cache",
                "    replicas: 2\n    autoscaler: {kind: hpa, maxReplicas: 4}\n  - name: cache",
            ),
            "{kind: hpa",
            &[
                "services[1].autoscaler",
                "StatefulSet",
                "remove `autoscaler`",
            ],
        ),
        case(
            "primary_routing_on_deployment",
            edit(
                "    concurrency: 8\n",
                "    concurrency: 8\n    routing: primary\n",
            ),
            "routing: |primary\n",
            &["services[0].routing", "Deployment", "kind: statefulset"],
        ),
        case(
            "statefulset_without_replicas",
            edit(
                "    replicas: 2\n  - name: cache",
                "    replicas: 0\n  - name: cache",
            ),
            "replicas: |0",
            &["services[1].replicas", "StatefulSet", "never serve"],
        ),
        case(
            "unknown_kind",
            edit("kind: statefulset", "kind: daemonset"),
            "daemonset",
            &["services[1].kind", "statefulset"],
        ),
    ];
    for c in &cases {
        refused(c);
    }
}

const C1: &str = "{service: cache, probability: 0.2}";

#[test]
fn bad_calls_are_refused_with_their_place() {
    let llm_service = "  - name: chat\n    node_pool: gpu\n    model: llama3-8b\n";
    let cases = vec![
        case(
            "unknown_callee",
            edit("{service: cache,", "{service: cahce,"),
            "cahce",
            &[
                "services[0].calls[1].service",
                "unknown service `cahce`",
                "did you mean `cache`",
            ],
        ),
        case(
            "self_call",
            edit("{service: cache,", "{service: web,"),
            "{service: |web, probability",
            &["services[0].calls[1].service", "cycle (web -> web)"],
        ),
        case(
            "cycle_through_two_services",
            edit(
                "    concurrency: 16\n",
                "    concurrency: 16\n    calls: [{service: web}]\n",
            ),
            "[{service: |web}]",
            &["services[1].calls[0].service", "cycle (web -> db -> web)"],
        ),
        case(
            "count_and_probability",
            edit(C1, "{service: cache, count: {fixed: 2}, probability: 0.2}"),
            "probability: |0.2}",
            &["services[0].calls[1].probability", "not both"],
        ),
        case(
            "probability_above_one",
            edit(C1, "{service: cache, probability: 1.5}"),
            "probability: |1.5",
            &[
                "services[0].calls[1].probability",
                "from 0 to 1 (found 1.5)",
            ],
        ),
        case(
            "fractional_fixed_count",
            edit("{fixed: 3}", "{fixed: 2.5}"),
            "count: |{fixed: 2.5}",
            &[
                "services[0].calls[0].count",
                "whole number from 0 to 10000 (found 2.5)",
            ],
        ),
        case(
            "too_many_calls_per_request",
            edit("{fixed: 3}", "{fixed: 20000}"),
            "count: |{fixed: 20000}",
            &[
                "services[0].calls[0].count",
                "from 0 to 10000 (found 20000)",
            ],
        ),
        case(
            "drawn_count_with_infinite_mean",
            edit("{exponential: {mean: 2}}", "{pareto: {scale: 1, shape: 1}}"),
            "count: |{pareto",
            &[
                "services[0].calls[2].count",
                "at most 10000 calls per request (found inf)",
            ],
        ),
        case(
            "negative_drawn_count",
            edit("{exponential: {mean: 2}}", "{exponential: {mean: -2}}"),
            "mean: |-2",
            &["services[0].calls[2].count.exponential.mean"],
        ),
        case(
            "blocking_after_async",
            edit(C1, "{service: cache, mode: async}").replacen(
                "mode: async, routing",
                "mode: blocking, routing",
                1,
            ),
            "mode: |blocking, routing",
            &[
                "services[0].calls[2].mode",
                "calls[2] is blocking after the async calls[1], which has no `then`",
                "put blocking calls first, or give calls[1] a `then`",
            ],
        ),
        case(
            "zero_connections",
            edit("max_connections: 10", "max_connections: 0"),
            "max_connections: |0}",
            &[
                "services[0].calls[0].max_connections",
                "from 1 to 100000 (found 0)",
            ],
        ),
        case(
            "connection_pools_disagree",
            edit(
                "routing: primary,",
                "routing: primary, max_connections: 20,",
            ),
            "max_connections: |20",
            &[
                "services[0].calls[2].max_connections",
                "calls[0] and calls[2] both call `db` with different max_connections (10 and 20)",
            ],
        ),
        case(
            "primary_to_a_deployment",
            edit(C1, "{service: cache, routing: primary}"),
            "routing: |primary}",
            &[
                "services[0].calls[1].routing",
                "`cache` is a Deployment",
                "kind: statefulset",
            ],
        ),
        case(
            "unknown_call_routing",
            edit("routing: primary,", "routing: spread,"),
            "spread",
            &["services[0].calls[2].routing", "primary"],
        ),
        case(
            "misspelt_mode",
            edit(C1, "{service: cache, mod: async}"),
            "mod: async",
            &["did you mean `mode`"],
        ),
        case(
            "bad_then",
            edit(
                "{service_time: {fixed: 1ms}}",
                "{service_time: {fixed: 1parsec}}",
            ),
            "1parsec",
            &["services[0].calls[2].then.service_time"],
        ),
        case(
            "calls_from_a_dynamic_batch",
            edit(
                "    cpus_per_replica: 4\n",
                "    cpus_per_replica: 4\n    batching: {dynamic: {max_batch: 8}}\n    calls: [{service: db}]\n",
            ),
            "calls: |[{service: db}]",
            &[
                "services[3].calls",
                "batching: dynamic",
                "a slot of its own",
            ],
        ),
        case(
            "calls_from_an_llm",
            edit(
                "workloads:\n",
                &format!("{llm_service}    calls: [{{service: db}}]\nworkloads:\n"),
            ),
            "calls: |[{service: db}]",
            &["services[4].calls", "serves an LLM", "not supported"],
        ),
        case(
            // Calls carry the user's tokens: the workload that reaches an LLM must give them.
            "calls_to_an_llm_without_tokens",
            edit(C1, "{service: chat}")
                .replace("workloads:\n", &format!("{llm_service}workloads:\n")),
            "  - |service: web\n",
            &[
                "workloads[0]",
                "service `web` calls `chat` (directly or through other services)",
                "give `prompt_tokens`",
                "give `output_tokens`",
            ],
        ),
        case(
            "too_many_entries",
            many_calls(65),
            "calls: |[{service: cache}",
            &[
                "services[0].calls",
                "65 call entries is above the limit of 64",
            ],
        ),
    ];
    for c in &cases {
        refused(c);
    }
}

/// The good scenario with web's calls replaced by `n` calls to cache.
fn many_calls(n: usize) -> String {
    let from = GOOD.find("    calls:\n").expect("web's calls");
    let to = GOOD.find("  - name: db").expect("db");
    let calls = vec!["{service: cache}"; n].join(", ");
    format!("{}    calls: [{calls}]\n{}", &GOOD[..from], &GOOD[to..])
}

#[test]
fn set_on_a_call_entry_is_checked_and_named() {
    let mut c = case(
        "set_probability_with_count",
        GOOD.to_string(),
        "",
        &["services[0].calls[0].probability", "not both"],
    );
    c.set = vec!["services.web.calls.0.probability=0.5"];
    refused(&c);
    c.set = vec!["services.db.calls=[{service: web}]"];
    c.needles = vec!["services[1].calls[0].service", "cycle (web -> db -> web)"];
    refused(&c);
}

#[test]
fn calls_count_in_the_event_budget() {
    // 6,000 requests to web (100/s for 60s); 3 + 2 (a drawn count of mean 2) calls each to
    // db, 30,000 in all, each of which makes 1,000 calls to cache: 3e7 calls of db to cache,
    // two events each, over a budget of 1e7.
    let text = edit(
        "    concurrency: 16\n",
        "    concurrency: 16\n    calls: [{service: cache, count: {fixed: 1000}}]\n",
    )
    .replace(
        "replications: 1\n",
        "replications: 1\nlimits: {max_events: 1e7}\n",
    );
    let c = case(
        "calls_over_the_budget",
        text,
        "[|{service: cache, count: {fixed: 1000}}",
        &[
            "services[1].calls[0]",
            "the calls of `db` to `cache` (1000 per request: about 3e7 in 1m)",
            "about 6e7 events per replication",
            "limits.max_events",
        ],
    );
    refused(&c);
    // Without the budget it passes: the estimate is what refused it.
    let ok = tmp(
        "calls_within_the_budget.yaml",
        c.text.replace("limits: {max_events: 1e7}\n", "").as_bytes(),
    );
    let (code, stdout, stderr) = capsim(&["validate", ok.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}
