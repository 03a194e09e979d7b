//! LLM profiles (decoder-only transformers) and the cost of one iteration of a continuous-batching
//! engine (vLLM-style) on a GPU, or on a share of one, with tensor parallelism.
//!
//! # The iteration model
//!
//! One iteration runs `P` prompt (prefill) tokens of some sequences, `R_p` of which finish their
//! prefill and emit a first token, together with `D` decoding sequences that emit one token each
//! and whose contexts sum to `C` tokens (see [`IterShape`]). With `tp` GPUs per replica (weights,
//! heads and the LM head split evenly over them), per GPU:
//!
//! ```text
//! tokens  = P + D                      (rows that pass through every layer)
//! rows    = R_p + D                    (rows that reach the LM head: one logit row each)
//! pairs   = prefill_pairs + C          (query-key pairs of attention)
//!
//! compute = [ body_flops x tokens + head_flops x rows ] / (tp x peak(dtype) x sustained x compute_fraction x linear_efficiency)
//!         + attn_flops_per_pair x pairs / (tp x peak(fp16) x sustained x compute_fraction x attention_efficiency)
//! memory  = [ weight_bytes / tp + kv_bytes_per_token_per_gpu x (C + tokens) ]
//!                 / (bandwidth x bandwidth_fraction x memory_efficiency)
//! allreduce = 2 x layers x ( latency + 2 (tp - 1) / tp x tokens x hidden x 2 B / (interconnect / 2) )   (0 when tp = 1)
//! overhead  = iteration_overhead + per_seq_overhead x rows
//!
//! iteration = overhead + max(compute, memory) + allreduce          (0 for an empty shape)
//! ```
//!
//! where
//!
//! - `head_flops = 2 x vocab x hidden` (the LM head, computed only for the rows that sample a
//!   token) and `body_flops = linear_flops_per_token - head_flops`, with
//!   `linear_flops_per_token = 2 x (params - vocab x hidden [+ vocab x hidden if the embeddings
//!   are tied])`: every weight is one multiply-add per token except the input embedding, which
//!   is a table lookup (see [`LlmArch::linear_flops_per_token`]);
//! - `attn_flops_per_pair = 4 x layers x heads x head_dim` (QK^T and AV, a multiply-add = 2
//!   flops); a prefill chunk of `n` new tokens after `c` cached ones has `n c + n (n + 1) / 2`
//!   pairs, and a decode step of a sequence of context `c` has `c`;
//! - `peak(dtype)` is the GPU's dense tensor rate for the weights' type ([`WeightDtype`]) and
//!   `sustained` its [`GpuProfile::sustained_compute_fraction`]; `compute_fraction` and
//!   `bandwidth_fraction` come from the [`Share`] (MIG slice, time slice or whole GPU);
//! - the KV cache is FP16 whatever the weights are: `kv_bytes_per_token = 2 (K and V) x layers x
//!   kv_heads x head_dim x 2 B`, of which one GPU holds `max(1, kv_heads / tp)` heads (KV heads
//!   are replicated when there are fewer of them than GPUs, as vLLM does);
//! - the memory term reads the weights once and the decoding sequences' KV cache, and writes
//!   the new tokens' K and V; a chunked prompt's reads of its own cached prefix are left out
//!   (they are small next to the weights at vLLM's chunk sizes), and so are activations, which
//!   matter only where compute binds anyway;
//! - the tensor-parallel all-reduces (two per layer: after attention and after the MLP, as in
//!   Megatron-LM) run a ring over `tokens x hidden` FP16 activations and are not overlapped with
//!   compute, as in vLLM.
//!
//! The efficiencies and overheads are in [`LlmCalibration`]; its defaults are calibrated on A100
//! measurements (FACTS.md) and carried to other GPUs by their datasheet peaks and sustained
//! fractions.
//!
//! # KV-cache capacity
//!
//! [`LlmCost::kv_capacity_tokens`] follows vLLM's start-up profiling: the cache gets
//! `memory x gpu_memory_utilization - weights / tp - activation peak - runtime reserve`, in
//! blocks of 16 tokens, and the replica refuses to start when that cannot hold one sequence of
//! the model's `max_context`.

use crate::engine::SimTime;
use crate::hardware::{GpuProfile, Share, builtin_gpu, fmt_bytes, fmt_num, render_table};
use crate::models::batch::Precision;
use serde::Deserialize;
use std::fmt;

/// Bytes in a GiB (binary), the unit vLLM and `nvidia-smi` report memory in.
const GIB: f64 = (1u64 << 30) as f64;

/// Bytes per element of the KV cache: FP16 (vLLM's default `kv_cache_dtype: auto` keeps the
/// model's 16-bit activation type even when the weights are quantized).
const KV_ELEM_BYTES: f64 = 2.0;

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

/// The type the weights are stored and multiplied in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightDtype {
    /// IEEE half precision: 2 bytes a weight, FP16 tensor cores.
    #[default]
    Fp16,
    /// bfloat16: 2 bytes a weight, at the same tensor rate as FP16.
    Bf16,
    /// 8-bit integer weights: 1 byte a weight. Computed at the GPU's INT8 tensor rate, i.e. the
    /// W8A8 case (SmoothQuant-style INT8 GEMMs). Weight-only INT8 (W8A16) kernels dequantize to
    /// FP16 and compute at the FP16 rate, so for them the compute-bound (prefill) part of this
    /// model is optimistic; the memory-bound decode step is the same either way.
    Int8,
    /// FP8 (E4M3) weights: 1 byte a weight, FP8 tensor cores; needs a GPU that has them.
    Fp8,
}

impl WeightDtype {
    /// Bytes per weight.
    pub fn bytes(self) -> f64 {
        match self {
            WeightDtype::Fp16 | WeightDtype::Bf16 => 2.0,
            WeightDtype::Int8 | WeightDtype::Fp8 => 1.0,
        }
    }

    /// The tensor-core precision its matrix multiplies run in.
    pub fn precision(self) -> Precision {
        match self {
            WeightDtype::Fp16 | WeightDtype::Bf16 => Precision::Fp16,
            WeightDtype::Int8 => Precision::Int8,
            WeightDtype::Fp8 => Precision::Fp8,
        }
    }

    /// The GPU's dense peak for matrix multiplies over these weights, in operations per second;
    /// an error for FP8 on a GPU without FP8 tensor cores (unlike [`Precision::peak_ops`], which
    /// falls back to FP16: FP8 weights cannot be loaded at all there).
    pub fn peak_ops(self, gpu: &GpuProfile) -> Result<f64, String> {
        if self == WeightDtype::Fp8 && gpu.fp8_tflops <= 0.0 {
            return Err(format!(
                "fp8 weights need a GPU with FP8 tensor cores (H100, H200); {} has none",
                gpu.name
            ));
        }
        Ok(self.precision().peak_ops(gpu))
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightDtype::Fp16 => "fp16",
            WeightDtype::Bf16 => "bf16",
            WeightDtype::Int8 => "int8",
            WeightDtype::Fp8 => "fp8",
        })
    }
}

/// The architecture of a decoder-only transformer, as far as its serving cost goes.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmArch {
    /// Model name, e.g. `llama2-7b`.
    pub name: String,
    /// Total parameter count, embeddings included (stored once when tied).
    pub params: f64,
    /// Transformer layers (`num_hidden_layers`).
    pub layers: u32,
    /// Model width (`hidden_size`).
    pub hidden: u32,
    /// Query heads (`num_attention_heads`).
    pub heads: u32,
    /// Key/value heads (`num_key_value_heads`): equal to `heads` for multi-head attention, fewer
    /// with grouped-query attention.
    pub kv_heads: u32,
    /// Feed-forward width (`intermediate_size`).
    pub intermediate: u32,
    /// Vocabulary size (`vocab_size`).
    pub vocab: u32,
    /// Longest sequence, prompt plus output (`max_position_embeddings`).
    pub max_context: u32,
    /// Whether the LM head shares the input embedding matrix (`tie_word_embeddings`). Tied, the
    /// matrix is counted once in `params` but is still multiplied by (as the LM head).
    pub tied_embeddings: bool,
    /// The weights' type.
    pub dtype: WeightDtype,
    /// Where the figures come from.
    pub source: String,
}

impl LlmArch {
    /// Width of one attention head: `hidden / heads`.
    pub fn head_dim(&self) -> u32 {
        self.hidden / self.heads
    }

    /// Bytes of weights: `params x dtype bytes`.
    pub fn weight_bytes(&self) -> f64 {
        self.params * self.dtype.bytes()
    }

    /// Bytes of KV cache per token over all GPUs: `2 (K, V) x layers x kv_heads x head_dim x 2 B`.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.layers)
            * f64::from(self.kv_heads)
            * f64::from(self.head_dim())
            * KV_ELEM_BYTES
    }

    /// Parameters of one `vocab x hidden` matrix: the input embedding, and the LM head.
    pub fn embedding_params(&self) -> f64 {
        f64::from(self.vocab) * f64::from(self.hidden)
    }

    /// Matrix-multiply operations per token through the whole model, LM head included:
    /// `2 x (params - vocab x hidden)`, plus `2 x vocab x hidden` when the embeddings are tied
    /// (the one stored matrix is then both the lookup table and the LM head). Norms and biases
    /// are counted as if multiplied, a <0.01% overstatement.
    pub fn linear_flops_per_token(&self) -> f64 {
        let tied_head = if self.tied_embeddings {
            self.embedding_params()
        } else {
            0.0
        };
        2.0 * (self.params - self.embedding_params() + tied_head)
    }

    /// Operations of the LM head for one logit row: `2 x vocab x hidden`.
    pub fn head_flops_per_row(&self) -> f64 {
        2.0 * self.embedding_params()
    }

    /// Attention operations per (query token, attended key) pair: `4 x layers x heads x head_dim`
    /// (QK^T and AV, one multiply-add = 2 operations each).
    pub fn attn_flops_per_pair(&self) -> f64 {
        4.0 * f64::from(self.layers) * f64::from(self.heads) * f64::from(self.head_dim())
    }

    /// The parameter count a Llama-style shape implies: per layer Q and O (`hidden^2` each), K and
    /// V (`hidden x kv_heads x head_dim` each), a gated FFN (`3 x hidden x intermediate`) and two
    /// RMSNorms (`2 x hidden`); plus the embedding, an untied LM head and the final norm. Exact
    /// for the Llama and Mistral built-ins; not for GPT-3 (two-matrix FFN, biases, learned
    /// positions).
    pub fn llama_shape_params(&self) -> f64 {
        let h = f64::from(self.hidden);
        let kv = f64::from(self.kv_heads) * f64::from(self.head_dim());
        let per_layer =
            2.0 * h * h + 2.0 * h * kv + 3.0 * h * f64::from(self.intermediate) + 2.0 * h;
        let matrices = if self.tied_embeddings { 1.0 } else { 2.0 };
        f64::from(self.layers) * per_layer + matrices * self.embedding_params() + h
    }
}

/// A Llama-family model from its HuggingFace `config.json` figures.
#[allow(clippy::too_many_arguments)]
fn llama(
    name: &str,
    params: f64,
    (layers, hidden, heads, kv_heads): (u32, u32, u32, u32),
    intermediate: u32,
    vocab: u32,
    max_context: u32,
    dtype: WeightDtype,
    source: &str,
) -> LlmArch {
    LlmArch {
        name: name.to_string(),
        params,
        layers,
        hidden,
        heads,
        kv_heads,
        intermediate,
        vocab,
        max_context,
        tied_embeddings: false, // all the Llama and Mistral configs: tie_word_embeddings false
        dtype,
        source: source.to_string(),
    }
}

/// The built-in LLMs: `llama2-7b`, `llama2-13b`, `llama2-70b`, `llama3-8b`, `llama3-70b`,
/// `mistral-7b`, `gpt3-175b`.
///
/// Shapes are the HuggingFace `config.json` figures of the named repositories (Brown et al. 2020
/// for GPT-3). Parameter counts are the models' published sizes; for the Llama and Mistral models
/// they equal the config arithmetic of [`LlmArch::llama_shape_params`] (6,738,415,616 for
/// Llama-2-7B), which the tests check. Llama-2 ships FP16 weights (`torch_dtype: float16`),
/// Llama-3 and Mistral BF16: the bytes and the tensor rate are the same.
pub fn builtin_llms() -> Vec<LlmArch> {
    use WeightDtype::{Bf16, Fp16};
    const L2: &str = "Touvron et al. 2023 (Llama 2); HuggingFace";
    const L3: &str = "Meta Llama 3 model card; HuggingFace";
    vec![
        // meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads (MHA),
        // intermediate 11008, vocab 32000, max_position_embeddings 4096.
        // 6.74B parameters (paper); 6,738,415,616 by the config arithmetic, used here.
        llama(
            "llama2-7b",
            6_738_415_616.0,
            (32, 4096, 32, 32),
            11008,
            32000,
            4096,
            Fp16,
            &format!("{L2} meta-llama/Llama-2-7b-hf"),
        ),
        // meta-llama/Llama-2-13b-hf: 40 layers, hidden 5120, 40 heads (MHA), intermediate 13824,
        // vocab 32000, context 4096. 13.0B parameters (paper); 13,015,864,320 by the config.
        llama(
            "llama2-13b",
            13_015_864_320.0,
            (40, 5120, 40, 40),
            13824,
            32000,
            4096,
            Fp16,
            &format!("{L2} meta-llama/Llama-2-13b-hf"),
        ),
        // meta-llama/Llama-2-70b-hf: 80 layers, hidden 8192, 64 heads, 8 KV heads (GQA),
        // intermediate 28672, vocab 32000, context 4096. 69.0B parameters (paper); 68,976,648,192 by the config.
        llama(
            "llama2-70b",
            68_976_648_192.0,
            (80, 8192, 64, 8),
            28672,
            32000,
            4096,
            Fp16,
            &format!("{L2} meta-llama/Llama-2-70b-hf"),
        ),
        // meta-llama/Meta-Llama-3-8B: 32 layers, hidden 4096, 32 heads, 8 KV heads (GQA),
        // intermediate 14336, vocab 128256, context 8192, bf16. 8.03B parameters; 8,030,261,248 by
        // the config.
        llama(
            "llama3-8b",
            8_030_261_248.0,
            (32, 4096, 32, 8),
            14336,
            128256,
            8192,
            Bf16,
            &format!("{L3} meta-llama/Meta-Llama-3-8B"),
        ),
        // meta-llama/Meta-Llama-3-70B: 80 layers, hidden 8192, 64 heads, 8 KV heads,
        // intermediate 28672, vocab 128256, context 8192, bf16. 70.6B parameters; 70,553,706,496 by
        // the config.
        llama(
            "llama3-70b",
            70_553_706_496.0,
            (80, 8192, 64, 8),
            28672,
            128256,
            8192,
            Bf16,
            &format!("{L3} meta-llama/Meta-Llama-3-70B"),
        ),
        // mistralai/Mistral-7B-v0.1: 32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate
        // 14336, vocab 32000, max_position_embeddings 32768, bf16. 7.24B parameters;
        // 7,241,732,096 by the config. Its 4096-token sliding window is not modelled: attention and the KV
        // cache are counted over the whole context, an overestimate beyond 4096 tokens.
        llama(
            "mistral-7b",
            7_241_732_096.0,
            (32, 4096, 32, 8),
            14336,
            32000,
            32768,
            Bf16,
            "Jiang et al. 2023 (Mistral 7B); HuggingFace mistralai/Mistral-7B-v0.1",
        ),
        // Brown et al. 2020, Table 2.1: GPT-3 175B has 96 layers, d_model 12288, 96 heads of 128
        // (MHA), context 2048, FFN 4 x d_model; vocabulary 50257 (the GPT-2 BPE). 175B parameters.
        // The embeddings are tied, as in GPT-2 (assumed: the paper says the model follows GPT-2);
        // 12 x 12288^2 x 96 = 173.9B of them are in the layers, 0.62B in the shared token matrix
        // and 0.03B in the learned positions, which are counted as multiplied (0.01% high).
        // Never released: FP16 as trained.
        LlmArch {
            name: "gpt3-175b".to_string(),
            params: 175e9,
            layers: 96,
            hidden: 12288,
            heads: 96,
            kv_heads: 96,
            intermediate: 4 * 12288,
            vocab: 50257,
            max_context: 2048,
            tied_embeddings: true,
            dtype: Fp16,
            source: "Brown et al. 2020 (GPT-3), Table 2.1".to_string(),
        },
    ]
}

/// The built-in LLM named `name`, if there is one.
pub fn builtin_llm(name: &str) -> Option<LlmArch> {
    builtin_llms().into_iter().find(|m| m.name == name)
}

/// The names of the built-in LLMs, comma-separated, for error messages.
pub fn builtin_llm_names() -> String {
    builtin_llms()
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Limits on user-defined architecture figures, beyond which a value is surely a mistake.
const MAX_PARAMS: f64 = 1e14; // 100T parameters
const MAX_LAYERS: u64 = 1024;
const MAX_HIDDEN: u64 = 1 << 20;
const MAX_HEADS: u64 = 4096;
const MAX_INTERMEDIATE: u64 = 1 << 22;
const MAX_VOCAB: u64 = 1 << 24;
const MAX_CONTEXT: u64 = 1 << 24;

/// A user-defined LLM as a scenario writes it (`llm:` of an entry under `models`): EITHER a
/// built-in with some fields overridden,
///
/// ```yaml
/// models:
///   - {name: llama70-int8, llm: {based_on: llama2-70b, dtype: int8}}
///   - {name: llama7-short, llm: {based_on: llama2-7b, max_context: 2048}}
/// ```
///
/// OR every architecture field (`params`, `layers`, `hidden`, `heads`, `intermediate`, `vocab`,
/// `max_context`; `kv_heads` defaults to `heads`, `tied_embeddings` to false, `dtype` to fp16):
///
/// ```yaml
///   - {name: my-7b, llm: {params: 7.2e9, layers: 32, hidden: 4096, heads: 32, kv_heads: 8,
///                         intermediate: 14336, vocab: 32000, max_context: 8192}}
/// ```
///
/// A `based_on` spec that changes the shape (layers, widths, heads, vocabulary, tying) must give
/// `params` too: the error says what a Llama-style shape of that size holds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSpec {
    /// The built-in to start from.
    pub based_on: Option<String>,
    /// Total parameter count, e.g. `7e9`.
    pub params: Option<f64>,
    /// Transformer layers.
    pub layers: Option<u64>,
    /// Model width.
    pub hidden: Option<u64>,
    /// Query heads.
    pub heads: Option<u64>,
    /// Key/value heads (default: `heads`, or the built-in's).
    pub kv_heads: Option<u64>,
    /// Feed-forward width.
    pub intermediate: Option<u64>,
    /// Vocabulary size.
    pub vocab: Option<u64>,
    /// Longest sequence in tokens.
    pub max_context: Option<u64>,
    /// Whether the LM head shares the embedding matrix (default false, or the built-in's).
    pub tied_embeddings: Option<bool>,
    /// The weights' type (default fp16, or the built-in's).
    pub dtype: Option<WeightDtype>,
}

/// `v` as a u32 within `1..=max`, or an error naming the field and the limit.
fn field_in(field: &str, v: u64, max: u64) -> Result<u32, String> {
    if v == 0 || v > max {
        return Err(format!(
            "llm.{field}: must be between 1 and {max}, found {v}"
        ));
    }
    // max <= 2^24 < u32::MAX, so this cannot fail.
    u32::try_from(v).map_err(|_| format!("llm.{field}: {v} is too large"))
}

impl LlmSpec {
    /// Builds the architecture named `name`. Messages name the field (`llm.kv_heads: 7 does not
    /// divide heads 32`); the caller adds where the spec is.
    pub fn resolve(&self, name: &str) -> Result<LlmArch, String> {
        let base = match &self.based_on {
            Some(b) => Some(builtin_llm(b).ok_or_else(|| {
                format!(
                    "llm.based_on: `{b}` is not a built-in LLM; the built-ins are: {}",
                    builtin_llm_names()
                )
            })?),
            None => None,
        };
        let inherited = base.is_some();
        let shape = [
            ("params", self.params.is_some()),
            ("layers", self.layers.is_some()),
            ("hidden", self.hidden.is_some()),
            ("heads", self.heads.is_some()),
            ("intermediate", self.intermediate.is_some()),
            ("vocab", self.vocab.is_some()),
            ("max_context", self.max_context.is_some()),
        ];
        let missing: Vec<&str> = shape
            .iter()
            .filter(|(_, given)| !given && !inherited)
            .map(|(f, _)| *f)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "llm: give `based_on: <built-in>` or every architecture field; missing: `{}` \
                 (built-ins: {})",
                missing.join("`, `"),
                builtin_llm_names()
            ));
        }
        let pick = |field: &str, given: Option<u64>, inherited: Option<u32>, max: u64| match given {
            Some(v) => field_in(field, v, max),
            None => Ok(inherited.unwrap_or_default()),
        };
        let b = base.as_ref();
        let layers = pick("layers", self.layers, b.map(|b| b.layers), MAX_LAYERS)?;
        let hidden = pick("hidden", self.hidden, b.map(|b| b.hidden), MAX_HIDDEN)?;
        let heads = pick("heads", self.heads, b.map(|b| b.heads), MAX_HEADS)?;
        // kv_heads defaults to the built-in's, unless `heads` is overridden: then to `heads`.
        let kv_default = match b {
            Some(b) if self.heads.is_none() => b.kv_heads,
            _ => heads,
        };
        let kv_heads = pick("kv_heads", self.kv_heads, Some(kv_default), MAX_HEADS)?;
        let intermediate = pick(
            "intermediate",
            self.intermediate,
            b.map(|b| b.intermediate),
            MAX_INTERMEDIATE,
        )?;
        let vocab = pick("vocab", self.vocab, b.map(|b| b.vocab), MAX_VOCAB)?;
        let max_context = pick(
            "max_context",
            self.max_context,
            b.map(|b| b.max_context),
            MAX_CONTEXT,
        )?;
        if !hidden.is_multiple_of(heads) {
            return Err(format!(
                "llm.hidden: {hidden} is not a multiple of heads {heads} (head_dim = hidden / heads)"
            ));
        }
        if kv_heads > heads || !heads.is_multiple_of(kv_heads) {
            return Err(format!(
                "llm.kv_heads: {kv_heads} does not divide heads {heads}"
            ));
        }
        let tied_embeddings = self
            .tied_embeddings
            .unwrap_or(b.is_some_and(|b| b.tied_embeddings));
        let dtype = self
            .dtype
            .unwrap_or(b.map_or(WeightDtype::Fp16, |b| b.dtype));
        let mut arch = LlmArch {
            name: name.to_string(),
            params: 0.0,
            layers,
            hidden,
            heads,
            kv_heads,
            intermediate,
            vocab,
            max_context,
            tied_embeddings,
            dtype,
            source: match &self.based_on {
                Some(b) => format!("user-defined (scenario `models`, based on {b})"),
                None => "user-defined (scenario `models`)".to_string(),
            },
        };
        arch.params = match (self.params, b) {
            (Some(p), _) => {
                if !(p.is_finite() && p > 0.0 && p <= MAX_PARAMS) {
                    return Err(format!(
                        "llm.params: must be positive and at most 1e14, found {p}"
                    ));
                }
                p
            }
            (None, Some(b)) => {
                let reshaped = (b.layers, b.hidden, b.heads, b.kv_heads)
                    != (layers, hidden, heads, kv_heads)
                    || (b.intermediate, b.vocab, b.tied_embeddings)
                        != (intermediate, vocab, tied_embeddings);
                if reshaped {
                    return Err(format!(
                        "llm.params: the overrides change the shape of {}, so its {} parameters \
                         no longer apply; give `params` too (a Llama-style model of this shape \
                         has about {:.3e})",
                        b.name,
                        fmt_num(b.params / 1e9) + "B",
                        arch.llama_shape_params()
                    ));
                }
                b.params
            }
            (None, None) => unreachable!("missing params is reported above"),
        };
        let matrices = if tied_embeddings { 1.0 } else { 2.0 };
        if arch.params <= matrices * arch.embedding_params() {
            return Err(format!(
                "llm.params: {:.3e} is no more than the {} vocab x hidden embedding matri{} \
                 ({:.3e} parameters); the layers need parameters too",
                arch.params,
                matrices,
                if tied_embeddings { "x" } else { "ces" },
                matrices * arch.embedding_params()
            ));
        }
        Ok(arch)
    }
}

/// The serving stack whose host-side costs an LLM replica has: each is a calibration of
/// [`LlmCalibration`]'s `iteration_overhead` and `per_seq_overhead` on
/// LambdaLabsML/vllm-benchmark's Mistral-7B runs on one A100-80GB (see
/// `tests/llm_calibration.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ServingStack {
    /// vLLM 0.6 with multi-step scheduling and a separate API-server process: the host work
    /// per token is small.
    #[default]
    #[serde(rename = "vllm-0.6")]
    Vllm06,
    /// vLLM 0.5, whose API server and engine share one Python process: host work per
    /// sequence and iteration bounds throughput at large batches.
    #[serde(rename = "vllm-0.5")]
    Vllm05,
}

impl ServingStack {
    /// Fixed host cost of one iteration.
    pub fn iteration_overhead(self) -> SimTime {
        match self {
            // Calibrated on the light-load TPOT: 12.1 ms at a running batch of up to 10.
            ServingStack::Vllm06 | ServingStack::Vllm05 => SimTime(2_000_000),
        }
    }

    /// Host cost per sequence in an iteration.
    pub fn sequence_overhead(self) -> SimTime {
        match self {
            // 320 prompts at once: 3,052 output tokens/s (vLLM 0.6, results/prompt_320 file).
            ServingStack::Vllm06 => SimTime(50_000),
            // 320 prompts at once: 1,591 output tokens/s (vLLM 0.5.4, benchmark_v0.md).
            ServingStack::Vllm05 => SimTime(350_000),
        }
    }
}

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
            // Host costs of the default serving stack (see ServingStack for the calibration).
            iteration_overhead: ServingStack::default().iteration_overhead(),
            per_seq_overhead: ServingStack::default().sequence_overhead(),
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
        let raw_ops = arch.dtype.peak_ops(gpu)? * share.compute_fraction;
        let linear_rate = tpf * arch.dtype.peak_ops(gpu)? * sustained * calib.linear_efficiency;
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
    /// activation peak of a max_batch_tokens forward pass - 1 GiB runtime reserve`.
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
        let memory = format!(
            "{} ({})",
            gib(self.share_memory_bytes),
            fmt_bytes(self.share_memory_bytes)
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

/// The built-in LLMs as an aligned text table, for `capsim profiles`.
pub fn profiles_table() -> String {
    let headers = [
        "llm",
        "params",
        "layers",
        "hidden",
        "heads/kv",
        "dtype",
        "weights GiB",
        "KV/token KiB",
        "max context",
        "A100-80GB decode floor",
        "source",
    ];
    let a100 = builtin_gpu("a100-80gb").expect("a100-80gb is built in");
    let rows: Vec<Vec<String>> = builtin_llms()
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                format!("{}B", fmt_num(m.params / 1e9)),
                m.layers.to_string(),
                m.hidden.to_string(),
                format!("{}/{}", m.heads, m.kv_heads),
                m.dtype.to_string(),
                fmt_num(m.weight_bytes() / GIB),
                fmt_num(m.kv_bytes_per_token() / 1024.0),
                m.max_context.to_string(),
                format!(
                    "{}ms",
                    fmt_num(m.weight_bytes() / a100.bandwidth_bytes_per_s * 1e3)
                ),
                m.source.clone(),
            ]
        })
        .collect();
    render_table(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{GpuSharing, builtin_gpus, share};

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
            "llama2-70b (fp16) needs about 128 GiB for its weights, one t4 has 14.9 GiB (16GB); \
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
            e.contains("one mig 1g.10gb of a a100-80gb has 9.3 GiB (10GB)"),
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
            .unwrap_err();
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
        let e = |y: &str| spec(y).resolve("x").unwrap_err();
        assert_eq!(
            e("{based_on: llama2-7b, kv_heads: 7}"),
            "llm.kv_heads: 7 does not divide heads 32"
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
}
