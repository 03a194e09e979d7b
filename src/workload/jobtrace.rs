//! Training job traces: one row per job, `submit_time_s, gpus, duration_s` and optionally
//! `queue` and `priority` (any order of columns, found by header; other columns ignored, so
//! a Philly, Helios or Alibaba PAI trace reduced to these columns reads as it is).

use super::datafile::DataFile;
use crate::units::MAX_DURATION_SECS;
use std::path::Path;

/// One row of a job trace.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTraceRow {
    /// Submission, seconds from the start of the run.
    pub submit_s: f64,
    /// GPUs the job needs.
    pub gpus: u32,
    /// Its failure-free run time, seconds.
    pub duration_s: f64,
    /// Its ClusterQueue, if the row names one.
    pub queue: Option<String>,
    /// Its priority, if the row gives one.
    pub priority: Option<i32>,
    /// Its line in the file, for messages.
    pub line: u64,
}

/// Most GPUs of one job in a trace.
pub const MAX_JOB_GPUS: u32 = 1_000_000;

/// Reads a job trace; rows must be in order of submission.
pub fn load(path: &Path) -> Result<Vec<JobTraceRow>, String> {
    let mut file = DataFile::open(path, "trace")?;
    let shown = file.shown.clone();
    let headers = file.headers()?;
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            format!(
                "trace: {shown} has no column `{name}` (a job trace needs submit_time_s, \
                 gpus and duration_s; queue and priority are optional)"
            )
        })
    };
    let (c_submit, c_gpus, c_dur) = (need("submit_time_s")?, need("gpus")?, need("duration_s")?);
    let (c_queue, c_prio) = (col("queue"), col("priority"));
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    let mut last = 0.0;
    while file.next_row(&mut rec)? {
        let line = rec.position().map_or(0, |p| p.line());
        let cell = |c: usize| rec.get(c).unwrap_or("");
        let bad = |c: usize, what: &str| {
            format!(
                "trace: {shown}: line {line}: `{}` in column `{}` is not {what}",
                cell(c),
                &headers[c]
            )
        };
        let secs = |c: usize| -> Result<f64, String> {
            match cell(c).parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=MAX_DURATION_SECS).contains(&v) => Ok(v),
                _ => Err(bad(c, "a number of seconds from 0 to 10 years")),
            }
        };
        let submit_s = secs(c_submit)?;
        if submit_s < last {
            return Err(format!(
                "trace: {shown}: line {line}: submit_time_s {submit_s} is earlier than the row \
                 before ({last}): sort the trace by submission"
            ));
        }
        last = submit_s;
        let duration_s = secs(c_dur)?;
        let gpus = match cell(c_gpus).parse::<u32>() {
            Ok(g) if (1..=MAX_JOB_GPUS).contains(&g) => g,
            _ => return Err(bad(c_gpus, "a whole number of GPUs from 1 to 1000000")),
        };
        let queue = c_queue
            .map(|c| cell(c).to_string())
            .filter(|s| !s.is_empty());
        let priority = match c_prio.map(cell).filter(|s| !s.is_empty()) {
            None => None,
            Some(p) => Some(
                p.parse::<i32>()
                    .map_err(|_| bad(c_prio.unwrap_or(0), "a whole number"))?,
            ),
        };
        rows.push(JobTraceRow {
            submit_s,
            gpus,
            duration_s,
            queue,
            priority,
            line,
        });
    }
    if rows.is_empty() {
        return Err(format!("trace: {shown} has no jobs"));
    }
    Ok(rows)
}
