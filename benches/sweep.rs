//! A sweep at 1 and at 2 rayon threads: 8 points (M/M/c queues, 2 to 4 replicas at three
//! loads) of 1 replication each, so the speed-up comes from running points side by side.
//! Each run gets its own local thread pool, so RAYON_NUM_THREADS does not matter here.
//!
//! `cargo bench --bench sweep`; speed-up = time(1 thread) / time(2 threads).

use capsim::sim::Plan;
use capsim::sweep;
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;

/// Eight points of about 500,000 customers each; one replication, so only the flattening of
/// (point, replication) pairs can use the second core.
const SCENARIO: &str = r#"
name: sweep-bench
duration: 2000s
replications: 1
report_interval: 60s
models: [{name: m, service_time: {exponential: {mean: 10ms}}}]
node_pools: [{name: p, gpu: t4, gpus_per_node: 8, nodes: 1}]
services: [{name: s, model: m, node_pool: p, replicas: 4, routing: shared_queue}]
workloads: [{service: s, arrivals: {poisson: {rate: 250/s}}}]
sweep:
  grid:
    services.s.replicas: [3, 4, 5, 6]
    workloads.0.arrivals.poisson.rate: [200/s, 280/s]
"#;

fn plans() -> Vec<Plan> {
    let sw = sweep::load_bytes("bench.yaml", SCENARIO.as_bytes(), Path::new("."))
        .expect("bench sweep parses");
    (0..sw.points)
        .map(|i| sw.plan(i).expect("bench point is valid"))
        .collect()
}

fn run(plans: &[Plan]) -> usize {
    let done = std::sync::atomic::AtomicUsize::new(0);
    sweep::simulate_points::<(), _>(plans, false, |_, report| {
        done.fetch_add(report.rows.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })
    .expect("no error");
    done.into_inner()
}

fn threads(c: &mut Criterion) {
    let plans = plans();
    let mut g = c.benchmark_group("sweep_8_points");
    for n in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("thread pool");
        g.bench_function(format!("threads_{n}"), |b| {
            b.iter(|| pool.install(|| run(&plans)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = threads
}
criterion_main!(benches);
