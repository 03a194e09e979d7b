//! What the controller reads (pods, Object and External metric values, its flags) and what
//! it decides.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A pod's phase.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum PodPhase {
    /// Not yet running (scheduling, pulling images).
    Pending,
    /// Running.
    #[default]
    Running,
    /// Ended successfully.
    Succeeded,
    /// Ended in failure.
    Failed,
}

/// What the controller sees of one pod matched by the HPA's selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodSample {
    /// Pod name (for messages).
    pub name: String,
    /// Phase.
    pub phase: PodPhase,
    /// The Ready condition.
    pub ready: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Seconds since the pod started.
    pub started_ago: f64,
    /// Seconds since its Ready condition last changed.
    pub ready_changed_ago: f64,
    /// Resource requests summed over containers, milli-units, by resource name
    /// (`CONTAINER/RESOURCE` for one container).
    pub requests: BTreeMap<String, i64>,
    /// Resource metric samples, milli-units; a missing key means no sample.
    pub usage: BTreeMap<String, i64>,
    /// Pods-type custom metric samples by metric name, milli-units; missing means no sample.
    pub pod_metrics: BTreeMap<String, i64>,
}

/// Object and External metric values, milli-units, by metric name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricInputs {
    /// Object metrics.
    pub object: BTreeMap<String, i64>,
    /// External metrics (the sum over the selected series).
    pub external: BTreeMap<String, i64>,
}

/// What one metric proposed.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    /// Upstream-style description, e.g. `cpu resource utilization (percentage of request)`.
    pub name: String,
    /// Utilization in percent for Utilization targets, else the (average) value in units.
    pub current_value: f64,
    /// Current over target, as first computed (before any rebalancing).
    pub ratio: f64,
    /// Proposed replica count.
    pub proposal: i32,
}

/// One decision of the controller.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The replica count the controller sets (the current one when it does not scale).
    pub desired: i32,
    /// Per-metric proposals (metrics that could not be computed are left out; see `steps`).
    pub metrics: Vec<MetricResult>,
    /// Upstream's reason for the final step: `DesiredWithinRange`, `ScaleUpLimit`,
    /// `ScaleDownLimit`, `TooManyReplicas`, `TooFewReplicas`, `ScaleUpStabilized`,
    /// `ScaleDownStabilized`, `ScalingDisabled` or `FailedComputeMetricsReplicas`.
    pub limited_by: String,
    /// Human reasoning, one line per step.
    pub steps: Vec<String>,
}

/// kube-controller-manager's HPA settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControllerConfig {
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`, seconds (300).
    pub cpu_initialization_period: f64,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`, seconds (30).
    pub initial_readiness_delay: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, seconds (300).
    pub downscale_stabilization: f64,
    /// Window of the resource metric samples, seconds (15, metrics-server's resolution).
    pub metric_window: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            tolerance: 0.1,
            cpu_initialization_period: 300.0,
            initial_readiness_delay: 30.0,
            downscale_stabilization: 300.0,
            metric_window: 15.0,
        }
    }
}
