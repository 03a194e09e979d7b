//! The controller: one HPA's sync loop (horizontal.go's `reconcileAutoscaler`) and the history
//! it keeps in memory between syncs.

use super::defaults::{Rules, default_metrics, default_rules};
use super::io::{ControllerConfig, Decision, MetricInputs, MetricResult, PodSample};
use super::normalization::ScaleEvent;
use super::replica_calculator::{Calc, Tolerances};
use super::spec::{HpaSpec, MetricSpec};
use super::validation::{MAX_PERIOD_SECONDS, MAX_STABILIZATION_WINDOW_SECONDS};

/// A past recommendation: when and how many replicas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recommendation {
    /// Time it was made.
    pub at: f64,
    /// Replicas recommended (before normalization).
    pub replicas: i32,
}

/// One HPA's controller state, driven by the simulator every sync period (15 s upstream).
#[derive(Clone, Debug)]
pub struct HpaController {
    // pub(super): normalization.rs reads the spec, flags and rules.
    pub(super) spec: HpaSpec,
    metrics: Vec<MetricSpec>,
    pub(super) cfg: ControllerConfig,
    pub(super) up_rules: Rules,
    pub(super) down_rules: Rules,
    // pub(super): the tests start a controller as if it had run before.
    pub(super) initialized: bool,
    /// Recent unnormalized recommendations.
    pub recommendations: Vec<Recommendation>,
    /// Recent scale-ups (kept only with `behavior`, as upstream).
    pub scale_up_events: Vec<ScaleEvent>,
    /// Recent scale-downs (kept only with `behavior`, as upstream).
    pub scale_down_events: Vec<ScaleEvent>,
}

impl HpaController {
    /// A controller with the default flags and `downscale_stabilization` seconds (300).
    pub fn new(spec: HpaSpec, downscale_stabilization: f64) -> Self {
        Self::with_config(
            spec,
            ControllerConfig {
                downscale_stabilization,
                ..ControllerConfig::default()
            },
        )
    }

    /// A controller with the given flags. The spec should have passed [`validate`](super::validate).
    pub fn with_config(spec: HpaSpec, cfg: ControllerConfig) -> Self {
        let b = spec.behavior.clone().unwrap_or_default();
        let up_rules = default_rules(b.scale_up.as_ref(), true, 0.0);
        let down_rules = default_rules(b.scale_down.as_ref(), false, cfg.downscale_stabilization);
        let metrics = if spec.metrics.is_empty() {
            default_metrics()
        } else {
            spec.metrics.clone()
        };
        HpaController {
            spec,
            metrics,
            cfg,
            up_rules,
            down_rules,
            initialized: false,
            recommendations: vec![],
            scale_up_events: vec![],
            scale_down_events: vec![],
        }
    }

    /// Seeds the history, as if the controller had been running (used by [`explain`](super::explain)).
    pub fn seed_history(&mut self, recommendations: Vec<Recommendation>, events: &[ScaleEvent]) {
        self.initialized |= !recommendations.is_empty();
        self.recommendations = recommendations;
        for e in events {
            if e.change > 0 {
                self.scale_up_events.push(*e);
            } else if e.change < 0 {
                self.scale_down_events.push(ScaleEvent {
                    at: e.at,
                    change: -e.change,
                });
            }
        }
    }

    /// The effective scale-up rules (after defaults).
    pub fn scale_up_rules(&self) -> &Rules {
        &self.up_rules
    }

    /// The effective scale-down rules (after defaults).
    pub fn scale_down_rules(&self) -> &Rules {
        &self.down_rules
    }

    /// One sync: decides, records the recommendation and, if it scales, the scale event.
    /// When no replica count can be computed the count stays, with `limited_by`
    /// `FailedComputeMetricsReplicas` and the error in `steps`.
    pub fn sync(
        &mut self,
        now_s: f64,
        current_replicas: i32,
        pods: &[PodSample],
        inputs: &MetricInputs,
    ) -> Decision {
        match self.try_sync(now_s, current_replicas, pods, inputs) {
            Ok(d) => d,
            Err((metrics, mut steps, e)) => {
                steps.push(format!(
                    "failed to compute desired number of replicas based on listed metrics: {e}; keeping {current_replicas}"
                ));
                Decision {
                    desired: current_replicas,
                    metrics,
                    limited_by: "FailedComputeMetricsReplicas".into(),
                    steps,
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn try_sync(
        &mut self,
        now: f64,
        current: i32,
        pods: &[PodSample],
        inputs: &MetricInputs,
    ) -> Result<Decision, (Vec<MetricResult>, Vec<String>, String)> {
        if !self.initialized {
            // recordInitialRecommendation: a fresh controller remembers the current count.
            self.recommendations.push(Recommendation {
                at: now,
                replicas: current,
            });
            self.initialized = true;
        }
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        let mut steps = Vec::new();
        if current == 0 && min != 0 {
            steps.push("scaling is disabled since the replica count of the target is zero".into());
            return Ok(Decision {
                desired: 0,
                metrics: vec![],
                limited_by: "ScalingDisabled".into(),
                steps,
            });
        }
        if current > max || current < min {
            let (desired, reason, text) = if current > max {
                (max, "TooManyReplicas", "above maxReplicas")
            } else {
                (min, "TooFewReplicas", "below minReplicas")
            };
            steps.push(format!(
                "current number of replicas {current} is {text}: set to {desired} without looking at metrics"
            ));
            self.store_scale_event(now, current, desired);
            return Ok(Decision {
                desired,
                metrics: vec![],
                limited_by: reason.into(),
                steps,
            });
        }

        let b = self.spec.behavior.is_some();
        let tol = Tolerances {
            down: self
                .down_rules
                .tolerance
                .filter(|_| b)
                .unwrap_or(self.cfg.tolerance),
            up: self
                .up_rules
                .tolerance
                .filter(|_| b)
                .unwrap_or(self.cfg.tolerance),
        };
        let calc = Calc {
            cfg: &self.cfg,
            tol,
            current,
            pods,
        };
        let mut results = Vec::new();
        let mut proposal: Option<(i32, String)> = None;
        let mut first_error: Option<String> = None;
        let mut invalid = 0;
        for m in &self.metrics {
            match calc.metric(m, inputs) {
                Ok(p) => {
                    steps.push(p.note);
                    if proposal.as_ref().is_none_or(|(r, _)| p.replicas > *r) {
                        proposal = Some((p.replicas, p.result.name.clone()));
                    }
                    results.push(p.result);
                }
                Err(e) => {
                    steps.push(format!("metric {} failed: {e}", m.type_));
                    invalid += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        let n = self.metrics.len();
        let prenormalized = proposal.as_ref().map(|p| p.0).unwrap_or(0);
        // Upstream refuses to decide when every metric failed, and also when some failed and
        // the rest would scale down (the failing one might have wanted more).
        if invalid >= n || (invalid > 0 && prenormalized < current) {
            let e = format!(
                "invalid metrics ({invalid} invalid out of {n}), first error is: {}",
                first_error.unwrap_or_default()
            );
            return Err((results, steps, e));
        }
        let (_, from) = proposal.unwrap_or_default();
        steps.push(format!(
            "largest proposal: {prenormalized} replicas (from {from}); current {current}"
        ));

        let (desired, limited_by) = if b {
            self.normalize_with_behaviors(now, current, prenormalized, &mut steps)
        } else {
            self.normalize(now, current, prenormalized, &mut steps)
        };
        if desired != current {
            self.store_scale_event(now, current, desired);
            steps.push(format!("scale from {current} to {desired}"));
        } else {
            steps.push(format!("keep {current} replicas"));
        }
        Ok(Decision {
            desired,
            metrics: results,
            limited_by,
            steps,
        })
    }

    pub(super) fn prune(&mut self, now: f64) {
        // Nothing older than the longest window or period can matter again.
        let horizon = f64::from(MAX_STABILIZATION_WINDOW_SECONDS)
            .max(self.cfg.downscale_stabilization)
            .max(self.up_rules.window_seconds)
            .max(self.down_rules.window_seconds);
        self.recommendations.retain(|r| now - r.at <= horizon);
        let period = f64::from(MAX_PERIOD_SECONDS);
        self.scale_up_events.retain(|e| now - e.at <= period);
        self.scale_down_events.retain(|e| now - e.at <= period);
    }

    /// `storeScaleEvent`: only with `behavior`, whose policies are the only readers.
    fn store_scale_event(&mut self, now: f64, prev: i32, new: i32) {
        if self.spec.behavior.is_none() || prev == new {
            return;
        }
        self.prune(now);
        if new > prev {
            self.scale_up_events.push(ScaleEvent {
                at: now,
                change: new - prev,
            });
        } else {
            self.scale_down_events.push(ScaleEvent {
                at: now,
                change: prev - new,
            });
        }
    }
}
