//! `capsim validate`.

use super::Outcome;
use crate::scenario::{self, InputErrors};
use std::path::PathBuf;

pub(super) fn validate(files: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut errors = Vec::new();
    for f in files {
        match scenario::plan_file(f, &[]) {
            Ok(_) => super::emitln(&format!("ok {}", f.display())),
            Err(InputErrors(es)) => errors.extend(es),
        }
    }
    if errors.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(InputErrors(errors).into())
    }
}
