//! An LLM service's engine: tensor parallelism, vLLM's limits and defaults, the KV cache.

use super::Errs;
use crate::models::llm::{LlmArch, LlmCalibration, LlmCost};
use crate::scenario::types::{ContinuousBatching, limits};
use crate::serving::llm::EngineConfig;
use crate::sim::plan::{Cost, LlmPlan, PoolPlan};

/// vLLM's default `gpu_memory_utilization`.
const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
/// vLLM's default KV cache `block_size`.
const DEFAULT_BLOCK_SIZE: u64 = 16;

/// Resolves an LLM service: the cost of an iteration on its GPUs (tensor parallel over
/// `gpus_per_replica`) and the engine's limits and KV cache, with the defaults of the vLLM
/// scheduler its `engine` names.
pub(super) fn llm_plan(
    e: &mut Errs,
    i: usize,
    gpus_per_replica: u64,
    arch: &LlmArch,
    pool: &PoolPlan,
    spec: &ContinuousBatching,
) -> Option<Cost> {
    let at = |f: &str| format!("services[{i}].{f}");
    let bat = |f: &str| format!("services[{i}].batching.continuous.{f}");
    let mut ok = true;
    let tp = gpus_per_replica;
    if !matches!(tp, 1 | 2 | 4 | 8) {
        e.at(
            &at("gpus_per_replica"),
            format!("an LLM replica runs tensor parallel over 1, 2, 4 or 8 GPUs (found {tp})"),
        );
        return None;
    }
    if tp > 1 && pool.share.units_per_gpu > 1 {
        e.at(
            &at("gpus_per_replica"),
            format!(
                "tensor parallelism needs whole GPUs; pool `{}` shares its GPUs ({}): use gpus_per_replica: 1 or a pool without gpu_sharing",
                pool.name, pool.share.label
            ),
        );
        return None;
    }
    let mut calib = LlmCalibration {
        iteration_overhead: spec.engine.iteration_overhead(),
        per_seq_overhead: spec.engine.sequence_overhead(),
        ..LlmCalibration::default()
    };
    if let Some(d) = spec.iteration_overhead {
        calib.iteration_overhead = d.0;
    }
    if let Some(d) = spec.sequence_overhead {
        calib.per_seq_overhead = d.0;
    }
    let cost = match LlmCost::new(arch, &pool.gpu, &pool.share, tp as u32, &calib)
        .and_then(|c| c.with_kv_elem_bytes(spec.kv_cache_dtype.bytes()))
    {
        Ok(c) => c,
        Err(msg) => {
            e.at(&at("model"), msg);
            return None;
        }
    };
    let max_model_len = spec.max_model_len.unwrap_or(arch.max_context as u64);
    if max_model_len < 2 || max_model_len > arch.max_context as u64 {
        e.at(
            &bat("max_model_len"),
            format!(
                "max_model_len must be from 2 to the model's context of {} tokens (found {max_model_len})",
                arch.max_context
            ),
        );
        ok = false;
    }
    let engine = spec.engine;
    let chunked = match spec.chunked_prefill {
        Some(false) if engine.always_chunked() => {
            e.at(
                &bat("chunked_prefill"),
                format!(
                    "engine `{engine}` always chunks prefills, as vLLM's V1 scheduler does; use \
                     `engine: vllm-v0` for whole-prompt prefills"
                ),
            );
            ok = false;
            true
        }
        Some(c) => c,
        None => engine.always_chunked(),
    };
    let defaults = engine.batch_defaults(&pool.gpu, max_model_len, chunked);
    let max_num_seqs = spec.max_num_seqs.unwrap_or(defaults.max_num_seqs);
    if max_num_seqs == 0 || max_num_seqs > limits::MAX_NUM_SEQS {
        e.at(
            &bat("max_num_seqs"),
            format!(
                "max_num_seqs must be from 1 to {} (found {max_num_seqs})",
                limits::MAX_NUM_SEQS
            ),
        );
        ok = false;
    }
    // V0 raises its 512-token chunked budget to max_num_seqs; V1 refuses a budget below it.
    let max_batch_tokens =
        spec.max_batch_tokens
            .unwrap_or(if chunked && !engine.always_chunked() {
                defaults.max_batch_tokens.max(max_num_seqs)
            } else {
                defaults.max_batch_tokens
            });
    if max_batch_tokens == 0 || max_batch_tokens > limits::MAX_BATCH_TOKENS {
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens must be from 1 to {} (found {max_batch_tokens})",
                limits::MAX_BATCH_TOKENS
            ),
        );
        ok = false;
    } else if ok && !chunked && max_batch_tokens < max_model_len {
        // vLLM refuses this too: a prompt longer than the budget could never be prefilled.
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens ({max_batch_tokens}) is smaller than max_model_len ({max_model_len}): without chunked prefill a long prompt could never run; raise it, lower max_model_len or set `chunked_prefill: true`"
            ),
        );
        ok = false;
    } else if ok && max_batch_tokens < max_num_seqs {
        e.at(
            &bat("max_batch_tokens"),
            format!(
                "max_batch_tokens ({max_batch_tokens}) must be at least max_num_seqs ({max_num_seqs}): every running sequence needs a token of the budget"
            ),
        );
        ok = false;
    }
    let util = spec
        .gpu_memory_utilization
        .unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION);
    if !(util > 0.0 && util <= 1.0) {
        e.at(
            &bat("gpu_memory_utilization"),
            format!("gpu_memory_utilization must be above 0 and at most 1 (found {util})"),
        );
        ok = false;
    }
    let block_size = spec.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    if !matches!(block_size, 8 | 16 | 32) {
        e.at(
            &bat("block_size"),
            format!("block_size must be 8, 16 or 32, as in vLLM (found {block_size})"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let kv_tokens = match cost.kv_capacity_tokens(util, max_batch_tokens, max_model_len) {
        Ok(t) => t,
        Err(msg) => {
            e.at(&at("model"), msg);
            return None;
        }
    };
    let kv_blocks = (kv_tokens / block_size).min(u32::MAX as u64) as u32;
    Some(Cost::Llm(Box::new(LlmPlan {
        cost,
        engine: EngineConfig {
            max_num_seqs: max_num_seqs as u32,
            max_batch_tokens: max_batch_tokens as u32,
            chunked_prefill: chunked,
            watermark: engine.keeps_watermark(),
            block_size: block_size as u32,
            kv_blocks,
            max_context: max_model_len as u32,
        },
        request_overhead: spec
            .request_overhead
            .map_or(crate::serving::llm::DEFAULT_REQUEST_OVERHEAD, |d| d.0),
    })))
}
