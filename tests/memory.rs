//! Memory stays bounded at the documented limits: a run of 50 million timeseries values or of
//! a million samples per replication writes its timeseries through files, never holding it,
//! and trace and empirical files are read as a stream under a size limit.
//!
//! The peak is this test process's (Linux VmHWM), so the run at the limits is the only test
//! here that simulates in this process; the others run the capsim binary.

#[path = "../benches/common/limits.rs"]
mod limits;

mod common;
use common::capsim;
use std::path::PathBuf;

/// Peak resident memory allowed for a run at the timeseries limits (measured about 100 MB:
/// the replications' summaries and start-up transient values, and the chunk being averaged).
const PEAK_AT_THE_LIMITS_KIB: u64 = 200 * 1024;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capsim-memory-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Before: a million samples of a few services held every sample of every replication three
/// times over (5 GB for 4 services; 8 services aborted). Now both runs at the limits stay
/// under the stated peak, and the one at the value limit writes every averaged value.
#[test]
fn a_run_at_the_timeseries_limits_stays_under_the_stated_peak() {
    if limits::peak_rss_kib().is_none() {
        eprintln!("no /proc/self/status: peak memory not measured");
        return;
    }
    let base = limits::peak_rss_kib().unwrap_or(0);
    for (name, services, samples, reps) in limits::AT_THE_LIMITS {
        let values = samples * (12 * services as u64 + 5) * reps;
        assert!(values <= 50_000_000, "{name}: {values} values");
        let dir = scratch(name);
        // The million-sample run counts its rows rather than formatting 15 million CSV
        // lines (seconds of CPU, no memory).
        let csv = name == "values";
        let rows = limits::run_into(&limits::timeseries_yaml(services, samples, reps), &dir, csv);
        let peak = limits::peak_rss_kib().unwrap_or(0);
        assert!(
            peak < PEAK_AT_THE_LIMITS_KIB,
            "{name}: peak {peak} KiB (before the runs {base} KiB)"
        );
        // Every sample of every service has at least its 8 always-measured metrics and
        // the cluster its 5.
        assert!(
            rows >= samples * (8 * services as u64 + 5),
            "{name}: {rows} rows"
        );
        if csv {
            let text = std::fs::read_to_string(dir.join("timeseries.csv")).expect("csv");
            assert_eq!(text.lines().count() as u64, rows + 1);
            assert!(text.ends_with("1,cluster,nodes_ready,1\n"), "last row");
        }
        // The spool files are gone; each chart is small whatever the run's length.
        for e in std::fs::read_dir(&dir).expect("results").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".f64"), "spool file {name} left");
            if name.ends_with(".svg") {
                let len = e.metadata().expect("metadata").len();
                assert!(len < 1_000_000, "{name}: {len} bytes");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Before: 4 services sampled every 30 us for 30 s (inside the per-replication limit of a
/// million samples) took 5.2 GB, and 8 aborted. Now the values are counted over services
/// and replications, and such a run is refused with the limit named.
#[test]
fn a_timeseries_past_the_value_limit_is_refused_with_the_limit_named() {
    let dir = scratch("value-limit");
    let yaml = limits::timeseries_yaml(4, 1_000_000, 1);
    let path = dir.join("many.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    let p = path.to_str().expect("utf-8");
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{p}:3:18: report_interval: 1000000 samples of 1ms in 1000s x 53 values (12 per service, 5 for the cluster) x 1 replications = 53000000 timeseries values: the limit is 50000000 per run")),
        "{stderr}"
    );
    // Three services fit.
    let three = limits::timeseries_yaml(3, 1_000_000, 1);
    std::fs::write(&path, three).expect("scenario");
    let (code, _, stderr) = capsim(&["validate", p]);
    assert_eq!(code, 0, "{stderr}");
}

fn trace_scenario(dir: &std::path::Path, file: &str) -> PathBuf {
    let yaml = format!(
        "name: t\nduration: 10s\nreplications: 1\n\
         node_pools: [{{name: p, gpu: t4, gpus_per_node: 1, nodes: 1}}]\n\
         services: [{{name: s, model: resnet50, node_pool: p, replicas: 1}}]\n\
         workloads: [{{service: s, arrivals: {{trace: {{file: '{file}'}}}}}}]\n"
    );
    let path = dir.join("trace.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    path
}

fn empirical_scenario(dir: &std::path::Path, file: &str) -> PathBuf {
    let yaml = format!(
        "name: e\nduration: 10s\nreplications: 1\n\
         models: [{{name: m, service_time: {{empirical: {{file: '{file}', column: x}}}}}}]\n\
         node_pools: [{{name: p, gpu: t4, gpus_per_node: 1, nodes: 1}}]\n\
         services: [{{name: s, model: m, node_pool: p, replicas: 1}}]\n\
         workloads: [{{service: s, arrivals: {{poisson: {{rate: 10/s}}}}}}]\n"
    );
    let path = dir.join("empirical.yaml");
    std::fs::write(&path, yaml).expect("scenario");
    path
}

/// Before: `validate` of a trace `file: /dev/zero` grew to 14 GB. Now a line past 1 MiB is
/// refused, with the limit named, having read little more than that.
#[test]
fn a_trace_of_dev_zero_is_refused_at_the_line_limit() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    let dir = scratch("dev-zero");
    for (scenario, what) in [
        (trace_scenario(&dir, "/dev/zero"), "trace"),
        (empirical_scenario(&dir, "/dev/zero"), "empirical"),
    ] {
        let (code, _, stderr) = capsim(&["validate", scenario.to_str().expect("utf-8")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{what}: /dev/zero: line 1 is longer than 1048576 bytes (1 MiB), the limit for \
                 a line of a trace or empirical file"
            )),
            "{stderr}"
        );
    }
}

/// A trace or empirical file larger than 256 MiB is refused before it is read (a sparse file:
/// nothing is written to disk), and one of more than 10 million rows at that row.
#[test]
fn trace_and_empirical_files_past_the_size_limits_are_refused() {
    let dir = scratch("size-limit");
    let big = dir.join("big.csv");
    let f = std::fs::File::create(&big).expect("file");
    f.set_len((256 << 20) + 1).expect("sparse file");
    let (code, _, stderr) = capsim(&[
        "validate",
        trace_scenario(&dir, "big.csv").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("trace: ")
            && stderr.contains(
                "big.csv is larger than 268435456 bytes (256 MiB), the \
             limit for trace and empirical files"
            ),
        "{stderr}"
    );
    // 10,000,001 rows of one digit: 20 MB.
    let rows = dir.join("rows.csv");
    let mut text = String::with_capacity(20_000_010);
    text.push_str("x\n");
    for _ in 0..10_000_001 {
        text.push_str("1\n");
    }
    std::fs::write(&rows, text).expect("rows");
    let (code, _, stderr) = capsim(&[
        "validate",
        empirical_scenario(&dir, "rows.csv").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "rows.csv has more than 10000000 rows, the limit for trace and empirical files"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
