//! Calibration of the LLM serving model on the public vLLM measurements of FACTS.md
//! (`scenarios/vllm-mistral-burst.yaml` replays them), and validation on measurements that
//! were not used to calibrate it.
//!
//! What was fitted to what (everything else is a datasheet or a published efficiency):
//! - `prefill_non_gemm` (0.5) to the TTFT of ten prompts prefilled together;
//! - the iteration overhead (2 ms) to the TPOT of that light load;
//! - the per-sequence overhead of `vllm-0.6` (50 us) to the 320-prompt burst's output tokens/s
//!   in the same vLLM 0.6-style run, and of `vllm-0.5` (350 us) to vLLM 0.5.4's 1,591 tokens/s.
//!
//! `cargo test --release --test llm_calibration -- --nocapture` prints the figures.

mod common;
use capsim::sim::{Report, simulate};
use common::{rel, run};
use std::path::Path;

fn burst(overrides: &[&str]) -> Report {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let plan = capsim::scenario::plan_file(Path::new("scenarios/vllm-mistral-burst.yaml"), &o)
        .expect("the calibration scenario is valid");
    simulate(&plan, false)
}

/// Seconds from the burst until the last request of `service` finished: the benchmark's
/// `duration`, read from the timeseries (100 ms resolution).
fn makespan(r: &Report, service: &str) -> f64 {
    r.timeseries
        .iter()
        .filter(|(_, c, m, v)| {
            c == service && (*m == "in_flight" || *m == "queue_length") && *v > 0.0
        })
        .map(|(t, ..)| *t)
        .fold(0.0, f64::max)
}

/// Output tokens per second of a burst, as vLLM's benchmark_serving.py computes it: all
/// output tokens over the time until the last request finished.
fn burst_tokens_per_s(r: &Report, service: &str) -> f64 {
    let tokens = r.mean(service, "output_tokens_mean") * r.mean(service, "completed");
    tokens / makespan(r, service)
}

#[test]
fn mistral_7b_on_a100_reproduces_the_vllm_measurements() {
    let r = burst(&[]);
    // Ten prompts at once (LambdaLabsML/vllm-benchmark, results/prompt_10/1xA100-80GB-SXM/
    // Mistral-7B-Instruct-v0.3_tp1_len2000.json): TTFT mean 138.2 ms over ten requests, one
    // of which produced no token and counts as 0, so 153.6 ms over the nine that did (their
    // median is 153.5 ms); TPOT mean 12.1 ms.
    let ttft = r.mean("burst10", "ttft_mean_ms");
    let tpot = r.mean("burst10", "tpot_mean_ms");
    // 320 prompts at once in the same vLLM 0.6-style run (results/prompt_320/...): 3,052
    // output tokens/s, TTFT median 3,505 ms, TPOT median 38.4 ms.
    let tps = burst_tokens_per_s(&r, "burst320");
    let ttft50 = r.mean("burst320", "ttft_p50_ms");
    let tpot50 = r.mean("burst320", "tpot_p50_ms");
    // The same prompts with vLLM 0.5.4: 1,591 output tokens/s (benchmark_v0.md), FACTS.md's
    // "output tokens/s under load".
    let tps05 = burst_tokens_per_s(&r, "burst320_v05");
    eprintln!(
        "burst10: TTFT mean {ttft:.1} ms (measured 153.6), TPOT mean {tpot:.2} ms (12.1)\n\
         burst320 vllm-0.6: {tps:.0} tokens/s (3052) over {:.1} s (23.4), TTFT median \
         {ttft50:.0} ms (3505), TPOT median {tpot50:.1} ms (38.4)\n\
         burst320 vllm-0.5: {tps05:.0} tokens/s (1591)",
        makespan(&r, "burst320")
    );
    assert!(rel(ttft, 153.6) < 0.15, "TTFT {ttft}");
    assert!(rel(tpot, 12.1) < 0.15, "TPOT {tpot}");
    assert!(rel(tps, 3052.0) < 0.15, "tokens/s {tps}");
    assert!(rel(ttft50, 3505.0) < 0.15, "TTFT median {ttft50}");
    assert!(rel(tpot50, 38.4) < 0.15, "TPOT median {tpot50}");
    assert!(rel(tps05, 1591.0) < 0.15, "tokens/s {tps05}");
}

#[test]
fn llama2_7b_prefill_matrix_multiplies_run_at_vidurs_efficiency() {
    use capsim::hardware::{GpuSharing, builtin_gpu, share};
    use capsim::models::llm::{IterShape, LlmCalibration, LlmCost, builtin_llm};
    let gpu = builtin_gpu("a100-80gb").unwrap();
    let whole = share(&gpu, &GpuSharing::None).unwrap();
    let arch = builtin_llm("llama2-7b").unwrap();
    // The matrix multiplies alone: no overheads, no other operators.
    let gemm_only = LlmCalibration {
        prefill_non_gemm: 0.0,
        iteration_overhead: capsim::engine::SimTime::ZERO,
        per_seq_overhead: capsim::engine::SimTime::ZERO,
        attention_efficiency: 1.0,
        ..LlmCalibration::default()
    };
    let cost = LlmCost::new(&arch, &gpu, &whole, 1, &gemm_only).unwrap();
    let tokens = 4096;
    let t = cost
        .iteration(&IterShape {
            prefill_tokens: tokens,
            prefill_seqs: 1,
            ..Default::default()
        })
        .as_secs_f64();
    let mfu = arch.linear_flops_per_token() * tokens as f64 / t / 312e12;
    // Vidur (microsoft/vidur, data/profiling): large prefill GEMMs of Llama-2-7B on an A100
    // reach about 72% of the 312 TFLOPS peak.
    assert!(rel(mfu, 0.72) < 0.15, "GEMM MFU {mfu}");
    // End to end, with attention, the other operators and the overheads, a 2048-token
    // prefill reaches about half of the peak (what the vLLM TTFT measurements imply).
    let full = LlmCost::new(&arch, &gpu, &whole, 1, &LlmCalibration::default()).unwrap();
    let tokens = 2048;
    let pairs = (tokens * (tokens + 1) / 2) as f64;
    let t = full
        .iteration(&IterShape {
            prefill_tokens: tokens,
            prefill_pairs: pairs,
            prefill_seqs: 1,
            ..Default::default()
        })
        .as_secs_f64();
    let mfu = (arch.linear_flops_per_token() * tokens as f64 + arch.attn_flops_per_pair() * pairs)
        / t
        / 312e12;
    eprintln!("Llama-2-7B 2048-token prefill on A100: end-to-end MFU {mfu:.3}");
    assert!((0.40..0.55).contains(&mfu), "end-to-end MFU {mfu}");
}

/// One request alone (batch 1) of `prompt` tokens generating `output`, on `gpu`.
fn single_request_latency_ms(model: &str, gpu: &str, prompt: u32, output: u32) -> f64 {
    let r = run(&format!(
        r#"
name: single
duration: 10m
replications: 1
node_pools: [{{name: p, gpu: {gpu}, gpus_per_node: 8, nodes: 1}}]
services: [{{name: s, model: {model}, node_pool: p}}]
workloads:
  - service: s
    arrivals: {{closed: {{users: 1, think_time: 1s}}}}
    prompt_tokens: {{fixed: {prompt}}}
    output_tokens: {{fixed: {output}}}
"#
    ));
    r.mean("s", "latency_mean_ms")
}

#[test]
fn llama2_7b_batch_1_latency_matches_nvidia_nemo_on_a100_and_h100() {
    // Not used in the calibration. NVIDIA NeMo Framework docs, Llama-2 inference performance
    // ("chatbot conversation": 128 input, 20 output tokens, batch 1, TP1): 234.0 ms per request
    // on A100 80GB SXM4 and 153.8 ms on H100 80GB HBM3 (a TensorRT-LLM engine).
    let a100 = single_request_latency_ms("llama2-7b", "a100-80gb", 128, 20);
    let h100 = single_request_latency_ms("llama2-7b", "h100-80gb", 128, 20);
    eprintln!("Llama-2-7B 128/20 batch 1: A100 {a100:.1} ms (234.0), H100 {h100:.1} ms (153.8)");
    assert!(rel(a100, 234.0) < 0.15, "A100 {a100}");
    assert!(rel(h100, 153.8) < 0.15, "H100 {h100}");
}
