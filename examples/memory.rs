//! Peak resident memory and speed of one long replication, to show that memory stays flat as
//! the run grows:
//!
//! - `cargo run --release --example memory -- mm4 10000000`: an M/M/4 queue (rho 0.8) of N
//!   customers;
//! - `cargo run --release --example memory -- llm 1000000`: N LLM requests (Llama-2-7B on an
//!   A100, 512/128 tokens, a running batch of about 32).

#[path = "../benches/common/llm.rs"]
mod llm_scenario;
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
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "mm4".to_string());
    let n: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1e6);
    let yaml = match kind.as_str() {
        "mm4" => mm4_scenario::mm4_yaml(n),
        "llm" => llm_scenario::llm_yaml(n),
        other => {
            eprintln!("unknown scenario `{other}`: use mm4 or llm");
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
