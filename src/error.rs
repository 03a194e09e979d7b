//! Errors about one field of a value read from a scenario, typed so that the scenario loader
//! can point at the field without reading it back out of the message.
//!
//! This module names nothing else of the crate: the checks in `workload` and `models` return
//! its errors, and `scenario` places them in the file.

/// An error about a value, and which of its fields it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The field, as a dotted path relative to the checked value (`exponential.mean` in
    /// `{exponential: {mean: 0s}}`); empty when the error is about the value as a whole.
    pub field: String,
    /// The whole message, which names the field itself (`exponential: mean must be
    /// positive`).
    pub message: String,
}

impl FieldError {
    /// An error about `field` of the value.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error about the value as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        FieldError::new("", message)
    }
}
