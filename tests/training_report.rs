//! Training's results beyond the summary: the `training` component of the timeseries (GPUs
//! held by gangs, jobs running and waiting, fragmentation) against a trace whose every
//! sample is known, the charts of a training run (wait CDF per size class, allocation over
//! time) and index.html, the timeseries size limit counting training's values, and runs
//! without training keeping the timeseries layout they had.

mod common;

use capsim::report::figures::{Chart, ecdf_steps, run_charts};
use capsim::report::names::{TRAINING_TIMESERIES, TRAINING_WAIT_CDF};
use capsim::report::series::TimeseriesFile;
use common::{capsim, run, series};
use std::path::PathBuf;

/// A fresh folder of this test process.
fn scratch(name: &str) -> PathBuf {
    common::scratch("training-report", name)
}

/// Two nodes of 8 GPUs and one Kueue queue with room for everything, so that admission never
/// holds a job back and only room does:
///
/// - A: 4 GPUs (one pod), submitted at 0, 95 s of work: runs 0 to 95 on one node.
/// - B: 16 GPUs (two whole nodes), submitted at 0, 50 s: admitted, but a whole second node is
///   free only when A ends: runs 95 to 145.
/// - C: 2 GPUs, submitted at 15, 30 s: fits beside A (pack), runs 15 to 45.
///
/// No event falls on a sample (every 10 s), so each sample sees the state between events.
fn three_jobs(dir: &std::path::Path, replications: u32) -> String {
    let trace = dir.join("jobs.csv");
    std::fs::write(
        &trace,
        "submit_time_s,gpus,duration_s\n0,4,95\n0,16,50\n15,2,30\n",
    )
    .unwrap();
    format!(
        "
name: three-jobs
duration: 200s
replications: {replications}
report_interval: 10s
node_pools: [{{name: a, gpu: h100-80gb, gpus_per_node: 8, nodes: 2}}]
queues: [{{name: q, nominal_quota: 1000}}]
training:
  scheduler: kueue
  wait_for_pods_ready: 0s
  workloads:
    - {{name: t, queue: q, node_pool: a, arrivals: {{trace: {{file: {}}}}}}}
",
        trace.display()
    )
}

/// (GPUs held by gangs, jobs running, jobs waiting, fragmentation) at sample time `t`, from
/// the schedule of [`three_jobs`] worked out by hand.
fn expected(t: u32) -> (f64, f64, f64, f64) {
    match t {
        // A alone; B waits with 12 of the 16 GPUs free.
        10 => (4.0, 1.0, 1.0, 12.0 / 16.0),
        // A and C; B waits with 10 free.
        20..=40 => (6.0, 2.0, 1.0, 10.0 / 16.0),
        50..=90 => (4.0, 1.0, 1.0, 12.0 / 16.0),
        // B holds both nodes; none waits.
        100..=140 => (16.0, 1.0, 0.0, 0.0),
        // All done: every GPU free, but no job waits, so no fragmentation.
        _ => (0.0, 0.0, 0.0, 0.0),
    }
}

#[test]
fn the_training_timeseries_holds_the_gpus_jobs_and_fragmentation_of_each_sample() {
    let dir = scratch("timeseries");
    // Two replications of a trace are equal: their mean is each one's value.
    let r = run(&three_jobs(&dir, 2));
    let metrics = [
        "gpus_allocated",
        "jobs_running",
        "jobs_waiting",
        "fragmentation",
    ];
    let got: Vec<Vec<(f64, f64)>> = metrics.iter().map(|m| series(&r, "training", m)).collect();
    for (m, s) in metrics.iter().zip(&got) {
        assert_eq!(s.len(), 20, "{m}: {s:?}");
    }
    for k in 0..20 {
        let t = 10 * (k as u32 + 1);
        let (held, running, waiting, frag) = expected(t);
        let row: Vec<f64> = got.iter().map(|s| s[k].1).collect();
        assert_eq!(got[0][k].0, f64::from(t));
        assert_eq!(row, [held, running, waiting, frag], "at {t} s: {metrics:?}");
    }
    // Training's rows come after the cluster's, in the order of their codes.
    let order: Vec<(&str, &str)> = r
        .timeseries
        .iter()
        .filter(|x| x.0 == 10.0)
        .map(|x| (x.1.as_str(), x.2))
        .collect();
    let n = order.len();
    assert_eq!(order[n - 5].0, "cluster");
    assert_eq!(
        order[n - 4..],
        [
            ("training", "gpus_allocated"),
            ("training", "jobs_running"),
            ("training", "jobs_waiting"),
            ("training", "fragmentation")
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lines of `stem`'s first panel: (label, points).
fn chart_lines(charts: &[Chart], stem: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    common::chart_lines(charts, stem, 0)
}

#[test]
fn a_training_run_charts_its_wait_cdf_per_size_class_and_its_allocation_over_time() {
    let dir = scratch("charts");
    let r = run(&three_jobs(&dir, 2));
    let ts = dir.join("timeseries.csv");
    let lines = TimeseriesFile::write_report(&ts, &r).unwrap();
    let charts = run_charts(&r, &lines);
    // The CDF of waits per size class with jobs: A and C (2-8 GPUs) started at once, B (9-64)
    // after 95 s; pooled over the two replications. No waits span a decade: a linear axis.
    let cdf = chart_lines(&charts, TRAINING_WAIT_CDF);
    let b = 95.0 / 3600.0;
    assert_eq!(
        cdf,
        [
            (
                "2-8 GPUs: 4 jobs, 100% at once".to_string(),
                vec![(0.0, 0.0), (0.0, 1.0)]
            ),
            (
                "9-64 GPUs: 2 jobs, 0% at once".to_string(),
                vec![(b, 0.0), (b, 1.0)]
            ),
        ]
    );
    // The first panel of the allocation chart is training's GPUs at each sample.
    let alloc = chart_lines(&charts, TRAINING_TIMESERIES);
    assert_eq!(alloc.len(), 1);
    assert_eq!(alloc[0].0, "gpus_allocated");
    let held: Vec<f64> = alloc[0].1.iter().map(|p| p.1).collect();
    let want: Vec<f64> = (1..=20).map(|k| expected(10 * k).0).collect();
    assert_eq!(held, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn capsim_run_writes_the_training_charts_and_index_html_shows_them_without_empty_classes() {
    let dir = scratch("run");
    let path = dir.join("three.yaml");
    std::fs::write(&path, three_jobs(&dir, 1)).unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = capsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for stem in [TRAINING_WAIT_CDF, TRAINING_TIMESERIES] {
        for ext in ["png", "svg"] {
            let f = out.join(format!("{stem}.{ext}"));
            let len = std::fs::metadata(&f).map_or(0, |m| m.len());
            assert!(len > 1000, "{}: {len} bytes", f.display());
        }
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for stem in [TRAINING_WAIT_CDF, TRAINING_TIMESERIES] {
        assert!(html.contains(&format!("src=\"{stem}.svg\"")), "{stem}");
        assert!(html.contains(&format!("href=\"{stem}.png\"")), "{stem}");
    }
    // Size classes with jobs have a table; those without none, as on the terminal.
    for (class, shown) in [
        ("1", false),
        ("2-8", true),
        ("9-64", true),
        ("65-512", false),
        ("513+", false),
    ] {
        let head = format!(">training/gpus_{class}</th>");
        assert_eq!(html.contains(&head), shown, "{head}");
    }
    assert!(html.contains(">training</th>") && html.contains(">queue/q</th>"));
    // timeseries.csv holds the training rows the charts were drawn from.
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(csv.contains("\n10,training,fragmentation,0.75\n"), "{csv}");
    assert!(csv.contains("\n110,training,gpus_allocated,16\n"), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_empirical_cdf_is_exact_at_every_step_and_bounded_in_points() {
    // Values with long runs of ties (zero waits) and many distinct ones.
    let mut v: Vec<f64> = (0..25_000).map(|i| ((i * 7919) % 5003) as f64).collect();
    v.extend(std::iter::repeat_n(0.0, 5000));
    v.sort_by(f64::total_cmp);
    let steps = ecdf_steps(&v);
    assert!(steps.len() <= 2 * 1000 + 4, "{}", steps.len());
    assert_eq!(steps.first(), Some(&(0.0, 0.0)));
    assert_eq!(steps.last().map(|p| p.1), Some(1.0));
    assert_eq!(steps.last().map(|p| p.0), v.last().copied());
    for pair in steps.chunks(2) {
        // Each step rises at x to the fraction of values at or below x, counted here.
        let x = pair[1].0;
        let at_or_below = v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64;
        assert_eq!(pair[1].1, at_or_below, "at {x}");
        assert_eq!(pair[0].0, x);
    }
    // Steps rise from where the one before ended.
    for w in steps.chunks(2).collect::<Vec<_>>().windows(2) {
        assert_eq!(w[1][0].1, w[0][1].1);
        assert!(w[1][0].0 > w[0][0].0);
    }
    assert_eq!(ecdf_steps(&[2.0]), [(2.0, 0.0), (2.0, 1.0)]);
}

/// 1,000,000 samples of 1 ms: 9 values each with training (no service, 5 for the cluster, 4
/// for training) is 45 million values in 5 replications and 54 million in 6, past the limit
/// of 50 million.
#[test]
fn the_timeseries_limit_counts_trainings_values() {
    let dir = scratch("limit");
    let base = three_jobs(&dir, 1)
        .replace("duration: 200s", "duration: 1000s")
        .replace("report_interval: 10s", "report_interval: 1ms");
    let path = dir.join("limit.yaml");
    let p = path.to_str().unwrap();
    std::fs::write(&path, base.replace("replications: 1", "replications: 6")).unwrap();
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "report_interval: 1000000 samples of 1ms in 1000s x 9 values (12 per service, 5 for \
             the cluster, 4 for training) x 6 replications = 54000000 timeseries values: the \
             limit is 50000000 per run; lengthen report_interval or run fewer replications"
        ),
        "{stderr}"
    );
    std::fs::write(&path, base.replace("replications: 1", "replications: 5")).unwrap();
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run without training has no training rows and, at each sample, the rows it had before
/// training came: each service's measured metrics, then the cluster's five.
#[test]
fn a_run_without_training_keeps_its_timeseries_layout() {
    let r = run("
name: plain
duration: 30s
report_interval: 10s
replications: 1
node_pools: [{name: p, gpu: t4, gpus_per_node: 1, nodes: 1}]
services: [{name: s, model: resnet50, node_pool: p, replicas: 1}]
workloads: [{service: s, arrivals: {poisson: {rate: 10/s}}}]
");
    assert!(r.timeseries.iter().all(|x| x.1 != "training"));
    let at_10: Vec<(&str, &str)> = r
        .timeseries
        .iter()
        .filter(|x| x.0 == 10.0)
        .map(|x| (x.1.as_str(), x.2))
        .collect();
    let cluster: Vec<&str> = at_10
        .iter()
        .filter(|x| x.0 == "cluster")
        .map(|x| x.1)
        .collect();
    assert_eq!(
        cluster,
        [
            "pending_pods",
            "nodes",
            "nodes_provisioning",
            "gpus_allocated",
            "nodes_ready"
        ]
    );
    assert_eq!(at_10.last().map(|x| x.0), Some("cluster"));
}

/// Byte-identical timeseries.csv against a capsim built before training's timeseries, for
/// the scenarios without training: `CAPSIM_BEFORE=/path/to/old/capsim cargo test --release
/// --test training_report -- --ignored` (a few seconds per scenario).
#[test]
#[ignore]
fn timeseries_without_training_are_byte_identical_to_the_build_before() {
    let Ok(before) = std::env::var("CAPSIM_BEFORE") else {
        panic!("set CAPSIM_BEFORE to a capsim binary built before training's timeseries");
    };
    let dir = scratch("before");
    for s in ["quickstart", "node-failure", "scale-to-zero"] {
        let scenario = format!("scenarios/{s}.yaml");
        let (old, new) = (dir.join(format!("{s}-old")), dir.join(format!("{s}-new")));
        let status = std::process::Command::new(&before)
            .args(["run", &scenario, "--out", old.to_str().unwrap()])
            .output()
            .expect("the old capsim runs")
            .status;
        assert!(status.success(), "{before} run {scenario}");
        let (code, _, stderr) = capsim(&["run", &scenario, "--out", new.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
        let read = |d: &PathBuf| std::fs::read(d.join("timeseries.csv")).unwrap();
        assert!(read(&old) == read(&new), "{s}: timeseries.csv differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
