//! Every scenario under scenarios/ validates and runs (shortened, so CI stays fast), and the
//! validation scenario passes its own checks at full length.

use std::process::Command;

fn capsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .output()
        .expect("capsim runs")
}

fn scenario_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("scenarios")
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_validates() {
    let files = scenario_files();
    assert!(files.len() >= 3);
    let mut args = vec!["validate"];
    args.extend(files.iter().map(|s| s.as_str()));
    let out = capsim(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        files.len()
    );
}

#[test]
fn every_scenario_runs() {
    for f in scenario_files() {
        let dir = std::env::temp_dir().join(format!(
            "capsim-scenarios-{}-{}",
            std::process::id(),
            f.replace('/', "_")
        ));
        let out = capsim(&[
            "run",
            &f,
            "--replications",
            "2",
            "--set",
            "duration=60s",
            "--set",
            "warmup=5s",
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ]);
        // Exit 1 means a check failed on the shortened run, which is allowed here; only
        // bad input (2) and internal errors (3) fail.
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{f}: exit {code}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{f}: stdout is not JSON: {e}"));
        assert!(json.get("cluster").is_some(), "{f}: {json}");
        for file in ["summary.csv", "summary.json", "timeseries.csv"] {
            assert!(dir.join(file).exists(), "{f}: {file} missing");
        }
    }
}

#[test]
fn the_mmc_validation_scenario_passes_its_checks() {
    let dir = std::env::temp_dir().join(format!("capsim-mmc-{}", std::process::id()));
    let out = capsim(&[
        "run",
        "scenarios/mmc-validation.yaml",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("check passed").count(), 5, "{stdout}");
}
