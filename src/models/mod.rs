//! Compute cost of a model on a GPU: batch-latency curves for non-LLM networks, and the
//! per-iteration roofline of an LLM (the generic service-time model is a plain distribution,
//! see [`crate::workload::Dist`]).

pub mod batch;
pub mod llm;
