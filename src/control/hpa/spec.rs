//! The autoscaling/v2 `HorizontalPodAutoscalerSpec` as serde reads it, with upstream's field
//! names (k8s.io/api/autoscaling/v2/types.go), and the older versions' fields that
//! [`validate`](super::validate) refuses with a hint.

use super::quantity::Quantity;
use serde::Deserialize;
use serde::de::IgnoredAny;

fn one() -> i32 {
    1
}

/// An autoscaling/v2 `HorizontalPodAutoscalerSpec` (upstream field names).
///
/// Fields of older API versions that users paste by habit are read so that [`validate`](super::validate) can
/// name the version they belong to and what v2 expects instead.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaSpec {
    /// The scaled object; accepted and ignored (the snapshot lists the pods directly).
    #[serde(default)]
    pub scale_target_ref: Option<IgnoredAny>,
    /// Lower bound on replicas (default 1).
    #[serde(default = "one")]
    pub min_replicas: i32,
    /// Upper bound on replicas.
    pub max_replicas: i32,
    /// The metrics to scale on; empty means the API server's default, CPU at 80%.
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    /// Scaling behavior; absent means the legacy algorithm (see the module docs).
    #[serde(default)]
    pub behavior: Option<Behavior>,
    /// autoscaling/v1 field, refused with a hint.
    #[serde(default, rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: Option<IgnoredAny>,
}

/// One metric of an HPA: `type` names which of the sources is filled in.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    /// `Resource`, `Pods`, `Object`, `External` or `ContainerResource`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// A resource of the pods (cpu, memory) against their requests.
    #[serde(default)]
    pub resource: Option<ResourceMetricSource>,
    /// A custom metric averaged over the pods.
    #[serde(default)]
    pub pods: Option<PodsMetricSource>,
    /// A metric of one Kubernetes object.
    #[serde(default)]
    pub object: Option<ObjectMetricSource>,
    /// A metric from outside the cluster.
    #[serde(default)]
    pub external: Option<ExternalMetricSource>,
    /// A resource of one container of the pods.
    #[serde(default)]
    pub container_resource: Option<ContainerResourceMetricSource>,
}

/// `resource:` metric source.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMetricSource {
    /// Resource name, e.g. `cpu`.
    #[serde(default)]
    pub name: String,
    /// The target (required).
    #[serde(default)]
    pub target: Option<MetricTarget>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_utilization: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_value: Option<IgnoredAny>,
}

/// `containerResource:` metric source.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceMetricSource {
    /// Resource name, e.g. `cpu`.
    #[serde(default)]
    pub name: String,
    /// Container name.
    #[serde(default)]
    pub container: String,
    /// The target (required).
    #[serde(default)]
    pub target: Option<MetricTarget>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_utilization: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_value: Option<IgnoredAny>,
}

/// A metric's name and optional label selector.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricIdentifier {
    /// Metric name.
    #[serde(default)]
    pub name: String,
    /// Label selector; accepted and ignored (the snapshot gives values per name).
    #[serde(default)]
    pub selector: Option<IgnoredAny>,
}

/// `pods:` metric source.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodsMetricSource {
    /// The metric (required).
    #[serde(default)]
    pub metric: Option<MetricIdentifier>,
    /// The target (required, AverageValue).
    #[serde(default)]
    pub target: Option<MetricTarget>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub metric_name: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_value: Option<IgnoredAny>,
}

/// `object:` metric source.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMetricSource {
    /// The object the metric describes (required: kind and name).
    #[serde(default)]
    pub described_object: Option<ObjectReference>,
    /// The metric (required).
    #[serde(default)]
    pub metric: Option<MetricIdentifier>,
    /// The target (required, Value or AverageValue).
    #[serde(default)]
    pub target: Option<MetricTarget>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub metric_name: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_value: Option<IgnoredAny>,
}

/// A `CrossVersionObjectReference`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectReference {
    /// Kind, e.g. `Ingress`.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// API version; optional.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// `external:` metric source.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalMetricSource {
    /// The metric (required).
    #[serde(default)]
    pub metric: Option<MetricIdentifier>,
    /// The target (required, Value or AverageValue).
    #[serde(default)]
    pub target: Option<MetricTarget>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub metric_name: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub metric_selector: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_value: Option<IgnoredAny>,
    /// autoscaling/v2beta1 field, refused with a hint.
    #[serde(default)]
    pub target_average_value: Option<IgnoredAny>,
}

/// A metric target: `type` and the matching value.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    /// `Utilization`, `Value` or `AverageValue`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Total value (Object, External).
    #[serde(default)]
    pub value: Option<Quantity>,
    /// Per-pod average value.
    #[serde(default)]
    pub average_value: Option<Quantity>,
    /// Percentage of the pods' requests (Resource, ContainerResource).
    #[serde(default)]
    pub average_utilization: Option<i32>,
}

/// `behavior:` scaling rules per direction.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    /// Rules for scaling up (defaults: window 0, Pods 4 / 15 s and Percent 100 / 15 s, Max).
    #[serde(default)]
    pub scale_up: Option<ScalingRules>,
    /// Rules for scaling down (defaults: window = downscale stabilization, Percent 100 / 15 s).
    #[serde(default)]
    pub scale_down: Option<ScalingRules>,
}

/// `HPAScalingRules`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingRules {
    /// Seconds of past recommendations to consider (0..=3600).
    #[serde(default)]
    pub stabilization_window_seconds: Option<i32>,
    /// `Max` (default), `Min` or `Disabled`.
    #[serde(default)]
    pub select_policy: Option<String>,
    /// The policies; absent means the defaults.
    #[serde(default)]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// Per-direction tolerance (Kubernetes 1.33+); absent means the controller's.
    #[serde(default)]
    pub tolerance: Option<Quantity>,
}

/// `HPAScalingPolicy`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingPolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// Pods or percent per period (> 0).
    #[serde(default)]
    pub value: i32,
    /// Period length in seconds (1..=1800).
    #[serde(default)]
    pub period_seconds: i32,
}
