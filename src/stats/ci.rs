//! Replication statistics: means and Student-t 95% confidence intervals.

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
                n: 0,
            };
        }
        let mean = finite.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                ci95_low: f64::NAN,
                ci95_high: f64::NAN,
                n: n as u32,
            };
        }
        let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        let half = t_975(n as u32 - 1) * (var / n as f64).sqrt();
        Estimate {
            mean,
            ci95_low: mean - half,
            ci95_high: mean + half,
            n: n as u32,
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
        assert!(single.ci95_low.is_nan());
    }
}
