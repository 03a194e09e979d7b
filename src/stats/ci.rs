//! Replication statistics: means, standard deviations and 95% confidence intervals that
//! respect the range of the figure (see [`Range`] and [`Estimate::interval`]).

use super::dist;

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95% interval).
///
/// Exact table values for df <= 30 (standard tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2),
/// then the Cornish-Fisher expansion in 1/df, accurate to better than 1e-4 beyond 30.
pub fn t_975(df: u32) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let n = df as f64;
            let z3 = z.powi(3);
            let z5 = z.powi(5);
            let z7 = z.powi(7);
            z + (z3 + z) / (4.0 * n)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n * n * n)
        }
    }
}

/// Mean and 95% confidence interval of independent replication values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Lower end of the 95% interval (NaN with fewer than two values).
    pub ci95_low: f64,
    /// Upper end of the 95% interval (NaN with fewer than two values).
    pub ci95_high: f64,
    /// Sample standard deviation of the values (n - 1 in the denominator; NaN with fewer
    /// than two values). The regression gate tests with it.
    pub sd: f64,
    /// Number of values the estimate rests on.
    pub n: u32,
}

impl Estimate {
    /// Estimates from the finite values among `values` (a replication that measured nothing,
    /// NaN, does not count). Summed in order, so the result is the same at any thread count.
    pub fn from_values(values: &[f64]) -> Estimate {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len();
        if n == 0 {
            return Estimate {
                mean: f64::NAN,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
                sd: f64::NAN,
                n: 0,
            };
        }
        let mean = finite.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
                sd: f64::NAN,
                n: n as u32,
            };
        }
        let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        let half = t_975(n as u32 - 1) * (var / n as f64).sqrt();
        Estimate {
            mean,
            ci95_low: mean - half,
            ci95_high: mean + half,
            sd: var.sqrt(),
            n: n as u32,
        }
    }

    /// The 95% interval of the mean for a figure whose values lie in `range`; see
    /// [`Range`] for the method. No interval (NaN ends, [`Method::None`]) with fewer than
    /// two values.
    pub fn interval(&self, range: Range) -> Interval {
        let none = Interval {
            low: f64::NAN,
            high: f64::NAN,
            method: Method::None,
            cut_low: false,
            cut_high: false,
        };
        if self.n < 2 || !self.ci95_low.is_finite() || !self.ci95_high.is_finite() {
            return none;
        }
        let (lo, hi) = match range {
            Range::Real => (f64::NEG_INFINITY, f64::INFINITY),
            Range::NonNegative => (0.0, f64::INFINITY),
            Range::Fraction | Range::Indicator => (0.0, 1.0),
        };
        if range == Range::Indicator {
            // A 0/1 figure's mean is k/n: the number of replications in which it was 1 is
            // known exactly, and the exact binomial interval applies.
            let k = self.mean * self.n as f64;
            if (k - k.round()).abs() < 1e-6 && (0.0..=self.n as f64).contains(&k.round()) {
                let (low, high) = clopper_pearson(k.round() as u32, self.n);
                return Interval {
                    low,
                    high,
                    method: Method::Exact,
                    cut_low: false,
                    cut_high: false,
                };
            }
        }
        let cut_low = self.ci95_low < lo;
        let cut_high = self.ci95_high > hi;
        Interval {
            low: self.ci95_low.max(lo),
            high: self.ci95_high.min(hi),
            method: Method::Student,
            cut_low,
            cut_high,
        }
    }

    /// Half width of the interval (0 when there is no interval).
    pub fn half_width(&self) -> f64 {
        if self.ci95_high.is_finite() {
            (self.ci95_high - self.ci95_low) / 2.0
        } else {
            0.0
        }
    }
}

/// The values a figure can take in one replication, which decides how its interval is
/// made.
///
/// The Student-t interval `mean ± t(0.975, n-1) · s / √n` is symmetric and can reach past
/// a bound the figure cannot cross (a negative count near 0). The true mean lies inside
/// the range, so cutting the interval at the bound keeps exactly the coverage the
/// t-interval had while removing values that are impossible; the cut is marked
/// ([`Interval::cut_low`], [`Interval::cut_high`]) because it also says that the normal
/// approximation is strained there. A 0/1 figure gets the exact binomial interval instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Any real number: the t-interval as is.
    Real,
    /// Zero or more: counts, rates, latencies, sizes, costs.
    NonNegative,
    /// Between 0 and 1: utilizations, shares, attainment.
    Fraction,
    /// 0 or 1 in each replication (`saturated`, `slo_met`): the mean is the share of
    /// replications, and the interval is Clopper-Pearson's exact binomial interval.
    Indicator,
}

/// How an [`Interval`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// No interval: fewer than two values.
    None,
    /// Student's t, cut at the range's bounds where it reached past them.
    Student,
    /// Clopper-Pearson (0/1 figures).
    Exact,
}

/// A 95% confidence interval of a mean, inside the figure's range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end (NaN without an interval).
    pub low: f64,
    /// Upper end (NaN without an interval).
    pub high: f64,
    /// How it was made.
    pub method: Method,
    /// The t-interval reached below the range and was cut at its lower bound.
    pub cut_low: bool,
    /// The t-interval reached above the range and was cut at its upper bound.
    pub cut_high: bool,
}

impl Interval {
    /// Whether either end was cut at the range.
    pub fn cut(&self) -> bool {
        self.cut_low || self.cut_high
    }
}

/// Clopper-Pearson 95% interval of a binomial proportion, `k` successes in `n` trials: the
/// p whose binomial tails at k are 2.5% (Beta quantiles), 0 or 1 at the edges. Its coverage
/// is at least 95% for every p.
pub fn clopper_pearson(k: u32, n: u32) -> (f64, f64) {
    let (k, n) = (k as f64, n as f64);
    let low = if k == 0.0 {
        0.0
    } else {
        dist::beta_quantile(k, n - k + 1.0, 0.025)
    };
    let high = if k == n {
        1.0
    } else {
        dist::beta_quantile(k + 1.0, n - k, 0.975)
    };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(10), 2.228);
        // Table values beyond 30: df 40 -> 2.021, 60 -> 2.000, 120 -> 1.980.
        assert!((t_975(40) - 2.021).abs() < 1e-3);
        assert!((t_975(60) - 2.000).abs() < 1e-3);
        assert!((t_975(120) - 1.980).abs() < 1e-3);
        assert!((t_975(31) - 2.040).abs() < 1e-3);
    }

    #[test]
    fn interval_of_known_sample() {
        // Values 1..=5: mean 3, sd sqrt(2.5), half width 2.776 * sqrt(2.5/5).
        let e = Estimate::from_values(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        assert!((e.half_width() - 2.776 * 0.5f64.sqrt()).abs() < 1e-12);
        let single = Estimate::from_values(&[7.0, f64::NAN]);
        assert_eq!((single.mean, single.n), (7.0, 1));
        assert!(single.ci95_low.is_nan() && single.sd.is_nan());
        assert_eq!(single.interval(Range::NonNegative).method, Method::None);
        assert!((e.sd - 2.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn intervals_are_cut_at_the_range() {
        // 0.1, 0.9, 0.95: the t-interval [-0.34 .. 1.64] reaches past both ends of [0, 1].
        let e = Estimate::from_values(&[0.1, 0.9, 0.95]);
        let iv = e.interval(Range::Fraction);
        assert_eq!((iv.low, iv.high), (0.0, 1.0));
        assert!(iv.cut_low && iv.cut_high);
        let iv = e.interval(Range::NonNegative);
        assert_eq!((iv.low, iv.high), (0.0, e.ci95_high));
        assert!(iv.cut_low && !iv.cut_high);
        let iv = e.interval(Range::Real);
        assert_eq!((iv.low, iv.high), (e.ci95_low, e.ci95_high));
        assert!(!iv.cut());
        // Inside the range nothing changes.
        let e = Estimate::from_values(&[10.0, 11.0, 12.0]);
        let iv = e.interval(Range::NonNegative);
        assert_eq!(
            (iv.low, iv.high, iv.cut()),
            (e.ci95_low, e.ci95_high, false)
        );
    }

    #[test]
    fn clopper_pearson_matches_closed_forms() {
        // k = 0: the upper end solves (1 - p)^n = 0.025; k = n: the lower end p^n = 0.025.
        for n in 2..=10u32 {
            let (lo, hi) = clopper_pearson(0, n);
            assert_eq!(lo, 0.0);
            assert!(
                (hi - (1.0 - 0.025f64.powf(1.0 / n as f64))).abs() < 1e-12,
                "{n}"
            );
            let (lo, hi) = clopper_pearson(n, n);
            assert_eq!(hi, 1.0);
            assert!((lo - 0.025f64.powf(1.0 / n as f64)).abs() < 1e-12, "{n}");
        }
        // An indicator figure uses it: saturated in 1 of 3 replications.
        let e = Estimate::from_values(&[0.0, 1.0, 0.0]);
        let iv = e.interval(Range::Indicator);
        assert_eq!(iv.method, Method::Exact);
        assert_eq!((iv.low, iv.high), clopper_pearson(1, 3));
        // Values that are not 0/1 fall back to the cut t-interval.
        let e = Estimate::from_values(&[0.2, 1.0, 0.0]);
        assert_eq!(e.interval(Range::Indicator).method, Method::Student);
    }

    /// P(X = k) for X ~ Binomial(n, p).
    fn binomial_pmf(n: u32, k: u32, p: f64) -> f64 {
        let ln_choose = dist::ln_gamma(n as f64 + 1.0)
            - dist::ln_gamma(k as f64 + 1.0)
            - dist::ln_gamma((n - k) as f64 + 1.0);
        (ln_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
    }

    #[test]
    fn clopper_pearson_covers_every_proportion() {
        // Exact coverage, summed over every outcome k of n replications: never below 95%,
        // near 0 included, where it matters for `saturated`.
        for n in 2..=12u32 {
            for i in 1..200 {
                let p = i as f64 / 200.0 * 0.999;
                let coverage: f64 = (0..=n)
                    .filter(|&k| {
                        let (lo, hi) = clopper_pearson(k, n);
                        lo <= p && p <= hi
                    })
                    .map(|k| binomial_pmf(n, k, p))
                    .sum();
                assert!(coverage >= 0.95 - 1e-9, "n {n}, p {p}: {coverage}");
            }
        }
    }
}
