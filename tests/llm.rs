//! LLM serving: the continuous-batching engine and the roofline cost, end to end through
//! the simulator, against physics bounds, public measurements and orderings that must hold.

mod common;
use common::{plan, run};

/// One service of `model` on `gpu` (tensor parallel over `tp` GPUs) with `users` closed-loop
/// users thinking `think`, prompts and outputs of fixed length.
#[allow(clippy::too_many_arguments)]
fn closed_yaml(
    model: &str,
    gpu: &str,
    tp: u32,
    users: u32,
    think: &str,
    prompt: u32,
    output: u32,
    batching: &str,
    duration: &str,
) -> String {
    format!(
        r#"
name: llm
seed: 5
duration: {duration}
warmup: 20s
replications: 2
report_interval: 10s
models:
  - {{name: llama2-7b-int8, llm: {{based_on: llama2-7b, dtype: int8}}}}
node_pools:
  - {{name: p, gpu: {gpu}, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 2}}
services:
  - name: s
    model: {model}
    node_pool: p
    gpus_per_replica: {tp}
    batching: {batching}
workloads:
  - service: s
    arrivals: {{closed: {{users: {users}, think_time: {think}}}}}
    prompt_tokens: {{fixed: {prompt}}}
    output_tokens: {{fixed: {output}}}
"#
    )
}

fn continuous() -> &'static str {
    "{continuous: {}}"
}

#[test]
fn little_law_holds_and_every_token_is_counted() {
    let r = run(&closed_yaml(
        "llama2-7b",
        "a100-80gb",
        1,
        64,
        "2s",
        300,
        100,
        continuous(),
        "3m",
    ));
    assert!(r.mean("s", "littles_law_error") < 0.01);
    assert_eq!(r.mean("s", "output_tokens_mean"), 100.0);
    assert_eq!(r.mean("s", "prompt_tokens_mean"), 300.0);
    // Tokens per second = completions per second x 100 tokens, up to the iterations in
    // flight at the window's edges.
    let tps = r.mean("s", "output_tokens_per_s");
    let rps = r.mean("s", "throughput_rps");
    assert!(common::rel(tps, rps * 100.0) < 0.02, "{tps} vs {rps}");
}
