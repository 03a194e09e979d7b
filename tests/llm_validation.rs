//! Held-out validation of the LLM serving model: measurements that no constant was fitted to
//! (the fitted ones are in `tests/llm_calibration.rs`). Each test names its source; the full
//! references are in `docs/sources.md`, and docs/llm.md's calibration section tabulates the
//! errors. The bounds are what the model achieves, stated honestly, not what we would like.
//!
//! `cargo test --release --test llm_validation -- --nocapture` prints every comparison.

mod common;
use capsim::sim::Report;
use common::{burst_tokens_per_s, rel, run};

/// A burst benchmark of LambdaLabsML/vllm-benchmark: Mistral-7B on one GPU with the server
/// flags of those runs, every request of `trace` sent at time zero.
fn mistral_burst(gpu: &str, engine: &str, trace: &str) -> Report {
    run(&format!(
        r#"
name: burst
seed: 1
duration: 90s
replications: 1
report_interval: 100ms
node_pools: [{{name: p, gpu: {gpu}, gpus_per_node: 8, nodes: 1}}]
services:
  - name: s
    model: mistral-7b
    node_pool: p
    batching:
      continuous: {{engine: {engine}, max_model_len: 2000, max_num_seqs: 1024, gpu_memory_utilization: 0.95}}
workloads:
  - service: s
    arrivals: {{trace: {{file: {trace}}}}}
"#
    ))
}

/// A closed loop on H100s of `users` requests of `isl` prompt and `osl` output tokens, each
/// user sending its next request as soon as the last one finished (a benchmark's concurrency).
fn on_h100(
    model: &str,
    tp: u32,
    users: u32,
    isl: u32,
    osl: u32,
    batching: &str,
    duration: &str,
) -> Report {
    run(&format!(
        r#"
name: concurrency
seed: 3
duration: {duration}
warmup: 3m
replications: 1
models:
  - {{name: llama31-8b-fp8, llm: {{based_on: llama3-8b, dtype: fp8}}}}
  - {{name: llama33-70b-fp8, llm: {{based_on: llama3-70b, dtype: fp8}}}}
node_pools: [{{name: p, gpu: h100-80gb, gpus_per_node: 8, nodes: 1}}]
services:
  - name: s
    model: {model}
    node_pool: p
    gpus_per_replica: {tp}
    batching: {{continuous: {{{batching}}}}}
workloads:
  - service: s
    arrivals: {{closed: {{users: {users}, think_time: 0s}}}}
    prompt_tokens: {{fixed: {isl}}}
    output_tokens: {{fixed: {osl}}}
"#
    ))
}

/// TensorRT-LLM (NIM's engine) as capsim can describe it: an in-flight batching scheduler
/// with chunked context under a token budget, which is `vllm-v1`'s scheduling, an FP8 KV
/// cache (NVIDIA's FP8 checkpoints quantize it), and no host cost on the critical path (a C++
/// runtime that overlaps its scheduling with the GPU). Only the GPU model is left to test.
const GPU_BOUND_ENGINE: &str =
    "engine: vllm-v1, kv_cache_dtype: fp8, iteration_overhead: 0s, sequence_overhead: 0s";

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
    // NVIDIA NeMo Framework docs, Llama-2 inference performance ("chatbot conversation": 128
    // input, 20 output tokens, batch 1, TP1): 234.0 ms per request on A100 80GB SXM4 and
    // 153.8 ms on H100 80GB HBM3 (a TensorRT-LLM engine).
    let a100 = single_request_latency_ms("llama2-7b", "a100-80gb", 128, 20);
    let h100 = single_request_latency_ms("llama2-7b", "h100-80gb", 128, 20);
    eprintln!(
        "NeMo Llama-2-7B 128/20 batch 1: A100 {a100:.1} ms (234.0), H100 {h100:.1} ms (153.8)"
    );
    assert!(rel(a100, 234.0) < 0.15, "A100 {a100}");
    assert!(rel(h100, 153.8) < 0.15, "H100 {h100}");
}

#[test]
fn vllm_054_bursts_on_an_h100_fall_between_the_two_v0_host_calibrations() {
    // LambdaLabsML/vllm-benchmark, vLLM 0.5.4 on 1x H100-80GB-SXM (2024-08-19), Mistral-7B,
    // the same server flags and prompts as the fitted A100 runs:
    // results/prompt_10/1xH100-80GB-SXM/Mistral-7B-Instruct-v0.3_tp1_len2000.json: TTFT mean
    // 57.6 ms over the nine requests that produced tokens (51.8 ms over ten), TPOT mean
    // 8.95 ms; results/prompt_320/1xH100-80GB-SXM/Mistral-7B-Instruct-v0.3_tp1_len2000.json:
    // 3,281 output tokens/s over 21.9 s, TTFT median 1,290 ms, TPOT median 41.5 ms.
    let mut tps = Vec::new();
    for engine in ["vllm-v0", "vllm-v0-0.5"] {
        let r = mistral_burst("h100-80gb", engine, "tests/data/sharegpt-10-h100.csv");
        let (ttft, tpot) = (r.mean("s", "ttft_mean_ms"), r.mean("s", "tpot_mean_ms"));
        let r320 = mistral_burst("h100-80gb", engine, "scenarios/traces/sharegpt-320.csv");
        let t = burst_tokens_per_s(&r320, "s");
        let (ttft50, tpot50) = (r320.mean("s", "ttft_p50_ms"), r320.mean("s", "tpot_p50_ms"));
        eprintln!(
            "H100 vLLM 0.5.4 as {engine}: burst10 TTFT mean {ttft:.1} ms (57.6), TPOT mean \
             {tpot:.2} ms (8.95); burst320 {t:.0} tokens/s (3281), TTFT median {ttft50:.0} ms \
             (1290), TPOT median {tpot50:.1} ms (41.5)"
        );
        // The light load and the prefill-bound first tokens are GPU physics: within 20%.
        assert!(rel(ttft, 57.6) < 0.2, "{engine} burst10 TTFT {ttft}");
        assert!(rel(tpot, 8.95) < 0.2, "{engine} burst10 TPOT {tpot}");
        assert!(
            rel(ttft50, 1290.0) < 0.2,
            "{engine} burst320 TTFT median {ttft50}"
        );
        tps.push((t, tpot50));
    }
    // Under a 320-sequence load the host's per-sequence cost decides, and it belongs to the
    // host as much as to the release: the 0.6.x calibration (A100 host) overshoots this
    // H100 host's throughput, the 0.5.4 one (another A100 host) undershoots it. The
    // measurement lies between them, each within 55%.
    let ((hi, tpot_lo), (lo, tpot_hi)) = (tps[0], tps[1]);
    assert!(lo < 3281.0 && 3281.0 < hi, "{lo} < 3281 < {hi}");
    assert!(
        tpot_lo < 41.5 && 41.5 < tpot_hi,
        "{tpot_lo} < 41.5 < {tpot_hi}"
    );
    assert!(
        rel(hi, 3281.0) < 0.55 && rel(lo, 3281.0) < 0.55,
        "{lo} {hi}"
    );
}

#[test]
fn llama_70b_fp8_on_two_h100s_follows_nims_concurrency_sweep() {
    // NVIDIA NIM LLM benchmarking guide v1.0.0, "Performance", Llama-3.3-70b-instruct, NIM
    // 1.8.0, 2 x H100 80G, fp8 TP2, 5000 input / 500 output tokens (AIPerf, fixed
    // concurrency): (concurrency, TTFT ms, ITL ms, output tokens/s).
    let nim = [
        (1, 406.77, 18.58, 51.67),
        (5, 546.7, 21.83, 218.48),
        (25, 688.69, 38.75, 623.4),
        (50, 834.51, 59.73, 814.37),
        (100, 7996.25, 92.91, 917.26),
        (250, 88605.32, 93.2, 920.12),
    ];
    for (c, ttft, itl, tput) in nim {
        let r = on_h100("llama33-70b-fp8", 2, c, 5000, 500, GPU_BOUND_ENGINE, "20m");
        let [s_ttft, s_itl, s_tput] =
            ["ttft_mean_ms", "tpot_mean_ms", "output_tokens_per_s"].map(|m| r.mean("s", m));
        eprintln!(
            "NIM 70B fp8 TP2 c={c}: TTFT {s_ttft:.0} ms ({ttft}), ITL {s_itl:.1} ms ({itl}), \
             {s_tput:.0} tokens/s ({tput})"
        );
        // Throughput and time per token within 20% from one user to saturation; the first
        // token within 50% (worst at 5 users, where arrivals collide in capsim's budget).
        assert!(rel(s_tput, tput) < 0.2, "c={c} throughput {s_tput}");
        assert!(rel(s_itl, itl) < 0.2, "c={c} ITL {s_itl}");
        assert!(rel(s_ttft, ttft) < 0.5, "c={c} TTFT {s_ttft}");
    }
}

#[test]
fn fp8_llamas_on_h100_reach_tensorrt_llms_maximum_throughput() {
    // NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md (commit 00f37686, the v1.0
    // tables), "Total Output Throughput (tokens/sec)" at an infinite request rate, FP8 models:
    // (ISL, OSL, Llama-3.1-8B on 1x H100, Llama-3.3-70B on 2x H100 TP2).
    let trt = [
        (128, 128, 28312.0, 6378.0),
        (128, 2048, 22714.0, 6651.0),
        (500, 2000, 17660.0, 5222.0),
        (1000, 1000, 15220.0, 4205.0),
        (2048, 128, 3450.0, 762.0),
        (2048, 2048, 9305.0, 3082.0),
        (5000, 500, 3459.0, 898.0),
    ];
    // trtllm-bench's engine admits up to 2,048 sequences; 3,000 users keep it full.
    let batching = format!("{GPU_BOUND_ENGINE}, max_num_seqs: 2048");
    for (isl, osl, t8, t70) in trt {
        let [s8, s70] = [("llama31-8b-fp8", 1), ("llama33-70b-fp8", 2)].map(|(m, tp)| {
            on_h100(m, tp, 3000, isl, osl, &batching, "10m").mean("s", "output_tokens_per_s")
        });
        eprintln!(
            "TensorRT-LLM max throughput {isl}/{osl}: 8B {s8:.0} ({t8}), 70B TP2 {s70:.0} ({t70})"
        );
        // Within 20%, except the 8B's 128/128 point, where a full 2,048-sequence batch of
        // short requests makes even TensorRT-LLM's host work show: 40%.
        let bound8 = if (isl, osl) == (128, 128) { 0.4 } else { 0.2 };
        assert!(rel(s8, t8) < bound8, "8B {isl}/{osl}: {s8}");
        assert!(rel(s70, t70) < 0.2, "70B {isl}/{osl}: {s70}");
    }
}

#[test]
fn decode_cost_grows_with_the_batch_as_vidurs_profiles_measure() {
    use capsim::engine::SimTime;
    use capsim::hardware::{GpuSharing, builtin_gpu, share};
    use capsim::models::llm::{IterShape, LlmCalibration, LlmCost, builtin_llm};
    // Vidur's operator profiles (microsoft/vidur, data/profiling/compute/{a100,h100}/
    // meta-llama/Llama-2-7b-hf/mlp.csv, tensor parallel 1, median ms of the four weight GEMMs
    // of one layer) at 1, 64, 128, 256 and 512 tokens. Only their large-token rows were used
    // (the efficiencies of tests/llm_calibration.rs); the batch growth is held out.
    let vidur = [
        ("a100-80gb", [0.266, 0.278, 0.3515, 0.5025, 0.953]),
        ("h100-80gb", [0.156, 0.162, 0.180, 0.260, 0.3285]),
    ];
    let tokens = [1u64, 64, 128, 256, 512];
    let arch = builtin_llm("llama2-7b").unwrap();
    let gemms = LlmCalibration {
        iteration_overhead: SimTime::ZERO,
        per_seq_overhead: SimTime::ZERO,
        ..LlmCalibration::default()
    };
    let mut at1 = Vec::new();
    for (gpu, measured) in vidur {
        let g = builtin_gpu(gpu).unwrap();
        let cost =
            LlmCost::new(&arch, &g, &share(&g, &GpuSharing::None).unwrap(), 1, &gemms).unwrap();
        let t = |n: u64| cost.iteration(&IterShape::decode(n, 0)).as_secs_f64();
        at1.push(t(1));
        for (i, &n) in tokens.iter().enumerate().skip(1) {
            let (sim, meas) = (t(n) / t(1), measured[i] / measured[0]);
            eprintln!(
                "Vidur {gpu} decode of {n} tokens / of 1: capsim {sim:.2}, measured {meas:.2}"
            );
            // The roofline's max() turns the corner sharply where real GEMMs of 128-256 rows
            // neither stream at full bandwidth nor compute at full rate: up to 40% low there,
            // within 15% away from the ridge.
            let bound = if (128..=256).contains(&n) { 0.4 } else { 0.15 };
            assert!(rel(sim, meas) < bound, "{gpu} {n}: {sim} vs {meas}");
        }
    }
    // A memory-bound step: the H100/A100 speed ratio is the bandwidth ratio, measured 1.71.
    let ratio = at1[0] / at1[1];
    eprintln!("Vidur decode of one token, A100/H100: capsim {ratio:.2}, measured 1.71");
    assert!(rel(ratio, 0.266 / 0.156) < 0.1, "{ratio}");
}
