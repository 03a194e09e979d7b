//! The spec's defaults (pkg/apis/autoscaling/v2/defaults.go,
//! `SetDefaults_HorizontalPodAutoscaler`): the scaling rules of each direction and the default
//! metric.

use super::spec::{MetricSpec, MetricTarget, ResourceMetricSource, ScalingRules};
use std::fmt;

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
pub(super) fn default_metrics() -> Vec<MetricSpec> {
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
