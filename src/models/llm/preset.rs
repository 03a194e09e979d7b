//! Engine presets: which vLLM scheduler an LLM replica runs (its defaults and rules) and the
//! host-side costs of the serving stack around it.
//!
//! A preset is named after the scheduler it implements:
//!
//! - `vllm-v1` (the default): vLLM's V1 engine, the only one since v0.11 (default since v0.8).
//!   Prefills are always chunked and mixed with decodes under one token budget per step; the
//!   budget and the batch limit depend on the GPU (`EngineArgs.get_batch_defaults`,
//!   vllm/engine/arg_utils.py: 8,192 tokens and 1,024 sequences for the OpenAI server on GPUs
//!   with at least 70 GiB that are not A100s, since a larger budget lowered A100 throughput,
//!   vllm-project/vllm#17885; 2,048 tokens and 256 sequences elsewhere). The V1 KV-cache
//!   manager keeps no free-block watermark.
//! - `vllm-v0`: the V0 scheduler of vLLM 0.5-0.10 (vllm/core/scheduler.py): without chunked
//!   prefill (its default below 32k context) an iteration is either a prefill of whole prompts
//!   or a decode of every running sequence; 256 sequences, a budget of max(max_model_len, 2048)
//!   tokens (512 with chunked prefill), 1% of the blocks kept free. Host costs as measured on
//!   vLLM 0.6.x.
//! - `vllm-v0-0.5`: the same V0 scheduler with vLLM 0.5.4's host costs, whose API server shared
//!   the engine's Python process.
//!
//! The host costs are [`LlmCalibration`](super::LlmCalibration)'s `iteration_overhead` and
//! `per_seq_overhead`, fitted in `tests/llm_calibration.rs` (see `docs/sources.md`).

use crate::engine::SimTime;
use crate::hardware::{GpuProfile, builtin_gpu, render_table};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Bytes in a GiB, the unit of vLLM's 70 GiB threshold.
const GIB: f64 = (1u64 << 30) as f64;

/// The engine a replica runs: a vLLM scheduler and the host costs of its serving stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnginePreset {
    /// vLLM's V1 scheduler (what `vllm serve` runs today): chunked prefill always.
    #[default]
    VllmV1,
    /// vLLM's V0 scheduler, host costs of vLLM 0.6.x.
    VllmV0,
    /// vLLM's V0 scheduler, host costs of vLLM 0.5.4 (API server in the engine's process).
    VllmV0Legacy,
}

/// Batch limits a preset defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDefaults {
    /// `max_num_seqs`.
    pub max_num_seqs: u64,
    /// `max_num_batched_tokens`.
    pub max_batch_tokens: u64,
}

impl EnginePreset {
    /// Every preset, the default first.
    pub const ALL: [EnginePreset; 3] = [
        EnginePreset::VllmV1,
        EnginePreset::VllmV0,
        EnginePreset::VllmV0Legacy,
    ];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            EnginePreset::VllmV1 => "vllm-v1",
            EnginePreset::VllmV0 => "vllm-v0",
            EnginePreset::VllmV0Legacy => "vllm-v0-0.5",
        }
    }

    /// One line on what the preset runs, for `capsim profiles`.
    pub fn describe(self) -> &'static str {
        match self {
            EnginePreset::VllmV1 => {
                "vLLM V1 scheduler (v0.8+): chunked prefill always, decodes first in one token budget"
            }
            EnginePreset::VllmV0 => {
                "vLLM V0 scheduler: whole-prompt prefill iterations unless chunked_prefill; vLLM 0.6 host costs"
            }
            EnginePreset::VllmV0Legacy => {
                "vLLM V0 scheduler with vLLM 0.5.4's host costs (API server in the engine's process)"
            }
        }
    }

    /// Parses a preset name; the names of earlier releases get a pointer to the new one.
    pub fn from_name(s: &str) -> Result<EnginePreset, String> {
        if let Some(p) = Self::ALL.iter().find(|p| p.name() == s) {
            return Ok(*p);
        }
        let known = Self::ALL.map(|p| p.name()).join("`, `");
        Err(match s {
            "vllm-0.6" => "`vllm-0.6` is now `vllm-v0` (it runs vLLM's V0 scheduler); \
                           the default `vllm-v1` runs the V1 scheduler of current vLLM"
                .to_string(),
            "vllm-0.5" => "`vllm-0.5` is now `vllm-v0-0.5` (vLLM's V0 scheduler with vLLM \
                           0.5.4's host costs)"
                .to_string(),
            _ => format!("unknown engine `{s}`; engines are: `{known}`"),
        })
    }

    /// Whether prefills are always chunked (V1 has no other mode).
    pub fn always_chunked(self) -> bool {
        self == EnginePreset::VllmV1
    }

    /// Whether admission keeps 1% of the KV blocks free (V0's block manager watermark; V1 keeps
    /// none).
    pub fn keeps_watermark(self) -> bool {
        self != EnginePreset::VllmV1
    }

    /// The batch limits this preset defaults to on `gpu`, for a model of `max_model_len` tokens.
    pub fn batch_defaults(
        self,
        gpu: &GpuProfile,
        max_model_len: u64,
        chunked_prefill: bool,
    ) -> BatchDefaults {
        match self {
            EnginePreset::VllmV1 => {
                // vllm/engine/arg_utils.py, EngineArgs.get_batch_defaults, OPENAI_API_SERVER: the
                // device's total memory and its name decide, as vLLM reads them from torch.
                let large = gpu.memory_bytes >= 70.0 * GIB
                    && !gpu.name.to_ascii_lowercase().contains("a100");
                if large {
                    BatchDefaults {
                        max_num_seqs: 1024,
                        max_batch_tokens: 8192,
                    }
                } else {
                    BatchDefaults {
                        max_num_seqs: 256,
                        max_batch_tokens: 2048,
                    }
                }
            }
            EnginePreset::VllmV0 | EnginePreset::VllmV0Legacy => BatchDefaults {
                // vllm/engine/arg_utils.py and vllm/config.py SchedulerConfig (v0.5.4-v0.6.x).
                max_num_seqs: 256,
                max_batch_tokens: if chunked_prefill {
                    512
                } else {
                    max_model_len.max(2048)
                },
            },
        }
    }

    /// Fixed host cost of one iteration.
    pub fn iteration_overhead(self) -> SimTime {
        match self {
            // Calibrated on the light-load TPOT of the vLLM 0.6.x run: 12.1 ms at a running batch
            // of up to 10 (tests/llm_calibration.rs). V1 carries it over: no V1 measurement is in
            // the fitted set (an assumption).
            EnginePreset::VllmV1 | EnginePreset::VllmV0 | EnginePreset::VllmV0Legacy => {
                SimTime(2_000_000)
            }
        }
    }

    /// Host cost per sequence in an iteration.
    pub fn sequence_overhead(self) -> SimTime {
        match self {
            // 320 prompts at once: 3,052 output tokens/s (vLLM 0.6.x, results/prompt_320 file).
            // V1 carries it over, as above.
            EnginePreset::VllmV1 | EnginePreset::VllmV0 => SimTime(50_000),
            // 320 prompts at once: 1,591 output tokens/s (vLLM 0.5.4, benchmark_v0.md).
            EnginePreset::VllmV0Legacy => SimTime(350_000),
        }
    }
}

/// The engine presets as an aligned text table, for `capsim profiles`.
pub fn engines_table() -> String {
    let headers = [
        "engine",
        "prefill",
        "A100-80GB seqs/tokens",
        "H100-80GB seqs/tokens",
        "free-block watermark",
        "host cost per iteration",
        "per sequence",
        "what it runs",
    ];
    let limits = |p: EnginePreset, gpu: &str| {
        let g = builtin_gpu(gpu).expect("built in");
        let d = p.batch_defaults(&g, 4096, p.always_chunked());
        format!("{}/{}", d.max_num_seqs, d.max_batch_tokens)
    };
    let rows: Vec<Vec<String>> = EnginePreset::ALL
        .iter()
        .map(|&p| {
            vec![
                p.name().to_string(),
                if p.always_chunked() {
                    "chunked".to_string()
                } else {
                    "whole (chunked_prefill: true chunks)".to_string()
                },
                limits(p, "a100-80gb"),
                limits(p, "h100-80gb"),
                if p.keeps_watermark() { "1%" } else { "none" }.to_string(),
                p.iteration_overhead().to_string(),
                p.sequence_overhead().to_string(),
                p.describe().to_string(),
            ]
        })
        .collect();
    render_table(&headers, &rows)
}

impl fmt::Display for EnginePreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for EnginePreset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnginePreset;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an engine name such as `vllm-v1`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnginePreset, E> {
                EnginePreset::from_name(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::builtin_gpu;

    #[test]
    fn names_round_trip_and_old_names_point_to_new_ones() {
        for p in EnginePreset::ALL {
            assert_eq!(EnginePreset::from_name(p.name()), Ok(p));
        }
        assert_eq!(EnginePreset::default(), EnginePreset::VllmV1);
        assert!(
            EnginePreset::from_name("vllm-0.6")
                .unwrap_err()
                .contains("`vllm-v0`")
        );
        assert!(
            EnginePreset::from_name("vllm-0.5")
                .unwrap_err()
                .contains("`vllm-v0-0.5`")
        );
        let e = EnginePreset::from_name("tgi").unwrap_err();
        assert!(e.contains("`vllm-v1`, `vllm-v0`, `vllm-v0-0.5`"), "{e}");
    }

    #[test]
    fn v1_batch_defaults_follow_vllms_gpu_rule() {
        // vllm/engine/arg_utils.py: >= 70 GiB and not an A100 -> 8192 / 1024, else 2048 / 256.
        let v1 =
            |g: &str| EnginePreset::VllmV1.batch_defaults(&builtin_gpu(g).unwrap(), 4096, true);
        for g in ["h100-80gb", "h200"] {
            assert_eq!(v1(g).max_batch_tokens, 8192, "{g}");
            assert_eq!(v1(g).max_num_seqs, 1024, "{g}");
        }
        for g in ["a100-80gb", "a100-40gb", "v100-32gb", "t4"] {
            assert_eq!(v1(g).max_batch_tokens, 2048, "{g}");
            assert_eq!(v1(g).max_num_seqs, 256, "{g}");
        }
        let v0 =
            EnginePreset::VllmV0.batch_defaults(&builtin_gpu("h100-80gb").unwrap(), 4096, false);
        assert_eq!((v0.max_num_seqs, v0.max_batch_tokens), (256, 4096));
        let v0 =
            EnginePreset::VllmV0.batch_defaults(&builtin_gpu("a100-80gb").unwrap(), 1000, true);
        assert_eq!(v0.max_batch_tokens, 512);
    }
}
