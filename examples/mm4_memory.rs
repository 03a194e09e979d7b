//! Peak resident memory and speed of one M/M/4 replication (rho 0.8) of N customers:
//! `cargo run --release --example mm4_memory -- 10000000`. Memory must stay flat as N grows.

#[path = "../benches/common/mm4.rs"]
mod mm4_scenario;

use capsim::scenario;
use capsim::sim::run_replication;
use std::path::Path;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let customers: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1e6);
    let yaml = mm4_scenario::mm4_yaml(customers);
    let loaded = scenario::load_bytes("mem.yaml", yaml.as_bytes(), &[], Path::new("."))
        .expect("scenario parses");
    let plan = scenario::build_plan(&loaded).expect("scenario is valid");
    let t0 = Instant::now();
    let r = run_replication(&plan, 0);
    let secs = t0.elapsed().as_secs_f64();
    let done = r
        .metrics
        .iter()
        .find(|(c, m, _)| c == "s" && *m == "completed")
        .map_or(0.0, |x| x.2);
    println!(
        "customers {done:.0}  wall {secs:.2} s  {:.2} M customers/s  events {}  peak RSS {} KiB",
        done / secs / 1e6,
        r.events,
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );
}
