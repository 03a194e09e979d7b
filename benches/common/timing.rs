//! What the end-to-end benchmarks share: how many runs, their median, and this process's
//! peak resident memory.

/// Runs per cell: `CAPSIM_BENCH_RUNS`, default 3.
pub fn runs() -> usize {
    std::env::var("CAPSIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The median (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Resets this process's peak resident memory to its current use (Linux: writing 5 to
/// clear_refs), so that the next VmHWM read is the peak of what runs in between.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
