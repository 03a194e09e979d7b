//! The Kubernetes HorizontalPodAutoscaler (autoscaling/v2), decided as
//! `kube-controller-manager` decides it (pkg/controller/podautoscaler).
//!
//! One sync of the controller, in the order upstream runs it:
//!
//! 1. **Bounds first.** A target at 0 replicas with `minReplicas > 0` is not scaled (scaling
//!    disabled); above `maxReplicas` it goes to `maxReplicas`, below `minReplicas` to
//!    `minReplicas`, without looking at metrics.
//! 2. **Replica calculator**, per metric (the largest proposal wins):
//!    - pods being deleted and `Failed` pods are ignored; `Pending` pods are unready; pods with
//!      no sample are "missing"; for `cpu` only, a pod is also unready if it is within the CPU
//!      initialization period and either not Ready or its readiness changed less than one metric
//!      window ago, or, after that period, if it is not Ready and never was (its Ready condition
//!      last changed within the initial readiness delay of its start);
//!    - `ratio = current / target` over the ready pods (utilization is the integer percentage
//!      `100 * sum(usage) / sum(requests)`, average values are integer milli-unit means);
//!    - within the tolerance (default 0.1) nothing changes; with no unready or missing pods the
//!      proposal is `ceil(ratio * ready)`;
//!    - otherwise missing pods count as 0 on scale-up and as the target (for utilization,
//!      `max(100%, target)` of their request) on scale-down, unready pods count as 0 on
//!      scale-up, the ratio is recomputed, and if it is within tolerance or changes direction
//!      (or the new count would move the other way) the current count is kept;
//!    - `Object`/`External` `Value` targets use `ceil(ratio * ready pods)`; `AverageValue`
//!      targets use `ceil(total / target)`;
//!    - if every metric fails, or some fail and the others would scale down, nothing changes.
//! 3. **Normalization.** Without `behavior`: the maximum recommendation of the downscale
//!    stabilization window (default 5 min), then at most `max(2 x current, 4)`, then
//!    `minReplicas..=maxReplicas`. With `behavior`: the recommendation is clamped between the
//!    minimum over the scale-up window and the maximum over the scale-down window, then the
//!    policies limit the change relative to the replica count at the start of each policy's
//!    period (`selectPolicy` Max, Min or Disabled), then `minReplicas..=maxReplicas`.
//!
//! [`HpaController`] keeps the recommendation history and scale events between syncs, as the
//! controller does in memory; [`explain`] runs one sync from a [`Snapshot`].
//!
//! # Snapshot file (`capsim hpa explain`)
//!
//! ```yaml
//! hpa:                      # an autoscaling/v2 HorizontalPodAutoscaler spec (upstream names)
//!   minReplicas: 1
//!   maxReplicas: 10
//!   metrics:
//!     - type: Resource
//!       resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
//! currentReplicas: 3
//! pods:                     # every pod the HPA's selector matches
//!   - name: web-0
//!     phase: Running        # Pending | Running | Succeeded | Failed (default Running)
//!     ready: true           # default true
//!     deleting: false       # has a deletionTimestamp (default false)
//!     requests: {cpu: 500m} # resource requests, summed over the pod's containers;
//!                           # for ContainerResource metrics write `CONTAINER/RESOURCE: ...`
//!     usage: {cpu: 250m}    # resource metrics; absent key: no sample for this pod
//!     metrics: {qps: "12"}  # Pods-type custom metrics; absent key: no sample
//!     started: 10m          # how long ago the pod started (default: long ago)
//!     ready_changed: 9m     # how long ago its Ready condition changed (default: `started`)
//! object: {requests_per_second: 2k}   # Object metric values, by metric name
//! external: {queue_length: "30"}      # External metric values (the sum over series), by name
//! recommendations:          # the controller's recent recommendations: how long ago, replicas
//!   - {ago: 2m, replicas: 4}           # empty: a freshly started controller, which records
//!                                      # the current count as its first recommendation
//! scale_events:             # recent scalings: how long ago, +/- pods (used with `behavior`)
//!   - {ago: 30s, change: 2}
//! controller:               # kube-controller-manager flags, all optional
//!   tolerance: 0.1                     # --horizontal-pod-autoscaler-tolerance
//!   cpuInitializationPeriod: 5m        # --horizontal-pod-autoscaler-cpu-initialization-period
//!   initialReadinessDelay: 30s         # --horizontal-pod-autoscaler-initial-readiness-delay
//!   downscaleStabilization: 5m         # --horizontal-pod-autoscaler-downscale-stabilization
//!   metricWindow: 15s                  # the resource metrics' sampling window (metrics-server)
//! ```
//!
//! Quantities (`500m`, `"0.6"`, `30`, `2k`, `1Gi`) follow Kubernetes `resource.Quantity` and
//! are kept in milli-units, as the controller computes with `MilliValue()`. Resource metric
//! samples are taken to be fresh (timestamp = now) with window `metricWindow`.

mod controller;
mod defaults;
mod io;
mod normalization;
mod quantity;
mod replica_calculator;
mod snapshot;
mod spec;
mod validation;

#[cfg(test)]
mod tests;

pub use controller::{HpaController, Recommendation};
pub use defaults::{Policy, Rules, SelectPolicy, default_rules};
pub use io::{ControllerConfig, Decision, MetricInputs, MetricResult, PodPhase, PodSample};
pub use normalization::{
    RateArgs, ScaleEvent, convert_desired_with_rules, convert_with_behavior_rate, scale_down_limit,
    scale_up_limit,
};
pub use quantity::{Quantity, format_milli, parse_quantity};
pub use replica_calculator::Tolerances;
pub use snapshot::{
    ControllerFlags, PodSnapshot, RecommendationSnapshot, ScaleEventSnapshot, Snapshot, explain,
};
pub use spec::{
    Behavior, ContainerResourceMetricSource, ExternalMetricSource, HpaSpec, MetricIdentifier,
    MetricSpec, MetricTarget, ObjectMetricSource, ObjectReference, PodsMetricSource,
    ResourceMetricSource, ScalingPolicy, ScalingRules,
};
pub use validation::{FieldError, MAX_PERIOD_SECONDS, MAX_STABILIZATION_WINDOW_SECONDS, validate};
