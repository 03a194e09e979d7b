//! Pod scheduling and GPU sharing through the whole simulator: pods that fit no node stay
//! Pending and are reported; packing leaves whole nodes for large pods; MIG and time slicing
//! multiply the schedulable units of a GPU and divide each unit's speed.
//!
//! The truths are exact counts derived by hand from the node sizes and the NVIDIA MIG user
//! guide's profile table (FACTS.md).

mod common;

use common::{rel, run};
use std::path::Path;

/// A light Poisson load on one service, so that every metric is defined.
fn one_service(pool: &str, service: &str) -> String {
    format!(
        r#"
name: sched
seed: 23
duration: 100s
warmup: 5s
replications: 1
report_interval: 10s
models:
  - {{name: m, service_time: {{fixed: 10ms}}}}
node_pools:
  - {pool}
services:
  - {service}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 10/s}}}}
"#
    )
}

#[test]
fn pods_that_fit_no_node_stay_pending() {
    // 2 nodes x 4 GPUs; 3 replicas of 3 GPUs each. A pod needs its 3 GPUs on one node, and a
    // node holds one such pod (4 < 6), so 2 are scheduled and 1 is Pending: 6 of the 8 GPUs
    // are allocated, 0.75.
    let r = run(&one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 2}",
        "{name: s, model: m, node_pool: p, gpus_per_replica: 3, replicas: 3}",
    ));
    assert_eq!(r.mean("s", "pods_pending"), 1.0);
    assert_eq!(r.mean("s", "gpus"), 6.0);
    assert_eq!(r.mean("s", "replicas_mean"), 2.0);
    assert_eq!(r.mean("cluster", "pods_pending"), 1.0);
    assert_eq!(r.mean("cluster", "gpus"), 8.0);
    assert_eq!(r.mean("cluster", "gpus_allocated"), 6.0);
    assert_eq!(r.mean("cluster", "gpu_allocation"), 0.75);
    // The timeseries reports the Pending pod too.
    let pending: Vec<f64> = r
        .timeseries
        .iter()
        .filter(|(_, c, m, _)| c == "s" && *m == "pending_pods")
        .map(|p| p.3)
        .collect();
    assert!(pending.len() >= 9, "{pending:?}");
    assert!(pending.iter().all(|&v| v == 1.0), "{pending:?}");
}

#[test]
fn packing_leaves_whole_nodes_for_large_pods() {
    // 3 nodes x 4 GPUs. In order: 2 pods of 2 GPUs, 2 pods of 1 GPU, 1 pod of 4 GPUs.
    // Bin packing (the scheduler's MostAllocated scoring) puts both 2-GPU pods on node 0,
    // both 1-GPU pods on node 1, and the 4-GPU pod on the still empty node 2: nothing is
    // Pending and 10 of 12 GPUs are allocated. Spreading (LeastAllocated) would have used
    // all three nodes before the 4-GPU pod came and left it Pending.
    let y = r#"
name: pack
seed: 29
duration: 20s
replications: 1
report_interval: 10s
models:
  - {name: m, service_time: {fixed: 10ms}}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 3}
services:
  - {name: two, model: m, node_pool: p, gpus_per_replica: 2, replicas: 2}
  - {name: one, model: m, node_pool: p, gpus_per_replica: 1, replicas: 2}
  - {name: four, model: m, node_pool: p, gpus_per_replica: 4, replicas: 1}
"#;
    let r = run(y);
    for (svc, gpus) in [("two", 4.0), ("one", 2.0), ("four", 4.0)] {
        assert_eq!(r.mean(svc, "pods_pending"), 0.0, "{svc}");
        assert_eq!(r.mean(svc, "gpus"), gpus, "{svc}");
    }
    assert_eq!(r.mean("cluster", "pods_pending"), 0.0);
    assert_eq!(r.mean("cluster", "gpus_allocated"), 10.0);

    // 2 nodes x 4 GPUs: three 2-GPU pods fill node 0 and half of node 1; then three 1-GPU
    // pods: two fill node 1, the third finds no free GPU and is Pending.
    let y = r#"
name: pack2
seed: 29
duration: 20s
replications: 1
report_interval: 10s
models:
  - {name: m, service_time: {fixed: 10ms}}
node_pools:
  - {name: p, gpu: a100-80gb, gpus_per_node: 4, nodes: 2}
services:
  - {name: two, model: m, node_pool: p, gpus_per_replica: 2, replicas: 3}
  - {name: one, model: m, node_pool: p, gpus_per_replica: 1, replicas: 3}
"#;
    let r = run(y);
    assert_eq!(r.mean("two", "pods_pending"), 0.0);
    assert_eq!(r.mean("one", "pods_pending"), 1.0);
    assert_eq!(r.mean("one", "gpus"), 2.0);
    assert_eq!(r.mean("cluster", "pods_pending"), 1.0);
    assert_eq!(r.mean("cluster", "gpus_allocated"), 8.0);
    assert_eq!(r.mean("cluster", "gpu_allocation"), 1.0);
}

#[test]
fn mig_slices_are_seven_units_each_a_seventh_of_the_gpu() {
    // NVIDIA MIG user guide (FACTS.md): an A100-80GB holds up to 7 instances of 1g.10gb,
    // each with 1/7 of the compute. A node of 1 GPU therefore schedules 7 one-slice pods and
    // leaves the 8th Pending; a request needing 10 ms of the whole GPU takes 7 x 10 = 70 ms
    // on a slice. The 7 pods together hold exactly 1 GPU.
    let r = run(&one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1, gpu_sharing: {mig: 1g.10gb}}",
        "{name: s, model: m, node_pool: p, replicas: 8}",
    ));
    let st = r.mean("s", "service_time_mean_ms");
    assert!(rel(st, 70.0) < 1e-3, "service time {st} ms");
    assert_eq!(r.mean("s", "pods_pending"), 1.0);
    assert_eq!(r.mean("cluster", "pods_pending"), 1.0);
    assert_eq!(r.mean("s", "replicas_mean"), 7.0);
    assert!(rel(r.mean("s", "gpus"), 1.0) < 1e-9);
    assert!(rel(r.mean("cluster", "gpus_allocated"), 1.0) < 1e-9);
    assert!(rel(r.mean("cluster", "gpu_allocation"), 1.0) < 1e-9);
}

#[test]
fn larger_mig_profiles_fit_fewer_per_gpu() {
    // MIG user guide (FACTS.md): 3g.40gb is 3/7 of the compute, up to 2 per GPU; on a node of
    // 2 GPUs, 4 fit and the 5th is Pending; 10 ms of whole-GPU work takes 70/3 ms.
    let r = run(&one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 2, nodes: 1, gpu_sharing: {mig: 3g.40gb}}",
        "{name: s, model: m, node_pool: p, replicas: 5}",
    ));
    assert_eq!(r.mean("s", "pods_pending"), 1.0);
    assert_eq!(r.mean("s", "replicas_mean"), 4.0);
    let st = r.mean("s", "service_time_mean_ms");
    assert!(rel(st, 70.0 / 3.0) < 1e-3, "service time {st} ms");
    // 4 half-GPU pods = 2 GPUs; the pool's 2 GPUs are fully allocated.
    assert!(rel(r.mean("s", "gpus"), 2.0) < 1e-9);
    assert!(rel(r.mean("cluster", "gpu_allocation"), 1.0) < 1e-9);
}

#[test]
fn time_slicing_four_ways_gives_four_units_at_a_quarter_speed() {
    // NVIDIA device plugin time slicing with 4 replicas: each GPU is advertised as 4 units;
    // with all 4 busy each gets 1/4 of the time, so 10 ms of work takes 40 ms. One GPU fits
    // 4 pods; the 5th is Pending.
    let r = run(&one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1, gpu_sharing: {time_slicing: 4}}",
        "{name: s, model: m, node_pool: p, replicas: 5}",
    ));
    let st = r.mean("s", "service_time_mean_ms");
    assert!(rel(st, 40.0) < 1e-3, "service time {st} ms");
    assert_eq!(r.mean("s", "pods_pending"), 1.0);
    assert_eq!(r.mean("cluster", "pods_pending"), 1.0);
    assert_eq!(r.mean("s", "replicas_mean"), 4.0);
    assert!(rel(r.mean("s", "gpus"), 1.0) < 1e-9);
}

#[test]
fn mig_on_a_gpu_without_mig_is_refused() {
    // MIG arrived with Ampere (A100); a T4 (Turing) has none, so the scenario is bad input.
    let y = one_service(
        "{name: p, gpu: t4, gpus_per_node: 1, nodes: 1, gpu_sharing: {mig: 1g.10gb}}",
        "{name: s, model: m, node_pool: p, replicas: 1}",
    );
    let loaded = capsim::scenario::load_bytes("t4-mig.yaml", y.as_bytes(), &[], Path::new("."))
        .expect("the YAML itself is well-formed");
    let errs = capsim::scenario::build_plan(&loaded).expect_err("MIG on a T4 must be refused");
    let text = format!("{errs:?}");
    assert!(text.contains("MIG"), "{text}");
    assert!(text.contains("gpu_sharing"), "{text}");

    // A profile the GPU does not have (1g.5gb is the 40 GB part's) is refused too.
    let y = one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 1, gpu_sharing: {mig: 1g.5gb}}",
        "{name: s, model: m, node_pool: p, replicas: 1}",
    );
    let loaded = capsim::scenario::load_bytes("a100-mig.yaml", y.as_bytes(), &[], Path::new("."))
        .expect("well-formed");
    assert!(capsim::scenario::build_plan(&loaded).is_err());
}

#[test]
fn a_pod_larger_than_a_node_is_refused_as_bad_input() {
    // A replica needs all its GPUs on one node; 9 GPUs cannot fit a node of 8, ever.
    let y = one_service(
        "{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 4}",
        "{name: s, model: m, node_pool: p, gpus_per_replica: 9, replicas: 1}",
    );
    let loaded = capsim::scenario::load_bytes("big.yaml", y.as_bytes(), &[], Path::new("."))
        .expect("well-formed");
    let errs = capsim::scenario::build_plan(&loaded).expect_err("9 GPUs on a node of 8");
    assert!(format!("{errs:?}").contains("gpus_per_replica"), "{errs:?}");
}
