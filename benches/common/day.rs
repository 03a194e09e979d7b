//! A day of diurnal BERT-large traffic (20 to 600 requests/s) on T4s, with a fixed fleet or
//! with an HPA on GPU utilization and the cluster autoscaler: the autoscaling benchmark runs
//! both to measure what autoscaling adds to the run time.

/// Scenario text; `autoscaled` adds the HPA, node autoscaling and balloons.
pub fn day_yaml(autoscaled: bool) -> String {
    let (pool, service) = if autoscaled {
        (
            ", min_nodes: 2, max_nodes: 8, provision_time: 4m, balloons: {pods: 1}",
            r#"
    autoscaler:
      kind: hpa
      minReplicas: 2
      maxReplicas: 8
      metrics:
        - type: Pods
          pods: {metric: {name: gpu_utilization}, target: {type: AverageValue, averageValue: "0.6"}}"#,
        )
    } else {
        ("", "")
    };
    format!(
        r#"
name: day
seed: 5
duration: 24h
replications: 1
report_interval: 10m
node_pools:
  - {{name: t4, gpu: t4, gpus_per_node: 1, nodes: 4{pool}}}
services:
  - name: qa
    model: bert-large
    node_pool: t4
    replicas: 2
    routing: least_outstanding
    batching: {{dynamic: {{max_batch: 16, max_delay: 10ms}}}}{service}
workloads:
  - service: qa
    arrivals: {{diurnal: {{min_rate: 20/s, peak_rate: 600/s, period: 24h, peak_at: 14h}}}}
"#
    )
}
