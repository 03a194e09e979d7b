//! The regression gate of `capsim check`: whether a figure moved between a baseline and a
//! new run, and whether a figure is precise enough for the gate to catch a move of the
//! tolerance's size.
//!
//! Each side is a sample of replications: mean, standard deviation s and count n. With
//! `D = new − old`, the tolerance `Δ = tolerance × max(|old|, TINY)` and the standard error
//! of D, `SE = s_p · √(1/n_old + 1/n_new)` (s_p pooled over the sides with two or more
//! values, ν = Σ(n − 1) degrees of freedom), a figure **moved** when two t-tests at the
//! level α ([`ALPHA`], 0.001) say so:
//!
//! - the move is not noise: the two-sided p-value of D / SE on ν degrees of freedom is
//!   below α. Under an unchanged model (the same distribution, other random numbers) a
//!   figure fails with probability α at most, whatever its noise: the false-alarm rate.
//! - the move is not shown to be smaller than the tolerance: `|D| > Δ − t₁ · SE`, t₁ the
//!   one-sided (1 − α) quantile of t on ν degrees of freedom. A figure that truly moved by
//!   exactly Δ meets this with probability 1 − α, so the gate catches it whenever the first
//!   test does; a precise figure (SE ≪ Δ) passes a real change below the tolerance.
//!
//! Without noise (SE = 0: every replication equal on both sides, or one replication on
//! each side, where nothing estimates the noise) the tolerance alone decides: `|D| > Δ`.
//! Exactly equal means are unchanged.
//!
//! Variances are pooled because under the null hypothesis the two runs draw from one
//! distribution; and no figure is spared the test, so the selection of quiet-looking
//! baselines cannot raise the false-alarm rate above α.

use crate::stats::dist;

/// The scale below which a baseline figure counts as zero for the relative tolerance, so
/// that a figure that was exactly 0 (drops, pending pods) is judged by its noise alone
/// instead of dividing by zero.
pub const TINY: f64 = 1e-9;

/// The default relative tolerance, 5%.
pub const DEFAULT_TOLERANCE: f64 = 0.05;

/// The significance level of the gate's t-test: the false-alarm rate per figure when the
/// model did not change.
pub const ALPHA: f64 = 0.001;

/// The detection probability of a tolerance-sized move at which a figure counts as gated.
pub const POWER: f64 = 0.9;

/// Replications beyond which [`replications_needed`] gives up (the figure is noise).
pub const MAX_REPLICATIONS: u32 = 1_000_000;

/// One side of a comparison: the mean, standard deviation and count of a figure's values
/// over replications, as the baseline file holds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Mean over replications (NaN: not measured).
    pub mean: f64,
    /// Sample standard deviation (NaN with fewer than two values).
    pub sd: f64,
    /// Number of values.
    pub n: u32,
}

impl Sample {
    /// The sample's variance and degrees of freedom, if it has two or more values.
    fn variance(&self) -> Option<(f64, f64)> {
        (self.n >= 2 && self.sd.is_finite()).then(|| (self.sd * self.sd, f64::from(self.n - 1)))
    }
}

/// The statistics of one comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    /// The move, new mean − old mean.
    pub shift: f64,
    /// Its standard error (0 when neither side shows noise).
    pub se: f64,
    /// The two-sided p-value of shift / se (NaN without noise).
    pub p: f64,
    /// |shift| beyond the tolerance itself.
    pub beyond_tolerance: bool,
    /// The verdict: moved.
    pub moved: bool,
}

/// Tests the move from `old` to `new` under `tolerance` (a fraction, 0.05 = 5%); both means
/// finite.
pub fn test(old: &Sample, new: &Sample, tolerance: f64) -> Test {
    let shift = new.mean - old.mean;
    let allowed = tolerance * old.mean.abs().max(TINY);
    let (mut sum, mut df) = (0.0, 0.0);
    for (var, nu) in [old.variance(), new.variance()].into_iter().flatten() {
        sum += var * nu;
        df += nu;
    }
    let pooled = if df > 0.0 { sum / df } else { 0.0 };
    let se = (pooled * (1.0 / f64::from(old.n.max(1)) + 1.0 / f64::from(new.n.max(1)))).sqrt();
    let beyond_tolerance = shift.abs() > allowed;
    if se == 0.0 {
        return Test {
            shift,
            se,
            p: f64::NAN,
            beyond_tolerance,
            moved: beyond_tolerance,
        };
    }
    let p = dist::t_two_sided_p(shift.abs() / se, df);
    Test {
        shift,
        se,
        p,
        beyond_tolerance,
        moved: p < ALPHA && shift.abs() > allowed - one_sided(df) * se,
    }
}

/// The one-sided (1 − α) quantile of t on `df` degrees of freedom.
fn one_sided(df: f64) -> f64 {
    dist::t_critical(2.0 * ALPHA, df)
}

/// The probability that a figure of standard deviation `sd` and mean `mean`, measured with
/// `n` replications in the baseline and in the new run, fails the gate when it truly moved
/// by exactly the tolerance. 1 for a figure without noise; NaN when `n < 2` (nothing to
/// estimate the noise with).
///
/// Exact for normal replication values, by integration: the move D is normal around Δ with
/// standard error σ·√(2/n), independent of the pooled variance, which is σ²·χ²_ν/ν with
/// ν = 2n − 2; given the variance, the gate fails when |D| clears the larger of its two
/// lines, and that probability is integrated over the χ² density (Simpson's rule over
/// ±8 standard deviations of it). `tests/gate.rs` checks it against simulation.
pub fn detection(mean: f64, sd: f64, n: u32, tolerance: f64) -> f64 {
    if n < 2 || !sd.is_finite() {
        return f64::NAN;
    }
    if sd == 0.0 {
        return 1.0;
    }
    let allowed = tolerance * mean.abs().max(TINY);
    let nu = 2.0 * f64::from(n - 1);
    let se = sd * (2.0 / f64::from(n)).sqrt();
    let (c, c1) = (dist::t_critical(ALPHA, nu), one_sided(nu));
    // P(fail | χ² = x): the estimated standard error is se·√(x/ν).
    let fails = |x: f64| {
        let est = se * (x / nu).sqrt();
        let line = (c * est).max(allowed - c1 * est);
        dist::normal_cdf((allowed - line) / se) + dist::normal_cdf((-allowed - line) / se)
    };
    let ln_norm = (nu / 2.0) * std::f64::consts::LN_2 + dist::ln_gamma(nu / 2.0);
    let density = |x: f64| {
        if x <= 0.0 {
            // Finite only at ν = 2 (the density is e^(-x/2)/2 there).
            return if nu == 2.0 { 0.5 } else { 0.0 };
        }
        ((nu / 2.0 - 1.0) * x.ln() - x / 2.0 - ln_norm).exp()
    };
    let spread = 8.0 * (2.0 * nu).sqrt();
    let (a, b) = ((nu - spread).max(0.0), nu + spread + 10.0);
    const STEPS: usize = 800;
    let h = (b - a) / STEPS as f64;
    let mut sum = 0.0;
    for i in 0..=STEPS {
        let x = a + h * i as f64;
        let w = if i == 0 || i == STEPS {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        sum += w * density(x) * fails(x);
    }
    (sum * h / 3.0).clamp(0.0, 1.0)
}

/// The fewest replications (the same in the baseline and the new run) with which the gate
/// catches a move of exactly the tolerance with probability [`POWER`], for a figure of this
/// mean and standard deviation; `None` beyond [`MAX_REPLICATIONS`] (a tolerance of 0, or
/// a mean of 0 with noise).
pub fn replications_needed(mean: f64, sd: f64, tolerance: f64) -> Option<u32> {
    let enough = |n: u32| detection(mean, sd, n, tolerance) >= POWER;
    if enough(2) {
        return Some(2);
    }
    if !enough(MAX_REPLICATIONS) {
        return None;
    }
    // Detection grows with n: bisect between a failing and a passing count.
    let (mut lo, mut hi) = (2u32, MAX_REPLICATIONS);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if enough(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(mean: f64, sd: f64, n: u32) -> Sample {
        Sample { mean, sd, n }
    }

    #[test]
    fn without_noise_the_tolerance_decides() {
        // Deterministic figures: beyond 5% moves, within does not.
        assert!(test(&s(2.0, 0.0, 4), &s(2.2, 0.0, 4), 0.05).moved);
        assert!(!test(&s(2.0, 0.0, 4), &s(2.05, 0.0, 4), 0.05).moved);
        // One replication each: nothing estimates the noise, the same rule.
        assert!(test(&s(2.0, f64::NAN, 1), &s(2.2, f64::NAN, 1), 0.05).moved);
        assert!(!test(&s(2.0, f64::NAN, 1), &s(2.05, f64::NAN, 1), 0.05).moved);
        // From exactly 0: any change.
        assert!(test(&s(0.0, 0.0, 3), &s(1.0, 0.0, 3), 0.05).moved);
    }

    #[test]
    fn noise_must_not_explain_the_move() {
        // A doubling of a figure whose sd is its mean (the ttft_p95_ms at 3
        // replications): t = 1.22 on 4 df, p = 0.29: not shown to have moved.
        let t = test(&s(10_000.0, 10_000.0, 3), &s(20_000.0, 10_000.0, 3), 0.05);
        assert!(!t.moved && t.beyond_tolerance);
        assert!((t.p - 0.289).abs() < 0.002, "{}", t.p);
        // +50% at 10% sd with 5 replications: t = 7.9 on 8 df, p < 0.0001.
        let t = test(&s(100.0, 10.0, 5), &s(150.0, 10.0, 5), 0.05);
        assert!(t.moved && t.p < 1e-4, "{t:?}");
        // A precise figure's real 2% change is significant but within the tolerance.
        let t = test(&s(100.0, 0.1, 5), &s(102.0, 0.1, 5), 0.05);
        assert!(t.p < 1e-6 && !t.moved, "{t:?}");
        // A 4% move at sd 1 with 2 replications: t = 4 on 2 df, p = 1 - 4/√18 = 0.057.
        let t = test(&s(100.0, 1.0, 2), &s(104.0, 1.0, 2), 0.05);
        assert!(
            !t.moved && (t.p - (1.0 - 4.0 / 18f64.sqrt())).abs() < 1e-9,
            "{t:?}"
        );
    }

    #[test]
    fn detection_and_needed_replications() {
        assert_eq!(detection(1.0, 0.0, 3, 0.05), 1.0);
        assert!(detection(1.0, f64::NAN, 1, 0.05).is_nan());
        // Grows with n and falls with noise. With SE = Δ/5 and many replications a move of
        // Δ clears the significance line (3.4 SE) with probability about Φ(1.6) = 94.5%.
        let d = detection(100.0, 5.0, 50, 0.05);
        assert!((0.90..0.96).contains(&d), "{d}");
        assert!(detection(100.0, 1.0, 5, 0.05) > detection(100.0, 1.0, 3, 0.05));
        assert!(detection(100.0, 2.0, 5, 0.05) < detection(100.0, 1.0, 5, 0.05));
        // A precise figure with noise: the 1 − α of the size test.
        let d = detection(100.0, 0.01, 50, 0.05);
        assert!((0.9985..=0.9991).contains(&d), "{d}");
        let n = replications_needed(100.0, 1.0, 0.05).unwrap();
        assert!(detection(100.0, 1.0, n, 0.05) >= POWER);
        assert!(detection(100.0, 1.0, n - 1, 0.05) < POWER);
        assert_eq!(replications_needed(100.0, 0.0, 0.05), Some(2));
        assert_eq!(replications_needed(0.0, 1.0, 0.05), None);
    }
}
