//! What autoscaling costs in run time: one day (24 h simulated, about 27 million requests)
//! with a fixed fleet of two replicas, and the same with an HPA (15 s syncs, per-second
//! metric sampling of every pod) and the cluster autoscaler. One replication on one core.

use capsim::scenario;
use capsim::sim::run_replication;
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;

#[path = "common/day.rs"]
mod day_scenario;
use day_scenario::day_yaml;

fn day(c: &mut Criterion) {
    let mut g = c.benchmark_group("diurnal_day");
    for (name, autoscaled) in [("fixed_fleet", false), ("hpa_and_cluster_autoscaler", true)] {
        let loaded = scenario::load_bytes(
            "bench.yaml",
            day_yaml(autoscaled).as_bytes(),
            &[],
            Path::new("."),
        )
        .expect("bench scenario parses");
        let plan = scenario::build_plan(&loaded).expect("bench scenario is valid");
        g.bench_function(name, |b| b.iter(|| run_replication(&plan, 0)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = day
}
criterion_main!(benches);
