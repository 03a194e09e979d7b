//! The replica calculator (pkg/controller/podautoscaler/replica_calculator.go): one metric's
//! proposed replica count from the pods and their samples.

use super::io::{ControllerConfig, MetricInputs, MetricResult, PodPhase, PodSample};
use super::quantity::format_milli;
use super::spec::MetricSpec;
use std::collections::BTreeMap;

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
pub(super) struct Proposal {
    pub(super) replicas: i32,
    pub(super) result: MetricResult,
    pub(super) note: String,
}

pub(super) struct Calc<'a> {
    pub(super) cfg: &'a ControllerConfig,
    pub(super) tol: Tolerances,
    pub(super) current: i32,
    pub(super) pods: &'a [PodSample],
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

    /// `computeReplicasForMetric`; the spec has passed [`validate`](super::validate).
    pub(super) fn metric(&self, m: &MetricSpec, inputs: &MetricInputs) -> Result<Proposal, String> {
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
