//! CPU node pools and CPU services, from scenario text, against arithmetic done by hand:
//! pods packed by milli-CPU (and memory where it binds), the cluster autoscaler adding a CPU
//! node for a pod that fits an empty one, the HPA's `cpu` metric as the busy share of slots
//! times the replica's CPUs, and the price of a node hour shared out by the CPUs a replica
//! requests.

mod common;
use capsim::cluster::{Cluster, ClusterEv, Controller};
use capsim::engine::{EventQueue, SimTime};
use capsim::sim::Plan;
use common::{plan, rel, series};

/// `replicas` replicas of `cpus` CPUs (and `memory` per replica) of a 1 ms service on a CPU
/// pool of `nodes` nodes given by `pool` (flow-mapping fields), light load, one replication
/// of 60 s.
fn yaml(pool: &str, nodes: u32, replicas: u32, service: &str) -> String {
    format!(
        r#"
name: cpu
seed: 1
duration: 60s
replications: 1
report_interval: 1s
models:
  - {{name: m, service_time: {{fixed: 1ms}}}}
node_pools:
  - {{name: p, nodes: {nodes}, {pool}}}
services:
  - {{name: s, model: m, node_pool: p, replicas: {replicas}, startup_time: 5s, {service}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: 1/s}}}}
"#
    )
}

/// The cluster of `p` run alone until `until`: (free milli-CPUs per node, nodes, pending).
fn cluster_after(p: &Plan, until: SimTime) -> (Vec<u32>, u32, usize) {
    let sets = p
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.pod_template(&p.pools, i as u32),
                s.replicas,
                Controller::Deployment,
            )
        })
        .collect();
    let mut c = Cluster::new(&p.pools, p.cluster, sets, SimTime::ZERO, 1, 0);
    let mut q: EventQueue<ClusterEv> = EventQueue::new();
    c.start(&mut q);
    while let Some((now, ev)) = q.pop() {
        if now > until {
            break;
        }
        c.handle(now, ev, &mut q);
        while c.next_notice().is_some() {}
    }
    let pool = c.pool(0);
    let free = (0..pool.node_slots()).map(|n| pool.free_units(n)).collect();
    (free, pool.nodes(), c.pending(0))
}

#[test]
fn a_cpu_pool_packs_pods_by_milli_cpu() {
    // 32-CPU nodes, 3-CPU pods: ten on node 0 (30,000 of 32,000 milli-CPUs), the 11th on
    // node 1.
    let p = plan(&yaml("cpus_per_node: 32", 3, 11, "cpus_per_replica: 3"));
    let (free, _, pending) = cluster_after(&p, SimTime::ZERO);
    assert_eq!(free, [2000, 29_000, 32_000]);
    assert_eq!(pending, 0);
    // 0.25-CPU pods (given as a quantity): 128 a node exactly.
    let p = plan(&yaml("cpus_per_node: 32", 2, 129, "cpus_per_replica: 250m"));
    assert_eq!(cluster_after(&p, SimTime::ZERO).0, [0, 31_750]);
}

#[test]
fn memory_limits_a_cpu_node_when_it_binds() {
    // 32 CPUs and 64 GiB a node; 3-CPU pods of 12 GiB: memory allows five a node (60 GiB),
    // CPU would allow ten. Eleven pods: 5 + 5 + 1.
    let pool = "cpus_per_node: 32, memory_per_node: 64GiB";
    let p = plan(&yaml(
        pool,
        3,
        11,
        "cpus_per_replica: 3, memory_per_replica: 12GiB",
    ));
    let (free, _, pending) = cluster_after(&p, SimTime::ZERO);
    assert_eq!(free, [17_000, 17_000, 29_000]);
    assert_eq!(pending, 0);
    // With 6 GiB pods CPU binds again: ten a node.
    let p = plan(&yaml(
        pool,
        3,
        11,
        "cpus_per_replica: 3, memory_per_replica: 6GiB",
    ));
    assert_eq!(cluster_after(&p, SimTime::ZERO).0, [2000, 29_000, 32_000]);
    // Too few nodes: the pod memory cannot hold stays Pending.
    let p = plan(&yaml(
        pool,
        2,
        11,
        "cpus_per_replica: 3, memory_per_replica: 12GiB",
    ));
    assert_eq!(cluster_after(&p, SimTime::ZERO).2, 1);
}

#[test]
fn the_cluster_autoscaler_adds_a_cpu_node_for_a_pending_pod() {
    // One 32-CPU node holds ten 3-CPU pods; the 11th waits. The autoscaler's first scan
    // (10 s) asks for a node, Ready 60 s later (70 s), and the pod binds there.
    let pool = "cpus_per_node: 32, min_nodes: 1, max_nodes: 3, provision_time: 60s";
    let p = plan(&yaml(pool, 1, 11, "cpus_per_replica: 3"));
    assert_eq!(cluster_after(&p, SimTime::from_secs(69)).1, 1);
    let (free, nodes, pending) = cluster_after(&p, SimTime::from_secs(70));
    assert_eq!((nodes, pending), (2, 0));
    assert_eq!(free, [2000, 29_000]);
    // The same with memory binding: 12 GiB pods, five a node of 64 GiB; eleven need three
    // nodes, so the scan asks for two.
    let pool = "cpus_per_node: 32, memory_per_node: 64GiB, min_nodes: 1, max_nodes: 4, provision_time: 60s";
    let p = plan(&yaml(
        pool,
        1,
        11,
        "cpus_per_replica: 3, memory_per_replica: 12GiB",
    ));
    let (free, nodes, pending) = cluster_after(&p, SimTime::from_secs(70));
    assert_eq!((nodes, pending), (3, 0));
    assert_eq!(free, [17_000, 17_000, 29_000]);
}

/// Two closed-loop users with no think time on a service of 4 slots, one replica to start,
/// an HPA on CPU at `target`% (8 replicas at most); `resources` sizes the replica.
fn hpa_yaml(pool: &str, resources: &str, target: u32) -> String {
    format!(
        r#"
name: hpa-cpu
seed: 1
duration: 400s
report_interval: 1s
models:
  - {{name: m, service_time: {{fixed: 333.3ms}}}}
node_pools:
  - {{name: p, nodes: 8, {pool}}}
services:
  - name: web
    model: m
    node_pool: p
    replicas: 1
    concurrency: 4
    startup_time: 10s
    {resources}
    autoscaler:
      kind: hpa
      minReplicas: 1
      maxReplicas: 8
      metrics:
        - type: Resource
          resource: {{name: cpu, target: {{type: Utilization, averageUtilization: {target}}}}}
workloads:
  - service: web
    arrivals: {{closed: {{users: 2, think_time: 0s}}}}
"#
    )
}

/// The most replicas the HPA of `yaml` asked for.
fn most_desired(yaml: &str) -> f64 {
    let r = capsim::sim::simulate(&plan(yaml), false).expect("within the event budget");
    let desired = series(&r, "web", "desired_replicas");
    desired.iter().map(|x| x.1).fold(0.0, f64::max)
}

#[test]
fn the_hpa_cpu_metric_is_the_busy_share_of_slots_times_the_cpus() {
    // Two users always in service on one replica of 4 slots: half its slots are busy at every
    // sample (a 333.3 ms service never ends on a whole second here), so it uses
    // 0.5 x 2 CPUs = 1000m of its 2000m request: 50%. Against a 26% target Kubernetes asks
    // for ceil(1 x 50 / 26) = 2 replicas. With two, a quarter of the slots are busy (25%,
    // within the 10% tolerance of 26%): it stays at 2.
    let cpu = "cpus_per_node: 32";
    let r = capsim::sim::simulate(&plan(&hpa_yaml(cpu, "cpus_per_replica: 2", 26)), false)
        .expect("within the event budget");
    let desired = series(&r, "web", "desired_replicas");
    assert_eq!(desired.iter().map(|x| x.1).fold(0.0, f64::max), 2.0);
    assert_eq!(desired.last().map(|x| x.1), Some(2.0));
    // The HPA reads whole percents; 50% is pinned from both sides: at a 25% target it asks
    // for exactly 50 / 25 = 2 (51% would give 3), at 45% for 2 (50 / 45 = 1.11 is beyond
    // the tolerance; 49% would be within it and keep 1).
    for target in [25, 45] {
        let y = hpa_yaml(cpu, "cpus_per_replica: 2", target);
        assert_eq!(most_desired(&y), 2.0, "target {target}%");
    }
    // `cpu_request` on a CPU pool is the same request.
    assert_eq!(most_desired(&hpa_yaml(cpu, "cpu_request: 2", 25)), 2.0);
    // A GPU service's host CPU (a tenth of the request idle, all of it busy) reads
    // 0.1 + 0.9 x 0.5 = 55% there: ceil(1 x 55 / 26) = 3.
    let gpu = "gpu: a100-80gb, gpus_per_node: 1";
    assert_eq!(most_desired(&hpa_yaml(gpu, "cpu_request: 2", 26)), 3.0);
    // ... unless it gives cpus_per_replica: then the busy share again (placed by its GPU).
    assert_eq!(most_desired(&hpa_yaml(gpu, "cpus_per_replica: 2", 26)), 2.0);
}

#[test]
fn a_replica_pays_its_cpu_share_of_a_node_hour() {
    // Three 2-CPU replicas on two 32-CPU nodes at $1.50 a node hour: each replica pays
    // 1.50 x 2 / 32 = $0.09375 an hour. Over the 60 s window that is 3 x 60 / 3600 x 0.09375
    // for the completed requests; the cluster pays for both nodes whole: 2 x 60 / 3600 x 1.50.
    let pool = "cpus_per_node: 32, price_per_node_hour: 1.5";
    let r = capsim::sim::simulate(&plan(&yaml(pool, 2, 3, "cpus_per_replica: 2")), false)
        .expect("within the event budget");
    let completed = r.mean("s", "completed");
    assert!(completed > 30.0, "{completed}");
    assert!(rel(r.mean("s", "replicas_mean"), 3.0) < 1e-12);
    let hours = 60.0 / 3600.0;
    let want = 3.0 * hours * 1.5 * 2.0 / 32.0 * 1000.0 / completed;
    let got = r.mean("s", "cost_per_1k_requests");
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    let cost = r.mean("cluster", "cost");
    assert!(rel(cost, 2.0 * hours * 1.5) < 1e-12, "{cost}");
    assert!(rel(r.mean("cluster", "cpus"), 64.0) < 1e-12);
    assert!(rel(r.mean("cluster", "cpus_allocated"), 6.0) < 1e-12);
    assert!(rel(r.mean("cluster", "cpu_allocation"), 6.0 / 64.0) < 1e-12);
    // No GPUs on a CPU pool.
    assert_eq!(r.mean("cluster", "gpus_allocated"), 0.0);
    assert_eq!(r.mean("cluster", "gpus"), 0.0);
    // The terminal table shows the service's CPU figure, not GPU ones that read 0 (the
    // summary keeps them).
    let text = capsim::report::text_table(&r);
    let service: String = text
        .split("\n  s")
        .nth(1)
        .expect("the service's block")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .to_string();
    assert!(service.contains("cpu_utilization"), "{service}");
    for hidden in ["gpus ", "gpu_utilization", "users_per_gpu"] {
        assert!(!service.contains(hidden), "`{hidden}` in\n{service}");
    }
    assert_eq!(r.mean("s", "gpus"), 0.0);
}

#[test]
fn a_node_price_adds_to_the_gpu_price_by_gpu_share() {
    // Two 2-GPU replicas on one 8-GPU node at $2 a GPU hour and $4 a node hour: a replica
    // pays 2 x 2 + 4 x 2 / 8 = $5 an hour; the node costs 8 x 2 + 4 = $20 an hour.
    let gpu = "gpu: a100-80gb, gpus_per_node: 8, price_per_gpu_hour: 2";
    let y = yaml(
        &format!("{gpu}, price_per_node_hour: 4"),
        1,
        2,
        "gpus_per_replica: 2",
    );
    let r = capsim::sim::simulate(&plan(&y), false).expect("within the event budget");
    let hours = 60.0 / 3600.0;
    let want = 2.0 * hours * 5.0 * 1000.0 / r.mean("s", "completed");
    let got = r.mean("s", "cost_per_1k_requests");
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    let cost = r.mean("cluster", "cost");
    assert!(rel(cost, hours * 20.0) < 1e-12, "{cost}");
    // Without the node price, only the GPUs: 2 x 2 x 2 = $8 an hour for the two replicas.
    let y = yaml(gpu, 1, 2, "gpus_per_replica: 2");
    let r = capsim::sim::simulate(&plan(&y), false).expect("within the event budget");
    let want = hours * 8.0 * 1000.0 / r.mean("s", "completed");
    let got = r.mean("s", "cost_per_1k_requests");
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    assert!(r.get("cluster", "cpus").is_none());
}
