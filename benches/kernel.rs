//! Event-queue throughput with the classic hold model: N events pending; each step pops the
//! earliest and schedules one at now + Exp(1 s). Measured at 1k, 100k and 1M pending events.

use capsim::engine::{EventQueue, SimTime, stream};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_distr::{Distribution, Exp1};
use std::hint::black_box;

fn hold(c: &mut Criterion) {
    let mut g = c.benchmark_group("hold_model");
    const STEPS: u64 = 1_000_000;
    for pending in [1_000usize, 100_000, 1_000_000] {
        let mut rng = stream(1, 0, "bench");
        let mut q: EventQueue<u32> = EventQueue::with_capacity(pending);
        for i in 0..pending {
            let d: f64 = Exp1.sample(&mut rng);
            q.schedule(SimTime::from_secs_f64(d), i as u32);
        }
        g.throughput(Throughput::Elements(STEPS));
        g.bench_with_input(BenchmarkId::from_parameter(pending), &pending, |b, _| {
            b.iter(|| {
                for _ in 0..STEPS {
                    let (now, ev) = q.pop().expect("the hold model never empties");
                    let d: f64 = Exp1.sample(&mut rng);
                    q.schedule(now + SimTime::from_secs_f64(d), black_box(ev));
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = hold
}
criterion_main!(benches);
