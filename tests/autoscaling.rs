//! Autoscaling end to end: the HPA, pod start-up, the cluster autoscaler, balloons and scale
//! to zero, checked against the rules Kubernetes documents for them.

mod common;
use common::run;

/// `(time_s, value)` of a component's timeseries metric.
fn series(r: &capsim::sim::Report, comp: &str, metric: &str) -> Vec<(f64, f64)> {
    r.timeseries
        .iter()
        .filter(|(_, c, m, _)| c == comp && *m == metric)
        .map(|(t, _, _, v)| (*t, *v))
        .collect()
}

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
