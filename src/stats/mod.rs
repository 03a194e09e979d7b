//! Statistics: HDR latency histograms, time-weighted averages, replication confidence
//! intervals and the closed-form results the simulator is validated against.

pub mod analytic;
mod ci;
pub mod dist;
pub mod mser;
pub mod msj;
pub mod reliability;
pub mod trend;

pub use ci::{Estimate, Interval, Method, Range, clopper_pearson, t_975};

use crate::engine::SimTime;
use hdrhistogram::Histogram;

/// Latencies in nanoseconds, 3 significant digits (0.1% relative error) from 1 ns to 10 hours.
///
/// The exact sum is kept beside the histogram, so means are exact and only percentiles carry
/// the histogram's resolution. Zeros (a request that did not wait) are only counted: they are
/// common and cost nothing to keep exactly.
#[derive(Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
    zeros: u64,
    sum_ns: u128,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    /// Largest value tracked; larger ones are recorded at this value.
    pub const MAX_NS: u64 = 36_000 * SimTime::NANOS_PER_SEC;

    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHist {
            // The bounds are constants known to be valid, so this cannot fail.
            h: Histogram::new_with_bounds(1, Self::MAX_NS, 3).expect("valid histogram bounds"),
            zeros: 0,
            sum_ns: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, t: SimTime) {
        if t.0 == 0 {
            self.zeros += 1;
        } else {
            self.h.saturating_record(t.0.min(Self::MAX_NS));
            self.sum_ns += t.0 as u128;
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.h.len() + self.zeros
    }

    /// Exact mean in milliseconds (NaN when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.count() == 0 {
            f64::NAN
        } else {
            self.sum_ns as f64 / self.count() as f64 * 1e-6
        }
    }

    /// The `q` quantile (0..1) in milliseconds (NaN when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        // The value at rank ceil(q n), zeros first.
        let rank = (q * n as f64).ceil().max(1.0) as u64;
        if rank <= self.zeros {
            return 0.0;
        }
        let rest = self.h.len();
        let q_rest = (rank - self.zeros) as f64 / rest as f64;
        self.h.value_at_quantile(q_rest.min(1.0)) as f64 * 1e-6
    }

    /// Fraction of values at or below `t`.
    pub fn fraction_at_or_below(&self, t: SimTime) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let below = if t.0 == 0 {
            0
        } else {
            self.h.count_between(1, t.0.min(Self::MAX_NS))
        };
        (below + self.zeros) as f64 / n as f64
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.h.reset();
        self.zeros = 0;
        self.sum_ns = 0;
    }
}

/// A coarse latency histogram for per-interval percentiles in timeseries.csv: 64 buckets per
/// power of two (values within 1.6% of each other may share a bucket), recorded in a few
/// instructions. The summary's percentiles use [`LatencyHist`] (HDR, 0.1%); this one only
/// feeds the interval p95, where 1.6% is far below the interval's own sampling noise.
#[derive(Clone)]
pub struct IntervalHist {
    counts: Vec<u64>,
    n: u64,
}

impl Default for IntervalHist {
    fn default() -> Self {
        Self::new()
    }
}

impl IntervalHist {
    const SUB_BITS: u32 = 6;
    const SUB: u64 = 1 << Self::SUB_BITS;

    /// An empty histogram covering 0 to 2^64 ns.
    pub fn new() -> Self {
        IntervalHist {
            counts: vec![0; ((64 - Self::SUB_BITS as usize) + 1) * Self::SUB as usize],
            n: 0,
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        if v < Self::SUB {
            v as usize
        } else {
            // Octave above the exact range, then the top SUB_BITS bits below the leading one.
            let e = 63 - v.leading_zeros();
            let shift = e - Self::SUB_BITS;
            (((shift + 1) as u64) << Self::SUB_BITS | ((v >> shift) & (Self::SUB - 1))) as usize
        }
    }

    /// The midpoint of bucket `i`.
    fn value(i: usize) -> f64 {
        let i = i as u64;
        if i < Self::SUB {
            return i as f64;
        }
        let shift = (i >> Self::SUB_BITS) - 1;
        let low = ((i & (Self::SUB - 1)) | Self::SUB) << shift;
        low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, t: SimTime) {
        self.counts[Self::index(t.0)] += 1;
        self.n += 1;
    }

    /// The `q` quantile in milliseconds (NaN when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        let rank = (q * self.n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i) * 1e-6;
            }
        }
        f64::NAN
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        if self.n > 0 {
            self.counts.fill(0);
            self.n = 0;
        }
    }
}

/// The time integral of a piecewise-constant quantity (queue length, busy slots), for
/// time averages and Little's law.
///
/// The area is kept exactly, in integer value x nanoseconds: no rounding accumulates, and
/// the hot path avoids integer-to-float conversions.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeIntegral {
    value: i64,
    last: SimTime,
    area: i128,
}

impl TimeIntegral {
    /// The current value.
    #[inline]
    pub fn value(&self) -> i64 {
        self.value
    }

    /// Adds `delta` to the value at time `now`.
    #[inline]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        self.advance(now);
        self.value += delta;
    }

    /// Brings the integral up to `now` without changing the value.
    #[inline]
    pub fn advance(&mut self, now: SimTime) {
        let dt = now.0.saturating_sub(self.last.0);
        self.area += self.value as i128 * dt as i128;
        self.last = now;
    }

    /// Integral since the last restart, in value x seconds, up to `now`.
    pub fn area_secs(&mut self, now: SimTime) -> f64 {
        self.advance(now);
        self.area as f64 * 1e-9
    }

    /// Starts integrating afresh at `now`, keeping the value.
    pub fn restart(&mut self, now: SimTime) {
        self.last = now;
        self.area = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_within_resolution() {
        let mut h = LatencyHist::new();
        for ms in 1..=1000u64 {
            h.record(SimTime::from_millis(ms));
        }
        assert!((h.mean_ms() - 500.5).abs() < 1e-9);
        assert!((h.quantile_ms(0.99) - 990.0).abs() / 990.0 < 1e-3);
        assert!((h.fraction_at_or_below(SimTime::from_millis(250)) - 0.25).abs() < 2e-3);
    }

    #[test]
    fn interval_histogram_is_within_its_resolution() {
        let mut h = IntervalHist::new();
        for ms in 1..=1000u64 {
            h.record(SimTime::from_millis(ms));
        }
        for (q, exact) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0), (1.0, 1000.0)] {
            let v = h.quantile_ms(q);
            assert!((v - exact).abs() / exact < 0.016, "q {q}: {v} vs {exact}");
        }
        // Small values are exact.
        let mut s = IntervalHist::new();
        for ns in [0u64, 1, 2, 63] {
            s.record(SimTime(ns));
        }
        assert_eq!(s.quantile_ms(1.0), 63e-6);
        assert_eq!(s.quantile_ms(0.25), 0.0);
        // Every bucket's midpoint maps back to that bucket, up to the largest values.
        for v in [64u64, 65, 127, 128, 1_000_000, 123_456_789, u64::MAX / 3] {
            let i = IntervalHist::index(v);
            assert_eq!(IntervalHist::index(IntervalHist::value(i) as u64), i, "{v}");
        }
        h.reset();
        assert!(h.quantile_ms(0.5).is_nan());
    }

    #[test]
    fn zeros_are_counted_exactly() {
        let mut h = LatencyHist::new();
        for _ in 0..60 {
            h.record(SimTime::ZERO);
        }
        for ms in 1..=40u64 {
            h.record(SimTime::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_ms(0.5), 0.0);
        assert_eq!(h.quantile_ms(0.6), 0.0);
        // Rank 61 is the smallest non-zero value, rank 100 the largest.
        assert!((h.quantile_ms(0.61) - 1.0).abs() < 1e-3);
        assert!((h.quantile_ms(1.0) - 40.0).abs() / 40.0 < 1e-3);
        assert!((h.mean_ms() - 820.0 / 100.0).abs() < 1e-12);
        assert!((h.fraction_at_or_below(SimTime::ZERO) - 0.6).abs() < 1e-12);
        assert!((h.fraction_at_or_below(SimTime::from_millis(10)) - 0.7).abs() < 1e-12);
    }

    #[test]
    fn integral_of_a_step() {
        let mut a = TimeIntegral::default();
        a.add(SimTime::from_secs(1), 2);
        a.add(SimTime::from_secs(3), -1);
        assert_eq!(a.area_secs(SimTime::from_secs(4)), 5.0);
        a.restart(SimTime::from_secs(4));
        assert_eq!(a.area_secs(SimTime::from_secs(6)), 2.0);
    }
}
