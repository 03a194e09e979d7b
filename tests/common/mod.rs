//! Helpers shared by the integration tests.
#![allow(dead_code)]

use capsim::scenario;
use capsim::sim::{Plan, Report};
use std::path::Path;

/// Runs the capsim binary with `args`, in folder `dir` when given and with the extra
/// environment `env`: (exit code, stdout, stderr).
pub fn capsim_in(dir: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"));
    cmd.args(args).envs(env.iter().copied());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("capsim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `capsim ARGS`: (exit code, stdout, stderr).
pub fn capsim(args: &[&str]) -> (i32, String, String) {
    capsim_in(None, &[], args)
}

/// Resolves scenario text (relative paths from the repository root).
pub fn plan(yaml: &str) -> Plan {
    let loaded = scenario::load_bytes("test.yaml", yaml.as_bytes(), &[], Path::new("."))
        .unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"));
    scenario::build_plan(&loaded).unwrap_or_else(|e| panic!("{e:?}\n---\n{yaml}"))
}

/// Simulates scenario text.
pub fn run(yaml: &str) -> Report {
    capsim::sim::simulate(&plan(yaml), false).expect("within the event budget")
}

/// `(time_s, value)` of a component's timeseries metric.
pub fn series(r: &Report, comp: &str, metric: &str) -> Vec<(f64, f64)> {
    r.timeseries
        .iter()
        .filter(|(_, c, m, _)| c == comp && *m == metric)
        .map(|(t, _, _, v)| (*t, *v))
        .collect()
}

/// The value of a timeseries at sample time `t` (seconds).
pub fn at(s: &[(f64, f64)], t: f64) -> f64 {
    s.iter()
        .find(|(x, _)| (*x - t).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no sample at {t}"))
        .1
}

/// The first sample time at or after `from` whose value is `v`.
pub fn first_at(s: &[(f64, f64)], from: f64, v: f64) -> Option<f64> {
    s.iter().find(|(t, x)| *t >= from && *x == v).map(|p| p.0)
}

/// One service `s` of a fixed 10 ms model on pool `p` of single-GPU nodes, random routing
/// (kube-proxy), Poisson arrivals, sampled every second, no warm-up.
pub struct OneService<'a> {
    /// Nodes of the pool.
    pub nodes: u32,
    /// Replicas of the service.
    pub replicas: u32,
    /// Arrivals per second.
    pub rate: f64,
    /// The run's duration, e.g. `600s`.
    pub duration: &'a str,
    /// Replications.
    pub reps: u32,
    /// The service's `startup_time`.
    pub startup: &'a str,
    /// YAML added to the pool.
    pub pool_extra: &'a str,
    /// YAML added at the top level.
    pub top_extra: &'a str,
    /// Fields added to the service's flow mapping, each after `, `.
    pub service_extra: &'a str,
}

impl Default for OneService<'_> {
    fn default() -> Self {
        OneService {
            nodes: 1,
            replicas: 1,
            rate: 1.0,
            duration: "60s",
            reps: 1,
            startup: "20s",
            pool_extra: "",
            top_extra: "",
            service_extra: "",
        }
    }
}

impl OneService<'_> {
    /// The scenario text.
    pub fn yaml(&self) -> String {
        let OneService {
            nodes,
            replicas,
            rate,
            duration,
            reps,
            startup,
            pool_extra,
            top_extra,
            service_extra,
        } = self;
        format!(
            r#"
name: one-service
seed: 11
duration: {duration}
replications: {reps}
report_interval: 1s
{top_extra}
models:
  - {{name: m, service_time: {{fixed: 10ms}}}}
node_pools:
  - name: p
    gpu: a100-80gb
    gpus_per_node: 1
    nodes: {nodes}
{pool_extra}
services:
  - {{name: s, model: m, node_pool: p, replicas: {replicas}, startup_time: {startup}{service_extra}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {rate}/s}}}}
"#
        )
    }
}

/// A fresh folder `capsim-<test>-<pid>-<name>` in the temporary folder.
pub fn scratch(test: &str, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-{test}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The lines of panel `panel` of chart `stem`: (label, points).
pub fn chart_lines(
    charts: &[capsim::report::figures::Chart],
    stem: &str,
    panel: usize,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let c = charts
        .iter()
        .find(|c| c.stem == stem)
        .unwrap_or_else(|| panic!("no chart {stem}"));
    let capsim::report::plot::Figure::Lines(l) = &c.figure else {
        panic!("{stem}: lines")
    };
    l.panels[panel]
        .series
        .iter()
        .map(|s| (s.label.clone(), s.points.clone()))
        .collect()
}

/// A cluster of `nodes` nodes with one small service, sampled every `interval`, and
/// `control_plane` (YAML lines indented under `control_plane:`).
pub fn control_plane_cluster(
    nodes: u32,
    duration: &str,
    warmup: &str,
    interval: &str,
    control_plane: &str,
) -> String {
    format!(
        "
name: cp
seed: 3
duration: {duration}
warmup: {warmup}
replications: 1
report_interval: {interval}
models: [{{name: m, service_time: {{exponential: {{mean: 10ms}}}}}}]
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: {nodes}}}]
services: [{{name: s, model: m, node_pool: a, replicas: 2}}]
workloads: [{{service: s, arrivals: {{poisson: {{rate: 10/s}}}}}}]
control_plane:
{control_plane}
"
    )
}

/// Relative difference |a - b| / |b|.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// A generic queue: `servers` replicas of one slot, exponential or other service, Poisson
/// arrivals at `rate` per second.
pub fn queue_yaml(
    servers: u32,
    routing: &str,
    service_time: &str,
    rate: f64,
    duration_s: f64,
    replications: u32,
    seed: u64,
) -> String {
    format!(
        r#"
name: q
seed: {seed}
duration: {duration_s}s
warmup: {warm}s
replications: {replications}
report_interval: {duration_s}s
models:
  - name: m
    service_time: {service_time}
node_pools:
  - {{name: p, gpu: a100-80gb, gpus_per_node: 8, nodes: {nodes}}}
services:
  - {{name: s, model: m, node_pool: p, replicas: {servers}, routing: {routing}}}
workloads:
  - service: s
    arrivals: {{poisson: {{rate: {rate}/s}}}}
"#,
        warm = duration_s / 20.0,
        nodes = servers.div_ceil(8),
    )
}

/// Seconds from time zero until the last request of `service` finished: a burst benchmark's
/// `duration`, read from the timeseries (at its resolution).
pub fn makespan(r: &Report, service: &str) -> f64 {
    r.timeseries
        .iter()
        .filter(|(_, c, m, v)| {
            c == service && (*m == "in_flight" || *m == "queue_length") && *v > 0.0
        })
        .map(|(t, ..)| *t)
        .fold(0.0, f64::max)
}

/// Output tokens per second of a burst, as vLLM's benchmark_serving.py computes it: all
/// output tokens over the time until the last request finished.
pub fn burst_tokens_per_s(r: &Report, service: &str) -> f64 {
    let tokens = r.mean(service, "output_tokens_mean") * r.mean(service, "completed");
    tokens / makespan(r, service)
}
