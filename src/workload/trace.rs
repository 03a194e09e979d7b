//! Replayed arrival traces: a CSV file of request timestamps, optionally per service and with
//! token counts, played back as they are, scaled in time, once or in a loop.

use super::Arrival;
use super::datafile::DataFile;
use crate::engine::SimTime;
use crate::units::MAX_DURATION_SECS;
use std::path::Path;
use std::sync::Arc;

/// One kept row of a trace, with its time already scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Row {
    at: SimTime,
    prompt_tokens: Option<u32>,
    output_tokens: Option<u32>,
}

/// A loaded trace and the cursor of its playback.
#[derive(Clone, Debug)]
pub(super) struct Trace {
    // Shared so that cloning the process per replication does not copy the file.
    rows: Arc<[Row]>,
    /// The loop period; `None` plays the trace once.
    period: Option<SimTime>,
    idx: usize,
    lap: u64,
}

/// The column index of `name`, if the header has it.
fn column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name)
}

/// A token count cell: empty is absent, else a finite number in `0..=u32::MAX`, rounded.
fn tokens(cell: &str, col: &str, shown: &str, line: u64) -> Result<Option<u32>, String> {
    if cell.is_empty() {
        return Ok(None);
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v <= u32::MAX as f64 => Ok(Some(v.round() as u32)),
        _ => Err(format!(
            "{shown}: line {line}: {col} `{cell}` is not a non-negative number up to {}",
            u32::MAX
        )),
    }
}

impl Trace {
    /// Reads a trace: a CSV file with a header row and a `timestamp` column (seconds from the
    /// start of the run, non-decreasing over the whole file); rows whose `service` differs
    /// from `service` are dropped when that column exists; `prompt_tokens` and
    /// `output_tokens` are optional (empty cells too). Other columns are ignored.
    pub(super) fn load(
        path: &Path,
        service: &str,
        time_scale: f64,
        repeat: bool,
    ) -> Result<Trace, String> {
        let mut file = DataFile::open(path, "trace")?;
        let shown = file.shown.clone();
        let headers = file.headers()?;
        let Some(ts_col) = column(&headers, "timestamp") else {
            let names: Vec<&str> = headers.iter().collect();
            return Err(format!(
                "trace: {shown} has no `timestamp` column (columns: {})",
                names.join(", ")
            ));
        };
        let svc_col = column(&headers, "service");
        let prompt_col = column(&headers, "prompt_tokens");
        let output_col = column(&headers, "output_tokens");

        let mut rows = Vec::new();
        let mut prev = 0.0f64;
        let mut rec = csv::StringRecord::new();
        while file.next_row(&mut rec)? {
            let line = rec.position().map_or(0, |p| p.line());
            let cell = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("");
            let ts_text = cell(Some(ts_col));
            let ts: f64 = match ts_text.parse() {
                Ok(v) if f64::is_finite(v) && v >= 0.0 => v,
                _ => {
                    return Err(format!(
                        "trace: {shown}: line {line}: timestamp `{ts_text}` is not a \
                         non-negative number of seconds"
                    ));
                }
            };
            // Checked over every row, kept or not: a step back anywhere means a broken file.
            if ts < prev {
                return Err(format!(
                    "trace: {shown}: line {line}: timestamp {ts} is earlier than the previous \
                     row's {prev} (timestamps must not decrease)"
                ));
            }
            prev = ts;
            if svc_col.is_some() && cell(svc_col) != service {
                continue;
            }
            let secs = ts * time_scale;
            if secs > MAX_DURATION_SECS {
                return Err(format!(
                    "trace: {shown}: line {line}: timestamp {ts} × time_scale {time_scale} is \
                     beyond the limit of 10 years"
                ));
            }
            rows.push(Row {
                at: SimTime::from_secs_f64(secs),
                prompt_tokens: tokens(cell(prompt_col), "prompt_tokens", &shown, line)?,
                output_tokens: tokens(cell(output_col), "output_tokens", &shown, line)?,
            });
        }
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Err(match svc_col {
                Some(_) => format!("trace: {shown} has no rows for service `{service}`"),
                None => format!("trace: {shown} has no rows"),
            });
        };
        let period = if repeat {
            // One mean gap after the last row, so the loop seam looks like the rest.
            let n = rows.len() as u64;
            let gap = if n > 1 {
                last.at.since(first.at).nanos() / (n - 1)
            } else {
                0
            };
            let p = SimTime(last.at.nanos() + gap);
            if p == SimTime::ZERO {
                return Err(format!(
                    "trace: {shown}: a looping trace needs timestamps that span some time"
                ));
            }
            Some(p)
        } else {
            None
        };
        Ok(Trace {
            rows: rows.into(),
            period,
            idx: 0,
            lap: 0,
        })
    }

    /// The next row at or after `now`, skipping earlier ones.
    pub(super) fn next(&mut self, now: SimTime) -> Option<Arrival> {
        loop {
            if self.idx == self.rows.len() {
                self.period?;
                self.idx = 0;
                self.lap += 1;
            }
            let row = self.rows[self.idx];
            self.idx += 1;
            let offset = match self.period {
                Some(p) => p.nanos().checked_mul(self.lap)?,
                None => 0,
            };
            let at = SimTime(row.at.nanos().checked_add(offset)?);
            if at >= now {
                return Some(Arrival {
                    at,
                    prompt_tokens: row.prompt_tokens,
                    output_tokens: row.output_tokens,
                });
            }
        }
    }

    /// Back to the first row.
    pub(super) fn reset(&mut self) {
        self.idx = 0;
        self.lap = 0;
    }

    /// Rows at or before `horizon` per second of it; for a zero horizon the long-run rate
    /// (rows per period when looping, 0 when played once).
    pub(super) fn mean_rate(&self, horizon: SimTime) -> f64 {
        let n = self.rows.len() as f64;
        let upto = |h: SimTime| self.rows.partition_point(|r| r.at <= h) as f64;
        match (self.period, horizon) {
            (Some(p), SimTime::ZERO) => n / p.as_secs_f64(),
            (None, SimTime::ZERO) => 0.0,
            (Some(p), h) => {
                let laps = (h.nanos() / p.nanos()) as f64;
                (laps * n + upto(SimTime(h.nanos() % p.nanos()))) / h.as_secs_f64()
            }
            (None, h) => upto(h) / h.as_secs_f64(),
        }
    }
}
