//! Calibration of the LLM serving model: the *fitted* side. Each figure here was used to set a
//! constant (or is a published efficiency taken as an input); the held-out comparisons, which
//! fit nothing, are in `tests/llm_validation.rs`. Sources: `docs/sources.md`.
//!
//! What was fitted to what (everything else is a datasheet or a published efficiency):
//! - `prefill_non_gemm` (0.5) to the TTFT of ten prompts prefilled together (vLLM 0.6.x, A100);
//! - the iteration overhead (2 ms) to the TPOT of that light load;
//! - the per-sequence overhead of `vllm-v0` (50 us) to the 320-prompt burst's output tokens/s
//!   in the same vLLM 0.6.x run, and of `vllm-v0-0.5` (350 us) to vLLM 0.5.4's 1,591 tokens/s.
//!   `vllm-v1` carries the `vllm-v0` host costs over (no V1 measurement is in this set).
//!
//! Inputs taken from published profiles: the 72% GEMM efficiency on A100 and the H100's equal
//! share of its own peak (Vidur's operator profiles).
//!
//! `cargo test --release --test llm_calibration -- --nocapture` prints the figures.

mod common;
use capsim::sim::{Report, simulate};
use common::{burst_tokens_per_s, makespan, rel};
use std::path::Path;

fn burst(overrides: &[&str]) -> Report {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let plan = capsim::scenario::plan_file(Path::new("scenarios/vllm-mistral-burst.yaml"), &o)
        .expect("the calibration scenario is valid");
    simulate(&plan, false).expect("within the event budget")
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
         burst320 vllm-v0: {tps:.0} tokens/s (3052) over {:.1} s (23.4), TTFT median \
         {ttft50:.0} ms (3505), TPOT median {tpot50:.1} ms (38.4)\n\
         burst320 vllm-v0-0.5: {tps05:.0} tokens/s (1591)",
        makespan(&r, "burst320")
    );
    assert!(rel(ttft, 153.6) < 0.15, "TTFT {ttft}");
    assert!(rel(tpot, 12.1) < 0.15, "TPOT {tpot}");
    assert!(rel(tps, 3052.0) < 0.15, "tokens/s {tps}");
    assert!(rel(ttft50, 3505.0) < 0.15, "TTFT median {ttft50}");
    assert!(rel(tpot50, 38.4) < 0.15, "TPOT median {tpot50}");
    assert!(rel(tps05, 1591.0) < 0.15, "tokens/s {tps05}");
}

/// Share of `gpu`'s dense FP16 peak (`peak` FLOP/s) the model's weight matrix multiplies reach
/// on a `tokens`-token prefill of Llama-2-7B: no overheads, no other operators.
fn llama2_7b_gemm_mfu(gpu: &str, peak: f64, tokens: u64) -> f64 {
    use capsim::hardware::{GpuSharing, builtin_gpu, share};
    use capsim::models::llm::{IterShape, LlmCalibration, LlmCost, builtin_llm};
    let gpu = builtin_gpu(gpu).unwrap();
    let whole = share(&gpu, &GpuSharing::None).unwrap();
    let arch = builtin_llm("llama2-7b").unwrap();
    let gemm_only = LlmCalibration {
        prefill_non_gemm: 0.0,
        iteration_overhead: capsim::engine::SimTime::ZERO,
        per_seq_overhead: capsim::engine::SimTime::ZERO,
        attention_efficiency: 1.0,
        ..LlmCalibration::default()
    };
    let cost = LlmCost::new(&arch, &gpu, &whole, 1, &gemm_only).unwrap();
    let t = cost
        .iteration(&IterShape {
            prefill_tokens: tokens,
            prefill_seqs: 1,
            ..Default::default()
        })
        .as_secs_f64();
    arch.linear_flops_per_token() * tokens as f64 / t / peak
}

#[test]
fn llama2_7b_prefill_matrix_multiplies_run_at_vidurs_efficiency() {
    use capsim::hardware::{GpuSharing, builtin_gpu, share};
    use capsim::models::llm::{IterShape, LlmCalibration, LlmCost, builtin_llm};
    // Vidur (microsoft/vidur, data/profiling): large prefill GEMMs of Llama-2-7B on an A100
    // reach about 72% of the 312 TFLOPS peak.
    let mfu = llama2_7b_gemm_mfu("a100-80gb", 312e12, 4096);
    assert!(rel(mfu, 0.72) < 0.15, "GEMM MFU {mfu}");
    // End to end, with attention, the other operators and the overheads, a 2048-token
    // prefill reaches about half of the peak (what the vLLM TTFT measurements imply).
    let gpu = builtin_gpu("a100-80gb").unwrap();
    let whole = share(&gpu, &GpuSharing::None).unwrap();
    let arch = builtin_llm("llama2-7b").unwrap();
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

#[test]
fn h100_llm_matrix_multiplies_reach_the_same_share_of_peak_as_on_a100() {
    // Vidur's H100 profiles (microsoft/vidur, data/profiling/compute/h100/meta-llama/
    // Llama-2-7b-hf/mlp.csv, tensor parallel 1): the four weight GEMMs of one layer take
    // 1.080 ms for 2,048 tokens and 2.222 ms for 4,096, i.e. 78% and 75% of 989 TFLOPS; the
    // A100 profile gives 70% and 72% of 312. The model's H100 GEMMs must land in that range
    // (give or take the LM head and embeddings the model adds).
    for tokens in [2048u64, 4096] {
        let mfu = llama2_7b_gemm_mfu("h100-80gb", 989e12, tokens);
        eprintln!("Llama-2-7B {tokens}-token GEMMs on H100: {mfu:.3} of peak (Vidur 0.75-0.78)");
        assert!((0.66..0.80).contains(&mfu), "H100 GEMM MFU {mfu}");
    }
}
