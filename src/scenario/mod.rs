//! Scenario files: YAML with units, defaults, strict field checking, `--set` overrides,
//! cross-reference and limit checks, and resolution into a [`Plan`](crate::sim::Plan).

pub mod control_plane;
pub mod sweep;
pub mod types;
mod validate;
pub mod yaml;

pub use types::Scenario;
pub use validate::{Check, CheckOp, build_plan, parse_check};
pub use yaml::LoadError;

use std::path::Path;

/// Errors in a scenario, each with its place; the CLI exits 2 on them.
#[derive(Debug, Clone, PartialEq)]
pub struct InputErrors(pub Vec<LoadError>);

impl std::fmt::Display for InputErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

impl From<LoadError> for InputErrors {
    fn from(e: LoadError) -> Self {
        InputErrors(vec![e])
    }
}

/// A parsed scenario with what is needed to point at its lines later.
pub struct Loaded {
    /// The typed scenario.
    pub scenario: Scenario,
    /// The located YAML tree (for error positions).
    pub tree: yaml::Located,
    /// File name as given, for messages.
    pub file: String,
    /// Folder of the file: relative paths in the scenario (traces, CSV columns) start here.
    pub base_dir: std::path::PathBuf,
}

/// Reads a scenario file's bytes; the error names the file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| {
        LoadError::unplaced(
            path.display().to_string(),
            "",
            format!("cannot read the scenario file: {e}"),
        )
    })
}

/// Reads and parses a scenario file, applying `--set` overrides.
pub fn load_file(path: &Path, overrides: &[String]) -> Result<Loaded, InputErrors> {
    let file = path.display().to_string();
    let bytes = read_file(path)?;
    load_bytes(
        &file,
        &bytes,
        overrides,
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// Parses scenario text (named `file` in messages), applying `--set` overrides.
pub fn load_bytes(
    file: &str,
    bytes: &[u8],
    overrides: &[String],
    base_dir: &Path,
) -> Result<Loaded, InputErrors> {
    let (scenario, tree) = yaml::load::<Scenario>(file, bytes, overrides)?;
    Ok(Loaded {
        scenario,
        tree,
        file: file.to_string(),
        base_dir: base_dir.to_path_buf(),
    })
}

/// The error of a run stopped at its event budget, placed at the scenario field behind most
/// of its events (the CLI exits 2 on it, as on any bad input).
pub fn budget_error(l: &Loaded, e: &crate::sim::EventBudgetExceeded) -> InputErrors {
    yaml::error_at(&l.file, &l.tree, &e.field, e.message.clone()).into()
}

/// Loads, checks and resolves a scenario file into a plan, ready to simulate.
pub fn plan_file(path: &Path, overrides: &[String]) -> Result<crate::sim::Plan, InputErrors> {
    let loaded = load_file(path, overrides)?;
    build_plan(&loaded).map_err(InputErrors)
}
