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

use crate::units::Duration;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use std::collections::BTreeMap;
use std::fmt;

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------

/// Parses a Kubernetes quantity (`500m`, `0.6`, `2k`, `1Gi`, `1e3`) into milli-units,
/// rounding up as `Quantity.MilliValue()` does.
pub fn parse_quantity(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("expected a quantity such as `500m`, `0.6`, `2k` or `1Gi`, found `{s}`");
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(bad());
    }
    let mantissa: i128 = digits.parse().map_err(|_| bad())?;
    // value = mantissa * 10^exp10 * 2^exp2
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        e if e.starts_with(['e', 'E']) => {
            exp10 += e[1..].parse::<i32>().map_err(|_| bad())?;
        }
        _ => return Err(bad()),
    }
    let too_big = || format!("the quantity `{s}` is too large");
    // To milli-units: one more factor 10^3.
    exp10 += 3;
    let mut v = mantissa.checked_mul(1i128 << exp2).ok_or_else(too_big)?;
    if exp10 >= 0 {
        let p = 10i128.checked_pow(exp10 as u32).ok_or_else(too_big)?;
        v = v.checked_mul(p).ok_or_else(too_big)?;
    } else {
        let p = 10i128.checked_pow((-exp10) as u32).unwrap_or(i128::MAX);
        // Round up (towards +inf for positive values), as MilliValue does.
        v = (v + p - 1) / p;
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| too_big())
}

/// A Kubernetes quantity in milli-units; written as a string (`"500m"`) or a number (`30`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity such as `500m`, `0.6` or `2k`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse_quantity(v).map(Quantity).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                v.checked_mul(1000)
                    .map(Quantity)
                    .ok_or_else(|| E::custom(format!("the quantity {v} is too large")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom(format!("the quantity {v} is too large")))
                    .and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                parse_quantity(&format!("{v}"))
                    .map(Quantity)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Formats milli-units the way `kubectl` shows them: whole units when exact, else `NNNm`.
pub fn format_milli(v: i64) -> String {
    if v % 1000 == 0 {
        format!("{}", v / 1000)
    } else {
        format!("{v}m")
    }
}

// ---------------------------------------------------------------------------------------
// Spec types (autoscaling/v2)
// ---------------------------------------------------------------------------------------

fn one() -> i32 {
    1
}

/// An autoscaling/v2 `HorizontalPodAutoscalerSpec` (upstream field names).
///
/// Fields of older API versions that users paste by habit are read so that [`validate`] can
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

// ---------------------------------------------------------------------------------------
// Validation (pkg/apis/autoscaling/validation)
// ---------------------------------------------------------------------------------------

/// A validation error: the field path relative to the spec (`metrics[0].resource.name`) and
/// the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path inside the HPA spec.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Longest policy period the API server accepts.
pub const MAX_PERIOD_SECONDS: i32 = 1800;
/// Longest stabilization window the API server accepts.
pub const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;

const METRIC_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

fn unsupported(value: &str, supported: &[&str]) -> String {
    let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "Unsupported value: \"{value}\": supported values: {}",
        list.join(", ")
    )
}

/// Checks a spec as the API server does (minReplicas >= 1: the HPAScaleToZero feature gate
/// is off by default), and refuses fields of older API versions with a hint.
pub fn validate(spec: &HpaSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut err = |path: String, message: String| errs.push(FieldError { path, message });
    if spec.target_cpu_utilization_percentage.is_some() {
        err(
            "targetCPUUtilizationPercentage".into(),
            "`targetCPUUtilizationPercentage` is an autoscaling/v1 field; in autoscaling/v2 write \
             `metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]`"
                .into(),
        );
    }
    if spec.min_replicas < 1 {
        err(
            "minReplicas".into(),
            "must be greater than or equal to 1".into(),
        );
    }
    if spec.max_replicas < 1 {
        err("maxReplicas".into(), "must be greater than 0".into());
    } else if spec.max_replicas < spec.min_replicas {
        err(
            "maxReplicas".into(),
            "must be greater than or equal to `minReplicas`".into(),
        );
    }
    for (i, m) in spec.metrics.iter().enumerate() {
        validate_metric(m, &format!("metrics[{i}]"), &mut err);
    }
    if let Some(b) = &spec.behavior {
        for (dir, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            if let Some(r) = rules {
                validate_rules(r, &format!("behavior.{dir}"), &mut err);
            }
        }
    }
    errs
}

fn legacy(field: &str, version: &str, instead: &str) -> String {
    format!("`{field}` is an {version} field; in autoscaling/v2 write `{instead}`")
}

fn validate_metric(m: &MetricSpec, at: &str, err: &mut impl FnMut(String, String)) {
    if m.type_.is_empty() {
        err(
            format!("{at}.type"),
            "Required value: must specify a metric source type".into(),
        );
    } else if !METRIC_TYPES.contains(&m.type_.as_str()) {
        err(format!("{at}.type"), unsupported(&m.type_, &METRIC_TYPES));
    }
    let present: Vec<&str> = [
        ("object", m.object.is_some()),
        ("external", m.external.is_some()),
        ("pods", m.pods.is_some()),
        ("resource", m.resource.is_some()),
        ("containerResource", m.container_resource.is_some()),
    ]
    .into_iter()
    .filter(|(_, p)| *p)
    .map(|(n, _)| n)
    .collect();
    // Upstream validates the first source present only.
    match present.first().copied() {
        Some("object") => validate_object(m.object.as_ref().unwrap(), &format!("{at}.object"), err),
        Some("external") => {
            validate_external(m.external.as_ref().unwrap(), &format!("{at}.external"), err)
        }
        Some("pods") => validate_pods(m.pods.as_ref().unwrap(), &format!("{at}.pods"), err),
        Some("resource") => {
            let r = m.resource.as_ref().unwrap();
            let p = format!("{at}.resource");
            if r.target_average_utilization.is_some() {
                err(
                    format!("{p}.targetAverageUtilization"),
                    legacy(
                        "targetAverageUtilization",
                        "autoscaling/v2beta1",
                        "target: {type: Utilization, averageUtilization: 60}",
                    ),
                );
            }
            if r.target_average_value.is_some() {
                err(
                    format!("{p}.targetAverageValue"),
                    legacy(
                        "targetAverageValue",
                        "autoscaling/v2beta1",
                        "target: {type: AverageValue, averageValue: 500m}",
                    ),
                );
            }
            if r.name.is_empty() {
                err(
                    format!("{p}.name"),
                    "Required value: must specify a resource name".into(),
                );
            }
            validate_utilization_target(r.target.as_ref(), &p, err);
        }
        Some(_) => {
            let r = m.container_resource.as_ref().unwrap();
            let p = format!("{at}.containerResource");
            if r.target_average_utilization.is_some() || r.target_average_value.is_some() {
                err(
                    format!("{p}.target"),
                    legacy(
                        "targetAverageUtilization/targetAverageValue",
                        "autoscaling/v2beta2",
                        "target: {type: Utilization, averageUtilization: 60}",
                    ),
                );
            }
            if r.name.is_empty() {
                err(
                    format!("{p}.name"),
                    "Required value: must specify a resource name".into(),
                );
            }
            if r.container.is_empty() {
                err(
                    format!("{p}.container"),
                    "Required value: must specify a container".into(),
                );
            }
            validate_utilization_target(r.target.as_ref(), &p, err);
        }
        None => {}
    }
    let expected = match m.type_.as_str() {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => "",
    };
    if !expected.is_empty() && !present.contains(&expected) {
        err(
            format!("{at}.{expected}"),
            format!(
                "Required value: must populate information for the given metric source (type {} needs `{expected}:`)",
                m.type_
            ),
        );
    }
    if present.len() > 1 {
        for p in present.iter().filter(|p| **p != expected) {
            err(
                format!("{at}.{p}"),
                "Forbidden: must populate the given metric source only".into(),
            );
        }
    }
}

fn validate_target(t: &MetricTarget, at: &str, err: &mut impl FnMut(String, String)) {
    if t.type_.is_empty() {
        err(
            format!("{at}.type"),
            "Required value: must specify a metric target type".into(),
        );
    } else if !["Utilization", "Value", "AverageValue"].contains(&t.type_.as_str()) {
        err(
            format!("{at}.type"),
            format!(
                "Invalid value: \"{}\": must be either Utilization, Value, or AverageValue",
                t.type_
            ),
        );
    }
    if let Some(v) = t.value
        && v.0 <= 0
    {
        err(format!("{at}.value"), "must be positive".into());
    }
    if let Some(v) = t.average_value
        && v.0 <= 0
    {
        err(format!("{at}.averageValue"), "must be positive".into());
    }
    if let Some(u) = t.average_utilization
        && u < 1
    {
        err(
            format!("{at}.averageUtilization"),
            "must be greater than 0".into(),
        );
    }
}

fn required_target<'a>(
    t: Option<&'a MetricTarget>,
    at: &str,
    err: &mut impl FnMut(String, String),
) -> Option<&'a MetricTarget> {
    match t {
        Some(t) => {
            validate_target(t, &format!("{at}.target"), err);
            Some(t)
        }
        None => {
            err(
                format!("{at}.target"),
                "Required value: must specify a target, e.g. `target: {type: AverageValue, averageValue: 500m}`"
                    .into(),
            );
            None
        }
    }
}

fn validate_utilization_target(
    t: Option<&MetricTarget>,
    at: &str,
    err: &mut impl FnMut(String, String),
) {
    if let Some(t) = required_target(t, at, err) {
        if t.average_utilization.is_none() && t.average_value.is_none() {
            err(
                format!("{at}.target.averageUtilization"),
                "Required value: must set either a target raw value or a target utilization".into(),
            );
        }
        if t.average_utilization.is_some() && t.average_value.is_some() {
            err(
                format!("{at}.target.averageValue"),
                "Forbidden: may not set both a target raw value and a target utilization".into(),
            );
        }
    }
}

fn validate_identifier(
    id: Option<&MetricIdentifier>,
    at: &str,
    err: &mut impl FnMut(String, String),
) {
    match id {
        Some(id) if id.name.is_empty() => err(
            format!("{at}.metric.name"),
            "Required value: must specify a metric name".into(),
        ),
        Some(id)
            if id.name.contains('/')
                || id.name.contains('%')
                || id.name == "."
                || id.name == ".." =>
        {
            err(
                format!("{at}.metric.name"),
                format!(
                    "Invalid value: \"{}\": may not contain '/' or '%' or be '.' or '..'",
                    id.name
                ),
            )
        }
        Some(_) => {}
        None => err(
            format!("{at}.metric"),
            "Required value: must specify a metric, e.g. `metric: {name: requests_per_second}`"
                .into(),
        ),
    }
}

fn validate_pods(p: &PodsMetricSource, at: &str, err: &mut impl FnMut(String, String)) {
    if p.metric_name.is_some() {
        err(
            format!("{at}.metricName"),
            legacy("metricName", "autoscaling/v2beta1", "metric: {name: ...}"),
        );
    }
    if p.target_average_value.is_some() {
        err(
            format!("{at}.targetAverageValue"),
            legacy(
                "targetAverageValue",
                "autoscaling/v2beta1",
                "target: {type: AverageValue, averageValue: 500m}",
            ),
        );
    }
    validate_identifier(p.metric.as_ref(), at, err);
    if let Some(t) = required_target(p.target.as_ref(), at, err)
        && t.average_value.is_none()
    {
        err(
            format!("{at}.target.averageValue"),
            "Required value: must specify a positive target averageValue".into(),
        );
    }
}

fn validate_object(o: &ObjectMetricSource, at: &str, err: &mut impl FnMut(String, String)) {
    if o.metric_name.is_some() {
        err(
            format!("{at}.metricName"),
            legacy("metricName", "autoscaling/v2beta1", "metric: {name: ...}"),
        );
    }
    if o.target_value.is_some() {
        err(
            format!("{at}.targetValue"),
            legacy(
                "targetValue",
                "autoscaling/v2beta1",
                "target: {type: Value, value: 10k}",
            ),
        );
    }
    match &o.described_object {
        None => err(
            format!("{at}.describedObject"),
            "Required value: must name the object, e.g. `describedObject: {kind: Ingress, name: main}`"
                .into(),
        ),
        Some(r) => {
            if r.kind.is_empty() {
                err(format!("{at}.describedObject.kind"), "Required value".into());
            }
            if r.name.is_empty() {
                err(format!("{at}.describedObject.name"), "Required value".into());
            }
        }
    }
    validate_identifier(o.metric.as_ref(), at, err);
    if let Some(t) = required_target(o.target.as_ref(), at, err)
        && t.value.is_none()
        && t.average_value.is_none()
    {
        err(
            format!("{at}.target.averageValue"),
            "Required value: must set either a target value or averageValue".into(),
        );
    }
}

fn validate_external(e: &ExternalMetricSource, at: &str, err: &mut impl FnMut(String, String)) {
    for (set, field, instead) in [
        (e.metric_name.is_some(), "metricName", "metric: {name: ...}"),
        (
            e.metric_selector.is_some(),
            "metricSelector",
            "metric: {name: ..., selector: {...}}",
        ),
        (
            e.target_value.is_some(),
            "targetValue",
            "target: {type: Value, value: 30}",
        ),
        (
            e.target_average_value.is_some(),
            "targetAverageValue",
            "target: {type: AverageValue, averageValue: 30}",
        ),
    ] {
        if set {
            err(
                format!("{at}.{field}"),
                legacy(field, "autoscaling/v2beta1", instead),
            );
        }
    }
    validate_identifier(e.metric.as_ref(), at, err);
    if let Some(t) = required_target(e.target.as_ref(), at, err) {
        if t.value.is_none() && t.average_value.is_none() {
            err(
                format!("{at}.target.averageValue"),
                "Required value: must set either a target value for metric or a per-pod target"
                    .into(),
            );
        }
        if t.value.is_some() && t.average_value.is_some() {
            err(
                format!("{at}.target.value"),
                "Forbidden: may not set both a target value for metric and a per-pod target".into(),
            );
        }
    }
}

fn validate_rules(r: &ScalingRules, at: &str, err: &mut impl FnMut(String, String)) {
    if let Some(w) = r.stabilization_window_seconds {
        if w < 0 {
            err(
                format!("{at}.stabilizationWindowSeconds"),
                "must be greater than or equal to zero".into(),
            );
        } else if w > MAX_STABILIZATION_WINDOW_SECONDS {
            err(
                format!("{at}.stabilizationWindowSeconds"),
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            );
        }
    }
    if let Some(s) = &r.select_policy
        && !["Disabled", "Max", "Min"].contains(&s.as_str())
    {
        err(
            format!("{at}.selectPolicy"),
            unsupported(s, &["Disabled", "Max", "Min"]),
        );
    }
    if let Some(t) = r.tolerance
        && t.0 < 0
    {
        err(
            format!("{at}.tolerance"),
            "must be greater than or equal to 0".into(),
        );
    }
    if let Some(policies) = &r.policies {
        if policies.is_empty() {
            err(
                format!("{at}.policies"),
                "Required value: must specify at least one Policy".into(),
            );
        }
        for (i, p) in policies.iter().enumerate() {
            let pa = format!("{at}.policies[{i}]");
            if p.type_ != "Pods" && p.type_ != "Percent" {
                err(
                    format!("{pa}.type"),
                    unsupported(&p.type_, &["Percent", "Pods"]),
                );
            }
            if p.value <= 0 {
                err(format!("{pa}.value"), "must be greater than zero".into());
            }
            if p.period_seconds <= 0 {
                err(
                    format!("{pa}.periodSeconds"),
                    "must be greater than zero".into(),
                );
            } else if p.period_seconds > MAX_PERIOD_SECONDS {
                err(
                    format!("{pa}.periodSeconds"),
                    format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Defaults (pkg/apis/autoscaling/v2/defaults.go)
// ---------------------------------------------------------------------------------------

/// How a direction picks among its policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// A scaling policy after defaulting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `true` for `Percent`, `false` for `Pods`.
    pub percent: bool,
    /// Pods or percent.
    pub value: i32,
    /// Period in seconds.
    pub period_seconds: i32,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.percent {
            write!(f, "Percent {}% per {}s", self.value, self.period_seconds)
        } else {
            write!(f, "Pods {} per {}s", self.value, self.period_seconds)
        }
    }
}

/// Scaling rules of one direction after defaulting.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Stabilization window in seconds.
    pub window_seconds: f64,
    /// Policy selection.
    pub select: SelectPolicy,
    /// Policies (never empty).
    pub policies: Vec<Policy>,
    /// Tolerance for this direction, if the spec sets one.
    pub tolerance: Option<f64>,
}

/// Fills in the defaults of one direction, as `GenerateHPAScale{Up,Down}Rules` do;
/// `default_window` is 0 for scale-up and the downscale stabilization for scale-down.
pub fn default_rules(r: Option<&ScalingRules>, up: bool, default_window: f64) -> Rules {
    let default_policies = if up {
        vec![
            Policy {
                percent: false,
                value: 4,
                period_seconds: 15,
            },
            Policy {
                percent: true,
                value: 100,
                period_seconds: 15,
            },
        ]
    } else {
        vec![Policy {
            percent: true,
            value: 100,
            period_seconds: 15,
        }]
    };
    let r = r.cloned().unwrap_or_default();
    Rules {
        window_seconds: r
            .stabilization_window_seconds
            .map(f64::from)
            .unwrap_or(default_window),
        select: match r.select_policy.as_deref() {
            Some("Min") => SelectPolicy::Min,
            Some("Disabled") => SelectPolicy::Disabled,
            _ => SelectPolicy::Max,
        },
        policies: match r.policies {
            Some(ps) if !ps.is_empty() => ps
                .iter()
                .map(|p| Policy {
                    percent: p.type_ == "Percent",
                    value: p.value,
                    period_seconds: p.period_seconds,
                })
                .collect(),
            _ => default_policies,
        },
        tolerance: r.tolerance.map(|q| q.0 as f64 / 1000.0),
    }
}

/// The API server's default metric when `metrics` is empty: CPU at 80% utilization.
fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: Some(MetricTarget {
                type_: "Utilization".into(),
                value: None,
                average_value: None,
                average_utilization: Some(80),
            }),
            target_average_utilization: None,
            target_average_value: None,
        }),
        pods: None,
        object: None,
        external: None,
        container_resource: None,
    }]
}

// ---------------------------------------------------------------------------------------
// Inputs and outputs
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Replica calculator (replica_calculator.go)
// ---------------------------------------------------------------------------------------

/// Scale-up and scale-down tolerances; a ratio within both leaves the count unchanged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Below 1.
    pub down: f64,
    /// Above 1.
    pub up: f64,
}

impl Tolerances {
    fn within(self, ratio: f64) -> bool {
        1.0 - self.down <= ratio && ratio <= 1.0 + self.up
    }
}

/// The pods sorted as `groupPods` sorts them.
struct Groups {
    ready: usize,
    unready: Vec<usize>,
    missing: Vec<usize>,
    ignored: usize,
    /// Samples of the ready pods, by pod index.
    metrics: BTreeMap<usize, i64>,
}

fn group_pods(
    pods: &[PodSample],
    sample: impl Fn(&PodSample) -> Option<i64>,
    cpu: bool,
    cfg: &ControllerConfig,
) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: vec![],
        missing: vec![],
        ignored: 0,
        metrics: BTreeMap::new(),
    };
    for (i, p) in pods.iter().enumerate() {
        if p.deleting || p.phase == PodPhase::Failed {
            g.ignored += 1;
            continue;
        }
        if p.phase == PodPhase::Pending {
            g.unready.push(i);
            continue;
        }
        let Some(v) = sample(p) else {
            g.missing.push(i);
            continue;
        };
        // Only CPU is distorted by start-up, so only CPU samples of young pods are doubted.
        if cpu {
            let unready = if p.started_ago < cfg.cpu_initialization_period {
                !p.ready || p.ready_changed_ago < cfg.metric_window
            } else {
                !p.ready && p.ready_changed_ago > p.started_ago - cfg.initial_readiness_delay
            };
            if unready {
                g.unready.push(i);
                continue;
            }
        }
        g.ready += 1;
        g.metrics.insert(i, v);
    }
    g
}

fn describe_groups(g: &Groups) -> String {
    format!(
        "{} ready, {} unready, {} missing metrics, {} ignored",
        g.ready,
        g.unready.len(),
        g.missing.len(),
        g.ignored
    )
}

/// Returns (ratio, utilization %, raw average) as `GetResourceUtilizationRatio` does.
fn utilization_ratio(
    metrics: &BTreeMap<usize, i64>,
    requests: &[i64],
    target: i32,
) -> Result<(f64, i64, i64), String> {
    let (mut used, mut requested) = (0i128, 0i128);
    for (&i, &v) in metrics {
        used += i128::from(v);
        requested += i128::from(requests[i]);
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let util = (used * 100 / requested) as i64;
    let raw = (used / metrics.len() as i128) as i64;
    Ok((util as f64 / f64::from(target), util, raw))
}

fn usage_ratio(metrics: &BTreeMap<usize, i64>, target: i64) -> (f64, i64) {
    let total: i128 = metrics.values().map(|&v| i128::from(v)).sum();
    let usage = (total / metrics.len() as i128) as i64;
    (usage as f64 / target as f64, usage)
}

fn ceil_i32(x: f64) -> i32 {
    let c = x.ceil();
    if c >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        c as i32
    }
}

/// One metric's proposal, with a line explaining it.
struct Proposal {
    replicas: i32,
    result: MetricResult,
    note: String,
}

struct Calc<'a> {
    cfg: &'a ControllerConfig,
    tol: Tolerances,
    current: i32,
    pods: &'a [PodSample],
}

impl Calc<'_> {
    /// `GetResourceReplicas`: utilization of `key` against requests.
    fn resource_utilization(&self, res: &str, key: &str, target: i32) -> Result<Proposal, String> {
        if !self.pods.iter().any(|p| p.usage.contains_key(key)) {
            return Err(format!(
                "unable to get metrics for resource {res}: no metrics returned from resource metrics API"
            ));
        }
        if self.pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = group_pods(
            self.pods,
            |p| p.usage.get(key).copied(),
            res == "cpu",
            self.cfg,
        );
        if g.metrics.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let mut requests = Vec::with_capacity(self.pods.len());
        for p in self.pods {
            match p.requests.get(key) {
                Some(&r) => requests.push(r),
                None => {
                    return Err(format!("missing request for {res} in pod {}", p.name));
                }
            }
        }
        let (ratio, util, raw) = utilization_ratio(&g.metrics, &requests, target)?;
        let name = format!("{res} resource utilization (percentage of request)");
        let mut note = format!(
            "{name}: {util}% of request (average {}) vs target {target}%, ratio {ratio:.3}; pods: {}",
            format_milli(raw),
            describe_groups(&g)
        );
        let (replicas, why) = self.rebalance(
            g,
            ratio,
            self.tol,
            |metrics| utilization_ratio(metrics, &requests, target).map(|r| r.0),
            |i, up| {
                if up {
                    0
                } else {
                    requests[i] * i64::from(target.max(100)) / 100
                }
            },
        )?;
        note.push_str(&why);
        Ok(Proposal {
            replicas,
            result: MetricResult {
                name,
                current_value: util as f64,
                ratio,
                proposal: replicas,
            },
            note,
        })
    }

    /// `calcPlainMetricReplicas`: an average value over the pods.
    fn plain(
        &self,
        name: String,
        target: i64,
        sample: impl Fn(&PodSample) -> Option<i64>,
        cpu: bool,
        no_metrics: String,
    ) -> Result<Proposal, String> {
        if !self.pods.iter().any(|p| sample(p).is_some()) {
            return Err(no_metrics);
        }
        if self.pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = group_pods(self.pods, &sample, cpu, self.cfg);
        if g.metrics.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let (ratio, usage) = usage_ratio(&g.metrics, target);
        let mut note = format!(
            "{name}: average {} vs target {}, ratio {ratio:.3}; pods: {}",
            format_milli(usage),
            format_milli(target),
            describe_groups(&g)
        );
        let (replicas, why) = self.rebalance(
            g,
            ratio,
            self.tol,
            |m| Ok(usage_ratio(m, target).0),
            |_, up| if up { 0 } else { target },
        )?;
        note.push_str(&why);
        Ok(Proposal {
            replicas,
            result: MetricResult {
                name,
                current_value: usage as f64 / 1000.0,
                ratio,
                proposal: replicas,
            },
            note,
        })
    }

    /// The common tail of the pod-based calculations: tolerance, then the rebalancing of
    /// missing and unready pods.
    fn rebalance(
        &self,
        mut g: Groups,
        ratio: f64,
        tol: Tolerances,
        recompute: impl Fn(&BTreeMap<usize, i64>) -> Result<f64, String>,
        fallback: impl Fn(usize, bool) -> i64,
    ) -> Result<(i32, String), String> {
        let current = self.current;
        let up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !up_with_unready && g.missing.is_empty() {
            if tol.within(ratio) {
                return Ok((current, " -> within tolerance, keep current".into()));
            }
            let r = ceil_i32(ratio * g.ready as f64);
            return Ok((r, format!(" -> ceil({ratio:.3} x {}) = {r}", g.ready)));
        }
        if ratio < 1.0 {
            for &i in &g.missing {
                g.metrics.insert(i, fallback(i, false));
            }
        } else if ratio > 1.0 {
            for &i in &g.missing {
                g.metrics.insert(i, fallback(i, true));
            }
        }
        if up_with_unready {
            for &i in &g.unready {
                g.metrics.insert(i, 0);
            }
        }
        let new_ratio = recompute(&g.metrics)?;
        let how = if ratio > 1.0 {
            "missing and unready pods counted as 0"
        } else {
            "missing pods counted at the target"
        };
        if tol.within(new_ratio)
            || (ratio < 1.0 && new_ratio > 1.0)
            || (ratio > 1.0 && new_ratio < 1.0)
        {
            return Ok((
                current,
                format!(
                    " -> {how}: ratio {new_ratio:.3} is within tolerance or changes direction, keep current"
                ),
            ));
        }
        let n = g.metrics.len();
        let r = ceil_i32(new_ratio * n as f64);
        if (new_ratio < 1.0 && r > current) || (new_ratio > 1.0 && r < current) {
            return Ok((
                current,
                format!(
                    " -> {how}: ceil({new_ratio:.3} x {n}) = {r} would move the other way, keep current"
                ),
            ));
        }
        Ok((r, format!(" -> {how}: ceil({new_ratio:.3} x {n}) = {r}")))
    }

    /// `getUsageRatioReplicaCount`: a total against a total, scaled by the ready pods.
    fn usage_ratio_count(&self, ratio: f64) -> Result<(i32, String), String> {
        if self.current == 0 {
            let r = ceil_i32(ratio);
            return Ok((r, format!(" -> from zero: ceil({ratio:.3}) = {r}")));
        }
        if self.tol.within(ratio) {
            return Ok((self.current, " -> within tolerance, keep current".into()));
        }
        if self.pods.is_empty() {
            return Err("unable to calculate ready pods: no pods returned by selector while calculating replica count".into());
        }
        let ready = self
            .pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running && p.ready)
            .count();
        let r = ceil_i32(ratio * ready as f64);
        Ok((
            r,
            format!(" -> ceil({ratio:.3} x {ready} ready pods) = {r}"),
        ))
    }

    /// `GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas`.
    fn per_pod(&self, name: String, usage: i64, target: i64) -> Proposal {
        let mut replicas = self.current;
        let ratio = usage as f64 / (target as f64 * f64::from(self.current));
        let mut note = format!(
            "{name}: total {} vs {} per pod x {} pods, ratio {ratio:.3}",
            format_milli(usage),
            format_milli(target),
            self.current
        );
        if !self.tol.within(ratio) {
            replicas = ceil_i32(usage as f64 / target as f64);
            note.push_str(&format!(
                " -> ceil({} / {}) = {replicas}",
                format_milli(usage),
                format_milli(target)
            ));
        } else {
            note.push_str(" -> within tolerance, keep current");
        }
        let per_pod = if self.current > 0 {
            (usage as f64 / f64::from(self.current)).ceil()
        } else {
            usage as f64
        };
        Proposal {
            replicas,
            result: MetricResult {
                name,
                current_value: per_pod / 1000.0,
                ratio,
                proposal: replicas,
            },
            note,
        }
    }

    fn total(&self, name: String, usage: i64, target: i64) -> Result<Proposal, String> {
        let ratio = usage as f64 / target as f64;
        let (replicas, why) = self.usage_ratio_count(ratio)?;
        Ok(Proposal {
            replicas,
            note: format!(
                "{name}: {} vs target {}, ratio {ratio:.3}{why}",
                format_milli(usage),
                format_milli(target)
            ),
            result: MetricResult {
                name,
                current_value: usage as f64 / 1000.0,
                ratio,
                proposal: replicas,
            },
        })
    }

    /// `computeReplicasForMetric`; the spec has passed [`validate`].
    fn metric(&self, m: &MetricSpec, inputs: &MetricInputs) -> Result<Proposal, String> {
        match m.type_.as_str() {
            "Resource" | "ContainerResource" => {
                let (res, key, target) = if let Some(r) = &m.resource {
                    (r.name.clone(), r.name.clone(), r.target.clone())
                } else {
                    let c = m
                        .container_resource
                        .as_ref()
                        .ok_or("no containerResource")?;
                    (
                        c.name.clone(),
                        format!("{}/{}", c.container, c.name),
                        c.target.clone(),
                    )
                };
                let t = target.ok_or("no target")?;
                if let Some(av) = t.average_value {
                    self.plain(
                        format!("{res} resource"),
                        av.0,
                        |p| p.usage.get(&key).copied(),
                        res == "cpu",
                        format!(
                            "unable to get metrics for resource {res}: no metrics returned from resource metrics API"
                        ),
                    )
                    .map_err(|e| format!("failed to get {res} usage: {e}"))
                } else if let Some(u) = t.average_utilization {
                    self.resource_utilization(&res, &key, u)
                        .map_err(|e| format!("failed to get {res} utilization: {e}"))
                } else {
                    Err("invalid resource metric source: neither an average utilization target nor an average value target was set".into())
                }
            }
            "Pods" => {
                let p = m.pods.as_ref().ok_or("no pods source")?;
                let name = p
                    .metric
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                let target = p
                    .target
                    .as_ref()
                    .and_then(|t| t.average_value)
                    .ok_or("no averageValue")?;
                self.plain(
                    format!("pods metric {name}"),
                    target.0,
                    |pod| pod.pod_metrics.get(&name).copied(),
                    false,
                    format!(
                        "unable to get metric {name}: no metrics returned from custom metrics API"
                    ),
                )
                .map_err(|e| format!("failed to get pods metric value: {e}"))
            }
            "Object" => {
                let o = m.object.as_ref().ok_or("no object source")?;
                let name = o
                    .metric
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                let kind = o
                    .described_object
                    .as_ref()
                    .map(|d| d.kind.clone())
                    .unwrap_or_default();
                let t = o.target.as_ref().ok_or("no target")?;
                let usage = *inputs.object.get(&name).ok_or_else(|| {
                    format!("failed to get object metric value: unable to get metric {name}: no value for it in the snapshot's `object:`")
                })?;
                if t.type_ == "Value"
                    && let Some(v) = t.value
                {
                    self.total(format!("{kind} metric {name}"), usage, v.0)
                } else if t.type_ == "AverageValue"
                    && let Some(v) = t.average_value
                {
                    Ok(self.per_pod(format!("{kind} metric {name} (per pod)"), usage, v.0))
                } else {
                    Err("invalid object metric source: neither a value target nor an average value target was set".into())
                }
            }
            "External" => {
                let e = m.external.as_ref().ok_or("no external source")?;
                let name = e
                    .metric
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                let t = e.target.as_ref().ok_or("no target")?;
                let usage = *inputs.external.get(&name).ok_or_else(|| {
                    format!("unable to get external metric {name}: no value for it in the snapshot's `external:`")
                })?;
                if let Some(v) = t.average_value {
                    Ok(self.per_pod(format!("external metric {name} (per pod)"), usage, v.0))
                } else if let Some(v) = t.value {
                    self.total(format!("external metric {name}"), usage, v.0)
                } else {
                    Err("invalid external metric source: neither a value target nor an average value target was set".into())
                }
            }
            other => Err(format!("unknown metric source type \"{other}\"")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Normalization (horizontal.go)
// ---------------------------------------------------------------------------------------

/// `convertDesiredReplicasWithRules`: the legacy limits (no `behavior`).
pub fn convert_desired_with_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> (i32, &'static str) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (max_allowed, reason) = if max > scale_up_limit {
        (scale_up_limit, "ScaleUpLimit")
    } else {
        (max, "TooManyReplicas")
    };
    if desired < min {
        (min, "TooFewReplicas")
    } else if desired > max_allowed {
        (max_allowed, reason)
    } else {
        (desired, "DesiredWithinRange")
    }
}

/// A past scale event: when (seconds, on the controller's clock) and how many pods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleEvent {
    /// Time of the event.
    pub at: f64,
    /// Pods added (scale-up list) or removed (scale-down list), positive.
    pub change: i32,
}

fn change_in_period(events: &[ScaleEvent], now: f64, period: i32) -> i32 {
    events
        .iter()
        .filter(|e| now - e.at < f64::from(period))
        .map(|e| e.change)
        .sum()
}

/// `calculateScaleUpLimitWithScalingRules`: the highest count the policies allow, and the
/// policy that set it (`None` when scaling up is disabled).
pub fn scale_up_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now: f64,
) -> (i32, Option<Policy>) {
    if rules.select == SelectPolicy::Disabled {
        return (current, None);
    }
    let mut best: Option<(i32, Policy)> = None;
    for p in &rules.policies {
        let start = current - change_in_period(up_events, now, p.period_seconds)
            + change_in_period(down_events, now, p.period_seconds);
        let proposed = if p.percent {
            (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
        } else {
            start + p.value
        };
        let better = match (best, rules.select) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed < b,
            (Some((b, _)), _) => proposed > b,
        };
        if better {
            best = Some((proposed, *p));
        }
    }
    match best {
        Some((v, p)) => (v, Some(p)),
        None => (current, None),
    }
}

/// `calculateScaleDownLimitWithBehaviors`: the lowest count the policies allow, and the
/// policy that set it (`None` when scaling down is disabled).
pub fn scale_down_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &Rules,
    now: f64,
) -> (i32, Option<Policy>) {
    if rules.select == SelectPolicy::Disabled {
        return (current, None);
    }
    let mut best: Option<(i32, Policy)> = None;
    for p in &rules.policies {
        let start = current - change_in_period(up_events, now, p.period_seconds)
            + change_in_period(down_events, now, p.period_seconds);
        let proposed = if p.percent {
            // Go's int32(float) truncates towards zero.
            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
        } else {
            start - p.value
        };
        let better = match (best, rules.select) {
            (None, _) => true,
            (Some((b, _)), SelectPolicy::Min) => proposed > b,
            (Some((b, _)), _) => proposed < b,
        };
        if better {
            best = Some((proposed, *p));
        }
    }
    match best {
        Some((v, p)) => (v, Some(p)),
        None => (current, None),
    }
}

/// Arguments of [`convert_with_behavior_rate`].
#[derive(Clone, Copy, Debug)]
pub struct RateArgs<'a> {
    /// Current replicas.
    pub current: i32,
    /// Desired (stabilized) replicas.
    pub desired: i32,
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// Scale-up rules.
    pub up: &'a Rules,
    /// Scale-down rules.
    pub down: &'a Rules,
    /// Past scale-ups.
    pub up_events: &'a [ScaleEvent],
    /// Past scale-downs.
    pub down_events: &'a [ScaleEvent],
    /// Now, on the events' clock.
    pub now: f64,
}

/// `convertDesiredReplicasWithBehaviorRate`: returns the count, upstream's reason and a line
/// of explanation.
pub fn convert_with_behavior_rate(a: RateArgs) -> (i32, &'static str, String) {
    if a.desired > a.current {
        let (mut limit, policy) =
            scale_up_limit(a.current, a.up_events, a.down_events, a.up, a.now);
        // Events still in their periods may push the limit below the current count.
        limit = limit.max(a.current);
        let (allowed, reason) = if a.max > limit {
            (limit, "ScaleUpLimit")
        } else {
            (a.max, "TooManyReplicas")
        };
        if a.desired > allowed {
            let why = match (reason, policy) {
                ("ScaleUpLimit", Some(p)) => format!(
                    "scale-up policies (selectPolicy {:?}) allow at most {allowed}, set by {p}",
                    a.up.select
                ),
                ("ScaleUpLimit", None) => "scale-up is disabled (selectPolicy Disabled)".into(),
                _ => format!("capped at maxReplicas {allowed}"),
            };
            return (allowed, reason, why);
        }
    } else if a.desired < a.current {
        let (mut limit, policy) =
            scale_down_limit(a.current, a.up_events, a.down_events, a.down, a.now);
        limit = limit.min(a.current);
        let (allowed, reason) = if a.min < limit {
            (limit, "ScaleDownLimit")
        } else {
            (a.min, "TooFewReplicas")
        };
        if a.desired < allowed {
            let why = match (reason, policy) {
                ("ScaleDownLimit", Some(p)) => format!(
                    "scale-down policies (selectPolicy {:?}) allow at least {allowed}, set by {p}",
                    a.down.select
                ),
                ("ScaleDownLimit", None) => "scale-down is disabled (selectPolicy Disabled)".into(),
                _ => format!("raised to minReplicas {allowed}"),
            };
            return (allowed, reason, why);
        }
    }
    (
        a.desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range".into(),
    )
}

// ---------------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------------

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
    spec: HpaSpec,
    metrics: Vec<MetricSpec>,
    cfg: ControllerConfig,
    up_rules: Rules,
    down_rules: Rules,
    initialized: bool,
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

    /// A controller with the given flags. The spec should have passed [`validate`].
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

    /// Seeds the history, as if the controller had been running (used by [`explain`]).
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
    fn try_sync(
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

    fn prune(&mut self, now: f64) {
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

    /// `normalizeDesiredReplicas` (no `behavior`).
    fn normalize(
        &mut self,
        now: f64,
        current: i32,
        desired: i32,
        steps: &mut Vec<String>,
    ) -> (i32, String) {
        let window = self.cfg.downscale_stabilization;
        let stabilized = self
            .recommendations
            .iter()
            .filter(|r| now - r.at <= window)
            .map(|r| r.replicas)
            .fold(desired, i32::max);
        self.prune(now);
        self.recommendations.push(Recommendation {
            at: now,
            replicas: desired,
        });
        let mut reason = "DesiredWithinRange".to_string();
        if stabilized != desired {
            steps.push(format!(
                "ScaleDownStabilized: the highest recommendation of the last {}s is {stabilized}",
                window
            ));
            reason = "ScaleDownStabilized".into();
        }
        let (out, cond) = convert_desired_with_rules(
            current,
            stabilized,
            self.spec.min_replicas,
            self.spec.max_replicas,
        );
        if out != stabilized {
            let why = match cond {
                "ScaleUpLimit" => format!(
                    "without behavior a scale-up goes to at most max(2 x {current}, 4) = {out}"
                ),
                "TooManyReplicas" => format!("capped at maxReplicas {out}"),
                _ => format!("raised to minReplicas {out}"),
            };
            steps.push(format!("{cond}: {why}"));
            reason = cond.into();
        }
        (out, reason)
    }

    /// `normalizeDesiredReplicasWithBehaviors`.
    fn normalize_with_behaviors(
        &mut self,
        now: f64,
        current: i32,
        desired: i32,
        steps: &mut Vec<String>,
    ) -> (i32, String) {
        let (upw, downw) = (self.up_rules.window_seconds, self.down_rules.window_seconds);
        let mut up_rec = desired;
        let mut down_rec = desired;
        for r in &self.recommendations {
            if now - r.at < upw {
                up_rec = up_rec.min(r.replicas);
            }
            if now - r.at < downw {
                down_rec = down_rec.max(r.replicas);
            }
        }
        let stabilized = current.max(up_rec).min(down_rec);
        self.prune(now);
        self.recommendations.push(Recommendation {
            at: now,
            replicas: desired,
        });
        let mut reason = "DesiredWithinRange".to_string();
        if stabilized != desired {
            let (r, text) = if desired >= current {
                (
                    "ScaleUpStabilized",
                    format!("the lowest recommendation of the last {upw}s is {up_rec}"),
                )
            } else {
                (
                    "ScaleDownStabilized",
                    format!("the highest recommendation of the last {downw}s is {down_rec}"),
                )
            };
            steps.push(format!("{r}: {text}; stabilized to {stabilized}"));
            reason = r.into();
        }
        let (out, cond, why) = convert_with_behavior_rate(RateArgs {
            current,
            desired: stabilized,
            min: self.spec.min_replicas,
            max: self.spec.max_replicas,
            up: &self.up_rules,
            down: &self.down_rules,
            up_events: &self.scale_up_events,
            down_events: &self.scale_down_events,
            now,
        });
        if out != stabilized {
            steps.push(format!("{cond}: {why}"));
            reason = cond.into();
        }
        (out, reason)
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

// ---------------------------------------------------------------------------------------
// Snapshots (`capsim hpa explain`)
// ---------------------------------------------------------------------------------------

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
/// Errors: an invalid spec (the first validation error, `field: message`), a negative
/// `currentReplicas`, or metrics from which no replica count can be computed.
pub fn explain(snapshot: &Snapshot) -> Result<Decision, String> {
    if let Some(e) = validate(&snapshot.hpa).first() {
        return Err(format!("hpa.{}: {}", e.path, e.message));
    }
    if snapshot.current_replicas < 0 {
        return Err("currentReplicas: must be greater than or equal to 0".into());
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
