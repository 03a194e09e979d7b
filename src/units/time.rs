//! Simulated time: integer nanoseconds, so that no floating-point error accumulates.

use std::fmt;

/// A point in (or span of) simulated time, in integer nanoseconds since the start of the run.
///
/// u64 nanoseconds cover 584 years, far beyond any scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Time zero.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable time; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);
    /// Nanoseconds per second.
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    /// From seconds, rounded to the nearest nanosecond and saturating at the ends.
    pub fn from_secs_f64(s: f64) -> SimTime {
        if s.is_nan() || s <= 0.0 {
            return SimTime::ZERO;
        }
        // Adding 0.5 and truncating rounds half up; inline, unlike a call to libm's round().
        let ns = s * 1e9 + 0.5;
        if ns >= i64::MAX as f64 {
            // Beyond 292 years: "never" (durations are limited to 10 years anyway).
            SimTime::MAX
        } else {
            // Through i64: one instruction, where a direct f64 -> u64 cast takes several.
            SimTime(ns as i64 as u64)
        }
    }
    /// From whole seconds.
    pub const fn from_secs(s: u64) -> SimTime {
        SimTime(s * Self::NANOS_PER_SEC)
    }
    /// From whole milliseconds.
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }
    /// As seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }
    /// As milliseconds.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 * 1e-6
    }
    /// Nanoseconds.
    pub const fn nanos(self) -> u64 {
        self.0
    }
    /// `self - earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(earlier.0))
    }
}

/// `a + b` saturates at [`SimTime::MAX`] ("never"), so adding to "never" stays "never".
impl std::ops::Add for SimTime {
    type Output = SimTime;
    #[inline]
    fn add(self, d: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            write!(f, "0s")
        } else if ns.is_multiple_of(3_600_000_000_000) {
            write!(f, "{}h", ns / 3_600_000_000_000)
        } else if ns.is_multiple_of(60_000_000_000) {
            write!(f, "{}m", ns / 60_000_000_000)
        } else if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(SimTime::from_secs_f64(1.5).nanos(), 1_500_000_000);
        assert_eq!(SimTime::from_secs_f64(-3.0), SimTime::ZERO);
        assert_eq!(SimTime::from_secs_f64(f64::INFINITY), SimTime::MAX);
        assert_eq!(SimTime::from_millis(250).to_string(), "250ms");
        assert_eq!(SimTime::from_secs(7200).to_string(), "2h");
        assert_eq!(SimTime(1500).to_string(), "1500ns");
    }
}
