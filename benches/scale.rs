//! Costs as the cluster grows: per request for each routing policy at 10 to 10,000 replicas,
//! and per event of the event queue at 1,000 to 1,000,000 pending events.
//!
//! `cargo bench --bench scale` prints two tables (medians over `CAPSIM_BENCH_RUNS` runs,
//! default 3). Routing: one replication of about 2 million requests at utilization 0.7 (10 ms
//! exponential service, one slot per replica, Poisson arrivals), one core. Kernel: the hold
//! model (each step pops the earliest event and schedules one Exp(1 s) later), 2 million
//! steps. `CAPSIM_BENCH_QUICK=1` runs 10x fewer requests and steps (a smoke test);
//! `CAPSIM_BENCH_CPU=1` times by the thread's time on a processor instead of the wall clock
//! (Linux; for machines shared with other work). Further arguments pick cells: `cargo bench
//! --bench scale routing random 10 10000`, `cargo bench --bench scale kernel 100000`.

use capsim::engine::{EventQueue, SimTime, stream};
use capsim::scenario;
use capsim::sim::run_replication;
use rand_distr::{Distribution, Exp1};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn runs() -> usize {
    std::env::var("CAPSIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn scale() -> f64 {
    if std::env::var("CAPSIM_BENCH_QUICK").is_ok() {
        0.1
    } else {
        1.0
    }
}

/// Seconds on a clock: wall-clock, or with `CAPSIM_BENCH_CPU=1` the time this thread has
/// spent on a processor (Linux's /proc/thread-self/schedstat, in ns), which a machine shared
/// with other work does not stretch by descheduling.
fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    if std::env::var("CAPSIM_BENCH_CPU").is_ok() {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
            .expect("CAPSIM_BENCH_CPU needs /proc/thread-self/schedstat (Linux)");
        let ns: f64 = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("schedstat starts with the time on a processor in ns");
        ns / 1e9
    } else {
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `replicas` single-slot replicas at utilization 0.7; `extra` goes into the service (an
/// autoscaler). Returns the scenario and the requests it sends on average: the duration is
/// rounded up to whole seconds, which at 10,000 replicas is up to 3.5x `requests`.
fn scaled_yaml(replicas: u32, routing: &str, requests: f64, extra: &str) -> (String, f64) {
    let rate = 0.7 * 100.0 * f64::from(replicas);
    let d = (requests / rate).ceil();
    let yaml = format!(
        r#"
name: scale
duration: {d}s
replications: 1
report_interval: {d}s
models: [{{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}]
node_pools: [{{name: p, gpu: t4, gpus_per_node: 8, nodes: {nodes}}}]
services: [{{name: s, model: m, node_pool: p, replicas: {replicas}, routing: {routing}{extra}}}]
workloads: [{{service: s, arrivals: {{poisson: {{rate: {rate}/s}}}}}}]
"#,
        nodes = replicas.div_ceil(8) + replicas.div_ceil(80),
    );
    (yaml, rate * d)
}

/// Million requests per second of one replication (None: a policy this build lacks, when the
/// bench runs on an older tree for a before-and-after table).
fn routing_rate(replicas: u32, routing: &str) -> Option<f64> {
    rate_of(scaled_yaml(replicas, routing, 2e6 * scale(), ""))
}

/// Million requests per second of one replication of `yaml`, which sends about `requests`.
fn rate_of((yaml, requests): (String, f64)) -> Option<f64> {
    let loaded = scenario::load_bytes("scale.yaml", yaml.as_bytes(), &[], Path::new(".")).ok()?;
    let plan = scenario::build_plan(&loaded).expect("bench scenario is valid");
    let rates = (0..runs())
        .map(|_| {
            let t = clock();
            let r = run_replication(&plan, 0);
            let s = clock() - t;
            black_box(r);
            requests / s / 1e6
        })
        .collect();
    Some(median(rates))
}

/// Million events per second of the hold model with `pending` events.
fn hold_rate(pending: usize) -> f64 {
    let steps = (2e6 * scale()) as u64;
    let rates = (0..runs())
        .map(|_| {
            let mut rng = stream(1, 0, "bench");
            let mut q: EventQueue<u32> = EventQueue::with_capacity(pending);
            for i in 0..pending {
                let d: f64 = Exp1.sample(&mut rng);
                q.schedule(SimTime::from_secs_f64(d), i as u32);
            }
            // Settle: the first pops see the initial spread, not the steady state.
            for _ in 0..pending.min(steps as usize) {
                let (now, ev) = q.pop().expect("the hold model never empties");
                let d: f64 = Exp1.sample(&mut rng);
                q.schedule(now + SimTime::from_secs_f64(d), ev);
            }
            let t = clock();
            for _ in 0..steps {
                let (now, ev) = q.pop().expect("the hold model never empties");
                let d: f64 = Exp1.sample(&mut rng);
                q.schedule(now + SimTime::from_secs_f64(d), black_box(ev));
            }
            steps as f64 / (clock() - t) / 1e6
        })
        .collect();
    median(rates)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks one table.
    // Further arguments narrow the routing table to some policies and replica counts, and
    // the kernel table to some pending counts (one cell at a time under a profiler).
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let only = args.first();
    let want = |t: &str| only.is_none_or(|o| t.contains(o.as_str()));
    let cells = args.get(1..).unwrap_or_default();
    let numbers: Vec<usize> = cells.iter().filter_map(|c| c.parse().ok()).collect();
    let pick = |n: usize| numbers.is_empty() || numbers.contains(&n);
    if want("routing") {
        let policies = [
            "random",
            "round_robin",
            "least_outstanding",
            "power_of_two",
            "shared_queue",
        ]
        .into_iter()
        .filter(|p| {
            cells.iter().all(|c| c.parse::<usize>().is_ok()) || cells.contains(&p.to_string())
        })
        .collect::<Vec<_>>();
        println!("routing: M requests/s, one replication, one core (rho 0.7, ~2M requests)");
        print!("{:>9}", "replicas");
        for p in &policies {
            print!(" {p:>18}");
        }
        println!();
        for n in [10u32, 100, 1_000, 10_000] {
            if !pick(n as usize) {
                continue;
            }
            print!("{n:>9}");
            for &p in &policies {
                match routing_rate(n, p) {
                    Some(r) => print!(" {r:>18.2}"),
                    None => print!(" {:>18}", "n/a"),
                }
            }
            println!();
        }
    }
    if want("hpa") {
        // The same load on 5,000 pods, fixed or under an HPA that samples every pod's metrics
        // (min = max = 5,000, so both runs serve with the same fleet).
        let n = 5_000;
        let requests = 4e6 * scale();
        let hpa = ", autoscaler: {kind: hpa, minReplicas: 5000, maxReplicas: 5000, metrics: \
                   [{type: Pods, pods: {metric: {name: gpu_utilization}, target: \
                   {type: AverageValue, averageValue: '0.7'}}}]}";
        let fixed = rate_of(scaled_yaml(n, "random", requests, ""));
        let scaled = rate_of(scaled_yaml(n, "random", requests, hpa));
        if let (Some(f), Some(h)) = (fixed, scaled) {
            println!(
                "5,000 pods, random routing: fixed {f:.2} M requests/s, HPA {h:.2} M/s \
                 (fixed / HPA {:.2})",
                f / h
            );
        }
    }
    if want("kernel") {
        println!("kernel (hold model): M events/s and ns per event");
        for pending in [1_000usize, 10_000, 100_000, 1_000_000] {
            if !pick(pending) {
                continue;
            }
            let r = hold_rate(pending);
            println!("{pending:>9} pending {r:>8.2} M/s {:>8.1} ns", 1e3 / r);
        }
    }
}
