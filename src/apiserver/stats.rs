//! The control plane's figures: per priority level, per resource, the API servers' totals,
//! etcd, and the Kubernetes scalability SLOs.

use super::etcd::Etcd;
use super::plan::{ControlPlanePlan, Resource, Verb};
use crate::engine::SimTime;
use crate::stats::{IntervalHist, LatencyHist, TimeIntegral};

/// The SLO's window: latency percentiles are judged per 5 minutes (sig-scalability's API
/// call latency SLI).
const SLO_WINDOW: SimTime = SimTime::from_secs(300);
/// Mutating and single-object read calls: p99 at most 1 s (sig-scalability SLOs).
const SLO_CALL_MS: f64 = 1000.0;
/// Cluster- or namespace-scoped LISTs: p99 at most 30 s.
const SLO_LIST_MS: f64 = 30_000.0;
/// Stateless pod start-up, image pull excluded: p99 at most 5 s.
const SLO_STARTUP_MS: f64 = 5000.0;

/// Metrics of the control plane's components, by component kind.
pub const APISERVER_METRICS: &[&str] = &[
    // apiserver
    "requests_rps",
    "mutating_rps",
    "readonly_rps",
    "mutating_latency_p99_ms",
    "readonly_latency_p99_ms",
    "slo_mutating_p99_worst_ms",
    "mutating_p99_worst_ms",
    "slo_readonly_p99_worst_ms",
    "slo_list_p99_worst_ms",
    "pod_startup_p99_ms",
    "rejected_429",
    "watch_events_per_s",
    "watch_bytes_per_s",
    "memory_gib",
    "slo_met",
    // apf/<level>
    "nominal_seats",
    "dispatched_rps",
    "wait_p99_ms",
    "seats_in_use_mean",
    // api/<resource>
    "writes_per_s",
    "reads_per_s",
    // etcd
    "write_latency_p99_ms",
    "db_size_gib",
    "writes_refused",
    // client/<name>
    "latency_p99_ms",
];

/// The priority levels' components, `apf/<level>`, in the order of
/// [`super::apf::DEFAULT_LEVELS`].
pub const APF_COMPONENTS: [&str; 8] = [
    "apf/exempt",
    "apf/system",
    "apf/node-high",
    "apf/leader-election",
    "apf/workload-high",
    "apf/workload-low",
    "apf/global-default",
    "apf/catch-all",
];

/// One priority level in a timeseries sample, summed over the API servers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LevelSample {
    /// Calls waiting in its queues at the sample.
    pub queue_length: f64,
    /// Calls started per second over the interval.
    pub dispatched_rps: f64,
    /// 429s per second over the interval (every try answered 429 counts).
    pub rejected_rps: f64,
    /// Seats held at the sample (executing calls and final seats).
    pub seats_in_use: f64,
}

/// The control plane's timeseries sample: the interval since the last sample, and the state
/// at this one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiSample {
    /// Per priority level, in the order of [`APF_COMPONENTS`]; None with APF off.
    pub levels: Option<[LevelSample; APF_COMPONENTS.len()]>,
    /// Calls answered per second.
    pub requests_rps: f64,
    /// p99 latency of the mutating calls answered (NaN if none was).
    pub mutating_latency_p99_ms: f64,
    /// Watch event bytes sent per second.
    pub watch_bytes_per_s: f64,
    /// One API server's memory at the sample, GiB.
    pub memory_gib: f64,
    /// etcd writes committed per second.
    pub etcd_writes_per_s: f64,
    /// etcd's database at the sample, GiB.
    pub db_size_gib: f64,
}

/// Counts since the last timeseries sample. Unlike the summary's figures they run on
/// through the warm-up's end: the timeseries covers the whole run.
#[derive(Clone, Default)]
struct IntervalCounts {
    dispatched: [u64; APF_COMPONENTS.len()],
    rejected: [u64; APF_COMPONENTS.len()],
    requests: u64,
    mutating: IntervalHist,
    watch_bytes: f64,
    etcd_writes: u64,
}

#[derive(Default, Clone)]
struct LevelStats {
    dispatched: u64,
    wait: LatencyHist,
    rejected: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct ResStats {
    writes: u64,
    reads: u64,
    watch_bytes: f64,
}

/// Per-window latency of one (resource, verb), and the worst window's p99.
#[derive(Clone, Default)]
struct Window {
    /// The SLI: without the wait in APF.
    hist: LatencyHist,
    worst_ms: f64,
    /// As the client sees it: from the first try to the final answer.
    full: LatencyHist,
    worst_full_ms: f64,
}

impl Window {
    fn close(&mut self) {
        if self.hist.count() > 0 {
            self.worst_ms = self.worst_ms.max(self.hist.quantile_ms(0.99));
            self.hist.reset();
        }
        if self.full.count() > 0 {
            self.worst_full_ms = self.worst_full_ms.max(self.full.quantile_ms(0.99));
            self.full.reset();
        }
    }
}

/// The running figures.
pub struct Stats {
    start: SimTime,
    levels: Vec<LevelStats>,
    /// Seats in use, per server and level.
    seats: Vec<Vec<TimeIntegral>>,
    res: [ResStats; Resource::ALL.len()],
    mutating: LatencyHist,
    readonly: LatencyHist,
    mutating_n: u64,
    readonly_n: u64,
    rejected: u64,
    /// Windows per (resource, verb).
    windows: Vec<Window>,
    /// When the next window starts, from `start` (ns).
    next_window: u64,
    watch_events: u64,
    watch_bytes: f64,
    etcd_latency: LatencyHist,
    startup: LatencyHist,
    memory_peak: f64,
    interval: IntervalCounts,
}

fn window_key(res: Resource, verb: Verb) -> usize {
    res.index() * Verb::ALL.len() + verb as usize
}

impl Stats {
    /// Empty figures for `levels` priority levels.
    pub fn new(plan: &ControlPlanePlan, levels: usize) -> Stats {
        Stats {
            start: SimTime::ZERO,
            levels: vec![LevelStats::default(); levels],
            seats: vec![vec![TimeIntegral::default(); levels]; plan.apiservers as usize],
            res: [ResStats::default(); Resource::ALL.len()],
            mutating: LatencyHist::new(),
            readonly: LatencyHist::new(),
            mutating_n: 0,
            readonly_n: 0,
            rejected: 0,
            windows: vec![Window::default(); Resource::ALL.len() * Verb::ALL.len()],
            next_window: SLO_WINDOW.0,
            watch_events: 0,
            watch_bytes: 0.0,
            etcd_latency: LatencyHist::new(),
            startup: LatencyHist::new(),
            memory_peak: 0.0,
            interval: IntervalCounts::default(),
        }
    }

    /// Starts afresh at the warm-up's end (`seats`: in use now, per server and level).
    pub fn restart(&mut self, now: SimTime, seats: &[Vec<u32>]) {
        let mut fresh = Stats::new_like(self);
        fresh.interval = std::mem::take(&mut self.interval);
        fresh.start = now;
        fresh.next_window = SLO_WINDOW.0;
        for (s, per) in seats.iter().enumerate() {
            for (l, &v) in per.iter().enumerate() {
                let mut t = TimeIntegral::default();
                t.add(now, i64::from(v));
                t.restart(now);
                fresh.seats[s][l] = t;
            }
        }
        *self = fresh;
    }

    fn new_like(s: &Stats) -> Stats {
        Stats {
            start: s.start,
            levels: vec![LevelStats::default(); s.levels.len()],
            seats: vec![vec![TimeIntegral::default(); s.levels.len()]; s.seats.len()],
            res: [ResStats::default(); Resource::ALL.len()],
            mutating: LatencyHist::new(),
            readonly: LatencyHist::new(),
            mutating_n: 0,
            readonly_n: 0,
            rejected: 0,
            windows: vec![Window::default(); Resource::ALL.len() * Verb::ALL.len()],
            next_window: SLO_WINDOW.0,
            watch_events: 0,
            watch_bytes: 0.0,
            etcd_latency: LatencyHist::new(),
            startup: LatencyHist::new(),
            memory_peak: 0.0,
            interval: IntervalCounts::default(),
        }
    }

    /// Seats in use at server `s`, level `l` change by `delta` at `t`.
    #[inline]
    pub fn seats(&mut self, s: usize, l: usize, t: SimTime, delta: i64) {
        self.seats[s][l].add(t.max(self.start), delta);
    }

    /// A call starts at level `l` after waiting `wait` in its queue.
    #[inline]
    pub fn dispatched(&mut self, _s: usize, l: usize, wait: SimTime) {
        let lv = &mut self.levels[l];
        lv.dispatched += 1;
        lv.wait.record(wait);
        self.interval.dispatched[l] += 1;
    }

    /// A call got a 429.
    pub fn rejected(&mut self, _s: usize, l: usize, _res: Resource) {
        self.levels[l].rejected += 1;
        self.rejected += 1;
        self.interval.rejected[l] += 1;
    }

    /// A call is answered at `done` after `latency` (from its first try).
    pub fn answered(
        &mut self,
        done: SimTime,
        res: Resource,
        verb: Verb,
        latency: SimTime,
        sli: SimTime,
    ) {
        let since = done.since(self.start).0;
        if since >= self.next_window {
            let w = since / SLO_WINDOW.0;
            for x in &mut self.windows {
                x.close();
            }
            self.next_window = (w + 1) * SLO_WINDOW.0;
        }
        let w = &mut self.windows[window_key(res, verb)];
        if sli > SimTime::ZERO {
            w.hist.record(sli);
        }
        w.full.record(latency);
        let r = &mut self.res[res.index()];
        self.interval.requests += 1;
        if verb.mutating() {
            r.writes += 1;
            self.mutating_n += 1;
            self.mutating.record(latency);
            self.interval.mutating.record(latency);
        } else {
            r.reads += 1;
            self.readonly_n += 1;
            self.readonly.record(latency);
        }
    }

    /// A write's watch events: `events` sent, `bytes` in all.
    #[inline]
    pub fn watch(&mut self, res: Resource, events: u64, bytes: f64) {
        self.watch_events += events;
        self.watch_bytes += bytes;
        self.interval.watch_bytes += bytes;
        self.res[res.index()].watch_bytes += bytes;
    }

    /// A write committed `latency` after it reached etcd... (from its call's arrival).
    #[inline]
    pub fn etcd_write(&mut self, latency: SimTime) {
        self.etcd_latency.record(latency);
        self.interval.etcd_writes += 1;
    }

    /// A pod started in `t` (SLO start-up latency).
    pub fn pod_started(&mut self, t: SimTime) {
        self.startup.record(t);
    }

    /// An API server's memory now.
    pub fn memory(&mut self, bytes: f64) {
        self.memory_peak = self.memory_peak.max(bytes);
    }

    /// The rates of the interval of `secs` seconds ending now, and a new interval. The
    /// state at the sample (queues, seats, memory, etcd's size) is the caller's to fill in.
    pub fn take_interval(&mut self, secs: f64) -> ApiSample {
        let iv = std::mem::take(&mut self.interval);
        let per_s = |n: u64| n as f64 / secs;
        let mut levels = [LevelSample::default(); APF_COMPONENTS.len()];
        for (l, x) in levels.iter_mut().enumerate() {
            x.dispatched_rps = per_s(iv.dispatched[l]);
            x.rejected_rps = per_s(iv.rejected[l]);
        }
        ApiSample {
            levels: Some(levels),
            requests_rps: per_s(iv.requests),
            mutating_latency_p99_ms: iv.mutating.quantile_ms(0.99),
            watch_bytes_per_s: iv.watch_bytes / secs,
            memory_gib: f64::NAN,
            etcd_writes_per_s: per_s(iv.etcd_writes),
            db_size_gib: f64::NAN,
        }
    }

    /// The summary rows of the replication ending at `end`.
    #[allow(clippy::too_many_arguments)]
    pub fn finish<'a>(
        mut self,
        end: SimTime,
        _seats: &[Vec<u32>],
        nominal: &[u32],
        names: impl Iterator<Item = &'a str>,
        etcd: &Etcd,
        memory: f64,
        apf: bool,
    ) -> ApiResult {
        self.memory(memory);
        for x in &mut self.windows {
            x.close();
        }
        let secs = end.since(self.start).as_secs_f64().max(1e-9);
        let mut m: Vec<(String, &'static str, f64)> = Vec::new();
        let a = "apiserver".to_string();
        let requests = (self.mutating_n + self.readonly_n) as f64;
        let worst = |keys: &mut dyn Iterator<Item = usize>, w: &[Window]| {
            keys.map(|k| w[k].worst_ms).fold(0.0f64, f64::max)
        };
        let mut_worst = worst(
            &mut Resource::ALL.iter().flat_map(|&r| {
                Verb::ALL
                    .iter()
                    .filter(|v| v.mutating())
                    .map(move |&v| window_key(r, v))
            }),
            &self.windows,
        );
        let get_worst = worst(
            &mut Resource::ALL.iter().map(|&r| window_key(r, Verb::Get)),
            &self.windows,
        );
        let list_worst = worst(
            &mut Resource::ALL.iter().map(|&r| window_key(r, Verb::List)),
            &self.windows,
        );
        let startup = if self.startup.count() > 0 {
            self.startup.quantile_ms(0.99)
        } else {
            0.0
        };
        let met = mut_worst <= SLO_CALL_MS
            && get_worst <= SLO_CALL_MS
            && list_worst <= SLO_LIST_MS
            && startup <= SLO_STARTUP_MS;
        let q99 = |h: &LatencyHist| {
            if h.count() > 0 {
                h.quantile_ms(0.99)
            } else {
                0.0
            }
        };
        m.push((a.clone(), "requests_rps", requests / secs));
        m.push((a.clone(), "mutating_rps", self.mutating_n as f64 / secs));
        m.push((a.clone(), "readonly_rps", self.readonly_n as f64 / secs));
        m.push((a.clone(), "mutating_latency_p99_ms", q99(&self.mutating)));
        m.push((a.clone(), "readonly_latency_p99_ms", q99(&self.readonly)));
        m.push((a.clone(), "slo_mutating_p99_worst_ms", mut_worst));
        let mut_worst_full = Resource::ALL
            .iter()
            .flat_map(|&r| {
                Verb::ALL
                    .iter()
                    .filter(|v| v.mutating())
                    .map(move |&v| window_key(r, v))
            })
            .map(|k| self.windows[k].worst_full_ms)
            .fold(0.0f64, f64::max);
        m.push((a.clone(), "mutating_p99_worst_ms", mut_worst_full));
        m.push((a.clone(), "slo_readonly_p99_worst_ms", get_worst));
        m.push((a.clone(), "slo_list_p99_worst_ms", list_worst));
        m.push((a.clone(), "pod_startup_p99_ms", startup));
        m.push((a.clone(), "rejected_429", self.rejected as f64));
        m.push((
            a.clone(),
            "watch_events_per_s",
            self.watch_events as f64 / secs,
        ));
        m.push((a.clone(), "watch_bytes_per_s", self.watch_bytes / secs));
        m.push((
            a.clone(),
            "memory_gib",
            self.memory_peak / (1u64 << 30) as f64,
        ));
        m.push((a, "slo_met", if met { 1.0 } else { 0.0 }));
        if apf {
            for (l, name) in names.enumerate() {
                let c = format!("apf/{name}");
                let lv = &self.levels[l];
                let seats: f64 = self
                    .seats
                    .iter_mut()
                    .map(|per| per[l].area_secs(end))
                    .sum::<f64>()
                    / secs;
                m.push((c.clone(), "nominal_seats", f64::from(nominal[l])));
                m.push((c.clone(), "dispatched_rps", lv.dispatched as f64 / secs));
                m.push((c.clone(), "wait_p99_ms", q99(&lv.wait)));
                m.push((c.clone(), "rejected_429", lv.rejected as f64));
                m.push((c, "seats_in_use_mean", seats));
            }
        }
        for r in Resource::ALL {
            let s = self.res[r.index()];
            let c = format!("api/{}", r.name());
            m.push((c.clone(), "writes_per_s", s.writes as f64 / secs));
            m.push((c.clone(), "reads_per_s", s.reads as f64 / secs));
            m.push((c, "watch_bytes_per_s", s.watch_bytes / secs));
        }
        let e = "etcd".to_string();
        m.push((e.clone(), "writes_per_s", etcd.writes as f64 / secs));
        m.push((e.clone(), "write_latency_p99_ms", q99(&self.etcd_latency)));
        m.push((
            e.clone(),
            "db_size_gib",
            etcd.db_bytes / (1u64 << 30) as f64,
        ));
        m.push((e, "writes_refused", etcd.refused as f64));
        ApiResult { metrics: m }
    }
}

/// What the control plane leaves of a replication.
#[derive(Debug, Clone)]
pub struct ApiResult {
    /// (component, metric, value), in a fixed order.
    pub metrics: Vec<(String, &'static str, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_components_name_the_default_levels_in_order() {
        let names: Vec<String> = super::super::apf::DEFAULT_LEVELS
            .iter()
            .map(|l| format!("apf/{}", l.name))
            .collect();
        assert_eq!(names, APF_COMPONENTS);
    }
}
