//! The cost of one iteration of continuous batching ([`LlmCost`]) on a GPU or a share of one,
//! with tensor parallelism, its calibration ([`LlmCalibration`], [`EnginePreset`]), and the
//! KV-cache capacity of a replica.

use super::arch::{GIB, KV_ELEM_BYTES, LlmArch};
use super::preset::EnginePreset;
use crate::engine::SimTime;
use crate::hardware::{GpuProfile, Share};
use crate::models::batch::Precision;

/// Bytes per element of activations (the all-reduced hidden states, activation estimates): FP16.
const ACT_ELEM_BYTES: f64 = 2.0;

/// vLLM's default KV-cache block size, in tokens (`--block-size 16`); capacity is whole blocks.
pub const KV_BLOCK_TOKENS: u64 = 16;

/// vLLM's default `max_num_seqs` (256): the number of sequences its profiling run samples, hence
/// the logit rows it reserves memory for.
const PROFILE_MAX_SEQS: f64 = 256.0;

/// Memory outside PyTorch's allocator that vLLM's profiling counts against the budget: the CUDA
/// context (a few hundred MiB), NCCL buffers and the captured CUDA graphs. An assumption of
/// capsim's (vLLM logs this as "non-torch memory", typically 0.5-1.5 GiB on one GPU), not a
/// measured figure.
const RUNTIME_RESERVE_BYTES: f64 = GIB;

/// The tensor-parallel degrees a replica may use.
pub const TENSOR_PARALLEL_DEGREES: [u32; 4] = [1, 2, 4, 8];

/// Interconnect bandwidths above this (bytes/s, both directions) are taken to be NVLink, below
/// it PCIe: PCIe Gen5 x16 is 128 GB/s both ways (H100 PCIe datasheet), the slowest NVLink of the
/// built-ins is V100's 300 GB/s.
const NVLINK_THRESHOLD: f64 = 128e9;

/// The efficiencies and fixed costs of the iteration model; [`Default`] gives the built-in,
/// A100-calibrated values.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCalibration {
    /// Share of the sustained tensor peak the weight matrix multiplies reach.
    pub linear_efficiency: f64,
    /// Prefill time outside the matrix multiplies (normalisation, rotary embeddings,
    /// activation functions, eager-mode kernel launches), as a fraction of the prefill's
    /// matrix-multiply time.
    pub prefill_non_gemm: f64,
    /// Share of the sustained FP16 tensor peak the attention kernels reach.
    pub attention_efficiency: f64,
    /// Share of the peak memory bandwidth reached streaming weights and KV cache.
    pub memory_efficiency: f64,
    /// Fixed cost of every iteration: scheduling, input preparation, kernel launches, sampling.
    pub iteration_overhead: SimTime,
    /// Additional cost per sequence in the iteration (per logit row: sampling, detokenizing,
    /// bookkeeping).
    pub per_seq_overhead: SimTime,
    /// Latency of one small all-reduce over NVLink.
    pub allreduce_latency_nvlink: SimTime,
    /// Latency of one small all-reduce over PCIe.
    pub allreduce_latency_pcie: SimTime,
}

/// See [`LlmCalibration::prefill_non_gemm`].
pub const PREFILL_NON_GEMM: f64 = 0.5;

impl Default for LlmCalibration {
    fn default() -> Self {
        LlmCalibration {
            // FACTS.md: Vidur's profiling of Llama-2-7B on A100 (microsoft/vidur, data/profiling):
            // large prefill matrix multiplies reach about 72% of the 312 TFLOPS peak.
            linear_efficiency: 0.72,
            // Calibrated in tests/llm_calibration.rs: vLLM prefills ten ShareGPT prompts
            // (1,585 tokens of Mistral-7B) in about 153 ms on an A100-80GB (FACTS.md, the nine
            // requests that produced tokens), where matrix multiplies at 72% take about 100 ms:
            // the rest of the forward pass adds about half as much again, an end-to-end prefill
            // MFU near 0.5.
            prefill_non_gemm: PREFILL_NON_GEMM,
            // Dao 2023, "FlashAttention-2" (arXiv 2307.08691): 50-73% of the A100's peak in the
            // forward pass, the top of that range at long sequences and head dim 128; serving's
            // shorter, ragged prompts sit at the bottom of it.
            attention_efficiency: 0.5,
            // FACTS.md: decode of Llama-3.1-8B BF16 on A100-40GB at batch 1 reached about 77% of
            // the HBM bandwidth ceiling.
            memory_efficiency: 0.77,
            // Host costs of the default engine (see EnginePreset for the calibration).
            iteration_overhead: EnginePreset::default().iteration_overhead(),
            per_seq_overhead: EnginePreset::default().sequence_overhead(),
            // NCCL all-reduce of a small message inside an NVLink node takes several to ~10 us:
            // NVIDIA/nccl#1259 measures ~6 us on 2x H100 with CUDA graphs, rising with the number
            // of GPUs; 10 us is capsim's round figure for 2-8 GPUs without NVLink SHARP.
            allreduce_latency_nvlink: SimTime(10_000),
            // Over PCIe (and through host bridges) NCCL's own tuning model predicts ~25 us for a
            // 128-byte all-reduce (NVIDIA/nccl#1453 log); an assumption, not a measurement.
            allreduce_latency_pcie: SimTime(25_000),
        }
    }
}

impl LlmCalibration {
    /// Checks that the efficiencies are in (0, 1] and the fixed costs at most 60 s.
    pub fn check(&self) -> Result<(), String> {
        for (field, v) in [
            ("linear_efficiency", self.linear_efficiency),
            ("attention_efficiency", self.attention_efficiency),
            ("memory_efficiency", self.memory_efficiency),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return Err(format!(
                    "`{field}` must be above 0 and at most 1, found {v}"
                ));
            }
        }
        if !(self.prefill_non_gemm.is_finite() && (0.0..=10.0).contains(&self.prefill_non_gemm)) {
            return Err(format!(
                "`prefill_non_gemm` must be from 0 to 10, found {}",
                self.prefill_non_gemm
            ));
        }
        for (field, t) in [
            ("iteration_overhead", self.iteration_overhead),
            ("per_seq_overhead", self.per_seq_overhead),
            ("allreduce_latency_nvlink", self.allreduce_latency_nvlink),
            ("allreduce_latency_pcie", self.allreduce_latency_pcie),
        ] {
            if t > SimTime::from_secs(60) {
                return Err(format!("`{field}` must be at most 60s, found {t}"));
            }
        }
        Ok(())
    }
}

/// What one iteration of continuous batching runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IterShape {
    /// Prompt tokens processed this iteration (all prefill chunks together).
    pub prefill_tokens: u64,
    /// Sum over those tokens of the number of keys each attends to: a chunk of `n` new tokens
    /// after `c` cached ones contributes `n c + n (n + 1) / 2` (causal attention).
    pub prefill_pairs: f64,
    /// Sequences whose prefill completes this iteration: each produces one logit row.
    pub prefill_seqs: u64,
    /// Sequences decoding one token each.
    pub decode_seqs: u64,
    /// Sum of the decoding sequences' context lengths: the keys read from the KV cache.
    pub decode_ctx_tokens: u64,
}

impl IterShape {
    /// A whole prompt of `tokens` tokens prefilled in one iteration (no cached prefix).
    pub fn prefill(tokens: u64) -> IterShape {
        let n = tokens as f64;
        IterShape {
            prefill_tokens: tokens,
            prefill_pairs: n * (n + 1.0) / 2.0,
            prefill_seqs: u64::from(tokens > 0),
            ..IterShape::default()
        }
    }

    /// `seqs` sequences decoding one token each, with `ctx_tokens` of context in all.
    pub fn decode(seqs: u64, ctx_tokens: u64) -> IterShape {
        IterShape {
            decode_seqs: seqs,
            decode_ctx_tokens: ctx_tokens,
            ..IterShape::default()
        }
    }
}

/// The iteration cost of one LLM on one kind of replica (GPU, share of it, tensor-parallel
/// degree), precomputed so that [`LlmCost::iteration`] is a handful of multiply-adds.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCost {
    // Hot-path coefficients, in seconds (see the module docs).
    body_s_per_token: f64,
    prefill_other_s_per_token: f64,
    head_s_per_row: f64,
    attn_s_per_pair: f64,
    weight_s: f64,
    kv_s_per_token: f64,
    fixed_s: f64,
    per_row_s: f64,
    allreduce_s_per_token: f64,
    // Everything else, for floors, capacity and reports.
    arch: LlmArch,
    tp: u32,
    gpu_name: String,
    gpu_memory_bytes: f64,
    share_memory_bytes: f64,
    share_label: String,
    raw_ops_per_gpu: f64,
    raw_bandwidth_per_gpu: f64,
    weight_bytes_per_gpu: f64,
    kv_bytes_per_token_per_gpu: f64,
}

impl LlmCost {
    /// Precomputes the cost of `arch` on `tp` GPUs of type `gpu`, each one unit `share` of its
    /// GPU, with calibration `calib`.
    ///
    /// Errors: `tp` not 1, 2, 4 or 8; `tp` not dividing the heads, or the KV heads neither
    /// divisible by `tp` nor dividing it (vLLM's rule); FP8 weights on a GPU without FP8; a bad
    /// calibration or share. Whether the model fits in memory is [`LlmCost::kv_capacity_tokens`]'s
    /// question. `tp > 1` over MIG or time-sliced shares is costed as asked (every GPU of the
    /// replica gets `share`), although real MIG instances cannot use NVLink peer to peer.
    pub fn new(
        arch: &LlmArch,
        gpu: &GpuProfile,
        share: &Share,
        tp: u32,
        calib: &LlmCalibration,
    ) -> Result<LlmCost, String> {
        if !TENSOR_PARALLEL_DEGREES.contains(&tp) {
            return Err(format!("tensor_parallel must be 1, 2, 4 or 8, found {tp}"));
        }
        if !arch.heads.is_multiple_of(tp) {
            return Err(format!(
                "tensor_parallel {tp} does not divide the {} attention heads of {}",
                arch.heads, arch.name
            ));
        }
        if !(arch.kv_heads.is_multiple_of(tp) || tp.is_multiple_of(arch.kv_heads)) {
            return Err(format!(
                "tensor_parallel {tp} and the {} KV heads of {}: one must divide the other",
                arch.kv_heads, arch.name
            ));
        }
        calib.check()?;
        if !(share.compute_fraction > 0.0 && share.bandwidth_fraction > 0.0) {
            return Err(format!(
                "the GPU share `{}` has no compute or no bandwidth",
                share.label
            ));
        }
        let tpf = f64::from(tp);
        let sustained = gpu.sustained_compute_fraction * share.compute_fraction;
        let gemm_sustained = gpu.llm_compute_fraction * share.compute_fraction;
        let raw_ops = arch.dtype.peak_ops(gpu)? * share.compute_fraction;
        let linear_rate =
            tpf * arch.dtype.peak_ops(gpu)? * gemm_sustained * calib.linear_efficiency;
        let attn_rate =
            tpf * Precision::Fp16.peak_ops(gpu) * sustained * calib.attention_efficiency;
        let raw_bw = gpu.bandwidth_bytes_per_s * share.bandwidth_fraction;
        let bw = raw_bw * calib.memory_efficiency;

        let head_flops = arch.head_flops_per_row();
        let body_flops = arch.linear_flops_per_token() - head_flops;
        let weight_bytes_per_gpu = arch.weight_bytes() / tpf;
        let kv_heads_per_gpu = (arch.kv_heads / tp).max(1);
        let kv_bytes_per_token_per_gpu = 2.0
            * f64::from(arch.layers)
            * f64::from(kv_heads_per_gpu)
            * f64::from(arch.head_dim())
            * KV_ELEM_BYTES;

        // Ring all-reduce: each GPU sends and receives 2 (tp-1)/tp of the buffer, over one
        // direction of its link (the datasheets quote both directions together).
        let (allreduce_fixed_s, allreduce_s_per_token) = if tp > 1 {
            let latency = if gpu.interconnect_bytes_per_s > NVLINK_THRESHOLD {
                calib.allreduce_latency_nvlink
            } else {
                calib.allreduce_latency_pcie
            };
            let per_direction = gpu.interconnect_bytes_per_s / 2.0;
            let n = 2.0 * f64::from(arch.layers);
            (
                n * latency.as_secs_f64(),
                n * 2.0 * (tpf - 1.0) / tpf * f64::from(arch.hidden) * ACT_ELEM_BYTES
                    / per_direction,
            )
        } else {
            (0.0, 0.0)
        };

        Ok(LlmCost {
            body_s_per_token: body_flops / linear_rate,
            prefill_other_s_per_token: body_flops / linear_rate * calib.prefill_non_gemm,
            head_s_per_row: head_flops / linear_rate,
            attn_s_per_pair: arch.attn_flops_per_pair() / attn_rate,
            weight_s: weight_bytes_per_gpu / bw,
            kv_s_per_token: kv_bytes_per_token_per_gpu / bw,
            fixed_s: calib.iteration_overhead.as_secs_f64() + allreduce_fixed_s,
            per_row_s: calib.per_seq_overhead.as_secs_f64(),
            allreduce_s_per_token,
            arch: arch.clone(),
            tp,
            gpu_name: gpu.name.clone(),
            gpu_memory_bytes: gpu.memory_bytes,
            share_memory_bytes: share.memory_bytes,
            share_label: share.label.clone(),
            raw_ops_per_gpu: raw_ops,
            raw_bandwidth_per_gpu: raw_bw,
            weight_bytes_per_gpu,
            kv_bytes_per_token_per_gpu,
        })
    }

    /// The duration of one iteration of shape `s` (see the module docs); zero when it runs no
    /// token. The simulator's hot path: a few multiply-adds, no allocation.
    #[inline]
    pub fn iteration(&self, s: &IterShape) -> SimTime {
        let decode = s.decode_seqs as f64;
        let tokens = s.prefill_tokens as f64 + decode;
        if tokens <= 0.0 {
            return SimTime::ZERO;
        }
        let rows = s.prefill_seqs as f64 + decode;
        let ctx = s.decode_ctx_tokens as f64;
        let compute = tokens * self.body_s_per_token
            + s.prefill_tokens as f64 * self.prefill_other_s_per_token
            + rows * self.head_s_per_row
            + (s.prefill_pairs + ctx) * self.attn_s_per_pair;
        let memory = self.weight_s + (ctx + tokens) * self.kv_s_per_token;
        SimTime::from_secs_f64(
            self.fixed_s
                + rows * self.per_row_s
                + compute.max(memory)
                + tokens * self.allreduce_s_per_token,
        )
    }

    /// The physics floor of a decode step: this GPU's share of the weights read once at the
    /// share's raw peak bandwidth.
    pub fn decode_floor(&self) -> SimTime {
        SimTime::from_secs_f64(self.weight_bytes_per_gpu / self.raw_bandwidth_per_gpu)
    }

    /// The physics floor of prefilling one `tokens`-token prompt: its matrix-multiply operations
    /// (LM head for one row) over `tp` GPUs at the share's raw peak for the weights' type.
    pub fn prefill_floor(&self, tokens: u64) -> SimTime {
        let head = self.arch.head_flops_per_row();
        let body = self.arch.linear_flops_per_token() - head;
        let flops = body * tokens as f64 + if tokens > 0 { head } else { 0.0 };
        SimTime::from_secs_f64(flops / (f64::from(self.tp) * self.raw_ops_per_gpu))
    }

    /// Bytes of weights each GPU holds: `weight_bytes / tp`.
    pub fn weight_bytes_per_gpu(&self) -> f64 {
        self.weight_bytes_per_gpu
    }

    /// The same cost with a KV cache of `bytes` per element instead of FP16's 2 (vLLM's
    /// `--kv-cache-dtype fp8` stores 1): the cache holds more tokens and decode reads fewer
    /// bytes. Errors: `bytes` not 1 or 2.
    pub fn with_kv_elem_bytes(mut self, bytes: f64) -> Result<LlmCost, String> {
        if bytes != 1.0 && bytes != KV_ELEM_BYTES {
            return Err(format!("a KV cache element is 1 or 2 bytes, found {bytes}"));
        }
        let scale = bytes / KV_ELEM_BYTES;
        self.kv_bytes_per_token_per_gpu *= scale;
        self.kv_s_per_token *= scale;
        Ok(self)
    }

    /// Bytes of KV cache per token on each GPU (KV heads split over `tp`, at least one each).
    pub fn kv_bytes_per_token_per_gpu(&self) -> f64 {
        self.kv_bytes_per_token_per_gpu
    }

    /// The tensor-parallel degree.
    pub fn tensor_parallel(&self) -> u32 {
        self.tp
    }

    /// The architecture costed.
    pub fn arch(&self) -> &LlmArch {
        &self.arch
    }

    /// Activation memory vLLM's profiling run peaks at for a forward pass of `max_batch_tokens`
    /// tokens, per GPU, in bytes. An estimate of capsim's: per token, FP16 buffers of 4 x hidden
    /// (residual stream, normed input, attention output, one for allocator slack) and of the
    /// FFN's gate-up output and activation (3 x intermediate / tp); plus FP32 logits and
    /// probabilities for the sampled rows (at most `max_num_seqs` = 256 of them).
    fn activation_reserve(&self, max_batch_tokens: u64) -> f64 {
        let a = &self.arch;
        let tokens = max_batch_tokens as f64;
        let per_token = ACT_ELEM_BYTES
            * (4.0 * f64::from(a.hidden) + 3.0 * f64::from(a.intermediate) / f64::from(self.tp));
        let logits = tokens.min(PROFILE_MAX_SEQS) * f64::from(a.vocab) * 4.0 * 2.0;
        tokens * per_token + logits
    }

    /// How many tokens of KV cache one GPU of the replica holds (the same on every GPU), in whole
    /// blocks of 16, after vLLM's budget: `memory x gpu_memory_utilization - weights / tp -
    /// activation peak of a max_batch_tokens forward pass - 1 GiB runtime reserve`. `memory` is
    /// the total the driver reports (nvidia-smi); vLLM multiplies CUDA's total
    /// (`torch.cuda.mem_get_info`), a few hundred MiB less, so this cache is up to 1% larger
    /// than vLLM's on the same card.
    ///
    /// Errors: `gpu_memory_utilization` outside (0, 1] or `max_batch_tokens` 0; the weights do
    /// not fit in the memory; the cache cannot hold one sequence of the model's `max_context`
    /// (vLLM refuses to start then).
    pub fn kv_capacity_tokens(
        &self,
        gpu_memory_utilization: f64,
        max_batch_tokens: u64,
        max_model_len: u64,
    ) -> Result<u64, String> {
        let util = gpu_memory_utilization;
        if !(util.is_finite() && util > 0.0 && util <= 1.0) {
            return Err(format!(
                "gpu_memory_utilization must be above 0 and at most 1, found {util}"
            ));
        }
        if max_batch_tokens == 0 {
            return Err("max_batch_tokens must be at least 1".to_string());
        }
        let a = &self.arch;
        let gib = |b: f64| {
            let g = b / GIB;
            if g >= 100.0 {
                format!("{g:.0} GiB")
            } else {
                format!("{g:.1} GiB")
            }
        };
        let one = if self.share_memory_bytes == self.gpu_memory_bytes {
            format!("one {}", self.gpu_name)
        } else {
            format!("one {} of a {}", self.share_label, self.gpu_name)
        };
        // As nvidia-smi prints it, so that the figure can be checked against the card.
        let memory = format!(
            "{} ({:.0} MiB)",
            gib(self.share_memory_bytes),
            self.share_memory_bytes / (1024.0 * 1024.0)
        );
        let needs = if self.tp == 1 {
            format!(
                "needs about {} for its weights",
                gib(self.weight_bytes_per_gpu)
            )
        } else {
            format!(
                "needs about {} per GPU over {} GPUs for its weights",
                gib(self.weight_bytes_per_gpu),
                self.tp
            )
        };
        if self.weight_bytes_per_gpu >= self.share_memory_bytes {
            return Err(format!(
                "{} ({}) {needs}, {one} has {memory}; use more GPUs per replica (tensor \
                 parallelism), a smaller dtype or a larger GPU",
                a.name, a.dtype
            ));
        }
        let reserve = self.activation_reserve(max_batch_tokens) + RUNTIME_RESERVE_BYTES;
        let usable = self.share_memory_bytes * util - self.weight_bytes_per_gpu - reserve;
        let blocks =
            (usable.max(0.0) / (self.kv_bytes_per_token_per_gpu * KV_BLOCK_TOKENS as f64)).floor();
        let tokens = blocks as u64 * KV_BLOCK_TOKENS;
        if tokens < max_model_len {
            return Err(format!(
                "{} ({}) {needs} and about {} for activations and the runtime; at \
                 gpu_memory_utilization {util}, {one} with {memory} has room for {tokens} tokens \
                 of KV cache, fewer than one sequence of max_model_len {max_model_len}: vLLM \
                 refuses to start here (\"The model's max seq len ({max_model_len}) is larger than \
                 the maximum number of tokens that can be stored in KV cache ({tokens})\"). Raise \
                 gpu_memory_utilization, lower batching.continuous.max_model_len, use more GPUs \
                 per replica or a larger GPU",
                a.name,
                a.dtype,
                gib(reserve),
            ));
        }
        Ok(tokens)
    }
}
