//! `models:`: user-defined models (a service-time distribution, a batch-latency curve or an
//! LLM), and which model names are LLMs.

use super::{Errs, unique_names};
use crate::models::batch as batch_models;
use crate::models::llm;
use crate::scenario::types::Scenario;

/// Names of the built-in models, for suggestions.
pub(super) fn builtin_model_names() -> Vec<String> {
    batch_models::builtin_batch_models()
        .into_iter()
        .map(|m| m.name)
        .chain(llm::builtin_llms().into_iter().map(|m| m.name))
        .collect()
}

/// `models:`: unique names that do not shadow a built-in, each with exactly one valid kind.
pub(super) fn check(e: &mut Errs, sc: &Scenario, builtin_models: &[String]) {
    unique_names(e, "models", sc.models.iter().map(|m| m.name.as_str()));
    for (i, m) in sc.models.iter().enumerate() {
        if builtin_models.contains(&m.name) {
            e.at(
                &format!("models[{i}].name"),
                format!("`{}` is a built-in model; give yours another name", m.name),
            );
        }
        let kinds = [
            m.service_time.is_some(),
            m.batch_latency.is_some(),
            m.llm.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => e.at(
                &format!("models[{i}]"),
                "a model needs `service_time` (a distribution), `batch_latency` or `llm`",
            ),
            1 => {}
            _ => e.at(
                &format!("models[{i}]"),
                "a model has one of `service_time`, `batch_latency` or `llm`, not several",
            ),
        }
        if let Some(d) = &m.service_time
            && let Err(err) = d.check()
        {
            e.at_field(&format!("models[{i}].service_time"), err);
        }
        if let Some(b) = &m.batch_latency
            && let Err(msg) = b.check()
        {
            e.at(&format!("models[{i}].batch_latency"), msg);
        }
        // At the `llm:` block, not at err.field: where these errors have always pointed.
        if let Some(spec) = &m.llm
            && let Err(err) = spec.resolve(&m.name)
        {
            e.at(&format!("models[{i}].llm"), err.message);
        }
    }
}

/// Whether `model` is an LLM: a built-in one, or a user model with `llm:` (even one whose
/// architecture is invalid, so that its service is not also judged as a non-LLM).
pub(super) fn names_llm(sc: &Scenario, model: &str) -> bool {
    llm::builtin_llm(model).is_some()
        || sc.models.iter().any(|m| m.name == model && m.llm.is_some())
}
