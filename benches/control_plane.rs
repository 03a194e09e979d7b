//! The control plane at scale: a day of a 7,500-node cluster with its kubelets' lease
//! renewals, pod churn and watches, and how the cost grows with the nodes.
//!
//! `cargo bench --bench control_plane` prints two tables (medians over `CAPSIM_BENCH_RUNS`
//! runs, default 3, one replication on one core):
//!
//! - `day`: 7,500 nodes for 24 simulated hours (issue 15's target: under 20 s and 1 GB on
//!   one core), and the same day without the `control_plane:` section, so that the control
//!   plane's own share of the time and of the events shows as the difference. Columns: wall
//!   seconds, CPU seconds (this thread's time on a processor, Linux's
//!   /proc/thread-self/schedstat: a machine shared with other work stretches the wall clock,
//!   not this), events, million events per CPU second, and this process's peak resident
//!   memory while it ran (VmHWM, reset before the runs).
//! - `nodes`: the same day on 750, 2,500 and 7,500 nodes: CPU seconds, events, ns per event,
//!   API calls per simulated second, peak memory. The service and its load stay as they are;
//!   the per-node load (leases, status reports, the agents' LISTs, DaemonSet pods, failures)
//!   grows with the nodes.
//!
//! The day: 7,500 nodes of 8 H100s (5 API servers of 400 + 200 seats with APF, 5 etcd members
//! on local SSD), every kubelet renewing its Lease every 10 s and reporting its status every
//! 5 min, a log agent per node listing Events every minute from the watch cache, two
//! DaemonSets (node-exporter behind a node-wide Service, so every node's change is an
//! EndpointSlice write watched by every kube-proxy; kube-proxy), node failures (mean up time
//! 100 days, about 75 a day at 7,500 nodes, repaired in about 2 h: the nodes leave, their pods
//! are evicted and replaced, and the nodes join again), and an HPA-scaled service whose
//! diurnal load (20 to 400 requests/s) moves it between 4 and about 40 pods.
//!
//! `CAPSIM_BENCH_QUICK=1` simulates 2 hours instead of 24 (a smoke test); `CAPSIM_BENCH_HOURS`
//! sets the hours. A filter argument (`day`, `nodes`) picks one table.

#[allow(dead_code)]
#[path = "common/limits.rs"]
mod limits;
#[path = "common/timing.rs"]
mod timing;

use capsim::scenario;
use capsim::sim::{Plan, RepResult, run_replication_summary};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use timing::{median, reset_peak, runs};

/// Simulated hours per run.
fn hours() -> u32 {
    if let Some(h) = std::env::var("CAPSIM_BENCH_HOURS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return h;
    }
    if std::env::var("CAPSIM_BENCH_QUICK").is_ok() {
        2
    } else {
        24
    }
}

/// This thread's time on a processor, in seconds (NaN off Linux).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn peak_mb() -> f64 {
    limits::peak_rss_kib().map_or(f64::NAN, |k| k as f64 / 1024.0)
}

/// The day on `nodes` nodes for `hours` hours, with or without the control plane.
fn day_yaml(nodes: u32, hours: u32, control_plane: bool) -> String {
    let mut s = format!(
        r#"
name: control-plane-day
seed: 5
duration: {hours}h
warmup: 10m
replications: 1
report_interval: 10m
models:
  - name: ranker
    service_time: {{lognormal: {{mean: 400ms, sd: 200ms}}}}
node_pools:
  - name: h100
    gpu: h100-80gb
    gpus_per_node: 8
    nodes: {nodes}
    failures: {{mtbf: 100d, repair_time: {{lognormal: {{mean: 2h, sd: 1h}}}}}}
services:
  - name: ranker
    model: ranker
    node_pool: h100
    gpus_per_replica: 1
    concurrency: 8
    replicas: 4
    startup_time: 30s
    autoscaler:
      kind: hpa
      minReplicas: 4
      maxReplicas: 200
      metrics:
        - type: Pods
          pods: {{metric: {{name: inflight_requests}}, target: {{type: AverageValue, averageValue: "4"}}}}
workloads:
  - service: ranker
    arrivals: {{diurnal: {{min_rate: 20/s, peak_rate: 400/s, period: 24h, peak_at: 14h}}}}
"#
    );
    if control_plane {
        s.push_str(
            r#"
control_plane:
  apiservers: 5
  max_requests_inflight: 400
  max_mutating_requests_inflight: 200
  apf: default
  etcd: {members: 5, disk: local_ssd}
  endpoints: slices
  kubelet: {node_status_update_frequency: 10s, node_status_report_frequency: 5m, node_lease_duration: 40s}
  daemonsets:
    - {name: node-exporter, service: true}
    - {name: kube-proxy, service: false}
  clients:
    - {name: log-agent, per_node: true, verb: list, resource: events, every: 60s, read_from: cache}
"#,
        );
    }
    s
}

fn plan_of(yaml: &str) -> Plan {
    let loaded = scenario::load_bytes("day.yaml", yaml.as_bytes(), &[], Path::new("."))
        .expect("bench scenario parses");
    scenario::build_plan(&loaded).expect("bench scenario is valid")
}

/// A metric of a replication's summary.
fn metric(r: &RepResult, component: &str, name: &str) -> f64 {
    r.metrics
        .iter()
        .find(|(c, m, _)| c == component && *m == name)
        .map_or(f64::NAN, |x| x.2)
}

/// Medians of `runs()` replications of `plan`: wall seconds, CPU seconds, peak MB; and the
/// last run's result.
struct Timed {
    wall: f64,
    cpu: f64,
    peak: f64,
    r: RepResult,
}

fn timed(plan: &Plan) -> Timed {
    let (mut wall, mut cpu, mut peak) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs() {
        reset_peak();
        let (t, c) = (Instant::now(), cpu_secs());
        let r = run_replication_summary(plan, 0);
        cpu.push(cpu_secs() - c);
        wall.push(t.elapsed().as_secs_f64());
        peak.push(peak_mb());
        last = Some(black_box(r));
    }
    Timed {
        wall: median(wall),
        cpu: median(cpu),
        peak: median(peak),
        r: last.expect("at least one run"),
    }
}

fn day() {
    let h = hours();
    println!(
        "day: 7,500 nodes, {h} h, one replication, one core (medians of {})",
        runs()
    );
    println!(
        "{:>22} {:>8} {:>8} {:>11} {:>10} {:>8}",
        "", "wall s", "CPU s", "events", "M ev/CPU s", "peak MB"
    );
    let with = timed(&plan_of(&day_yaml(7_500, h, true)));
    let without = timed(&plan_of(&day_yaml(7_500, h, false)));
    for (name, t) in [("with control plane", &with), ("without", &without)] {
        println!(
            "{name:>22} {:>8.2} {:>8.2} {:>11} {:>10.2} {:>8.1}",
            t.wall,
            t.cpu,
            t.r.events,
            t.r.events as f64 / t.cpu / 1e6,
            t.peak
        );
    }
    let (dc, de) = (
        with.cpu - without.cpu,
        with.r.events.saturating_sub(without.r.events),
    );
    println!(
        "{:>22} {:>8} {dc:>8.2} {de:>11} {:>10.2}",
        "control plane's share",
        "",
        de as f64 / dc / 1e6
    );
    println!(
        "  API calls {:.0}/s, node failures {:.0}, ranker pods {:.1} mean, {:.0} max",
        metric(&with.r, "apiserver", "requests_rps"),
        metric(&with.r, "cluster", "node_failures"),
        metric(&with.r, "ranker", "replicas_mean"),
        metric(&with.r, "ranker", "replicas_max"),
    );
}

fn nodes() {
    let h = hours();
    println!("nodes: the day on 750 to 7,500 nodes, {h} h, one core");
    println!(
        "{:>7} {:>8} {:>11} {:>7} {:>10} {:>9} {:>8}",
        "nodes", "CPU s", "events", "ns/ev", "API req/s", "failures", "peak MB"
    );
    for n in [750u32, 2_500, 7_500] {
        let t = timed(&plan_of(&day_yaml(n, h, true)));
        println!(
            "{n:>7} {:>8.2} {:>11} {:>7.0} {:>10.0} {:>9.0} {:>8.1}",
            t.cpu,
            t.r.events,
            t.cpu / t.r.events as f64 * 1e9,
            metric(&t.r, "apiserver", "requests_rps"),
            metric(&t.r, "cluster", "node_failures"),
            t.peak
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks one table.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let want = |t: &str| only.as_deref().is_none_or(|o| t.contains(o));
    if want("day") {
        day();
    }
    if want("nodes") {
        nodes();
    }
}
