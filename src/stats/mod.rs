//! Statistics: HDR latency histograms, time-weighted averages, replication confidence
//! intervals and the closed-form results the simulator is validated against.

pub mod analytic;
mod ci;

pub use ci::{Estimate, t_975};

use crate::engine::SimTime;
use hdrhistogram::Histogram;

/// Latencies in nanoseconds, 3 significant digits (0.1% relative error) from 1 ns to 10 hours.
///
/// The exact sum is kept beside the histogram, so means are exact and only percentiles carry
/// the histogram's resolution.
#[derive(Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
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
            sum_ns: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, t: SimTime) {
        self.h.saturating_record(t.0.min(Self::MAX_NS));
        self.sum_ns += t.0 as u128;
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// Exact mean in milliseconds (NaN when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.h.is_empty() {
            f64::NAN
        } else {
            self.sum_ns as f64 / self.h.len() as f64 * 1e-6
        }
    }

    /// The `q` quantile (0..1) in milliseconds (NaN when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            f64::NAN
        } else {
            self.h.value_at_quantile(q) as f64 * 1e-6
        }
    }

    /// Fraction of values at or below `t`.
    pub fn fraction_at_or_below(&self, t: SimTime) -> f64 {
        if self.h.is_empty() {
            return f64::NAN;
        }
        self.h.count_between(0, t.0.min(Self::MAX_NS)) as f64 / self.h.len() as f64
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.h.reset();
        self.sum_ns = 0;
    }
}

/// The time integral of a piecewise-constant quantity (queue length, busy slots), for
/// time averages and Little's law.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeIntegral {
    value: i64,
    last: SimTime,
    area: f64,
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
        let dt = now.since(self.last).0;
        if dt > 0 {
            self.area += self.value as f64 * dt as f64;
            self.last = now;
        }
    }

    /// Integral since the last restart, in value x seconds, up to `now`.
    pub fn area_secs(&mut self, now: SimTime) -> f64 {
        self.advance(now);
        self.area * 1e-9
    }

    /// Starts integrating afresh at `now`, keeping the value.
    pub fn restart(&mut self, now: SimTime) {
        self.last = now;
        self.area = 0.0;
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
    fn integral_of_a_step() {
        let mut a = TimeIntegral::default();
        a.add(SimTime::from_secs(1), 2);
        a.add(SimTime::from_secs(3), -1);
        assert_eq!(a.area_secs(SimTime::from_secs(4)), 5.0);
        a.restart(SimTime::from_secs(4));
        assert_eq!(a.area_secs(SimTime::from_secs(6)), 2.0);
    }
}
