//! Arrival processes: when a workload's requests arrive.
//!
//! A scenario names one under `workloads[].arrivals` ([`ArrivalSpec`]); [`compile`] turns it
//! into either an open-loop [`ArrivalProcess`], which the simulator asks for one arrival at a
//! time, or a [`ClosedLoop`] of users who wait for each response and think before the next.
//!
//! ```yaml
//! arrivals: {poisson: {rate: 20/s}}
//! arrivals: {on_off: {on_rate: 50/s, off_rate: 0/s, on_time: 30s, off_time: 90s}}
//! arrivals: {diurnal: {min_rate: 5/s, peak_rate: 50/s, period: 24h, peak_at: 14h}}
//! arrivals: {step: {from: 10/s, to: 50/s, at: 30m}}
//! arrivals: {ramp: {from: 10/s, to: 100/s, start: 10m, end: 40m}}
//! arrivals: {trace: {file: trace.csv, time_scale: 1.0, loop: false}}
//! arrivals: {closed: {users: 100, think_time: 30s}}            # exponential, mean 30s
//! arrivals: {closed: {users: 100, think_time: {fixed: 5s}}}    # any duration distribution
//! ```
//!
//! Every open process is exact, not discretised: Poisson, step and ramp invert the cumulative
//! rate (the time-change theorem), on/off alternates exponential states, diurnal thins a
//! Poisson process at the peak rate (Lewis & Shedler 1979).

pub use super::Arrival;
use super::dist::{Dist, Q, Sampler, Secs};
use super::trace::Trace;
use crate::engine::{SimRng, SimTime};
use crate::error::FieldError;
use crate::units::{Duration, MAX_DURATION_SECS, Rate};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};
use serde::Deserialize;
use serde::de::Deserializer;
use std::f64::consts::PI;
use std::path::Path;

/// The highest arrival rate a scenario may name, per second.
pub const MAX_RATE: f64 = 1e9;
/// The most users a closed loop may have.
pub const MAX_USERS: u64 = 10_000_000;
/// The largest `time_scale` of a trace.
pub const MAX_TIME_SCALE: f64 = 1e6;

/// The think time of a closed-loop user. The scenario writes either a distribution
/// (`{gamma: {mean: 30s, sd: 10s}}`) or a plain duration, which means an exponential with
/// that mean: memoryless think time, as in the classic interactive (machine-repairman)
/// model. A plain `0s` means no think time.
#[derive(Clone, Debug, PartialEq)]
pub struct ThinkTime(pub Dist<Secs>);

/// Seconds in a simulated time, correctly rounded.
fn secs_of(t: SimTime) -> f64 {
    t.nanos() as f64 / 1e9
}

impl<'de> Deserialize<'de> for ThinkTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::delay::duration_or_dist(
            d,
            "a duration such as `30s` (the mean of an exponential think time) or a \
             distribution such as `{fixed: 5s}`",
            |mean| {
                if mean == 0.0 {
                    Dist::Fixed(Q::new(0.0))
                } else {
                    Dist::Exponential { mean: Q::new(mean) }
                }
            },
        )
        .map(ThinkTime)
    }
}

fn one() -> f64 {
    1.0
}
fn day() -> Duration {
    Duration(SimTime::from_secs(86_400))
}

/// How a workload's requests arrive, as the scenario writes it (see the module docs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// A Poisson process: `{poisson: {rate: 20/s}}`.
    Poisson {
        /// Arrivals per unit time.
        rate: Rate,
    },
    /// A two-state Markov-modulated Poisson process: Poisson at `on_rate` during on
    /// periods and at `off_rate` during off periods, whose lengths are exponential with means
    /// `on_time` and `off_time`. It starts in its stationary state: on with probability
    /// on_time/(on_time + off_time), so the mean rate is the same from the first second.
    OnOff {
        /// The rate while on.
        on_rate: Rate,
        /// The rate while off (default 0).
        #[serde(default)]
        off_rate: Rate,
        /// The mean length of an on period (positive).
        on_time: Duration,
        /// The mean length of an off period (positive).
        off_time: Duration,
    },
    /// A non-homogeneous Poisson process whose rate follows a sinusoid between `min_rate`
    /// and `peak_rate`: λ(t) = min + (peak − min)(1 + cos(2π(t − peak_at)/period))/2, with
    /// t = 0 the start of the run (so with `period: 24h, peak_at: 14h` the run starts at
    /// midnight and peaks at 2 pm). The mean rate over whole periods is (min + peak)/2.
    Diurnal {
        /// The rate at the trough.
        min_rate: Rate,
        /// The rate at the peak (at least `min_rate`, positive).
        peak_rate: Rate,
        /// The length of one cycle (default 24h).
        #[serde(default = "day")]
        period: Duration,
        /// When in the cycle the peak falls, less than `period` (default half the period).
        #[serde(default)]
        peak_at: Option<Duration>,
    },
    /// Poisson at `from` before `at`, then at `to`.
    Step {
        /// The rate before `at`.
        from: Rate,
        /// The rate from `at` on.
        to: Rate,
        /// When the rate changes.
        at: Duration,
    },
    /// Poisson at `from` until `start`, then a rate rising (or falling) linearly to `to` at
    /// `end`, then `to`.
    Ramp {
        /// The rate until `start`.
        from: Rate,
        /// The rate from `end` on.
        to: Rate,
        /// When the ramp begins.
        start: Duration,
        /// When the ramp ends (after `start`).
        end: Duration,
    },
    /// Replays a CSV file with a header row: `timestamp` (seconds from the start of the run,
    /// non-decreasing), and optionally `service` (only rows equal to the workload's service
    /// are kept), `prompt_tokens` and `output_tokens`. Other columns are ignored.
    Trace {
        /// The CSV file, relative to the scenario's directory.
        file: String,
        /// Multiplies every timestamp (0.5 replays twice as fast); default 1.
        #[serde(default = "one")]
        time_scale: f64,
        /// `loop: true` replays the trace over and over, with a period of the last
        /// timestamp plus the mean gap between rows; default false (arrivals end with the
        /// trace).
        #[serde(default, rename = "loop")]
        repeat: bool,
    },
    /// Closed-loop users: each sends a request, waits for its response, thinks, and sends
    /// the next.
    Closed {
        /// How many users (1 to 10,000,000).
        users: u64,
        /// How long a user thinks between a response and the next request.
        think_time: ThinkTime,
    },
}

/// Checks a rate: finite, non-negative, at most [`MAX_RATE`].
fn check_rate(kind: &str, name: &str, r: Rate) -> Result<(), FieldError> {
    let v = r.0;
    if !v.is_finite() || v < 0.0 {
        return Err(param_error(
            kind,
            name,
            format!("{kind}: {name} must be a finite non-negative rate, found {v}/s"),
        ));
    }
    if v > MAX_RATE {
        return Err(param_error(
            kind,
            name,
            format!("{kind}: {name} ({v}/s) is above the limit of 1e9/s"),
        ));
    }
    Ok(())
}

/// Checks a time: at most 10 years.
fn check_time(kind: &str, name: &str, d: Duration) -> Result<(), FieldError> {
    if secs_of(d.0) > MAX_DURATION_SECS {
        return Err(param_error(
            kind,
            name,
            format!("{kind}: {name} ({}) is beyond the limit of 10 years", d.0),
        ));
    }
    Ok(())
}

/// An error about field `name` of process `kind` (`poisson.rate`).
fn param_error(kind: &str, name: &str, message: String) -> FieldError {
    FieldError::new(format!("{kind}.{name}"), message)
}

impl ArrivalSpec {
    /// The process's name as the scenario writes it (`poisson`, `on_off`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ArrivalSpec::Poisson { .. } => "poisson",
            ArrivalSpec::OnOff { .. } => "on_off",
            ArrivalSpec::Diurnal { .. } => "diurnal",
            ArrivalSpec::Step { .. } => "step",
            ArrivalSpec::Ramp { .. } => "ramp",
            ArrivalSpec::Trace { .. } => "trace",
            ArrivalSpec::Closed { .. } => "closed",
        }
    }

    /// Checks the parameters, naming the limits: rates finite, within 0..=1e9/s and positive
    /// somewhere; times within 10 years and ordered; on/off times and the diurnal period
    /// positive; a trace's `time_scale` in (0, 1e6]; users in 1..=10,000,000; the think time
    /// distribution. A trace file is read only by [`compile`].
    pub fn check(&self) -> Result<(), FieldError> {
        let k = self.name();
        let no_rate = || {
            Err(FieldError::whole(format!(
                "{k}: every rate is zero, so nothing would arrive"
            )))
        };
        let field = |name: &str, message: String| Err(param_error(k, name, message));
        match self {
            ArrivalSpec::Poisson { rate } => {
                check_rate(k, "rate", *rate)?;
                if rate.0 == 0.0 {
                    return field("rate", format!("{k}: rate must be positive"));
                }
            }
            ArrivalSpec::OnOff {
                on_rate,
                off_rate,
                on_time,
                off_time,
            } => {
                check_rate(k, "on_rate", *on_rate)?;
                check_rate(k, "off_rate", *off_rate)?;
                check_time(k, "on_time", *on_time)?;
                check_time(k, "off_time", *off_time)?;
                if on_time.0 == SimTime::ZERO {
                    return field("on_time", format!("{k}: on_time must be positive"));
                }
                if off_time.0 == SimTime::ZERO {
                    return field("off_time", format!("{k}: off_time must be positive"));
                }
                if on_rate.0 == 0.0 && off_rate.0 == 0.0 {
                    return no_rate();
                }
            }
            ArrivalSpec::Diurnal {
                min_rate,
                peak_rate,
                period,
                peak_at,
            } => {
                check_rate(k, "min_rate", *min_rate)?;
                check_rate(k, "peak_rate", *peak_rate)?;
                check_time(k, "period", *period)?;
                if min_rate.0 > peak_rate.0 {
                    return field(
                        "min_rate",
                        format!(
                            "{k}: min_rate ({}/s) is larger than peak_rate ({}/s)",
                            min_rate.0, peak_rate.0
                        ),
                    );
                }
                if peak_rate.0 == 0.0 {
                    return no_rate();
                }
                if period.0 == SimTime::ZERO {
                    return field("period", format!("{k}: period must be positive"));
                }
                if let Some(p) = peak_at
                    && p.0 >= period.0
                {
                    return field(
                        "peak_at",
                        format!(
                            "{k}: peak_at ({}) must be less than the period ({})",
                            p.0, period.0
                        ),
                    );
                }
            }
            ArrivalSpec::Step { from, to, at } => {
                check_rate(k, "from", *from)?;
                check_rate(k, "to", *to)?;
                check_time(k, "at", *at)?;
                if from.0 == 0.0 && to.0 == 0.0 {
                    return no_rate();
                }
            }
            ArrivalSpec::Ramp {
                from,
                to,
                start,
                end,
            } => {
                check_rate(k, "from", *from)?;
                check_rate(k, "to", *to)?;
                check_time(k, "start", *start)?;
                check_time(k, "end", *end)?;
                if start.0 >= end.0 {
                    return field(
                        "start",
                        format!(
                            "{k}: start ({}) must be before end ({}); use `step` for an instant change",
                            start.0, end.0
                        ),
                    );
                }
                if from.0 == 0.0 && to.0 == 0.0 {
                    return no_rate();
                }
            }
            ArrivalSpec::Trace {
                file, time_scale, ..
            } => {
                if file.trim().is_empty() {
                    return field("file", format!("{k}: file must not be empty"));
                }
                let s = *time_scale;
                if !s.is_finite() || s <= 0.0 || s > MAX_TIME_SCALE {
                    return field(
                        "time_scale",
                        format!("{k}: time_scale ({s}) must be positive and at most 1e6"),
                    );
                }
            }
            ArrivalSpec::Closed { users, think_time } => {
                if *users == 0 {
                    return field("users", format!("{k}: users must be at least 1"));
                }
                if *users > MAX_USERS {
                    return field(
                        "users",
                        format!("{k}: users ({users}) is above the limit of 10,000,000"),
                    );
                }
                // At think_time as a whole, as the message says, not at the field inside it.
                think_time
                    .0
                    .check()
                    .map_err(|e| param_error(k, "think_time", format!("{k}: think_time: {e}")))?;
            }
        }
        Ok(())
    }

    /// The users and think time of a closed loop; `None` for open-loop processes.
    pub fn closed(&self) -> Option<(u32, &ThinkTime)> {
        match self {
            ArrivalSpec::Closed { users, think_time } => {
                Some((u32::try_from(*users).unwrap_or(u32::MAX), think_time))
            }
            _ => None,
        }
    }
}

/// A compiled closed loop: `users` users, each thinking for a draw of `think_time` (seconds;
/// use [`Sampler::sample_time`]) between a response and its next request.
#[derive(Clone, Debug)]
pub struct ClosedLoop {
    /// How many users.
    pub users: u32,
    /// The think time distribution.
    pub think_time: Sampler,
}

/// A compiled [`ArrivalSpec`]: open or closed loop.
#[derive(Clone, Debug)]
pub enum Arrivals {
    /// Requests arrive on their own schedule.
    Open(ArrivalProcess),
    /// Requests come from users who wait for responses.
    Closed(ClosedLoop),
}

impl Arrivals {
    /// The mean arrival rate over `[0, horizon]` (see [`ArrivalProcess::mean_rate`]); `None`
    /// for a closed loop, whose rate depends on response times.
    pub fn mean_rate(&self, horizon: SimTime) -> Option<f64> {
        match self {
            Arrivals::Open(p) => Some(p.mean_rate(horizon)),
            Arrivals::Closed(_) => None,
        }
    }
}

/// Checks `spec` and compiles it for the workload of `service`; a trace file is read here,
/// relative to `base_dir` (the scenario's directory).
pub fn compile(spec: &ArrivalSpec, service: &str, base_dir: &Path) -> Result<Arrivals, String> {
    spec.check().map_err(|e| e.message)?;
    let s = |d: Duration| secs_of(d.0);
    let kind = match spec {
        ArrivalSpec::Poisson { rate } if rate.0 > 0.0 => Kind::Poisson(Poisson {
            mean_gap_ns: 1e9 / rate.0,
            next_gap_ns: NO_GAP,
        }),
        ArrivalSpec::Poisson { rate } => Kind::piecewise(vec![(0.0, rate.0)]),
        ArrivalSpec::Step { from, to, at } => {
            let at = s(*at);
            Kind::piecewise(vec![(0.0, from.0), (at, from.0), (at, to.0)])
        }
        ArrivalSpec::Ramp {
            from,
            to,
            start,
            end,
        } => Kind::piecewise(vec![(0.0, from.0), (s(*start), from.0), (s(*end), to.0)]),
        ArrivalSpec::OnOff {
            on_rate,
            off_rate,
            on_time,
            off_time,
        } => Kind::OnOff(OnOff {
            on_rate: on_rate.0,
            off_rate: off_rate.0,
            on_mean: s(*on_time),
            off_mean: s(*off_time),
            started: false,
            on: false,
            switch_at: 0.0,
            t: 0.0,
        }),
        ArrivalSpec::Diurnal {
            min_rate,
            peak_rate,
            period,
            peak_at,
        } => Kind::Diurnal(Diurnal {
            min: min_rate.0,
            peak: peak_rate.0,
            period: s(*period),
            peak_at: peak_at.map_or(0.5 * s(*period), s),
            t: 0.0,
        }),
        ArrivalSpec::Trace {
            file,
            time_scale,
            repeat,
        } => Kind::Trace(Trace::load(
            &base_dir.join(file),
            service,
            *time_scale,
            *repeat,
        )?),
        ArrivalSpec::Closed { users, think_time } => {
            let think_time = think_time
                .0
                .compile(base_dir)
                .map_err(|e| format!("closed: think_time: {e}"))?;
            return Ok(Arrivals::Closed(ClosedLoop {
                users: u32::try_from(*users).unwrap_or(u32::MAX),
                think_time,
            }));
        }
    };
    Ok(Arrivals::Open(ArrivalProcess { kind }))
}

/// An open-loop arrival process, compiled, with its playback state.
///
/// Compile once and clone it for each replication (or call [`ArrivalProcess::reset`]):
/// cloning is cheap, traces are shared.
#[derive(Clone, Debug)]
pub struct ArrivalProcess {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Homogeneous Poisson: the hot case, kept apart from [`Piecewise`] so that an arrival
    /// costs one exponential draw and one integer add.
    Poisson(Poisson),
    Piecewise(Piecewise),
    OnOff(OnOff),
    Diurnal(Diurnal),
    Trace(Trace),
}

impl Kind {
    fn piecewise(knots: Vec<(f64, f64)>) -> Kind {
        Kind::Piecewise(Piecewise {
            knots,
            seg: 0,
            t: 0.0,
        })
    }
}

/// Internal times are `f64` seconds so that gaps far below a nanosecond still add up; this
/// is the first time (about 584 years) that no longer fits a [`SimTime`].
const END_SECS: f64 = u64::MAX as f64 / 1e9;

/// An arrival at `t` seconds without token counts, or `None` past the end of time.
fn arrival_at(t: f64) -> Option<Arrival> {
    (t < END_SECS).then(|| Arrival {
        at: SimTime::from_secs_f64(t),
        prompt_tokens: None,
        output_tokens: None,
    })
}

/// A homogeneous Poisson process.
#[derive(Clone, Debug)]
struct Poisson {
    mean_gap_ns: f64,
    /// The gap to the arrival after the next, drawn one arrival ahead from the same stream in
    /// the same order ([`NO_GAP`] before the first): the next arrival's time is then known
    /// at once, and the event queue's comparisons on it (unpredictable branches) need not
    /// wait for the draw's arithmetic to resolve.
    next_gap_ns: u64,
}

/// No gap drawn yet (a gap is at most `i64::MAX` ns).
const NO_GAP: u64 = u64::MAX;

impl Poisson {
    #[inline(always)]
    fn gap_ns(&self, rng: &mut SimRng) -> u64 {
        let e: f64 = Exp1.sample(rng);
        (e * self.mean_gap_ns + 0.5).min(i64::MAX as f64) as i64 as u64
    }

    #[inline(always)]
    fn next(&mut self, now: SimTime, rng: &mut SimRng) -> Option<Arrival> {
        let gap = if self.next_gap_ns == NO_GAP {
            self.gap_ns(rng)
        } else {
            self.next_gap_ns
        };
        self.next_gap_ns = self.gap_ns(rng);
        let at = now + SimTime(gap);
        // Below 2^63 ns (292 years) a time is far inside END_SECS: only nearer the end of
        // u64 does the float comparison decide.
        (at.0 < 1 << 63 || at.as_secs_f64() < END_SECS).then_some(Arrival {
            at,
            prompt_tokens: None,
            output_tokens: None,
        })
    }
}

/// Moves an internal clock `t` up to `now` when the caller has skipped ahead; returns
/// whether it moved. (The normal caller passes the previous arrival, which is `t` rounded.)
fn catch_up(t: &mut f64, now: SimTime) -> bool {
    if now > SimTime::from_secs_f64(*t) {
        *t = secs_of(now);
        true
    } else {
        false
    }
}

/// A Poisson process whose rate is piecewise linear in time: linear between knots
/// `(time_s, rate)`, constant after the last. Poisson, step and ramp are all of this form.
/// Each arrival inverts the cumulative rate Λ: the next arrival after t is the s with
/// Λ(s) − Λ(t) = E, E ~ Exp(1), which is exact for a non-homogeneous Poisson process.
#[derive(Clone, Debug)]
struct Piecewise {
    knots: Vec<(f64, f64)>,
    /// The knot at or before `t`.
    seg: usize,
    t: f64,
}

impl Piecewise {
    fn next(&mut self, rng: &mut SimRng) -> Option<f64> {
        let mut e: f64 = Exp1.sample(rng);
        let k = &self.knots;
        loop {
            while self.seg + 1 < k.len() && self.t >= k[self.seg + 1].0 {
                self.seg += 1;
            }
            let (t1, r1) = k[self.seg];
            if self.seg + 1 == k.len() {
                if r1 <= 0.0 {
                    return None;
                }
                self.t += e / r1;
                return Some(self.t);
            }
            let (t2, r2) = k[self.seg + 1];
            let slope = (r2 - r1) / (t2 - t1);
            let r0 = (r1 + slope * (self.t - t1)).max(0.0);
            let area = 0.5 * (r0 + r2) * (t2 - self.t);
            if e < area {
                // r0·d + slope·d²/2 = e, in the form that does not cancel for small slopes.
                let d = if slope == 0.0 {
                    e / r0
                } else {
                    2.0 * e / (r0 + (r0 * r0 + 2.0 * slope * e).max(0.0).sqrt())
                };
                self.t = (self.t + d).min(t2);
                return Some(self.t);
            }
            e -= area;
            self.t = t2;
        }
    }

    /// ∫₀ʰ λ(t) dt.
    fn integral(&self, h: f64) -> f64 {
        let k = &self.knots;
        let mut sum = 0.0;
        for (i, &(t1, r1)) in k.iter().enumerate() {
            if h <= t1 {
                break;
            }
            match k.get(i + 1) {
                Some(&(t2, r2)) if t2 > t1 => {
                    let b = h.min(t2);
                    let rb = r1 + (r2 - r1) * (b - t1) / (t2 - t1);
                    sum += 0.5 * (r1 + rb) * (b - t1);
                }
                Some(_) => {}
                None => sum += r1 * (h - t1),
            }
        }
        sum
    }
}

/// The on/off MMPP's parameters and state.
#[derive(Clone, Debug)]
struct OnOff {
    on_rate: f64,
    off_rate: f64,
    on_mean: f64,
    off_mean: f64,
    /// Whether the initial state has been drawn (at the first call, which has the rng).
    started: bool,
    on: bool,
    /// When the current state ends.
    switch_at: f64,
    t: f64,
}

impl OnOff {
    fn mean_of(&self, on: bool) -> f64 {
        if on { self.on_mean } else { self.off_mean }
    }

    fn switch(&mut self, rng: &mut SimRng) {
        self.t = self.switch_at;
        self.on = !self.on;
        let e: f64 = Exp1.sample(rng);
        self.switch_at = self.t + e * self.mean_of(self.on);
    }

    fn next(&mut self, now: SimTime, rng: &mut SimRng) -> Option<f64> {
        if !self.started {
            self.started = true;
            self.t = self.t.max(secs_of(now));
            // Stationary start: with exponential holding times the residual time of the
            // initial state is again exponential with the same mean.
            self.on = rng.random::<f64>() * (self.on_mean + self.off_mean) < self.on_mean;
            let e: f64 = Exp1.sample(rng);
            self.switch_at = self.t + e * self.mean_of(self.on);
        }
        if catch_up(&mut self.t, now) {
            let t = self.t;
            while self.switch_at <= t {
                self.switch(rng);
            }
            self.t = t;
        }
        loop {
            let rate = if self.on { self.on_rate } else { self.off_rate };
            if rate > 0.0 {
                let e: f64 = Exp1.sample(rng);
                let cand = self.t + e / rate;
                if cand < self.switch_at {
                    self.t = cand;
                    return Some(cand);
                }
            }
            // No arrival before the switch: restart from it (memorylessness).
            if self.switch_at >= END_SECS {
                return None;
            }
            self.switch(rng);
        }
    }
}

/// The diurnal sinusoid's parameters and state.
#[derive(Clone, Debug)]
struct Diurnal {
    min: f64,
    peak: f64,
    period: f64,
    peak_at: f64,
    t: f64,
}

impl Diurnal {
    fn rate(&self, t: f64) -> f64 {
        let c = (2.0 * PI * (t - self.peak_at) / self.period).cos();
        self.min + (self.peak - self.min) * 0.5 * (1.0 + c)
    }

    /// Thinning (Lewis & Shedler 1979): candidates at the peak rate, each kept with
    /// probability λ(t)/peak. At least half are kept, since the mean is (min + peak)/2.
    fn next(&mut self, rng: &mut SimRng) -> Option<f64> {
        loop {
            let e: f64 = Exp1.sample(rng);
            self.t += e / self.peak;
            if self.t >= END_SECS {
                return None;
            }
            if rng.random::<f64>() * self.peak < self.rate(self.t) {
                return Some(self.t);
            }
        }
    }

    /// ∫₀ʰ λ(t) dt.
    fn integral(&self, h: f64) -> f64 {
        let w = 2.0 * PI / self.period;
        let sin_part = ((w * (h - self.peak_at)).sin() - (w * -self.peak_at).sin()) / w;
        self.min * h + (self.peak - self.min) * 0.5 * (h + sin_part)
    }
}

impl ArrivalProcess {
    /// The next arrival at or after `now`, or `None` when there are no more (a trace played
    /// once is exhausted, or the rate is zero from here on).
    ///
    /// Call it once per arrival with `now` = the previous arrival's time (zero for the
    /// first): the process keeps its own state (MMPP state and switch time, trace cursor)
    /// and its own sub-nanosecond clock. A later `now` skips ahead: rate processes restart
    /// from `now` (exact, being memoryless), a trace skips the rows before it.
    #[inline(always)]
    pub fn next(&mut self, now: SimTime, rng: &mut SimRng) -> Option<Arrival> {
        // Homogeneous Poisson, once per request: drawn in the caller (no call, and no
        // token fields to return through memory); the other processes in a function of
        // their own.
        if let Kind::Poisson(p) = &mut self.kind {
            return p.next(now, rng);
        }
        self.next_other(now, rng)
    }

    /// [`ArrivalProcess::next`] of every process but the homogeneous Poisson.
    #[inline(never)]
    fn next_other(&mut self, now: SimTime, rng: &mut SimRng) -> Option<Arrival> {
        match &mut self.kind {
            Kind::Poisson(p) => p.next(now, rng),
            Kind::Piecewise(p) => {
                // Restart from the caller's integer clock: no float time accumulates.
                p.t = p.t.max(secs_of(now)).min(secs_of(now) + 1e-9);
                p.next(rng).and_then(arrival_at)
            }
            Kind::OnOff(p) => p.next(now, rng).and_then(arrival_at),
            Kind::Diurnal(p) => {
                // Restart from the caller's integer clock: no float time accumulates.
                p.t = p.t.max(secs_of(now)).min(secs_of(now) + 1e-9);
                p.next(rng).and_then(arrival_at)
            }
            Kind::Trace(p) => p.next(now),
        }
    }

    /// Back to the state before the first arrival.
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::Poisson(p) => p.next_gap_ns = NO_GAP,
            Kind::Piecewise(p) => {
                p.seg = 0;
                p.t = 0.0;
            }
            Kind::OnOff(p) => {
                p.started = false;
                p.t = 0.0;
            }
            Kind::Diurnal(p) => p.t = 0.0,
            Kind::Trace(p) => p.reset(),
        }
    }

    /// Until when the arrival rate stays what it is at time zero: forever (MAX) for Poisson,
    /// the start of the change for step and ramp; None for processes whose rate moves from
    /// the start (on/off, diurnal, trace). A steady start is where an initial transient can
    /// be told from the load's own changes.
    pub fn steady_until(&self) -> Option<SimTime> {
        match &self.kind {
            Kind::Poisson(_) => Some(SimTime::MAX),
            Kind::Piecewise(p) => {
                let r0 = p.knots.first().map_or(0.0, |k| k.1);
                Some(
                    p.knots
                        .iter()
                        .position(|k| k.1 != r0)
                        .map_or(SimTime::MAX, |i| SimTime::from_secs_f64(p.knots[i - 1].0)),
                )
            }
            Kind::OnOff(_) | Kind::Diurnal(_) | Kind::Trace(_) => None,
        }
    }

    /// The expected number of arrivals in `[0, horizon]` per second of it. A zero horizon
    /// asks for the long-run rate: the final rate of step and ramp, (min + peak)/2 for
    /// diurnal, rows per loop period for a looping trace and 0 for a trace played once. For
    /// on/off the stationary start makes it (on_rate·on_time + off_rate·off_time) /
    /// (on_time + off_time) for every horizon.
    pub fn mean_rate(&self, horizon: SimTime) -> f64 {
        let h = secs_of(horizon);
        match &self.kind {
            Kind::Poisson(p) => 1e9 / p.mean_gap_ns,
            Kind::Piecewise(p) if h == 0.0 => p.knots.last().map_or(0.0, |k| k.1),
            Kind::Piecewise(p) => p.integral(h) / h,
            Kind::OnOff(p) => {
                (p.on_rate * p.on_mean + p.off_rate * p.off_mean) / (p.on_mean + p.off_mean)
            }
            Kind::Diurnal(p) if h == 0.0 => 0.5 * (p.min + p.peak),
            Kind::Diurnal(p) => p.integral(h) / h,
            Kind::Trace(p) => p.mean_rate(horizon),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stream;
    use std::path::PathBuf;

    fn spec(yaml: &str) -> ArrivalSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn open(yaml: &str) -> ArrivalProcess {
        match compile(&spec(yaml), "chat", Path::new(".")).unwrap() {
            Arrivals::Open(p) => p,
            Arrivals::Closed(_) => panic!("closed"),
        }
    }

    /// Calls `f` with every arrival time (seconds) up to `horizon_s`, the way the simulator
    /// drives a process; returns the count.
    fn drive(p: &mut ArrivalProcess, horizon_s: f64, seed: u64, mut f: impl FnMut(f64)) -> u64 {
        let mut rng = stream(seed, 0, "arrivals");
        let horizon = SimTime::from_secs_f64(horizon_s);
        let mut now = SimTime::ZERO;
        let mut n = 0;
        while let Some(a) = p.next(now, &mut rng) {
            assert!(a.at >= now, "{:?} before {now:?}", a.at);
            if a.at > horizon {
                break;
            }
            now = a.at;
            n += 1;
            f(a.at.as_secs_f64());
        }
        n
    }

    /// `observed` within 4 standard deviations of `expected`.
    fn within(observed: f64, expected: f64, sd: f64, what: &str) {
        assert!(
            (observed - expected).abs() <= 4.0 * sd,
            "{what}: {observed} vs {expected} ± 4×{sd}"
        );
    }

    /// Poisson count over an interval with mean `m`.
    fn within_poisson(observed: u64, m: f64, what: &str) {
        within(observed as f64, m, m.sqrt(), what);
    }

    /// Mean and SCV of the gaps between successive arrivals.
    fn gap_scv(p: &mut ArrivalProcess, horizon_s: f64) -> (f64, f64) {
        let (mut prev, mut n, mut s, mut s2) = (0.0, 0.0, 0.0, 0.0);
        drive(p, horizon_s, 5, |t| {
            let g = t - prev;
            prev = t;
            n += 1.0;
            s += g;
            s2 += g * g;
        });
        let m = s / n;
        (m, (s2 / n - m * m) / (m * m))
    }

    #[test]
    fn parses_every_shape() {
        assert_eq!(
            spec("{poisson: {rate: 20/s}}"),
            ArrivalSpec::Poisson { rate: Rate(20.0) }
        );
        let s = spec("{on_off: {on_rate: 50/s, on_time: 30s, off_time: 90s}}");
        assert!(matches!(
            s,
            ArrivalSpec::OnOff {
                off_rate: Rate(0.0),
                ..
            }
        ));
        let s = spec("{diurnal: {min_rate: 5/s, peak_rate: 50/s}}");
        assert!(
            matches!(s, ArrivalSpec::Diurnal { period, peak_at: None, .. }
            if period.0 == SimTime::from_secs(86_400))
        );
        spec("{diurnal: {min_rate: 5/s, peak_rate: 50/s, period: 24h, peak_at: 14h}}");
        spec("{step: {from: 10/s, to: 50/s, at: 30m}}");
        spec("{ramp: {from: 10/s, to: 100/s, start: 10m, end: 40m}}");
        let s = spec("{trace: {file: t.csv}}");
        assert!(matches!(
            s,
            ArrivalSpec::Trace {
                time_scale: 1.0,
                repeat: false,
                ..
            }
        ));
        let s = spec("{trace: {file: t.csv, time_scale: 0.5, loop: true}}");
        assert!(matches!(s, ArrivalSpec::Trace { repeat: true, .. }));
        let s = spec("{closed: {users: 100, think_time: 30s}}");
        let (users, think) = s.closed().unwrap();
        assert_eq!(users, 100);
        assert_eq!(think.0, Dist::Exponential { mean: Q::new(30.0) });
        let s = spec("{closed: {users: 3, think_time: {gamma: {mean: 30s, sd: 10s}}}}");
        assert!(matches!(s.closed().unwrap().1.0, Dist::Gamma { .. }));
        let s = spec("{closed: {users: 3, think_time: 0s}}");
        assert_eq!(s.closed().unwrap().1.0, Dist::Fixed(Q::new(0.0)));
        assert!(spec("{poisson: {rate: 1/s}}").closed().is_none());
        // Errors: unknown fields, missing units, unknown processes.
        for bad in [
            "{poisson: {rate: 20/s, burst: 2}}",
            "{poisson: {rate: 20}}",
            "{closed: {users: 3, think_time: 30}}",
            "{closed: {users: 3, think_time: {fixed: 30}}}",
            "{hawkes: {rate: 1/s}}",
        ] {
            assert!(serde_saphyr::from_str::<ArrivalSpec>(bad).is_err(), "{bad}");
        }
    }

    fn err(yaml: &str) -> String {
        spec(yaml).check().unwrap_err().message
    }

    #[test]
    fn check_names_the_field() {
        let field = |yaml: &str| spec(yaml).check().unwrap_err().field;
        assert_eq!(field("{poisson: {rate: 0/s}}"), "poisson.rate");
        assert_eq!(
            field("{diurnal: {min_rate: 9/s, peak_rate: 5/s}}"),
            "diurnal.min_rate"
        );
        assert_eq!(field("{step: {from: 0/s, to: 0/s, at: 1m}}"), "");
        let think = "{closed: {users: 2, think_time: {uniform: {min: 5s, max: 1s}}}}";
        assert_eq!(field(think), "closed.think_time");
    }

    #[test]
    fn check_names_limits() {
        assert!(err("{poisson: {rate: 2e9/s}}").contains("above the limit of 1e9/s"));
        assert!(err("{poisson: {rate: 0/s}}").contains("rate must be positive"));
        let e = err("{on_off: {on_rate: 0/s, on_time: 1s, off_time: 1s}}");
        assert!(e.contains("every rate is zero"), "{e}");
        assert!(err("{on_off: {on_rate: 1/s, on_time: 0s, off_time: 1s}}").contains("on_time"));
        assert!(err("{on_off: {on_rate: 1/s, on_time: 1s, off_time: 0s}}").contains("off_time"));
        let e = err("{diurnal: {min_rate: 9/s, peak_rate: 5/s}}");
        assert_eq!(e, "diurnal: min_rate (9/s) is larger than peak_rate (5/s)");
        let e = err("{diurnal: {min_rate: 1/s, peak_rate: 5/s, period: 1h, peak_at: 2h}}");
        assert!(
            e.contains("peak_at (2h) must be less than the period (1h)"),
            "{e}"
        );
        assert!(err("{diurnal: {min_rate: 0/s, peak_rate: 0/s}}").contains("zero"));
        assert!(err("{step: {from: 0/s, to: 0/s, at: 1m}}").contains("zero"));
        let e = err("{ramp: {from: 1/s, to: 2/s, start: 40m, end: 10m}}");
        assert_eq!(
            e,
            "ramp: start (40m) must be before end (10m); use `step` for an instant change"
        );
        assert!(err("{trace: {file: t.csv, time_scale: 0}}").contains("time_scale"));
        assert!(err("{trace: {file: t.csv, time_scale: 1e7}}").contains("at most 1e6"));
        assert!(err("{closed: {users: 0, think_time: 1s}}").contains("at least 1"));
        let e = err("{closed: {users: 20000000, think_time: 1s}}");
        assert!(e.contains("above the limit of 10,000,000"), "{e}");
        let e = err("{closed: {users: 2, think_time: {uniform: {min: 5s, max: 1s}}}}");
        assert!(
            e.starts_with("closed: think_time: uniform: min (5s)"),
            "{e}"
        );
        let long = ArrivalSpec::Step {
            from: Rate(1.0),
            to: Rate(2.0),
            at: Duration(SimTime::from_secs(400_000_000)),
        };
        assert!(
            long.check()
                .unwrap_err()
                .message
                .contains("limit of 10 years")
        );
        assert!(
            spec("{step: {from: 10/s, to: 0/s, at: 1m}}")
                .check()
                .is_ok()
        );
    }

    #[test]
    fn poisson_counts_and_gaps() {
        let mut p = open("{poisson: {rate: 20/s}}");
        let n = drive(&mut p, 100_000.0, 1, |_| {});
        within_poisson(n, 2e6, "poisson count");
        p.reset();
        let (m, scv) = gap_scv(&mut p, 100_000.0);
        assert!((m * 20.0 - 1.0).abs() < 0.005, "mean gap {m}");
        assert!((scv - 1.0).abs() < 0.015, "scv {scv}");
        assert_eq!(p.mean_rate(SimTime::from_secs(10)), 20.0);
    }

    #[test]
    fn on_off_is_bursty_with_the_stationary_mean() {
        let yaml = "{on_off: {on_rate: 50/s, off_rate: 0/s, on_time: 30s, off_time: 90s}}";
        let mut p = open(yaml);
        let mean = p.mean_rate(SimTime::from_secs(3600));
        assert_eq!(mean, (50.0 * 30.0 + 0.0 * 90.0) / 120.0);
        let t = 1e6;
        let n = drive(&mut p, t, 2, |_| {});
        // Count variance of an MMPP-2 over a long horizon: mean × IDC, with
        // IDC = 1 + 2(λ1 − λ2)² r1 r2 / ((r1 + r2)³ λ̄) (r = 1/mean holding time).
        let (r1, r2): (f64, f64) = (1.0 / 30.0, 1.0 / 90.0);
        let idc = 1.0 + 2.0 * 2500.0 * r1 * r2 / ((r1 + r2).powi(3) * mean);
        within(n as f64, mean * t, (mean * t * idc).sqrt(), "on_off count");
        p.reset();
        let (_, scv) = gap_scv(&mut p, 200_000.0);
        assert!(scv > 2.0, "on_off gap scv {scv}");
        // With a positive off rate as well.
        let mut p = open("{on_off: {on_rate: 40/s, off_rate: 10/s, on_time: 10s, off_time: 30s}}");
        assert_eq!(
            p.mean_rate(SimTime::ZERO),
            (40.0 * 10.0 + 10.0 * 30.0) / 40.0
        );
        let (r1, r2): (f64, f64) = (1.0 / 10.0, 1.0 / 30.0);
        let idc = 1.0 + 2.0 * 900.0 * r1 * r2 / ((r1 + r2).powi(3) * 17.5);
        let n = drive(&mut p, t, 3, |_| {});
        within(
            n as f64,
            17.5 * t,
            (17.5 * t * idc).sqrt(),
            "on_off count 2",
        );
    }

    #[test]
    fn on_off_stationary_start() {
        // Over many replications the count in the first second has the stationary mean.
        let base = open("{on_off: {on_rate: 50/s, on_time: 30s, off_time: 90s}}");
        let mut total = 0;
        let reps = 20_000;
        for r in 0..reps {
            let mut p = base.clone();
            let mut rng = stream(9, r, "start");
            let mut now = SimTime::ZERO;
            while let Some(a) = p.next(now, &mut rng) {
                if a.at > SimTime::from_secs(1) {
                    break;
                }
                now = a.at;
                total += 1;
            }
        }
        // Per replication the count is 0 (off, p = 3/4) or about Poisson(50) (on).
        let mean = total as f64 / reps as f64;
        let sd = (0.25f64 * 50.0 + 0.25 * 0.75 * 2500.0).sqrt() / (reps as f64).sqrt();
        within(mean, 12.5, sd * 1.1, "first-second mean");
    }

    #[test]
    fn diurnal_follows_the_sinusoid() {
        let yaml = "{diurnal: {min_rate: 0.5/s, peak_rate: 5/s, period: 24h, peak_at: 14h}}";
        let mut p = open(yaml);
        let days = 30.0;
        let mut per_hour = [0u64; 24];
        let n = drive(&mut p, days * 86_400.0, 4, |t| {
            per_hour[((t % 86_400.0) / 3600.0) as usize] += 1;
        });
        let Kind::Diurnal(d) = &p.kind else { panic!() };
        let expect =
            |h: usize| days * (d.integral((h + 1) as f64 * 3600.0) - d.integral(h as f64 * 3600.0));
        // The peak hour is 13:30–14:30; bins are whole hours, so compare 13–14 and 14–15
        // (same expectation by symmetry) and the trough bins 1–2 and 2–3.
        for h in [1, 2, 13, 14] {
            within_poisson(per_hour[h], expect(h), &format!("hour {h}"));
        }
        assert!(per_hour[13] > 8 * per_hour[1]);
        within_poisson(n, days * 86_400.0 * 2.75, "diurnal total");
        assert!((p.mean_rate(SimTime::from_secs(86_400)) - 2.75).abs() < 1e-12);
        assert_eq!(p.mean_rate(SimTime::ZERO), 2.75);
        // Peak at 14h by default-free spec, mid-period by default.
        let p = open("{diurnal: {min_rate: 1/s, peak_rate: 3/s, period: 2h}}");
        let Kind::Diurnal(d) = &p.kind else { panic!() };
        assert_eq!(d.peak_at, 3600.0);
        assert!((d.rate(3600.0) - 3.0).abs() < 1e-12 && (d.rate(0.0) - 1.0).abs() < 1e-12);
    }

    /// Counts in consecutive windows `[edges[i], edges[i+1])`.
    fn window_counts(p: &mut ArrivalProcess, edges: &[f64], seed: u64) -> Vec<u64> {
        let mut c = vec![0u64; edges.len() - 1];
        drive(p, *edges.last().unwrap(), seed, |t| {
            if let Some(i) = edges.windows(2).position(|w| t >= w[0] && t < w[1]) {
                c[i] += 1;
            }
        });
        c
    }

    #[test]
    fn step_counts_before_and_after() {
        let mut p = open("{step: {from: 10/s, to: 50/s, at: 30m}}");
        let c = window_counts(&mut p, &[0.0, 1800.0, 3600.0], 6);
        within_poisson(c[0], 18_000.0, "before the step");
        within_poisson(c[1], 90_000.0, "after the step");
        assert!((p.mean_rate(SimTime::from_secs(3600)) - 30.0).abs() < 1e-12);
        assert_eq!(p.mean_rate(SimTime::ZERO), 50.0);
        // Down to zero: arrivals end.
        let mut p = open("{step: {from: 10/s, to: 0/s, at: 1m}}");
        let n = drive(&mut p, 1e9, 6, |t| assert!(t <= 60.0));
        within_poisson(n, 600.0, "step to zero");
        assert!(
            p.next(SimTime::from_secs(61), &mut stream(1, 0, "x"))
                .is_none()
        );
    }

    #[test]
    fn ramp_counts_per_phase() {
        let mut p = open("{ramp: {from: 10/s, to: 100/s, start: 10m, end: 40m}}");
        let edges = [0.0, 600.0, 1500.0, 2400.0, 3000.0];
        let c = window_counts(&mut p, &edges, 7);
        within_poisson(c[0], 6_000.0, "before the ramp");
        within_poisson(c[1], 32.5 * 900.0, "first half of the ramp");
        within_poisson(c[2], 77.5 * 900.0, "second half of the ramp");
        within_poisson(c[3], 60_000.0, "after the ramp");
        let total = 6_000.0 + 55.0 * 1800.0 + 60_000.0;
        assert!((p.mean_rate(SimTime::from_secs(3000)) * 3000.0 - total).abs() < 1e-6);
        // Ramping down to zero from zero-rate start works too.
        let mut p = open("{ramp: {from: 0/s, to: 20/s, start: 0s, end: 100s}}");
        let c = window_counts(&mut p, &[0.0, 50.0, 100.0], 8);
        within_poisson(c[0], 250.0, "ramp from zero, first half");
        within_poisson(c[1], 750.0, "ramp from zero, second half");
        let mut p = open("{ramp: {from: 20/s, to: 0/s, start: 0s, end: 100s}}");
        let n = drive(&mut p, 1e9, 9, |t| assert!(t <= 100.0));
        within_poisson(n, 1000.0, "ramp down to zero");
    }

    #[test]
    fn skipping_ahead_restarts_from_now() {
        let mut rng = stream(1, 0, "skip");
        for yaml in [
            "{poisson: {rate: 5/s}}",
            "{on_off: {on_rate: 5/s, on_time: 1s, off_time: 1s}}",
            "{diurnal: {min_rate: 1/s, peak_rate: 5/s, period: 1m}}",
            "{ramp: {from: 1/s, to: 5/s, start: 1s, end: 1m}}",
        ] {
            let mut p = open(yaml);
            p.next(SimTime::ZERO, &mut rng).unwrap();
            let later = SimTime::from_secs(1000);
            assert!(p.next(later, &mut rng).unwrap().at >= later, "{yaml}");
        }
    }

    #[test]
    fn same_seed_same_arrivals() {
        for yaml in [
            "{poisson: {rate: 5/s}}",
            "{on_off: {on_rate: 5/s, on_time: 1s, off_time: 1s}}",
            "{diurnal: {min_rate: 1/s, peak_rate: 5/s, period: 1m}}",
            "{step: {from: 1/s, to: 5/s, at: 10s}}",
            "{ramp: {from: 1/s, to: 5/s, start: 1s, end: 1m}}",
        ] {
            let p = open(yaml);
            let run = |seed| {
                let mut v = Vec::new();
                drive(&mut p.clone(), 100.0, seed, |t| v.push(t));
                v
            };
            assert_eq!(run(1), run(1), "{yaml}");
            assert_ne!(run(1), run(2), "{yaml}");
            let mut q = p.clone();
            let first = run(1);
            drive(&mut q, 50.0, 1, |_| {});
            q.reset();
            let mut again = Vec::new();
            drive(&mut q, 100.0, 1, |t| again.push(t));
            assert_eq!(first, again, "{yaml} after reset");
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("capsim-arr-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn arrivals(p: &mut ArrivalProcess, max: usize) -> Vec<Arrival> {
        let mut rng = stream(1, 0, "trace");
        let mut now = SimTime::ZERO;
        let mut v = Vec::new();
        while v.len() < max
            && let Some(a) = p.next(now, &mut rng)
        {
            now = a.at;
            v.push(a);
        }
        v
    }

    #[test]
    fn trace_replays_filters_scales_and_loops() {
        let dir = temp_dir("trace");
        std::fs::write(
            dir.join("t.csv"),
            "timestamp,service,prompt_tokens,output_tokens,extra\n\
             0.0,chat,100,20,a\n\
             0.5,embed,5,,b\n\
             1.0,chat,200,,c\n\
             1.0,chat,,30,d\n\
             3.0,chat,50.4,5,e\n",
        )
        .unwrap();
        let compile_open = |yaml: &str, service: &str| match compile(&spec(yaml), service, &dir) {
            Ok(Arrivals::Open(p)) => p,
            Ok(Arrivals::Closed(_)) => panic!(),
            Err(e) => panic!("{e}"),
        };
        let mut p = compile_open("{trace: {file: t.csv, time_scale: 2}}", "chat");
        let v = arrivals(&mut p, 100);
        let ms = |a: &Arrival| a.at.nanos() / 1_000_000;
        assert_eq!(v.iter().map(ms).collect::<Vec<_>>(), [0, 2000, 2000, 6000]);
        assert_eq!(v[0].prompt_tokens, Some(100));
        assert_eq!(v[0].output_tokens, Some(20));
        assert_eq!((v[1].prompt_tokens, v[1].output_tokens), (Some(200), None));
        assert_eq!((v[2].prompt_tokens, v[2].output_tokens), (None, Some(30)));
        assert_eq!(v[3].prompt_tokens, Some(50));
        assert_eq!(p.mean_rate(SimTime::from_secs(4)), 3.0 / 4.0);
        assert_eq!(p.mean_rate(SimTime::ZERO), 0.0);

        let mut p = compile_open("{trace: {file: t.csv}}", "embed");
        let v = arrivals(&mut p, 100);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, SimTime::from_millis(500));

        // Loop: period = last (3 s) + mean gap (1 s), scaled by 2 = 8 s.
        let mut p = compile_open("{trace: {file: t.csv, time_scale: 2, loop: true}}", "chat");
        let v = arrivals(&mut p, 10);
        let want = [0, 2000, 2000, 6000, 8000, 10000, 10000, 14000, 16000, 18000];
        assert_eq!(v.iter().map(ms).collect::<Vec<_>>(), want);
        assert_eq!(v[4].prompt_tokens, Some(100));
        assert_eq!(p.mean_rate(SimTime::ZERO), 0.5);
        // [0, 10 s] holds 0, 2, 2, 6, 8, 10, 10.
        assert_eq!(p.mean_rate(SimTime::from_secs(10)), 0.7);
        // Skipping ahead skips rows.
        p.reset();
        let mut rng = stream(1, 0, "x");
        let a = p.next(SimTime::from_secs(9), &mut rng).unwrap();
        assert_eq!(a.at, SimTime::from_secs(10));

        // No service column: every row.
        std::fs::write(dir.join("plain.csv"), "timestamp\n0.25\n0.5\n").unwrap();
        let mut p = compile_open("{trace: {file: plain.csv}}", "anything");
        assert_eq!(arrivals(&mut p, 10).len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trace_errors_name_file_and_line() {
        let dir = temp_dir("trace-err");
        let fail = |name: &str, body: &str, service: &str, yaml_extra: &str| {
            std::fs::write(dir.join(name), body).unwrap();
            let yaml = format!("{{trace: {{file: {name}{yaml_extra}}}}}");
            match compile(&spec(&yaml), service, &dir) {
                Err(e) => {
                    assert!(e.contains(name), "{e}");
                    e
                }
                Ok(_) => panic!("{name} accepted"),
            }
        };
        let e = fail("dec.csv", "timestamp\n1\n2\n1.5\n", "chat", "");
        assert!(
            e.contains("line 4") && e.contains("must not decrease"),
            "{e}"
        );
        let e = fail("nots.csv", "time,service\n1,chat\n", "chat", "");
        assert!(
            e.contains("no `timestamp` column (columns: time, service)"),
            "{e}"
        );
        let e = fail("badts.csv", "timestamp\n1\nsoon\n", "chat", "");
        assert!(e.contains("line 3") && e.contains("`soon`"), "{e}");
        let e = fail("negts.csv", "timestamp\n-1\n", "chat", "");
        assert!(e.contains("line 2"), "{e}");
        let e = fail(
            "badtok.csv",
            "timestamp,prompt_tokens\n1,12\n2,-3\n",
            "chat",
            "",
        );
        assert!(
            e.contains("line 3") && e.contains("prompt_tokens `-3`"),
            "{e}"
        );
        let e = fail("other.csv", "timestamp,service\n1,embed\n", "chat", "");
        assert!(e.contains("no rows for service `chat`"), "{e}");
        let e = fail("zero.csv", "timestamp\n0\n0\n", "chat", ", loop: true");
        assert!(e.contains("span some time"), "{e}");
        let e = fail(
            "ragged.csv",
            "timestamp,service\n1,chat,extra\n",
            "chat",
            "",
        );
        assert!(e.contains("ragged.csv"), "{e}");
        let e = compile(&spec("{trace: {file: nope.csv}}"), "chat", &dir).unwrap_err();
        assert!(e.contains("nope.csv"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn closed_loop_compiles_to_users_and_think_time() {
        let a = compile(
            &spec("{closed: {users: 100, think_time: 30s}}"),
            "chat",
            Path::new("."),
        )
        .unwrap();
        assert!(a.mean_rate(SimTime::from_secs(10)).is_none());
        let Arrivals::Closed(c) = a else { panic!() };
        assert_eq!(c.users, 100);
        assert_eq!((c.think_time.mean(), c.think_time.scv()), (30.0, 1.0));
    }
}
