//! The LLM scenario that the LLM benchmark and the memory example both run: Llama-2-7B on one
//! A100-80GB with continuous batching, prompts of 512 and outputs of 128 tokens, Poisson
//! arrivals at a rate that keeps a running batch of about 32 sequences.

/// Arrivals per second that keep about 32 sequences running.
pub const LLM_RATE: f64 = 8.5;

/// Scenario text for about `requests` requests, one replication.
pub fn llm_yaml(requests: f64) -> String {
    format!(
        r#"
name: llm-bench
duration: {d}s
replications: 1
report_interval: 3600s
node_pools: [{{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}}]
services: [{{name: s, model: llama2-7b, node_pool: p}}]
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {LLM_RATE}/s}}}}
    prompt_tokens: {{fixed: 512}}
    output_tokens: {{fixed: 128}}
"#,
        d = (requests / LLM_RATE).round()
    )
}
