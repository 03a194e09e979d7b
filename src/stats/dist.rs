//! The few distribution functions the confidence intervals and the regression gate need:
//! Student's t (tail probabilities and quantiles at any, even fractional, degrees of
//! freedom), the beta distribution (for exact binomial intervals) and the normal CDF.
//!
//! Written out rather than taken from a crate: about a hundred lines of textbook numerics
//! (Numerical Recipes, 3rd ed., §6.1, §6.4), checked against published tables in the tests.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b), a, b > 0: the CDF at x of a
/// Beta(a, b) variable.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast on this side of the mean; use the symmetry
    // I_x(a, b) = 1 - I_{1-x}(b, a) on the other.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// The `p` quantile of Beta(a, b), by bisection (the CDF is monotone; 100 halvings reach
/// the resolution of an f64).
pub fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if inc_beta(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// P(|T| >= t) for Student's t with `df` > 0 degrees of freedom (df may be fractional, as
/// Welch's are): the two-sided p-value of `t`.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    if df > 1e5 {
        // The continued fraction needs about √df steps; this far out t is normal to
        // within 1e-5 in its quantiles.
        return 2.0 * (1.0 - normal_cdf(t.abs()));
    }
    inc_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// The t with P(|T| >= t) = `alpha` (the two-sided critical value), `df` > 0, 0 < alpha < 1.
pub fn t_critical(alpha: f64, df: f64) -> f64 {
    let mut hi = 1.0f64;
    while t_two_sided_p(hi, df) > alpha && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0f64;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_p(mid, df) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The standard normal CDF Φ(x) (erfc by Chebyshev fit, relative error below 1.2e-7,
/// Numerical Recipes §6.2).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let erfc = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_of_integers_and_halves() {
        // Γ(5) = 24, Γ(1/2) = √π, Γ(10) = 362880.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn t_matches_tables() {
        // Two-sided critical values (NIST/SEMATECH 1.3.6.7.2): df 1 -> 12.706 (5%),
        // df 4 -> 2.776 (5%) and 8.610 (0.1%), df 10 -> 4.587 (0.1%), df 2 -> 31.599 (0.1%).
        assert!((t_critical(0.05, 1.0) - 12.706).abs() < 1e-3);
        assert!((t_critical(0.05, 4.0) - 2.776).abs() < 1e-3);
        assert!((t_critical(0.001, 4.0) - 8.610).abs() < 1e-3);
        assert!((t_critical(0.001, 10.0) - 4.587).abs() < 1e-3);
        assert!((t_critical(0.001, 2.0) - 31.599).abs() < 1e-3);
        // df 2 has a closed form: P(|T| > t) = 1 - t / sqrt(2 + t^2).
        for t in [0.5f64, 1.0, 3.0, 10.0] {
            let exact = 1.0 - t / (2.0 + t * t).sqrt();
            assert!((t_two_sided_p(t, 2.0) - exact).abs() < 1e-12, "{t}");
        }
        // Towards the normal as df grows: z(0.9995) = 3.2905, t(0.9995, 1000) = 3.3003.
        assert!((t_critical(0.001, 1000.0) - 3.3003).abs() < 1e-3);
        assert!((t_critical(0.001, 50_000.0) - 3.2905).abs() < 1e-3);
        assert!((t_critical(0.001, 2e6) - 3.2905).abs() < 1e-3);
        // Agrees with the crate's 97.5% table.
        for df in 1..=30 {
            assert!((t_critical(0.05, df as f64) - crate::stats::t_975(df)).abs() < 1e-3);
        }
    }

    #[test]
    fn beta_and_normal() {
        // Beta(1, 1) is uniform; Beta(2, 1) has CDF x^2.
        assert!((inc_beta(1.0, 1.0, 0.3) - 0.3).abs() < 1e-14);
        assert!((inc_beta(2.0, 1.0, 0.6) - 0.36).abs() < 1e-14);
        assert!((beta_quantile(2.0, 1.0, 0.25) - 0.5).abs() < 1e-12);
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655_253_931_457).abs() < 1e-7);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
    }
}
