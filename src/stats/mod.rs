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

/// Latencies in nanoseconds, 3 significant digits (0.1% relative error) from 1 ns to 10 hours.
///
/// The exact sum is kept beside the histogram, so means are exact and only percentiles carry
/// the histogram's resolution. Zeros (a request that did not wait) are only counted: they are
/// common and cost nothing to keep exactly.
///
/// The buckets are those of an HDR histogram (`hdrhistogram`'s `Histogram::new_with_bounds(1,
/// MAX_NS, 3)`: 2,048 sub-buckets, each power of two above the first halving the resolution)
/// and the percentiles are read the same way, so every figure equals that crate's (tested);
/// kept here, a record is a few instructions and the counts grow only as far as the largest
/// value seen.
#[derive(Clone, Default)]
pub struct LatencyHist {
    /// Counts by HDR bucket index, up to the highest index recorded.
    counts: Vec<u64>,
    /// Values above zero recorded.
    n: u64,
    zeros: u64,
    sum_ns: u128,
}

impl LatencyHist {
    /// Largest value tracked; larger ones are recorded at this value.
    pub const MAX_NS: u64 = 36_000 * SimTime::NANOS_PER_SEC;
    /// log2 of the half of the sub-buckets per power of two: 3 significant digits need
    /// 2 x 10^3 = 2,000 distinct values, so 2,048 sub-buckets.
    const HALF_BITS: u32 = 10;
    /// The mask that puts values below 2,048 in the first bucket.
    const SUB_MASK: u64 = (1 << (Self::HALF_BITS + 1)) - 1;

    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// The HDR bucket index of `v` (1 to `MAX_NS`).
    #[inline]
    fn index(v: u64) -> usize {
        // The power of two above the first 2,048 values, then the top 11 bits below it.
        let bucket = 63 - Self::HALF_BITS - (v | Self::SUB_MASK).leading_zeros();
        let sub = v >> bucket;
        (((bucket + 1) as u64) << Self::HALF_BITS) as usize + sub as usize - (1 << Self::HALF_BITS)
    }

    /// The highest value of bucket `i` (HDR's `highest_equivalent` of its lowest).
    fn highest(i: usize) -> u64 {
        let half = 1usize << Self::HALF_BITS;
        let (bucket, sub) = if i < 2 * half {
            (0, i as u64)
        } else {
            ((i >> Self::HALF_BITS) - 1, ((i & (half - 1)) + half) as u64)
        };
        (sub << bucket) + (1u64 << bucket) - 1
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, t: SimTime) {
        if t.0 == 0 {
            self.zeros += 1;
        } else {
            let i = Self::index(t.0.min(Self::MAX_NS));
            // One bounds check: the counts grow (rarely) only past the largest value seen.
            match self.counts.get_mut(i) {
                Some(c) => *c += 1,
                None => self.grow_to(i),
            }
            self.n += 1;
            self.sum_ns += t.0 as u128;
        }
    }

    /// Counts up to bucket `i`, which holds one value.
    #[cold]
    fn grow_to(&mut self, i: usize) {
        self.counts.resize(i, 0);
        self.counts.push(1);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.n + self.zeros
    }

    /// Number of values above zero.
    pub fn nonzero_count(&self) -> u64 {
        self.n
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
        self.quantile_from(q, &mut Cursor::default())
    }

    /// The quantiles `qs`, each as [`LatencyHist::quantile_ms`] reads it, in one pass over the
    /// counts when `qs` ascend (a CDF of a hundred points would otherwise scan the counts a
    /// hundred times).
    pub fn quantiles_ms(&self, qs: &[f64]) -> Vec<f64> {
        let mut at = Cursor::default();
        qs.iter().map(|&q| self.quantile_from(q, &mut at)).collect()
    }

    /// [`LatencyHist::quantile_ms`], its scan going on from `at`.
    fn quantile_from(&self, q: f64, at: &mut Cursor) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        // The value at rank ceil(q n), zeros first.
        let rank = (q * n as f64).ceil().max(1.0) as u64;
        if rank <= self.zeros {
            return 0.0;
        }
        let q_rest = (rank - self.zeros) as f64 / self.n as f64;
        self.value_at_quantile(q_rest.min(1.0), at) as f64 * 1e-6
    }

    /// The values above zero at quantile `q` (in (0, 1]), as HDR reads it: the highest value
    /// of the first bucket whose running count reaches ceil(q n), at least 1. The scan starts
    /// at `at` when its target is no larger (that bucket cannot come earlier), else afresh.
    fn value_at_quantile(&self, q: f64, at: &mut Cursor) -> u64 {
        let target = ((q * self.n as f64).ceil() as u64).max(1);
        if target < at.target {
            *at = Cursor::default();
        }
        at.target = target;
        while let Some(&c) = self.counts.get(at.index) {
            if at.seen + c >= target {
                return Self::highest(at.index);
            }
            at.seen += c;
            at.index += 1;
        }
        0
    }

    /// Fraction of values at or below `t`.
    pub fn fraction_at_or_below(&self, t: SimTime) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let below: u64 = if t.0 == 0 {
            0
        } else {
            // Every value in the bucket of `t` counts, as HDR's `count_between`.
            let top = Self::index(t.0.min(Self::MAX_NS)).min(self.counts.len().saturating_sub(1));
            self.counts.get(1..=top).map_or(0, |c| c.iter().sum())
        };
        (below + self.zeros) as f64 / n as f64
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.counts.clear();
        self.n = 0;
        self.zeros = 0;
        self.sum_ns = 0;
    }
}

/// Where a scan of a [`LatencyHist`]'s counts stands: bucket `index` is next, `seen` values
/// lie below it, and `target` was the last rank looked for.
#[derive(Default)]
struct Cursor {
    index: usize,
    seen: u64,
    target: u64,
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

/// A [`TimeIntegral`] changed only at the simulation clock's current time, which never goes
/// back (a service's requests in the system, its busy slots): the same exact area, cheaper
/// to update.
///
/// It keeps `value x now + offset` as the area: a change of `delta` at `now` subtracts
/// `delta x now` from the offset, so that the area so far stays as it was. A change of one
/// request is then an add and a subtract, where [`TimeIntegral`] multiplies the value by the
/// time since its last change. (That one takes changes dated before its last one as at its
/// last, which the API server's bookkeeping needs; this one must never see them.)
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockIntegral {
    value: i64,
    offset: i128,
    /// The latest time seen, to check that none goes back (debug builds).
    #[cfg(debug_assertions)]
    latest: SimTime,
}

impl ClockIntegral {
    /// The current value.
    #[inline]
    pub fn value(&self) -> i64 {
        self.value
    }

    #[inline(always)]
    fn saw(&mut self, _now: SimTime) {
        #[cfg(debug_assertions)]
        {
            debug_assert!(_now >= self.latest, "time went back: {_now:?}");
            self.latest = _now;
        }
    }

    /// Adds `delta` to the value at time `now` (no earlier than any time given before).
    #[inline(always)]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        self.saw(now);
        self.value += delta;
        self.offset -= delta as i128 * now.0 as i128;
    }

    /// Integral since the last restart, in value x seconds, up to `now`.
    pub fn area_secs(&mut self, now: SimTime) -> f64 {
        self.saw(now);
        (self.value as i128 * now.0 as i128 + self.offset) as f64 * 1e-9
    }

    /// Starts integrating afresh at `now`, keeping the value.
    pub fn restart(&mut self, now: SimTime) {
        self.saw(now);
        self.offset = -(self.value as i128 * now.0 as i128);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_integral_keeps_the_same_area_as_a_time_integral() {
        // Random changes at non-decreasing times, restarts among them: equal areas.
        let mut a = TimeIntegral::default();
        let mut b = ClockIntegral::default();
        let mut t = 0u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += x % 5_000_000_000 * u64::from(i % 3 != 0);
            let now = SimTime(t);
            let delta = (x >> 40) as i64 % 7 - 3;
            if i % 997 == 0 {
                a.restart(now);
                b.restart(now);
            } else {
                a.add(now, delta);
                b.add(now, delta);
            }
            assert_eq!(a.value(), b.value());
            if i % 101 == 0 {
                assert_eq!(a.area_secs(now).to_bits(), b.area_secs(now).to_bits());
            }
        }
        let end = SimTime(t + 1_000_000_007);
        assert_eq!(a.area_secs(end).to_bits(), b.area_secs(end).to_bits());
    }

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

    /// What [`LatencyHist`] reads from an `hdrhistogram` histogram of the same bounds (how
    /// it was built before it kept its own counts): the independent truth for the tests.
    struct Hdr {
        h: hdrhistogram::Histogram<u64>,
        zeros: u64,
    }

    impl Hdr {
        fn new() -> Hdr {
            Hdr {
                h: hdrhistogram::Histogram::new_with_bounds(1, LatencyHist::MAX_NS, 3).unwrap(),
                zeros: 0,
            }
        }

        fn record(&mut self, t: u64) {
            if t == 0 {
                self.zeros += 1;
            } else {
                self.h.saturating_record(t.min(LatencyHist::MAX_NS));
            }
        }

        fn quantile_ms(&self, q: f64) -> f64 {
            let n = self.h.len() + self.zeros;
            let rank = (q * n as f64).ceil().max(1.0) as u64;
            if rank <= self.zeros {
                return 0.0;
            }
            let q_rest = (rank - self.zeros) as f64 / self.h.len() as f64;
            self.h.value_at_quantile(q_rest.min(1.0)) as f64 * 1e-6
        }

        fn fraction_at_or_below(&self, t: u64) -> f64 {
            let n = self.h.len() + self.zeros;
            let below = if t == 0 {
                0
            } else {
                self.h.count_between(1, t.min(LatencyHist::MAX_NS))
            };
            (below + self.zeros) as f64 / n as f64
        }
    }

    #[test]
    fn every_figure_equals_the_hdr_histograms() {
        // Values over the whole range (zeros, the exact first 2,048, every power of two up
        // to past the maximum, bucket edges), many at a time and few, with resets between:
        // quantiles and fractions must be bit for bit the crate's.
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x
        };
        let mut ours = LatencyHist::new();
        for round in 0..60 {
            let mut hdr = Hdr::new();
            ours.reset();
            let n = [1, 2, 3, 10, 100, 5_000][round % 6];
            for _ in 0..n {
                let r = next();
                let v = match r % 5 {
                    0 => 0,
                    1 => r >> 53,
                    2 => (r >> 20) % (LatencyHist::MAX_NS * 2),
                    3 => (1u64 << ((r >> 8) % 44 + 4)) + (r >> 60) - 8,
                    _ => 1 + (r >> 30) % 10_000_000_000,
                };
                ours.record(SimTime(v));
                hdr.record(v);
            }
            assert_eq!(ours.count(), hdr.h.len() + hdr.zeros);
            for k in 0..=200 {
                let q = k as f64 / 200.0;
                let (a, b) = (ours.quantile_ms(q), hdr.quantile_ms(q));
                assert_eq!(a.to_bits(), b.to_bits(), "round {round} q {q}: {a} vs {b}");
            }
            for _ in 0..200 {
                let r = next();
                let t = match r % 3 {
                    0 => 0,
                    1 => (r >> 20) % (LatencyHist::MAX_NS * 2),
                    _ => (r >> 40) % 100_000,
                };
                let (a, b) = (
                    ours.fraction_at_or_below(SimTime(t)),
                    hdr.fraction_at_or_below(t),
                );
                assert_eq!(a.to_bits(), b.to_bits(), "round {round} t {t}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn quantiles_in_one_pass_equal_each_quantile() {
        // Ascending (one pass), repeated and descending probabilities (the scan restarts),
        // over values with zeros, gaps and a long tail: bit for bit quantile_ms.
        let mut h = LatencyHist::new();
        assert!(h.quantiles_ms(&[0.5])[0].is_nan());
        for i in 0..5_000u64 {
            let v = match i % 7 {
                0 => 0,
                1 => i * i * 1_000,
                _ => (i % 97) * 10_000 + 1,
            };
            h.record(SimTime(v));
        }
        let mut qs: Vec<f64> = (0..=400).map(|k| k as f64 / 400.0).collect();
        qs.extend([0.999, 0.999, 0.5, 0.0, 1.0, 0.25]);
        let one_pass = h.quantiles_ms(&qs);
        for (&q, v) in qs.iter().zip(one_pass) {
            assert_eq!(v.to_bits(), h.quantile_ms(q).to_bits(), "q {q}");
        }
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
