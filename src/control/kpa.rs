//! The Knative Pod Autoscaler (KPA): concurrency-based scaling with a stable and a panic
//! window, rate limits and scale to zero behind the activator.
//!
//! This is the decision logic only. The simulator calls [`Kpa::record`] once per second with
//! the revision's total in-flight requests (what the queue-proxies, or the activator while no
//! pod is ready, report) and [`Kpa::decide`] every `tickInterval` with the number of ready
//! pods; it then scales the revision to [`KpaDecision::desired`] and, while no pod is ready,
//! holds requests in its activator model.
//!
//! # The equations
//!
//! With `W` the stable window and `w = round(W · panicWindowPercentage / 100)` (at least one
//! 1 s bucket) the panic window, the observed values are the averages of the 1 s buckets in
//! each window, `C_stable` and `C_panic`; while less than a window of data exists the average
//! is over the buckets since the first sample, as Knative's `TimedFloat64Buckets` does.
//!
//! ```text
//! T        = target · targetUtilization / 100            (per-pod concurrency aimed at)
//! R        = max(1, readyPods)
//! up       = ceil(maxScaleUpRate · R)                    (most pods one decision may ask for)
//! down     = floor(R / maxScaleDownRate)                 (fewest pods one decision may ask for)
//! dS       = ceil(C_stable / T),  dP = ceil(C_panic / T)
//! S        = min(max(dS, down), up),  P = min(max(dP, down), up)
//! S, P     = max(·, activationScale) when dS, dP > 0 and activationScale > 1
//! panic    = dP / R >= panicThresholdPercentage / 100
//! ```
//!
//! Panic mode starts the first tick `panic` holds and is extended by every tick where it still
//! holds; it ends at the first tick where it does not hold and more than `W` has passed since
//! it last held. In panic mode the answer is `max(S, P)`, never less than the highest answer
//! given since panic began (no scale-down in panic); otherwise it is `S`. This is Knative's
//! `autoscaler.Scale` ([`Kpa::autoscale`]).
//!
//! The PodAutoscaler reconciler then shapes the answer ([`Kpa::decide`]):
//!
//! * until `initialScale` pods have been ready once, the answer is at least `initialScale`;
//! * `minScale <= answer <= maxScale` (`maxScale = 0`: unbounded);
//! * an answer of 0 (possible only once `C_stable = 0` and at most one pod is ready, because of
//!   `down`) is not applied at once: a revision that became active less than `W` ago stays at
//!   1; otherwise the revision turns inactive (the activator enters the request path) and the
//!   current scale is held until `max(scaleToZeroGracePeriod, scaleToZeroPodRetentionPeriod)`
//!   has passed since the first tick that asked for 0 — "since the last non-zero desired
//!   scale";
//! * at zero, the first non-zero sample makes [`Kpa::record`] return `true` (Knative's
//!   multiscaler "poke"): decide at once rather than at the next tick, and the answer is at
//!   least 1 (at least `activationScale`), the cold start.
//!
//! Not modelled: `scale-down-delay`, target burst capacity and activator subsetting, the RPS
//! metric, the activation timeout (a revision that cannot start within the progress deadline
//! is scaled back to zero) and an autoscaler restart over a running revision (which starts in
//! panic mode).

use crate::units::Duration;
use serde::Deserialize;
use std::collections::VecDeque;

/// The KPA settings of a service, as a scenario writes them. Every field is optional and
/// defaults to Knative's value; names follow Knative's annotations and `config-autoscaler`
/// keys in camelCase.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KpaSpec {
    /// Concurrent requests per pod aimed at (`autoscaling.knative.dev/target`).
    pub target: Option<f64>,
    /// Percent of `target` actually aimed at (`target-utilization-percentage`).
    pub target_utilization: Option<f64>,
    /// Length of the stable window (`stable-window`, annotation `window`).
    pub stable_window: Option<Duration>,
    /// Panic window as a percentage of the stable window (`panic-window-percentage`).
    pub panic_window_percentage: Option<f64>,
    /// Panic when the panic-window desire reaches this percentage of the ready pods
    /// (`panic-threshold-percentage`).
    pub panic_threshold_percentage: Option<f64>,
    /// One decision asks for at most this many times the ready pods (`max-scale-up-rate`).
    pub max_scale_up_rate: Option<f64>,
    /// One decision asks for no fewer than the ready pods divided by this
    /// (`max-scale-down-rate`).
    pub max_scale_down_rate: Option<f64>,
    /// Time the revision stays behind the activator before its last pod is removed
    /// (`scale-to-zero-grace-period`).
    pub scale_to_zero_grace_period: Option<Duration>,
    /// Minimum time the last pod is kept once the revision is idle
    /// (`scale-to-zero-pod-retention-period`).
    pub scale_to_zero_pod_retention_period: Option<Duration>,
    /// Lower bound on the scale (`min-scale`).
    pub min_scale: Option<i32>,
    /// Upper bound on the scale; 0 means unbounded (`max-scale`).
    pub max_scale: Option<i32>,
    /// Pods requested at creation, until that many have been ready once (`initial-scale`).
    pub initial_scale: Option<i32>,
    /// Period of the autoscaler's decisions.
    pub tick_interval: Option<Duration>,
    /// Minimum scale once the revision scales up from zero (`activation-scale`).
    pub activation_scale: Option<i32>,
}

// Knative defaults. Sources: knative/serving pkg/autoscaler/config/config.go
// (`defaultConfig`), pkg/autoscaler/scaling/multiscaler.go (`tickInterval`) and
// pkg/apis/autoscaling (annotation defaults).

/// `ContainerConcurrencyTargetDefault: 100` (config.go).
pub const DEFAULT_TARGET: f64 = 100.0;
/// `defaultTargetUtilization = 0.7` (config.go), here in percent.
pub const DEFAULT_TARGET_UTILIZATION: f64 = 70.0;
/// `StableWindow: 60 * time.Second` (config.go).
pub const DEFAULT_STABLE_WINDOW_S: f64 = 60.0;
/// `PanicWindowPercentage: 10` (config.go).
pub const DEFAULT_PANIC_WINDOW_PERCENTAGE: f64 = 10.0;
/// `PanicThresholdPercentage: 200` (config.go).
pub const DEFAULT_PANIC_THRESHOLD_PERCENTAGE: f64 = 200.0;
/// `MaxScaleUpRate: 1000` (config.go).
pub const DEFAULT_MAX_SCALE_UP_RATE: f64 = 1000.0;
/// `MaxScaleDownRate: 2` (config.go).
pub const DEFAULT_MAX_SCALE_DOWN_RATE: f64 = 2.0;
/// `ScaleToZeroGracePeriod: 30 * time.Second` (config.go).
pub const DEFAULT_SCALE_TO_ZERO_GRACE_PERIOD_S: f64 = 30.0;
/// `ScaleToZeroPodRetentionPeriod: 0 * time.Second` (config.go).
pub const DEFAULT_SCALE_TO_ZERO_POD_RETENTION_PERIOD_S: f64 = 0.0;
/// No `min-scale` annotation: no lower bound.
pub const DEFAULT_MIN_SCALE: i32 = 0;
/// `MaxScale: 0` (config.go): unbounded.
pub const DEFAULT_MAX_SCALE: i32 = 0;
/// `InitialScale: 1` (config.go).
pub const DEFAULT_INITIAL_SCALE: i32 = 1;
/// `tickInterval = 2 * time.Second` (multiscaler.go).
pub const DEFAULT_TICK_INTERVAL_S: f64 = 2.0;
/// No `activation-scale` annotation: 1 (the autoscaler only adjusts for values above 1).
pub const DEFAULT_ACTIVATION_SCALE: i32 = 1;

/// Knative's metric bucket (`BucketSize = 1 * time.Second`, config.go): windows are whole
/// seconds.
pub const BUCKET_S: f64 = 1.0;

/// Resolved KPA settings: every default filled in, durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpaConfig {
    /// Concurrent requests per pod aimed at, before utilization.
    pub target: f64,
    /// Percent of `target` aimed at.
    pub target_utilization: f64,
    /// Stable window in seconds.
    pub stable_window_s: f64,
    /// Panic window as a percentage of the stable window.
    pub panic_window_percentage: f64,
    /// Panic threshold in percent of the ready pods.
    pub panic_threshold_percentage: f64,
    /// Largest scale-up factor of one decision.
    pub max_scale_up_rate: f64,
    /// Largest scale-down divisor of one decision.
    pub max_scale_down_rate: f64,
    /// Scale-to-zero grace period in seconds.
    pub scale_to_zero_grace_period_s: f64,
    /// Last-pod retention period in seconds.
    pub scale_to_zero_pod_retention_period_s: f64,
    /// Lower bound on the scale.
    pub min_scale: i32,
    /// Upper bound on the scale; 0 is unbounded.
    pub max_scale: i32,
    /// Pods requested at creation.
    pub initial_scale: i32,
    /// Period of the decisions in seconds.
    pub tick_interval_s: f64,
    /// Minimum scale when scaling up from zero.
    pub activation_scale: i32,
}

impl Default for KpaConfig {
    fn default() -> Self {
        KpaConfig {
            target: DEFAULT_TARGET,
            target_utilization: DEFAULT_TARGET_UTILIZATION,
            stable_window_s: DEFAULT_STABLE_WINDOW_S,
            panic_window_percentage: DEFAULT_PANIC_WINDOW_PERCENTAGE,
            panic_threshold_percentage: DEFAULT_PANIC_THRESHOLD_PERCENTAGE,
            max_scale_up_rate: DEFAULT_MAX_SCALE_UP_RATE,
            max_scale_down_rate: DEFAULT_MAX_SCALE_DOWN_RATE,
            scale_to_zero_grace_period_s: DEFAULT_SCALE_TO_ZERO_GRACE_PERIOD_S,
            scale_to_zero_pod_retention_period_s: DEFAULT_SCALE_TO_ZERO_POD_RETENTION_PERIOD_S,
            min_scale: DEFAULT_MIN_SCALE,
            max_scale: DEFAULT_MAX_SCALE,
            initial_scale: DEFAULT_INITIAL_SCALE,
            tick_interval_s: DEFAULT_TICK_INTERVAL_S,
            activation_scale: DEFAULT_ACTIVATION_SCALE,
        }
    }
}

impl KpaSpec {
    /// Fills in Knative's defaults and checks the ranges Knative's validation enforces.
    pub fn resolve(&self) -> Result<KpaConfig, String> {
        let d = KpaConfig::default();
        // Exact for whole seconds, unlike `SimTime::as_secs_f64` (a product with 1e-9).
        let secs = |v: Option<Duration>, def: f64| v.map_or(def, |x| x.0.nanos() as f64 / 1e9);
        let c = KpaConfig {
            target: self.target.unwrap_or(d.target),
            target_utilization: self.target_utilization.unwrap_or(d.target_utilization),
            stable_window_s: secs(self.stable_window, d.stable_window_s),
            panic_window_percentage: self
                .panic_window_percentage
                .unwrap_or(d.panic_window_percentage),
            panic_threshold_percentage: self
                .panic_threshold_percentage
                .unwrap_or(d.panic_threshold_percentage),
            max_scale_up_rate: self.max_scale_up_rate.unwrap_or(d.max_scale_up_rate),
            max_scale_down_rate: self.max_scale_down_rate.unwrap_or(d.max_scale_down_rate),
            scale_to_zero_grace_period_s: secs(
                self.scale_to_zero_grace_period,
                d.scale_to_zero_grace_period_s,
            ),
            scale_to_zero_pod_retention_period_s: secs(
                self.scale_to_zero_pod_retention_period,
                d.scale_to_zero_pod_retention_period_s,
            ),
            min_scale: self.min_scale.unwrap_or(d.min_scale),
            max_scale: self.max_scale.unwrap_or(d.max_scale),
            initial_scale: self.initial_scale.unwrap_or(d.initial_scale),
            tick_interval_s: secs(self.tick_interval, d.tick_interval_s),
            activation_scale: self.activation_scale.unwrap_or(d.activation_scale),
        };
        c.validate()?;
        Ok(c)
    }
}

impl KpaConfig {
    /// Checks the ranges Knative accepts (config.go `validate` and the annotation checks).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.target_utilization > 0.0 && self.target_utilization <= 100.0) {
            return Err(format!(
                "targetUtilization must be in (0, 100] percent, found {}",
                self.target_utilization
            ));
        }
        // autoscaling.TargetMin = 0.01.
        if self.target_value().is_nan() || self.target_value() < 0.01 {
            return Err(format!(
                "target x targetUtilization must be at least 0.01, found {}",
                self.target_value()
            ));
        }
        // autoscaling.WindowMin = 6s, WindowMax = 1h, whole seconds.
        let w = self.stable_window_s;
        if !(6.0..=3600.0).contains(&w) || w.fract() != 0.0 {
            return Err(format!(
                "stableWindow must be whole seconds between 6s and 1h, found {w}s"
            ));
        }
        // PanicWindowPercentageMin = 1, Max = 100.
        if !(1.0..=100.0).contains(&self.panic_window_percentage) {
            return Err(format!(
                "panicWindowPercentage must be in [1, 100], found {}",
                self.panic_window_percentage
            ));
        }
        // PanicThresholdPercentageMin = 110, Max = 1000.
        if !(110.0..=1000.0).contains(&self.panic_threshold_percentage) {
            return Err(format!(
                "panicThresholdPercentage must be in [110, 1000], found {}",
                self.panic_threshold_percentage
            ));
        }
        if self.max_scale_up_rate.is_nan() || self.max_scale_up_rate <= 1.0 {
            return Err(format!(
                "maxScaleUpRate must be greater than 1, found {}",
                self.max_scale_up_rate
            ));
        }
        if self.max_scale_down_rate.is_nan() || self.max_scale_down_rate <= 1.0 {
            return Err(format!(
                "maxScaleDownRate must be greater than 1, found {}",
                self.max_scale_down_rate
            ));
        }
        if self.scale_to_zero_grace_period_s.is_nan() || self.scale_to_zero_grace_period_s <= 0.0 {
            return Err("scaleToZeroGracePeriod must be positive".into());
        }
        if self.min_scale < 0 || self.max_scale < 0 || self.initial_scale < 0 {
            return Err("minScale, maxScale and initialScale must not be negative".into());
        }
        if self.max_scale > 0 && self.min_scale > self.max_scale {
            return Err(format!(
                "minScale ({}) must not exceed maxScale ({})",
                self.min_scale, self.max_scale
            ));
        }
        if self.activation_scale < 1 {
            return Err(format!(
                "activationScale must be at least 1, found {}",
                self.activation_scale
            ));
        }
        if self.tick_interval_s.is_nan() || self.tick_interval_s <= 0.0 {
            return Err("tickInterval must be positive".into());
        }
        Ok(())
    }

    /// Concurrency per pod aimed at: `target x targetUtilization / 100` (Knative's
    /// `TargetValue`).
    pub fn target_value(&self) -> f64 {
        self.target * self.target_utilization / 100.0
    }

    /// Number of 1 s buckets in the stable window.
    pub fn stable_buckets(&self) -> i64 {
        (self.stable_window_s / BUCKET_S).ceil().max(1.0) as i64
    }

    /// Number of 1 s buckets in the panic window: the stable window times the percentage,
    /// rounded to whole buckets, at least one.
    pub fn panic_buckets(&self) -> i64 {
        (self.stable_window_s * self.panic_window_percentage / 100.0 / BUCKET_S)
            .round()
            .max(1.0) as i64
    }
}

/// One decision of the KPA.
#[derive(Debug, Clone, PartialEq)]
pub struct KpaDecision {
    /// Pods the revision should have.
    pub desired: i32,
    /// Whether the autoscaler is in panic mode.
    pub panic: bool,
    /// Average total concurrency over the stable window.
    pub observed_stable: f64,
    /// Average total concurrency over the panic window.
    pub observed_panic: f64,
    /// Why `desired` is what it is, for traces.
    pub reason: String,
}

/// The answer of Knative's `autoscaler.Scale` before the reconciler shapes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoscaled {
    /// Desired pod count.
    pub desired: i32,
    /// Whether panic mode is on after this decision.
    pub panic: bool,
}

/// Average concurrency per 1 s bucket over the last `nb` buckets, Knative-style.
#[derive(Debug, Clone)]
struct Windows {
    /// `(bucket, sum of samples)`, oldest first, at most a stable window long.
    buckets: VecDeque<(i64, f64)>,
    /// First bucket written since the stable window last went without data.
    first_stable: i64,
    /// Same for the panic window.
    first_panic: i64,
    /// Last bucket written; `None` before the first sample.
    last: Option<i64>,
}

impl Windows {
    fn new() -> Self {
        Windows {
            buckets: VecDeque::new(),
            first_stable: 0,
            first_panic: 0,
            last: None,
        }
    }

    fn record(&mut self, b: i64, value: f64, nb_stable: i64, nb_panic: i64) {
        match self.last {
            None => {
                self.first_stable = b;
                self.first_panic = b;
            }
            Some(last) if b > last => {
                if b - last >= nb_stable {
                    self.first_stable = b;
                    self.buckets.clear();
                }
                if b - last >= nb_panic {
                    self.first_panic = b;
                }
            }
            // Late samples older than a window are ignored, as Knative does.
            Some(last) if b <= last - nb_stable => return,
            Some(_) => {}
        }
        if self.last.is_none_or(|l| b > l) {
            self.last = Some(b);
        }
        match self.buckets.iter_mut().find(|(k, _)| *k == b) {
            Some((_, v)) => *v += value,
            None => {
                let at = self.buckets.partition_point(|(k, _)| *k < b);
                self.buckets.insert(at, (b, value));
            }
        }
        let newest = self.last.unwrap_or(b);
        while self
            .buckets
            .front()
            .is_some_and(|(k, _)| *k <= newest - nb_stable)
        {
            self.buckets.pop_front();
        }
    }

    /// `TimedFloat64Buckets.WindowAverage`: over the buckets since the first write when that
    /// is less than a window ago, ignoring the buckets not yet written when the last write
    /// is in the past, and 0 once a whole window has passed without data.
    fn average(&self, now_b: i64, nb: i64, first: i64) -> Option<f64> {
        let last = self.last?;
        let d = now_b - last;
        if d >= nb {
            return Some(0.0);
        }
        let reference = now_b.max(last);
        let total: f64 = self
            .buckets
            .iter()
            .filter(|(k, _)| *k > reference - nb && *k <= last)
            .map(|(_, v)| v)
            .sum();
        let valid = (last - first + 1).min(nb - d.max(0)).max(1);
        Some(total / valid as f64)
    }
}

/// A Knative Pod Autoscaler for one revision.
#[derive(Debug, Clone)]
pub struct Kpa {
    cfg: KpaConfig,
    windows: Windows,
    /// Last time the panic condition held while in panic mode; `None` out of panic.
    panic_time: Option<f64>,
    /// Highest answer given since panic began.
    max_panic_pods: i32,
    /// Whether `initialScale` pods have been ready once.
    initialized: bool,
    /// When the revision last became active (pods ready after being at zero).
    active_since: Option<f64>,
    /// First tick of the current run of zero answers (the revision is inactive).
    inactive_since: Option<f64>,
    /// Last `autoscale` answer, for the poke on the first request at zero.
    last_autoscaled: Option<i32>,
    /// Last desired scale handed out.
    last_desired: i32,
}

impl Kpa {
    /// A KPA for a revision just created: nothing recorded, `initialScale` pods requested.
    pub fn new(cfg: KpaConfig) -> Self {
        Kpa {
            cfg,
            windows: Windows::new(),
            panic_time: None,
            max_panic_pods: 0,
            initialized: cfg.initial_scale == 0,
            active_since: None,
            inactive_since: None,
            last_autoscaled: None,
            last_desired: cfg.initial_scale,
        }
    }

    /// The resolved settings.
    pub fn config(&self) -> &KpaConfig {
        &self.cfg
    }

    /// Period at which [`Kpa::decide`] should be called, in seconds.
    pub fn tick_interval_s(&self) -> f64 {
        self.cfg.tick_interval_s
    }

    /// When panic mode was last extended, if in panic mode.
    pub fn panic_time(&self) -> Option<f64> {
        self.panic_time
    }

    /// Records the revision's total in-flight requests averaged over the second ending at
    /// `now_s`. Samples falling in the same 1 s bucket add up (Knative sums the pods' reports),
    /// so the simulator may report the total once or each pod's share.
    ///
    /// Returns `true` when the autoscaler last asked for zero pods and this sample is not
    /// zero: the cold start, where Knative pokes the autoscaler to decide at once; call
    /// [`Kpa::decide`] now.
    pub fn record(&mut self, now_s: f64, total_concurrency: f64) -> bool {
        let b = (now_s / BUCKET_S).floor() as i64;
        let v = total_concurrency.max(0.0);
        self.windows
            .record(b, v, self.cfg.stable_buckets(), self.cfg.panic_buckets());
        v > 0.0 && self.last_autoscaled == Some(0)
    }

    /// The stable and panic window averages at `now_s`, or `None` before the first sample.
    pub fn observed(&self, now_s: f64) -> Option<(f64, f64)> {
        let b = (now_s / BUCKET_S).floor() as i64;
        let w = &self.windows;
        let stable = w.average(b, self.cfg.stable_buckets(), w.first_stable)?;
        let panic = w.average(b, self.cfg.panic_buckets(), w.first_panic)?;
        Some((stable, panic))
    }

    /// Knative's `autoscaler.Scale` for given window averages: rate limits, panic mode and
    /// activation scale, without the reconciler's bounds, initial scale or scale-to-zero
    /// grace. Updates the panic state.
    pub fn autoscale(
        &mut self,
        now_s: f64,
        ready_pods: i32,
        observed_stable: f64,
        observed_panic: f64,
    ) -> Autoscaled {
        let c = &self.cfg;
        let ready = f64::from(ready_pods.max(1));
        let max_up = (c.max_scale_up_rate * ready).ceil();
        let max_down = (ready / c.max_scale_down_rate).floor();
        let tv = c.target_value();
        let dspc = (observed_stable / tv).ceil();
        let dppc = (observed_panic / tv).ceil();
        let mut stable = dspc.max(max_down).min(max_up) as i32;
        let mut panic = dppc.max(max_down).min(max_up) as i32;
        if c.activation_scale > 1 {
            if dspc > 0.0 && c.activation_scale > stable {
                stable = c.activation_scale;
            }
            if dppc > 0.0 && c.activation_scale > panic {
                panic = c.activation_scale;
            }
        }
        let over = dppc / ready >= c.panic_threshold_percentage / 100.0;
        if over {
            // Begin panicking, or extend the panic window.
            self.panic_time = Some(now_s);
        } else if self
            .panic_time
            .is_some_and(|t| t + c.stable_window_s < now_s)
        {
            // The surge has made its way into the stable window: stop panicking.
            self.panic_time = None;
            self.max_panic_pods = 0;
        }
        let mut desired = stable;
        if self.panic_time.is_some() {
            desired = desired.max(panic);
            // No scale-down in panic mode.
            self.max_panic_pods = self.max_panic_pods.max(desired);
            desired = self.max_panic_pods;
        }
        self.last_autoscaled = Some(desired);
        Autoscaled {
            desired,
            panic: self.panic_time.is_some(),
        }
    }

    /// One tick: window averages, [`Kpa::autoscale`], then the reconciler's initial scale,
    /// min/max bounds and scale-to-zero grace. `ready_pods` is the number of ready pods now.
    pub fn decide(&mut self, now_s: f64, ready_pods: i32) -> KpaDecision {
        // Pods still terminating after a scale to zero do not make the revision active.
        if ready_pods > 0 && self.active_since.is_none() && self.last_desired > 0 {
            self.active_since = Some(now_s);
        }
        if !self.initialized && ready_pods >= self.cfg.initial_scale {
            self.initialized = true;
        }
        let Some((stable, panic_c)) = self.observed(now_s) else {
            // Knative: no data, no decision; the scale stays where it is.
            return self.emit(self.last_desired, false, 0.0, 0.0, "no metrics yet");
        };
        let a = self.autoscale(now_s, ready_pods, stable, panic_c);
        let mut want = a.desired;
        let mut reason = if a.panic { "panic" } else { "stable" };
        if !self.initialized && want < self.cfg.initial_scale {
            want = self.cfg.initial_scale;
            reason = "initial scale";
        }
        if want < self.cfg.min_scale {
            want = self.cfg.min_scale;
            reason = "minScale";
        }
        if self.cfg.max_scale > 0 && want > self.cfg.max_scale {
            want = self.cfg.max_scale;
            reason = "maxScale";
        }
        if want > 0 {
            self.inactive_since = None;
            if self.last_desired == 0 {
                reason = "activation from zero";
            }
            return self.emit(want, a.panic, stable, panic_c, reason);
        }
        // The autoscaler wants zero pods.
        if self.last_desired == 0 {
            return self.emit(0, a.panic, stable, panic_c, "at zero");
        }
        if let Some(t) = self.active_since
            && now_s - t < self.cfg.stable_window_s
        {
            // Active for less than a stable window: at most one pod until it has been.
            return self.emit(
                1,
                a.panic,
                stable,
                panic_c,
                "active less than a stable window",
            );
        }
        let since = *self.inactive_since.get_or_insert(now_s);
        let wait = self
            .cfg
            .scale_to_zero_grace_period_s
            .max(self.cfg.scale_to_zero_pod_retention_period_s);
        if now_s - since >= wait {
            self.inactive_since = None;
            self.active_since = None;
            self.emit(0, a.panic, stable, panic_c, "scale to zero")
        } else {
            let hold = self.last_desired;
            self.emit(hold, a.panic, stable, panic_c, "scale-to-zero grace period")
        }
    }

    fn emit(
        &mut self,
        desired: i32,
        panic: bool,
        observed_stable: f64,
        observed_panic: f64,
        reason: &str,
    ) -> KpaDecision {
        self.last_desired = desired;
        KpaDecision {
            desired,
            panic,
            observed_stable,
            observed_panic,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings of Knative's autoscaler_test.go `newTestAutoscaler`: TargetValue as
    /// given, PanicThreshold 2 (200 %), MaxScaleUpRate 10, MaxScaleDownRate 10, StableWindow
    /// 60 s.
    fn upstream(target: f64) -> Kpa {
        Kpa::new(KpaConfig {
            target,
            target_utilization: 100.0,
            max_scale_up_rate: 10.0,
            max_scale_down_rate: 10.0,
            ..KpaConfig::default()
        })
    }

    /// Port of `TestAutoscalerStableModeIncreaseWithConcurrencyDefault`.
    #[test]
    fn stable_mode_increase() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 1, 50.0, 10.0).desired, 5);
        assert_eq!(a.autoscale(0.0, 1, 100.0, 10.0).desired, 10);
    }

    /// Port of `TestAutoscalerStableModeDecrease`.
    #[test]
    fn stable_mode_decrease() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 8, 100.0, 100.0).desired, 10);
        assert_eq!(a.autoscale(0.0, 8, 50.0, 50.0).desired, 5);
    }

    /// Port of `TestAutoscalerStableModeNoTrafficScaleToZero`.
    #[test]
    fn stable_mode_no_traffic_scale_to_zero() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 1, 1.0, 0.0).desired, 1);
        assert_eq!(a.autoscale(0.0, 1, 0.0, 0.0).desired, 0);
    }

    /// Port of the `AutoscalerPanicModeDoublePodCount` case of `TestAutoscalerScale`.
    #[test]
    fn panic_mode_double_pod_count() {
        let mut a = upstream(10.0);
        let r = a.autoscale(0.0, 1, 50.0, 100.0);
        assert_eq!(
            r,
            Autoscaled {
                desired: 10,
                panic: true
            }
        );
    }

    /// Port of `TestAutoscalerPanicThenUnPanicScaleDown`: no scale-down in panic, and the
    /// scale drops once a stable window has passed without the panic condition.
    #[test]
    fn panic_then_unpanic_scale_down() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 1, 100.0, 100.0).desired, 10);
        assert_eq!(a.autoscale(0.0, 10, 100.0, 1000.0).desired, 100);
        // Traffic dropped off, scale stays as we're still in panic.
        assert_eq!(a.autoscale(30.0, 10, 1.0, 1.0).desired, 100);
        // Scale down after the stable window.
        let r = a.autoscale(61.0, 10, 1.0, 1.0);
        assert_eq!(
            r,
            Autoscaled {
                desired: 1,
                panic: false
            }
        );
    }

    /// Port of `TestAutoscalerUnpanicAfterSlowIncrease`.
    #[test]
    fn unpanic_after_slow_increase() {
        let mut a = upstream(1.0);
        assert_eq!(a.autoscale(0.0, 10, 11.0, 25.0).desired, 25);
        assert_eq!(a.panic_time(), Some(0.0));
        assert_eq!(a.autoscale(30.0, 40, 30.0, 41.0).desired, 41);
        assert_eq!(
            a.panic_time(),
            Some(0.0),
            "panic time should not have moved"
        );
        let r = a.autoscale(30.0 + 30.0 + 2.0, 55, 50.0, 56.0);
        assert_eq!(
            r,
            Autoscaled {
                desired: 50,
                panic: false
            }
        );
        assert_eq!(a.panic_time(), None);
    }

    /// Port of `TestAutoscalerExtendPanicWindow`.
    #[test]
    fn extend_panic_window() {
        let mut a = upstream(1.0);
        assert_eq!(a.autoscale(0.0, 10, 11.0, 25.0).desired, 25);
        assert_eq!(a.autoscale(30.0, 40, 30.0, 80.0).desired, 80);
        assert_eq!(a.panic_time(), Some(30.0));
    }

    /// Port of `TestAutoscalerPanicModeExponentialTrackAndStabilize`.
    #[test]
    fn panic_mode_exponential_track_and_stabilize() {
        let mut a = upstream(1.0);
        assert_eq!(a.autoscale(0.0, 1, 6.0, 6.0).desired, 6);
        assert_eq!(a.autoscale(0.0, 6, 36.0, 36.0).desired, 36);
        assert_eq!(a.autoscale(1.0, 36, 216.0, 216.0).desired, 216);
        assert_eq!(a.autoscale(1.0, 216, 1296.0, 1296.0).desired, 1296);
        assert_eq!(a.autoscale(2.0, 1296, 1296.0, 1296.0).desired, 1296);
    }

    /// Port of `TestAutoscalerRateLimitScaleUp`.
    #[test]
    fn rate_limit_scale_up() {
        let mut a = upstream(10.0);
        // Need 100 pods but only scale x10.
        assert_eq!(a.autoscale(0.0, 1, 1000.0, 1001.0).desired, 10);
        assert_eq!(a.autoscale(0.0, 10, 1000.0, 1001.0).desired, 100);
    }

    /// Port of `TestAutoscalerRateLimitScaleDown`.
    #[test]
    fn rate_limit_scale_down() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 100, 1.0, 1.0).desired, 10);
        assert_eq!(a.autoscale(0.0, 10, 1.0, 1.0).desired, 1);
    }

    /// Ports of the `AutoscalerStableModeIncreaseWithSmallScaleUpRate` and
    /// `AutoscalerStableModeDecreaseWithSmallScaleDownRate` cases of `TestAutoscalerScale`.
    #[test]
    fn small_rates_still_move_by_one_pod() {
        let mut a = Kpa::new(KpaConfig {
            max_scale_up_rate: 1.1,
            ..upstream(1.0).cfg
        });
        assert_eq!(a.autoscale(0.0, 2, 3.0, 3.1).desired, 3);
        let mut a = Kpa::new(KpaConfig {
            max_scale_down_rate: 1.1,
            ..upstream(10.0).cfg
        });
        assert_eq!(a.autoscale(0.0, 100, 1.0, 1.0).desired, 90);
    }

    /// Port of `TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound`: at zero ready pods the
    /// rate limit counts one.
    #[test]
    fn one_pod_as_minimum_when_none_ready() {
        let mut a = upstream(10.0);
        assert_eq!(a.autoscale(0.0, 0, 1000.0, 888.0).desired, 10);
    }

    /// Port of `TestAutoscalerActivationScale`.
    #[test]
    fn activation_scale() {
        let mut a = Kpa::new(KpaConfig {
            activation_scale: 2,
            ..upstream(10.0).cfg
        });
        assert_eq!(a.autoscale(0.0, 1, 0.0, 0.0).desired, 0);
        assert_eq!(a.autoscale(0.0, 1, 1.0, 0.0).desired, 2);
    }

    #[test]
    fn defaults_match_knative() {
        let c = KpaSpec::default().resolve().unwrap();
        assert_eq!(c, KpaConfig::default());
        assert_eq!(c.target_value(), 70.0);
        assert_eq!(c.stable_buckets(), 60);
        assert_eq!(c.panic_buckets(), 6);
    }

    #[test]
    fn spec_reads_camel_case_and_rejects_unknown_fields() {
        let yaml = "target: 10\ntargetUtilization: 80\nstableWindow: 30s\nscaleToZeroGracePeriod: 45s\nminScale: 1\n";
        let spec: KpaSpec = serde_saphyr::from_str(yaml).unwrap();
        let c = spec.resolve().unwrap();
        assert_eq!(c.target_value(), 8.0);
        assert_eq!(c.stable_window_s, 30.0);
        assert_eq!(c.scale_to_zero_grace_period_s, 45.0);
        assert_eq!(c.min_scale, 1);
        assert_eq!(c.panic_threshold_percentage, 200.0);
        let bad = "stable_window: 30s\n";
        let err = serde_saphyr::from_str::<KpaSpec>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
        let rate = KpaSpec {
            max_scale_down_rate: Some(1.0),
            ..KpaSpec::default()
        };
        assert!(rate.resolve().is_err());
    }

    #[test]
    fn window_averages_over_partial_and_full_windows() {
        let mut k = Kpa::new(KpaConfig::default());
        assert_eq!(k.observed(0.0), None);
        for s in 0..3 {
            k.record(f64::from(s) + 0.5, 6.0);
        }
        // Three buckets written: averages over three, not over the whole window.
        assert_eq!(k.observed(2.5), Some((6.0, 6.0)));
        for s in 3..60 {
            k.record(f64::from(s) + 0.5, 0.0);
        }
        let (stable, panic) = k.observed(59.5).unwrap();
        assert!((stable - 18.0 / 60.0).abs() < 1e-12);
        assert_eq!(panic, 0.0);
        // A whole window without samples reads zero.
        assert_eq!(k.observed(200.0), Some((0.0, 0.0)));
    }

    /// Drives the whole loop at the default settings: a steady load of 140 concurrent
    /// requests settles at ceil(140 / 70) = 2 pods.
    #[test]
    fn stable_scale_to_target() {
        let mut k = Kpa::new(KpaConfig::default());
        let mut ready = 1;
        let mut last = None;
        for s in 0..120 {
            let t = f64::from(s) + 1.0;
            k.record(t, 140.0);
            if s % 2 == 0 {
                let d = k.decide(t, ready);
                ready = d.desired;
                last = Some(d);
            }
        }
        let d = last.unwrap();
        assert_eq!(d.desired, 2);
        assert!(!d.panic);
        assert_eq!(d.observed_stable, 140.0);
    }

    /// Knative's scaler.go `handleScaleToZero`: after the load stops, the stable window must
    /// empty, then the revision stays at one pod for the grace period before going to zero;
    /// the first request at zero pokes the autoscaler and asks for a pod (cold start).
    #[test]
    fn scale_to_zero_after_grace_then_cold_start() {
        let mut k = Kpa::new(KpaConfig::default());
        let mut ready = 0;
        let mut zero_at = None;
        for s in 0..400 {
            let t = f64::from(s);
            let load = if s < 100 { 10.0 } else { 0.0 };
            k.record(t, load);
            if s % 2 == 0 {
                let d = k.decide(t, ready);
                ready = d.desired;
                if d.desired == 0 && zero_at.is_none() {
                    zero_at = Some(t);
                }
            }
        }
        // Last load at t = 99: the stable window is empty from t = 159, the decision at 160
        // asks for zero, and the grace period of 30 s ends at 190.
        assert_eq!(zero_at, Some(190.0));
        assert_eq!(ready, 0);
        // Cold start: a request arrives while at zero.
        assert!(k.record(400.5, 1.0));
        let d = k.decide(400.5, 0);
        assert_eq!(d.desired, 1);
        assert_eq!(d.reason, "activation from zero");
        // A grace period longer than a stable window of zeros, and min-scale, keep the pod.
        let mut k = Kpa::new(KpaConfig {
            min_scale: 1,
            ..KpaConfig::default()
        });
        for s in 0..400 {
            k.record(f64::from(s), 0.0);
            assert_eq!(k.decide(f64::from(s), 1).desired, 1);
        }
    }

    /// Panic mode entering and holding through the whole loop: a burst of 10x the target
    /// enters panic within the panic window and the scale never drops while in panic.
    #[test]
    fn burst_enters_panic_and_holds() {
        let mut k = Kpa::new(KpaConfig::default());
        let mut ready = 1;
        let mut peak = 0;
        let mut entered = None;
        for s in 0..200 {
            let t = f64::from(s);
            let load = if (60..80).contains(&s) { 700.0 } else { 10.0 };
            k.record(t, load);
            if s % 2 == 0 {
                let d = k.decide(t, ready);
                if d.panic {
                    entered.get_or_insert(t);
                    assert!(d.desired >= peak, "scaled down in panic at {t}");
                }
                peak = peak.max(d.desired);
                ready = d.desired;
            }
        }
        assert_eq!(entered, Some(60.0));
        assert_eq!(peak, 10);
        assert!(!k.decide(200.0, ready).panic);
    }
}
