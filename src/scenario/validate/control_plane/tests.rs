use crate::apiserver::plan::{
    ClientPlan, ControlPlanePlan, DaemonSetPlan, EndpointsMode, EtcdPlan, KubeletPlan,
    NodeJoinPlan, ReadFrom, Resource, Verb, etcd_disk,
};
use crate::engine::SimTime;
use crate::sim::Plan;
use std::path::Path;

/// A scenario with pools `a100` (2 nodes) and `cpu` (3 nodes), a service, and `block` after
/// it, at line 12.
fn scenario(block: &str) -> String {
    format!(
        "name: cp
duration: 2h
replications: 1
node_pools:
  - {{name: a100, gpu: a100-80gb, gpus_per_node: 8, nodes: 2}}
  - {{name: cpu, gpu: t4, gpus_per_node: 1, nodes: 3}}
models: [{{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}]
services:
  - {{name: web, model: m, node_pool: cpu}}
workloads:
  - {{service: web, arrivals: {{poisson: {{rate: 1/s}}}}}}
{block}"
    )
}

fn plan(block: &str) -> Plan {
    let text = scenario(block);
    let l = crate::scenario::load_bytes("cp.yaml", text.as_bytes(), &[], Path::new("."))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    crate::scenario::build_plan(&l)
        .unwrap_or_else(|e| panic!("{}\n{text}", crate::scenario::InputErrors(e)))
}

fn errors(block: &str) -> String {
    let text = scenario(block);
    match crate::scenario::load_bytes("cp.yaml", text.as_bytes(), &[], Path::new(".")) {
        Err(e) => e.to_string(),
        Ok(l) => match crate::scenario::build_plan(&l) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => crate::scenario::InputErrors(e).to_string(),
        },
    }
}

/// Every default, as upstream sets it: kube-apiserver's flags 400 and 200, etcd's 2 GiB
/// quota, the KubeletConfiguration's 10s, 5m and 40s (renewed every 10s).
fn defaults() -> ControlPlanePlan {
    let (commit_latency, per_write, disk_bandwidth, iops) = etcd_disk("local_ssd", SimTime::ZERO);
    ControlPlanePlan {
        apiservers: 1,
        max_requests_inflight: 400,
        max_mutating_requests_inflight: 200,
        apf: true,
        cpus: 16,
        etcd: EtcdPlan {
            members: 3,
            disk: "local_ssd".into(),
            commit_latency,
            per_write,
            disk_bandwidth,
            iops,
            quota_bytes: 2_147_483_648,
        },
        endpoints: EndpointsMode::Slices,
        kubelet: KubeletPlan {
            status_update: SimTime::from_secs(10),
            status_report: SimTime::from_secs(300),
            lease_duration: SimTime::from_secs(40),
            lease_renew: SimTime::from_secs(10),
        },
        clients: Vec::new(),
        node_joins: Vec::new(),
        daemonsets: Vec::new(),
    }
}

#[test]
fn the_spec_example_resolves_with_every_default() {
    let p = plan(
        "control_plane:
  apiservers: 3
  max_requests_inflight: 400
  max_mutating_requests_inflight: 200
  apf: default
  etcd: {members: 5, disk: local_ssd}
  endpoints: slices
  kubelet: {node_status_update_frequency: 10s, node_status_report_frequency: 5m, node_lease_duration: 40s}
  clients:
    - {name: log-agent, per_node: true, verb: list, resource: events, every: 60s}
  node_joins:
    - {pool: a100, time: 1h, nodes: 500, over: 0s}
",
    );
    let mut want = defaults();
    want.apiservers = 3;
    want.etcd.members = 5;
    want.clients = vec![ClientPlan {
        name: "log-agent".into(),
        per_node: true,
        count: 1,
        verb: Verb::List,
        resource: Resource::Events,
        every: SimTime::from_secs(60),
        read_from: ReadFrom::Etcd,
        priority_level: None,
    }];
    want.node_joins = vec![NodeJoinPlan {
        pool: 0,
        time: SimTime::from_secs(3600),
        nodes: 500,
        over: SimTime::ZERO,
    }];
    assert_eq!(p.control_plane, Some(want));
    assert_eq!(
        p.cluster.node_status_update_frequency,
        SimTime::from_secs(10)
    );
}

#[test]
fn an_empty_section_is_every_default_and_an_absent_one_is_none() {
    assert_eq!(plan("control_plane: {}\n").control_plane, Some(defaults()));
    assert_eq!(plan("control_plane:\n").control_plane, Some(defaults()));
    assert_eq!(plan("").control_plane, None);
}

#[test]
fn every_field_given_resolves_as_written() {
    let p = plan(
        "control_plane:
  apf: disabled
  apiserver_cpus: 64
  endpoints: legacy
  etcd: {members: 1, disk: {write_latency: 2ms}, quota_backend_bytes: 8GiB}
  clients:
    - {name: ci, count: 20, verb: get, resource: pods, every: 5s, read_from: cache, priority_level: workload-high}
    - {name: op, verb: patch, resource: endpointslices, every: 1s}
  node_joins:
    - {pool: cpu, time: 10m, nodes: 7, over: 5m}
  daemonsets:
    - {name: exporter, service: true}
    - {name: logs}
",
    );
    let cp = p.control_plane.expect("a control plane");
    assert!(!cp.apf);
    assert_eq!(cp.cpus, 64);
    assert_eq!(cp.endpoints, EndpointsMode::Legacy);
    assert_eq!(cp.etcd.members, 1);
    assert_eq!(cp.etcd.disk, "custom");
    assert_eq!(cp.etcd.commit_latency, SimTime::from_millis(2));
    assert_eq!(cp.etcd.quota_bytes, 8 << 30);
    assert_eq!(cp.clients[0].count, 20);
    assert_eq!(cp.clients[0].read_from, ReadFrom::Cache);
    assert_eq!(
        cp.clients[0].priority_level.as_deref(),
        Some("workload-high")
    );
    assert_eq!(
        (cp.clients[1].verb, cp.clients[1].resource),
        (Verb::Patch, Resource::Endpointslices)
    );
    assert_eq!(
        cp.node_joins,
        [NodeJoinPlan {
            pool: 1,
            time: SimTime::from_secs(600),
            nodes: 7,
            over: SimTime::from_secs(300),
        }]
    );
    assert_eq!(
        cp.daemonsets,
        [
            DaemonSetPlan {
                name: "exporter".into(),
                service: true
            },
            DaemonSetPlan {
                name: "logs".into(),
                service: false
            }
        ]
    );
}

/// The kubelet's own defaulting (pkg/kubelet/apis/config/v1beta1/defaults.go): a report
/// frequency not given follows a given update frequency; the lease is renewed every quarter
/// of its duration (pkg/kubelet/kubelet.go), and that is the cluster's heartbeat.
#[test]
fn the_kubelet_defaults_as_upstream_does() {
    let p = plan(
        "control_plane: {kubelet: {node_status_update_frequency: 20s, node_lease_duration: 60s}}\n",
    );
    let k = p.control_plane.expect("a control plane").kubelet;
    assert_eq!(k.status_update, SimTime::from_secs(20));
    assert_eq!(k.status_report, SimTime::from_secs(20));
    assert_eq!(k.lease_renew, SimTime::from_secs(15));
    assert_eq!(
        p.cluster.node_status_update_frequency,
        SimTime::from_secs(15)
    );
    let p = plan("control_plane: {kubelet: {node_status_report_frequency: 1m}}\n");
    let k = p.control_plane.expect("a control plane").kubelet;
    assert_eq!(
        (k.status_update, k.status_report),
        (SimTime::from_secs(10), SimTime::from_secs(60))
    );
    // A lease of 1 s is renewed every 250 ms.
    let p = plan("control_plane: {kubelet: {node_lease_duration: 1s}}\n");
    assert_eq!(
        p.control_plane
            .expect("a control plane")
            .kubelet
            .lease_renew,
        SimTime::from_millis(250)
    );
}

#[test]
fn each_bad_field_is_refused_with_its_limit() {
    let cases: &[(&str, &str)] = &[
        (
            "control_plane: {apiservers: 0}",
            "apiservers must be from 1 to 100 (found 0)",
        ),
        (
            "control_plane: {apiservers: 101}",
            "apiservers must be from 1 to 100 (found 101)",
        ),
        (
            "control_plane: {max_requests_inflight: 100001}",
            "max_requests_inflight must be from 1 to 100000 (found 100001)",
        ),
        (
            "control_plane: {max_mutating_requests_inflight: 0}",
            "max_mutating_requests_inflight must be from 1 to 100000 (found 0)",
        ),
        (
            "control_plane: {apiserver_cpus: 2000}",
            "apiserver_cpus must be from 1 to 1024 (found 2000)",
        ),
        (
            "control_plane: {etcd: {members: 4}}",
            "members must be odd and from 1 to 7 (found 4)",
        ),
        (
            "control_plane: {etcd: {members: 9}}",
            "members must be odd and from 1 to 7 (found 9)",
        ),
        (
            "control_plane: {etcd: {disk: {write_latency: 0s}}}",
            "write_latency must be longer than 0s and at most 10s (found 0s)",
        ),
        (
            "control_plane: {etcd: {disk: {write_latency: 11s}}}",
            "write_latency must be longer than 0s and at most 10s (found 11s)",
        ),
        (
            "control_plane: {etcd: {quota_backend_bytes: 1TiB}}",
            "quota_backend_bytes must be from 1MiB to 100GiB (found 1.1e12 bytes); etcd suggests at most 8GiB",
        ),
        (
            "control_plane: {etcd: {iops: 0}}",
            "iops must be from 1 to 10000000 (found 0)",
        ),
        (
            "control_plane: {etcd: {quota_backend_bytes: 1KiB}}",
            "quota_backend_bytes must be from 1MiB to 100GiB (found 1024 bytes)",
        ),
        (
            "control_plane: {kubelet: {node_status_update_frequency: 0s}}",
            "node_status_update_frequency must be longer than 0s",
        ),
        (
            "control_plane: {kubelet: {node_lease_duration: 2500ms}}",
            "node_lease_duration is whole seconds, as the kubelet's nodeLeaseDurationSeconds (found 2500ms)",
        ),
        (
            "control_plane: {kubelet: {node_lease_duration: 200s}}",
            "renews its lease every quarter of node_lease_duration (50s), but the node lifecycle \
             controller marks a node NotReady after cluster.node_monitor_grace_period (50s)",
        ),
        (
            "control_plane: {clients: [{name: a, verb: lsit, resource: events, every: 1m}]}",
            "unknown verb `lsit`; did you mean `list`?",
        ),
        (
            "control_plane: {clients: [{name: a, verb: list, resource: event, every: 1m}]}",
            "unknown resource `event` (resources are named by their plural lower-case REST name); did you mean `events`?",
        ),
        (
            "control_plane: {clients: [{name: a, verb: list, resource: events, every: 999ms}]}",
            "every must be at least 1s (found 999ms)",
        ),
        (
            "control_plane: {clients: [{name: a, per_node: true, count: 2, verb: list, resource: events, every: 1m}]}",
            "give `per_node: true` or `count`, not both",
        ),
        (
            "control_plane: {clients: [{name: a, count: 1000001, verb: list, resource: events, every: 1m}]}",
            "count must be from 1 to 1000000 (found 1000001)",
        ),
        (
            "control_plane: {clients: [{name: a, verb: create, resource: events, every: 1m, read_from: cache}]}",
            "read_from applies to reads (get, list): a `create` is a write",
        ),
        (
            "control_plane: {clients: [{name: a, verb: list, resource: events, every: 1m, priority_level: workload-lo}]}",
            "unknown priority level `workload-lo`; did you mean `workload-low`?",
        ),
        (
            "control_plane: {clients: [{name: a, verb: list, resource: pods, every: 1m}, {name: a, verb: list, resource: pods, every: 1m}]}",
            "the name `a` is used twice in `control_plane.clients`",
        ),
        (
            "control_plane: {node_joins: [{pool: a10, time: 1h, nodes: 5}]}",
            "unknown node pool `a10`; did you mean `a100`?",
        ),
        (
            "control_plane: {node_joins: [{pool: a100, time: 1h, nodes: 0}]}",
            "nodes must be from 1 to 100000 (found 0)",
        ),
        (
            "control_plane: {node_joins: [{pool: a100, time: 1h, nodes: 60000}, {pool: a100, time: 1h, nodes: 40000}]}",
            "pool `a100` would have 100002 nodes with this join",
        ),
        (
            "control_plane: {daemonsets: [{name: x}, {name: x}]}",
            "the name `x` is used twice in `control_plane.daemonsets`",
        ),
        (
            "control_plane: {daemonsets: [{name: web, service: true}]}",
            "a service named `web` is in `services` already",
        ),
    ];
    for (block, want) in cases {
        let got = errors(&format!("{block}\n"));
        assert!(got.contains(want), "{block}:\n  {got}\nlacks\n  {want}");
        assert!(got.starts_with("cp.yaml:12:"), "{block}: {got}");
    }
}

#[test]
fn service_names_of_the_control_planes_components_are_refused() {
    for name in ["apiserver", "etcd", "apf/x", "api/pods"] {
        let text = scenario("").replace("name: web,", &format!("name: \"{name}\","));
        let text = text.replace("service: web", &format!("service: \"{name}\""));
        let l = crate::scenario::load_bytes("cp.yaml", text.as_bytes(), &[], Path::new("."))
            .expect("loads");
        let got =
            crate::scenario::InputErrors(crate::scenario::build_plan(&l).expect_err("refused"))
                .to_string();
        assert!(
            got.contains(&format!("`{name}` would name a component of the results")),
            "{got}"
        );
    }
}
