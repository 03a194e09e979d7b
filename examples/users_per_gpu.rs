//! The seed question, measured: how many chat users does one A100 serve for a 7B, a 13B and a
//! 70B model, at a low-latency SLO and at a relaxed one?
//!
//! `cargo run --release --example users_per_gpu` prints the table that docs/llm.md quotes. For
//! each model, SLO and user behaviour it finds, by bisection, the largest number of users one
//! replica serves while every p95 term of the SLO holds at the upper end of its 95% confidence
//! interval (5 replications of 20 simulated minutes after 2 minutes of warm-up), and divides
//! by the replica's GPUs.

use capsim::scenario;
use capsim::sim::simulate;
use std::path::Path;

struct Case {
    model: &'static str,
    gpus: u32,
}

struct Slo {
    name: &'static str,
    ttft: &'static str,
    tpot: &'static str,
    ttft_ms: f64,
    tpot_ms: f64,
}

struct Behaviour {
    name: &'static str,
    think: &'static str,
    batching: &'static str,
}

fn yaml(c: &Case, slo: &Slo, b: &Behaviour, users: u32) -> String {
    format!(
        r#"
name: users-per-gpu
seed: 3
duration: 22m
warmup: 2m
replications: 5
report_interval: 60s
node_pools: [{{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}}]
services:
  - name: chat
    model: {model}
    node_pool: p
    gpus_per_replica: {gpus}
    batching: {batching}
    slo: {{ttft_p95: {ttft}, tpot_p95: {tpot}}}
workloads:
  - service: chat
    arrivals: {{closed: {{users: {users}, think_time: {think}}}}}
    prompt_tokens: {{lognormal: {{mean: 512, sd: 256}}}}
    output_tokens: {{lognormal: {{mean: 256, sd: 128}}}}
"#,
        model = c.model,
        gpus = c.gpus,
        batching = b.batching,
        ttft = slo.ttft,
        tpot = slo.tpot,
        think = b.think,
    )
}

/// Whether `users` users meet the SLO, pessimistically (upper CI bound of each p95).
fn holds(c: &Case, slo: &Slo, b: &Behaviour, users: u32) -> bool {
    let text = yaml(c, slo, b, users);
    let loaded = scenario::load_bytes("upg.yaml", text.as_bytes(), &[], Path::new("."))
        .expect("scenario parses");
    let plan = scenario::build_plan(&loaded).expect("scenario is valid");
    let r = simulate(&plan, false).expect("within the event budget");
    let high = |m: &str| r.get("chat", m).map_or(f64::INFINITY, |e| e.ci95_high);
    r.mean("chat", "saturated") == 0.0
        && high("ttft_p95_ms") <= slo.ttft_ms
        && high("tpot_p95_ms") <= slo.tpot_ms
}

/// The largest user count that holds, by doubling then bisection.
fn max_users(c: &Case, slo: &Slo, b: &Behaviour) -> u32 {
    if !holds(c, slo, b, 1) {
        return 0;
    }
    let mut lo = 1;
    let mut hi = 2;
    while holds(c, slo, b, hi) {
        lo = hi;
        hi *= 2;
        if hi > 1 << 16 {
            return lo;
        }
    }
    // lo holds, hi does not; stop at 2% resolution.
    while hi - lo > (lo / 50).max(1) {
        let mid = lo + (hi - lo) / 2;
        if holds(c, slo, b, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn main() {
    let cases = [
        Case {
            model: "llama2-7b",
            gpus: 1,
        },
        Case {
            model: "llama2-13b",
            gpus: 1,
        },
        Case {
            model: "llama2-70b",
            gpus: 4,
        },
    ];
    let slos = [
        Slo {
            name: "TTFT p95 <= 1 s, TPOT p95 <= 100 ms",
            ttft: "1s",
            tpot: "100ms",
            ttft_ms: 1000.0,
            tpot_ms: 100.0,
        },
        Slo {
            name: "TTFT p95 <= 10 s, TPOT p95 <= 250 ms",
            ttft: "10s",
            tpot: "250ms",
            ttft_ms: 10_000.0,
            tpot_ms: 250.0,
        },
    ];
    let behaviours = [
        Behaviour {
            name: "chat, 30 s think, continuous batching",
            think: "30s",
            batching: "{continuous: {}}",
        },
        Behaviour {
            name: "always busy (no think), continuous batching",
            think: "0s",
            batching: "{continuous: {}}",
        },
        Behaviour {
            name: "chat, 30 s think, no batching",
            think: "30s",
            batching: "none",
        },
    ];
    println!("| model | GPUs per replica | users | SLO | users per replica | users per GPU |");
    println!("|---|---|---|---|---|---|");
    for c in &cases {
        for b in &behaviours {
            for slo in &slos {
                let u = max_users(c, slo, b);
                println!(
                    "| {} | {} | {} | {} | {u} | {:.2} |",
                    c.model,
                    c.gpus,
                    b.name,
                    slo.name,
                    f64::from(u) / f64::from(c.gpus)
                );
            }
        }
    }
}
