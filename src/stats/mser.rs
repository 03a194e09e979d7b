//! Where does the initial transient end? MSER-5 (White 1997, "An effective truncation
//! heuristic for bias reduction in simulation output", *Simulation* 69(6); Franklin and White
//! 2008, "Stationarity tests and MSER-5: exploring the intuition behind mean-squared-error
//! reduction in detecting and correcting initialization bias", WSC).
//!
//! The output series is averaged in batches of five; truncating the first d batches leaves
//! m - d of them, and MSER(d) = sum over the rest of (Z_j - mean)^2 / (m - d)^2, the squared
//! standard error of the truncated mean. The d that minimises it over the first half of the
//! series balances the bias of keeping the transient against the noise of dropping data.
//! (The search stops at half: near the end a few batches can agree by chance and give a
//! spuriously small value.) A minimum at the half itself means no steady state was reached
//! within the series (too short, or still moving): then there is no answer.

/// Observations per batch.
pub const BATCH: usize = 5;

/// Fewest batches the heuristic is applied to.
pub const MIN_BATCHES: usize = 4;

/// How many leading observations of `series` are the initial transient, a multiple of
/// [`BATCH`]; None when the series has fewer than [`MIN_BATCHES`] batches or reaches no
/// steady state. (Observations past the last whole batch are not used.)
pub fn mser5(series: &[f64]) -> Option<usize> {
    let batches: Vec<f64> = series
        .chunks_exact(BATCH)
        .map(|c| c.iter().sum::<f64>() / BATCH as f64)
        .collect();
    let m = batches.len();
    if m < MIN_BATCHES || batches.iter().any(|z| !z.is_finite()) {
        return None;
    }
    // Suffix sums give every MSER(d) in one pass from the end.
    let mut best: Option<(f64, usize)> = None;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    let mut mser = vec![0.0; m];
    for d in (0..m).rev() {
        sum += batches[d];
        sum_sq += batches[d] * batches[d];
        let k = (m - d) as f64;
        let ss = (sum_sq - sum * sum / k).max(0.0);
        mser[d] = ss / (k * k);
    }
    let half = m / 2;
    for (d, &v) in mser.iter().enumerate().take(half + 1) {
        if best.is_none_or(|(b, _)| v < b) {
            best = Some((v, d));
        }
    }
    let (_, d) = best?;
    (d < half).then_some(d * BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stationary_series_keeps_everything() {
        // Alternating noise about a constant: nothing to truncate.
        let s: Vec<f64> = (0..100)
            .map(|i| 10.0 + if i % 2 == 0 { 1.0 } else { -1.0 } * ((i % 7) as f64))
            .collect();
        assert_eq!(mser5(&s), Some(0));
    }

    #[test]
    fn a_decaying_start_is_cut_where_it_has_settled() {
        // Twenty observations falling from 100 to 5, then a level of 5 with small noise:
        // the truncation lands at the end of the fall (a whole batch).
        let mut s: Vec<f64> = (0..20).map(|i| 100.0 - 5.0 * i as f64).collect();
        s.extend((0..80).map(|i| 5.0 + 0.1 * ((i % 3) as f64 - 1.0)));
        assert_eq!(mser5(&s), Some(20));
    }

    #[test]
    fn a_series_that_keeps_rising_has_no_steady_state() {
        let s: Vec<f64> = (0..100).map(|i| i as f64).collect();
        assert_eq!(mser5(&s), None);
        assert_eq!(mser5(&[1.0; 15]), None, "too short");
    }
}
