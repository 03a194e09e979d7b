//! Borrowing of seats between priority levels: every 10 s each level's seat demand since
//! the last adjustment is smoothed, and the server's seats are divided again in proportion
//! to it within each level's bounds, as `updateBorrowingLocked` of `apf_controller.go` and
//! `computeConcurrencyAllocation` of `conc_alloc.go` (kubernetes/apiserver @ 24a394e5) do.

use super::config::{LevelConfig, LevelLimits, level_limits};
use crate::engine::SimTime;

/// How often the limits are adjusted (`borrowingAdjustmentPeriod`, 10 s, apf_controller.go
/// @ 24a394e5).
pub const BORROWING_PERIOD: SimTime = SimTime::from_secs(10);

/// The weight of the past in the smoothed demand (`seatDemandSmoothingCoefficient`, 0.977,
/// a half-life of 5 minutes at one adjustment per 10 s; same file).
pub const SEAT_DEMAND_SMOOTHING: f64 = 0.977;

/// A level's seat demand (seats in use + seats asked for by waiting requests) over one
/// adjustment period: upstream's integrator results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeatDemand {
    /// The period's length.
    pub duration: SimTime,
    /// The time-weighted mean.
    pub average: f64,
    /// The time-weighted standard deviation.
    pub deviation: f64,
    /// The highest value.
    pub max: u64,
}

impl SeatDemand {
    /// No time observed and no demand.
    pub const NONE: SeatDemand = SeatDemand {
        duration: SimTime::ZERO,
        average: 0.0,
        deviation: 0.0,
        max: 0,
    };
}

/// Integrates a piecewise-constant seat count over simulated time, exactly (integer
/// seat-nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct DemandIntegrator {
    last: SimTime,
    x: u64,
    elapsed: u128,
    integral: u128,
    integral_sq: u128,
    max: u64,
}

impl DemandIntegrator {
    #[inline]
    fn advance(&mut self, now: SimTime) {
        // Several changes come at one instant (a request queued and started at once): no
        // time passed, nothing to add.
        if now <= self.last {
            return;
        }
        let dt = u128::from(now.nanos() - self.last.nanos());
        let x = u128::from(self.x);
        self.elapsed += dt;
        self.integral += x * dt;
        self.integral_sq += x * x * dt;
        self.last = now;
    }

    /// The count changes to `x` at `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, x: u64) {
        self.advance(now);
        self.x = x;
        self.max = self.max.max(x);
    }

    /// What was seen since the last call, and a new period that starts at the current
    /// count (upstream's `Reset`).
    pub fn take(&mut self, now: SimTime) -> SeatDemand {
        self.advance(now);
        let out = if self.elapsed == 0 {
            SeatDemand {
                max: self.max,
                ..SeatDemand::NONE
            }
        } else {
            let t = self.elapsed as f64;
            let average = self.integral as f64 / t;
            // Upstream gives NaN for a negative rounding residue and then reads it as 0.
            let variance = self.integral_sq as f64 / t - average * average;
            SeatDemand {
                duration: SimTime(self.elapsed as u64),
                average,
                deviation: variance.max(0.0).sqrt(),
                max: self.max,
            }
        };
        self.elapsed = 0;
        self.integral = 0;
        self.integral_sq = 0;
        self.max = self.x;
        out
    }
}

/// A level's smoothed demand as the borrowing reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DemandStats {
    /// The last period's mean.
    pub average: f64,
    /// The last period's standard deviation.
    pub deviation: f64,
    /// The last period's highest demand, rounded.
    pub high_watermark: u32,
    /// max(mean + deviation, 0.977 x previous + 0.023 x (mean + deviation)).
    pub smoothed: f64,
}

impl DemandStats {
    fn update(&mut self, d: &SeatDemand) {
        self.high_watermark = d.max as u32;
        if d.duration == SimTime::ZERO {
            return;
        }
        let deviation = if d.deviation.is_nan() {
            0.0
        } else {
            d.deviation
        };
        self.average = d.average;
        self.deviation = deviation;
        let envelope = d.average + deviation;
        self.smoothed = envelope
            .max(SEAT_DEMAND_SMOOTHING * self.smoothed + (1.0 - SEAT_DEMAND_SMOOTHING) * envelope);
    }
}

/// One level's part of the allocation problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllocItem {
    /// What it would get if seats were plentiful.
    pub target: f64,
    /// The least it may get.
    pub lower: f64,
    /// The most it may get.
    pub upper: f64,
}

/// The smallest target upstream lets weigh (`MinTarget`, conc_alloc.go @ 24a394e5).
pub const MIN_TARGET: f64 = 0.001;
const EPSILON: f64 = 1e-7;

/// Divides `required` among items in proportion to their targets, each clamped to its
/// bounds: the share p with sum(clamp(p x target, lower, upper)) = required. Returns each
/// item's part and p (upstream's "fair fraction"), or why the problem has no solution.
pub fn allocate(required: f64, items: &[AllocItem]) -> Result<(Vec<f64>, f64), String> {
    if required < 0.0 {
        return Err("negative sums are not supported".into());
    }
    let mut low = 0.0;
    let mut high = 0.0;
    let mut targets = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if it.lower < 0.0 {
            return Err(format!("lower bound {i} is {} (negative)", it.lower));
        }
        if it.target < it.lower {
            return Err(format!(
                "target {i} is {}, below its lower bound {}",
                it.target, it.lower
            ));
        }
        if it.upper < it.lower {
            return Err(format!(
                "upper bound {i} is {}, below its lower bound {}",
                it.upper, it.lower
            ));
        }
        low += it.lower;
        high += it.upper;
        targets.push(it.target.max(MIN_TARGET));
    }
    if low - required > EPSILON {
        return Err(format!(
            "lower bounds sum to {low}, above the required {required}"
        ));
    }
    if required - high > EPSILON {
        return Err(format!(
            "upper bounds sum to {high}, below the required {required}"
        ));
    }
    if required == 0.0 {
        return Ok((vec![0.0; items.len()], 0.0));
    }
    let ratio = |f: fn(&AllocItem) -> f64| -> Vec<f64> {
        items
            .iter()
            .zip(&targets)
            .map(|(it, t)| f(it) / t)
            .collect()
    };
    let lows = ratio(|it| it.lower);
    let highs = ratio(|it| it.upper);
    if low - required > -EPSILON {
        let p = lows.iter().copied().fold(f64::INFINITY, f64::min);
        return Ok((items.iter().map(|it| it.lower).collect(), p));
    }
    if required - high > -EPSILON {
        let p = highs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return Ok((items.iter().map(|it| it.upper).collect(), p));
    }
    // sum(clamp(p x target)) is continuous, piecewise linear and nondecreasing in p, with
    // kinks where an item reaches a bound: find the segment between kinks where it crosses
    // `required`, and interpolate.
    let total = |p: f64| -> f64 {
        items
            .iter()
            .zip(&targets)
            .map(|(it, t)| (p * t).clamp(it.lower, it.upper))
            .sum()
    };
    let mut kinks: Vec<f64> = lows.iter().chain(&highs).copied().collect();
    kinks.push(0.0);
    kinks.sort_by(f64::total_cmp);
    let mut p = kinks[kinks.len() - 1];
    for w in kinks.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (fa, fb) = (total(a), total(b));
        if fb >= required {
            p = if fb > fa {
                a + (required - fa) * (b - a) / (fb - fa)
            } else {
                a
            };
            break;
        }
    }
    let parts = items
        .iter()
        .zip(&targets)
        .map(|(it, t)| (p * t).clamp(it.lower, it.upper))
        .collect();
    Ok((parts, p))
}

/// The levels' current concurrency limits, adjusted every [`BORROWING_PERIOD`].
#[derive(Debug, Clone)]
pub struct Borrowing {
    exempt: Vec<bool>,
    limits: Vec<LevelLimits>,
    stats: Vec<DemandStats>,
    current: Vec<u32>,
    nominal_sum: i64,
}

impl Borrowing {
    /// The levels' bounds from the server's seats, and their first limits: upstream sets
    /// nominal - lendable / 2 and at once adjusts with no demand seen, which gives each
    /// level its share of the nominal total in proportion to what it may not lend.
    pub fn new(server_limit: u32, levels: &[LevelConfig]) -> Borrowing {
        let limits = level_limits(server_limit, levels);
        let mut b = Borrowing {
            exempt: levels.iter().map(LevelConfig::exempt).collect(),
            current: limits.iter().map(|l| l.initial).collect(),
            nominal_sum: limits.iter().map(|l| i64::from(l.nominal)).sum(),
            stats: vec![DemandStats::default(); levels.len()],
            limits,
        };
        b.update(&vec![SeatDemand::NONE; levels.len()]);
        b
    }

    /// The levels' bounds.
    pub fn limits(&self) -> &[LevelLimits] {
        &self.limits
    }

    /// The levels' current limits.
    pub fn current(&self) -> &[u32] {
        &self.current
    }

    /// The levels' demand statistics as of the last adjustment.
    pub fn stats(&self) -> &[DemandStats] {
        &self.stats
    }

    /// One adjustment from each level's demand over the last period (in level order);
    /// returns the new limits. Each level keeps at least min(nominal, its demand's peak)
    /// but never below what it may not lend; the rest of the nominal total is divided in
    /// proportion to the smoothed demands, within each level's bounds. The exempt level's
    /// limit is its peak demand (it limits nothing).
    pub fn update(&mut self, demand: &[SeatDemand]) -> &[u32] {
        assert_eq!(demand.len(), self.limits.len(), "one demand per level");
        let mut remaining = self.nominal_sum;
        let mut min_sum = 0i64;
        let mut min_current_sum = 0i64;
        let mut floors = vec![0u32; self.limits.len()];
        let mut items = Vec::with_capacity(self.limits.len());
        for (i, d) in demand.iter().enumerate() {
            self.stats[i].update(d);
            let l = self.limits[i];
            let peak = self.stats[i].high_watermark;
            if self.exempt[i] {
                floors[i] = l.min.max(peak);
                remaining -= i64::from(floors[i]);
            } else {
                floors[i] = l.min.max(l.nominal.min(peak));
                items.push(AllocItem {
                    lower: f64::from(floors[i]),
                    upper: f64::from(l.max),
                    target: f64::from(floors[i]).max(self.stats[i].smoothed),
                });
                min_sum += i64::from(l.min);
                min_current_sum += i64::from(floors[i]);
            }
        }
        let allocs = if remaining > min_current_sum {
            // Upstream divides the whole nominal total here, not what the exempt level
            // leaves; kept as is.
            allocate(self.nominal_sum as f64, &items)
                .ok()
                .map(|(a, _)| a)
        } else {
            None
        };
        let mut k = 0;
        let levels = self.limits.iter().zip(&self.exempt).zip(&floors);
        for (current, ((l, &exempt), &floor)) in self.current.iter_mut().zip(levels) {
            if exempt {
                *current = floor;
                continue;
            }
            *current = if remaining <= min_sum {
                l.min
            } else if remaining <= min_current_sum {
                let share = (remaining - min_sum) as f64 / (min_current_sum - min_sum) as f64;
                l.min + (f64::from(floor - l.min) * share).round() as u32
            } else {
                // On an unsolvable problem upstream keeps the old limits.
                allocs.as_ref().map_or(*current, |a| a[k].round() as u32)
            };
            k += 1;
        }
        &self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::apf::config::{DEFAULT_LEVELS, LimitResponse};

    fn demand(level: f64, peak: u64) -> SeatDemand {
        SeatDemand {
            duration: BORROWING_PERIOD,
            average: level,
            deviation: 0.0,
            max: peak,
        }
    }

    fn two_levels(borrowing_limit_percent: Option<u32>) -> [LevelConfig; 2] {
        let mut a = DEFAULT_LEVELS[super::super::level::WORKLOAD_HIGH];
        a.name = "lender";
        a.nominal_shares = 50;
        a.lendable_percent = 50;
        let mut b = a;
        b.name = "borrower";
        b.lendable_percent = 0;
        b.borrowing_limit_percent = borrowing_limit_percent;
        assert_eq!(b.response, LimitResponse::Queue);
        [a, b]
    }

    #[test]
    fn an_idle_lenders_seats_go_to_a_busy_borrower() {
        // 100 seats, two levels of 50 nominal. The lender may lend 25 (min 25); the
        // borrower lends nothing (min 50); both may borrow the server's 100 (max 150).
        // Idle lender: floor 25, target 25. Busy borrower (100 seats asked, peak 100):
        // floor min(50, 100) = 50, target 100. Find p with clamp(25p, 25, 150) +
        // clamp(100p, 50, 150) = 100: at p = 0.75, 25 + 75 = 100. Borrower 75, lender 25:
        // all 25 lendable seats moved.
        let mut b = Borrowing::new(100, &two_levels(None));
        assert_eq!(b.update(&[demand(0.0, 0), demand(100.0, 100)]), &[25, 75]);
        // With a borrowing limit of 20 % the borrower's max is 50 + 10 = 60: clamp(100p,
        // 50, 60) is 60 from p = 0.6 on, so 25p must give 40: p = 1.6. Lender 40,
        // borrower 60 (its limit).
        let mut b = Borrowing::new(100, &two_levels(Some(20)));
        assert_eq!(b.update(&[demand(0.0, 0), demand(100.0, 100)]), &[40, 60]);
        // Both busy: each keeps at least its nominal 50 (floors min(50, 100)).
        let mut b = Borrowing::new(100, &two_levels(None));
        assert_eq!(
            b.update(&[demand(100.0, 100), demand(100.0, 100)]),
            &[50, 50]
        );
    }

    #[test]
    fn smoothing_decays_with_a_five_minute_half_life() {
        // After a busy period the borrower's smoothed demand decays by 0.977 per period:
        // 0.977^30 = 0.497 after 30 periods (5 minutes).
        let mut b = Borrowing::new(100, &two_levels(None));
        b.update(&[demand(0.0, 0), demand(100.0, 100)]);
        for _ in 0..30 {
            b.update(&[demand(0.0, 0), demand(0.0, 0)]);
        }
        let s = b.stats()[1].smoothed;
        assert!((s - 100.0 * 0.977f64.powi(30)).abs() < 1e-9, "{s}");
        assert!((0.49..0.5).contains(&(s / 100.0)));
    }

    #[test]
    fn defaults_at_start_share_out_in_proportion_to_unlendable_seats() {
        // No demand: every non-exempt level's floor and target are its min (nominal -
        // lendable): 50, 73, 25, 49, 24, 24, 13, summing to 258. The nominal total is 602,
        // so p = 602 / 258 and each gets round(min x 602 / 258): 116.67 -> 117,
        // 170.33 -> 170, 58.33 -> 58, 114.33 -> 114, 56, 56, 30.33 -> 30.
        let b = Borrowing::new(600, &DEFAULT_LEVELS);
        assert_eq!(b.current(), &[0, 117, 170, 58, 114, 56, 56, 30]);
    }

    #[test]
    fn demand_beyond_the_total_falls_back_to_floors() {
        // Exempt demand of 500 leaves 602 - 500 = 102 < the non-exempt mins' 258: every
        // other level gets its min; exempt gets its peak.
        let mut b = Borrowing::new(600, &DEFAULT_LEVELS);
        let mut d = vec![SeatDemand::NONE; 8];
        d[0] = demand(500.0, 500);
        assert_eq!(b.update(&d), &[500, 50, 73, 25, 49, 24, 24, 13]);
        // Exempt 340 leaves 262. node-high busy at 120: its floor is min(98, 120) = 98
        // instead of its min 73, so the floors sum to 258 + 25 = 283. 262 lies between 258
        // and 283: each level gets its min plus the share (262 - 258) / 25 = 0.16 of its
        // floor's excess: node-high 73 + round(25 x 0.16) = 77, the others their mins.
        d[0] = demand(340.0, 340);
        d[2] = demand(120.0, 120);
        assert_eq!(b.update(&d), &[340, 50, 77, 25, 49, 24, 24, 13]);
    }

    #[test]
    fn allocation_matches_hand_solutions() {
        let it = |target, lower, upper| AllocItem {
            target,
            lower,
            upper,
        };
        // No bound binds: 30 in proportion 1:2 -> 10, 20 (p = 10).
        let (a, p) = allocate(30.0, &[it(1.0, 0.0, 100.0), it(2.0, 0.0, 100.0)]).unwrap();
        assert_eq!((a, p), (vec![10.0, 20.0], 10.0));
        // The second's upper bound 15 binds: the first takes the other 15.
        let (a, _) = allocate(30.0, &[it(1.0, 0.0, 100.0), it(2.0, 0.0, 15.0)]).unwrap();
        assert!((a[0] - 15.0).abs() < 1e-9 && (a[1] - 15.0).abs() < 1e-9);
        // Bounds that cannot reach the sum are errors.
        assert!(allocate(300.0, &[it(1.0, 0.0, 100.0), it(2.0, 0.0, 15.0)]).is_err());
        assert!(allocate(1.0, &[it(5.0, 5.0, 10.0)]).is_err());
        // So are a target below its lower bound and an upper bound below the lower.
        assert!(allocate(10.0, &[it(1.0, 5.0, 10.0)]).is_err());
        assert!(allocate(1.0, &[it(2.0, 2.0, 1.0)]).is_err());
        // Exactly the lower bounds' sum: the lower bounds.
        assert_eq!(allocate(5.0, &[it(5.0, 5.0, 10.0)]).unwrap().0, vec![5.0]);
    }

    #[test]
    fn integrator_is_exact() {
        let mut i = DemandIntegrator::default();
        i.set(SimTime::from_secs(1), 3);
        i.set(SimTime::from_secs(4), 1);
        // 0 for 1 s, 3 for 3 s, 1 for 6 s: mean (9 + 6) / 10 = 1.5, mean of squares
        // (27 + 6) / 10 = 3.3, variance 3.3 - 2.25 = 1.05.
        let d = i.take(SimTime::from_secs(10));
        assert!((d.average - 1.5).abs() < 1e-12);
        assert!((d.deviation - 1.05f64.sqrt()).abs() < 1e-12);
        assert_eq!(d.max, 3);
        assert_eq!(i.take(SimTime::from_secs(10)).max, 1);
    }
}
