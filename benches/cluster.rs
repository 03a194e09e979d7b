//! The scheduler's cost per pod at cluster scale: placing and releasing pods, and
//! all-or-nothing gangs of whole nodes, on pools of 75, 750 and 7,500 nodes of 8 GPUs.
//!
//! Each pool starts three-quarters full and churns: every step places one pod (or one gang)
//! and releases the oldest, so the occupancy and the fragmentation stay as they were. The
//! figure to compare across sizes is the time per pod.

use capsim::cluster::{Placement, Pool};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::VecDeque;

const SIZES: [u32; 3] = [75, 750, 7_500];
const GPUS: u32 = 8;
/// Pod sizes in GPUs, in turn: mostly small pods, some whole nodes.
const MIX: [u32; 6] = [1, 2, 1, 4, 1, 8];
/// Whole-node pods in one gang.
const GANG: usize = 8;

/// A pool of `nodes` nodes filled with the mix to about three quarters, and the pods placed
/// (node, GPUs), oldest first.
fn filled(nodes: u32) -> (Pool, VecDeque<(u32, u32)>) {
    let mut pool = Pool::new(nodes, GPUS);
    let mut placed = VecDeque::new();
    let target = u64::from(nodes * GPUS) * 3 / 4;
    let mut i = 0;
    while pool.allocated() < target {
        let units = MIX[i % MIX.len()];
        i += 1;
        if let Some(n) = pool.place(units) {
            placed.push_back((n, units));
        }
    }
    (pool, placed)
}

fn pods(c: &mut Criterion) {
    let mut g = c.benchmark_group("place_and_release_pod");
    g.throughput(Throughput::Elements(1));
    for nodes in SIZES {
        let (mut pool, mut placed) = filled(nodes);
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, _| {
            b.iter(|| {
                let units = MIX[i % MIX.len()];
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
    targets = pods, gangs
}
criterion_main!(benches);
