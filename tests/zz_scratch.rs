mod common;
use common::run;
#[test]
fn show() {
    let y = std::fs::read_to_string("/tmp/scratch/s.yaml").unwrap();
    let r = run(&y);
    for row in &r.rows {
        eprintln!(
            "{} {} {} [{}, {}]",
            row.component,
            row.metric,
            row.estimate.mean,
            row.estimate.ci95_low,
            row.estimate.ci95_high
        );
    }
    if std::env::var("TS").is_ok() {
        for t in &r.timeseries {
            eprintln!("{:?}", t);
        }
    }
}
