//! CPU node pools and CPU services, against arithmetic done by hand: pods packed by
//! milli-CPU (and memory where it binds), the cluster autoscaler adding a CPU node for a pod
//! that fits an empty one, the HPA's `cpu` metric as the busy share of slots times the
//! replica's CPUs, and the price of a node hour shared out by the CPUs a replica requests.

mod common;
use capsim::cluster::{Cluster, ClusterEv, Controller};
use capsim::engine::{EventQueue, SimTime};
use capsim::sim::Plan;
use common::{OneService, plan, rel, series};

/// Turns pool 0 of `p` into a CPU pool of `cpus_per_node` CPUs (and `memory` bytes) per node
/// and every service into one requesting `cpus` CPUs (and `memory_per_replica` bytes).
fn on_cpus(
    p: &mut Plan,
    cpus_per_node: f64,
    memory: Option<u64>,
    cpus: f64,
    memory_per_replica: u64,
) {
    p.pools[0].cpus_per_node = Some(cpus_per_node);
    p.pools[0].memory_per_node = memory;
    for s in &mut p.services {
        s.cpus_per_replica = cpus;
        s.units_per_replica = (cpus * 1000.0).round() as u32;
        s.memory_per_replica = memory_per_replica;
    }
}

/// A service of `replicas` on pool `p` (`nodes` nodes, `pool_extra` YAML), start-up 5 s,
/// light load, one replication of 60 s.
fn yaml(nodes: u32, replicas: u32, pool_extra: &str) -> String {
    OneService {
        nodes,
        replicas,
        startup: "5s",
        pool_extra,
        ..Default::default()
    }
    .yaml()
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
    let mut p = plan(&yaml(3, 11, ""));
    on_cpus(&mut p, 32.0, None, 3.0, 0);
    let (free, _, pending) = cluster_after(&p, SimTime::ZERO);
    assert_eq!(free, [2000, 29_000, 32_000]);
    assert_eq!(pending, 0);
    // 0.25-CPU pods: 128 a node exactly.
    let mut p = plan(&yaml(2, 129, ""));
    on_cpus(&mut p, 32.0, None, 0.25, 0);
    assert_eq!(cluster_after(&p, SimTime::ZERO).0, [0, 31_750]);
}

#[test]
fn memory_limits_a_cpu_node_when_it_binds() {
    // 32 CPUs and 64 GiB a node; 3-CPU pods of 12 GiB: memory allows five a node (60 GiB),
    // CPU would allow ten. Eleven pods: 5 + 5 + 1.
    let gib = 1u64 << 30;
    let mut p = plan(&yaml(3, 11, ""));
    on_cpus(&mut p, 32.0, Some(64 * gib), 3.0, 12 * gib);
    let (free, _, pending) = cluster_after(&p, SimTime::ZERO);
    assert_eq!(free, [17_000, 17_000, 29_000]);
    assert_eq!(pending, 0);
    // With 6 GiB pods CPU binds again: ten a node.
    let mut p = plan(&yaml(3, 11, ""));
    on_cpus(&mut p, 32.0, Some(64 * gib), 3.0, 6 * gib);
    assert_eq!(cluster_after(&p, SimTime::ZERO).0, [2000, 29_000, 32_000]);
    // Too few nodes: the pods memory cannot hold stay Pending.
    let mut p = plan(&yaml(2, 11, ""));
    on_cpus(&mut p, 32.0, Some(64 * gib), 3.0, 12 * gib);
    assert_eq!(cluster_after(&p, SimTime::ZERO).2, 1);
}

#[test]
fn the_cluster_autoscaler_adds_a_cpu_node_for_a_pending_pod() {
    // One 32-CPU node holds ten 3-CPU pods; the 11th waits. The autoscaler's first scan
    // (10 s) asks for a node, Ready 60 s later (70 s), and the pod binds there.
    let pool = "    min_nodes: 1\n    max_nodes: 3\n    provision_time: 60s";
    let mut p = plan(&yaml(1, 11, pool));
    on_cpus(&mut p, 32.0, None, 3.0, 0);
    assert_eq!(cluster_after(&p, SimTime::from_secs(69)).1, 1);
    let (free, nodes, pending) = cluster_after(&p, SimTime::from_secs(70));
    assert_eq!((nodes, pending), (2, 0));
    assert_eq!(free, [2000, 29_000]);
    // A pod larger than a node's memory triggers nothing.
    let gib = 1u64 << 30;
    let mut p = plan(&yaml(1, 1, pool));
    on_cpus(&mut p, 32.0, Some(64 * gib), 3.0, 65 * gib);
    let (_, nodes, pending) = cluster_after(&p, SimTime::from_secs(100));
    assert_eq!((nodes, pending), (1, 1));
}

/// Two closed-loop users with no think time on a service of 4 slots and 2 CPUs, one
/// replica to start, an HPA on CPU at `target`% (8 replicas at most).
fn hpa_yaml(target: u32) -> String {
    format!(
        r#"
name: hpa-cpu
seed: 1
duration: 400s
report_interval: 1s
models:
  - {{name: m, service_time: {{fixed: 333.3ms}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 8}}
services:
  - name: web
    model: m
    node_pool: p
    replicas: 1
    concurrency: 4
    startup_time: 10s
    cpu_request: 2
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

#[test]
fn the_hpa_cpu_metric_is_the_busy_share_of_slots_times_the_cpus() {
    // Two users always in service on one replica of 4 slots: half its slots are busy at every
    // sample (a 333.3 ms service never ends on a whole second here), so it uses
    // 0.5 x 2 CPUs = 1000m of its 2000m request: 50%. Against a 26% target Kubernetes asks
    // for ceil(1 x 50 / 26) = 2 replicas. With two, a quarter of the slots are busy (25%,
    // within the 10% tolerance of 26%): it stays at 2.
    let mut p = plan(&hpa_yaml(26));
    on_cpus(&mut p, 32.0, None, 2.0, 0);
    let r = capsim::sim::simulate(&p, false).expect("within the event budget");
    let desired = series(&r, "web", "desired_replicas");
    assert_eq!(desired.iter().map(|x| x.1).fold(0.0, f64::max), 2.0);
    assert_eq!(desired.last().map(|x| x.1), Some(2.0));
    // A GPU service's host CPU (a tenth of the request idle, all of it busy) reads
    // 0.1 + 0.9 x 0.5 = 55% there: ceil(1 x 55 / 26) = 3.
    let mut p = plan(&hpa_yaml(26));
    p.services[0].cpu_request_milli = 2000;
    let r = capsim::sim::simulate(&p, false).expect("within the event budget");
    let desired = series(&r, "web", "desired_replicas");
    assert_eq!(desired.iter().map(|x| x.1).fold(0.0, f64::max), 3.0);
    // The HPA reads whole percents; 50% is pinned from both sides: at a 25% target it asks
    // for exactly 50 / 25 = 2 (51% would give 3), at 45% for 2 (50 / 45 = 1.11 is beyond
    // the tolerance; 49% would be within it and keep 1).
    for (target, most) in [(25, 2.0), (45, 2.0)] {
        let mut p = plan(&hpa_yaml(target));
        on_cpus(&mut p, 32.0, None, 2.0, 0);
        let r = capsim::sim::simulate(&p, false).expect("within the event budget");
        let desired = series(&r, "web", "desired_replicas");
        assert_eq!(
            desired.iter().map(|x| x.1).fold(0.0, f64::max),
            most,
            "target {target}%"
        );
    }
}

#[test]
fn a_replica_pays_its_cpu_share_of_a_node_hour() {
    // Three 2-CPU replicas on two 32-CPU nodes at $1.50 a node hour: each replica pays
    // 1.50 x 2 / 32 = $0.09375 an hour. Over the 60 s window that is 3 x 60 / 3600 x 0.09375
    // for the completed requests; the cluster pays for both nodes whole: 2 x 60 / 3600 x 1.50.
    let mut p = plan(&yaml(2, 3, ""));
    on_cpus(&mut p, 32.0, None, 2.0, 0);
    p.pools[0].price_per_node_hour = 1.5;
    let r = capsim::sim::simulate(&p, false).expect("within the event budget");
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
}

#[test]
fn a_node_price_adds_to_the_gpu_price_by_gpu_share() {
    // Two 2-GPU replicas on one 8-GPU node at $2 a GPU hour and $4 a node hour: a replica
    // pays 2 x 2 + 4 x 2 / 8 = $5 an hour; the node costs 8 x 2 + 4 = $20 an hour.
    let y = yaml(1, 2, "").replace(
        "gpus_per_node: 1",
        "gpus_per_node: 8\n    price_per_gpu_hour: 2",
    );
    let y = y.replace("replicas: 2,", "replicas: 2, gpus_per_replica: 2,");
    let mut p = plan(&y);
    p.pools[0].price_per_node_hour = 4.0;
    let r = capsim::sim::simulate(&p, false).expect("within the event budget");
    let completed = r.mean("s", "completed");
    let hours = 60.0 / 3600.0;
    let want = 2.0 * hours * 5.0 * 1000.0 / completed;
    let got = r.mean("s", "cost_per_1k_requests");
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    let cost = r.mean("cluster", "cost");
    assert!(rel(cost, hours * 20.0) < 1e-12, "{cost}");
    // Without the node price, only the GPUs: 2 x 2 x 2 = $8 an hour for the two replicas.
    p.pools[0].price_per_node_hour = 0.0;
    let r = capsim::sim::simulate(&p, false).expect("within the event budget");
    let want = hours * 8.0 * 1000.0 / r.mean("s", "completed");
    let got = r.mean("s", "cost_per_1k_requests");
    assert!(rel(got, want) < 1e-12, "{got} vs {want}");
    assert!(r.get("cluster", "cpus").is_none());
}
