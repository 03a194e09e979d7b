//! The M/M/4 queue at utilization 0.8 that the end-to-end benchmark and the memory example
//! both run: four single-slot replicas sharing one queue, exponential 10 ms service,
//! Poisson arrivals at 320/s.

/// Scenario text for about `customers` customers, one replication.
pub fn mm4_yaml(customers: f64) -> String {
    let lambda = 320.0;
    format!(
        r#"
name: mm4
duration: {d}s
replications: 1
report_interval: 60s
models: [{{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}]
node_pools: [{{name: p, gpu: t4, gpus_per_node: 4, nodes: 1}}]
services: [{{name: s, model: m, node_pool: p, replicas: 4, routing: shared_queue}}]
workloads: [{{service: s, arrivals: {{poisson: {{rate: {lambda}/s}}}}}}]
"#,
        d = (customers / lambda).round()
    )
}
