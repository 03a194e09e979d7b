//! The scheduler's cost per pod at cluster scale: placing and releasing pods, and
//! all-or-nothing gangs of whole nodes, on pools of 75, 750 and 7,500 nodes of 8 GPUs.
//!
//! Each pool starts three-quarters full and churns: every step places one pod (or one gang)
//! and releases the oldest, so the occupancy and the fragmentation stay as they were. The
//! figure to compare across sizes is the time per pod.
//!
//! `place_and_release_cpu_pod` does the same on CPU pools of 96-CPU nodes, whose unit is a
//! milli-CPU (96,000 units per node), with pods of 0.25 to 8 CPUs.

use capsim::cluster::{Placement, Pool};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::VecDeque;

const SIZES: [u32; 3] = [75, 750, 7_500];
const GPUS: u32 = 8;
/// Pod sizes in GPUs, in turn: mostly small pods, some whole nodes.
const MIX: [u32; 6] = [1, 2, 1, 4, 1, 8];
/// Whole-node pods in one gang.
const GANG: usize = 8;

/// A pool of `nodes` nodes of `per_node` units filled with `mix` to about three quarters,
/// and the pods placed (node, units), oldest first.
fn filled(nodes: u32, per_node: u32, mix: &[u32]) -> (Pool, VecDeque<(u32, u32)>) {
    let mut pool = Pool::new(nodes, per_node);
    let mut placed = VecDeque::new();
    let target = u64::from(nodes) * u64::from(per_node) * 3 / 4;
    let mut i = 0;
    while pool.allocated() < target {
        let units = mix[i % mix.len()];
        i += 1;
        if let Some(n) = pool.place(units) {
            placed.push_back((n, units));
        }
    }
    (pool, placed)
}

/// Group `name`: one pod of `mix` placed and the oldest released per step, on each size.
fn churn(c: &mut Criterion, name: &str, per_node: u32, mix: &[u32]) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    for nodes in SIZES {
        let (mut pool, mut placed) = filled(nodes, per_node, mix);
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, _| {
            b.iter(|| {
                let units = mix[i % mix.len()];
                i += 1;
                if let Some(n) = pool.place(units) {
                    placed.push_back((n, units));
                }
                if let Some((n, u)) = placed.pop_front() {
                    pool.release(n, u);
                }
            })
        });
    }
    g.finish();
}

fn pods(c: &mut Criterion) {
    churn(c, "place_and_release_pod", GPUS, &MIX);
}

/// CPU pod sizes in milli-CPUs, in turn.
const CPU_MIX: [u32; 6] = [500, 1000, 2000, 250, 4000, 8000];
/// Milli-CPUs of a 96-CPU node.
const CPU_NODE: u32 = 96_000;

fn cpu_pods(c: &mut Criterion) {
    churn(c, "place_and_release_cpu_pod", CPU_NODE, &CPU_MIX);
}

fn new_cpu_pool(c: &mut Criterion) {
    c.bench_function("new_cpu_pool_75_nodes", |b| {
        b.iter(|| Pool::new(75, CPU_NODE))
    });
}

fn gangs(c: &mut Criterion) {
    let mut g = c.benchmark_group("place_and_release_gang_of_8_nodes");
    // Per pod: a gang is GANG pods.
    g.throughput(Throughput::Elements(GANG as u64));
    for nodes in SIZES {
        // Three quarters of the nodes busy with gangs, the rest free.
        let mut pool = Pool::new(nodes, GPUS);
        let mut placed: VecDeque<Vec<u32>> = VecDeque::new();
        let whole = [GPUS; GANG];
        while pool.allocated() + u64::from(GPUS) * GANG as u64 <= u64::from(nodes * GPUS) * 3 / 4 {
            placed.push_back(
                pool.place_gang_with(&whole, Placement::Pack, None)
                    .expect("room for a gang"),
            );
        }
        g.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, _| {
            b.iter(|| {
                if let Some(ns) = pool.place_gang_with(&whole, Placement::Pack, None) {
                    placed.push_back(ns);
                }
                if let Some(ns) = placed.pop_front() {
                    for n in ns {
                        pool.release(n, GPUS);
                    }
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = pods, gangs, cpu_pods, new_cpu_pool
}
criterion_main!(benches);
