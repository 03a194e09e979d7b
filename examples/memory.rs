//! Peak resident memory and speed of one long replication, to show that memory stays flat as
//! the run grows:
//!
//! - `cargo run --release --example memory -- mm4 10000000`: an M/M/4 queue (rho 0.8) of N
//!   customers;
//! - `cargo run --release --example memory -- llm 1000000`: N LLM requests (Llama-2-7B on an
//!   A100, 512/128 tokens, a running batch of about 32);
//! - `cargo run --release --example memory -- bare 10000000`: the same M/M/4 as `mm4` on
//!   capsim's event queue and random streams with nothing of the service model (no requests,
//!   replicas, routing or statistics): the ceiling that `mm4`'s rate can approach on the
//!   machine, measured beside it;
//! - `cargo run --release --example memory -- limits`: a whole `capsim run` at the documented
//!   limits of the timeseries, each case in a process of its own (`limits values`: 50 million
//!   values, 8 services x 1,000 samples x 495 replications; `limits samples`: 1 million
//!   samples in each of 2 replications), with the peak memory, the time and the sizes of
//!   timeseries.csv and the largest chart. tests/memory.rs asserts the peak.

#[path = "../benches/common/limits.rs"]
mod limits;
#[path = "../benches/common/llm.rs"]
mod llm_scenario;
#[path = "../benches/common/mm4.rs"]
mod mm4_scenario;

use capsim::engine::{EventQueue, SimRng, SimTime, stream};
use capsim::scenario;
use capsim::sim::run_replication;
use rand_distr::{Distribution, Exp1};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use limits::peak_rss_kib;

/// One case of `limits` in this process, or each in a child process.
fn at_the_limits(case: Option<String>) {
    let Some(case) = case else {
        for (name, ..) in limits::AT_THE_LIMITS {
            let status = std::process::Command::new(std::env::current_exe().expect("exe"))
                .args(["limits", name])
                .status()
                .expect("child runs");
            assert!(status.success(), "limits {name}");
        }
        return;
    };
    let Some(&(name, services, samples, reps)) = limits::AT_THE_LIMITS.iter().find(|c| c.0 == case)
    else {
        eprintln!("unknown case `{case}`: use values or samples");
        std::process::exit(2);
    };
    let dir = std::env::temp_dir().join(format!("capsim-memory-{}", std::process::id()));
    let t0 = Instant::now();
    let rows = limits::run_into(
        &limits::timeseries_yaml(services, samples, reps),
        &dir,
        true,
    );
    let secs = t0.elapsed().as_secs_f64();
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let largest_chart = std::fs::read_dir(&dir)
        .expect("results")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg" || x == "png"))
        .map(size)
        .max()
        .unwrap_or(0);
    println!(
        "limits {name}: {services} services x {samples} samples x {reps} replications: \
         wall {secs:.1} s  peak RSS {} KiB  timeseries.csv {} rows, {} bytes  largest chart \
         {largest_chart} bytes",
        peak_rss_kib().map_or("?".into(), |k| k.to_string()),
        rows,
        size(dir.join("timeseries.csv")),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mm4`'s queue (Poisson arrivals at 320/s, four servers, exponential 10 ms service, one
/// FIFO queue) in a loop of its own on capsim's event queue, for `n` customers.
fn bare_mm4(n: u64) {
    #[derive(Clone, Copy)]
    enum Ev {
        Arrival,
        Done(u32),
    }
    let mut q: EventQueue<Ev> = EventQueue::with_capacity(1024).with_lanes(1);
    let mut arrivals = stream(1, 0, "bare/arrivals");
    let mut service = stream(1, 0, "bare/service_time");
    let (mean_gap_ns, mean_service_s) = (1e9 / 320.0, 10e-3);
    // Drawn one ahead, as the simulator does (see `Svc::next_dur`).
    let draw_gap = |rng: &mut SimRng| {
        let e: f64 = Exp1.sample(rng);
        SimTime((e * mean_gap_ns + 0.5) as u64)
    };
    let draw_service = |rng: &mut SimRng| {
        let e: f64 = Exp1.sample(rng);
        SimTime::from_secs_f64(e * mean_service_s)
    };
    let mut next_gap = draw_gap(&mut arrivals);
    let mut next_service = draw_service(&mut service);
    let mut idle: Vec<u32> = vec![0, 1, 2, 3];
    let mut queue: VecDeque<SimTime> = VecDeque::new();
    let (mut done, mut waited_ns) = (0u64, 0u64);
    q.schedule_lane(0, SimTime::ZERO, Ev::Arrival);
    let t0 = Instant::now();
    while let Some((now, ev)) = q.pop() {
        match ev {
            Ev::Arrival => {
                let gap = std::mem::replace(&mut next_gap, draw_gap(&mut arrivals));
                q.schedule_lane(0, now + gap, ev);
                if let Some(server) = idle.pop() {
                    let s = std::mem::replace(&mut next_service, draw_service(&mut service));
                    q.schedule(now + s, Ev::Done(server));
                } else {
                    queue.push_back(now);
                }
            }
            Ev::Done(server) => {
                done += 1;
                if done == n {
                    break;
                }
                if let Some(arrival) = queue.pop_front() {
                    waited_ns += now.since(arrival).0;
                    let s = std::mem::replace(&mut next_service, draw_service(&mut service));
                    q.schedule(now + s, Ev::Done(server));
                } else {
                    idle.push(server);
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    // Erlang C at rho 0.8 with 4 servers: a mean wait of 7.46 ms, a check that this is the
    // same queue.
    println!(
        "bare: requests {done}  wall {secs:.2} s  {:.3} M requests/s  mean wait {:.2} ms",
        done as f64 / secs / 1e6,
        waited_ns as f64 / done as f64 / 1e6
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "mm4".to_string());
    if kind == "limits" {
        return at_the_limits(args.next());
    }
    let n: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1e6);
    if kind == "bare" {
        return bare_mm4(n as u64);
    }
    let yaml = match kind.as_str() {
        "mm4" => mm4_scenario::mm4_yaml(n),
        "llm" => llm_scenario::llm_yaml(n),
        other => {
            eprintln!("unknown scenario `{other}`: use mm4, bare, llm or limits");
            std::process::exit(2);
        }
    };
    let loaded = scenario::load_bytes("mem.yaml", yaml.as_bytes(), &[], Path::new("."))
        .expect("scenario parses");
    let plan = scenario::build_plan(&loaded).expect("scenario is valid");
    let t0 = Instant::now();
    let r = run_replication(&plan, 0);
    let secs = t0.elapsed().as_secs_f64();
    let get = |m: &str| {
        r.metrics
            .iter()
            .find(|(c, k, _)| c == "s" && *k == m)
            .map_or(f64::NAN, |x| x.2)
    };
    let done = get("completed");
    println!(
        "{kind}: requests {done:.0}  wall {secs:.2} s  {:.3} M requests/s  events {}  batch {:.1}  peak RSS {} KiB",
        done / secs / 1e6,
        r.events,
        get("batch_size_mean"),
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );
}
