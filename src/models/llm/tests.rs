//! Unit tests of the architectures, the spec and the iteration cost.

use super::*;
use crate::engine::SimTime;
use crate::error::FieldError;
use crate::hardware::{GpuProfile, GpuSharing, Share, builtin_gpu, builtin_gpus, share};

fn gpu(name: &str) -> GpuProfile {
    builtin_gpu(name).unwrap()
}

fn whole(g: &GpuProfile) -> Share {
    share(g, &GpuSharing::None).unwrap()
}

fn llm(name: &str) -> LlmArch {
    builtin_llm(name).unwrap()
}

/// The cost of `model` on `tp` whole `g` GPUs with the default calibration.
fn cost(model: &str, g: &str, tp: u32) -> LlmCost {
    let g = gpu(g);
    LlmCost::new(&llm(model), &g, &whole(&g), tp, &LlmCalibration::default()).unwrap()
}

fn ms(t: SimTime) -> f64 {
    t.as_millis_f64()
}

#[test]
fn config_arithmetic() {
    // The configs' exact counts (see builtin_llms) and the published sizes.
    let published = [
        ("llama2-7b", 6.74e9),
        ("llama2-13b", 13.0e9),
        ("llama2-70b", 69.0e9),
        ("llama3-8b", 8.03e9),
        ("llama3-70b", 70.6e9),
        ("mistral-7b", 7.24e9),
    ];
    for (name, n) in published {
        let m = llm(name);
        assert_eq!(m.llama_shape_params(), m.params, "{name}");
        assert!((m.params / n - 1.0).abs() < 0.01, "{name}: {}", m.params);
        assert_eq!(m.head_dim(), 128, "{name}");
    }
    // GPT-3: 12 d^2 per layer plus the shared token matrix, within 1% of 175B.
    let g = llm("gpt3-175b");
    let d = 12288.0;
    let est = 96.0 * 12.0 * d * d + 50257.0 * d;
    assert!((g.params / est - 1.0).abs() < 0.01, "{est}");
    assert_eq!(g.head_dim(), 128);
    assert_eq!(builtin_llms().len(), 7);
    assert_eq!(
        builtin_llm_names(),
        "llama2-7b, llama2-13b, llama2-70b, llama3-8b, llama3-70b, mistral-7b, gpt3-175b"
    );
}

#[test]
fn kv_and_flops_per_token() {
    // 2 x 32 layers x 32 heads x 128 x 2 B = 512 KiB.
    assert_eq!(llm("llama2-7b").kv_bytes_per_token(), 512.0 * 1024.0);
    // 2 x 40 x 40 x 128 x 2 = 800 KiB.
    assert_eq!(llm("llama2-13b").kv_bytes_per_token(), 800.0 * 1024.0);
    // GQA: 2 x 80 x 8 x 128 x 2 = 320 KiB.
    assert_eq!(llm("llama2-70b").kv_bytes_per_token(), 320.0 * 1024.0);
    assert_eq!(llm("llama3-70b").kv_bytes_per_token(), 320.0 * 1024.0);
    // 2 x 32 x 8 x 128 x 2 = 128 KiB.
    assert_eq!(llm("llama3-8b").kv_bytes_per_token(), 128.0 * 1024.0);
    assert_eq!(llm("mistral-7b").kv_bytes_per_token(), 128.0 * 1024.0);
    // 2 x 96 x 96 x 128 x 2 = 4.5 MiB.
    assert_eq!(llm("gpt3-175b").kv_bytes_per_token(), 4608.0 * 1024.0);

    let m = llm("llama2-7b");
    assert_eq!(m.weight_bytes(), 6_738_415_616.0 * 2.0);
    assert_eq!(
        m.linear_flops_per_token(),
        2.0 * (6_738_415_616.0 - 32000.0 * 4096.0)
    );
    assert_eq!(m.attn_flops_per_pair(), 4.0 * 32.0 * 32.0 * 128.0);
    // Tied embeddings: every stored weight is multiplied (the matrix is the LM head).
    assert_eq!(llm("gpt3-175b").linear_flops_per_token(), 2.0 * 175e9);
    let int8 = LlmArch {
        dtype: WeightDtype::Int8,
        ..llm("llama2-70b")
    };
    assert_eq!(int8.weight_bytes(), 68_976_648_192.0);
}

#[test]
fn dtype_peaks() {
    let a = gpu("a100-80gb");
    let h = gpu("h100-80gb");
    assert_eq!(WeightDtype::Fp16.peak_ops(&a).unwrap(), 312e12);
    assert_eq!(WeightDtype::Bf16.peak_ops(&a).unwrap(), 312e12);
    assert_eq!(WeightDtype::Int8.peak_ops(&a).unwrap(), 624e12);
    assert_eq!(WeightDtype::Fp8.peak_ops(&h).unwrap(), 1979e12);
    assert_eq!(
        WeightDtype::Fp8.peak_ops(&a).unwrap_err(),
        "fp8 weights need a GPU with FP8 tensor cores (H100, H200); a100-80gb has none"
    );
    let fp8 = LlmArch {
        dtype: WeightDtype::Fp8,
        ..llm("llama3-8b")
    };
    let e = LlmCost::new(&fp8, &a, &whole(&a), 1, &LlmCalibration::default()).unwrap_err();
    assert!(e.contains("a100-80gb has none"), "{e}");
    assert!(LlmCost::new(&fp8, &h, &whole(&h), 1, &LlmCalibration::default()).is_ok());
    assert_eq!(WeightDtype::Bf16.to_string(), "bf16");
}

#[test]
fn empty_shape_costs_nothing() {
    let c = cost("llama2-7b", "a100-80gb", 2);
    assert_eq!(c.iteration(&IterShape::default()), SimTime::ZERO);
    assert_eq!(c.iteration(&IterShape::prefill(0)), SimTime::ZERO);
    assert_eq!(c.prefill_floor(0), SimTime::ZERO);
}

#[test]
fn never_faster_than_physics() {
    let calib = LlmCalibration::default();
    let mut checked = 0;
    for m in builtin_llms() {
        for g in builtin_gpus() {
            for sharing in [GpuSharing::None, GpuSharing::TimeSlicing(2)] {
                let s = share(&g, &sharing).unwrap();
                for tp in TENSOR_PARALLEL_DEGREES {
                    let Ok(c) = LlmCost::new(&m, &g, &s, tp, &calib) else {
                        continue;
                    };
                    if c.kv_capacity_tokens(0.9, 2048, 4096).is_err() {
                        continue;
                    }
                    checked += 1;
                    let tpf = f64::from(tp);
                    // Independent floors from the architecture and the datasheet.
                    let bw = g.bandwidth_bytes_per_s * s.bandwidth_fraction;
                    let weights_floor = m.weight_bytes() / tpf / bw;
                    let peak = m.dtype.peak_ops(&g).unwrap() * s.compute_fraction * tpf;
                    // Equal up to the nanosecond rounding of SimTime.
                    assert!((c.decode_floor().as_secs_f64() - weights_floor).abs() <= 1e-9);
                    for b in [1, 8, 64, 256] {
                        let t = c.iteration(&IterShape::decode(b, b * 1000));
                        assert!(t >= c.decode_floor(), "{} {} tp{tp} b{b}", m.name, g.name);
                        assert!(t.as_secs_f64() >= weights_floor * (1.0 - 1e-9));
                    }
                    for n in [1, 128, 2048, 8192] {
                        let t = c.iteration(&IterShape::prefill(n));
                        assert!(t >= c.prefill_floor(n), "{} {} tp{tp} n{n}", m.name, g.name);
                        let flops = (m.linear_flops_per_token() - m.head_flops_per_row())
                            * n as f64
                            + m.head_flops_per_row();
                        assert!(t.as_secs_f64() >= flops / peak * (1.0 - 1e-9));
                        assert!(t >= c.decode_floor());
                    }
                }
            }
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn decode_ordering_across_gpus() {
    let step = |g: &str| ms(cost("llama2-7b", g, 1).iteration(&IterShape::decode(8, 8 * 1024)));
    let [h200, h100, a100, v100, t4] =
        ["h200", "h100-80gb", "a100-80gb", "v100-32gb", "t4"].map(step);
    assert!(
        h200 < h100 && h100 < a100 && a100 < v100 && v100 < t4,
        "{h200} {h100} {a100} {v100} {t4}"
    );
    // Memory-bound: A100-80GB at batch 8 is near 13.5 GB / (2,039 GB/s x 0.77) + overheads.
    assert!((8.0..14.0).contains(&a100), "{a100}");
}

#[test]
fn decode_is_memory_bound_prefill_compute_bound() {
    let c = cost("llama2-7b", "a100-80gb", 1);
    let calib = LlmCalibration::default();
    let fixed = ms(calib.iteration_overhead);
    // Batch 1 -> batch 16 decode costs little more (weights are read once for all).
    let one = ms(c.iteration(&IterShape::decode(1, 512)));
    let sixteen = ms(c.iteration(&IterShape::decode(16, 16 * 512)));
    // (16 x 512 tokens of MHA KV cache, 4 GiB, add about a third to the 12.6 GiB of weights.)
    assert!(sixteen < 1.4 * one, "{one} {sixteen}");
    // Prefill grows linearly once compute-bound: 8192 tokens ~ 4x 2048 tokens (attention
    // grows faster, so a bit more than 4x).
    let p2 = ms(c.iteration(&IterShape::prefill(2048))) - fixed;
    let p8 = ms(c.iteration(&IterShape::prefill(8192))) - fixed;
    assert!(p8 / p2 > 4.0 && p8 / p2 < 5.0, "{p2} {p8}");
    // 2048 tokens: 2 x 6.48e9 x 2048 / (312e12 x 0.72) = 118 ms of matmuls, half as much
    // again for the rest of the forward pass (prefill_non_gemm), plus attention.
    assert!((170.0..200.0).contains(&p2), "{p2}");
}

#[test]
fn vllm_mistral_point_in_range() {
    // FACTS.md: vLLM, Mistral-7B bf16 on one A100-80GB: TPOT mean 12.1 ms with a running
    // batch of up to 10; ten prompts (1,585 tokens) prefilled together give their first
    // tokens after about 153 ms. tests/llm_calibration.rs checks them end to end.
    let c = cost("mistral-7b", "a100-80gb", 1);
    let tpot = ms(c.iteration(&IterShape::decode(10, 10 * 600)));
    assert!((9.0..15.0).contains(&tpot), "{tpot}");
    let prompts = IterShape {
        prefill_tokens: 1585,
        prefill_pairs: 10.0 * 158.5 * 159.5 / 2.0,
        prefill_seqs: 10,
        ..IterShape::default()
    };
    let ttft = ms(c.iteration(&prompts));
    assert!((130.0..177.0).contains(&ttft), "{ttft}");
}

#[test]
fn tensor_parallel_speeds_up_large_prefill() {
    let p = IterShape::prefill(8192);
    let t1 = cost("llama2-13b", "a100-80gb", 1).iteration(&p);
    let t2 = cost("llama2-13b", "a100-80gb", 2).iteration(&p);
    let t4 = cost("llama2-13b", "a100-80gb", 4).iteration(&p);
    assert!(t2 < t1 && t4 < t2, "{t1} {t2} {t4}");
    assert!(
        t2.as_secs_f64() > 0.5 * t1.as_secs_f64(),
        "all-reduce costs something"
    );
    // A decode step of a 70B model also gains from splitting its weight reads.
    let d = IterShape::decode(8, 8000);
    let d2 = cost("llama2-70b", "a100-80gb", 2).iteration(&d);
    let d8 = cost("llama2-70b", "a100-80gb", 8).iteration(&d);
    assert!(d8 < d2, "{d2} {d8}");
    // Over PCIe the all-reduces cost far more than over NVLink.
    let mut pcie = gpu("a100-80gb");
    pcie.interconnect_bytes_per_s = 64e9;
    let calib = LlmCalibration::default();
    let slow = LlmCost::new(&llm("llama2-13b"), &pcie, &whole(&pcie), 2, &calib).unwrap();
    assert!(slow.iteration(&p) > t2);
}

#[test]
fn tensor_parallel_limits_and_kv_split() {
    let a = gpu("a100-80gb");
    let calib = LlmCalibration::default();
    let e = LlmCost::new(&llm("llama2-7b"), &a, &whole(&a), 3, &calib).unwrap_err();
    assert!(e.contains("must be 1, 2, 4 or 8, found 3"), "{e}");
    let twenty = LlmArch {
        heads: 20,
        kv_heads: 20,
        hidden: 2560,
        ..llm("llama2-13b")
    };
    let e = LlmCost::new(&twenty, &a, &whole(&a), 8, &calib).unwrap_err();
    assert!(e.contains("does not divide the 20 attention heads"), "{e}");
    assert!(LlmCost::new(&llm("llama2-13b"), &a, &whole(&a), 8, &calib).is_ok());
    // 8 KV heads over 8 GPUs: one each; a 4-KV-head model over 8 GPUs: replicated, one each.
    let c = cost("llama2-70b", "a100-80gb", 8);
    assert_eq!(c.kv_bytes_per_token_per_gpu(), 320.0 * 1024.0 / 8.0);
    let four = LlmArch {
        kv_heads: 4,
        ..llm("llama2-70b")
    };
    let c = LlmCost::new(&four, &a, &whole(&a), 8, &calib).unwrap();
    assert_eq!(c.kv_bytes_per_token_per_gpu(), 2.0 * 80.0 * 128.0 * 2.0);
    assert_eq!(c.weight_bytes_per_gpu(), 68_976_648_192.0 * 2.0 / 8.0);
    assert_eq!(c.tensor_parallel(), 8);
    let three = LlmArch {
        kv_heads: 3,
        heads: 48,
        ..llm("llama2-70b")
    };
    let e = LlmCost::new(&three, &a, &whole(&a), 2, &calib).unwrap_err();
    assert!(e.contains("one must divide the other"), "{e}");
    let bad = LlmCalibration {
        memory_efficiency: 1.5,
        ..LlmCalibration::default()
    };
    assert!(LlmCost::new(&llm("llama2-7b"), &a, &whole(&a), 1, &bad).is_err());
}

#[test]
fn weights_too_large() {
    let e = cost("llama2-70b", "t4", 1)
        .kv_capacity_tokens(0.9, 2048, 4096)
        .unwrap_err();
    assert_eq!(
        e,
        "llama2-70b (fp16) needs about 128 GiB for its weights, one t4 has 15.0 GiB (15360 MiB); \
         use more GPUs per replica (tensor parallelism), a smaller dtype or a larger GPU"
    );
    let e = cost("llama2-70b", "t4", 4)
        .kv_capacity_tokens(0.9, 2048, 4096)
        .unwrap_err();
    assert!(
        e.contains("needs about 32.1 GiB per GPU over 4 GPUs for its weights"),
        "{e}"
    );
    let a = gpu("a100-80gb");
    let slice = share(&a, &GpuSharing::Mig("1g.10gb".into())).unwrap();
    let c = LlmCost::new(&llm("llama2-7b"), &a, &slice, 1, &LlmCalibration::default()).unwrap();
    let e = c.kv_capacity_tokens(0.9, 2048, 4096).unwrap_err();
    assert!(
        e.contains("one mig 1g.10gb of a a100-80gb has 10.0 GiB (10240 MiB)"),
        "{e}"
    );
}

#[test]
fn no_room_for_one_sequence() {
    // Llama-2-7B's 12.6 GiB of weights fit a T4, but not with a 4096-token sequence.
    let e = cost("llama2-7b", "t4", 1)
        .kv_capacity_tokens(0.9, 2048, 4096)
        .unwrap_err();
    assert!(
        e.contains("fewer than one sequence of max_model_len 4096"),
        "{e}"
    );
    assert!(e.contains("The model's max seq len (4096)"), "{e}");
    // With 2 T4s it starts.
    assert!(
        cost("llama2-7b", "t4", 2)
            .kv_capacity_tokens(0.9, 2048, 4096)
            .is_ok()
    );
}

#[test]
fn kv_capacity_sane_and_monotone() {
    let c = cost("llama2-7b", "a100-80gb", 1);
    let n = c.kv_capacity_tokens(0.9, 2048, 4096).unwrap();
    assert!((100_000..120_000).contains(&n), "{n}");
    assert_eq!(n % KV_BLOCK_TOKENS, 0);
    let mut last = 0;
    for u in [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0] {
        let n = c.kv_capacity_tokens(u, 2048, 4096).unwrap();
        assert!(n > last, "{u}: {n}");
        last = n;
    }
    // A larger profiling batch reserves more activation memory.
    assert!(c.kv_capacity_tokens(0.9, 16384, 4096).unwrap() < n);
    // Tensor parallelism: each GPU holds half the KV heads and half the weights: more than
    // twice the tokens.
    let n2 = cost("llama2-7b", "a100-80gb", 2)
        .kv_capacity_tokens(0.9, 2048, 4096)
        .unwrap();
    assert!(n2 > 2 * n, "{n} {n2}");
    assert!(c.kv_capacity_tokens(0.0, 2048, 4096).is_err());
    assert!(c.kv_capacity_tokens(1.1, 2048, 4096).is_err());
    assert!(c.kv_capacity_tokens(0.9, 0, 4096).is_err());
    // GQA: llama2-70b over 4 A100-80GB holds far more tokens per GB than the MHA 7B.
    let n70 = cost("llama2-70b", "a100-80gb", 4)
        .kv_capacity_tokens(0.9, 2048, 4096)
        .unwrap();
    assert!(n70 > 400_000, "{n70}");
}

fn spec(yaml: &str) -> LlmSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

#[test]
fn spec_based_on() {
    let m = spec("{based_on: llama2-70b, dtype: int8}")
        .resolve("l70-int8")
        .unwrap();
    assert_eq!(m.name, "l70-int8");
    assert_eq!(m.dtype, WeightDtype::Int8);
    assert_eq!(m.weight_bytes(), 68_976_648_192.0);
    assert_eq!(m.kv_heads, 8);
    assert!(m.source.contains("based on llama2-70b"));
    let m = spec("{based_on: llama2-7b, max_context: 2048}")
        .resolve("x")
        .unwrap();
    assert_eq!((m.max_context, m.params), (2048, 6_738_415_616.0));
    let m = spec("{based_on: llama2-7b, layers: 40, params: 8.4e9}")
        .resolve("x")
        .unwrap();
    assert_eq!((m.layers, m.params), (40, 8.4e9));
    // A shape change without params is refused, with an estimate.
    let e = spec("{based_on: llama2-7b, layers: 40}")
        .resolve("x")
        .unwrap_err()
        .message;
    assert!(e.starts_with("llm.params:") && e.contains("8.35"), "{e}");
    // Restating the built-in's own figures is no change.
    assert!(
        spec("{based_on: llama3-8b, kv_heads: 8}")
            .resolve("x")
            .is_ok()
    );
}

#[test]
fn spec_from_scratch() {
    let m = spec(
        "{params: 7241732096, layers: 32, hidden: 4096, heads: 32, kv_heads: 8, \
         intermediate: 14336, vocab: 32000, max_context: 32768, dtype: bf16}",
    )
    .resolve("mine")
    .unwrap();
    let mistral = llm("mistral-7b");
    assert_eq!(
        (
            m.layers,
            m.hidden,
            m.heads,
            m.kv_heads,
            m.intermediate,
            m.vocab
        ),
        (32, 4096, 32, 8, 14336, 32000)
    );
    assert_eq!(m.kv_bytes_per_token(), mistral.kv_bytes_per_token());
    assert_eq!(m.linear_flops_per_token(), mistral.linear_flops_per_token());
    let m = spec(
        "{params: 7e9, layers: 32, hidden: 4096, heads: 32, intermediate: 11008, \
         vocab: 32000, max_context: 4096}",
    )
    .resolve("mha")
    .unwrap();
    assert_eq!(
        (m.kv_heads, m.dtype, m.tied_embeddings),
        (32, WeightDtype::Fp16, false)
    );
}

#[test]
fn spec_errors() {
    let e = |y: &str| spec(y).resolve("x").unwrap_err().message;
    assert_eq!(
        spec("{based_on: llama2-7b, kv_heads: 7}")
            .resolve("x")
            .unwrap_err(),
        FieldError::new("kv_heads", "llm.kv_heads: 7 does not divide heads 32")
    );
    let msg = e("{based_on: llama9}");
    assert!(msg.contains("`llama9` is not a built-in LLM") && msg.contains("llama2-7b"));
    let msg = e("{params: 7e9, layers: 32}");
    assert!(
        msg.contains("missing: `hidden`, `heads`, `intermediate`, `vocab`, `max_context`"),
        "{msg}"
    );
    let msg = e("{based_on: llama2-7b, layers: 1000000000000, params: 7e9}");
    assert!(
        msg.contains("llm.layers: must be between 1 and 1024"),
        "{msg}"
    );
    let msg = e("{based_on: llama2-7b, max_context: 0}");
    assert!(msg.contains("llm.max_context: must be between 1"), "{msg}");
    let msg = e("{based_on: llama2-7b, params: -1}");
    assert!(msg.contains("llm.params: must be positive"), "{msg}");
    let msg = e("{based_on: llama2-7b, params: 1e15}");
    assert!(msg.contains("at most 1e14"), "{msg}");
    let msg = e("{based_on: llama2-7b, hidden: 4100, params: 7e9}");
    assert!(
        msg.contains("llm.hidden: 4100 is not a multiple of heads 32"),
        "{msg}"
    );
    let msg = e("{based_on: llama2-7b, params: 1e8}");
    assert!(msg.contains("embedding"), "{msg}");
    let msg = e("{based_on: llama2-7b, kv_heads: 64}");
    assert!(msg.contains("64 does not divide heads 32"), "{msg}");
    assert!(serde_saphyr::from_str::<LlmSpec>("{based_on: llama2-7b, layerz: 3}").is_err());
    assert!(serde_saphyr::from_str::<LlmSpec>("{dtype: fp4}").is_err());
    assert!(serde_saphyr::from_str::<LlmSpec>("{layers: -3}").is_err());
}

#[test]
fn table_lists_every_llm() {
    let t = profiles_table();
    for m in builtin_llms() {
        assert!(t.contains(&m.name), "{t}");
    }
    assert!(
        t.contains("32/8") && t.contains(" 512 ") && t.contains(" 320 "),
        "{t}"
    );
}
