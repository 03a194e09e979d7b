//! Checkpoint intervals under exponential failures (placeholder until the full module lands).

/// Daly's (2006) higher-order optimum checkpoint interval: sqrt(2dM)(1 + sqrt(d/2M)/3 +
/// d/(18M)) - d for d below 2M, else M.
pub fn daly_interval(cost_s: f64, mtbf_s: f64) -> f64 {
    let (d, m) = (cost_s, mtbf_s);
    if d >= 2.0 * m {
        return m;
    }
    let x = d / (2.0 * m);
    (2.0 * d * m).sqrt() * (1.0 + x.sqrt() / 3.0 + x / 9.0) - d
}
