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
//! compute = [ body_flops x tokens + head_flops x rows ] / (tp x peak(dtype) x llm_sustained x compute_fraction x linear_efficiency)
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
//!   `sustained` its [`GpuProfile::sustained_compute_fraction`] (`llm_sustained` its
//!   [`GpuProfile::llm_compute_fraction`], measured on LLM GEMMs); `compute_fraction` and
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
//!
//! [`GpuProfile::sustained_compute_fraction`]: crate::hardware::GpuProfile::sustained_compute_fraction
//! [`GpuProfile::llm_compute_fraction`]: crate::hardware::GpuProfile::llm_compute_fraction
//! [`Share`]: crate::hardware::Share

mod arch;
mod cost;
mod preset;
mod spec;

#[cfg(test)]
mod tests;

pub use arch::{
    LlmArch, WeightDtype, builtin_llm, builtin_llm_names, builtin_llms, profiles_table,
};
pub use cost::{
    IterShape, KV_BLOCK_TOKENS, LlmCalibration, LlmCost, PREFILL_NON_GEMM, TENSOR_PARALLEL_DEGREES,
};
pub use preset::{BatchDefaults, EnginePreset, engines_table};
pub use spec::LlmSpec;
