//! The architecture of a decoder-only transformer: its shape, parameter count, KV-cache bytes
//! per token and operation counts; and the built-in LLMs with their sources.

use crate::hardware::{GpuProfile, builtin_gpu, fmt_num, render_table};
use crate::models::batch::Precision;
use serde::Deserialize;
use std::fmt;

/// Bytes in a GiB (binary), the unit vLLM and `nvidia-smi` report memory in.
pub(super) const GIB: f64 = (1u64 << 30) as f64;

/// Bytes per element of the KV cache: FP16 (vLLM's default `kv_cache_dtype: auto` keeps the
/// model's 16-bit activation type even when the weights are quantized).
pub(super) const KV_ELEM_BYTES: f64 = 2.0;

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
