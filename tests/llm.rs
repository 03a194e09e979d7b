//! LLM serving: the continuous-batching engine and the roofline cost, end to end through
//! the simulator, against physics bounds, public measurements and orderings that must hold.

mod common;
use common::{plan, run};

/// One service of `model` on `gpu` (tensor parallel over `tp` GPUs) with `users` closed-loop
/// users thinking `think`, prompts and outputs of fixed length.
#[allow(clippy::too_many_arguments)]
fn closed_yaml(
    model: &str,
    gpu: &str,
    tp: u32,
    users: u32,
    think: &str,
    prompt: u32,
    output: u32,
    batching: &str,
    duration: &str,
) -> String {
    format!(
        r#"
name: llm
seed: 5
duration: {duration}
warmup: 20s
replications: 2
report_interval: 10s
models:
  - {{name: llama2-7b-int8, llm: {{based_on: llama2-7b, dtype: int8}}}}
node_pools:
  - {{name: p, gpu: {gpu}, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 2}}
services:
  - name: s
    model: {model}
    node_pool: p
    gpus_per_replica: {tp}
    batching: {batching}
workloads:
  - service: s
    arrivals: {{closed: {{users: {users}, think_time: {think}}}}}
    prompt_tokens: {{fixed: {prompt}}}
    output_tokens: {{fixed: {output}}}
"#
    )
}

fn continuous() -> &'static str {
    "{continuous: {}}"
}

#[test]
fn little_law_holds_and_every_token_is_counted() {
    let r = run(&closed_yaml(
        "llama2-7b",
        "a100-80gb",
        1,
        64,
        "2s",
        300,
        100,
        continuous(),
        "3m",
    ));
    assert!(r.mean("s", "littles_law_error") < 0.01);
    assert_eq!(r.mean("s", "output_tokens_mean"), 100.0);
    assert_eq!(r.mean("s", "prompt_tokens_mean"), 300.0);
    // Tokens per second = completions per second x 100 tokens, up to the iterations in
    // flight at the window's edges.
    let tps = r.mean("s", "output_tokens_per_s");
    let rps = r.mean("s", "throughput_rps");
    assert!(common::rel(tps, rps * 100.0) < 0.02, "{tps} vs {rps}");
}

/// Mean TPOT and TTFT of a light closed load (4 users, 2 s think) of `model` on `gpu`.
fn light(model: &str, gpu: &str, tp: u32) -> (f64, f64) {
    let r = run(&closed_yaml(
        model,
        gpu,
        tp,
        4,
        "2s",
        512,
        128,
        continuous(),
        "2m",
    ));
    (r.mean("s", "tpot_mean_ms"), r.mean("s", "ttft_mean_ms"))
}

#[test]
fn no_decode_beats_the_memory_floor_and_no_prefill_beats_peak_compute() {
    use capsim::hardware::{GpuSharing, builtin_gpus, share};
    use capsim::models::llm::{LlmCalibration, LlmCost, builtin_llms};
    for gpu in builtin_gpus() {
        let whole = share(&gpu, &GpuSharing::None).unwrap();
        for arch in builtin_llms() {
            for tp in [1u32, 2, 4, 8] {
                let Ok(cost) = LlmCost::new(&arch, &gpu, &whole, tp, &LlmCalibration::default())
                else {
                    continue;
                };
                if cost.kv_capacity_tokens(0.9, 4096, 2048).is_err() {
                    continue;
                }
                // Weight bytes over the raw HBM bandwidth: no decode step is faster.
                let floor = arch.weight_bytes() / f64::from(tp) / gpu.bandwidth_bytes_per_s;
                // FLOPs over the raw peak of the weights' arithmetic: no prefill is faster.
                let peak = arch.dtype.peak_ops(&gpu).unwrap() * f64::from(tp);
                for b in [1u64, 8, 64, 256] {
                    let t = cost.iteration(&capsim::models::llm::IterShape {
                        decode_seqs: b,
                        decode_ctx_tokens: b * 600,
                        ..Default::default()
                    });
                    assert!(
                        t.as_secs_f64() >= floor,
                        "{} on {} tp{tp}: decode of {b} in {t} under {floor} s",
                        arch.name,
                        gpu.name
                    );
                }
                for n in [16u64, 512, 4096] {
                    let t = cost.iteration(&capsim::models::llm::IterShape {
                        prefill_tokens: n,
                        prefill_pairs: (n * (n + 1) / 2) as f64,
                        prefill_seqs: 1,
                        ..Default::default()
                    });
                    let flops = arch.linear_flops_per_token() * n as f64;
                    assert!(
                        t.as_secs_f64() >= flops / peak,
                        "{} on {} tp{tp}: prefill of {n} faster than peak",
                        arch.name,
                        gpu.name
                    );
                }
            }
        }
    }
}

#[test]
fn simulated_tpot_and_ttft_respect_the_physics_of_each_gpu() {
    use capsim::hardware::builtin_gpu;
    use capsim::models::llm::builtin_llm;
    let arch = builtin_llm("llama2-7b").unwrap();
    for gpu in ["a100-80gb", "h100-80gb", "h200", "v100-32gb"] {
        let g = builtin_gpu(gpu).unwrap();
        let (tpot, ttft) = light("llama2-7b", gpu, 1);
        let floor_ms = arch.weight_bytes() / g.bandwidth_bytes_per_s * 1e3;
        let prefill_ms = arch.linear_flops_per_token() * 512.0 / (g.fp16_tflops * 1e12) * 1e3;
        assert!(tpot >= floor_ms, "{gpu}: TPOT {tpot} under {floor_ms}");
        assert!(ttft >= prefill_ms, "{gpu}: TTFT {ttft} under {prefill_ms}");
    }
}

#[test]
fn tpot_orders_the_gpus_h200_h100_a100_v100_t4() {
    // The same model on every GPU: Llama-2-7B in int8 fits a T4 too.
    let tpot: Vec<(String, f64)> = ["h200", "h100-80gb", "a100-80gb", "v100-32gb", "t4"]
        .iter()
        .map(|g| (g.to_string(), light("llama2-7b-int8", g, 1).0))
        .collect();
    eprintln!("TPOT at light load: {tpot:?}");
    for w in tpot.windows(2) {
        assert!(w[0].1 < w[1].1, "{tpot:?}");
    }
}

#[test]
fn bigger_models_are_slower_per_token() {
    let t7 = light("llama2-7b", "a100-80gb", 1).0;
    let t13 = light("llama2-13b", "a100-80gb", 1).0;
    let t70 = light("llama2-70b", "a100-80gb", 4).0;
    let t70x8 = light("llama2-70b", "a100-80gb", 8).0;
    eprintln!("TPOT on A100: 7B {t7:.1}, 13B {t13:.1}, 70B tp4 {t70:.1}, 70B tp8 {t70x8:.1} ms");
    assert!(t7 < t13 && t13 < t70, "{t7} {t13} {t70}");
    // More GPUs per replica cut the per-token time (the weights are split) but not in
    // proportion (all-reduces, overheads).
    assert!(t70x8 < t70 && t70x8 > t70 / 2.0, "{t70} {t70x8}");
}

#[test]
fn throughput_rises_with_batch_size_and_flattens_when_the_kv_cache_is_full() {
    // Llama-2-13B on an A100-40GB (40,960 MiB x 0.9, less 24.2 GiB of weights, the activation
    // reserve and 1 GiB) leaves about 10 GiB of KV cache at 800 KiB a token: ~13k tokens, room
    // for about twenty 640-token sequences. 256 users with no think time keep the engine full.
    let tput = |seqs: u32| {
        let r = run(&closed_yaml(
            "llama2-13b",
            "a100-40gb",
            1,
            256,
            "0s",
            512,
            128,
            &format!("{{continuous: {{max_num_seqs: {seqs}}}}}"),
            "2m",
        ));
        (
            r.mean("s", "output_tokens_per_s"),
            r.mean("s", "kv_cache_utilization"),
            r.mean("s", "preemptions"),
            r.mean("s", "batch_size_mean"),
        )
    };
    let points: Vec<(u32, (f64, f64, f64, f64))> = [1, 2, 4, 8, 16, 32, 64, 256]
        .iter()
        .map(|&s| (s, tput(s)))
        .collect();
    eprintln!("max_num_seqs -> (tokens/s, KV use, preemptions, batch): {points:#?}");
    // Rising while the cache has room: each doubling adds at least 40%.
    for w in points[..5].windows(2) {
        assert!(w[1].1.0 > 1.4 * w[0].1.0, "{points:?}");
    }
    // Flat once the cache is full: 64 and 256 allowed sequences run no faster than 32
    // (within 5%), with the cache nearly full, fewer than 32 sequences running and preemptions.
    let at32 = points[5].1.0;
    for p in &points[5..] {
        assert!(p.1.0 < 1.05 * at32, "{points:?}");
        assert!(p.1.1 > 0.85, "{points:?}");
        assert!(p.1.3 < 32.0, "{points:?}");
    }
    assert!(points[7].1.2 > 0.0, "{points:?}");
}

#[test]
fn tensor_parallel_70b_serves_and_reports_per_gpu_figures() {
    let r = run(&closed_yaml(
        "llama2-70b",
        "a100-80gb",
        4,
        32,
        "5s",
        512,
        128,
        continuous(),
        "2m",
    ));
    assert_eq!(r.mean("s", "gpus"), 4.0);
    assert_eq!(r.mean("s", "users_per_gpu"), 8.0);
    let tps = r.mean("s", "output_tokens_per_s");
    assert!(common::rel(r.mean("s", "output_tokens_per_s_per_gpu"), tps / 4.0) < 1e-9);
    assert!(r.mean("s", "tpot_mean_ms") > 0.0);
}

#[test]
fn shared_queue_and_per_replica_routing_both_serve_everything() {
    for routing in ["shared_queue", "least_outstanding", "random"] {
        let yaml = closed_yaml(
            "llama2-7b",
            "a100-80gb",
            1,
            100,
            "3s",
            256,
            64,
            continuous(),
            "2m",
        )
        .replace(
            "    gpus_per_replica: 1\n",
            &format!("    gpus_per_replica: 1\n    replicas: 3\n    routing: {routing}\n"),
        );
        let r = run(&yaml);
        assert!(r.mean("s", "completed") > 1000.0, "{routing}");
        assert!(r.mean("s", "littles_law_error") < 0.01, "{routing}");
        assert_eq!(r.mean("s", "dropped"), 0.0, "{routing}");
    }
}

#[test]
fn chunked_prefill_bounds_every_iteration_and_keeps_decodes_going() {
    let base = |batching: &str| {
        run(&closed_yaml(
            "llama2-7b",
            "a100-80gb",
            1,
            64,
            "1s",
            1500,
            64,
            batching,
            "2m",
        ))
    };
    // The V0 scheduler prefills whole prompts unless told to chunk them.
    let whole = base("{continuous: {engine: vllm-v0}}");
    let chunked =
        base("{continuous: {engine: vllm-v0, chunked_prefill: true, max_batch_tokens: 512}}");
    // Long prompts interrupt decodes less when chunked: the worst TPOT drops.
    let (w, c) = (
        whole.mean("s", "tpot_p99_ms"),
        chunked.mean("s", "tpot_p99_ms"),
    );
    eprintln!("TPOT p99: whole prompts {w:.1} ms, chunked {c:.1} ms");
    assert!(c < w, "{w} {c}");
    // Every iteration of the chunked engine stays within its 512-token budget.
    assert!(chunked.mean("s", "service_time_mean_ms") < whole.mean("s", "service_time_mean_ms"));
}

#[test]
fn slo_attainment_counts_ttft_and_tpot() {
    let yaml = closed_yaml(
        "llama2-7b",
        "a100-80gb",
        1,
        8,
        "2s",
        512,
        64,
        continuous(),
        "2m",
    );
    let met = run(&yaml.replace(
        "    batching: {continuous: {}}\n",
        "    batching: {continuous: {}}\n    slo: {ttft_p95: 1s, tpot_p95: 100ms}\n",
    ));
    assert_eq!(met.mean("s", "slo_attainment"), 1.0);
    assert_eq!(met.mean("s", "slo_met"), 1.0);
    let missed = run(&yaml.replace(
        "    batching: {continuous: {}}\n",
        "    batching: {continuous: {}}\n    slo: {tpot_p95: 5ms}\n",
    ));
    assert_eq!(missed.mean("s", "slo_attainment"), 0.0);
    assert_eq!(missed.mean("s", "slo_met"), 0.0);
}

/// Validating `yaml` fails with exit code 2 and a message containing every needle.
fn refused(yaml: &str, needles: &[&str]) {
    let path = std::env::temp_dir().join(format!(
        "capsim-llm-bad-{}-{}.yaml",
        std::process::id(),
        needles[0].len() * 31 + needles.len()
    ));
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected `{n}` in\n{err}");
    }
}

#[test]
fn models_that_do_not_fit_and_bad_engine_settings_are_refused() {
    let good = closed_yaml(
        "llama2-7b",
        "a100-80gb",
        1,
        8,
        "2s",
        512,
        64,
        continuous(),
        "2m",
    );
    let _ = plan(&good);
    refused(
        &good
            .replace("model: llama2-7b", "model: llama2-70b")
            .replace("gpu: a100-80gb", "gpu: t4"),
        &[
            "services[0].model",
            "needs about 128 GiB for its weights, one t4 has 15.0 GiB (15360 MiB)",
        ],
    );
    refused(
        &good.replace("gpus_per_replica: 1", "gpus_per_replica: 3"),
        &["gpus_per_replica", "1, 2, 4 or 8"],
    );
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {dynamic: {max_batch: 8}}",
        ),
        &["services[0].batching", "continuous batching"],
    );
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {engine: vllm-v0, max_batch_tokens: 1000}}",
        ),
        &["max_batch_tokens", "smaller than max_model_len"],
    );
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {gpu_memory_utilization: 1.5}}",
        ),
        &["gpu_memory_utilization"],
    );
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {max_num_seqs: 1e12}}",
        ),
        &["max_num_seqs", "65536"],
    );
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {engine: vllm-9}}",
        ),
        &["engine", "unknown engine `vllm-9`", "vllm-v1"],
    );
    // Renamed presets point to their new names.
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {engine: vllm-0.6}}",
        ),
        &["engine", "is now `vllm-v0`"],
    );
    // vLLM's V1 scheduler has no whole-prompt mode.
    refused(
        &good.replace(
            "batching: {continuous: {}}",
            "batching: {continuous: {chunked_prefill: false}}",
        ),
        &["chunked_prefill", "always chunks prefills"],
    );
    refused(
        &good.replace("    prompt_tokens: {fixed: 512}\n", ""),
        &["workloads[0]", "prompt_tokens"],
    );
    refused(
        &good.replace(
            "{name: llama2-7b-int8, llm: {based_on: llama2-7b, dtype: int8}}",
            "{name: llama2-7b-int8, llm: {based_on: llama2-7b, kv_heads: 7}}",
        ),
        &["models[0].llm"],
    );
    refused(
        &good
            .replace("model: llama2-7b\n", "model: fp8-7b\n")
            .replace(
                "{name: llama2-7b-int8, llm: {based_on: llama2-7b, dtype: int8}}",
                "{name: fp8-7b, llm: {based_on: llama2-7b, dtype: fp8}}",
            ),
        &["fp8"],
    );
}

#[test]
fn saturation_is_judged_by_the_queue_not_by_an_always_iterating_engine() {
    let open = |rate: &str| {
        run(&closed_yaml(
            "llama2-7b",
            "a100-80gb",
            1,
            1,
            "1s",
            512,
            128,
            continuous(),
            "4m",
        )
        .replace(
            "{closed: {users: 1, think_time: 1s}}",
            &format!("{{poisson: {{rate: {rate}}}}}"),
        ))
    };
    // 5 requests/s keep the engine iterating all the time (utilization 1) with a batch of
    // about 15: busy, not saturated.
    let busy = open("5/s");
    assert!(busy.mean("s", "gpu_utilization") > 0.99);
    assert_eq!(busy.mean("s", "saturated"), 0.0);
    // 30 requests/s is more than its prefills alone can take.
    let over = open("30/s");
    assert_eq!(over.mean("s", "saturated"), 1.0);
}
