//! Seats per request: how wide a request is and how long its last part lingers, per the work
//! estimator of `pkg/util/flowcontrol/request/` in kubernetes/apiserver @ 24a394e5.

use crate::engine::SimTime;

/// What one request occupies while it executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkEstimate {
    /// Seats while it executes.
    pub initial_seats: u32,
    /// Seats while its watch events go out, after it finished (0: none).
    pub final_seats: u32,
    /// How long the final seats are held after the request finished.
    pub additional_latency: SimTime,
}

impl WorkEstimate {
    /// One seat and nothing after: a get, and what the estimator gives any other verb.
    pub const ONE: WorkEstimate = WorkEstimate {
        initial_seats: MINIMUM_SEATS,
        final_seats: 0,
        additional_latency: SimTime::ZERO,
    };

    /// The seats held from dispatch until the last seat is released: upstream holds the
    /// larger of the two counts for the whole time (`width.go` `MaxSeats`).
    pub fn max_seats(&self) -> u32 {
        self.initial_seats.max(self.final_seats)
    }
}

/// `MinimumSeats` (`config.go` @ 24a394e5).
pub const MINIMUM_SEATS: u32 = 1;
/// `MaximumListSeatsLimit` with SizeBasedListCostEstimate on (`config.go` @ 24a394e5).
pub const MAX_LIST_SEATS_BY_SIZE: u32 = 100;
/// `MaximumListSeatsLimit` with SizeBasedListCostEstimate off.
pub const MAX_LIST_SEATS_BY_COUNT: u32 = 10;
/// `MaximumMutatingSeatsLimit` (`config.go` @ 24a394e5).
pub const MAX_MUTATING_SEATS: u32 = 10;
/// `objectsPerSeat` (`config.go` @ 24a394e5).
pub const OBJECTS_PER_SEAT: f64 = 100.0;
/// `bytesPerSeat` (`list_work_estimator.go` @ 24a394e5).
pub const BYTES_PER_SEAT: f64 = 100_000.0;
/// `cacheWithStreamingMaxMemoryUsage`: a list from the watch cache streams, so at most this
/// many bytes count (`list_work_estimator.go` @ 24a394e5).
pub const CACHE_STREAMING_MAX_BYTES: u64 = 1_000_000;
/// `maxObjectSize`, assumed when the average object size is unknown (same file).
pub const MAX_OBJECT_BYTES: u64 = 1_500_000;
/// `watchesPerSeat` (`config.go` @ 24a394e5).
pub const WATCHES_PER_SEAT: f64 = 10.0;
/// `eventAdditionalDuration`, 5 ms of one seat per watch event (`config.go` @ 24a394e5).
pub const EVENT_ADDITIONAL_DURATION: SimTime = SimTime::from_millis(5);

/// Which list cost the server uses. `SizeBasedListCostEstimate` is beta and on by default
/// since Kubernetes 1.34 (`pkg/features/kube_features.go` @ 24a394e5); before it, or with
/// the gate off, a list's width came from its object count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCost {
    /// Bytes held in memory at once / 100,000, at most 100 seats (1.34 and later).
    BySize,
    /// Objects processed / 100, at most 10 seats (before 1.34).
    ByCount,
}

/// What the estimator knows of one list call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// Objects of the resource stored (the object count tracker's figure).
    pub stored: u64,
    /// Their average size in bytes (0: unknown, the estimator then assumes 1.5 MB).
    pub avg_object_bytes: u64,
    /// The call's `limit` (0: none).
    pub limit: u64,
    /// Whether it has a label or field selector.
    pub selector: bool,
    /// Whether the watch cache serves it (else etcd).
    pub from_cache: bool,
    /// Whether it names one object (`metadata.name` given).
    pub single: bool,
}

/// The estimator's cap for a level: the level's recorded maximum unless that is 0 or above
/// the estimator's own limit.
fn cap(level_max_seats: u32, limit: u32) -> u32 {
    if level_max_seats == 0 || level_max_seats > limit {
        limit
    } else {
        level_max_seats
    }
}

/// A list call's width. `level_max_seats` is [`super::config::level_max_seats`] (0: none).
pub fn list_work(q: &ListQuery, level_max_seats: u32, cost: ListCost) -> WorkEstimate {
    let (raw, limit) = match cost {
        ListCost::BySize => (seats_by_size(q), MAX_LIST_SEATS_BY_SIZE),
        ListCost::ByCount => (seats_by_count(q), MAX_LIST_SEATS_BY_COUNT),
    };
    let seats = raw
        .max(u64::from(MINIMUM_SEATS))
        .min(u64::from(cap(level_max_seats, limit)));
    WorkEstimate {
        initial_seats: seats as u32,
        final_seats: 0,
        additional_latency: SimTime::ZERO,
    }
}

fn limited(q: &ListQuery) -> u64 {
    if q.limit > 0 && q.limit < q.stored {
        q.limit
    } else {
        q.stored
    }
}

/// ceil(objects processed / 100): one for a named object, all stored from the cache,
/// stored + limit with a selector from etcd, else twice the limit from etcd.
fn seats_by_count(q: &ListQuery) -> u64 {
    let processed = if q.single {
        1
    } else if q.from_cache {
        q.stored
    } else if q.selector {
        q.stored.saturating_add(limited(q))
    } else {
        limited(q).saturating_mul(2)
    };
    (processed as f64 / OBJECTS_PER_SEAT).ceil() as u64
}

/// ceil(bytes in memory at once / 100,000), the cache's at most 1 MB.
fn seats_by_size(q: &ListQuery) -> u64 {
    let avg = if q.avg_object_bytes == 0 && q.stored != 0 {
        MAX_OBJECT_BYTES
    } else {
        q.avg_object_bytes
    };
    let loaded = if q.single {
        1
    } else if q.from_cache {
        limited(q)
    } else if q.selector {
        limited(q).max(q.stored / 2)
    } else {
        limited(q)
    };
    let mut bytes = loaded.saturating_mul(avg);
    if q.from_cache {
        bytes = bytes.min(CACHE_STREAMING_MAX_BYTES);
    }
    (bytes as f64 / BYTES_PER_SEAT).ceil() as u64
}

/// Seat-seconds in upstream's fixed point (`seat_seconds.go` @ 24a394e5: 1e8 per
/// seat-second), from seats and a duration, rounded half away from zero.
pub fn seat_seconds(seats: f64, nanos: i64) -> i64 {
    if seats == 1.0 && nanos.unsigned_abs() < ONE_SEAT_EXACT_BELOW {
        // One seat, the commonest case: nanos / 10 rounded half away from zero, in integers.
        // The same as below: there the quotient is within 2^-17 of the true one, whose
        // fraction is a whole tenth, so no rounding crosses a half.
        let r = ((nanos.unsigned_abs() + 5) / 10) as i64;
        return if nanos < 0 { -r } else { r };
    }
    // One unit is 10 seat-nanoseconds.
    round_half_away(seats * nanos as f64 / 10.0)
}

/// Durations (ns) below which one seat's [`seat_seconds`] are worked out in integers.
const ONE_SEAT_EXACT_BELOW: u64 = 1 << 40;

/// [`seat_seconds`] in floating point only (what the integer case must equal).
#[cfg(test)]
fn seat_seconds_float(seats: f64, nanos: i64) -> i64 {
    round_half_away(seats * nanos as f64 / 10.0)
}

/// `x.round() as i64`, inline: `round` is a library call on baseline x86-64 (no SSE4.1),
/// and queuing takes several seat-second values per request.
#[inline]
fn round_half_away(x: f64) -> i64 {
    // From 2^52 up every f64 is a whole number: there `round` changes nothing, and the
    // library keeps NaN and the saturation at the ends as they were.
    const WHOLE_FROM: f64 = 4_503_599_627_370_496.0;
    if x.abs() < WHOLE_FROM {
        let whole = x as i64;
        // Exact: the fraction's bits are x's own.
        let frac = x - whole as f64;
        if frac >= 0.5 {
            whole + 1
        } else if frac <= -0.5 {
            whole - 1
        } else {
            whole
        }
    } else {
        x.round() as i64
    }
}

/// The duration that spreads `work` seat-seconds units over `seats` seats, truncated to the
/// nanosecond as Go's `time.Duration` conversion does.
pub fn duration_per_seat(work: i64, seats: f64) -> SimTime {
    SimTime((work as f64 / seats * 10.0) as u64)
}

/// A create, update, patch or delete with `watchers` watches to notify: one seat while it
/// executes, then ceil(watchers / 10) seats (capped) for the 5 ms per seat its events take,
/// stretched so that the work stays the same under the cap. Fewer than 10 watchers cost
/// nothing after.
pub fn mutating_work(watchers: u64, level_max_seats: u32) -> WorkEstimate {
    let max = cap(level_max_seats, MAX_MUTATING_SEATS);
    if (watchers as f64) < WATCHES_PER_SEAT {
        return WorkEstimate::ONE;
    }
    let wanted = (watchers as f64 / WATCHES_PER_SEAT).ceil() as u64;
    let work = seat_seconds(wanted as f64, EVENT_ADDITIONAL_DURATION.nanos() as i64);
    let final_seats = wanted.min(u64::from(max)) as u32;
    WorkEstimate {
        initial_seats: 1,
        final_seats,
        additional_latency: duration_per_seat(work, f64::from(final_seats)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(stored: u64, avg: u64) -> ListQuery {
        ListQuery {
            stored,
            avg_object_bytes: avg,
            limit: 0,
            selector: false,
            from_cache: true,
            single: false,
        }
    }

    fn seats(q: &ListQuery, max: u32, cost: ListCost) -> u32 {
        list_work(q, max, cost).initial_seats
    }

    #[test]
    fn list_by_count() {
        // From the cache: ceil(stored / 100). 1 -> 1, 100 -> 1, 101 -> 2, 950 -> 10,
        // 7,500 -> 75 capped at 10 (the by-count limit).
        let by = |n| seats(&cached(n, 1000), 0, ListCost::ByCount);
        assert_eq!(
            [by(0), by(1), by(100), by(101), by(950), by(7500)],
            [1, 1, 1, 2, 10, 10]
        );
        // The level's own cap: node-high's 15 is above 10, so 10; leader-election's 4 binds.
        assert_eq!(seats(&cached(7500, 1), 15, ListCost::ByCount), 10);
        assert_eq!(seats(&cached(7500, 1), 4, ListCost::ByCount), 4);
        // From etcd without a selector: 2 x limit; limit 250 of 10,000 -> 500 / 100 = 5.
        let etcd = ListQuery {
            limit: 250,
            from_cache: false,
            ..cached(10_000, 1)
        };
        assert_eq!(seats(&etcd, 0, ListCost::ByCount), 5);
        // With a selector: stored + limit = 10,250 -> 103, capped at 10.
        let sel = ListQuery {
            selector: true,
            stored: 300,
            ..etcd
        };
        // 300 + 250 = 550 -> 6.
        assert_eq!(seats(&sel, 0, ListCost::ByCount), 6);
        let one = ListQuery {
            single: true,
            ..etcd
        };
        assert_eq!(seats(&one, 0, ListCost::ByCount), 1);
    }

    #[test]
    fn list_by_size() {
        // From the cache: min(stored x avg, 1 MB) / 100 kB. 100 pods of 4 kB = 400 kB -> 4;
        // 7,500 pods of 4 kB = 30 MB, streamed: 1 MB -> 10.
        assert_eq!(seats(&cached(100, 4000), 0, ListCost::BySize), 4);
        assert_eq!(seats(&cached(7500, 4000), 0, ListCost::BySize), 10);
        // From etcd, no cap on memory: 7,500 x 4 kB = 30 MB -> 300, capped at 100 by the
        // estimator, or at the level's own maximum (workload-low's 37 from 600 seats).
        let etcd = ListQuery {
            from_cache: false,
            ..cached(7500, 4000)
        };
        assert_eq!(seats(&etcd, 0, ListCost::BySize), 100);
        assert_eq!(seats(&etcd, 37, ListCost::BySize), 37);
        // 1,000 events of 1 kB from etcd: 1 MB -> 10; with limit 500: 500 kB -> 5; with a
        // selector and that limit: max(500, 1000 / 2) = 500 -> 5.
        let ev = ListQuery {
            from_cache: false,
            ..cached(1000, 1000)
        };
        assert_eq!(seats(&ev, 0, ListCost::BySize), 10);
        let lim = ListQuery { limit: 500, ..ev };
        assert_eq!(seats(&lim, 0, ListCost::BySize), 5);
        let sel = ListQuery {
            selector: true,
            limit: 100,
            ..ev
        };
        // max(100, 500) = 500 objects -> 5.
        assert_eq!(seats(&sel, 0, ListCost::BySize), 5);
        // Unknown size: 1.5 MB each; 10 objects from etcd = 15 MB -> 150 -> 100.
        assert_eq!(
            seats(
                &ListQuery {
                    from_cache: false,
                    ..cached(10, 0)
                },
                0,
                ListCost::BySize
            ),
            100
        );
        // Nothing stored: the minimum, 1.
        assert_eq!(seats(&cached(0, 0), 0, ListCost::BySize), 1);
    }

    #[test]
    fn mutating_work_by_watchers() {
        // Under 10 watchers: one seat, nothing after.
        assert_eq!(mutating_work(0, 0), WorkEstimate::ONE);
        assert_eq!(mutating_work(9, 0), WorkEstimate::ONE);
        let after = |watchers, max| {
            let w = mutating_work(watchers, max);
            assert_eq!(w.initial_seats, 1);
            (w.final_seats, w.additional_latency)
        };
        // 10 watchers: 1 final seat for 5 ms; 95: ceil(9.5) = 10 seats for 5 ms.
        assert_eq!(after(10, 0), (1, SimTime::from_millis(5)));
        assert_eq!(after(95, 0), (10, SimTime::from_millis(5)));
        // 250 watchers: 25 seats x 5 ms = 125 seat-ms, capped at 10 seats -> 12.5 ms.
        assert_eq!(after(250, 0), (10, SimTime(12_500_000)));
        assert_eq!(mutating_work(250, 0).max_seats(), 10);
        // 7,500 watchers (every kube-proxy): 750 seats x 5 ms = 3.75 seat-s over 10 seats
        // -> 375 ms.
        assert_eq!(after(7500, 0), (10, SimTime::from_millis(375)));
        // A level whose maximum is 4 (leader-election from 600): 250 watchers -> 4 seats,
        // 125 / 4 = 31.25 ms.
        assert_eq!(after(250, 4), (4, SimTime(31_250_000)));
    }

    #[test]
    fn seat_seconds_fixed_point() {
        // 3 ms of one seat = 0.003 seat-s = 300,000 units of 1e-8.
        assert_eq!(seat_seconds(1.0, 3_000_000), 300_000);
        assert_eq!(seat_seconds(2.0, -3_000_000), -600_000);
        // Halves round away from zero: 1 seat x 5 ns = 0.5 unit -> 1.
        assert_eq!(seat_seconds(1.0, 5), 1);
        assert_eq!(duration_per_seat(300_000, 1.0), SimTime::from_millis(3));
    }

    #[test]
    fn one_seat_in_integers_is_the_floating_point_result() {
        // Every remainder modulo 10 (the halves included), both signs, small and up to the
        // bound, against the floating-point formula.
        let mut x = 99u64;
        let check = |n: i64| {
            assert_eq!(seat_seconds(1.0, n), seat_seconds_float(1.0, n), "{n}");
        };
        for n in -1000..=1000 {
            check(n);
        }
        let top = ONE_SEAT_EXACT_BELOW as i64;
        for n in [
            top - 1,
            top - 5,
            top - 6,
            top - 15,
            -(top - 1),
            -(top - 5),
            -(top - 15),
        ] {
            check(n);
        }
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = ((x >> 24) % ONE_SEAT_EXACT_BELOW) as i64;
            check(n);
            check(-n);
            check(n / 10 * 10 + 5);
            check(-(n / 10 * 10 + 5));
        }
    }

    #[test]
    fn rounding_is_the_librarys() {
        let mut x = 3u64;
        let mut values = vec![
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4_503_599_627_370_495.5,
            -4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9.3e18,
            -9.3e18,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -0.0,
        ];
        for _ in 0..100_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Any bit pattern: every exponent, sign and fraction.
            values.push(f64::from_bits(x));
            // Halves and near-halves of moderate size.
            let h = (x >> 40) as f64 / 2.0 * if x & 1 == 0 { 1.0 } else { -1.0 };
            values.extend([h, h + 1e-9, h - 1e-9]);
        }
        for v in values {
            assert_eq!(round_half_away(v), v.round() as i64, "{v:e}");
        }
    }
}
