//! End-to-end LLM serving speed: Llama-2-7B on one A100 with continuous batching (512 prompt
//! and 128 output tokens, a running batch of about 32), one replication on one core, in
//! requests simulated per second of wall time.

use capsim::scenario;
use capsim::sim::run_replication;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;

#[path = "common/llm.rs"]
mod llm_scenario;
use llm_scenario::llm_yaml;

fn llm(c: &mut Criterion) {
    let requests = 1_000_000.0;
    let loaded = scenario::load_bytes(
        "bench.yaml",
        llm_yaml(requests).as_bytes(),
        &[],
        Path::new("."),
    )
    .expect("bench scenario parses");
    let plan = scenario::build_plan(&loaded).expect("bench scenario is valid");
    let mut g = c.benchmark_group("llm_7b_a100_batch32");
    g.throughput(Throughput::Elements(requests as u64));
    g.bench_function("requests", |b| b.iter(|| run_replication(&plan, 0)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = llm
}
criterion_main!(benches);
