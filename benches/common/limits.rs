//! Runs at the documented limits of the timeseries, which the memory test (tests/memory.rs)
//! and the memory example both run: `limits::MAX_TIMESERIES_VALUES` values (samples x values
//! per sample, 12 per service and 5 for the cluster, x replications) or `limits::MAX_SAMPLES`
//! samples per replication.

/// `services` M/M/1 services under light Poisson load, sampled every 1 ms for `samples`
/// samples, in `replications` replications.
pub fn timeseries_yaml(services: usize, samples: u64, replications: u64) -> String {
    let mut s = format!(
        "name: limits\nduration: {samples}ms\nreport_interval: 1ms\nreplications: {replications}\n\
         models: [{{name: m, service_time: {{exponential: {{mean: 1ms}}}}}}]\n\
         node_pools: [{{name: p, gpu: t4, gpus_per_node: 64, nodes: {nodes}}}]\nservices:\n",
        nodes = services.div_ceil(64)
    );
    for i in 0..services {
        s.push_str(&format!(
            "  - {{name: s{i}, model: m, node_pool: p, replicas: 1}}\n"
        ));
    }
    s.push_str("workloads:\n");
    for i in 0..services {
        s.push_str(&format!(
            "  - {{service: s{i}, arrivals: {{poisson: {{rate: 100/s}}}}}}\n"
        ));
    }
    s
}

/// The runs at the limits: (what, services, samples, replications).
pub const AT_THE_LIMITS: [(&str, usize, u64, u64); 2] = [
    // 1,000 samples x (8 x 12 + 5) values x 495 replications = 49,995,000 values.
    ("values", 8, 1_000, 495),
    // 1,000,000 samples x 17 values x 2 replications = 34,000,000 values.
    ("samples", 1, 1_000_000, 2),
];

/// Runs scenario text `yaml` as `capsim run --out DIR` does (without its terminal output),
/// with `dir` as the folder it writes into: the timeseries spooled per replication and
/// averaged into timeseries.csv, then the other files and the charts. With `csv` false the
/// averaged rows are counted instead of written (the memory is the same; formatting 15
/// million CSV rows takes seconds). Returns the timeseries rows.
pub fn run_into(yaml: &str, dir: &std::path::Path, csv: bool) -> u64 {
    use capsim::report::series::{ChartLines, TimeseriesFile};
    let loaded = capsim::scenario::load_bytes("limits.yaml", yaml.as_bytes(), &[], dir)
        .expect("scenario parses");
    let plan = capsim::scenario::build_plan(&loaded).expect("scenario is within the limits");
    std::fs::create_dir_all(dir).expect("output folder");
    let mut rows = 0u64;
    let (report, lines) = if csv {
        let mut ts = TimeseriesFile::create(
            &dir.join("timeseries.csv"),
            capsim::sim::timeseries::Layout::of(&plan),
        )
        .expect("timeseries.csv");
        let report = capsim::sim::simulate_spooled(&plan, false, dir, &mut |r| {
            rows += 1;
            ts.push(r)
        })
        .expect("spooled run")
        .expect("within the event budget");
        (report, ts.finish().expect("timeseries.csv written"))
    } else {
        let mut lines = ChartLines::new(capsim::sim::timeseries::Layout::of(&plan));
        let report = capsim::sim::simulate_spooled(&plan, false, dir, &mut |r| {
            rows += 1;
            lines.add(r);
            Ok(())
        })
        .expect("spooled run")
        .expect("within the event budget");
        (report, lines)
    };
    capsim::report::write_run(&report, &lines, dir, &[]).expect("results written");
    rows
}

/// This process's peak resident memory (VmHWM), KiB; None off Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
