//! The `llm:` block of a scenario's model (serde's [`LlmSpec`]) and its resolution into an
//! [`LlmArch`].

use super::arch::{LlmArch, WeightDtype, builtin_llm, builtin_llm_names};
use crate::error::FieldError;
use crate::hardware::fmt_num;
use serde::Deserialize;

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
fn field_in(field: &str, v: u64, max: u64) -> Result<u32, FieldError> {
    if v == 0 || v > max {
        return Err(FieldError::new(
            field,
            format!("llm.{field}: must be between 1 and {max}, found {v}"),
        ));
    }
    // max <= 2^24 < u32::MAX, so this cannot fail.
    u32::try_from(v).map_err(|_| FieldError::new(field, format!("llm.{field}: {v} is too large")))
}

impl LlmSpec {
    /// Builds the architecture named `name`. Messages name the field (`llm.kv_heads: 7 does not
    /// divide heads 32`), and so does the error's field (`kv_heads`; empty for the missing
    /// fields); the caller adds where the spec is.
    pub fn resolve(&self, name: &str) -> Result<LlmArch, FieldError> {
        let base = match &self.based_on {
            Some(b) => Some(builtin_llm(b).ok_or_else(|| {
                FieldError::new(
                    "based_on",
                    format!(
                        "llm.based_on: `{b}` is not a built-in LLM; the built-ins are: {}",
                        builtin_llm_names()
                    ),
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
            return Err(FieldError::whole(format!(
                "llm: give `based_on: <built-in>` or every architecture field; missing: `{}` \
                 (built-ins: {})",
                missing.join("`, `"),
                builtin_llm_names()
            )));
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
            return Err(FieldError::new(
                "hidden",
                format!(
                    "llm.hidden: {hidden} is not a multiple of heads {heads} (head_dim = hidden / heads)"
                ),
            ));
        }
        if kv_heads > heads || !heads.is_multiple_of(kv_heads) {
            return Err(FieldError::new(
                "kv_heads",
                format!("llm.kv_heads: {kv_heads} does not divide heads {heads}"),
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
                    return Err(FieldError::new(
                        "params",
                        format!("llm.params: must be positive and at most 1e14, found {p}"),
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
                    return Err(FieldError::new(
                        "params",
                        format!(
                            "llm.params: the overrides change the shape of {}, so its {} parameters \
                             no longer apply; give `params` too (a Llama-style model of this shape \
                             has about {:.3e})",
                            b.name,
                            fmt_num(b.params / 1e9) + "B",
                            arch.llama_shape_params()
                        ),
                    ));
                }
                b.params
            }
            (None, None) => unreachable!("missing params is reported above"),
        };
        let matrices = if tied_embeddings { 1.0 } else { 2.0 };
        if arch.params <= matrices * arch.embedding_params() {
            return Err(FieldError::new(
                "params",
                format!(
                    "llm.params: {:.3e} is no more than the {} vocab x hidden embedding matri{} \
                     ({:.3e} parameters); the layers need parameters too",
                    arch.params,
                    matrices,
                    if tied_embeddings { "x" } else { "ces" },
                    matrices * arch.embedding_params()
                ),
            ));
        }
        Ok(arch)
    }
}
