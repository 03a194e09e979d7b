//! Autoscalers as they run in a cluster: the metric signals each pod exposes, the pipelines
//! that collect them (metrics-server for CPU, Prometheus and its adapter for custom and
//! external metrics), and the HPA, KPA and KEDA loops that act on what the pipelines show.
//!
//! Every pod's signals are sampled once per second (as DCGM and the queue-proxy sample
//! theirs). A metric seen by an autoscaler at time t is the average over the pipeline's window
//! ending at the last scrape before t: scrape times are multiples of the scrape interval.
//!
//! [`Control`] holds one [`Scaler`] per autoscaled service and schedules its own
//! [`ControlEv`] timers; the world hands it what it reads (pod signals, the pods' status) and
//! applies the replica counts it decides.

use super::hpa::{HpaController, MetricInputs, PodPhase, PodSample};
use super::keda::{KedaAction, KedaActivation};
use super::kpa::Kpa;
use super::plan::{AutoscalerPlan, Pipelines};
use crate::cluster::PodStatus;
use crate::engine::{SimTime, Sink};
use std::collections::{BTreeMap, VecDeque};

/// Signal sampling period.
const TICK: SimTime = SimTime::from_secs(1);

/// The autoscalers' timers, by service index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlEv {
    /// Once a second: the service's pods' signals are sampled.
    MetricTick(u32),
    /// An autoscaler's periodic decision (HPA sync, KPA tick).
    Sync(u32),
    /// A KEDA poll.
    KedaPoll(u32),
    /// A KPA decision at once: requests arrived while at zero (cold start).
    KpaPoke(u32),
}

/// One pod's signals at one second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PodSignal {
    /// Busy fraction of its execution slots (an LLM engine: an iteration running).
    pub busy: f64,
    /// Requests it holds, queued or running.
    pub inflight: f64,
    /// Requests queued at it.
    pub queue: f64,
    /// KV cache blocks used / all.
    pub kv: f64,
    /// Requests it has started, cumulative.
    pub started: u64,
}

/// The service's totals at one second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SvcSignal {
    /// Requests waiting.
    pub queue: f64,
    /// Requests waiting or running.
    pub inflight: f64,
    /// Requests admitted, cumulative.
    pub arrived: u64,
}

/// A pod of the service as an autoscaler reads it.
#[derive(Clone, Copy, Debug)]
pub struct PodInput {
    /// The pod's creation number (its name, and the key of its metric history).
    pub uid: u64,
    /// What the API shows of it.
    pub status: PodStatus,
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

/// How a pod's CPU use (the HPA's `cpu` metric) follows from the busy share of its
/// execution slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CpuUse {
    /// A GPU server's host process: a tenth of its request when idle, all of it when every
    /// slot is busy.
    #[default]
    GpuHost,
    /// A CPU service (`cpus_per_replica`), whose slots are worker threads on its CPUs: the busy
    /// share of its slots times its CPUs, nothing when idle.
    BusySlots,
}

impl CpuUse {
    /// Milli-CPUs used by a pod requesting `request_milli` whose slots were busy a share
    /// `busy` (0..1) of the time.
    pub fn milli(self, request_milli: i64, busy: f64) -> i64 {
        let share = match self {
            CpuUse::GpuHost => 0.1 + 0.9 * busy,
            CpuUse::BusySlots => busy,
        };
        (request_milli as f64 * share).round() as i64
    }
}

enum Kind {
    Hpa(Box<HpaController>),
    Kpa(Box<Kpa>),
    Keda(Box<KedaActivation>, Box<HpaController>),
}

/// One service's autoscaler and its metric history.
pub struct Scaler {
    plan: AutoscalerPlan,
    kind: Kind,
    pipelines: Pipelines,
    pods: BTreeMap<u64, Series<PodSignal>>,
    svc: Series<SvcSignal>,
    keep: u64,
}

impl Scaler {
    /// A fresh autoscaler of `plan`, with no history.
    pub fn new(plan: &AutoscalerPlan) -> Scaler {
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
            plan: plan.clone(),
            kind,
            pipelines,
            pods: BTreeMap::new(),
            svc: Series::default(),
            keep,
        }
    }

    /// Its decision period.
    fn sync_period(&self) -> SimTime {
        match &self.plan {
            AutoscalerPlan::Hpa { sync, .. } | AutoscalerPlan::Keda { sync, .. } => *sync,
            AutoscalerPlan::Kpa(c) => SimTime::from_secs_f64(c.tick_interval_s),
        }
    }

    /// Records the signals of one second: each pod's (by creation number), and the
    /// service's. Returns whether a KPA at zero wants to decide at once (a cold start).
    fn record(
        &mut self,
        now: SimTime,
        pods: impl Iterator<Item = (u64, PodSignal)>,
        total: SvcSignal,
    ) -> bool {
        let t = now.0 / SimTime::NANOS_PER_SEC;
        let keep = self.keep;
        for (uid, sig) in pods {
            self.pods.entry(uid).or_default().push(t, sig, keep);
        }
        // A pod no longer sampled (gone, or lost with its node) keeps its history only for
        // the longest window.
        self.pods
            .retain(|_, series| series.samples.back().is_some_and(|(x, _)| x + keep >= t));
        self.svc.push(t, total, keep);
        match &mut self.kind {
            // Knative's concurrency: requests in the queue-proxies and the activator.
            Kind::Kpa(kpa) => kpa.record(secs(now), total.inflight),
            _ => false,
        }
    }

    /// What the HPA sees of the service's pods at `now`.
    fn pod_samples(
        &self,
        now: SimTime,
        name: &str,
        cpu_request_milli: i64,
        cpu_use: CpuUse,
        pods: &[PodInput],
    ) -> Vec<PodSample> {
        let p = self.pipelines;
        let custom_end = last_scrape(now, p.custom_interval);
        let custom_w = p.custom_window.0 / SimTime::NANOS_PER_SEC;
        let res_end = last_scrape(now, p.resource_interval);
        let res_w = (p.resource_interval.0 / SimTime::NANOS_PER_SEC).max(1);
        let milli = |v: f64| (v * 1000.0).round() as i64;
        let mut out = Vec::with_capacity(pods.len());
        for pod in pods {
            let st = pod.status;
            let mut usage = BTreeMap::new();
            let mut pod_metrics = BTreeMap::new();
            if let Some(series) = self.pods.get(&pod.uid) {
                if let Some(b) = mean(series.window(res_end, res_w), |x| x.1.busy) {
                    usage.insert("cpu".to_string(), cpu_use.milli(cpu_request_milli, b));
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
                name: format!("{name}-{}", pod.uid),
                phase: if st.running {
                    PodPhase::Running
                } else {
                    PodPhase::Pending
                },
                ready: st.ready,
                deleting: st.deleting,
                started_ago: secs(st.started_ago),
                ready_changed_ago: secs(st.ready_changed_ago),
                requests: [("cpu".to_string(), cpu_request_milli)].into(),
                usage,
                pod_metrics,
            });
        }
        out
    }

    /// External metric totals (milli-units) at `now`, by the simulator's names.
    fn external_values(&self, now: SimTime) -> BTreeMap<&'static str, f64> {
        let mut out = BTreeMap::new();
        let p = self.pipelines;
        let end = last_scrape(now, p.custom_interval);
        let w: Vec<&(u64, SvcSignal)> = self
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

/// What a service's pods look like to its autoscaler at a decision.
pub struct SyncInput<'a> {
    /// The service's name (pods are named after it).
    pub name: &'a str,
    /// CPU request of a pod, milli-cores.
    pub cpu_request_milli: i64,
    /// How its CPU use follows from its busy slots.
    pub cpu_use: CpuUse,
    /// Pods not being deleted (the current replica count).
    pub active: u32,
    /// Pods in the endpoints.
    pub ready: u32,
    /// Every pod of the service, in creation order.
    pub pods: &'a [PodInput],
}

/// The autoscalers of one replication, by service index.
pub struct Control {
    scalers: Vec<Option<Scaler>>,
}

impl Control {
    /// One autoscaler per service that has one.
    pub fn new<'a>(plans: impl Iterator<Item = Option<&'a AutoscalerPlan>>) -> Control {
        Control {
            scalers: plans.map(|p| p.map(Scaler::new)).collect(),
        }
    }

    /// Schedules every autoscaler's first events.
    pub fn start(&self, q: &mut impl Sink<ControlEv>) {
        for (si, s) in self.scalers.iter().enumerate() {
            let Some(s) = s else {
                continue;
            };
            let si = si as u32;
            q.at(TICK, ControlEv::MetricTick(si));
            if let AutoscalerPlan::Keda { keda, .. } = &s.plan {
                q.at(
                    SimTime::from_secs_f64(keda.polling_interval_s),
                    ControlEv::KedaPoll(si),
                );
            }
            q.at(s.sync_period(), ControlEv::Sync(si));
        }
    }

    /// Whether service `si` is autoscaled.
    pub fn has(&self, si: usize) -> bool {
        self.scalers[si].is_some()
    }

    /// Whether service `si`'s autoscaler is a KPA (which reads no pods).
    pub fn is_kpa(&self, si: usize) -> bool {
        matches!(
            self.scalers[si].as_ref().map(|s| &s.kind),
            Some(Kind::Kpa(_))
        )
    }

    /// One second's sample of service `si`'s signals.
    pub fn tick(
        &mut self,
        now: SimTime,
        si: usize,
        pods: impl Iterator<Item = (u64, PodSignal)>,
        total: SvcSignal,
        q: &mut impl Sink<ControlEv>,
    ) {
        let Some(scaler) = self.scalers[si].as_mut() else {
            return;
        };
        if scaler.record(now, pods, total) {
            q.at(now, ControlEv::KpaPoke(si as u32));
        }
        q.at(now + TICK, ControlEv::MetricTick(si as u32));
    }

    /// One decision of service `si`'s autoscaler (HPA sync, KPA tick; `periodic` false for
    /// a KPA poke at a cold start, between ticks): the replica count it wants, if any.
    pub fn sync(
        &mut self,
        now: SimTime,
        si: usize,
        periodic: bool,
        input: &SyncInput,
        q: &mut impl Sink<ControlEv>,
    ) -> Option<u32> {
        let scaler = self.scalers[si].as_mut()?;
        let pods = match scaler.kind {
            Kind::Kpa(_) => Vec::new(),
            _ => scaler.pod_samples(
                now,
                input.name,
                input.cpu_request_milli,
                input.cpu_use,
                input.pods,
            ),
        };
        let external = scaler.external_values(now);
        let active = input.active as i32;
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
            Kind::Kpa(kpa) => Some(kpa.decide(secs(now), input.ready as i32).desired),
        };
        if periodic {
            q.at(now + scaler.sync_period(), ControlEv::Sync(si as u32));
        }
        desired.map(|d| d.max(0) as u32)
    }

    /// A KEDA poll of service `si`: activation from zero, or deactivation after the
    /// cooldown. Returns the replica count it sets, if any.
    pub fn keda_poll(
        &mut self,
        now: SimTime,
        si: usize,
        active: u32,
        q: &mut impl Sink<ControlEv>,
    ) -> Option<u32> {
        let scaler = self.scalers[si].as_mut()?;
        let external = scaler.external_values(now);
        let Kind::Keda(keda, _) = &mut scaler.kind else {
            return None;
        };
        let values: Vec<f64> = keda
            .config()
            .triggers
            .iter()
            .map(|t| external.get(t.metric.as_str()).copied().unwrap_or(0.0))
            .collect();
        let action = keda.poll(secs(now), &values, active as i32);
        let next = SimTime::from_secs_f64(keda.polling_interval_s());
        q.at(now + next, ControlEv::KedaPoll(si as u32));
        match action {
            KedaAction::ScaleTo(n) => Some(n.max(0) as u32),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CpuUse;

    #[test]
    fn cpu_use_follows_the_busy_share_of_slots() {
        // A 2-CPU service half busy uses 1000m; idle, nothing; all busy, its request.
        assert_eq!(CpuUse::BusySlots.milli(2000, 0.5), 1000);
        assert_eq!(CpuUse::BusySlots.milli(2000, 0.0), 0);
        assert_eq!(CpuUse::BusySlots.milli(2000, 1.0), 2000);
        assert_eq!(CpuUse::BusySlots.milli(8000, 0.3), 2400);
        // A GPU server's host process: a tenth at idle, 0.1 + 0.9 x 0.5 = 55% half busy.
        assert_eq!(CpuUse::GpuHost.milli(1000, 0.0), 100);
        assert_eq!(CpuUse::GpuHost.milli(2000, 0.5), 1100);
    }
}
