//! Training at cluster scale: the 7,500-node example end to end, and how the cost of a job
//! grows with the cluster.
//!
//! `cargo bench --bench training` prints three tables (medians over `CAPSIM_BENCH_RUNS` runs,
//! default 3, one core):
//!
//! - `example`: one replication of `scenarios/training-7500.yaml` (7,500 nodes x 8 GPUs, 30
//!   days): wall time, events per second, and this process's peak resident memory while
//!   it runs (VmHWM, reset before the runs). The CLI's own figure, output files included:
//!   `/usr/bin/time -v target/release/capsim run scenarios/training-7500.yaml --out /tmp/t`
//!   ("Maximum resident set size").
//! - `nodes`: the example's job mix on 750, 2,500, 7,500 and 25,000 nodes, the quotas and
//!   the research jobs' arrival rates scaled with the node count (the research jobs keep
//!   their sizes; the pretraining job, one every two days, keeps its share of the cluster,
//!   8,192 GPUs per 7,500 nodes): time per job and per event. A cost that grows with the
//!   nodes shows as a time per job that grows down the table; larger clusters pack the same
//!   jobs better and run fuller (the `alloc` column), with a longer backlog.
//! - `placement`: one topology placement of a gang of whole nodes, then its release, on a
//!   pool whose nodes are three-quarters busy in a scattered pattern: the time per gang as
//!   the pool grows (the scan of the free nodes).
//!
//! `CAPSIM_BENCH_QUICK=1` simulates 3 days instead of 30 (a smoke test). A filter argument
//! (`example`, `nodes`, `placement`) picks one table.

#[allow(dead_code)]
#[path = "common/limits.rs"]
mod limits;
#[path = "common/timing.rs"]
mod timing;

use capsim::cluster::{Placement, Pool, Topology};
use capsim::scenario;
use capsim::sim::{Plan, RepResult, run_replication_summary};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use timing::{median, reset_peak, runs};

fn quick() -> bool {
    std::env::var("CAPSIM_BENCH_QUICK").is_ok()
}

/// Simulated days per run.
fn days() -> u32 {
    if quick() { 3 } else { 30 }
}

/// The example's mix on `nodes` nodes: quotas and the research rates scaled by
/// nodes / 7,500, the pretraining gang too (so its load scales as the others do).
fn scaled_yaml(nodes: u32, days: u32) -> String {
    let f = f64::from(nodes) / 7500.0;
    // Whole nodes of 8 GPUs, 8,192 GPUs per 7,500 nodes.
    let pretrain = ((8192.0 * f / 8.0).round().max(1.0) as u32) * 8;
    format!(
        r#"
name: training-{nodes}
seed: 7
duration: {days}d
warmup: {warmup}d
replications: 1
report_interval: 1h
node_pools:
  - name: h100
    gpu: h100-80gb
    gpus_per_node: 8
    nodes: {nodes}
    topology: {{rack: 32, island: 512}}
    failures: {{mtbf: 250d, repair_time: 2d}}
queues:
  - {{name: research, cohort: all, nominal_quota: {research}}}
  - {{name: product, cohort: all, nominal_quota: {product}, borrowing_limit: {borrow}}}
training:
  scheduler: kueue
  placement: topology
  workloads:
    - name: research-small
      queue: research
      node_pool: h100
      arrivals: {{poisson: {{rate: {small}/h}}}}
      gpus: {{choice: {{1: 0.7, 2: 0.1, 4: 0.15, 8: 0.05}}}}
      duration: {{lognormal: {{mean: 4h, sd: 8h}}}}
    - name: research-large
      queue: research
      node_pool: h100
      arrivals: {{poisson: {{rate: {large}/h}}}}
      gpus: {{choice: {{64: 0.5, 256: 0.3, 1024: 0.15, 4096: 0.05}}}}
      duration: {{lognormal: {{mean: 12h, sd: 12h}}}}
      checkpoint: {{interval: optimal, cost: 2m}}
      restart_time: 10m
      failure_detection: 5m
    - name: pretrain
      queue: product
      node_pool: h100
      arrivals: {{poisson: {{rate: 0.5/d}}}}
      gpus: {{fixed: {pretrain}}}
      duration: {{lognormal: {{mean: 5d, sd: 2d}}}}
      priority: 100
      checkpoint: {{interval: optimal, cost: 2m}}
      restart_time: 15m
      failure_detection: 5m
"#,
        warmup = (days / 15).max(1),
        research = (36000.0 * f).round(),
        product = (24000.0 * f).round(),
        borrow = (12000.0 * f).round(),
        small = 200.0 * f,
        large = 5.0 * f,
    )
}

/// A metric of a replication's summary.
fn metric(r: &RepResult, component: &str, name: &str) -> f64 {
    r.metrics
        .iter()
        .find(|(c, m, _)| c == component && *m == name)
        .map_or(f64::NAN, |x| x.2)
}

/// Median wall seconds of `runs()` replications of `plan`, and the last one's result.
fn timed(plan: &Plan) -> (f64, RepResult) {
    let mut last = None;
    let secs = (0..runs())
        .map(|_| {
            let t = Instant::now();
            let r = run_replication_summary(plan, 0);
            let s = t.elapsed().as_secs_f64();
            last = Some(black_box(r));
            s
        })
        .collect();
    (median(secs), last.expect("at least one run"))
}

fn example() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/training-7500.yaml");
    let set = vec![format!("duration={}d", days())];
    reset_peak();
    let plan = scenario::plan_file(&path, &set).expect("the example is valid");
    let (s, r) = timed(&plan);
    let peak = limits::peak_rss_kib().map_or(f64::NAN, |k| k as f64 / 1024.0);
    let jobs = metric(&r, "training", "jobs_submitted");
    println!(
        "example: scenarios/training-7500.yaml, {} days, one replication, one core",
        days()
    );
    println!(
        "{:>8} {:>10} {:>9} {:>8} {:>10} {:>8}",
        "wall s", "events", "M ev/s", "jobs*", "failures", "peak MB"
    );
    println!(
        "{s:>8.3} {:>10} {:>9.2} {jobs:>8.0} {:>10.0} {peak:>8.1}",
        r.events,
        r.events as f64 / s / 1e6,
        metric(&r, "cluster", "node_failures"),
    );
    println!("  * jobs submitted after the warm-up");
}

fn nodes() {
    println!(
        "nodes: the example's mix, rates and quotas scaled with the nodes, {} days, one core",
        days()
    );
    println!(
        "{:>7} {:>8} {:>8} {:>10} {:>9} {:>8} {:>9} {:>6}",
        "nodes", "wall s", "jobs*", "events", "us/job", "ns/ev", "wait p95", "alloc"
    );
    for n in [750u32, 2_500, 7_500, 25_000] {
        let yaml = scaled_yaml(n, days());
        let loaded = scenario::load_bytes("scaled.yaml", yaml.as_bytes(), &[], Path::new("."))
            .expect("bench scenario parses");
        let plan = scenario::build_plan(&loaded).expect("bench scenario is valid");
        let (s, r) = timed(&plan);
        let jobs = metric(&r, "training", "jobs_submitted");
        println!(
            "{n:>7} {s:>8.3} {jobs:>8.0} {:>10} {:>9.2} {:>8.0} {:>9.0} {:>6.3}",
            r.events,
            s / jobs * 1e6,
            s / r.events as f64 * 1e9,
            metric(&r, "training", "wait_p95_s"),
            metric(&r, "training", "gpu_allocation"),
        );
    }
    println!("  * jobs submitted after the warm-up");
}

/// A pool of `nodes` nodes three-quarters busy: whole nodes taken in a scattered pattern
/// (one node in four left free, in every rack), as a long-running cluster looks.
fn scattered(nodes: u32) -> Pool {
    let mut pool = Pool::new(nodes, 8);
    for n in 0..nodes {
        // A fixed, irregular pattern: free when a hash of the index falls in one quarter.
        let h = n.wrapping_mul(2_654_435_761) >> 16;
        if h % 4 != 0 {
            pool.place_on(n, 8, 0);
        }
    }
    pool
}

fn placement() {
    let topo = Topology {
        rack: 32,
        island: 512,
    };
    println!("placement: topology placement and release of one gang, pool 3/4 busy, one core");
    let gangs = [8usize, 64, 512];
    print!("{:>7}", "nodes");
    for g in gangs {
        print!(" {:>14}", format!("{g} nodes us"));
    }
    println!();
    for n in [750u32, 2_500, 7_500, 25_000] {
        print!("{n:>7}");
        for g in gangs {
            let mut pool = scattered(n);
            if (pool.free_nodes() as usize) < g {
                print!(" {:>14}", "n/a");
                continue;
            }
            let units = vec![8; g];
            let iters = if quick() { 200 } else { 2_000 };
            let us = (0..runs())
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let placed = pool
                            .place_gang_with(&units, Placement::Topology, Some(topo))
                            .expect("room for the gang");
                        for &node in &placed {
                            pool.release(node, 8);
                        }
                        black_box(placed);
                    }
                    t.elapsed().as_secs_f64() / f64::from(iters) * 1e6
                })
                .collect();
            print!(" {:>14.2}", median(us));
        }
        println!();
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks one table.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let want = |t: &str| only.as_deref().is_none_or(|o| t.contains(o));
    // The example first: its peak memory is read before the other tables allocate.
    if want("example") {
        example();
    }
    if want("nodes") {
        nodes();
    }
    if want("placement") {
        placement();
    }
}
