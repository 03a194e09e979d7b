//! `capsim validate`.

use super::Outcome;
use crate::scenario::{self, InputErrors};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(super) fn validate(files: &[PathBuf], overrides: &super::Overrides) -> anyhow::Result<Outcome> {
    let overrides = overrides.to_list();
    let mut errors = Vec::new();
    for f in files {
        match check(f, &overrides) {
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

/// Points checked per slice: a grid of 100,000 points is never held in memory at once.
const SLICE: usize = 1024;

/// Checks one file with `overrides` applied; a scenario with a `sweep:` grid is checked at
/// every point, as `capsim sweep` would before running any, with a progress bar on stderr
/// when it is a terminal and the grid takes more than one slice.
fn check(f: &Path, overrides: &[String]) -> Result<String, InputErrors> {
    let loaded = scenario::load_file(f, overrides)?;
    scenario::build_plan(&loaded).map_err(InputErrors)?;
    if loaded.scenario.sweep.is_none() {
        return Ok(String::new());
    }
    let sweep = crate::sweep::load_file_with(f, overrides)?;
    let all: Vec<usize> = (0..sweep.points).collect();
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let show = sweep.points > SLICE && std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        if show {
            crate::sim::progress_bar(
                scope,
                sweep.points as u64,
                "{spinner} validating sweep points [{bar:40}] {pos}/{len} ({elapsed} elapsed, ~{eta} left)",
                &done,
                &finished,
            );
        }
        let checked = all
            .chunks(SLICE)
            .try_for_each(|chunk| -> Result<(), InputErrors> {
                sweep.plans(chunk)?;
                done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok(())
            });
        finished.store(true, Ordering::Relaxed);
        checked
    })?;
    Ok(format!(
        " (sweep: {} point{}, all valid)",
        sweep.points,
        if sweep.points == 1 { "" } else { "s" }
    ))
}
