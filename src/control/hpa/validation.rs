//! Validation of the spec as the API server does it (pkg/apis/autoscaling/validation), with
//! its messages.

use super::spec::{
    ExternalMetricSource, HpaSpec, MetricIdentifier, MetricSpec, MetricTarget, ObjectMetricSource,
    PodsMetricSource, ScalingRules,
};

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
