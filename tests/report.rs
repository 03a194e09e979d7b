//! The result folder a person opens: latency_cdf.csv against the closed form of an M/M/1
//! queue, the charts (PNG and SVG) of a run and of a sweep, and index.html showing them with
//! the summary table.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-report-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn capsim(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .output()
        .expect("capsim runs");
    assert!(
        out.status.success(),
        "capsim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `yaml` into a fresh folder and runs `capsim CMD` on it with `--out`; returns the
/// output folder and stdout.
fn simulate(test: &str, cmd: &str, yaml: &str) -> (PathBuf, String) {
    let dir = scratch(test);
    let sc = dir.join("scenario.yaml");
    std::fs::write(&sc, yaml).expect("scenario written");
    let out = dir.join("out");
    let stdout = capsim(&[cmd, sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    (out, stdout)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).expect("png written");
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// Every chart is in both formats, and index.html shows each one.
fn assert_charts_shown(dir: &Path, stems: &[&str]) {
    let html = read(&dir.join("index.html"));
    for stem in stems {
        let (w, h) = png_size(&dir.join(format!("{stem}.png")));
        assert!(w >= 800 && h >= 300, "{stem}.png is {w}x{h}");
        let svg = read(&dir.join(format!("{stem}.svg")));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            html.contains(&format!("<img src=\"{stem}.svg\"")),
            "index.html does not show {stem}"
        );
    }
    // And nothing in the folder goes unshown.
    for e in std::fs::read_dir(dir).expect("folder") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".svg") {
            assert!(html.contains(&format!("<img src=\"{stem}.svg\"")), "{name}");
        }
    }
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[test]
fn the_latency_cdf_of_an_mm1_queue_is_exponential() {
    // M/M/1, lambda = 60/s, mu = 100/s: the sojourn time of FCFS is exponential with rate
    // mu - lambda = 40/s, so its p-quantile is -ln(1 - p) / 40 s.
    let (out, _) = simulate(
        "mm1",
        "run",
        "name: mm1-cdf
seed: 5
duration: 3000s
warmup: 100s
replications: 4
models: [{name: exp, service_time: {exponential: {mean: 10ms}}}]
node_pools: [{name: p, gpu: t4, gpus_per_node: 1, nodes: 1}]
services: [{name: q, model: exp, node_pool: p, replicas: 1}]
workloads: [{service: q, arrivals: {poisson: {rate: 60/s}}}]
",
    );
    let csv = read(&out.join("latency_cdf.csv"));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("component,metric,probability,value_ms,ci95_low,ci95_high")
    );
    // Only end-to-end latency: this service has no LLM engine, so no TTFT.
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            assert!(l.starts_with("q,latency,"), "{l}");
            l.split(',').skip(2).map(|x| x.parse().unwrap()).collect()
        })
        .collect();
    assert!(rows.len() > 100);
    // Probabilities increase, and so do latencies (a CDF).
    assert!(
        rows.windows(2)
            .all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1])
    );
    for p in [0.1, 0.5, 0.9, 0.99] {
        let r = rows
            .iter()
            .find(|r| (r[0] - p).abs() < 1e-9)
            .expect("sampled");
        let truth = -(1.0f64 - p).ln() / 40.0 * 1000.0;
        let err = (r[1] - truth).abs() / truth;
        assert!(err < 0.03, "p{p}: {} ms against {truth} ms", r[1]);
        assert!(r[2] <= r[1] && r[1] <= r[3], "interval holds the mean");
    }
    assert_charts_shown(&out, &["latency-cdf", "q-timeseries"]);
    assert!(!out.join("ttft-cdf.png").exists());
    let svg = read(&out.join("latency-cdf.svg"));
    assert!(svg.contains("fraction of requests") && svg.contains("latency (ms"));
}

#[test]
fn a_run_page_shows_every_figure_of_the_summary_and_every_chart() {
    let (out, stdout) = simulate(
        "run",
        "run",
        "name: two-services
seed: 2
duration: 10m
warmup: 1m
replications: 2
models: [{name: exp, service_time: {exponential: {mean: 20ms}}}]
node_pools:
  - {name: small, gpu: t4, gpus_per_node: 4, nodes: 1, price_per_gpu_hour: 0.35}
  - {name: big, gpu: a100-80gb, gpus_per_node: 8, nodes: 1, price_per_gpu_hour: 2.1}
services:
  - {name: on-t4, model: exp, node_pool: small, replicas: 2}
  - {name: on-a100, model: exp, node_pool: big, replicas: 2}
workloads:
  - {service: on-t4, arrivals: {poisson: {rate: 40/s}}}
  - {service: on-a100, arrivals: {poisson: {rate: 40/s}}}
checks:
  - on-t4.latency_p99_ms <= 10000
",
    );
    assert!(stdout.contains("open index.html"), "{stdout}");
    assert_charts_shown(
        &out,
        &[
            "latency-cdf",
            "on-t4-timeseries",
            "on-a100-timeseries",
            "per-gpu",
        ],
    );
    let html = read(&out.join("index.html"));
    // Every figure of summary.csv with a value, as summary.csv writes it.
    let summary = read(&out.join("summary.csv"));
    let mut shown = 0;
    for l in summary.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[3].is_empty() {
            continue;
        }
        assert!(
            html.contains(&format!("<td class=\"l\">{}</td><td>{}</td>", f[2], f[3])),
            "{l}"
        );
        shown += 1;
    }
    assert!(shown > 40);
    assert!(html.contains("check passed: on-t4.latency_p99_ms &lt;= 10000"));
    // Both services in the bar chart, and the time series labelled with units.
    let bars = read(&out.join("per-gpu.svg"));
    assert!(bars.contains("on-t4") && bars.contains("on-a100") && bars.contains("$ per 1k"));
    let ts = read(&out.join("on-t4-timeseries.svg"));
    for label in [
        "simulated time (min)",
        "requests/s",
        "latency (ms)",
        "queue_length",
    ] {
        assert!(ts.contains(label), "{label}");
    }
}

#[test]
fn a_sweep_draws_one_line_per_swept_value_and_bars_for_gpu_types() {
    let (out, _) = simulate(
        "sweep",
        "sweep",
        "name: chart-sweep
seed: 4
duration: 30s
warmup: 3s
replications: 2
models: [{name: exp, service_time: {exponential: {mean: 10ms}}}]
node_pools: [{name: pool, gpu: t4, gpus_per_node: 4, nodes: 1}]
services: [{name: web, model: exp, node_pool: pool, replicas: 1, routing: shared_queue}]
workloads: [{service: web, arrivals: {poisson: {rate: 50/s}}}]
sweep:
  grid:
    node_pools.pool.gpu: [t4, a100-80gb]
    services.web.replicas: [1, 2]
    workloads.0.arrivals.poisson.rate: [20/s, 80/s]
",
    );
    assert_charts_shown(
        &out,
        &[
            "sweep-web-latency",
            "sweep-web-throughput",
            "sweep-web-per-gpu",
        ],
    );
    // The load is the x axis; one line per combination of the other two axes.
    let lat = read(&out.join("sweep-web-latency.svg"));
    assert!(lat.contains("workloads.0.arrivals.poisson.rate (requests/s)"));
    for combo in [
        "gpu=t4, replicas=1",
        "gpu=t4, replicas=2",
        "gpu=a100-80gb, replicas=1",
        "gpu=a100-80gb, replicas=2",
    ] {
        assert!(lat.contains(combo), "{combo}");
    }
    // A bar per point, named by its values.
    let bars = read(&out.join("sweep-web-per-gpu.svg"));
    assert!(bars.contains("a100-80gb 2 80/s") && bars.contains("t4 1 20/s"));
    // The page's table: one row per point.
    let html = read(&out.join("index.html"));
    assert_eq!(html.matches("<tr><td>").count(), 8);
}

#[test]
fn an_llm_service_gets_a_ttft_cdf_consistent_with_its_summary() {
    let (out, _) = simulate(
        "ttft",
        "run",
        "name: ttft-cdf
seed: 9
duration: 5m
warmup: 30s
replications: 3
node_pools: [{name: a100, gpu: a100-80gb, gpus_per_node: 8, nodes: 1}]
services:
  - {name: chat, model: llama2-7b, node_pool: a100, replicas: 1}
workloads:
  - service: chat
    arrivals: {poisson: {rate: 2/s}}
    prompt_tokens: {lognormal: {mean: 512, sd: 256}}
    output_tokens: {lognormal: {mean: 128, sd: 64}}
",
    );
    assert_charts_shown(&out, &["latency-cdf", "ttft-cdf", "chat-timeseries"]);
    let csv = read(&out.join("latency_cdf.csv"));
    let value = |metric: &str, p: &str| -> f64 {
        let prefix = format!("chat,{metric},{p},");
        let line = csv.lines().find(|l| l.starts_with(&prefix)).expect("row");
        line[prefix.len()..]
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // The CDF's quantile averaged over replications is what the summary reports as the
    // mean of the per-replication percentiles.
    let summary = read(&out.join("summary.csv"));
    let mean = |metric: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.contains(&format!(",chat,{metric},")))
            .expect("summary row");
        line.split(',').nth(3).unwrap().parse().unwrap()
    };
    for (p, m) in [
        ("0.5", "ttft_p50_ms"),
        ("0.95", "ttft_p95_ms"),
        ("0.99", "ttft_p99_ms"),
    ] {
        assert!((value("ttft", p) / mean(m) - 1.0).abs() < 1e-5, "{m}");
    }
    assert!((value("latency", "0.99") / mean("latency_p99_ms") - 1.0).abs() < 1e-5);
    // Every request gets its first token before its last.
    assert!(value("ttft", "0.5") < value("latency", "0.5"));
    let svg = read(&out.join("ttft-cdf.svg"));
    assert!(svg.contains("time to first token (ms"));
}
