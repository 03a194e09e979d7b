//! End-to-end throughput: an M/M/4 queue at utilization 0.8 (shared queue, exponential
//! service of 10 ms), one replication on one core, in customers simulated per second.

use capsim::scenario;
use capsim::sim::run_replication;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;

#[path = "common/mm4.rs"]
mod mm4_scenario;
use mm4_scenario::mm4_yaml;

fn mm4(c: &mut Criterion) {
    let customers = 1_000_000.0;
    let loaded = scenario::load_bytes(
        "bench.yaml",
        mm4_yaml(customers).as_bytes(),
        &[],
        Path::new("."),
    )
    .expect("bench scenario parses");
    let plan = scenario::build_plan(&loaded).expect("bench scenario is valid");
    let mut g = c.benchmark_group("mm4_rho0.8");
    g.throughput(Throughput::Elements(customers as u64));
    g.bench_function("customers", |b| b.iter(|| run_replication(&plan, 0)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = mm4
}
criterion_main!(benches);
