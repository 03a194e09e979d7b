//! `services[].autoscaler`: HPA, KPA or KEDA, read in two steps so that each kind's own
//! fields get their own strict checks.

use super::{Errs, did_you_mean};
use crate::engine::SimTime;
use crate::scenario::yaml::error_at;
use crate::sim::plan::{AutoscalerPlan, Pipelines};

/// Metric names the simulator serves to autoscalers.
pub mod autoscaler_metrics {
    /// Pods-type (per pod, averaged) metrics.
    pub const PODS: &[&str] = &[
        "gpu_utilization",
        "inflight_requests",
        "requests_per_second",
        "queue_length",
        "kv_cache_utilization",
    ];
    /// External (service total) metrics.
    pub const EXTERNAL: &[&str] = &[
        "total_queue_length",
        "total_inflight_requests",
        "total_requests_per_second",
    ];
    /// Resource metrics.
    pub const RESOURCES: &[&str] = &["cpu"];
}

/// Reads `services[i].autoscaler` in two steps: the common fields (kind, controller flags,
/// pipelines), then the kind's own spec, with errors placed in the file.
pub(super) fn autoscaler_plan(e: &mut Errs, i: usize, replicas: u64) -> Option<AutoscalerPlan> {
    use crate::control::{hpa, keda, kpa};
    use crate::scenario::types::{AUTOSCALER_COMMON_KEYS, AutoscalerCommon, AutoscalerKind};
    use crate::scenario::yaml::{Located, Node, from_tree};
    let path = format!("services[{i}].autoscaler");
    let node =
        e.l.tree
            .get("services")
            .and_then(|s| match &s.node {
                Node::Seq(items) => items.get(i),
                _ => None,
            })
            .and_then(|s| s.get("autoscaler"))?
            .clone();
    let Node::Map(entries) = &node.node else {
        e.at(
            &path,
            "expected a mapping with `kind: hpa`, `kpa` or `keda`",
        );
        return None;
    };
    let (common, own): (Vec<_>, Vec<_>) = entries
        .iter()
        .cloned()
        .partition(|(k, _)| AUTOSCALER_COMMON_KEYS.contains(&k.name.as_str()));
    let sub = |entries: Vec<_>| Located {
        node: Node::Map(entries),
        ..node.clone()
    };
    let file = e.l.file.clone();
    let place = |mut err: crate::scenario::yaml::LoadError| {
        err.field = if err.field.is_empty() {
            path.clone()
        } else {
            format!("{path}.{}", err.field)
        };
        err
    };
    let common: AutoscalerCommon = match from_tree(&file, &sub(common)) {
        Ok(c) => c,
        Err(err) => {
            e.out.push(place(err));
            return None;
        }
    };
    let secs =
        |d: Option<crate::units::Duration>, def: u64| d.map_or(SimTime::from_secs(def), |d| d.0);
    let cfg = hpa::ControllerConfig {
        tolerance: common.tolerance.unwrap_or(0.1),
        cpu_initialization_period: secs(common.cpu_initialization_period, 300).as_secs_f64(),
        initial_readiness_delay: secs(common.initial_readiness_delay, 30).as_secs_f64(),
        downscale_stabilization: secs(common.downscale_stabilization, 300).as_secs_f64(),
        metric_window: secs(common.metrics_server_resolution, 15).as_secs_f64(),
    };
    let pipelines = Pipelines {
        // metrics-server --metric-resolution default.
        resource_interval: secs(common.metrics_server_resolution, 15),
        // kube-prometheus-stack's scrape interval and a 1-minute rate window: common
        // settings, not upstream defaults (Prometheus itself defaults to 1m).
        custom_interval: secs(common.prometheus_scrape_interval, 30),
        custom_window: secs(common.prometheus_window, 60),
    };
    let sync = secs(common.sync_period, 15);
    if !(0.0..1.0).contains(&cfg.tolerance) {
        e.at(
            &format!("{path}.tolerance"),
            format!("tolerance must be from 0 to 1 (found {})", cfg.tolerance),
        );
        return None;
    }
    for (name, t) in [
        ("syncPeriod", sync),
        ("metricsServerResolution", pipelines.resource_interval),
        ("prometheusScrapeInterval", pipelines.custom_interval),
        ("prometheusWindow", pipelines.custom_window),
    ] {
        if t < SimTime::from_secs(1) || t > SimTime::from_secs(3600) {
            e.at(
                &format!("{path}.{name}"),
                format!("{name} must be from 1s to 1h (found {t})"),
            );
            return None;
        }
    }
    let check_names = |e: &mut Errs, spec: &hpa::HpaSpec| -> bool {
        let mut ok = true;
        for (m, metric) in spec.metrics.iter().enumerate() {
            let (field, name, known) = match metric.type_.as_str() {
                "Resource" => (
                    "resource.name",
                    metric.resource.as_ref().map(|r| r.name.clone()),
                    autoscaler_metrics::RESOURCES,
                ),
                "Pods" => (
                    "pods.metric.name",
                    metric
                        .pods
                        .as_ref()
                        .and_then(|p| p.metric.as_ref())
                        .map(|m| m.name.clone()),
                    autoscaler_metrics::PODS,
                ),
                "External" => (
                    "external.metric.name",
                    metric
                        .external
                        .as_ref()
                        .and_then(|p| p.metric.as_ref())
                        .map(|m| m.name.clone()),
                    autoscaler_metrics::EXTERNAL,
                ),
                other => {
                    e.at(
                        &format!("{path}.metrics[{m}].type"),
                        format!(
                            "the simulator serves Resource (cpu), Pods and External metrics, not `{other}`"
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if let Some(name) = name
                && !known.contains(&name.as_str())
            {
                e.at(
                    &format!("{path}.metrics[{m}].{field}"),
                    format!(
                        "the simulator serves no {} metric `{name}`{}",
                        metric.type_,
                        did_you_mean(&name, known),
                    ),
                );
                ok = false;
            }
        }
        ok
    };
    let hpa_errors = |e: &mut Errs, spec: &hpa::HpaSpec| -> bool {
        let errs = hpa::validate(spec);
        for fe in &errs {
            let at = format!("{path}.{}", fe.path);
            let err = error_at(&file, &e.l.tree, &at, fe.message.clone());
            e.out.push(err);
        }
        errs.is_empty()
    };
    match common.kind {
        AutoscalerKind::Hpa => {
            let spec: hpa::HpaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            if !hpa_errors(e, &spec) || !check_names(e, &spec) {
                return None;
            }
            if replicas < spec.min_replicas as u64 || replicas > spec.max_replicas as u64 {
                e.at(
                    &format!("services[{i}].replicas"),
                    format!(
                        "the initial {replicas} replicas must be from minReplicas ({}) to maxReplicas ({})",
                        spec.min_replicas, spec.max_replicas
                    ),
                );
                return None;
            }
            Some(AutoscalerPlan::Hpa {
                spec,
                cfg,
                sync,
                pipelines,
            })
        }
        AutoscalerKind::Kpa => {
            let spec: kpa::KpaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            match spec.resolve() {
                Ok(c) => Some(AutoscalerPlan::Kpa(c)),
                Err(msg) => {
                    e.at(&path, msg);
                    None
                }
            }
        }
        AutoscalerKind::Keda => {
            let spec: keda::KedaSpec = match from_tree(&file, &sub(own)) {
                Ok(s) => s,
                Err(err) => {
                    e.out.push(place(err));
                    return None;
                }
            };
            let keda = match spec.resolve() {
                Ok(c) => c,
                Err(msg) => {
                    e.at(&path, msg);
                    return None;
                }
            };
            for (t, trig) in keda.triggers.iter().enumerate() {
                if !autoscaler_metrics::EXTERNAL.contains(&trig.metric.as_str()) {
                    e.at(
                        &format!("{path}.triggers[{t}].metric"),
                        format!(
                            "the simulator serves no external metric `{}`{}",
                            trig.metric,
                            did_you_mean(&trig.metric, autoscaler_metrics::EXTERNAL),
                        ),
                    );
                    return None;
                }
            }
            // The HPA KEDA creates: one External AverageValue metric per trigger.
            let metrics = keda
                .hpa_targets()
                .into_iter()
                .map(|t| hpa::MetricSpec {
                    type_: "External".into(),
                    external: Some(hpa::ExternalMetricSource {
                        metric: Some(hpa::MetricIdentifier {
                            name: t.metric_name,
                            selector: None,
                        }),
                        target: Some(hpa::MetricTarget {
                            type_: "AverageValue".into(),
                            value: None,
                            average_value: Some(hpa::Quantity(
                                (t.average_value * 1000.0).round() as i64
                            )),
                            average_utilization: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            let spec = hpa::HpaSpec {
                min_replicas: keda.hpa_min_replicas(),
                max_replicas: keda.hpa_max_replicas(),
                metrics,
                ..Default::default()
            };
            Some(AutoscalerPlan::Keda {
                keda,
                spec,
                cfg,
                sync,
                pipelines,
            })
        }
    }
}
