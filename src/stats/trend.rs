//! Is a backlog growing? A trend test on batch means.
//!
//! A queue that cannot keep up grows linearly (at arrival rate minus capacity); a stable one
//! wanders about its mean. Over a stretch of the run cut into equal batches, the batch means
//! of the number in system then lie on a rising line, or scatter about a flat one. The
//! least-squares slope of the batch means against time, divided by its standard error, is
//! Student-t with `batches - 2` degrees of freedom when the batch means are independent
//! and the queue has no trend (the method of batch means: Law, *Simulation Modeling and
//! Analysis*, 5th ed., §9.5.3; the slope test: any regression text).

/// The least-squares line through equally spaced points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Change per step between points.
    pub slope: f64,
    /// Slope over its standard error; infinite when the points lie exactly on a line that
    /// rises (or falls), NaN when they are all equal.
    pub t: f64,
    /// Degrees of freedom of `t`: points minus two.
    pub dof: usize,
    /// Lag-1 autocorrelation of the residuals about the line.
    pub r1: f64,
}

impl Trend {
    /// `t` with the slope's standard error widened for residuals that are correlated from one
    /// point to the next, as a queue's batch means are when the batches are not much longer
    /// than the queue's relaxation time: the AR(1) variance inflation (1 + r1) / (1 - r1),
    /// r1 the lag-1 autocorrelation of the residuals kept within [0, 0.95] (Santer et al.
    /// 2000, "Statistical significance of trends and trend differences in layer-average
    /// atmospheric temperature time series", J. Geophys. Res. 105, eq. 3-6).
    pub fn t_adjusted(&self) -> f64 {
        let r = if self.r1.is_finite() {
            self.r1.clamp(0.0, 0.95)
        } else {
            0.0
        };
        self.t * ((1.0 - r) / (1.0 + r)).sqrt()
    }
}

/// The trend of `ys`, taken at equally spaced steps; None with fewer than three points.
pub fn trend(ys: &[f64]) -> Option<Trend> {
    let n = ys.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let x_mean = (nf - 1.0) / 2.0;
    let y_mean = ys.iter().sum::<f64>() / nf;
    let sxx: f64 = (0..n).map(|i| (i as f64 - x_mean).powi(2)).sum();
    let sxy: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - x_mean) * (y - y_mean))
        .sum();
    let slope = sxy / sxx;
    let resid: Vec<f64> = ys
        .iter()
        .enumerate()
        .map(|(i, y)| y - y_mean - slope * (i as f64 - x_mean))
        .collect();
    let rss: f64 = resid.iter().map(|e| e * e).sum();
    let r1 = if rss > 0.0 {
        resid.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / rss
    } else {
        0.0
    };
    let se = (rss / (nf - 2.0) / sxx).sqrt();
    let t = if se > 0.0 {
        slope / se
    } else if slope != 0.0 {
        slope.signum() * f64::INFINITY
    } else {
        f64::NAN
    };
    Some(Trend {
        slope,
        t,
        dof: n - 2,
        r1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_its_slope_and_noise_lowers_t() {
        let line: Vec<f64> = (0..10).map(|i| 3.0 + 2.0 * i as f64).collect();
        let t = trend(&line).unwrap();
        assert_eq!(t.slope, 2.0);
        assert_eq!(t.t, f64::INFINITY);
        assert_eq!(t.dof, 8);
        // y = 1, 3, 2, 4, 3, 5 at x = 0..5: Sxx = 17.5, Sxy = 11, slope 11/17.5; residual
        // sum of squares 3.0857 on 4 degrees of freedom, se = 0.20996, t = 2.9938 (by hand).
        let t = trend(&[1.0, 3.0, 2.0, 4.0, 3.0, 5.0]).unwrap();
        assert!((t.slope - 11.0 / 17.5).abs() < 1e-12, "{t:?}");
        assert!((t.t - 2.9938).abs() < 1e-4, "{t:?}");
        assert!(trend(&[4.0, 4.0, 4.0]).unwrap().t.is_nan());
        assert!(trend(&[1.0, 2.0]).is_none());
    }
}
