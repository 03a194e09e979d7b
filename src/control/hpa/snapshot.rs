//! Snapshot files of `capsim hpa explain` (the format is in the docs of [`super`]): one sync
//! of a controller seeded with a written-down state.

use super::controller::{HpaController, Recommendation};
use super::io::{ControllerConfig, Decision, MetricInputs, PodPhase, PodSample};
use super::normalization::ScaleEvent;
use super::quantity::Quantity;
use super::quantity::format_milli;
use super::spec::HpaSpec;
use super::validation::{FieldError, validate};
use crate::units::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;

fn yes() -> bool {
    true
}

/// A pod in a snapshot.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodSnapshot {
    /// Pod name.
    pub name: String,
    /// Phase (default Running).
    #[serde(default)]
    pub phase: PodPhase,
    /// Ready condition (default true).
    #[serde(default = "yes")]
    pub ready: bool,
    /// Being deleted (default false).
    #[serde(default)]
    pub deleting: bool,
    /// Requests by resource (`CONTAINER/RESOURCE` for one container).
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    /// Resource metric samples.
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
    /// Pods-type custom metric samples.
    #[serde(default)]
    pub metrics: BTreeMap<String, Quantity>,
    /// How long ago the pod started (default: long ago).
    #[serde(default)]
    pub started: Option<Duration>,
    /// How long ago its Ready condition changed (default: when it started).
    #[serde(default)]
    pub ready_changed: Option<Duration>,
}

/// A past recommendation in a snapshot.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecommendationSnapshot {
    /// How long ago.
    pub ago: Duration,
    /// Replicas recommended.
    pub replicas: i32,
}

/// A past scale event in a snapshot.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScaleEventSnapshot {
    /// How long ago.
    pub ago: Duration,
    /// Pods added (positive) or removed (negative).
    pub change: i32,
}

/// Controller flags in a snapshot.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllerFlags {
    /// `--horizontal-pod-autoscaler-tolerance`.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    #[serde(default)]
    pub cpu_initialization_period: Option<Duration>,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    #[serde(default)]
    pub initial_readiness_delay: Option<Duration>,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`.
    #[serde(default)]
    pub downscale_stabilization: Option<Duration>,
    /// Window of resource metric samples.
    #[serde(default)]
    pub metric_window: Option<Duration>,
}

impl ControllerFlags {
    /// The configuration these flags give.
    pub fn config(&self) -> ControllerConfig {
        let d = ControllerConfig::default();
        let secs = |o: Option<Duration>, def: f64| o.map(|d| d.0.as_secs_f64()).unwrap_or(def);
        ControllerConfig {
            tolerance: self.tolerance.unwrap_or(d.tolerance),
            cpu_initialization_period: secs(
                self.cpu_initialization_period,
                d.cpu_initialization_period,
            ),
            initial_readiness_delay: secs(self.initial_readiness_delay, d.initial_readiness_delay),
            downscale_stabilization: secs(self.downscale_stabilization, d.downscale_stabilization),
            metric_window: secs(self.metric_window, d.metric_window),
        }
    }
}

/// An HPA snapshot: the spec, what the controller sees and its recent history.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The autoscaling/v2 spec.
    pub hpa: HpaSpec,
    /// The target's current replica count (`scale.spec.replicas`).
    #[serde(rename = "currentReplicas")]
    pub current_replicas: i32,
    /// Pods matched by the selector.
    #[serde(default)]
    pub pods: Vec<PodSnapshot>,
    /// Object metric values by name.
    #[serde(default)]
    pub object: BTreeMap<String, Quantity>,
    /// External metric values by name.
    #[serde(default)]
    pub external: BTreeMap<String, Quantity>,
    /// Recent recommendations.
    #[serde(default)]
    pub recommendations: Vec<RecommendationSnapshot>,
    /// Recent scale events.
    #[serde(default)]
    pub scale_events: Vec<ScaleEventSnapshot>,
    /// Controller flags.
    #[serde(default)]
    pub controller: ControllerFlags,
}

/// "Long ago" for a pod without `started`: past any initialization period.
const LONG_AGO_S: f64 = 30.0 * 86400.0;

impl Snapshot {
    /// What the API server and metrics-server would never hand the controller, with paths
    /// from the snapshot's root: a negative `currentReplicas`, a pod name listed twice (names
    /// are unique in a namespace), a negative request or resource usage (the API server
    /// refuses negative requests; usage is measured, never below 0). Without these checks a
    /// request of `-500m` gives a utilization of "-28%" and a decision from it.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut error = |path: String, message: String| errors.push(FieldError { path, message });
        if self.current_replicas < 0 {
            error(
                "currentReplicas".into(),
                "must be greater than or equal to 0".into(),
            );
        }
        let mut first_index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, pod) in self.pods.iter().enumerate() {
            let first = *first_index.entry(&pod.name).or_insert(i);
            if first != i {
                error(
                    format!("pods[{i}].name"),
                    format!(
                        "the pod `{}` is listed twice (first as pods[{first}]); pod names are unique in a namespace",
                        pod.name
                    ),
                );
            }
            let negative = [
                ("requests", &pod.requests, "a request"),
                ("usage", &pod.usage, "resource usage"),
            ];
            for (field, map, what) in negative {
                for (resource, q) in map.iter().filter(|(_, q)| q.0 < 0) {
                    error(
                        format!("pods[{i}].{field}.{resource}"),
                        format!("{what} cannot be negative, found {}", format_milli(q.0)),
                    );
                }
            }
        }
        errors
    }

    /// The pods as the controller sees them.
    pub fn pod_samples(&self) -> Vec<PodSample> {
        let milli = |m: &BTreeMap<String, Quantity>| -> BTreeMap<String, i64> {
            m.iter().map(|(k, v)| (k.clone(), v.0)).collect()
        };
        self.pods
            .iter()
            .map(|p| {
                let started = p.started.map(|d| d.0.as_secs_f64()).unwrap_or(LONG_AGO_S);
                PodSample {
                    name: p.name.clone(),
                    phase: p.phase,
                    ready: p.ready,
                    deleting: p.deleting,
                    started_ago: started,
                    ready_changed_ago: p
                        .ready_changed
                        .map(|d| d.0.as_secs_f64())
                        .unwrap_or(started),
                    requests: milli(&p.requests),
                    usage: milli(&p.usage),
                    pod_metrics: milli(&p.metrics),
                }
            })
            .collect()
    }
}

/// One decision from a snapshot, as the controller would make it now.
///
/// Errors: an invalid spec (the first validation error, `field: message`), the first
/// problem [`Snapshot::check`] finds, or metrics from which no replica count can be computed.
pub fn explain(snapshot: &Snapshot) -> Result<Decision, String> {
    if let Some(e) = validate(&snapshot.hpa).first() {
        return Err(format!("hpa.{}: {}", e.path, e.message));
    }
    if let Some(e) = snapshot.check().first() {
        return Err(format!("{}: {}", e.path, e.message));
    }
    let mut c = HpaController::with_config(snapshot.hpa.clone(), snapshot.controller.config());
    // Times are seconds on a clock where the decision happens at 0.
    let recs = snapshot
        .recommendations
        .iter()
        .map(|r| Recommendation {
            at: -r.ago.0.as_secs_f64(),
            replicas: r.replicas,
        })
        .collect();
    let events: Vec<ScaleEvent> = snapshot
        .scale_events
        .iter()
        .map(|e| ScaleEvent {
            at: -e.ago.0.as_secs_f64(),
            change: e.change,
        })
        .collect();
    c.seed_history(recs, &events);
    let inputs = MetricInputs {
        object: snapshot
            .object
            .iter()
            .map(|(k, v)| (k.clone(), v.0))
            .collect(),
        external: snapshot
            .external
            .iter()
            .map(|(k, v)| (k.clone(), v.0))
            .collect(),
    };
    let pods = snapshot.pod_samples();
    c.try_sync(0.0, snapshot.current_replicas, &pods, &inputs)
        .map_err(|(_, _, e)| format!("the HPA cannot compute a replica count: {e}"))
}
