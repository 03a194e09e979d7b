//! Autoscaling end to end: the HPA, pod start-up, the cluster autoscaler, balloons and scale
//! to zero, checked against the rules Kubernetes documents for them.

mod common;
use common::{run, series};

/// A generic service (exponential 100 ms, one GPU per pod) with an HPA on GPU utilization
/// (target 0.5), `arrivals` as given, sampled every 15 s.
fn hpa_yaml(behavior: &str, arrivals: &str, duration: &str) -> String {
    hpa_yaml_scraped(behavior, arrivals, duration, "15s")
}

/// As [`hpa_yaml`], with Prometheus scraping (and averaging over) `scrape`.
fn hpa_yaml_scraped(behavior: &str, arrivals: &str, duration: &str, scrape: &str) -> String {
    format!(
        r#"
name: hpa-step
seed: 3
duration: {duration}
replications: 1
report_interval: 15s
limits: {{max_queue: 10000000}}
models:
  - {{name: m, service_time: {{exponential: {{mean: 100ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 40}}
services:
  - name: web
    model: m
    node_pool: p
    replicas: 2
    routing: least_outstanding
    startup_time: 10s
    autoscaler:
      kind: hpa
      minReplicas: 2
      maxReplicas: 300
      prometheusScrapeInterval: {scrape}
      prometheusWindow: {scrape}
      metrics:
        - type: Pods
          pods: {{metric: {{name: gpu_utilization}}, target: {{type: AverageValue, averageValue: "0.5"}}}}
{behavior}
workloads:
  - service: web
    arrivals: {arrivals}
"#
    )
}

/// The increases of `desired` over time: (time, before, after).
fn increases(desired: &[(f64, f64)], start: f64) -> Vec<(f64, f64, f64)> {
    let mut prev = start;
    let mut out = Vec::new();
    for &(t, d) in desired {
        if d > prev {
            out.push((t, prev, d));
        }
        prev = d;
    }
    out
}

#[test]
fn a_load_step_scales_up_as_fast_as_the_default_behavior_allows() {
    // 10/s -> 2,000/s at 5 minutes, an HPA on the total queue (10 per pod): the backlog
    // asks for far more pods than the policy allows at each sync, so the policy binds.
    let r = run(&hpa_yaml(
        "      behavior: {}",
        "{step: {from: 10/s, to: 2000/s, at: 5m}}",
        "15m",
    )
    .replace(
        "        - type: Pods\n          pods: {metric: {name: gpu_utilization}, target: {type: AverageValue, averageValue: \"0.5\"}}",
        "        - type: External\n          external: {metric: {name: total_queue_length}, target: {type: AverageValue, averageValue: \"10\"}}",
    ));
    let desired = series(&r, "web", "desired_replicas");
    // autoscaling/v2 default scale-up rules: Pods 4 and Percent 100 per 15 s, selectPolicy
    // Max: at most max(4 pods, 100%) more than the count at the start of any 15 s period.
    // Samples are 15 s apart, as is the HPA's sync (and, here, the metrics' scrape and
    // window), so each sample may at most double (or add 4).
    let steps = increases(&desired, 2.0);
    eprintln!("scale-up steps: {steps:?}");
    for &(t, before, after) in &steps {
        let allowed = (before + 4.0).max(2.0 * before);
        assert!(
            after <= allowed,
            "at {t} s: {before} -> {after} > {allowed}"
        );
    }
    let after_step: Vec<_> = steps.iter().filter(|s| s.0 > 300.0).collect();
    // The spike is met by doubling, period after period: 2 ... 300 takes 7 or more syncs.
    assert!(after_step.len() >= 6, "{steps:?}");
    // The policy binds: every step but the last is exactly the allowed doubling (or +4).
    for s in &after_step[..after_step.len() - 1] {
        assert_eq!(s.2, (s.1 + 4.0).max(2.0 * s.1), "{steps:?}");
    }
    assert_eq!(desired.last().unwrap().1, 300.0);
}

#[test]
fn without_behavior_the_legacy_limit_is_twice_or_four() {
    let r = run(&hpa_yaml(
        "",
        "{step: {from: 10/s, to: 2000/s, at: 5m}}",
        "15m",
    ));
    let desired = series(&r, "web", "desired_replicas");
    let steps = increases(&desired, 2.0);
    for &(t, before, after) in &steps {
        // horizontal.go: scaleUpLimit = max(2 x current, 4).
        let allowed = (2.0 * before).max(4.0);
        assert!(
            after <= allowed,
            "at {t} s: {before} -> {after} > {allowed}"
        );
    }
    assert_eq!(desired.last().unwrap().1, 300.0);
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    // 400/s for 20 minutes (about 80 pods at the target, settled), then 10/s.
    let r = run(&hpa_yaml(
        "      behavior: {}",
        "{step: {from: 400/s, to: 10/s, at: 20m}}",
        "35m",
    ));
    let desired = series(&r, "web", "desired_replicas");
    let at = |t: f64| desired.iter().find(|x| x.0 >= t - 1e-6).unwrap().1;
    let high = at(1200.0);
    assert!(high >= 60.0, "{desired:?}");
    // The low load asks for about 2 pods from the first scrape after the drop. Within the
    // 300 s window the stabilized count is the highest recommendation of the last five
    // minutes, which include the pre-drop ones: it stays near `high` (it may only follow
    // the pre-drop recommendations leaving the window).
    for &(t, d) in desired
        .iter()
        .filter(|x| x.0 > 1200.0 && x.0 < 1500.0 - 1e-6)
    {
        assert!(d >= 0.75 * high, "at {t} s: {d} vs {high}: {desired:?}");
    }
    // Then it comes down, delayed only by the metric scrape (15 s here) and the sync; the
    // default scale-down policy (100% per 15 s) lets it reach the floor at once.
    let low = desired
        .iter()
        .find(|x| x.0 > 1200.0 && x.1 <= 4.0)
        .expect("scales down");
    assert!(low.0 >= 1500.0 - 1e-6 && low.0 <= 1500.0 + 45.0, "{low:?}");
    assert!(desired.last().unwrap().1 <= 4.0, "{desired:?}");
}

/// One pool `p` of 1-GPU nodes under the cluster autoscaler, one service of 1-GPU pods.
fn ca_yaml(service_extra: &str, pool_extra: &str, arrivals: &str, duration: &str) -> String {
    format!(
        r#"
name: ca
seed: 4
duration: {duration}
replications: 1
report_interval: 10s
limits: {{max_queue: 10000000}}
models:
  - {{name: m, service_time: {{exponential: {{mean: 100ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 1, nodes: 2, min_nodes: 2, max_nodes: 20,
     provision_time: 3m, image_pull_bandwidth: 100MB/s{pool_extra}}}
services:
  - name: web
    model: m
    node_pool: p
    replicas: 2
    image_size: 6GB
    model_load_time: 20s
    readiness_delay: 5s
{service_extra}
workloads:
  - service: web
    arrivals: {arrivals}
"#
    )
}

#[test]
fn pending_pods_wait_for_provisioned_nodes_and_pull_their_image() {
    // Six replicas on two nodes: four stay Pending until the autoscaler's nodes are Ready
    // (scan within 10 s, 3 minutes to provision), then pull 6 GB at 100 MB/s (60 s), load
    // the model (20 s) and pass readiness (5 s).
    let r = run(&ca_yaml("", "", "{poisson: {rate: 10/s}}", "10m")
        .replace("    replicas: 2\n", "    replicas: 6\n"));
    let ready = series(&r, "web", "ready");
    let pending = series(&r, "web", "pending_pods");
    let nodes = series(&r, "cluster", "nodes");
    let at = |s: &[(f64, f64)], t: f64| s.iter().find(|x| x.0 >= t - 1e-6).unwrap().1;
    // The first two: 60 + 20 + 5 = 85 s to Ready.
    assert_eq!(at(&ready, 80.0), 0.0);
    assert_eq!(at(&ready, 90.0), 2.0);
    assert_eq!(at(&pending, 90.0), 4.0);
    // New nodes: asked for at the first scan (10 s), Ready at 190 s; pods Ready 85 s later.
    assert_eq!(at(&nodes, 180.0), 2.0);
    assert_eq!(at(&nodes, 200.0), 6.0);
    assert_eq!(at(&pending, 200.0), 0.0);
    assert_eq!(at(&ready, 270.0), 2.0);
    assert_eq!(at(&ready, 280.0), 6.0);
}

#[test]
fn the_image_is_pulled_once_per_node() {
    // Two 1-unit pods on one 2-GPU node: the second waits for the first pull, not for its own.
    let yaml = ca_yaml("", "", "{poisson: {rate: 10/s}}", "3m").replace(
        "gpus_per_node: 1, nodes: 2, min_nodes: 2, max_nodes: 20",
        "gpus_per_node: 2, nodes: 1, min_nodes: 1, max_nodes: 1",
    );
    let r = run(&yaml);
    let ready = series(&r, "web", "ready");
    let at = |t: f64| ready.iter().find(|x| x.0 >= t - 1e-6).unwrap().1;
    assert_eq!(at(80.0), 0.0);
    assert_eq!(at(90.0), 2.0);
}

#[test]
fn empty_nodes_go_after_the_unneeded_time_and_balloons_keep_headroom() {
    // Four nodes, two replicas: two nodes are empty from the start and removed after 10
    // minutes unneeded (checked every 10 s), down to min_nodes 2.
    let yaml = ca_yaml("", "", "{poisson: {rate: 10/s}}", "15m")
        .replace("nodes: 2, min_nodes: 2", "nodes: 4, min_nodes: 2");
    let r = run(&yaml);
    let nodes = series(&r, "cluster", "nodes");
    let at = |t: f64| nodes.iter().find(|x| x.0 >= t - 1e-6).unwrap().1;
    assert_eq!(at(590.0), 4.0);
    assert_eq!(at(620.0), 2.0);
    // With two balloon pods, the two spare nodes hold balloons and stay.
    let r = run(&yaml.replace(
        "image_pull_bandwidth: 100MB/s",
        "image_pull_bandwidth: 100MB/s, balloons: {pods: 2}",
    ));
    let nodes = series(&r, "cluster", "nodes");
    assert!(nodes.iter().all(|x| x.1 == 4.0), "{nodes:?}");
}

#[test]
fn a_real_pod_preempts_a_balloon_and_the_balloon_gets_a_new_node() {
    // Two nodes, one replica and one balloon: scaling to two replicas (an HPA on a load step)
    // takes the balloon's node at once; the balloon goes Pending and the autoscaler adds a
    // node for it.
    let yaml = ca_yaml(
        "    autoscaler:\n      kind: hpa\n      minReplicas: 1\n      maxReplicas: 2\n      prometheusScrapeInterval: 15s\n      prometheusWindow: 15s\n      metrics:\n        - type: Pods\n          pods: {metric: {name: gpu_utilization}, target: {type: AverageValue, averageValue: \"0.5\"}}",
        ", balloons: {pods: 1}",
        "{step: {from: 2/s, to: 15/s, at: 5m}}",
        "15m",
    )
    .replace("    replicas: 2\n", "    replicas: 1\n");
    let r = run(&yaml);
    let replicas = series(&r, "web", "replicas");
    let pending = series(&r, "web", "pending_pods");
    let nodes = series(&r, "cluster", "nodes");
    let up = replicas.iter().find(|x| x.1 == 2.0).expect("scales to 2").0;
    // The new replica never waits Pending: the balloon makes way.
    assert!(pending.iter().all(|x| x.1 == 0.0), "{pending:?}");
    // The balloon's new node arrives 3 minutes (plus a scan) after the preemption.
    let third = nodes
        .iter()
        .find(|x| x.1 == 3.0)
        .expect("a node for the balloon")
        .0;
    assert!(
        third >= up + 180.0 - 10.0 && third <= up + 200.0,
        "{up} {third}"
    );
}

/// A service that scales to zero (`autoscaler` block given), with bursts of load separated
/// by idle time: 5 minutes of 20/s, then 10 minutes of nothing, twice.
fn to_zero_yaml(autoscaler: &str) -> String {
    format!(
        r#"
name: zero
seed: 8
duration: 30m
replications: 1
report_interval: 10s
models:
  - {{name: m, service_time: {{exponential: {{mean: 100ms}}}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 2}}
services:
  - name: fn
    model: m
    node_pool: p
    replicas: 1
    startup_time: 30s
    autoscaler:
{autoscaler}
workloads:
  - service: fn
    arrivals: {{on_off: {{on_rate: 20/s, on_time: 5m, off_time: 10m}}}}
"#
    )
}

#[test]
fn knative_scales_to_zero_when_idle_and_cold_starts_on_the_next_request() {
    let r = run(&to_zero_yaml("      kind: kpa\n      target: 2"));
    let replicas = series(&r, "fn", "replicas");
    let arrivals = series(&r, "fn", "arrivals_rps");
    // It reaches zero in an idle stretch, and comes back when load returns.
    let zero = replicas
        .iter()
        .position(|x| x.1 == 0.0)
        .expect("scales to zero");
    let back = replicas[zero..]
        .iter()
        .find(|x| x.1 > 0.0)
        .expect("cold start");
    // Zero only after a stable window (60 s) plus the grace period (30 s) without requests.
    let last_busy = arrivals[..zero]
        .iter()
        .rev()
        .find(|x| x.1 > 0.0)
        .expect("load before")
        .0;
    assert!(
        replicas[zero].0 >= last_busy + 60.0,
        "{last_busy} {:?}",
        replicas[zero]
    );
    // Requests that arrive at zero wait in the activator for the cold start (30 s
    // start-up): the slowest are at least that slow, and none is lost.
    assert_eq!(r.mean("fn", "dropped"), 0.0);
    assert!(r.mean("fn", "latency_p99_ms") >= 30_000.0);
    assert!(back.0 > replicas[zero].0);
    // Scaled on concurrency: in steady load 20/s x 0.1 s = 2 in flight, target 2 x 70%:
    // 2 pods (after the panics at cold starts, which count the requests the activator holds).
    let steady = replicas.iter().rev().find(|x| x.1 > 0.0).unwrap();
    assert!(steady.1 <= 4.0, "{replicas:?}");
}

#[test]
fn keda_deactivates_after_the_cooldown_and_activates_on_the_metric() {
    let r = run(&to_zero_yaml(
        "      kind: keda\n      cooldownPeriod: 2m\n      pollingInterval: 15s\n      triggers:\n        - {metric: total_inflight_requests, threshold: 1, activationThreshold: 0}",
    ));
    let replicas = series(&r, "fn", "replicas");
    assert!(replicas.iter().any(|x| x.1 == 0.0), "{replicas:?}");
    let zero = replicas.iter().position(|x| x.1 == 0.0).unwrap();
    assert!(replicas[zero..].iter().any(|x| x.1 > 0.0), "{replicas:?}");
    assert_eq!(r.mean("fn", "dropped"), 0.0);
}

#[test]
fn a_removed_pod_finishes_its_requests_within_the_grace_period() {
    // Slow requests (20 s each) on 4 replicas scaled down to 1 by an HPA after the load
    // drops: requests running on removed pods finish (grace 60 s > 20 s), none is lost.
    let yaml = format!(
        r#"
name: drain
seed: 2
duration: 20m
replications: 1
report_interval: 10s
models:
  - {{name: m, service_time: {{fixed: 20s}}}}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}}
services:
  - name: s
    model: m
    node_pool: p
    replicas: 4
    concurrency: 4
    termination_grace_period: {grace}
    autoscaler:
      kind: hpa
      minReplicas: 1
      maxReplicas: 4
      behavior: {{scaleDown: {{stabilizationWindowSeconds: 0}}}}
      metrics:
        - type: Pods
          pods: {{metric: {{name: inflight_requests}}, target: {{type: AverageValue, averageValue: "3"}}}}
workloads:
  - service: s
    arrivals: {{step: {{from: 0.5/s, to: 0.05/s, at: 5m}}}}
"#,
        grace = "60s"
    );
    let r = run(&yaml);
    let replicas = series(&r, "s", "replicas");
    assert!(replicas.iter().any(|x| x.1 < 4.0), "{replicas:?}");
    assert_eq!(r.mean("s", "dropped"), 0.0);
    // With a 5 s grace period, requests still running on a removed pod are killed.
    let r = run(&yaml.replace(
        "termination_grace_period: 60s",
        "termination_grace_period: 5s",
    ));
    assert!(r.mean("s", "dropped") > 0.0);
}

#[test]
fn invalid_autoscaler_specs_get_the_api_servers_answer_with_their_place() {
    let base = hpa_yaml("", "{poisson: {rate: 10/s}}", "1m");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            base.replace(
                "target: {type: AverageValue, averageValue: \"0.5\"}",
                "targetAverageValue: \"0.5\"",
            ),
            vec![
                "services[0].autoscaler.metrics[0].pods.targetAverageValue",
                "autoscaling/v2beta1",
            ],
        ),
        (
            base.replace("maxReplicas: 300", "maxReplicas: 1"),
            vec!["services[0].autoscaler.maxReplicas", "minReplicas"],
        ),
        (
            base.replace("kind: hpa", "kind: vpa"),
            vec!["services[0].autoscaler.kind", "hpa"],
        ),
        (
            base.replace("name: gpu_utilization", "name: gpu_util"),
            vec!["pods.metric.name", "`gpu_util`", "known: gpu_utilization"],
        ),
        (
            base.replace(
                "      minReplicas: 2\n",
                "      minReplicas: 2\n      bogus: 1\n",
            ),
            vec!["services[0].autoscaler", "bogus"],
        ),
    ];
    for (i, (yaml, needles)) in cases.into_iter().enumerate() {
        let path = std::env::temp_dir().join(format!(
            "capsim-bad-autoscaler-{}-{i}.yaml",
            std::process::id()
        ));
        std::fs::write(&path, yaml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(&format!("{}:", path.display())),
            "case {i}: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "case {i}: expected `{n}` in {err}");
        }
    }
}

#[test]
fn an_autoscaled_service_gets_a_chart_of_its_replicas_load_and_latency() {
    let dir = std::env::temp_dir().join(format!("capsim-chart-{}", std::process::id()));
    let yaml = std::env::temp_dir().join(format!("capsim-chart-{}.yaml", std::process::id()));
    std::fs::write(
        &yaml,
        hpa_yaml("", "{step: {from: 10/s, to: 200/s, at: 5m}}", "10m"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("run")
        .arg(&yaml)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(dir.join("web-timeseries.svg")).expect("chart written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for label in [
        "desired_replicas",
        "ready",
        "arrivals_rps",
        "latency_p95_ms",
        "simulated time (min)",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    // Three panels, one polyline per series that has samples.
    assert!(svg.matches("<polyline").count() >= 6);
}
