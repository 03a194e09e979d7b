//! Autoscalers driving the replica counts: the metric signals each pod exposes, the
//! pipelines that collect them (metrics-server for CPU, Prometheus and its adapter for custom
//! and external metrics), and the HPA, KPA and KEDA loops.
//!
//! Every pod's signals are sampled once per second (as DCGM and the queue-proxy sample
//! theirs). A metric seen by an autoscaler at time t is the average over the pipeline's window
//! ending at the last scrape before t: scrape times are multiples of the scrape interval.

use super::plan::{AutoscalerPlan, Pipelines};
use super::world::{Ev, PodState, World};
use crate::control::hpa::{HpaController, MetricInputs, PodPhase, PodSample};
use crate::control::keda::{KedaAction, KedaActivation};
use crate::control::kpa::Kpa;
use crate::engine::SimTime;
use std::collections::{BTreeMap, VecDeque};

/// Signal sampling period.
const TICK: SimTime = SimTime::from_secs(1);

/// One pod's signals at one second.
#[derive(Clone, Copy, Debug, Default)]
struct PodSignal {
    /// Busy fraction of its execution slots (an LLM engine: an iteration running).
    busy: f64,
    /// Requests it holds, queued or running.
    inflight: f64,
    /// Requests queued at it.
    queue: f64,
    /// KV cache blocks used / all.
    kv: f64,
    /// Requests it has started, cumulative.
    started: u64,
}

/// The service's totals at one second.
#[derive(Clone, Copy, Debug, Default)]
struct SvcSignal {
    queue: f64,
    inflight: f64,
    arrived: u64,
}

/// Samples at whole seconds, oldest first, kept for the longest window.
#[derive(Debug, Default)]
struct Series<T> {
    samples: VecDeque<(u64, T)>,
}

impl<T: Copy> Series<T> {
    fn push(&mut self, t: u64, v: T, keep: u64) {
        self.samples.push_back((t, v));
        while self.samples.front().is_some_and(|(s, _)| *s + keep < t) {
            self.samples.pop_front();
        }
    }

    /// Samples in (end - window, end].
    fn window(&self, end: u64, window: u64) -> impl Iterator<Item = &(u64, T)> {
        self.samples
            .iter()
            .filter(move |(t, _)| *t <= end && *t + window > end)
    }
}

fn mean<T>(it: impl Iterator<Item = T>, f: impl Fn(T) -> f64) -> Option<f64> {
    let (mut n, mut sum) = (0.0, 0.0);
    for x in it {
        n += 1.0;
        sum += f(x);
    }
    (n > 0.0).then(|| sum / n)
}

/// The rate of a cumulative counter over a window: (last - first) / seconds between them.
fn rate<T>(samples: &[&(u64, T)], count: impl Fn(&T) -> u64) -> Option<f64> {
    let (a, b) = (samples.first()?, samples.last()?);
    if b.0 == a.0 {
        return None;
    }
    Some((count(&b.1) - count(&a.1)) as f64 / (b.0 - a.0) as f64)
}

enum Kind {
    Hpa(Box<HpaController>),
    Kpa(Box<Kpa>),
    Keda(Box<KedaActivation>, Box<HpaController>),
}

/// One service's autoscaler and its metric history.
pub(super) struct Scaler {
    kind: Kind,
    pipelines: Pipelines,
    pods: BTreeMap<u32, Series<PodSignal>>,
    svc: Series<SvcSignal>,
    keep: u64,
}

impl Scaler {
    pub(super) fn new(plan: &AutoscalerPlan) -> Scaler {
        let (kind, pipelines) = match plan {
            AutoscalerPlan::Hpa {
                spec,
                cfg,
                pipelines,
                ..
            } => (
                Kind::Hpa(Box::new(HpaController::with_config(spec.clone(), *cfg))),
                *pipelines,
            ),
            AutoscalerPlan::Kpa(c) => (
                Kind::Kpa(Box::new(Kpa::new(*c))),
                Pipelines {
                    resource_interval: TICK,
                    custom_interval: TICK,
                    custom_window: TICK,
                },
            ),
            AutoscalerPlan::Keda {
                keda,
                spec,
                cfg,
                pipelines,
                ..
            } => (
                Kind::Keda(
                    Box::new(KedaActivation::new(keda.clone())),
                    Box::new(HpaController::with_config(spec.clone(), *cfg)),
                ),
                *pipelines,
            ),
        };
        let keep = (pipelines.custom_window.0.max(pipelines.resource_interval.0)
            + pipelines.custom_interval.0)
            / SimTime::NANOS_PER_SEC
            + 2;
        Scaler {
            kind,
            pipelines,
            pods: BTreeMap::new(),
            svc: Series::default(),
            keep,
        }
    }
}

/// Seconds, as the controllers count them.
fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

/// The last scrape at or before `now` of a pipeline scraping every `interval`, in whole
/// seconds.
fn last_scrape(now: SimTime, interval: SimTime) -> u64 {
    (now.0 / interval.0 * interval.0) / SimTime::NANOS_PER_SEC
}

impl World<'_> {
    /// Creates the autoscalers and schedules their first events.
    pub(super) fn start_autoscalers(&mut self) {
        let plan = self.plan;
        for (si, sp) in plan.services.iter().enumerate() {
            let Some(a) = &sp.autoscaler else {
                self.scalers.push(None);
                continue;
            };
            self.scalers.push(Some(Scaler::new(a)));
            self.q.schedule(TICK, Ev::MetricTick(si as u32));
            let first = match a {
                AutoscalerPlan::Hpa { sync, .. } => *sync,
                AutoscalerPlan::Kpa(c) => SimTime::from_secs_f64(c.tick_interval_s),
                AutoscalerPlan::Keda { sync, keda, .. } => {
                    self.q.schedule(
                        SimTime::from_secs_f64(keda.polling_interval_s),
                        Ev::KedaPoll(si as u32),
                    );
                    *sync
                }
            };
            self.q.schedule(first, Ev::AutoscalerSync(si as u32));
        }
    }

    /// Samples every pod's and the service's signals (once per second).
    pub(super) fn on_metric_tick(&mut self, now: SimTime, si: usize) {
        let t = now.0 / SimTime::NANOS_PER_SEC;
        let Some(scaler) = self.scalers[si].as_mut() else {
            return;
        };
        let keep = scaler.keep;
        let s = &self.svcs[si];
        for &r in &s.reps {
            let rep = &self.reps[r as usize];
            if !matches!(rep.state, PodState::Ready | PodState::Terminating) {
                continue;
            }
            let (busy, held, kv) = match &rep.llm {
                Some(e) => (
                    if e.busy() { 1.0 } else { 0.0 },
                    e.held(),
                    f64::from(e.used_blocks()) / f64::from(e.config().kv_blocks.max(1)),
                ),
                None => {
                    let busy_slots = rep.slots.iter().filter(|s| !s.batch.is_empty()).count();
                    let running: usize = rep.slots.iter().map(|s| s.batch.len()).sum();
                    (
                        busy_slots as f64 / rep.slots.len().max(1) as f64,
                        running,
                        0.0,
                    )
                }
            };
            let sig = PodSignal {
                busy,
                inflight: (rep.queue.len() + held) as f64,
                queue: rep.queue.len() as f64,
                kv,
                started: rep.started_total,
            };
            scaler.pods.entry(r).or_default().push(t, sig, keep);
        }
        // Pods gone for longer than the window have no use for their history.
        scaler.pods.retain(|r, series| {
            self.reps[*r as usize].state != PodState::Gone
                || series.samples.back().is_some_and(|(x, _)| x + keep >= t)
        });
        let total = SvcSignal {
            queue: s.waiting as f64,
            inflight: (s.waiting + s.running) as f64,
            arrived: s.admitted_total,
        };
        scaler.svc.push(t, total, keep);
        if let Kind::Kpa(kpa) = &mut scaler.kind {
            // Knative's concurrency: requests in the queue-proxies and the activator.
            let poke = kpa.record(secs(now), total.inflight);
            if poke {
                self.q.schedule(now, Ev::KpaPoke(si as u32));
            }
        }
        self.q.schedule(now + TICK, Ev::MetricTick(si as u32));
    }

    /// What the HPA sees of the service's pods at `now`.
    fn pod_samples(&self, now: SimTime, si: usize) -> Vec<PodSample> {
        let Some(scaler) = self.scalers[si].as_ref() else {
            return Vec::new();
        };
        let p = scaler.pipelines;
        let sp = &self.plan.services[si];
        let custom_end = last_scrape(now, p.custom_interval);
        let custom_w = p.custom_window.0 / SimTime::NANOS_PER_SEC;
        let res_end = last_scrape(now, p.resource_interval);
        let res_w = (p.resource_interval.0 / SimTime::NANOS_PER_SEC).max(1);
        let milli = |v: f64| (v * 1000.0).round() as i64;
        let mut out = Vec::new();
        for &r in &self.svcs[si].reps {
            let rep = &self.reps[r as usize];
            let running = matches!(rep.state, PodState::Ready | PodState::Terminating)
                || (rep.state == PodState::Starting && now >= rep.image_at);
            let phase = if running {
                PodPhase::Running
            } else {
                PodPhase::Pending
            };
            let started_ago = if running {
                secs(now.since(rep.image_at))
            } else {
                0.0
            };
            let ready_changed_ago = match rep.state {
                PodState::Ready | PodState::Terminating => secs(now.since(rep.ready_since)),
                _ => started_ago,
            };
            let mut usage = BTreeMap::new();
            let mut pod_metrics = BTreeMap::new();
            if let Some(series) = scaler.pods.get(&r) {
                if let Some(b) = mean(series.window(res_end, res_w), |x| x.1.busy) {
                    // Modelled CPU: a tenth of the request at idle, all of it when busy.
                    usage.insert(
                        "cpu".to_string(),
                        (sp.cpu_request_milli as f64 * (0.1 + 0.9 * b)).round() as i64,
                    );
                }
                let w: Vec<&(u64, PodSignal)> = series.window(custom_end, custom_w).collect();
                if !w.is_empty() {
                    let m = |f: fn(&PodSignal) -> f64| {
                        milli(w.iter().map(|x| f(&x.1)).sum::<f64>() / w.len() as f64)
                    };
                    pod_metrics.insert("gpu_utilization".to_string(), m(|s| s.busy));
                    pod_metrics.insert("inflight_requests".to_string(), m(|s| s.inflight));
                    pod_metrics.insert("queue_length".to_string(), m(|s| s.queue));
                    pod_metrics.insert("kv_cache_utilization".to_string(), m(|s| s.kv));
                    if let Some(rps) = rate(&w, |s| s.started) {
                        pod_metrics.insert("requests_per_second".to_string(), milli(rps));
                    }
                }
            }
            out.push(PodSample {
                name: format!("{}-{r}", sp.name),
                phase,
                ready: rep.state == PodState::Ready,
                deleting: rep.state == PodState::Terminating,
                started_ago,
                ready_changed_ago,
                requests: [("cpu".to_string(), sp.cpu_request_milli)].into(),
                usage,
                pod_metrics,
            });
        }
        out
    }

    /// External metric totals (milli-units) at `now`, by the simulator's names.
    fn external_values(&self, now: SimTime, si: usize) -> BTreeMap<&'static str, f64> {
        let mut out = BTreeMap::new();
        let Some(scaler) = self.scalers[si].as_ref() else {
            return out;
        };
        let p = scaler.pipelines;
        let end = last_scrape(now, p.custom_interval);
        let w: Vec<&(u64, SvcSignal)> = scaler
            .svc
            .window(end, p.custom_window.0 / SimTime::NANOS_PER_SEC)
            .collect();
        if let Some(q) = mean(w.iter(), |x| x.1.queue) {
            out.insert("total_queue_length", q);
        }
        if let Some(q) = mean(w.iter(), |x| x.1.inflight) {
            out.insert("total_inflight_requests", q);
        }
        if let Some(r) = rate(&w, |s| s.arrived) {
            out.insert("total_requests_per_second", r);
        }
        out
    }

    /// One autoscaler decision (HPA sync, KPA tick; `periodic` false for a KPA poke at a
    /// cold start, between ticks).
    pub(super) fn on_autoscaler_sync(&mut self, now: SimTime, si: usize, periodic: bool) {
        let plan = self.plan;
        let Some(a) = &plan.services[si].autoscaler else {
            return;
        };
        let active = self.svcs[si].active as i32;
        let ready = self.svcs[si].ready.len() as i32;
        let pods = match a {
            AutoscalerPlan::Kpa(_) => Vec::new(),
            _ => self.pod_samples(now, si),
        };
        let external = self.external_values(now, si);
        let Some(scaler) = self.scalers[si].as_mut() else {
            return;
        };
        let desired = match &mut scaler.kind {
            Kind::Hpa(hpa) => {
                let inputs = MetricInputs {
                    external: external
                        .iter()
                        .map(|(k, v)| (k.to_string(), (v * 1000.0).round() as i64))
                        .collect(),
                    ..Default::default()
                };
                Some(hpa.sync(secs(now), active, &pods, &inputs).desired)
            }
            Kind::Keda(keda, hpa) => {
                // At zero the HPA is inactive (scaling disabled); KEDA activates the target.
                if active == 0 {
                    None
                } else {
                    let inputs = MetricInputs {
                        external: keda
                            .config()
                            .triggers
                            .iter()
                            .enumerate()
                            .map(|(i, t)| {
                                let v = external.get(t.metric.as_str()).copied().unwrap_or(0.0);
                                (format!("s{i}-{}", t.metric), (v * 1000.0).round() as i64)
                            })
                            .collect(),
                        ..Default::default()
                    };
                    Some(hpa.sync(secs(now), active, &pods, &inputs).desired)
                }
            }
            Kind::Kpa(kpa) => Some(kpa.decide(secs(now), ready).desired),
        };
        let next = match a {
            AutoscalerPlan::Hpa { sync, .. } | AutoscalerPlan::Keda { sync, .. } => *sync,
            AutoscalerPlan::Kpa(c) => SimTime::from_secs_f64(c.tick_interval_s),
        };
        if periodic {
            self.q.schedule(now + next, Ev::AutoscalerSync(si as u32));
        }
        if let Some(d) = desired {
            self.scale_to(now, si, d.max(0) as u32);
        }
    }

    /// A KEDA poll: activation from zero, or deactivation after the cooldown.
    pub(super) fn on_keda_poll(&mut self, now: SimTime, si: usize) {
        let external = self.external_values(now, si);
        let active = self.svcs[si].active as i32;
        let Some(scaler) = self.scalers[si].as_mut() else {
            return;
        };
        let Kind::Keda(keda, _) = &mut scaler.kind else {
            return;
        };
        let values: Vec<f64> = keda
            .config()
            .triggers
            .iter()
            .map(|t| external.get(t.metric.as_str()).copied().unwrap_or(0.0))
            .collect();
        let action = keda.poll(secs(now), &values, active);
        let next = SimTime::from_secs_f64(keda.polling_interval_s());
        self.q.schedule(now + next, Ev::KedaPoll(si as u32));
        if let KedaAction::ScaleTo(n) = action {
            self.scale_to(now, si, n.max(0) as u32);
        }
    }
}
