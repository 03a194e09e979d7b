//! StatefulSets against Kubernetes' rules worked out by hand: ordinals created one at a time,
//! each once the one before is Running and Ready (`podManagementPolicy: OrderedReady`), and
//! a pod on a node that stopped responding not replaced until the node is back (its deletion
//! cannot complete before), where a Deployment's pod is replaced at its eviction.

mod common;
use common::{OneService, at, first_at, plan, series};

/// `replicas` replicas of a 10 ms service on single-GPU nodes (`nodes`), start-up 60 s, a
/// light Poisson load, sampled every second; `pool_extra` adds YAML to the pool.
/// `stateful` makes the service a StatefulSet.
fn simulate(
    nodes: u32,
    replicas: u32,
    duration: &str,
    pool_extra: &str,
    stateful: bool,
) -> capsim::sim::Report {
    let yaml = OneService {
        nodes,
        replicas,
        rate: 5.0,
        duration,
        startup: "60s",
        pool_extra,
        service_extra: if stateful { ", kind: statefulset" } else { "" },
        ..Default::default()
    }
    .yaml();
    capsim::sim::simulate(&plan(&yaml), false).expect("within the event budget")
}

#[test]
fn statefulset_pods_start_one_after_another() {
    // OrderedReady: pod 0 is created at 0 and Ready at 60 s; pod 1 is created then and Ready
    // at 120 s; pod 2 at 180 s. A Deployment starts all three at once (Ready at 60 s).
    let r = simulate(3, 3, "240s", "", true);
    let ready = series(&r, "s", "ready");
    let replicas = series(&r, "s", "replicas");
    for (t, n) in [(59.0, 0.0), (60.0, 1.0), (119.0, 1.0), (120.0, 2.0)] {
        assert_eq!(at(&ready, t), n, "ready at {t}");
    }
    assert_eq!(at(&ready, 179.0), 2.0);
    assert_eq!(at(&ready, 180.0), 3.0);
    // Created one at a time: one pod until 60 s, two until 120 s.
    assert_eq!(at(&replicas, 59.0), 1.0);
    assert_eq!(at(&replicas, 60.0), 2.0);
    assert_eq!(at(&replicas, 119.0), 2.0);
    assert_eq!(at(&replicas, 120.0), 3.0);
    let d = simulate(3, 3, "240s", "", false);
    let ready = series(&d, "s", "ready");
    assert_eq!(at(&ready, 59.0), 0.0);
    assert_eq!(at(&ready, 60.0), 3.0);
}

#[test]
fn a_statefulset_pod_on_a_failed_node_comes_back_only_after_the_repair() {
    // Pods 0, 1, 2 on nodes 0, 1, 2 (packed in order), all Ready at 180 s; node 0 fails at
    // 300 s (a heartbeat instant), is NotReady at the first 5 s look more than 50 s later
    // (355 s) and its pods are evicted 300 s after that (655 s). The StatefulSet's pod 0
    // stays Terminating there until the repair at 300 + 1000 = 1300 s; then it is recreated,
    // binds to the spare node 3 and is Ready 60 s later (1360 s).
    let pool = "    failures: {repair_time: 1000s, at: [{node: 0, time: 300s}]}";
    let r = simulate(4, 3, "1500s", pool, true);
    let ready = series(&r, "s", "ready");
    let replicas = series(&r, "s", "replicas");
    assert_eq!(at(&ready, 354.0), 3.0);
    assert_eq!(at(&ready, 355.0), 2.0);
    assert_eq!(at(&replicas, 654.0), 3.0);
    assert_eq!(
        at(&replicas, 655.0),
        2.0,
        "deleted at the eviction, not replaced"
    );
    assert_eq!(at(&replicas, 1299.0), 2.0);
    assert_eq!(at(&replicas, 1300.0), 3.0);
    assert_eq!(first_at(&ready, 356.0, 3.0), Some(1360.0));
    assert_eq!(at(&series(&r, "s", "pending_pods"), 1300.0), 0.0);
    // The same failure under a Deployment: the evicted pod is replaced at once on the spare
    // node (655 s) and Ready 60 s later (715 s).
    let d = simulate(4, 3, "1500s", pool, false);
    let ready = series(&d, "s", "ready");
    assert!(series(&d, "s", "replicas").iter().all(|p| p.1 == 3.0));
    assert_eq!(at(&ready, 714.0), 2.0);
    assert_eq!(first_at(&ready, 356.0, 3.0), Some(715.0));
}

#[test]
fn a_repair_before_the_eviction_recreates_the_statefulset_pod_at_once() {
    // Node 0 fails at 300 s and is repaired at 400 s, before its eviction (655 s): the
    // kubelet is back and the pod goes; ordinal 0 is recreated at 400 s and packed onto the
    // lowest free node (the repaired node 0, empty again, ties with the spare node 3) and is
    // Ready at 460 s.
    let pool = "    failures: {repair_time: 100s, at: [{node: 0, time: 300s}]}";
    let r = simulate(4, 3, "600s", pool, true);
    let ready = series(&r, "s", "ready");
    assert_eq!(at(&ready, 399.0), 2.0);
    assert_eq!(first_at(&ready, 356.0, 3.0), Some(460.0));
    assert_eq!(at(&series(&r, "s", "replicas"), 400.0), 3.0);
}

#[test]
fn a_pod_that_never_became_ready_holds_back_the_ordinals_above_it() {
    // Three replicas on four nodes. Pod 0 starts on node 0 (Ready at 60 s); pod 1 is created
    // at 60 s on node 1, which fails at 100 s while it starts: it never becomes Ready, so pod
    // 2 is not created. Node 1 is NotReady at 155 s, its pod evicted at 455 s (Terminating,
    // not replaced) and the node repaired at 100 + 500 = 600 s: pod 1 is recreated then (on
    // node 2, the lowest schedulable free node while node 1 is still out), Ready at 660 s;
    // only then is pod 2 created (on the rejoined node 1), Ready at 720 s.
    let pool = "    failures: {repair_time: 500s, at: [{node: 1, time: 100s}]}";
    let r = simulate(4, 3, "800s", pool, true);
    let ready = series(&r, "s", "ready");
    let replicas = series(&r, "s", "replicas");
    assert_eq!(at(&replicas, 454.0), 2.0);
    assert_eq!(at(&replicas, 455.0), 1.0);
    assert_eq!(at(&replicas, 599.0), 1.0);
    assert_eq!(at(&replicas, 600.0), 2.0);
    assert_eq!(at(&ready, 659.0), 1.0);
    assert_eq!(at(&ready, 660.0), 2.0);
    assert_eq!(at(&replicas, 660.0), 3.0);
    assert_eq!(at(&ready, 719.0), 2.0);
    assert_eq!(at(&ready, 720.0), 3.0);
}

#[test]
fn a_recreated_statefulset_pod_keeps_its_ordinal() {
    // The cluster alone: three ordinals created in order, node 0 (pod 0) fails at 300 s and is
    // repaired at 1300 s; the pods created over the run carry ordinals 0, 1, 2, then 0 again.
    use capsim::cluster::{Cluster, ClusterEv, Controller, Notice, PodChange};
    use capsim::engine::{EventQueue, SimTime};
    let pool = "    failures: {repair_time: 1000s, at: [{node: 0, time: 300s}]}";
    let yaml = OneService {
        nodes: 4,
        replicas: 3,
        duration: "1500s",
        startup: "60s",
        pool_extra: pool,
        service_extra: ", kind: statefulset",
        ..Default::default()
    }
    .yaml();
    let p = plan(&yaml);
    assert!(p.services[0].statefulset);
    let template = p.services[0].pod_template(&p.pools, 0);
    let sets = vec![(template, 3, Controller::StatefulSet)];
    let mut c = Cluster::new(&p.pools, p.cluster, sets, SimTime::ZERO, 1, 0);
    let mut q: EventQueue<ClusterEv> = EventQueue::new();
    let mut created = Vec::new();
    c.start(&mut q);
    loop {
        while let Some(n) = c.next_notice() {
            if let Notice::Pod {
                pod,
                change: PodChange::Created,
                ..
            } = n
            {
                let ordinal = c.pod(pod).expect("just created").ordinal;
                created.push((q.now(), ordinal));
            }
        }
        match q.pop() {
            Some((now, ev)) if now <= SimTime::from_secs(1500) => c.handle(now, ev, &mut q),
            _ => break,
        }
    }
    let s = SimTime::from_secs;
    assert_eq!(
        created,
        [(s(0), 0), (s(60), 1), (s(120), 2), (s(1300), 0)],
        "(time, ordinal) of each pod created"
    );
}
