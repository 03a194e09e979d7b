//! What a sweep writes: `sweep.json` (the manifest), `points/NNNNNN.csv` (one file per point,
//! written when the point finishes) and `sweep.csv` (assembled from the point files).
//!
//! The point files are the record of truth: resuming and merging only ever read them back,
//! so an interrupted, resumed, sharded or merged sweep writes the same bytes as one run.

use crate::report::row_fields;
use crate::sim::Report;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The columns after the swept paths, in sweep.csv and in every point file: summary.csv's
/// after `scenario`.
pub const FIXED_COLUMNS: &[&str] = crate::report::SUMMARY_COLUMNS.split_at(1).1;

/// `sweep.json`: identifies the sweep a folder belongs to, so that resuming or merging never
/// mixes points of different scenarios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Scenario name.
    pub scenario: String,
    /// Hash of the scenario file's bytes (grid included): `fnv1a64:` and 16 hex digits.
    pub scenario_hash: String,
    /// The capsim version that simulated the points (another version may give other figures).
    pub capsim_version: String,
    /// `cartesian` or `zip`.
    pub mode: String,
    /// Points in the whole grid (not only this shard's).
    pub points: usize,
    /// The swept paths, as written: the first columns of sweep.csv.
    pub columns: Vec<String>,
    /// `I/N` for the output of one shard; absent for a whole sweep (and a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The `--set` assignments applied before the grid (`--seed S` and `--replications N`
    /// as `seed=S`, `replications=N`), in order; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

impl Manifest {
    /// Whether two folders hold points of the same sweep (shards may differ).
    pub fn same_sweep(&self, other: &Manifest) -> bool {
        self.scenario == other.scenario
            && self.scenario_hash == other.scenario_hash
            && self.capsim_version == other.capsim_version
            && self.mode == other.mode
            && self.points == other.points
            && self.columns == other.columns
            && self.overrides == other.overrides
    }

    /// The manifest as written: pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }

    /// The header of sweep.csv and of every point file.
    pub fn header(&self) -> Vec<String> {
        self.columns
            .iter()
            .cloned()
            .chain(FIXED_COLUMNS.iter().map(|s| s.to_string()))
            .collect()
    }
}

pub use crate::report::names::fnv1a64;

/// Reads `dir/sweep.json`; `Ok(None)` when there is none.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join("sweep.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{} is not a capsim sweep manifest: {e}", path.display()))
}

/// The file of point `index` under `dir`.
pub fn point_path(dir: &Path, index: usize) -> PathBuf {
    dir.join("points").join(format!("{index:06}.csv"))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a reader (or a
/// resumed sweep after a kill) sees either the whole file or none.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The rows of one point: its values, then one row per summary figure.
pub fn point_rows(values: &[String], report: &Report) -> Vec<Vec<String>> {
    report
        .rows
        .iter()
        .map(|r| values.iter().cloned().chain(row_fields(r)).collect())
        .collect()
}

/// CSV text of a header and rows.
pub fn csv_bytes<'a>(
    header: &[String],
    rows: impl IntoIterator<Item = &'a Vec<String>>,
) -> Vec<u8> {
    crate::report::csv_text(header, rows).into_bytes()
}

/// Reads a point file back: its data rows, if its header is `header` and every row has as
/// many fields (anything else is not a point of this sweep: it is run again).
pub fn read_point(path: &Path, header: &[String]) -> Option<Vec<Vec<String>>> {
    read_point_checked(path, header).ok()
}

/// Reads a point file back, or says what is wrong with it: unreadable, not CSV, a header
/// other than `header`, no rows, or a row with another number of fields.
pub fn read_point_checked(path: &Path, header: &[String]) -> Result<Vec<Vec<String>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut records = r.records();
    let first = match records.next() {
        None => return Err("it is empty".into()),
        Some(rec) => rec.map_err(|e| format!("not a CSV file: {e}"))?,
    };
    if first.iter().ne(header.iter().map(String::as_str)) {
        return Err(format!(
            "its header is not this sweep's: `{}` where sweep.json gives `{}`",
            first.iter().collect::<Vec<_>>().join(","),
            header.join(",")
        ));
    }
    let mut rows = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| format!("not a CSV file: {e}"))?;
        if rec.len() != header.len() {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(format!(
                "line {line} has {} fields, not {}: the file is cut short or damaged",
                rec.len(),
                header.len()
            ));
        }
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err("it has a header and no rows: the file is cut short".into());
    }
    Ok(rows)
}

/// The point index of a file in `points/` (`NNNNNN.csv`), if the name is one.
pub fn point_index(name: &str) -> Option<usize> {
    let digits = name.strip_suffix(".csv")?;
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The JSON form of a point's rows: `{"point", "values": {path: value},
/// "summary": {component: {metric: {mean, ci95_low, ci95_high, replications}}}}`.
pub fn point_json(index: usize, columns: &[String], rows: &[Vec<String>]) -> serde_json::Value {
    let num = |s: &str| {
        s.parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    };
    let k = columns.len();
    let mut values = serde_json::Map::new();
    if let Some(first) = rows.first() {
        for (c, v) in columns.iter().zip(first) {
            values.insert(c.clone(), serde_json::Value::String(v.clone()));
        }
    }
    let mut summary = serde_json::Map::new();
    for r in rows {
        let comp = summary
            .entry(r[k].clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(m) = comp {
            let mut fig = serde_json::Map::new();
            fig.insert("mean".into(), num(&r[k + 2]));
            fig.insert("ci95_low".into(), num(&r[k + 3]));
            fig.insert("ci95_high".into(), num(&r[k + 4]));
            fig.insert("replications".into(), num(&r[k + 5]));
            m.insert(r[k + 1].clone(), serde_json::Value::Object(fig));
        }
    }
    serde_json::json!({"point": index, "values": values, "summary": summary})
}
