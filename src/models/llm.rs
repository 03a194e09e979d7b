//! Temporary stub: replaced by the LLM cost module.
#![allow(missing_docs)]
use crate::engine::SimTime;
use crate::hardware::{GpuProfile, Share};
use serde::Deserialize;
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterShape {
    pub prefill_tokens: u64,
    pub prefill_pairs: f64,
    pub prefill_seqs: u64,
    pub decode_seqs: u64,
    pub decode_ctx_tokens: u64,
}
#[derive(Debug, Clone, PartialEq)]
pub struct LlmArch {
    pub name: String,
    pub params: f64,
    pub max_context: u32,
    pub kv: f64,
}
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LlmSpec {
    pub based_on: Option<String>,
}
impl LlmSpec {
    pub fn resolve(&self, _n: &str) -> Result<LlmArch, String> {
        builtin_llm(self.based_on.as_deref().unwrap_or("")).ok_or("x".into())
    }
}
pub fn builtin_llm(n: &str) -> Option<LlmArch> {
    (n == "llama2-7b" || n == "mistral-7b").then(|| LlmArch {
        name: n.into(),
        params: 6.74e9,
        max_context: 4096,
        kv: 524288.0,
    })
}
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlmCalibration {
    pub iteration_overhead: SimTime,
    pub per_seq_overhead: SimTime,
}
impl Default for LlmCalibration {
    fn default() -> Self {
        LlmCalibration {
            iteration_overhead: SimTime(2_000_000),
            per_seq_overhead: SimTime(20_000),
        }
    }
}
#[derive(Debug, Clone)]
pub struct LlmCost {
    w: f64,
    kv: f64,
    bw: f64,
    fl: f64,
    cal: LlmCalibration,
    mem: f64,
}
impl LlmCost {
    pub fn new(
        a: &LlmArch,
        g: &GpuProfile,
        s: &Share,
        tp: u32,
        cal: &LlmCalibration,
    ) -> Result<LlmCost, String> {
        Ok(LlmCost {
            w: a.params * 2.0 / tp as f64,
            kv: a.kv / tp as f64,
            bw: g.bandwidth_bytes_per_s * s.bandwidth_fraction * 0.77,
            fl: g.fp16_tflops * 1e12 * 0.72 * s.compute_fraction * tp as f64 / (2.0 * a.params),
            cal: *cal,
            mem: s.memory_bytes,
        })
    }
    pub fn iteration(&self, s: &IterShape) -> SimTime {
        if s.prefill_tokens + s.decode_seqs == 0 {
            return SimTime::ZERO;
        }
        let c = (s.prefill_tokens + s.decode_seqs) as f64 / self.fl;
        let m = (self.w + self.kv * s.decode_ctx_tokens as f64) / self.bw;
        self.cal.iteration_overhead
            + SimTime(self.cal.per_seq_overhead.0 * (s.decode_seqs + s.prefill_seqs))
            + SimTime::from_secs_f64(c.max(m))
    }
    pub fn kv_capacity_tokens(&self, util: f64, _mbt: u64) -> Result<u64, String> {
        Ok(((self.mem * util - self.w - 1e9) / self.kv).max(0.0) as u64)
    }
}
pub fn builtin_llms() -> Vec<LlmArch> {
    vec![
        builtin_llm("llama2-7b").unwrap(),
        builtin_llm("mistral-7b").unwrap(),
    ]
}
