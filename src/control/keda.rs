//! KEDA-style scale to zero: KEDA's own activation logic for 0 <-> 1, with an HPA for the
//! rest.
//!
//! KEDA splits the work in two. For a `ScaledObject` it creates an HPA named
//! `keda-hpa-{name}` with `minReplicas = max(1, minReplicaCount)`, `maxReplicas =
//! maxReplicaCount` and, per trigger `i`, an External metric named `s{i}-{metric}` whose target
//! is the trigger's `threshold` as an `AverageValue` (the HPA wants
//! `ceil(value / threshold)` replicas). The HPA never scales to zero; KEDA's scale executor
//! polls the triggers every `pollingInterval` and does, following
//! `pkg/scaling/executor/scale_scaledobjects.go`:
//!
//! * active (some trigger's value `> activationThreshold`): remember the poll as the last
//!   active time; at 0 replicas (or, with `idleReplicaCount`, below `minReplicaCount`) scale
//!   to `max(1, minReplicaCount)`, otherwise leave it to the HPA;
//! * inactive, with `idleReplicaCount` set and more replicas than that, or with replicas and
//!   `minReplicaCount = 0`: once the last active poll is more than `cooldownPeriod` ago (or
//!   there never was one) scale to `idleReplicaCount`, or to `minReplicaCount` (0);
//! * inactive without `idleReplicaCount` and below `minReplicaCount`: scale to
//!   `minReplicaCount`;
//! * otherwise leave it to the HPA (with `minReplicaCount > 0` and no `idleReplicaCount`,
//!   KEDA never scales down itself: the HPA holds at least `minReplicaCount`).
//!
//! Not modelled: `initialCooldownPeriod` (default 0: with no active poll yet, an idle target
//! is scaled down at the first poll), fallback, pausing and scaling modifiers.

use crate::units::Duration;
use serde::Deserialize;

/// One trigger: a metric and its thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KedaTriggerSpec {
    /// Name of the metric the simulator reports for this trigger (e.g. a queue length).
    pub metric: String,
    /// HPA target per replica (`AverageValue`).
    pub threshold: f64,
    /// The trigger is active when the metric exceeds this.
    pub activation_threshold: Option<f64>,
}

/// KEDA `ScaledObject` settings, as a scenario writes them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KedaSpec {
    /// Interval between two polls of the triggers.
    pub polling_interval: Option<Duration>,
    /// Time since the last active poll before scaling to zero (or to `idleReplicaCount`).
    pub cooldown_period: Option<Duration>,
    /// Fewest replicas; 0 allows scale to zero.
    pub min_replica_count: Option<i32>,
    /// Most replicas (the HPA's `maxReplicas`).
    pub max_replica_count: Option<i32>,
    /// Replicas while no trigger is active; must be less than `minReplicaCount`.
    pub idle_replica_count: Option<i32>,
    /// The triggers; at least one.
    #[serde(default)]
    pub triggers: Vec<KedaTriggerSpec>,
}

// KEDA defaults. Source: the ScaledObject specification (keda.sh docs,
// reference/scaledobject-spec) and pkg/scaling/executor (`defaultCooldownPeriod`).

/// `pollingInterval: 30  # Optional. Default: 30 seconds`.
pub const DEFAULT_POLLING_INTERVAL_S: f64 = 30.0;
/// `cooldownPeriod: 300  # Optional. Default: 300 seconds` (`defaultCooldownPeriod`).
pub const DEFAULT_COOLDOWN_PERIOD_S: f64 = 300.0;
/// `minReplicaCount  # Optional. Default: 0`.
pub const DEFAULT_MIN_REPLICA_COUNT: i32 = 0;
/// `maxReplicaCount: 100  # Optional. Default: 100` (`defaultHPAMaxReplicas`).
pub const DEFAULT_MAX_REPLICA_COUNT: i32 = 100;
/// Scaler `activationThreshold`: default 0 (docs, concepts/scaling-deployments, "Activating
/// and Scaling thresholds").
pub const DEFAULT_ACTIVATION_THRESHOLD: f64 = 0.0;
/// `defaultHPAMinReplicas = 1`: the HPA never goes below one replica.
pub const DEFAULT_HPA_MIN_REPLICAS: i32 = 1;

/// A resolved trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct KedaTrigger {
    /// Metric name, as the scenario gave it.
    pub metric: String,
    /// HPA `AverageValue` target.
    pub threshold: f64,
    /// Activation threshold.
    pub activation_threshold: f64,
}

/// Resolved KEDA settings: defaults filled in, durations in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct KedaConfig {
    /// Polling interval in seconds.
    pub polling_interval_s: f64,
    /// Cooldown period in seconds.
    pub cooldown_period_s: f64,
    /// `minReplicaCount`.
    pub min_replica_count: i32,
    /// `maxReplicaCount`.
    pub max_replica_count: i32,
    /// `idleReplicaCount`, if set.
    pub idle_replica_count: Option<i32>,
    /// The triggers.
    pub triggers: Vec<KedaTrigger>,
}

impl KedaSpec {
    /// Fills in KEDA's defaults and checks what KEDA's admission webhook checks.
    pub fn resolve(&self) -> Result<KedaConfig, String> {
        // Exact for whole seconds, unlike `SimTime::as_secs_f64` (a product with 1e-9).
        let secs = |v: Option<Duration>, def: f64| v.map_or(def, |x| x.0.nanos() as f64 / 1e9);
        let c = KedaConfig {
            polling_interval_s: secs(self.polling_interval, DEFAULT_POLLING_INTERVAL_S),
            cooldown_period_s: secs(self.cooldown_period, DEFAULT_COOLDOWN_PERIOD_S),
            min_replica_count: self.min_replica_count.unwrap_or(DEFAULT_MIN_REPLICA_COUNT),
            max_replica_count: self.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICA_COUNT),
            idle_replica_count: self.idle_replica_count,
            triggers: self
                .triggers
                .iter()
                .map(|t| KedaTrigger {
                    metric: t.metric.clone(),
                    threshold: t.threshold,
                    activation_threshold: t
                        .activation_threshold
                        .unwrap_or(DEFAULT_ACTIVATION_THRESHOLD),
                })
                .collect(),
        };
        if c.polling_interval_s.is_nan() || c.polling_interval_s <= 0.0 {
            return Err("pollingInterval must be positive".into());
        }
        if c.triggers.is_empty() {
            return Err("a KEDA autoscaler needs at least one trigger".into());
        }
        for t in &c.triggers {
            if t.threshold.is_nan() || t.threshold <= 0.0 || !t.threshold.is_finite() {
                return Err(format!(
                    "trigger `{}`: threshold must be positive, found {}",
                    t.metric, t.threshold
                ));
            }
            if !t.activation_threshold.is_finite() {
                return Err(format!(
                    "trigger `{}`: activationThreshold must be a number",
                    t.metric
                ));
            }
        }
        if c.min_replica_count < 0 {
            return Err("minReplicaCount must not be negative".into());
        }
        if c.max_replica_count < c.hpa_min_replicas() {
            return Err(format!(
                "minReplicaCount ({}) must not exceed maxReplicaCount ({})",
                c.hpa_min_replicas(),
                c.max_replica_count
            ));
        }
        if let Some(idle) = c.idle_replica_count
            && (idle < 0 || idle >= c.min_replica_count)
        {
            return Err(format!(
                "idleReplicaCount ({idle}) must be at least 0 and less than minReplicaCount ({})",
                c.min_replica_count
            ));
        }
        Ok(c)
    }
}

/// The External metric KEDA puts in the HPA for one trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaTarget {
    /// Metric name in the HPA: `s{index}-{metric}`.
    pub metric_name: String,
    /// Target value per replica (`target.type: AverageValue`).
    pub average_value: f64,
}

/// The HPA metric of trigger `index`: KEDA names it `s{index}-{metric}`
/// (`GenerateMetricNameWithIndex`) and targets the trigger's threshold as an `AverageValue`,
/// so the HPA asks for `ceil(metric value / threshold)` replicas.
pub fn hpa_target(index: usize, trigger: &KedaTrigger) -> HpaTarget {
    HpaTarget {
        metric_name: format!("s{index}-{}", trigger.metric),
        average_value: trigger.threshold,
    }
}

impl KedaConfig {
    /// The HPA's `minReplicas`: `minReplicaCount` when positive, else 1 (`getHPAMinReplicas`).
    pub fn hpa_min_replicas(&self) -> i32 {
        if self.min_replica_count > 0 {
            self.min_replica_count
        } else {
            DEFAULT_HPA_MIN_REPLICAS
        }
    }

    /// The HPA's `maxReplicas`: `maxReplicaCount`.
    pub fn hpa_max_replicas(&self) -> i32 {
        self.max_replica_count
    }

    /// The HPA's metrics, one per trigger, in trigger order.
    pub fn hpa_targets(&self) -> Vec<HpaTarget> {
        self.triggers
            .iter()
            .enumerate()
            .map(|(i, t)| hpa_target(i, t))
            .collect()
    }

    /// Replicas KEDA scales to on activation: `minReplicaCount` when positive, else 1.
    pub fn activation_replicas(&self) -> i32 {
        self.min_replica_count.max(1)
    }
}

/// What KEDA does at one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KedaAction {
    /// Set the target's replicas to this (0, `idleReplicaCount`, `minReplicaCount`, or the
    /// activation count `max(1, minReplicaCount)`).
    ScaleTo(i32),
    /// Nothing for KEDA to do: the HPA scales between its bounds.
    LeaveToHpa,
}

/// KEDA's scale executor for one `ScaledObject`.
#[derive(Debug, Clone)]
pub struct KedaActivation {
    cfg: KedaConfig,
    /// Time of the last poll that found a trigger active.
    last_active: Option<f64>,
}

impl KedaActivation {
    /// A new executor; no poll has found a trigger active yet.
    pub fn new(cfg: KedaConfig) -> Self {
        KedaActivation {
            cfg,
            last_active: None,
        }
    }

    /// The resolved settings.
    pub fn config(&self) -> &KedaConfig {
        &self.cfg
    }

    /// Period at which [`KedaActivation::poll`] should be called, in seconds.
    pub fn polling_interval_s(&self) -> f64 {
        self.cfg.polling_interval_s
    }

    /// Time of the last active poll.
    pub fn last_active(&self) -> Option<f64> {
        self.last_active
    }

    /// Whether a trigger is active: any value above its activation threshold.
    ///
    /// # Panics
    ///
    /// If `metric_values` does not hold one value per trigger.
    pub fn is_active(&self, metric_values: &[f64]) -> bool {
        assert_eq!(
            metric_values.len(),
            self.cfg.triggers.len(),
            "one metric value per KEDA trigger"
        );
        self.cfg
            .triggers
            .iter()
            .zip(metric_values)
            .any(|(t, &v)| v > t.activation_threshold)
    }

    /// One poll at `now_s`: `metric_values` holds one value per trigger, in order, and
    /// `current_replicas` is the target's replica count (its `spec.replicas`).
    pub fn poll(&mut self, now_s: f64, metric_values: &[f64], current_replicas: i32) -> KedaAction {
        let c = &self.cfg;
        let min = c.min_replica_count;
        if self.is_active(metric_values) {
            self.last_active = Some(now_s);
            let below_min_with_idle = c.idle_replica_count.is_some() && current_replicas < min;
            if below_min_with_idle || current_replicas == 0 {
                return KedaAction::ScaleTo(c.activation_replicas());
            }
            return KedaAction::LeaveToHpa;
        }
        let idle_above = c.idle_replica_count.is_some_and(|i| current_replicas > i);
        if idle_above || (current_replicas > 0 && min == 0) {
            // KEDA compares with `Before`: the cooldown must have strictly passed.
            let cooled = self
                .last_active
                .is_none_or(|t| t + c.cooldown_period_s < now_s);
            if cooled {
                return KedaAction::ScaleTo(c.idle_replica_count.unwrap_or(min));
            }
            return KedaAction::LeaveToHpa;
        }
        if c.idle_replica_count.is_none() && current_replicas < min {
            return KedaAction::ScaleTo(min);
        }
        KedaAction::LeaveToHpa
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> KedaConfig {
        let spec: KedaSpec = serde_saphyr::from_str(yaml).unwrap();
        spec.resolve().unwrap()
    }

    const ONE: &str = "triggers:\n  - metric: queue\n    threshold: 5\n";

    #[test]
    fn defaults_follow_the_scaledobject_spec() {
        let c = cfg(ONE);
        assert_eq!(c.polling_interval_s, 30.0);
        assert_eq!(c.cooldown_period_s, 300.0);
        assert_eq!(c.min_replica_count, 0);
        assert_eq!(c.max_replica_count, 100);
        assert_eq!(c.idle_replica_count, None);
        assert_eq!(c.triggers[0].activation_threshold, 0.0);
        assert_eq!(c.hpa_min_replicas(), 1);
        assert_eq!(c.hpa_max_replicas(), 100);
        assert_eq!(
            c.hpa_targets(),
            vec![HpaTarget {
                metric_name: "s0-queue".into(),
                average_value: 5.0
            }]
        );
    }

    #[test]
    fn spec_validation() {
        let parse = |y: &str| serde_saphyr::from_str::<KedaSpec>(y);
        let snake = parse("polling_interval: 10s\n").unwrap_err().to_string();
        assert!(snake.contains("unknown field"), "camelCase only: {snake}");
        let no_triggers = parse("pollingInterval: 10s\n").unwrap();
        assert!(no_triggers.resolve().is_err());
        // idleReplicaCount must be less than minReplicaCount (0 by default).
        let idle = parse(&format!("idleReplicaCount: 0\n{ONE}")).unwrap();
        assert!(idle.resolve().is_err());
        let ok = parse(&format!("idleReplicaCount: 0\nminReplicaCount: 2\n{ONE}")).unwrap();
        assert!(ok.resolve().is_ok());
        let minmax = parse(&format!("minReplicaCount: 5\nmaxReplicaCount: 3\n{ONE}")).unwrap();
        assert!(minmax.resolve().is_err());
    }

    /// Docs, cooldownPeriod: "The period to wait after the last trigger reported active
    /// before scaling the resource back to 0", and scaling from 1 to N is the HPA's.
    #[test]
    fn scales_to_zero_only_after_the_cooldown() {
        let mut k = KedaActivation::new(cfg(&format!("cooldownPeriod: 300s\n{ONE}")));
        assert_eq!(k.poll(0.0, &[12.0], 0), KedaAction::ScaleTo(1));
        assert_eq!(k.poll(30.0, &[40.0], 3), KedaAction::LeaveToHpa);
        // Idle from t = 60; the last active poll was at 30.
        assert_eq!(k.poll(60.0, &[0.0], 3), KedaAction::LeaveToHpa);
        assert_eq!(
            k.poll(330.0, &[0.0], 1),
            KedaAction::LeaveToHpa,
            "not strictly past"
        );
        assert_eq!(k.poll(360.0, &[0.0], 1), KedaAction::ScaleTo(0));
        assert_eq!(k.poll(390.0, &[0.0], 0), KedaAction::LeaveToHpa);
    }

    /// Docs, cooldownPeriod: "when you first create your Deployment ... KEDA will immediately
    /// scale it to minReplicaCount" (no active poll yet: no cooldown).
    #[test]
    fn idle_target_scaled_down_at_first_poll() {
        let mut k = KedaActivation::new(cfg(ONE));
        assert_eq!(k.poll(0.0, &[0.0], 2), KedaAction::ScaleTo(0));
    }

    /// Docs, activationThreshold: the scaler is active only when the value is above the
    /// activation threshold, whatever the scaling threshold.
    #[test]
    fn activation_threshold_gates_scale_from_zero() {
        let y = "triggers:\n  - metric: queue\n    threshold: 5\n    activationThreshold: 10\n  - metric: rps\n    threshold: 100\n";
        let mut k = KedaActivation::new(cfg(y));
        assert_eq!(k.poll(0.0, &[10.0, 0.0], 0), KedaAction::LeaveToHpa);
        assert_eq!(k.poll(30.0, &[10.5, 0.0], 0), KedaAction::ScaleTo(1));
        // Any trigger suffices.
        let mut k = KedaActivation::new(k.config().clone());
        assert_eq!(k.poll(0.0, &[0.0, 0.1], 0), KedaAction::ScaleTo(1));
        assert_eq!(k.config().hpa_targets()[1].metric_name, "s1-rps");
    }

    /// Docs, minReplicaCount: with a minimum above zero KEDA scales from zero to it and never
    /// scales down itself; the HPA keeps at least that many.
    #[test]
    fn min_replica_count_above_zero() {
        let mut k = KedaActivation::new(cfg(&format!("minReplicaCount: 2\n{ONE}")));
        assert_eq!(k.config().hpa_min_replicas(), 2);
        assert_eq!(k.poll(0.0, &[1.0], 0), KedaAction::ScaleTo(2));
        assert_eq!(k.poll(1000.0, &[0.0], 4), KedaAction::LeaveToHpa);
        // Below the minimum while idle: restored to it.
        assert_eq!(k.poll(2000.0, &[0.0], 1), KedaAction::ScaleTo(2));
    }

    /// Docs, idleReplicaCount: "If there's no activity on triggers the target resource is
    /// scaled down to idleReplicaCount (0), once there is an activity the target resource is
    /// immediately scaled to minReplicaCount (10)".
    #[test]
    fn idle_replica_count() {
        let y = format!("idleReplicaCount: 0\nminReplicaCount: 10\nmaxReplicaCount: 100\n{ONE}");
        let mut k = KedaActivation::new(cfg(&y));
        assert_eq!(k.poll(0.0, &[3.0], 0), KedaAction::ScaleTo(10));
        assert_eq!(k.poll(30.0, &[300.0], 40), KedaAction::LeaveToHpa);
        assert_eq!(k.poll(60.0, &[0.0], 40), KedaAction::LeaveToHpa);
        assert_eq!(k.poll(361.0, &[0.0], 10), KedaAction::ScaleTo(0));
        assert_eq!(k.poll(400.0, &[0.0], 0), KedaAction::LeaveToHpa);
    }
}
