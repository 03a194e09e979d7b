//! The control plane's timeseries and charts: each priority level's calls per interval
//! against the kubelets' heartbeat arithmetic (every lease renewal and status report is
//! dispatched in node-high), 429s per interval adding up to the summary's, the charts
//! `control-plane-apf` and `control-plane-watch` in a run's folder and index.html, and the
//! size limit counting the control plane's values. (The watch bytes of one Endpoints change
//! per interval: tests/control_plane.rs.)

mod common;

use capsim::report::figures::run_charts;
use capsim::report::names::{CONTROL_PLANE_APF, CONTROL_PLANE_WATCH};
use capsim::report::series::TimeseriesFile;
use capsim::sim::Report;
use capsim::sim::timeseries::APF_COMPONENTS;
use common::{capsim, chart_lines, control_plane_cluster as cluster, run, series};
use std::path::PathBuf;

/// A fresh folder of this test process.
fn scratch(name: &str) -> PathBuf {
    common::scratch("control-plane-report", name)
}

/// Values of `metric` of `comp` at each sample.
fn values(r: &Report, comp: &str, metric: &str) -> Vec<f64> {
    series(r, comp, metric).into_iter().map(|p| p.1).collect()
}

#[test]
fn node_high_dispatches_n_over_10_lease_renewals_and_n_over_300_status_reports_per_interval() {
    // Every kubelet renews its lease every 10 s at its own phase and reports its node status
    // on every 30th renewal at its own offset; both are node-high calls, and nothing else
    // is here. The warm-up ends on a sample: the interval counts run on through it.
    let n = 500u32;
    let nf = f64::from(n);
    // Sampled every 300 s, each sample holds 30 renewal cycles: every node renews 30 times
    // and reports once.
    let r = run(&cluster(n, "30m", "10m", "300s", "  apiservers: 3"));
    let node_high = values(&r, "apf/node-high", "dispatched_rps");
    assert_eq!(node_high.len(), 6);
    for (k, &v) in node_high.iter().enumerate() {
        let want = nf / 10.0 + nf / 300.0;
        assert!(
            (v - want).abs() < 1e-9 * want,
            "interval {k}: {v} vs {want}"
        );
    }
    // Sampled every 60 s: the renewals are exact (6 per node), the reports fall in the
    // interval holding their node's turn. Each 60 s holds 6 of the 30 cycles, so the
    // reports in one are binomial (n, 1/5); every 5 intervals aligned on 300 s hold each
    // node's report once.
    let r = run(&cluster(n, "30m", "10m", "60s", "  apiservers: 3"));
    let node_high = values(&r, "apf/node-high", "dispatched_rps");
    assert_eq!(node_high.len(), 30);
    let reports: Vec<f64> = node_high.iter().map(|v| v * 60.0 - 6.0 * nf).collect();
    let sd = (nf * 0.2 * 0.8).sqrt();
    for (k, &x) in reports.iter().enumerate() {
        assert!(
            (x - x.round()).abs() < 1e-6 && (0.0..=nf).contains(&x.round()),
            "interval {k}: {x} reports"
        );
        assert!((x - nf / 5.0).abs() < 5.0 * sd, "interval {k}: {x} reports");
    }
    for (k, five) in reports.chunks(5).enumerate() {
        let sum: f64 = five.iter().sum();
        assert!((sum - nf).abs() < 1e-6, "300 s from {}: {sum}", 300 * k);
    }
    // Leader election: kube-controller-manager and kube-scheduler renew every 2 s, one write
    // a second. The first interval misses the call at 0 (the first is at 2 s); one due on a
    // sample counts in the next interval.
    let le = values(&r, "apf/leader-election", "dispatched_rps");
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(le[0], 58.0 / 60.0), "{le:?}");
    assert!(le[1..].iter().all(|&v| close(v, 1.0)), "{le:?}");
    // Their calls of 58 s ended within milliseconds, the next come after the sample: no seat
    // is held at any sample (though the level takes seats back only when it next looks).
    let seats = values(&r, "apf/leader-election", "seats_in_use");
    assert!(
        seats.len() == 30 && seats.iter().all(|&s| s == 0.0),
        "{seats:?}"
    );
    // The whole run's figures: the peak memory is the largest sample's (one falls on the
    // run's end), the database's size the last sample's.
    let mem = values(&r, "apiserver", "memory_gib");
    let peak = mem.iter().copied().fold(0.0, f64::max);
    assert_eq!(peak, r.mean("apiserver", "memory_gib"));
    let db = values(&r, "etcd", "db_size_gib");
    assert_eq!(db.last().copied(), Some(r.mean("etcd", "db_size_gib")));
}

#[test]
fn the_429s_of_the_intervals_add_up_to_the_summary_and_the_flood_queues_in_its_own_level() {
    // 2,000 per-node agents each LIST every node from etcd every 2 s on one API server:
    // workload-low queues and rejects, node-high does neither.
    let r = run(&cluster(
        2000,
        "20m",
        "5m",
        "60s",
        "  apiservers: 1\n  clients: [{name: agent, per_node: true, verb: list, resource: nodes, every: 2s, read_from: etcd}]",
    ));
    // After the warm-up (5 intervals), the intervals hold what the summary counts.
    let after = |comp: &str, metric: &str| -> f64 {
        values(&r, comp, metric)
            .iter()
            .skip(5)
            .map(|v| v * 60.0)
            .sum()
    };
    let mut total = 0.0;
    for c in APF_COMPONENTS {
        let rejected = after(c, "rejected_rps");
        let want = r.mean(c, "rejected_429");
        assert!(
            (rejected - want).abs() < 1e-6 * want.max(1.0),
            "{c}: {rejected} vs {want}"
        );
        total += rejected;
        // Dispatched per second over the 15 minutes after the warm-up, likewise.
        let dispatched = after(c, "dispatched_rps") / 900.0;
        let want = r.mean(c, "dispatched_rps");
        assert!(
            (dispatched - want).abs() < 1e-9 * want.max(1.0),
            "{c}: {dispatched} vs {want}"
        );
    }
    let want = r.mean("apiserver", "rejected_429");
    assert!(want > 1000.0, "{want}");
    assert!((total - want).abs() < 1e-6 * want, "{total} vs {want}");
    let requests = after("apiserver", "requests_rps") / 900.0;
    let want = r.mean("apiserver", "requests_rps");
    assert!(
        (requests - want).abs() < 1e-9 * want,
        "{requests} vs {want}"
    );
    let writes = after("etcd", "writes_per_s") / 900.0;
    let want = r.mean("etcd", "writes_per_s");
    assert!((writes - want).abs() < 1e-9 * want, "{writes} vs {want}");
    // The flood waits in workload-low's queues and holds its seats; node-high stays clear.
    let queued = values(&r, "apf/workload-low", "queue_length");
    assert!(queued.iter().skip(1).all(|&q| q > 0.0), "{queued:?}");
    let seats = values(&r, "apf/workload-low", "seats_in_use");
    assert!(
        seats.iter().all(|&s| (0.0..=600.0).contains(&s)),
        "{seats:?}"
    );
    assert!(
        values(&r, "apf/node-high", "queue_length")
            .iter()
            .all(|&q| q == 0.0)
    );
    assert!(
        values(&r, "apf/node-high", "rejected_rps")
            .iter()
            .all(|&q| q == 0.0)
    );
}

#[test]
fn the_apf_chart_draws_the_levels_that_saw_calls_and_the_watch_chart_the_watch_bytes() {
    let dir = scratch("charts");
    // No warm-up: the summary covers what the timeseries does.
    let r = run(&cluster(300, "10m", "0s", "60s", "  apiservers: 2"));
    let lines = TimeseriesFile::write_report(&dir.join("timeseries.csv"), &r).unwrap();
    let charts = run_charts(&r, &lines);
    // The levels with calls, by the summary.
    let busy: Vec<String> = APF_COMPONENTS
        .iter()
        .filter(|c| r.mean(c, "dispatched_rps") > 0.0 || r.mean(c, "rejected_429") > 0.0)
        .map(|c| c.trim_start_matches("apf/").to_string())
        .collect();
    assert!(busy.iter().any(|l| l == "node-high"), "{busy:?}");
    assert!(busy.len() < APF_COMPONENTS.len(), "{busy:?}");
    for panel in 0..3 {
        let labels: Vec<String> = chart_lines(&charts, CONTROL_PLANE_APF, panel)
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(labels, busy, "panel {panel}");
    }
    // node-high's dispatched line: 30 renewals and 1 report per second at 300 nodes, a
    // point per minute of the run.
    let dispatched = chart_lines(&charts, CONTROL_PLANE_APF, 0);
    let node_high = &dispatched.iter().find(|l| l.0 == "node-high").unwrap().1;
    assert_eq!(node_high.len(), 10);
    let reports: f64 = node_high.iter().map(|p| p.1 * 60.0 - 6.0 * 300.0).sum();
    assert!((reports - 2.0 * 300.0).abs() < 1e-6, "{reports}");
    // The watch chart: the apiserver's bytes per second, in MB/s.
    let watch = chart_lines(&charts, CONTROL_PLANE_WATCH, 0);
    let want: Vec<f64> = values(&r, "apiserver", "watch_bytes_per_s")
        .iter()
        .map(|v| v * 1e-6)
        .collect();
    assert_eq!(watch.len(), 1);
    let got: Vec<f64> = watch[0].1.iter().map(|p| p.1).collect();
    assert_eq!(got, want);
    assert!(want.iter().all(|&v| v > 0.0));
    // A cluster without a control plane: no such charts, no such rows.
    let plain = run(&cluster(3, "10m", "0s", "60s", "").replace("control_plane:\n", ""));
    assert!(
        plain
            .timeseries
            .iter()
            .all(|x| x.1 == "s" || x.1 == "cluster")
    );
    let lines = TimeseriesFile::write_report(&dir.join("plain.csv"), &plain).unwrap();
    let charts = run_charts(&plain, &lines);
    assert!(charts.iter().all(|c| !c.stem.starts_with("control-plane")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_terminal_table_shows_the_control_planes_figures_and_leaves_out_idle_parts() {
    // 300 kubelets: node-high carries every lease renewal; other levels see no call.
    let r = run(&cluster(300, "10m", "0s", "60s", "  apiservers: 2"));
    let text = capsim::report::text_table(&r);
    let block = |c: &str| -> String {
        let head = format!("\n  {c}\n");
        text.split(&head)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{c}` in\n{text}"))
            .split("\n\n")
            .next()
            .unwrap_or("")
            .to_string()
    };
    for (c, m) in [
        ("apiserver", "mutating_latency_p99_ms"),
        ("apiserver", "slo_met"),
        ("apf/node-high", "dispatched_rps"),
        ("api/leases", "writes_per_s"),
        ("etcd", "write_latency_p99_ms"),
    ] {
        assert!(block(c).contains(m), "`{m}` of `{c}` in\n{text}");
    }
    // An idle level has no heading, and every heading has figures under it.
    let idle: Vec<&&str> = APF_COMPONENTS
        .iter()
        .filter(|c| r.mean(c, "dispatched_rps") == 0.0 && r.mean(c, "rejected_429") == 0.0)
        .collect();
    assert!(!idle.is_empty(), "some level saw no call");
    for idle in idle {
        assert!(
            !text.contains(&format!("\n  {idle}\n")),
            "{idle} in\n{text}"
        );
    }
    let heads: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .collect();
    for (k, line) in text.lines().enumerate() {
        if heads.contains(&line) && !line.contains(':') {
            let next = text.lines().nth(k + 1).unwrap_or("");
            assert!(
                next.starts_with("    "),
                "`{line}` has no figures in\n{text}"
            );
        }
    }
}

#[test]
fn capsim_run_writes_the_control_plane_charts_and_index_html_shows_them() {
    let dir = scratch("run");
    let path = dir.join("cp.yaml");
    std::fs::write(&path, cluster(300, "10m", "0s", "60s", "  apiservers: 2")).unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = capsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for stem in [CONTROL_PLANE_APF, CONTROL_PLANE_WATCH] {
        for ext in ["png", "svg"] {
            let f = out.join(format!("{stem}.{ext}"));
            let len = std::fs::metadata(&f).map_or(0, |m| m.len());
            assert!(len > 1000, "{}: {len} bytes", f.display());
        }
        assert!(html.contains(&format!("src=\"{stem}.svg\"")), "{stem}");
        assert!(html.contains(&format!("href=\"{stem}.png\"")), "{stem}");
    }
    // One service: the control plane's components are no services to compare per GPU.
    assert!(!out.join("per-gpu.svg").exists());
    // timeseries.csv: node-high's 30 renewals and 1 report per second, in its own rows
    // after the cluster's.
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(
        csv.contains("\n300,apf/node-high,queue_length,0\n"),
        "{csv}"
    );
    let at_60: Vec<&str> = csv.lines().filter(|l| l.starts_with("60,")).collect();
    let comps: Vec<&str> = at_60.iter().map(|l| l.split(',').nth(1).unwrap()).collect();
    let first_cp = comps.iter().position(|&c| c == "apiserver").unwrap();
    assert_eq!(comps[first_cp - 1], "cluster");
    assert_eq!(comps.last(), Some(&"etcd"));
    assert_eq!(at_60.len() - first_cp, 38);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1,000,000 samples of 1 ms: 55 values each with a control plane (12 for the service, 5
/// for the cluster, 38 for the control plane: 4 for `apiserver`, 4 for each of the 8
/// priority levels, 2 for `etcd`) is 55 million values, past the limit of 50 million; 900 s
/// is 49.5 million.
#[test]
fn the_timeseries_limit_counts_the_control_planes_values() {
    let dir = scratch("limit");
    let path = dir.join("limit.yaml");
    let p = path.to_str().unwrap();
    let at = |duration: &str| cluster(3, duration, "0s", "1ms", "  apiservers: 1");
    std::fs::write(&path, at("1000s")).unwrap();
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "report_interval: 1000000 samples of 1ms in 1000s x 55 values (12 per service, 5 \
             for the cluster, 38 for the control plane) x 1 replications = 55000000 \
             timeseries values: the limit is 50000000 per run; lengthen report_interval or \
             run fewer replications"
        ),
        "{stderr}"
    );
    std::fs::write(&path, at("900s")).unwrap();
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
