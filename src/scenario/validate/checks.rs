//! `checks:`: the CI gates, parsed and checked against the metrics the summary has.

use super::{Errs, did_you_mean};
use crate::scenario::types::Scenario;
use crate::sim::result;

/// A CI gate of `checks:`: `component.metric OP value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Service name, `cluster`, ...
    pub component: String,
    /// Metric name.
    pub metric: String,
    /// Comparison.
    pub op: CheckOp,
    /// Bound.
    pub value: f64,
}

/// Comparison of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOp {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `==`
    Eq,
}

impl CheckOp {
    /// Whether `a OP b` holds.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CheckOp::Le => a <= b,
            CheckOp::Lt => a < b,
            CheckOp::Ge => a >= b,
            CheckOp::Gt => a > b,
            CheckOp::Eq => a == b,
        }
    }
}

/// Parses `chat.latency_p99_ms <= 500`.
pub fn parse_check(s: &str) -> Result<Check, String> {
    let ops = [
        ("<=", CheckOp::Le),
        (">=", CheckOp::Ge),
        ("==", CheckOp::Eq),
        ("<", CheckOp::Lt),
        (">", CheckOp::Gt),
    ];
    let bad = || format!("expected a check such as `chat.latency_p99_ms <= 500`, found `{s}`");
    let (lhs, op, rhs) = ops
        .iter()
        .find_map(|(tok, op)| s.split_once(tok).map(|(l, r)| (l, *op, r)))
        .ok_or_else(bad)?;
    let (component, metric) = lhs.trim().rsplit_once('.').ok_or_else(bad)?;
    let value: f64 = rhs.trim().parse().map_err(|_| bad())?;
    if component.is_empty() || metric.is_empty() || !value.is_finite() {
        return Err(bad());
    }
    Ok(Check {
        component: component.to_string(),
        metric: metric.to_string(),
        op,
        value,
    })
}

/// The components training adds to the summary.
fn training_components(sc: &Scenario) -> Vec<String> {
    let Some(t) = &sc.training else {
        return Vec::new();
    };
    let mut out = vec!["training".to_string()];
    out.extend(t.workloads.iter().map(|w| format!("training/{}", w.name)));
    out.extend(sc.queues.iter().map(|q| format!("queue/{}", q.name)));
    out.extend(
        crate::training::plan::SIZE_CLASSES
            .iter()
            .map(|(_, _, c)| format!("training/gpus_{c}")),
    );
    out
}

/// `checks:`: each parses and names a component and metric the summary has.
pub(super) fn check(e: &mut Errs, sc: &Scenario, service_names: &[&str]) {
    for (i, c) in sc.checks.iter().enumerate() {
        match parse_check(c) {
            Err(msg) => e.at(&format!("checks[{i}]"), msg),
            Ok(check) => {
                let training = training_components(sc);
                let control: Vec<(String, &'static [&'static str])> = match &sc.control_plane {
                    Some(cp) => {
                        crate::apiserver::components(cp.clients.iter().map(|c| c.name.as_str()))
                    }
                    None => Vec::new(),
                };
                let metrics = match check.component.as_str() {
                    "cluster" => Some(result::CLUSTER_METRICS),
                    "engine" => Some(result::ENGINE_METRICS),
                    c if service_names.contains(&c) => Some(result::SERVICE_METRICS),
                    c if training.iter().any(|t| t == c) => Some(crate::training::TRAINING_METRICS),
                    c => control.iter().find(|(n, _)| n == c).map(|(_, m)| *m),
                };
                if let Some(metrics) = metrics
                    && !metrics.contains(&check.metric.as_str())
                {
                    e.at(
                        &format!("checks[{i}]"),
                        format!(
                            "`{}` has no metric `{}`{}",
                            check.component,
                            check.metric,
                            did_you_mean(&check.metric, metrics)
                        ),
                    );
                }
                if metrics.is_none() {
                    let mut comps = service_names.to_vec();
                    comps.push("cluster");
                    comps.extend(training.iter().map(|s| s.as_str()));
                    comps.extend(control.iter().map(|(s, _)| s.as_str()));
                    e.at(
                        &format!("checks[{i}]"),
                        format!(
                            "unknown component `{}`{}",
                            check.component,
                            did_you_mean(&check.component, &comps)
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse() {
        let c = parse_check("chat.latency_p99_ms <= 500").unwrap();
        assert_eq!(c.component, "chat");
        assert_eq!(c.metric, "latency_p99_ms");
        assert_eq!(c.op, CheckOp::Le);
        assert_eq!(c.value, 500.0);
        assert!(
            parse_check("chat.users_per_gpu>=8")
                .unwrap()
                .op
                .holds(9.0, 8.0)
        );
        assert!(parse_check("latency <= 5").is_err());
        assert!(parse_check("chat.x <= fast").is_err());
    }
}
