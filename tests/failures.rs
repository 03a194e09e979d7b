//! Node failures against timelines worked out by hand from Kubernetes' rules: the kubelet's
//! lease renewals every 10 s, the node lifecycle controller's look every 5 s and its 50 s
//! grace period, taint-based eviction 300 s after NotReady, and replacements that go through
//! Pending, binding and start-up like any new pod.

mod common;
use common::{OneService, at, capsim, first_at, run, series};

/// One replica per single-GPU node (`nodes` nodes, `replicas` replicas), a fixed 10 ms
/// service, random routing (kube-proxy), Poisson arrivals at `rate`, sampled every second,
/// no warm-up; `pool_extra` and `top_extra` add YAML to the pool and the top level.
fn scenario(
    nodes: u32,
    replicas: u32,
    rate: f64,
    duration: &str,
    reps: u32,
    pool_extra: &str,
    top_extra: &str,
) -> String {
    OneService {
        nodes,
        replicas,
        rate,
        duration,
        reps,
        startup: "20s",
        pool_extra,
        top_extra,
        service_extra: "",
    }
    .yaml()
}

#[test]
fn a_failure_leaves_the_endpoints_at_the_first_look_after_the_grace_period() {
    // Heartbeats at 0, 10, 20, ... s. A failure at 100 s (a heartbeat instant: that one was
    // sent) is noticed at the first 5-second look more than 50 s after 100 s: 155 s. A
    // failure at 103 s: the same heartbeat, the same look. At 97 s: the last heartbeat was at
    // 90 s, so 145 s.
    for (fail, not_ready) in [(100.0, 155.0), (103.0, 155.0), (97.0, 145.0)] {
        let pool = format!("    failures: {{at: [{{node: 0, time: {fail}s}}]}}");
        let r = run(&scenario(5, 4, 100.0, "200s", 1, &pool, ""));
        let ready = series(&r, "s", "ready");
        let nodes_ready = series(&r, "cluster", "nodes_ready");
        // Until then the API still shows the pod (and the node) Ready.
        assert_eq!(at(&ready, not_ready - 1.0), 4.0, "failure at {fail}");
        assert_eq!(at(&nodes_ready, not_ready - 1.0), 5.0, "failure at {fail}");
        assert_eq!(at(&ready, not_ready), 3.0, "failure at {fail}");
        assert_eq!(at(&nodes_ready, not_ready), 4.0, "failure at {fail}");
        // Within [fail + grace - renew interval, fail + grace + monitor period].
        assert!(not_ready > fail + 40.0 && not_ready <= fail + 55.0);
        assert_eq!(r.mean("cluster", "node_failures"), 1.0);
    }
}

#[test]
fn evicted_pods_are_replaced_and_ready_after_their_start_up() {
    // Failure at 100 s, NotReady at 155 s, eviction at 455 s: the replacement binds to the
    // spare fifth node at once and is Ready 20 s later (its start-up time), at 475 s.
    let pool = "    failures: {at: [{node: 0, time: 100s}]}";
    let r = run(&scenario(5, 4, 100.0, "600s", 1, pool, ""));
    let ready = series(&r, "s", "ready");
    let replicas = series(&r, "s", "replicas");
    assert_eq!(at(&ready, 474.0), 3.0);
    assert_eq!(at(&ready, 475.0), 4.0);
    // The replica count holds 4 throughout: the evicted pod is replaced at once.
    assert!(replicas.iter().all(|p| p.1 == 4.0), "{replicas:?}");
    assert_eq!(first_at(&ready, 156.0, 4.0), Some(475.0));
    // Shorter tolerations evict sooner: 30 s after NotReady, Ready 20 s later.
    let top = "cluster: {pod_eviction_timeout: 30s}";
    let r = run(&scenario(5, 4, 100.0, "600s", 1, pool, top));
    assert_eq!(first_at(&series(&r, "s", "ready"), 156.0, 4.0), Some(205.0));
}

#[test]
fn requests_routed_to_a_failed_node_until_it_is_not_ready_are_lost() {
    // 100 requests/s spread at random over 4 replicas; one fails at 100 s and leaves the
    // endpoints at 155 s. Requests sent to it meanwhile are lost: 100 x 55 x 1/4 = 1375 per
    // replication, a Poisson count (plus the rare request running at the failure: the
    // service is busy a quarter of the time, so about 0.25).
    let pool = "    failures: {at: [{node: 0, time: 100s}]}";
    let reps = 8;
    let r = run(&scenario(5, 4, 100.0, "300s", reps, pool, ""));
    let failed = r.mean("s", "failed");
    let expected = 100.0 * 55.0 * 0.25 + 0.25;
    let sd = (expected / reps as f64).sqrt();
    assert!(
        (failed - expected).abs() < 4.0 * sd,
        "failed {failed}, expected {expected} +- {sd}"
    );
    // Lost requests are dropped requests, and they miss no other count.
    assert_eq!(r.mean("s", "dropped"), failed);
    let requests = r.mean("s", "requests");
    let completed = r.mean("s", "completed");
    // (Less the few still in the system at the end.)
    let in_system = requests - completed - failed;
    assert!(
        (0.0..3.0).contains(&in_system),
        "{requests} {completed} {failed}"
    );
}

#[test]
fn a_replacement_on_a_full_pool_waits_for_the_repair() {
    // Four nodes, four replicas: the replacement evicted at 455 s finds no room and stays
    // Pending until the failed node is repaired at 100 + 1000 = 1100 s; it is Ready 20 s later.
    let pool = "    failures: {repair_time: 1000s, at: [{node: 0, time: 100s}]}";
    let r = run(&scenario(4, 4, 100.0, "1200s", 1, pool, ""));
    let pending = series(&r, "s", "pending_pods");
    let ready = series(&r, "s", "ready");
    assert_eq!(at(&pending, 454.0), 0.0);
    assert_eq!(at(&pending, 455.0), 1.0);
    assert_eq!(at(&pending, 1099.0), 1.0);
    assert_eq!(at(&pending, 1100.0), 0.0);
    assert_eq!(at(&ready, 1119.0), 3.0);
    assert_eq!(at(&ready, 1120.0), 4.0);
    assert_eq!(at(&series(&r, "cluster", "nodes_ready"), 1100.0), 4.0);
}

#[test]
fn a_replacement_on_a_full_pool_gets_the_cluster_autoscalers_node() {
    // With room for a fifth node, the cluster autoscaler's first scan after the eviction
    // (scans every 10 s from 10 s: 460 s) asks for one; it is Ready 60 s later (520 s) and
    // the replacement 20 s after that (540 s). The repair (at 1100 s) then brings back a node
    // nobody needs.
    let pool = "    max_nodes: 5\n    provision_time: 60s\n    failures: {repair_time: 1000s, at: [{node: 0, time: 100s}]}";
    let r = run(&scenario(4, 4, 100.0, "1200s", 1, pool, ""));
    let ready = series(&r, "s", "ready");
    let nodes = series(&r, "cluster", "nodes");
    assert_eq!(at(&nodes, 519.0), 4.0);
    assert_eq!(at(&nodes, 520.0), 5.0);
    assert_eq!(at(&ready, 539.0), 3.0);
    assert_eq!(at(&ready, 540.0), 4.0);
    assert_eq!(at(&series(&r, "s", "pending_pods"), 520.0), 0.0);
}

#[test]
fn random_failures_come_at_the_rate_mtbf_gives() {
    // 100 nodes, up times exponential with mean 1 h, repairs of 1 min: each node alternates
    // up and down, so it fails duration / (mtbf + repair) times on average (a renewal
    // process): 100 x 10 h / (61 min / 60) = 983.6 per replication, a count close to Poisson.
    let pool = "    failures: {mtbf: 1h, repair_time: 1m}";
    let reps = 5;
    let r = run(&scenario(100, 1, 1.0, "10h", reps, pool, ""));
    let failures = r.mean("cluster", "node_failures");
    let expected = 100.0 * 36_000.0 / 3_660.0;
    let sd = (expected / reps as f64).sqrt();
    assert!(
        (failures - expected).abs() < 4.0 * sd,
        "{failures} failures, expected {expected} +- {sd}"
    );
    // A node is down (not Ready) for about 1 min of every 61, less the ~55 s before the
    // controller notices: nodes_ready stays near 100.
    let ready = r.mean("cluster", "nodes_ready");
    assert!(ready > 99.5 && ready < 100.0, "{ready}");
}

#[test]
fn an_llm_service_loses_the_sequences_of_a_failed_replica_and_recovers() {
    // Two Llama-2-7B replicas on two single-GPU nodes and a spare; one node fails while
    // both engines run batches: the sequences it held are lost with it.
    let yaml = r#"
name: llm-failure
seed: 5
duration: 15m
replications: 2
report_interval: 5s
node_pools:
  - name: a100
    gpu: a100-80gb
    gpus_per_node: 1
    nodes: 3
    failures: {at: [{node: 0, time: 5m}]}
services:
  - {name: chat, model: llama2-7b, node_pool: a100, replicas: 2, startup_time: 30s}
workloads:
  - service: chat
    arrivals: {poisson: {rate: 4/s}}
    prompt_tokens: {fixed: 512}
    output_tokens: {fixed: 256}
"#;
    let r = run(yaml);
    // In flight on the failed replica at 300 s, plus half the arrivals until NotReady at
    // 355 s (4/s x 55 s / 2 = 110): more than the second alone.
    let failed = r.mean("chat", "failed");
    assert!(failed > 60.0 && failed < 200.0, "{failed}");
    // The replacement comes up on the spare node: 355 + 300 + 30 s.
    let ready = series(&r, "chat", "ready");
    assert_eq!(at(&ready, 680.0), 1.0);
    assert_eq!(at(&ready, 685.0), 2.0);
    assert_eq!(r.mean("chat", "saturated"), 0.0);
}

/// A service with `autoscaler` (YAML under the service) on four single-GPU nodes of which
/// node 0 fails at 2 min.
fn autoscaled(autoscaler: &str) -> String {
    format!(
        r#"
name: autoscaled-failure
seed: 9
duration: 20m
replications: 2
report_interval: 10s
models:
  - {{name: m, service_time: {{exponential: {{mean: 50ms}}}}}}
node_pools:
  - name: p
    gpu: a100-80gb
    gpus_per_node: 1
    nodes: 4
    failures: {{repair_time: 5m, at: [{{node: 0, time: 2m}}]}}
services:
  - name: s
    model: m
    node_pool: p
    replicas: 2
    startup_time: 10s
    autoscaler:
{autoscaler}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 30/s}}}}
"#
    )
}

#[test]
fn every_autoscaler_lives_through_a_failure() {
    for a in [
        "      kind: hpa\n      minReplicas: 2\n      maxReplicas: 4\n      metrics:\n        - type: Pods\n          pods: {metric: {name: inflight_requests}, target: {type: AverageValue, averageValue: \"1\"}}",
        "      kind: kpa\n      target: 1\n      minScale: 2\n      maxScale: 4",
        "      kind: keda\n      minReplicaCount: 2\n      maxReplicaCount: 4\n      triggers:\n        - {metric: total_inflight_requests, threshold: 1}",
    ] {
        let r = run(&autoscaled(a));
        assert_eq!(r.mean("cluster", "node_failures"), 1.0, "{a}");
        assert!(r.mean("s", "failed") > 0.0, "{a}");
        assert_eq!(r.mean("s", "saturated"), 0.0, "{a}");
        // After the eviction (at about 7 min) and the repair, every replica it wants is
        // Ready again by the end.
        let ready = series(&r, "s", "ready");
        let desired = series(&r, "s", "desired_replicas");
        let last = ready.last().unwrap().0;
        assert_eq!(at(&ready, last), at(&desired, last), "{a}");
    }
}

#[test]
fn failure_fields_are_checked_with_their_place() {
    let dir = std::env::temp_dir().join(format!("capsim-failures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "    failures: {at: [{node: 7, time: 1m}]}",
            "",
            "node 7 does not exist: the pool has at most 5 nodes",
        ),
        (
            "    failures: {mtbf: 0s}",
            "",
            "mtbf must be longer than zero",
        ),
        (
            "    failures: {mtbf: 1ms}",
            "",
            "the limit is 1e6 failures in one replication",
        ),
        (
            "    failures: {repair_time: {exponential: {mean: -1s}}}",
            "",
            "repair_time",
        ),
        ("    failures: {mtfb: 1h}", "", "mtfb"),
        (
            "",
            "cluster: {node_monitor_period: 0s}",
            "node_monitor_period must be longer than zero",
        ),
    ];
    for (i, (pool, top, msg)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.yaml"));
        std::fs::write(&f, scenario(5, 4, 10.0, "10m", 1, pool, top)).unwrap();
        let (code, _, err) = capsim(&["validate", f.to_str().unwrap()]);
        assert_eq!(code, 2, "{pool}{top}: {err}");
        assert!(err.contains(msg), "{pool}{top}: {err}");
        // file:line:column
        assert!(err.contains(&format!("bad{i}.yaml:")), "{err}");
    }
}

#[test]
fn failures_are_deterministic_at_any_thread_count() {
    let pool = "    failures: {mtbf: 2h, repair_time: {exponential: {mean: 10m}}}";
    let yaml = scenario(20, 10, 50.0, "6h", 4, pool, "");
    let dir = std::env::temp_dir().join(format!("capsim-failures-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("det.yaml");
    std::fs::write(&f, yaml).unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("out{threads}"));
        let (code, _, err) = common::capsim_in(
            None,
            &[("RAYON_NUM_THREADS", threads)],
            &["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        outs.push(out);
    }
    for file in ["summary.csv", "timeseries.csv"] {
        assert_eq!(
            std::fs::read(outs[0].join(file)).unwrap(),
            std::fs::read(outs[1].join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn the_summary_averages_pending_pods_and_held_gpus_over_the_window() {
    // The full-pool case: the evicted pod's replacement waits from 455 s to the repair at
    // 1,100 s, so over the 1,200 s window 0.5375 pods wait on average and none at the end.
    // GPUs held: 4 until the eviction (the lost pod keeps its GPU), 3 until the replacement
    // binds at 1,100 s, then 4: (455 x 4 + 645 x 3 + 100 x 4) / 1,200 = 3.4625.
    let pool = "    failures: {repair_time: 1000s, at: [{node: 0, time: 100s}]}";
    let r = run(&scenario(4, 4, 100.0, "1200s", 1, pool, ""));
    assert!((r.mean("s", "pods_pending") - 645.0 / 1200.0).abs() < 1e-9);
    assert_eq!(r.mean("s", "pods_pending_end"), 0.0);
    assert!((r.mean("cluster", "pods_pending") - 645.0 / 1200.0).abs() < 1e-9);
    assert!((r.mean("cluster", "gpus_allocated") - 3.4625).abs() < 1e-9);
    assert!((r.mean("cluster", "gpu_allocation") - 3.4625 / 4.0).abs() < 1e-9);
}
