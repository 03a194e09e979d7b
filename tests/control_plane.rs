//! The control plane against independent truths: the kubelet's heartbeat arithmetic (N / 10
//! lease writes and N / 300 status reports per second), KEP-752's bytes per endpoint change
//! with legacy Endpoints and with EndpointSlices, APF's isolation of priority levels, etcd's
//! disk, and the node-join burst that OpenAI saw overload its API servers.

mod common;

use common::{rel, run};

/// A cluster of `nodes` nodes with one small service, sampled every minute, and
/// `control_plane` (YAML lines indented under `control_plane:`).
fn cluster(nodes: u32, duration: &str, warmup: &str, control_plane: &str) -> String {
    common::control_plane_cluster(nodes, duration, warmup, "60s", control_plane)
}

#[test]
fn leases_are_renewed_n_over_10_per_second_and_status_reported_n_over_300() {
    for nodes in [500u32, 3000] {
        let r = run(&cluster(
            nodes,
            "40m",
            "10m",
            "  apiservers: 3\n  etcd: {members: 3, disk: local_ssd}",
        ));
        let n = f64::from(nodes);
        // Every kubelet renews every 10 s; kube-controller-manager and kube-scheduler renew
        // their leader leases every 2 s (2 writes per 2 s).
        let leases = r.mean("api/leases", "writes_per_s");
        assert!(rel(leases, n / 10.0 + 1.0) < 0.002, "{nodes}: {leases}");
        // Each node reports its status on every 30th heartbeat, at its own offset.
        let status = r.mean("api/nodes", "writes_per_s");
        assert!(rel(status, n / 300.0) < 0.03, "{nodes}: {status}");
        assert_eq!(r.mean("apiserver", "slo_met"), 1.0);
    }
}

#[test]
fn an_endpoint_change_sends_n_endpoints_to_n_watchers_legacy_but_one_slice_with_slices() {
    // A node-wide Service (a DaemonSet behind it) on 5,000 nodes; one node joins at 60 s:
    // its pod is one more endpoint. Legacy: the Endpoints object of 5,001 endpoints (100 B
    // each, KEP-752) goes to every kube-proxy (5,001 watchers plus 2 controllers). Slices: one
    // slice of 100 endpoints.
    let bytes = |mode: &str| {
        let r = run(&cluster(
            5000,
            "120s",
            "30s",
            &format!(
                "  endpoints: {mode}\n  daemonsets: [{{name: exporter, service: true}}]\n  node_joins: [{{pool: a, time: 60s, nodes: 1, over: 0s}}]"
            ),
        ));
        let res = if mode == "legacy" {
            "api/endpoints"
        } else {
            "api/endpointslices"
        };
        let per_minute: Vec<f64> = common::series(&r, "apiserver", "watch_bytes_per_s")
            .iter()
            .map(|p| p.1 * 60.0)
            .collect();
        (r.mean(res, "watch_bytes_per_s") * 90.0, per_minute)
    };
    let (legacy, legacy_ts) = bytes("legacy");
    let (slices, slices_ts) = bytes("slices");
    let watchers = 5001.0 + 2.0;
    assert!(rel(legacy, 5001.0 * 100.0 * watchers) < 1e-6, "{legacy}");
    assert!(rel(slices, 100.0 * 100.0 * watchers) < 1e-6, "{slices}");
    // The timeseries: everything else is the same in both runs, so their difference minute
    // by minute is that change alone, in the minute after 60 s (the write commits a few ms
    // after the join).
    let more = (5001.0 - 100.0) * 100.0 * watchers;
    assert_eq!(legacy_ts.len(), 2);
    for (k, (l, s)) in legacy_ts.iter().zip(&slices_ts).enumerate() {
        let want = if k == 1 { more } else { 0.0 };
        assert!(
            (l - s - want).abs() < 1e-6 * more,
            "minute {k}: {} bytes more with legacy Endpoints, not {want}",
            l - s
        );
    }
}

#[test]
fn a_flood_of_low_priority_lists_gets_429s_while_heartbeats_keep_their_latency() {
    // 2,000 per-node agents each LIST every pod from etcd every 10 s: far more than the
    // workload-low level's seats can serve. Node heartbeats (node-high) and leader election
    // keep their latency; the agents get 429s in their own level.
    let quiet = run(&cluster(2000, "20m", "5m", "  apiservers: 1"));
    let flood = run(&cluster(
        2000,
        "20m",
        "5m",
        "  apiservers: 1\n  clients: [{name: agent, per_node: true, verb: list, resource: nodes, every: 2s, read_from: etcd}]",
    ));
    assert!(flood.mean("apf/workload-low", "rejected_429") > 0.0);
    assert_eq!(flood.mean("apf/node-high", "rejected_429"), 0.0);
    assert_eq!(flood.mean("apf/leader-election", "rejected_429"), 0.0);
    let hb = |r: &capsim::sim::Report| r.mean("apf/node-high", "wait_p99_ms");
    assert!(
        hb(&flood) <= hb(&quiet) + 1.0,
        "{} vs {}",
        hb(&flood),
        hb(&quiet)
    );
}

#[test]
fn etcd_on_a_network_disk_writes_far_slower_than_on_local_ssd_under_2018s_heartbeats() {
    // OpenAI 2018: 2,500 nodes whose kubelets posted their whole status (about 20 KB) every
    // 10 s, as before node leases; etcd's writes took hundreds of ms on network disks and
    // about 200 us on local SSD. Here the backend's commits (every 100 ms, the pages the
    // writes dirtied) hold a network SSD of 3,000 IOPS about two thirds of the time, and the
    // WAL's fsyncs wait for them; an NVMe drive barely notices.
    let p99 = |disk: &str| {
        run(&cluster(
            2500,
            "15m",
            "5m",
            &format!(
                "  apiservers: 3\n  etcd: {{members: 5, disk: {disk}, quota_backend_bytes: 8GiB}}\n  kubelet: {{node_status_update_frequency: 10s, node_status_report_frequency: 10s}}"
            ),
        ))
        .mean("etcd", "write_latency_p99_ms")
    };
    let local = p99("local_ssd");
    let network = p99("network_ssd");
    assert!(local < 5.0, "{local}");
    assert!(
        network > 50.0 && network > 20.0 * local,
        "{network} vs {local}"
    );
}

#[test]
fn hundreds_of_nodes_joining_at_once_overload_the_api_server_spread_over_minutes_they_do_not() {
    // OpenAI 2021: adding hundreds of nodes at once overloaded the API servers. Each new
    // node registers, its kubelet and kube-proxy list what they watch, and its DaemonSet
    // pods are created, bound and started: pod writes that 2,000 kubelets' watches make
    // 10 seats wide for 100 ms after they finish (upstream's mutating work estimate), and
    // the controllers' writes share one flow (kube-system's service accounts, by namespace).
    let joins = |over: &str| {
        run(&cluster(
            2000,
            "40m",
            "5m",
            &format!(
                "  apiservers: 1\n  daemonsets: [{{name: exporter, service: true}}, {{name: proxy, service: false}}]\n  node_joins: [{{pool: a, time: 10m, nodes: 300, over: {over}}}]"
            ),
        ))
    };
    let burst = joins("0s");
    let spread = joins("20m");
    assert!(burst.mean("apf/workload-high", "wait_p99_ms") > 1000.0);
    // The worst 5-minute p99 of a mutating (resource, verb) as clients see it breaks the
    // 1 s objective; the SLI proper leaves out the wait in APF and holds.
    assert!(burst.mean("apiserver", "mutating_p99_worst_ms") > 1000.0);
    assert!(spread.mean("apiserver", "mutating_p99_worst_ms") < 1000.0);
    assert_eq!(spread.mean("apiserver", "rejected_429"), 0.0);
    assert!(spread.mean("apf/workload-high", "wait_p99_ms") < 100.0);
}

#[test]
fn the_default_levels_get_their_seats_from_600_by_shares() {
    // ceil(600 x shares / 245): system 30, node-high 40, leader-election 10, workload-high 40,
    // workload-low 100, global-default 20, catch-all 5 (kube-apiserver's defaults).
    let r = run(&cluster(100, "2m", "1m", "  apiservers: 2"));
    for (level, shares) in [
        ("system", 30.0),
        ("node-high", 40.0),
        ("leader-election", 10.0),
        ("workload-high", 40.0),
        ("workload-low", 100.0),
        ("global-default", 20.0),
        ("catch-all", 5.0),
    ] {
        let want = (600.0f64 * shares / 245.0).ceil();
        assert_eq!(
            r.mean(&format!("apf/{level}"), "nominal_seats"),
            want,
            "{level}"
        );
    }
}

#[test]
fn shuffle_sharding_shields_a_light_flow_unless_heavy_flows_cover_its_whole_hand() {
    // 40 heavy service accounts flood workload-low with LISTs from etcd, far past its
    // seats, so each keeps the 6 queues of its hand full; 400 light ones GET a ConfigMap
    // every 10 s. A light flow gets 429s only when every queue of its hand is also in some
    // heavy flow's hand: the documented probability for 128 queues, hands of 6 and 40
    // elephants.
    let heavy = 40;
    let light = 400;
    let mut clients = String::from("  apiservers: 1\n  clients:\n");
    for i in 0..heavy {
        clients += &format!(
            "    - {{name: heavy{i}, count: 50, verb: list, resource: nodes, every: 1s, read_from: etcd}}\n"
        );
    }
    for i in 0..light {
        clients += &format!(
            "    - {{name: light{i}, verb: get, resource: configmaps, every: 10s, read_from: cache}}\n"
        );
    }
    let r = run(&cluster(100, "4m", "1m", &clients));
    let hit = (0..light)
        .filter(|i| r.mean(&format!("client/light{i}"), "rejected_429") > 0.0)
        .count() as f64
        / f64::from(light);
    let heavy_hit = (0..heavy)
        .filter(|i| r.mean(&format!("client/heavy{i}"), "rejected_429") > 0.0)
        .count();
    assert_eq!(
        heavy_hit, heavy as usize,
        "every heavy flow overflows its queues"
    );
    let p = capsim::apiserver::apf::collision_probability(128, 6, heavy);
    // Binomial spread of 400 flows: sd = sqrt(p (1 - p) / 400), about 0.024 here.
    let sd = (p * (1.0 - p) / f64::from(light)).sqrt();
    assert!(
        (hit - p).abs() < 4.0 * sd,
        "{hit} of light flows hit vs {p}"
    );
}

#[test]
fn a_full_etcd_refuses_writes_and_new_pods_never_reach_the_endpoints() {
    // 100 nodes store about 2 MB (Nodes of 20 KB, Leases): past a 1 MiB quota etcd raises
    // NOSPACE and refuses every write (OpenAI 2018: a full etcd cascaded into failures). The
    // service's pods start, but their status patches and the endpoints writes fail, so no
    // request is ever served; with the default 2 GiB quota they are.
    let with = |quota: &str| {
        run(&cluster(
            100,
            "2m",
            "30s",
            &format!("  etcd: {{quota_backend_bytes: {quota}}}"),
        ))
    };
    let full = with("1MiB");
    assert!(full.mean("etcd", "writes_refused") > 0.0);
    assert_eq!(full.mean("etcd", "writes_per_s"), 0.0);
    assert_eq!(full.mean("s", "completed"), 0.0);
    let fine = with("2GiB");
    assert_eq!(fine.mean("etcd", "writes_refused"), 0.0);
    assert!(fine.mean("s", "completed") > 0.0);
}

#[test]
fn checks_name_the_control_planes_components_and_metrics() {
    let dir = std::env::temp_dir().join(format!("capsim-cp-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.yaml");
    let yaml = cluster(2, "1m", "0s", "  apiservers: 1")
        + "checks: [\"apf/node-hi.rejected_429 == 0\", \"etcd.write_p99 <= 3\", \"apiserver.slo_met == 1\"]\n";
    std::fs::write(&path, yaml).unwrap();
    let (code, _, err) = common::capsim(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown component `apf/node-hi`; did you mean `apf/node-high`?"),
        "{err}"
    );
    assert!(err.contains("`etcd` has no metric `write_p99`"), "{err}");
    assert!(!err.contains("apiserver"), "{err}");
}
