//! `capsim validate`.

use super::Outcome;
use crate::scenario::{self, InputErrors};
use std::path::PathBuf;

pub(super) fn validate(files: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut errors = Vec::new();
    for f in files {
        match check(f) {
            Ok(note) => super::emitln(&format!("ok {}{note}", f.display())),
            Err(InputErrors(es)) => errors.extend(es),
        }
    }
    if errors.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(InputErrors(errors).into())
    }
}

/// Checks one file; a scenario with a `sweep:` grid is checked at every point, as
/// `capsim sweep` would before running any.
fn check(f: &std::path::Path) -> Result<String, InputErrors> {
    let loaded = scenario::load_file(f, &[])?;
    scenario::build_plan(&loaded).map_err(InputErrors)?;
    if loaded.scenario.sweep.is_none() {
        return Ok(String::new());
    }
    let sweep = crate::sweep::load_file(f)?;
    // In slices, so that a grid of 100,000 points is not held in memory at once.
    let all: Vec<usize> = (0..sweep.points).collect();
    for chunk in all.chunks(1024) {
        sweep.plans(chunk)?;
    }
    Ok(format!(
        " (sweep: {} point{}, all valid)",
        sweep.points,
        if sweep.points == 1 { "" } else { "s" }
    ))
}
