//! A sweep at 1 and at 2 rayon threads: 8 points (M/M/c queues, 2 to 4 replicas at three
//! loads) of 1 replication each, so the speed-up comes from running points side by side.
//! Each run gets its own local thread pool, so RAYON_NUM_THREADS does not matter here.
//!
//! `cargo bench --bench sweep`: pairs of runs at 1 and 2 threads, interleaved, and the median
//! of time(1 thread) / time(2 threads). `CAPSIM_BENCH_PAIRS` sets the number of pairs (7).
//! Not criterion: its two benchmark functions run one after the other, minutes apart, and on
//! a VM whose speed drifts that gap moved the ratio between 1.2x and 3x.

use capsim::sim::Plan;
use capsim::sweep;
use std::path::Path;
use std::time::Instant;

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
        let report = report.map_err(|_| ())?;
        done.fetch_add(report.rows.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })
    .expect("no error");
    done.into_inner()
}

/// Seconds for one sweep on a pool of `threads` threads.
fn timed(plans: &[Plan], pool: &rayon::ThreadPool) -> f64 {
    let t = Instant::now();
    let rows = pool.install(|| run(plans));
    assert!(rows > 0);
    t.elapsed().as_secs_f64()
}

fn main() {
    let plans = plans();
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("thread pool")
        })
        .collect();
    let pairs: usize = std::env::var("CAPSIM_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    // Warm caches and the allocator once on each.
    timed(&plans, &pools[0]);
    timed(&plans, &pools[1]);
    // Interleaved pairs, the order alternating, so that a machine whose speed drifts (a
    // shared VM) slows both sides of a pair alike; the median ratio is the speed-up.
    let mut ratios = Vec::with_capacity(pairs);
    for k in 0..pairs {
        let (one, two) = if k % 2 == 0 {
            let a = timed(&plans, &pools[0]);
            (a, timed(&plans, &pools[1]))
        } else {
            let b = timed(&plans, &pools[1]);
            (timed(&plans, &pools[0]), b)
        };
        println!(
            "pair {k}: 1 thread {one:.3} s, 2 threads {two:.3} s, speed-up {:.2}x",
            one / two
        );
        ratios.push(one / two);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "sweep_8_points: median speed-up {:.2}x over {pairs} pairs (min {:.2}x, max {:.2}x)",
        ratios[pairs / 2],
        ratios[0],
        ratios[pairs - 1]
    );
}
